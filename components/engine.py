"""Streamlit glue for generation: ONE engine per model per process (st.cache_resource, shared by every session),
a private tokenizer copy for decoding while other pages tokenize, and the per-session record of a run."""
from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

import config
from components.cache import once_with_spinner
from i18n import _
from models.chat import chat_ids
from models.generation import (
    BeamResult, Settings, Step, beam_search, forced_step, path_steps, prompt_ids, token_pieces,
)
from serving.engine import Engine, Request


@st.cache_resource(show_spinner=False, max_entries=4)
def _engine(model_id: str, _lm: Any) -> Engine:
    engine = Engine(_lm, backend=config.get().engine, linear=config.get().linear)
    engine.warm()
    return engine


def get_engine(lm: Any) -> Engine:
    """The process-wide engine of this model (created and warmed on first use, ~2 s)."""
    return once_with_spinner(("engine", lm.spec.id), _("Starting the generation engine (once per server)..."),
                             lambda: _engine(lm.spec.id, lm))


@dataclass
class TextTools:
    """A private copy of the tokenizer: fast tokenizers must not be used from two threads while one of them
    changes truncation settings, and the shared one's lock is taken by every page's tokenizing."""

    tokenizer: Any
    lock: threading.Lock = field(default_factory=threading.Lock)

    def encode(self, text: str) -> tuple[list[int], bool]:
        with self.lock:
            return prompt_ids(self.tokenizer, text)

    def pieces(self, ids: list[int]) -> list[str]:
        with self.lock:
            return token_pieces(self.tokenizer, ids)

    def decode(self, ids: list[int]) -> str:
        with self.lock:
            return self.tokenizer.decode(ids)

    def each(self, ids: list[int]) -> list[str]:
        """Each id decoded on its own (for the alternatives list)."""
        with self.lock:
            return [self.tokenizer.decode([i]) for i in ids]

    def token(self, i: int) -> str:
        with self.lock:
            return self.tokenizer.convert_ids_to_tokens(int(i))

    def chat(self, messages: list[dict[str, str]]) -> list[int]:
        """The conversation's prompt ids from the tokenizer's own chat template (models/chat.py)."""
        with self.lock:
            return chat_ids(self.tokenizer, messages)


@st.cache_resource(show_spinner=False, max_entries=4)
def _text_tools(model_id: str, _lm: Any) -> TextTools:
    with _lm.tokenizer_lock:
        return TextTools(copy.deepcopy(_lm.tokenizer))


def get_text_tools(lm: Any) -> TextTools:
    return _text_tools(lm.spec.id, lm)


@dataclass
class Run:
    """One click of Generate (or one branch) in one session. Requests keep streaming in the engine thread."""

    model_id: str
    mode: str  # greedy | sample | beam | compare
    settings: Settings
    beams: int
    prompt_ids: list[int]
    from_bos: bool
    prefix: list[Step] = field(default_factory=list)  # kept tokens before a branch point (incl. the forced one)
    req: Request | None = None  # the streamed request (greedy / sample)
    compare: dict[str, Request] = field(default_factory=dict)  # compare mode: greedy and sample requests
    beam: BeamResult | None = None
    beam_steps: list[Step] = field(default_factory=list)
    branched: tuple[int, str, str] | None = None  # (position, old text, new text): the page words the note

    @property
    def steps(self) -> list[Step]:
        if self.req is not None:
            return self.prefix + list(self.req.steps)
        return self.prefix + self.beam_steps

    @property
    def running(self) -> bool:
        return any(r is not None and not r.done for r in [self.req, *self.compare.values()])

    def cancel(self) -> None:
        for r in [self.req, *self.compare.values()]:
            if r is not None:
                r.cancel()


def start(lm: Any, engine: Engine, mode: str, settings: Settings, beams: int, ids: list[int], from_bos: bool,
          prefix: list[Step] | None = None, branched: tuple[int, str, str] | None = None) -> Run:
    """Submit the requests of a run; beam search (transformers' generate) runs here, under the model lock."""
    prefix = prefix or []
    context = ids + [s.token_id for s in prefix]
    run = Run(lm.spec.id, mode, settings, beams, ids, from_bos, prefix=prefix, branched=branched)
    left = settings.max_new_tokens - len(prefix)
    if mode in ("greedy", "sample"):
        if left > 0:
            run.req = engine.submit(context, settings)
        else:
            run.beam_steps = []
    elif mode == "compare":
        run.compare = {"greedy": engine.submit(context, Settings(max_new_tokens=left)),
                       "sample": engine.submit(context, settings)}
    if mode in ("beam", "compare") and left > 0:
        run.beam = beam_search(lm, context, beams, left)
        run.beam_steps = path_steps(lm, context, list(run.beam.token_ids))
    return run


def branch(lm: Any, engine: Engine, run: Run, position: int, token_id: int) -> Run:
    """Keep the tokens before ``position``, put ``token_id`` there instead, continue with the same settings."""
    steps = run.steps
    kept = steps[:position] + [forced_step(steps[position], token_id)]
    tools = get_text_tools(lm)
    branched = (position, tools.decode([steps[position].token_id]), tools.decode([token_id]))
    return start(lm, engine, run.mode, run.settings, run.beams, run.prompt_ids, run.from_bos, kept, branched)
