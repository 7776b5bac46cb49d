"""components/bertviz_offline.py: self-contained BertViz HTML (no network), compact float16 payload that
decodes to the model's attention, limits with notes, escaping of hostile tokens, and the size against
bertviz's own HTML on the real bundled models."""
from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest

from components import bertviz_offline as bo
from components import bertviz_reference as bvref
from models.trace import compute_trace

TEXT = (
    "Students celebrate the graduation with a big party in the old town hall. Their teachers give short "
    "speeches about patience, curiosity and the long nights spent reading before exams. Parents take photos, "
    "friends exchange addresses and promise to write, and the music plays until the caretaker switches off "
    "the lights. Outside, the first summer rain falls on the bicycles, and somebody starts singing a song that "
    "everybody seems to know while the last guests look for their coats, umbrellas and keys."
)
HOSTILE = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "</script><b>x</b>", "a&amp;b",
           "\u2028line\u2029", "\"quote'"]


@pytest.fixture(scope="module")
def traces(smollm2, minilm):
    return {m.spec.id: compute_trace(m, TEXT) for m in (smollm2, minilm)}


def tx_data(html: str) -> dict:
    """The data block the shim reads (window.__TX = {...}), parsed as JSON."""
    m = re.search(r"<script>window\.__TX = (\{.*?\});</script>", html, re.S)
    assert m, "no data block"
    return json.loads(m.group(1))


def all_views(trace):
    return {"head": bo.head_view(trace), "model": bo.model_view(trace)}


def test_text_is_about_100_tokens(traces):
    for t in traces.values():
        assert 90 <= t.n_tokens <= 130, t.n_tokens


def test_html_loads_nothing_from_the_network(traces):
    for trace in traces.values():
        for view, out in all_views(trace).items():
            html = out.html
            assert not re.search(r"""<(script|link|img|iframe)\b[^>]*\b(src|href)\s*=""", html, re.I), view
            for host in bo.CDN_HOSTS + ("cdnjs", "jsdelivr", "unpkg"):
                assert host not in html, (view, host)
            assert "require.config" not in html  # bertviz's CDN paths are gone
            assert "PYTHON_PARAMS" not in html
            # the three libraries and bertviz's own drawing code are inlined
            assert "jQuery v3.7.1" in html and "d3js.org v5.7.0" in html and "RequireJS 2.1.15" in html
            assert ("function renderThumbnail" in html) == (view == "model")
            assert ("function drawCheckboxes" in html) == (view == "head")
            assert out.n_bytes == len(html.encode("utf-8"))


def test_library_files_come_from_installed_packages():
    files = bo.library_files()
    assert set(files) == {"jquery", "d3", "requirejs"}
    assert "site-packages" in str(files["jquery"]) and files["d3"].parent.parent.name == "mpld3"
    for path in files.values():
        assert path.is_file() and path.stat().st_size > 10_000


def test_payload_decodes_to_the_attention_within_float16_rounding(traces):
    for trace in traces.values():
        for view, out in all_views(trace).items():
            data = tx_data(out.html)
            got = bo.decode_attention(data["b64"], data["shape"])
            n = out.n_tokens
            want = trace.attentions[list(out.layers)][:, list(range(trace.attentions.shape[1])) if view == "head"
                                                      else list(out.heads), :n, :n]
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-3)
            # exactly float16 rounding, no other loss
            np.testing.assert_array_equal(got, want.astype(np.float16).astype(np.float32))
            assert data["tokens"] == bo.display_tokens(trace.tokens[:n], trace.special[:n].tolist())
            # bertviz labels its layer menu / axes with include_layers: the layer NUMBERS (block index + 1)
            assert data["params"]["include_layers"] == [i + 1 for i in out.layers]
            if view == "model":
                assert data["params"]["include_heads"] == [h + 1 for h in out.heads]


def test_payload_is_at_most_a_quarter_of_bertviz_own_html(traces):
    """bertviz's real html_action='return' output for the same tokens, layers and heads."""
    for model_id, trace in traces.items():
        for view, out in all_views(trace).items():
            heads = list(out.heads) if view == "model" else None
            ref = bvref.bertviz_reference_bytes(trace, view, out.layers, heads, out.n_tokens)
            assert out.n_bytes <= ref / 4, (model_id, view, out.n_bytes, ref)
            # the cheap estimate the bench uses where bertviz's own HTML would be too big to build
            assert bvref.bertviz_bytes_estimate(trace, view, out.layers, heads, out.n_tokens) == \
                pytest.approx(ref, rel=0.03), (model_id, view)


def test_bertviz_reference_is_bertviz_own_html(traces):
    trace = traces["minilm-l6"]
    html = bvref.bertviz_reference_html(trace, "head", n_tokens=8)
    assert "cdnjs.cloudflare.com" in html  # bertviz's own: CDN scripts, floats as JSON
    params = json.loads(re.search(r"const params = (\{.*?\}); // HACK", html, re.S).group(1))
    np.testing.assert_allclose(np.array(params["attention"][0]["attn"]), trace.attentions[:, :, :8, :8], atol=1e-7)


