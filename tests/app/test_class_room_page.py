"""/class through the real app.py: a teacher opens a room, asks and reveals; a student joins, follows a push,
answers from the sidebar; a student who edits the URL never gets teacher controls; bad room codes and a vanished
store give one sentence and the rest of the app keeps working. Real SQLite stores in tmp_path (no mocks)."""
from __future__ import annotations

import sqlite3
from collections import Counter

import numpy as np
import pytest

from classroom import scoring
from classroom import store as cs
from tests.app.helpers import array, charts, run_page

PAGE = "app_pages/class_room.py"
TEACHER_ONLY = {"Ask the class: what comes next?", "Reveal", "Send this view to the class"}


@pytest.fixture
def store_url(tmp_path, monkeypatch):
    url = f"sqlite://{tmp_path / 'class.db'}"
    monkeypatch.setenv(cs.STORE_ENV, url)
    return url


@pytest.fixture
def room(store_url):
    s = cs.open_store(store_url)
    r, token = s.create_room()
    return s, r.code, token


def labels(at) -> set[str]:
    return {b.label for b in at.button}


def texts(at) -> str:
    return "\n".join(str(e.value) for kind in ("markdown", "caption", "error", "warning", "info", "success")
                     for e in at.get(kind))


def test_teacher_creates_a_room_asks_and_reveals(store_url):
    at = run_page(PAGE)
    assert "Create a room" in labels(at) and not TEACHER_ONLY & labels(at)
    next(b for b in at.button if b.label == "Create a room").click().run()
    assert not at.exception
    code, token = at.session_state["class_room"], at.session_state["class_teacher"]
    store = cs.open_store(store_url)
    assert store.is_teacher(code, token)
    assert "teacher" not in at.query_params and at.query_params["room"] in (code, [code])
    assert f"`{code}`" in texts(at)
    # two students answer through the store (as their sessions would)
    at.button(key="class_ask").click().run()
    poll = store.current_poll(code)
    assert poll.kind == "next-token" and poll.context["text"] == at.session_state["text"]
    for i, guess in enumerate(["party", "party", "celebration"]):
        session = f"student-session-{i}"
        store.join(code, session)
        store.answer(code, session, poll.id, guess)
    at.run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Students in the room"] == "3" and metrics["Answers to the current question"] == "3"
    at.button(key="class_reveal").click().run()
    assert not at.exception and store.current_poll(code).revealed
    [fig] = [f for t, f in charts(at).items() if t.startswith("The class's guesses")]
    share = dict(zip(fig["data"][0]["x"], array(fig["data"][0]["y"])))
    assert share == pytest.approx({"party": 2 / 3, "celebration": 1 / 3})
    from models.loading import load

    expected = {s.guess: s.prob for s in scoring.score_guesses(load("smollm2-135m"), poll.context["text"],
                                                               Counter(["party", "party", "celebration"]))}
    model = dict(zip(fig["data"][1]["x"], array(fig["data"][1]["y"])))
    assert model == pytest.approx(expected, rel=1e-4)
    names = {m.label for m in at.metric}
    assert {"Class perplexity", "Model perplexity", "Model's surprise at the class"} <= names
    helps = {m.label: m.proto.help for m in at.metric}
    assert "next-token distribution" in helps["Model perplexity"] and "class's guesses" in helps["Class perplexity"]
    assert [d.label for d in at.main.get("download_button")] == ["Download the room's answers (CSV)"]


def test_student_joins_follows_a_push_and_answers(room):
    store, code, token = room
    at = run_page(PAGE, room=code)
    assert not TEACHER_ONLY & labels(at)
    at.text_input(key="class_join_name").input("Mei")
    next(b for b in at.button if b.label == "Join").click().run()
    assert not at.exception and at.session_state["class_room"] == code
    assert "class_teacher" not in at.session_state
    assert store.students(code)[0][2] == "Mei"
    assert any(t.label == "Follow the teacher" and t.value for t in at.sidebar.toggle)
    # the teacher sends a view: the next run (the follow fragment) switches to it, with its text
    store.push(code, token, "/tokens?model=smollm2-135m&text=hello%20class")
    at.run()
    assert not at.exception
    assert at.session_state["text"] == "hello class"
    assert "Class mode" not in [t.value for t in at.title]
    # a question: the answer box is in the sidebar, on this page too
    poll = store.open_poll(code, token, "next-token", "What comes next?", context={"model": "smollm2-135m",
                                                                                     "text": "hello class"})
    at.run()
    at.sidebar.text_input(key=f"class_guess_{poll.id}").input("Paris")
    next(b for b in at.sidebar.button if b.label == "Send my answer").click().run()
    assert store.answers(code, poll.id) == {at.session_state["class_session"]: "Paris"}
    assert "Your answer:" in texts(at)
    assert not TEACHER_ONLY & labels(at)


