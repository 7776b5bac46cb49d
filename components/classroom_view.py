"""Streamlit glue of class mode (the rules live in classroom/): this process's store, the sidebar of a session that
is in a room (follow me, the teacher's "send this view", the student's answer box) and the parts of /class.

Only sessions in a room pay anything: app.py calls :func:`follow` and :func:`shell`, which return at once when the
session has not joined or opened a room. Nothing in a student's browser polls: the process's room watcher
(components/class_watch.py) runs the pushed view in the session of each student who follows (its page and query,
``preset=class-N``), or the page on screen when a poll opens or is revealed, whose sidebar then draws the answer
box. Any other run of a student who is behind (a click that came first) is switched in :func:`follow`
(``st.switch_page``, before anything is drawn).
"""
from __future__ import annotations

import secrets
import urllib.parse
from collections import Counter

import numpy as np
import streamlit as st

import config
from classroom import exercises as ex
from classroom import scoring
from classroom import store as cs
from components import class_watch
from components.glossary import glossary_link
from components.sampling_redraw import TEMPERATURE_MAX
from components.widgets import md_literal
import i18n
from i18n import _, ngettext

ROOM, TOKEN, SESSION, FOLLOW = "class_room", "class_teacher", "class_session", "class_follow"
SEEN, POLL_SEEN, ANSWERED, FLASH = "class_seen", "class_poll_seen", "class_answered", "class_flash"
# never sent to students: the teacher's token above all, and the teacher's own language and projector mode
NOT_PUSHED = ("room", "teacher", "preset", "lang", "present")
CLASS_PATH = "class"


# ------------------------------------------------------------------------------------------ the store
@st.cache_resource(show_spinner=False)
def _store(url: str) -> cs.Store:
    return cs.open_store(url)  # StoreUnavailable is raised, not cached: the next run tries again


def store() -> cs.Store:
    """The store named by $TX_CLASS_STORE (SQLite in the data directory by default), one per process."""
    return _store(config.from_env().class_store)


@st.cache_resource(show_spinner=False)
def _watcher(url: str) -> class_watch.Watcher:
    """This process's room watcher. It opens its own store on first use (not the cached one above: its thread
    runs outside any script run)."""
    opened: list[cs.Store] = []

    def own_store() -> cs.Store:
        if not opened:
            opened.append(cs.open_store(url))
        return opened[0]

    def wake(session: str, push: tuple[int, str] | None):
        if push is not None and split_link(push[1])[0] == CLASS_PATH:
            push = None  # not a view to switch to: the page on screen runs, and follow() notes the push as seen
        return class_watch.wake_session(session, push)

    return class_watch.Watcher(own_store, wake)


def _runtime_session() -> str | None:
    """The Streamlit session id of this run, when a real server runs it. AppTest installs a MagicMock(spec=Runtime)
    as the runtime (it passes isinstance and has no sessions to wake), hence the exact type."""
    from streamlit import runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    real = runtime.exists() and type(runtime.get_instance()) is runtime.Runtime
    return ctx.session_id if ctx is not None and real else None


def _watch(code: str) -> None:
    """Tell the watcher what this student's screen now shows: the push (None when not following) and the poll."""
    sid = _runtime_session()
    if sid is not None:
        seen = st.session_state.get(SEEN, 0) if st.session_state.get(FOLLOW, True) else None
        _watcher(config.from_env().class_store).follow(sid, code, seen, st.session_state.get(POLL_SEEN))


def _unwatch() -> None:
    sid = _runtime_session()
    if sid is not None:
        _watcher(config.from_env().class_store).leave(sid)


def session_id() -> str:
    """This browser session's id in rooms (random; never shown, never exported)."""
    return st.session_state.setdefault(SESSION, secrets.token_urlsafe(12))


def in_room() -> str | None:
    return st.session_state.get(ROOM)


def teacher_token() -> str | None:
    return st.session_state.get(TOKEN) if in_room() else None


def leave() -> None:
    _unwatch()
    for key in (ROOM, TOKEN, SEEN, POLL_SEEN, ANSWERED, FLASH):
        st.session_state.pop(key, None)


def leave_button_clicked() -> None:
    """"Leave the room": out of the room, and its code out of the address bar (which would offer to join again)."""
    leave()
    if "room" in st.query_params:
        del st.query_params["room"]


