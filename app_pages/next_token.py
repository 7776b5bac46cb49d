"""Next token: logits -> softmax -> temperature / top-k / top-p; the logit lens; BERT's fill-in-the-blank."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from components import sampling_redraw as sr
from components import samples_view, state
from components.lead import lead
from components.cache import get_model, shared, trace_or_stop
from components.glossary import glossary_link as g
from components.loss_plots import loss_bars
from components.plots import ranked_bars
from components.sampling_plots import lens_heatmap, lens_line, nucleus_curve, probability_bars, steps_table_html
from components.widgets import csv_download, md_literal, show_chart, visible
import i18n
from i18n import _
from models import mlm
from models.lens import NoFinalNorm, final_norm, logit_lens
from models.loss import next_token_scores
from models.registry import DEFAULT_DECODER, get_spec
from models.sampling import BadSetting, adjust, decoded_tail, ranking, token_texts

N_BARS = 20  # tokens drawn in the bars
N_MATH = 10  # tokens in the step-by-step table
N_LENS = 5  # ranks in the logit-lens grid
EXAMPLE = "The capital of France is"


def _num(v: float) -> str:
    return f"{v:g}"


TEMPERATURE = state.Param("temperature", 1.0, lo=0.0, hi=sr.TEMPERATURE_MAX, step=0.01, to_url=_num)
TOP_K = state.Param("top_k", 0, lo=0, hi=sr.TOP_K_MAX)
TOP_P = state.Param("top_p", 1.0, lo=0.0, hi=1.0, step=0.01, to_url=_num)
PARAMS = [TEMPERATURE, TOP_K, TOP_P]
SCOPE = "next-token"
LIMITS = sr.Limits.of(TEMPERATURE, TOP_K, TOP_P)  # the component's sliders: the same bounds as the URL's
with state.bound(PARAMS, scope=SCOPE) as b:
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


    def _texts(ids) -> list[str]:
        with lm.tokenizer_lock:
            return token_texts(lm.tokenizer, ids, KIND)


    def _labels(ids) -> list[str]:
        return [visible(s) for s in _texts(ids)]


    def _trace_or_stop(for_text: str):
        return trace_or_stop(lm.spec.id, for_text, _("see what the model predicts"))


    # ==================================================================================== encoders
    if lm.spec.family == "encoder":
        # the title promises only what the loaded model can do: a blank is filled only by a masked-LM head
        st.title(_("Fill in the blank: what an encoder predicts") if mlm.has_mlm_head(lm) else
                 _("What an encoder predicts, and why this one predicts no token"))
        lead(_("This model reads the whole text at once, so it does not continue a text; instead it guesses a hidden "
               "word from the words on both sides.") if mlm.has_mlm_head(lm) else
             _("This model reads the whole text at once and turns it into vectors: it does not continue a text, and it "
               "has no part that guesses words."), _(
            "Encoders such as BERT are not trained to continue a text. BERT learned {masked_lm}: some words are hidden "
            "behind `[MASK]` and the model predicts them from the words on **both** sides. So instead of a next "
            "{token}, an encoder with such a head fills blanks."
        ).format(masked_lm=g("masked LM", _("masked language modelling")), token=g("token", _("token"))))
        # the decoder page's training-signal section (loss at every position) has no counterpart here: say why
        if mlm.has_mlm_head(lm):
            no_loss = _("{model} has no next-token head, so there is no next-token {loss} at each position to show: "
                        "its masked-LM head is trained by filling masked tokens from both sides instead.")
        else:
            no_loss = _("{model} has no language-model head at all, so it gives no probability to any token: there is "
                        "no next-token {loss} at each position to show, as there is for a decoder.")
        st.caption(no_loss.format(model=lm.spec.label, loss=g("loss (cross-entropy)", _("loss"))))
        if not mlm.has_mlm_head(lm):
            # How this checkpoint was trained comes from facts.training (its files and model card), not from BERT's.
            st.info(i18n.sentences(
                _("{model} has no masked-language-model head: its checkpoint does not include the layer that turns "
                  "hidden states into token predictions, so it cannot predict tokens at all.").format(model=lm.spec.label),
                *facts.training_sentences,
                _("A decoder (GPT-style) predicts the next token; BERT-base-uncased and DistilBERT fill blanks when they "
                  "are in the Hugging Face cache.")), icon=":material/info:")
            st.button(_("Switch to the decoder {model}").format(model=get_spec(DEFAULT_DECODER).label),
                      on_click=_set_model, args=(DEFAULT_DECODER,), icon=":material/swap_horiz:", type="primary",
                      key="nt_switch")
            b.stop()

        mask = lm.tokenizer.mask_token
        if mask in text:
            masked = text
            st.markdown(_("Your text contains {mask}: the model fills every one of them.").format(mask=md_literal(mask)))
        else:
            choices = mlm.words(text)
            if not choices:
                _trace_or_stop(text)
                st.info(_("There is no word to hide in this text: type a sentence, or put {mask} where a word should "
                          "be.").format(mask=md_literal(mask)), icon="✍️")
                b.stop()
            if not 0 <= st.session_state.get("mask_word", -1) < len(choices):  # new text: hide its last word
                st.session_state["mask_word"] = len(choices) - 1
            i = st.selectbox(_("Word to hide"), range(len(choices)), key="mask_word",
                             format_func=lambda j: _("{word}  (characters {start}–{end})").format(
                                 word=choices[j][2], start=choices[j][0], end=choices[j][1]),
                             help=_("This word is replaced by {mask}; you can also type {mask} into the text "
                                    "yourself.").format(mask=mask))
            start, end, word = choices[i]
            masked = mlm.mask_span(text, start, end, mask)
            st.markdown(_("Hidden word: {word}. The model reads:").format(word=md_literal(word)))
        st.markdown(md_literal(masked))
        trace = _trace_or_stop(masked)
        fills = mlm.fill_masks(lm, trace, k=N_BARS)
        if not fills:
            st.info(_("The first {n} tokens contain no {mask}.").format(n=trace.n_tokens, mask=md_literal(mask)),
                    icon="✂️")
            b.stop()
        for n, fill in enumerate(fills):
            labels = _labels(fill.top_ids)
            title = _("[MASK] at token {position}: the {n} most likely fillers of {V:,}").format(
                position=fill.position, n=len(labels), V=facts.vocab_size)
            show_chart(ranked_bars(labels, fill.top_probs, title, value_name=_("probability")), f"fill-{n}")
            st.caption(_("{n} of {V:,} tokens shown; they hold {mass:.1%} of the probability. {softmax} over the full "
                         "{vocabulary} of the MLM head's output at the [MASK] position (the final hidden state there → "
                         "the head → one {logit} per vocabulary entry).").format(
                n=len(labels), V=facts.vocab_size, mass=fill.top_probs.sum(), softmax=g("softmax", _("Softmax")),
                vocabulary=g("vocabulary", _("vocabulary")), logit=g("logit", _("logit"))))
        b.stop()

    # ==================================================================================== decoders
    st.title(_("The next token: logits → probabilities → a choice"))
    tied = bool(getattr(lm.model.config, "tie_word_embeddings", False)) and facts.tied_embeddings
    try:
        norm_name, no_lens = type(final_norm(lm.model)).__name__, None
    except NoFinalNorm as e:  # a local checkpoint with an unusual architecture: no logit lens, the rest works
        norm_name, no_lens = _("normalisation"), e
    if tied:
        unembed = _("the unembedding matrix ({V:,} × {d}; tied to the input embeddings in {model}: "
                    "`tie_word_embeddings` is true, so it is the same matrix that turned ids into vectors)")
    else:
        unembed = _("the unembedding matrix ({V:,} × {d}; a separate matrix in {model}, not tied to the input "
                    "embeddings)")
    unembed = unembed.format(V=facts.vocab_size, d=facts.d_model, model=lm.spec.label)
    lead(_("After reading your text, the model gives every token it knows a chance of coming next; the bars below show "
           "the most likely ones, and the sliders change how one of them is picked."), _(
        "After the last of its {n_layers} {layers}, the model takes **the last position's hidden state** (normalised by "
        "its final {norm}) and multiplies it by {unembed}. That gives one score (a **{logit}**) for every one of the "
        "{V:,} {tokens} in the {vocabulary}; **{softmax}** turns the scores into probabilities that add up to 1. "
        "Generating text means picking one token from them, appending it and running the model again."
    ).format(n_layers=facts.n_layers, layers=g("layer", _("layers")), norm=norm_name, unembed=unembed,
             logit=g("logit", _("logit")), V=facts.vocab_size, tokens=g("token", _("tokens")),
             vocabulary=g("vocabulary", _("vocabulary")), softmax=g("softmax", _("softmax"))))
    if text.strip() != EXAMPLE:
        st.button(_("Try the classic example: {text}").format(text=f"`{EXAMPLE}`"), on_click=_set_text, args=(EXAMPLE,),
                  icon=":material/lightbulb:", key="nt_example")
    trace = _trace_or_stop(text)
    if trace.truncated:
        st.info(_("This text is {total:,} tokens long; the model reads the first {n}, so this is the prediction for the "
                  "token after those.").format(total=trace.n_total, n=trace.n_tokens), icon="✂️")
    logits = trace.last_logits  # [V] the cached last-position logits: the sliders never run the model again
    order = ranking(logits)  # [V] token ids, most likely first (temperature and the cuts keep this order)
    bar_ids = order[:N_BARS]
    bar_labels = _labels(bar_ids)
    with lm.tokenizer_lock:  # the last tokens decoded together: a character cut into byte pieces reads as itself
        tail, cut_before = decoded_tail(lm.tokenizer, trace.ids, 6)
    st.markdown(_("Prediction for the token after {tail} (position {position}).").format(
        tail=md_literal(("…" if cut_before else "") + visible(tail)), position=trace.n_tokens))


    def _on_off(value: str | None) -> str:
        return value if value is not None else _("off")


    SAMPLING_KEY = "nt-sampling"  # the component's value: the setting its sliders last showed
    SERVER_KEY = "nt_server"  # the toggle: sliders and figures drawn on the server instead


    def _on_pick() -> None:
        """The component's sliders moved (and it has redrawn): its setting becomes the page's (and the URL's)."""
        picked = sr.chosen(SAMPLING_KEY, LIMITS)
        if picked is not None:
            for p, value in zip(PARAMS, (picked.temperature, picked.top_k, picked.top_p)):
                st.session_state[p.name] = value
                state.forget_warning(p.name)


    @st.fragment
    def sampling() -> None:
        """The sliders and everything they change: re-weighted in the browser (components/sampling_redraw.py: the
        logits go to the browser once, no server run per move), or on the server when the toggle under it is on.
        Only this fragment reruns: when the browser reports a setting (to write the URL) or the toggle moves."""
        if sr.on_server(SERVER_KEY):
            sampling_on_server()
        else:
            for p in PARAMS:  # kept as the page's own values while no slider widget holds them
                st.session_state[p.name] = st.session_state.get(p.name, p.default)
            setting = sr.Setting(*(st.session_state[p.name] for p in PARAMS))
            sr.sliders(logits, bar_labels, setting, key=SAMPLING_KEY, on_change=_on_pick,
                       limits=LIMITS,
                       title=_("Next-token probabilities: the {n} most likely of all {V:,} tokens").format(
                           n=len(bar_labels), V=len(logits)))
        sr.fallback_toggle(SERVER_KEY)
        # 100 seeded samples at this setting, next to the probabilities (issue #24)
        samples_view.section(lm, trace, *(st.session_state[p.name] for p in PARAMS))
        state.write_back(PARAMS, scope=SCOPE)


    def sampling_on_server() -> None:
        """Streamlit's sliders + the same figures built on the server (one round trip per move; no forward pass)."""
        c1, c2, c3 = st.columns(3)
        c1.slider(_("Temperature"), **TEMPERATURE.bounds(), key=TEMPERATURE.name, on_change=state.forget_warning,
                  args=(TEMPERATURE.name,), help=_("Divides every logit before the softmax. 0 = greedy (always the top "
                                                   "token), 1 = the model's own distribution, 2 = much flatter and more "
                                                   "random."))
        c2.slider(_("Top-k"), **TOP_K.bounds(), key=TOP_K.name, on_change=state.forget_warning, args=(TOP_K.name,),
                  help=_("Keep only the k most likely tokens (0 = off)."))
        c3.slider(_("Top-p (nucleus)"), **TOP_P.bounds(), key=TOP_P.name, on_change=state.forget_warning,
                  args=(TOP_P.name,), help=_("Keep the smallest set of most likely tokens whose probabilities add up to "
                                             "at least p (1 = off)."))
        T, k, p = st.session_state[TEMPERATURE.name], st.session_state[TOP_K.name], st.session_state[TOP_P.name]
        try:
            adj = adjust(logits, T, k, p)
        except BadSetting as e:  # a temperature from a link too small for float32: greedy is its limit
            st.warning(i18n.sentences(str(e), _("Showing greedy decoding (T = 0) instead.")), icon="⚠️")
            adj = adjust(logits, 0.0, k, p)
        V = adj.vocab_size

        bits = _("{bits:.2f} bits")
        m1, m2, m3, m4 = st.columns(4)
        m1.metric(_("Tokens still eligible (of {V:,})").format(V=V), f"{adj.n_kept:,}")
        m2.metric(_("Entropy: model"), bits.format(bits=adj.entropy_original))
        m3.metric(_("Entropy: adjusted"), bits.format(bits=adj.entropy_final),
                  delta=_("{bits:+.2f} bits").format(bits=adj.entropy_final - adj.entropy_original), delta_color="off")
        top = int(order[0])
        m4.metric(_("Most likely next token"), f"{bar_labels[0]} · {adj.probs[top]:.1%}",
                  help=_("The model itself gives it {p:.2%}.").format(p=adj.probs_original[top]))
        if adj.greedy:
            st.info(_("**Temperature 0 = greedy decoding**: no division by zero — the limit of ever smaller temperatures "
                      "puts all the probability on the single most likely token, so it is always chosen. Top-k and "
                      "top-p have nothing left to cut."), icon=":material/target:")
        elif adj.n_nonzero < adj.n_kept:
            st.caption(_("At T = {T:g} only {nonzero:,} of the {kept:,} eligible tokens keep a probability above 0 in "
                         "32-bit floating point.").format(T=T, nonzero=adj.n_nonzero, kept=adj.n_kept))

        setting = _("greedy (T = 0)") if adj.greedy else ", ".join(
            [f"T = {T:g}"] + ([f"top-k = {k}"] if k else []) + ([f"top-p = {p:g}"] if p < 1 else []))
        show_chart(probability_bars(bar_labels, bar_ids, adj.probs_original[bar_ids], adj.probs[bar_ids], adj.kept[bar_ids],
                                title=_("Next-token probabilities: the {n} most likely of all {V:,} tokens").format(
                                    n=N_BARS, V=V),
                                adjusted_title=_("Adjusted: {setting}").format(setting=setting)), "bars")
        st.caption(_("{n} of {V:,} tokens shown; they hold {mass:.1%} of the model's probability and {adjusted:.1%} "
                     "after adjusting. Every probability is a {softmax} over the **full** vocabulary of {V:,} tokens, "
                     "not over the {n} drawn. Red: cut by {top_k}/{top_p}.").format(
            n=N_BARS, V=V, mass=adj.probs_original[bar_ids].sum(), adjusted=adj.probs[bar_ids].sum(),
            softmax=g("softmax", _("softmax")), top_k=g("top-k", "top-k"), top_p=g("top-p", "top-p")))

        left, right = st.columns([3, 2])
        with left:
            show_chart(nucleus_curve(adj.nucleus_curve(), p, adj.n_kept,
                                 title=_("Top-p: cumulative probability, most likely token first")), "nucleus")
        with right:
            if k:
                how_p = _("**Top-p = {p:g}** keeps the most likely tokens until their probabilities (after temperature "
                          "and top-k) add up to at least p; the curve crosses the dashed line there.")
                how_k = _("**Top-k = {k}** keeps the {k} most likely tokens.")
            else:
                how_p = _("**Top-p = {p:g}** keeps the most likely tokens until their probabilities (after temperature) "
                          "add up to at least p; the curve crosses the dashed line there.")
                how_k = _("**Top-k = off** keeps every token.")
            st.markdown(i18n.sentences(how_p.format(p=p), how_k.format(k=k), _(
                "Left: {after_k:,} after top-k, **{kept:,}** after top-p; they held {mass:.1%} of the temperature-scaled "
                "probability, and are divided by that to add up to 1 again. Entropy measures the uncertainty: {h0:.2f} "
                "bits for the model, {h1:.2f} bits adjusted (0 = certain; {hmax:.1f} bits = all {V:,} tokens equally "
                "likely).").format(after_k=adj.n_kept_top_k, kept=adj.n_kept, mass=adj.kept_mass,
                                   h0=adj.entropy_original, h1=adj.entropy_final, hmax=np.log2(V), V=V)))

        st.subheader(_("The math, with the live numbers"))
        lines = [_("1. **logits** z: the {unembedding}'s score for each of the {V:,} tokens.").format(
            V=V, unembedding=g("unembedding"))]
        if adj.greedy:
            lines.append(_("2. **temperature**: T = 0 means take the arg-max, so no division happens."))
        else:
            lines += [
                _("2. **divide by T = {T:g}**: z / T — below 1 sharpens, above 1 flattens.").format(T=T),
                _("3. **softmax** over all {V:,}: p = exp(z / T) / (sum of exp(z / T) over every token).").format(V=V),
                _("4. **keep** top-k ({k}) then top-p ({p}): {kept:,} tokens left.").format(
                    k=_on_off(str(k) if k else None), p=_on_off(f"{p:g}" if p < 1 else None), kept=adj.n_kept),
                _("5. **renormalise**: divide the kept probabilities by their sum, {mass:.4f}.").format(mass=adj.kept_mass),
            ]
        st.markdown("  \n".join(lines))
        ids = order[:N_MATH]
        kept_cut = {True: _("kept"), False: _("cut")}
        col = {"token": _("token"), "id": _("id"), "after top-k": _("after top-k"), "top-p sees": _("top-p sees"),
               "cumulative": _("cumulative"), "after top-p": _("after top-p"), "final p": _("final p")}
        st.html(steps_table_html({
            col["token"]: bar_labels[:N_MATH], col["id"]: ids.tolist(), "logit z": adj.logits[ids].tolist(),
            "z / T": (adj.logits[ids] if adj.greedy else adj.scaled[ids]).tolist(),
            "softmax(z / T)": adj.probs_scaled[ids].tolist(),
            col["after top-k"]: [kept_cut[bool(b)] for b in adj.kept_top_k[ids]],
            col["top-p sees"]: adj.probs_top_p_sees[ids].tolist(),
            col["cumulative"]: np.cumsum(adj.probs_top_p_sees[ids].astype(np.float64)).tolist(),
            col["after top-p"]: [kept_cut[bool(b)] for b in adj.kept[ids]],
            col["final p"]: adj.probs[ids].tolist(),
        }, formats={col["id"]: "d", "logit z": ".4f", "z / T": ".4f", "softmax(z / T)": ".6f", col["after top-k"]: "",
                    col["top-p sees"]: ".6f", col["cumulative"]: ".6f", col["after top-p"]: "", col["final p"]: ".6f"}))


    sampling()

    # ================================================================================== logit lens
    st.header(_("Logit lens: what the model would say after each layer"))
    if no_lens is not None:
        st.info(str(no_lens), icon=":material/info:")
    else:
        lens = logit_lens(lm, trace, k=N_LENS)
        L = lens.n_layers
        final_label = _labels([lens.final_id])[0]
        texts = [_labels(row) for row in lens.top_ids]
        after_layer = _("after layer {layer}")
        names = [_("embeddings")] + [after_layer.format(layer=i) for i in range(1, L + 1)]
        first_top = int(np.argmax(lens.final_ranks == 0))
        if first_top == 0:
            rise = _("The model's final choice {token} is at the top already in the embeddings and ends with {p:.1%}.")
        else:
            rise = _("The model's final choice {token} first reaches the top after layer {layer} and ends with {p:.1%}.")
        st.markdown(i18n.sentences(_(
            "The same recipe — final {norm} + unembedding + softmax — applied to the last position's hidden state "
            "after **every** layer, as if the model stopped there (the {logit_lens}). The last row is the real "
            "prediction."
        ).format(norm=norm_name, logit_lens=g("logit lens")), rise.format(token=md_literal(final_label), layer=first_top, p=lens.final_probs[-1])))
        view = (lm.spec.id, text, N_LENS)  # everything the two figures are made from (cache.shared)
        show_chart(shared(("lens-heatmap", *view), lambda: lens_heatmap(
            texts, lens.top_probs, names, title=_("Top {k} tokens after each of the {L} layers").format(k=N_LENS, L=L))),
            "lens")
        show_chart(shared(("lens-line", *view), lambda: lens_line(
            lens.final_probs, lens.final_ranks, final_label,
            title=_("Probability of {token} after each layer").format(token=final_label))), "lens-line")
        st.caption(_("Every row puts that layer's output through the model's final norm and its unembedding, exactly "
                     "as the model treats its last layer, so the last row equals the model's own next-token "
                     "probabilities."))

    full = order[:500]
    csv_download(lambda: pd.DataFrame({"rank": np.arange(1, len(full) + 1), "token": _texts(full), "id": full,
                                       "logit": logits[full], "probability": adjust(logits).probs_original[full]}),
                 _("Download the 500 most likely next tokens (CSV)"), f"next-token-{lm.spec.id}.csv", key="next_csv")


    # ====================================================================== the training signal at every position
    N_SURPRISING = 5  # tokens in the "most surprising" table


    @st.fragment
    def training_signal() -> None:
        """The loss at every position of the sidebar's text, from the cached trace (no forward pass here)."""
        st.header(_("Every position predicts: the training signal"))
        scores = next_token_scores(lm, trace)  # entry j: the prediction at position j for token j + 1
        labels = _labels(trace.ids)
        tf = facts.tokenizer
        if tf.adds_bos and trace.tokens[0] == tf.bos_token:
            first = _("{model}'s tokenizer puts {bos} (the beginning-of-sequence token) in front of the text, so your "
                      "first word is predicted from it; {bos} itself has no prediction, since nothing comes before "
                      "it.").format(model=lm.spec.label, bos=md_literal(tf.bos_token))
        else:
            first = _("{model}'s tokenizer adds no beginning-of-sequence token, so the first token {token} has no "
                      "prediction and no loss: nothing comes before it.").format(
                model=lm.spec.label, token=md_literal(labels[0]))
        st.markdown(i18n.sentences(_(
            "The model does not only predict the token after the last one: at **every** position it predicts what "
            "comes next from the tokens up to there (the {causal_mask} hides the rest), all in the same forward pass. "
            "For your text we know which token actually follows each position, so we can read the probability p the "
            "model gave it. The **{loss}** there is −log p: near 0 when the model expected that token, large when it "
            "surprised the model."
        ).format(causal_mask=g("causal mask", _("causal mask")), loss=g("loss (cross-entropy)", _("loss"))), first))
        if scores is None or scores.n == 0:
            st.info(_("This text is a single token, so nothing follows it inside the text and there is no loss to "
                      "show: type a longer text in the sidebar."), icon="✍️")
            return
        V = facts.vocab_size
        losses, probs, ranks = scores.losses, scores.probs, scores.ranks
        mean, ppl, n = scores.mean_loss, scores.perplexity, scores.n
        m1, m2, m3 = st.columns(3)
        m1.metric(_("Mean loss (cross-entropy)"), f"{mean:.3f}",
                  help=_("The mean of −log p over the {n} predictions (natural log).").format(n=n))
        m2.metric(_("Perplexity"), f"{ppl:,.1f}", help=_("exp(mean loss) = exp({mean:.3f})").format(mean=mean))
        m3.metric(_("Actual next token ranked first"), _("{k} of {n}").format(k=int((ranks == 1).sum()), n=n),
                  help=_("How often the token that came was the model's own top guess."))
        shown = [f"{i} {s}" for i, s in enumerate(labels)][1:]  # "3 ␣party": the predicted token, unique
        expected = _labels(scores.top_ids)
        show_chart(shared(("loss-bars", lm.spec.id, text), lambda: loss_bars(
            shown, losses, probs, ranks, expected, np.exp(scores.top_logprobs.astype(np.float64)), V,
            title=_("Loss at each of the {n} predictions: −log p(the token that actually comes next)").format(n=n))),
            "loss")
        st.caption(_("One bar per token that the model predicted, labelled with its position; taller and darker = more "
                     "surprising. Hover a bar for p, its rank among all {V:,} tokens and what the model expected "
                     "instead. Dashed line: the mean, {mean:.3f}. Losses use the natural log (nats), as in "
                     "training.").format(V=V, mean=mean))
        st.markdown(_(
            "**This is the objective decoders are pre-trained with**: the loss averaged over all positions of many "
            "texts is the number training makes smaller, and one forward pass gives {n} predictions to learn from, "
            "not one. Here the mean is {mean:.3f}, so the {perplexity} is exp({mean:.3f}) = {ppl:,.1f}: on average the "
            "model was as unsure as if it picked uniformly among {ppl:,.1f} tokens. A perplexity depends on the "
            "tokenizer, so compare it only between models with the same vocabulary."
        ).format(n=n, mean=mean, ppl=ppl, perplexity=g("perplexity", _("perplexity"))))
        if trace.truncated:
            st.caption(_("Computed on the first {n:,} of the text's {total:,} tokens (what the model reads).").format(
                n=trace.n_tokens, total=trace.n_total))

        k = min(N_SURPRISING, n)
        st.subheader(_("The {k} most surprising tokens").format(k=k))
        worst = scores.most_surprising(k)
        col = {"position": _("position"), "token": _("token"), "rank": _("rank"), "expected": _("the model expected"),
               "p expected": _("its p")}
        st.html(steps_table_html({
            col["position"]: (worst + 1).tolist(), col["token"]: [labels[j + 1] for j in worst],
            "p": probs[worst].tolist(), "−log p": losses[worst].tolist(), col["rank"]: ranks[worst].tolist(),
            col["expected"]: [expected[j] for j in worst],
            col["p expected"]: np.exp(scores.top_logprobs[worst].astype(np.float64)).tolist(),
        }, formats={col["position"]: "d", "p": ".3g", "−log p": ".3f", col["rank"]: ",d", col["p expected"]: ".3g"}))
        csv_download(lambda: pd.DataFrame({
            "position": np.arange(1, n + 1), "token": _texts(trace.ids[1:]), "id": trace.ids[1:], "p": probs,
            "loss": losses, "rank": ranks, "top_guess": _texts(scores.top_ids), "top_guess_p":
                np.exp(scores.top_logprobs.astype(np.float64))}),
            _("Download the loss at every position (CSV)"), f"loss-{lm.spec.id}.csv", key="loss_csv")


    training_signal()
