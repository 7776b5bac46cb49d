"""models/generation.py and serving/engine.py against transformers itself: greedy = generate(do_sample=False), seeded sampling =
generate(do_sample=True) with the same seed and a reference loop (HF warpers + torch.multinomial with the same
generator), beam = generate(num_beams=k); batched = alone; stop stops; the queue is visible.

Real SmolLM2 (lean Llama backend) with few tokens, and a tiny random GPT-2 (learned positions, model-forward backend).
"""
from __future__ import annotations

import itertools
import sys
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from models.generation import MAX_NEW_TOKENS, Settings, beam_search, prompt_ids, token_pieces
from serving.engine import Engine, HFBackend, LlamaBackend

PROMPTS = ["The capital of France is", "Once upon a time, in a small village by the sea, there lived",
           "def add(a, b):"]
SAMPLE = dict(temperature=0.8, top_k=50, top_p=0.9)


@pytest.fixture(scope="module")
def engine(smollm2):
    e = Engine(smollm2)
    yield e
    e.close()


@pytest.fixture(scope="module")
def tiny(tiny_gpt2):
    lm = SimpleNamespace(model=tiny_gpt2.model, tokenizer=tiny_gpt2.tokenizer, lock=threading.RLock(),
                         spec=SimpleNamespace(id="tiny-gpt2"))
    e = Engine(lm)
    yield lm, e
    e.close()


