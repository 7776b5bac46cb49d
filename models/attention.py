"""Attention, step by step: the query, key and value vectors of one layer, recomputed into the weights.

``capture_qkv`` runs ONE forward pass on a trace's token ids with hooks on the chosen layer (registered in
one place, removed in ``finally``, like models/trace.py) and keeps what the layer itself computed:

    x            [T, d]         the layer's (normalised) input
    q = x Wq     [H, T, dh]     one query per head and token   (Llama: q_proj; GPT-2: fused c_attn; BERT:
    k = x Wk     [Hkv, T, dh]   one key per kv head and token   query/key/value; DistilBERT: q_lin/k_lin/v_lin)
    v = x Wv     [Hkv, T, dh]
    RoPE models rotate q and k by the position's angles (the model's own cos/sin and apply_rotary_pos_emb)
    scores  = q · k              [H, T, T]
    scaled  = scores * scale     (scale = the module's own factor, 1/sqrt(dh) for all supported models)
              + mask             (-inf where a decoder's query may not see a later key)
    weights = softmax(scaled)    rows sum to 1
    output  = weights @ v        [H, T, dh]
    concat  = heads side by side [T, H*dh] -> @ W^O (+ b) -> [T, d_model], added to the residual stream
              (``output_projection``, ``mix_heads``: the output projection is read, not hooked)

Grouped-query attention (SmolLM2: 9 query heads, 3 key/value heads): query head h reads key/value head
``kv_of_heads(config)[h]``; the heads of one group see the very same keys and values.

The rest is arithmetic on numpy arrays: per-head statistics (entropy, previous-token share, attention sink,
distance), word-level attention when words are split into several pieces (one word per character in Chinese
and Japanese), and the heads' concatenation mixed by W^O.
"""
from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

import i18n
from i18n import N_
from models.loading import LoadedModel
from models.scripts import HAN, KANA


class AttentionError(i18n.Error, ValueError):
    """A ValueError a page may show: its message is a catalogue entry, translated when it is shown."""


# --------------------------------------------------------------------------------------- GQA mapping
def _head_counts(config: Any) -> tuple[int, int]:
    """(query heads H, key/value heads Hkv) from a transformers config (GPT-2/BERT/DistilBERT map
    ``num_attention_heads`` to their own names; only GQA models set ``num_key_value_heads``)."""
    n_heads = int(config.num_attention_heads)
    n_kv = int(getattr(config, "num_key_value_heads", None) or n_heads)
    if n_kv <= 0 or n_heads % n_kv:
        raise AttentionError(N_("{heads} query heads cannot share {kv} key/value heads evenly."), heads=n_heads,
                             kv=n_kv)
    return n_heads, n_kv


def kv_of_heads(config: Any) -> np.ndarray:
    """[H] index of the key/value head each query head reads.

    transformers' ``repeat_kv`` repeats kv head j for query heads j*g .. j*g+g-1 (g = H / Hkv), so query head h
    reads kv head h // g. Multi-head attention (Hkv = H) gives arange(H)."""
    n_heads, n_kv = _head_counts(config)
    return np.arange(n_heads) // (n_heads // n_kv)


def kv_groups(config: Any) -> list[list[int]]:
    """kv head -> the query heads that share it, e.g. SmolLM2: [[0, 1, 2], [3, 4, 5], [6, 7, 8]]."""
    kv = kv_of_heads(config)
    return [np.flatnonzero(kv == j).tolist() for j in range(int(kv.max()) + 1)]


