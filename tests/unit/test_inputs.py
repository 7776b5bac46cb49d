"""models/pairs.py and models/chat.py against transformers itself: a sentence pair's ids and segment ids are the
tokenizer's; P(B follows A) equals a stock BertForPreTraining forward; the NSP head is found only where the weights
are; a chat's ids are apply_chat_template's; a chat reply (greedy) equals transformers' generate."""
from __future__ import annotations

import json
import shutil
import threading
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from models import registry
from models.chat import (
    ChatTemplateError, chat_ids, chat_tokens, conversation, has_chat_template, render,
)
from models.generation import Settings
from serving.engine import Engine
from models.loading import load
from models.pairs import Segments, encode_pair, find_nsp_head, next_sentence, nsp_head, segment_support
from tests.unit.conftest import one_sentence

A, B = "the man went to the store", "he bought a gallon of milk"
UNRELATED = "penguins are flightless birds"


# ------------------------------------------------------------------------------------------ pairs
@pytest.mark.parametrize("a, b", [(A, B), ("Tokenizers split unbelievably rare words.", "今天天气很好"),
                                  ("  spaced  out ", "x")])
def test_pair_ids_and_segment_ids_are_the_tokenizers(minilm_tok, a, b):
    tok = minilm_tok.tokenizer
    ref = tok(a, b)
    pair = encode_pair(tok, a, b, minilm_tok.facts.kind)
    assert pair.ids.tolist() == ref["input_ids"]
    assert pair.segments.tolist() == ref["token_type_ids"]
    assert set(pair.segments.tolist()) == {0, 1}
    # every piece's characters come from its own sentence
    for p in pair.pieces:
        src = {0: a, 1: b}.get(pair.sequence[p.index])
        if src is None:
            assert p.special and not p.covers_text
        else:
            assert p.text == src[p.span[0]:p.span[1]] and p.text.strip()
    assert [p.raw for p in pair.pieces] == tok.convert_ids_to_tokens(ref["input_ids"])


def test_a_long_pair_is_cut_by_the_tokenizer(minilm_tok):
    tok = minilm_tok.tokenizer
    a = "word " * 40
    pair = encode_pair(tok, a, B, minilm_tok.facts.kind, max_tokens=24)
    ref = tok(a, B, truncation="longest_first", max_length=24)
    assert pair.truncated and pair.n_total == len(tok(a, B)["input_ids"])
    assert pair.ids.tolist() == ref["input_ids"] and pair.segments.tolist() == ref["token_type_ids"]


def test_distilbert_has_no_segment_ids(minilm_tok, tmp_path):
    """DistilBERT's tokenizer (same WordPiece vocabulary) returns no token type ids, and its model has no
    segment table: both read from what is loaded."""
    from transformers import DistilBertConfig, DistilBertModel, DistilBertTokenizerFast

    minilm_tok.tokenizer.save_pretrained(tmp_path)
    tok = DistilBertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"))
    assert "token_type_ids" not in tok(A, B)
    pair = encode_pair(tok, A, B, "WordPiece")
    assert pair.segments is None and pair.ids.tolist() == tok(A, B)["input_ids"]
    model = DistilBertModel(DistilBertConfig(dim=32, n_layers=1, n_heads=2, hidden_dim=64))
    assert segment_support(model, tok) == Segments(tokenizer_gives=False, table_rows=None)


def test_minilm_has_two_segment_rows(minilm):
    seg = segment_support(minilm.model, minilm.tokenizer)
    assert seg.tokenizer_gives and seg.table_rows == minilm.model.config.type_vocab_size == 2
    assert minilm.model.embeddings.token_type_embeddings.num_embeddings == 2


# -------------------------------------------------------------------------------------------- NSP
def stock_nsp(model, tok, a: str, b: str) -> float:
    """P(IsNext) from BertForPreTraining's own forward (label 0 = B follows A)."""
    enc = tok(a, b, return_tensors="pt")
    with torch.inference_mode():
        out = model(**enc)
    return float(out.seq_relationship_logits.softmax(-1)[0, 0])


def test_nsp_probability_equals_bert_for_pretraining(tiny_bert_nsp, clean_registry):
    spec = registry.register_local(tiny_bert_nsp.dir)
    assert spec.head == "none"  # architectures: BertForPreTraining -> loaded as the plain encoder
    lm = load(spec)
    status, head = nsp_head(lm)
    assert status == "present" and head is not None
    assert head.keys == ("bert.pooler.dense.weight", "bert.pooler.dense.bias", "cls.seq_relationship.weight",
                         "cls.seq_relationship.bias")
    probs = []
    for b in (B, UNRELATED):
        pair = encode_pair(lm.tokenizer, A, b, lm.facts.tokenizer.kind)
        got = next_sentence(lm, head, pair)
        ref = stock_nsp(tiny_bert_nsp.model, tiny_bert_nsp.tokenizer, A, b)
        assert abs(got.p_next - ref) <= 1e-5
        assert abs(float(torch.softmax(torch.from_numpy(got.logits), -1)[0]) - got.p_next) <= 1e-7
        probs.append(got.p_next)
    assert abs(probs[0] - probs[1]) > 1e-3  # the head really reads the pair
    # the segment ids matter: all-zero types give another probability (a check that they are passed at all)
    pair = encode_pair(lm.tokenizer, A, B, lm.facts.tokenizer.kind)
    zero = SimpleNamespace(ids=pair.ids, segments=np.zeros_like(pair.segments))
    assert abs(next_sentence(lm, head, zero).p_next - probs[0]) > 1e-4


