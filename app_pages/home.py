"""Overview: what the app shows and where to start."""
import streamlit as st

from models.registry import REGISTRY

st.title("How a language model reads text")
st.markdown(
    "This app follows a sentence through a **real** language model running on this computer, with no internet: "
    "the text is cut into tokens, each token becomes an id, and every number you see is computed by the model "
    "in the sidebar. Pick a model and type a text in the sidebar; the same text is used on every page."
)
st.page_link("app_pages/tokens.py", label="Tokens: how text becomes pieces and ids", icon=":material/token:")
st.page_link("app_pages/embeddings.py", label="Embeddings: ids become vectors, and geometry carries meaning",
             icon=":material/scatter_plot:")
st.page_link("app_pages/similarity.py", label="Similarity: compare words, sentences and one word in two contexts",
             icon=":material/compare_arrows:")
st.page_link("app_pages/attention.py", label="Attention: which tokens each token reads, head by head, q·k step by step",
             icon=":material/hub:")
st.subheader("The models")
rows = [f"- **{s.label}** (`{s.id}`): {s.blurb}" for s in REGISTRY.values()]
st.markdown("\n".join(rows))
st.caption(
    "A decoder (GPT-style) reads left to right and predicts the next token; an encoder (BERT-style) reads the "
    "whole text at once. Hub models load when the Hugging Face cache or hub has them."
)