# ------------------------------------------------------------------------------------ results
def _softmax(scaled: np.ndarray) -> np.ndarray:
    """Softmax over the last axis; -inf entries get exactly 0."""
    top = scaled.max(axis=-1, keepdims=True)
    e = np.exp(scaled - top)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class QKStep:
    """One query token of one head, every step of attention (what BertViz's neuron view shows)."""

    layer: int
    head: int
    query: int
    kv_head: int
    q: np.ndarray  # [dh] query vector as used in the dot product (after RoPE for RoPE models)
    q_raw: np.ndarray | None  # [dh] before rotation (RoPE models), else None
    k: np.ndarray  # [T, dh] key vectors as used (after RoPE)
    k_raw: np.ndarray | None  # [T, dh] before rotation, else None
    v: np.ndarray  # [T, dh]
    scores: np.ndarray  # [T] q·k
    scale: float  # the factor the model multiplies scores by
    scaled: np.ndarray  # [T] scores * scale, -inf where masked
    mask: np.ndarray  # [T] bool, True = this query may attend to that key
    weights: np.ndarray  # [T] softmax(scaled); exactly 0 where masked
    output: np.ndarray  # [dh] weights @ v: this head's output for this token, before the output projection


@dataclass(frozen=True)
class LayerQKV:
    """Everything attention needs for one (model, ids, layer), all heads, as the layer computed it."""

    layer: int
    rope: bool
    scale: float
    q: np.ndarray  # [H, T, dh] after RoPE for RoPE models
    k: np.ndarray  # [Hkv, T, dh] after RoPE for RoPE models
    v: np.ndarray  # [Hkv, T, dh]
    q_raw: np.ndarray | None  # [H, T, dh] before rotation (RoPE models), else None
    k_raw: np.ndarray | None  # [Hkv, T, dh]
    mask: np.ndarray  # [T, T] bool, True = query row may attend to key column
    kv_of_head: np.ndarray  # [H]
    causal: bool = False  # the mask hides later tokens (decoders)
    cos: np.ndarray | None = None  # [T, dh] RoPE cosines the layer used (per position and dimension)
    sin: np.ndarray | None = None  # [T, dh]

    @property
    def n_heads(self) -> int:
        return self.q.shape[0]

    @property
    def n_kv_heads(self) -> int:
        return self.k.shape[0]

    @property
    def n_tokens(self) -> int:
        return self.q.shape[1]

    @property
    def d_head(self) -> int:
        return self.q.shape[2]

    def scaled_scores(self) -> np.ndarray:
        """[H, T, T] (q·k) * scale with -inf where masked, in float64."""
        k = self.k[self.kv_of_head].astype(np.float64)  # [H, T, dh]: each query head's own kv head
        scores = np.einsum("hqd,hkd->hqk", self.q.astype(np.float64), k)  # [H, T, T]
        return np.where(self.mask[None], scores * self.scale, -np.inf)

    def weights(self) -> np.ndarray:
        """[H, T, T] softmax weights recomputed from q, k, the scale and the mask (float32 like the Trace)."""
        return _softmax(self.scaled_scores()).astype(np.float32)

    def step(self, head: int, query: int) -> QKStep:
        """Every step for query token ``query`` of query head ``head`` (both 0-based)."""
        _check_index(N_("Head index {value!r} does not exist: choose 0 to {last} (heads 1 to {n})."), head,
                     self.n_heads)
        _check_index(N_("Query token {value!r} does not exist: choose 0 to {last}."), query, self.n_tokens)
        kv = int(self.kv_of_head[head])
        q = self.q[head, query].astype(np.float64)  # [dh]
        k = self.k[kv].astype(np.float64)  # [T, dh]
        v = self.v[kv].astype(np.float64)  # [T, dh]
        mask = self.mask[query].copy()  # [T]
        scores = k @ q  # [T]
        scaled = np.where(mask, scores * self.scale, -np.inf)
        weights = _softmax(scaled)  # [T]
        return QKStep(
            layer=self.layer, head=head, query=query, kv_head=kv,
            q=q, q_raw=None if self.q_raw is None else self.q_raw[head, query].astype(np.float64),
            k=k, k_raw=None if self.k_raw is None else self.k_raw[kv].astype(np.float64),
            v=v, scores=scores, scale=self.scale, scaled=scaled, mask=mask, weights=weights,
            output=weights @ v,  # [dh]
        )


def _check_index(message: str, value: int, n: int) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not 0 <= value < n:
        raise AttentionError(message, value=value, last=n - 1, n=n)


