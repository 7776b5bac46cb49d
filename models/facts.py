"""Facts about a loaded model and its tokenizer, read from the config and the weights (never from memory)."""
from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from i18n import _
from models.checkpoint import (
    Headers,
    bundled_path,
    checkpoint_files,
    model_folder,
    nsp_keys,
    read_headers,
    sentence_recipe,
)
from models.lens import NoFinalNorm, final_norm as find_final_norm
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
class Training:
    """How the loaded checkpoint was trained, as far as the files that come with its weights say (never from a
    model's name alone). See :func:`training_facts` for where each field is read."""

    objective: str  # "causal-lm" | "masked-lm" | "contrastive" | "sentence-embedding" | "unknown"
    next_sentence: bool  # the checkpoint still carries BERT's next-sentence-prediction head (cls.seq_relationship)
    distilled: bool  # trained to imitate a larger model (DistilBERT, DistilGPT-2, MiniLM)
    base: str | None  # the checkpoint it was fine-tuned from, as its own config.json names it
    chat: bool  # its tokenizer carries a chat template: fine-tuned on conversations in that format
    pooling: str | None  # sentence-transformers pooling of the token vectors: "mean" | "cls" | "max" | ...


@dataclass(frozen=True)
class Weights:
    """Where the numbers the app computes with come from."""

    gguf_type: str | None  # the GGUF file's type ("Q4_1"; "" if its header does not say); None: not from a GGUF
    stored: str  # dtype of the stored tensors (the most common one), e.g. "F32", "BF16"
    computed: str = "float32"  # models/loading.py always loads float32


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
    training: Training
    weights: Weights
    final_norm: str | None  # the normalisation before the unembedding ("RMSNorm", "LayerNorm"); None: encoders

    @property
    def gqa(self) -> bool:
        return self.n_kv_heads != self.n_heads

    @property
    def head_text(self) -> str:
        """What the output head does, in the session's language."""
        if self.head == "none":  # "sentence-embedding model" only when its files say so (facts.training)
            return _("no LM head: a sentence-embedding model") \
                if self.training.objective in ("contrastive", "sentence-embedding") else \
                _("no LM head: it outputs vectors, not token predictions")
        if self.head == "causal-lm":
            return _("next-token LM head (tied to the input embeddings)") if self.tied_embeddings else \
                _("next-token LM head")
        return _("masked-LM head (tied to the input embeddings): predicts [MASK] from both sides") \
            if self.tied_embeddings else _("masked-LM head: predicts [MASK] from both sides")

    @property
    def training_text(self) -> str:
        """How the checkpoint was trained, short, in the session's language (the facts card's "Training" row;
        :attr:`training_sentences` says the same in whole sentences)."""
        t = self.training
        parts = []
        if t.base and t.distilled:
            parts.append(_("from {base} (distilled from a larger model)").format(base=t.base))
        elif t.distilled:
            parts.append(_("distilled from a larger model"))
        elif t.base:
            parts.append(_("from {base}").format(base=t.base))
        parts.append({
            "causal-lm": _("next-token prediction (causal LM)"),
            "masked-lm": _("masked LM + next-sentence prediction") if t.next_sentence else _("masked LM"),
            "contrastive": _("contrastive fine-tuning on sentence pairs"),
            "sentence-embedding": _("fine-tuned for sentence vectors (its files do not say how)"),
        }.get(t.objective, _("its files do not say how it was trained")))
        if t.chat:
            parts.append(_("then fine-tuned on chat conversations (its tokenizer has a chat template)"))
        if t.pooling == "mean":
            parts.append(_("sentence vector: the mean of the last layer's token vectors"))
        elif t.pooling == "cls":
            parts.append(_("sentence vector: the last layer's [CLS] vector"))
        elif t.pooling == "max":
            parts.append(_("sentence vector: the element-wise maximum of the last layer's token vectors"))
        elif t.pooling:
            parts.append(_("sentence vector: {how} pooling of the last layer's token vectors").format(how=t.pooling))
        return "; ".join(parts)

    @property
    def training_sentences(self) -> list[str]:
        """The same facts as :attr:`training_text`, as whole sentences for a paragraph (session's language)."""
        t, out = self.training, []
        if t.base and t.distilled:
            out.append(_("It starts from {base}, a smaller model distilled from a larger one (trained to imitate "
                         "it).").format(base=t.base))
        elif t.distilled:
            out.append(_("It was distilled from a larger model (trained to imitate it)."))
        elif t.base:
            out.append(_("It starts from {base}.").format(base=t.base))
        if t.objective == "causal-lm":
            out.append(_("It was trained to predict the next token at every position of its training texts."))
        elif t.objective == "masked-lm":
            out.append(_("It was trained as a masked language model: some tokens are hidden and predicted from the "
                         "words on both sides."))
            if t.next_sentence:
                out.append(_("It was also trained on next-sentence prediction: does sentence B follow sentence A?"))
        elif t.objective == "contrastive":
            out.append(_("It was fine-tuned contrastively on sentence pairs: the vectors of two sentences that belong "
                         "together are pulled towards each other and away from the other sentences' vectors."))
        elif t.objective == "sentence-embedding":
            out.append(_("It was fine-tuned to make sentence vectors; its files do not say how."))
        else:
            out.append(_("Its files do not say how it was trained."))
        if t.chat:
            out.append(_("It was then fine-tuned on chat conversations (its tokenizer has a chat template)."))
        if t.pooling == "mean":
            out.append(_("Its sentence vector is the mean of the last layer's token vectors."))
        elif t.pooling == "cls":
            out.append(_("Its sentence vector is the last layer's [CLS] vector."))
        elif t.pooling == "max":
            out.append(_("Its sentence vector is the element-wise maximum of the last layer's token vectors."))
        elif t.pooling:
            out.append(_("Its sentence vector pools the last layer's token vectors ({how}).").format(how=t.pooling))
        return out

    @property
    def pooling_text(self) -> str:
        """How a sentence-embedding model turns its token vectors into one vector ("" if it does not say)."""
        p = self.training.pooling
        if p == "mean":
            return _("its sentence vector is the mean of the last layer's token vectors")
        if p == "cls":
            return _("its sentence vector is the last layer's [CLS] vector")
        if p == "max":
            return _("its sentence vector is the element-wise maximum of the last layer's token vectors")
        return _("its sentence vector pools the last layer's token vectors ({how})").format(how=p) if p else ""

    @property
    def weights_text(self) -> str:
        """Where the weights come from, in the session's language (the facts card's "Weights" row)."""
        w = self.weights
        if w.gguf_type is not None:
            bits = re.search(r"Q(\d)", w.gguf_type)  # Q4_1, IQ2_XS, TQ1_0: llama.cpp names carry the bits
            if bits:
                return _("de-quantized to {dtype} from a {quant} GGUF file (most weights stored in {bits} bits): its "
                         "probabilities differ slightly from the original unquantized model's").format(
                    dtype=w.computed, quant=w.gguf_type, bits=bits.group(1))
            if w.gguf_type:  # F32 / F16 / BF16: a GGUF file that is not quantized
                return _("converted to {dtype} from a {quant} GGUF file (not quantized)").format(
                    dtype=w.computed, quant=w.gguf_type)
            return _("converted to {dtype} from a GGUF file whose header does not name its type").format(
                dtype=w.computed)
        if {w.stored.upper(), w.computed.upper()} <= {"F32", "FLOAT32"}:
            return _("{dtype}, as published").format(dtype=w.computed)
        return _("stored as {stored}, computed in {dtype}").format(stored=w.stored, dtype=w.computed)


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