def _room_gone(e: Exception) -> None:
    """The sidebar's answer to a store error: an expired or vanished room ends this session's class mode (one
    sentence, once); a store that cannot be reached may come back, so the session stays in the room."""
    st.warning(str(e), icon=":material/cloud_off:" if isinstance(e, cs.StoreUnavailable) else "⚠️")
    if isinstance(e, cs.ClassError):
        leave()


def enter(code: str, token: str | None = None) -> None:
    """This session is now in room ``code`` (as its teacher when ``token`` is given; checked by the caller)."""
    leave()
    st.session_state[ROOM] = code
    if token:
        st.session_state[TOKEN] = token
    st.session_state[FOLLOW] = token is None
    st.session_state[SEEN] = 0  # a student who joins late is taken to the view the teacher sent last


def view_link(url_path: str, params: dict[str, str]) -> str:
    """The relative link of a view (what "send to class" pushes), without room, teacher token or preset."""
    query = {k: v for k, v in params.items() if k not in NOT_PUSHED}
    return f"/{url_path}" + ("?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote) if query else "")


def split_link(link: str) -> tuple[str, dict[str, str]]:
    parts = urllib.parse.urlsplit(link)
    return parts.path.strip("/"), dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))


# ------------------------------------------------------------------------------------------ the shell
def follow(page, pages: list, followed: str | None = None) -> None:
    """app.py's first hook, before anything is drawn: a student who follows the teacher and whose room has a newer
    push than the view on screen is switched to it now (the rest of this run would be thrown away). ``followed``:
    the preset value this run was opened with (presets.follow); a push's switch carries "class-<push number>", so
    its landing is seen here."""
    code = in_room()
    if not code or teacher_token():
        return
    landed = _push_number(followed)
    if landed is not None:  # a run of push N's link (the watcher's wake or a switch): push N is on screen
        st.session_state[SEEN] = max(st.session_state.get(SEEN, 0), landed)
    if not st.session_state.get(FOLLOW, True):
        return
    try:
        push = store().latest_push(code)
    except (cs.ClassError, cs.StoreUnavailable):
        return  # the sidebar says why, further down this run
    if push is None or push[0] <= st.session_state.get(SEEN, 0):
        return
    path, params = split_link(push[1])
    target = {p.url_path: p for p in pages}.get(path)
    if target is None or path == CLASS_PATH:
        st.session_state[SEEN] = push[0]  # nothing to switch to
        return
    # The push counts as seen only when a run of the pushed page lands (above): a run that another rerun overtakes
    # is switched again by the next one. preset=class-N: presets.follow makes the page read model, text and
    # settings from this link instead of kept values.
    st.switch_page(target, query_params={**params, "preset": f"class-{push[0]}"})


def _push_number(followed: str | None) -> int | None:
    """N for a run opened with ``preset=class-N`` (a pushed view), else None."""
    if followed and followed.startswith("class-") and followed[6:].isdigit():
        return int(followed[6:])
    return None


def shell(page, pages: list) -> None:
    """app.py's sidebar hook: nothing at all unless this session is in a room."""
    code = in_room()
    if not code:
        return
    by_path = {p.url_path: p for p in pages}
    with st.sidebar:
        st.divider()
        if teacher_token():
            _teacher_sidebar(code, page.url_path, by_path)
        else:
            _student_sidebar(code, by_path)
            if in_room():  # still in it (an expired room ends class mode for this session)
                _watch(code)


def _send_view(url_path: str) -> None:
    """Button callback: push the teacher's current view (this page and the address bar's query)."""
    params = {k: st.query_params.get_all(k)[-1] for k in st.query_params}
    try:
        seq = store().push(in_room(), teacher_token(), view_link(url_path, params))
        st.session_state[FLASH] = _("Sent to the class (push {n}).").format(n=seq)
    except (cs.ClassError, cs.StoreUnavailable) as e:
        st.session_state[FLASH] = str(e)