# ------------------------------------------------------------------------------- capture (hooks)
_QKV_NAMES = (("q_proj", "k_proj", "v_proj"), ("query", "key", "value"), ("q_lin", "k_lin", "v_lin"))


def attention_modules(model: Any) -> list[Any]:
    """The self-attention module of every layer, in order: the modules that own the q/k/v projections
    (Llama ``self_attn``, GPT-2 ``attn`` with fused ``c_attn``, BERT ``attention.self``, DistilBERT
    ``attention``). Cross-attention modules are left out."""
    found = []
    for name, module in model.named_modules():
        if getattr(module, "is_cross_attention", False) or "crossattention" in name:
            continue
        if hasattr(module, "c_attn") or any(all(hasattr(module, n) for n in names) for names in _QKV_NAMES):
            found.append(module)
    return found


def _projections(attn: Any) -> list[Any]:
    """[q, k, v] projection modules, or [c_attn] for GPT-2's fused Conv1D."""
    if hasattr(attn, "c_attn"):
        return [attn.c_attn]
    for names in _QKV_NAMES:
        if all(hasattr(attn, n) for n in names):
            return [getattr(attn, n) for n in names]
    raise AttentionError(N_("{module} has no query/key/value projections this app knows."),
                         module=type(attn).__name__)


class _StopForward(Exception):
    """Raised by our hook once the chosen layer's attention has run: the rest of the pass is not needed."""


def _bool_mask(mask: Any, n: int, causal: bool) -> np.ndarray:
    """[T, T] True where the layer lets query i see key j, from the additive mask it received
    (0 = allowed, the dtype's minimum = hidden), or from ``is_causal`` when the model passed no mask."""
    if mask is None:
        allowed = np.ones((n, n), dtype=bool)
        return np.tril(allowed) if causal else allowed
    import torch

    m = mask.detach()
    allowed = m if m.dtype == torch.bool else m > torch.finfo(m.dtype).min / 2
    return np.broadcast_to(allowed.reshape(-1, *allowed.shape[-2:])[0].numpy(), (n, n)).copy()


