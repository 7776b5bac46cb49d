"""AppTest of issue #24's lessons through the real app.py: "Train a tokenizer" and "The token tax" (Tokens),
"the KV cache, token by token" (Generate), "Sample 100 times" (Next token). Expected numbers come from the
`tokenizers` library, the tokenizers themselves and the model's own forward pass, never from the code under test."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from components.widgets import visible
from models import bpe
from models.loading import load_tokenizer
from tests.app.helpers import array, run_page

TOKENS, GENERATE, NEXT = "app_pages/tokens.py", "app_pages/generate.py", "app_pages/next_token.py"
TEXT = "The model reads the tokens of the text one layer at a time."


def chip_blocks(at) -> list[list[int]]:
    blocks = [h.proto.body for h in at.get("html") if "tx-chips" in h.proto.body]
    return [[int(x) for x in re.findall(r'data-id="(\d+)"', b)] for b in blocks]


def metric(at, label: str) -> str:
    return next(str(m.value) for m in at.metric if m.label == label)


def figures(at) -> dict[str, dict]:
    out = {}
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        title = spec["layout"].get("title", {}).get("text")
        if title:
            out[title] = spec
    return out


def everything(at) -> str:
    return "\n".join(str(e.value) for e in [*at.markdown, *at.caption, *at.info, *at.warning])


# ------------------------------------------------------------------------------------------ tokens
def test_train_on_the_app_corpus_equals_the_library():
    at = run_page(TOKENS, text=TEXT, bpe_merges="100")
    corpus = bpe.app_corpus("en")
    full = bpe.library_trained(corpus, bpe.N_BYTES + bpe.MAX_MERGES)
    assert metric(at, "Merges learned") == f"{len(bpe.library_merges(full)):,}"
    first100 = bpe.library_trained(corpus, bpe.N_BYTES + 100)
    blocks = chip_blocks(at)
    assert first100.encode(TEXT).ids in blocks  # the text cut with the first 100 merges
    assert load_tokenizer("smollm2-135m")(TEXT, add_special_tokens=False).input_ids in blocks  # next to the real one
    left, right = bpe.library_merges(first100)[99]
    merge_line = next(m.value for m in at.markdown if m.value.startswith("**Merge 100:**"))
    code = "` {} `".format
    shown = lambda t: code(visible(bpe.readable(t)))  # noqa: E731 (one space marker: ␣)
    assert f"{shown(left)} + {shown(right)} → {shown(left + right)}" \
        in merge_line
    assert "Checked live" in everything(at)
    assert at.query_params["bpe_merges"] == "100" and "bpe_corpus" not in at.query_params  # "app" is the default
    assert at.slider(key="bpe_merges").value == 100


def test_own_corpus_from_a_link():
    corpus = "low lower lowest newer newest wider widest " * 4
    at = run_page(TOKENS, text="the lowest newest", bpe_corpus="own", bpe_text=corpus, bpe_merges="5")
    lib = bpe.library_trained([corpus], bpe.N_BYTES + bpe.MAX_MERGES)
    assert metric(at, "Merges learned") == str(len(bpe.library_merges(lib)))
    assert bpe.library_trained([corpus], bpe.N_BYTES + 5).encode("the lowest newest").ids in chip_blocks(at)
    assert at.text_area(key="bpe_text").value == corpus


def test_a_corpus_too_small_to_merge_says_so():
    at = run_page(TOKENS, text="abc", bpe_corpus="text")
    assert "so nothing can be merged" in everything(at)


def test_a_link_asking_for_more_merges_than_the_corpus_gives():
    corpus = "aa bb aa bb aa bb"
    at = run_page(TOKENS, text="aa", bpe_corpus="own", bpe_text=corpus, bpe_merges="900")
    n = len(bpe.library_merges(bpe.library_trained([corpus], bpe.N_BYTES + 900)))
    assert f"This corpus gives {n:,} merges, so N is {n:,}." in everything(at)
    assert at.slider(key="bpe_merges").value == n


def test_chinese_session_trains_on_the_chinese_texts(monkeypatch):
    import i18n

    monkeypatch.setattr(i18n, "_language_getter", lambda: "zh")
    at = run_page(TOKENS, lang="zh", text="今天天气很好", bpe_merges="50")
    lib = bpe.library_trained(bpe.app_corpus("zh"), bpe.N_BYTES + bpe.MAX_MERGES)
    assert metric(at, "学到的合并") == f"{len(bpe.library_merges(lib)):,}"
    assert bpe.library_trained(bpe.app_corpus("zh"), bpe.N_BYTES + 50).encode("今天天气很好").ids in chip_blocks(at)


@pytest.mark.parametrize("model_id", ["smollm2-135m", "minilm-l6"])
def test_token_tax_counts_are_the_tokenizers_own(model_id):
    a, b = "The weather is very nice today.", "今天天气很好。"
    at = run_page(TOKENS, model=model_id, text="hello", tax_a=a, tax_b=b)
    table = at.dataframe[-1].value
    for mid in ("smollm2-135m", "minilm-l6"):
        tok = load_tokenizer(mid)
        rows = table[table["tokenizer"].str.startswith({"smollm2-135m": "SmolLM2", "minilm-l6": "all-MiniLM"}[mid])]
        assert list(rows["tokens"]) == [len(tok(t, add_special_tokens=False).input_ids) for t in (a, b)]
        assert list(rows["characters"]) == [len(a), len(b)]
    own = load_tokenizer(model_id)
    na, nb = (len(own(t, add_special_tokens=False).input_ids) for t in (a, b))
    assert f"charges {nb / na:.2f} times as much for text B" in everything(at)


# ------------------------------------------------------------------------------------------ bad links
@pytest.mark.parametrize("page, params", [
    (TOKENS, {"bpe_merges": "lots"}), (TOKENS, {"bpe_merges": "5000"}), (TOKENS, {"bpe_corpus": "web"}),
    (TOKENS, {"tax_a": "x" * 1001}),
    (GENERATE, {"kv_layer": "0"}), (GENERATE, {"kv_layer": "31"}), (GENERATE, {"kv_head": "4"}),
    (GENERATE, {"kv_step": "-3"}),
    (NEXT, {"samples_tokens": "0"}), (NEXT, {"seed": "1e3"}),
])
def test_bad_lesson_params_fall_back_with_a_warning(page, params):
    at = run_page(page, text="The capital of France is", **params)
    (name,) = params
    warned = [w.value for w in at.warning if "was not used" in w.value]
    assert any(f"{name}=" in w for w in warned), warned


# ------------------------------------------------------------------------------------------ generate
def test_kv_cache_section_numbers_are_the_models(smollm2):
    text = "Once upon a time, in a small village by the sea"
    at = run_page(GENERATE, text=text, kv_layer="2", kv_head="3", kv_step="4")
    c = smollm2.model.config
    per_token = c.num_hidden_layers * c.num_key_value_heads * (c.hidden_size // c.num_attention_heads) * 2 * 4
    assert metric(at, "Cache per token") == f"{per_token:,} B"
    assert metric(at, "Cache after step 4") == f"{4 * per_token / 1e3:,.1f} kB"
    assert metric(at, "Without grouped-query attention") == \
        f"{4 * per_token * c.num_attention_heads // c.num_key_value_heads / 1e3:,.1f} kB"
    ids = smollm2.tokenizer(text)["input_ids"]
    figs = figures(at)
    rows = figs[f"Layer 2, key/value head 3: step 4 of {len(ids)}"]
    with torch.inference_mode():
        cache = smollm2.model(input_ids=torch.tensor([ids]), use_cache=True).past_key_values
    keys = cache.layers[1].keys[0, 2].numpy()  # layer 2 = the second block, key/value head 3
    shown = array(rows["data"][0]["z"])
    np.testing.assert_allclose(shown[:4], keys[:4], atol=1e-4)
    assert np.isnan(shown[4:]).all()  # tokens after step 4 are not computed yet
    assert "That is exactly the formula" in everything(at)
    assert "Time per step, measured on this server" not in figs
    at.button(key="kv_time").click().run()
    assert not at.exception
    assert "Time per step, measured on this server" in figures(at)
    assert "After every step the real cache tensors held exactly the formula's bytes." in everything(at)
    assert at.query_params["kv_layer"] == "2" and at.query_params["kv_step"] == "4"


# ------------------------------------------------------------------------------------------ next token
def samples_table(at):
    return next(d.value for d in at.dataframe if "continuation" in d.value.columns)


def test_sample_100_times_follows_the_probabilities(smollm2):
    from models.sampling import adjust

    prompt = "Once upon a time, there was a"
    at = run_page(NEXT, text=prompt, temperature="1", top_k="20", samples_tokens="3", seed="7")
    at.button(key="samples_go").click().run()
    assert not at.exception
    table = samples_table(at)
    assert table["count"].sum() == 100 and metric(at, "Distinct continuations") == str(len(table))
    fig = figures(at)["First token of 100 samples vs its probability"]
    drawn, expected = fig["data"][0], fig["data"][1]
    with torch.inference_mode():
        logits = smollm2.model(input_ids=torch.tensor([smollm2.tokenizer(prompt)["input_ids"]])).logits[0, -1]
    probs = adjust(logits.float().numpy(), 1.0, 20, 1.0).probs
    ids = [int(re.search(r"\(id (\d+)\)$", y).group(1)) for y in expected["y"]]
    np.testing.assert_allclose(array(expected["x"]), probs[ids], atol=1e-4)
    assert sum(array(drawn["customdata"])) <= 100 and (array(drawn["x"]) * 100).round().sum() > 50
    assert at.query_params["samples_tokens"] == "3" and at.query_params["seed"] == "7"


def test_temperature_zero_gives_one_answer_100_times():
    at = run_page(NEXT, text="The capital of France is", temperature="0", samples_tokens="4")
    at.button(key="samples_go").click().run()
    table = samples_table(at)
    assert len(table) == 1 and table["count"].iloc[0] == 100
    assert "at temperature 0 every draw takes the most likely token" in everything(at)


def test_the_kv_cache_lesson_runs_only_while_its_expander_is_open(monkeypatch):
    """Closed (no kv_ parameter in the link), the lesson computes nothing: a class opening the Generate page does not
    pay its forward pass. Opened, it is drawn as a link with its parameters draws it."""
    from models import kv_cache

    calls: list[list[int]] = []
    real = kv_cache.snapshot
    monkeypatch.setattr(kv_cache, "snapshot", lambda lm, ids: calls.append(ids) or real(lm, ids))
    text = "A text of its own for the lazy KV lesson"
    at = run_page(GENERATE, text=text)
    [box] = [e for e in at.expander if "the KV cache" in e.label]
    assert calls == [] and not [s for s in at.slider if s.label == "Step (token)"]
    assert "Cache per token" not in [m.label for m in at.metric]
    at.session_state["kv_open"] = True  # what the browser sends when the student opens it
    at.run()
    assert not at.exception and len(calls) == 1
    assert "Cache per token" in [m.label for m in at.metric]
    assert [s for s in at.slider if s.label == "Step (token)"]


def test_a_link_opens_the_kv_cache_lesson_and_it_stays_open():
    """kv_layer=1 is the default, so the first run drops it from the URL: the lesson stays open on the next runs."""
    at = run_page(GENERATE, text="Another text of its own", kv_layer="1")
    assert "Cache per token" in [m.label for m in at.metric]
    assert "kv_layer" not in at.query_params
    at.run()
    assert not at.exception and "Cache per token" in [m.label for m in at.metric]