def _teacher_sidebar(code: str, url_path: str, by_path: dict) -> None:
    try:
        n = store().student_count(code)
    except (cs.ClassError, cs.StoreUnavailable) as e:
        _room_gone(e)
        return
    st.markdown(_("**Class** · room {code}").format(code=f"`{code}`") + " · "
                + ngettext("{n} student", "{n} students", n).format(n=n))
    if url_path != CLASS_PATH and url_path in by_path:
        st.button(_("Send this view to the class"), key="class_send_view", icon=":material/cast_for_education:",
                  on_click=_send_view, args=(url_path,),
                  help=_("Every student who follows you opens this page with its model, text and settings."))
    if FLASH in st.session_state:
        st.caption(st.session_state.pop(FLASH))
    if CLASS_PATH in by_path:
        st.page_link(by_path[CLASS_PATH], label=_("Class page (polls, exercises)"), icon=":material/groups:")


def _set_follow() -> None:
    st.session_state[FOLLOW] = st.session_state["class_follow_toggle"]
    if st.session_state[FOLLOW]:
        st.session_state[SEEN] = 0  # back in follow mode: go to the teacher's latest view


def _student_sidebar(code: str, by_path: dict) -> None:
    st.markdown(_("**Class** · room {code}").format(code=f"`{code}`"))
    st.toggle(_("Follow the teacher"), value=st.session_state.get(FOLLOW, True), key="class_follow_toggle",
              on_change=_set_follow,
              help=_("On: your screen switches to each view the teacher sends. Off: explore on your own; switch it "
                     "on again to go back to the teacher's view."))
    try:
        poll = store().current_poll(code)
    except (cs.ClassError, cs.StoreUnavailable) as e:
        _room_gone(e)
        return
    st.session_state[POLL_SEEN] = (poll.id, poll.revealed) if poll else None
    if poll is not None and not poll.revealed:
        answer_box(code, poll)
    elif poll is not None and CLASS_PATH in by_path:
        st.page_link(by_path[CLASS_PATH], label=_("See the class's answers"),
                     icon=":material/bar_chart:")
    elif CLASS_PATH in by_path:
        st.page_link(by_path[CLASS_PATH], label=_("Class page (exercises)"), icon=":material/groups:")


def answer_box(code: str, poll: cs.Poll) -> None:
    answered: dict = st.session_state.setdefault(ANSWERED, {})
    st.markdown(_("**Question {n}:** {question}").format(n=poll.id, question=md_literal(_(poll.question))))
    if poll.kind in ("next-token", "blank"):
        st.markdown(_("Text: {text}").format(text=md_literal(poll.context.get("text", ""))))
    elif poll.kind == "attention":
        st.markdown(_("Layer {layer}, head {head}, reading from token {token}:").format(
            layer=poll.context.get("layer"), head=poll.context.get("head"),
            token=md_literal(str(poll.context.get("query_label", "")))))
    if poll.id in answered:
        st.caption(_("Your answer: {answer} (counted).").format(answer=md_literal(answered[poll.id])))
        return
    with st.form(f"class_answer_{poll.id}", border=False):
        if poll.options:
            choice = st.radio(_("Your answer"), poll.options, index=None, key=f"class_choice_{poll.id}")
        else:
            choice = st.text_input(_("Your guess (a word or a few)"), max_chars=cs.ANSWER_MAX,
                                   key=f"class_guess_{poll.id}")
        sent = st.form_submit_button(_("Send my answer"))
    if sent:
        try:
            counted = store().answer(code, session_id(), poll.id, choice if choice is not None else "")
        except (cs.ClassError, cs.StoreUnavailable) as e:
            st.warning(str(e), icon="⚠️")
        else:
            answered[poll.id] = cs.clean_answer(choice)
            st.caption(_("Your answer: {answer} (counted).").format(answer=md_literal(answered[poll.id]))
                       if counted else _("You had already answered this question; your first answer counts."))


# ------------------------------------------------------------------------------------------ the reveal
@st.cache_data(max_entries=64, show_spinner=False)
def _scores(model_id: str, text: str, counts: tuple[tuple[str, int], ...]) -> list[scoring.GuessScore]:
    from components.cache import get_model_cached

    return scoring.score_guesses(get_model_cached(model_id), text, dict(counts))


