"""Presets and glossary links: every link points at a real page with parameters that page reads, and every
glossary term used in the code has an entry. The AppTests (tests/app/test_presets.py) open every link."""
from __future__ import annotations

import re
import urllib.parse
from pathlib import Path

import pytest

from components import glossary, presets

REPO = Path(__file__).resolve().parents[2]
SHARED = {"model", "text", presets.PRESET_PARAM}


def page_params(page_file: str) -> set[str]:
    """The URL parameter names a page defines (its ``state.Param("name", ...)``), read from its source and from the
    sources of the component modules it imports whole (``from components import bpe_view``: a lesson section that
    defines its own parameters)."""
    source = (REPO / page_file).read_text()
    modules = [m for line in re.findall(r"^from components import ([a-z_, ]+)$", source, re.M)
               for m in re.split(r"\s*,\s*", line.strip())]
    sources = [source] + [(REPO / "components" / f"{m}.py").read_text() for m in modules
                          if (REPO / "components" / f"{m}.py").is_file()]
    return {name for s in sources for name in re.findall(r"Param\(\s*\"([a-z_]+)\"", s)}


@pytest.mark.parametrize("preset, label, url", presets.all_links(), ids=[f"{p.id}:{lbl}" for p, lbl, _ in
                                                                        presets.all_links()])
def test_every_link_targets_a_page_and_its_own_params(preset, label, url):
    page_file, query = presets.parse_url(url)
    assert (REPO / page_file).is_file()
    assert url.startswith(f"/{preset.path}?")
    assert " " not in url and "+" not in url.split("?", 1)[1]  # %20, never a raw space or a '+' for it
    assert query["model"] in ("smollm2-135m", "minilm-l6") and query["text"]
    assert query[presets.PRESET_PARAM] == preset.id
    unknown = set(query) - SHARED - page_params(page_file)
    assert not unknown, f"{url}: {page_file} does not read {unknown}"


def test_links_round_trip_unicode_and_separators():
    url = presets.preset_url("tokens", {"model": "minilm-l6", "text": "我们 & a=b|c?"}, "x")
    page_file, query = presets.parse_url(url)
    assert page_file == "app_pages/tokens.py"
    assert query == {"model": "minilm-l6", "text": "我们 & a=b|c?", "preset": "x"}
    assert "%E6%88%91" in url and "%26" in url and "%3D" in url


def test_parse_url_rejects_other_paths():
    with pytest.raises(ValueError):
        presets.parse_url("/admin?x=1")


def test_required_examples_are_there():
    ids = {p.id for p in presets.PRESETS}
    assert {"bert-tokens", "cat-dog-car-banana", "king-queen", "party-contexts", "word-order", "capital-france",
            "temperature", "top-p", "decoding", "previous-token-head", "chinese-tokens"} <= ids
    assert [q["temperature"] for _, q in map(presets.parse_url, [u for _, u in presets.get("temperature").links()])] \
        == ["0", "1", "2"]
    chinese = [presets.parse_url(u)[1] for _, u in presets.get("chinese-tokens").links()]
    assert {q["model"] for q in chinese} == {"smollm2-135m", "minilm-l6"}
    assert all(re.search(r"[\u4e00-\u9fff]", q["text"]) for q in chinese)
    assert presets.parse_url(presets.get("decoding").links()[0][1])[1]["mode"] == "compare"


def test_one_table_of_pages_covers_every_page_script():
    """components/pages.py is the only list of pages: every script in app_pages/ is in it once, with a unique URL
    path, and app.py builds its navigation from it instead of listing pages again."""
    from components import pages

    files = [p.file for p in pages.TABLE]
    assert sorted(files) == sorted(f"app_pages/{f.name}" for f in (REPO / "app_pages").glob("*.py"))
    assert len(set(files)) == len(files) and len({p.url_path for p in pages.TABLE}) == len(pages.TABLE)
    assert presets.PAGE_FILES is pages.FILES
    app = (REPO / "app.py").read_text()
    assert "pages.make()" in app and "st.Page(" not in app
    assert "app_pages/" not in (REPO / "app_pages" / "home.py").read_text()  # links pass the table's objects


# -------------------------------------------------------------------------------------------- glossary
REQUIRED_TERMS = ["token", "id", "vocabulary", "embedding", "cosine", "attention", "head", "layer", "logit",
                  "softmax", "temperature", "top-k", "top-p", "beam search", "masked LM", "query / key / value",
                  "causal mask", "RoPE", "GQA", "KV cache"]


