"""The guided tour on the Overview: nine steps from text to generated text, each drawn LIVE from the model and
text in the sidebar with the same builders and model functions as the full pages, and explained in plain
language that is true for the loaded model (positions, grouped-query attention, BOS vs [CLS]/[SEP], causal vs
masked LM)."""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass

import numpy as np
import streamlit as st

import i18n

from components import present, state
from components.cache import get_head_stats, get_model, get_trace
from components.glossary import glossary_link as g, with_language
from components.presets import PRESET_PARAM, get as preset, parse_url
from components.widgets import md_literal, piece_label, show_chart, token_chips, visible
from i18n import N_, _
from models.numbering import number
from models.tokens import Encoding, describe
from models.trace import NoTokens

MAX_SHOWN = 32  # tokens in the tour's figures (the full pages show up to 512)
GEN_TOKENS = 12  # greedy tokens generated in step 8


@dataclass(frozen=True)
class Step:
    short: str  # label on the step picker (N_-marked: translated where shown)
    title: str


STEPS: tuple[Step, ...] = (
    Step(N_("Tokens"), N_("Text becomes tokens")),
    Step(N_("Ids"), N_("Tokens become ids")),
    Step(N_("Embeddings"), N_("Ids become vectors")),
    Step(N_("Order"), N_("Word order: positions")),
    Step(N_("Attention"), N_("Attention: tokens read each other")),
    Step(N_("Heads"), N_("Many heads in many layers")),
    Step(N_("Block"), N_("Inside a block: attention, MLP and the residual stream")),
    Step(N_("Next token"), N_("The next token")),
    Step(N_("Generation"), N_("Generation, one token at a time")),
)


@dataclass(frozen=True)
class View:
    page: tuple[str, dict[str, str]] | None  # (url path, query params) of the full page
    page_label: str  # translated (made in the session's script thread)


# Streamlit keeps the scroll position across reruns, so after Next (at the bottom of a step) the new step would
# open scrolled down to wherever the old one ended. On a step change the page scrolls the step's heading to the top
# of the screen, just under Streamlit's toolbar (on a projector, where the step's heading comes first, to the very
# top: nothing is left scrolled); it tries again while the new step's figure is still being laid
# out, unless the reader has scrolled or clicked meanwhile. A same-origin iframe (as present.KEYS_JS) whose only input is the heading's anchor, a fixed string from the
# code. __NONCE__ makes each change a new document, so the script runs again even when the iframe is redrawn in
# the same place.
SCROLL_JS = """
<script>
(function () {
  // __NONCE__
  const doc = window.parent.document;
  let left = false;  // the reader scrolled or clicked on their own: leave the page where they put it
  const stop = function () { left = true; };
  const events = ["wheel", "touchstart", "mousedown", "keydown"];
  events.forEach(function (e) { doc.addEventListener(e, stop, {capture: true, passive: true}); });
  function go() {
    if (left) { return; }
    const main = doc.querySelector('[data-testid="stMain"]');
    if (main && __ANCHOR__ === null) { main.scrollTop = 0; return; }
    const el = doc.getElementById(__ANCHOR__);
    if (!main || !el) { return; }
    const bar = doc.querySelector('[data-testid="stHeader"]');
    const top = bar ? bar.getBoundingClientRect().bottom : 0;
    const off = el.getBoundingClientRect().top - top - 8;
    if (Math.abs(off) > 2) { main.scrollTop += off; }
  }
  go();
  [100, 300, 600, 1000, 1500].forEach(function (ms) { setTimeout(go, ms); });
  setTimeout(function () {
    events.forEach(function (e) { doc.removeEventListener(e, stop, {capture: true}); });
  }, 1600);
})();
</script>
"""


def scroll_to(anchor: str | None, nonce: str) -> None:
    """Scroll the page so that the heading with this anchor is at the top, or to the very top for None (a 1 px
    iframe out of the tab order)."""
    import json

    st.iframe(SCROLL_JS.replace("__ANCHOR__", json.dumps(anchor)).replace("__NONCE__", json.dumps(nonce)),
              height=1, tab_index=-1)


def current():
    """(the loaded model, the text of the sidebar)."""
    return get_model(st.session_state.active_model), state.current_text()


