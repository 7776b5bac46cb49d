"""Issue #25, charts and labels: every chart label shows the token's characters once, panel titles and ticks that
do not run together, byte pieces tied to their character, one space marker, a colour-blind-safe generation scale,
readable q·k axes and head captions, "—" for the span of an added token.

Plotly's own rule for label text (plotly.js src/lib/svg_text_utils.js, checked in real Chromium by
tests/e2e/test_labels25_e2e.py): a few tags (<br>, <b>, <sup>, <extra>...) are markup, and entities are turned
back by ``convertEntities`` (the regex and table below are plotly.js's): &amp; &lt; &gt; &mu; &times; &plusmn; &deg;
&nbsp; and numeric ones; any other named entity (&quot;) stays as it is written.
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import numpy as np
import pytest

from components import attention_plots as ap
from components import block_plots, bpe_plots, generation_plots, kv_plots, loss_plots, plots, samples_plots
from components import sampling_plots
from components.plots import plotly_lines, plotly_text
from components.widgets import visible

ROOT = Path(__file__).resolve().parents[2]
# what a vocabulary or a user can put in a label: the issue's `."`, tags, entities, Plotly's template and LaTeX syntax
HOSTILE = ['."', "<b>&amp;</b>", "a&b>c<d", "%{y}$5$", "'q'", "&mu;&#37;"]

PLOTLY_TAGS = re.compile(r"</?(?:br|b|i|em|sup|sub|s|u|span|a|extra)\b[^>]*>", re.I)  # plotly.js TAG_STYLES etc.
ENTITY = re.compile(r"&(#\d+|#x[\da-fA-F]+|[a-z]+);")  # plotly.js svg_text_utils: ENTITY_MATCH
NAMED = {"mu": "μ", "amp": "&", "lt": "<", "gt": ">", "nbsp": "\xa0", "times": "×", "plusmn": "±", "deg": "°"}


def plotly_shows(s: str) -> str:
    """The characters Plotly draws for a label string: its tags are markup, then its entities are converted."""
    s = PLOTLY_TAGS.sub("", s)

    def one(m: re.Match) -> str:
        r = m.group(1)
        if r.startswith("#"):
            return chr(int(r[2:], 16) if r[1] == "x" else int(r[1:]))
        return NAMED.get(r, m.group(0))

    return ENTITY.sub(one, s)


def strings(obj) -> list[str]:
    """Every string of a figure's JSON (titles, ticks, categories, texts, custom data, hover templates)."""
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in strings(v)]
    return []


# ------------------------------------------------------------------------------------------------ item 5
@pytest.mark.parametrize("s", HOSTILE + ["plain", "", "100% & <100%>", "$x$"])
def test_plotly_text_is_drawn_as_exactly_its_characters(s):
    assert plotly_shows(plotly_text(s)) == s
    assert "<" not in plotly_text(s) and ">" not in plotly_text(s)
    assert "%{" not in plotly_text(s)  # not a hover-template field
    assert "&quot;" not in plotly_text(s) and "&#x27;" not in plotly_text(s)


def test_html_escape_would_show_quotes_as_entities():
    """Why one helper: html.escape's &quot; is drawn by Plotly as those six characters (the issue's `.&quot;`)."""
    import html

    assert plotly_shows(html.escape('."')) == ".&quot;"
    assert plotly_shows(plotly_text('."')) == '."'


def test_plotly_lines_wraps_at_spaces_and_keeps_the_characters():
    s = 'Adjusted: T = 0.69, top-k = 3, top-p = 0.95 "<&>"'
    out = plotly_lines(s, 20)
    lines = out.split("<br>")
    assert len(lines) > 1 and all(len(plotly_shows(line)) <= 20 for line in lines[:-1])
    assert " ".join(plotly_shows(line) for line in lines) == s