def test_glossary_has_every_required_term_with_unique_anchors():
    anchors = [t.anchor for t in glossary.TERMS]
    assert len(anchors) == len(set(anchors))
    for name in REQUIRED_TERMS:
        t = glossary.term(name)
        assert 1 <= len(re.findall(r"[.!?](\s|$)", t.text)) <= 3, t.name  # one to three sentences
        assert re.fullmatch(r"[a-z0-9-]+", t.anchor)


def test_glossary_link_markdown():
    assert glossary.glossary_link("softmax") == "[softmax](/glossary?term=softmax#softmax)"
    assert glossary.glossary_link("beam search", "beams") == "[beams](/glossary?term=beam-search#beam-search)"
    assert glossary.glossary_link("top_p") == "[top_p](/glossary?term=top-p#top-p)"
    with pytest.raises(KeyError):
        glossary.glossary_link("flux capacitor")


def test_every_glossary_link_in_the_code_has_an_entry():
    """glossary_link("x") / g("x") calls anywhere in pages and components name a real entry."""
    used = set()
    for path in [*REPO.glob("app_pages/*.py"), *REPO.glob("components/*.py")]:
        used |= set(re.findall(r"\b(?:glossary_link|g)\(\s*['\"]([^'\"]+)['\"]", path.read_text()))
    assert used, "no glossary links found"
    assert {"softmax", "RoPE", "GQA", "causal mask"} <= used
    for name in used:
        glossary.term(name)


def test_preset_urls_are_relative_to_this_server():
    for _, _, url in presets.all_links():
        parts = urllib.parse.urlsplit(url)
        assert not parts.scheme and not parts.netloc


# -------------------------------------------------------------------------------------- in Chinese (issue #7)
@pytest.fixture
def chinese():
    """The language getter of a Chinese session (outside Streamlit), restored afterwards."""
    import i18n

    before = i18n._language_getter
    i18n.use_language_getter(lambda: "zh")
    yield i18n.translations("zh")
    i18n.use_language_getter(before)


def test_glossary_link_keeps_the_language(chinese):
    assert glossary.glossary_link("softmax") == "[softmax](/glossary?term=softmax&lang=zh#softmax)"
    assert glossary.glossary_link("beam search") == \
        f"[{chinese.gettext('beam search')}](/glossary?term=beam-search&lang=zh#beam-search)"
    assert chinese.gettext("beam search") != "beam search"  # the default label is the translated name
    assert glossary.glossary_link("top_p", "核采样") == "[核采样](/glossary?term=top-p&lang=zh#top-p)"
    assert glossary.with_language("/tokens") == "/tokens?lang=zh"
    assert glossary.with_language("/next-token?model=x#top") == "/next-token?model=x&lang=zh#top"


def test_glossary_in_chinese_keeps_english_anchors(chinese):
    for t in glossary.TERMS:
        assert t.anchor == glossary.slug(t.name) and re.fullmatch(r"[a-z0-9-]+", t.anchor)
        zh = chinese.gettext(t.name)
        assert glossary.display_name(t) == (t.name if zh == t.name else f"{zh} ({t.name})")
        assert chinese.gettext(t.text) != t.text and re.search(r"[\u4e00-\u9fff]", chinese.gettext(t.text))
    assert glossary.display_name(glossary.term("token")) == f"{chinese.gettext('token')} (token)"


def test_glossary_link_in_english_has_no_language():
    assert "lang=" not in glossary.glossary_link("softmax") and glossary.with_language("/tokens") == "/tokens"


def test_preset_words_are_translated(chinese):
    for p in presets.PRESETS:
        words = [p.title, p.what] + [label for label, _ in p.variants if re.search(r"[A-Za-z]{4}", label)]
        for w in words:
            zh = chinese.gettext(w)
            assert chinese._catalog.get(w), (p.id, w)  # in the catalogue, with a translation
            assert zh != w or not re.search(r"[a-z]{4}", w), (p.id, w)  # English words get a Chinese text


