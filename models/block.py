"""Inside a block: the residual stream, each part's direct contribution to the prediction, and ablation.

Every block reads each token's running vector (the *residual stream*); its attention and then its MLP each
compute something from it and ADD the result back. Where the normalisation sits depends on the family:

    pre-norm (Llama/SmolLM2, GPT-2)           post-norm (BERT, DistilBERT, MiniLM)
    mid = x + attn(norm1(x))                  mid = LN1(x + attn(x))
    out = mid + mlp(norm2(mid))               out = LN2(mid + mlp(mid))
    ... after the last block: final norm       (the last LN2 is the final normalisation)

So in a pre-norm model the stream itself is never normalised: what the embeddings and every sub-layer wrote is
still there, unscaled, at the end, and only the final norm rescales the sum. In a post-norm model every LayerNorm
re-centres and rescales the whole stream, earlier writes included.

**Direct contributions** (direct logit attribution). A normalisation y = s·γ⊙(x − mean(x)) + β (RMSNorm: no mean,
no β) is linear in x once its scale s = 1/√(var(x) + eps) is fixed, and we take s from the actual run at that
position. Then the final vector is exactly a sum of parts: each sub-layer's write (attention split into its heads
through their own rows of W^O, plus W^O's bias), the embeddings, and the β terms, each pushed through the
normalisations that come after it. A target token's logit is the final vector · its unembedding row (+ bias),
so it splits into the same parts; they add up to the model's own logit (checked on every run). What this leaves
out: a head's *indirect* effect, through what later layers read from its write (ablation measures that).

An encoder without a language-model head (the bundled MiniLM) has no logit to split: we split the one number
that exists, the final vector at the position · the input-embedding row of a target token.

**Ablation.** A head is switched off by replacing its d_head columns of W^O's input (the concatenated heads)
with zeros or with their mean over the text's positions in the ordinary run; an MLP by replacing what its down
projection writes. Forward hooks do it (models/hooks.py), removed after the one run: every session shares the
model's weights, so an intervention never edits them. A decoder's prediction at position p depends only on tokens 0..p (the
causal mask), so for a decoder every run here reads those p + 1 tokens and "the text's positions" are those.

All indices are 0-based here; the page shows layers 1..L and heads 1..H (models/numbering.py).
"""
from __future__ import annotations

import re
import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import i18n
from i18n import N_
from models.attention import OutputProjection, attention_modules, head_contributions
from models.hooks import first_input, first_output, hooked
from models.numbering import index as shown_index
from models.numbering import number

MODES = ("zero", "mean")  # ablation: replace with zeros, or with the mean over the text's positions


class BlockError(i18n.Error, ValueError):
    """A one-sentence reason this page cannot take a model apart (an architecture it does not know)."""


# ------------------------------------------------------------------------------------------- anatomy
# Where the parts are, relative to a block (the same names in every block). Pre-norm: the INPUT of the second
# norm is the stream after attention. Post-norm: the OUTPUT of the norm after attention is.
_DOWN = ("mlp.down_proj", "mlp.c_proj", "output.dense", "ffn.lin2", "mlp.fc2")
_PRE_MID = ("post_attention_layernorm", "ln_2")
_POST_MID = ("attention.output.LayerNorm", "sa_layer_norm")
_POST_OUT = ("output.LayerNorm", "output_layer_norm")


@dataclass(frozen=True)
class Anatomy:
    """The modules of every block, 0-based, found by name in the loaded model."""

    layers: tuple  # the blocks
    wo: tuple  # W^O of each block: its input is the heads side by side, its output the attention's write
    down: tuple  # the MLP's down projection: its input is the neurons' activations, its output the MLP's write
    mid: tuple  # pre-norm: the norm whose input is the stream after attention; post-norm: the norm after attention
    out_norm: tuple | None  # post-norm: the LayerNorm after the MLP (its output is the block's output)
    final_norm: Any  # pre-norm: the normalisation before the unembedding; None for post-norm models
    post_norm: bool
    n_heads: int
    d_head: int
    d_ff: int
    wo_name: str  # e.g. "self_attn.o_proj" (inside a block)
    down_name: str  # e.g. "mlp.down_proj"

    @property
    def n_layers(self) -> int:
        return len(self.layers)


def _find(block: Any, names: tuple[str, ...]) -> tuple[str, Any] | tuple[None, None]:
    for name in names:
        try:
            return name, block.get_submodule(name)
        except AttributeError:
            continue
    return None, None


def _down_weight(module: Any) -> np.ndarray:
    """[d_ff, d] the down projection as ``write = acts @ W``: row i is neuron i's output direction."""
    import torch

    w = module.weight.detach().float()
    return (w.T if isinstance(module, torch.nn.Linear) else w).numpy()


_ANATOMIES: "weakref.WeakKeyDictionary[Any, Anatomy]" = weakref.WeakKeyDictionary()


def anatomy(model: Any) -> Anatomy:
    """The blocks and their parts, or BlockError for an architecture whose block is not laid out as above.
    Found once per model (kept while the model lives)."""
    found = _ANATOMIES.get(model)
    if found is None:
        found = _ANATOMIES[model] = _anatomy(model)
    return found


