"""The class-mode store: one suite, run against real SQLite (a file in tmp_path) and a real redis-server (started
on a free loopback port by tests/redis_server.py). No mocks of either."""
from __future__ import annotations

import csv
import io
import threading

import pytest

from classroom import store as cs
from tests.redis_server import redis_server


class Clock:
    """A clock the tests step forward (expiry without waiting). Starts at the real time, so Redis' own EXPIREAT
    (real time) never fires during a test."""

    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def redis_url():
    with redis_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "redis"])
def make_store(request, tmp_path):
    """make_store(clock=None) -> a fresh store of the parametrised backend (a fresh Redis db each test)."""
    made = []

    def make(clock=None):
        clock = clock or Clock()
        if request.param == "sqlite":
            s = cs.open_store(f"sqlite://{tmp_path / 'class.db'}", clock=clock)
        else:
            s = cs.open_store(request.getfixturevalue("redis_url"), clock=clock)
        made.append(s)
        return s

    if request.param == "redis":
        import redis

        redis.Redis.from_url(request.getfixturevalue("redis_url")).flushdb()
    yield make
    for s in made:
        if isinstance(s, cs.SQLiteStore):
            s.close()


S1, S2, S3 = "session-aaaa1111", "session-bbbb2222", "session-cccc3333"


def test_codes_are_short_unambiguous_and_validated(make_store):
    store = make_store()
    codes = {store.create_room()[0].code for _ in range(20)}
    assert len(codes) == 20
    for c in codes:
        assert len(c) == 6 and not set(c) & set("0O1IL")
        assert store.room(c.lower()).code == c  # typed in lower case
        assert store.room(f"{c[:3]}-{c[3:]}").code == c  # or with a dash, as shown
    for bad in ("", "ABC", "ABCDEFG", "AB CD0O", "<script>", None, 123, "ÄBCDEF"):
        with pytest.raises(cs.BadRoomCode):
            store.room(bad)
    unknown = next(c for c in ("AAAAAA", "BBBBBB", "CCCCCC") if c not in codes)
    with pytest.raises(cs.BadRoomCode, match="no room"):
        store.room(unknown)


def test_teacher_token_is_required_and_not_stored(make_store, tmp_path):
    store = make_store()
    room, token = store.create_room()
    assert len(token) >= 30
    assert store.is_teacher(room.code, token)
    for bad in ("", None, token[:-1], token + "x", token.upper(), 5):
        assert not store.is_teacher(room.code, bad)
        with pytest.raises(cs.BadToken):
            store.push(room.code, bad, "/tokens?model=smollm2-135m")
        with pytest.raises(cs.BadToken):
            store.open_poll(room.code, bad, "next-token", "What comes next?")
        with pytest.raises(cs.BadToken):
            store.reveal(room.code, bad, 1)
        with pytest.raises(cs.BadToken):
            store.export_rows(room.code, bad)
    # another room's token does not open this one
    _other, other_token = store.create_room()
    assert not store.is_teacher(room.code, other_token)
    if isinstance(store, cs.SQLiteStore):  # only the hash is on disk
        assert token.encode() not in (tmp_path / "class.db").read_bytes()


def test_join_names_and_count(make_store):
    store = make_store()
    room, _ = store.create_room()
    store.join(room.code, S1)
    store.join(room.code, S2, "  Mei   Lin ")
    store.join(room.code, S2, "Mei")  # joining again renames, does not add a student
    store.join(room.code, S3, "王小明")
    assert store.student_count(room.code) == 3
    assert store.students(room.code) == [(1, S1, None), (2, S2, "Mei"), (3, S3, "王小明")]
    for bad in ("<b>x</b>", "a" * 31, "x\u202ey", "a;b", 7):
        with pytest.raises(cs.BadName):
            store.join(room.code, S1, bad)
    with pytest.raises(cs.BadAnswer):
        store.join(room.code, "short", None)  # not a session id this app makes


def test_pushes_are_sequenced_and_only_app_links(make_store):
    store = make_store()
    room, token = store.create_room()
    assert store.latest_push(room.code) is None
    assert store.push(room.code, token, "/tokens?model=smollm2-135m&text=hi") == 1
    assert store.push(room.code, token, "/next-token?text=The%20capital") == 2
    assert store.latest_push(room.code) == (2, "/next-token?text=The%20capital")
    for bad in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)", "/tokens?x=1 y", "/" + "a" * 5000):
        with pytest.raises(cs.BadAnswer):
            store.push(room.code, token, bad)
    assert store.latest_push(room.code)[0] == 2


