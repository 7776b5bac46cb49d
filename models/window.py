"""The context window: how many tokens a model can attend to at once, and what happens to text past it.

Three limits meet here, all read from what is loaded:
* the model's window, ``facts.context_length`` (config ``max_position_embeddings`` / ``n_positions``): the rows
  of a learned position table (BERT, MiniLM, GPT-2), or, with RoPE (SmolLM2), the length the model was trained
  for (RoPE itself has no table that ends);
* this app's analysis cap, :data:`models.tokens.MAX_TOKENS` (a trace never goes past the model's window:
  models.trace.analysed takes the smaller of the two);
* for a sentence-transformers model, the ``max_seq_length`` its recipe reads (sentence_bert_config.json; 256 for
  all-MiniLM-L6-v2, below its 512 positions).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.checkpoint import model_folder, sentence_recipe
from models.tokens import MAX_TOKENS, Encoding


@dataclass(frozen=True)
class Window:
    positions: int  # the model's context window (0 when the config does not say)
    kind: str  # "rope" | "learned" | "sinusoidal" (facts.positions)
    app_cap: int  # this app's analysis cap
    recipe_limit: int | None  # sentence-transformers max_seq_length, when the model folder has one

    @property
    def analysed(self) -> int:
        """The most tokens a page analyses: the app's cap, never more than the model's window."""
        return min(self.app_cap, self.positions) if self.positions else self.app_cap

    @property
    def app_is_tighter(self) -> bool:
        """Is the app's cap below the model's window (text is cut by the app, not because of the model)?"""
        return not self.positions or self.app_cap < self.positions


@functools.lru_cache(maxsize=64)
def _recipe_limit(folder: Path) -> int | None:
    """max_seq_length of the sentence-transformers recipe in ``folder`` (read once per process)."""
    recipe = sentence_recipe(folder)
    return recipe.max_seq_length if recipe is not None else None


def window_of(lm: Any, app_cap: int = MAX_TOKENS) -> Window:
    folder = model_folder(lm.spec, lm.model)
    return Window(positions=lm.facts.context_length, kind=lm.facts.positions, app_cap=app_cap,
                  recipe_limit=_recipe_limit(folder) if folder is not None else None)


@dataclass(frozen=True)
class Cut:
    """What a cap did to one text."""

    n_total: int  # tokens of the whole text (special tokens included)
    kept: int  # tokens analysed (special tokens included: an encoder keeps its closing [SEP])
    kept_chars: int  # the kept tokens cover text[:kept_chars]
    limit: int  # the cap that applied (window.analysed)
    by_app: bool  # the app's cap cut (it is below the model's window); else the model's window itself
    past_window: bool  # the whole text is longer than the model's window too

    @property
    def dropped(self) -> int:
        return self.n_total - self.kept


def cut_of(enc: Encoding, window: Window) -> Cut | None:
    """None when the whole text is analysed; else what was kept and what was left out."""
    if not enc.truncated:
        return None
    ends = enc.offsets[~enc.special, 1]
    return Cut(
        n_total=enc.n_total,
        kept=len(enc.ids),
        kept_chars=int(np.max(ends)) if len(ends) else 0,
        limit=window.analysed,
        by_app=window.app_is_tighter,
        past_window=bool(window.positions) and enc.n_total > window.positions,
    )
