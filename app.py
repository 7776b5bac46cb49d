"""Transformer explainer: entry point (sidebar, shared state, navigation)."""
from models.loading import warm_imports

warm_imports()  # torch + transformers resolved once, before any session races on lazy imports

import streamlit as st  # noqa: E402

from components import export, present, presets, state  # noqa: E402
from components.cache import resolve_model  # noqa: E402
from components.widgets import model_facts_card  # noqa: E402
from models.loading import ModelUnavailable, is_available  # noqa: E402
from models.registry import LOCAL_ERRORS, REGISTRY, model_ids  # noqa: E402

st.set_page_config(page_title="Transformer explainer", page_icon="🔤", layout="wide",
                   initial_sidebar_state=present.sidebar_state())  # collapsed on a projector (present=1)

PAGES = [
    st.Page("app_pages/home.py", title="Overview", icon=":material/home:", url_path="home", default=True),
    st.Page("app_pages/tokens.py", title="Tokens", icon=":material/token:", url_path="tokens"),
    st.Page("app_pages/embeddings.py", title="Embeddings", icon=":material/scatter_plot:", url_path="embeddings"),
    st.Page("app_pages/similarity.py", title="Similarity", icon=":material/compare_arrows:", url_path="similarity"),
    st.Page("app_pages/attention.py", title="Attention", icon=":material/hub:", url_path="attention"),
    st.Page("app_pages/next-token.py", title="Next token", icon=":material/bar_chart:", url_path="next-token"),
    st.Page("app_pages/generate.py", title="Generate", icon=":material/auto_awesome:", url_path="generate"),
    st.Page("app_pages/glossary.py", title="Glossary", icon=":material/menu_book:", url_path="glossary"),
]
page = st.navigation(PAGES)
presets.follow(page.url_path)  # a preset link followed in this session: read its values again
present.apply()  # present=1: large fonts, kept across pages

SHARED = [state.MODEL, state.TEXT]
state.seed(SHARED)


def _model_label(model_id: str) -> str:
    spec = REGISTRY[model_id]
    if spec.source == "hub":
        where = " · hub" if is_available(spec) else " · not downloaded"
    else:  # bundled, or a local folder (its label says so)
        where = ""
    return f"{spec.label.removesuffix('-Instruct')} · {spec.family}{where}"


with st.sidebar:
    st.selectbox("Model", model_ids(), key="model", format_func=_model_label,
                 on_change=state.forget_warning, args=("model",),
                 help="Decoders (GPT-style, listed first) predict the next token from the left; encoders (BERT-style) "
                      "read the whole text at once. Bundled models work offline; hub models need the "
                      "Hugging Face cache or hub.")
    st.text_area("Text", key="text", height=110, on_change=state.forget_warning, args=("text",),
                 placeholder="Type or paste any text...",
                 help="Every page analyses this text (the first 512 tokens of it).")
    for error in LOCAL_ERRORS:  # a --local-model / TX_LOCAL_MODELS folder that is not a usable model
        st.warning(error, icon=":material/folder_off:")
    if len(st.session_state.text) > state.MAX_URL_TEXT:
        st.caption(f"This text is too long to put in a link ({len(st.session_state.text):,} characters; "
                   f"links keep up to {state.MAX_URL_TEXT:,}).")
state.write_back(SHARED)

try:
    lm, notice = resolve_model(st.session_state.model)
except ModelUnavailable as e:  # a bundled model is missing: say which command installs it
    st.error(str(e), icon=":material/error:")
    st.stop()
if notice:
    st.warning(notice, icon=":material/cloud_off:")
st.session_state["active_model"] = lm.spec.id
with st.sidebar.expander(f"Model facts: {lm.spec.label}", expanded=True):
    model_facts_card(lm.facts)
st.sidebar.toggle("Download charts as SVG", key="svg",
                  help="The camera button of every chart saves a PNG at projector size (1600 × 900, 2×); "
                       "switch this on to save SVG instead.")
export.sidebar(lm, page.url_path, state.current_text())

page.run()
