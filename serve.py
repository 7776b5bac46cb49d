"""Start the explainer and load both bundled models: `python serve.py [streamlit flags]`.

`make run` uses this. The server accepts connections at once while torch, transformers, the models, their first
traces and the generation worker load on a background thread (each an st.cache_resource value: a session that
arrives first waits for that load, it never starts a second one). Any `streamlit run` flag works, e.g.
`python serve.py --server.port 8600`.

`--local-model DIR` (repeatable) adds a local checkpoint folder (causal LM or masked LM / BERT-style encoder,
safetensors weights and tokenizer files) to the model picker; so does TX_LOCAL_MODELS=DIR1:DIR2.
"""
import gc
import logging
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def take_local_models(argv: list[str]) -> list[str]:
    """Remove ``--local-model DIR`` / ``--local-model=DIR`` from argv; return the directories."""
    dirs, rest, i = [], [], 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--local-model" and i + 1 < len(argv):
            dirs.append(argv[i + 1])
            i += 2
            continue
        if arg.startswith("--local-model="):
            dirs.append(arg.split("=", 1)[1])
        else:
            rest.append(arg)
        i += 1
    argv[:] = rest
    return dirs


def warm(t0: float) -> None:
    """Load both default models, their first page's trace and neighbour index, the generation worker and the page
    libraries into the process-wide caches; then freeze what lives as long as the process (see below). The cyclic
    collector, off since main(), is on again once the models are loaded, and whatever happens here."""
    try:
        from components.cache import get_model_cached, warm_models, warm_pages
        from components.engine import _engine
        from components.state import DEFAULT_TEXT
        from models import loading
        from models.registry import DEFAULT_DECODER, DEFAULT_ENCODER, get_spec

        models = (DEFAULT_DECODER, DEFAULT_ENCODER)
        failed: list[BaseException] = []
        if not all(loading.is_prepared(get_spec(m)) for m in models):
            gc.enable()  # a first run converts a model (minutes): collect as usual meanwhile (see main)

        def pages() -> None:
            # what later pages reuse yields the cores to a session already drawing its first page (Linux: a nice
            # value per thread, inherited by the OpenMP threads this one starts; this thread ends with it)
            from serving.engine import yield_to_pages

            yield_to_pages()
            try:
                import components.plots  # noqa: F401  (pandas, plotly: the first page run would import them)
                import components.widgets  # noqa: F401

                warm_pages(models, DEFAULT_TEXT)
            except Exception as e:
                failed.append(e)

        warm_models(models)  # what the first page needs: at the priority of the sessions
        # What is loaded now lives as long as the process: out of the collector's sight at no cost (a collection
        # would walk all of it while a first page waits), and the collector on again for everything made from here.
        gc.freeze()
        gc.enable()
        later = threading.Thread(target=pages, name="warm-up-pages", daemon=True)
        later.start()
        later.join()
        if failed:
            raise failed[0]
        # the generation worker, warmed before a student, started from this thread (at normal priority: it inherits
        # this thread's)
        _engine(DEFAULT_DECODER, get_model_cached(DEFAULT_DECODER))
    except Exception as e:  # a page that needs what failed says so in its own words; the server keeps serving
        print(f"Warm-up stopped: {type(e).__name__}: {e}", flush=True)
        return
    finally:
        gc.enable()
    # Python's collector, when its thresholds trigger a full collection, walks every object it tracks: with torch,
    # transformers, pandas, plotly and both models that is hundreds of thousands of long-lived objects, holding the
    # interpreter lock each time. Once, now: what the start made and left in cycles is collected, and what lives
    # as long as the process is frozen out of the collector's sight (gc.freeze); later collections walk only what
    # the sessions make.
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    print(f"Models loaded in {time.perf_counter() - t0:.1f} s (the server was already accepting sessions).",
          flush=True)