def capture_qkv(lm: LoadedModel, ids: np.ndarray, layer: int, stop_early: bool = True) -> LayerQKV:
    """q, k, v of every head of ``layer`` (0-based) for these exact token ids (pass ``trace.ids``).

    One forward pass under ``lm.lock`` and ``torch.inference_mode``; forward hooks on the layer's q/k/v
    projections, a pre-hook on its attention module for the mask and (RoPE) the cos/sin it receives, which
    are applied with the model's own ``apply_rotary_pos_emb``. With ``stop_early`` the pass ends right after
    this layer's attention (the later layers and the LM head are not run)."""
    import torch

    model = lm.model
    modules = attention_modules(model)
    n_layers = len(modules)
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 0 <= layer < n_layers:
        raise AttentionError(N_("Block index {layer!r} does not exist: {model} has block indices 0 to {last} "
                                "(layers 1 to {n})."), layer=layer, model=lm.spec.label, last=n_layers - 1,
                             n=n_layers)
    ids = np.asarray(ids)
    if ids.ndim != 1 or ids.size == 0 or not np.issubdtype(ids.dtype, np.integer):
        raise AttentionError(N_("capture_qkv needs a non-empty 1-D array of token ids (use trace.ids)."))
    vocab = int(model.get_input_embeddings().num_embeddings)
    if ids.min() < 0 or ids.max() >= vocab:
        raise AttentionError(N_("Token ids must be between 0 and {last} for {model}."), last=vocab - 1,
                             model=lm.spec.label)
    attn = modules[layer]
    n_heads, n_kv = _head_counts(model.config)
    causal = bool(getattr(attn, "is_causal", False))
    captured: dict[str, Any] = {}

    def save_output(name: str):
        def hook(_module, _inputs, output):
            captured[name] = output.detach()

        return hook

    def save_kwargs(module, args, kwargs):
        bound = inspect.signature(module.forward).bind_partial(*args, **kwargs).arguments
        captured["mask"] = bound.get("attention_mask")
        captured["position_embeddings"] = bound.get("position_embeddings")

    def stop(_module, _inputs, _output):
        raise _StopForward

    projections = _projections(attn)
    names = ["qkv"] if len(projections) == 1 else ["q", "k", "v"]
    x = torch.from_numpy(ids.astype(np.int64))[None]  # [1, T]
    kwargs: dict[str, Any] = {}
    if lm.spec.head == "causal-lm":
        kwargs = dict(use_cache=False, logits_to_keep=1)
    with lm.lock, torch.inference_mode():
        handles = [attn.register_forward_pre_hook(save_kwargs, with_kwargs=True)]
        handles += [p.register_forward_hook(save_output(n)) for p, n in zip(projections, names)]
        if stop_early:
            handles.append(attn.register_forward_hook(stop))
        try:
            model(input_ids=x, attention_mask=torch.ones_like(x), **kwargs)
        except _StopForward:
            pass
        finally:
            for h in handles:
                h.remove()

        if "qkv" in captured:  # GPT-2: one Conv1D makes q, k and v side by side
            q, k, v = captured["qkv"].split(captured["qkv"].shape[-1] // 3, dim=-1)  # 3 x [1, T, d]
        else:
            q, k, v = captured["q"], captured["k"], captured["v"]  # [1, T, H*dh], [1, T, Hkv*dh] x 2
        T = x.shape[1]
        d_head = q.shape[-1] // n_heads
        q = q.reshape(1, T, n_heads, d_head).transpose(1, 2)  # [1, H, T, dh]
        k = k.reshape(1, T, n_kv, d_head).transpose(1, 2)  # [1, Hkv, T, dh]
        v = v.reshape(1, T, n_kv, d_head).transpose(1, 2)  # [1, Hkv, T, dh]
        rope = captured.get("position_embeddings") is not None
        q_raw = k_raw = cos = sin = None
        if rope:
            cos, sin = captured["position_embeddings"]  # [1, T, dh] each
            apply_rotary = sys.modules[type(attn).__module__].apply_rotary_pos_emb  # the model's own
            q_raw, k_raw = q, k
            q, k = apply_rotary(q_raw, k_raw, cos, sin)  # [1, H, T, dh], [1, Hkv, T, dh]

    def arr(t):
        return None if t is None else t[0].float().numpy()

    return LayerQKV(
        layer=int(layer), rope=rope, scale=float(getattr(attn, "scaling", d_head ** -0.5)),
        q=arr(q), k=arr(k), v=arr(v), q_raw=arr(q_raw), k_raw=arr(k_raw),
        mask=_bool_mask(captured.get("mask"), T, causal), kv_of_head=kv_of_heads(model.config),
        causal=causal, cos=arr(cos), sin=arr(sin),
    )


# ---------------------------------------------------------------------------------- head statistics
STATS: dict[str, tuple[str, str]] = {  # key -> (label, meaning), English catalogue ids: show them with i18n._
    "entropy": (N_("Entropy"), N_("How spread out a head's attention is, in bits: 0 = all on one token, "
                                  "log2(n) = evenly over n tokens.")),
    "prev": (N_("Previous token"), N_("Share of attention that goes to the token just before, from 0 to 1.")),
    "first": (N_("First token (sink)"), N_("Share of attention that goes to the very first token, from 0 to 1; "
                                           "heads that park unused attention there are called attention sinks.")),
    "self": (N_("Itself"), N_("Share of attention a token gives to itself, from 0 to 1.")),
    "special": (N_("Special tokens"), N_("Share of attention that goes to special tokens such as [CLS] and [SEP], "
                                         "from 0 to 1.")),
    "distance": (N_("Distance"), N_("Average distance, in tokens, between a token and the tokens it attends to.")),
}

HEAD_STATS_ROWS = N_(
    "Each number is an average over query rows (tokens). For a decoder the first row is left out of every "
    "statistic: the first token can only see itself, so its attention is 100% on itself and on the first "
    "token by construction. The previous-token share always leaves out the first row (it has no previous "
    "token). An encoder's other statistics use every row, [CLS] and [SEP] included."
)


def head_stats(attentions: np.ndarray, special: np.ndarray, causal: bool) -> dict[str, np.ndarray]:
    """Per-head summaries of attention weights: key -> [L, H] (labels and units in ``STATS``).

    ``attentions`` [L, H, T, T] rows sum to 1; ``special`` [T] bool. Rows averaged over: a decoder
    (``causal``) uses query rows 1..T-1 for every statistic (row 0 can only see itself); an encoder uses all
    rows, except for "prev", which uses rows 1..T-1 for both. With no usable row (a 1-token decoder text) the
    value is NaN. "special" is only returned when ``special.any()``. See ``HEAD_STATS_ROWS`` for page text."""
    a = np.asarray(attentions)
    if a.ndim != 4 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"attentions must be [layers, heads, T, T], got shape {a.shape}.")
    T = a.shape[-1]
    special = np.asarray(special, dtype=bool)
    if special.shape != (T,):
        raise ValueError(f"special must have one flag per token ({T}), got shape {special.shape}.")
    rows = np.arange(1 if causal else 0, T)  # query rows every statistic averages over
    later = np.arange(1, T)  # rows that have a previous token
    i = np.arange(T)
    distance = np.abs(i[:, None] - i[None, :]).astype(np.float64)  # [T, T] |i - j|

    def per_row(layer: np.ndarray) -> dict[str, np.ndarray]:  # [H, T, T] -> key -> [H, T], one row per query
        p = layer.astype(np.float64)  # one layer at a time: [30, 9, 512, 512] in float64 would be 566 MB
        prev = np.zeros(p.shape[:2])  # row 0 has no previous token
        prev[:, later] = p[:, later, later - 1]
        plogp = np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0)  # 0 log 0 = 0
        out = {"entropy": -plogp.sum(-1), "prev": prev, "first": p[:, :, 0], "self": p[:, i, i],
               "distance": (p * distance).sum(-1)}
        if special.any():
            out["special"] = p[:, :, special].sum(-1)
        return out

    layers = [per_row(layer) for layer in a]
    result = {}
    for key in layers[0] if layers else ():
        values = np.stack([layer[key] for layer in layers])  # [L, H, T]
        which = later if key == "prev" else rows
        result[key] = values[..., which].mean(-1) if which.size else np.full(values.shape[:2], np.nan)
    return result


