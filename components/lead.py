"""Words first, jargon later (issue #25): a page opens with ONE plain sentence, true for every model family, and
keeps its model-specific paragraph(s) (norm class names, tied weights, GQA, KV cache, RoPE...) in a collapsed
"Details for this model" expander right under it. A newcomer meets the figure after one sentence; a teacher who
wants the facts of the loaded model opens the expander (its sentences are still chosen from the model's config)."""
from __future__ import annotations

import streamlit as st

from i18n import _


def details_label() -> str:
    return _("Details for this model")


def lead(plain: str, *details: str) -> None:
    """``plain``: the one everyday sentence; ``details``: Markdown paragraphs about the loaded model, each drawn
    as its own st.markdown inside the collapsed expander (empty ones are skipped)."""
    st.markdown(plain)
    with st.expander(details_label(), expanded=False, icon=":material/info:"):
        for paragraph in details:
            if paragraph:
                st.markdown(paragraph)
