"""Bring your own model: a local tiny random checkpoint appears in the model picker and every page works
with it (through the real app.py), for a decoder (GPT-2 architecture) and a masked-LM encoder (BERT)."""
from __future__ import annotations

import re

import pytest

from components.pages import TABLE
from models import registry
from tests.app import helpers
from tests.registry_state import restored_registry

PAGES = [p.file for p in TABLE if re.fullmatch(r"app_pages/[a-z_]+\.py", p.file)]  # components/pages.py


@pytest.fixture(scope="module")
def local_ids(tiny_gpt2, tiny_bert):
    with restored_registry():  # module scope: the function-scoped clean_registry fixture cannot serve it
        yield {"decoder": registry.register_local(tiny_gpt2.dir).id,
               "encoder": registry.register_local(tiny_bert.dir).id}


def test_every_page_is_covered():
    assert len(PAGES) >= 5 and "app_pages/attention.py" in PAGES


@pytest.mark.parametrize("family", ["decoder", "encoder"])
@pytest.mark.parametrize("page", PAGES)
def test_local_model_on_every_page(local_ids, family, page):
    model_id = local_ids[family]
    at = helpers.run_page(page, model=model_id)
    assert at.query_params["model"] == model_id
    assert not any("was not used" in w.value for w in at.warning), [w.value for w in at.warning]
    picker = at.sidebar.selectbox[0]
    label = registry.REGISTRY[model_id].label
    assert f"{label} · {family}" in picker.options and picker.value == model_id
    assert not at.error, [e.value for e in at.error]