# ------------------------------------------------------------------------------ word-level attention
# Scripts written WITHOUT spaces between words: Chinese characters (Han, with BERT's ranges and the later
# extensions), Japanese kana, their punctuation (。，、「」…) and full-width punctuation. Spaces cannot mark
# words there, and no tokenizer here knows where a Chinese word ends: BERT's normalizer puts every Han character
# in a pre-token of its own, and byte-level BPE's pre-tokenizer keeps a whole run of them together ("今天天气很好"
# is one pre-token). So each such character counts as one word (a piece covering several stays whole).
_SPACELESS = (
    (0x2E80, 0x2FDF),  # CJK radicals, Kangxi radicals
    (0x3000, 0x303F),  # CJK symbols and punctuation: 。、「」〈〉 (U+3000, the ideographic space, is whitespace)
    *KANA,  # hiragana, katakana
    (0x3100, 0x312F), (0x31A0, 0x31FF),  # bopomofo (+ extended), CJK strokes, katakana phonetic extensions
    *HAN,  # CJK unified ideographs (+ extension A), compatibility ideographs, extensions B to H
    (0xFE30, 0xFE4F),  # CJK compatibility forms (vertical punctuation)
    (0xFF01, 0xFF0F), (0xFF1A, 0xFF20), (0xFF3B, 0xFF40), (0xFF5B, 0xFF65),  # full-width punctuation ，：！？（）
    (0xFF66, 0xFF9F),  # half-width katakana
)