def _figures(labels: list[str]) -> dict[str, object]:
    """Every figure builder that draws text given to it, with ``labels`` as its tokens, names and titles."""
    n = len(labels)
    rng = np.random.default_rng(0)
    title = " ".join(labels)
    w = rng.random((n, n)).astype(np.float32)
    probs = np.linspace(0.5, 0.05, n)
    thumbs = rng.random((1, n, 3, 3)).astype(np.float32)
    cells = np.stack(np.meshgrid([0], np.arange(n), indexing="ij"), -1)
    return {
        "one_hot_vs_dense": plots.one_hot_vs_dense(3, 10, rng.random(4), labels[0]),
        "heatmap": plots.heatmap(w, labels, labels, title),
        "lines": plots.lines(range(3), {s: rng.random(3) for s in labels}, title, "x", "y"),
        "ranked_bars": plots.ranked_bars(labels, probs, title),
        "pca_scatter": plots.pca_scatter(rng.random((n, 2)), labels, labels, np.array([0.5, 0.3]), title),
        "layer_drift": plots.layer_drift({s: rng.random(3) for s in labels}, {labels[0]: 0.5}, title),
        "probability_bars": sampling_plots.probability_bars(labels, np.arange(n), probs, probs, np.ones(n, bool),
                                                            title, title),
        "lens_heatmap": sampling_plots.lens_heatmap([labels, labels], np.array([probs, probs]), labels[:2], title),
        "lens_line": sampling_plots.lens_line(probs, np.arange(n), labels[0], title),
        "attention_heatmap": ap.attention_heatmap(w, labels, labels, title),
        "vectors": ap.vectors(w, labels, title),
        "step_bars": ap.step_bars(labels, rng.random(n), probs, np.zeros(n, bool), title),
        "head_grid": ap.head_grid(thumbs, cells, title, row_labels=labels[:1], col_labels=labels,
                                  cell_labels=[labels]),
        "stat_grid": ap.stat_grid(rng.random((2, 2)), title, labels[0]),
        "before_after_bars": block_plots.before_after_bars(labels, probs, probs, title),
        "position_cosines": block_plots.position_cosines(labels, probs, title),
        "loss_bars": loss_plots.loss_bars(labels, probs, probs, np.arange(n), labels, probs, 100, title),
        "samples_figure": samples_plots.samples_figure(labels, np.arange(n), np.arange(n), 10, probs, probs / 10,
                                                       title),
        "kv_rows_figure": kv_plots.kv_rows_figure(w, w, labels, 2, title),
        "merges_figure": bpe_plots.merges_figure(np.arange(n, 0, -1), labels, 1, np.array([9, 8]), np.array([0, 1]),
                                                 7, labels[0], title),
        "tax_figure": bpe_plots.tax_figure(labels, list(range(n)), list(range(n)), labels[0], labels[1], title),
        "alternatives_figure": generation_plots.alternatives_figure(labels, list(probs), list(probs), 0, title),
        "compare_figure": generation_plots.compare_figure(labels, [[-0.1, -0.2]] * n, title),
    }


@pytest.mark.parametrize("name", list(_figures(HOSTILE)))
def test_every_chart_shows_every_token_once_escaped(name):
    fig = json.loads(_figures(HOSTILE)[name].to_json())
    texts = strings(fig)
    shown = [plotly_shows(s) for s in texts]
    for s in texts:
        assert not re.search(r"&(quot|#x27|#39|apos);", s), s  # html.escape's quotes: drawn literally by Plotly
        assert "<" not in PLOTLY_TAGS.sub("", s), s  # no tag but Plotly's own markup (a token's "<b>" is escaped)
        if "%{" in s:  # a hover template: only Plotly's own fields, never a token's "%{y}"
            assert "%{y}$5$" not in s
    given = HOSTILE[:1] if name == "one_hot_vs_dense" else HOSTILE  # that one draws a single token and no title
    for h in given:  # each token is drawn with its characters (visible() changes nothing here: no whitespace)
        assert any(visible(h) in t for t in shown), (name, h)


