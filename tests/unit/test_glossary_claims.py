"""Numbers and model claims written in glossary entries (components/glossary.py), computed from the loaded
models: the feed-forward network's share of a block, d_head, the activation functions, which bundled model has
an MLM head, and the beam-search ranking the Generate page uses."""
from __future__ import annotations

import inspect
import re

from components.glossary import term


def block_split(model, block: int = 0) -> tuple[int, int, int]:
    """(MLP, attention, everything) parameters of one block, from the model's own named_parameters()."""
    prefix = next(name for name, _m in model.named_modules() if re.fullmatch(r".*layers?\.0", name))
    prefix = prefix[:-1] + str(block)
    mlp = att = total = 0
    for name, p in model.named_parameters():
        if not name.startswith(prefix + "."):
            continue
        rest = name[len(prefix) + 1:]
        total += p.numel()
        if rest.startswith(("mlp.", "intermediate.", "output.dense")):
            mlp += p.numel()
        elif rest.startswith(("self_attn.", "attention.self.", "attention.output.dense")):
            att += p.numel()
    return mlp, att, total


def test_feed_forward_network_holds_most_of_a_smollm2_block(smollm2):
    text = term("feed-forward network").text
    mlp, att, total = block_split(smollm2.model)
    assert mlp == 3 * smollm2.facts.d_model * smollm2.facts.d_ff  # gate, up and down projections
    share = mlp / total
    assert share > 0.5
    assert f"{share:.0%}" in text  # "75%"
    assert f"{mlp / 1e6:.2f} M of {total / 1e6:.2f} M" in text  # "2.65 M of 3.54 M"
    assert f"{smollm2.facts.d_model} → {smollm2.facts.d_ff:,}" in text  # "576 → 1,536"
    assert "small" not in text.replace("not small", "")
    # every block has the same split
    for b in range(smollm2.facts.n_layers):
        assert block_split(smollm2.model, b) == (mlp, att, total)


def test_feed_forward_network_is_most_of_a_minilm_block_too(minilm):
    mlp, att, total = block_split(minilm.model)
    assert mlp / total > 0.5 and att < mlp


def test_activation_functions_named_in_the_entry(smollm2, minilm):
    text = term("feed-forward network").text
    assert smollm2.model.config.hidden_act == "silu" and "gated SiLU in SmolLM2" in text
    assert type(smollm2.model.model.layers[0].mlp).__name__ == "LlamaMLP"  # act(gate(x)) * up(x): gated
    assert minilm.model.config.hidden_act == "gelu" and "GELU in MiniLM" in text


def test_d_head_in_the_query_key_value_entry(smollm2, minilm):
    text = term("query / key / value").text
    for lm, name in ((smollm2, "SmolLM2"), (minilm, "MiniLM")):
        assert lm.facts.d_head == lm.facts.d_model // lm.facts.n_heads
        assert f"{lm.facts.d_head} in {name}" in text  # 64 in SmolLM2, 32 in MiniLM (384 / 12)
    attn = smollm2.model.model.layers[0].self_attn
    assert attn.scaling == smollm2.facts.d_head ** -0.5  # the factor the model really uses
    assert minilm.model.encoder.layer[0].attention.self.attention_head_size == minilm.facts.d_head
    assert "√d_head" in text


def test_masked_lm_entry_names_bert_recipe_and_the_bundled_encoder(minilm):
    text = term("masked LM").text
    assert "15%" in text and "80%" in text and "10% by a random token" in text and "next-sentence" in text
    assert "how BERT was trained" not in text
    assert minilm.facts.training.objective != "masked-lm" and minilm.facts.head == "none"
    assert "all-MiniLM-L6-v2 has no such head" in text


def test_sentence_embedding_entry_matches_minilm(minilm):
    text = term("sentence embedding").text
    assert minilm.facts.training.pooling == "mean" and "mean pooling" in text
    assert minilm.facts.training.objective == "contrastive" and "contrastively" in text


def test_beam_search_entry_describes_transformers_ranking():
    from models.generation import beam_search

    text = term("beam search").text
    assert "most likely whole sequence wins" not in text and "can still miss" in text
    default = inspect.signature(beam_search).parameters["length_penalty"].default
    assert default == 1.0 and f"length_penalty {default:g}" in text
    assert "divided by their length" in text
