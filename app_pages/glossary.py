"""Glossary: the words the app uses, in plain language, one anchor per term (``/glossary#softmax``)."""
import streamlit as st

from components.glossary import TERMS

st.title("Glossary")
st.markdown("The words this app uses, in plain language. Every entry has its own link "
            "(for example `/glossary#softmax`), and captions on the other pages link here.")
st.markdown(" · ".join(f"[{t.name}](#{t.anchor})" for t in TERMS))
for t in TERMS:
    st.subheader(t.name, anchor=t.anchor)
    st.markdown(t.text + (f" [Where the app shows it]({t.see})" if t.see else ""))
