"""Generate: the model writes one token at a time (greedy, sampling, beam search), streamed, shared by all sessions."""
from __future__ import annotations

import secrets
import time
import urllib.parse

import streamlit as st

import i18n
from components import inputs, state
from components import sampling_redraw as sr
from components import kv_view
from components.lead import lead
from components.cache import get_model
from components.engine import Run, branch, get_engine, get_text_tools, start
from components.generation_plots import alternatives_figure, compare_figure, legend_html, tokens_html
from components.glossary import glossary_link as g
from components.widgets import md_literal, show_chart, visible
from i18n import N_, _, ngettext
from models.generation import DEFAULT_NEW_TOKENS, MAX_NEW_TOKENS, MAX_PROMPT_TOKENS, MAX_SEED, MODES, Refused, Settings
from serving.engine import EngineClosed
from models.registry import DEFAULT_DECODER, get_spec
from models.sampling import token_texts

LABELS = {"greedy": N_("Greedy"), "sample": N_("Sampling"), "beam": N_("Beam search"),
          "compare": N_("Compare all three")}
REASONS = {"eos": N_("the model produced its end-of-sequence token"),
           "length": N_("reached the maximum number of tokens"), "stopped": N_("stopped by you")}


def _num(v: float) -> str:
    return f"{v:g}"


MODE = state.Param("mode", "greedy", state.choice(*MODES))
TEMPERATURE = state.Param("temperature", 1.0, lo=0.0, hi=sr.TEMPERATURE_MAX, step=0.05, to_url=_num)
TOP_K = state.Param("top_k", 50, lo=0, hi=sr.TOP_K_MAX, step=1)
TOP_P = state.Param("top_p", 1.0, lo=0.0, hi=1.0, step=0.01, to_url=_num)
SEED = state.Param("seed", 0, lo=0, hi=MAX_SEED, step=1)
MAX_NEW = state.Param("max_new_tokens", DEFAULT_NEW_TOKENS, lo=1, hi=MAX_NEW_TOKENS, step=1)
BEAMS = state.Param("beams", 3, lo=2, hi=5)
# the input: the sidebar text, or a chat message in the tokenizer's chat template (components/inputs.py)
INPUT = state.Param("input", "text", state.choice(*inputs.INPUT_MODES))
MESSAGE = state.Param("message", _(inputs.DEFAULT_MESSAGE), inputs.text_up_to(inputs.MAX_SENTENCE_CHARS))
SYSTEM = state.Param("system", "", inputs.text_up_to(inputs.MAX_SENTENCE_CHARS))
PARAMS = [MODE, TEMPERATURE, TOP_K, TOP_P, SEED, MAX_NEW, BEAMS, INPUT, MESSAGE, SYSTEM]
SCOPE = "generate"
SAMPLING_LIMITS = sr.Limits.of(TEMPERATURE, TOP_K, TOP_P)  # the component's sliders: the same bounds as the URL's
FRESH_KEY = "gen_fresh_seed"  # the toggle "New seed each press"
# A link that names its seed is there to be repeated; otherwise every press of Generate draws a new seed (one seed
# for every press made students conclude that sampling is not random). The seed used is shown and goes in the link.
if SEED.name in state.from_link([SEED], scope=SCOPE):
    st.session_state[FRESH_KEY] = False