def link_target(url: str) -> tuple[str, dict[str, str]]:
    return parse_url(url)


def _page(path: str, lm, text: str, label: str, **extra: str) -> View:
    return View((path, {"model": lm.spec.id, "text": text, **extra, PRESET_PARAM: "tour"}), label)


def _try(text_md: str) -> None:
    st.markdown(":material/lightbulb: **{try_this}** {text}".format(try_this=_("Try this:"), text=text_md))


def _preset_link(preset_id: str, label: str | None = None) -> str:
    """A Markdown link to a preset (its first link), in the session's language: a Markdown link opens a new
    session, so it carries ``lang``."""
    p = preset(preset_id)
    return f"[{label or _(p.title)}]({with_language(p.links()[0][1])})"


# On a projector the step's figure goes in its own column beside the text (set by render for one step, read by
# _chart and _figure_area; a ContextVar because each session runs its script in its own thread).
_FIGURE_AREA: contextvars.ContextVar = contextvars.ContextVar("tour_figure_area", default=None)


@contextlib.contextmanager
def _figure_area():
    """Where the step's figure goes: the figure column on a projector, else in the flow of the text."""
    area = _FIGURE_AREA.get()
    if area is None:
        yield
        return
    with area:
        yield


def _chart(fig, name: str, alt: str, projector: bool, height: int | None = None) -> None:
    present.style(fig, height=None if projector else height)
    if projector:  # the figure is narrower beside its text: let plotly turn the x labels when they would overlap
        fig.for_each_xaxis(lambda ax: ax.update(tickangle=None) if ax.tickangle == 0 else None)
        _fit_title(fig)
    with _figure_area():
        # on a projector the chart fills the figure box, whose height is the screen's below the heading
        # (present.CSS), so the whole figure is in view at 1280x720 as at 1920x1080; and the figure's own large
        # fonts (Streamlit's chart theme would shrink them back)
        show_chart(fig, f"tour-{name}", alt=alt, **({"theme": None, "height": "stretch"} if projector else {}))


def _fit_title(fig) -> None:
    """A projector figure beside its text is ~600 px wide and plotly does not wrap titles: a long title is split
    at the space nearest its middle (the title is escaped text, so a space is never inside an entity) with room
    made above the plot; a long title without spaces (Chinese) gets the body's font size instead."""
    title = fig.layout.title.text or ""
    width = sum(2 if ord(ch) >= 0x2E80 else 1 for ch in title)  # a CJK character is about two Latin ones wide
    if width <= 36 or "<br>" in title:
        return
    spaces = [i for i, ch in enumerate(title) if ch == " "]
    if not spaces:
        fig.update_layout(title_font_size=present.FIGURE_FONT)
        return
    cut = min(spaces, key=lambda i: abs(i - len(title) / 2))
    top = fig.layout.margin.t if fig.layout.margin.t is not None else 80
    fig.update_layout(title_text=title[:cut] + "<br>" + title[cut + 1:], margin_t=top + present.FIGURE_FONT + 12)


def render(step: Step, lm, text: str, projector: bool = False) -> View:
    """Draw one step (explanation, live figure, try-this) and return the link to its full page. On a projector
    (one step and one figure per screen) the text is in a column beside the figure, not above it."""
    if not projector:
        return _render(step, lm, text, False)
    text_col, figure_col = st.columns([2, 3], gap="medium")
    area = _FIGURE_AREA.set(figure_col.container(key=present.TOUR_FIGURE))
    try:
        with text_col.container(key=present.TOUR_TEXT):
            return _render(step, lm, text, True)
    finally:
        _FIGURE_AREA.reset(area)


