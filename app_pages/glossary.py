"""Glossary: the words the app uses, in plain language, one anchor per term (``/glossary#softmax``)."""
import json

import streamlit as st

from components.glossary import TERMS, display_name, with_language
from i18n import _

# Streamlit scrolls inside its main element and rewrites the address when it starts (dropping the #fragment), so
# a link to an entry would open at the top: scroll to the entry named by ``term`` (checked against the known
# anchors here, on the server) or by the #fragment once the headings exist. Left out of the tab order.
SCROLL_JS = """
<script>
(function () {
  const doc = window.parent.document;
  const id = __TERM__ || decodeURIComponent((window.parent.location.hash || "").slice(1));
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

st.title(_("Glossary"))
st.markdown(_("The words this app uses, in plain language. Every entry has its own link (for example "
              "`/glossary#softmax`), and captions on the other pages link here."))
st.markdown(" · ".join(f"[{_(t.name)}](#{t.anchor})" for t in TERMS))
for t in TERMS:
    st.subheader(display_name(t), anchor=t.anchor)  # the English slug in every language: links stay the same
    where = " [{label}]({url})".format(label=_("Where the app shows it"), url=with_language(t.see)) if t.see else ""
    st.markdown(t.body() + where)
term = st.query_params.get("term", "")
known = term if term in {t.anchor for t in TERMS} else ""
st.iframe(SCROLL_JS.replace("__TERM__", json.dumps(known)), height=1, tab_index=-1)
