"""`python -m bench.run --only generation`: generation speed of SmolLM2-135M (fp32, this CPU), our engine against
transformers' ``generate`` measured in the same run.

Every measurement runs in a fresh process of its own (``python -m bench.generation --child KIND``), as a server
would run it: torch's OpenMP runtime (libgomp) slows every thread of a process once the process holds more OpenMP
threads than cores (docs/generation.md), so a baseline that shares a process with other torch work is not a
baseline.

1. One stream: greedy, the same prompt and the same 64 new tokens (checked equal) with ``generate`` and with the
   engine; seconds per token, median of ROUNDS. Baselines: ``generate`` on a stock
   ``from_pretrained(..., attn_implementation="eager")`` model on the main thread (target: the engine at least as
   fast) and from a background thread, where a server must run it (target: the engine >= 1.5x). Also reported:
   ``generate`` from a thread AFTER the main thread ran torch with two threads (the slowdown the issue saw).
   Time to first token: engine request -> first token pushed; generate with ``max_new_tokens=1`` as its baseline.
2. Memory-bandwidth bound: one decode step reads every weight once (the tied embedding/unembedding matrix once,
   by the output layer), so tokens/s <= copy bandwidth / weight bytes. Bandwidth is measured here: a 256 MB
   ``copy_`` (read + write) on all torch threads, best of 5, in a fresh process of its own (an idle engine's
   threads beside it made it vary by 1.7x). We report our tokens/s as a fraction of that bound
   (the aim: 0.7 or more, still in float32).
3. Many streams (the engine's process): 8 concurrent generations of 64 tokens (the classroom case) against one
   stream, alternated over 3 rounds: wall time of the 8 over 8 x one stream's time (target <= 0.2, i.e. >= 5x the
   aggregate tokens/s); 30 concurrent ones: the last to finish against one alone, measured before and after
   (target <= 2x). Requests are sampled with different seeds (top-k 50), so their texts differ (a few may stop
   early at EOS).
4. The lean step's two matrix kernels (serving.engine.time_kernels, as the engine timed them on its worker when it
   started): oneDNN's against MKL's on the model's layer matrices; the engine runs the faster.
5. Where the time goes: a torch.profiler summary of 16 decode steps at batch 1 and batch 8 (bench/results.json
   metadata, ``generation_profile``).
"""
from __future__ import annotations

import collections
import statistics
import time

import __main__
from bench.common import NOTES as _NOTES
from bench.common import CHILD_MARK, run_child, served
from bench.common import entry

NOTES = getattr(__main__, "NOTES", _NOTES)  # `python -m bench.run` writes __main__.NOTES, not bench.run.NOTES

MODEL = "smollm2-135m"
PROMPT = "Once upon a time, in a small village by the sea, there lived"
NEW = 64
ROUNDS = 5


def _bandwidth_gbs() -> float:
    import torch

    src = torch.ones(64 * 2**20)  # 256 MB of float32
    dst = torch.empty_like(src)
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        dst.copy_(src)
        best = min(best, time.perf_counter() - t)
    return 2 * src.numel() * 4 / best / 1e9  # bytes read + written per second


def _weight_bytes(model) -> int:
    seen, total = set(), 0
    for p in model.parameters():  # tied parameters appear once
        if p.data_ptr() not in seen:
            seen.add(p.data_ptr())
            total += p.numel() * p.element_size()
    return total


