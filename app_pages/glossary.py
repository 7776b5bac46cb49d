"""Glossary: the words the app uses, in plain language, one anchor per term (``/glossary#softmax``)."""
import streamlit as st

from components.glossary import TERMS

# Streamlit scrolls inside its main element, so a link to /glossary#softmax would open at the top: scroll to the
# entry named by the address's #fragment once the headings exist (a lookup by id; nothing from the URL is
# written into the page). Left out of the tab order.
SCROLL_JS = """
<script>
(function () {
  const doc = window.parent.document;
  const id = decodeURIComponent((window.parent.location.hash || "").slice(1));
  if (!id) { return; }
  let tries = 0;
  const timer = setInterval(function () {
    const el = doc.getElementById(id);
    if (el || ++tries > 50) { clearInterval(timer); }
    if (el) { el.scrollIntoView({block: "start"}); }
  }, 100);
})();
</script>
"""

st.title("Glossary")
st.markdown("The words this app uses, in plain language. Every entry has its own link "
            "(for example `/glossary#softmax`), and captions on the other pages link here.")
st.markdown(" · ".join(f"[{t.name}](#{t.anchor})" for t in TERMS))
for t in TERMS:
    st.subheader(t.name, anchor=t.anchor)
    st.markdown(t.text + (f" [Where the app shows it]({t.see})" if t.see else ""))
st.iframe(SCROLL_JS, height=1, tab_index=-1)