def attention_reveal(poll: cs.Poll, answers: dict[str, str]) -> None:
    """The class's picks next to the head's attention weights on the same tokens (the trace's own numbers)."""
    from components.cache import get_trace
    from components.class_plots import guesses_figure
    from components.plots import chart_config

    c = poll.context
    counts = Counter(answers.values())
    if not counts:
        st.info(_("Nobody answered this question."))
        return
    try:
        trace = get_trace(c["model"], c["text"])
        row = scoring.attention_row(trace, int(c["layer"]), int(c["head"]), int(c["query"]))
    except i18n.Error as e:  # the poll's model cannot be loaded here any more (or the text has no token)
        _unusable(c.get("model", ""), e)
        return
    total = sum(counts.values())
    options = list(poll.options)
    weights = row[:len(options)]  # option i is position i (see classroom.scoring.attention_choices)
    fig = guesses_figure(options, [counts.get(o, 0) / total for o in options], weights, [1] * len(options),
                         title=_("The class's picks and the attention of layer {layer}, head {head}").format(
                             layer=c["layer"], head=c["head"]),
                         class_name=_("share of the class"), model_name=_("attention weight"), tokens_word=_("tokens"))
    st.plotly_chart(fig, config=chart_config("class-attention", st.session_state.get("svg", False)))
    top = int(np.argmax(weights))
    a, b = st.columns(2)
    a.metric(_("The head reads most"), options[top], f"{weights[top]:.1%}", delta_color="off")
    b.metric(_("Students who picked it"), f"{counts.get(options[top], 0) / total:.0%}")
    st.caption(_("The weights are the head's softmaxed attention from the question's token to each token it may "
                 "read; they add up to 1."))


def blank_reveal(poll: cs.Poll, answers: dict[str, str]) -> None:
    """Fill in the blank: the class's guesses next to the MLM head's probabilities of the same (one-token) words."""
    from components.cache import get_model, get_trace

    c = poll.context
    counts = Counter(answers.values())
    st.markdown(_("The hidden word: {word}").format(word=md_literal(c.get("word", ""))))
    if not counts:
        st.info(_("Nobody answered this question."))
        return
    try:
        lm = get_model(c["model"])
        scores, logits = scoring.blank_scores(lm, get_trace(c["model"], c["text"]), dict(counts))
    except i18n.Error as e:  # the poll's model cannot be loaded here any more (or the text has no token)
        _unusable(c.get("model", ""), e)
        return
    _guesses_chart(scores, sum(counts.values()), lm.spec.label, "class-blank")
    st.caption(_("Each guess is tokenized with {model}'s tokenizer; a one-token guess gets the probability the "
                 "masked-language-model head gives it at the blank. One blank holds one token, so a guess of "
                 "several tokens is counted but has no bar.").format(model=lm.spec.label))
    _perplexities(st.columns(2), counts, logits,
                  _("e to the entropy of the model's distribution at the blank over its whole vocabulary: the "
                    "number of equally likely tokens it is worth."))


def _unusable(model: str, e: i18n.Error) -> None:
    """A reveal whose poll's model cannot be loaded here any more (or whose text has no token)."""
    st.warning(_("The model of this question ({model}) cannot be used: {reason}").format(
        model=model, reason=str(e) or type(e).__name__), icon="⚠️")


def _perplexities(columns, counts: Counter, logits: np.ndarray, model_help: str) -> None:
    """The class's perplexity beside the model's, in two columns (both kinds of guess poll); ``model_help`` says
    which distribution of the model the second one is computed from."""
    class_col, model_col = columns[0], columns[1]
    class_col.metric(_("Class perplexity"), f"{scoring.class_perplexity(counts):.2f}",
                     help=_("e to the entropy of the class's guesses: the number of equally common guesses they are "
                            "worth (1 = everyone wrote the same)."))
    model_col.metric(_("Model perplexity"), f"{scoring.model_perplexity(logits):.2f}", help=model_help)


def _guesses_chart(scores: list, total: int, model: str, name: str) -> None:
    """The class's share of each guess beside the model's probability of it (one chart for both poll kinds)."""
    from components.class_plots import guesses_figure
    from components.plots import chart_config

    fig = guesses_figure([s.guess for s in scores], [s.count / total for s in scores], [s.prob for s in scores],
                         [len(s.ids) for s in scores],
                         title=_("The class's guesses and {model}'s probabilities").format(model=model),
                         class_name=_("share of the class"), model_name=_("model's probability"),
                         tokens_word=_("tokens"))
    st.plotly_chart(fig, config=chart_config(name, st.session_state.get("svg", False)))


