"""BERT's input for two sentences, and its second training task: next-sentence prediction (NSP).

BERT was trained on pairs "[CLS] A [SEP] B [SEP]": every token also gets a SEGMENT (token type) id, 0 for
sentence A and 1 for sentence B, which selects a row of a learned segment-embedding table added to the token and
position embeddings. Its second task was to read the final [CLS] vector and say whether B is the sentence that
followed A in the book (IsNext) or a random one (NotNext).

Everything here is read from what is loaded, never from a model's name:
* the segment ids are the tokenizer's own (``tokenizer(a, b)``): DistilBERT's tokenizer returns none, and its
  model has no segment table;
* the NSP head is looked for in the checkpoint's own safetensors files (``cls.seq_relationship`` plus the
  pooler, as in ``BertForPreTraining``; the key names and the rule are models/checkpoint.py's, shared with the
  facts card): bert-base-uncased's weights have it although its config names
  ``BertForMaskedLM`` (which drops it when loading); the bundled all-MiniLM-L6-v2 has none. The app loads the
  model once with its usual head, so instead of a second copy of the whole encoder (+440 MB for BERT-base) we
  read just the four head tensors from the same files and apply them to the loaded encoder's [CLS] vector,
  exactly what ``BertForPreTraining`` computes (tested against it).
* no network: hub checkpoints are only inspected in the local Hugging Face cache.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from models.checkpoint import (
    NSP_BIAS,
    NSP_HEAD,
    NSP_WEIGHT,
    POOLER_BIAS,
    POOLER_WEIGHT,
    checkpoint_files,
    nsp_keys,
    read_headers,
)
from models.tokens import MAX_TOKENS, Encoding, PieceInfo, describe

IS_NEXT = 0  # label 0 of BERT's NSP head: B follows A (transformers' BertForNextSentencePrediction docs)


# ------------------------------------------------------------------------------------------ pair tokens
@dataclass(frozen=True)
class Pair:
    """Sentence A and sentence B as one input, cut and marked by the tokenizer itself."""

    a: str
    b: str
    ids: np.ndarray  # [T] int64
    segments: np.ndarray | None  # [T] token type ids from the tokenizer; None when it returns none
    sequence: list[int | None]  # [T] which sentence each token came from (0, 1) or None (added special token)
    pieces: list[PieceInfo]  # spans index into their own sentence (a for A's pieces, b for B's)
    n_total: int  # tokens before truncation

    @property
    def truncated(self) -> bool:
        return self.n_total > len(self.ids)


def encode_pair(tokenizer: Any, a: str, b: str, kind: str, max_tokens: int = MAX_TOKENS, lock: Any = None) -> Pair:
    """``tokenizer(a, b)``: the tokenizer's own pair template ([CLS] A [SEP] B [SEP] for BERT) and its token type
    ids; at most ``max_tokens`` (the longer sentence is cut first)."""
    import contextlib

    with lock or contextlib.nullcontext():
        n_total = len(tokenizer(a, b, truncation=False, verbose=False)["input_ids"])
        cut = {"truncation": "longest_first", "max_length": max_tokens} if n_total > max_tokens else {}
        enc = tokenizer(a, b, return_offsets_mapping=True, return_special_tokens_mask=True, **cut)
        sequence = list(enc.sequence_ids(0))
    ids = np.asarray(enc["input_ids"], dtype=np.int64)
    segments = np.asarray(enc["token_type_ids"], dtype=np.int64) if "token_type_ids" in enc else None
    offsets = np.asarray(enc["offset_mapping"], dtype=np.int64).reshape(-1, 2)
    # describe() reads a piece's characters from ONE text: give it "A\nB", with B's offsets shifted past A, then
    # put each B piece's span back into B's own coordinates.
    shift = len(a) + 1
    joined = offsets.copy()
    for i, s in enumerate(sequence):
        if s == 1:
            joined[i] += shift
    typed = set(getattr(tokenizer, "all_special_ids", [])) - {tokenizer.unk_token_id}
    special = np.asarray(enc["special_tokens_mask"], dtype=bool) | np.isin(ids, list(typed))
    pieces = describe(tokenizer, Encoding(ids, joined, special, n_total), f"{a}\n{b}", kind)
    pieces = [dataclasses.replace(p, span=(p.span[0] - shift, p.span[1] - shift)) if sequence[p.index] == 1 else p
              for p in pieces]
    return Pair(a=a, b=b, ids=ids, segments=segments, sequence=sequence, pieces=pieces, n_total=n_total)


@dataclass(frozen=True)
class Segments:
    """What the loaded model does with segment ids."""

    tokenizer_gives: bool  # does tokenizer(a, b) return token_type_ids?
    table_rows: int | None  # rows of the model's segment-embedding table (config.type_vocab_size); None: no table


def segment_support(model: Any, tokenizer: Any) -> Segments:
    """From the loaded model's config and embeddings module, and the tokenizer's declared inputs."""
    rows = getattr(model.config, "type_vocab_size", None)
    emb = getattr(getattr(model, "base_model", model), "embeddings", None)
    table = getattr(emb, "token_type_embeddings", None)
    if table is None:  # a config may carry the field while the architecture has no such table
        rows = None
    elif rows is None:
        rows = int(table.num_embeddings)
    return Segments("token_type_ids" in getattr(tokenizer, "model_input_names", []), rows)


# ------------------------------------------------------------------------------------------- NSP head
@dataclass(frozen=True)
class NspHead:
    """BERT's pooler and next-sentence classifier, as stored in the checkpoint."""

    pooler_weight: Any  # torch [d, d]
    pooler_bias: Any  # [d]
    weight: Any  # [2, d]
    bias: Any  # [2]
    keys: tuple[str, ...]  # where they were found (shown to the curious, and tested)