def test_nsp_head_of_a_hub_checkpoint_in_the_cache_only(tiny_bert_nsp, hf_cache, hf_put, no_network, tmp_path):
    """bert-base-uncased's layout: config says BertForMaskedLM, the weights also hold the NSP head. Loaded from
    the local cache with no network; the head is found in the cached safetensors."""
    folder = tmp_path / "bert"
    shutil.copytree(tiny_bert_nsp.dir, folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["architectures"] = ["BertForMaskedLM"]
    (folder / "config.json").write_text(json.dumps(cfg))
    hf_put(hf_cache, "google-bert/bert-base-uncased", folder)
    lm = load("bert-base-uncased")
    assert type(lm.model).__name__ == "BertForMaskedLM" and lm.model.bert.pooler is None  # the head is dropped
    status, head = nsp_head(lm)
    assert status == "present"
    pair = encode_pair(lm.tokenizer, A, UNRELATED, lm.facts.tokenizer.kind)
    ref = stock_nsp(tiny_bert_nsp.model, tiny_bert_nsp.tokenizer, A, UNRELATED)
    assert abs(next_sentence(lm, head, pair).p_next - ref) <= 1e-5
    assert not no_network


def test_no_nsp_head_where_the_weights_have_none(minilm, tiny_bert, clean_registry):
    assert nsp_head(minilm) == ("absent", None)  # the bundled sentence-embedding model
    lm = load(registry.register_local(tiny_bert.dir))  # BertForMaskedLM: MLM head only
    assert nsp_head(lm) == ("absent", None)


def test_an_nsp_head_of_the_wrong_shape_is_not_used(tiny_bert_nsp, tmp_path):
    from safetensors.torch import load_file, save_file

    files = sorted(tiny_bert_nsp.dir.glob("*.safetensors"))
    assert find_nsp_head(files, 32)[0] == "present"
    assert find_nsp_head(files, 64) == ("absent", None)  # another hidden size than the loaded model's
    weights = load_file(str(files[0]))
    weights["cls.seq_relationship.weight"] = torch.zeros(3, 32)
    save_file(weights, str(tmp_path / "model.safetensors"))
    assert find_nsp_head([tmp_path / "model.safetensors"], 32) == ("absent", None)
    assert find_nsp_head(None, 32) == ("unknown", None)  # no safetensors files to read: we cannot tell


def test_decoders_have_no_nsp_head(smollm2):
    assert nsp_head(smollm2) == ("absent", None)


# -------------------------------------------------------------------------------------------- chat
MESSAGES = [conversation("What is the capital of France?"),
            conversation("You", "Be brief."),
            conversation("今天天气很好，我们去公园散步吧。"),
            conversation("hi <|im_end|> there", "system")]


def test_has_chat_template(smollm2_tok, minilm_tok):
    assert has_chat_template(smollm2_tok.tokenizer) and not has_chat_template(minilm_tok.tokenizer)


@pytest.mark.parametrize("messages", MESSAGES, ids=range(len(MESSAGES)))
def test_chat_ids_are_apply_chat_templates(smollm2_tok, messages):
    tok = smollm2_tok.tokenizer
    ref = tok.apply_chat_template(messages, tokenize=True, add_generation_prompt=True, return_dict=True)["input_ids"]
    assert chat_ids(tok, messages) == ref
    ct = chat_tokens(tok, messages, smollm2_tok.facts.kind)
    assert ct.ids == ref and [p.id for p in ct.pieces] == ref
    assert ct.text == tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    # the message tokens are exactly the messages' text; everything else came from the template
    assert ct.from_message is not None
    for (s, e), m in zip(ct.message_spans, messages):
        assert ct.text[s:e] == m["content"]
    mine = [p for p, m in zip(ct.pieces, ct.from_message) if m]
    inside = [(s, e) for s, e in ct.message_spans]
    for p in mine:  # a message token lies inside a message ...
        assert any(s <= p.span[0] and p.span[1] <= e for s, e in inside)
    for s, e in inside:  # ... and every visible character of a message is on a message token
        for i in range(s, e):
            if not ct.text[i].isspace():
                assert any(p.span[0] <= i < p.span[1] for p in mine), (i, ct.text[i])
    for p, m in zip(ct.pieces, ct.from_message):  # what lies outside every message is the template's
        if p.covers_text and not any(s <= p.span[1] - 1 and p.span[0] < e for s, e in inside):
            assert not m
    assert ct.added_by_template == sum(not m for m in ct.from_message) > 0


def test_chat_marks_the_role_markers_and_default_system_text_as_the_templates(smollm2_tok):
    tok = smollm2_tok.tokenizer
    ct = chat_tokens(tok, conversation("You"), smollm2_tok.facts.kind)
    im_start, im_end = tok.convert_tokens_to_ids(["<|im_start|>", "<|im_end|>"])
    for p, mine in zip(ct.pieces, ct.from_message):
        if p.id in (im_start, im_end):
            assert p.special and not mine
    # "You" also starts SmolLM2's default system message; only the user's copy is the user's
    assert [p.text for p, mine in zip(ct.pieces, ct.from_message) if mine] == ["You"]
    assert sum(p.text == "You" for p in ct.pieces) == 2
    # SmolLM2's template (its jinja source) appends '<|im_start|>assistant\n' for add_generation_prompt
    assert "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}" in tok.chat_template
    assert ct.generation_prompt == "<|im_start|>assistant\n" and ct.text.endswith(ct.generation_prompt)
    # with no system message, SmolLM2's template writes its own (the "if loop.first ... != 'system'" branch)
    assert "messages[0]['role'] != 'system'" in tok.chat_template
    assert ct.default_system and ct.text.startswith("<|im_start|>system\n")
    assert not chat_tokens(tok, conversation("You", "Be brief."), smollm2_tok.facts.kind).default_system


def test_a_template_that_refuses_or_rewrites(smollm2_tok):
    import copy

    tok = copy.deepcopy(smollm2_tok.tokenizer)
    tok.chat_template = "{{ raise_exception('Only user messages are supported') }}"
    with pytest.raises(ChatTemplateError) as e:
        chat_tokens(tok, conversation("hi"), "byte-level BPE")
    assert one_sentence(str(e.value)) and "Only user messages" in str(e.value)
    tok.chat_template = "{% for m in messages %}<|im_start|>{{ m['content'] | upper }}<|im_end|>{% endfor %}"
    ct = chat_tokens(tok, conversation("hello there"), "byte-level BPE")
    assert ct.text == "<|im_start|>HELLO THERE<|im_end|>" and ct.from_message is None and not ct.default_system
    assert ct.generation_prompt == ""
    assert render(tok, conversation("a")) == "<|im_start|>A<|im_end|>"



@pytest.fixture(scope="module")
def engine(smollm2):
    e = Engine(smollm2)
    yield e
    e.close()


@pytest.mark.parametrize("messages", MESSAGES[:2], ids=["capital", "system"])
def test_chat_reply_greedy_equals_generate(smollm2, stock_smollm2, engine, messages):
    ids = chat_ids(smollm2.tokenizer, messages)
    req = engine.generate(ids, Settings(max_new_tokens=8), timeout=120)
    x = torch.tensor([ids])
    with torch.inference_mode():
        ref = stock_smollm2.generate(x, attention_mask=torch.ones_like(x), do_sample=False, max_new_tokens=8,
                                     pad_token_id=stock_smollm2.config.eos_token_id)[0, len(ids):].tolist()
    assert req.token_ids == ref


def test_chat_reply_stops_at_the_end_of_turn_like_generate(smollm2, engine):
    """The engine stops where generate stops: at the model's eos, which for SmolLM2 is <|im_end|>."""
    ids = chat_ids(smollm2.tokenizer, conversation("Say hello."))
    req = engine.generate(ids, Settings(max_new_tokens=48), timeout=240)
    x = torch.tensor([ids])
    with torch.inference_mode():
        ref = smollm2.model.generate(x, attention_mask=torch.ones_like(x), do_sample=False, max_new_tokens=48,
                                     pad_token_id=smollm2.model.config.eos_token_id)[0, len(ids):].tolist()
    assert req.token_ids == ref
    im_end = smollm2.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert im_end in engine.stop_ids
    assert ref[-1] == im_end and req.finish_reason == "eos" and len(ref) < 48


def test_tiny_gpt2_chat_uses_its_saved_template(tiny_gpt2):
    """A local decoder saved with SmolLM2's tokenizer carries its template: the same ids, and the model-forward
    engine answers in chat mode like generate."""
    lm = SimpleNamespace(model=tiny_gpt2.model, tokenizer=tiny_gpt2.tokenizer, lock=threading.RLock(),
                         spec=SimpleNamespace(id="tiny-gpt2"))
    ids = chat_ids(lm.tokenizer, conversation("hi"))
    e = Engine(lm)
    try:
        req = e.generate(ids, Settings(max_new_tokens=5), timeout=60)
    finally:
        e.close()
    x = torch.tensor([ids])
    with torch.inference_mode():
        ref = lm.model.generate(x, attention_mask=torch.ones_like(x), do_sample=False, max_new_tokens=5,
                                pad_token_id=lm.model.config.eos_token_id)[0, len(ids):].tolist()
    assert req.token_ids == ref


def test_text_params_refuse_long_values_in_one_line():
    from components.inputs import text_up_to

    parse = text_up_to(10)
    assert parse("0123456789") == "0123456789" and parse("") == ""
    with pytest.raises(ValueError) as e:
        parse("x" * 11)
    assert "\n" not in str(e.value) and "10" in str(e.value)
