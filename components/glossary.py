"""The glossary's entries and ``glossary_link(term)``: a Markdown link to a term's entry (``/glossary#softmax``)
that pages can put in captions. Plain language, one to three sentences each, true for the models in the app.

Names and texts are catalogue entries (``N_``), translated where they are shown; the anchors are always the
English slugs, so a link to an entry is the same in every language."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import i18n
from i18n import N_, _
from models.tokens import MAX_TOKENS


@dataclass(frozen=True)
class Term:
    name: str
    text: str  # may name a number the app defines once ({n}): ``values`` fills it where it is shown (body)
    see: str = ""  # the page where the app shows it, e.g. "/tokens"
    values: tuple[tuple[str, Any], ...] = ()  # ("n", MAX_TOKENS): the placeholders of ``text``

    @property
    def anchor(self) -> str:
        return slug(self.name)

    def body(self, gettext: Callable[[str], str] = _) -> str:
        """The entry's text as shown: translated (the session's language unless ``gettext`` says another) and its
        placeholders filled."""
        text = gettext(self.text)
        return text.format(**dict(self.values)) if self.values else text


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
    Term(N_("BPE"),
         N_("Byte-pair encoding, the way byte-level vocabularies such as GPT-2's and SmolLM2's are learned: start "
            "from the 256 bytes, find the pair of neighbouring tokens that occurs most often in a large corpus, add "
            "it to the vocabulary as a new token (a merge), and repeat until the vocabulary is big enough. To cut a "
            "text, the merges are applied in the order they were learned."), "/tokens"),
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
            "key answers “what do I contain?”; query·key divided by √d_head (d_head: the length of one head's query "
            "and key, 64 in SmolLM2 and 32 in MiniLM) gives the score, and the values are what gets mixed."),
         "/attention"),
    Term(N_("head"),
         N_("One attention pattern inside a layer. A layer runs several heads in parallel, and they specialise: one "
            "reads the previous token, another the first token, another the same word."), "/attention"),
    Term(N_("layer"),
         N_("One block of the model: attention, then a feed-forward network (the MLP, most of the block's "
            "parameters), each added back to the token's vector (the residual stream); models stack many "
            "(SmolLM2-135M has 30, MiniLM-L6 has 6). Every page counts the same way: layer 0 is the embeddings (the "
            "vectors the first block reads), the blocks are layers 1, 2, … up to the last, and “after layer l” is "
            "the output of block l. The heads of a layer are numbered from 1."), "/attention"),
    Term(N_("feed-forward network"),
         N_("The second part of every block, also called the MLP: it works on each token's vector on its own, "
            "expands it to a wider vector (SmolLM2: 576 → 1,536 numbers), applies a non-linearity (a gated SiLU in "
            "SmolLM2, GELU in MiniLM and BERT) and projects it back, then adds the result to the residual stream. "
            "It is not small: it holds most of a block's parameters (in SmolLM2 2.65 M of 3.54 M, 75%)."), "/block"),
    Term(N_("causal mask"),
         N_("In a decoder (GPT-style) a token may only attend to itself and earlier tokens, never to later ones: the "
            "model must predict the future without seeing it. Encoders have no such mask."), "/attention"),
    Term(N_("RoPE"),
         N_("Rotary position embedding: instead of adding a position vector, the model rotates each query and key by "
            "an angle that depends on the position, so for the same query and key vectors q·k depends only on how "
            "far apart the two tokens are. Only this rotation term is relative: a causal decoder can still work out "
            "absolute positions. SmolLM2 uses it; GPT-2 and BERT learn a position table instead."), "/embeddings"),
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
         N_("Instead of committing to one token at a time, keep the few best partial continuations (the beams), "
            "extend each by one token, and keep the best few again. It is a search with a limited view: it can "
            "still miss the most likely sequence. transformers ranks the finished beams by their total "
            "log-probability divided by their length (length_penalty 1, the default used here): the mean "
            "log-probability per token."), "/generate"),
    Term(N_("KV cache"),
         N_("While generating, the keys and values of the tokens already read are kept, so each new token computes "
            "only its own query, key and value and reads the kept ones, instead of running the whole text through "
            "the model again. The cache grows by the same amount with every token: layers × key/value heads × head "
            "dimension × 2 (keys and values) × bytes per number. In SmolLM2 (30 layers, 3 key/value heads of 64 "
            "numbers, float32) that is 46,080 bytes per token, a third of what it would be if each of its 9 query "
            "heads had its own keys and values (see GQA)."), "/generate"),
    Term(N_("masked LM"),
         N_("Masked language modelling, one of BERT's two pre-training tasks: 15% of the tokens are picked; 80% of "
            "those are replaced by [MASK], 10% by a random token and 10% are left as they are, and the model "
            "predicts the original tokens from the words on both sides. The other task was next-sentence "
            "prediction (whether sentence B really followed sentence A, read from the final [CLS] vector). A masked-LM model "
            "fills blanks instead of continuing text; the bundled all-MiniLM-L6-v2 has no such head."),
         "/next-token"),
    Term(N_("sentence embedding"),
         N_("One vector for a whole text, made from the token vectors of an encoder's last layer; texts with "
            "similar meanings get vectors with a high cosine. The bundled all-MiniLM-L6-v2 is such a model: it "
            "averages its token vectors (mean pooling), and it was fine-tuned contrastively on sentence pairs, so "
            "that the vector of a sentence lands close to its partner's (a question and its answer, say) and far "
            "from the other sentences'."), "/similarity"),
    Term(N_("loss (cross-entropy)"),
         N_("How wrong one prediction was: −log p, where p is the probability the model gave the token that "
            "actually came. It is 0 when the model was sure and right, and grows the more the token surprised it. "
            "A decoder is pre-trained by lowering this loss averaged over every position of many texts."),
         "/next-token"),
    Term(N_("perplexity"),
         N_("exp of a text's mean loss. A perplexity of 10 means the model was, on average, as unsure as if it "
            "picked uniformly among 10 tokens; lower is better. It depends on the tokenizer, so compare it only "
            "between models with the same vocabulary."), "/next-token"),
    Term(N_("context window"),
         N_("The most tokens a model can attend to at once (“Context length” in the model facts). With a learned "
            "position table the window ends where the table does: MiniLM and BERT-base 512, GPT-2 1,024, GPT-3 "
            "2,048. SmolLM2 uses RoPE, which has no table that ends, but it was trained on texts up to 8,192 "
            "tokens. Text past the window has to be cut or read in pieces: the model cannot see it. This app "
            "analyses at most {n} tokens of a text; sentence-transformers reads only the first 256 when it makes "
            "all-MiniLM-L6-v2's sentence vector."), "/tokens", values=(("n", MAX_TOKENS),)),
    Term(N_("residual stream"),
         N_("The running vector of each token that flows through the model. The embeddings start it; each attention "
            "layer and each MLP reads it and adds its own output to it, so every block can only add, never "
            "overwrite. Decoders such as SmolLM2 and GPT-2 normalise a copy before each sub-layer and leave the "
            "stream itself unnormalised (pre-norm); BERT and MiniLM normalise the stream after every addition "
            "(post-norm). The prediction is read from what the last layer leaves."), "/block"),
    Term(N_("direct logit attribution"),
         N_("Splitting one logit into what each part of the model wrote at that position: the embeddings, every "
            "head, every MLP and the bias terms, each read through the final normalisation (with its scale from "
            "the actual run) and the token's unembedding row. The parts add up exactly to the logit. It shows "
            "direct effects only: a head that matters because later layers read its output looks small here."),
         "/block"),
    Term(N_("ablation"),
         N_("Switching a part of the model off and running it again: zero ablation replaces a head's or an MLP's "
            "output with zeros, mean ablation with its average over the text's positions. The change in the "
            "prediction measures the part's whole effect, including what later layers did with its output."),
         "/block"),
    Term(N_("neuron"),
         N_("One number of an MLP's wider middle layer (1,536 per block in SmolLM2 and in MiniLM). After the "
            "non-linearity its value says how strongly the pattern it detects is present; the MLP then adds the "
            "neuron's own fixed output direction to the residual stream, scaled by that value."), "/block"),
    # issue 25: terms the pages use that had no entry
    Term(N_("WordPiece"),
         N_("The tokenizer of BERT-style encoders (BERT, MiniLM): a vocabulary learned much like BPE's, but a word is "
            "cut from the left into the longest pieces the vocabulary has; a piece that continues a word starts with "
            "##, and a word it cannot build at all becomes [UNK]. The uncased models lower-case the text first."),
         "/tokens"),
    Term(N_("one-hot"),
         N_("A vector as long as the vocabulary with a single 1, at the token's id, and 0 everywhere else. "
            "Multiplying it by the embedding matrix gives exactly that token's row, so models store the matrix and "
            "look the row up instead."), "/tokens"),
    Term(N_("[CLS] / [SEP]"),
         N_("Special tokens that BERT-style tokenizers (BERT, MiniLM) add to every text: [CLS] at the start and [SEP] "
            "at the end and between the two texts of a pair. Decoders such as SmolLM2 and GPT-2 add neither."),
         "/tokens"),
    Term(N_("PCA"),
         N_("Principal component analysis: finds the directions along which a set of vectors varies most and "
            "projects the vectors onto the first two or three, so they can be drawn. The picture is a shadow of "
            "the full vectors (576 numbers per token in SmolLM2, 384 in MiniLM): points close in it may be far "
            "apart along the directions left out."), "/embeddings"),
    Term(N_("attention sink"),
         N_("A token that many heads give much of their attention to whatever the text says: the first token in a "
            "decoder, [CLS] or [SEP] in a BERT-style encoder. A head's weights must add up to 1, so a head with "
            "nothing useful to read in a text parks its weight there."), "/attention"),
    Term(N_("entropy"),
         N_("How spread out a probability distribution is: the sum of −p·log₂ p over its outcomes, in bits. 0 bits "
            "when one outcome has all the probability, log₂ n bits when n outcomes are equally likely. The app uses "
            "it for the next-token probabilities (how unsure the prediction is) and for a token's attention weights "
            "(how widely it reads)."), "/next-token"),
    Term(N_("unembedding"),
         N_("The last step of a language model: the final vector of a position is multiplied by a matrix with one "
            "row per vocabulary token, which gives one logit per token. SmolLM2 and GPT-2 reuse their embedding "
            "matrix for it (tied weights); BERT's masked-LM head first transforms the vector, then uses its "
            "embedding matrix too. An encoder without a language-model head, like all-MiniLM-L6-v2, has none."),
         "/next-token"),
    Term(N_("logit lens"),
         N_("Reading an earlier layer as if it were the last: the vector after layer l goes through the model's "
            "final normalisation and the unembedding, and shows which tokens that layer would predict. It needs a "
            "language-model head; early layers were never trained to be read this way, so their guesses are rough."),
         "/next-token"),
    Term(N_("greedy decoding"),
         N_("Generating text by always taking the most likely next token (temperature 0). The same prompt always "
            "gives the same text; it can fall into repeating itself, and taking the best token at every step can "
            "still miss the most likely sequence (see beam search)."), "/generate"),
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