def _render(step: Step, lm, text: str, projector: bool) -> View:
    f = lm.facts
    if not text.strip():
        st.info(_("Type or paste some text in the sidebar: every step of the tour is drawn from it."), icon="✍️")
        return View(None, "")
    try:
        trace = get_trace(lm.spec.id, text)
    except NoTokens as e:
        st.info(str(e), icon="✍️")
        return View(None, "")
    enc = Encoding(ids=trace.ids, offsets=trace.offsets, special=trace.special, n_total=trace.n_total)
    pieces = describe(lm.tokenizer, enc, text, f.tokenizer.kind)
    T = min(trace.n_tokens, MAX_SHOWN)
    labels = [piece_label(p) for p in pieces[:T]]
    cut = (_(" (the first {shown} of {n} tokens)").format(shown=T, n=trace.n_tokens) if trace.n_tokens > T else "")
    decoder = f.family == "decoder"
    model = lm.spec.label
    i = STEPS.index(step)

    if i == 0:
        t = f.tokenizer
        if t.wraps_cls_sep:
            # What [CLS] and [SEP] are for (not "start" and "end"), and whether THIS model's sentence vector is
            # the [CLS] vector (facts.training.pooling, read from the sentence-transformers files it ships with).
            wrap = i18n.sentences(
                _("It wraps the text in {cls} … {sep}. {sep} separates a first sentence from a second one and ends "
                  "the input; {cls}'s final vector is meant to sum up the whole input: BERT was trained to tell "
                  "from it whether the second sentence follows the first (next-sentence prediction), and "
                  "classifiers built on BERT read it.").format(cls=md_literal(t.cls_token),
                                                               sep=md_literal(t.sep_token)),
                _("{model} itself does not use it that way: {pooling}.").format(model=model, pooling=f.pooling_text)
                if f.training.pooling and f.training.pooling != "cls" else "")
        elif t.adds_bos:
            wrap = _("It puts a beginning-of-sequence token ({bos}) in front.").format(bos=md_literal(t.bos_token))
        else:
            wrap = _("It adds no special token: the first piece is your first word.")
        st.markdown(i18n.sentences(
            _("A model does not read letters. The {kind} tokenizer of {model} cuts the text into **{n} {tokens}**, "
              "pieces from a fixed {vocabulary} of {size:,}.").format(
                kind=t.kind, model=model, n=trace.n_tokens, tokens=g("token", _("tokens")),
                vocabulary=g("vocabulary"), size=t.vocab_size),
            wrap))
        with _figure_area():
            token_chips(pieces[:MAX_SHOWN * 4], None)
            st.caption(_("Each chip is one token, its id underneath. Dashed chips are special tokens; striped chips "
                         "are bytes of a character that has no piece of its own."))
        _try(_("type a rare word (“unbelievably”), an emoji or Chinese text in the sidebar and watch it split; or "
               "{link}.").format(link=_preset_link("chinese-tokens")))
        return _page("tokens", lm, text, _("Tokens"))

    if i == 1:
        from components.plots import one_hot_vs_dense

        k = next((j for j in range(trace.n_tokens) if not trace.special[j]), 0)
        p = pieces[k]
        st.markdown(_("Each token is replaced by its {id}: {piece} is **{token_id:,}**. As a one-hot vector that "
                      "would be {vocab:,} numbers with a single 1; instead the model looks up row {token_id:,} of "
                      "its {embedding} matrix, {d} numbers that were learned in training.").format(
            id=g("id"), piece=md_literal(visible(p.display)), token_id=p.id, vocab=f.vocab_size, embedding=g("embedding"),
            d=f.d_model))
        fig = one_hot_vs_dense(p.id, f.vocab_size, trace.token_embeddings[k], visible(p.display))
        _chart(fig, "ids", _("One-hot vector of length {vocab} next to the {d} numbers of embedding row "
                             "{token_id}.").format(vocab=f.vocab_size, d=f.d_model, token_id=p.id), projector)
        _try(_("pick another token on the Tokens page and compare the memory a one-hot text would take."))
        return _page("tokens", lm, text, _("Tokens (one token up close)"), token=str(k))

    if i == 2:
        from components.plots import heatmap

        dims = min(48, f.d_model)
        st.markdown(_("Every token is now a vector of {d} numbers (here the first {dims}){cut}. Alone a number means "
                      "little; together the directions carry meaning: words used alike point alike, which {cosine} "
                      "measures.").format(d=f.d_model, dims=dims, cut=cut,
                                          cosine=g("cosine", _("cosine similarity"))))
        z = trace.token_embeddings[:T, :dims]
        lim = float(np.abs(z).max()) or 1.0
        fig = heatmap(z, [str(d) for d in range(dims)], labels, _("Embedding rows: tokens × first dimensions"),
                      zmin=-lim, zmax=lim, colorscale=present.PROJECTOR_SCALE if projector else "RdBu",
                      reversescale=not projector, hover_name=_("value"))
        fig.update_xaxes(title_text=_("dimension"))
        _chart(fig, "embeddings", _("Heatmap of the input embedding rows of {n} tokens over {dims} "
                                    "dimensions.").format(n=T, dims=dims), projector)
        _try(_("{first} or {second}.").format(first=_preset_link("cat-dog-car-banana"),
                                              second=_preset_link("king-queen")))
        return _page("embeddings", lm, text, _("Embeddings"))

    if i == 3:
        from components import order_text
        from components.plots import lines
        from models.positions import NoPositionModule

        try:
            demo_text, od = order_text.demo(lm, text)
        except NoPositionModule as e:
            st.info(i18n.sentences(order_text.family_truth(lm), str(e)), icon=":material/info:")
            return _page("embeddings", lm, text, _("Embeddings (positions)"))
        st.markdown(i18n.sentences(
            order_text.family_truth(lm),
            _("Below, the same words in {text} and in its word reversal, with the model's positions and without them "
              "({off}).").format(text=md_literal(demo_text[:80]), off=order_text.switched_off(lm)),
            order_text.layer0_text(lm, od), order_text.short_comparison(lm, od)))
        fig = lines(np.arange(len(od.per_layer)), {_("with positions"): od.per_layer,
                                                   _("without positions"): od.without_positions},
                    _("Cosine of the same tokens' vectors, text vs reversed text"), _("layer"), _("mean cosine"),
                    y_range=(min(0.0, float(od.per_layer.min()), float(od.without_positions.min())), 1.05))
        _chart(fig, "order", order_text.alt_text(lm, od), projector)
        word_order = preset("word-order")
        url = next((u for _l, u in word_order.links() if parse_url(u)[1].get("model") == lm.spec.id),
                   word_order.links()[0][1])
        _try(_("{link} on the Embeddings page.").format(link=f"[{_(word_order.title)}]({with_language(url)})"))
        return _page("embeddings", lm, demo_text, _("Embeddings (positions)"))

    if i == 6:
        return _block_step(lm, text, trace, labels, projector)

    stats = get_head_stats(lm.spec.id, text)
    prev = np.asarray(stats["prev"], dtype=np.float64)  # [L, H]
    if np.isnan(prev).all():
        layer, head = 0, 0
    else:
        layer, head = (int(v) for v in np.unravel_index(np.nanargmax(prev), prev.shape))
    # 0-based indices above; what the text, the titles and the Attention link show are the numbers
    layer_no, head_no = number(layer), number(head)

    if i == 4:
        from components.attention_plots import attention_heatmap

        gqa = (_("{model} uses {gqa}: its {n_heads} query heads share {n_kv} key/value heads.").format(
            model=model, gqa=g("GQA", _("grouped-query attention")), n_heads=f.n_heads, n_kv=f.n_kv_heads)
            if f.gqa else "")
        see = (_("A decoder may only look back: the {causal_mask} hides later tokens (grey).").format(
            causal_mask=g("causal mask")) if decoder else
            _("An encoder reads in both directions: every token may look at every other."))
        st.markdown(i18n.sentences(
            _("Each token makes a {qkv}; query · key scores how much it reads every other token, and {softmax} turns "
              "the scores into weights that add up to 1.").format(
                qkv=g("query / key / value", _("query, a key and a value")), softmax=g("softmax")),
            see, gqa, _("This is layer {layer}, head {head}{cut}.").format(layer=layer_no, head=head_no, cut=cut)))
        w = trace.attentions[layer, head, :T, :T]
        masked = np.triu(np.ones((T, T), dtype=bool), 1) if decoder else None
        fig = attention_heatmap(w, labels, labels, _("Attention weights, layer {layer} head {head}").format(
            layer=layer_no, head=head_no), masked=masked)
        _chart(fig, "attention", _("Heatmap of attention weights of layer {layer}, head {head}: rows are the "
                                   "reading tokens, columns the tokens read.").format(layer=layer_no, head=head_no),
               projector)
        _try(_("move the layer and head sliders on the Attention page: some heads read the previous token, some the "
               "first token, some the same word."))
        return _page("attention", lm, text, _("Attention"), layer=str(layer_no), head=str(head_no), numbering="1")

    if i == 5:
        from components.attention_plots import stat_grid

        st.markdown(_("{model} has {n_layers} {layers} of {n_heads} {heads} each, and the heads specialise. Each "
                      "square is one head: the share of its attention that goes to the token just before. Bright "
                      "squares are “previous-token heads”; the brightest here is layer {layer}, head {head}.").format(
            model=model, n_layers=f.n_layers, layers=g("layer", _("layers")), n_heads=f.n_heads,
            heads=g("head", _("heads")), layer=layer_no, head=head_no))
        title = _("Share of attention to the previous token, every layer × head")
        if projector:
            # the figure's box is as tall as the screen (present.CSS), and stat_grid's squares are sized in pixels
            # for its own height: a heatmap's cells fill whatever box it gets
            from components.plots import heatmap

            fig = heatmap(prev, [str(number(h)) for h in range(f.n_heads)],
                          [str(number(ly)) for ly in range(f.n_layers)], title, zmin=0.0, zmax=1.0,
                          colorscale="Viridis", reversescale=False, hover_name=_("previous-token share"))
            fig.update_traces(xgap=2, ygap=2)
            fig.update_xaxes(title_text=_("head"))
            fig.update_yaxes(title_text=_("layer"), nticks=min(f.n_layers, 16))
            fig.add_shape(type="rect", x0=head - 0.5, x1=head + 0.5, y0=layer - 0.5, y1=layer + 0.5,
                          line=dict(color="#dc2626", width=3))
        else:
            fig = stat_grid(prev, title, _("previous-token share"), zmin=0.0, zmax=1.0, selected=(layer, head))
        _chart(fig, "heads", _("Grid of {n_layers} layers by {n_heads} heads coloured by how much each head attends "
                               "to the previous token.").format(n_layers=f.n_layers, n_heads=f.n_heads), projector)
        _try(_("{link}.").format(link=_preset_link("previous-token-head")))
        return _page("attention", lm, text, _("Attention (head summary)"), view="summary", stat="prev")

    if i == 7 and trace.last_logits is not None:
        from components.plots import ranked_bars
        from models.sampling import adjust, token_texts, top_ranked

        a = adjust(trace.last_logits)
        top = top_ranked(a.probs_original, 10)
        with lm.tokenizer_lock:
            texts = token_texts(lm.tokenizer, top, f.tokenizer.kind)
        # The final norm comes before the unembedding; its kind (RMSNorm, LayerNorm) is read from the loaded model.
        unembed = (_("The last token's final vector goes through the model's final normalisation ({norm}) and is "
                     "then multiplied by the unembedding matrix: one {logit} for each of the {vocab:,} vocabulary "
                     "entries.") if f.final_norm else
                   _("The last token's final vector is multiplied by the unembedding matrix: one {logit} for each of "
                     "the {vocab:,} vocabulary entries."))
        st.markdown(i18n.sentences(
            unembed.format(norm=f.final_norm, logit=g("logit"), vocab=f.vocab_size),
            _("{softmax} turns them into probabilities; the top one here is {token} with {p:.1%}.").format(
                softmax=g("softmax", _("Softmax")), token=md_literal(texts[0]), p=a.probs_original[top[0]])))
        fig = ranked_bars([visible(s) for s in texts], a.probs_original[top],
                          _("The 10 most likely next tokens of {vocab:,}").format(vocab=f.vocab_size),
                          value_name=_("probability"))
        _chart(fig, "next-token", _("Bar chart of the ten most likely next tokens and their probabilities."),
               projector)
        _try(_("change the {temperature} on the Next token page: {links}.").format(
            temperature=g("temperature"),
            links=", ".join(f"[{label}]({with_language(url)})" for label, url in preset("temperature").links())))
        return _page("next-token", lm, text, _("Next token"))

    if i == 7:
        from components.plots import heatmap
        from models.similarity import cosine_matrix

        # How THIS checkpoint was trained (facts.training: its head, its files, its model card), not BERT's recipe.
        if f.head == "masked-lm":
            what = _("{model} is an encoder with a {masked_lm} head: it fills a [MASK] from both sides rather than "
                     "continuing text.").format(model=model, masked_lm=g("masked LM"))
        else:
            what = _("{model} is an encoder without any LM head: it predicts no tokens, it turns text into vectors "
                     "({sentence_embedding}).").format(model=model,
                                                       sentence_embedding=g("sentence embedding"))
        st.markdown(i18n.sentences(
            what, *f.training_sentences,
            _("Its output is one contextual vector per token; below, how alike the last layer's vectors are "
              "({cosine}){cut}.").format(cosine=g("cosine"), cut=cut)))
        fig = heatmap(cosine_matrix(trace.hidden_states[-1, :T]), labels, labels,
                      _("Cosine similarity of the last layer's token vectors"), zmin=-1, zmax=1,
                      colorscale=present.PROJECTOR_SCALE if projector else "RdBu", reversescale=not projector,
                      hover_name=_("cosine"))
        _chart(fig, "encoder-output", _("Heatmap of cosine similarities between the last layer's token vectors."),
               projector)
        _try(_("switch the model to SmolLM2 (a decoder) in the sidebar to see next-token probabilities."))
        return _page("next-token", lm, text, _("Next token"))

    # i == 8: generation
    if decoder and f.head == "causal-lm":
        from components.generation_plots import legend_html, scale_words, tokens_html
        from components.engine import get_engine, get_text_tools
        from models.generation import Settings

        st.markdown(_("Generation repeats the last step: pick a token, append it, run the model again (keeping the "
                      "keys and values already computed, the {kv_cache}). Greedy always takes the top token, as "
                      "here; sampling draws from the probabilities ({temperature}, {top_k}, {top_p}); {beam_search} "
                      "keeps several candidates.").format(
            kv_cache=g("KV cache"), temperature=g("temperature"), top_k=g("top-k"), top_p=g("top-p"),
            beam_search=g("beam search")))
        key = ("_tour_generated", lm.spec.id, text)
        steps = st.session_state.get("_tour_generation", {}).get(key)
        if steps is None:
            ids, _offsets = get_text_tools(lm).encode(text)
            req = get_engine(lm).submit(ids, Settings(max_new_tokens=GEN_TOKENS)).result(timeout=120)
            steps = list(req.steps)
            st.session_state["_tour_generation"] = {key: steps}
        tools = get_text_tools(lm)
        pieces_out = tools.pieces([s.token_id for s in steps])
        with _figure_area():
            st.html(tokens_html(text[-300:], pieces_out, [s.prob for s in steps]))
            st.html(legend_html(_("The model's probability of each chosen token")))
            st.caption(_("The prompt (dark grey text) and {n} greedy tokens, each coloured by the probability the "
                         "model gave it when it was chosen ({scale}).").format(n=len(steps), scale=scale_words()))
        _try(_("{link}.").format(link=_preset_link("decoding", _("compare greedy, beam search and sampling"))))
        return _page("generate", lm, text, _("Generate"))

    from components.plots import lines

    from components.order_text import curve_text
    from models.positions import layer0_text

    # The reference is layer 0, hidden_states[0]: for a BERT-style encoder that is LayerNorm(token + position +
    # type) already, not the bare embedding row (models.positions.layer0_kind), so the words say which it is.
    h = trace.hidden_states[:, :min(T, 6)]  # [L+1, t, d]
    norm = h / np.maximum(np.linalg.norm(h, axis=-1, keepdims=True), 1e-12)
    cos = np.einsum("ltd,td->lt", norm, norm[0])  # [L+1, t]
    st.markdown(i18n.sentences(
        _("{model} is an encoder: it reads the whole text at once and does not generate text left to right; "
          "generating needs a decoder (GPT-style) such as SmolLM2.").format(model=model),
        _("What an encoder gives is the contextual vectors below: each line compares a token's vector after each "
          "layer with its own vector at layer 0 ({layer0}).").format(layer0=layer0_text(lm)),
        _("On average over these tokens the cosine {shape}.").format(shape=curve_text(cos.mean(axis=1)))))
    fig = lines(np.arange(h.shape[0]), {labels[j]: cos[:, j] for j in range(cos.shape[1])},
                _("Cosine of each token's vector with its layer-0 vector, layer by layer"), _("layer"), _("cosine"))
    _chart(fig, "encoder-layers", _("Lines: for the first {n} tokens, cosine similarity between the vector after each "
                                    "layer and the same token's vector at layer 0 (1 there by definition); on "
                                    "average the cosine {shape}.").format(n=cos.shape[1],
                                                                          shape=curve_text(cos.mean(axis=1))),
           projector)
    _try(_("switch the model to SmolLM2 in the sidebar and come back to this step."))
    return _page("generate", lm, text, _("Generate"))


