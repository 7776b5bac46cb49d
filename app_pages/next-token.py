"""Next token: logits -> softmax -> temperature / top-k / top-p; the logit lens; BERT's fill-in-the-blank."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from components import state
from components.cache import get_model, get_trace
from components.plots import ranked_bars
from components.sampling_plots import lens_heatmap, lens_line, nucleus_curve, probability_bars, steps_table_html
from components.widgets import csv_download, md_literal, show_chart, visible
from models import mlm
from models.lens import final_norm, logit_lens
from models.registry import DEFAULT_DECODER, get_spec
from models.sampling import TEMPERATURE_MAX, adjust, ranking, token_texts

N_BARS = 20  # tokens drawn in the bars
N_MATH = 10  # tokens in the step-by-step table
N_LENS = 5  # ranks in the logit-lens grid
TOP_K_MAX = 200
EXAMPLE = "The capital of France is"


def _num(v: float) -> str:
    return f"{v:g}"


TEMPERATURE = state.Param("temperature", 1.0, state.float_in(0.0, TEMPERATURE_MAX), to_url=_num)
TOP_K = state.Param("top_k", 0, state.int_in(0, TOP_K_MAX))
TOP_P = state.Param("top_p", 1.0, state.float_in(0.0, 1.0), to_url=_num)
PARAMS = [TEMPERATURE, TOP_K, TOP_P]
state.seed(PARAMS, scope="next-token")

lm = get_model(st.session_state.active_model)
facts = lm.facts
KIND = facts.tokenizer.kind
text = state.current_text()



def _set_text(value: str) -> None:
    st.session_state[state.TEXT.name] = value
    state.forget_warning(state.TEXT.name)


def _set_model(model_id: str) -> None:
    st.session_state[state.MODEL.name] = model_id
    state.forget_warning(state.MODEL.name)


def _labels(ids) -> list[str]:
    return [visible(s) for s in token_texts(lm.tokenizer, ids, KIND)]


def _trace_or_stop(for_text: str):
    if not for_text.strip():
        st.info("Type or paste some text in the sidebar (or press the example button above).", icon="✍️")
        st.stop()
    try:
        return get_trace(lm.spec.id, for_text)
    except ValueError as e:
        st.info(str(e), icon="✍️")
        st.stop()


# ==================================================================================== encoders
if lm.spec.family == "encoder":
    st.title("Fill in the blank: what an encoder predicts")
    st.markdown(
        "BERT-style encoders are not trained to continue a text. They learn **masked language modelling**: some "
        "words are hidden behind `[MASK]` and the model predicts them from the words on **both** sides. So instead "
        "of a next token, an encoder fills blanks."
    )
    if not mlm.has_mlm_head(lm):
        st.info(
            f"{lm.spec.label} has no masked-language-model head: it is a sentence-embedding model, trained to "
            "turn a whole text into one vector, and its checkpoint does not include the layer that turns hidden "
            "states into token predictions. So it cannot predict tokens at all. A decoder (GPT-style) predicts "
            "the next token; BERT-base-uncased and DistilBERT fill blanks when they are in the Hugging Face cache.",
            icon=":material/info:",
        )
        st.button(f"Switch to the decoder {get_spec(DEFAULT_DECODER).label}", on_click=_set_model,
                  args=(DEFAULT_DECODER,), icon=":material/swap_horiz:", type="primary")
        state.write_back(PARAMS, scope="next-token")
        st.stop()

    mask = lm.tokenizer.mask_token
    if mask in text:
        masked = text
        st.markdown(f"Your text contains {md_literal(mask)}: the model fills every one of them.")
    else:
        choices = mlm.words(text)
        if not choices:
            _trace_or_stop(text)
            st.info(f"There is no word to hide in this text: type a sentence, or put {md_literal(mask)} where a "
                    "word should be.", icon="✍️")
            st.stop()
        if not 0 <= st.session_state.get("mask_word", -1) < len(choices):  # new text: hide its last word
            st.session_state["mask_word"] = len(choices) - 1
        i = st.selectbox("Word to hide", range(len(choices)), key="mask_word",
                         format_func=lambda j: f"{choices[j][2]}  (characters {choices[j][0]}–{choices[j][1]})",
                         help=f"This word is replaced by {mask}; you can also type {mask} into the text yourself.")
        start, end, word = choices[i]
        masked = mlm.mask_span(text, start, end, mask)
        st.markdown(f"Hidden word: {md_literal(word)}. The model reads:")
    st.markdown(md_literal(masked))
    trace = _trace_or_stop(masked)
    fills = mlm.fill_masks(lm, trace, k=N_BARS)
    if not fills:
        st.info(f"The first {trace.n_tokens} tokens contain no {md_literal(mask)}.", icon="✂️")
        st.stop()
    for n, fill in enumerate(fills):
        labels = _labels(fill.top_ids)
        title = f"[MASK] at token {fill.position}: the {len(labels)} most likely fillers of {facts.vocab_size:,}"
        show_chart(ranked_bars(labels, fill.top_probs, title, value_name="probability"), f"fill-{n}")
        st.caption(f"{len(labels)} of {facts.vocab_size:,} tokens shown; they hold {fill.top_probs.sum():.1%} of "
                   "the probability. Softmax over the full vocabulary of the MLM head's output at the "
                   "[MASK] position (the final hidden state there → the head → one logit per vocabulary entry).")
    state.write_back(PARAMS, scope="next-token")
    st.stop()

# ==================================================================================== decoders
st.title("The next token: logits → probabilities → a choice")
tied = bool(getattr(lm.model.config, "tie_word_embeddings", False)) and facts.tied_embeddings
norm_name = type(final_norm(lm.model)).__name__
unembed = (f"the unembedding matrix ({facts.vocab_size:,} × {facts.d_model}; "
           + (f"tied to the input embeddings in {lm.spec.label}: `tie_word_embeddings` is true, so it is the same "
              "matrix that turned ids into vectors)" if tied else
              f"a separate matrix in {lm.spec.label}, not tied to the input embeddings)"))
st.markdown(
    f"After the last of its {facts.n_layers} layers, the model takes **the last position's hidden state** "
    f"(normalised by its final {norm_name}) and multiplies it by {unembed}. That gives one score (a **logit**) "
    f"for every one of the {facts.vocab_size:,} tokens in the vocabulary; **softmax** turns the scores into "
    "probabilities that add up to 1. Generating text means picking one token from them, appending it and "
    "running the model again."
)
if text.strip() != EXAMPLE:
    st.button(f"Try the classic example: “{EXAMPLE}”", on_click=_set_text, args=(EXAMPLE,),
              icon=":material/lightbulb:")
trace = _trace_or_stop(text)
if trace.truncated:
    st.info(f"This text is {trace.n_total:,} tokens long; the model reads the first {trace.n_tokens}, so this is "
            "the prediction for the token after those.", icon="✂️")
logits = trace.last_logits  # [V] the cached last-position logits: the sliders never run the model again
order = ranking(logits)  # [V] token ids, most likely first (temperature and the cuts keep this order)
bar_ids = order[:N_BARS]
bar_labels = _labels(bar_ids)
tail = "".join(visible(t) for t in token_texts(lm.tokenizer, trace.ids[-6:], KIND))
st.markdown(f"Prediction for the token after {md_literal('…' + tail)} (position {trace.n_tokens}).")


@st.fragment
def sampling() -> None:
    """Sliders + everything they change. Only this part reruns when a slider moves (no forward pass)."""
    c1, c2, c3 = st.columns(3)
    c1.slider("Temperature", 0.0, TEMPERATURE_MAX, step=0.01, key=TEMPERATURE.name, on_change=state.forget_warning,
              args=(TEMPERATURE.name,), help="Divides every logit before the softmax. 0 = greedy (always the top "
              "token), 1 = the model's own distribution, 2 = much flatter and more random.")
    c2.slider("Top-k", 0, TOP_K_MAX, key=TOP_K.name, on_change=state.forget_warning, args=(TOP_K.name,),
              help="Keep only the k most likely tokens (0 = off).")
    c3.slider("Top-p (nucleus)", 0.0, 1.0, step=0.01, key=TOP_P.name, on_change=state.forget_warning,
              args=(TOP_P.name,), help="Keep the smallest set of most likely tokens whose probabilities add up to "
              "at least p (1 = off).")
    T, k, p = st.session_state[TEMPERATURE.name], st.session_state[TOP_K.name], st.session_state[TOP_P.name]
    adj = adjust(logits, T, k, p)
    V = adj.vocab_size

    m1, m2, m3, m4 = st.columns(4)
    m1.metric(f"Tokens still eligible (of {V:,})", f"{adj.n_kept:,}")
    m2.metric("Entropy: model", f"{adj.entropy_original:.2f} bits")
    m3.metric("Entropy: adjusted", f"{adj.entropy_final:.2f} bits",
              delta=f"{adj.entropy_final - adj.entropy_original:+.2f} bits", delta_color="off")
    top = int(order[0])
    m4.metric("Most likely next token", f"{bar_labels[0]} · {adj.probs[top]:.1%}",
              help=f"The model itself gives it {adj.probs_original[top]:.2%}.")
    if adj.greedy:
        st.info("**Temperature 0 = greedy decoding**: no division by zero — the limit of ever smaller temperatures "
                "puts all the probability on the single most likely token, so it is always chosen. Top-k and "
                "top-p have nothing left to cut.", icon=":material/target:")
    elif adj.n_nonzero < adj.n_kept:
        st.caption(f"At T = {T:g} only {adj.n_nonzero:,} of the {adj.n_kept:,} eligible tokens keep a probability "
                   "above 0 in 32-bit floating point.")

    setting = "greedy (T = 0)" if adj.greedy else ", ".join(
        [f"T = {T:g}"] + ([f"top-k = {k}"] if k else []) + ([f"top-p = {p:g}"] if p < 1 else []))
    show_chart(probability_bars(bar_labels, bar_ids, adj.probs_original[bar_ids], adj.probs[bar_ids], adj.kept[bar_ids],
                          title=f"Next-token probabilities: the {N_BARS} most likely of all {V:,} tokens",
                          adjusted_title=f"Adjusted: {setting}"), "bars")
    st.caption(f"{N_BARS} of {V:,} tokens shown; they hold {adj.probs_original[bar_ids].sum():.1%} of the model's "
               f"probability and {adj.probs[bar_ids].sum():.1%} after adjusting. Every probability is a softmax "
               f"over the **full** vocabulary of {V:,} tokens, not over the {N_BARS} drawn. Red: cut by top-k/top-p.")

    left, right = st.columns([3, 2])
    with left:
        show_chart(nucleus_curve(adj.nucleus_curve(), p, adj.n_kept,
                           title="Top-p: cumulative probability, most likely token first"), "nucleus")
    with right:
        st.markdown(
            f"**Top-p = {p:g}** keeps the most likely tokens until their probabilities (after temperature"
            f"{' and top-k' if k else ''}) add up to at least p; the curve crosses the dashed line there. "
            f"**Top-k = {k or 'off'}** keeps {'every token' if not k else f'the {k} most likely tokens'}. "
            f"Left: {adj.n_kept_top_k:,} after top-k, **{adj.n_kept:,}** after top-p; they held "
            f"{adj.kept_mass:.1%} of the temperature-scaled probability, and are divided by that to add up to 1 "
            f"again. Entropy measures the uncertainty: {adj.entropy_original:.2f} bits for the model, "
            f"{adj.entropy_final:.2f} bits adjusted (0 = certain; {np.log2(V):.1f} bits = all {V:,} tokens "
            "equally likely).")

    st.subheader("The math, with the live numbers")
    st.markdown(
        f"1. **logits** z: the unembedding's score for each of the {V:,} tokens.  \n"
        + ("2. **temperature**: T = 0 means take the arg-max, so no division happens.  \n" if adj.greedy else
           f"2. **divide by T = {T:g}**: z / T — below 1 sharpens, above 1 flattens.  \n"
           f"3. **softmax** over all {V:,}: p = exp(z / T) / (sum of exp(z / T) over every token).  \n"
           f"4. **keep** top-k ({'off' if not k else k}) then top-p ({'off' if p >= 1 else f'{p:g}'}): "
           f"{adj.n_kept:,} tokens left.  \n"
           f"5. **renormalise**: divide the kept probabilities by their sum, {adj.kept_mass:.4f}.")
    )
    ids = order[:N_MATH]
    st.html(steps_table_html({
        "token": bar_labels[:N_MATH], "id": ids.tolist(), "logit z": adj.logits[ids].tolist(),
        "z / T": (adj.logits[ids] if adj.greedy else adj.scaled[ids]).tolist(),
        "softmax(z / T)": adj.probs_scaled[ids].tolist(),
        "after top-k": np.where(adj.kept_top_k[ids], "kept", "cut").tolist(),
        "top-p sees": adj.probs_top_p_sees[ids].tolist(),
        "cumulative": np.cumsum(adj.probs_top_p_sees[ids].astype(np.float64)).tolist(),
        "after top-p": np.where(adj.kept[ids], "kept", "cut").tolist(),
        "final p": adj.probs[ids].tolist(),
    }, formats={"id": "d", "logit z": ".4f", "z / T": ".4f", "softmax(z / T)": ".6f", "after top-k": "",
                "top-p sees": ".6f", "cumulative": ".6f", "after top-p": "", "final p": ".6f"}))
    state.write_back(PARAMS, scope="next-token")


sampling()

# ================================================================================== logit lens
st.header("Logit lens: what the model would say after each layer")
lens = logit_lens(lm, trace, k=N_LENS)
L = lens.n_layers
final_label = _labels([lens.final_id])[0]
texts = [_labels(row) for row in lens.top_ids]
names = ["embeddings"] + [f"after layer {i}" for i in range(1, L + 1)]
first_top = int(np.argmax(lens.final_ranks == 0))
st.markdown(
    f"The same recipe — final {norm_name} + unembedding + softmax — applied to the last position's hidden state "
    f"after **every** layer, as if the model stopped there (the *logit lens*). The last row is the real prediction. "
    f"The model's final choice {md_literal(final_label)} is first at the top "
    f"{'already in the embeddings' if first_top == 0 else f'after layer {first_top}'} "
    f"and ends with {lens.final_probs[-1]:.1%}."
)
show_chart(lens_heatmap(texts, lens.top_probs, names, title=f"Top {N_LENS} tokens after each of the {L} layers"), "lens")
show_chart(lens_line(lens.final_probs, lens.final_ranks, final_label,
               title=f"Probability of {final_label} after each layer"), "lens-line")
st.caption("transformers returns the last hidden state already normalised by the final norm, so it is not "
           "normalised twice: the last row equals the model's own next-token probabilities.")

full = order[:500]
csv_download(pd.DataFrame({"rank": np.arange(1, len(full) + 1), "token": token_texts(lm.tokenizer, full, KIND),
                           "id": full, "logit": logits[full], "probability": adjust(logits).probs_original[full]}),
             "Download the 500 most likely next tokens (CSV)", f"next-token-{lm.spec.id}.csv", key="next_csv")
