"""How a model knows word order: learned tables, sine/cosine waves, or rotations (RoPE).

Everything is read from the loaded model (its position table, its rotary module and config); the sinusoidal
formula of "Attention is all you need" is computed for comparison only.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

import i18n
from i18n import N_, _
from models.loading import LoadedModel

if TYPE_CHECKING:
    from models.similarity import OrderDemo


class NoPositionModule(i18n.Error, ValueError):
    """The model adds position information in a way the "without positions" run cannot switch off."""


def learned_table(lm: LoadedModel) -> np.ndarray | None:
    """[P, d] learned position-embedding table (GPT-2 `wpe`, BERT `position_embeddings`), None for RoPE."""
    from models.trace import _position_module

    module = _position_module(lm.model)
    return None if module is None else module.weight.detach().float().numpy()


def layer0_kind(lm: LoadedModel) -> str:
    """What layer 0 (``hidden_states[0]``, what the first block reads) is made of, from the architecture:
    "token" (RoPE: the embedding row itself, nothing added), "token+position" (GPT-2: row + position row),
    "norm(token+position)" or "norm(token+position+type)" (BERT-style encoders add the rows, then LayerNorm)."""
    if lm.facts.positions == "rope":
        return "token"
    if lm.facts.family == "encoder":
        return "norm(token+position+type)" if getattr(lm.model.config, "type_vocab_size", 0) else \
            "norm(token+position)"
    return "token+position"


def layer0_text(lm: LoadedModel) -> str:
    """Layer 0 of this model in words (session language), starting "layer 0 is ..."."""
    return {
        "token": _("layer 0 is the token's embedding row itself (this model adds no position vector: RoPE acts "
                   "inside attention)"),
        "norm(token+position+type)": _("layer 0 is already LayerNorm(token row + position row + token-type row), "
                                       "not the bare token row"),
        "norm(token+position)": _("layer 0 is already LayerNorm(token row + position row), not the bare token row"),
        "token+position": _("layer 0 is token row + position row"),
    }[layer0_kind(lm)]


def sinusoidal(n_positions: int, d: int, base: float = 10000.0) -> np.ndarray:
    """[n, d] PE(pos, 2i) = sin(pos / base^(2i/d)), PE(pos, 2i+1) = cos(pos / base^(2i/d))."""
    pos = np.arange(n_positions)[:, None]
    i = np.arange(0, d, 2)[None, :]
    angle = pos / base ** (i / d)
    pe = np.zeros((n_positions, d))
    pe[:, 0::2] = np.sin(angle)
    pe[:, 1::2] = np.cos(angle[:, : d // 2])
    return pe


def rope_base(lm: LoadedModel) -> float:
    c = lm.model.config
    params = getattr(c, "rope_parameters", None) or {}
    return float(params.get("rope_theta") or getattr(c, "rope_theta", 10000.0))


def rope_inv_freq(lm: LoadedModel) -> np.ndarray:
    """[d_head/2] rotation speed of each pair of dimensions, read from the model's rotary module."""
    rotary = _rotary_module(lm)
    return rotary.inv_freq.detach().double().numpy()


def _rotary_module(lm: LoadedModel):
    for name, module in lm.model.named_modules():
        if name.endswith("rotary_emb"):
            return module
    raise ValueError(f"{lm.spec.label} has no rotary position embedding")


@dataclass(frozen=True)
class RopeDemo:
    distances: np.ndarray  # [k] how far back the key is: d = m - n >= 0
    starts: np.ndarray  # [s] absolute positions m of the query
    scores: np.ndarray  # [s, k] q(m)·k(m - d) after rotation
    unrotated: float  # q·k before any rotation


def rope_relative_demo(lm: LoadedModel, q: np.ndarray, k: np.ndarray, starts=(32, 100, 300, 2000),
                       distances=tuple(range(0, 33))) -> RopeDemo:
    """Rotate the same query to position m and the same key to position n = m - d with the model's own rotary
    module and ``apply_rotary_pos_emb``; the dot product depends only on d, not on m.

    The key is BEFORE the query (n <= m): a causal decoder never scores a key after its query, so the demo
    shows only products the model really computes (every start must be >= the largest distance)."""
    import torch
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    if min(starts) < max(distances):
        raise ValueError("every query position must be at least the largest distance (keys are before it)")
    rotary = _rotary_module(lm)
    positions = sorted({m for m in starts} | {m - d for m in starts for d in distances})
    index = {p: i for i, p in enumerate(positions)}
    pos = torch.tensor(positions)[None]  # [1, P]
    dummy = torch.zeros(1, len(positions), q.shape[-1], dtype=torch.float32)
    with torch.inference_mode():
        cos, sin = rotary(dummy, pos)  # [1, P, d_head]
        qt = torch.from_numpy(np.asarray(q, np.float32)).expand(1, 1, len(positions), -1)  # [1, 1, P, d_head]
        kt = torch.from_numpy(np.asarray(k, np.float32)).expand(1, 1, len(positions), -1)
        q_rot, k_rot = apply_rotary_pos_emb(qt, kt, cos, sin)
    q_rot, k_rot = q_rot[0, 0].double().numpy(), k_rot[0, 0].double().numpy()
    scores = np.array([[q_rot[index[m]] @ k_rot[index[m - d]] for d in distances] for m in starts])
    return RopeDemo(np.array(distances), np.array(starts), scores, float(np.dot(q, k)))