@pytest.mark.parametrize("bad", ["wrong", "", "x" * 40, "other-room"])
def test_a_student_editing_the_url_gets_one_sentence_and_no_controls(room, bad):
    store, code, token = room
    if bad == "other-room":
        bad = store.create_room()[1]  # a real teacher token, of another room
    at = run_page(PAGE, room=code, teacher=bad)
    errors = [e.value for e in at.error]
    assert errors == [f"This link's teacher key does not open room {code}; only the teacher's own link does. You can "
                      "join as a student below."]
    assert not TEACHER_ONLY & labels(at) and not at.main.get("download_button")
    assert "class_teacher" not in at.session_state
    assert "Join" in labels(at)


def test_the_teacher_link_opens_the_controls_and_leaves_the_address_bar(room):
    store, code, token = room
    at = run_page(PAGE, room=code, teacher=token)
    assert {"Ask the class: what comes next?"} <= labels(at) and not at.error
    assert at.session_state["class_teacher"] == token
    assert "teacher" not in at.query_params
    at.switch_page("app_pages/tokens.py").run()
    assert "Send this view to the class" in {b.label for b in at.sidebar.button}
    next(b for b in at.sidebar.button if b.label == "Send this view to the class").click().run()
    seq, link = store.latest_push(code)
    assert seq == 1 and link.startswith("/tokens?") and token not in link and "teacher" not in link
    assert "model=smollm2-135m" in link


@pytest.mark.parametrize("bad, message", [
    ("<script>alert(1)</script>", "That is not a room code: a room code has 6 letters and digits."),
    ("AB0OIL", "That is not a room code: a room code has 6 letters and digits."),
    ("ZZZZZZ", "There is no room ZZZZZZ; check the code on the teacher's screen."),
])
def test_bad_room_codes(store_url, bad, message):
    at = run_page(PAGE, room=bad)
    assert [e.value for e in at.error] == [message]
    assert "Join" in labels(at) and "Create a room" in labels(at)


def test_an_expired_room(room, store_url):
    store, code, token = room
    with sqlite3.connect(store_url[len("sqlite://"):]) as db:  # twelve hours have passed
        db.execute("UPDATE rooms SET expires = 0 WHERE code = ?", (code,))
    at = run_page(PAGE, room=code)
    assert [e.value for e in at.error] == [
        f"Room {code} has expired (rooms last 12 hours); ask the teacher for a new one."]
    at = run_page(PAGE, room=code, teacher=token)
    assert len(at.error) == 1 and "expired" in at.error[0].value and not TEACHER_ONLY & labels(at)