def _anatomy(model: Any) -> Anatomy:
    from models.attention import _output_module

    attns = attention_modules(model)
    if not attns:
        raise BlockError(N_("{model} has no attention layers this page knows."), model=type(model).__name__)
    names = {id(m): n for n, m in model.named_modules()}
    layers, wo, down, mid, out_norm = [], [], [], [], []
    post_norm = None
    wo_name = down_name = ""
    for i, attn in enumerate(attns):
        parts = names[id(attn)].split(".")
        digits = [k for k, p in enumerate(parts) if p.isdigit()]
        if not digits:
            raise BlockError(N_("{model} has no list of blocks this page knows."), model=type(model).__name__)
        block_name = ".".join(parts[: digits[-1] + 1])
        block = model.get_submodule(block_name)
        full, w, _owner = _output_module(model, i)
        d_name, d = _find(block, _DOWN)
        pre_name, pre = _find(block, _PRE_MID)
        post_name, post = _find(block, _POST_MID)
        _o, out = _find(block, _POST_OUT)
        is_post = pre is None and post is not None and out is not None
        if d is None or (pre is None and not is_post):
            raise BlockError(N_("The blocks of {model} are not laid out as this page expects (attention, then an "
                                "MLP, each added to the residual stream)."), model=type(model).__name__)
        if post_norm is not None and post_norm != is_post:
            raise BlockError(N_("The blocks of {model} do not all have the same layout."), model=type(model).__name__)
        post_norm = is_post
        layers.append(block)
        wo.append(w)
        down.append(d)
        mid.append(post if is_post else pre)
        out_norm.append(out)
        wo_name, down_name = full[len(block_name) + 1:], d_name
    final = None
    if not post_norm:
        from models.lens import NoFinalNorm, final_norm

        try:
            final = final_norm(model)
        except NoFinalNorm as e:
            raise BlockError(N_("{model} has no final normalisation this page knows."),
                             model=type(model).__name__) from e
    n_heads = int(model.config.num_attention_heads)
    concat = wo[0].weight.shape[1] if _is_linear(wo[0]) else wo[0].weight.shape[0]
    return Anatomy(
        layers=tuple(layers), wo=tuple(wo), down=tuple(down), mid=tuple(mid),
        out_norm=tuple(out_norm) if post_norm else None, final_norm=final, post_norm=bool(post_norm),
        n_heads=n_heads, d_head=int(concat) // n_heads, d_ff=int(_down_weight(down[0]).shape[0]),
        wo_name=wo_name, down_name=down_name,
    )


def _is_linear(module: Any) -> bool:
    import torch

    return isinstance(module, torch.nn.Linear)


# --------------------------------------------------------------------------------------- normalisation
@dataclass(frozen=True)
class NormMap:
    """One normalisation as the run applied it at one position: y = scale·γ⊙(x − mean(x)) + β, the mean
    subtracted only by a LayerNorm (``center``); RMSNorm has no mean and no β. ``scale`` = 1/√(var(x) + eps),
    var = mean((x − mean)²) (LayerNorm) or mean(x²) (RMSNorm), from the x the model normalised."""

    scale: float
    gamma: np.ndarray  # [d]
    beta: np.ndarray | None  # [d]
    center: bool

    def linear(self, v: np.ndarray) -> np.ndarray:
        """[..., d] -> [..., d]: what v contributes to y (y = linear(x) + beta, and linear adds over parts)."""
        v = np.asarray(v, dtype=np.float64)
        if self.center:
            v = v - v.mean(axis=-1, keepdims=True)
        return self.scale * self.gamma * v


def _norm_map(module: Any, x: np.ndarray, y: np.ndarray, what: str) -> NormMap:
    """The NormMap of ``module`` for input row x [d], checked against the row y [d] the module returned."""
    name = type(module).__name__
    center = "RMSNorm" not in name and "rmsnorm" not in name.lower()
    eps = getattr(module, "variance_epsilon", None)
    if eps is None:
        eps = getattr(module, "eps", None)
    weight = getattr(module, "weight", None)
    if eps is None or weight is None:
        raise BlockError(N_("The normalisation {what} ({module}) is not one this page knows."), what=what, module=name)
    x64 = np.asarray(x, dtype=np.float64)
    centred = x64 - x64.mean() if center else x64
    scale = 1.0 / np.sqrt(np.mean(centred ** 2) + float(eps))
    bias = getattr(module, "bias", None)
    nm = NormMap(scale=float(scale), gamma=weight.detach().double().numpy().copy(),
                 beta=None if bias is None else bias.detach().double().numpy().copy(), center=center)
    again = nm.linear(x64) + (0.0 if nm.beta is None else nm.beta)
    if np.abs(again - y).max() > 1e-3 * max(1.0, float(np.abs(y).max())):
        raise BlockError(N_("The normalisation {what} ({module}) does not compute what this page assumes."),
                         what=what, module=name)
    return nm


