"""How each model was trained, where its weights come from and its final norm: facts read from what is loaded
(models/facts.py), checked against the checkpoint files and transformers' own modules, for both bundled models
and tiny random GPT-2 / BERT / DistilBERT checkpoints (local folders and the Hugging Face cache layout)."""
from __future__ import annotations

import json
import shutil
from collections import Counter

import pytest
import torch
from safetensors import safe_open

from i18n import translations
from models.facts import gguf_header, model_facts
from models.loading import bundled_path, converted_dir, load
from models.registry import ModelSpec, get_spec

ZH = translations("zh").gettext


def keys_of(folder) -> list[str]:
    out = []
    for f in folder.glob("*.safetensors"):
        with safe_open(str(f), framework="pt") as s:
            out += list(s.keys())
    return out


def local(folder, family, head, model_id) -> ModelSpec:
    return ModelSpec(id=model_id, label=model_id, family=family, source="local", path=str(folder), head=head)


# ------------------------------------------------------------------------------------ bundled models
def test_smollm2_is_a_next_token_model_tuned_for_chat(smollm2):
    t = smollm2.facts.training
    assert t.objective == "causal-lm" and not t.next_sentence and t.pooling is None
    # its converted folder carries the chat template the GGUF shipped with, and the tokenizer applies it
    assert (converted_dir(smollm2.spec) / "chat_template.jinja").is_file()
    rendered = smollm2.tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
    assert "hi" in rendered and rendered != "hi"
    assert t.chat
    assert not t.distilled  # SmolLM2 is trained from scratch, not distilled
    text = smollm2.facts.training_text
    assert "next-token prediction" in text and "chat" in text and "masked" not in text


def test_smollm2_weights_say_they_come_from_a_q4_1_gguf(smollm2):
    """The quantisation named in the facts is the one most of the GGUF's parameters are stored in, counted
    with gguf's own reader (independent of the header parser the app uses)."""
    from gguf import GGUFReader

    reader = GGUFReader(str(bundled_path(smollm2.spec)))
    by_type = Counter()
    for tensor in reader.tensors:
        by_type[tensor.tensor_type.name] += int(tensor.n_elements)
    most = by_type.most_common(1)[0][0]
    assert smollm2.facts.weights.gguf_type == most == "Q4_1"
    assert by_type[most] > sum(by_type.values()) / 2  # "most weights stored in 4 bits"
    assert smollm2.facts.weights.computed == "float32"
    assert all(p.dtype == torch.float32 for p in smollm2.model.parameters())
    text = smollm2.facts.weights_text
    assert "Q4_1 GGUF" in text and "4 bits" in text and "float32" in text and "differ slightly" in text


def test_gguf_header_reader_agrees_with_gguf(smollm2):
    from gguf import GGUFReader

    path = bundled_path(smollm2.spec)
    field = GGUFReader(str(path)).fields["general.file_type"]
    assert gguf_header(path) == {"general.file_type": int(field.parts[field.data[0]][0])}
    names = ("general.architecture", "general.file_type")
    got = gguf_header(path, names)
    assert got["general.architecture"] == "llama"


def test_smollm2_final_norm_is_its_rmsnorm(smollm2):
    from transformers.models.llama.modeling_llama import LlamaRMSNorm

    assert isinstance(smollm2.model.model.norm, LlamaRMSNorm)
    assert smollm2.facts.final_norm == "RMSNorm"


def test_minilm_is_a_contrastive_sentence_embedding_model_without_mlm_head(minilm):
    folder = bundled_path(minilm.spec)
    t = minilm.facts.training
    assert t.objective == "contrastive"
    assert "contrastive learning objective" in (folder / "README.md").read_text()  # its model card says so
    assert not any(k.startswith("cls.") for k in keys_of(folder))  # no MLM (or NSP) head in its weights
    assert not t.next_sentence and not t.chat
    assert t.base == json.loads((folder / "config.json").read_text())["_name_or_path"] == \
        "nreimers/MiniLM-L6-H384-uncased"
    assert t.distilled
    assert t.pooling == "mean"
    assert json.loads((folder / "1_Pooling" / "config.json").read_text())["pooling_mode_mean_tokens"] is True
    text = minilm.facts.training_text
    assert "contrastive" in text and "mean" in text and "masked" not in text and "fill" not in text
    assert minilm.facts.final_norm is None