def test_store_down_is_one_sentence_and_the_app_keeps_working(room, monkeypatch):
    from components import class_watch
    from tests.redis_server import free_port

    watched = []  # AppTest's runtime is a MagicMock with no session to wake: no watcher thread may start
    monkeypatch.setattr(class_watch.Watcher, "follow", lambda self, *a: watched.append(a))
    store, code, token = room
    at = run_page(PAGE, room=code)
    next(b for b in at.button if b.label == "Join").click().run()
    assert at.session_state["class_room"] == code
    assert watched == []
    monkeypatch.setenv(cs.STORE_ENV, f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    at.run()
    assert not at.exception
    assert len(at.error) == 1 and at.error[0].value.startswith("Class mode is not available right now: ")
    at.switch_page("app_pages/tokens.py").run()
    assert not at.exception and not at.error
    assert [t.value for t in at.title] and "Class mode" not in [t.value for t in at.title]
    warnings = [w.value for w in at.sidebar.warning]
    assert warnings == ["The class store cannot be reached (ConnectionError)."]


def test_exercises_are_checked_live_and_counted_for_the_teacher(room):
    store, code, token = room
    at = run_page(PAGE, room=code)
    next(b for b in at.button if b.label == "Join").click().run()
    from components.sampling_redraw import TEMPERATURE_MAX

    t = at.number_input(key="class_ex_t")
    assert t.max == TEMPERATURE_MAX  # the Next-token page's temperature, where the exercise's hint sends students
    t.set_value(TEMPERATURE_MAX)
    checks = [b for b in at.button if b.label == "Check"]
    checks[0].click().run()
    assert any(s.value.startswith(f"Solved: at temperature {TEMPERATURE_MAX:g}") for s in at.success)
    assert store.progress(code) == {"temperature": (1, 1)}
    teacher = run_page(PAGE, room=code, teacher=token)
    table = teacher.dataframe[0].value
    row = table[table.iloc[:, 0] == "Melt the capital"].iloc[0]
    assert list(row.iloc[1:]) == [1, 1]
    assert np.all(table.iloc[1:, 1:].to_numpy() == 0)


def test_attention_poll_reveals_the_heads_weights(room):
    from models.loading import load
    from models.trace import compute_trace

    store, code, token = room
    teacher = run_page(PAGE, room=code, teacher=token)
    teacher.number_input(key="class_att_layer").set_value(2)
    teacher.number_input(key="class_att_head").set_value(3)
    teacher.selectbox(key="class_att_query").set_value(4)
    teacher.button(key="class_ask_att").click().run()
    poll = store.current_poll(code)
    assert poll.kind == "attention" and poll.context["layer"] == 2 and poll.context["query"] == 4
    assert len(poll.options) == 5  # SmolLM2 is a decoder: token 4 reads tokens 0..4
    student = run_page(PAGE, room=code)
    next(b for b in student.button if b.label == "Join").click().run()
    student.sidebar.radio(key=f"class_choice_{poll.id}").set_value(poll.options[0])
    next(b for b in student.sidebar.button if b.label == "Send my answer").click().run()
    assert list(store.answers(code, poll.id).values()) == [poll.options[0]]
    teacher.run()
    teacher.button(key="class_reveal").click().run()
    assert not teacher.exception
    [fig] = [f for t, f in charts(teacher).items() if t.startswith("The class's picks")]
    assert list(array(fig["data"][0]["y"])) == [1.0, 0, 0, 0, 0]
    trace = compute_trace(load("smollm2-135m"), poll.context["text"])
    np.testing.assert_allclose(array(fig["data"][1]["y"]), trace.attentions[1, 2, 4, :5], atol=1e-5)  # a separately loaded stock model


def test_class_page_in_chinese_has_no_english_sentence(room):
    """The teacher's and the student's views in Chinese, after a reveal: no English sentence left on screen."""
    from tests.app.test_languages import RUN, ZH_TEXT, _prose, _shown_texts

    store, code, token = room
    poll = store.open_poll(code, token, "next-token", "What comes next?",
                           context={"model": "smollm2-135m", "text": ZH_TEXT})
    store.join(code, "session-zh-000001")
    store.answer(code, "session-zh-000001", poll.id, "我们")
    store.reveal(code, token, poll.id)
    for params in ({"teacher": token}, {}):
        at = run_page(PAGE, lang="zh", text=ZH_TEXT, room=code, **params)
        if not params:
            next(b for b in at.button if b.label == "加入").click().run()
        english = sorted({m for t in _shown_texts(at) for m in RUN.findall(_prose(t))})
        assert not english, english[:20]
        assert "课堂模式" in [t.value for t in at.title]


def test_an_expired_room_ends_class_mode_on_any_page_and_leaving_works(room, store_url):
    store, code, token = room
    at = run_page(PAGE, room=code)
    next(b for b in at.button if b.label == "Join").click().run()
    at.switch_page("app_pages/glossary.py").run()
    assert any(t.label == "Follow the teacher" for t in at.sidebar.toggle)
    with sqlite3.connect(store_url[len("sqlite://"):]) as db:
        db.execute("UPDATE rooms SET expires = 0 WHERE code = ?", (code,))
    at.run()
    assert not at.exception
    assert [w.value for w in at.sidebar.warning] == [
        f"Room {code} has expired (rooms last 12 hours); ask the teacher for a new one."]
    assert "class_room" not in at.session_state
    at.run()  # said once; the session is out of class mode
    assert not at.sidebar.warning and not any(t.label == "Follow the teacher" for t in at.sidebar.toggle)
    # leaving a room by its button: out of the room, and no offer to join it again
    s2 = cs.open_store(store_url)
    r2, _ = s2.create_room()
    at = run_page(PAGE, room=r2.code)
    next(b for b in at.button if b.label == "Join").click().run()
    at.button(key="class_leave").click().run()
    assert "class_room" not in at.session_state and "room" not in at.query_params
    assert "Create a room" in labels(at)


def test_pushed_links_leave_out_the_teachers_token_language_and_projector_mode():
    from components.classroom_view import split_link, view_link

    link = view_link("tokens", {"model": "smollm2-135m", "text": "a b&c", "lang": "zh", "present": "1",
                                "teacher": "secret", "room": "ABCDEF", "preset": "x", "token": "3"})
    assert link == "/tokens?model=smollm2-135m&text=a%20b%26c&token=3"
    assert split_link(link) == ("tokens", {"model": "smollm2-135m", "text": "a b&c", "token": "3"})


def test_encoder_teacher_view_says_what_needs_a_decoder(room):
    store, code, token = room
    at = run_page(PAGE, model="minilm-l6", room=code, teacher=token)
    assert "Guessing the next word needs a decoder: pick one in the sidebar." in [i.value for i in at.info]
    assert "Ask the class: what comes next?" not in labels(at)
    at.selectbox(key="class_att_query").set_value(1)
    at.button(key="class_ask_att").click().run()
    poll = store.current_poll(code)
    # an encoder reads both ways: every token of the text is a choice, not only the earlier ones
    from models.loading import load

    n = len(load("minilm-l6").tokenizer(at.session_state["text"])["input_ids"])
    assert poll.kind == "attention" and len(poll.options) == n


@pytest.fixture
def local_bert(tiny_bert, clean_registry):
    """The tiny random BERT with an MLM head, registered like a --local-model folder (restored afterwards)."""
    from models import registry

    return registry.register_local(tiny_bert.dir).id


def test_fill_in_the_blank_poll(room, local_bert, tiny_bert):
    import torch

    store, code, token = room
    text = "students celebrate the graduation with a big party"
    teacher = run_page(PAGE, model=local_bert, text=text, room=code, teacher=token)
    assert teacher.selectbox(key="class_blank_word").value == 7  # the last word by default
    teacher.button(key="class_ask_blank").click().run()
    poll = store.current_poll(code)
    assert poll.kind == "blank" and poll.context["word"] == "party"
    assert poll.context["text"] == "students celebrate the graduation with a big [MASK]"
    for i, guess in enumerate(["party", "party", "cake"]):
        store.join(code, f"student-blank-{i}")
        store.answer(code, f"student-blank-{i}", poll.id, guess)
    teacher.run()
    teacher.button(key="class_reveal").click().run()
    assert not teacher.exception
    [fig] = [f for t, f in charts(teacher).items() if t.startswith("The class's guesses")]
    ids = tiny_bert.tokenizer(poll.context["text"], return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        logits = tiny_bert.model(input_ids=ids).logits[0]
    pos = int((ids[0] == tiny_bert.tokenizer.mask_token_id).nonzero()[0, 0])
    p = torch.softmax(logits[pos].double(), -1)
    expected = {w: float(p[tiny_bert.tokenizer.convert_tokens_to_ids(w)]) for w in ("party", "cake")}
    assert dict(zip(fig["data"][1]["x"], array(fig["data"][1]["y"]))) == pytest.approx(expected, rel=1e-4)
    assert "The hidden word: ` party `" in texts(teacher)
    # the perplexities beside the chart: e^entropy of the guesses (2 × party, 1 × cake) and of the MLM head's
    # distribution at the blank, computed here from the counts and the in-memory model
    metrics = {m.label: m for m in teacher.metric}
    shares = np.array([2, 1]) / 3
    assert float(metrics["Class perplexity"].value) == pytest.approx(np.exp(-(shares * np.log(shares)).sum()),
                                                                      abs=0.006)
    assert float(metrics["Model perplexity"].value) == pytest.approx(float(torch.exp(-(p * p.log()).sum())),
                                                                      abs=0.006)
    assert "at the blank" in metrics["Model perplexity"].proto.help
    assert "class's guesses" in metrics["Class perplexity"].proto.help


def test_a_small_class_follows_every_push_and_every_answer_counts_once(room):
    """A reduced class through the real app: 4 student sessions follow 3 pushes and answer 2 polls (each sends
    its answer twice: the first stays); every session is on each pushed view with its text, every answer is
    counted exactly once, and no run raised."""
    store, code, token = room
    students = []
    for i in range(4):
        at = run_page(PAGE, room=code)
        next(b for b in at.button if b.label == "Join").click().run()
        students.append(at)
    for n, (path, page_file) in enumerate([("tokens", "Tokens"), ("glossary", "Glossary"), ("tokens", "Tokens")]):
        text = f"push number {n}"
        store.push(code, token, f"/{path}?model=smollm2-135m&text=push%20number%20{n}")
        for at in students:
            at.run()
            assert not at.exception and at.session_state["text"] == text
            assert at.session_state["class_seen"] == n + 1
    for q in range(2):
        poll = store.open_poll(code, token, "next-token", "What comes next?",
                               context={"model": "smollm2-135m", "text": "push number 2"})
        for i, at in enumerate(students):
            at.run()
            for _ in range(2):  # sent twice: the box closes after the first answer, which stays
                at.sidebar.text_input(key=f"class_guess_{poll.id}").input(f"guess {i}")
                next(b for b in at.sidebar.button if b.label == "Send my answer").click().run()
                assert not at.exception
        got = store.answers(code, poll.id)
        assert sorted(got.values()) == [f"guess {i}" for i in range(4)]
        assert set(got) == {at.session_state["class_session"] for at in students}
