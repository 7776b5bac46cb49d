"""`python -m bench.run --only generation`: generation speed of SmolLM2-135M (fp32, this CPU), our engine against
transformers' ``generate`` measured in the same run, interleaved, so a busy machine slows both alike.

1. One stream: greedy, the same prompt and the same 64 new tokens (checked equal) with ``model.generate`` and with
   the engine; seconds per token, median of ROUNDS. Target: ours <= 1/1.3 of generate's (>= 1.3x tokens/s).
   The baseline is the model as a newcomer gets it: ``AutoModelForCausalLM.from_pretrained`` on the same files
   (transformers' default attention), not our loaded copy, whose linear layers run on packed weights
   (serving/packed.py). ``generate`` on our copy is reported too (``hf_generate_packed_tokens_per_s``).
   Time to first token: engine request -> first token pushed; generate with ``max_new_tokens=1`` as its baseline.
   ``hf_generate_in_a_thread_tokens_per_s``: generate run from a background thread, as the engine must run (on
   some machines torch is slower in any thread but the main one; seen 34 vs 59 ms per token).
   The engine's worker runs torch on one thread (faster than two in a worker thread here, see Engine) and
   draws samples on the other core.
2. Memory-bandwidth bound: one decode step reads every weight once (the tied embedding/unembedding matrix once,
   by the output layer), so tokens/s <= copy bandwidth / weight bytes. Bandwidth is measured here: a 256 MB
   ``copy_`` (read + write) on all torch threads, best of 5. We report our tokens/s as a fraction of that bound.
3. Many streams: 8 concurrent generations of 64 tokens (the classroom case) against one stream, alternated over
   3 rounds: wall time of the 8 over 8 x one stream's time (target <= 0.2, i.e. >= 5x the aggregate tokens/s);
   30 concurrent ones: the last to finish against one alone, measured before and after (target <= 3x).
   Requests are sampled with different seeds (top-k 50), so their texts differ (a few may stop early at EOS).
4. Where the time goes: a torch.profiler summary of 16 decode steps at batch 1 and batch 8 (bench/results.json
   metadata, ``generation_profile``).
"""
from __future__ import annotations

import collections
import statistics
import time

import __main__
from bench.common import NOTES as _NOTES
from bench.common import served
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


