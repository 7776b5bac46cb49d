"""One decode step of the lean Llama forward (models/generation.py, ``LlamaBackend.decode``) as a TorchScript
function.

Why: a served process runs one Python thread per browser session. An eager decode step makes ~300 torch calls,
and each call gives the GIL back and must win it again; with busy page threads every such hand-over waits for
the switch interval. Measured here with four busy Python threads: 16 tokens took 358 s eager instead of 0.9 s.
A TorchScript function runs all its ops in C++ with the GIL released for the whole call (one hand-over per
step). Same aten ops, same order, so the same numbers (tests/unit/test_generation.py compares the two).

No ``from __future__ import annotations`` here: TorchScript reads these annotations.
"""
from typing import List, Optional, Union

import torch


def onednn_linear(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """x [B, in] @ W.T by oneDNN's kernel; ``w`` is a weight [out, in] or its blocked copy (blocked_copy)."""
    no_scalars: List[Optional[Union[int, float, complex]]] = []  # TorchScript's "Scalar?[]"
    return torch.ops.mkldnn._linear_pointwise(x.contiguous(), w, None, "none", no_scalars, "")


def linear(x: torch.Tensor, w: torch.Tensor, onednn: bool = False) -> torch.Tensor:
    """x [B, in] @ W.T for the layer's own weight W [out, in] (what nn.Linear computes, without its bias), by
    MKL (what nn.Linear calls) or, when ``onednn``, by oneDNN's kernel on the same weight W."""
    return onednn_linear(x, w) if onednn else torch.nn.functional.linear(x, w)


def head(x: torch.Tensor, unembed: torch.Tensor, blocked: torch.Tensor, has_blocked: bool,
         onednn: bool = False) -> torch.Tensor:
    """The logits [B, V] = x [B, d] @ U.T. Several rows, or any number on oneDNN's kernel: the engine's own copy
    of U in oneDNN's blocked layout (``blocked``, made by serving.engine.blocked_copy), which multiplies several
    rows by this 49k-row matrix several times faster than MKL does on U. One row on MKL's kernel: MKL's
    matrix-vector product on U itself. Same float32 sums in another order (the tests compare both with the
    model)."""
    if has_blocked and (x.shape[0] > 1 or onednn):
        return onednn_linear(x, blocked)
    return torch.nn.functional.linear(x, unembed)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """RoPE: x [..., D] rotated by the angles whose cos, sin [..., D] are given (HF's rotate_half form)."""
    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin


def mlp(x: torch.Tensor, w_post: torch.Tensor, gate: torch.Tensor, up: torch.Tensor, down: torch.Tensor,
        eps: float, onednn: bool = False) -> torch.Tensor:
    """The residual SwiGLU block: x + down(silu(gate(h)) * up(h)), h = RMSNorm(x). [N, d]"""
    h = torch.rms_norm(x, [x.shape[-1]], w_post, eps)
    return x + linear(torch.nn.functional.silu(linear(h, gate, onednn)) * linear(h, up, onednn), down, onednn)


def decode_step(tokens: torch.Tensor, lengths: torch.Tensor, r0: int, cos: torch.Tensor, sin: torch.Tensor,
                kv_k: torch.Tensor, kv_v: torch.Tensor, embed: torch.Tensor, norm: torch.Tensor,
                unembed: torch.Tensor, blocked: torch.Tensor, has_blocked: bool, layers: List[List[torch.Tensor]],
                H: int, Hkv: int, D: int, eps: float, onednn: bool) -> torch.Tensor:
    """One new token for each cache row r0..r0+B-1 at position ``lengths[b]``; returns logits [B, V].

    cos, sin [B, D] of those positions; kv_k, kv_v [L, rows, Hkv, T_max, D] (written at ``lengths``);
    layers[i] = [w_in, wq, wk, wv, wo, w_post, gate, up, down] (the layers' own weights)."""
    B = tokens.shape[0]
    d = embed.shape[1]
    G = H // Hkv  # query heads per key/value head
    T = int(lengths.max()) + 1  # attend over this much of the cache
    rows = torch.arange(r0, r0 + B)
    cos, sin = cos[:, None, :], sin[:, None, :]  # [B, 1, D]
    visible = (torch.arange(T)[None, :] <= lengths[:, None])[:, None, None, :]  # [B, 1, 1, T]
    hide = torch.zeros(B, 1, 1, T).masked_fill_(~visible, float("-inf"))  # [B, 1, 1, T]
    scale = D ** -0.5
    x = torch.embedding(embed, tokens)  # [B, d]
    for i, layer in enumerate(layers):
        w_in, wq, wk, wv, wo, w_post, gate, up, down = layer
        h = torch.rms_norm(x, [d], w_in, eps)
        q = rotate(linear(h, wq, onednn).view(B, H, D), cos, sin)  # [B, H, D]
        k = rotate(linear(h, wk, onednn).view(B, Hkv, D), cos, sin)  # [B, Hkv, D]
        v = linear(h, wv, onednn).view(B, Hkv, D)  # [B, Hkv, D]
        kv_k[i][rows, :, lengths] = k
        kv_v[i][rows, :, lengths] = v
        # grouped-query attention without copying K/V: the G query heads of one kv head are its "queries"
        keys, values = kv_k[i, r0: r0 + B, :, :T], kv_v[i, r0: r0 + B, :, :T]  # [B, Hkv, T, D]
        scores = torch.matmul(q.view(B, Hkv, G, D), keys.transpose(-1, -2))  # [B, Hkv, G, T]
        weights = torch.softmax(scores.mul_(scale).add_(hide), dim=-1)  # [B, Hkv, G, T]
        a = torch.matmul(weights, values)  # [B, Hkv, G, D]
        x = x + linear(a.reshape(B, d), wo, onednn)
        x = mlp(x, w_post, gate, up, down, eps, onednn)
    x = torch.rms_norm(x, [d], norm, eps)
    return head(x, unembed, blocked, has_blocked, onednn)  # [B, V]


def prefill_pass(tokens: torch.Tensor, starts: List[int], slots: List[int], cos: torch.Tensor, sin: torch.Tensor,
                 kv_k: torch.Tensor, kv_v: torch.Tensor, embed: torch.Tensor, norm: torch.Tensor,
                 unembed: torch.Tensor, blocked: torch.Tensor, has_blocked: bool, layers: List[List[torch.Tensor]],
                 H: int, Hkv: int, D: int, eps: float, onednn: bool) -> torch.Tensor:
    """Several prompts in one pass, packed one after the other: ``tokens`` [N], prompt j is rows
    starts[j]:starts[j+1] and goes to cache row slots[j]; cos, sin [N, D] of each token's position in its own
    prompt. Every matrix product runs once on [N, d]; attention stays within each prompt. Returns the logits of
    each prompt's last position [n, V]."""
    N = tokens.shape[0]
    d = embed.shape[1]
    x = torch.embedding(embed, tokens)  # [N, d]
    for i, layer in enumerate(layers):
        w_in, wq, wk, wv, wo, w_post, gate, up, down = layer
        h = torch.rms_norm(x, [d], w_in, eps)
        q = rotate(linear(h, wq, onednn).view(N, H, D).transpose(0, 1), cos, sin)  # [H, N, D]
        k = rotate(linear(h, wk, onednn).view(N, Hkv, D).transpose(0, 1), cos, sin)  # [Hkv, N, D]
        v = linear(h, wv, onednn).view(N, Hkv, D).transpose(0, 1)  # [Hkv, N, D]
        heads: List[torch.Tensor] = []
        for j in range(len(slots)):
            a, b = starts[j], starts[j + 1]
            kv_k[i, slots[j], :, : b - a] = k[:, a:b]
            kv_v[i, slots[j], :, : b - a] = v[:, a:b]
            heads.append(torch.nn.functional.scaled_dot_product_attention(
                q[:, a:b], k[:, a:b], v[:, a:b], is_causal=True, enable_gqa=True))  # [H, n_j, D]
        x = x + linear(torch.cat(heads, dim=1).transpose(0, 1).reshape(N, d), wo, onednn)
        x = mlp(x, w_post, gate, up, down, eps, onednn)
    last = torch.tensor(starts[1:]) - 1
    x = torch.rms_norm(x[last], [d], norm, eps)  # [n, d] the last position of each prompt
    return head(x, unembed, blocked, has_blocked, onednn)  # [n, V]


class Step(torch.nn.Module):
    """decode_step on the model's weights, held by this (scripted) module.

    Why a module: PyTorch takes the GIL whenever a tensor that has a Python object goes back to a single owner
    (``TensorImpl::decref_pyobject``). Weights passed as arguments on every step each went from two owners back
    to one at the end of the call: ~300 GIL hand-overs a step (51 -> 105 ms per token beside ONE busy page
    thread). Held here for good, the weights never drop back to one owner."""

    layers: List[List[torch.Tensor]]

    def __init__(self, embed: torch.Tensor, norm: torch.Tensor, unembed: torch.Tensor, blocked: torch.Tensor,
                 has_blocked: bool, layers: List[List[torch.Tensor]], H: int, Hkv: int, D: int, eps: float,
                 onednn: bool = False):
        super().__init__()
        self.embed, self.norm, self.unembed, self.layers = embed, norm, unembed, layers
        self.blocked, self.has_blocked = blocked, has_blocked
        self.H, self.Hkv, self.D, self.eps = H, Hkv, D, eps
        self.onednn = onednn

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor, r0: int, cos: torch.Tensor, sin: torch.Tensor,
                kv_k: torch.Tensor, kv_v: torch.Tensor) -> torch.Tensor:
        return decode_step(tokens, lengths, r0, cos, sin, kv_k, kv_v, self.embed, self.norm, self.unembed,
                           self.blocked, self.has_blocked, self.layers, self.H, self.Hkv, self.D, self.eps,
                           self.onednn)

    @torch.jit.export
    def prefill(self, tokens: torch.Tensor, starts: List[int], slots: List[int], cos: torch.Tensor,
                sin: torch.Tensor, kv_k: torch.Tensor, kv_v: torch.Tensor) -> torch.Tensor:
        return prefill_pass(tokens, starts, slots, cos, sin, kv_k, kv_v, self.embed, self.norm, self.unembed,
                            self.blocked, self.has_blocked, self.layers, self.H, self.Hkv, self.D, self.eps,
                            self.onednn)


def scripted(*args) -> torch.jit.ScriptModule:
    """``Step(*args)`` compiled by TorchScript (~1 s)."""
    return torch.jit.script(Step(*args))