# ------------------------------------------------------------------------------- training and weights
# MiniLM (Wang et al., 2020) and the Distil* models are made by distillation: a small model trained to imitate a
# larger one. The rule reads the names the checkpoint's own config gives (model type, base checkpoint), not the
# app's label.
DISTILLED = re.compile(r"distil|minilm", re.IGNORECASE)
SENTENCE_TRANSFORMERS_FILES = ("modules.json", "config_sentence_transformers.json", "sentence_bert_config.json")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def training_facts(spec: ModelSpec, model: Any, tokenizer: Any, folder: Path | None = None,
                   keys: list[str] | None = None) -> Training:
    """How the checkpoint was trained, read from what is loaded:

    * the head it is loaded with: a causal-LM head means next-token training, a masked-LM head masked LM;
    * BERT's next-sentence task when the checkpoint's safetensors still hold its head (``cls.seq_relationship``
      and the pooler, :func:`models.checkpoint.nsp_keys`; bert-base-uncased's do although its config names
      BertForMaskedLM);
    * a model without an LM head is a sentence-embedding model when the sentence-transformers files ship with
      its weights (modules.json, ...); contrastive when its model card (README.md beside the weights) says so;
      its pooling from the Pooling module's config;
    * distilled: the checkpoint's model type or the base checkpoint its config.json names (``_name_or_path``)
      is a distilled family (DistilBERT, DistilGPT-2, MiniLM);
    * chat: the tokenizer carries a chat template (an Instruct model: fine-tuned on conversations).
    """
    if keys is None:
        keys = read_headers(folder.glob("*.safetensors") if folder else None).keys
    raw = (_read_json(folder / "config.json") if folder else None) or {}
    base = raw.get("_name_or_path") if isinstance(raw, dict) else None
    # a hub name ("owner/name" or "name"), not a path on the computer that saved it
    base = base if isinstance(base, str) and re.fullmatch(r"[\w.-]+(/[\w.-]+)?", base) and base != spec.hub_id \
        else None
    names = " ".join(filter(None, (model.config.model_type, base, spec.hub_id)))
    pooling = None
    if spec.head == "causal-lm":
        objective = "causal-lm"
    elif spec.head == "masked-lm":
        objective = "masked-lm"
    elif folder is not None and any((folder / f).is_file() for f in SENTENCE_TRANSFORMERS_FILES):
        card = ""
        try:
            card = (folder / "README.md").read_text(encoding="utf-8")
        except OSError:
            pass
        objective = "contrastive" if re.search(r"\bcontrastive\b", card, re.IGNORECASE) else "sentence-embedding"
        recipe = sentence_recipe(folder)  # the Pooling module's mode, as the Similarity page uses it
        pooling = "+".join(recipe.pooling) if recipe and recipe.pooling else None
    else:
        objective = "unknown"
    return Training(
        objective=objective,
        next_sentence=objective == "masked-lm" and nsp_keys(keys) is not None,
        distilled=bool(DISTILLED.search(names)),
        base=base,
        chat=bool(getattr(tokenizer, "chat_template", None)),
        pooling=pooling,
    )


