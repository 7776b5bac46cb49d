"""Facts about a loaded model and its tokenizer, read from the config and the weights (never from memory)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from i18n import _
from models.registry import ModelSpec


@dataclass(frozen=True)
class TokenizerFacts:
    kind: str  # "byte-level BPE", "WordPiece", "SentencePiece (Unigram)", ...
    marker: str | None  # the visible marker this scheme uses: "Ġ", "##", "▁"
    vocab_size: int  # len(tokenizer): base vocabulary + added tokens
    bos_token: str | None
    eos_token: str | None
    cls_token: str | None
    sep_token: str | None
    adds_bos: bool  # does encoding plain text put a BOS token in front?
    wraps_cls_sep: bool  # does encoding wrap the text in [CLS] ... [SEP]?


@dataclass(frozen=True)
class ModelFacts:
    model_id: str
    label: str
    family: str  # "decoder" | "encoder"
    architecture: str  # class name, e.g. LlamaForCausalLM
    model_type: str  # config.model_type, e.g. "llama"
    n_layers: int
    n_heads: int
    n_kv_heads: int
    d_model: int
    d_head: int
    d_ff: int | None
    vocab_size: int
    n_params: int
    context_length: int
    positions: str  # "rope" | "learned" | "sinusoidal"
    head: str  # "causal-lm" | "masked-lm" | "none"
    tied_embeddings: bool
    tokenizer: TokenizerFacts

    @property
    def gqa(self) -> bool:
        return self.n_kv_heads != self.n_heads

    @property
    def positions_text(self) -> str:
        """How this model knows the order of tokens, in the session's language."""
        return {
            "rope": _("rotary (RoPE): queries and keys are rotated by position; no position vector is added"),
            "learned": _("learned absolute: a trained position vector is added to each token embedding"),
            "sinusoidal": _("fixed sine/cosine waves added to each token embedding"),
        }[self.positions]

    @property
    def head_text(self) -> str:
        """What the output head does, in the session's language."""
        if self.head == "none":
            return _("no LM head: a sentence-embedding model")
        if self.head == "causal-lm":
            return _("next-token LM head (tied to the input embeddings)") if self.tied_embeddings else \
                _("next-token LM head")
        return _("masked-LM head (tied to the input embeddings): predicts [MASK] from both sides") \
            if self.tied_embeddings else _("masked-LM head: predicts [MASK] from both sides")


def _cfg(config: Any, *names: str, default: Any = None) -> Any:
    for n in names:
        v = getattr(config, n, None)
        if v is not None:
            return v
    return default


def tokenizer_facts(tokenizer: Any) -> TokenizerFacts:
    kind, marker = "tokenizer", None
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        spec = json.loads(backend.to_str())
        model_type = (spec.get("model") or {}).get("type")
        blob = json.dumps([spec.get("pre_tokenizer"), spec.get("decoder")])
        if model_type == "WordPiece":
            kind, marker = "WordPiece", (spec.get("model") or {}).get("continuing_subword_prefix", "##")
        elif "ByteLevel" in blob:
            kind, marker = "byte-level BPE", "Ġ"
        elif "Metaspace" in blob:
            kind, marker = ("SentencePiece (Unigram)" if model_type == "Unigram" else "SentencePiece BPE"), "▁"
        elif model_type:
            kind = model_type
    probe = tokenizer("a").input_ids
    first = tokenizer.convert_ids_to_tokens(probe[:1])[0] if probe else None
    return TokenizerFacts(
        kind=kind,
        marker=marker,
        vocab_size=len(tokenizer),
        bos_token=tokenizer.bos_token,
        eos_token=tokenizer.eos_token,
        cls_token=tokenizer.cls_token,
        sep_token=tokenizer.sep_token,
        adds_bos=tokenizer.bos_token is not None and first == tokenizer.bos_token,
        wraps_cls_sep=tokenizer.cls_token is not None and first == tokenizer.cls_token,
    )


def positions_kind(config: Any) -> str:
    if getattr(config, "rope_parameters", None) or getattr(config, "rope_theta", None):
        return "rope"
    if getattr(config, "sinusoidal_pos_embds", False):
        return "sinusoidal"
    return "learned"


def model_facts(spec: ModelSpec, model: Any, tokenizer: Any) -> ModelFacts:
    c = model.config
    n_heads = int(_cfg(c, "num_attention_heads", "n_head", "n_heads"))
    d_model = int(_cfg(c, "hidden_size", "n_embd", "dim", "d_model"))
    out_emb = model.get_output_embeddings() if spec.head != "none" else None
    tied = out_emb is not None and out_emb.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    return ModelFacts(
        model_id=spec.id,
        label=spec.label,
        family=spec.family,
        architecture=type(model).__name__,
        model_type=c.model_type,
        n_layers=int(_cfg(c, "num_hidden_layers", "n_layer", "n_layers")),
        n_heads=n_heads,
        n_kv_heads=int(_cfg(c, "num_key_value_heads", default=n_heads)),
        d_model=d_model,
        d_head=int(_cfg(c, "head_dim", default=d_model // n_heads)),
        d_ff=_cfg(c, "intermediate_size", "n_inner", "hidden_dim", default=4 * d_model if c.model_type == "gpt2" else None),
        vocab_size=int(c.vocab_size),
        # unique parameters (tied embedding counted once)
        n_params=sum(p.numel() for p in {id(p): p for p in model.parameters()}.values()),
        context_length=int(_cfg(c, "max_position_embeddings", "n_positions", default=0)),
        positions=positions_kind(c),
        head=spec.head,
        tied_embeddings=bool(tied),
        tokenizer=tokenizer_facts(tokenizer),
    )
