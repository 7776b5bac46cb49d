"""Overview: a guided tour of the path text → tokens → ids → embeddings → attention → next token → generation on
the model and text in the sidebar (the step is in the URL: ``/?step=4``), where the loaded model's parameters are,
the preset gallery and the page links."""
import html

import numpy as np
import streamlit as st

from components import pages, present, state
from components import tour
from components.params_view import parameters_section
from components.presets import PRESETS, Preset
from i18n import _
from models.registry import REGISTRY

STEP = state.Param("step", 1, lo=1, hi=len(tour.STEPS))


def _step_is_a_number() -> None:
    """A stale widget value (not a step number) starts the tour again."""
    if not isinstance(st.session_state.get(STEP.name), int):
        st.session_state[STEP.name] = 1


with state.bound([STEP], scope="home", fix=_step_is_a_number) as b:
    on_projector = present.active()


    def _current() -> int:
        value = st.session_state.get(STEP.name)  # gone when the step radio was not drawn (presentation mode)
        if not isinstance(value, int):
            value = st.session_state.get("_kept_values", {}).get(("home", STEP.name), 1)
        return value


    SCROLL = "_tour_scroll"  # counts step changes; the run after one scrolls the new step's heading to the top
    STEP_ANCHOR = "tour-step"  # the step's heading (the page's first heading on a projector)


    def _go(delta: int) -> None:
        st.session_state[STEP.name] = int(np.clip(_current() + delta, STEP.lo, STEP.hi))
        _picked()


    def _picked() -> None:
        state.forget_warning(STEP.name)
        st.session_state[SCROLL] = st.session_state.get(SCROLL, 0) + 1


    if not on_projector:  # on a projector the step's title and figure get the whole screen
        st.title(_("How a language model reads text"))
        # one plain sentence first (issue #25: words first), then what to do, as a caption
        st.markdown(_(
            "This app follows a sentence through a **real** language model running on this computer, with no internet, "
            "and every number you see is computed by the model in the sidebar."))
        st.caption(_("Pick a model and type a text in the sidebar; the same text is used on every page."))

    # ---------------------------------------------------------------------------------------------- the tour
    lm, text = tour.current()
    n = st.session_state[STEP.name]
    step = tour.STEPS[n - 1]
    if on_projector:
        st.header(f"{n}/{len(tour.STEPS)} · {_(step.title)}", anchor=STEP_ANCHOR)
    else:
        st.header(_("Guided tour"), anchor="tour")
        shorts = [f"{i}. {_(s.short)}" for i, s in enumerate(tour.STEPS, 1)]  # translated here, in the script thread
        st.radio(_("Step"), range(STEP.lo, STEP.hi + 1), key=STEP.name, horizontal=True,
                 format_func=lambda i: shorts[i - 1], on_change=_picked,
                 help=_("Each step is in the address bar (step=1…{n}): hand out a link to one step.").format(
                     n=len(tour.STEPS)))
        st.subheader(_("Step {n} of {total}: {title}").format(n=n, total=len(tour.STEPS), title=_(step.title)),
                     anchor=STEP_ANCHOR)

    view = tour.render(step, lm, text, projector=on_projector)

    prev_col, next_col, out_col = st.columns([1, 1, 3])
    prev_col.button(_("Previous"), key="tour_previous", icon=":material/arrow_back:", on_click=_go, args=(-1,),
                    disabled=n == 1, shortcut="Left" if on_projector else None, width="stretch")
    next_col.button(_("Next"), key="tour_next", icon=":material/arrow_forward:", on_click=_go, args=(1,), type="primary",
                    disabled=n == len(tour.STEPS), shortcut="Right" if on_projector else None, width="stretch")
    with out_col:
        here = {"step": str(n)}
        if on_projector:
            present.exit_link("", here)
            present.keyboard()
        else:
            present.enter_link("", here)
        # last in the column: an element drawn before the key listener's frame would make Streamlit draw that frame
        # anew, and the new one finds the listener of the old (gone) frame registered and adds none
        if st.session_state.get(SCROLL):  # the step changed (Next, Previous, the keys or the step picker)
            tour.scroll_to(None if on_projector else STEP_ANCHOR, nonce=f"{n}-{st.session_state.pop(SCROLL)}")
    if on_projector:
        st.caption(_("Keys: → or PageDown for the next step, ← or PageUp for the previous one."))
    if on_projector:
        b.stop()  # one figure per screen

    if view.page:
        st.page_link(pages.page(view.page[0]), label=_("Open the full page: {page}").format(page=view.page_label),
                     icon=":material/open_in_new:", query_params=view.page[1])

    # ----------------------------------------------------------------------------- where the parameters are
    parameters_section(lm)

    # ------------------------------------------------------------------------------------------- presets
    def gallery(group: list[Preset]) -> None:
        cols = st.columns(3)
        for i, p in enumerate(group):
            with cols[i % 3].container(border=True):
                st.markdown(f"**{html.escape(_(p.title))}**")
                st.caption(_(p.what))
                for label, url in p.links():
                    page_file, query = tour.link_target(url)
                    st.page_link(pages.page(page_file), label=_(label) if p.variants else _("Open"), query_params=query,
                                 icon=":material/play_arrow:")


    st.header(_("Examples to click"), anchor="presets")
    st.caption(_("Each example opens a page with the model, the text and the controls already set. "
                 "The link is an ordinary address: copy it into slides or a worksheet."))
    gallery([p for p in PRESETS if not p.chinese])
    st.subheader(_("Chinese examples"), anchor="chinese-examples")
    st.caption(_("How the two models cut Chinese text into tokens, and what a small, mostly English model predicts "
                 "after a Chinese prompt. A striped token is a byte piece: part of a character's UTF-8 bytes."))
    gallery([p for p in PRESETS if p.chinese])

    # ------------------------------------------------------------------------------------------- pages
    st.header(_("All pages"), anchor="pages")
    for spec in pages.TABLE:
        if spec.summary:
            st.page_link(pages.page(spec.file), label=_(spec.summary), icon=spec.icon)
    st.subheader(_("The models"))
    st.markdown("\n".join(f"- **{s.label}** (`{s.id}`): {_(s.blurb) if s.blurb else ''}" for s in REGISTRY.values()))
    st.caption(_(
        "A decoder (GPT-style) reads left to right and predicts the next token; an encoder (BERT-style) reads the "
        "whole text at once. Hub models load when the Hugging Face cache or hub has them."
    ))