def hidden_states_without_positions(lm: LoadedModel, ids: np.ndarray) -> np.ndarray:
    """[L+1, T, d] the model's own hidden states for ``ids`` with its position information switched off and
    nothing else changed (same weights, same causal mask for a decoder): ``hidden_states_of`` with one row."""
    return hidden_states_of(lm, [(ids, False)])[0]


def hidden_states_of(lm: LoadedModel, rows: list[tuple[np.ndarray, bool]]) -> list[np.ndarray]:
    """[L+1, T_r, d] for each row ``(ids, positions on)``, from ONE forward pass of the rows as a batch: on this
    CPU a short text's forward costs reading the weights once, so three rows cost about what one does. The rows
    are right-padded and the pads masked out (a pad is a later key, so a decoder's causal mask hides it anyway;
    an encoder's attention mask does); each row's numbers are its own forward's to float32 rounding (within
    1e-5 of the layer's largest value: a batch's matmuls add in another order; tested).

    Positions off, nothing else changed:

    * RoPE: the row's position ids are all 0, so every query and key is rotated by angle 0 (cos 1, sin 0), i.e.
      not at all. The ids go to the stock forward as ``position_ids``; the weights are not touched. The attention
      mask is passed explicitly: without one, transformers reads position ids that do not count up as several
      packed sequences and would give every token a sequence of its own (no causal mask left to compare).
    * a learned or fixed (sinusoidal) position table: a forward hook on the position-embedding module zeroes the
      row's position vectors, so the first block reads the token (+ token type) embedding without them; the hook
      is removed in ``finally``. The model lock is held: other sessions' forwards wait rather than see the hook.
    """
    import torch

    from models.trace import _position_module, raw_last_layer, with_raw_last_layer

    B, T = len(rows), max(len(ids) for ids, _on in rows)
    ids_t = torch.zeros(B, T, dtype=torch.long)  # [B, T] pads: id 0, masked out
    mask = torch.zeros(B, T, dtype=torch.long)
    for r, (ids, _on) in enumerate(rows):
        ids_t[r, :len(ids)] = torch.from_numpy(np.array(ids, dtype=np.int64))
        mask[r, :len(ids)] = 1
    off = torch.tensor([not on for _ids, on in rows])  # [B]
    kwargs = dict(input_ids=ids_t, attention_mask=mask, output_hidden_states=True, return_dict=True)
    if lm.spec.head == "causal-lm":
        kwargs["logits_to_keep"] = 1  # the logits are not used
    handles = []

    def zero_off_rows(_module, _inputs, output):  # [T, d], [1, T, d] or [B, T, d] -> [B, T, d], off rows zero
        out = (output if output.dim() == 3 else output.unsqueeze(0)).expand(B, -1, -1).clone()
        out[off] = 0
        return out

    with lm.lock, torch.inference_mode(), raw_last_layer(lm.model) as last:
        if lm.facts.positions == "rope":
            kwargs["position_ids"] = torch.arange(T).expand(B, T) * (~off).long()[:, None]  # [B, T]
        elif bool(off.any()):
            module = _position_module(lm.model)
            if module is None:
                raise NoPositionModule(N_("{model} has no position-embedding module that can be switched off."),
                                       model=lm.spec.label)
            handles.append(module.register_forward_hook(zero_off_rows))
        try:
            out = lm.model(**kwargs)
        finally:
            for h in handles:
                h.remove()
    hidden = with_raw_last_layer(torch.stack(out.hidden_states), last)  # [L+1, B, T, d]
    return [hidden[:, r, :len(ids)].float().numpy() for r, (ids, _on) in enumerate(rows)]


def reversal_demo(lm: LoadedModel, a) -> OrderDemo:
    """The order demo for the text of trace ``a``: its word reversal as the model is, and both texts with the
    positions off (models.similarity.order_demo), from one batched forward of those three rows: the reversal needs
    no trace of its own (no attention weights are shown for it). NoSharedWord (no word to compare) comes before
    the forward pass; NoTokens when the reversal has no token."""
    from models import similarity as sim
    from models.trace import analysed, token_embeddings

    text_b = sim.reverse_words(a.text)
    enc = analysed(lm, text_b)
    with lm.tokenizer_lock:
        tokens = lm.tokenizer.convert_ids_to_tokens(enc.ids.tolist())
    b = sim.TextStates(text_b, tokens, enc.ids, enc.offsets, enc.special)
    sim.match_words(a, b)
    with_b, off_a, off_b = hidden_states_of(lm, [(enc.ids, True), (a.ids, False), (enc.ids, False)])
    b = replace(b, token_embeddings=token_embeddings(lm, enc.ids), hidden_states=with_b)
    return sim.order_demo(a, b, off_a, off_b)


def first_layer_qk(lm: LoadedModel, trace, query_pos: int, key_pos: int, head: int = 0):
    """Real query and key vectors (before rotation) of layer 1 (the first block) for two tokens of a trace:
    [d_head] each. ``head`` is the 0-based head index (head ``head + 1`` on screen)."""
    import torch

    attn = lm.model.model.layers[0].self_attn
    norm = lm.model.model.layers[0].input_layernorm
    d_head = lm.facts.d_head
    kv_head = head // (lm.facts.n_heads // lm.facts.n_kv_heads)
    with torch.inference_mode():
        h = norm(torch.from_numpy(np.array(trace.hidden_states[0])))  # [T, d] (a writable copy)
        q = attn.q_proj(h)[query_pos, head * d_head:(head + 1) * d_head]
        k = attn.k_proj(h)[key_pos, kv_head * d_head:(kv_head + 1) * d_head]
    return q.double().numpy(), k.double().numpy()
