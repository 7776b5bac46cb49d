"""Class mode (/class): the teacher opens a room, students join with its code and follow the teacher's views, the
class predicts before the model reveals, and workshop exercises are checked against the live model.

Links: ``/class?room=CODE`` (students), ``/class?room=CODE&teacher=TOKEN`` (the teacher's own link; the token is
taken out of the address bar once read, so that it is not projected). The rules live in classroom/, the Streamlit
glue in components/classroom_view.py.
"""
import io
import urllib.parse

import streamlit as st

from classroom import exercises as ex
from classroom import scoring
from classroom import store as cs
from components import classroom_view as cv
from components import state
from components.cache import get_model
from i18n import N_, _

lm = get_model(st.session_state.active_model)
text = state.current_text()
st.title(_("Class mode"))


def stop_with(e: Exception) -> None:
    """One sentence for a refused action or a store that went away, and the end of this page."""
    if isinstance(e, cs.StoreUnavailable):
        st.error(_("Class mode is not available right now: {reason}").format(reason=str(e)),
                 icon=":material/cloud_off:")
        st.caption(_("The other pages work as usual."))
    else:
        st.error(str(e), icon="⚠️")
    st.stop()


def store_or_stop() -> cs.Store:
    """The store, or one sentence and the end of this page (every other page keeps working)."""
    try:
        return cv.store()
    except cs.StoreUnavailable as e:
        stop_with(e)


