"""Presentation mode (``present=1`` in the URL): for a projector.

Large fonts, the sidebar collapsed, figures with big labels and colour scales that survive a projector
(viridis/cividis: readable in greyscale and by colour-blind viewers), one figure per screen in the tour,
keyboard next/previous (arrow keys, and PageDown/PageUp as presentation clickers send), and a link out.
The choice is kept for the session (Streamlit drops query params when the sidebar navigation switches pages)
and written back into every page's URL, so a link always reproduces the mode.
"""
from __future__ import annotations

import streamlit as st

from components import pages
from i18n import _

PARAM = "present"
_KEY = "_present"
FIGURE_FONT = 22  # px, plotly figures in presentation mode
PROJECTOR_SCALE = "Cividis"

TOUR_FIGURE = "tour_figure"  # keys of the tour's figure and text containers (components/tour.py)
TOUR_TEXT = "tour_text"

# The first screen of a projector (1280x720) must reach the first figure: the content starts just under
# Streamlit's 60 px toolbar and the headings are smaller than a slide title would be. In the tour the figure's
# box is as tall as the screen below the step's heading (100vh minus the toolbar, the heading and a margin), and
# the chart stretches to fill it (components/tour.py draws it with height="stretch"). st.metric: the value is a
# <p> that the rule for paragraphs would shrink below its label, and the label is cut with an ellipsis by
# default; on a projector the value is the larger of the two and a long label wraps.
CSS = """
<style>
html, body, [data-testid="stAppViewContainer"] {font-size: 22px;}
[data-testid="stMain"] .block-container {max-width: 100%; padding-top: 64px !important; padding-bottom: 2rem;}
[data-testid="stMain"] p, [data-testid="stMain"] li, [data-testid="stMain"] label,
[data-testid="stMain"] [data-testid="stCaptionContainer"] {font-size: 1.35rem !important; line-height: 1.5;}
[data-testid="stMain"] h1 {font-size: 2.2rem !important; padding: 0 0 0.5rem 0 !important;}
[data-testid="stMain"] h2, [data-testid="stMain"] h3 {font-size: 1.7rem !important; padding: 0.3rem 0 !important;}
[data-testid="stMain"] button p {font-size: 1.3rem !important;}
[data-testid="stMain"] [data-testid="stMetricValue"],
[data-testid="stMain"] [data-testid="stMetricValue"] p {font-size: 2.2rem !important; line-height: 1.2;}
[data-testid="stMain"] [data-testid="stMetricValue"] [data-testid="stMarkdownContainer"],
[data-testid="stMain"] [data-testid="stMetricValue"] p {white-space: normal !important;}
[data-testid="stMain"] [data-testid="stMetricLabel"] p {font-size: 1.1rem !important; line-height: 1.25;}
[data-testid="stMain"] [data-testid="stMetricLabel"] [data-testid="stMarkdownContainer"],
[data-testid="stMain"] [data-testid="stMetricLabel"] p {white-space: normal !important; overflow: visible;
  text-overflow: clip;}
[data-testid="stMain"] .st-key-__TOUR_TEXT__ p,
[data-testid="stMain"] .st-key-__TOUR_TEXT__ li {font-size: 1.2rem !important;}
.st-key-__TOUR_FIGURE__:has([data-testid="stPlotlyChart"]) {height: calc(100vh - 165px); min-height: 320px;
  flex: none !important;}
.tx-piece {font-size: 1.8rem !important;}
.tx-id {font-size: 1.1rem !important;}
.tx-gen {font-size: 1.8rem !important;}
</style>
""".replace("__TOUR_FIGURE__", TOUR_FIGURE).replace("__TOUR_TEXT__", TOUR_TEXT)

# A key listener for presentation clickers (they send PageDown/PageUp; arrow keys are Streamlit button
# shortcuts already). It runs in a same-origin iframe (st.iframe), listens on the app's document and clicks the
# buttons whose test ids name them. No data from the page or the user goes into this script.
KEYS_JS = """
<script>
(function () {
  const doc = window.parent.document;
  if (doc.__txPresentKeys) { return; }
  doc.__txPresentKeys = true;
  doc.addEventListener("keydown", function (e) {
    const t = e.target;
    if (t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName))) { return; }
    const which = {PageDown: "next", PageUp: "previous"}[e.key];
    if (!which) { return; }
    const button = doc.querySelector('.st-key-tour_' + which + ' button');
    if (button && !button.disabled) { e.preventDefault(); button.click(); }
  });
})();
</script>
"""


def active() -> bool:
    """Presentation mode for this run: ``present`` in the URL wins (1 on, anything else off), else the session's."""
    raw = st.query_params.get(PARAM)
    if raw is not None:
        st.session_state[_KEY] = raw == "1"
    return bool(st.session_state.get(_KEY, False))


def sidebar_state() -> str:
    """For st.set_page_config(initial_sidebar_state=...): collapsed on a projector."""
    return "collapsed" if active() else "auto"


def apply() -> bool:
    """Once per run (app.py): keep ``present=1`` in the URL and inject the large-font CSS. Returns active()."""
    on = active()
    if on:
        if st.query_params.get(PARAM) != "1":
            st.query_params[PARAM] = "1"
        st.html(CSS)
    elif PARAM in st.query_params:
        del st.query_params[PARAM]
    return on


def style(fig, height: int | None = None):
    """A plotly figure made readable on a projector when presentation mode is on (returns the same figure)."""
    if not active():
        return fig
    fig.update_layout(font=dict(size=FIGURE_FONT), hoverlabel=dict(font_size=FIGURE_FONT))
    if fig.layout.title.text:
        fig.update_layout(title_font=dict(size=FIGURE_FONT + 6))
    fig.update_xaxes(tickfont_size=FIGURE_FONT - 4, title_font_size=FIGURE_FONT)
    fig.update_yaxes(tickfont_size=FIGURE_FONT - 4, title_font_size=FIGURE_FONT)
    if height:
        fig.update_layout(height=height)
    return fig


def keyboard() -> None:
    """PageDown/PageUp click the tour's Next/Previous buttons (a tiny same-origin iframe, no user data; left out
    of the tab order)."""
    st.iframe(KEYS_JS, height=1, tab_index=-1)


def exit_link(page: str, params: dict[str, str]) -> None:
    """An obvious way out: the same page and view with ``present=0``."""
    st.page_link(pages.page(page), label=_("Leave presentation mode"), icon=":material/close_fullscreen:",
                 query_params={**params, PARAM: "0"})


def enter_link(page: str, params: dict[str, str]) -> None:
    st.page_link(pages.page(page), label=_("Presentation mode (projector)"), icon=":material/slideshow:",
                 query_params={**params, PARAM: "1"})
