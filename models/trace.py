"""One forward pass per (model, text), kept as numpy arrays that every page draws from.

Like TransformerLens's ActivationCache: hooks are registered in one place and removed in ``finally``; the
rest comes from the model's own outputs (``output_hidden_states``, ``output_attentions``), so the numbers on
screen ARE what the model computes.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Iterator

import numpy as np

import i18n
from i18n import N_
from models.loading import LoadedModel
from models.tokens import MAX_TOKENS, Encoding, encode


class NoTokens(i18n.Error, ValueError):
    """The text gives no token to analyse (e.g. only characters the tokenizer drops)."""


_LOCK = "_lock"  # Trace.extra's key for the lock of its derived results


@dataclass(frozen=True)
class Trace:
    model_id: str
    text: str
    tokens: list[str]  # vocabulary strings, e.g. "Ġcapital"
    ids: np.ndarray  # [T] int64
    offsets: np.ndarray  # [T, 2] char spans in the text
    special: np.ndarray  # [T] bool
    n_total: int  # tokens in the full text (> T when truncated)
    token_embeddings: np.ndarray  # [T, d] rows of the input embedding matrix (before positions)
    position_embeddings: np.ndarray | None  # [T, d] learned/sinusoidal position vectors; None for RoPE
    hidden_states: np.ndarray  # [L+1, T, d] residual stream: 0 = embedding output, l = output of block l (raw)
    attentions: np.ndarray  # [L, H, T, T] softmaxed attention weights (rows sum to 1)
    last_logits: np.ndarray | None  # [V] next-token logits at the last position (decoders)
    extra: dict = field(default_factory=dict, compare=False)  # results derived later: derived()

    @property
    def n_tokens(self) -> int:
        return len(self.ids)

    def derived(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """``extra[key]``, made by ``make()`` once: a trace is shared by every session on its text, and sessions
        that ask at the same moment (a class following a push asks 30 times at once) wait for the first one
        instead of all computing it. An RLock: a derived result may be made from another."""
        kept = self.extra.get(key)
        if kept is None:
            with self.extra.setdefault(_LOCK, threading.RLock()):  # setdefault is atomic: one lock per trace
                kept = self.extra.get(key)
                if kept is None:
                    kept = self.extra[key] = make()
        return kept

    @property
    def truncated(self) -> bool:
        return self.n_total > self.n_tokens


def _position_module(model: Any):
    """The learned/sinusoidal position-embedding table, if the model adds one (None for RoPE models)."""
    import torch

    for name, module in model.named_modules():
        leaf = name.rsplit(".", 1)[-1]
        if leaf in ("wpe", "position_embeddings", "embed_positions") and isinstance(module, torch.nn.Embedding):
            return module
    return None


def final_norm_or_none(model: Any):
    """The model's final normalisation before its output head (Llama ``norm``, GPT-2 ``ln_f``), or None when
    the model has none (BERT-style encoders end with their last block)."""
    from models.lens import NoFinalNorm, final_norm

    try:
        return final_norm(model)
    except NoFinalNorm:
        return None


@contextmanager
def raw_last_layer(model: Any) -> Iterator[dict]:
    """Capture what the final norm receives: the output of the last block.

    transformers' ``output_hidden_states`` gives the raw output of blocks 1..L-1 but, for a model with a final
    norm (Llama, GPT-2), its LAST entry is taken AFTER that norm. The app numbers layer l as block l's output on
    every page, so the last entry is replaced with this capture (``with_raw_last_layer``). The hook is removed in
    ``finally``; callers hold ``lm.lock``."""
    captured: dict = {}
    norm = final_norm_or_none(model)
    handle = None if norm is None else norm.register_forward_pre_hook(
        lambda _module, args: captured.__setitem__("last", args[0].detach()))
    try:
        yield captured
    finally:
        if handle is not None:
            handle.remove()


def with_raw_last_layer(hidden_states: Any, captured: dict) -> Any:
    """torch [L+1, B, T, d] stacked ``output_hidden_states`` with the last entry replaced by the block's raw
    output captured by ``raw_last_layer`` (unchanged for models without a final norm)."""
    if "last" in captured:
        hidden_states = hidden_states.clone()
        hidden_states[-1] = captured["last"]
    return hidden_states


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def analysed(lm: LoadedModel, text: str, max_tokens: int = MAX_TOKENS) -> Encoding:
    """The tokens a trace of ``text`` analyses (the first ``max_tokens``, never more than the model's positions),
    without the forward pass: what the Tokens page and the export's caption need. NoTokens if there is none."""
    if lm.facts.context_length:
        max_tokens = min(max_tokens, lm.facts.context_length)
    enc = encode(lm.tokenizer, text, max_tokens, lock=lm.tokenizer_lock)
    if len(enc.ids) == 0:
        raise NoTokens(N_("There is no token to analyse: type some text."))
    return enc


def token_embeddings(lm: LoadedModel, ids) -> np.ndarray:
    """[T, d] what the input embedding layer gives these ids (a trace's ``token_embeddings`` rows for them). Its
    ``forward`` is called directly, not the module: this runs without ``lm.lock``, and a trace being computed in
    another session has a capture hook on that module, which a module call would fire (its token embeddings
    would become these rows)."""
    import torch

    with torch.inference_mode():
        return lm.model.get_input_embeddings().forward(
            torch.from_numpy(np.array(ids, dtype=np.int64))).float().numpy()


def token_embedding(lm: LoadedModel, token_id: int) -> np.ndarray:
    """[d] ``token_embeddings`` of one id."""
    return token_embeddings(lm, [int(token_id)])[0]


def compute_trace(lm: LoadedModel, text: str, max_tokens: int = MAX_TOKENS) -> Trace:
    import torch

    enc = analysed(lm, text, max_tokens)
    model = lm.model
    ids = torch.from_numpy(enc.ids)[None]  # [1, T]
    captured: dict[str, torch.Tensor] = {}

    def save(name: str):
        def hook(_module, _inputs, output):
            captured[name] = output.detach()

        return hook

    kwargs: dict[str, Any] = dict(output_attentions=True, output_hidden_states=True, return_dict=True)
    if lm.spec.head == "causal-lm":
        # only the last position's logits: the other rows (the training signal, models/loss.py) are computed
        # from hidden_states[L] when a page asks, not on every page's trace ([T, V] floats: 100 MB at 512 tokens)
        kwargs["logits_to_keep"] = 1
    pos_module = _position_module(model)
    with lm.lock, torch.inference_mode(), raw_last_layer(model) as last:
        handles = [model.get_input_embeddings().register_forward_hook(save("token_embeddings"))]
        if pos_module is not None:
            handles.append(pos_module.register_forward_hook(save("position_embeddings")))
        try:
            out = model(input_ids=ids, attention_mask=torch.ones_like(ids), **kwargs)
        finally:
            for h in handles:
                h.remove()

    hidden = with_raw_last_layer(torch.stack(out.hidden_states), last)[:, 0]  # [L+1, T, d]
    attn = torch.stack(out.attentions)[:, 0]  # [L, H, T, T]
    pos = captured.get("position_embeddings")
    logits = getattr(out, "logits", None) if lm.spec.head == "causal-lm" else None
    with lm.tokenizer_lock:
        tokens = lm.tokenizer.convert_ids_to_tokens(enc.ids.tolist())
    return Trace(
        model_id=lm.spec.id,
        text=text,
        tokens=tokens,
        ids=_readonly(enc.ids),
        offsets=_readonly(enc.offsets),
        special=_readonly(enc.special),
        n_total=enc.n_total,
        token_embeddings=_readonly(captured["token_embeddings"][0].float().numpy()),  # [T, d]
        position_embeddings=None if pos is None else _readonly(pos.reshape(-1, pos.shape[-1]).float().numpy()),
        hidden_states=_readonly(hidden.float().numpy()),
        attentions=_readonly(attn.float().numpy()),
        last_logits=None if logits is None else _readonly(logits[0, -1].float().numpy()),  # [V]
    )