def until(condition, timeout: float = 120) -> None:
    """Wait for ``condition`` (a guard against hanging, not a measure of speed)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def ids_of(lm, text: str) -> list[int]:
    return prompt_ids(lm.tokenizer, text)[0]


def hf_generate(model, ids: list[int], n: int, **kw):
    x = torch.tensor([ids])
    with torch.inference_mode():
        out = model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=n, output_scores=True,
                             return_dict_in_generate=True, pad_token_id=model.config.eos_token_id, **kw)
    return out.sequences[0, len(ids):].tolist(), torch.stack(out.scores)[:, 0]  # new ids, [n, V] processed scores


def model_logprobs(model, ids: list[int], new: list[int]) -> np.ndarray:
    """Teacher-forced log-probabilities of ``new`` after ``ids``, from one plain forward pass."""
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([ids + new])).logits[0]
    lp = torch.log_softmax(logits.float(), -1)[len(ids) - 1: len(ids) + len(new) - 1]
    return lp[torch.arange(len(new)), torch.tensor(new)].numpy()


# ------------------------------------------------------------------------------------ lean backend
@pytest.mark.parametrize("onednn", [False, True], ids=["mkl", "onednn"])
def test_lean_backend_logits_equal_the_model_forward(smollm2, onednn):
    """Prefill + a batched decode step of the lean backend against the model's own forward (eager attention):
    every logit within 1e-4, rows of different lengths in one batch, with either matrix kernel."""
    backend = LlamaBackend(smollm2)
    backend.use_kernel(onednn)
    assert backend.onednn is onednn and backend.scripted.onednn is onednn
    texts = [ids_of(smollm2, t) for t in PROMPTS]
    nxt = [11, 2525, 30]
    with torch.inference_mode():
        first = backend.prefill([0, 1, 2], texts)  # the three prompts packed into one pass, [3, V]
        for slot, ids in enumerate(texts):
            ref = smollm2.model(input_ids=torch.tensor([ids])).logits[0, -1]
            torch.testing.assert_close(first[slot], ref, rtol=0, atol=1e-4)
        got = backend.decode(torch.tensor(nxt), torch.tensor([len(t) for t in texts]))  # [3, V]
        for b, ids in enumerate(texts):
            ref = smollm2.model(input_ids=torch.tensor([ids + [nxt[b]]])).logits[0, -1]
            torch.testing.assert_close(got[b], ref, rtol=0, atol=1e-4)


@pytest.mark.parametrize("onednn", [False, True], ids=["mkl", "onednn"])
def test_the_scripted_step_equals_the_python_one(smollm2, onednn):
    """LlamaBackend.decode runs serving/lean_step.py through TorchScript (so that busy Python threads, a class's
    page runs, cannot stall each of its ~300 torch calls waiting for the GIL): the same logits and cache writes as
    the plain Python function, bit for bit, with either matrix kernel; the same for the packed prefill pass."""
    from serving import lean_step

    backend = LlamaBackend(smollm2)
    backend.use_kernel(onednn)
    texts = [ids_of(smollm2, t) for t in PROMPTS]
    tokens, lengths = torch.tensor([11, 2525, 30]), torch.tensor([len(t) for t in texts])
    assert isinstance(backend.scripted, torch.jit.ScriptModule)

    def step(fn):
        with torch.inference_mode():
            backend.prefill([0, 1, 2], texts)
            backend.reserve(3, lengths)
            cos, sin = backend._rope(lengths)
            logits = fn(tokens, lengths, 0, cos, sin, backend.kv.k, backend.kv.v)
            return logits, backend.kv.k.clone(), backend.kv.v.clone()

    python = lean_step.Step(backend.embed, backend.norm, backend.unembed, backend.blocked, backend.has_blocked,
                            backend.weights, backend.H, backend.Hkv, backend.D, backend.eps, onednn)
    for got, want in zip(step(backend.scripted), step(python)):
        assert torch.equal(got, want)

    # the prefill pass too (several prompts packed into one pass, each into its cache row)
    def prefill(fn):
        with torch.inference_mode():
            backend.kv.release()
            backend.kv.ensure(3, max(map(len, texts)) + 1)
            lens = [len(t) for t in texts]
            cos, sin = backend._rope(torch.cat([torch.arange(n) for n in lens]))
            logits = fn(torch.tensor([t for ids in texts for t in ids]), [0, *itertools.accumulate(lens)], [2, 0, 1],
                        cos, sin, backend.kv.k, backend.kv.v)
            return logits, backend.kv.k.clone(), backend.kv.v.clone()

    for got, want in zip(prefill(backend.scripted.prefill), prefill(python.prefill)):
        assert torch.equal(got, want)

    # How much faster the scripted step keeps going beside busy Python threads is wall-clock time: measured by
    # `python -m bench.run --only timings` (bench/timings.py), not asserted here.


def test_requests_waiting_together_share_one_prefill_and_equal_what_they_get_alone(smollm2):
    """Four requests queued at once: one packed prefill pass, the repeated prompt run once; the one that ends at
    its first token leaves a hole that the next row fills; every request gets the tokens (and probabilities) it
    gets alone, and nothing after it ended."""
    e = Engine(smollm2)
    try:
        ids = [ids_of(smollm2, t) for t in PROMPTS]
        solo = [e.generate(i, Settings(max_new_tokens=6), timeout=120) for i in ids]
        alone = [r.token_ids for r in solo]
        passes = e.stats.prefill_passes
        with e._cv:  # the worker cannot take the queue until all four are in it
            reqs = [e.submit(ids[0], Settings(max_new_tokens=6)), e.submit(ids[1], Settings(max_new_tokens=1)),
                    e.submit(ids[2], Settings(max_new_tokens=6)), e.submit(ids[1], Settings(max_new_tokens=6))]
        for r in reqs:
            r.result(timeout=120)
        assert e.stats.prefill_passes == passes + 1
        assert [r.token_ids for r in reqs] == [alone[0], alone[1][:1], alone[2], alone[1]]
        for got, ref in ((reqs[0], solo[0]), (reqs[3], solo[1]), (reqs[1], solo[1])):
            np.testing.assert_allclose([s.prob for s in got.steps], [s.prob for s in ref.steps][:len(got.steps)],
                                       atol=1e-5)
        assert (reqs[1].state, reqs[1].finish_reason) == ("done", "length")
        until(lambda: e.load() == (0, 0))  # every row has left the batch
        assert len(reqs[1].steps) == 1  # the request that ended after its first token got no extra step
    finally:
        e.close()


# --------------------------------------------------------------------------------------------- greedy
def test_engine_picks_the_lean_backend_for_llama_and_the_model_forward_otherwise(engine, tiny):
    assert isinstance(engine.backend, LlamaBackend)
    assert isinstance(tiny[1].backend, HFBackend)


@pytest.mark.parametrize("text", PROMPTS[:2])
def test_greedy_equals_generate_token_for_token(smollm2, engine, text):
    ids = ids_of(smollm2, text)
    req = engine.generate(ids, Settings(max_new_tokens=12), timeout=120)
    ref, scores = hf_generate(smollm2.model, ids, 12, do_sample=False)
    assert req.token_ids == ref
    ref_lp = torch.log_softmax(scores.float(), -1)[torch.arange(len(ref)), torch.tensor(ref)].numpy()
    got_lp = np.array([s.logprob for s in req.steps])
    np.testing.assert_allclose(got_lp, ref_lp, atol=1e-4)
    np.testing.assert_allclose([s.prob for s in req.steps], np.exp(ref_lp), atol=1e-4)
    # the alternatives shown are the model's top-10, best first, and the chosen one is the first
    step = req.steps[0]
    top_ref = torch.softmax(scores[0].float(), -1).topk(10)
    assert list(step.top_ids) == top_ref.indices.tolist()
    np.testing.assert_allclose(step.top_probs, top_ref.values.numpy(), atol=1e-4)
    assert step.top_ids[0] == step.token_id and step.chosen_prob == 1.0


def test_greedy_stops_at_eos_like_generate(smollm2, engine):
    ids = ids_of(smollm2, PROMPTS[0])
    req = engine.generate(ids, Settings(max_new_tokens=40), timeout=120)
    ref, _ = hf_generate(smollm2.model, ids, 40, do_sample=False)
    assert req.token_ids == ref  # 30 tokens ending with <|im_end|> on this prompt (eos = 2)
    if ref[-1] == smollm2.model.config.eos_token_id:
        assert req.finish_reason == "eos" and len(ref) < 40
    else:
        assert req.finish_reason == "length"


def test_greedy_on_tiny_gpt2_with_learned_positions(tiny):
    lm, e = tiny
    ids = ids_of(lm, PROMPTS[1])
    req = e.generate(ids, Settings(max_new_tokens=10), timeout=60)
    ref, scores = hf_generate(lm.model, ids, 10, do_sample=False)
    assert req.token_ids == ref
    ref_lp = torch.log_softmax(scores.float(), -1)[torch.arange(10), torch.tensor(ref)].numpy()
    np.testing.assert_allclose([s.logprob for s in req.steps], ref_lp, atol=1e-4)


# ------------------------------------------------------------------------------------------- sampling
def reference_sampling(model, ids: list[int], n: int, seed: int, temperature: float, top_k: int, top_p: float):
    """A plain loop: model forward with its own cache, HF warpers in generate's order, multinomial(generator)."""
    from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    procs = LogitsProcessorList([TemperatureLogitsWarper(temperature), TopKLogitsWarper(top_k),
                                 TopPLogitsWarper(top_p)])
    g = torch.Generator().manual_seed(seed)
    seq = torch.tensor([ids])
    out_ids, chosen = [], []
    with torch.inference_mode():
        out = model(input_ids=seq, use_cache=True)
        for _ in range(n):
            probs = torch.softmax(procs(seq, out.logits[:, -1].float()), -1)
            tok = int(torch.multinomial(probs, 1, generator=g)[0, 0])
            out_ids.append(tok)
            chosen.append(float(probs[0, tok]))
            seq = torch.cat([seq, torch.tensor([[tok]])], 1)
            out = model(input_ids=seq[:, -1:], past_key_values=out.past_key_values, use_cache=True)
    return out_ids, chosen


