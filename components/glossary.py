"""The glossary's entries and ``glossary_link(term)``: a Markdown link to a term's entry (``/glossary#softmax``)
that pages can put in captions. Plain language, one to three sentences each, true for the models in the app.

Names and texts are catalogue entries (``N_``), translated where they are shown; the anchors are always the
English slugs, so a link to an entry is the same in every language."""
from __future__ import annotations

import re
from dataclasses import dataclass

import i18n
from i18n import N_, _


@dataclass(frozen=True)
class Term:
    name: str
    text: str
    see: str = ""  # the page where the app shows it, e.g. "/tokens"

    @property
    def anchor(self) -> str:
        return slug(self.name)


def slug(name: str) -> str:
    """"beam search" -> "beam-search", "query / key / value" -> "query-key-value"."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


TERMS: tuple[Term, ...] = (
    Term(N_("token"),
         N_("A piece of text the model reads as one unit: a word, part of a word, a punctuation mark, or even a "
            "single byte of a character. A tokenizer cuts text into tokens from a fixed list."), "/tokens"),
    Term(N_("id"),
         N_("The integer number of a token in the vocabulary. The model never sees letters, only these ids."),
         "/tokens"),
    Term(N_("vocabulary"),
         N_("The fixed list of all tokens a model knows (49,152 for SmolLM2, 30,522 for BERT's uncased WordPiece). "
            "Text that is not in it is built from smaller pieces."), "/tokens"),
    Term(N_("embedding"),
         N_("A list of numbers (a vector) that stands for a token: row *id* of a learned matrix. Tokens used in "
            "similar ways end up with vectors that point in similar directions."), "/embeddings"),
    Term(N_("cosine"),
         N_("Cosine similarity compares the direction of two vectors: 1 means the same direction, 0 unrelated (at "
            "right angles), −1 opposite. Their lengths do not matter."), "/similarity"),
    Term(N_("attention"),
         N_("How a token gathers information from other tokens: it scores every token it may see, turns the scores "
            "into weights that add up to 1 (softmax), and takes the weighted mix of their values."), "/attention"),
    Term(N_("query / key / value"),
         N_("Three vectors each token makes in every attention head. The query asks “what am I looking for?”, each "
            "key answers “what do I contain?”; query·key gives the score, and the values are what gets mixed."),
         "/attention"),
    Term(N_("head"),
         N_("One attention pattern inside a layer. A layer runs several heads in parallel, and they specialise: one "
            "reads the previous token, another the first token, another the same word."), "/attention"),
    Term(N_("layer"),
         N_("One block of the model: attention, then a small feed-forward network, each added back to the token's "
            "vector (the residual stream). Models stack many: SmolLM2-135M has 30, MiniLM-L6 has 6."), "/attention"),
    Term(N_("causal mask"),
         N_("In a decoder (GPT-style) a token may only attend to itself and earlier tokens, never to later ones: the "
            "model must predict the future without seeing it. Encoders have no such mask."), "/attention"),
    Term(N_("RoPE"),
         N_("Rotary position embedding: instead of adding a position vector, the model rotates each query and key by "
            "an angle that depends on the position, so q·k depends on how far apart two tokens are. SmolLM2 uses it; "
            "GPT-2 and BERT learn a position table instead."), "/embeddings"),
    Term(N_("GQA"),
         N_("Grouped-query attention: several query heads share one key/value head to save memory. SmolLM2 has 9 "
            "query heads that share 3 key/value heads."), "/attention"),
    Term(N_("logit"),
         N_("The raw score the model gives every vocabulary entry for the next token, before softmax. Bigger means "
            "more likely; only the differences between logits matter."), "/next-token"),
    Term(N_("softmax"),
         N_("Turns a list of scores into probabilities: exponentiate each score and divide by the total, so every "
            "value is between 0 and 1 and they add up to 1. The biggest score gets the most probability."),
         "/next-token"),
    Term(N_("temperature"),
         N_("Divides the logits before softmax. Below 1 the top tokens get even more probability (0 always picks the "
            "top one); above 1 the distribution gets flatter and the text more random."), "/next-token"),
    Term(N_("top-k"),
         N_("Keep only the k most likely tokens, set the rest to zero and renormalise before picking."),
         "/next-token"),
    Term(N_("top-p"),
         N_("Nucleus sampling: keep the smallest set of most likely tokens whose probabilities add up to at least p, "
            "set the rest to zero and renormalise."), "/next-token"),
    Term(N_("beam search"),
         N_("Instead of picking one token at a time, keep the few most likely partial continuations (the beams), "
            "extend each, and keep the best again; the most likely whole sequence wins."), "/generate"),
    Term(N_("KV cache"),
         N_("While generating, the keys and values of the tokens already read are kept, so each new token needs only "
            "its own row of work instead of re-reading the whole text."), "/generate"),
    Term(N_("masked LM"),
         N_("Masked language modelling, how BERT was trained: hide some tokens behind [MASK] and predict them from "
            "the words on both sides. Such a model fills blanks instead of continuing text."), "/next-token"),
)

_BY_KEY = {t.anchor: t for t in TERMS}


def term(name: str) -> Term:
    """The entry for ``name`` (any spelling with the same slug: "Softmax", "beam search", "top_p")."""
    try:
        return _BY_KEY[slug(name)]
    except KeyError:
        raise KeyError(f"no glossary entry for {name!r}") from None


def with_language(url: str) -> str:
    """``url`` with ``lang=<code>`` added to its query when the session's language is not English: a Markdown link
    opens a new session, which would otherwise start in English. The ``#fragment`` stays last."""
    if i18n.language() == i18n.DEFAULT:
        return url
    base, hash_, fragment = url.partition("#")
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}lang={i18n.language()}{hash_}{fragment}"


def display_name(t: Term) -> str:
    """The entry's heading: the name in the session's language, with the English name after it when they differ
    ("词元 (token)"), so learners meet both."""
    shown = _(t.name)
    return shown if shown == t.name else f"{shown} ({t.name})"


def glossary_link(name: str, label: str | None = None) -> str:
    """A Markdown link to the glossary entry, for st.markdown / st.caption:
    ``[softmax](/glossary?term=softmax#softmax)`` (plus ``lang=zh`` in Chinese). Streamlit rewrites the address when
    the app starts (and drops the ``#fragment``), so the entry is also named in ``term``, which the glossary page
    scrolls to. ``label`` is the text shown (default: ``name`` in the session's language); it is app text, not user
    text."""
    t = term(name)
    return f"[{label or _(name)}]({with_language(f'/glossary?term={t.anchor}#{t.anchor}')})"
