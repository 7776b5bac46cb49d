"""Where a model's parameters are: every parameter of the model, counted once, sorted into the parts a reader
meets on the path of a token (embeddings, blocks: attention / MLP / norms, final norm, output head).

The count walks ``model.named_parameters()``, which yields each ``nn.Parameter`` once: a weight tied between the
input embedding and the output head is ONE tensor, counted once, exactly as ``sum(p.numel() for p in
model.parameters())`` does. Whether the head is tied is checked on the tensors themselves (the same object, or
the same storage), never read from the config (``tie_word_embeddings`` is true in MiniLM's config, which has no
head at all).

The parameters counted here are the model's as transformers built it (tests check this against a stock
``from_pretrained`` load of the same files).

The reference rows (GPT-3, BERT-base) are counted the same way on stock transformers modules built on PyTorch's
``meta`` device: shapes only, no memory, no download.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

# Parts in the order a token meets them. The keys are stable English words (tests and exports use them);
# pages translate them for display.
EMBEDDING = "token embedding"
POSITION = "position embedding"
TOKEN_TYPE = "token-type embedding"
EMBEDDING_NORM = "embedding norm"
ATTENTION = "attention"
MLP = "MLP"
BLOCK_NORMS = "block norms"
BLOCK_OTHER = "block, other"
FINAL_NORM = "final norm"
POOLER = "pooler"
HEAD = "output head"
OTHER = "other"
ORDER = (EMBEDDING, POSITION, TOKEN_TYPE, EMBEDDING_NORM, ATTENTION, MLP, BLOCK_NORMS, BLOCK_OTHER, FINAL_NORM,
         POOLER, HEAD, OTHER)
BLOCK_PARTS = (ATTENTION, MLP, BLOCK_NORMS, BLOCK_OTHER)

# Names (lower-case path pieces) of a block's sub-modules: Llama self_attn / mlp, BERT attention.* /
# intermediate / output, GPT-2 attn / mlp, DistilBERT attention / ffn. BERT's attention.output.dense (W^O) is
# attention: "attention" is tested first.
_ATTENTION_WORDS = ("attn", "attention")
_MLP_WORDS = ("mlp", "ffn", "feed_forward", "intermediate", "output", "fc")


@dataclass(frozen=True)
class Part:
    key: str  # one of ORDER
    count: int  # parameters (a tied tensor once)
    names: tuple[str, ...]  # the parameter names, as named_parameters() gives them
    shape: tuple[int, ...] | None = None  # the tensor's shape when the part is one tensor (an embedding table)


@dataclass(frozen=True)
class ParamCount:
    """All parameters of one model, by part. ``parts`` partition ``model.parameters()``: their counts add up to
    ``total``."""

    total: int
    parts: tuple[Part, ...]  # non-empty parts, in ORDER
    n_blocks: int
    blocks: tuple[dict[str, int], ...]  # per block (block l = blocks[l - 1]): {ATTENTION: n, MLP: n, ...}
    has_head: bool  # the model has an output projection onto the vocabulary
    tied: bool  # ... and its weight IS the input embedding tensor (counted once, in EMBEDDING)
    head_weight: int  # elements of the output projection's weight (0 without a head)
    vocab_size: int  # rows of the input embedding
    d_model: int  # columns of the input embedding

    def count(self, key: str) -> int:
        return sum(p.count for p in self.parts if p.key == key)

    def part(self, key: str) -> Part | None:
        return next((p for p in self.parts if p.key == key), None)

    @property
    def block(self) -> dict[str, int]:
        """Block 1's split (the first block; see ``blocks_alike``)."""
        return self.blocks[0] if self.blocks else {}

    @property
    def block_total(self) -> int:
        return sum(self.block.values())

    @property
    def blocks_alike(self) -> bool:
        return all(b == self.block for b in self.blocks)

    @property
    def all_blocks(self) -> int:
        return sum(sum(b.values()) for b in self.blocks)

    def share(self, key: str) -> float:
        return self.count(key) / self.total if self.total else 0.0

    @property
    def mlp_share_of_block(self) -> float:
        return self.block.get(MLP, 0) / self.block_total if self.block_total else 0.0


def _is_norm(module: Any) -> bool:
    import torch

    return isinstance(module, (torch.nn.LayerNorm, torch.nn.GroupNorm)) or "norm" in type(module).__name__.lower()


def blocks_of(model: Any) -> tuple[str, Any] | None:
    """(name, ModuleList) of the stack of blocks: the ModuleList whose length is the config's layer count
    (the longest ModuleList if the config does not say)."""
    import torch

    c = model.config
    n = next((getattr(c, k) for k in ("num_hidden_layers", "n_layer", "n_layers") if getattr(c, k, None)), None)
    lists = [(name, m) for name, m in model.named_modules() if isinstance(m, torch.nn.ModuleList) and len(m)]
    if not lists:
        return None
    exact = [x for x in lists if len(x[1]) == n]
    return (exact or sorted(lists, key=lambda x: -len(x[1])))[0]


def block_part(path: str, owner: Any) -> str:
    """Which part of a block a parameter belongs to, from its owning module and its path inside the block."""
    if _is_norm(owner):
        return BLOCK_NORMS
    words = path.lower().split(".")
    if any(w in piece for piece in words for w in _ATTENTION_WORDS):
        return ATTENTION
    if any(w in piece for piece in words for w in _MLP_WORDS):
        return MLP
    return BLOCK_OTHER