def test_minilm_weights_are_float32_as_published_with_no_gguf_note(minilm):
    w = minilm.facts.weights
    assert w.gguf_type is None and w.stored == "F32"
    assert "GGUF" not in minilm.facts.weights_text and "as published" in minilm.facts.weights_text


def test_training_sentences_follow_the_facts(smollm2, minilm):
    dec = " ".join(smollm2.facts.training_sentences)
    enc = " ".join(minilm.facts.training_sentences)
    assert "next token" in dec and "chat template" in dec and "contrastive" not in dec
    assert "contrastively" in enc and "nreimers/MiniLM-L6-H384-uncased" in enc and "mean" in enc
    assert "masked" not in enc


# ------------------------------------------------------------------------------------- tiny models
@pytest.fixture(scope="module")
def tiny_pretraining_bert(tmp_path_factory):
    """A BERT checkpoint with both pre-training heads (MLM + NSP), as bert-base-uncased's weights are."""
    from transformers import BertConfig, BertForPreTraining

    from models.loading import load_tokenizer

    torch.manual_seed(0)
    config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                        vocab_size=30522, architectures=["BertForMaskedLM"])  # as bert-base-uncased's config says
    folder = tmp_path_factory.mktemp("tiny-bert-pretraining")
    BertForPreTraining(config).save_pretrained(folder)
    load_tokenizer("minilm-l6").save_pretrained(folder)
    return folder


