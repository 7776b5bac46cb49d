"""components/phone.py: the one-line summary of the model and the text for narrow screens (issue #25)."""
from __future__ import annotations

from components import phone


def test_summary_is_one_line_literal_and_cut():
    line = phone.summary_line("a *b*\n\n<i>c</i>   `d`", "M")
    assert "\n" not in line
    # the user's text is one inline code span (no Markdown, no HTML), whitespace runs as one space
    assert "`` a *b* <i>c</i> `d` ``" in line and line.startswith("**M** · ")
    long = "x" * (phone.MAX_CHARS + 50)
    cut = phone.summary_line(long, "M")
    assert "x" * phone.MAX_CHARS + "…" in cut and "x" * (phone.MAX_CHARS + 1) not in cut


def test_empty_text_says_where_to_type():
    assert "no text yet" in phone.summary_line(" \n ", "M")
    assert "sidebar" in phone.edit_hint()


def test_css_hides_it_on_wide_screens_only():
    css = phone.CSS
    wide, narrow = css.split("@media", 1)
    assert f".st-key-{phone.KEY} {{display: none;}}" in wide
    assert f"max-width: {phone.NARROW_PX - 0.02}px" in narrow and f".st-key-{phone.KEY} {{display: flex; gap: 0;}}" in narrow
    assert f".st-key-{phone.KEY}_line p {{white-space: nowrap;" in narrow  # one line, cut with an ellipsis
    assert ".modebar-container {display: none !important;}" in narrow
