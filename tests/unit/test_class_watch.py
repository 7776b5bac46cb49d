"""The class watcher (components/class_watch.py) against a real SQLite store: which sessions it wakes and when.
The wake itself is a recorder here; that a woken Streamlit session really runs and switches is proven with a real
server by tests/load/test_class_load.py (no timer in any browser) and tests/e2e/test_class_room_e2e.py."""
from __future__ import annotations

import inspect

import pytest

from classroom import store as cs
from components import class_watch as cw


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def lesson(tmp_path):
    store = cs.open_store(f"sqlite://{tmp_path / 'class.db'}")
    room, token = store.create_room()
    woken: list[str] = []
    answers: dict[str, object] = {}  # session -> what wake() answers (default True)
    into: dict[str, list] = {}  # session -> the push each wake took it to (None: the page on screen)

    def wake(session: str, push):
        answer = answers.get(session, True)
        if answer is True:
            woken.append(session)
            into.setdefault(session, []).append(push)
        return answer

    clock = Clock()
    watcher = cw.Watcher(lambda: store, wake, every=3600, clock=clock)  # ticks by hand: the thread sleeps
    watcher.into = into
    return store, room.code, token, watcher, woken, answers, clock


def test_an_idle_room_wakes_nobody_and_a_push_wakes_each_follower_once(lesson):
    store, code, token, w, woken, _, clock = lesson
    w.follow("a", code, 0, None)
    w.follow("b", code, 0, None)
    assert w.tick() == [] and woken == []
    store.push(code, token, "/tokens?text=hi")
    assert sorted(w.tick()) == ["a", "b"]
    assert w.tick() == []  # woken a moment ago for this push: given time to run
    w.follow("a", code, 1, None)  # a's run drew push 1
    clock.t += cw.RETRY_S
    assert w.tick() == ["b"]  # b still shows the old view after RETRY_S: woken again
    assert sorted(woken) == ["a", "b", "b"]
    assert w.into["b"] == [(1, "/tokens?text=hi")] * 2  # woken straight into the pushed view

def test_a_student_who_explores_alone_is_woken_by_polls_not_pushes(lesson):
    store, code, token, w, woken, _, _ = lesson
    w.follow("alone", code, None, None)  # follow mode off
    store.push(code, token, "/tokens?text=hi")
    assert w.tick() == []
    poll = store.open_poll(code, token, "choice", "Which?", ("x", "y"))
    assert w.tick() == ["alone"]  # the answer box must appear
    assert w.into["alone"] == [None]  # on the page it is on: it does not follow
    w.follow("alone", code, None, (poll.id, False))
    assert w.tick() == []
    store.reveal(code, token, poll.id)
    assert w.tick() == ["alone"]  # the reveal link must appear


def test_a_busy_session_is_looked_at_again_and_a_gone_one_is_forgotten(lesson):
    store, code, token, w, woken, answers, _ = lesson
    w.follow("busy", code, 0, None)
    w.follow("gone", code, 0, None)
    answers.update(busy=cw.BUSY, gone=False)
    store.push(code, token, "/tokens?text=hi")
    assert w.tick() == []
    assert set(w.followers()) == {"busy"}  # the closed browser is dropped
    answers["busy"] = True
    assert w.tick() == ["busy"]  # next tick, no RETRY_S wait: a busy session was never woken


def test_an_expired_room_or_a_store_away_wakes_nobody_and_does_not_raise(lesson, tmp_path):
    store, code, token, w, woken, _, _ = lesson
    w.follow("a", code, 0, None)
    w.follow("b", "ZZZZZZ", 0, None)  # a room that does not exist
    store.push(code, token, "/tokens?text=hi")
    assert w.tick() == ["a"]
    asked = []

    def store_away():
        asked.append(1)
        raise cs.StoreUnavailable("down")

    clock = Clock()
    away = cw.Watcher(store_away, lambda s, p: True, every=3600, clock=clock)
    away.follow("a", code, 0, None)
    away.follow("b", "ZZZZZZ", 0, None)
    assert away.tick() == [] and len(asked) == 1  # one failed read stops the tick: all rooms share the store
    clock.t += cw.RETRY_S / 2
    assert away.tick() == [] and len(asked) == 1  # not asked again at once
    clock.t += cw.RETRY_S / 2
    assert away.tick() == [] and len(asked) == 2


def test_leaving_stops_the_wakes_and_the_thread_starts_with_the_first_follower(lesson):
    store, code, token, w, woken, _, _ = lesson
    assert w._thread is None
    w.follow("a", code, 0, None)
    assert w._thread is not None and w._thread.daemon and w._thread.is_alive()
    w.leave("a")
    store.push(code, token, "/tokens?text=hi")
    assert w.tick() == [] and woken == []


def test_the_streamlit_internals_the_wake_uses_are_there():
    """wake_session relies on what Streamlit's own "run on save" uses; an upgrade that renames them fails here
    with this message rather than as students who no longer follow."""
    from streamlit.runtime import runtime as rt
    from streamlit.runtime.app_session import AppSession, AppSessionState

    init = inspect.getsource(AppSession.__init__)
    for attr in ("self._client_state", "self._event_loop", "self._state"):
        assert attr in init, f"AppSession no longer sets {attr}: components/class_watch.wake_session must change"
    assert "self.request_rerun(self._client_state)" in inspect.getsource(AppSession)
    assert AppSessionState.APP_IS_RUNNING
    assert "self._session_mgr" in inspect.getsource(rt.Runtime.__init__)
    from streamlit import runtime

    assert callable(runtime.get_instance) and callable(runtime.exists)