def _same_tensor(a: Any, b: Any) -> bool:
    """One tensor: the same Parameter object, or the same storage and shape (a meta tensor has no storage)."""
    if a is b:
        return True
    if a.device.type == "meta" or b.device.type == "meta":
        return False
    return a.data_ptr() == b.data_ptr() and a.shape == b.shape


def count_parameters(model: Any) -> ParamCount:
    """Every parameter of ``model`` (a transformers PreTrainedModel) sorted into its part, each tensor once."""
    import torch

    emb = model.get_input_embeddings().weight
    out = model.get_output_embeddings()
    out_w = getattr(out, "weight", None) if out is not None else None
    tied = out_w is not None and _same_tensor(out_w, emb)

    # the backbone's name inside the model: everything outside it is the task head (lm_head, cls.*, vocab_*)
    base = getattr(model, "base_model", model)
    base_prefix = next((name for name, m in model.named_modules() if m is base), "")

    found = blocks_of(model)
    block_of: dict[int, tuple[int, str]] = {}  # id(parameter) -> (block index, part)
    n_blocks = 0
    if found is not None:
        stack_name, stack = found
        n_blocks = len(stack)
        for i, block in enumerate(stack):
            for path, p in block.named_parameters():
                owner = block.get_submodule(path.rsplit(".", 1)[0]) if "." in path else block
                block_of.setdefault(id(p), (i, block_part(path, owner)))

    names: dict[str, list[str]] = {k: [] for k in ORDER}
    counts: dict[str, int] = {k: 0 for k in ORDER}
    shapes: dict[str, tuple[int, ...]] = {}
    blocks = [{k: 0 for k in BLOCK_PARTS} for _ in range(n_blocks)]
    for name, p in model.named_parameters():  # each Parameter once (remove_duplicate=True)
        owner = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
        lower = name.lower()
        if p is emb:
            key = EMBEDDING
            shapes[key] = tuple(p.shape)
        elif id(p) in block_of:
            i, key = block_of[id(p)]
            blocks[i][key] += p.numel()
        elif base_prefix and not name.startswith(base_prefix + "."):
            key = HEAD
        elif isinstance(owner, torch.nn.Embedding):
            key = POSITION if ("position" in lower or lower.endswith("wpe.weight")) else \
                TOKEN_TYPE if "token_type" in lower else OTHER
            shapes.setdefault(key, tuple(p.shape))
        elif _is_norm(owner):
            key = EMBEDDING_NORM if "embed" in lower else FINAL_NORM
        elif "pooler" in lower:
            key = POOLER
        else:
            key = OTHER
        counts[key] += p.numel()
        names[key].append(name)

    parts = tuple(Part(k, counts[k], tuple(names[k]), shapes.get(k)) for k in ORDER if names[k])
    return ParamCount(
        total=sum(p.count for p in parts),
        parts=parts,
        n_blocks=n_blocks,
        blocks=tuple(blocks),
        has_head=out_w is not None,
        tied=bool(tied),
        head_weight=int(out_w.numel()) if out_w is not None else 0,
        vocab_size=int(emb.shape[0]),
        d_model=int(emb.shape[1]),
    )


# ------------------------------------------------------------------------------------- reference models
@dataclass(frozen=True)
class Reference:
    """A famous model's published figures, and the count of a stock transformers module of its shape."""

    name: str
    layers: int
    d_model: int
    heads: int
    vocab_size: int
    context: int
    published_total: int  # as the paper states it (rounded)
    source: str  # where the published figures come from
    built_as: str  # the transformers class the count was made on

    @property
    def embedding(self) -> int:
        """vocabulary × d_model: the token embedding matrix."""
        return self.vocab_size * self.d_model


GPT3 = Reference("GPT-3 175B", layers=96, d_model=12288, heads=96, vocab_size=50257, context=2048,
                 published_total=175_000_000_000, source="Brown et al. 2020",
                 built_as="GPT2LMHeadModel")
BERT_BASE = Reference("BERT-base", layers=12, d_model=768, heads=12, vocab_size=30522, context=512,
                      published_total=110_000_000, source="Devlin et al. 2019", built_as="BertModel")
REFERENCES = (GPT3, BERT_BASE)


def _meta_model(ref: Reference) -> Any:
    """A stock transformers module with the reference's sizes, on the meta device (no memory, no weights).
    GPT-3 is GPT-2's architecture at a larger size (its paper says so; its sparse attention layers change no
    parameter count); d_ff is 4 × d_model in both."""
    import torch
    from transformers import BertConfig, BertModel, GPT2Config, GPT2LMHeadModel

    with torch.device("meta"):
        if ref.built_as == "GPT2LMHeadModel":
            return GPT2LMHeadModel(GPT2Config(n_embd=ref.d_model, n_layer=ref.layers, n_head=ref.heads,
                                              n_positions=ref.context, vocab_size=ref.vocab_size))
        return BertModel(BertConfig(hidden_size=ref.d_model, num_hidden_layers=ref.layers,
                                    num_attention_heads=ref.heads, intermediate_size=4 * ref.d_model,
                                    max_position_embeddings=ref.context, vocab_size=ref.vocab_size))


@functools.lru_cache(maxsize=None)
def reference_count(ref: Reference) -> ParamCount:
    """``count_parameters`` of the reference's stock module (built once per process: ~0.2 s for GPT-3)."""
    return count_parameters(_meta_model(ref))
