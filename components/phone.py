"""Narrow screens (a phone, issue #25): the sidebar is collapsed there, so the model and the analysed text would be
out of sight. Every page gets a one-line, read-only summary of them at the top of the main area, shown only below
640 px of width (CSS media query on its container's key class); the sidebar stays the one place to edit them.
The same query keeps plotly's mode bar (camera, zoom) off chart titles on a phone: a tap there shows the hover
label, and with it the mode bar, right on top of the title; pinch-zoom and the wide-screen buttons remain."""
from __future__ import annotations

import streamlit as st

from components.widgets import md_literal
from i18n import _

NARROW_PX = 640  # below this width the summary shows (Streamlit collapses its sidebar below ~768 px too)
KEY = "tx_phone_text"  # st.container(key=...) -> the CSS class st-key-tx_phone_text
MAX_CHARS = 60  # characters of the text in the summary; the rest is cut with "…" (one line on a 390 px phone)

CSS = f"""
<style>
.st-key-{KEY} {{display: none;}}
@media (max-width: {NARROW_PX - 0.02}px) {{
  .st-key-{KEY} {{display: flex; gap: 0;}}
  .st-key-{KEY}_line p {{white-space: nowrap; overflow: hidden; text-overflow: ellipsis;}}
  .st-key-{KEY}_line code {{white-space: nowrap;}}
  .js-plotly-plot .modebar-container {{display: none !important;}}
}}
</style>
"""


def summary_line(text: str, model: str) -> str:
    """The Markdown of the summary: the model, the text shown literally (one line, at most MAX_CHARS characters,
    whitespace runs as one space) and where to edit it."""
    flat = " ".join(text.split())
    if not flat:
        return _("**{model}** · no text yet").format(model=model)
    shown = flat if len(flat) <= MAX_CHARS else flat[:MAX_CHARS].rstrip() + "…"
    return f"**{model}** · {md_literal(shown)}"


def edit_hint() -> str:
    return _("Edit the text or the model in the sidebar (» top left).")


def summary(text: str, model: str) -> None:
    """Once per run, in app.py before the page: the CSS and the (hidden on wide screens) summary: the model and
    the text on one line (cut with an ellipsis by the CSS when still too wide), the edit hint under it."""
    st.html(CSS)
    with st.container(key=KEY):
        with st.container(key=KEY + "_line"):
            st.caption(summary_line(text, model))
        st.caption(edit_hint())