def test_seeded_sampling_equals_reference_loop_and_generate(smollm2, engine):
    ids = ids_of(smollm2, PROMPTS[1])
    s = Settings(greedy=False, seed=1234, max_new_tokens=12, **SAMPLE)
    req = engine.generate(ids, s, timeout=120)
    ref, chosen = reference_sampling(smollm2.model, ids, 12, 1234, **SAMPLE)
    assert req.token_ids == ref
    np.testing.assert_allclose([st.chosen_prob for st in req.steps], chosen, atol=1e-4)
    # transformers' generate draws from the global generator: seeded the same way it gives the same text
    torch.manual_seed(1234)
    gen, _ = hf_generate(smollm2.model, ids, 12, do_sample=True, **SAMPLE)
    assert req.token_ids == gen
    # and the same settings + seed reproduce it
    assert engine.generate(ids, s, timeout=120).token_ids == ref
    # a different seed gives a different draw (with these settings: checked, not assumed)
    other = engine.generate(ids, Settings(greedy=False, seed=7, max_new_tokens=12, **SAMPLE), timeout=120)
    assert other.token_ids != ref


def test_sampling_probabilities_shown_are_the_warped_distribution(smollm2, engine):
    ids = ids_of(smollm2, PROMPTS[0])
    req = engine.generate(ids, Settings(greedy=False, seed=3, max_new_tokens=3, temperature=1.5, top_k=5,
                                        top_p=1.0), timeout=120)
    step = req.steps[0]
    with torch.inference_mode():
        logits = smollm2.model(input_ids=torch.tensor([ids])).logits[0, -1].float()
    top5 = torch.topk(logits / 1.5, 5)
    expected = torch.softmax(top5.values, -1)
    np.testing.assert_allclose(step.top_chosen_probs[:5], expected.numpy(), atol=1e-5)
    assert all(p == 0 for p in step.top_chosen_probs[5:])  # cut by top-k
    assert step.token_id in top5.indices.tolist()


