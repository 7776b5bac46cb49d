"""The browser's temperature / top-k / top-p (components/sampling_redraw_frontend/sampling.js, run in headless
Chromium) equals models/sampling.py's adjust() on the same logits within 1e-6, on a grid of settings with the edges:
T = 0 (greedy), T tiny (too small for float32: refused, as adjust() refuses it), k = 1, k = V, p tiny, p = 0, p = 1,
and exact ties at the top-k and top-p cuts. adjust() is itself tested against transformers' warpers
(tests/unit/test_sampling.py). No server: the file is loaded into a blank page.
"""
from __future__ import annotations

import base64
import itertools
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from models.sampling import BadSetting, adjust, entropy_bits, torch_softmax_layout

pytestmark = pytest.mark.e2e

JS = Path(__file__).resolve().parents[2] / "components" / "sampling_redraw_frontend" / "sampling.js"
PROMPTS = ("The capital of France is", "students celebrate the graduation with a big party")

RUN = """([b64, layout, settings]) => {
  const bin = atob(b64), bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const ctx = TxSampling.prepare(new Float32Array(bytes.buffer), layout);
  const enc = (typed) => { const u = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
    let s = ""; for (let i = 0; i < u.length; i += 8192) s += String.fromCharCode.apply(null, u.subarray(i, i + 8192));
    return btoa(s); };
  return settings.map(([t, k, p]) => {
    const r = TxSampling.adjust(ctx, t, k, p);
    if (r.tooSmall) return {tooSmall: true};
    return {greedy: r.greedy, probs: enc(r.probs), scaled: enc(Float32Array.from(r.scaled)),
            probsScaled: enc(r.probsScaled), sees: enc(r.probsTopPSees), kept: enc(r.kept), keptTopK: enc(r.keptTopK),
            original: enc(r.probsOriginal), nucleus: enc(TxSampling.nucleus(ctx, r)), nKept: r.nKept,
            nKeptTopK: r.nKeptTopK, nNonzero: r.nNonzero, h0: r.entropyOriginal, h1: r.entropyFinal, mass: r.keptMass};
  });
}"""


def _arr(b64: str, dtype) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), dtype=dtype)


@pytest.fixture(scope="module")
def js_page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_content("<!DOCTYPE html><html><body></body></html>")
    page.add_script_tag(content=JS.read_text())
    yield page
    context.close()


@pytest.fixture(scope="module")
def real_logits(smollm2) -> dict[str, np.ndarray]:
    out = {}
    for text in PROMPTS:
        ids = smollm2.tokenizer(text, return_tensors="pt").input_ids
        with torch.inference_mode():
            out[text] = smollm2.model(input_ids=ids).logits[0, -1].float().numpy()
    return out


def in_browser(page, logits: np.ndarray, settings: list[tuple[float, int, float]]) -> list[dict]:
    b64 = base64.b64encode(np.ascontiguousarray(logits, dtype="<f4").tobytes()).decode()
    return page.evaluate(RUN, [b64, torch_softmax_layout(), [list(s) for s in settings]])


def check(logits: np.ndarray, settings, got: list[dict]) -> None:
    for (t, k, p), g in zip(settings, got):
        try:
            want = adjust(logits, t, k, p)
        except BadSetting:
            assert g.get("tooSmall"), (t, k, p)
            continue
        where = f"T={t} k={k} p={p}"
        assert not g.get("tooSmall") and g["greedy"] == want.greedy, where
        np.testing.assert_array_equal(_arr(g["kept"], np.uint8).astype(bool), want.kept, err_msg=where)
        np.testing.assert_array_equal(_arr(g["keptTopK"], np.uint8).astype(bool), want.kept_top_k, err_msg=where)
        np.testing.assert_array_equal(_arr(g["scaled"], "<f4"), want.scaled, err_msg=where)  # exact division
        for name, ref in (("probs", want.probs), ("probsScaled", want.probs_scaled), ("sees", want.probs_top_p_sees),
                          ("original", want.probs_original)):
            np.testing.assert_allclose(_arr(g[name], "<f4"), ref, rtol=0, atol=1e-6, err_msg=f"{name} {where}")
        np.testing.assert_allclose(_arr(g["nucleus"], "<f8"), want.nucleus_curve(), rtol=0, atol=1e-6, err_msg=where)
        assert (g["nKept"], g["nKeptTopK"], g["nNonzero"]) == (want.n_kept, want.n_kept_top_k, want.n_nonzero), where
        # the browser's entropy of ITS probabilities is numpy's (float64 sums of the same float32 numbers); against
        # adjust()'s, the V probabilities may each differ by float32 rounding (checked above within 1e-6), which a
        # flat distribution over 49,152 tokens adds up to ~1e-6 bits: 1e-5 there
        assert g["h0"] == pytest.approx(entropy_bits(_arr(g["original"], "<f4")), abs=1e-9)
        assert g["h1"] == pytest.approx(entropy_bits(_arr(g["probs"], "<f4")), abs=1e-9)
        assert g["h0"] == pytest.approx(want.entropy_original, abs=1e-5)
        assert g["h1"] == pytest.approx(want.entropy_final, abs=1e-5)
        assert g["mass"] == pytest.approx(want.kept_mass, abs=1e-6)