def test_limits_cut_tokens_and_layers_with_a_note(smollm2, minilm):
    long = " ".join([TEXT] * 2)  # ~190 tokens
    for lm in (smollm2, minilm):
        trace = compute_trace(lm, long)
        T = trace.n_tokens
        L, H = trace.attentions.shape[:2]
        assert T > bo.HEAD_VIEW_MAX_TOKENS
        head = bo.head_view(trace)
        assert head.n_tokens == bo.HEAD_VIEW_MAX_TOKENS
        assert f"first {bo.HEAD_VIEW_MAX_TOKENS} of {T} tokens" in head.note
        assert tx_data(head.html)["shape"] == [L, H, bo.HEAD_VIEW_MAX_TOKENS, bo.HEAD_VIEW_MAX_TOKENS]
        model = bo.model_view(trace)
        n = bo.MODEL_VIEW_MAX_TOKENS
        assert model.n_tokens == n and f"first {n} of {T} tokens" in model.note
        assert len(model.layers) * H * n * n <= max(bo.MODEL_VIEW_MAX_LINES, H * n * n)
        if len(model.layers) < L:
            assert f"{len(model.layers)} of the {L} layers" in model.note
            assert f"({', '.join(str(i + 1) for i in model.layers)})" in model.note  # numbered from 1
            assert model.layers[0] == 0 and (len(model.layers) == 1 or model.layers[-1] == L - 1)
        if lm is minilm:  # encoder: rows of a cut matrix no longer sum to 1, and the note says so
            assert "sum to less than 1" in model.note
        else:
            assert "sum to less than 1" not in model.note
        chosen = bo.model_view(trace, layers=[2, 1], heads=[0])
        assert chosen.layers == (1, 2) and chosen.heads == (0,)
        assert tx_data(chosen.html)["shape"] == [2, 1, n, n]


def test_short_text_has_no_note(minilm):
    trace = compute_trace(minilm, "The students celebrate the graduation with a big party.")
    out = bo.head_view(trace, layer=3, heads=[1, 2])
    assert out.note is None and out.n_tokens == trace.n_tokens
    params = tx_data(out.html)["params"]
    # block index 3 is layer 4 in bertviz's menu (it selects `layer` among include_layers = 1..6); `heads` are the
    # indices of the checkboxes ticked, not labels
    assert params["layer"] == 4 and params["include_layers"] == [1, 2, 3, 4, 5, 6] and params["heads"] == [1, 2]
    assert out.height >= trace.n_tokens * 22.5


def test_bad_indices_are_clear_errors(traces):
    trace = traces["minilm-l6"]
    with pytest.raises(ValueError, match=r"layer index 6 does not exist: .* indices 0-5 \(layers 1-6\)"):
        bo.model_view(trace, layers=[6])
    with pytest.raises(ValueError, match=r"head index 12 does not exist: .* \(heads 1-12\)"):
        bo.head_view(trace, heads=[12])
    with pytest.raises(ValueError, match="not among the layer indices"):
        bo.head_view(trace, layer=5, layers=[0, 1])
    with pytest.raises(ValueError, match="at least one"):
        bo.model_view(trace, heads=[])
    with pytest.raises(ValueError):
        bo.bertviz_js("neuron")


def test_hostile_tokens_stay_data(traces):
    trace = traces["minilm-l6"]
    tokens = list(trace.tokens)
    tokens[1:1 + len(HOSTILE)] = HOSTILE
    hostile = dataclasses.replace(trace, tokens=tokens)
    for out in all_views(hostile).values():
        html = out.html
        for bad in ("<script>alert", "<img src=x", "<b>x</b>", "\u2028", "\u2029"):
            assert bad not in html
        shown = tx_data(html)["tokens"]
        assert shown[1:1 + len(HOSTILE)] == [bo.visible(t) for t in HOSTILE]
        assert shown[1] == "<script>alert(1)</script>"  # literally, as data


def test_script_json_escapes_what_could_end_a_script():
    s = bo.script_json({"t": "</script><!-- & \u2028\u2029"})
    assert "<" not in s and ">" not in s and "&" not in s and "\u2028" not in s and "\u2029" not in s
    assert json.loads(s) == {"t": "</script><!-- & \u2028\u2029"}


def test_display_tokens_byte_level_and_wordpiece(smollm2, minilm):
    t = compute_trace(smollm2, "The capital\nof 中国 is 🙂")
    shown = bo.display_tokens(t.tokens, t.special.tolist())
    assert shown[:4] == ["The", "␣capital", "⏎", "of"]
    assert "中" in shown and "␣🙂" in shown  # whole characters decoded
    assert "<E5><9B>" in shown and "<BD>" in shown  # "国" split over two pieces: its bytes in hex
    assert not any("Ġ" in s or "Ċ" in s for s in shown)
    # the tokens the trace has, one for one
    assert len(shown) == len(t.tokens)
    w = compute_trace(minilm, "unbelievably tokenized")
    wshown = bo.display_tokens(w.tokens, w.special.tolist())
    assert wshown == list(w.tokens)  # WordPiece: ## kept, [CLS]/[SEP] kept
    assert any(s.startswith("##") for s in wshown) and wshown[0] == "[CLS]"


def test_partial_utf8_pieces_show_hex():
    # "🙂" is 4 UTF-8 bytes; byte-level BPE writes byte 0xF0 as "ð", 0x9F as "Ł"
    assert bo.display_tokens(["ðŁ", "Ġa"], kind="byte-level BPE") == ["<F0><9F>", "␣a"]


def test_evenly_spaced():
    assert bo.evenly_spaced(30, 30) == list(range(30))
    assert bo.evenly_spaced(30, 1) == [0]
    got = bo.evenly_spaced(30, 4)
    assert got == [0, 10, 19, 29]