def test_temperature_zero_is_greedy(smollm2, engine):
    ids = ids_of(smollm2, PROMPTS[2])
    a = engine.generate(ids, Settings(greedy=False, temperature=0.0, seed=5, max_new_tokens=6), timeout=120)
    b = engine.generate(ids, Settings(max_new_tokens=6), timeout=120)
    assert a.token_ids == b.token_ids


# -------------------------------------------------------------------------------------- batched = alone
class StepGate:
    """Holds the engine's worker before every decode step until the test lets steps through (``allow``) or opens
    the gate: which requests share a step is then decided by the test, never by how fast the machine is."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._cv = threading.Condition()
        self._tokens = 0
        self._open = False
        self._real = engine._step
        engine._step = self._gated  # the worker looks the method up on the instance at every step

    def _gated(self) -> None:
        with self._cv:
            self._cv.wait_for(lambda: self._open or self._tokens > 0)
            if not self._open:
                self._tokens -= 1
        self._real()

    def allow(self, n: int = 1) -> None:
        with self._cv:
            self._tokens += n
            self._cv.notify_all()

    def open(self) -> None:
        with self._cv:
            self._open = True
            self._cv.notify_all()

    def remove(self) -> None:
        self.open()
        self.engine.__dict__.pop("_step", None)


def _staggered(engine: Engine, jobs: list[tuple[list[int], Settings]]):
    """Submit each job once the previous one has 2 tokens, the decode steps let through one at a time: every
    request joins a batch that is still running (deterministic: no race with the machine's speed)."""
    gate = StepGate(engine)
    try:
        reqs = []
        for ids, s in jobs:
            reqs.append(engine.submit(ids, s))
            while len(reqs[-1].steps) < 2 and not reqs[-1].done:
                seen = len(reqs[-1].steps)
                # one step through: the earlier rows' step the worker may be waiting in (it admits the new request
                # right after it), or the new request's own next step once it is in
                gate.allow(1)
                assert reqs[-1].wait(seen, 120), "the engine stopped producing tokens"
        gate.open()
        return [r.result(timeout=300) for r in reqs]
    finally:
        gate.remove()


def _assert_same(batched, alone):
    for b, a in zip(batched, alone):
        assert b.token_ids == a.token_ids
        np.testing.assert_allclose([s.prob for s in b.steps], [s.prob for s in a.steps], atol=1e-4)
        np.testing.assert_allclose([s.chosen_prob for s in b.steps], [s.chosen_prob for s in a.steps], atol=1e-4)
        np.testing.assert_allclose(np.array([s.top_probs for s in b.steps]),
                                   np.array([s.top_probs for s in a.steps]), atol=1e-4)


def _jobs(lm):
    return [
        # long enough that the earlier ones are still running when the later ones join, even on a busy machine
        (ids_of(lm, PROMPTS[1]), Settings(max_new_tokens=24)),
        (ids_of(lm, PROMPTS[2]), Settings(greedy=False, seed=11, max_new_tokens=20, **SAMPLE)),
        (ids_of(lm, PROMPTS[0]), Settings(greedy=False, seed=12, max_new_tokens=16, temperature=1.3)),
        (ids_of(lm, "Hello"), Settings(max_new_tokens=5)),
    ]


def test_batched_equals_alone_with_staggered_joins(smollm2, engine):
    jobs = _jobs(smollm2)
    alone = [engine.generate(ids, s, timeout=120) for ids, s in jobs]
    steps_before = engine.stats.steps
    batched = _staggered(engine, jobs)
    _assert_same(batched, alone)
    assert engine.stats.max_batch_seen >= 3  # they really shared decode steps
    total = sum(len(r.steps) for r in batched)
    assert engine.stats.steps - steps_before < total - len(batched)  # fewer steps than tokens: batched


def test_batched_equals_alone_on_tiny_gpt2(tiny):
    lm, e = tiny
    jobs = _jobs(lm)
    alone = [e.generate(ids, s, timeout=60) for ids, s in jobs]
    batched = _staggered(e, jobs)
    _assert_same(batched, alone)
    assert e.stats.max_batch_seen >= 3


# ---------------------------------------------------------------------------------------- stop, queue
def test_stop_stops(smollm2, engine):
    req = engine.submit(ids_of(smollm2, PROMPTS[1]), Settings(max_new_tokens=MAX_NEW_TOKENS))
    while len(req.steps) < 2:
        req.wait(len(req.steps), 5)
    req.cancel()
    req.result(timeout=30)
    n = len(req.steps)
    assert req.state == "stopped" and req.finish_reason == "stopped" and n < MAX_NEW_TOKENS
    until(lambda: engine.load() == (0, 0))  # its row leaves the batch right after its last step
    assert len(req.steps) == n  # nothing more arrived after the stop (the row is gone, nothing more can)


def test_waiting_request_sees_its_queue_position(tiny):
    lm, _ = tiny
    e = Engine(lm, max_batch=1)
    gate = StepGate(e)  # the first request cannot finish before the assertions: its steps wait for the gate
    try:
        ids = ids_of(lm, PROMPTS[0])
        first = e.submit(ids, Settings(max_new_tokens=60))
        second = e.submit(ids, Settings(max_new_tokens=2))
        assert first.wait(0, 120)  # admitted: its prefill gave the first token; its next step waits
        assert e.queue_position(second) == 1 and second.state == "queued"
        assert e.queue_position(first) == 0 and first.state == "running"
        first.cancel()
        gate.open()
        assert second.result(timeout=60).state == "done" and len(second.steps) == 2
    finally:
        gate.remove()
        e.close()


def test_bad_requests_are_refused(engine):
    with pytest.raises(ValueError):
        engine.submit([], Settings())
    with pytest.raises(ValueError):
        engine.submit([1, 2], Settings(max_new_tokens=MAX_NEW_TOKENS + 1))


# ------------------------------------------------------------------------------------------------ beam
@pytest.mark.parametrize("k,lp", [(2, 1.0), (3, 0.0)])
def test_beam_equals_generate_and_its_logprobs_are_the_models(smollm2, k, lp):
    ids = ids_of(smollm2, PROMPTS[0])
    res = beam_search(smollm2, ids, beams=k, max_new_tokens=8, length_penalty=lp)
    x = torch.tensor([ids])
    with torch.inference_mode():
        out = smollm2.model.generate(x, attention_mask=torch.ones_like(x), do_sample=False, num_beams=k,
                                     max_new_tokens=8, length_penalty=lp, output_scores=True,
                                     return_dict_in_generate=True)
    ref = out.sequences[0, len(ids):].tolist()
    while ref and ref[-1] == smollm2.model.generation_config.pad_token_id and len(ref) > len(res.token_ids):
        ref.pop()
    assert list(res.token_ids) == ref
    assert res.score == pytest.approx(float(out.sequences_scores[0]), abs=1e-4)
    # each step's log-probability is the model's own (teacher-forced forward), and the score is their sum over
    # length ** length_penalty
    np.testing.assert_allclose(res.logprobs, model_logprobs(smollm2.model, ids, list(res.token_ids)), atol=1e-4)
    assert res.score == pytest.approx(res.total_logprob / len(res.token_ids) ** lp, abs=1e-4)


# ------------------------------------------------------------------------------------------------ text
def test_prompt_ids_start_from_bos_when_empty(smollm2):
    ids, from_bos = prompt_ids(smollm2.tokenizer, "")
    assert from_bos and ids == [smollm2.tokenizer.bos_token_id]
    ids, from_bos = prompt_ids(smollm2.tokenizer, "Hi there")
    assert not from_bos and ids == smollm2.tokenizer("Hi there")["input_ids"]


def test_token_pieces_rebuild_the_text_and_hold_split_characters(smollm2):
    tok = smollm2.tokenizer
    text = " café 🎓 <script>alert(1)</script>"
    ids = tok(text)["input_ids"]
    pieces = token_pieces(tok, ids)
    assert "".join(pieces) == tok.decode(ids) == text
    assert len(pieces) == len(ids)
    emoji_tokens = [i for i, p in enumerate(pieces) if "🎓" in p]
    assert len(emoji_tokens) == 1 and pieces[emoji_tokens[0] - 1] == ""  # 🎓 is several byte tokens


@pytest.mark.parametrize("linear", ["mkl", "onednn"])  # MKL splits the step in halves, oneDNN runs it whole
def test_thirty_concurrent_rows_of_different_lengths_equal_alone(smollm2, linear):
    """A full classroom at once: 30 rows (the cache grows to 32 rows) of 30 different prompt lengths, all admitted
    before the first decode step (unlimited prefill budget), so they really share every step."""
    words = PROMPTS[1].split()
    jobs = [(ids_of(smollm2, " ".join((words * 3)[: 1 + i])), Settings(greedy=i % 2 == 0, seed=i, max_new_tokens=3,
                                                                          top_k=20)) for i in range(30)]
    engine = Engine(smollm2, prefill_budget_s=1e9, linear=linear)
    try:
        assert engine.backend.onednn is (linear == "onednn")
        with engine._cv:  # hold the worker until all 30 are queued
            reqs = [engine.submit(ids, s) for ids, s in jobs]
        batched = [r.result(timeout=600) for r in reqs]
        assert all(r.state == "done" for r in batched), {r.finish_reason for r in batched}
        assert engine.stats.max_batch_seen == 30
        alone = [engine.generate(ids, s, timeout=120) for ids, s in jobs[::5]]
        _assert_same(batched[::5], alone)
    finally:
        engine.close()


# ------------------------------------------------------------------------------------------ view builders
def test_tokens_html_escapes_everything_and_colours_by_probability():
    from components.generation_plots import PROB_BINS, prob_colour, tokens_html

    out = tokens_html("<b>x</b>", ["<script>", " a&b", ""], [0.95, 0.05, 0.5], selected=1,
                      forced=[False, True, False], labels=["<i>", "t", "u"])
    assert "<script>" not in out and "<b>" not in out and "<i>" not in out
    assert "&lt;script&gt;" in out and "&lt;b&gt;x&lt;/b&gt;" in out and " a&amp;b" in out
    spans = out.split('class="tx-tok')[1:]
    assert len(spans) == 3
    assert prob_colour(0.95) in spans[0] and prob_colour(0.05) in spans[1] and prob_colour(0.5) in spans[2]
    assert "tx-sel" in spans[1] and "tx-forced" in spans[1] and "tx-forced" not in spans[0]
    assert [prob_colour(lo) for lo, _, _, _ in PROB_BINS] == [c for _, c, _, _ in PROB_BINS]


def test_alternatives_and_compare_figures_carry_the_numbers():
    from components.generation_plots import alternatives_figure, compare_figure

    fig = alternatives_figure(["<a>", " b"], [0.7, 0.2], [0.9, 0.1], chosen=0, title="<t>")
    assert list(fig.data[0].x) == [0.7, 0.2] and list(fig.data[1].x) == [0.9, 0.1]
    assert "<a>" not in fig.data[0].y[0] and "<t>" not in fig.layout.title.text
    fig = compare_figure(["greedy", "beam"], [[-1.0, -0.5], [-0.2, -0.2, -0.1]], "t")
    assert list(fig.data[0].y) == [-1.0, -1.5] and list(fig.data[1].y) == pytest.approx([-0.2, -0.4, -0.5])


def test_a_failing_first_step_finishes_the_request_and_the_engine_goes_on(tiny, monkeypatch):
    """An exception while the first token is picked (the request is not in the batch yet) must finish that
    request with the error, not leave it running for ever; the next request is served normally."""
    from serving import engine as generation

    lm, e = tiny
    ids = ids_of(lm, PROMPTS[0])

    def broken_warp(*args, **kwargs):
        raise RuntimeError("warp failed")

    monkeypatch.setattr(generation, "warp", broken_warp)
    req = e.submit(ids, Settings(greedy=False, max_new_tokens=3, **SAMPLE))
    req.result(timeout=60)
    assert req.state == "error" and req.finish_reason == "RuntimeError: warp failed" and not req.steps
    monkeypatch.undo()
    ok = e.submit(ids, Settings(greedy=False, max_new_tokens=3, **SAMPLE)).result(timeout=60)
    assert ok.state == "done" and len(ok.steps) == 3


def test_the_engines_threads_yield_the_cores_to_page_runs(engine, smollm2):
    """The loop thread and the helper pool run at ENGINE_NICE (Linux): page runs, which a student waits for
    whole, go first; this test's own thread keeps its priority."""
    import os

    from serving import engine as eng

    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    expected = max(eng.ENGINE_NICE, mine)  # lowered, never raised
    reqs = [engine.submit(ids_of(smollm2, p), Settings(greedy=False, max_new_tokens=4, seed=s, **SAMPLE)) for s, p in
            enumerate(PROMPTS)]  # several sampled rows: the draws go to the helper threads
    for r in reqs:
        r.result(timeout=120)
    threads = [engine._thread, *getattr(engine._pool, "_threads", ())]  # no pool on one core
    assert (len(threads) >= 2) == (os.cpu_count() > 1) and all(t.native_id for t in threads)
    assert {os.getpriority(os.PRIO_PROCESS, t.native_id) for t in threads} == {expected}
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine  # the caller keeps its own


@pytest.mark.skipif(sys.platform != "linux", reason="a nice value per thread is Linux's")
def test_yield_to_pages_lowers_a_thread_and_never_raises_it():
    """serve.py's warm-up of later pages and the engine's threads: a thread at nice 0 goes to 10, one already at
    15 stays at 15 (an absolute 10 would raise it above its process's other threads)."""
    import os

    from serving.engine import yield_to_pages

    seen = {}

    def at(start: int) -> None:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(start, os.getpriority(os.PRIO_PROCESS, tid)))
        yield_to_pages(10)
        seen[start] = os.getpriority(os.PRIO_PROCESS, tid)

    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    for start in (0, 15):
        t = threading.Thread(target=at, args=(start,))
        t.start()
        t.join()
    assert seen == {0: max(10, mine), 15: max(15, mine)}