TINY = 1e-39  # logits / T overflow float32: adjust() refuses it, the browser must too


def grid(V: int) -> list[tuple[float, int, float]]:
    temperatures = (0.0, TINY, 0.01, 0.3, 0.7, 1.0, 1.37, 2.0)
    top_ks = (0, 1, 2, 50, V)
    top_ps = (0.0, 1e-6, 0.01, 0.5, 0.9, 0.95, 1.0)
    return list(itertools.product(temperatures, top_ks, top_ps))


@pytest.mark.parametrize("prompt", PROMPTS)
def test_browser_equals_adjust_on_the_models_logits(js_page, real_logits, prompt):
    logits = real_logits[prompt]
    settings = grid(len(logits))
    for i in range(0, len(settings), 20):  # a few MB per call
        chunk = settings[i:i + 20]
        check(logits, chunk, in_browser(js_page, logits, chunk))


def tie_vectors() -> list[np.ndarray]:
    """Exact ties at the cuts: logits rounded to a coarse grid (large tied groups at every rank), a few hand-made
    short ones, and -inf entries (tokens a model never produces)."""
    rng = np.random.default_rng(7)
    coarse = np.round(rng.normal(0, 2, 5000) * 2) / 2  # steps of 0.5: hundreds of ties per value
    with_inf = rng.normal(0, 1, 300).astype(np.float32)
    with_inf[rng.integers(0, 300, 40)] = -np.inf
    return [coarse.astype(np.float32), with_inf,
            np.array([2.0, 1.0, 1.0, 1.0, 0.0], np.float32),  # top-k 2 keeps all three 1.0s
            np.array([1.0, 1.0, 1.0, 1.0], np.float32),  # all equal: greedy takes the first
            np.array([0.5] * 20 + [3.0] + [0.5] * 20, np.float32),  # 41 entries: the long-vector sort paths
            np.log(np.array([0.4, 0.2, 0.2, 0.1, 0.1], np.float32))]  # top-p 0.6 lands exactly on a tie


@pytest.mark.parametrize("which", range(6))
def test_browser_equals_adjust_with_ties(js_page, which):
    logits = tie_vectors()[which]
    V = len(logits)
    settings = [(t, k, p) for t, k, p in itertools.product((0.0, 0.5, 1.0, 1.7), (0, 1, 2, 3, 10, V),
                                                           (0.0, 0.05, 0.3, 0.5, 0.6, 0.8, 0.99, 1.0))]
    check(logits, settings, in_browser(js_page, logits, settings))


def test_browser_sort_is_torch_sort_on_ties(js_page):
    """The order that decides which tied ids a top-p cut removes: libstdc++'s std::sort, as torch.sort runs it."""
    rng = np.random.default_rng(3)
    for n, values in ((20, 3), (100, 2), (1000, 5), (49_152, 40), (5_000, 1)):
        x = rng.integers(0, values, n).astype(np.float32)
        x[rng.integers(0, n, n // 10)] = -np.inf
        want = torch.sort(torch.from_numpy(x)[None], descending=False)[1][0].tolist()
        got = js_page.evaluate("(xs) => Array.from(TxSampling.stdSortAscending(xs.map(v => v === null ? -Infinity : v)))",
                               [None if not np.isfinite(v) else float(v) for v in x])
        assert got == want, n


FORMAT_JS = JS.parent / "format.js"


def test_browser_formats_numbers_as_python_does(js_page):
    """The component's texts are Python format templates filled in by the browser (format.js): the same digits."""
    js_page.add_script_tag(content=FORMAT_JS.read_text())
    rng = np.random.default_rng(5)
    values = [0.0, 1.0, 0.125, 0.375, 2.675, 0.0285, 0.99995, 1e-43, 0.7, 1.25, 49152.0, 123456789.0, 0.00001234,
              15.6096, -0.004, 0.004, 9.5, 10.5] + rng.random(40).tolist() + (rng.random(20) * 1e-3).tolist()
    specs = [".1%", ".2%", ".2f", ".4f", ".6f", "+.2f", "g", ".1f", ".0f"]
    cases = [(v, s) for v in values for s in specs] + [(n, ",") for n in (0, 7, 999, 1000, 49152, 1234567)]
    got = js_page.evaluate("(cases) => cases.map(([v, s]) => TxFormat.pyFormat(v, s))", [list(c) for c in cases])
    assert got == [format(v, s) for v, s in cases]


def test_browser_fills_the_components_templates_as_python_does(js_page):
    from components import sampling_redraw as sr

    js_page.add_script_tag(content=FORMAT_JS.read_text())
    values = dict(V=49_152, n=20, mass=0.9283, adjusted=0.41, T=0.65, nonzero=3, kept=1234, bits=2.1449, p=0.9,
                  k=50, after_k=50, h0=2.1449, h1=0.0, hmax=15.585, value=1e-43, setting="T = 0.65, top-p = 0.9")
    templates = {k: v for k, v in sr.strings(49_152).items()}
    got = js_page.evaluate("([t, v]) => Object.fromEntries(Object.entries(t).map(([k, s]) => [k, TxFormat.fill(s, v)]))",
                           [templates, values])
    for key, template in templates.items():
        names = set(re.findall(r"\{(\w+)", template))
        if names <= set(values):
            assert got[key] == template.format(**values), key
