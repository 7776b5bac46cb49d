"""AppTest of the input lessons through the real app.py: the sentence pair on the Tokens page (segment ids, the
NSP sentence or probability), the chat view (the template's exact text and ids), the Generate page's chat mode,
and bad URL values."""
from __future__ import annotations

import html
import re

import pytest
import torch
from streamlit.testing.v1 import AppTest

from models import registry
from tests.app.helpers import run_page

TOKENS = "app_pages/tokens.py"
GENERATE = "app_pages/generate.py"
A, B = "the man went to the store", "he bought a gallon of milk"


def chip_blocks(at: AppTest, marker: str) -> list[str]:
    return [h.proto.body for h in at.get("html") if "tx-chips" in h.proto.body and marker in h.proto.body]


def ids_of(block: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-id="(\d+)"', block)]


def chat_text(at: AppTest) -> str:
    """The template text the page shows, as plain text (the grey ⏎ marks removed, the real newlines kept)."""
    (body,) = [h.proto.body for h in at.get("html") if "tx-chat-text" in h.proto.body]
    body = body[body.index("<pre"):].replace('<span class="tx-nl">⏎</span>', "")
    return html.unescape(re.sub(r"<[^>]+>", "", body))


def markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_pair_view_on_minilm_shows_the_tokenizers_segment_ids_and_no_nsp_head(minilm):
    at = run_page(TOKENS, model="minilm-l6")
    (block,) = chip_blocks(at, "data-segment")
    ref = minilm.tokenizer(A, B)  # the defaults: the BERT paper's pair
    assert ids_of(block) == ref["input_ids"]
    assert [int(s) for s in re.findall(r'data-segment="(\d)"', block)] == ref["token_type_ids"]
    assert set(ref["token_type_ids"]) == {0, 1}
    text = markdown(at)
    assert "no next-sentence-prediction head" in text and "cls.seq_relationship" in text
    assert "`type_vocab_size` = 2" in text
    assert not [m for m in at.metric if m.label == "P(B follows A)"]
    assert at.text_input(key="pair_a").value == A and at.text_input(key="pair_b").value == B
    # no chat view for an encoder without a chat template
    assert not chip_blocks(at, "data-origin") and "A conversation as tokens" not in [s.value for s in at.subheader]


def test_pair_from_the_url_and_the_unrelated_button(minilm):
    a, b = "Tokenizers split rare words.", "今天天气很好"
    at = run_page(TOKENS, model="minilm-l6", pair_a=a, pair_b=b)
    (block,) = chip_blocks(at, "data-segment")
    assert ids_of(block) == minilm.tokenizer(a, b)["input_ids"]
    at.button(key="pair_toggle").click().run()
    assert not at.exception
    from components.inputs import UNRELATED_B

    (block,) = chip_blocks(at, "data-segment")
    assert ids_of(block) == minilm.tokenizer(a, UNRELATED_B)["input_ids"]
    assert at.query_params["pair_b"] == UNRELATED_B and at.query_params["pair_a"] == a


@pytest.fixture
def nsp_model(tiny_bert_nsp, clean_registry):
    return registry.register_local(tiny_bert_nsp.dir).id


def test_a_checkpoint_with_an_nsp_head_shows_p_b_follows_a(nsp_model, tiny_bert_nsp):
    at = run_page(TOKENS, model=nsp_model)
    (metric,) = [m for m in at.metric if m.label == "P(B follows A)"]
    enc = tiny_bert_nsp.tokenizer(A, B, return_tensors="pt")
    with torch.inference_mode():
        ref = float(tiny_bert_nsp.model(**enc).seq_relationship_logits.softmax(-1)[0, 0])
    assert metric.value == f"{ref:.1%}"
    assert "next-sentence-prediction head" in markdown(at) and "cls.seq_relationship.weight" in markdown(at)


def test_chat_view_on_smollm2_shows_the_template(smollm2):
    message = "What is the capital of France?"
    at = run_page(TOKENS, model="smollm2-135m")
    msgs = [{"role": "user", "content": message}]
    expected = smollm2.tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    assert chat_text(at) == expected  # the exact template text
    (block,) = chip_blocks(at, "data-origin")
    ids = smollm2.tokenizer.apply_chat_template(msgs, tokenize=True, add_generation_prompt=True,
                                                return_dict=True)["input_ids"]
    assert ids_of(block) == ids
    origins = re.findall(r'data-origin="(\w+)"', block)
    im_start = smollm2.tokenizer.convert_tokens_to_ids("<|im_start|>")
    assert all(o == "template" for i, o in zip(ids, origins) if i == im_start)
    assert "message" in origins and "tx-special tx-template" in block  # role markers: special AND template
    assert "<|im_start|>" in html.unescape(block)
    text = markdown(at)
    im_end = smollm2.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert f"<|im_end|> ` (id {im_end})" in text and "add_generation_prompt=True" in text
    assert "<|im_start|>assistant⏎" in text  # the generation prompt, newline made visible
    assert "You gave no system message, yet the template wrote a system turn" in text
    assert "generate?" in text and "input=chat" in text  # link to answer it on the Generate page
    assert not chip_blocks(at, "data-segment")  # no pair view for a decoder


def test_chat_view_with_a_system_message_from_the_url(smollm2):
    at = run_page(TOKENS, model="smollm2-135m", message="Hi!", system="Answer in French.")
    msgs = [{"role": "system", "content": "Answer in French."}, {"role": "user", "content": "Hi!"}]
    assert chat_text(at) == smollm2.tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    assert "You gave no system message" not in markdown(at)


@pytest.mark.parametrize("page, name", [(TOKENS, "pair_a"), (TOKENS, "pair_b"), (TOKENS, "message"),
                                        (TOKENS, "system"), (GENERATE, "message"), (GENERATE, "system")])
def test_too_long_url_texts_warn_and_fall_back(page, name):
    model = "minilm-l6" if name.startswith("pair") else "smollm2-135m"
    at = run_page(page, model=model, input="chat", **{name: "x" * 1001})
    named = [w.value for w in at.warning if f"link's {name}=" in w.value]
    assert len(named) == 1 and "1,000" in named[0]


def test_bad_input_mode_warns():
    at = run_page(GENERATE, model="smollm2-135m", input="voice")
    assert any("link's input=" in w.value for w in at.warning)
    assert at.radio(key="input").value == "text"


def output_blocks(at: AppTest) -> list[str]:
    return [h.proto.body for h in at.get("html") if 'data-testid="tx-generated"' in h.proto.body]


def generated_text(block: str) -> str:
    return "".join(html.unescape(m) for m in re.findall(r'<span class="tx-tok[^"]*"[^>]*>(.*?)</span>', block, re.S))


def test_generate_chat_mode_answers_the_message(smollm2):
    message = "Name one planet."  # not the default: the URL keeps it
    at = run_page(GENERATE, model="smollm2-135m", input="chat", message=message, max_new_tokens="6")
    assert at.radio(key="input").value == "chat"
    caption = "\n".join(c.value for c in at.caption)
    assert "` <|im_end|> `" in caption and "Tokens page" in caption  # where the reply stops: the model's eos
    at.button(key="gen_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    ids = smollm2.tokenizer.apply_chat_template([{"role": "user", "content": message}], tokenize=True,
                                                add_generation_prompt=True, return_dict=True)["input_ids"]
    x = torch.tensor([ids])
    with torch.inference_mode():
        out = smollm2.model.generate(x, attention_mask=torch.ones_like(x), do_sample=False, max_new_tokens=6,
                                     pad_token_id=smollm2.model.config.eos_token_id)
    blocks = output_blocks(at)
    assert blocks and generated_text(blocks[-1]) == smollm2.tokenizer.decode(out[0, len(ids):])
    assert html.escape("<|im_start|>assistant") in blocks[-1]  # the prompt shown is the templated conversation
    assert at.query_params["input"] == "chat" and at.query_params["message"] == message


def test_generate_chat_mode_needs_a_message():
    at = run_page(GENERATE, model="smollm2-135m", input="chat", message="   ")
    assert any("Type a message" in i.value for i in at.info)
    assert not [b for b in at.button if b.key == "gen_go"]  # the page run ends before the controls