def _block_step(lm, text: str, trace, labels: list[str], projector: bool) -> View:
    """Step 7: what one block does, for the last token. With a next-token head, how much each layer's attention
    and MLP pushed the model's top token directly (they add up, with the embeddings and the biases, to its logit);
    without one, the residual stream's length after each sub-layer."""
    from components import block_plots as bp
    from components.block_cache import get_block_run
    from models import block

    f = lm.facts
    model = lm.spec.label
    pos = trace.n_tokens - 1
    try:
        an = block.anatomy(lm.model)
        run = get_block_run(lm.spec.id, text, pos)
    except block.BlockError as e:
        st.info(str(e), icon=":material/info:")
        return _page("block", lm, text, _("Inside a block"))
    mlp, total = block.mlp_share(lm.model)
    norm = (_("{model} is post-norm: after each addition the sum is normalised again (LayerNorm).").format(
        model=model) if an.post_norm else
        _("{model} is pre-norm: each sub-layer reads a normalised copy and adds to the stream itself.").format(
            model=model))
    intro = _("Each of the {n} {layers} is a block of two parts. {attention} lets each token read the tokens it may "
              "see; then an {mlp} works on each token's vector alone ({share:.0%} of the block's parameters). "
              "Neither replaces the vector: each adds its result to it, the {residual_stream}.").format(
        n=f.n_layers, layers=g("layer", _("layers")), attention=g("attention", _("Attention")),
        mlp=g("feed-forward network", _("MLP")), share=mlp / total,
        residual_stream=g("residual stream", _("residual stream")))
    token = labels[pos] if pos < len(labels) else str(pos)
    if run.has_head:
        target = block.default_target(lm, run)
        attr = block.attribute(lm, run, target)
        shown = visible(block.target_text(lm, target))
        layer = int(np.argmax(np.maximum(attr.attention, attr.mlps)))
        part = _("attention") if attr.attention[layer] >= attr.mlps[layer] else _("MLP")
        st.markdown(i18n.sentences(intro, norm, _(
            "Below, for the last token {token}: how much each layer's attention and MLP pushed up the logit of the "
            "top prediction {top} directly; with the embeddings and the biases they add up to the model's own "
            "logit, {logit:.2f}. The biggest push here: the {part} of layer {layer}.").format(
            token=md_literal(token), top=md_literal(shown), logit=attr.model_value, part=part,
            layer=number(layer))))
        fig = bp.layer_totals(attr.attention, attr.mlps, _("Direct push on the logit of {top}, per layer").format(
            top=shown), _("logit contribution"))
        _chart(fig, "block", _("Grouped bars, one pair per layer: the attention's and the MLP's direct contribution "
                               "to the logit of {top}; the largest is the {part} of layer {layer}.").format(
            top=shown, part=part, layer=number(layer)), projector)
        _try(_("on the Inside a block page, switch off that layer's MLP or the top heads and watch the prediction "
               "change."))
        return _page("block", lm, text, _("Inside a block"))
    stream = np.linalg.norm(run.stream.astype(np.float64), axis=1)  # [2L+1]
    writes = np.linalg.norm(run.writes.astype(np.float64), axis=1)  # [2L]
    st.markdown(i18n.sentences(intro, norm, _(
        "Below, for the last token {token}: the length of its vector after each sub-layer (line) and of what each "
        "sub-layer added (bars).").format(token=md_literal(token))))
    fig = bp.stream_chart(stream, writes, _("The residual stream of {token}").format(token=token), an.post_norm)
    _chart(fig, "block", _("Line of the vector's length after the embeddings and after each attention and MLP "
                           "sub-layer, with bars for the length of each write."), projector)
    _try(_("on the Inside a block page, switch off heads or MLPs and see how far each token's final vector turns."))
    return _page("block", lm, text, _("Inside a block"))
