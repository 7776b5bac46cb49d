"""`make bench` (`python -m bench.run`): measure what students and teachers wait for; write bench/results.json.

1. cold start: ``import torch``, ``import transformers`` and the served model (``bench.common.served``: models.loading.load; converted cache,
   tokenizer included) in fresh subprocesses; median of 3 (target: load <= 2 s).
2. first-time conversion of the bundled GGUF (``prepare(spec, force=True)`` into a temporary cache), once.
3. trace overhead: ``compute_trace(lm, text)`` vs a raw
   ``lm.model(input_ids=..., output_attentions=True, output_hidden_states=True)`` under ``torch.inference_mode``,
   interleaved in one process, on texts of exactly 16 / 128 / 512 tokens (target: ratio <= 1.1). For the
   decoder also vs the same raw call with ``logits_to_keep=1`` (what compute_trace asks for), i.e. same work.
4. peak RSS of a process holding both models and a 512-token trace of each.
5. first render of /tokens in headless Chromium against a fresh ``serve.py``: page.goto -> first token chip
   visible, for the first session on the server, then (median of 3) for reloads in the same browser (its
   cache warm; each reload is a new Streamlit session) and for new browser profiles (target <= 3 s); and a
   teacher's whole wait, serve.py started -> healthy -> that first page drawn (target <= 5 s; serve.py loads the
   models on a background thread while the server already answers).

Every entry: name, value, unit, target, baseline, ratio, ok. When ``baseline`` is set, ``ratio`` is
value / baseline and ``target`` applies to the ratio; otherwise ``target`` applies to ``value``. The baseline is
measured by the same section in the same run. Each section is written to bench/results.json as soon as it is done,
whole, with its own date, git commit, CPU model and core count (bench/results.py); a partial run (``--only``)
replaces only its sections. `python -m bench.docs` then writes the numbers quoted in README.md and docs/.
Not a pytest test suite: run it on an otherwise idle machine, the numbers are wall-clock times.

    python -m bench.run                       # everything (~4-5 min)
    python -m bench.run --only load,trace     # some sections (load, convert, trace, rss, render)
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
TRACE_SIZES = (16, 128, 512)
RUNS = {16: 15, 128: 9, 512: 5}  # timed runs per size (after one warm-up run)
# The first forward passes at a new size allocate fresh memory pages for the attention/logit tensors of a
# 512-token pass and run slower than the rest: untimed rounds keep that out of the medians.
WARMUP_ROUNDS = 2
ROUND_BUDGET_S = 20.0  # ...but at least 3 and no more once this many seconds went into one size
COLD_REPEATS = 3
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import (  # noqa: E402  (shared with the sections, which never import this module)
    CHILD_MARK, MODELS, NOTES, RESULTS, chromium, entry, median, served, serving, text_with_tokens)
from bench.common import run_child as common_run_child  # noqa: E402


# ----------------------------------------------------------------------------------- subprocesses
def run_child(kind: str, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> dict:
    """Run ``python -m bench.run --child kind args`` in a fresh interpreter; return its JSON result."""
    return common_run_child("bench.run", kind, *args, env=env, timeout=timeout)


def child_cold_load(model_id: str) -> dict:
    t0 = time.perf_counter()
    import torch  # noqa: F401

    t1 = time.perf_counter()
    from models.loading import warm_imports

    warm_imports()  # `import transformers` is lazy: resolve the Auto* names the loader uses
    t2 = time.perf_counter()
    lm = served(model_id)
    t3 = time.perf_counter()
    assert lm.tokenizer is not None and lm.model is not None
    return {"import_torch": t1 - t0, "import_transformers": t2 - t1, "load": t3 - t2}


def child_convert(model_id: str) -> dict:
    from models.loading import cache_root, prepare, warm_imports
    from models.registry import get_spec

    assert os.environ.get("TX_CACHE_DIR"), "the conversion must go to a temporary cache"
    t0 = time.perf_counter()
    warm_imports()
    t1 = time.perf_counter()
    folder = prepare(get_spec(model_id), force=True)
    t2 = time.perf_counter()
    assert str(folder).startswith(str(cache_root()))
    manifest = json.loads((folder / "manifest.json").read_text())
    return {"imports": t1 - t0, "prepare": t2 - t1, "max_abs_logit_diff": manifest["max_abs_logit_diff_vs_gguf"]}


def child_trace() -> dict:
    import gc

    import torch

    from models.trace import compute_trace

    out: dict[str, Any] = {"threads": torch.get_num_threads(), "rows": []}
    for model_id in MODELS:
        lm = served(model_id)
        for n in TRACE_SIZES:
            text = text_with_tokens(lm.tokenizer, n)
            ids = torch.tensor([lm.tokenizer(text)["input_ids"]])
            assert ids.shape[1] == n

            def trace() -> None:
                t = compute_trace(lm, text)
                assert t.n_tokens == n

            def raw() -> None:
                with torch.inference_mode():
                    lm.model(input_ids=ids, output_attentions=True, output_hidden_states=True)

            def raw_last() -> None:  # the same work compute_trace asks for: last-position logits only
                with torch.inference_mode():
                    lm.model(input_ids=ids, attention_mask=torch.ones_like(ids), output_attentions=True,
                             output_hidden_states=True, logits_to_keep=1)

            fns: dict[str, Callable[[], None]] = {"trace": trace, "raw": raw}
            if lm.spec.head == "causal-lm":
                fns["raw_last"] = raw_last
            times: dict[str, list[float]] = {k: [] for k in fns}
            for _ in range(WARMUP_ROUNDS):  # the first big allocations page-fault slowly here (see WARMUP_ROUNDS)
                for fn in fns.values():
                    fn()
            names = list(fns)
            started = time.perf_counter()
            for r in range(RUNS[n]):
                if r >= 3 and time.perf_counter() - started > ROUND_BUDGET_S:
                    break  # a busy machine: keep the whole bench within minutes
                order = names[r % len(names):] + names[:r % len(names)]  # rotate who goes first
                for name in order:
                    gc.collect()
                    t0 = time.perf_counter()
                    fns[name]()
                    times[name].append(time.perf_counter() - t0)
            row = {"model": model_id, "tokens": n, "runs": len(times["trace"])}
            row.update({k: median(v) for k, v in times.items()})
            out["rows"].append(row)
        lm = None  # free this model's memory before the next one loads
        gc.collect()
    return out


def child_rss() -> dict:
    import psutil

    from models.loading import warm_imports
    from models.trace import compute_trace

    proc = psutil.Process()
    warm_imports()
    after_imports = proc.memory_info().rss
    kept = []
    for model_id in MODELS:
        lm = served(model_id)
        kept.append((lm, compute_trace(lm, text_with_tokens(lm.tokenizer, 512))))
    trace_mb = sum(sum(a.nbytes for a in (t.hidden_states, t.attentions, t.token_embeddings)) for _, t in kept) / 2**20
    return {
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # KiB on Linux
        "rss_now_mb": proc.memory_info().rss / 2**20,
        "rss_after_imports_mb": after_imports / 2**20,
        "trace_arrays_mb": trace_mb,
    }


CHILDREN: dict[str, Callable[..., dict]] = {
    "cold_load": child_cold_load, "convert": child_convert, "trace": child_trace, "rss": child_rss,
}


# -------------------------------------------------------------------------------------- sections
def bench_load(results: list[dict]) -> None:
    for model_id in MODELS:
        runs = [run_child("cold_load", model_id) for _ in range(COLD_REPEATS)]
        results.append(entry(f"cold_start/{model_id}/import_torch", median([r["import_torch"] for r in runs]), "s"))
        results.append(entry(f"cold_start/{model_id}/import_transformers",
                             median([r["import_transformers"] for r in runs]), "s"))
        results.append(entry(f"cold_start/{model_id}/load", median([r["load"] for r in runs]), "s", target=2.0))


def bench_convert(results: list[dict]) -> None:
    tmp = tempfile.mkdtemp(prefix="tx-bench-cache-")
    try:
        r = run_child("convert", "smollm2-135m", env={"TX_CACHE_DIR": tmp}, timeout=600)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results.append(entry("conversion/smollm2-135m/gguf_to_safetensors", r["prepare"], "s"))


def bench_trace(results: list[dict]) -> None:
    r = run_child("trace", timeout=900)
    NOTES["torch_threads"] = r["threads"]
    NOTES["trace_timed_runs"] = {f"{row['model']}/{row['tokens']}": row["runs"] for row in r["rows"]}
    for row in r["rows"]:
        m, n = row["model"], row["tokens"]
        results.append(entry(f"trace_overhead/{m}/{n}_tokens", row["trace"], "s", target=1.1, baseline=row["raw"]))
        if "raw_last" in row:
            results.append(entry(f"trace_overhead_same_work/{m}/{n}_tokens", row["trace"], "s", target=1.1,
                                 baseline=row["raw_last"]))


def bench_rss(results: list[dict]) -> None:
    r = run_child("rss")
    results.append(entry("memory/peak_rss_both_models_and_512_token_traces", r["peak_rss_mb"], "MB"))
    results.append(entry("memory/rss_after_imports", r["rss_after_imports_mb"], "MB"))
    results.append(entry("memory/trace_arrays_512_tokens_both_models", r["trace_arrays_mb"], "MB"))


def bench_render(results: list[dict]) -> None:
    from playwright.sync_api import sync_playwright

    # the browser is already open, as a teacher's is; the page is asked for as soon as the server answers
    with sync_playwright() as p:
        browser = p.chromium.launch(**chromium())
        with serving(warm=False) as (url, started):
            results.append(entry("render/server_start_to_healthy", started, "s"))

            def render(page) -> float:
                start = time.perf_counter()
                page.goto(f"{url}/tokens")
                page.locator(".tx-chip").first.wait_for(state="visible", timeout=60_000)
                return time.perf_counter() - start

            def in_new_profile(n: int) -> list[float]:
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = context.new_page()
                try:
                    return [render(page) for _ in range(n)]
                finally:
                    context.close()

            def full_render(path: str, figures: int) -> float:
                """Open a page in a new session and wait until all its plotly figures are drawn."""
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = context.new_page()
                try:
                    start = time.perf_counter()
                    page.goto(f"{url}{path}")
                    page.locator(".js-plotly-plot").nth(figures - 1).wait_for(state="visible", timeout=120_000)
                    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=120_000)
                    return time.perf_counter() - start
                finally:
                    context.close()

            first = in_new_profile(1)[0]  # first session on a fresh server, first page in a fresh browser
            cached = in_new_profile(4)[1:]  # reloads (each a new session) with the browser cache warm
            fresh = [in_new_profile(1)[0] for _ in range(3)]  # new browser profiles: nothing cached
            full_render("/similarity", 3)  # first visit computes the page's traces; then measure warm
            similarity = [full_render("/similarity", 3) for _ in range(3)]
            full_render("/embeddings", 8)
            embeddings = [full_render("/embeddings", 8) for _ in range(3)]
            browser.close()
        results.append(entry("render/similarity_full_page_warm_caches", median(similarity), "s"))
        results.append(entry("render/embeddings_full_page_warm_caches", median(embeddings), "s"))
        results.append(entry("render/tokens_first_session", first, "s", target=3.0))
        # a teacher's wait: `make run` (serve.py started, models converted) -> the first page drawn in a browser
        # that asks for it as soon as the server answers (issue #19: <= 5 s)
        results.append(entry("render/start_to_first_page_drawn", started + first, "s", target=5.0))
        results.append(entry("render/tokens_warm_reload_same_browser", median(cached), "s", target=3.0))
        results.append(entry("render/tokens_warm_server_new_browser_profile", median(fresh), "s", target=3.0))


def bench_neighbours(results: list[dict]) -> None:
    """Nearest-neighbour query over the whole vocabulary: the page's precomputed normalised matrix against
    a naive query that normalises the embedding matrix every time (the baseline, same run)."""
    import numpy as np

    from models.similarity import EmbeddingIndex

    rng = np.random.default_rng(0)
    for model_id in ("smollm2-135m", "minilm-l6"):
        lm = served(model_id)
        index = EmbeddingIndex(lm)
        W = index.matrix
        queries = W[rng.integers(0, W.shape[0], 60)]

        def naive(v: np.ndarray) -> np.ndarray:
            scores = (W @ v) / (np.linalg.norm(W, axis=1) * np.linalg.norm(v))
            return np.argsort(-scores)[:10]

        fast, slow = [], []
        for v in queries:  # interleaved so both see the same machine load
            t = time.perf_counter()
            index.nearest(v, 10)
            fast.append(time.perf_counter() - t)
            t = time.perf_counter()
            naive(v)
            slow.append(time.perf_counter() - t)
        p95 = float(np.percentile(fast, 95)) * 1000
        base = float(np.percentile(slow, 95)) * 1000
        results.append(entry(f"neighbours/{model_id}/p95_query", p95, "ms", target=50.0))
        results.append(entry(f"neighbours/{model_id}/p95_vs_naive", p95, "ms", target=1.0, baseline=base))


SECTIONS: dict[str, Callable[[list[dict]], None]] = {
    "load": bench_load, "convert": bench_convert, "trace": bench_trace, "rss": bench_rss,
    "neighbours": bench_neighbours, "render": bench_render,
    "bertviz": lambda results: __import__("bench.bertviz", fromlist=["bench_bertviz"]).bench_bertviz(results),
    "next_token": lambda results: __import__("bench.next_token", fromlist=["x"]).bench_next_token(results),
    "attention": lambda results: __import__("bench.attention", fromlist=["x"]).bench_attention(results),
    "block": lambda results: __import__("bench.block", fromlist=["x"]).bench_block(results),
    "generation": lambda results: __import__("bench.generation", fromlist=["x"]).bench_generation(results),
    # wall-clock checks moved out of `make test` (issue #19): the tests assert what they mean, the times are here
    "timings": lambda results: __import__("bench.timings", fromlist=["x"]).bench_timings(results),
    "kv_cache": lambda results: __import__("bench.lessons", fromlist=["x"]).bench_kv_cache(results),  # issue #24
    "samples": lambda results: __import__("bench.lessons", fromlist=["x"]).bench_samples(results),
}


# ------------------------------------------------------------------------------------------ main
def print_table(results: list[dict]) -> None:
    head = f"{'name':<58} {'value':>10} {'unit':<4} {'target':>7} {'baseline':>9} {'ratio':>6}  ok"
    print(head)
    print("-" * len(head))
    for r in results:
        def f(x: Any, spec: str) -> str:
            return "" if x is None else format(x, spec)

        ok = {True: "yes", False: "NO", None: ""}[r["ok"]]
        print(f"{r['name']:<58} {f(r['value'], '10.3f')} {r['unit']:<4} {f(r['target'], '7.2f')} "
              f"{f(r['baseline'], '9.3f')} {f(r['ratio'], '6.2f')}  {ok}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections: " + ", ".join(SECTIONS))
    parser.add_argument("--out", default=str(RESULTS), help="where to write the JSON results")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)  # internal: one measurement, fresh process
    args = parser.parse_args(argv)

    if args.child:
        kind, *rest = args.child
        print(CHILD_MARK + json.dumps(CHILDREN[kind](*rest)), flush=True)
        return 0

    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    from bench import results as store

    results: list[dict] = []
    errors: dict[str, str] = {}
    t0 = time.perf_counter()
    for name in sections:  # each section is recorded as soon as it is done, with its own date, commit and machine
        print(f"[bench] {name}...", flush=True)
        meta = {**store.machine(), "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
        NOTES.clear()
        fresh: list[dict] = []
        ts = time.perf_counter()
        try:
            SECTIONS[name](fresh)
        except Exception as e:  # keep this section's last numbers (with their own date); note the failure
            errors[name] = f"{type(e).__name__}: {e}"
            print(f"[bench] {name} FAILED: {errors[name]}", file=sys.stderr, flush=True)
            store.record_error(name, errors[name], path=Path(args.out))
        else:
            meta["seconds"] = round(time.perf_counter() - ts, 1)
            meta["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
            store.record(name, fresh, notes=dict(NOTES), path=Path(args.out), meta=meta)
            results += fresh
        print(f"[bench] {name} done in {time.perf_counter() - ts:.1f} s", flush=True)
    print()
    print_table(results)
    missed = [r["name"] for r in results if r["ok"] is False]
    print(f"\n{len(results)} measurements in {time.perf_counter() - t0:.1f} s -> {args.out} (sections "
          f"{', '.join(s for s in sections if s not in errors)})"
          + (f"; targets missed: {', '.join(missed)}" if missed else "; all targets met"))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