Status = Literal["present", "absent", "unknown"]


def find_nsp_head(files: list[Path] | None, d_model: int) -> tuple[Status, NspHead | None]:
    """Look for the NSP head's four tensors in these safetensors files (by name, then checked by shape)."""
    if not files:
        return "unknown", None
    from safetensors import SafetensorError, safe_open

    headers = read_headers(files)
    if headers.unreadable:  # what an unreadable file holds is unknown
        return "unknown", None
    found = nsp_keys(headers.keys)
    if found is None:  # none, or ambiguous
        return "absent", None
    tensors = {}
    try:
        for suffix, key in found.items():
            with safe_open(str(headers.files[key]), framework="pt") as s:
                tensors[suffix] = s.get_tensor(key).float()
    except SafetensorError:  # a header that reads but data that does not (a cut file): we cannot tell
        return "unknown", None
    shapes_ok = (tuple(tensors[NSP_WEIGHT].shape) == (2, d_model) and tuple(tensors[NSP_BIAS].shape) == (2,)
                 and tuple(tensors[POOLER_WEIGHT].shape) == (d_model, d_model)
                 and tuple(tensors[POOLER_BIAS].shape) == (d_model,))
    if not shapes_ok:
        return "absent", None
    return "present", NspHead(tensors[POOLER_WEIGHT], tensors[POOLER_BIAS], tensors[NSP_WEIGHT], tensors[NSP_BIAS],
                              tuple(found[s] for s in NSP_HEAD))


def nsp_head(lm: Any) -> tuple[Status, NspHead | None]:
    """The loaded model's NSP head, read from its own checkpoint files (no network)."""
    if lm.spec.family != "encoder":
        return "absent", None
    try:
        return find_nsp_head(checkpoint_files(lm.spec, lm.model), int(lm.model.config.hidden_size))
    except (OSError, ValueError, RuntimeError):  # an unreadable or damaged file: we cannot tell
        return "unknown", None


@dataclass(frozen=True)
class NspResult:
    logits: np.ndarray  # [2]: IsNext, NotNext
    p_next: float  # P(B follows A) = softmax(logits)[IS_NEXT]


def next_sentence(lm: Any, head: NspHead, pair: Pair) -> NspResult:
    """P(B follows A): the loaded encoder on the pair (with the tokenizer's token type ids), its final [CLS]
    vector through the checkpoint's pooler (dense + tanh) and 2-way classifier, softmax."""
    import torch

    ids = torch.from_numpy(pair.ids)[None]  # [1, T]
    kwargs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if pair.segments is not None:
        kwargs["token_type_ids"] = torch.from_numpy(pair.segments)[None]
    encoder = lm.model.base_model  # BertModel inside BertForMaskedLM (or the model itself)
    with lm.lock, torch.inference_mode():
        cls = encoder(**kwargs).last_hidden_state[0, 0].float()  # [d] the final [CLS] vector
        pooled = torch.tanh(head.pooler_weight @ cls + head.pooler_bias)  # [d]
        logits = head.weight @ pooled + head.bias  # [2]
        p = torch.softmax(logits, dim=-1)
    return NspResult(logits.numpy(), float(p[IS_NEXT]))