def _profile(lm, ids) -> str:
    """Top operators (self CPU time) of 16 decode steps at batch 1 and batch 8, on a backend of its own run in
    this thread (the engine's worker thread would not be recorded by a profiler started here)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from serving.engine import LlamaBackend

    backend = LlamaBackend(lm)
    out = []
    with torch.inference_mode():
        for batch in (1, 8):
            backend.prefill(list(range(batch)), [ids] * batch)
            tokens = torch.full((batch,), ids[-1])
            lengths = torch.full((batch,), len(ids))
            backend.decode(tokens, lengths)
            t = time.perf_counter()
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                for step in range(16):
                    backend.decode(tokens, lengths + step)
            ms = (time.perf_counter() - t) / 16 * 1000
            table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12)
            out.append(f"batch {batch}: {ms:.1f} ms per decode step (profiled)\n{table}")
    return "\n".join(out)


def _stock(spec_id: str = MODEL):
    import torch

    from models.loading import _model_class, weights_location
    from models.registry import get_spec

    spec = get_spec(spec_id)
    return _model_class(spec).from_pretrained(weights_location(spec), dtype=torch.float32,
                                              attn_implementation="eager").eval()


def _hf_child(kind: str) -> dict:
    """``generate`` on a stock model in this fresh process: on the main thread ("hf_main"), from a background thread
    with nothing else run before ("hf_thread"), or from a thread after the main thread ran it ("hf_thread_after")."""
    import threading

    import torch

    from models.generation import prompt_ids
    from models.loading import load_tokenizer_only

    model = _stock()
    ids, _ = prompt_ids(load_tokenizer_only(MODEL).tokenizer, PROMPT)
    x = torch.tensor([ids])

    def hf(n: int) -> tuple[float, list[int]]:
        with torch.inference_mode():
            t = time.perf_counter()
            out = model.generate(x, attention_mask=torch.ones_like(x), do_sample=False, max_new_tokens=n,
                                 pad_token_id=model.generation_config.pad_token_id)
            return time.perf_counter() - t, out[0, len(ids):].tolist()

    def measure() -> dict:
        hf(4)
        per_token, ttft, toks = [], [], []
        for _ in range(ROUNDS):
            t, toks = hf(NEW)
            per_token.append(t / len(toks))
            ttft.append(hf(1)[0])
        return {"s_per_token": statistics.median(per_token), "ttft": statistics.median(ttft), "tokens": toks}

    if kind == "hf_main":
        return measure()
    if kind == "hf_thread_after":
        hf(4)  # the main thread's OpenMP team now exists
    out: dict = {}
    worker = threading.Thread(target=lambda: out.update(measure()))
    worker.start()
    worker.join()
    return out


def _engine_child() -> dict:
    """The engine as serve.py runs it (the stock model, the main thread doing no torch work while it serves)."""
    from models.generation import Settings, prompt_ids
    from serving.engine import Engine

    lm = served(MODEL)
    ids, _ = prompt_ids(lm.tokenizer, PROMPT)
    engine = Engine(lm)
    engine.warm()

    def ours(n: int):
        t = time.perf_counter()
        req = engine.generate(ids, Settings(max_new_tokens=n), timeout=600)
        return time.perf_counter() - t, req

    ours(4)
    per_token, ttft = [], []
    for _ in range(ROUNDS):
        t, req = ours(NEW)
        per_token.append(t / len(req.steps))
        ttft.append(req.ttft)
        tokens = req.token_ids

    def concurrent(n: int) -> tuple[float, float, float]:
        t = time.perf_counter()
        reqs = [engine.submit(ids, Settings(greedy=False, seed=i, top_k=50, max_new_tokens=NEW)) for i in range(n)]
        for r in reqs:
            r.result(timeout=1200)
        wall = time.perf_counter() - t
        ended = collections.Counter((r.state, r.finish_reason) for r in reqs)
        assert set(ended) <= {("done", "length"), ("done", "eos")}, f"{ended}; engine errors: {engine.stats.errors}"
        return wall, sum(len(r.steps) for r in reqs) / wall, max(r.finished_at - r.submitted for r in reqs)

    # one stream and 8 concurrent ones, alternated (3 rounds, medians), so both see the same machine load
    ones, walls8, rates8 = [], [], []
    for _ in range(3):
        ones.append(ours(NEW)[0])
        wall8, rate8, _ = concurrent(8)
        walls8.append(wall8)
        rates8.append(rate8)
    before = ours(NEW)[0]
    wall30, rate30, slowest30 = concurrent(30)
    after = ours(NEW)[0]
    out = {"s_per_token": statistics.median(per_token), "ttft": statistics.median(ttft), "tokens": tokens,
           "one": statistics.median(ones), "wall8": statistics.median(walls8), "rate8": statistics.median(rates8),
           "alone30": (before + after) / 2, "slowest30": slowest30, "rate30": rate30,
           "max_batch": engine.stats.max_batch_seen, "threads": engine.threads, "kind": engine.kind,
           "kernel_seconds": engine.kernel_seconds, "weight_bytes": _weight_bytes(lm.model),
           "profile": _profile(lm, ids)}
    engine.close()
    return out


CHILDREN = {"hf_main": lambda: _hf_child("hf_main"), "hf_thread": lambda: _hf_child("hf_thread"),
            "hf_thread_after": lambda: _hf_child("hf_thread_after"), "engine": _engine_child,
            "bandwidth": lambda: {"bandwidth_gbs": _bandwidth_gbs()}}
def bench_generation(results: list[dict]) -> None:
    main = run_child("bench.generation", "hf_main", timeout=1800)
    thread = run_child("bench.generation", "hf_thread", timeout=1800)
    after = run_child("bench.generation", "hf_thread_after", timeout=1800)
    ours = run_child("bench.generation", "engine", timeout=1800)
    ours.update(run_child("bench.generation", "bandwidth", timeout=600))  # alone: no idle engine threads beside it
    assert ours["tokens"] == main["tokens"] == thread["tokens"], "the engine's greedy tokens differ from generate's"
    assert len(main["tokens"]) == NEW, "pick a prompt that does not end before NEW tokens"
    s = ours["s_per_token"]
    results.append(entry("generation/one_stream/s_per_token_vs_hf_generate", s, "s", target=1.0,
                         baseline=main["s_per_token"]))
    results.append(entry("generation/one_stream/s_per_token_vs_hf_generate_in_a_thread", s, "s",
                         target=round(1 / 1.5, 3), baseline=thread["s_per_token"]))
    results.append(entry("generation/one_stream/tokens_per_s", 1 / s, "tok/s"))
    results.append(entry("generation/one_stream/hf_generate_tokens_per_s", 1 / main["s_per_token"], "tok/s"))
    results.append(entry("generation/one_stream/hf_generate_in_a_thread_tokens_per_s", 1 / thread["s_per_token"],
                         "tok/s"))
    results.append(entry("generation/one_stream/hf_generate_in_a_thread_after_the_main_thread_tokens_per_s",
                         1 / after["s_per_token"], "tok/s"))
    results.append(entry("generation/one_stream/time_to_first_token", ours["ttft"], "s", baseline=main["ttft"]))
    bound = ours["bandwidth_gbs"] * 1e9 / ours["weight_bytes"]
    results.append(entry("generation/bandwidth/copy_bandwidth", ours["bandwidth_gbs"], "GB/s"))
    results.append(entry("generation/bandwidth/bound_tokens_per_s", bound, "tok/s"))
    results.append(entry("generation/bandwidth/fraction_of_bound", (1 / s) / bound, "x"))
    k = ours["kernel_seconds"]  # the engine's own timing of its two kernels, on its worker (serving.engine.time_kernels)
    results.append(entry("generation/kernel/onednn_vs_mkl_on_the_layers", k["onednn"], "s", baseline=k["mkl"]))
    results.append(entry("generation/8_streams/aggregate_tokens_per_s", ours["rate8"], "tok/s"))
    results.append(entry("generation/8_streams/time_vs_8x_one_stream", ours["wall8"], "s", target=0.2,
                         baseline=8 * ours["one"]))
    results.append(entry("generation/30_streams/slowest_vs_one_alone", ours["slowest30"], "s", target=2.0,
                         baseline=ours["alone30"]))
    results.append(entry("generation/30_streams/aggregate_tokens_per_s", ours["rate30"], "tok/s"))
    NOTES["generation_weight_bytes_per_token"] = ours["weight_bytes"]
    NOTES["generation_8_streams_speedup"] = round(8 * ours["one"] / ours["wall8"], 2)
    NOTES["generation_engine_max_batch_seen"] = ours["max_batch"]
    NOTES["generation_engine_threads"] = ours["threads"]
    NOTES["generation_engine_kind"] = ours["kind"]
    NOTES["generation_profile"] = ours["profile"]
    NOTES["generation_processes"] = ("each figure from a fresh process: hf_main, hf_thread, hf_thread_after "
                                     "(generate on a stock eager model), engine (serve.py's model and engine) and bandwidth")


if __name__ == "__main__":  # pragma: no cover
    import argparse
    import json

    parser = argparse.ArgumentParser()
    parser.add_argument("--child", choices=sorted(CHILDREN), required=True)
    print(CHILD_MARK + json.dumps(CHILDREN[parser.parse_args().child]()), flush=True)
