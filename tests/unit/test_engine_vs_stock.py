"""The generation engine against a STOCK transformers model (issue #19 §2): SmolLM2 loaded apart from the app's copy with
``from_pretrained(..., attn_implementation="eager")`` from the converted files (tests/conftest.py), nothing of the app applied, and
its own ``generate``. Greedy on 5 prompts x 64 tokens token for token (on each matrix kernel of the lean step), seeded sampling on 3 seeds x 2 settings,
beam search (run by the app through ``generate`` itself) on 2 prompts with its log-probabilities checked against a
teacher-forced forward pass of the stock model."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.generation import Settings, beam_search, prompt_ids
from serving.engine import Engine

PROMPTS = ["The capital of France is", "Once upon a time, in a small village by the sea, there lived",
           "def add(a, b):", "The three primary colours are", "水的化学式是"]
SETTINGS = [dict(temperature=0.8, top_k=50, top_p=0.9), dict(temperature=1.3, top_k=0, top_p=0.7)]
SEEDS = [0, 7, 1234]


@pytest.fixture(scope="module")
def engine(smollm2):
    e = Engine(smollm2)
    yield e
    e.close()


@pytest.fixture(scope="module", params=["mkl", "onednn"])
def each_kernel(smollm2, request):
    """The engine on each matrix kernel of its lean step (TX_LINEAR), whichever this CPU would choose."""
    e = Engine(smollm2, linear=request.param)
    assert e.backend.onednn is (request.param == "onednn")  # this torch has oneDNN's kernel: it really runs
    yield e
    e.close()


def _generate(model, ids: list[int], n: int, **kw) -> list[int]:
    x = torch.tensor([ids])
    with torch.inference_mode():
        out = model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=n,
                             pad_token_id=model.generation_config.eos_token_id, **kw)
    return out[0, len(ids):].tolist()


@pytest.mark.parametrize("text", PROMPTS)
def test_greedy_64_tokens_equal_the_stock_generate(smollm2, stock_smollm2, each_kernel, text):
    ids = prompt_ids(smollm2.tokenizer, text)[0]
    req = each_kernel.generate(ids, Settings(max_new_tokens=64), timeout=600)
    assert req.token_ids == _generate(stock_smollm2, ids, 64, do_sample=False)
    assert len(req.token_ids) >= 8  # a real continuation, not an immediate end


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("setting", range(len(SETTINGS)))
def test_seeded_sampling_equals_the_stock_generate(smollm2, stock_smollm2, engine, seed, setting):
    ids = prompt_ids(smollm2.tokenizer, PROMPTS[1])[0]
    kw = SETTINGS[setting]
    req = engine.generate(ids, Settings(greedy=False, seed=seed, max_new_tokens=24, **kw), timeout=600)
    torch.manual_seed(seed)  # generate draws from the global generator; the engine from the request's own
    assert req.token_ids == _generate(stock_smollm2, ids, 24, do_sample=True, **kw)


def _teacher_forced(model, ids: list[int], new: list[int]) -> np.ndarray:
    x = torch.tensor([ids + new])
    with torch.inference_mode():
        logp = torch.log_softmax(model(input_ids=x).logits[0].float(), -1)
    return np.array([float(logp[len(ids) - 1 + i, t]) for i, t in enumerate(new)])


@pytest.mark.parametrize("text", PROMPTS[:2])
def test_beam_search_equals_the_stock_generate_and_its_logprobs_are_the_models(smollm2, stock_smollm2, text):
    ids = prompt_ids(smollm2.tokenizer, text)[0]
    res = beam_search(smollm2, ids, beams=3, max_new_tokens=12, length_penalty=1.0)
    ref = _generate(stock_smollm2, ids, 12, do_sample=False, num_beams=3, length_penalty=1.0)
    while ref and ref[-1] == stock_smollm2.generation_config.eos_token_id and len(ref) > len(res.token_ids):
        ref.pop()  # generate pads a beam that ended early
    assert list(res.token_ids) == ref
    np.testing.assert_allclose(res.logprobs, _teacher_forced(stock_smollm2, ids, list(res.token_ids)), atol=1e-4)