# ------------------------------------------------------------------------------------------ one run
@dataclass(frozen=True)
class BlockRun:
    """One forward pass of a text with everything the page reads at ONE position. Sub-layer j: 2l is block l's
    attention, 2l + 1 its MLP (l 0-based). float32 = as the model computed it; float64 = our arithmetic."""

    model_id: str
    ids: np.ndarray  # [T'] the ids this run read (a decoder: tokens 0..position; an encoder: the whole text)
    position: int  # the chosen position, an index into ids (a decoder's: the last one)
    causal: bool  # a decoder: the causal mask, so tokens after the position do not matter
    post_norm: bool
    has_head: bool  # a next-token head: the target is a logit; otherwise the final vector · an embedding row
    stream: np.ndarray  # [2L+1, d] float32: the embeddings (what block 1 reads), then after every sub-layer
    writes: np.ndarray  # [2L, d] float32: what each sub-layer added (attention: W^O's output with its bias)
    heads: np.ndarray  # [L, H, d] float64: what each head wrote (its output × its d_head rows of W^O)
    attn_bias: np.ndarray | None  # [L, d] W^O's bias (GPT-2, BERT), None when it has none (Llama)
    acts: np.ndarray  # [L, d_ff] float32: the MLP's neurons after the gate/GELU (the down projection's input)
    head_means: np.ndarray  # [L, H*dh] float32: the mean over the run's positions of W^O's input (mean ablation)
    mlp_means: np.ndarray  # [L, d] float32: the mean over the run's positions of each MLP's write
    norms: tuple  # NormMaps: pre-norm (final,); post-norm one after each sub-layer (2L)
    parts: np.ndarray  # [n, d] float64: each part's direct contribution to the final vector
    part_keys: tuple  # ("embeddings",) | ("head", l, h) | ("attn_bias", l) | ("mlp", l) | ("norm_bias", j | -1)
    final: np.ndarray  # [d] float32: the model's own final vector at the position (what the unembedding reads)
    logits: np.ndarray | None  # [V] float32: the model's own logits at the position (models with a head)
    last_hidden: np.ndarray | None  # [T, d] float32: encoders, the final vector of every position
    check: float  # max |sum of parts − final| (float64 arithmetic on float32 captures)
    d_head: int = 0
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def n_layers(self) -> int:
        return self.heads.shape[0]

    @property
    def n_heads(self) -> int:
        return self.heads.shape[1]

    def path(self, sublayer: int) -> tuple:
        """The NormMaps a write of ``sublayer`` (-1: the embeddings) passes through on its way to the final vector."""
        if not self.post_norm:
            return self.norms
        return self.norms[max(sublayer, 0):]

    def direct(self, vectors: np.ndarray, sublayer: int) -> np.ndarray:
        """[..., d] written by ``sublayer`` -> [..., d] their direct contribution to the final vector (each
        normalisation after it applied with its scale from this run, without its β)."""
        v = np.asarray(vectors, dtype=np.float64)
        for nm in self.path(sublayer):
            v = nm.linear(v)
        return v


def _row(t: Any, q: int) -> np.ndarray:
    return t[0, q].detach().float().numpy().copy()


