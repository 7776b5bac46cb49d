"""The Overview's "Where the parameters are" section, the Tokens page's context-window notice, the facts card's
line and the glossary entry, through the real app.py. Expected counts come from a stock transformers load of the
same weights made here, expected token counts from the tokenizer on its own."""
from __future__ import annotations

import pytest
import torch

from components import params_view
from components.params_plots import parameter_treemap
from components.glossary import term
from models import params as P
from models.loading import load_tokenizer, weights_location
from models.registry import get_spec
from models.tokens import MAX_TOKENS
from tests.app.helpers import array, charts, run_page

MODELS = ["smollm2-135m", "minilm-l6"]


@pytest.fixture(scope="module")
def stock_totals() -> dict[str, int]:
    """sum(p.numel()) of each bundled model loaded by transformers alone (no packing)."""
    from transformers import AutoModel, AutoModelForCausalLM

    out = {}
    for model_id in MODELS:
        spec = get_spec(model_id)
        cls = AutoModelForCausalLM if spec.head == "causal-lm" else AutoModel
        model = cls.from_pretrained(weights_location(spec), dtype=torch.float32)
        out[model_id] = sum(p.numel() for p in model.parameters())
        del model
    return out


def parts_table(at):
    return next(d.value for d in at.dataframe if "share of the model" in d.value.columns)


# ------------------------------------------------------------------------------------------ Overview
@pytest.mark.parametrize("model_id", MODELS)
def test_overview_shows_the_parameter_table(model_id, stock_totals):
    at = run_page("app_pages/home.py", model=model_id)
    total = stock_totals[model_id]
    assert any(h.value == "Where the parameters are" for h in at.header)
    table = parts_table(at)
    rows = table.set_index("part")
    assert int(rows.loc["total", "parameters"]) == total
    assert int(table["parameters"].iloc[:-1].sum()) == total  # the parts add up to the total
    head_note = rows.loc["output head", "note"]
    per_block = rows["per block"].map(lambda v: int(v.replace(",", "")) if v else None)  # shown as "2,654,208"
    mlp_share = per_block["MLP (feed-forward)"] / per_block["total"]
    if model_id == "smollm2-135m":
        assert mlp_share == pytest.approx(0.75, abs=0.005)
        assert rows.loc["token embedding", "parameters"] == 49152 * 576
        assert "tied" in head_note and "tied" in rows.loc["token embedding", "note"]
    else:
        assert "no output head" in head_note and "tied" not in rows.loc["token embedding", "note"]
        assert "not used" in rows.loc["pooler", "note"]  # all-MiniLM-L6-v2 mean-pools (1_Pooling/config.json)
    # the treemap: its root is the same total, its boxes add up
    fig = next(spec for title, spec in charts(at).items() if title.startswith("Where the"))
    trace = fig["data"][0]
    values, parents = array(trace["values"]), trace["parents"]
    assert f"{total:,}" in next(t for t in charts(at) if t.startswith("Where the"))
    assert int(values[0]) == total
    assert int(sum(v for v, p in zip(values, parents) if p == "root")) == total
    # GPT-3 and BERT-base next to it
    refs = next(d.value for d in at.dataframe if "published" in d.value.columns).set_index("model")
    assert int(refs.loc["GPT-3 175B", "token embedding (vocabulary × d_model)"]) == 617_558_016
    assert refs.loc["GPT-3 175B", "published"] == "175 B" and refs.loc["BERT-base", "published"] == "110 M"
    assert int(refs.iloc[0]["parameters (counted)"]) == total


def test_overview_in_chinese_keeps_the_numbers(stock_totals):
    at = run_page("app_pages/home.py", model="smollm2-135m", lang="zh")
    table = next(d.value for d in at.dataframe if len(d.value) and d.value.iloc[-1, 3] == stock_totals["smollm2-135m"])
    assert len(table) >= 5