def bench_generation(results: list[dict]) -> None:
    import torch

    from models.generation import Settings, prompt_ids
    from serving.engine import Engine

    from models.loading import _model_class, weights_location
    from models.registry import get_spec

    lm = served(MODEL)
    spec = get_spec(MODEL)
    model = _model_class(spec).from_pretrained(weights_location(spec), dtype=torch.float32).eval()  # stock
    ids, _ = prompt_ids(lm.tokenizer, PROMPT)
    x = torch.tensor([ids])
    engine = Engine(lm)
    engine.warm()

    def hf(n: int, m=model) -> tuple[float, list[int]]:
        with torch.inference_mode():
            t = time.perf_counter()
            out = m.generate(x, attention_mask=torch.ones_like(x), do_sample=False, max_new_tokens=n,
                             pad_token_id=m.generation_config.pad_token_id)
            return time.perf_counter() - t, out[0, len(ids):].tolist()

    def ours(n: int):
        t = time.perf_counter()
        req = engine.generate(ids, Settings(max_new_tokens=n), timeout=600)
        return time.perf_counter() - t, req

    hf(4)  # warm both
    ours(4)
    hf_t, our_t, hf_ttft, our_ttft = [], [], [], []
    for r in range(ROUNDS):
        for name in (("hf", "ours") if r % 2 == 0 else ("ours", "hf")):
            if name == "hf":
                t, toks = hf(NEW)
                hf_t.append(t / len(toks))
                hf_ttft.append(hf(1)[0])
            else:
                t, req = ours(NEW)
                our_t.append(t / len(req.steps))
                our_ttft.append(req.ttft)
                our_tokens = req.token_ids
    _, ref = hf(NEW)
    assert our_tokens == ref, "the engine's greedy tokens differ from generate's"
    assert len(ref) == NEW, "pick a prompt that does not end before NEW tokens"
    s_ours, s_hf = statistics.median(our_t), statistics.median(hf_t)
    results.append(entry("generation/one_stream/s_per_token_vs_hf_generate", s_ours, "s", target=round(1 / 1.3, 3),
                         baseline=s_hf))
    results.append(entry("generation/one_stream/tokens_per_s", 1 / s_ours, "tok/s"))
    results.append(entry("generation/one_stream/hf_generate_tokens_per_s", 1 / s_hf, "tok/s"))
    packed_t = [hf(NEW, lm.model) for _ in range(3)]
    assert all(toks == ref for _, toks in packed_t), "generate on our (packed) copy gives other tokens"
    results.append(entry("generation/one_stream/hf_generate_packed_tokens_per_s",
                         NEW / statistics.median(t for t, _ in packed_t), "tok/s"))
    # The engine must run in a background thread (the server's page threads cannot wait on it); on some machines
    # torch runs slower in any thread but the main one: generate itself, in a thread, shows how much.
    import threading

    in_thread: list[float] = []
    for _ in range(3):
        worker = threading.Thread(target=lambda: in_thread.append(hf(NEW)[0]))
        worker.start()
        worker.join()
    results.append(entry("generation/one_stream/hf_generate_in_a_thread_tokens_per_s",
                         NEW / statistics.median(in_thread), "tok/s"))
    results.append(entry("generation/one_stream/time_to_first_token", statistics.median(our_ttft), "s",
                         baseline=statistics.median(hf_ttft)))

    gbs = _bandwidth_gbs()
    wbytes = _weight_bytes(model)
    bound = gbs * 1e9 / wbytes
    results.append(entry("generation/bandwidth/copy_bandwidth", gbs, "GB/s"))
    results.append(entry("generation/bandwidth/bound_tokens_per_s", bound, "tok/s"))
    results.append(entry("generation/bandwidth/fraction_of_bound", (1 / s_ours) / bound, "x"))
    NOTES["generation_weight_bytes_per_token"] = wbytes

    def concurrent(n: int) -> tuple[float, float]:
        t = time.perf_counter()
        reqs = [engine.submit(ids, Settings(greedy=False, seed=i, top_k=50, max_new_tokens=NEW)) for i in range(n)]
        for r in reqs:
            r.result(timeout=1200)
        wall = time.perf_counter() - t
        ended = collections.Counter((r.state, r.finish_reason) for r in reqs)
        assert set(ended) <= {("done", "length"), ("done", "eos")}, f"{ended}; engine errors: {engine.stats.errors}"
        tokens = sum(len(r.steps) for r in reqs)
        slowest = max(r.finished_at - r.submitted for r in reqs)
        return wall, tokens / wall, slowest

    # one stream and 8 concurrent ones, alternated (3 rounds, medians), so both see the same machine load
    ones, walls8, rates8 = [], [], []
    for _ in range(3):
        ones.append(ours(NEW)[0])
        wall8, rate8, _ = concurrent(8)
        walls8.append(wall8)
        rates8.append(rate8)
    one_t, wall8, rate8 = statistics.median(ones), statistics.median(walls8), statistics.median(rates8)
    results.append(entry("generation/8_streams/aggregate_tokens_per_s", rate8, "tok/s"))
    results.append(entry("generation/8_streams/time_vs_8x_one_stream", wall8, "s", target=0.2, baseline=8 * one_t))
    NOTES["generation_8_streams_speedup"] = round(8 * one_t / wall8, 2)
    before = ours(NEW)[0]
    wall30, rate30, slowest30 = concurrent(30)
    after = ours(NEW)[0]
    results.append(entry("generation/30_streams/slowest_vs_one_alone", slowest30, "s", target=3.0,
                         baseline=(before + after) / 2))
    results.append(entry("generation/30_streams/aggregate_tokens_per_s", rate30, "tok/s"))
    NOTES["generation_engine_max_batch_seen"] = engine.stats.max_batch_seen
    NOTES["generation_profile"] = _profile(lm, ids)
    engine.close()
