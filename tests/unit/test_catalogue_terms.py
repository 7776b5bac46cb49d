"""The Chinese catalogue uses one term per idea (issue #18): 序列开始词元 for beginning-of-sequence, 把 logit 除以温度
for dividing by the temperature, and never calls [CLS]/[SEP] "start" and "end"."""
from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po

from i18n import DOMAIN, po_path


@pytest.fixture(scope="module")
def pairs() -> list[tuple[str, str]]:
    with po_path("zh").open("rb") as f:
        catalog = read_po(f, locale="zh", domain=DOMAIN)
    return [(m.id, m.string) for m in catalog if m.id and isinstance(m.id, str) and isinstance(m.string, str)]


def test_beginning_of_sequence_has_one_chinese_term(pairs):
    other_terms = re.compile(r"BOS 词元|序列开始标记|文本开头的词元|开头的词元|句首词元|起始词元")
    assert not [zh for _en, zh in pairs if other_terms.search(zh)]
    bos = [zh for en, zh in pairs if re.search(r"beginning[- ]of[- ](sequence|text)|\bBOS\b", en) and zh]
    assert bos and all("序列开始词元" in zh for zh in bos), bos


def test_temperature_divides_the_logits(pairs):
    assert not [zh for _en, zh in pairs if "去除" in zh]
    divides = [zh for en, zh in pairs if re.match(r"Divides the logits", en) and zh]
    assert divides and all("把 logit 除以温度" in zh for zh in divides)


def test_cls_and_sep_are_not_start_and_end(pairs):
    assert not [zh for en, zh in pairs if "[CLS]" in en + zh and re.search(r"“开始”和“结束”|开始和结束", zh)]