def is_spaceless(ch: str) -> bool:
    """True for a character of a script written without spaces between words (see ``_SPACELESS``)."""
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _SPACELESS)


def has_spaceless(text: str) -> bool:
    """Does the text contain characters that word level splits one by one (Chinese, Japanese)?"""
    return any(is_spaceless(c) for c in text)


def _joins_previous(ch: str) -> bool:
    """A character that belongs to the one before it: combining marks, variation selectors (category M*),
    zero-width joiners and other format characters (Cf)."""
    import unicodedata

    return unicodedata.category(ch)[0] == "M" or unicodedata.category(ch) == "Cf"


def _spaceless_boundary(text: str, p: int) -> bool:
    """Is there a word boundary between text[p - 1] and text[p] because one of them is written without
    spaces? Not inside a character sequence (a mark or joiner after it, a joiner before it)."""
    if not 0 < p < len(text) or _joins_previous(text[p]) or text[p - 1] == "\u200d":
        return False
    return is_spaceless(text[p - 1]) or is_spaceless(text[p])


def word_ids(offsets: np.ndarray, special: np.ndarray, text: str) -> np.ndarray:
    """[T] word index per token. A word is a maximal run of pieces with no whitespace between them (so
    "fox." is one word); a piece that starts with whitespace starts a new word, pieces that share characters
    (byte pieces of one emoji or one Chinese character) stay together, and every special token is a word of
    its own. In text written without spaces (Chinese, Japanese: ``is_spaceless``) every character is a word of
    its own, since spaces cannot mark its words: a piece that starts a new character there starts a new word
    (a piece that covers several characters is not split). A piece that is only whitespace (byte-level BPE's
    lone "Ġ" before a Chinese character or a second space) joins the word after it rather than being a word."""
    offsets = np.asarray(offsets)
    special = np.asarray(special, dtype=bool)
    words = np.zeros(len(offsets), dtype=np.int64)
    word, prev_end = -1, None  # prev_end: end of the previous ordinary piece (None after a special token)
    prev_blank = False  # the previous ordinary piece is whitespace only
    for t, ((start, end), is_special) in enumerate(zip(offsets.tolist(), special.tolist())):
        if is_special or prev_end is None:
            new = True
        elif start < prev_end:  # shares characters with the previous piece: same word
            new = False
        elif prev_blank:  # a lone space piece belongs to the word it stands in front of
            new = False
        else:  # whitespace between the pieces, at the start of this one or at the end of the previous one
            new = (_has_space(text[prev_end:start]) or text[start:start + 1].isspace()
                   or text[prev_end - 1:prev_end].isspace()
                   or any(_spaceless_boundary(text, p) for p in range(prev_end, start + 1)))
        word += int(new)
        words[t] = word
        prev_blank = not is_special and end > start and text[start:end].isspace()
        prev_end = None if is_special else max(end, prev_end or 0)
    return words


def _has_space(s: str) -> bool:
    return any(c.isspace() for c in s)


def word_attention(attn: np.ndarray, words: np.ndarray) -> np.ndarray:
    """[..., T, T] -> [..., W, W]: SUM over the key pieces of a word, MEAN over its query pieces, so every
    row still sums to 1 (the share of a word's attention that goes to each word). ``words`` as ``word_ids``
    gives them: 0, 0, 1, 2, 2, ... (each word one run of consecutive pieces)."""
    attn = np.asarray(attn)
    words = np.asarray(words)
    if attn.ndim < 2 or attn.shape[-2:] != (len(words),) * 2:
        raise ValueError(f"attention is {attn.shape[-2:]} but there are {len(words)} word ids.")
    if len(words) == 0 or words[0] != 0 or not np.isin(np.diff(words), (0, 1)).all():
        raise ValueError("word ids must count 0, 1, 2, ... along the tokens, as word_ids returns them.")
    starts = np.flatnonzero(np.r_[True, np.diff(words) != 0])  # [W] first piece of each word
    counts = np.diff(np.r_[starts, len(words)])  # [W] pieces per word
    dtype = np.result_type(attn.dtype, np.float32)  # float32 in, float32 out
    keys = np.add.reduceat(attn.astype(dtype, copy=False), starts, axis=-1)  # [..., T, W] sum over key pieces
    return np.add.reduceat(keys, starts, axis=-2) / counts[:, None].astype(dtype)  # [..., W, W] mean over queries