# ------------------------------------------------------------------------------------------ matrix kernel
def test_auto_takes_the_kernel_it_measured_faster_on_its_worker(smollm2):
    """TX_LINEAR=auto: the engine times MKL's and oneDNN's kernel on the model's own matrices on its first run (the
    worker's thread) and takes the faster; what it measured is kept. A forced kernel is not timed."""
    from serving.engine import time_kernels

    seconds = time_kernels(LlamaBackend(smollm2).weights, rounds=1)
    assert set(seconds) == {"mkl", "onednn"} and all(0 < s < 60 for s in seconds.values())
    engine = Engine(smollm2)
    try:
        assert engine.kernel_seconds == {} and engine.backend.onednn is False  # nothing timed before a first run
        engine.warm()
        got = engine.kernel_seconds
        assert set(got) == {"mkl", "onednn"} and all(0 < s < 60 for s in got.values())
        assert engine.backend.onednn is (got["onednn"] < got["mkl"])
        assert engine.kind == f"lean Llama forward ({'oneDNN' if engine.backend.onednn else 'MKL'})"
    finally:
        engine.close()
    forced = Engine(smollm2, linear="mkl")
    try:
        forced.warm()
        assert forced.kernel_seconds == {} and forced.backend.onednn is False
    finally:
        forced.close()
    with pytest.raises(ValueError, match="blas"):
        Engine(smollm2, linear="blas")