def reveal(poll: cs.Poll, answers: dict[str, str]) -> None:
    """The class's guesses next to the model's probabilities of the same continuations, and the perplexities."""
    if poll.kind == "attention":
        attention_reveal(poll, answers)
        return
    if poll.kind == "blank":
        blank_reveal(poll, answers)
        return
    from components.cache import get_model, get_trace

    model_id, text = poll.context.get("model", ""), poll.context.get("text", "")
    counts = Counter(answers.values())
    if not counts:
        st.info(_("Nobody answered this question."))
        return
    try:
        lm = get_model(model_id)
        scores = _scores(model_id, text, tuple(sorted(counts.items())))
        trace = get_trace(model_id, text)
    except i18n.Error as e:  # the poll's model cannot be loaded here any more (or the text has no token)
        _unusable(model_id, e)
        return
    total = sum(counts.values())
    _guesses_chart(scores, total, lm.spec.label, "class-guesses")
    st.caption(_("Each guess is scored as a continuation of the text, tokenized with {model}'s tokenizer (a space is "
                 "put before it unless the text ends with one, or the guess starts with punctuation or a Chinese "
                 "character). A guess of several tokens gets the probability of the whole continuation: the "
                 "probabilities of its tokens multiplied, each one computed by the model after the ones before it.")
               .format(model=lm.spec.label))
    if len(counts) > scoring.MAX_SCORED:
        st.caption(_("Only the {n} most frequent guesses are scored and drawn.").format(n=scoring.MAX_SCORED))
    c1, c2, c3 = st.columns(3)
    _perplexities((c1, c2), counts, trace.last_logits,
                  _("e to the entropy of the model's next-token distribution over its whole vocabulary: the number "
                    "of equally likely tokens it is worth."))
    c3.metric(_("Model's surprise at the class"), f"{scoring.surprise_perplexity(scores):.2f}",
              help=_("e to the average of −log p(guess) over the students' guesses: 1 if the model was sure of "
                     "every guess, large if the class wrote what the model found unlikely."))
    st.caption(glossary_link("perplexity") + " · " + glossary_link("entropy"))
    rows = [{_("guess"): s.guess, _("students"): s.count, _("tokens"): " | ".join(s.pieces),
             _("model's probability"): f"{s.prob:.3%}"} for s in scores]
    st.dataframe(rows, hide_index=True)


# ------------------------------------------------------------------------------------------ exercises
def exercise_panel(lm, text: str) -> None:
    """The workshop exercises, checked against the loaded model; progress is recorded when in a room."""
    from components.cache import get_trace

    for e in ex.EXERCISES:
        with st.container(border=True):
            st.markdown(f"**{_(e.title)}** — " + _(e.task))
            if e.needs_decoder and lm.spec.head != "causal-lm":
                st.caption(_("This exercise needs a decoder: pick one in the sidebar."))
                continue
            with st.form(f"class_ex_{e.id}", border=False):
                if e.answer == "temperature":  # the Next-token page's temperature (its hint sends students there)
                    answer = {"temperature": st.number_input(_("Temperature"), min_value=0.0, max_value=TEMPERATURE_MAX,
                                                             value=1.0, step=0.1, key="class_ex_t")}
                elif e.answer == "word":
                    answer = {"word": st.text_input(_("One word"), max_chars=60, key="class_ex_word")}
                else:
                    n_layers, n_heads = lm.facts.n_layers, lm.facts.n_heads
                    a, b = st.columns(2)
                    answer = {"layer": a.number_input(_("Layer (1 to {n})").format(n=n_layers), 1, n_layers, 1,
                                                      key="class_ex_layer"),
                              "head": b.number_input(_("Head (1 to {n})").format(n=n_heads), 1, n_heads, 1,
                                                     key="class_ex_head")}
                checked = st.form_submit_button(_("Check"))
            with st.expander(_("Hints")):
                for h in e.hints:
                    st.markdown("- " + _(h))
            if checked:
                trace = None if e.answer == "word" else get_trace(lm.spec.id, e.text or text)  # the tokenizer alone
                result = e.check(lm, trace, answer)
                (st.success if result.solved else st.info)(result.message)
                if in_room() and not teacher_token():
                    try:
                        store().record_attempt(in_room(), session_id(), e.id, result.solved)
                    except (cs.ClassError, cs.StoreUnavailable) as err:
                        st.caption(str(err))