def capture(lm: Any, ids: np.ndarray, position: int) -> BlockRun:
    """One forward pass over ``ids`` (a trace's ids) with hooks on every block, kept at ``position``."""
    import torch

    model = lm.model
    an = anatomy(model)
    ids = np.asarray(ids, dtype=np.int64)
    if not 0 <= int(position) < len(ids):
        raise BlockError(N_("Position {position} is not in the text (it has {n} tokens)."), position=position,
                         n=len(ids))
    causal = lm.spec.family == "decoder"
    has_head = lm.spec.head == "causal-lm"
    run_ids = ids[: int(position) + 1] if causal else ids  # the causal mask: later tokens change nothing here
    q = int(position)
    L = an.n_layers
    got: dict = {}

    def keep_in(key, means: bool = False):
        def hook(_m, args, kwargs=None):
            x = first_input(args, kwargs)
            got[key] = _row(x, q)
            if means:
                got[key + ("mean",)] = x[0].detach().float().mean(0).numpy()
        return hook

    def keep_out(key, means: bool = False, whole: bool = False):
        def hook(_m, _args, output):
            y = first_output(output)
            got[key] = _row(y, q)
            if means:
                got[key + ("mean",)] = y[0].detach().float().mean(0).numpy()
            if whole:
                got[key + ("whole",)] = y[0].detach().float().numpy().copy()
        return hook

    hooks = []
    for l in range(L):
        hooks += [(an.layers[l], "pre_kwargs", keep_in(("in", l))),
                  (an.layers[l], "post", keep_out(("out", l), whole=(l == L - 1 and not causal))),
                  (an.wo[l], "pre", keep_in(("head_in", l), means=True)),
                  (an.wo[l], "post", keep_out(("attn", l))),
                  (an.down[l], "pre", keep_in(("acts", l))),
                  (an.down[l], "post", keep_out(("mlp", l), means=True))]
        if an.post_norm:
            hooks += [(an.mid[l], "pre", keep_in(("mid_in", l))), (an.mid[l], "post", keep_out(("mid", l))),
                      (an.out_norm[l], "pre", keep_in(("out_in", l)))]
        else:
            hooks.append((an.mid[l], "pre", keep_in(("mid", l))))
    if an.final_norm is not None:
        hooks += [(an.final_norm, "pre", keep_in(("final_in",))), (an.final_norm, "post", keep_out(("final",)))]
    x = torch.from_numpy(np.array(run_ids))[None]  # a copy: trace arrays are read-only
    kwargs: dict[str, Any] = {"attention_mask": torch.ones_like(x)}
    if has_head:
        kwargs.update(use_cache=False, logits_to_keep=1)
    with lm.lock, torch.inference_mode():
        with hooked(hooks):
            out = model(input_ids=x, **kwargs)
        logits = out.logits[0, -1].float().numpy().copy() if has_head else None
        projections = [_projection(an, l) for l in range(L)]
        readout_gap = None
        if has_head and an.final_norm is not None:  # the unembedding reads exactly the final norm's output
            again = model.get_output_embeddings()(torch.from_numpy(got[("final",)])[None])[0].numpy()
            readout_gap = float(np.abs(again - logits).max())

    H, dh = an.n_heads, an.d_head
    stream = [got[("in", 0)]]
    writes = []
    for l in range(L):
        stream += [got[("mid", l)], got[("out", l)]]
        writes += [got[("attn", l)], got[("mlp", l)]]
    stream, writes = np.stack(stream), np.stack(writes)  # [2L+1, d], [2L, d]
    scale = max(1.0, float(np.abs(stream).max()))
    if an.post_norm:  # each norm read the stream plus the sub-layer's write
        for l in range(L):
            for key, before, write in ((("mid_in", l), stream[2 * l], writes[2 * l]),
                                       (("out_in", l), stream[2 * l + 1], writes[2 * l + 1])):
                if np.abs(got[key] - (before + write)).max() > 1e-4 * scale:
                    raise _layout_error(model)
    else:  # the stream itself is the running sum
        if np.abs(stream[1:] - (stream[:-1] + writes)).max() > 1e-4 * scale:
            raise _layout_error(model)
    if readout_gap is not None and readout_gap > 1e-3 * max(1.0, float(np.abs(logits).max())):
        raise BlockError(N_("{model} does something between its final normalisation and its logits that this "
                            "page cannot split."), model=type(model).__name__)

    heads = np.stack([head_contributions(got[("head_in", l)].reshape(H, 1, dh), projections[l])[:, 0]
                      for l in range(L)])  # [L, H, d]
    has_bias = projections[0].bias is not None
    attn_bias = np.stack([p.bias for p in projections]).astype(np.float64) if has_bias else None
    written = heads.sum(1) + (attn_bias if has_bias else 0.0)  # [L, d] = W^O's output, up to rounding
    if np.abs(written - writes[0::2]).max() > 1e-3 * max(1.0, float(np.abs(writes).max())):
        raise BlockError(N_("The heads of {model} do not add up to its attention output as this page assumes."),
                         model=type(model).__name__)

    if an.post_norm:
        norms = []
        for l in range(L):
            norms.append(_norm_map(an.mid[l], got[("mid_in", l)], got[("mid", l)], f"mid {number(l)}"))
            norms.append(_norm_map(an.out_norm[l], got[("out_in", l)], got[("out", l)], f"out {number(l)}"))
        norms = tuple(norms)
        final = got[("out", L - 1)]
    else:
        norms = (_norm_map(an.final_norm, got[("final_in",)], got[("final",)], "final"),)
        final = got[("final",)]

    run = BlockRun(
        model_id=lm.spec.id, ids=run_ids, position=q, causal=causal, post_norm=an.post_norm, has_head=has_head,
        stream=stream, writes=writes, heads=heads, attn_bias=attn_bias,
        acts=np.stack([got[("acts", l)] for l in range(L)]),
        head_means=np.stack([got[("head_in", l, "mean")] for l in range(L)]),
        mlp_means=np.stack([got[("mlp", l, "mean")] for l in range(L)]),
        norms=norms, parts=np.zeros((0, stream.shape[1])), part_keys=(), final=final, logits=logits,
        last_hidden=got.get(("out", L - 1, "whole")), check=0.0, d_head=dh,
    )
    parts, keys = _parts(run)
    check = float(np.abs(parts.sum(0) - final).max())
    if check > 1e-3 * max(1.0, float(np.abs(final).max())):
        raise BlockError(N_("The parts of {model}'s final vector do not add up to it."), model=type(model).__name__)
    object.__setattr__(run, "parts", parts)
    object.__setattr__(run, "part_keys", keys)
    object.__setattr__(run, "check", check)
    for name in ("stream", "writes", "heads", "acts", "head_means", "mlp_means", "parts", "final", "ids"):
        getattr(run, name).setflags(write=False)
    return run


def _projection(an: Anatomy, layer: int) -> OutputProjection:
    """W^O of block ``layer`` as models.attention's OutputProjection (``output = concat @ weight + bias``), its
    weight a view of the module's own (no copy): what head_contributions splits into the heads' rows."""
    module = an.wo[layer]
    w = module.weight.detach().numpy()
    bias = getattr(module, "bias", None)
    return OutputProjection(name=an.wo_name, weight=w.T if _is_linear(module) else w,
                            bias=None if bias is None else bias.detach().numpy(), post_norm=an.post_norm)


def _layout_error(model: Any) -> BlockError:
    return BlockError(N_("The residual stream of {model} is not the sum of its sub-layers' writes as this page "
                         "assumes."), model=type(model).__name__)


