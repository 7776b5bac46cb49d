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

from i18n import N_

PAGE_FILES = {  # url path -> page file (the same pairs as app.py's PAGES)
    "": "app_pages/home.py",
    "tokens": "app_pages/tokens.py",
    "embeddings": "app_pages/embeddings.py",
    "similarity": "app_pages/similarity.py",
    "attention": "app_pages/attention.py",
    "next-token": "app_pages/next-token.py",
    "generate": "app_pages/generate.py",
    "glossary": "app_pages/glossary.py",
}
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
    Preset("party-contexts", N_("“party” in two contexts"),
           N_("The same word at a graduation and in politics: identical embedding rows, drifting apart layer by "
              "layer."),
           "similarity", {"model": ENCODER, "text": BERT_SENTENCE, "target": "party", "contexts": PARTY_CONTEXTS}),
    Preset("word-order", N_("Tim chased clouds all his life"),
           N_("The same words reversed: the same bag of tokens, different hidden states (positions matter)."),
           "embeddings", {"model": DECODER, "text": TIM, "layer": "1"}),
    Preset("capital-france", N_("The capital of France is"),
           N_("The model's probabilities for the next token, over its whole vocabulary."),
           "next-token", {"model": DECODER, "text": CAPITAL}),
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
)


def get(preset_id: str) -> Preset:
    return next(p for p in PRESETS if p.id == preset_id)


def all_links() -> list[tuple[Preset, str, str]]:
    """(preset, label, url) for every link in the gallery."""
    return [(p, label, url) for p in PRESETS for label, url in p.links()]


def follow(url_path: str) -> None:
    """Called by app.py before the widgets are seeded: when this run was opened from a preset link (``preset``
    in the URL), forget the values this session kept for the shared controls and for the target page, so that
    they are read from the link again; then drop ``preset`` from the address bar."""
    import streamlit as st

    if PRESET_PARAM not in st.query_params:
        return
    del st.query_params[PRESET_PARAM]
    scopes = {"shared", url_path or "home"}
    seeded = st.session_state.get("_url_seeded")
    if seeded:
        # the language stays what the user chose (a preset link does not carry it)
        seeded.difference_update({slot for slot in seeded if slot[0] in scopes and slot[1] != "lang"})