with state.bound(PARAMS, scope=SCOPE) as b:
    st.session_state.setdefault(FRESH_KEY, True)

    lm = get_model(st.session_state.active_model)
    st.title(_("Generate: one token at a time"))


    def _switch_to_decoder() -> None:
        st.session_state[state.MODEL.name] = DEFAULT_DECODER
        state.forget_warning(state.MODEL.name)


    if lm.spec.family != "decoder" or lm.spec.head != "causal-lm":
        # What THIS encoder was trained for (facts.training: its head, its files, its model card), never a fixed story.
        if lm.facts.training.objective == "masked-lm":
            why = _("{model} is an encoder (BERT-style): it reads the whole text at once, in both directions, and was "
                    "trained to fill in blanks (a masked language model), so it does not generate text left to right.")
        else:
            why = _("{model} is an encoder (BERT-style): it reads the whole text at once, in both directions, and has "
                    "no language-model head: it turns text into vectors and predicts no tokens at all, so it cannot "
                    "generate text.")
        st.info(i18n.sentences(
            why.format(model=lm.spec.label), *lm.facts.training_sentences,
            _("Generation needs a decoder (GPT-style), which predicts each next token from the tokens before it.")),
            icon=":material/info:")
        st.button(_("Switch to the bundled decoder, {model}").format(model=get_spec(DEFAULT_DECODER).label),
                  on_click=_switch_to_decoder, type="primary", key="gen_switch")
        b.stop()

    engine = get_engine(lm)
    tools = get_text_tools(lm)
    text = state.current_text()
    ids, from_bos = tools.encode(text)
    bos = tools.token(ids[0]) if from_bos else None

    lead(_("The model writes by repeating one step: it predicts the next token, adds it to the text and reads the "
           "longer text again."), _(
        "{model} continues its prompt (the sidebar text, or in chat mode the conversation) one {token} at a time: it computes a probability for each of its {V:,} "
        "tokens, one is picked, appended, and the model runs again on the longer text. Thanks to the **{kv_cache}** each "
        "step only computes the new token (the keys and values of earlier tokens are kept). **{greedy}** always takes the "
        "most likely token; **sampling** draws at random from the probabilities (reshaped by {temperature}, {top_k} and "
        "{top_p}; a fixed seed makes the draw repeatable); **{beam_search}** keeps the best few partial continuations "
        "and returns the finished one with the best score: its total log-probability divided by its length (the mean "
        "log-probability per token, transformers' default length_penalty of 1). It is a search, not a guarantee: it "
        "can miss the most likely sequence."
    ).format(model=lm.spec.label, token=g("token", _("token")), V=lm.facts.vocab_size, kv_cache=g("KV cache", "KV cache"),
             temperature=g("temperature", _("temperature")), top_k=g("top-k", "top-k"), top_p=g("top-p", "top-p"),
             beam_search=g("beam search", _("beam search")), greedy=g("greedy decoding", _("Greedy"))))
    kv_view.section(lm, text)  # the KV cache, token by token (issue #24)
    chat = inputs.chat_prompt(lm, tools, engine, b, INPUT.name, MESSAGE.name, SYSTEM.name)
    if chat is not None:  # chat mode: the prompt is the templated conversation, the reply stops at the model's eos
        ids, from_bos = chat, False
    elif from_bos:
        st.info(_("The text is empty, so the model starts from its beginning-of-sequence token {bos} and writes "
                  "whatever it finds likely.").format(bos=md_literal(bos or "")), icon="✍️")
    elif len(ids) >= MAX_PROMPT_TOKENS:
        st.info(_("The text is long; the model continues its first {n} tokens.").format(n=MAX_PROMPT_TOKENS), icon="✂️")

    # ------------------------------------------------------------------------------------------- controls
    st.radio(_("Method"), MODES, key=MODE.name, format_func=lambda m: _(LABELS[m]), horizontal=True,
             on_change=state.forget_warning, args=(MODE.name,))
    mode = st.session_state[MODE.name]
    sampling = mode in ("sample", "compare")
    SAMPLING_KEY = "gen-sampling"  # the component's value: the setting its sliders last showed
    SERVER_KEY = "gen_server"  # the toggle: Streamlit's own sliders instead of the component


    def _on_pick() -> None:
        """The component's sliders moved (it has redrawn): its setting becomes the page's (and the URL's)."""
        picked = sr.chosen(SAMPLING_KEY, SAMPLING_LIMITS)
        if picked is not None:
            for p, value in zip((TEMPERATURE, TOP_K, TOP_P), (picked.temperature, picked.top_k, picked.top_p)):
                st.session_state[p.name] = value
                state.forget_warning(p.name)


    @st.fragment
    def next_step() -> None:
        """The sampling sliders with, beside them, the distribution the first new token is drawn from (the model's
        logits after the prompt, re-weighted in the browser: components/sampling_redraw.py). Only this fragment reruns
        when the browser reports a setting (to write the URL)."""
        for p in (TEMPERATURE, TOP_K, TOP_P):  # kept as the page's own values while no slider widget holds them
            st.session_state[p.name] = st.session_state.get(p.name, p.default)
        logits = sr.next_step_logits(lm, ids[-MAX_PROMPT_TOKENS:])  # what the engine keeps of the prompt
        top = sr.top_ids(logits)
        with lm.tokenizer_lock:
            labels = [visible(t) for t in token_texts(lm.tokenizer, top, lm.facts.tokenizer.kind)]
        sr.sliders(logits, labels, sr.Setting(*(st.session_state[p.name] for p in (TEMPERATURE, TOP_K, TOP_P))),
                   key=SAMPLING_KEY, on_change=_on_pick, mode="compact", limits=SAMPLING_LIMITS, chart_name="generate-next",
                   title=_("Next-token probabilities: the {n} most likely of all {V:,} tokens").format(
                       n=len(labels), V=len(logits)))
        st.caption(_("The bars show the distribution the first new token is drawn from: the model's probabilities after "
                     "the prompt, reshaped by the sliders as you move them. Every later token gets a distribution of its "
                     "own, computed from the text so far."))
        state.write_back(PARAMS, scope=SCOPE)


    if sampling and not sr.on_server(SERVER_KEY):
        next_step()
        c4, c5 = st.columns(2)
    else:
        c1, c2, c3, c4, c5 = st.columns(5)
        c1.slider(_("Temperature"), **TEMPERATURE.bounds(), key=TEMPERATURE.name, disabled=not sampling,
                  on_change=state.forget_warning, args=(TEMPERATURE.name,),
                  help=_("Divides the logits before the softmax: below 1 sharper, above 1 flatter; 0 = greedy."))
        c2.number_input(_("Top-k (0 = off)"), **TOP_K.bounds(), key=TOP_K.name, disabled=not sampling,
                        on_change=state.forget_warning, args=(TOP_K.name,), help=_("Keep only the k most likely tokens."))
        c3.slider(_("Top-p (1 = off)"), **TOP_P.bounds(), key=TOP_P.name, disabled=not sampling,
                  on_change=state.forget_warning, args=(TOP_P.name,),
                  help=_("Keep the smallest set of most likely tokens whose probabilities add up to p."))
    if sampling:
        sr.fallback_toggle(SERVER_KEY)


    def _seed_typed() -> None:
        """A seed typed by hand is one to repeat: the next press uses it instead of drawing a new one."""
        state.forget_warning(SEED.name)
        st.session_state[FRESH_KEY] = False


    c4.number_input(_("Seed"), **SEED.bounds(), key=SEED.name, disabled=not sampling, on_change=_seed_typed,
                    help=_("The random draws of sampling come from this seed: the same seed and settings give the same "
                           "text. The seed of the last press is shown here and kept in the link."))
    if sampling:
        c4.toggle(_("New seed each press"), key=FRESH_KEY,
                  help=_("On: every press of Generate draws a new random seed (and shows it here). Off: every press "
                         "repeats the seed above."))
    c5.number_input(_("Max new tokens"), **MAX_NEW.bounds(), key=MAX_NEW.name,
                    on_change=state.forget_warning, args=(MAX_NEW.name,))
    if mode in ("beam", "compare"):
        st.slider(_("Beam width"), **BEAMS.bounds(), key=BEAMS.name, on_change=state.forget_warning, args=(BEAMS.name,),
                  help=_("How many partial continuations beam search keeps at every step."))


    def settings() -> Settings:
        ss = st.session_state
        return Settings(greedy=mode in ("greedy", "beam"), temperature=float(ss[TEMPERATURE.name]),
                        top_k=int(ss[TOP_K.name]), top_p=float(ss[TOP_P.name]), seed=int(ss[SEED.name]),
                        max_new_tokens=int(ss[MAX_NEW.name]))


    def _stop() -> None:
        run = st.session_state.get("gen_run")
        if run is not None:
            run.cancel()


    def new_seed() -> int:
        return SEED.lo + secrets.randbelow(SEED.hi - SEED.lo + 1)  # anywhere in the Seed input's range


    def _press() -> None:
        """Generate pressed (a callback runs before the script, so the Seed input can still be set): with "New seed each
        press" on, sampling gets a fresh seed, which the Seed input then shows and write_back puts in the link."""
        if st.session_state.get(MODE.name) in ("sample", "compare") and st.session_state.get(FRESH_KEY, True):
            st.session_state[SEED.name] = new_seed()
            state.forget_warning(SEED.name)


    b1, b2, b3, _spacer = st.columns([1, 1, 2, 4])
    go = b1.button(_("Generate"), type="primary", key="gen_go", icon=":material/play_arrow:", on_click=_press)
    b2.button(_("Stop"), key="gen_stop", on_click=_stop, icon=":material/stop:")
    if sampling:  # the same seed again: the same text (reproducible), whatever the toggle says
        go = b3.button(_("Repeat this seed"), key="gen_repeat", icon=":material/replay:",
                       help=_("Generate again with seed {seed}: the same settings give the same text.").format(
                           seed=st.session_state[SEED.name])) or go
    state.write_back(PARAMS, scope=SCOPE)  # now, not on leaving: the link is right while the text below streams

    if go:
        old = st.session_state.get("gen_run")
        if old is not None:
            old.cancel()
        with st.spinner(_("Beam search ({n} beams)...").format(n=st.session_state[BEAMS.name])
                        if mode in ("beam", "compare") else _("Starting...")):
            try:
                st.session_state["gen_run"] = start(lm, engine, mode, settings(), int(st.session_state[BEAMS.name]),
                                                    ids, from_bos)
            except (Refused, EngineClosed) as e:
                st.error(_("Generation could not start: {reason}").format(reason=e), icon=":material/error:")
                b.stop()
        for key in ("gen_pick", "gen_pick_last", "gen_parent"):  # a new text: token #0 first, no branch to compare with
            st.session_state.pop(key, None)

    run: Run | None = st.session_state.get("gen_run")
    if run is None or run.model_id != lm.spec.id:
        st.caption(_("Press **Generate**. The text streams in token by token; each token's background is the "
                     "probability it had when it was chosen."))
        b.stop()


    # ------------------------------------------------------------------------------------------- output
    def prompt_text(r: Run) -> str:
        return "" if r.from_bos else tools.decode(r.prompt_ids)


    def show(r: Run, steps, placeholder, selected: int | None = None, running: bool = False) -> None:
        ids_ = [s.token_id for s in steps]
        pieces = tools.pieces(ids_)
        sampled = r.mode == "sample"
        probs = [s.chosen_prob if sampled and not s.forced else s.prob for s in steps]
        label = _("#{i} · {token} · model p = {p:.4f}")
        drawn = _(" · sampled from p = {p:.4f}")
        labels = [label.format(i=i, token=visible(p), p=s.prob) + (drawn.format(p=s.chosen_prob) if sampled else "")
                  for i, (p, s) in enumerate(zip(pieces, steps))]
        placeholder.html(tokens_html(prompt_text(r), pieces, probs, bos=bos if r.from_bos else None, selected=selected,
                                     forced=[s.forced for s in steps], running=running, labels=labels,
                                     run_id=id(r)))


    def follow(req) -> None:
        """Wait for the next token(s); redraw at most ~12 times a second (decoding the pieces is not free)."""
        time.sleep(0.08)
        req.wait(len(req.steps), 0.5)


    def status_line(req) -> str:
        if req.state == "queued":
            rows, waiting = engine.load()
            return _("Waiting for the model: number {place} in the queue ({rows} generations running together, up to "
                     "{most} at once).").format(place=engine.queue_position(req), rows=rows, most=engine.max_batch)
        rows, _waiting = engine.load()
        line = _("Generating... {n} / {most} tokens").format(n=len(req.steps), most=req.settings.max_new_tokens)
        if rows > 1:
            line += ngettext(" · sharing each step with {n} other generation", " · sharing each step with {n} other "
                             "generations", rows - 1).format(n=rows - 1)
        return line


    def done_line(req) -> str:
        n = len(req.steps)
        took = (req.finished_at or 0) - req.submitted
        speed = _(" ({rate:.1f} tokens/s)").format(rate=n / took) if took > 0 else ""
        first = _(", first token after {s:.2f} s").format(s=req.ttft) if req.ttft is not None else ""
        if req.state == "error":
            return _("Generation failed: {reason}").format(reason=req.finish_reason)
        reason = req.finish_reason or ""
        return _("{n} tokens in {s:.2f} s{speed}{first}; {reason}.").format(
            n=n, s=took, speed=speed, first=first, reason=_(REASONS[reason]) if reason in REASONS else reason)


    legend_what = _("Probability the token had in the distribution it was drawn from") if run.mode == "sample" else \
        _("The model's probability of each chosen token")
    st.html(legend_html(legend_what))

    if run.mode == "compare":
        cols = st.columns(3)
        short = {name: _(LABELS[name]) for name in ("greedy", "sample", "beam")}
        titles = {"greedy": short["greedy"],
                  "sample": _("Sampling (T = {T:g}, top-k {k}, top-p {p:g}, seed {seed})").format(
                      T=run.settings.temperature, k=run.settings.top_k or _("off"), p=run.settings.top_p,
                      seed=run.settings.seed),
                  "beam": _("Beam search ({n} beams)").format(n=run.beams)}
        holders = {}
        for col, name in zip(cols, ("greedy", "sample", "beam")):
            col.markdown(f"**{titles[name]}**")
            holders[name] = (col.empty(), col.empty())
        for name in ("greedy", "sample"):
            req = run.compare[name]
            while not req.done:
                show(run, list(req.steps), holders[name][0], running=True)
                holders[name][1].caption(status_line(req))
                follow(req)
        series, names = [], []
        for name in ("greedy", "sample", "beam"):
            steps = run.beam_steps if name == "beam" else list(run.compare[name].steps)
            show(run, steps, holders[name][0])
            total = sum(s.logprob for s in steps)
            mean = total / len(steps) if steps else 0.0
            holders[name][1].markdown(_("Total log-probability **{total:.3f}** over {n} tokens (mean {mean:.3f} per "
                                        "token)").format(total=total, n=len(steps), mean=mean))
            series.append([s.logprob for s in steps])
            names.append(short[name])
        show_chart(compare_figure(names, series, _("Total log-probability as the continuation grows")),
                   "generate-compare", key="gen_compare")
        st.caption(_("The log-probability of a continuation is the sum of the log-probabilities of its tokens under the "
                     "model (T = 1): closer to 0 = more likely. Greedy takes the best token at every step but not always "
                     "the best sequence; beam search looks further and usually finds a higher total; sampling trades "
                     "probability for variety."))
        if run.beam is not None:
            st.caption(_("Beam search is transformers' own `generate(num_beams={n})`; its score (sum divided by "
                         "length^{penalty:g}) is {score:.4f}.").format(n=run.beams, penalty=run.beam.length_penalty,
                                                                       score=run.beam.score))
        final_steps = None
    else:
        if run.mode == "sample":  # the seed this text was drawn with (also in the Seed input and in the link)
            st.caption(_("Drawn with seed {seed}: **Repeat this seed** gives this text again; **Generate** draws a new "
                         "seed while *New seed each press* is on.").format(seed=run.settings.seed))
        parent: Run | None = st.session_state.get("gen_parent")
        if run.branched is not None and parent is not None and parent.model_id == run.model_id:
            # the continuation it branched from stays on screen, beside the branch, the branch point outlined in both
            at, before, after = run.branched
            left, right = st.columns(2)
            left.markdown("**" + _("Original") + "**")
            show(parent, parent.steps, left.empty(), selected=at)
            right.markdown("**" + _("Branch: {old} → {new} at token #{i}").format(
                i=at, old=md_literal(visible(before)), new=md_literal(visible(after))) + "**")
            out, status = right.empty(), right.empty()
            st.caption(_("Left: the text as first generated; right: the same tokens up to #{i}, your choice there, and "
                         "what the model wrote after it with the same method and settings.").format(i=at))
        else:
            if run.branched is not None:
                at, before, after = run.branched
                st.caption(_("Branched at token #{i}: {old} → {new}, then continued with the same settings.").format(
                    i=at, old=md_literal(visible(before)), new=md_literal(visible(after))))
            out, status = st.empty(), st.empty()
        req = run.req
        if req is not None:
            while not req.done:
                show(run, run.steps, out, running=True)
                status.caption(status_line(req))
                follow(req)
            if req.state == "error":
                st.error(done_line(req), icon=":material/error:")
            else:
                status.caption(done_line(req))
        elif run.beam is not None:
            status.caption(_("transformers' beam search with {n} beams: total log-probability {total:.3f}, score "
                             "{score:.4f} (sum / length^{penalty:g}).").format(
                n=run.beams, total=run.beam.total_logprob, score=run.beam.score, penalty=run.beam.length_penalty))
        final_steps = run.steps
        n = len(final_steps)
        pick = st.session_state.get("gen_pick")
        show(run, final_steps, out, selected=pick if isinstance(pick, int) and pick < n else None)

    # ------------------------------------------------------------------------------ link to attention
    shown = final_steps if final_steps is not None else list(run.compare["greedy"].steps)  # compare: the greedy text
    full_ids = ([] if run.from_bos else run.prompt_ids) + [s.token_id for s in shown]
    full_text = tools.decode(full_ids)
    if len(full_text) <= state.MAX_URL_TEXT:
        query = urllib.parse.urlencode({"model": lm.spec.id, "text": full_text}, quote_via=urllib.parse.quote)
        if run.mode == "compare":
            link = _("[Open this text on the Attention page]({url}) to see what the generated tokens attended to (the "
                     "greedy continuation).")
        else:
            link = _("[Open this text on the Attention page]({url}) to see what the generated tokens attended to.")
        st.markdown(link.format(url=f"attention?{query}"))
    else:
        st.caption(_("This text is too long to put in a link ({n:,} characters; links keep up to {most:,}).").format(
            n=len(full_text), most=state.MAX_URL_TEXT))

    if final_steps is None or not final_steps:
        b.stop()

    # ------------------------------------------------------------------------------ alternatives + branch
    st.subheader(_("Why this token? The alternatives it beat"))
    pieces = tools.pieces([s.token_id for s in final_steps])
    PICK_LAST = "gen_pick_last"  # the token picked before: clicking the selected token again keeps it selected
    if not isinstance(st.session_state.get("gen_pick"), int) or st.session_state["gen_pick"] >= len(final_steps):
        last = st.session_state.get(PICK_LAST)
        st.session_state["gen_pick"] = last if isinstance(last, int) and last < len(final_steps) else 0


    def _picked_token() -> None:
        if st.session_state.get("gen_pick") is None:  # a click on the selected pill unselects it: keep the token
            st.session_state["gen_pick"] = st.session_state.get(PICK_LAST, 0)
        st.session_state[PICK_LAST] = st.session_state["gen_pick"]


    SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


    def pill_label(k: int) -> str:
        """The token's text with its number as a subscript: Streamlit 1.67 sends a pill's LABEL back, so two tokens
        with the same text (" the" twice) need labels that differ, or a click on the second would pick the first."""
        return (visible(pieces[k]) or "·") + str(k).translate(SUBSCRIPT)


    # The generated text as one button per token (st.pills: a click reaches the server reliably, unlike a click inside
    # st.html); the token picked is outlined in the coloured text above and its alternatives are drawn below.
    st.pills(_("Click a generated token to see the alternatives it beat"), range(len(final_steps)), key="gen_pick",
             selection_mode="single", on_change=_picked_token, format_func=pill_label)
    i = st.session_state["gen_pick"]
    st.session_state[PICK_LAST] = i
    step = final_steps[i]
    st.caption(_("Token #{i}: {token}, model probability {p:.3f}.").format(
        i=i, token=md_literal(visible(pieces[i])) if pieces[i] else _("(part of a character)"), p=step.prob))
    alt_text = [visible(t) for t in tools.each(list(step.top_ids))]
    chosen = step.top_ids.index(step.token_id) if step.token_id in step.top_ids else -1
    adjusted = list(step.top_chosen_probs) if run.mode == "sample" else None
    show_chart(alternatives_figure(alt_text, list(step.top_probs), adjusted, chosen,
                                                 _("The model's top {n} for token #{i}").format(n=len(step.top_ids), i=i)),
               "generate-alternatives", key="gen_alts")
    if adjusted:
        about = _("Probabilities over the full vocabulary of {V:,} tokens ({softmax} of the {logits}, T = 1); orange: the "
                  "distribution the token was actually drawn from, after temperature, top-k and top-p (0 = cut off).")
    else:
        about = _("Probabilities over the full vocabulary of {V:,} tokens ({softmax} of the {logits}, T = 1).")
    about = about.format(V=lm.facts.vocab_size, softmax=g("softmax", "softmax"), logits=g("logit", _("logits")))
    if chosen < 0:
        about += " " + _("The chosen token is not among the top {n} (sampling can pick an unlikely token).").format(
            n=len(step.top_ids))
    st.caption(about)

    choices = [t for t in step.top_ids if t != step.token_id]
    b1, b2 = st.columns([3, 2])
    alt = b1.selectbox(_("Continue with another token instead"), choices, key="gen_alt",
                       format_func=lambda t: f"{alt_text[step.top_ids.index(t)]}  (p = "
                                             f"{step.top_probs[step.top_ids.index(t)]:.3f})")
    if b2.button(_("Branch from here"), key="gen_branch", icon=":material/call_split:", disabled=run.running):
        with st.spinner(_("Branching...")):
            st.session_state["gen_run"] = branch(lm, engine, run, i, int(alt))
        st.session_state["gen_parent"] = run  # shown beside the branch
        st.session_state.pop("gen_pick", None)  # the branch opens on the branch point (gen_pick_last)
        st.rerun()
    st.caption(_("Branching keeps the tokens before this one, puts your choice in its place and lets the model "
                 "continue with the same method and settings, so you can see how one different word changes the rest."))