def _parts(run: BlockRun) -> tuple[np.ndarray, tuple]:
    """Every part's direct contribution to the final vector: [n, d] float64 and the key of each row."""
    L, H = run.n_layers, run.n_heads
    rows, keys = [run.direct(run.stream[0], -1)], [("embeddings",)]
    for l in range(L):
        heads = run.direct(run.heads[l], 2 * l)  # [H, d]
        rows += list(heads)
        keys += [("head", l, h) for h in range(H)]
        if run.attn_bias is not None:
            rows.append(run.direct(run.attn_bias[l], 2 * l))
            keys.append(("attn_bias", l))
        rows.append(run.direct(run.writes[2 * l + 1], 2 * l + 1))
        keys.append(("mlp", l))
    for j, nm in enumerate(run.norms):  # each β, through the normalisations after it
        if nm.beta is not None:
            rows.append(run.direct(nm.beta, j + 1) if run.post_norm else nm.beta.copy())
            keys.append(("norm_bias", j if run.post_norm else -1))
    return np.stack(rows), tuple(keys)


# ------------------------------------------------------------------------------ direct contributions
@dataclass(frozen=True)
class Attribution:
    """How much each part pushed the target's logit (or, without a head, its score) up or down."""

    target: int
    embeddings: float
    heads: np.ndarray  # [L, H]
    attn_bias: np.ndarray | None  # [L]
    mlps: np.ndarray  # [L]
    bias: float  # the normalisations' β and the unembedding's bias for this token
    model_value: float  # the model's own logit (or the final vector · the embedding row)

    @property
    def total(self) -> float:
        attn_bias = 0.0 if self.attn_bias is None else float(self.attn_bias.sum())
        return float(self.embeddings + self.heads.sum() + attn_bias + self.mlps.sum() + self.bias)

    @property
    def attention(self) -> np.ndarray:
        """[L] each attention layer: its heads plus W^O's bias."""
        return self.heads.sum(1) + (0.0 if self.attn_bias is None else self.attn_bias)


def readout_row(lm: Any, token: int) -> tuple[np.ndarray, float]:
    """(row [d], bias) that turns a final vector into the target's number: the unembedding row and bias (models
    with a next-token head), else the token's input-embedding row (no bias)."""
    import torch

    if lm.spec.head == "causal-lm":
        module = lm.model.get_output_embeddings()
        row = module.weight[int(token)].detach().double().numpy()
        bias = getattr(module, "bias", None)
        return row, 0.0 if bias is None else float(bias[int(token)])
    with torch.inference_mode():  # the embedding's forward directly: no hook of another session fires
        row = lm.model.get_input_embeddings().forward(torch.tensor([int(token)]))[0].double().numpy()
    return row, 0.0


def attribute(lm: Any, run: BlockRun, token: int) -> Attribution:
    """Direct contribution of every part to the target ``token`` at the run's position."""
    L, H = run.n_layers, run.n_heads
    row, out_bias = readout_row(lm, token)
    values = run.parts @ row  # [n]
    heads = np.zeros((L, H))
    attn_bias = np.zeros(L) if run.attn_bias is not None else None
    mlps = np.zeros(L)
    embeddings = bias = 0.0
    for key, v in zip(run.part_keys, values):
        kind = key[0]
        if kind == "embeddings":
            embeddings = float(v)
        elif kind == "head":
            heads[key[1], key[2]] = v
        elif kind == "attn_bias":
            attn_bias[key[1]] = v
        elif kind == "mlp":
            mlps[key[1]] = v
        else:
            bias += float(v)
    if run.has_head:
        model_value = float(run.logits[int(token)])
    else:
        model_value = float(np.asarray(run.final, np.float64) @ row)
    return Attribution(target=int(token), embeddings=embeddings, heads=heads, attn_bias=attn_bias, mlps=mlps,
                       bias=bias + out_bias, model_value=model_value)


def token_of(lm: Any, text: str) -> int:
    """The vocabulary id of a target written as text: text that the tokenizer turns into exactly one token
    (" Paris"), or a vocabulary string as the tokenizer lists it ("ĠParis", "##ing"). BlockError otherwise."""
    tok = lm.tokenizer
    with lm.tokenizer_lock:
        ids = tok(text, add_special_tokens=False).input_ids
        if len(ids) == 1:
            return int(ids[0])
        vocab = tok.get_vocab()
    if text in vocab:
        return int(vocab[text])
    if not text.strip():
        raise BlockError(N_("the target is empty"))
    raise BlockError(N_("it is {n} tokens for this model, not one"), n=len(ids))


def target_text(lm: Any, token: int) -> str:
    """How a target id is written (in the URL, in the box): its text when that text is this one token again,
    else its vocabulary string (a byte piece, a special token)."""
    with lm.tokenizer_lock:
        text = lm.tokenizer.decode([int(token)])
        raw = lm.tokenizer.convert_ids_to_tokens(int(token))
    try:
        if token_of(lm, text) == int(token):
            return text
    except BlockError:
        pass
    return raw


def default_target(lm: Any, run: BlockRun) -> int:
    """The model's top next token (models with a head), else the token at the position."""
    if run.has_head:
        return int(np.argmax(run.logits))
    return int(run.ids[run.position])


