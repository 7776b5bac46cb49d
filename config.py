"""The app's configuration: read once from the environment (one prefix, ``TX_``), validated, frozen.

    TX_CACHE_DIR        where converted models and the class store live (default $XDG_CACHE_HOME/transformer-explainer,
                        i.e. ~/.cache/transformer-explainer; TRANSFORMER_EXPLAINER_CACHE, the older name, still works)
    TX_LOCAL_MODELS     model folders to offer beside the bundled ones (os.pathsep-separated; serve.py --local-model)
    TX_TRACE_CACHE_MB   memory for cached forward passes shared by all sessions (default 600)
    TX_BLOCK_CACHE_MB   memory for the Inside-a-block page's runs (default 96)
    TX_ENGINE           fast (default): the generation engine's lean Llama decode step (serving/) where the model
                        allows it; hf: transformers' own forward in the engine too
    TX_LINEAR           auto (default): the lean decode step multiplies with MKL's or oneDNN's kernel, whichever the
                        engine measures faster on this CPU at its first run; mkl or onednn: that one
    TX_CLASS_STORE      class mode's store: empty (SQLite in the cache dir), sqlite:///path.db or redis://host:port/db

Nothing reads these variables anywhere else; code asks :func:`get`. Tests that change the environment call
:func:`reload`. A bad value raises :class:`BadSetting`, one sentence naming the variable, at start-up.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Mapping

PREFIX = "TX_"
ENGINES = ("fast", "hf")
LINEARS = ("auto", "mkl", "onednn")  # serving.engine.KERNELS (config imports no torch)


class BadSetting(Exception):
    """An environment variable of this app with a value it cannot use."""


@dataclass(frozen=True)
class Config:
    cache_dir: Path
    local_models: tuple[str, ...]
    trace_cache_mb: int
    block_cache_mb: int
    engine: str
    class_store: str
    linear: str = "auto"


def _megabytes(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise BadSetting(f"{name} must be a whole number of megabytes (got {raw[:40]!r}).")
    return int(raw)


def from_env(env: Mapping[str, str] | None = None) -> Config:
    env = os.environ if env is None else env
    explicit = env.get(PREFIX + "CACHE_DIR") or env.get("TRANSFORMER_EXPLAINER_CACHE")
    if explicit:
        cache = Path(explicit)
    else:
        cache = Path(env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")) / "transformer-explainer"
    engine = env.get(PREFIX + "ENGINE", "").strip().lower() or "fast"
    if engine not in ENGINES:
        raise BadSetting(f"{PREFIX}ENGINE must be one of {', '.join(ENGINES)} (got {engine[:40]!r}).")
    linear = env.get(PREFIX + "LINEAR", "").strip().lower() or "auto"
    if linear not in LINEARS:
        raise BadSetting(f"{PREFIX}LINEAR must be one of {', '.join(LINEARS)} (got {linear[:40]!r}).")
    local = tuple(p.strip() for p in env.get(PREFIX + "LOCAL_MODELS", "").split(os.pathsep) if p.strip())
    return Config(cache_dir=cache, local_models=local,
                  trace_cache_mb=_megabytes(env, PREFIX + "TRACE_CACHE_MB", 600),
                  block_cache_mb=_megabytes(env, PREFIX + "BLOCK_CACHE_MB", 96),
                  engine=engine, class_store=env.get(PREFIX + "CLASS_STORE", "").strip(), linear=linear)


@lru_cache(maxsize=1)
def get() -> Config:
    """The configuration of this process (read from the environment the first time it is asked for)."""
    return from_env()


def reload() -> Config:
    """Read the environment again (tests that set a variable)."""
    get.cache_clear()
    return get()
