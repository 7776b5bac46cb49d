"""Transformer explainer: entry point (sidebar, shared state, navigation)."""
from models.loading import warm_imports

warm_imports()  # torch + transformers resolved once, before any session races on lazy imports

import streamlit as st  # noqa: E402

from components import classroom_view, export, lang, pages, present, presets, state  # noqa: E402
from components.cache import resolve_model  # noqa: E402
from components.phone import summary as phone_summary  # noqa: E402
from components.widgets import model_facts_card  # noqa: E402
from models.loading import ModelUnavailable, is_available  # noqa: E402
from models.registry import LOCAL_ERRORS, REGISTRY, model_ids, register_configured  # noqa: E402
from models.tokens import MAX_TOKENS  # noqa: E402
from i18n import _  # noqa: E402

register_configured()  # TX_LOCAL_MODELS / --local-model folders, once per process
st.set_page_config(page_title="Transformer explainer", page_icon="🔤", layout="wide",
                   initial_sidebar_state=present.sidebar_state())  # collapsed on a projector (present=1)

lang.seed()  # the language first: every word below depends on it
PAGES = pages.make()  # the one table of pages: components/pages.py
page = st.navigation(PAGES)
followed = presets.follow(page.url_path)  # a preset link followed in this session: read its values again
classroom_view.follow(page, PAGES, followed)  # class mode: a student behind the teacher's latest push switches now
present.apply()  # present=1: large fonts, kept across pages

SHARED = [state.MODEL, state.TEXT, lang.LANG]
state.seed(SHARED)


def _model_label(model_id: str) -> str:
    spec = REGISTRY[model_id]
    if spec.source == "hub":
        where = " · " + (_("hub") if is_available(spec) else _("not downloaded"))
    else:  # bundled, or a local folder (its label says so)
        where = ""
    family = _("decoder") if spec.family == "decoder" else _("encoder")
    return f"{spec.label.removesuffix('-Instruct')} · {family}{where}"


with st.sidebar:
    lang.picker()
    labels = {model_id: _model_label(model_id) for model_id in model_ids()}  # in this run's language
    st.selectbox(_("Model"), list(labels), key="model", format_func=labels.get,
                 on_change=state.forget_warning, args=("model",),
                 help=_("Decoders (GPT-style, listed first) predict the next token from the left; encoders "
                        "(BERT-style) read the whole text at once. Bundled models work offline; hub models need the "
                        "Hugging Face cache or hub."))
    st.text_area(_("Text"), key="text", height=110, on_change=state.forget_warning, args=("text",),
                 placeholder=_("Type or paste any text..."),
                 help=_("Every page analyses this text (the first {n} tokens of it).").format(n=MAX_TOKENS))
    for error in LOCAL_ERRORS:  # a --local-model / TX_LOCAL_MODELS folder that is not a usable model
        st.warning(str(error), icon=":material/folder_off:")
    if len(st.session_state.text) > state.MAX_URL_TEXT:
        st.caption(_("This text is too long to put in a link ({n:,} characters; links keep up to {limit:,}).")
                   .format(n=len(st.session_state.text), limit=state.MAX_URL_TEXT))
state.write_back(SHARED)

try:
    lm, notice = resolve_model(st.session_state.model)
except ModelUnavailable as e:  # a bundled model is missing: say which command installs it
    st.error(str(e), icon=":material/error:")
    st.stop()
if notice:
    st.warning(notice, icon=":material/cloud_off:")
st.session_state["active_model"] = lm.spec.id
with st.sidebar.expander(_("Model facts: {model}").format(model=lm.spec.label), expanded=True):
    model_facts_card(lm.facts)
st.sidebar.toggle(_("Download charts as SVG"), key="svg",
                  help=_("The camera button of every chart saves a PNG at projector size (1600 × 900, 2×); "
                         "switch this on to save SVG instead."))
export.sidebar(lm, page.url_path, state.current_text())
classroom_view.shell(page, PAGES)  # class mode: only for a session in a room (follow me, answers, send this view)

phone_summary(state.current_text(), lm.spec.label)  # a phone: the text the sidebar hides (issue #25)
page.run()
