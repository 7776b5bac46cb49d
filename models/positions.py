"""How a model knows word order: learned tables, sine/cosine waves, or rotations (RoPE).

Everything is read from the loaded model (its position table, its rotary module and config); the sinusoidal
formula of "Attention is all you need" is computed for comparison only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.loading import LoadedModel


def learned_table(lm: LoadedModel) -> np.ndarray | None:
    """[P, d] learned position-embedding table (GPT-2 `wpe`, BERT `position_embeddings`), None for RoPE."""
    from models.trace import _position_module

    module = _position_module(lm.model)
    return None if module is None else module.weight.detach().float().numpy()


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
    distances: np.ndarray  # [k] relative distances n - m
    starts: np.ndarray  # [s] absolute start positions m
    scores: np.ndarray  # [s, k] q(m)·k(m + dist) after rotation
    unrotated: float  # q·k before any rotation


def rope_relative_demo(lm: LoadedModel, q: np.ndarray, k: np.ndarray, starts=(0, 7, 50, 300),
                       distances=tuple(range(0, 33))) -> RopeDemo:
    """Rotate the same query/key vectors to positions m and m+dist with the model's own rotary module and
    ``apply_rotary_pos_emb``; the dot product depends only on dist, not on m."""
    import torch
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    rotary = _rotary_module(lm)
    positions = sorted({m for m in starts} | {m + d for m in starts for d in distances})
    index = {p: i for i, p in enumerate(positions)}
    pos = torch.tensor(positions)[None]  # [1, P]
    dummy = torch.zeros(1, len(positions), q.shape[-1], dtype=torch.float32)
    with torch.inference_mode():
        cos, sin = rotary(dummy, pos)  # [1, P, d_head]
        qt = torch.from_numpy(np.asarray(q, np.float32)).expand(1, 1, len(positions), -1)  # [1, 1, P, d_head]
        kt = torch.from_numpy(np.asarray(k, np.float32)).expand(1, 1, len(positions), -1)
        q_rot, k_rot = apply_rotary_pos_emb(qt, kt, cos, sin)
    q_rot, k_rot = q_rot[0, 0].double().numpy(), k_rot[0, 0].double().numpy()
    scores = np.array([[q_rot[index[m]] @ k_rot[index[m + d]] for d in distances] for m in starts])
    return RopeDemo(np.array(distances), np.array(starts), scores, float(np.dot(q, k)))


def first_layer_qk(lm: LoadedModel, trace, query_pos: int, key_pos: int, head: int = 0):
    """Real query and key vectors (before rotation) of layer 0 for two tokens of a trace: [d_head] each."""
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