def test_treemap_and_rows_for_an_untied_model():
    from transformers import LlamaConfig, LlamaForCausalLM

    model = LlamaForCausalLM(LlamaConfig(vocab_size=100, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                         num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=False))
    pc = P.count_parameters(model)
    rows = params_view.part_rows(pc)
    assert rows[-1]["parameters"] == sum(p.numel() for p in model.parameters())
    head = next(r for r in rows if r["part"] == "output head")
    assert head["parameters"] == 1600 and "tied" not in head["note"]
    trace = parameter_treemap(pc, "tiny").data[0]
    assert trace.values[0] == rows[-1]["parameters"]
    assert "own" in " ".join(params_view.summary(pc, "tiny"))


# ------------------------------------------------------------------------------------ Tokens page
def tokens_info(at) -> str:
    return " ".join(i.value for i in at.info)


def test_tokens_page_says_what_the_app_cuts_on_smollm2():
    text = "The river runs past the old mill and the bridge. " * 80
    n = len(load_tokenizer("smollm2-135m")(text).input_ids)
    at = run_page("app_pages/tokens.py", model="smollm2-135m", text=text)
    info = tokens_info(at)
    assert f"{n:,} tokens long" in info and f"first {MAX_TOKENS}" in info
    assert f"other {n - MAX_TOKENS:,} tokens" in info
    assert "this app's limit" in info and "8,192" in info  # the model's own window is larger
    assert "longer than that window too" not in info


def test_tokens_page_says_why_minilm_cannot_read_more():
    text = "The river runs past the old mill and the bridge. " * 80
    n = len(load_tokenizer("minilm-l6")(text).input_ids)
    at = run_page("app_pages/tokens.py", model="minilm-l6", text=text)
    info = tokens_info(at)
    assert f"{n:,} tokens long" in info and f"other {n - MAX_TOKENS:,} tokens" in info
    assert "context window" in info and "position table has 512 rows" in info
    assert "this app's limit" not in info
    assert any("first 256 tokens" in c.value for c in at.caption)  # sentence-transformers' max_seq_length


def test_tokens_page_text_past_smollm2s_window():
    text = "word " * 9000
    n = len(load_tokenizer("smollm2-135m")(text).input_ids)
    assert n > 8192
    info = tokens_info(run_page("app_pages/tokens.py", model="smollm2-135m", text=text))
    assert "longer than that window too" in info and "RoPE" in info and "8,192" in info


@pytest.mark.parametrize("model_id", MODELS)
def test_short_text_says_nothing_about_cutting(model_id):
    at = run_page("app_pages/tokens.py", model=model_id, text="The capital of France is")
    assert "tokens long" not in tokens_info(at)
    assert not any("sentence-transformers" in c.value for c in at.caption)


def test_minilm_text_between_256_and_512_tokens():
    text = "The river runs past the old mill and the bridge. " * 25
    n = len(load_tokenizer("minilm-l6")(text).input_ids)
    assert 256 < n <= 512
    at = run_page("app_pages/tokens.py", model="minilm-l6", text=text)
    assert "tokens long" not in tokens_info(at)  # nothing is cut here...
    assert any("first 256 tokens" in c.value for c in at.caption)  # ...but sentence-transformers would cut


# ------------------------------------------------------------------------------ facts card and glossary
@pytest.mark.parametrize("model_id", MODELS)
def test_facts_card_links_the_context_window(model_id):
    at = run_page("app_pages/tokens.py", model=model_id)
    line = next(c.value for c in at.sidebar.caption if "term=context-window" in c.value)
    n = 8192 if model_id == "smollm2-135m" else 512
    assert f"({n:,})" in line and f"at most {MAX_TOKENS}" in line


def test_glossary_entry_numbers_are_the_models(smollm2, minilm):
    from models.window import window_of

    text = term("context window").body()
    for lm in (smollm2, minilm):
        assert f"{lm.facts.context_length:,}" in text
    assert f"{window_of(minilm).recipe_limit}" in text and f"at most {MAX_TOKENS}" in text
    at = run_page("app_pages/glossary.py")
    assert any(s.value == "context window" for s in at.subheader)
    assert any(m.value.startswith(text) for m in at.markdown)


def test_a_small_share_never_reads_zero():
    assert params_view.share_text(768 / 22_713_216) == "0.0034%"
    assert params_view.share_text(0.21047) == "21.0%" and params_view.share_text(0) == "0.0%"
