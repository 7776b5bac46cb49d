"""User text shown literally: whitespace and control characters made visible, and a Markdown code span that no
text can break out of. Pure functions (no streamlit), below components/widgets.py so that any component can use
them without importing the widgets module (components/window.py does, and widgets imports window)."""
from __future__ import annotations

import re
import unicodedata


def visible(text: str) -> str:
    """Make whitespace and control characters visible: ' ' -> '␣', '\\n' -> '⏎', U+0007 -> '\\x07'."""
    out = []
    for c in text:
        if c == " ":
            out.append("␣")
        elif c == "\n":
            out.append("⏎")
        elif c == "\t":
            out.append("⇥")
        elif unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") or c in "\u2028\u2029":
            out.append(f"\\u{ord(c):04x}" if ord(c) > 0xFF else f"\\x{ord(c):02x}")
        else:
            out.append(c)
    return "".join(out)


def md_literal(text: str) -> str:
    """User text inside st.markdown, shown literally: an inline code span (no formatting, no HTML, no LaTeX,
    no autolinked URLs), with a backtick fence longer than any run of backticks in the text (CommonMark)."""
    text = "".join(c if c == " " else visible(c) for c in text)  # control characters made visible
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    return f"{fence} {text} {fence}"