# ------------------------------------------------------------------------------------------ ablation
@dataclass(frozen=True, order=True)
class Component:
    """A head (kind "a", head index) or an MLP (kind "m") of block ``layer``; indices 0-based."""

    layer: int
    kind: str
    head: int = -1

    @property
    def label(self) -> str:
        """As the URL and the page write it: "a3.2" (layer 3, head 2) or "m5" (the MLP of layer 5)."""
        if self.kind == "a":
            return f"a{number(self.layer)}.{number(self.head)}"
        return f"m{number(self.layer)}"


_ITEM = re.compile(r"(a)([0-9]{1,4})(?:\.([0-9]{1,4}))?|(m)([0-9]{1,4})")


def parse_components(value: str, n_layers: int, n_heads: int) -> tuple[Component, ...]:
    """``"a3.2,m5"`` -> the components (sorted, no repeats); ``a4`` = every head of layer 4. Layers 1..L and heads
    1..H as shown on the page. A bad item raises BlockError naming it (a ValueError)."""
    out: set[Component] = set()
    for n, raw in enumerate(str(value).split(","), start=1):
        item = raw.strip()
        if not item:
            continue
        m = _ITEM.fullmatch(item)
        if not m:
            # the reason is shown in Markdown: only a plain item is quoted back, anything else by its place
            shown = item if re.fullmatch(r"[A-Za-z0-9.]{1,12}", item) else _item_number(n)
            raise BlockError(N_("{item} is not a component: write a3.2 for layer 3, head 2, a3 for all heads of "
                                "layer 3, m5 for the MLP of layer 5"), item=shown)
        layer = int(m.group(2) or m.group(5))
        if not 1 <= layer <= n_layers:
            raise BlockError(N_("{item}: layers go from 1 to {n}"), item=item, n=n_layers)
        if m.group(4):
            out.add(Component(shown_index(layer), "m"))
        elif m.group(3) is None:
            out.update(Component(shown_index(layer), "a", h) for h in range(n_heads))
        else:
            head = int(m.group(3))
            if not 1 <= head <= n_heads:
                raise BlockError(N_("{item}: heads go from 1 to {n}"), item=item, n=n_heads)
            out.add(Component(shown_index(layer), "a", shown_index(head)))
    return tuple(sorted(out))


def _item_number(n: int) -> str:
    return i18n._("item {n}").format(n=n)


def format_components(components, n_heads: int) -> str:
    """The URL form: sorted, a layer whose every head is off written "a4"."""
    comps = sorted(set(components))
    items = []
    for layer in sorted({c.layer for c in comps}):
        heads = [c for c in comps if c.layer == layer and c.kind == "a"]
        if heads and len(heads) == n_heads and n_heads > 1:
            items.append(f"a{number(layer)}")
        else:
            items += [c.label for c in heads]
        items += [c.label for c in comps if c.layer == layer and c.kind == "m"]
    return ",".join(items)


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"ablation mode must be one of {MODES}, not {mode!r}")


def _ablation_hooks(an: Anatomy, run: BlockRun, components, mode: str, rows: list | None = None) -> list:
    """Hooks that switch ``components`` off: W^O's input columns of a head, the down projection's output of an
    MLP, replaced with zeros or with the run's means. ``rows``: with a batch, component i is switched off in
    batch row i only (the batched ranking); None: in every row."""
    import torch

    dh = an.d_head
    by_layer: dict[int, list] = {}
    for i, c in enumerate(components):
        by_layer.setdefault(c.layer, []).append((None if rows is None else rows[i], c))
    hooks = []
    for layer, items in by_layer.items():
        heads = [(r, c.head) for r, c in items if c.kind == "a"]
        mlp = [r for r, c in items if c.kind == "m"]
        if heads:
            means = torch.from_numpy(np.array(run.head_means[layer], np.float32))

            def pre(_m, args, heads=heads, means=means):
                x = args[0].clone()  # [B, T, H*dh]: the heads side by side
                for r, h in heads:
                    cols = slice(h * dh, (h + 1) * dh)
                    part = x[..., cols] if r is None else x[r, :, cols]
                    if mode == "zero":
                        part.zero_()
                    else:
                        part.copy_(means[cols].expand_as(part))
                return (x, *args[1:])

            hooks.append((an.wo[layer], "pre", pre))
        if mlp:
            mean = torch.from_numpy(np.array(run.mlp_means[layer], np.float32))

            def post(_m, _args, output, mlp=mlp, mean=mean):
                y = output.clone()  # [B, T, d]: what the MLP writes
                for r in mlp:
                    part = y if r is None else y[r]
                    if mode == "zero":
                        part.zero_()
                    else:
                        part.copy_(mean.expand_as(part))
                return y

            hooks.append((an.down[layer], "post", post))
    return hooks


@dataclass(frozen=True)
class Ablated:
    """The run with some components switched off, at the same position."""

    components: tuple
    mode: str
    final: np.ndarray  # [d] the final vector at the position
    logits: np.ndarray | None  # [V] models with a head
    last_hidden: np.ndarray | None  # [T, d] encoders: every position's final vector