def word_labels(text: str, offsets: np.ndarray, words: np.ndarray, tokens: list[str] | None = None) -> list[str]:
    """The text of each word (its pieces' character span). Special tokens have no characters: their
    vocabulary string (``tokens``, e.g. "[CLS]") is used; a whitespace-only word shows as ⏎ or ␣."""
    offsets = np.asarray(offsets)
    words = np.asarray(words)
    labels = []
    for w in range(int(words.max()) + 1 if len(words) else 0):
        members = np.flatnonzero(words == w)
        start, end = int(offsets[members, 0].min()), int(offsets[members, 1].max())
        span = text[start:end]
        if end <= start:
            labels.append(tokens[members[0]] if tokens is not None else "")
        elif not span.strip():
            labels.append("⏎" if "\n" in span else "␣")
        else:
            labels.append(span.strip())
    return labels


# ------------------------------------------------------------------- heads -> concatenation -> W^O
# What a layer does with its heads' outputs (Vaswani et al. 2017, "multi-head attention"):
#     head_h  = weights_h @ V_kv(h)                 [T, dh]      one per query head (GQA: H of them, not Hkv)
#     concat  = [head_1 | head_2 | ... | head_H]    [T, H*dh]    side by side, head-major: column h*dh + i
#     output  = concat @ W^O (+ b)                  [T, d_model] W^O: [H*dh, d_model]
# which is also the sum of the heads' separate contributions head_h @ W^O[h*dh:(h+1)*dh] (+ b): each head owns
# dh rows of W^O. The output is then added to the residual stream (x + output; BERT-style post-norm models
# normalise the sum: LayerNorm(x + output)).
@dataclass(frozen=True)
class OutputProjection:
    """One layer's output projection W^O, oriented so that ``output = concat @ weight + bias``."""

    name: str  # its name inside a block, e.g. "self_attn.o_proj", "attn.c_proj", "attention.output.dense"
    weight: np.ndarray  # [H*dh, d_model]
    bias: np.ndarray | None  # [d_model], or None (Llama's o_proj has no bias)
    post_norm: bool  # True: the block normalises x + output (BERT, DistilBERT); False: pre-norm (Llama, GPT-2)


def _output_module(model: Any, layer: int) -> tuple[str, Any, Any]:
    """(full name, W^O module, the module that owns it) of block index ``layer``: Llama ``self_attn.o_proj``,
    GPT-2 ``attn.c_proj``, DistilBERT ``attention.out_lin``, BERT ``attention.output.dense`` (BERT keeps W^O
    outside its self-attention module, in the BertSelfOutput beside it)."""
    modules = attention_modules(model)
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 0 <= layer < len(modules):
        raise AttentionError(N_("Block index {layer!r} does not exist: choose 0 to {last} (layers 1 to {n})."),
                             layer=layer, last=len(modules) - 1, n=len(modules))
    attn = modules[layer]
    names = {id(m): n for n, m in model.named_modules()}
    for attr in ("o_proj", "c_proj", "out_lin"):
        if hasattr(attn, attr):
            return f"{names[id(attn)]}.{attr}", getattr(attn, attr), attn
    parent_name = names[id(attn)].rpartition(".")[0]
    parent = model.get_submodule(parent_name) if parent_name else None
    dense = getattr(getattr(parent, "output", None), "dense", None)
    if dense is None:
        raise AttentionError(N_("{module} has no output projection this app knows."), module=type(attn).__name__)
    return f"{parent_name}.output.dense", dense, parent.output


