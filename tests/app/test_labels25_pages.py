"""AppTest of issue #25's page text (charts and labels): byte pieces grouped under their character on Tokens, one
space marker (␣) with the vocabulary's own marker named once, "—" for an added token's span, the Next token prompt
line decoded as text, the generation colours' caption from the scale."""
from __future__ import annotations

import re

from tests.app.helpers import run_page


def page_markdown(at) -> str:
    return "\n".join(str(m.value) for m in at.markdown) + "\n" + "\n".join(str(c.value) for c in at.caption)


def test_tokens_page_groups_byte_pieces_and_shows_one_space_marker():
    from models.loading import load_tokenizer

    text = "a big party 🍕 首都"
    at = run_page("app_pages/tokens.py", timeout=180, model="smollm2-135m", text=text)
    chips = next(h.proto.body for h in at.get("html") if "tx-chips" in h.proto.body)
    tok = load_tokenizer("smollm2-135m")
    ids = tok(text, add_special_tokens=False).input_ids
    split = [c for c in text if ord(c) > 0x7F and not any(c in tok.decode([i]) for i in ids)]  # no piece of its own
    assert re.findall(r'<span class="tx-group-char">(.*?)</span>', chips) == split
    pieces = re.findall(r'<span class="tx-piece">(.*?)</span>', chips)
    assert "␣party" in pieces and not any("Ġ" in p for p in pieces)
    words = page_markdown(at)
    assert "␣party and party are different pieces" in words  # the sentence reads as written, no code span
    assert words.count("`Ġ`") == 1  # the vocabulary's own marker, named once (the tokenizer caption)
    assert "share a colour and a bracket" in words


def test_minilm_table_shows_a_dash_for_added_tokens():
    at = run_page("app_pages/tokens.py", timeout=180, model="minilm-l6", text="students celebrate")
    table = next(df.value for df in at.dataframe if "start" in df.value.columns)
    assert table["start"].iloc[0] == "—" and table["end"].iloc[-1] == "—"  # [CLS] and [SEP]
    assert table["start"].iloc[1] == "0" and "None" not in table["start"].tolist() + table["end"].tolist()
    captions = " ".join(str(c.value) for c in at.caption)
    assert "— in start and end" in captions and "`[CLS]`" in captions and "`[SEP]`" in captions


def test_next_token_prompt_line_is_text_not_byte_escapes():
    at = run_page("app_pages/next_token.py", timeout=300, model="smollm2-135m", text="中国的首都是")
    line = next(str(m.value) for m in at.markdown if "Prediction for the token after" in str(m.value))
    assert "首都是" in line and "<E" not in line and "\ufffd" not in line
