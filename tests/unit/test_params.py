"""Where the parameters are (models/params.py) and the context window (models/window.py).

Every expected number comes from somewhere other than the code under test: a stock ``from_pretrained`` load of
the same weights loaded separately, the model's config, the model files, or the published figures."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from models import params as P
from models.loading import bundled_path, load, weights_location
from models.registry import ModelSpec, get_spec
from models.tokens import MAX_TOKENS, encode
from models.window import Window, cut_of, window_of


def stock(model_id: str):
    """The same weights loaded by transformers alone: nothing of ours."""
    from transformers import AutoModel, AutoModelForCausalLM

    spec = get_spec(model_id)
    cls = AutoModelForCausalLM if spec.head == "causal-lm" else AutoModel
    return cls.from_pretrained(weights_location(spec), dtype=torch.float32).eval()


def numel(model) -> int:
    return sum(p.numel() for p in model.parameters())



@pytest.fixture(scope="module")
def stock_minilm():
    return stock("minilm-l6")


# --------------------------------------------------------------------------------- bundled models
def test_smollm2_counts_equal_a_stock_load(smollm2, stock_smollm2):
    pc = P.count_parameters(smollm2.model)
    c = stock_smollm2.config
    assert pc.total == numel(stock_smollm2) == smollm2.facts.n_params
    # packing added no parameter and dropped none: the same names and shapes as the stock model
    ours = {n: tuple(p.shape) for n, p in smollm2.model.named_parameters()}
    assert ours == {n: tuple(p.shape) for n, p in stock_smollm2.named_parameters()}
    assert sum(p.count for p in pc.parts) == pc.total
    # the embedding: vocabulary × d_model from the config, 49,152 × 576 = 28.3 M, about 21% of 134.5 M
    assert pc.count(P.EMBEDDING) == c.vocab_size * c.hidden_size == 49152 * 576
    assert pc.part(P.EMBEDDING).shape == (c.vocab_size, c.hidden_size)
    assert 0.205 < pc.share(P.EMBEDDING) < 0.215
    # tied: the stock model's head IS its embedding tensor, and the head adds nothing
    assert stock_smollm2.lm_head.weight.data_ptr() == stock_smollm2.model.embed_tokens.weight.data_ptr()
    assert pc.tied and pc.has_head and pc.part(P.HEAD) is None
    state = stock_smollm2.state_dict()  # state_dict lists the tied tensor twice (lm_head.weight)
    assert sum(v.numel() for v in state.values()) - pc.head_weight == pc.total
    # one block from the config: GQA attention (q, o: d×d; k, v: d × kv·head_dim), MLP 3 × d × d_ff, 2 RMSNorms
    d, ff, kv = c.hidden_size, c.intermediate_size, c.num_key_value_heads * c.head_dim
    assert pc.n_blocks == c.num_hidden_layers == 30 and pc.blocks_alike
    assert pc.block[P.ATTENTION] == 2 * d * d + 2 * d * kv
    assert pc.block[P.MLP] == 3 * d * ff
    assert pc.block[P.BLOCK_NORMS] == 2 * d
    assert pc.block[P.BLOCK_OTHER] == 0
    assert pc.mlp_share_of_block == pytest.approx(0.75, abs=0.005)
    assert pc.count(P.FINAL_NORM) == d
    assert pc.part(P.OTHER) is None and pc.part(P.POSITION) is None  # RoPE: no position table


def test_minilm_counts_equal_a_stock_load(minilm, stock_minilm):
    pc = P.count_parameters(minilm.model)
    c = stock_minilm.config
    assert pc.total == numel(stock_minilm) == minilm.facts.n_params
    assert pc.count(P.EMBEDDING) == c.vocab_size * c.hidden_size
    assert pc.part(P.POSITION).shape == (c.max_position_embeddings, c.hidden_size)
    assert pc.count(P.TOKEN_TYPE) == c.type_vocab_size * c.hidden_size
    assert pc.count(P.EMBEDDING_NORM) == 2 * c.hidden_size
    assert pc.count(P.POOLER) == numel(stock_minilm.pooler)
    # no head: the config says tie_word_embeddings, but there is nothing to tie
    assert c.tie_word_embeddings and stock_minilm.get_output_embeddings() is None
    assert not pc.has_head and not pc.tied
    d, ff = c.hidden_size, c.intermediate_size
    assert pc.block[P.ATTENTION] == 4 * d * d + 4 * d  # q, k, v, o with biases
    assert pc.block[P.MLP] == 2 * d * ff + ff + d
    assert pc.block[P.BLOCK_NORMS] == 4 * d  # two LayerNorms (weight + bias)
    assert pc.n_blocks == c.num_hidden_layers and pc.part(P.OTHER) is None


# ------------------------------------------------------------------------------ tiny hub architectures
def local(folder, family, head, model_id):
    return load(ModelSpec(id=model_id, label=model_id, family=family, source="local", path=str(folder), head=head))


def test_tiny_gpt2(tiny_gpt2):
    from transformers import GPT2LMHeadModel

    lm = local(tiny_gpt2.dir, "decoder", "causal-lm", "tiny-gpt2")
    independent = GPT2LMHeadModel.from_pretrained(tiny_gpt2.dir)
    pc = P.count_parameters(lm.model)
    assert pc.total == numel(independent) == numel(tiny_gpt2.model)
    c = independent.config
    d = c.n_embd
    assert pc.tied == (independent.lm_head.weight.data_ptr() == independent.transformer.wte.weight.data_ptr()) is True
    assert pc.part(P.POSITION).shape == (c.n_positions, d)  # learned positions: wpe
    assert pc.block == {P.ATTENTION: 4 * d * d + 4 * d, P.MLP: 8 * d * d + 5 * d, P.BLOCK_NORMS: 4 * d,
                        P.BLOCK_OTHER: 0}
    assert pc.count(P.FINAL_NORM) == 2 * d and pc.part(P.OTHER) is None


def test_tiny_bert_masked_lm(tiny_bert):
    from transformers import BertForMaskedLM

    lm = local(tiny_bert.dir, "encoder", "masked-lm", "tiny-bert")
    independent = BertForMaskedLM.from_pretrained(tiny_bert.dir)
    pc = P.count_parameters(lm.model)
    assert pc.total == numel(independent)
    assert pc.tied  # the decoder weight is the word embedding...
    # ... and the head's own parameters (transform dense + LayerNorm, output bias) are everything under cls.
    assert pc.count(P.HEAD) == sum(p.numel() for n, p in independent.named_parameters() if n.startswith("cls."))
    assert pc.count(P.HEAD) > 0 and pc.part(P.POOLER) is None and pc.part(P.OTHER) is None


def test_untied_head_is_counted_on_its_own():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=100, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                         num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=False))
    pc = P.count_parameters(model)
    assert pc.total == numel(model)
    assert not pc.tied and pc.has_head and pc.count(P.HEAD) == 100 * 16 == model.lm_head.weight.numel()
    assert pc.count(P.EMBEDDING) == 100 * 16


def test_a_head_sharing_storage_but_not_the_object_is_tied():
    """Tied is decided on the tensors: another Parameter over the same memory counts as tied."""
    from transformers import LlamaConfig, LlamaForCausalLM

    model = LlamaForCausalLM(LlamaConfig(vocab_size=50, hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=False))
    model.lm_head.weight = torch.nn.Parameter(model.model.embed_tokens.weight.data)  # same storage, new object
    assert P.count_parameters(model).tied


# ------------------------------------------------------------------------------------ reference models
def test_gpt3_reference_matches_the_published_figures():
    pc = P.reference_count(P.GPT3)
    assert pc.count(P.EMBEDDING) == 50257 * 12288 == 617_558_016  # "617 M embedding parameters"
    assert pc.total == pytest.approx(175e9, rel=0.005)  # the paper's 175 B, rounded
    assert pc.n_blocks == 96 and pc.part(P.POSITION).shape == (2048, 12288)
    assert pc.tied and pc.mlp_share_of_block == pytest.approx(2 / 3, abs=0.001)


def test_bert_base_reference_matches_the_published_figures():
    from transformers import BertConfig

    pc = P.reference_count(P.BERT_BASE)
    assert pc.total == pytest.approx(110e6, rel=0.01)
    assert pc.count(P.EMBEDDING) == 30522 * 768 and pc.n_blocks == 12
    # transformers' own BertConfig defaults are bert-base's sizes: the reference built the same module
    default = BertConfig()
    assert (default.hidden_size, default.num_hidden_layers, default.vocab_size) == (768, 12, 30522)
    assert pc.mlp_share_of_block == pytest.approx(0.67, abs=0.01)  # "about 67% in BERT-base"


# ------------------------------------------------------------------------------------ context window
def test_windows_of_the_bundled_models(smollm2, minilm):
    w = window_of(smollm2)
    assert (w.positions, w.kind, w.recipe_limit) == (smollm2.model.config.max_position_embeddings, "rope", None)
    assert w.positions == 8192 and w.analysed == MAX_TOKENS == 512 and w.app_is_tighter
    w = window_of(minilm)
    sbert = json.loads((bundled_path(minilm.spec) / "sentence_bert_config.json").read_text())["max_seq_length"]
    assert (w.positions, w.kind, w.recipe_limit) == (512, "learned", sbert) and sbert == 256
    assert w.positions == minilm.model.embeddings.position_embeddings.num_embeddings
    assert w.analysed == 512 and not w.app_is_tighter


@pytest.mark.parametrize("name", ["smollm2", "minilm"])
def test_cut_keeps_the_first_tokens_and_says_where_the_text_stops(name, request):
    lm = request.getfixturevalue(name)
    text = "The river runs past the old mill and the bridge. " * 80
    full = lm.tokenizer(text).input_ids  # the tokenizer on its own, no cap
    enc = encode(lm.tokenizer, text)
    cut = cut_of(enc, window_of(lm))
    assert cut is not None and cut.n_total == len(full) > MAX_TOKENS
    assert cut.kept == MAX_TOKENS and cut.dropped == len(full) - MAX_TOKENS
    # the kept text tokens are the first tokens of the full encoding, and cover text[:kept_chars]
    body = enc.ids[~enc.special].tolist()
    start = 1 if lm.facts.tokenizer.wraps_cls_sep else 0
    assert body == full[start:start + len(body)]
    assert lm.tokenizer(text[:cut.kept_chars], add_special_tokens=False).input_ids == body
    assert cut.by_app == (name == "smollm2")  # SmolLM2: the app cuts at 512 of its 8,192; MiniLM: its own window
    assert cut.past_window == (len(full) > lm.facts.context_length) == (name == "minilm")


def test_short_text_is_not_cut(smollm2):
    assert cut_of(encode(smollm2.tokenizer, "The capital of France is"), window_of(smollm2)) is None


def test_text_past_the_window_itself():
    """A text longer than the model's window (not only the app's cap) is flagged as such."""
    ids = np.arange(600)
    from models.tokens import Encoding

    enc = Encoding(ids=ids[:100], offsets=np.stack([ids[:100], ids[:100] + 1], 1), special=np.zeros(100, bool),
                   n_total=600)
    cut = cut_of(enc, Window(positions=300, kind="rope", app_cap=100, recipe_limit=None))
    assert cut.by_app and cut.past_window and cut.kept_chars == 100 and cut.dropped == 500
    cut = cut_of(enc, Window(positions=100, kind="learned", app_cap=512, recipe_limit=None))
    assert not cut.by_app and cut.past_window and cut.limit == 100


def _meta(name: str):
    import transformers as tf

    small = dict(vocab_size=1000)
    configs = {
        "DistilBertForMaskedLM": tf.DistilBertConfig(dim=64, hidden_dim=256, n_layers=3, n_heads=4, **small),
        "BertForMaskedLM": tf.BertConfig(hidden_size=64, intermediate_size=256, num_hidden_layers=3,
                                         num_attention_heads=4, **small),
        "GPT2LMHeadModel": tf.GPT2Config(n_embd=64, n_layer=3, n_head=4, **small),
        "LlamaForCausalLM": tf.LlamaConfig(hidden_size=64, intermediate_size=160, num_hidden_layers=3,
                                           num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True,
                                           **small),
    }
    with torch.device("meta"):
        return getattr(tf, name)(configs[name])


@pytest.mark.parametrize("name", ["DistilBertForMaskedLM", "BertForMaskedLM", "GPT2LMHeadModel", "LlamaForCausalLM"])
def test_every_parameter_of_the_registry_architectures_has_a_known_part(name):
    """The registry's hub architectures (built on the meta device): every tensor lands in a named part."""
    model = _meta(name)
    pc = P.count_parameters(model)
    assert pc.total == numel(model)
    assert pc.part(P.OTHER) is None and all(b[P.BLOCK_OTHER] == 0 for b in pc.blocks)
    assert pc.n_blocks == 3 and pc.blocks_alike and pc.block[P.ATTENTION] > 0 and pc.block[P.MLP] > 0
    assert pc.block[P.BLOCK_NORMS] > 0 and pc.tied  # tied, as in the registry (SmolLM2 ties: set here for Llama)