def test_each_answer_counted_exactly_once(make_store):
    store = make_store()
    room, token = store.create_room()
    poll = store.open_poll(room.code, token, "next-token", "What comes next?", context={"text": "The capital of"})
    assert store.current_poll(room.code) == poll and not poll.revealed
    with pytest.raises(cs.BadAnswer):  # not joined
        store.answer(room.code, S1, poll.id, "Paris")
    store.join(room.code, S1)
    store.join(room.code, S2)
    assert store.answer(room.code, S1, poll.id, " Paris ") is True
    assert store.answer(room.code, S1, poll.id, "London") is False  # the first answer stays
    assert store.answer(room.code, S2, poll.id, "France") is True
    assert store.answers(room.code, poll.id) == {S1: "Paris", S2: "France"}
    for bad in ("", "   ", "x" * 61, "a\x00b"):
        with pytest.raises(cs.BadAnswer):
            store.answer(room.code, S2, poll.id, bad)
    store.reveal(room.code, token, poll.id)
    assert store.current_poll(room.code).revealed
    with pytest.raises(cs.BadAnswer, match="closed"):
        store.answer(room.code, S2, poll.id, "late")


def test_concurrent_answers_from_threads_are_counted_once_each(make_store):
    """30 students answer at once, each three times from two threads: 30 answers, each the first one sent."""
    store = make_store()
    room, token = store.create_room()
    sessions = [f"student-{i:04d}-xxxx" for i in range(30)]
    for s in sessions:
        store.join(room.code, s)
    poll = store.open_poll(room.code, token, "next-token", "Next?")
    counted: list[bool] = []
    lock = threading.Lock()

    def answer_all(tag: str):
        for s in sessions:
            r = store.answer(room.code, s, poll.id, f"{tag}-{s[-9:-5]}")
            with lock:
                counted.append(r)

    threads = [threading.Thread(target=answer_all, args=(t,)) for t in ("a", "b", "c")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counted.count(True) == 30 and len(counted) == 90
    got = store.answers(room.code, poll.id)
    assert sorted(got) == sorted(sessions)


def test_choice_poll_accepts_only_its_options(make_store):
    store = make_store()
    room, token = store.create_room()
    with pytest.raises(cs.BadAnswer):
        store.open_poll(room.code, token, "attention", "Which word?", options=("only one",))
    with pytest.raises(cs.BadAnswer):
        store.open_poll(room.code, token, "nonsense", "Which word?")
    poll = store.open_poll(room.code, token, "attention", "Which word?", options=("students", "party"))
    store.join(room.code, S1)
    with pytest.raises(cs.BadAnswer):
        store.answer(room.code, S1, poll.id, "graduation")
    assert store.answer(room.code, S1, poll.id, "party")
    assert [p.id for p in store.polls(room.code)] == [poll.id]


def test_answer_floods_are_rate_limited_per_session(make_store):
    clock = Clock()
    store = make_store(clock)
    room, token = store.create_room()
    store.join(room.code, S1)
    store.join(room.code, S2)
    poll = store.open_poll(room.code, token, "next-token", "Next?")
    limit = cs.ANSWER_LIMIT[0]
    clock.now = (clock.now // cs.ANSWER_LIMIT[1]) * cs.ANSWER_LIMIT[1] + 1  # start of a window
    for i in range(limit):
        try:
            store.answer(room.code, S1, poll.id, "" if i % 2 else "x")  # refused answers count too
        except cs.BadAnswer:
            pass
    with pytest.raises(cs.RateLimited):
        store.answer(room.code, S1, poll.id, "Paris")
    assert store.answer(room.code, S2, poll.id, "Paris")  # another session is not limited
    clock.now += cs.ANSWER_LIMIT[1]  # the next window
    assert store.answer(room.code, S1, poll.id, "Paris") is False  # its first answer ("x") stays


def test_rooms_expire_after_12_hours(make_store):
    clock = Clock()
    store = make_store(clock)
    room, token = store.create_room()
    assert room.expires - room.created == 12 * 3600
    clock.now += 12 * 3600 - 1
    store.push(room.code, token, "/tokens")
    clock.now += 2
    for call in (lambda: store.room(room.code), lambda: store.join(room.code, S1),
                 lambda: store.push(room.code, token, "/tokens"), lambda: store.latest_push(room.code)):
        with pytest.raises(cs.RoomExpired):
            call()


def test_exercise_progress_and_export(make_store):
    store = make_store()
    room, token = store.create_room()
    with pytest.raises(cs.BadName):
        store.join(room.code, S1, "=HYPERLINK(1)")  # not a name
    store.join(room.code, S1)
    store.join(room.code, S2, "Ana")
    store.record_attempt(room.code, S1, "temperature", False)
    store.record_attempt(room.code, S1, "temperature", True)
    store.record_attempt(room.code, S1, "temperature", False)  # solved stays solved
    store.record_attempt(room.code, S2, "temperature", False)
    store.record_attempt(room.code, S2, "split", True)
    assert store.progress(room.code) == {"temperature": (2, 1), "split": (1, 1)}
    poll = store.open_poll(room.code, token, "next-token", "Next?")
    store.answer(room.code, S1, poll.id, "=1+1")
    rows = store.export_rows(room.code, token)
    text = cs.to_csv(rows)
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert {"kind": "poll 1 (next-token)", "question": "Next?", "student": "student 1", "answer": "'=1+1"} in parsed
    assert {"kind": "exercise", "question": "split", "student": "Ana", "answer": "solved"} in parsed
    assert S1 not in text and S2 not in text  # session ids never leave the server
    assert len(parsed) == 4


def test_unreachable_store_is_one_typed_error(tmp_path):
    from tests.redis_server import free_port

    store = cs.open_store(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(cs.StoreUnavailable):
        store.create_room()
    with pytest.raises(cs.StoreUnavailable):
        store.room("ABCDEF")
    (tmp_path / "file").write_text("x")
    with pytest.raises(cs.StoreUnavailable):  # a path under a regular file cannot be created
        cs.open_store(f"sqlite://{tmp_path / 'file' / 'class.db'}")
    with pytest.raises(cs.StoreUnavailable):
        cs.open_store("mysql://somewhere")


def test_sqlite_store_is_wal_and_survives_a_restart(tmp_path):
    path = tmp_path / "class.db"
    store = cs.SQLiteStore(path)
    room, token = store.create_room()
    store.push(room.code, token, "/attention")
    store.close()
    again = cs.open_store(f"sqlite://{path}")
    assert again.latest_push(room.code) == (1, "/attention") and again.is_teacher(room.code, token)
    import sqlite3

    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_default_store_is_sqlite_in_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFORMER_EXPLAINER_CACHE", str(tmp_path / "data"))
    monkeypatch.delenv(cs.STORE_ENV, raising=False)
    store = cs.open_store()
    assert isinstance(store, cs.SQLiteStore) and store.path == tmp_path / "data" / "class.db"
    store.close()


def test_errors_are_translated_sentences():
    import i18n

    e = cs.BadRoomCode("That is not a room code: a room code has 6 letters and digits.")
    assert isinstance(e, i18n.Error) and str(e).endswith(".")


def test_classroom_never_imports_streamlit():
    """classroom/ is the rules (like models/): the page glue that imports streamlit lives in components/."""
    import ast
    from pathlib import Path

    for path in Path(cs.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] in ("streamlit", "components", "app_pages") for n in names), path


def test_two_replicas_sharing_a_store_never_reuse_a_push_number(make_store):
    """Two store objects on the same file / server (as two replicas have), four threads pushing at once: every
    push gets its own number and the latest push is the highest."""
    a, b = make_store(), make_store()
    room, token = a.create_room()
    got: list[int] = []
    lock = threading.Lock()

    def pusher(store, tag):
        for i in range(15):
            seq = store.push(room.code, token, f"/tokens?text={tag}{i}")
            with lock:
                got.append(seq)

    threads = [threading.Thread(target=pusher, args=(s, t)) for s, t in ((a, "a"), (b, "b"), (a, "c"), (b, "d"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(1, 61))
    assert b.latest_push(room.code)[0] == 60
