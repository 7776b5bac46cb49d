"""One-click examples (presets): the worked examples of TEACHING.md as links that set the model, the text, the
page and its controls through the URL parameters the pages already read (see each page's ``state.Param``).

A preset link carries ``preset=<id>``. Opened in a new tab it starts a fresh session and the pages read the URL
as usual; followed inside a running session (``st.page_link`` navigates without reloading), :func:`follow`
makes the shared picker and the target page read the link's values again instead of the values they kept.

Titles, descriptions and variant labels are catalogue entries (``N_``), translated where the gallery shows them;
the links themselves carry no language (a session keeps its own), and every preset is shown in both languages.
"""
from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field

from components.pages import FILES
from i18n import N_

PAGE_FILES = FILES  # url path -> page file (components/pages.py, the one table)
PRESET_PARAM = "preset"

BERT_SENTENCE = "students celebrate the graduation with a big party"
CAPITAL = "The capital of France is"
TIM = "Tim chased clouds all his life"
PARTY_CONTEXTS = "students celebrate the graduation with a big party|the deputy leader is highly respected in the party"
CHINESE = "我们在毕业典礼后举办了一个盛大的派对"  # "we held a big party after the graduation ceremony"
CHINESE_NLP = "我爱自然语言处理"  # "I love natural language processing"
CHINESE_WEATHER = "今天天气很好，我们去公园散步吧。"  # "nice weather today, let's walk in the park."
CHINESE_CAPITAL = "中国的首都是"  # "the capital of China is"
CHINESE_STORY = "从前有一只小猫，它"  # "once upon a time there was a kitten; it"
# issue #24's lessons
APP_SENTENCE = "The model reads the tokens of the text one layer at a time."  # words the app's own texts use a lot
STORY = "Once upon a time, in a small village by the sea, there lived"
TAX_EN = "The weather is very nice today, let's go for a walk in the park."


@dataclass(frozen=True)
class Preset:
    id: str
    title: str  # N_-marked: translate with _() where shown
    what: str  # one line: what the example shows (N_-marked)
    path: str  # url path of the page ("tokens", "next-token", ...)
    params: dict[str, str]  # model, text and the page's own parameters
    variants: tuple[tuple[str, dict[str, str]], ...] = field(default=())  # (label, params that differ)
    chinese: bool = False  # a Chinese example (its own group in the gallery)

    def links(self) -> list[tuple[str, str]]:
        """(label, url) of every link of this preset: one per variant, or one."""
        if not self.variants:
            return [(self.title, preset_url(self.path, self.params, self.id))]
        return [(label, preset_url(self.path, {**self.params, **extra}, self.id)) for label, extra in self.variants]


def preset_url(path: str, params: dict[str, str], preset_id: str | None = None) -> str:
    """A relative link ``/path?model=...&text=...`` with every value URL-encoded (%20, not +)."""
    query = dict(params)
    if preset_id:
        query[PRESET_PARAM] = preset_id
    return f"/{path}?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote)


def parse_url(url: str) -> tuple[str, dict[str, str]]:
    """(page file, query params) of an app link: what the tests open with AppTest."""
    parts = urllib.parse.urlsplit(url)
    path = parts.path.strip("/")
    if path not in PAGE_FILES:
        raise ValueError(f"not a page of this app: /{path}")
    return PAGE_FILES[path], dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))


DECODER, ENCODER = "smollm2-135m", "minilm-l6"

SMOLLM2_BPE, MINILM_WORDPIECE = N_("SmolLM2 (byte-level BPE)"), N_("MiniLM (WordPiece)")