def _in_block(name: str) -> str:
    """The name of a module inside its block: "model.layers.3.self_attn.o_proj" -> "self_attn.o_proj" (the
    block's own index left out: the same name in every block, and no 0-based number reaches the page)."""
    parts = name.split(".")
    last_index = max((i for i, p in enumerate(parts) if p.isdigit()), default=-1)
    return ".".join(parts[last_index + 1:])


def _is_linear(module: Any) -> bool:
    import torch

    return isinstance(module, torch.nn.Linear)  # weight [out, in]; GPT-2's Conv1D stores [in, out]


def output_projection_shape(model: Any, layer: int) -> tuple[int, int]:
    """(rows, columns) of W^O as ``output = concat @ W^O`` uses it, (H*dh, d_model), from the module's weight."""
    _name, module, _owner = _output_module(model, layer)
    rows, cols = module.weight.shape
    return (int(cols), int(rows)) if _is_linear(module) else (int(rows), int(cols))


def output_projection(model: Any, layer: int) -> OutputProjection:
    """W^O of block index ``layer`` as float32 numpy arrays, and whether the block normalises after the residual
    addition (post-norm: BERT's BertSelfOutput holds a LayerNorm; DistilBERT's block an ``sa_layer_norm``)."""
    name, module, owner = _output_module(model, layer)
    w = module.weight.detach().float().numpy()
    weight = w.T.copy() if _is_linear(module) else w.copy()  # [H*dh, d_model]
    bias = None if getattr(module, "bias", None) is None else module.bias.detach().float().numpy().copy()
    names = {id(m): n for n, m in model.named_modules()}
    block = model.get_submodule(names[id(owner)].rpartition(".")[0]) if "." in names[id(owner)] else model
    post_norm = hasattr(owner, "LayerNorm") or hasattr(block, "sa_layer_norm")
    return OutputProjection(name=_in_block(name), weight=weight, bias=bias, post_norm=bool(post_norm))


def head_outputs(weights: np.ndarray, v: np.ndarray, kv_of_head: np.ndarray) -> np.ndarray:
    """[H, T, dh] each query head's output: its attention weights [H, T, T] times the values of the key/value
    head it reads (``v`` [Hkv, T, dh]; with GQA several query heads read the same values)."""
    return np.einsum("hqk,hkd->hqd", np.asarray(weights, np.float64), np.asarray(v, np.float64)[kv_of_head])


def concat_heads(outputs: np.ndarray) -> np.ndarray:
    """[H, T, dh] -> [T, H*dh]: each token's H head outputs side by side, head 1 first (the order the model's
    ``transpose(1, 2).reshape(T, H*dh)`` uses, which W^O's rows follow)."""
    H, T, dh = np.shape(outputs)
    return np.asarray(outputs).transpose(1, 0, 2).reshape(T, H * dh)


def mix_heads(outputs: np.ndarray, proj: OutputProjection) -> np.ndarray:
    """[H, T, dh] -> [T, d_model]: concatenate the heads and multiply by W^O (+ bias): the attention output that
    is added to the residual stream."""
    concat = concat_heads(outputs)
    if concat.shape[1] != proj.weight.shape[0]:
        raise ValueError(f"{concat.shape[1]} concatenated columns but W^O has {proj.weight.shape[0]} rows.")
    out = concat.astype(np.float64) @ proj.weight.astype(np.float64)
    return out if proj.bias is None else out + proj.bias


def head_contributions(outputs: np.ndarray, proj: OutputProjection) -> np.ndarray:
    """[H, T, d_model] what each head adds: head_h @ (its own dh rows of W^O). Their sum plus the bias equals
    ``mix_heads``: W^O mixes the heads by adding what each of them writes."""
    H, T, dh = np.shape(outputs)
    rows = proj.weight.astype(np.float64).reshape(H, dh, -1)  # [H, dh, d_model]: head h's rows
    return np.einsum("htd,hdm->htm", np.asarray(outputs, np.float64), rows)