def test_tiny_gpt2_is_causal_and_chat_only_with_a_template(tiny_gpt2, tmp_path):
    lm = load(local(tiny_gpt2.dir, "decoder", "causal-lm", "tiny-gpt2-facts"))
    assert lm.facts.training.objective == "causal-lm"
    assert lm.facts.training.chat == bool(tiny_gpt2.tokenizer.chat_template)  # saved with SmolLM2's tokenizer
    assert lm.facts.final_norm == "LayerNorm"
    assert isinstance(lm.model.transformer.ln_f, torch.nn.LayerNorm)
    # the same checkpoint without a chat template: no chat claim
    plain = tmp_path / "plain"
    shutil.copytree(tiny_gpt2.dir, plain)
    (plain / "chat_template.jinja").unlink(missing_ok=True)
    cfg = json.loads((plain / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (plain / "tokenizer_config.json").write_text(json.dumps(cfg))
    lm2 = load(local(plain, "decoder", "causal-lm", "tiny-gpt2-plain"))
    assert not lm2.tokenizer.chat_template
    assert lm2.facts.training.chat is False and "chat" not in lm2.facts.training_text
    assert lm2.facts.weights.gguf_type is None and "GGUF" not in lm2.facts.weights_text


def test_tiny_bert_masked_lm_without_nsp_head(tiny_bert):
    lm = load(local(tiny_bert.dir, "encoder", "masked-lm", "tiny-bert-facts"))
    assert not any("seq_relationship" in k for k in keys_of(tiny_bert.dir))
    t = lm.facts.training
    assert t.objective == "masked-lm" and not t.next_sentence and not t.distilled
    assert "masked LM" in lm.facts.training_text and "next-sentence" not in lm.facts.training_text


def test_tiny_bert_with_its_nsp_head_says_next_sentence_prediction(tiny_pretraining_bert):
    assert "cls.seq_relationship.weight" in keys_of(tiny_pretraining_bert)
    lm = load(local(tiny_pretraining_bert, "encoder", "masked-lm", "tiny-bert-nsp"))
    assert type(lm.model).__name__ == "BertForMaskedLM"  # loaded without the NSP head: the facts read the files
    assert lm.facts.training.objective == "masked-lm" and lm.facts.training.next_sentence
    assert "masked LM + next-sentence prediction" in lm.facts.training_text


def test_bert_base_from_the_hf_cache_says_masked_lm_and_nsp(hf_cache, hf_put, tiny_pretraining_bert, no_network):
    hf_put(hf_cache, "google-bert/bert-base-uncased", tiny_pretraining_bert)
    lm = load(get_spec("bert-base-uncased"))
    t = lm.facts.training
    assert t.objective == "masked-lm" and t.next_sentence and not t.distilled
    assert lm.facts.weights.stored == "F32" and lm.facts.weights.gguf_type is None


def test_tiny_distilbert_is_a_distilled_masked_lm(tmp_path):
    from transformers import DistilBertConfig, DistilBertForMaskedLM

    from models.loading import load_tokenizer

    torch.manual_seed(0)
    config = DistilBertConfig(dim=32, n_layers=2, n_heads=2, hidden_dim=64, vocab_size=30522)
    DistilBertForMaskedLM(config).save_pretrained(tmp_path)
    load_tokenizer("minilm-l6").save_pretrained(tmp_path)
    lm = load(local(tmp_path, "encoder", "masked-lm", "tiny-distilbert"))
    t = lm.facts.training
    assert lm.model.config.model_type == "distilbert"
    assert t.objective == "masked-lm" and t.distilled and not t.next_sentence
    assert "distilled" in lm.facts.training_text


def test_in_memory_model_without_files_still_gets_facts(tiny_gpt2):
    """A spec with no folder (tests wrap in-memory models): the head still gives the objective."""
    spec = ModelSpec(id="mem", label="mem", family="decoder", source="local", head="causal-lm")
    f = model_facts(spec, tiny_gpt2.model, tiny_gpt2.tokenizer)
    assert f.training.objective == "causal-lm" and f.weights.gguf_type is None


def test_training_text_in_chinese(smollm2, minilm):
    import i18n

    before = i18n._language_getter
    i18n.use_language_getter(lambda: "zh")
    try:
        enc, dec = minilm.facts.training_text, smollm2.facts.weights_text
    finally:
        i18n.use_language_getter(before)
    assert "对比" in enc and "掩码" not in enc
    assert "Q4_1" in dec and "GGUF" in dec and "反量化" in dec


def test_plain_encoder_without_sentence_transformers_files_is_not_called_a_sentence_embedding_model(tmp_path):
    """A BertModel checkpoint with no head and no sentence-transformers files: its files do not say how it was
    trained, so the facts do not claim contrastive training or sentence embeddings."""
    from transformers import BertConfig, BertModel

    from models.loading import load_tokenizer

    torch.manual_seed(0)
    BertModel(BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                         vocab_size=30522)).save_pretrained(tmp_path)
    load_tokenizer("minilm-l6").save_pretrained(tmp_path)
    lm = load(local(tmp_path, "encoder", "none", "tiny-bert-plain"))
    assert lm.facts.training.objective == "unknown" and lm.facts.training.pooling is None
    assert "do not say" in lm.facts.training_text and "contrastive" not in lm.facts.training_text
    assert "sentence-embedding" not in lm.facts.head_text and "vectors" in lm.facts.head_text


def test_weights_text_follows_the_gguf_type():
    """Only a quantized GGUF gets the 'differ slightly' note; an F16 GGUF is converted, not de-quantized."""
    import dataclasses

    from models.facts import Weights

    def text(weights):
        from models.loading import load as _load

        f = _load("minilm-l6").facts
        return dataclasses.replace(f, weights=weights).weights_text

    assert "4 bits" in text(Weights("Q4_1", "F32")) and "differ slightly" in text(Weights("Q4_1", "F32"))
    assert "8 bits" in text(Weights("Q8_0", "F32"))
    assert "not quantized" in text(Weights("F16", "F32")) and "differ" not in text(Weights("F16", "F32"))
    assert "does not name its type" in text(Weights("", "F32"))
    assert text(Weights(None, "BF16")) == "stored as BF16, computed in float32"
