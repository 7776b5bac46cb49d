"""Start the explainer with both bundled models already loaded: `python serve.py [streamlit flags]`.

`make run` uses this. Loading torch, transformers and the models before the server accepts connections
means the first class of students does not wait for (or race on) those imports, and the first page
renders in about a second. Any `streamlit run` flag works, e.g. `python serve.py --server.port 8600`.
"""
import logging
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    os.chdir(HERE)
    sys.path.insert(0, HERE)
    t0 = time.perf_counter()
    # Outside a script run Streamlit warns that there is no ScriptRunContext; that is expected here.
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").setLevel(logging.ERROR)
    logging.getLogger("streamlit.runtime.caching.cache_data_api").setLevel(logging.ERROR)
    from components.cache import warm_up
    from components.state import DEFAULT_TEXT
    from models.registry import DEFAULT_DECODER, DEFAULT_ENCODER

    warm_up((DEFAULT_DECODER, DEFAULT_ENCODER), DEFAULT_TEXT)
    import components.plots  # noqa: F401  (pandas, plotly: the first page run would import them)
    import components.widgets  # noqa: F401
    print(f"Models loaded in {time.perf_counter() - t0:.1f} s; starting the server...", flush=True)
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", os.path.join(HERE, "app.py"), *sys.argv[1:]]
    cli.main()


if __name__ == "__main__":
    main()