def test_figure_builders_use_the_one_plotly_helper():
    """html.escape (HTML's rule) is for HTML only: in the figure modules it may appear only in functions that return
    HTML (``*_html``); every Plotly label goes through components.plots.plotly_text."""
    for path in sorted((ROOT / "components").glob("*plots*.py")):
        tree = ast.parse(path.read_text())
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "escape"
                        and isinstance(node.func.value, ast.Name) and node.func.value.id == "html"):
                    assert fn.name.endswith("_html"), f"{path.name}:{node.lineno} html.escape in {fn.name}"


# ------------------------------------------------------------------------------------------------ item 4
def test_probability_bars_panel_titles_are_stacked_and_the_panels_keep_apart():
    long = "Adjusted: T = 0.69, top-k = 3, top-p = 0.95, and a long tail of words to wrap"
    fig = sampling_plots.probability_bars(["a", "b"], np.arange(2), np.array([0.8, 0.2]), np.array([0.9, 0.1]),
                                          np.ones(2, bool), "t", long)
    left, right = fig.layout.xaxis.domain, fig.layout.xaxis2.domain
    assert right[0] - left[1] >= 0.1  # a gap for the last tick of one panel and the first of the next
    model, adjusted = fig.layout.annotations
    n_model, n_adjusted = (len(a.text.split("<br>")) for a in (model, adjusted))
    assert n_adjusted > 1  # wrapped
    # stacked, not side by side: both start at the left, the model's title sits above every line of the other
    assert model.x == adjusted.x == 0 and model.y == adjusted.y and model.yanchor == adjusted.yanchor == "bottom"
    assert model.yshift >= sampling_plots.LINE_PX * n_adjusted and not adjusted.yshift
    assert fig.layout.margin.t >= sampling_plots.LINE_PX * (n_model + n_adjusted) + 40  # room for both above the plot
    assert adjusted.font.color == sampling_plots.ADJUSTED  # the title in its bars' colour
    for note in (model, adjusted):
        assert all(len(plotly_shows(line)) <= sampling_plots.SUBTITLE_CHARS for line in note.text.split("<br>"))
    assert " ".join(plotly_shows(x) for x in adjusted.text.split("<br>")) == long
    assert fig.layout.xaxis.nticks == fig.layout.xaxis2.nticks == 5


def test_browser_bars_choose_ticks_by_width():
    """redraw.js's niceStep takes the most ticks the panel's width holds; it is JavaScript, so check its table:
    every step is 1, 2, 2.5 or 5 x 10^n, increasing, up to 100%."""
    js = (ROOT / "components/sampling_redraw_frontend/redraw.js").read_text()
    m = re.search(r"function niceStep\(top, most\) \{\s*var steps = \[([^\]]+)\]", js)
    assert m, "niceStep(top, most) with its list of steps"
    steps = [float(x) for x in m.group(1).split(",")]
    assert steps == sorted(steps) and steps[-1] == 1
    for s in steps:
        mant = s / 10 ** np.floor(np.log10(s))
        assert any(np.isclose(mant, v) for v in (1, 2, 2.5, 5)), s
    assert "drawTicks(0, view.bars.top)" in js  # redrawn when the frame is resized (a phone turned)


# ------------------------------------------------------------------------------------------------ item 9
def test_step_bars_put_scores_and_weights_on_separate_readable_axes():
    scores = np.array([0.257, -1.3, 2.637, 0.0])
    weights = np.array([0.2, 0.05, 0.75, 0.0])
    masked = np.array([False, False, False, True])
    fig = ap.step_bars(["a", "b", "c", "d"], scores, weights, masked, "t")
    lay = fig.layout
    assert lay.yaxis2.overlaying is None  # two panels, not two scales on one plot
    top, bottom = lay.yaxis2.domain, lay.yaxis.domain
    assert bottom[1] < top[0]
    assert list(lay.yaxis.range) == [0, 1.02] and lay.yaxis.dtick == 0.25  # weights: 0, 0.25, ..., 1
    lo, hi = lay.yaxis2.range
    assert lo <= scores[~masked].min() and hi >= scores[~masked].max() and lo <= 0 <= hi  # every score, and 0
    score_bars = [t for t in fig.data if t.yaxis == "y2"]
    assert len(score_bars) == 1 and np.isnan(score_bars[0].y[3]) and np.allclose(score_bars[0].y[:3], scores[:3])