def ablate(lm: Any, run: BlockRun, components, mode: str = "zero") -> Ablated:
    """The same forward pass as ``run`` with ``components`` switched off (zeros, or the run's means)."""
    import torch

    _check_mode(mode)
    an = anatomy(lm.model)
    components = tuple(sorted(set(components)))
    x = torch.from_numpy(np.array(run.ids))[None]
    kwargs: dict[str, Any] = {"attention_mask": torch.ones_like(x)}
    if run.has_head:
        kwargs.update(use_cache=False, logits_to_keep=1)
    got: dict = {}

    def keep(_m, _args, output):
        got["final"] = first_output(output)[0].detach().float().numpy().copy()

    last = an.final_norm if an.final_norm is not None else an.layers[-1]
    with lm.lock, torch.inference_mode(), hooked(_ablation_hooks(an, run, components, mode) + [(last, "post", keep)]):
        out = lm.model(input_ids=x, **kwargs)
    logits = out.logits[0, -1].float().numpy().copy() if run.has_head else None
    whole = got["final"]  # [T', d]
    return Ablated(components=components, mode=mode, final=whole[run.position], logits=logits,
                   last_hidden=None if run.causal else whole)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine of the last axis (float64)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-30)


# ------------------------------------------------------------------------------- the batched ranking
@dataclass(frozen=True)
class Ranking:
    """Every single-head and single-MLP ablation at once. Models with a head: the target's probability after
    each; encoders: the cosine between the position's final vector with and without it."""

    mode: str
    target: int
    heads: np.ndarray  # [L, H]
    mlps: np.ndarray  # [L]
    baseline: float  # the value with nothing switched off (probability; 1.0 for the cosine)
    metric: str  # "probability" | "cosine"
    seconds: float = 0.0  # how long the batched runs took (wall clock)

    @property
    def head_drop(self) -> np.ndarray:
        return self.baseline - self.heads

    @property
    def mlp_drop(self) -> np.ndarray:
        return self.baseline - self.mlps

    def top(self, n: int = 10) -> list[tuple[Component, float]]:
        """The n components whose ablation lowers the value most (largest drop first)."""
        L, H = self.heads.shape
        items = [(Component(l, "a", h), float(self.head_drop[l, h])) for l in range(L) for h in range(H)]
        items += [(Component(l, "m"), float(self.mlp_drop[l])) for l in range(L)]
        return sorted(items, key=lambda kv: (-kv[1], kv[0]))[:n]


RANK_TOKEN_ROWS = 6144  # rows × tokens in one batch of the ranking: bounds its memory (a 512-token text: 1 block)


