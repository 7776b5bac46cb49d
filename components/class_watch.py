"""Server push for class mode: one thread per server process watches the rooms that have students in this process
and asks exactly those students' sessions to run again when their room changes (a new push, a poll opened or
revealed). A follower behind the teacher's latest push is woken straight into the pushed view (its page and query, marked
``preset=class-N``), as ``st.switch_page`` would take it there; a changed poll wakes the page on screen, whose run
draws the answer box or the reveal link.

Why not a timer in every browser (``st.fragment(run_every=1)``): each tick is a script run on the server, so 30
students cost 30 runs a second whether or not anything happened, and those runs hold the GIL that the pushed
page's 30 runs need. Here an idle class costs one store read per room per tick, in one thread.

How a session is asked to run: ``AppSession.request_rerun`` with a client state, called on the session's event
loop: the session's last one (its page and query string, kept by Streamlit after every run) for the page on
screen, which is what Streamlit itself does for "run on save"; or one naming the pushed page by its URL path and
query, as a browser's first request does. A test pins the internals this relies on.

Rule: the watcher only compares and wakes. What a session shows is decided by its own run, which reads the
store again; so a wake that arrives twice or late costs one run and changes nothing.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

_LOG = logging.getLogger(__name__)

WATCH_EVERY_S = 0.2  # store reads per room: 5 a second, whatever the class size
RETRY_S = 3.0  # a session woken for a state it has still not drawn is woken again after this
BUSY = "busy"  # wake()'s answer for a session with a run going on: not woken now, looked at again next tick


@dataclass
class Follower:
    code: str
    push: int | None  # the push number on screen; None: not following (pushes do not concern it)
    poll: tuple | None  # (poll id, revealed) drawn, or None
    woken: tuple | None = None  # the room state it was last woken for
    woken_at: float = 0.0


def room_state(store, code: str) -> tuple[int, tuple | None, str | None]:
    """(latest push number or 0, (poll id, revealed) or None, the latest push's link): what a student's screen
    depends on."""
    push = store.latest_push(code)
    poll = store.current_poll(code)
    return (push[0] if push else 0), ((poll.id, poll.revealed) if poll else None), (push[1] if push else None)


def behind(f: Follower, state: tuple) -> bool:
    """Is this follower (following) behind the room's latest push?"""
    return f.push is not None and state[0] > f.push


def stale(f: Follower, state: tuple) -> bool:
    """Does this follower's screen lag behind the room's state?"""
    return behind(f, state) or state[1] != f.poll


class Watcher:
    """The rooms of this process's followers. ``store``: a callable giving the store (opened lazily, once);
    ``wake(session, push)``: asks a session to run, in the view of ``push`` ((number, link)) or, when None, the page
    on screen (True; False when the session is gone; BUSY when a run is going on)."""

    def __init__(self, store: Callable[[], object], wake: Callable[[str, tuple | None], bool | str], every: float = WATCH_EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._store, self._wake, self.every, self.clock = store, wake, every, clock
        self._followers: dict[str, Follower] = {}  # runtime session id -> what it drew
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._store_away_until = 0.0  # a store that did not answer is asked again after RETRY_S, not every tick

    def follow(self, session: str, code: str, push: int | None, poll: tuple | None) -> None:
        """A session in room ``code`` drew push ``push`` (None: it does not follow) and poll ``poll``."""
        with self._lock:
            old = self._followers.get(session)
            f = Follower(code, push, poll)
            if old is not None and old.code == code:
                f.woken, f.woken_at = old.woken, old.woken_at
            self._followers[session] = f
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="class-watch", daemon=True)
                self._thread.start()

    def leave(self, session: str) -> None:
        with self._lock:
            self._followers.pop(session, None)

    def followers(self) -> dict[str, Follower]:
        with self._lock:
            return dict(self._followers)

    def tick(self) -> list[str]:
        """One look at every watched room; returns the sessions woken."""
        from classroom import store as cs

        by_room: dict[str, list[tuple[str, Follower]]] = {}
        for session, f in self.followers().items():
            by_room.setdefault(f.code, []).append((session, f))
        woken = []
        if by_room and self.clock() < self._store_away_until:
            return woken
        for code, members in by_room.items():
            try:
                state = room_state(self._store(), code)
            except cs.StoreUnavailable:
                # every room is on the same store: wait before the next try (a connect to a host that does not
                # answer can take its whole timeout); each session's own run tells its student why
                self._store_away_until = self.clock() + RETRY_S
                break
            except cs.ClassError:
                continue  # an expired room: the session's own run says so
            now = self.clock()
            for session, f in members:
                if not stale(f, state) or (f.woken == state and now - f.woken_at < RETRY_S):
                    continue
                answer = self._wake(session, (state[0], state[2]) if behind(f, state) else None)
                if answer is BUSY:
                    continue  # looked at again on the next tick
                if answer:
                    f.woken, f.woken_at = state, now
                    woken.append(session)
                else:
                    self.leave(session)  # the browser went away
        return woken

    def _loop(self) -> None:
        while True:
            time.sleep(self.every)
            try:
                self.tick()
            except Exception:  # noqa: BLE001 (the watcher must outlive one bad tick; each run still reads the store)
                _LOG.exception("class watcher tick failed")


def wake_session(session_id: str, push: tuple[int, str] | None = None) -> bool | str:
    """Ask a Streamlit session of this process to run: the view of ``push`` ((number, link)), or when None the
    page on screen again, as "run on save" does. Returns False when the session is gone, BUSY when a run is going
    on: a rerun request would stop that run (fast reruns) and start another, throwing away a pushed page half
    drawn; the running script reads the store itself, and the watcher looks again on its next tick."""
    from streamlit import runtime
    from streamlit.proto.ClientState_pb2 import ClientState
    from streamlit.runtime.app_session import AppSessionState

    if not runtime.exists():
        return False
    info = runtime.get_instance()._session_mgr.get_active_session_info(session_id)
    if info is None:
        return False
    session = info.session
    if session._state == AppSessionState.APP_IS_RUNNING:
        return BUSY
    state = ClientState()
    state.CopyFrom(session._client_state)
    if push is not None:  # by URL path, as a browser's first request names a page; st.navigation resolves it
        path, _, query = push[1].partition("?")
        state.page_script_hash = ""
        state.page_name = path.strip("/")
        state.query_string = "&".join(filter(None, [query, f"preset=class-{push[0]}"]))
    session._event_loop.call_soon_threadsafe(lambda: session.request_rerun(state))
    return True
