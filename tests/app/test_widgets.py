"""components.widgets: escaping, visible whitespace, captions that match the loaded tokenizer."""
import json

from components.widgets import chips_html, facts_rows, marker_notes, tokenizer_caption, visible
from models.tokens import describe, encode


def pieces_for(lm, text):
    return describe(lm.tokenizer, encode(lm.tokenizer, text), text, lm.facts.tokenizer.kind)


def test_visible_marks_whitespace_and_controls():
    assert visible("a b\n\tc\x07\u200d") == "a␣b⏎⇥c\\x07\\u200d"


def test_chips_escape_html_and_keep_ids(smollm2):
    text = '<script>alert(1)</script> "q" & <img src=x onerror=alert(1)>'
    pieces = pieces_for(smollm2, text)
    html = chips_html(pieces, selected=2)
    assert "<script" not in html and "<img" not in html
    assert html.count('role="listitem"') == len(pieces)
    assert [int(x) for x in __import__("re").findall(r'data-id="(\d+)"', html)] == [p.id for p in pieces]
    assert html.count("tx-selected") == 1


def test_special_and_unknown_chips_are_marked(minilm):
    pieces = pieces_for(minilm, "hi 😀")
    html = chips_html(pieces)
    assert html.count("tx-special") == 2  # [CLS], [SEP]
    assert html.count("tx-unk") == 1  # the emoji is [UNK] in BERT's vocabulary


def test_marker_notes_match_what_is_present(smollm2, minilm):
    notes = " ".join(marker_notes(pieces_for(smollm2, "a big party\nnext 😀"), smollm2.facts.tokenizer))
    # the app's one space marker ␣ (and ⏎), never the vocabulary's Ġ/Ċ: those are named once, in the caption
    assert "**␣**" in notes and "**⏎**" in notes and "raw bytes" in notes and "##" not in notes
    assert "Ġ" not in notes and "Ċ" not in notes
    assert "␣party and party" in notes  # not a code span with a leading space (Markdown shows it as "party")
    assert marker_notes(pieces_for(smollm2, "party"), smollm2.facts.tokenizer) == []
    notes = " ".join(marker_notes(pieces_for(minilm, "tokenization 😀"), minilm.facts.tokenizer))
    assert "`##`" in notes and "Unknown" in notes and "[CLS]" in notes and "Ġ" not in notes


def test_captions_follow_the_model(smollm2, minilm):
    dec = tokenizer_caption(smollm2.facts.tokenizer, "SmolLM2")
    enc = tokenizer_caption(minilm.facts.tokenizer, "MiniLM")
    assert "byte-level BPE" in dec and "no BOS" in dec and "49,152" in dec
    assert "`Ġ`" in dec and "`Ċ`" in dec and "␣" in dec and "⏎" in dec  # the vocabulary's markers, and what the app shows
    assert "WordPiece" in enc and "`[CLS]`" in enc and "`[SEP]`" in enc and "30,522" in enc
    rows = dict(facts_rows(smollm2.facts))
    assert rows["Attention heads"] == "9 query / 3 key-value (grouped-query)"
    assert rows["Positions"] == "RoPE (rotary)"
    assert dict(facts_rows(minilm.facts))["Positions"] == "learned table"


def test_md_literal_defeats_markdown_links_and_backticks():
    from components.widgets import md_literal

    assert md_literal("**x** [a](https://e.org)") == "` **x** [a](https://e.org) `"
    assert md_literal("a `b` c") == "`` a `b` c ``"
    assert md_literal("x\x07") == "` x\\x07 `"


def test_csv_cells_never_start_a_formula():
    import pandas as pd

    from components.widgets import csv_safe

    df = csv_safe(pd.DataFrame({"piece": ["=1+1", "+x", "ok", "-", "@a"], "id": [1, -2, 3, 4, 5]}))
    assert df["piece"].tolist() == ["'=1+1", "'+x", "ok", "'-", "'@a"]
    assert df["id"].tolist() == [1, -2, 3, 4, 5]


def test_every_chart_has_the_white_template():
    """The app's look comes from plotly's default template (set in components.widgets, after Streamlit has set
    its own): every chart a page sends has plotly_white's, whichever builder made it."""
    import plotly.io as pio

    from tests.app.helpers import charts, run_page

    white = json.loads(pio.json.to_json_plotly(pio.templates["plotly_white"].to_plotly_json()))
    for page in ("app_pages/embeddings.py", "app_pages/next_token.py"):
        figures = charts(run_page(page))
        assert len(figures) >= 3, (page, list(figures))
        assert {title: spec["layout"]["template"] == white for title, spec in figures.items()} \
            == {title: True for title in figures}