def test_head_grid_captions_every_thumbnail():
    thumbs = np.zeros((2, 3, 4, 4), np.float32)
    cells = np.stack(np.meshgrid(np.arange(1), np.arange(6), indexing="ij"), -1).reshape(2, 3, 2)
    captions = [[f"head {r * 3 + c + 1}" for c in range(3)] for r in range(2)]
    fig = ap.head_grid(thumbs, cells, "t", row_labels=["x", "y"], col_labels=[""] * 3, cell_labels=captions,
                       col_title="")
    text = [t for t in fig.data if t.name == "captions"][0]
    assert list(text.text) == [c for row in captions for c in row]
    marks = fig.data[1]  # the click targets stay the second trace, under each caption
    assert list(text.x) == list(marks.x) and all(ty < my for ty, my in zip(text.y, marks.y))
    assert fig.layout.yaxis.range[1] < 0  # the top row's captions are inside the plot
    assert not fig.layout.xaxis.title.text


# ------------------------------------------------------------------------------------------------ item 8
def _linear(c: str) -> np.ndarray:
    rgb = np.array([int(c[i:i + 2], 16) for i in (1, 3, 5)]) / 255
    return np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)


def _lab(lin: np.ndarray) -> np.ndarray:
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ lin
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


# Machado, Oliveira & Fernandes (2009), severity 1.0, on linear RGB
CVD = {
    "protanopia": np.array([[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "tritanopia": np.array([[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                            [0.004733, 0.691367, 0.303900]]),
}


@pytest.mark.parametrize("vision", ["normal"] + list(CVD))
def test_generation_colours_stay_apart_in_colour_blind_vision(vision):
    colours = [c for _lo, c, _label, _name in generation_plots.PROB_BINS]
    labs = []
    for c in colours:
        lin = _linear(c)
        if vision != "normal":
            lin = np.clip(CVD[vision] @ lin, 0, 1)
        labs.append(_lab(lin))
    # neighbouring bins clearly different (CIE76 distance; the old green-to-red scale came down to 6 between two
    # neighbours and 7 between "sure" and "unsure" for deuteranopia)
    for a, b in zip(labs, labs[1:]):
        assert np.linalg.norm(a - b) > 15, (vision, colours)
    assert np.linalg.norm(labs[0] - labs[-1]) > 50  # sure vs unsure: far apart
    # dark text stays readable on every bin (WCAG contrast with the token text colour #111827)
    lum = lambda c: float(np.array([0.2126, 0.7152, 0.0722]) @ _linear(c))  # noqa: E731
    assert all((lum(c) + 0.05) / (lum("#111827") + 0.05) >= 4.5 for c in colours)


def test_generation_caption_names_the_colours_of_the_scale():
    bins = generation_plots.PROB_BINS
    words = generation_plots.scale_words()
    assert words == f"{bins[0][3]}: sure, {bins[-1][3]}: unsure"
    assert "green" not in words and "red" not in words
    legend = generation_plots.legend_html("p")
    for _lo, c, label, name in bins:
        assert f"background:{c}" in legend and name in legend
    tour = (ROOT / "components/tour.py").read_text()
    assert "green: sure" not in tour and "scale_words()" in tour


# ------------------------------------------------------------------------------------------- items 6, 7, 10
def _pieces(loaded, text: str, kind: str):
    """``loaded``: tests/unit/conftest.py's smollm2_tok or minilm_tok (a LoadedTokenizer)."""
    from models.tokens import describe, encode

    tok = loaded.tokenizer
    return describe(tok, encode(tok, text), text, kind)


PIZZA = "I love 🍕 and 我们的首都是北京 é\nok"


def test_byte_pieces_are_grouped_by_the_character_they_share(smollm2_tok):
    from models.tokens import char_groups

    pieces = _pieces(smollm2_tok, PIZZA, "byte-level BPE")
    groups = char_groups(pieces)
    # independently of the grouping: a character is split when no single piece decodes to text containing it
    alone = [smollm2_tok.tokenizer.decode([p.id]) for p in pieces]
    split = [c for c in PIZZA if ord(c) > 0x7F and not any(c in a for a in alone)]
    assert split and [g.chars for g in groups] == split  # 🍕 and the Chinese characters without a piece of their own
    grouped = {i for g in groups for i in range(g.first, g.last + 1)}
    assert {p.index for p in pieces if p.partial} <= grouped  # every byte piece is tied to its character
    for g in groups:
        joined = b"".join(pieces[i].byte_values for i in range(g.first, g.last + 1))
        assert g.chars in joined.decode("utf-8")  # together the pieces are exactly the character's bytes
        assert PIZZA[g.span[0]:g.span[1]] == g.chars


def test_chips_of_one_character_share_a_colour_and_a_bracket(smollm2_tok):
    from components.widgets import chips_html
    from models.tokens import char_groups

    pieces = _pieces(smollm2_tok, PIZZA, "byte-level BPE")
    out = chips_html(pieces)
    blocks = re.findall(r'<span class="tx-group".*?<span class="tx-group-char">(.*?)</span></span>', out, re.S)
    assert blocks == [g.chars for g in char_groups(pieces)]
    inside = re.findall(r'<span class="tx-group-chips">(.*?)</span><span class="tx-group-char">', out, re.S)
    assert len(inside) == len(blocks)
    for g, block in zip(char_groups(pieces), inside):
        ids = [int(x) for x in re.findall(r'data-index="(\d+)"', block)]
        assert ids == list(range(g.first, g.last + 1))
        assert len(set(re.findall(r'background:(#[0-9a-f]{6})', block))) == 1  # one colour for the character
    assert out.count('role="listitem"') == len(pieces)  # every piece still one chip


def test_one_space_marker_in_display(smollm2_tok, minilm_tok):
    from components.widgets import piece_label

    pieces = _pieces(smollm2_tok, PIZZA, "byte-level BPE")
    for p in pieces:
        assert "Ġ" not in visible(p.display) and "Ċ" not in visible(p.display)
        if not p.partial and not p.special:
            assert p.display == smollm2_tok.tokenizer.decode([p.id])  # the characters the piece stands for
        assert "Ġ" not in piece_label(p)
    assert "␣love" in [visible(p.display) for p in pieces] and "⏎" in "".join(visible(p.display) for p in pieces)
    wp = _pieces(minilm_tok, "tokenization works", "WordPiece")
    assert [p.display for p in wp] == [p.raw for p in wp]  # WordPiece's ## marks a continuation, not a space


def test_token_texts_of_byte_pieces_use_the_space_marker(smollm2_tok):
    from models.sampling import token_texts

    tok = smollm2_tok.tokenizer
    ids = tok(" 🍕", add_special_tokens=False).input_ids
    texts = token_texts(tok, ids, "byte-level BPE")
    assert texts[0].startswith(" <F0>") and all("Ġ" not in t for t in texts)


def test_prompt_tail_is_decoded_as_text(smollm2_tok):
    from models.sampling import decoded_tail

    tok, text = smollm2_tok.tokenizer, "中国的首都是"
    ids = tok(text, add_special_tokens=False).input_ids
    for n in range(1, len(ids) + 1):
        tail, cut = decoded_tail(tok, ids, n)
        assert "\ufffd" not in tail and "<E" not in tail
        assert text.endswith(tail) and cut == (tail != text)  # a whole-character suffix of the text
    assert decoded_tail(tok, ids, 6)[0].endswith("首都是")


def test_tokens_table_keeps_empty_spans_for_added_tokens(minilm_tok):
    from models.tokens import pieces_table

    rows = pieces_table(_pieces(minilm_tok, "hi there", "WordPiece"))
    assert rows[0]["piece"] == "[CLS]" and rows[0]["start"] is None and rows[-1]["end"] is None  # CSV: empty cells
    assert rows[1]["start"] == 0 and rows[1]["end"] == 2