# GGUF value types (ggml's gguf.h): fixed sizes for scalars; 8 = string, 9 = array.
_GGUF_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


def gguf_header(path: Path, wanted: tuple[str, ...] = ("general.file_type",)) -> dict[str, Any]:
    """The wanted metadata values of a GGUF file, read from its header only (gguf's own GGUFReader maps every
    tensor: 3.5 s for SmolLM2's file; the ``general.*`` keys come first, so this stops after a few hundred bytes)."""
    found: dict[str, Any] = {}
    with open(path, "rb") as f:
        def read(fmt: str):
            size = struct.calcsize("<" + fmt)
            return struct.unpack("<" + fmt, f.read(size))[0]

        def string() -> str:
            return f.read(read("Q")).decode("utf-8", "replace")

        def value(kind: int):
            if kind in _GGUF_SCALARS:
                return read(_GGUF_SCALARS[kind])
            if kind == 8:
                return string()
            if kind == 9:
                item, n = read("I"), read("Q")
                return [value(item) for _i in range(n)]
            raise ValueError(f"unknown GGUF value type {kind}")

        if f.read(4) != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        read("I")  # version
        read("Q")  # tensor count
        for _i in range(read("Q")):  # key/value count
            key = string()
            v = value(read("I"))
            if key in wanted:
                found[key] = v
                if len(found) == len(wanted):
                    break
    return found


def gguf_type(path: Path) -> str:
    """The GGUF file's quantisation ("Q4_1"), from ``general.file_type`` (llama.cpp's LLAMA_FTYPE numbers)."""
    ftype = gguf_header(path).get("general.file_type")
    if ftype is None:
        return ""  # a GGUF that does not say
    try:
        from gguf import LlamaFileType

        return re.sub(r"^(MOSTLY|ALL)_", "", LlamaFileType(int(ftype)).name)
    except (ImportError, ValueError):
        return f"type {ftype}"


def weights_facts(spec: ModelSpec, headers: Headers) -> Weights:
    """A bundled GGUF model (models/loading.py converts it once to float32 safetensors) names its GGUF's
    quantisation; everything else the stored dtype of its safetensors."""
    quant = gguf_type(bundled_path(spec)) if spec.source == "bundled-gguf" else None
    return Weights(gguf_type=quant, stored=headers.stored_dtype)


def norm_kind(module: Any) -> str:
    """"RMSNorm" / "LayerNorm" for a normalisation module (LlamaRMSNorm -> RMSNorm), else its class name."""
    name = type(module).__name__
    for kind in ("RMSNorm", "LayerNorm"):
        if kind.lower() in name.lower():
            return kind
    return name


def model_facts(spec: ModelSpec, model: Any, tokenizer: Any) -> ModelFacts:
    c = model.config
    n_heads = int(_cfg(c, "num_attention_heads", "n_head", "n_heads"))
    d_model = int(_cfg(c, "hidden_size", "n_embd", "dim", "d_model"))
    out_emb = model.get_output_embeddings() if spec.head != "none" else None
    tied = out_emb is not None and out_emb.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    folder = model_folder(spec, model)
    headers = read_headers(checkpoint_files(spec, model))  # names and dtypes, no tensor read
    final_norm = None
    if spec.family == "decoder":
        try:
            final_norm = norm_kind(find_final_norm(model))
        except NoFinalNorm:
            pass
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
        training=training_facts(spec, model, tokenizer, folder, headers.keys),
        weights=weights_facts(spec, headers),
        final_norm=final_norm,
    )
