"""The guided tour on the Overview: eight steps from text to generated text, each drawn LIVE from the model and
text in the sidebar with the same builders and model functions as the full pages, and explained in plain
language that is true for the loaded model (positions, grouped-query attention, BOS vs [CLS]/[SEP], causal vs
masked LM)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from components import present, state
from components.cache import get_head_stats, get_model, get_trace
from components.glossary import glossary_link as g
from components.presets import PRESET_PARAM, get as preset, parse_url
from components.widgets import md_literal, piece_label, show_chart, token_chips, visible
from models.tokens import Encoding, describe

MAX_SHOWN = 32  # tokens in the tour's figures (the full pages show up to 512)
GEN_TOKENS = 12  # greedy tokens generated in step 8


@dataclass(frozen=True)
class Step:
    short: str  # label on the step picker
    title: str


STEPS: tuple[Step, ...] = (
    Step("Tokens", "Text becomes tokens"),
    Step("Ids", "Tokens become ids"),
    Step("Embeddings", "Ids become vectors"),
    Step("Order", "Word order: positions"),
    Step("Attention", "Attention: tokens read each other"),
    Step("Heads", "Many heads in many layers"),
    Step("Next token", "The next token"),
    Step("Generation", "Generation, one token at a time"),
)


@dataclass(frozen=True)
class View:
    page: tuple[str, dict[str, str]] | None  # (url path, query params) of the full page
    page_label: str


def current():
    """(the loaded model, the text of the sidebar)."""
    return get_model(st.session_state.active_model), state.current_text()


def link_target(url: str) -> tuple[str, dict[str, str]]:
    return parse_url(url)


def _page(path: str, lm, text: str, label: str, **extra: str) -> View:
    return View((path, {"model": lm.spec.id, "text": text, **extra, PRESET_PARAM: "tour"}), label)


def _try(text_md: str) -> None:
    st.markdown(f":material/lightbulb: **Try this:** {text_md}")


def _preset_link(preset_id: str, label: str | None = None) -> str:
    p = preset(preset_id)
    return f"[{label or p.title}]({p.links()[0][1]})"


def _chart(fig, name: str, alt: str, projector: bool, height: int | None = None) -> None:
    present.style(fig, height=(560 if projector else height))
    # on a projector, the figure's own large fonts (Streamlit's chart theme would shrink them back)
    show_chart(fig, f"tour-{name}", alt=alt, **({"theme": None} if projector else {}))


def render(step: Step, lm, text: str, projector: bool = False) -> View:
    """Draw one step (explanation, live figure, try-this) and return the link to its full page."""
    f = lm.facts
    if not text.strip():
        st.info("Type or paste some text in the sidebar: every step of the tour is drawn from it.", icon="✍️")
        return View(None, "")
    try:
        trace = get_trace(lm.spec.id, text)
    except ValueError as e:
        st.info(str(e), icon="✍️")
        return View(None, "")
    enc = Encoding(ids=trace.ids, offsets=trace.offsets, special=trace.special, n_total=trace.n_total)
    pieces = describe(lm.tokenizer, enc, text, f.tokenizer.kind)
    T = min(trace.n_tokens, MAX_SHOWN)
    labels = [piece_label(p) for p in pieces[:T]]
    cut = (f" (the first {T} of {trace.n_tokens} tokens)" if trace.n_tokens > T else "")
    decoder = f.family == "decoder"
    i = STEPS.index(step)

    if i == 0:
        t = f.tokenizer
        wrap = ("It wraps the text in [CLS] … [SEP], two special tokens BERT-style models read as “start” and "
                "“end”." if t.wraps_cls_sep else
                f"It puts a beginning-of-text token ({md_literal(t.bos_token)}) in front." if t.adds_bos else
                "It adds no special token: the first piece is your first word.")
        st.markdown(f"A model does not read letters. The {t.kind} tokenizer of {lm.spec.label} cuts the text into "
                    f"**{trace.n_tokens} {g('token', 'tokens')}**, pieces from a fixed "
                    f"{g('vocabulary')} of {t.vocab_size:,}. {wrap}")
        token_chips(pieces[:MAX_SHOWN * 4], None)
        st.caption("Each chip is one token, its id underneath. Dashed chips are special tokens; striped chips are "
                   "bytes of a character that has no piece of its own.")
        _try("type a rare word (“unbelievably”), an emoji or Chinese text in the sidebar and watch it split; or "
             + _preset_link("chinese-tokens") + ".")
        return _page("tokens", lm, text, "Tokens")

    if i == 1:
        from components.plots import one_hot_vs_dense

        k = next((j for j in range(trace.n_tokens) if not trace.special[j]), 0)
        p = pieces[k]
        st.markdown(f"Each token is replaced by its {g('id')}: {md_literal(p.shown)} is **{p.id:,}**. As a one-hot "
                    f"vector that would be {f.vocab_size:,} numbers with a single 1; instead the model looks up row "
                    f"{p.id:,} of its {g('embedding')} matrix, {f.d_model} numbers that were learned in training.")
        fig = one_hot_vs_dense(p.id, f.vocab_size, trace.token_embeddings[k], visible(p.shown))
        _chart(fig, "ids", f"One-hot vector of length {f.vocab_size} next to the {f.d_model} numbers of embedding "
               f"row {p.id}.", projector)
        _try("pick another token on the Tokens page and compare the memory a one-hot text would take.")
        return _page("tokens", lm, text, "Tokens (one token up close)", token=str(k))

    if i == 2:
        from components.plots import heatmap

        dims = min(48, f.d_model)
        st.markdown(f"Every token is now a vector of {f.d_model} numbers (here the first {dims}){cut}. Alone a "
                    f"number means little; together the directions carry meaning: words used alike point alike, "
                    f"which {g('cosine')} similarity measures.")
        z = trace.token_embeddings[:T, :dims]
        lim = float(np.abs(z).max()) or 1.0
        fig = heatmap(z, [str(d) for d in range(dims)], labels, "Embedding rows: tokens × first dimensions",
                      zmin=-lim, zmax=lim, colorscale=present.PROJECTOR_SCALE if projector else "RdBu",
                      reversescale=not projector, hover_name="value")
        fig.update_xaxes(title_text="dimension")
        _chart(fig, "embeddings", f"Heatmap of the input embedding rows of {T} tokens over {dims} dimensions.",
               projector)
        _try(_preset_link("cat-dog-car-banana") + " or " + _preset_link("king-queen") + ".")
        return _page("embeddings", lm, text, "Embeddings")

    if i == 3:
        from components.plots import lines
        from models import similarity as sim

        if f.positions == "rope":
            how = (f"{lm.spec.label} adds no position vector: it rotates each query and key by an angle that grows "
                   f"with the position ({g('RoPE')}), so attention depends on how far apart two tokens are.")
        elif f.positions == "learned":
            how = f"{lm.spec.label} adds a learned position vector to each token's embedding (a trained table)."
        else:
            how = f"{lm.spec.label} adds fixed sine/cosine waves to each token's embedding."
        other = sim.reverse_words(text)
        demo_text = text
        if other == text or len(text.split()) < 2:
            from components.presets import TIM
            demo_text, other = TIM, sim.reverse_words(TIM)
        try:
            od = sim.order_demo(get_trace(lm.spec.id, demo_text), get_trace(lm.spec.id, other))
        except ValueError:
            from components.presets import TIM
            demo_text, other = TIM, sim.reverse_words(TIM)
            od = sim.order_demo(get_trace(lm.spec.id, demo_text), get_trace(lm.spec.id, other))
        st.markdown(f"Attention by itself ignores order: a bag of the same tokens would look the same. {how} "
                    f"Below, the same tokens in {md_literal(demo_text[:80])} and in its reversal: identical "
                    "embedding rows at layer 0, different vectors after the first layer.")
        fig = lines(np.arange(len(od.per_layer)), {"same tokens, reversed order": od.per_layer},
                    "Cosine of the same tokens' vectors, text vs reversed text", "layer", "mean cosine",
                    y_range=(min(0.0, float(od.per_layer.min())), 1.05))
        _chart(fig, "order", "Line: mean cosine similarity per layer between the same tokens in the text and in "
               "its word-reversed version; 1 at the embedding layer, lower after.", projector)
        _try(_preset_link("word-order") + " on the Embeddings page.")
        return _page("embeddings", lm, demo_text, "Embeddings (positions)")

    stats = get_head_stats(lm.spec.id, text)
    prev = np.asarray(stats["prev"], dtype=np.float64)  # [L, H]
    if np.isnan(prev).all():
        layer, head = 0, 0
    else:
        layer, head = (int(v) for v in np.unravel_index(np.nanargmax(prev), prev.shape))

    if i == 4:
        from components.attention_plots import attention_heatmap

        gqa = (f" {lm.spec.label} uses {g('GQA', 'grouped-query attention')}: its {f.n_heads} query heads share "
               f"{f.n_kv_heads} key/value heads." if f.gqa else "")
        see = (f"A decoder may only look back: the {g('causal mask', 'causal mask')} hides later tokens (grey)."
               if decoder else "An encoder reads in both directions: every token may look at every other.")
        st.markdown(f"Each token makes a {g('query / key / value', 'query, a key and a value')}; query · key "
                    f"scores how much it reads every other token, and {g('softmax')} turns the scores into "
                    f"weights that add up to 1. {see}{gqa} This is layer {layer}, head {head}{cut}.")
        w = trace.attentions[layer, head, :T, :T]
        masked = np.triu(np.ones((T, T), dtype=bool), 1) if decoder else None
        fig = attention_heatmap(w, labels, labels, f"Attention weights, layer {layer} head {head}", masked=masked)
        _chart(fig, "attention", f"Heatmap of attention weights of layer {layer}, head {head}: rows are the "
               "reading tokens, columns the tokens read.", projector)
        _try("move the layer and head sliders on the Attention page: some heads read the previous token, some "
             "the first token, some the same word.")
        return _page("attention", lm, text, "Attention", layer=str(layer), head=str(head))

    if i == 5:
        from components.attention_plots import stat_grid

        st.markdown(f"{lm.spec.label} has {f.n_layers} {g('layer', 'layers')} of {f.n_heads} "
                    f"{g('head', 'heads')} each, and the heads specialise. Each square is one head: the share of "
                    "its attention that goes to the token just before. Bright squares are “previous-token heads”; "
                    f"the brightest here is layer {layer}, head {head}.")
        fig = stat_grid(prev, "Share of attention to the previous token, every layer × head", "previous-token share",
                        zmin=0.0, zmax=1.0)
        _chart(fig, "heads", f"Grid of {f.n_layers} layers by {f.n_heads} heads coloured by how much each head "
               "attends to the previous token.", projector)
        _try(_preset_link("previous-token-head") + ".")
        return _page("attention", lm, text, "Attention (head summary)", view="summary", stat="prev")

    if i == 6 and trace.last_logits is not None:
        from components.plots import ranked_bars
        from models.sampling import adjust, ranking, token_texts

        a = adjust(trace.last_logits)
        top = ranking(a.probs_original)[:10]
        with lm.lock:
            texts = token_texts(lm.tokenizer, top, f.tokenizer.kind)
        st.markdown(f"The last token's final vector is multiplied by the unembedding matrix: one {g('logit')} for "
                    f"each of the {f.vocab_size:,} vocabulary entries. {g('softmax').capitalize()} turns them into "
                    f"probabilities; the top one here is {md_literal(texts[0])} with {a.probs_original[top[0]]:.1%}.")
        fig = ranked_bars([visible(s) for s in texts], a.probs_original[top],
                          f"The 10 most likely next tokens of {f.vocab_size:,}", value_name="probability")
        _chart(fig, "next-token", "Bar chart of the ten most likely next tokens and their probabilities.", projector)
        _try(f"change the {g('temperature')} on the Next token page: " + ", ".join(
            f"[{label}]({url})" for label, url in preset("temperature").links()) + ".")
        return _page("next-token", lm, text, "Next token")

    if i == 6:
        from components.plots import heatmap
        from models.similarity import cosine_matrix

        head = ("It has a masked-LM head: it fills a [MASK] from both sides rather than continuing text."
                if f.head == "masked-lm" else
                "It has no LM head at all: it was trained to turn sentences into vectors for search.")
        st.markdown(f"{lm.spec.label} is an encoder, trained as a {g('masked LM')} rather than to predict the next "
                    f"token. {head} Its output is one contextual vector per token; below, how alike the last "
                    f"layer's vectors are ({g('cosine')}){cut}.")
        fig = heatmap(cosine_matrix(trace.hidden_states[-1, :T]), labels, labels,
                      "Cosine similarity of the last layer's token vectors", zmin=-1, zmax=1,
                      colorscale=present.PROJECTOR_SCALE if projector else "RdBu", reversescale=not projector,
                      hover_name="cosine")
        _chart(fig, "encoder-output", "Heatmap of cosine similarities between the last layer's token vectors.",
               projector)
        _try("switch the model to SmolLM2 (a decoder) in the sidebar to see next-token probabilities.")
        return _page("next-token", lm, text, "Next token")

    # i == 7: generation
    if decoder and f.head == "causal-lm":
        from components.generation_plots import tokens_html
        from components.engine import get_engine, get_text_tools
        from models.generation import Settings

        st.markdown("Generation repeats the last step: pick a token, append it, run the model again (keeping the "
                    f"keys and values already computed, the {g('KV cache')}). Greedy always takes the top token, as "
                    f"here; sampling draws from the probabilities ({g('temperature')}, {g('top-k')}, "
                    f"{g('top-p')}); {g('beam search')} keeps several candidates.")
        key = ("_tour_generated", lm.spec.id, text)
        steps = st.session_state.get("_tour_generation", {}).get(key)
        if steps is None:
            ids, _ = get_text_tools(lm).encode(text)
            req = get_engine(lm).submit(ids, Settings(max_new_tokens=GEN_TOKENS)).result(timeout=120)
            steps = list(req.steps)
            st.session_state["_tour_generation"] = {key: steps}
        tools = get_text_tools(lm)
        pieces_out = tools.pieces([s.token_id for s in steps])
        st.html(tokens_html(text[-300:], pieces_out, [s.prob for s in steps]))
        st.caption(f"The prompt (grey) and {len(steps)} greedy tokens, each coloured by the probability the model "
                   "gave it when it was chosen (green: sure, red: unsure).")
        _try(_preset_link("decoding", "compare greedy, beam search and sampling") + ".")
        return _page("generate", lm, text, "Generate")

    from components.plots import lines

    st.markdown(f"{lm.spec.label} is an encoder: it reads the whole text at once and does not generate text left to "
                "right; generating needs a decoder (GPT-style) such as SmolLM2. What an encoder gives is the "
                "contextual vectors below: each token's vector moves away from its embedding row as the layers mix "
                "in its context.")
    h = trace.hidden_states[:, :min(T, 6)]  # [L+1, t, d]
    norm = h / np.maximum(np.linalg.norm(h, axis=-1, keepdims=True), 1e-12)
    cos = np.einsum("ltd,td->lt", norm, norm[0])  # [L+1, t]
    fig = lines(np.arange(h.shape[0]), {labels[j]: cos[:, j] for j in range(cos.shape[1])},
                "Cosine of each token's vector with its embedding row, layer by layer", "layer", "cosine")
    _chart(fig, "encoder-layers", "Lines: for the first tokens, cosine similarity between the vector after each "
           "layer and the embedding row.", projector)
    _try("switch the model to SmolLM2 in the sidebar and come back to this step.")
    return _page("generate", lm, text, "Generate")
