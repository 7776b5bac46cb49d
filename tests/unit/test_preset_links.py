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
    """The URL parameter names a page defines (its ``state.Param("name", ...)``), read from its source."""
    return set(re.findall(r"Param\(\s*\"([a-z_]+)\"", (REPO / page_file).read_text()))


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


def test_page_files_match_app_navigation():
    app = (REPO / "app.py").read_text()
    for path, file in presets.PAGE_FILES.items():
        if path:
            assert re.search(rf'st\.Page\("{re.escape(file)}".*url_path="{re.escape(path)}"', app), (path, file)


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