def base_url() -> str | None:
    """scheme://host[:port] this page was opened with (what students' devices must reach), if known."""
    parts = urllib.parse.urlsplit(st.context.url or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else None


def qr_svg(data: str) -> str:
    """The QR code of ``data`` as inline SVG, made here (segno): no network, no image service."""
    import segno

    buf = io.BytesIO()
    segno.make(data, error="m").save(buf, kind="svg", scale=6, border=2, xmldecl=False, svgns=True,
                                     dark="#000", light="#fff")
    return buf.getvalue().decode("ascii")


store = store_or_stop()
url_room, url_token = st.query_params.get("room"), st.query_params.get("teacher")

# ---------------------------------------------------------------------------------------- reading the link
if url_token is not None:
    try:
        room = store.room(url_room or "")
        if store.is_teacher(room.code, url_token):
            if cv.teacher_token() != url_token or cv.in_room() != room.code:
                cv.enter(room.code, url_token)
            del st.query_params["teacher"]  # not on the projected address bar any more
            st.query_params["room"] = room.code
        else:
            st.error(_("This link's teacher key does not open room {code}; only the teacher's own link does. You can "
                       "join as a student below.").format(code=room.code), icon=":material/lock:")
            if cv.teacher_token() and cv.in_room() == room.code:
                cv.leave()  # a wrong key never keeps teacher controls, even in a session that had them
    except (cs.ClassError, cs.StoreUnavailable) as e:
        stop_with(e)

code = cv.in_room()
wanted = None  # a room named by the link that this session has not joined: offer to join it
if url_room is not None and url_room != code:
    try:
        wanted = store.room(url_room)
    except (cs.ClassError, cs.StoreUnavailable) as e:
        st.error(str(e), icon="⚠️")
    if wanted is not None and wanted.code == code:
        wanted = None


def create_room() -> None:
    try:
        room, token = store.create_room()
    except cs.StoreUnavailable as e:
        st.session_state[cv.FLASH] = str(e)
        return
    cv.enter(room.code, token)
    st.session_state["class_new_token"] = token  # shown once on the page, as part of the teacher's link
    st.query_params["room"] = room.code


def join(code_value: str, name: str) -> None:
    try:
        room = store.room(code_value)
        store.join(room.code, cv.session_id(), name)
    except (cs.ClassError, cs.StoreUnavailable) as e:
        st.session_state[cv.FLASH] = str(e)
        return
    cv.enter(room.code)
    st.session_state["class_name"] = cs.clean_name(name)
    st.query_params["room"] = room.code


def join_form(prefilled: str | None) -> None:
    with st.form("class_join"):
        if prefilled:
            st.markdown(_("Join room {code}").format(code=f"`{prefilled}`"))
            code_value = prefilled
        else:
            code_value = st.text_input(_("Room code"), max_chars=12, placeholder="ABC123", key="class_join_code")
        name = st.text_input(_("Your name (optional)"), max_chars=cs.NAME_MAX, key="class_join_name",
                             help=_("Shown to the teacher next to your answers; without one you are “student N”."))
        if st.form_submit_button(_("Join"), type="primary"):
            join(code_value, name)
            st.rerun()


def flash() -> None:
    if cv.FLASH in st.session_state:
        st.warning(st.session_state.pop(cv.FLASH), icon="⚠️")


# ---------------------------------------------------------------------------------------- no room yet
if wanted is not None:
    flash()
    join_form(wanted.code)
    st.stop()

if not code:
    st.markdown(_("A teacher opens a room and projects its code; students join on their own screens, follow the "
                  "teacher's views, answer questions and try exercises. Nothing leaves this server, and rooms expire "
                  "after 12 hours."))
    flash()
    teach, learn = st.columns(2)
    with teach:
        st.subheader(_("Teach"))
        st.button(_("Create a room"), on_click=create_room, type="primary", icon=":material/add:")
    with learn:
        st.subheader(_("Join"))
        join_form(None)
    st.divider()
    st.subheader(_("Exercises"))
    st.caption(_("Checked against {model} as it is loaded now. Join a room to let your teacher see your progress.")
               .format(model=lm.spec.label))
    cv.exercise_panel(lm, text)
    st.stop()

try:
    room = store.room(code)
except (cs.ClassError, cs.StoreUnavailable) as e:
    if isinstance(e, cs.ClassError):
        cv.leave()  # the room expired or vanished: back to the start next time
    stop_with(e)
st.query_params["room"] = room.code
token = cv.teacher_token()


@st.fragment(run_every=2)
def live_counts(room_code: str) -> None:
    """The teacher's live numbers (this fragment reruns alone every 2 s)."""
    try:
        n = store.student_count(room_code)
        poll = store.current_poll(room_code)
        answers = len(store.answers(room_code, poll.id)) if poll else 0
    except (cs.ClassError, cs.StoreUnavailable) as e:
        st.caption(str(e))
        return
    a, b = st.columns(2)
    a.metric(_("Students in the room"), n)
    b.metric(_("Answers to the current question"), answers if poll and not poll.revealed else "–")


def attention_poll_form(room_code: str, teacher: str) -> None:
    """The teacher picks a layer, a head and a token of the sidebar's text; students pick the token it reads most."""
    from components.cache import trace_or_stop

    if not text.strip():
        st.info(_("Type a text in the sidebar first."))
        return
    trace = trace_or_stop(lm.spec.id, text, _("ask about its attention"))
    a, b, c = st.columns(3)
    layer = a.number_input(_("Layer (1 to {n})").format(n=lm.facts.n_layers), 1, lm.facts.n_layers, 1,
                           key="class_att_layer")
    head = b.number_input(_("Head (1 to {n})").format(n=lm.facts.n_heads), 1, lm.facts.n_heads, 1,
                          key="class_att_head")
    last = min(len(trace.ids), scoring.MAX_ATTENTION_OPTIONS) - 1
    with lm.tokenizer_lock:
        labels = [scoring.piece_label(lm.tokenizer, i, trace.ids[i]) for i in range(last + 1)]
    query = c.selectbox(_("Reading from token"), range(last + 1), index=last, format_func=labels.__getitem__,
                        key="class_att_query")
    if st.button(_("Ask the class: which token does this head read?"), icon=":material/hub:", key="class_ask_att"):
        try:
            choices = scoring.attention_choices(lm, trace, int(query))
            store.open_poll(room_code, teacher, "attention", N_("Which token does this head read most?"),
                            options=tuple(choices),
                            context={"model": lm.spec.id, "text": text, "layer": int(layer), "head": int(head),
                                     "query": int(query), "query_label": labels[int(query)]})
        except (cs.ClassError, cs.StoreUnavailable, scoring.BadPoll) as e:
            st.warning(str(e), icon="⚠️")
            return
        st.rerun()


def blank_poll_form(room_code: str, teacher: str) -> None:
    """The teacher hides one word of the sidebar's text; students guess it; the MLM head's probabilities reveal."""
    from models import mlm

    if not mlm.has_mlm_head(lm):
        st.info(_("{model} has no masked-language-model head: pick an encoder that has one (BERT, DistilBERT) in the "
                  "sidebar.").format(model=lm.spec.label))
        return
    spans = mlm.words(text)
    if not spans:
        st.info(_("Type a text in the sidebar first."))
        return
    i = st.selectbox(_("Word to hide"), range(len(spans)), index=len(spans) - 1,
                     format_func=lambda k: f"{k + 1}: {spans[k][2]}", key="class_blank_word")
    start, end, word = spans[int(i)]
    masked = mlm.mask_span(text, start, end, lm.tokenizer.mask_token)
    st.code(masked[-300:], language=None, wrap_lines=True)
    if st.button(_("Ask the class: which word is hidden?"), icon=":material/edit_note:", key="class_ask_blank"):
        try:
            store.open_poll(room_code, teacher, "blank", N_("Which word is hidden?"),
                            context={"model": lm.spec.id, "text": masked, "word": word})
        except (cs.ClassError, cs.StoreUnavailable) as e:
            st.warning(str(e), icon="⚠️")
            return
        st.rerun()


def leave_button() -> None:
    st.button(_("Leave the room"), on_click=cv.leave_button_clicked, icon=":material/logout:", key="class_leave")


# ---------------------------------------------------------------------------------------- the teacher
if token:
    flash()
    link = f"/class?room={room.code}"
    base = base_url()
    left, right = st.columns([3, 2])
    with left:
        st.markdown(_("Room code: {code}").format(code=f"**`{room.code}`**"))
        st.markdown(_("Students open this link or scan the code:"))
        st.code((base or "") + link, language=None)
        if base is None or "127.0.0.1" in base or "localhost" in base:
            st.caption(_("This address only works on this computer: open the app by the server's network address "
                         "before you project the code."))
        with st.expander(_("Your teacher link (keep it private)")):
            st.caption(_("It opens these controls in another browser. Whoever has it can push views and see answers."))
            st.code((base or "") + f"/class?room={room.code}&teacher={token}", language=None)
        live_counts(room.code)
    with right:
        if base:
            st.image(qr_svg(base + link), caption=_("QR code of the join link"), width=280)  # a data: URI

    st.subheader(_("Follow me"))
    st.markdown(_("On any page, the sidebar's **Send this view to the class** button sends that page with its model, "
                  "text and settings; the students who follow you switch to it within about a second."))

    st.subheader(_("Predict, then reveal"))
    try:
        poll = store.current_poll(room.code)
        answers = store.answers(room.code, poll.id) if poll else {}
    except (cs.ClassError, cs.StoreUnavailable) as e:
        stop_with(e)
    if lm.spec.head != "causal-lm":
        st.info(_("Guessing the next word needs a decoder: pick one in the sidebar."))
    elif not text.strip():
        st.info(_("Type a text in the sidebar: the class will guess the word that comes next."))
    else:
        st.markdown(_("The class guesses the word that comes after the sidebar's text; the reveal sets their guesses "
                      "next to {model}'s probabilities:").format(model=lm.spec.label))
        st.code(text[-300:], language=None, wrap_lines=True)
        if st.button(_("Ask the class: what comes next?"), icon=":material/quiz:", key="class_ask"):
            try:
                store.open_poll(room.code, token, "next-token", N_("What comes next?"),
                                context={"model": lm.spec.id, "text": text})
            except (cs.ClassError, cs.StoreUnavailable) as e:
                stop_with(e)
            st.rerun()
    with st.expander(_("Ask about attention: which token does a head read?")):
        attention_poll_form(room.code, token)
    with st.expander(_("Fill in the blank (an encoder with a masked-language-model head)")):
        blank_poll_form(room.code, token)
    if poll is not None:
        st.markdown(_("**Question {n}:** {question}").format(n=poll.id, question=_(poll.question)))
        if not poll.revealed:
            if st.button(_("Reveal"), type="primary", icon=":material/visibility:", key="class_reveal"):
                try:
                    store.reveal(room.code, token, poll.id)
                except (cs.ClassError, cs.StoreUnavailable) as e:
                    stop_with(e)
                st.rerun()
        else:
            cv.reveal(poll, answers)

    st.subheader(_("Exercises"))
    try:
        progress = store.progress(room.code)
        rows = [{_("exercise"): _(e.title), _("tried"): progress.get(e.id, (0, 0))[0],
                 _("solved"): progress.get(e.id, (0, 0))[1]} for e in ex.EXERCISES]
        export = cs.to_csv(store.export_rows(room.code, token))
    except (cs.ClassError, cs.StoreUnavailable) as e:
        stop_with(e)
    st.dataframe(rows, hide_index=True)
    st.download_button(_("Download the room's answers (CSV)"), export, file_name=f"class-{room.code}.csv",
                       mime="text/csv", on_click="ignore", icon=":material/download:")
    leave_button()
    st.stop()

# ---------------------------------------------------------------------------------------- a student
name = st.session_state.get("class_name")
st.success(_("You are in room {code} as {name}.").format(code=f"`{room.code}`", name=name) if name else
           _("You are in room {code}.").format(code=f"`{room.code}`"), icon=":material/groups:")
st.markdown(_("Questions from the teacher appear in the sidebar, on every page. With **Follow the teacher** on, your "
              "screen switches to each view the teacher sends."))
try:
    poll = store.current_poll(room.code)
    answers = store.answers(room.code, poll.id) if poll and poll.revealed else {}
except (cs.ClassError, cs.StoreUnavailable) as e:
    stop_with(e)
if poll is not None and poll.revealed:
    st.subheader(_("Predict, then reveal"))
    st.markdown(_("**Question {n}:** {question}").format(n=poll.id, question=_(poll.question)))
    cv.reveal(poll, answers)
st.subheader(_("Exercises"))
cv.exercise_panel(lm, text)
leave_button()