def test_chinese_presets_are_grouped_and_cover_each_page_kind():
    chinese = [p for p in presets.PRESETS if p.chinese]
    assert {p.path for p in chinese} >= {"tokens", "next-token", "generate"}
    for p in chinese:
        texts = [presets.parse_url(u)[1]["text"] for _, u in p.links()]
        assert any(re.search(r"[\u4e00-\u9fff]", t) for t in texts), p.id
    tokens = [p for p in chinese if p.path == "tokens"]
    assert all({presets.parse_url(u)[1]["model"] for _, u in p.links()} == {"smollm2-135m", "minilm-l6"}
               for p in tokens)  # each Chinese sentence in both tokenizers


def _token_facts(lm, text: str):
    """(ids without special tokens, the text each id decodes to) of ``text`` in this model."""
    enc = lm.tokenizer(text, add_special_tokens=False)
    return enc.input_ids, [lm.tokenizer.decode([i]) for i in enc.input_ids]


@pytest.mark.parametrize("preset_id, text, n_chars, n_smollm2, whole, known, n_unk", [
    ("chinese-tokens", presets.CHINESE, 18, 28, ["在", "后", "了", "一个", "大", "的", "对"], "我一大的", 14),
    ("chinese-nlp", presets.CHINESE_NLP, 8, 17, ["理"], "我", 7),
    ("chinese-weather", presets.CHINESE_WEATHER, 16, 31, ["，", "。"], "天天，我公。", 10),
])
def test_chinese_token_presets_describe_the_real_tokenizers(smollm2, minilm, preset_id, text, n_chars, n_smollm2,
                                                            whole, known, n_unk):
    p = presets.get(preset_id)
    assert {presets.parse_url(u)[1]["text"] for _, u in p.links()} == {text}
    assert len(text) == n_chars and f"{n_chars} characters" in p.what
    ids, decoded = _token_facts(smollm2, text)
    assert len(ids) == n_smollm2 and f"{n_smollm2} " in p.what
    assert [d for d in decoded if "\ufffd" not in d] == whole  # every other piece is part of a character's bytes
    assert len(text.encode()) == 3 * n_chars  # CJK characters and full-width punctuation: 3 UTF-8 bytes each
    ids, decoded = _token_facts(minilm, text)
    assert len(ids) == n_chars  # WordPiece: one token per CJK character
    assert "".join(d for i, d in zip(ids, decoded) if i != minilm.tokenizer.unk_token_id) == known
    assert sum(i == minilm.tokenizer.unk_token_id for i in ids) == n_unk and f"{n_unk} " in p.what


def test_chinese_capital_preset_describes_the_model(smollm2):
    import torch

    p = presets.get("chinese-capital")
    zh, en = (presets.parse_url(u)[1]["text"] for _, u in p.links())
    tok = smollm2.tokenizer
    with torch.inference_mode():
        probs = [smollm2.model(input_ids=tok(t, return_tensors="pt").input_ids).logits[0, -1].softmax(-1)
                 for t in (zh, en)]
    top_p, top_i = probs[0].topk(10)
    assert tok.decode([int(top_i[0])]) == "一" and 0.055 <= float(top_p[0]) < 0.065  # "一 at about 6%"
    assert sum("\ufffd" in tok.decode([int(i)]) for i in top_i) > 5  # most of the top 10: byte pieces
    first_piece = tok("北京", add_special_tokens=False).input_ids[0]
    assert int((probs[0] > probs[0][first_piece]).sum()) >= 10  # "far down the list"
    assert tok.decode([int(probs[1].argmax())]) == " Beijing" and float(probs[1].max()) > 0.5


def test_chinese_story_preset_describes_the_model(smollm2):
    import torch

    from models.tokens import piece_bytes

    p = presets.get("chinese-story")
    query = presets.parse_url(p.links()[0][1])[1]
    assert query["mode"] == "greedy" and query["max_new_tokens"] == "12" and "12th" in p.what
    tok = smollm2.tokenizer
    ids = tok(query["text"], return_tensors="pt").input_ids
    with torch.inference_mode():
        out = smollm2.model.generate(ids, do_sample=False, max_new_tokens=12, top_k=None, top_p=None,
                                     temperature=None)
    new = out[0, ids.shape[1]:].tolist()
    assert tok.decode(new).startswith("猫猫猫；") and tok.decode(new).endswith("\ufffd")
    pieces = tok.convert_ids_to_tokens(new)
    assert pieces[0:3] == pieces[3:6] == pieces[6:9] and all(len(x) == 1 for x in pieces[:9])  # 猫: 3 steps, 1 byte each
    assert b"".join(piece_bytes(x, "byte-level BPE") for x in pieces[:3]) == "猫".encode()