PRESETS: tuple[Preset, ...] = (
    Preset("bert-tokens", N_("BERT cuts a sentence into tokens"),
           N_("WordPiece wraps the text in [CLS] … [SEP]: ten ids, starting with 101 and ending with 102."),
           "tokens", {"model": ENCODER, "text": BERT_SENTENCE, "token": "1"}),
    Preset("cat-dog-car-banana", N_("cat, dog, car, banana"),
           N_("Cosine similarity of the embedding rows: which pairs point the same way?"),
           "similarity", {"model": DECODER, "text": BERT_SENTENCE, "words": "cat, dog, car, banana",
                          "a": "cat", "b": "dog"}),
    Preset("king-queen", N_("king − man + woman"),
           N_("Vector arithmetic on embedding rows, with the honest nearest neighbours of a small model."),
           "embeddings", {"model": DECODER, "text": BERT_SENTENCE, "a": "king", "b": "man", "c": "woman",
                          "word": "queen"}),
    # The claims of these two descriptions are what the bundled models compute: checked by
    # tests/unit/test_similarity.py (party) and tests/unit/test_positions.py (word order).
    Preset("party-contexts", N_("“party” in two contexts"),
           N_("The same word at a graduation and in politics: the same embedding row, yet already a little apart at "
              "layer 0 (MiniLM adds a position vector and normalises), and further apart than that after every "
              "layer, though the gap does not grow steadily."),
           "similarity", {"model": ENCODER, "text": BERT_SENTENCE, "target": "party", "contexts": PARTY_CONTEXTS}),
    Preset("word-order", N_("Tim chased clouds all his life"),
           N_("The same words reversed, with and without positions. SmolLM2 (decoder): not even the same bag of "
              "tokens (`Tim` vs `␣Tim`), and even with no positions its causal mask already tells the two orders "
              "apart. MiniLM (encoder): the same bag of tokens, which it could not tell apart without its position "
              "vectors."),
           "embeddings", {"text": TIM, "layer": "1"},
           variants=((N_("SmolLM2 (decoder, RoPE)"), {"model": DECODER}),
                     (N_("MiniLM (encoder, learned positions)"), {"model": ENCODER}))),
    Preset("capital-france", N_("The capital of France is"),
           N_("The model's probabilities for the next token, over its whole vocabulary."),
           "next-token", {"model": DECODER, "text": CAPITAL}),
    # Inside a block (issue #20); the claims are checked by tests/unit/test_block.py against the models.
    Preset("heads-paris", N_("Which heads know Paris?"),
           N_("The capital of France is → “ Paris”: what each head and MLP adds to its logit, what switching them "
              "off does, and one click to rank every head and MLP by how much p( Paris) falls without it."),
           "block", {"model": DECODER, "text": CAPITAL, "target": " Paris"}),
    Preset("pre-post-norm", N_("Pre-norm vs post-norm"),
           N_("The same sentence inside two models. SmolLM2 (pre-norm) never normalises its residual stream on the "
              "way: at every token it ends more than a hundred times longer than it started. MiniLM (post-norm) "
              "applies LayerNorm after every addition, which keeps the stream from growing: it ends about as long "
              "as it started."),
           "block", {"text": BERT_SENTENCE},
           variants=((N_("SmolLM2 (pre-norm)"), {"model": DECODER}), (N_("MiniLM (post-norm)"), {"model": ENCODER}))),
    Preset("temperature", N_("Temperature 0 vs 1 vs 2"),
           N_("0 always picks the top token, 1 is the model's own distribution, 2 flattens it."),
           "next-token", {"model": DECODER, "text": CAPITAL},
           variants=(("T = 0", {"temperature": "0"}), ("T = 1", {"temperature": "1"}),
                     ("T = 2", {"temperature": "2"}))),
    Preset("top-p", N_("Top-p 0.5 vs 0.95"),
           N_("Keep the smallest set of tokens whose probabilities add up to p, then renormalise."),
           "next-token", {"model": DECODER, "text": "Once upon a time, there was a"},
           variants=(("top-p 0.5", {"top_p": "0.5"}), ("top-p 0.95", {"top_p": "0.95"}))),
    Preset("decoding", N_("Greedy vs beam vs sampling"),
           N_("Three ways to pick tokens from the same model, side by side; a fixed seed makes sampling repeatable."),
           "generate", {"model": DECODER, "text": "Once upon a time, there was a", "mode": "compare",
                        "temperature": "1", "top_p": "0.95", "seed": "0", "max_new_tokens": "20", "beams": "3"}),
    Preset("previous-token-head", N_("A previous-token head"),
           N_("Heads specialise: find the heads that mostly read the token just before."),
           "attention", {"model": DECODER, "text": TIM + ", and he never caught one", "view": "summary",
                         "stat": "prev"}),
    # Issue #24's lessons; the claims are checked by tests/unit/test_lessons24.py against the models.
    Preset("train-tokenizer", N_("Train a tokenizer"),
           N_("Byte-pair encoding learned from scratch on the app's own glossary and tour: the merges one by one, and "
              "the sidebar text cut with the first N of them next to SmolLM2's real tokenizer. After 500 merges the "
              "words the corpus uses most, such as “model” and “token”, are single tokens."),
           "tokens", {"model": DECODER, "text": APP_SENTENCE, "bpe_corpus": "app"},
           variants=((N_("10 merges"), {"bpe_merges": "10"}), (N_("100 merges"), {"bpe_merges": "100"}),
                     (N_("500 merges"), {"bpe_merges": "500"}))),
    Preset("kv-cache", N_("The KV cache, token by token"),
           N_("Which keys and values each generation step computes and which it reuses from the cache; the cache "
              "grows by 46,080 bytes with every token in SmolLM2, where 3 key/value heads instead of 9 make it three "
              "times smaller; and the time per step with and without it, measured live."),
           "generate", {"model": DECODER, "text": STORY, "kv_layer": "1", "kv_head": "1"}),
    Preset("sample-100", N_("Sample 100 times"),
           N_("Press “Sample 100 times”: at T = 0 all 100 samples are the same continuation; at T = 1 their first "
              "tokens spread over several candidates, about as often as the probabilities say."),
           "next-token", {"model": DECODER, "text": "Once upon a time, there was a"},
           variants=(("T = 0", {"temperature": "0"}), ("T = 1", {"temperature": "1"}))),
    # Chinese examples (issue #7). The numbers in the descriptions are what the bundled models do: checked by
    # tests/unit/test_preset_links.py against the tokenizers and the model.
    Preset("chinese-tokens", N_("A Chinese sentence in two tokenizers"),
           N_("18 characters. SmolLM2's byte-level BPE needs 28 tokens: most characters (3 bytes in UTF-8) are cut "
              "into byte pieces, while 在, 后, 了, 一个, 大, 的 and 对 are whole tokens. MiniLM's WordPiece gives one "
              "token per character but knows only 4 of them: the other 14 become [UNK]."),
           "tokens", {"text": CHINESE},
           variants=((SMOLLM2_BPE, {"model": DECODER}), (MINILM_WORDPIECE, {"model": ENCODER})), chinese=True),
    Preset("chinese-nlp", N_("我爱自然语言处理 (I love NLP)"),
           N_("8 characters become 17 SmolLM2 tokens: each character is 3 UTF-8 bytes, usually split into a "
              "2-byte and a 1-byte piece that mean nothing alone; only 理 is a whole token. MiniLM knows only 我: "
              "the other 7 characters become [UNK], so the model cannot tell them apart."),
           "tokens", {"text": CHINESE_NLP},
           variants=((SMOLLM2_BPE, {"model": DECODER, "token": "0"}),
                     (MINILM_WORDPIECE, {"model": ENCODER, "token": "2"})), chinese=True),
    Preset("chinese-weather", N_("今天天气很好，我们去公园散步吧。"),
           N_("16 characters with the punctuation: 31 SmolLM2 tokens; the full-width ， and 。 are single tokens, "
              "every other character is split into byte pieces. MiniLM cuts CJK text into single characters; it "
              "knows 天, 我, 公 and the punctuation, and the other 10 characters become [UNK]."),
           "tokens", {"text": CHINESE_WEATHER},
           variants=((SMOLLM2_BPE, {"model": DECODER}), (MINILM_WORDPIECE, {"model": ENCODER})), chinese=True),
    Preset("chinese-capital", N_("中国的首都是 … vs The capital of China is"),
           N_("The same question in Chinese and in English. SmolLM2 learned mostly English: after the Chinese "
              "prompt its top guess is 一 at about 6%, most of the top 10 are byte pieces that only begin a "
              "character, and the first piece of 北京 is far down the list; in English, “ Beijing” gets more than "
              "half of the probability."),
           "next-token", {"model": DECODER, "text": CHINESE_CAPITAL},
           variants=((N_("Chinese prompt"), {}), (N_("English prompt"), {"text": "The capital of China is"})),
           chinese=True),
    Preset("chinese-story", N_("从前有一只小猫，它 (once upon a time, a kitten…)"),
           N_("Greedy generation from a Chinese prompt: the small, mostly English model repeats itself (猫猫猫；) "
              "in byte pieces. Each 猫 takes three steps, one per UTF-8 byte, and the 12th token stops in the middle "
              "of a character."),
           "generate", {"model": DECODER, "text": CHINESE_STORY, "mode": "greedy", "max_new_tokens": "12"},
           chinese=True),
    Preset("token-tax", N_("The token tax: English vs Chinese"),
           N_("The same sentence in English (64 characters) and Chinese (16). SmolLM2 needs 17 tokens for the English "
              "and 31 for the Chinese, 1.8 times as many; MiniLM needs only 16 for the Chinese, but 10 of them are "
              "[UNK]."),
           "tokens", {"text": CHINESE_WEATHER, "tax_a": TAX_EN, "tax_b": CHINESE_WEATHER},
           variants=((SMOLLM2_BPE, {"model": DECODER}), (MINILM_WORDPIECE, {"model": ENCODER})), chinese=True),
)


def get(preset_id: str) -> Preset:
    return next(p for p in PRESETS if p.id == preset_id)


def all_links() -> list[tuple[Preset, str, str]]:
    """(preset, label, url) for every link in the gallery."""
    return [(p, label, url) for p in PRESETS for label, url in p.links()]


def follow(url_path: str) -> str | None:
    """Called by app.py before the widgets are seeded: when this run was opened from a preset link (``preset``
    in the URL), forget the values this session kept for the shared controls and for the target page, so that
    they are read from the link again; then drop ``preset`` from the address bar. Returns the preset's value
    (None for an ordinary run): class mode marks its pushes with it."""
    import streamlit as st

    if PRESET_PARAM not in st.query_params:
        return None
    followed = st.query_params.get(PRESET_PARAM)
    del st.query_params[PRESET_PARAM]
    scopes = {"shared", url_path or "home"}
    seeded = st.session_state.get("_url_seeded")
    if seeded:
        # the language stays what the user chose (a preset link does not carry it)
        seeded.difference_update({slot for slot in seeded if slot[0] in scopes and slot[1] != "lang"})
    return followed