def test_a_lone_stream_steps_on_every_core_and_a_batch_on_one(smollm2):
    """ONE_CORE_ROWS: one row runs on the engine's threads; from two rows on a step runs on one core, the other
    left to the page runs (on oneDNN's kernel, which keeps a batch whole)."""
    from serving.engine import ONE_CORE_ROWS

    engine = Engine(smollm2, linear="onednn", threads=2)
    seen: list[tuple[int, int]] = []
    decode = engine.backend.decode

    def spy(tokens, lengths, *rest):
        seen.append((tokens.shape[0], torch.get_num_threads()))
        return decode(tokens, lengths, *rest)

    engine.backend.decode = spy
    ids = ids_of(smollm2, PROMPTS[0])
    try:
        engine.generate(ids, Settings(max_new_tokens=3), timeout=120)
        with engine._cv:  # three at once
            reqs = [engine.submit(ids, Settings(max_new_tokens=3)) for _ in range(3)]
        [r.result(timeout=120) for r in reqs]
    finally:
        engine.close()
    assert {t for rows, t in seen if rows == 1} == {2}
    assert {t for rows, t in seen if rows >= ONE_CORE_ROWS} == {1} and max(r for r, _ in seen) == 3


def test_a_failed_kernel_timing_keeps_mkl_and_the_engine_serving(smollm2, monkeypatch):
    """If timing the kernels raises, the worker takes MKL's kernel (nn.Linear's), records no timing and serves."""
    from serving import engine as engine_mod

    def refuse(layers, rounds=3):
        raise RuntimeError("oneDNN refused the weights")

    monkeypatch.setattr(engine_mod, "time_kernels", refuse)
    engine = Engine(smollm2)
    try:
        req = engine.generate(ids_of(smollm2, PROMPTS[0]), Settings(max_new_tokens=3), timeout=120)
        assert req.state == "done" and len(req.steps) == 3
        assert engine.linear == "mkl" and engine.kernel_seconds == {} and engine.backend.onednn is False
    finally:
        engine.close()
