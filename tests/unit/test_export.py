"""Trace export: the JSON file and the zip of CSVs parse back to exactly the trace (compute_trace), and the
next-token table is the model's own softmax. Also the server-side link to a view."""
from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch

from components import export
from models.sampling import token_texts
from models.trace import compute_trace

TEXT = "=SUM(A1) students celebrate - the graduation with a big party"  # a formula-like cell, a lone '-'


@pytest.fixture(scope="module", params=["smollm2", "minilm"])
def case(request):
    lm = request.getfixturevalue(request.param)
    trace = compute_trace(lm, TEXT)
    layer = trace.attentions.shape[0] - 1
    ex = export.build(trace, layer, lambda ids: token_texts(lm.tokenizer, ids, lm.facts.tokenizer.kind))
    return lm, trace, layer, ex


def _unsafe(s: str) -> str:
    """What a spreadsheet-safe CSV cell holds for s (see widgets.csv_safe)."""
    return "'" + s if s[:1] in ("=", "+", "-", "@") else s


def test_json_parses_back_to_the_trace(case):
    lm, trace, layer, ex = case
    doc = json.loads(export.to_json(ex).decode("utf-8"))
    assert doc["model"] == lm.spec.id and doc["text"] == TEXT
    toks = doc["tokens"]
    assert [t["token"] for t in toks] == trace.tokens
    assert [t["id"] for t in toks] == trace.ids.tolist()
    assert [[t["start"], t["end"]] for t in toks] == trace.offsets.tolist()
    assert [t["special"] for t in toks] == trace.special.tolist()
    # the layer NUMBER (1..L; layer 0 = the embeddings) and its 0-based block index, stated in the file
    assert doc["attention"]["layer"] == layer + 1 and doc["attention"]["block_index"] == layer
    assert "layer 0 is the embeddings" in doc["attention"]["numbering"]
    att = np.array(doc["attention"]["heads"])
    assert list(att.shape) == doc["attention"]["shape"] == list(trace.attentions[layer].shape)
    np.testing.assert_array_equal(att.astype(np.float32), trace.attentions[layer])  # exact: float32 -> float64
    np.testing.assert_allclose(att.sum(-1), 1.0, atol=1e-5)
    if lm.spec.head == "causal-lm":
        assert len(doc["next_token"]) == export.TOP_N
    else:
        assert doc["next_token"] is None


def test_next_token_is_the_models_softmax(case):
    lm, trace, _, ex = case
    if lm.spec.head != "causal-lm":
        pytest.skip("encoders predict no next token")
    ids = torch.tensor([trace.ids.tolist()])
    with torch.inference_mode():
        logits = lm.model(input_ids=ids).logits[0, -1].float()  # [V], an independent forward pass
    probs = torch.softmax(logits, -1)
    top_p, top_i = probs.topk(export.TOP_N)
    nt = ex.next_token
    assert nt["id"].tolist() == top_i.tolist()
    np.testing.assert_allclose(nt["probability"], top_p.numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(nt["logit"], logits[top_i].numpy(), rtol=1e-4, atol=1e-4)
    assert nt["token"].tolist() == [lm.tokenizer.decode([i]) for i in top_i.tolist()]


def test_zip_of_csvs_parses_back_to_the_trace(case):
    lm, trace, layer, ex = case
    with zipfile.ZipFile(io.BytesIO(export.to_zip(ex))) as z:
        names = set(z.namelist())
        tables = {n: pd.read_csv(z.open(n), keep_default_na=False) for n in names}
    expected = {"tokens.csv", "attention.csv"} | ({"next_token.csv"} if lm.spec.head == "causal-lm" else set())
    assert names == expected
    tok = tables["tokens.csv"]
    assert tok.columns.tolist() == ["position", "token", "id", "start", "end", "special"]
    assert tok["token"].astype(str).tolist() == [_unsafe(t) for t in trace.tokens]
    assert tok["id"].tolist() == trace.ids.tolist()
    assert tok[["start", "end"]].to_numpy().tolist() == trace.offsets.tolist()
    att = tables["attention.csv"]
    H, T, _ = trace.attentions[layer].shape
    assert len(att) == H * T * T
    assert att.columns.tolist() == ["layer", "head", "query", "key", "weight"]
    assert (att["layer"] == layer + 1).all() and sorted(set(att["head"])) == list(range(1, H + 1))  # numbers
    grid = np.zeros((H, T, T))
    grid[att["head"] - 1, att["query"], att["key"]] = att["weight"]  # head h = attentions[layer][h - 1]
    np.testing.assert_allclose(grid, trace.attentions[layer], rtol=0, atol=1e-7)
    if "next_token.csv" in tables:
        nt = tables["next_token.csv"]
        assert nt["id"].tolist() == ex.next_token["id"].tolist()
        np.testing.assert_allclose(nt["probability"], ex.next_token["probability"], rtol=1e-12)
        assert nt["token"].astype(str).tolist() == [_unsafe(t) for t in ex.next_token["token"]]


def test_formula_cells_are_neutralised():
    trace_tokens = pd.DataFrame({"token": ["=SUM(A1)", "-", "ok"]})
    from components.widgets import csv_safe

    assert csv_safe(trace_tokens)["token"].tolist() == ["'=SUM(A1)", "'-", "ok"]


def test_bad_layer_is_refused(case):
    _, trace, _, _ = case
    with pytest.raises(ValueError):
        export.build(trace, trace.attentions.shape[0])


@pytest.mark.parametrize("base, path, params, expected", [
    ("http://127.0.0.1:8501/tokens?x=1", "tokens", {"model": "minilm-l6", "text": "a b&c"},
     "http://127.0.0.1:8501/tokens?model=minilm-l6&text=a%20b%26c"),
    ("https://class.example:443/", "", {}, "https://class.example:443/"),
    ("javascript:alert(1)", "glossary", {"present": "1"}, "/glossary?present=1"),  # never a non-http origin
    ("", "next-token", {"text": "我"}, "/next-token?text=%E6%88%91"),
])
def test_view_url(base, path, params, expected):
    assert export.view_url(base, path, params) == expected