def serve_frontend_from_memory() -> None:
    """Put serving.static_assets in front of the app Streamlit builds: its frontend files answered from memory,
    gzipped once (that module says why); and serving.attention_layers, the heatmap's layers fetched by the browser. Streamlit 1.67 builds its Starlette app in one factory that its server
    looks up when it starts (`streamlit run` of a script; an ASGI script, st.App, would take another path without
    this layer); tests/unit/test_static_assets.py fails if that hook point moves in another release, and the e2e
    suite checks that Chromium gets the files gzipped. In development mode Streamlit serves no frontend files."""
    from streamlit import config as st_config
    from streamlit.file_util import get_static_dir
    from streamlit.web.server.starlette import starlette_server

    from serving import attention_layers
    from serving.attention_layers import AttentionLayers
    from serving.static_assets import StaticAssets

    build = starlette_server.create_starlette_app

    def create(runtime):
        app = build(runtime)
        if st_config.get_option("global.developmentMode"):
            return app
        base = st_config.get_option("server.baseUrlPath") or ""
        # and the attention heatmap's layers, fetched by the browser (serving/attention_layers.py says why)
        attention_layers.installed = True
        return AttentionLayers(StaticAssets(app, get_static_dir(), base), base)

    starlette_server.create_starlette_app = create


# The longest request head (request line and headers) the server reads: a link Chromium can open (its URLs go to
# 2 MiB) plus its headers. uvicorn's HTTP parser (h11) otherwise refuses, with a bare 400, a head longer than
# 16 KiB that arrives in more than one piece, so a long link worked or failed by how the browser's write was cut.
MAX_REQUEST_HEAD = 4 * 2**20


def accept_long_links() -> None:
    """Raise h11's limit on an incomplete request head to MAX_REQUEST_HEAD for the server Streamlit starts (it
    builds uvicorn's settings in one function, looked up when the server starts; tests/e2e/test_long_links_e2e.py
    sends such a link in pieces, to this server and through deploy/nginx.conf)."""
    from streamlit.web.server.starlette import starlette_server

    settings = getattr(starlette_server, "_get_uvicorn_config_kwargs", None)
    if settings is None:  # moved in another Streamlit release: the server starts as before (the e2e test says so)
        return

    def with_long_heads() -> dict:
        # h11 named: uvicorn's "auto" would take httptools where it is installed, and this limit is h11's
        return {**settings(), "http": "h11", "h11_max_incomplete_event_size": MAX_REQUEST_HEAD}

    starlette_server._get_uvicorn_config_kwargs = with_long_heads


def main() -> None:
    # No cyclic garbage collection until the warm-up has loaded the models (warm() turns it on again, then, and
    # in any case when it ends): importing torch, transformers, streamlit and pandas and loading the models makes
    # hundreds of thousands of objects, and each full collection on the way walks all of them holding the
    # interpreter lock, which the server and the first page run wait for (`make bench`, section render, times
    # the teacher's wait). What the start leaves in cycles is collected once at the end of the warm-up.
    gc.disable()
    args = sys.argv[1:]
    local = take_local_models(args)
    if local:  # config.py reads TX_LOCAL_MODELS when the registry registers them (below)
        dirs = [os.path.abspath(d) for d in local]
        os.environ["TX_LOCAL_MODELS"] = os.pathsep.join(filter(None, [os.environ.get("TX_LOCAL_MODELS"), *dirs]))
    os.chdir(HERE)
    sys.path.insert(0, HERE)
    t0 = time.perf_counter()
    # Outside a script run Streamlit warns that there is no ScriptRunContext; that is expected here.
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").setLevel(logging.ERROR)
    logging.getLogger("streamlit.runtime.caching.cache_data_api").setLevel(logging.ERROR)
    from models.registry import register_configured

    register_configured()
    from models.registry import LOCAL_ERRORS, REGISTRY

    for error in LOCAL_ERRORS:
        print(f"Local model not added: {error}", flush=True)
    for spec in REGISTRY.values():
        if spec.source == "local":
            print(f"Local model added: {spec.id} ({spec.family}) from {spec.path}", flush=True)

    # The server starts at once and the models load on a background thread: the browser fetches Streamlit's
    # frontend while torch and transformers import (the floor of a cold start), so a teacher's first page is drawn
    # as soon as the models are ready rather than after both one by one. A session that arrives first cannot race
    # on a load: every model, trace and index is an st.cache_resource value, computed once under its key's lock
    # while the others wait for it.
    threading.Thread(target=warm, args=(t0,), name="warm-up", daemon=True).start()
    # Each torch call gives the GIL back; under a class's load, winning it again waits for the switch interval
    # (5 ms by default) while page threads run Python. A forward pass makes hundreds of calls, so with several
    # busy page threads it would wait that interval hundreds of times: a 1 ms interval bounds the wait (the
    # load bench, `make load`, measures a class with it).
    sys.setswitchinterval(0.001)
    serve_frontend_from_memory()
    accept_long_links()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", os.path.join(HERE, "app.py"), *args]
    cli.main()


if __name__ == "__main__":
    main()