def rank_single(lm: Any, run: BlockRun, target: int, mode: str = "zero") -> Ranking:
    """Switch off every head and every MLP, one at a time, batched. What block l's ablations change starts at
    block l, so the ordinary run is recorded once (each block's input and arguments), and each ablated row starts
    from the recorded input of its own block: block l gets H + 1 new rows (row h: head h off, the last row: the
    MLP off), which then run through blocks l+1..L with the rows of the blocks before it, in one growing batch
    (as many blocks per batch as RANK_TOKEN_ROWS allows)."""
    import time

    import torch

    t0 = time.perf_counter()
    _check_mode(mode)
    an = anatomy(lm.model)
    L, H = an.n_layers, an.n_heads
    x = torch.from_numpy(np.array(run.ids))[None]
    kwargs: dict[str, Any] = {"attention_mask": torch.ones_like(x)}
    if run.has_head:
        kwargs.update(use_cache=False, logits_to_keep=1)
    calls: dict[int, tuple] = {}

    def record(l):
        def hook(_m, args, kw):
            rest = {k: v for k, v in kw.items() if k != "hidden_states"}
            calls[l] = (first_input(args, kw), args[1:], rest)
        return hook

    q = run.position
    target = int(target)
    per = H + 1  # rows per block: its H heads, then its MLP
    values = np.zeros((L, per))
    if run.has_head:
        unembed = lm.model.get_output_embeddings()
    else:
        clean = torch.from_numpy(np.array(run.final, np.float32))  # a copy: run arrays are read-only
    group = max(1, RANK_TOKEN_ROWS // (per * len(run.ids)))
    # lm.lock is taken for each block's step, not for the whole ranking: another session's forward pass can run
    # between two steps instead of waiting seconds (while any module of the model runs, no other hooks may be on it)
    with torch.inference_mode():
        with lm.lock, hooked([(an.layers[l], "pre_kwargs", record(l)) for l in range(L)]):
            lm.model(input_ids=x, **kwargs)
        for first in range(0, L, group):
            starts = range(first, min(L, first + group))  # the blocks whose rows join this batch
            h = None  # [rows, T', d]
            for k in range(first, L):
                hidden, args, kw = calls[k]
                hooks = []
                if k in starts:  # block k's rows join, from its recorded input, with one part of block k off
                    fresh = hidden.expand(per, *hidden.shape[1:])
                    h = fresh.contiguous() if h is None else torch.cat([h, fresh])
                    rows = list(range(h.shape[0] - per, h.shape[0]))
                    comps = [Component(k, "a", i) for i in range(H)] + [Component(k, "m")]
                    hooks = _ablation_hooks(an, run, comps, mode, rows=rows)
                with lm.lock, hooked(hooks):
                    h = first_output(an.layers[k](h, *args, **kw))
            if run.has_head:
                with lm.lock:
                    logits = unembed(an.final_norm(h[:, q]))  # [rows, V]
                value = torch.softmax(logits.float(), dim=-1)[:, target]
            else:
                value = torch.nn.functional.cosine_similarity(h[:, q].double(), clean[None].double(), dim=-1)
            values[first:first + len(starts)] = value.numpy().reshape(len(starts), per)
    if run.has_head:
        baseline = float(torch.softmax(torch.from_numpy(np.array(run.logits)), -1)[target])
        metric = "probability"
    else:
        baseline, metric = 1.0, "cosine"
    return Ranking(mode=mode, target=target, heads=values[:, :H].copy(), mlps=values[:, H].copy(), baseline=baseline,
                   metric=metric, seconds=time.perf_counter() - t0)


# --------------------------------------------------------------------------------------- the MLP's neurons
@dataclass(frozen=True)
class Neuron:
    """One neuron of an MLP at one position: its activation and what its write does to the tokens' logits
    (the direct path, through the normalisations of this run)."""

    index: int  # 0-based, in the MLP's hidden layer (d_ff of them)
    activation: float
    up_ids: np.ndarray  # [k] the tokens whose logit (score) its write here raises most
    up_values: np.ndarray  # [k] by how much
    down_ids: np.ndarray  # [k] the tokens it lowers most
    down_values: np.ndarray  # [k]


def neuron_directions(lm: Any, layer: int) -> np.ndarray:
    """[d_ff, d] row i: what neuron i of block ``layer``'s MLP adds to the stream per unit of activation."""
    return _down_weight(anatomy(lm.model).down[layer])


def neuron_effects(lm: Any, run: BlockRun, layer: int, neurons) -> np.ndarray:
    """[n, V] each neuron's direct effect on every token's logit (score) per unit of activation: its output
    direction through the normalisations after it, read by the unembedding (without its bias), or, for a model
    without a head, by the input-embedding rows."""
    import torch

    directions = neuron_directions(lm, layer)[np.asarray(neurons, dtype=np.int64)]  # [n, d]
    direct = torch.from_numpy(run.direct(directions, 2 * layer + 1).astype(np.float32))  # [n, d]
    with torch.inference_mode():
        if run.has_head:
            with lm.lock:  # a module call: no other session's hooks may be on it meanwhile
                unembed = lm.model.get_output_embeddings()
                effects = unembed(direct) - unembed(torch.zeros_like(direct[:1]))  # the bias is nobody's
        else:
            effects = torch.nn.functional.linear(direct, lm.model.get_input_embeddings().weight)
    return effects.numpy()


def top_neurons(lm: Any, run: BlockRun, layer: int, n: int = 8, k: int = 5) -> list[Neuron]:
    """The n neurons of block ``layer``'s MLP with the largest |activation| at the run's position, each with the
    (up to) k tokens its write (activation × direction) raises most and the k it lowers most."""
    acts = np.asarray(run.acts[layer], dtype=np.float64)
    order = np.argsort(-np.abs(acts), kind="stable")[:n]
    effects = neuron_effects(lm, run, layer, order).astype(np.float64) * acts[order, None]  # [n, V]
    out = []
    for i, row in zip(order, effects):
        # only real raises and real drops: a write can raise nearly every logit, and then its "lowest" tokens
        # still go up
        up = np.array([t for t in np.argsort(-row, kind="stable")[:k] if row[t] > 0], dtype=np.int64)
        down = np.array([t for t in np.argsort(row, kind="stable")[:k] if row[t] < 0], dtype=np.int64)
        out.append(Neuron(index=int(i), activation=float(acts[i]), up_ids=up, up_values=row[up], down_ids=down,
                          down_values=row[down]))
    return out


_MLP_PREFIXES = ("mlp.", "intermediate.", "output.dense.", "ffn.")


def mlp_share(model: Any, layer: int = 0) -> tuple[int, int]:
    """(MLP parameters, all parameters) of block ``layer``, counted from the block's own named_parameters()."""
    block = anatomy(model).layers[layer]
    mlp = total = 0
    for name, p in block.named_parameters():
        total += p.numel()
        if name.startswith(_MLP_PREFIXES):
            mlp += p.numel()
    return mlp, total


def activation(model: Any) -> tuple[str, bool]:
    """(the MLP's non-linearity as the config names it, e.g. "silu" / "gelu_new", gated: act(gate(x)) × up(x))."""
    c = model.config
    name = getattr(c, "hidden_act", None) or getattr(c, "activation_function", None) or \
        getattr(c, "activation", None) or "?"
    block = anatomy(model).layers[0]
    gated = _find(block, ("mlp.gate_proj",))[1] is not None
    return str(name), gated


def nbytes(value: Any) -> int:
    """Bytes of the numpy arrays a result holds (for the cache's budget)."""
    total = 0
    for v in vars(value).values():
        if isinstance(v, np.ndarray):
            total += v.nbytes
        elif isinstance(v, tuple):
            total += sum(getattr(x, "gamma", np.zeros(0)).nbytes * 2 for x in v)
    return total + 1024
