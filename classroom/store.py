"""The class-mode store: rooms, pushes, polls, answers and exercise progress, on SQLite or Redis.

Rules every backend keeps (tests/unit/test_class_store.py runs one suite against both, real servers, no mocks):
- A room code is short and unambiguous to read off a projector: 6 characters from an alphabet without 0/O, 1/I/L.
  Codes are normalised (upper case, spaces and dashes dropped) before they are checked.
- The teacher token (``secrets.token_urlsafe``) is stored only as its SHA-256 and compared with
  ``hmac.compare_digest``: someone who reads the store cannot act as the teacher, and the comparison time does not
  tell how much of a guess was right. Pushing, opening polls, revealing and exporting need it.
- Rooms expire ``ROOM_TTL_S`` (12 h) after they are created: an expired room refuses everything. Redis also drops
  the keys then (EXPIREAT); SQLite deletes expired rooms when a new room is created.
- One answer per student per poll, counted exactly once: the first answer is kept (SQLite: primary key +
  INSERT OR IGNORE; Redis: HSETNX), a repeat reports False. Answer attempts are rate-limited per session.
- Anything the backend cannot do (file not writable, server gone) raises :class:`StoreUnavailable`: one sentence
  for the page, and the rest of the app never touches the store.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import threading
import time
import unicodedata
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import i18n
from i18n import N_

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud or off a projector without doubt
CODE_LEN = 6
ROOM_TTL_S = 12 * 3600
NAME_MAX = 30
ANSWER_MAX = 60
QUESTION_MAX = 500
LINK_MAX = 4000
ANSWER_LIMIT = (20, 60.0)  # at most 20 answer attempts per session and room in each 60-second window
POLL_KINDS = ("next-token", "attention", "blank", "choice")
STORE_ENV = "TX_CLASS_STORE"


class ClassError(i18n.Error, ValueError):
    """Something a class-mode user did that the store refuses (one sentence, worded when shown)."""


class BadRoomCode(ClassError):
    pass


class BadToken(ClassError):
    pass


class RoomExpired(ClassError):
    pass


class BadName(ClassError):
    pass


class BadAnswer(ClassError):
    pass


class RateLimited(ClassError):
    pass


class StoreUnavailable(i18n.Error, RuntimeError):
    """The store cannot be reached or written (one sentence; the rest of the app keeps working)."""


@dataclass(frozen=True)
class Room:
    code: str
    created: float
    expires: float


@dataclass(frozen=True)
class Poll:
    id: int
    kind: str  # one of POLL_KINDS
    question: str
    options: tuple[str, ...]  # the choices (attention, choice); empty for a free guess
    context: dict  # what the poll is about: model id, text, layer/head... (JSON-serialisable)
    revealed: bool
    created: float


# ------------------------------------------------------------------------------------------ validation
def clean_code(code: object) -> str:
    """The canonical room code, or BadRoomCode: upper case, spaces and dashes dropped, 6 code characters."""
    if not isinstance(code, str):
        raise BadRoomCode(N_("That is not a room code: a room code has 6 letters and digits."))
    c = re.sub(r"[\s-]+", "", code).upper()
    if len(c) != CODE_LEN or any(ch not in CODE_ALPHABET for ch in c):
        raise BadRoomCode(N_("That is not a room code: a room code has 6 letters and digits."))
    return c


def _printable(text: str) -> bool:
    """No control, format or private-use characters (they could hide text or break a CSV line)."""
    return not any(unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs") for ch in text)


def clean_name(name: object) -> str | None:
    """A display name (letters of any script, digits, spaces, ' . - _), at most NAME_MAX characters; empty
    -> None (students need not give a name)."""
    if name is None:
        return None
    if not isinstance(name, str):
        raise BadName(N_("A name may use letters, digits, spaces and ' . - _ (up to {n} characters)."), n=NAME_MAX)
    n = " ".join(name.split())
    if not n:
        return None
    if len(n) > NAME_MAX or not re.fullmatch(r"(?:[^\W]|[ '.\-])+", n) or not _printable(n):
        raise BadName(N_("A name may use letters, digits, spaces and ' . - _ (up to {n} characters)."), n=NAME_MAX)
    return n


def clean_answer(answer: object, options: tuple[str, ...] = ()) -> str:
    """An answer: 1..ANSWER_MAX printable characters (outer spaces dropped); one of ``options`` when given."""
    if not isinstance(answer, str):
        raise BadAnswer(N_("An answer is 1 to {n} characters of text."), n=ANSWER_MAX)
    a = answer.strip()
    if not a or len(a) > ANSWER_MAX or not _printable(a):
        raise BadAnswer(N_("An answer is 1 to {n} characters of text."), n=ANSWER_MAX)
    if options and a not in options:
        raise BadAnswer(N_("Pick one of the choices."))
    return a


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LEN))


# ------------------------------------------------------------------------------------------ interface
class Store:
    """The operations the page and the follow fragment use. Subclasses keep the rules in the module docstring."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock  # injectable so that tests can step past the expiry without waiting

    # rooms
    def create_room(self) -> tuple[Room, str]:
        """A new room and its teacher token (shown once, in the teacher's link)."""
        raise NotImplementedError

    def room(self, code: str) -> Room:
        """The room, or BadRoomCode (malformed or unknown) / RoomExpired."""
        raise NotImplementedError

    def is_teacher(self, code: str, token: object) -> bool:
        """Does ``token`` open this room's teacher controls? (constant-time comparison)"""
        room_hash = self._token_hash_of(self.room(code).code)
        return isinstance(token, str) and bool(token) and hmac.compare_digest(_token_hash(token), room_hash)

    def require_teacher(self, code: str, token: object) -> Room:
        room = self.room(code)
        if not self.is_teacher(room.code, token):
            raise BadToken(N_("Only the teacher's link can do this; ask your teacher for the room code to join."))
        return room

    # students
    def join(self, code: str, session: str, name: object = None) -> None:
        raise NotImplementedError

    def students(self, code: str) -> list[tuple[int, str, str | None]]:
        """(join number from 1, session, name or None) in join order."""
        raise NotImplementedError

    def student_count(self, code: str) -> int:
        return len(self.students(code))

    # follow me
    def push(self, code: str, token: object, link: str) -> int:
        """Send a view link to the room; returns its sequence number (1, 2, ...)."""
        raise NotImplementedError

    def latest_push(self, code: str) -> tuple[int, str] | None:
        raise NotImplementedError

    # polls
    def open_poll(self, code: str, token: object, kind: str, question: str, options: tuple[str, ...] = (),
                  context: dict | None = None) -> Poll:
        raise NotImplementedError

    def current_poll(self, code: str) -> Poll | None:
        """The latest poll of the room (open or revealed), or None."""
        raise NotImplementedError

    def answer(self, code: str, session: str, poll_id: int, text: object) -> bool:
        """Record a student's answer. True when counted; False when this session had already answered (the first
        answer stays). BadAnswer for a bad or late answer, RateLimited after too many attempts."""
        raise NotImplementedError

    def answers(self, code: str, poll_id: int) -> dict[str, str]:
        """session -> answer."""
        raise NotImplementedError

    def reveal(self, code: str, token: object, poll_id: int) -> None:
        raise NotImplementedError

    # exercises
    def record_attempt(self, code: str, session: str, exercise: str, solved: bool) -> None:
        raise NotImplementedError

    def progress(self, code: str) -> dict[str, tuple[int, int]]:
        """exercise -> (students who tried, students who solved)."""
        raise NotImplementedError

    def exercise_rows(self, code: str) -> list[tuple[str, str, bool]]:
        """(exercise, session, solved)."""
        raise NotImplementedError

    def polls(self, code: str) -> list[Poll]:
        raise NotImplementedError

    # export
    def export_rows(self, code: str, token: object) -> list[dict]:
        """Every answer and exercise result of the room, for the teacher's CSV. Students appear by the name they
        gave, else as "student N" (N = join order): sessions ids never leave the server."""
        room = self.require_teacher(code, token)
        who = {s: (name or f"student {n}") for n, s, name in self.students(room.code)}
        rows = []
        for poll in self.polls(room.code):
            for session, text in sorted(self.answers(room.code, poll.id).items(), key=lambda kv: who.get(kv[0], "")):
                rows.append({"kind": f"poll {poll.id} ({poll.kind})", "question": poll.question,
                             "student": who.get(session, "?"), "answer": text})
        for exercise, session, solved in self.exercise_rows(room.code):
            rows.append({"kind": "exercise", "question": exercise, "student": who.get(session, "?"),
                         "answer": "solved" if solved else "tried"})
        return rows

    # helpers shared by the backends
    def _token_hash_of(self, code: str) -> str:
        raise NotImplementedError

    def _window(self) -> int:
        return int(self.clock() // ANSWER_LIMIT[1])

    @staticmethod
    def _check_session(session: object) -> str:
        if not isinstance(session, str) or not re.fullmatch(r"[A-Za-z0-9_-]{8,64}", session):
            raise BadAnswer(N_("This browser session is not in the room; join it again."))
        return session

    @staticmethod
    def _check_poll_args(kind: str, question: object, options: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
        if kind not in POLL_KINDS:
            raise BadAnswer(N_("Unknown kind of poll."))
        if not isinstance(question, str) or not question.strip() or len(question) > QUESTION_MAX \
                or not _printable(question.replace("\n", " ")):
            raise BadAnswer(N_("A question is 1 to {n} characters of text."), n=QUESTION_MAX)
        opts = tuple(clean_answer(o) for o in options)
        if kind in ("attention", "choice") and len(opts) < 2:
            raise BadAnswer(N_("A multiple-choice poll needs at least two choices."))
        return question.strip(), opts

    @staticmethod
    def _check_link(link: object) -> str:
        """A relative link of this app (``/page?query``): the store never hands students a link to elsewhere."""
        if not isinstance(link, str) or len(link) > LINK_MAX or not re.fullmatch(r"/[a-z0-9-]*(\?[^\s#]*)?", link):
            raise BadAnswer(N_("Only a link to a page of this app can be sent to the class."))
        return link


# ------------------------------------------------------------------------------------------ SQLite
_SCHEMA = """
CREATE TABLE IF NOT EXISTS rooms (code TEXT PRIMARY KEY, token_hash TEXT NOT NULL, created REAL, expires REAL);
CREATE TABLE IF NOT EXISTS students (code TEXT, session TEXT, name TEXT, n INTEGER, PRIMARY KEY (code, session));
CREATE TABLE IF NOT EXISTS pushes (code TEXT, seq INTEGER, link TEXT, PRIMARY KEY (code, seq));
CREATE TABLE IF NOT EXISTS polls (code TEXT, id INTEGER, kind TEXT, question TEXT, options TEXT, context TEXT,
                                  revealed INTEGER, created REAL, PRIMARY KEY (code, id));
CREATE TABLE IF NOT EXISTS answers (code TEXT, poll INTEGER, session TEXT, answer TEXT,
                                    PRIMARY KEY (code, poll, session));
CREATE TABLE IF NOT EXISTS rate (code TEXT, session TEXT, win INTEGER, n INTEGER, PRIMARY KEY (code, session, win));
CREATE TABLE IF NOT EXISTS progress (code TEXT, exercise TEXT, session TEXT, solved INTEGER,
                                     PRIMARY KEY (code, exercise, session));
"""
_TABLES = ("rooms", "students", "pushes", "polls", "answers", "rate", "progress")


class SQLiteStore(Store):
    """One SQLite file (WAL: readers never wait for the writer; several processes on one machine may share it)."""

    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock)
        self.path = Path(path)
        self._lock = threading.Lock()  # one connection shared by the sessions' threads, one statement at a time
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), timeout=10, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as e:
            raise StoreUnavailable(N_("The class store cannot be opened ({reason})."), reason=type(e).__name__) from e

    def _tx(self, write: bool = True) -> "_SqliteTx":
        return _SqliteTx(self, write)

    def _q(self, sql: str, args: tuple = (), write: bool = False) -> list[tuple]:
        with self._tx(write) as db:
            return db.execute(sql, args).fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def create_room(self) -> tuple[Room, str]:
        now, token = self.clock(), secrets.token_urlsafe(24)
        with self._tx() as db:
            expired = [r[0] for r in db.execute("SELECT code FROM rooms WHERE expires <= ?", (now,))]
            for table in _TABLES:  # rooms past their 12 hours leave no trace
                db.executemany(f"DELETE FROM {table} WHERE code = ?", [(c,) for c in expired])
            while True:
                code = _new_code()
                if db.execute("INSERT OR IGNORE INTO rooms VALUES (?, ?, ?, ?)",
                              (code, _token_hash(token), now, now + ROOM_TTL_S)).rowcount:
                    break
        return Room(code, now, now + ROOM_TTL_S), token

    def room(self, code: str) -> Room:
        c = clean_code(code)
        rows = self._q("SELECT created, expires FROM rooms WHERE code = ?", (c,))
        if not rows:
            raise BadRoomCode(N_("There is no room {code}; check the code on the teacher's screen."), code=c)
        room = Room(c, rows[0][0], rows[0][1])
        if room.expires <= self.clock():
            raise RoomExpired(N_("Room {code} has expired (rooms last 12 hours); ask the teacher for a new one."),
                              code=c)
        return room

    def _token_hash_of(self, code: str) -> str:
        return self._q("SELECT token_hash FROM rooms WHERE code = ?", (code,))[0][0]

    def join(self, code: str, session: str, name: object = None) -> None:
        c, s, n = self.room(code).code, self._check_session(session), clean_name(name)
        with self._tx() as db:
            if not db.execute("UPDATE students SET name = ? WHERE code = ? AND session = ?", (n, c, s)).rowcount:
                db.execute("INSERT INTO students VALUES (?, ?, ?, "
                           "(SELECT COALESCE(MAX(n), 0) + 1 FROM students WHERE code = ?))", (c, s, n, c))

    def students(self, code: str) -> list[tuple[int, str, str | None]]:
        c = self.room(code).code
        return [(n, s, name) for s, name, n in
                self._q("SELECT session, name, n FROM students WHERE code = ? ORDER BY n", (c,))]

    def push(self, code: str, token: object, link: str) -> int:
        c, link = self.require_teacher(code, token).code, self._check_link(link)
        with self._tx() as db:
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM pushes WHERE code = ?", (c,)).fetchone()[0]
            db.execute("INSERT INTO pushes VALUES (?, ?, ?)", (c, seq, link))
        return seq

    def latest_push(self, code: str) -> tuple[int, str] | None:
        c = self.room(code).code
        rows = self._q("SELECT seq, link FROM pushes WHERE code = ? ORDER BY seq DESC LIMIT 1", (c,))
        return (rows[0][0], rows[0][1]) if rows else None

    def open_poll(self, code, token, kind, question, options=(), context=None) -> Poll:
        c = self.require_teacher(code, token).code
        question, opts = self._check_poll_args(kind, question, tuple(options))
        now = self.clock()
        with self._tx() as db:
            pid = db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM polls WHERE code = ?", (c,)).fetchone()[0]
            db.execute("INSERT INTO polls VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
                       (c, pid, kind, question, json.dumps(opts), json.dumps(context or {}), now))
        return Poll(pid, kind, question, opts, dict(context or {}), False, now)

    @staticmethod
    def _poll(row: tuple) -> Poll:
        pid, kind, question, options, context, revealed, created = row
        return Poll(pid, kind, question, tuple(json.loads(options)), json.loads(context), bool(revealed), created)

    def polls(self, code: str) -> list[Poll]:
        c = self.room(code).code
        return [self._poll(r) for r in self._q(
            "SELECT id, kind, question, options, context, revealed, created FROM polls WHERE code = ? ORDER BY id",
            (c,))]

    def current_poll(self, code: str) -> Poll | None:
        c = self.room(code).code
        rows = self._q("SELECT id, kind, question, options, context, revealed, created FROM polls WHERE code = ? "
                       "ORDER BY id DESC LIMIT 1", (c,))
        return self._poll(rows[0]) if rows else None

    def answer(self, code: str, session: str, poll_id: int, text: object) -> bool:
        c, s = self.room(code).code, self._check_session(session)
        if not self._q("SELECT 1 FROM students WHERE code = ? AND session = ?", (c, s)):
            raise BadAnswer(N_("This browser session is not in the room; join it again."))
        win = self._window()
        # the attempt is counted in its own transaction, so that refused answers count against the limit too
        [(n,)] = self._q("INSERT INTO rate VALUES (?, ?, ?, 1) ON CONFLICT (code, session, win) "
                         "DO UPDATE SET n = n + 1 RETURNING n", (c, s, win), write=True)
        if n > ANSWER_LIMIT[0]:
            raise RateLimited(N_("Too many answers at once; wait a minute and try again."))
        with self._tx() as db:
            row = db.execute("SELECT options, revealed FROM polls WHERE code = ? AND id = ?", (c, poll_id)).fetchone()
            if row is None or row[1]:
                raise BadAnswer(N_("This poll is closed."))
            a = clean_answer(text, tuple(json.loads(row[0])))
            return bool(db.execute("INSERT OR IGNORE INTO answers VALUES (?, ?, ?, ?)", (c, poll_id, s, a)).rowcount)

    def answers(self, code: str, poll_id: int) -> dict[str, str]:
        c = self.room(code).code
        return dict(self._q("SELECT session, answer FROM answers WHERE code = ? AND poll = ?", (c, poll_id)))

    def reveal(self, code: str, token: object, poll_id: int) -> None:
        c = self.require_teacher(code, token).code
        self._q("UPDATE polls SET revealed = 1 WHERE code = ? AND id = ?", (c, poll_id), write=True)

    def record_attempt(self, code: str, session: str, exercise: str, solved: bool) -> None:
        c, s = self.room(code).code, self._check_session(session)
        # solved stays solved: a later wrong try does not undo it
        self._q("INSERT INTO progress VALUES (?, ?, ?, ?) ON CONFLICT (code, exercise, session) "
                "DO UPDATE SET solved = MAX(solved, excluded.solved)", (c, exercise[:80], s, int(bool(solved))),
                write=True)

    def exercise_rows(self, code: str) -> list[tuple[str, str, bool]]:
        c = self.room(code).code
        return [(e, s, bool(v)) for e, s, v in
                self._q("SELECT exercise, session, solved FROM progress WHERE code = ? ORDER BY exercise", (c,))]

    def progress(self, code: str) -> dict[str, tuple[int, int]]:
        c = self.room(code).code
        return {e: (n, k) for e, n, k in self._q(
            "SELECT exercise, COUNT(*), SUM(solved) FROM progress WHERE code = ? GROUP BY exercise", (c,))}


class _SqliteTx:
    """``with store._tx(write) as db``: the store's lock and one transaction, IMMEDIATE for writes (a read-then-write
    such as "next sequence number" holds the write lock from its first read, so two processes sharing the file
    cannot both take the same number), deferred for reads (WAL readers never wait for a writer). sqlite3 errors
    become StoreUnavailable; ClassErrors roll back and propagate."""

    def __init__(self, store: SQLiteStore, write: bool) -> None:
        self.store, self.write = store, write

    def __enter__(self) -> sqlite3.Connection:
        self.store._lock.acquire()
        try:
            self.store._db.execute("BEGIN IMMEDIATE" if self.write else "BEGIN")
        except sqlite3.Error as e:
            self.store._lock.release()
            raise StoreUnavailable(N_("The class store cannot be reached ({reason})."), reason=type(e).__name__) from e
        return self.store._db

    def __exit__(self, kind, value, tb) -> bool:
        db = self.store._db
        try:
            if kind is None:
                db.execute("COMMIT")
            else:
                db.execute("ROLLBACK")
        except sqlite3.Error as e:
            if kind is None:
                raise StoreUnavailable(N_("The class store cannot be reached ({reason})."),
                                       reason=type(e).__name__) from e
        finally:
            self.store._lock.release()
        if kind is not None and issubclass(kind, sqlite3.Error):
            raise StoreUnavailable(N_("The class store cannot be reached ({reason})."), reason=kind.__name__) from value
        return False


# ------------------------------------------------------------------------------------------ Redis
_PUSH = "local s = redis.call('INCR', KEYS[1]); redis.call('SET', KEYS[2], s .. '\\n' .. ARGV[1]); return s"


class RedisStore(Store):
    """Rooms shared by several replicas. Keys ``tx:class:<CODE>...``, all expiring with the room (EXPIREAT)."""

    def __init__(self, url: str, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock)
        import redis

        self._redis_errors = (redis.exceptions.RedisError, OSError)
        try:
            self.r = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3, decode_responses=True)
        except (ValueError, *self._redis_errors) as e:
            raise StoreUnavailable(N_("The class store cannot be opened ({reason})."), reason=type(e).__name__) from e
        self._push = self.r.register_script(_PUSH)

    def _call(self, fn: Callable, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except self._redis_errors as e:
            raise StoreUnavailable(N_("The class store cannot be reached ({reason})."), reason=type(e).__name__) from e

    @staticmethod
    def _k(code: str, *parts: object) -> str:
        return ":".join(("tx:class", code, *map(str, parts)))

    def _expire(self, pipe, room: Room, *keys: str) -> None:
        for k in keys:
            pipe.expireat(k, int(room.expires) + 1)

    def create_room(self) -> tuple[Room, str]:
        now, token = self.clock(), secrets.token_urlsafe(24)
        room_hash = {"token_hash": _token_hash(token), "created": repr(now), "expires": repr(now + ROOM_TTL_S)}
        while True:
            code = _new_code()
            key = self._k(code)
            if self._call(self.r.hsetnx, key, "token_hash", room_hash["token_hash"]):
                break
        room = Room(code, now, now + ROOM_TTL_S)
        pipe = self.r.pipeline()
        pipe.hset(key, mapping=room_hash)
        self._expire(pipe, room, key)
        self._call(pipe.execute)
        return room, token

    def room(self, code: str) -> Room:
        c = clean_code(code)
        h = self._call(self.r.hmget, self._k(c), "created", "expires")
        if h[1] is None:
            raise BadRoomCode(N_("There is no room {code}; check the code on the teacher's screen."), code=c)
        room = Room(c, float(h[0]), float(h[1]))
        if room.expires <= self.clock():
            raise RoomExpired(N_("Room {code} has expired (rooms last 12 hours); ask the teacher for a new one."),
                              code=c)
        return room

    def _token_hash_of(self, code: str) -> str:
        return self._call(self.r.hget, self._k(code), "token_hash") or ""

    def join(self, code: str, session: str, name: object = None) -> None:
        room, s, n = self.room(code), self._check_session(session), clean_name(name)
        key = self._k(room.code, "students")
        old = self._call(self.r.hget, key, s)
        if old is None and self._call(self.r.hsetnx, key, s, "{}"):
            number = self._call(self.r.incr, self._k(room.code, "nstudents"))
        else:
            old = old or self._call(self.r.hget, key, s)
            number = json.loads(old).get("n") if old and old != "{}" else None
            if number is None:  # the first join of this session is still writing its number: take a new one
                number = self._call(self.r.incr, self._k(room.code, "nstudents"))
        pipe = self.r.pipeline()
        pipe.hset(key, s, json.dumps({"n": number, "name": n}))
        self._expire(pipe, room, key, self._k(room.code, "nstudents"))
        self._call(pipe.execute)

    def students(self, code: str) -> list[tuple[int, str, str | None]]:
        room = self.room(code)
        out = []
        for s, v in self._call(self.r.hgetall, self._k(room.code, "students")).items():
            d = json.loads(v)
            if "n" in d:
                out.append((d["n"], s, d["name"]))
        return sorted(out)

    def push(self, code: str, token: object, link: str) -> int:
        room, link = self.require_teacher(code, token), self._check_link(link)
        keys = [self._k(room.code, "pushseq"), self._k(room.code, "push")]
        seq = int(self._call(self._push, keys=keys, args=[link]))
        pipe = self.r.pipeline()
        self._expire(pipe, room, *keys)
        self._call(pipe.execute)
        return seq

    def latest_push(self, code: str) -> tuple[int, str] | None:
        room = self.room(code)
        v = self._call(self.r.get, self._k(room.code, "push"))
        if v is None:
            return None
        seq, link = v.split("\n", 1)
        return int(seq), link

    def open_poll(self, code, token, kind, question, options=(), context=None) -> Poll:
        room = self.require_teacher(code, token)
        question, opts = self._check_poll_args(kind, question, tuple(options))
        now = self.clock()
        pid = int(self._call(self.r.incr, self._k(room.code, "pollseq")))
        key = self._k(room.code, "poll", pid)
        pipe = self.r.pipeline()
        pipe.hset(key, mapping={"kind": kind, "question": question, "options": json.dumps(opts),
                                "context": json.dumps(context or {}), "revealed": "0", "created": repr(now)})
        pipe.rpush(self._k(room.code, "polls"), pid)
        self._expire(pipe, room, key, self._k(room.code, "polls"), self._k(room.code, "pollseq"))
        self._call(pipe.execute)
        return Poll(pid, kind, question, opts, dict(context or {}), False, now)

    def _poll(self, code: str, pid: int) -> Poll | None:
        h = self._call(self.r.hgetall, self._k(code, "poll", pid))
        if not h:
            return None
        return Poll(pid, h["kind"], h["question"], tuple(json.loads(h["options"])), json.loads(h["context"]),
                    h["revealed"] == "1", float(h["created"]))

    def polls(self, code: str) -> list[Poll]:
        room = self.room(code)
        ids = [int(i) for i in self._call(self.r.lrange, self._k(room.code, "polls"), 0, -1)]
        return [p for p in (self._poll(room.code, i) for i in ids) if p is not None]

    def current_poll(self, code: str) -> Poll | None:
        room = self.room(code)
        ids = self._call(self.r.lrange, self._k(room.code, "polls"), -1, -1)
        return self._poll(room.code, int(ids[0])) if ids else None

    def answer(self, code: str, session: str, poll_id: int, text: object) -> bool:
        room, s = self.room(code), self._check_session(session)
        if not self._call(self.r.hexists, self._k(room.code, "students"), s):
            raise BadAnswer(N_("This browser session is not in the room; join it again."))
        rate = self._k(room.code, "rate", s, self._window())
        pipe = self.r.pipeline()
        pipe.incr(rate)
        pipe.expire(rate, int(ANSWER_LIMIT[1]) * 2)
        if self._call(pipe.execute)[0] > ANSWER_LIMIT[0]:
            raise RateLimited(N_("Too many answers at once; wait a minute and try again."))
        poll = self._poll(room.code, int(poll_id))
        if poll is None or poll.revealed:
            raise BadAnswer(N_("This poll is closed."))
        a = clean_answer(text, poll.options)
        key = self._k(room.code, "poll", poll.id, "answers")
        counted = bool(self._call(self.r.hsetnx, key, s, a))
        if counted:
            self._call(self.r.expireat, key, int(room.expires) + 1)
        return counted

    def answers(self, code: str, poll_id: int) -> dict[str, str]:
        room = self.room(code)
        return dict(self._call(self.r.hgetall, self._k(room.code, "poll", int(poll_id), "answers")))

    def reveal(self, code: str, token: object, poll_id: int) -> None:
        room = self.require_teacher(code, token)
        key = self._k(room.code, "poll", int(poll_id))
        if self._call(self.r.exists, key):
            self._call(self.r.hset, key, "revealed", "1")

    def record_attempt(self, code: str, session: str, exercise: str, solved: bool) -> None:
        room, s = self.room(code), self._check_session(session)
        key = self._k(room.code, "progress")
        field = json.dumps([exercise[:80], s])
        pipe = self.r.pipeline()
        if solved:  # solved stays solved: a later wrong try does not undo it
            pipe.hset(key, field, "1")
        else:
            pipe.hsetnx(key, field, "0")
        self._expire(pipe, room, key)
        self._call(pipe.execute)

    def exercise_rows(self, code: str) -> list[tuple[str, str, bool]]:
        room = self.room(code)
        stored = self._call(self.r.hgetall, self._k(room.code, "progress"))
        rows = [(*json.loads(f), v == "1") for f, v in stored.items()]
        return sorted((e, s, v) for e, s, v in rows)

    def progress(self, code: str) -> dict[str, tuple[int, int]]:
        out: dict[str, tuple[int, int]] = {}
        for e, _s, solved in self.exercise_rows(code):
            n, k = out.get(e, (0, 0))
            out[e] = (n + 1, k + int(solved))
        return out


# ------------------------------------------------------------------------------------------ choosing one
def default_path() -> Path:
    """class.db in the app's data directory (the same folder as the prepared model cache)."""
    from models.loading import cache_root

    return cache_root() / "class.db"


def open_store(url: str | None = None, clock: Callable[[], float] = time.time) -> Store:
    """The store named by ``url`` (or $TX_CLASS_STORE): ``sqlite:///abs/path.db``, ``redis://host:port/db``;
    nothing -> SQLite in the data directory. StoreUnavailable when it cannot be opened."""
    if url is None:
        import config

        url = config.from_env().class_store  # the environment of this moment (a test may point it elsewhere)
    if not url:
        return SQLiteStore(default_path(), clock)
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme == "sqlite":
        path = url[len("sqlite://"):]
        if not path or path == "/":
            raise StoreUnavailable(N_("The class store setting {setting} names no file."), setting=STORE_ENV)
        return SQLiteStore(path, clock)
    if scheme in ("redis", "rediss", "unix"):
        return RedisStore(url, clock)
    raise StoreUnavailable(N_("The class store setting {setting} must start with sqlite:// or redis://."),
                           setting=STORE_ENV)


def to_csv(rows: list[dict]) -> str:
    """The export as CSV text. A cell that starts with = + - @ (or a tab/CR) gets a leading apostrophe, so that a
    spreadsheet shows a student's answer as text instead of running it as a formula (CSV injection)."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["kind", "question", "student", "answer"])
    w.writeheader()
    for row in rows:
        w.writerow({k: ("'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r") else v)
                    for k, v in row.items()})
    return buf.getvalue()
