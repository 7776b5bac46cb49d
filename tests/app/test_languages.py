"""Every page in Simplified Chinese (``lang=zh``): it renders, and no English sentence is left on it.

The catalogue test (tests/unit/test_i18n.py) proves every message id has a translation; this one proves that
the pages actually look them up, in the session's language, at the time they draw (a string translated at
import time, or never wrapped in ``_()``, shows up here as an English run of words)."""
from __future__ import annotations

import json
import re

import pytest
from google.protobuf.json_format import MessageToDict

from tests.app.helpers import run_page

ZH_TEXT = "学生们用一场盛大的派对庆祝毕业。"
PAGES = {  # page file, extra query params
    "home": ("app_pages/home.py", {}),
    "tour": ("app_pages/home.py", {"step": "4"}),
    # a Chinese class writes its own system message: the template's default one is the model's English text
    "tokens": ("app_pages/tokens.py", {"system": "你是一个乐于助人的助手。"}),
    "tokens-bert": ("app_pages/tokens.py", {"model": "minilm-l6"}),
    "embeddings": ("app_pages/embeddings.py", {}),
    "similarity": ("app_pages/similarity.py", {  # the page's own examples are English user text: Chinese ones here
        "words": "猫, 狗, 汽车, 香蕉", "target": "派对", "contexts": "一场 派对 开始了|昨晚的 派对 很热闹",
        "sentences": "学生们开派对庆祝毕业。|小学生们办了一场盛大的庆祝会。|今天早上股市大跌。"}),
    "attention": ("app_pages/attention.py", {}),
    "attention-heads": ("app_pages/attention.py", {"view": "heads"}),
    "attention-summary": ("app_pages/attention.py", {"view": "summary"}),
    "attention-qk": ("app_pages/attention.py", {"view": "qk"}),
    "attention-bertviz": ("app_pages/attention.py", {"view": "bertviz-head"}),
    "next-token": ("app_pages/next_token.py", {}),
    "next-token-bert": ("app_pages/next_token.py", {"model": "minilm-l6"}),
    "block": ("app_pages/block.py", {"ablate": "a1.1,m2"}),
    "block-bert": ("app_pages/block.py", {"model": "minilm-l6", "ablate": "a1.1"}),
    "generate": ("app_pages/generate.py", {}),
    "glossary": ("app_pages/glossary.py", {}),
}
# Words that stay English in Chinese text: names, units, symbols (a run needs 4 words to count as a sentence).
RUN = re.compile(r"[A-Za-z][A-Za-z'’-]+(?:[ ,;:]+[A-Za-z][A-Za-z'’-]+){3,}")
SKIP_KEYS = {"id", "key", "formId", "scriptHash", "fragmentId", "data", "arrowData", "styles", "icon",
             "default", "rawValues", "deltaPath", "url", "src", "pageScriptHash", "htmlContent",
             "srcdoc",  # an iframe's document: bertviz's own interface and library code, not our words
             "value"}  # what is in an input box: the user's text (the examples for English models are English)
PLOTLY_TEXT_KEYS = {"text", "name", "hovertemplate"}


def _strings(node, keys=None, skip=SKIP_KEYS):
    """All string values in a proto-as-dict (or plotly JSON), except under ``skip`` keys; only ``keys`` if set."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k in skip:
                continue
            if isinstance(v, str):
                if keys is None or k in keys:
                    yield v
            else:
                yield from _strings(v, keys, skip)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v, keys, skip)


def _shown_texts(at) -> list[str]:
    out = []
    stack = [at._tree]
    while stack:
        node = stack.pop()
        children = getattr(node, "children", None)
        if children:
            stack.extend(children.values())
        proto = getattr(node, "proto", None)
        if proto is None:
            continue
        d = MessageToDict(proto)
        spec = d.pop("spec", None)
        if isinstance(spec, str) and spec.startswith("{"):  # a plotly figure: titles, names, hover, annotations
            fig = json.loads(spec)
            fig.get("layout", {}).pop("template", None)
            out += _strings(fig, PLOTLY_TEXT_KEYS)
        if "body" in d and "<script" in d["body"]:  # scripts and CSS are code, not words
            d.pop("body")
        out += _strings(d)
    return out


def _prose(text: str) -> str:
    text = re.sub(r"<style.*?</style>", " ", text, flags=re.S)
    text = re.sub(r"`[^`]*`", " ", text)  # code spans: tokens, ids, commands
    text = re.sub(r"\]\([^)]*\)", "]", text)  # link targets
    text = re.sub(r"<[^>]+>", " ", text)  # HTML tags and their attributes
    text = re.sub(r"%\{[^}]*\}|\{[^}]*\}", " ", text)  # plotly hover fields
    return text


@pytest.mark.parametrize("name", list(PAGES))
def test_page_in_chinese_has_no_english_sentence(name):
    page, params = PAGES[name]
    at = run_page(page, lang="zh", text=ZH_TEXT, **params)
    assert at.query_params["lang"] == "zh"
    english = sorted({m for t in _shown_texts(at) for m in RUN.findall(_prose(t))})
    assert not english, english[:20]
