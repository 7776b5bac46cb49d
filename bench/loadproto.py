"""`make load`: a class as the students feel it, measured end to end on one server process.

The students are protocol sessions (bench/protoclient.py: Streamlit's own websocket protocol, what the frontend
sends, a few milliseconds of CPU per interaction), so 30 or 100 of them fit on this machine beside the server;
two real Chromium tabs (bench/load.py's sessions, under SCHED_IDLE) run in every profile as witnesses that the
pages are drawn, with their own latencies reported apart. An interaction's latency is from the moment the
student's change is sent to the ``script_finished`` of the run it started (bench/protocheck.py measures how
much a browser adds on top: its frontend and its drawing).

Profiles (each on a fresh ``serve.py``, counted: model loads, every script run's wall/CPU time):
* ``reading``: N students (30), each opening the link in the same second, then ``--interactions`` (20) real page
  interactions, reading 4-12 s between two;
* ``back-to-back``: the same without the reading pause; then the memory phase (300 distinct ~128-token texts
  through /embeddings by 6 sessions, RSS sampled after each);
* ``cold``: N students open the link within the same second on the fresh server: the page, its scripts and
  styles, the websocket, the first run (first page time), then one interaction each;
* ``generate``: N students on /generate (40 new tokens) press Generate within the same 10 s; one generation
  alone first, on the same server, as the yardstick;
* ``knee``: students join 10 at a time (``--knee-steps``), each step lasting ``--step-seconds``, all at reading
  pace: latency by the number of students active, and the knee (the first step whose p95 passes 1 s).
* ``class`` (issue 23): ``--class-students`` (30) students join a room at /class?room=CODE within a second and
  follow the teacher through ``--pushes`` (10) pushed views and ``--polls`` (5) polls, on one server with the
  SQLite store; ``class-replicas``: the same room across ``--replicas`` (2) servers behind nginx sharing a
  redis-server (started on a loopback port, stopped by its PID), the students spread over the replicas. Each
  student is switched by the server to each pushed view (its room watcher wakes the session; no timer runs in the
  browser, and ``auto_reruns_sent`` counts any a page would start) and answers each poll in the sidebar's form; the teacher acts on the store. Per
  push and student: the time from the push (just before the store write) to the end of the run of the pushed page
  with the pushed query (target p95 <= 2 s); every answer sent must be counted once by the store; 0 errors.

Every interaction goes through a real page path: Tokens (new text), Next token (temperature and top-p sliders),
Attention (all heads, BertViz head and model views, the heatmap), Generate (16 greedy tokens; 40 in the
generate profile), Embeddings (layer slider, a word), Similarity (static/contextual vectors).

Reported per profile: p50/p95/max by action, errors (exceptions drawn, timeouts, lost sessions), cross-talk
(every student's text carries its own marker word; no frame it receives may contain another student's, and
every full run must contain its own), model loads, peak RSS, server CPU per interaction, the load client's own
CPU (target < 15 % of the machine), the witnesses' latencies and checks. Results go to bench/results.json
(``load/proto/...``; each section: date, commit, CPU model, core count, load average).

    python -m bench.loadproto                                   # every profile at full size (~30 min)
    python -m bench.loadproto --profile reading --students 4 --interactions 6 --no-record   # a smoke run
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import signal
import statistics
import sys
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable, Iterable

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import devserver  # noqa: E402
from bench import load as browser_load  # noqa: E402  (the counting server, the Chromium witnesses)
from bench.protoclient import ProtocolError, ProtoSession, RunResult  # noqa: E402
from bench.common import CHROMIUM_ARGS, RESULTS, entry  # noqa: E402

TARGET_P95_S = 1.0
TARGET_COLD_S = 5.0
TARGET_GEN_RATIO = 2.0
TARGET_RSS_MB = 3 * 1024
TARGET_CLIENT_CPU = 0.15
GEN_TOKENS = 16  # a student's generation in the class profiles
BURST_TOKENS = 40  # the generate profile's
GENERATION = {"generate_run"}


# ------------------------------------------------------------------------------------ the record
def machine() -> dict:
    """What the numbers were measured on: commit, CPU model, cores, load average."""
    from bench.results import git_commit  # results.json itself, written as the parts finish, is not the code

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"commit": git_commit(), "cpu_model": cpu, "cpu_count": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def record_section(section: str, notes: dict, rows: list[tuple[str, float | None, str, float | None]],
                   out: Path = RESULTS) -> None:
    """Rows (name, value, unit, target) into bench/results.json (replacing rows of the same names) and
    ``notes`` under metadata[section] with the date, commit, CPU model and core count."""
    entries = [entry(name, value, unit, target=target) for name, value, unit, target in rows]
    browser_load.merge_results(entries, section, {**machine(), **notes}, out=out)


# ------------------------------------------------------------------------------------ a student
@dataclass
class Student:
    index: int
    marker: str
    rng: random.Random
    s: ProtoSession | None = None
    text: str = ""
    round: int = 0
    results: list[tuple[str, float, float, int]] = field(default_factory=list)  # action, s, started, active
    errors: list[str] = field(default_factory=list)
    own_text_missing: list[str] = field(default_factory=list)
    first_page_s: float | None = None
    first_page_http_s: float | None = None
    first_done_at: float = float("inf")  # epoch: after this, the server's runs are interactions
    upstreams: set = field(default_factory=set)
    crosstalk: list[str] = field(default_factory=list)
    connected: bool = False
    resumed: bool | None = None  # after a reconnect: the same session on the same replica
    sampling: dict = field(default_factory=lambda: {"temperature": 1.0, "top_k": 0, "top_p": 1.0})
    frames: int = 0
    bytes: int = 0

    def next_text(self) -> str:
        self.round += 1
        self.text = f"{self.marker} students celebrate round {self.round} with a big party"
        return self.text


Action = Callable[[Student], Awaitable[RunResult]]


def _other(rng: random.Random, options: list, now) -> object:
    return rng.choice([o for o in options if o != now] or options)


async def tokens_open(st: Student) -> RunResult:
    return await st.s.goto("tokens", "tokens_open")


async def tokens_set_text(st: Student) -> RunResult:
    return await st.s.set("text", st.next_text(), "tokens_set_text")


async def next_token_open(st: Student) -> RunResult:
    return await st.s.goto("next-token", "next_token_open")


SAMPLING_COMPONENT = "nt-sampling"  # app_pages/next_token.py: the sliders re-weighted in the browser


async def _sampling(st: Student, name: str, options: list[float], action: str) -> RunResult:
    """Move a sampling slider. With Streamlit's sliders on the page, set the slider; with the browser-side
    component (components/sampling_redraw.py), the browser redraws at once and then reports the whole setting
    to the server (a fragment run that writes the URL): that report is what is sent and timed."""
    if any(w.key == name and w.kind == "slider" for w in st.s.widgets.values()):
        now = (st.s.value(name) or [None])[0]
        return await st.s.set(name, _other(st.rng, options, now), action)
    st.sampling[name] = _other(st.rng, options, st.sampling[name])
    return await st.s.set(SAMPLING_COMPONENT, dict(st.sampling), action)


async def next_token_temperature(st: Student) -> RunResult:
    return await _sampling(st, "temperature", [0.0, 0.5, 1.5, 2.0], "next_token_temperature")


async def next_token_top_p(st: Student) -> RunResult:
    return await _sampling(st, "top_p", [0.5, 0.8, 0.95, 1.0], "next_token_top_p")


async def attention_open(st: Student) -> RunResult:
    return await st.s.goto("attention", "attention_open")


def _view(label: str, action: str) -> Action:
    async def act(st: Student) -> RunResult:
        return await st.s.set("view", label, action)
    act.__name__ = action
    return act


attention_heads = _view("All heads", "attention_heads")
attention_bertviz_head = _view("BertViz head view", "attention_bertviz_head")
attention_bertviz_model = _view("BertViz model view", "attention_bertviz_model")
attention_heatmap = _view("Heatmap", "attention_heatmap")


async def generate_open(st: Student) -> RunResult:
    return await st.s.goto("generate", "generate_open")


def _generate(tokens: int) -> Action:
    async def generate_run(st: Student) -> RunResult:
        """A greedy generation of ``tokens`` tokens (the number input set first, if it differs)."""
        if st.s.value("max_new_tokens") != tokens:  # typing the number is an interaction of its own
            started = time.time()
            r = await st.s.set("max_new_tokens", tokens, "generate_length")
            st.results.append((r.action, r.seconds, started, 0))
            check(st, r)
        return await st.s.click("gen_go", "generate_run")
    return generate_run


generate_run = _generate(GEN_TOKENS)


async def embeddings_open(st: Student) -> RunResult:
    return await st.s.goto("embeddings", "embeddings_open")


async def embeddings_layer(st: Student) -> RunResult:
    w = st.s.widget("layer")
    now = (st.s.value("layer") or [0])[0]
    layers = [float(x) for x in range(int(w.proto.min), int(w.proto.max) + 1)]
    return await st.s.set("layer", _other(st.rng, layers, now), "embeddings_layer")


async def embeddings_word(st: Student) -> RunResult:
    word = _other(st.rng, ["queen", "river", "music", "doctor", "apple", "winter"], st.s.value("word"))
    return await st.s.set("word", word, "embeddings_word")


async def similarity_open(st: Student) -> RunResult:
    return await st.s.goto("similarity", "similarity_open")


async def similarity_vectors(st: Student) -> RunResult:
    w = st.s.widget("sim_vectors")
    now = st.s.value("sim_vectors")
    return await st.s.set("sim_vectors", _other(st.rng, list(w.proto.options), now), "similarity_vectors")


# page -> (how a student gets there, what it does there the first time, what it adds on later visits)
ACTIONS: list[tuple[Action, list[Action], list[Action]]] = [
    (tokens_open, [tokens_set_text], []),
    (next_token_open, [next_token_temperature], [next_token_top_p]),
    (generate_open, [generate_run], []),
    (attention_open, [attention_heads, attention_bertviz_head], [attention_bertviz_model, attention_heatmap]),
    (embeddings_open, [embeddings_layer, embeddings_word], [embeddings_layer]),
    (similarity_open, [similarity_vectors], []),
]


def plan(n: int) -> list[Action]:
    """A student's first n interactions: the pages round robin, each visit = open + the page's actions."""
    steps: list[Action] = []
    rounds = 0
    while len(steps) < n:
        for open_page, first, later in ACTIONS:
            steps += [open_page, *first, *(later if rounds else [])]
        rounds += 1
    return steps[:n]


def open_path(st: Student, page: str = "tokens", extra: str = "") -> str:
    return f"/{page}?text={urllib.parse.quote(st.next_text())}" + (f"&{extra}" if extra else "")


# --------------------------------------------------------------------------------- running a class
@dataclass
class Class:
    url: str
    students: list[Student]
    markers: list[str]  # every marker in this run (students and witnesses)
    active: list[int] = field(default_factory=lambda: [0])  # students connected now (for the knee)

    def session(self, st: Student) -> ProtoSession:
        return ProtoSession(self.url, marker=st.marker, others=self.markers, name=st.marker)


def make_students(n: int, seed: int, first: int = 0) -> list[Student]:
    letters = random.Random(seed)
    return [Student(i, f"qz{i:02d}{letters.choice('bdfgkmpvw')}{letters.choice('aeiou')}x", random.Random(seed + i))
            for i in range(first, first + n)]


def witness_markers(n: int) -> list[str]:
    return [f"qzw{i}{'bdfgk'[i % 5]}ox" for i in range(n)]


def make_class(url: str, students: list[Student], witnesses: int) -> Class:
    """The students at ``url``; every marker of the run (theirs and the ``witnesses`` tabs') is known, so that a
    page showing another one's text counts as crosstalk."""
    return Class(url, students, [st.marker for st in students] + witness_markers(witnesses))


async def student_open(c: Class, st: Student, path: str, at: float, first: bool = True) -> bool:
    """Open the link at monotonic time ``at``; True when the first page arrived. ``first``: the student's first
    page (timed as such); otherwise a reload after a lost session."""
    await asyncio.sleep(max(0.0, at - time.monotonic()))
    st.s = c.session(st)
    try:
        r = await st.s.open(path)
    except Exception as e:  # noqa: BLE001 (a failure of this student, recorded; the class goes on)
        st.errors.append(f"open: {type(e).__name__}: {first_line(e)}")
        await leave(c, st)
        return False
    if first:
        st.first_page_s, st.first_page_http_s, st.first_done_at = r.seconds, r.http_s, time.time()
    check(st, r)
    st.connected = True
    c.active[0] += 1
    return True


async def leave(c: Class, st: Student) -> None:
    """Close the student's session, keeping what it saw (upstreams, cross-talk)."""
    if st.s is None:
        return
    st.upstreams |= st.s.upstreams
    st.crosstalk += st.s.crosstalk
    st.s.crosstalk = []
    if st.connected:
        c.active[0] -= 1
        st.connected = False
    await st.s.close()


def check(st: Student, r: RunResult) -> None:
    if r.exceptions:
        st.errors += [f"{r.action}: exception drawn: {e}" for e in r.exceptions]
    if not r.own_marker_seen:
        st.own_text_missing.append(r.action)
    st.frames += r.frames
    st.bytes += r.bytes


async def act(c: Class, st: Student, step: Action) -> None:
    """One interaction, recorded; a lost session is opened again (counted as an error)."""
    started, active = time.time(), c.active[0]
    try:
        r = await step(st)
    except Exception as e:  # noqa: BLE001 (a failure of this student, recorded; the class goes on)
        st.errors.append(f"{step.__name__}: {type(e).__name__}: {first_line(e)}")
        if st.s is not None and st.s._closed_reason:  # reconnect: a student reloads the page
            await leave(c, st)
            await student_open(c, st, open_path(st), time.monotonic(), first=False)
        return
    st.results.append((r.action, r.seconds, started, active))
    check(st, r)


async def student_session(c: Class, st: Student, steps: list[Action], think: tuple[float, float], at: float,
                          page: str = "tokens", until: float | None = None, reconnect: bool = False) -> None:
    """Open the link at ``at``, then the steps (again and again until ``until``, if given), reading between;
    ``reconnect``: at the end, drop the websocket and resume the session on a new one (a network blip)."""
    if not await student_open(c, st, open_path(st, page), at):
        return
    try:
        i = 0
        while i < len(steps) or (until is not None and time.monotonic() < until):
            await asyncio.sleep(st.rng.uniform(*think))
            if until is not None and time.monotonic() >= until:
                break
            await act(c, st, steps[i % len(steps)])
            i += 1
        if reconnect and st.s._closed_reason is None:
            before = (st.s.session_id, st.s.ws_upstream)
            try:
                r = await st.s.reconnect()
                check(st, r)
                st.resumed = (st.s.session_id, st.s.ws_upstream) == before
            except Exception as e:  # noqa: BLE001 (a failure of this student, recorded; the class goes on)
                st.errors.append(f"reconnect: {type(e).__name__}: {first_line(e)}")
    finally:
        await leave(c, st)


# ------------------------------------------------------------------------------------ witnesses
def chromium() -> str | None:
    exe = shutil.which("chromium") or "/usr/bin/chromium"
    return exe if os.path.exists(exe) else None


async def with_witnesses(url: str, n: int, interactions: int, markers: list[str], think: tuple[float, float],
                         start_at: float, students: Awaitable) -> tuple[list, dict]:
    """Run the students' coroutine beside ``n`` Chromium tabs (bench/load.py sessions under SCHED_IDLE, each doing
    ``interactions`` interactions on its own text); returns (witness sessions, facts about their browser)."""
    if n == 0 or chromium() is None:
        await students
        return [], {"witnesses": 0, "witness_note": "no chromium" if n else "none asked"}
    wm = witness_markers(n)
    sessions = [browser_load.Session(1000 + i, m) for i, m in enumerate(wm)]
    tag = f"--tx-load-witness={os.getpid()}-{time.monotonic_ns()}"
    # the witnesses' Playwright runs in a thread of its own, with its own event loop, so that the load client's
    # CPU (this thread: time.thread_time) does not include the browsers' driver
    offset = start_at - time.monotonic()

    async def witnesses() -> tuple[int, int]:
        from playwright.async_api import async_playwright

        begin = time.monotonic() + offset
        launcher = browser_load.idle_priority(chromium(), True)  # a small script: chrt --idle 0 chromium
        try:
            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path=launcher, headless=True,
                                                  args=[*CHROMIUM_ARGS, tag])
                await asyncio.gather(*(browser_load.run_session(s, browser, url, interactions, markers, begin,
                                                                think) for s in sessions))
                counts = browser_load.browser_threads(tag)
                await browser.close()
        finally:
            Path(launcher).unlink(missing_ok=True)
        return counts

    _, (threads, not_idle) = await asyncio.gather(students, asyncio.to_thread(asyncio.run, witnesses()))
    return sessions, {"witnesses": n, "witness_browser_threads": threads, "witness_threads_not_idle": not_idle}


def witness_report(sessions: list) -> dict:
    lat = [t for s in sessions for name, t in s.latencies if name not in browser_load.GENERATION]
    gen = [t for s in sessions for name, t in s.latencies if name in browser_load.GENERATION]
    return {"witness_interactions": len(lat), "witness_generations": len(gen),
            "witness_p50_s": pct(lat, 0.5), "witness_p95_s": pct(lat, 0.95), "witness_max_s": max(lat, default=None),
            "witness_generation_p95_s": pct(gen, 0.95),
            "witness_cold_start_s": [round(s.cold_start_s, 2) for s in sessions if s.cold_start_s is not None],
            "witness_errors": [e for s in sessions for e in s.errors][:20],
            "witness_crosstalk": [c for s in sessions for c in s.crosstalk][:20]}


# --------------------------------------------------------------------------------------- a profile
STARTED: list[browser_load.Server] = []  # this profile's servers (their logs are kept when it had errors)


def start_server() -> browser_load.Server:
    server = browser_load.start_server()  # serve.py on a free port, counting model loads and script runs
    STARTED.append(server)
    return server


class Meter:
    """CPU of the server(s), of this process (the load client) and of the whole machine over a phase."""

    def __init__(self, *servers: browser_load.Server):
        self.servers = servers
        self.t, self.cpu, self.proc_cpu = time.perf_counter(), time.thread_time(), time.process_time()
        self.server_cpu, self.busy = self._servers_cpu(), browser_load.machine_busy_s()
        self.runs = [len(s.runs()) for s in servers]

    def _servers_cpu(self) -> float:
        return sum(s.cpu_s() for s in self.servers)

    def read(self, interactions: int) -> dict:
        wall = time.perf_counter() - self.t
        cores = os.cpu_count() or 1
        client = time.thread_time() - self.cpu  # this thread: the students' event loop (the protocol client)
        own = time.process_time() - self.proc_cpu  # and the witnesses' Playwright driver, in another thread
        server = self._servers_cpu() - self.server_cpu
        busy = browser_load.machine_busy_s() - self.busy
        return {"wall_s": round(wall, 1), "server_cpu_s": round(server, 1), "client_cpu_s": round(client, 2),
                "witness_driver_cpu_s": round(own - client, 2),
                "client_cpu_fraction": round(client / (wall * cores), 4),
                "server_cpu_fraction": round(server / (wall * cores), 3),
                "machine_busy_fraction": round(busy / (wall * cores), 3),
                # the witnesses' browsers and anything else running on this machine
                "other_cpu_fraction": round(max(0.0, busy - server - own) / (wall * cores), 3),
                "server_cpu_s_per_interaction": round(server / interactions, 4) if interactions else None,
                "client_cpu_ms_per_interaction": round(1000 * client / interactions, 2) if interactions else None}


def summarise(students: list[Student], meter: Meter) -> dict:
    lat = [(a, s) for st in students for a, s, _, _ in st.results]
    inter = [s for a, s in lat if a not in GENERATION]
    gen = [s for a, s in lat if a in GENERATION]
    by_action = {}
    for name in sorted({a for a, _ in lat}):
        xs = [s for a, s in lat if a == name]
        by_action[name] = {"n": len(xs), "p50_s": pct(xs, 0.5), "p95_s": pct(xs, 0.95), "max_s": round(max(xs), 3)}
    first = [st.first_page_s for st in students if st.first_page_s is not None]
    runs = [r for srv, n in zip(meter.servers, meter.runs) for r in srv.runs()[n:]]
    cold_done = {st.marker: st.first_done_at for st in students}
    later = [r for r in runs if r.end > cold_done.get(r.who, 0.0) and r.page not in browser_load.GENERATION_PAGES]
    rep = {
        "students": len(students), "interactions_done": len(inter), "generations_done": len(gen),
        "interaction_p50_s": pct(inter, 0.5), "interaction_p95_s": pct(inter, 0.95),
        "interaction_max_s": round(max(inter), 3) if inter else None,
        "generation_p50_s": pct(gen, 0.5), "generation_p95_s": pct(gen, 0.95),
        "generation_max_s": round(max(gen), 3) if gen else None,
        "by_action": by_action,
        "first_page_p50_s": pct(first, 0.5), "first_page_p95_s": pct(first, 0.95),
        "first_page_max_s": round(max(first), 3) if first else None,
        "first_page_http_p95_s": pct([st.first_page_http_s for st in students if st.first_page_http_s], 0.95),
        "errors": [e for st in students for e in st.errors],
        "crosstalk": [x for st in students for x in st.crosstalk + (st.s.crosstalk if st.s else [])],
        "own_text_missing": [f"{st.marker}: {a}" for st in students for a in st.own_text_missing],
        "frames_per_interaction": round(sum(st.frames for st in students) / max(1, len(lat) + len(first)), 1),
        "kb_per_interaction": round(sum(st.bytes for st in students) / 1024 / max(1, len(lat) + len(first)), 1),
        "server_runs": len(runs),
        "server_run_p50_s": pct([r.wall for r in later], 0.5), "server_run_p95_s": pct([r.wall for r in later], 0.95),
        "server_run_cpu_p95_s": pct([r.cpu for r in later], 0.95),
        "server_run_lock_wait_p95_s": pct([r.lock_wait for r in later], 0.95),
    }
    rep["interactions_per_s"] = round(len(lat) / (time.perf_counter() - meter.t), 3)
    rep.update(meter.read(len(lat) + len(first)))
    rss = [srv.rss_mb() for srv in meter.servers]
    rep["rss_mb"], rep["peak_rss_mb"] = round(max(r[0] for r in rss)), round(max(r[1] for r in rss))
    loads = [srv.loads() for srv in meter.servers]
    rep["loads"] = loads[0] if len(loads) == 1 else loads
    model_loads = [v for one in loads for k, v in one.items() if k.startswith("model:")]
    rep["max_loads_per_model"] = max(model_loads, default=0)  # per process
    return rep


async def class_profile(args, think: tuple[float, float], label: str, memory: int = 0) -> dict:
    """``args.students`` students, ``args.interactions`` each, at the pace ``think``; two witnesses."""
    server = start_server()
    try:
        students = make_students(args.students, args.seed)
        c = make_class(server.url, students, args.witnesses)
        meter = Meter(server)
        start = time.monotonic() + 2.0
        steps = plan(args.interactions)
        crowd = asyncio.gather(*(student_session(c, st, steps, think, start + st.rng.uniform(0, 1))
                                 for st in students))
        witnesses, wfacts = await with_witnesses(server.url, args.witnesses, args.interactions, c.markers, think,
                                                 start, crowd)
        rep = {"profile": label, "think_s": list(think), "server_start_s": round(server.started_s, 1),
               **crowd_report(students, meter, wfacts, witnesses)}
        if memory:
            rep["memory"] = await memory_phase(server, memory, args.memory_workers)
            rep["peak_rss_mb"] = round(server.rss_mb()[1])
        return rep
    finally:
        server.stop()


async def cold_profile(args) -> dict:
    """N students open the link within the same second on a freshly started server, then one interaction."""
    server = start_server()
    try:
        students = make_students(args.students, args.seed)
        c = make_class(server.url, students, args.witnesses)
        meter = Meter(server)
        start = time.monotonic() + 1.0
        crowd = asyncio.gather(*(student_session(c, st, [tokens_set_text], (0.5, 1.5), start + st.rng.uniform(0, 1))
                                 for st in students))
        witnesses, wfacts = await with_witnesses(server.url, args.witnesses, 2, c.markers, (0.5, 1.5), start, crowd)
        return {"profile": "cold", "server_start_s": round(server.started_s, 1),
                **crowd_report(students, meter, wfacts, witnesses)}
    finally:
        server.stop()


async def generate_profile(args) -> dict:
    """One generation alone (3 times, median), then N students press Generate within the same 10 s."""
    server = start_server()
    try:
        solo = Student(999, "qzsoloqx", random.Random(args.seed))
        students = make_students(args.students, args.seed)
        c = make_class(server.url, students + [solo], args.witnesses)
        burst = _generate(BURST_TOKENS)
        await student_open(c, solo, open_path(solo, "generate", f"max_new_tokens={BURST_TOKENS}"), time.monotonic())
        alone = []
        for _ in range(3):
            await act(c, solo, burst)
            alone.append(solo.results[-1][1] if solo.results and solo.results[-1][0] == "generate_run" else None)
        await leave(c, solo)
        alone = [a for a in alone if a is not None]
        solo_s = statistics.median(alone) if alone else None
        opened = time.monotonic() + 1.0
        ready = asyncio.Event()
        waiting = [len(students)]

        async def student(st: Student) -> None:
            ok = await student_open(c, st, open_path(st, "generate", f"max_new_tokens={BURST_TOKENS}"),
                                    opened + st.rng.uniform(0, 5))
            waiting[0] -= 1
            if waiting[0] == 0:
                ready.set()
            await ready.wait()
            if ok:
                await asyncio.sleep(st.rng.uniform(0, 10))  # everyone presses Generate within the same 10 s
                await act(c, st, burst)
            await leave(c, st)

        meter = Meter(server)
        witnesses, wfacts = await with_witnesses(server.url, args.witnesses, 10, c.markers, (2.0, 4.0), opened,
                                                 asyncio.gather(*(student(st) for st in students)))
        rep = {"profile": "generate", "tokens": BURST_TOKENS, "alone_s": [round(a, 3) for a in alone],
               "alone_median_s": round(solo_s, 3) if solo_s else None,
               **crowd_report(students, meter, wfacts, witnesses)}
        gens = [s for st in students for a, s, _, _ in st.results if a == "generate_run"]
        rep["burst_max_over_alone"] = round(max(gens) / solo_s, 2) if gens and solo_s else None
        rep["burst_p95_over_alone"] = round(pct(gens, 0.95) / solo_s, 2) if gens and solo_s else None
        return rep
    finally:
        server.stop()


async def knee_profile(args) -> dict:
    """Students join in steps (``args.knee_steps`` active after each), all at reading pace, until the last step
    has run ``args.step_seconds``; latency by the number of students active when the interaction started."""
    steps_n = [int(x) for x in args.knee_steps.split(",")]
    server = start_server()
    try:
        students = make_students(steps_n[-1], args.seed)
        c = make_class(server.url, students, args.witnesses)
        meter = Meter(server)
        t0 = time.monotonic() + 2.0
        end = t0 + args.step_seconds * len(steps_n)
        joins = []
        for k, n in enumerate(steps_n):
            before = steps_n[k - 1] if k else 0
            joins += [t0 + k * args.step_seconds + (j - before) * min(1.0, args.step_seconds / 4 / max(1, n - before))
                      for j in range(before, n)]
        whole = plan(len(ACTIONS) * 4)
        crowd = asyncio.gather(*(student_session(c, st, whole, tuple(args.think), joins[st.index], until=end)
                                 for st in students))
        n_witness = max(4, int(args.step_seconds * len(steps_n) / (sum(args.think) / 2 + 1.5)))
        witnesses, wfacts = await with_witnesses(server.url, args.witnesses, n_witness, c.markers,
                                                 tuple(args.think), t0, crowd)
        rep = {"profile": "knee", "think_s": list(args.think), "steps": steps_n, "step_seconds": args.step_seconds,
               **crowd_report(students, meter, wfacts, witnesses)}
        by_step = []
        for k, n in enumerate(steps_n):
            lo, hi = t0 + k * args.step_seconds, t0 + (k + 1) * args.step_seconds
            lo_e, hi_e = time.time() - (time.monotonic() - lo), time.time() - (time.monotonic() - hi)
            xs = [s for st in students for a, s, started, _ in st.results
                  if a not in GENERATION and lo_e <= started < hi_e]
            by_step.append({"students": n, "interactions": len(xs), "p50_s": pct(xs, 0.5), "p95_s": pct(xs, 0.95),
                            "max_s": round(max(xs), 3) if xs else None})
        rep["by_step"] = by_step
        over = [b["students"] for b in by_step if b["p95_s"] is not None and b["p95_s"] > TARGET_P95_S]
        rep["knee_students"] = over[0] if over else None  # None: p95 stayed within 1 s up to the last step
        return rep
    finally:
        server.stop()


async def replicas_profile(args) -> dict:
    """``args.replicas`` counting servers behind nginx (deploy/nginx.conf): first (unless ``--no-baseline``) all
    students through nginx to ONE of them, then the same number of new students to all of them; students click
    back to back (``--think`` 0) or read. Checks that no student's requests (HTTP and websocket) ever reached two
    replicas and that a websocket reconnect resumes the same session; reports the throughput of each phase."""
    servers = list(await asyncio.gather(*(asyncio.to_thread(start_server) for _ in range(args.replicas))))
    try:
        groups = ([servers[:1]] if args.baseline and args.replicas > 1 else []) + [servers]
        phases = []
        for k, group in enumerate(groups):
            ng = devserver.start_nginx([urllib.parse.urlsplit(srv.url).netloc for srv in group])
            try:
                students = make_students(args.students, args.seed + 1000 * k, first=100 * (k + 1))
                c = make_class(ng.url, students, args.witnesses)
                meter = Meter(*group)
                start = time.monotonic() + 1.0
                steps = plan(args.interactions)
                crowd = asyncio.gather(*(student_session(c, st, steps, tuple(args.replica_think),
                                                         start + st.rng.uniform(0, 1), reconnect=True)
                                         for st in students))
                witnesses, wfacts = await with_witnesses(ng.url, args.witnesses, args.interactions, c.markers,
                                                         (1.0, 3.0), start, crowd)
                phase = {"replicas": len(group), **crowd_report(students, meter, wfacts, witnesses)}
                phase.update({
                    "students_per_replica": per_replica(st.upstreams for st in students),
                    "students_on_two_replicas": [f"{st.marker}: {sorted(st.upstreams)}" for st in students
                                                 if len(st.upstreams) > 1],
                    "students_without_upstream_header": sum(not st.upstreams for st in students),
                    "reconnects_resumed": sum(st.resumed is True for st in students),
                    "reconnects_not_resumed": [st.marker for st in students if st.resumed is False],
                    "nginx_errors": nginx_errors(ng),
                })
                phase["new_browsers_reach"] = await probe_spread(ng.url, len(group))
                phases.append(phase)
            finally:
                ng.stop()
        rep = {"profile": "replicas", "replicas": args.replicas, "students": args.students,
               "think_s": list(args.replica_think), "phases": phases,
               **{k: phases[-1][k] for k in ("errors", "crosstalk", "own_text_missing", "interaction_p50_s",
                                             "interaction_p95_s", "interaction_max_s", "interactions_done",
                                             "generation_p50_s", "generation_p95_s", "first_page_p50_s",
                                             "first_page_max_s", "max_loads_per_model", "peak_rss_mb",
                                             "server_cpu_s_per_interaction", "client_cpu_fraction",
                                             "server_run_p95_s", "interactions_per_s",
                                             "students_on_two_replicas", "students_per_replica",
                                             "reconnects_resumed", "reconnects_not_resumed", "nginx_errors",
                                             "students_without_upstream_header", "new_browsers_reach")},
               **{k: v for k, v in phases[-1].items() if k.startswith("witness")}}
        if len(phases) == 2 and phases[0]["interactions_per_s"]:
            rep["throughput_ratio"] = round(phases[1]["interactions_per_s"] / phases[0]["interactions_per_s"], 2)
        return rep
    finally:
        for srv in servers:
            srv.stop()


async def probe_spread(url: str, replicas: int, tries: int = 40) -> list[str]:
    """The replicas that fresh browsers (no cookie) reach: GET / until all ``replicas`` answered (or ``tries``)."""
    from bench.protoclient import http_get

    seen: set[str] = set()
    for _ in range(tries):
        r = await http_get(url + "/_stcore/health")
        seen.add(r.headers.get("x-upstream", "?"))
        if len(seen) >= replicas:
            break
    return sorted(seen)


async def memory_phase(server: browser_load.Server, n_texts: int, workers: int) -> dict:
    """``n_texts`` distinct ~128-token texts through /embeddings (each traced), RSS sampled after every text."""
    texts, mean_tokens = browser_load.texts_of_about(128, n_texts)
    queue, samples, errors = list(texts), [], []
    t0 = time.perf_counter()

    async def worker(i: int) -> None:
        s = ProtoSession(server.url, name=f"mem{i}", fetch_assets=False)
        try:
            try:
                await s.open("/embeddings")
            except Exception as e:  # noqa: BLE001
                errors.append(f"open: {type(e).__name__}: {first_line(e)}")
                return
            while queue:
                text = queue.pop()
                try:
                    r = await s.set("text", text, "memory_text")
                    errors.extend(r.exceptions)
                except Exception as e:  # noqa: BLE001
                    errors.append(f"{type(e).__name__}: {first_line(e)}")
                    break
                samples.append(server.rss_mb()[0])
        finally:
            await s.close()

    await asyncio.gather(*(worker(i) for i in range(workers)))
    now, peak = server.rss_mb()
    return {"texts": n_texts, "mean_tokens": round(mean_tokens, 1), "wall_s": round(time.perf_counter() - t0, 1),
            "errors": errors[:20], "error_count": len(errors),
            "rss_max_sampled_mb": round(max(samples, default=now)), "rss_end_mb": round(now), "peak_mb": round(peak)}


# ------------------------------------------------------------------------------------ class mode
# Issue 23's load: a room of students following the teacher's pushes and answering polls. The students are
# protocol sessions that do what a browser does in a room: open /class?room=CODE and press Join, keep the
# session open (the server's room watcher wakes it when the room changes: no timer in the browser), let the server
# switch their page (st.switch_page at the start of the run it woke), and answer each poll in the sidebar's form. The teacher acts on
# the store directly (classroom.store: the same calls the teacher's buttons make), so the teacher's own page costs
# nothing here and the push time is the store write's.
TARGET_PUSH_P95_S = 2.0
CLASS_PAGES = ("tokens", "next-token")  # the views pushed, in turn: a cheap page and one with a model's forward pass
POLL_OPTIONS = ("cat", "dog", "bird", "fish")


@dataclass
class Pupil:
    index: int
    name: str
    s: ProtoSession | None = None
    joined: bool = False
    seen: dict = field(default_factory=dict)  # push number -> seconds from the push to the pushed page's run done
    page_run_s: dict = field(default_factory=dict)  # push number -> the pushed page's own run (new_session -> done)
    text_shown: dict = field(default_factory=dict)  # push number -> the page's text widget showed the pushed text
    answered: dict = field(default_factory=dict)  # poll id -> the answer sent
    errors: list[str] = field(default_factory=list)
    upstreams: set = field(default_factory=set)
    auto_reruns: int = 0
    page_runs: list = field(default_factory=list)  # the session's full runs done: (time, page, query)
    finishes: list = field(default_factory=list)  # every run's end: (time, status, fragment run)


@dataclass
class Room:
    code: str
    token: str
    replicas: list = field(default_factory=list)  # behind nginx: the replicas (host:port) the students are spread on
    pushes: dict = field(default_factory=dict)  # push number -> (time.time() before the store write, path, text)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    progress: asyncio.Event = field(default_factory=asyncio.Event)  # something was seen or answered

    def saw(self, p: Pupil, s: ProtoSession, wall: float) -> None:
        """The reader's hook for every full run the student's page finished: is it a pushed view not yet seen?
        (its page and its query's text; the pushed texts are unique)"""
        params = urllib.parse.parse_qs(s.query)
        for k, (t, path, text) in self.pushes.items():
            if k not in p.seen and s.url_path == path and params.get("text", [None])[-1] == text:
                p.seen[k] = wall - t
                p.page_run_s[k] = wall - max(t, s.run_started)
                try:
                    p.text_shown[k] = s.value("text") == text
                except Exception:  # noqa: BLE001 (no text widget drawn: the view is not the pushed one)
                    p.text_shown[k] = False
                self.progress.set()


async def replica_cookie(url: str, want: str, tries: int = 200) -> dict[str, str]:
    """nginx gives each new browser a random ``tx_replica`` cookie, which picks its replica. So that the room
    spans every replica (the point of the shared store), student i is a browser whose cookie landed on replica
    i mod R: fresh cookies are drawn (GET /_stcore/health without one) until one lands there."""
    from bench.protoclient import http_get

    for _ in range(tries):
        r = await http_get(url + "/_stcore/health")
        if r.headers.get("x-upstream", "").strip() == want:
            for line in r.headers.get("set-cookie", "").split("\n"):  # Streamlit sets its own cookies too
                name, _, value = line.split(";", 1)[0].partition("=")
                if name.strip() == "tx_replica" and value:
                    return {"tx_replica": value.strip()}
    raise ProtocolError(f"no new browser reached replica {want} in {tries} tries")


def push_link(k: int, code: str) -> tuple[str, str, str]:
    """The k-th view the teacher sends: (link, page, text); its text is unique to this push and this room."""
    path = CLASS_PAGES[(k - 1) % len(CLASS_PAGES)]
    text = f"Room {code} push {k}: the little cat sat on the"
    return f"/{path}?text={urllib.parse.quote(text)}", path, text


def _push_of(query: str) -> str:
    """Which pushed view a query string is ("push K"), for the report of a student who missed one."""
    text = urllib.parse.parse_qs(query).get("text", [""])[-1]
    return text.split(":", 1)[0].split(" ", 2)[-1] if " push " in text else text[:30]


def poll_schedule(pushes: int, polls: int) -> set[int]:
    """After which pushes a poll is asked: spread over the lesson, the last one after the last push."""
    return {max(1, round((i + 1) * pushes / polls)) for i in range(min(polls, pushes))} if polls else set()


async def pupil_session(url: str, room: Room, p: Pupil, at: float, timeout: float) -> None:
    """One student: join the room, follow (the server switches the page), answer every poll once."""
    await asyncio.sleep(max(0.0, at - time.monotonic()))
    p.s = ProtoSession(url, name=p.name, timeout=timeout)
    p.s.on_page_run = lambda s, wall: room.saw(p, s, wall)
    try:
        if room.replicas:
            p.s.cookies.update(await replica_cookie(url, room.replicas[p.index % len(room.replicas)]))
        r = await p.s.open(f"/class?room={room.code}")
        p.s.fill("class_join_name", p.name)
        r = await p.s.click("Join", "class_join")
        if not any(w.key == "class_follow_toggle" for w in p.s.widgets.values()):
            raise ProtocolError(f"not in the room after Join ({r.status})")
        p.joined = True
        room.progress.set()
        while not room.done.is_set():
            if p.s._closed_reason:
                raise ProtocolError(p.s._closed_reason)
            # a poll's form on screen: its choices and its submit button (a run still drawing may have sent the
            # choices and not yet the button; a student cannot press what is not drawn)
            submit = any(w.kind == "button" and w.label == "Send my answer" for w in p.s.widgets.values())
            for w in [w for w in p.s.widgets.values() if submit and w.key.startswith("class_choice_")]:
                pid = int(w.key.rsplit("_", 1)[1])
                if pid in p.answered:
                    continue
                choice = w.proto.options[(p.index + pid) % len(w.proto.options)]
                p.s.fill(w.key, choice)
                p.answered[pid] = choice  # sent with the click below (a click that fails is an error)
                await p.s.click("Send my answer", "class_answer")
                room.progress.set()
                break  # the widgets changed with that run: look again
            else:
                p.s.page_run.clear()
                try:
                    await asyncio.wait_for(p.s.page_run.wait(), 0.5)
                except asyncio.TimeoutError:
                    pass
    except Exception as e:  # noqa: BLE001 (a failure of this student, recorded; the class goes on)
        p.errors.append(f"{type(e).__name__}: {first_line(e)}")
        room.progress.set()
    finally:
        if p.s is not None:
            p.errors += [f"exception drawn: {x}" for x in p.s.exceptions]
            p.upstreams |= p.s.upstreams
            p.auto_reruns = p.s.auto_reruns_sent
            p.page_runs, p.finishes = list(p.s.page_runs), list(p.s.finishes)
            await p.s.close()


async def wait_for(room: Room, cond: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not cond():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        room.progress.clear()
        try:
            await asyncio.wait_for(room.progress.wait(), min(left, 1.0))
        except asyncio.TimeoutError:
            pass
    return True


async def run_class(url: str, store_url: str, n: int, pushes: int, polls: int, seed: int, timeout: float,
                    gap: float, replicas: list[str] | None = None) -> dict:
    """A lesson in a new room: n students join within a second, then ``pushes`` views and ``polls`` polls."""
    from classroom import store as cs  # the app's own store (no streamlit); the teacher's calls

    store = cs.open_store(store_url)
    room_obj, token = await asyncio.to_thread(store.create_room)
    room = Room(room_obj.code, token, list(replicas or []))
    rng = random.Random(seed)
    pupils = [Pupil(i, f"pupil{i:02d}") for i in range(n)]
    start = time.monotonic() + 1.0
    crowd = asyncio.gather(*(pupil_session(url, room, p, start + rng.uniform(0, 1), timeout) for p in pupils))
    teacher_errors: list[str] = []
    teacher_view_s: list[float] = []  # the teacher's own run of each view before sending it
    poll_ids: list[int] = []
    lesson_t0 = None
    try:
        settled = lambda: all(p.joined or p.errors for p in pupils)  # noqa: E731
        if not await wait_for(room, settled, timeout):
            teacher_errors.append(f"only {sum(p.joined for p in pupils)} of {n} students joined in {timeout:.0f} s")
        joined = await asyncio.to_thread(store.student_count, room.code)
        if joined != sum(p.joined for p in pupils):
            teacher_errors.append(f"the store counts {joined} students, {sum(p.joined for p in pupils)} joined")
        ask_after = poll_schedule(pushes, polls)
        lesson_t0 = time.perf_counter()
        for k in range(1, pushes + 1):
            link, path, text = push_link(k, room.code)
            # The teacher sends the view on the teacher's screen ("Send this view to the class"), so the view has
            # run once before the push, as in a classroom: its trace and shared figures exist (on that replica).
            t_view = time.perf_counter()
            teacher = ProtoSession(url, name="teacher", fetch_assets=False, timeout=timeout)
            try:
                await teacher.open(link)
            finally:
                await teacher.close()
            teacher_view_s.append(round(time.perf_counter() - t_view, 3))
            t = time.time()
            room.pushes[k] = (t, path, text)
            seq = await asyncio.to_thread(store.push, room.code, token, link)
            if seq != k:
                teacher_errors.append(f"push {k} got sequence number {seq}")
            following = [p for p in pupils if p.joined and not p.errors]
            await wait_for(room, lambda: all(k in p.seen or p.errors for p in following), timeout)
            if k in ask_after:
                poll = await asyncio.to_thread(store.open_poll, room.code, token, "choice",
                                               f"Which word comes next? ({k})", POLL_OPTIONS)
                poll_ids.append(poll.id)
                answering = [p for p in pupils if p.joined and not p.errors]
                await wait_for(room, lambda: all(poll.id in p.answered or p.errors for p in answering), timeout)
                # answers sent reach the store with the run the click started: wait for the count, then reveal
                await wait_for(room, lambda: len(store.answers(room.code, poll.id)) >= sum(
                    poll.id in p.answered for p in pupils), min(timeout, 30))
                await asyncio.to_thread(store.reveal, room.code, token, poll.id)
            await asyncio.sleep(gap)
    except Exception as e:  # noqa: BLE001 (the teacher's failure: recorded, the students are stopped)
        teacher_errors.append(f"teacher: {type(e).__name__}: {first_line(e)}")
    finally:
        lesson_s = time.perf_counter() - lesson_t0 if lesson_t0 else None
        room.done.set()
        await crowd
    sent = {pid: Counter(p.answered[pid] for p in pupils if pid in p.answered) for pid in poll_ids}
    counted = {pid: Counter(store.answers(room.code, pid).values()) for pid in poll_ids}
    lat = [s for p in pupils for s in p.seen.values()]
    missed = [f"{p.name}: push {k}" for p in pupils if p.joined for k in range(1, pushes + 1) if k not in p.seen]
    # what a student whose screen did not switch saw instead: its full runs and run ends after that push
    missed_detail = {}
    for p in pupils:
        for k in [k for k in range(1, pushes + 1) if p.joined and k not in p.seen and k in room.pushes][:1]:
            t0 = room.pushes[k][0]
            missed_detail[f"{p.name}: push {k}"] = {
                "page_runs": [(round(t - t0, 2), path, _push_of(q)) for t, path, q in p.page_runs if t >= t0][:6],
                "last_page_run_before": next(((round(t - t0, 2), path) for t, path, q in reversed(p.page_runs)
                                              if t < t0), None),
                "finishes": [(round(t - t0, 2), st, frag) for t, st, frag in p.finishes if t >= t0 - 1][:12]}
    rep = {
        "students": n, "joined": sum(p.joined for p in pupils), "pushes": pushes, "polls": len(poll_ids),
        "push_views_seen": len(lat), "push_views_expected": sum(p.joined for p in pupils) * pushes,
        "push_missed": missed[:50], "push_missed_count": len(missed), "push_missed_detail": missed_detail,
        "push_p50_s": pct(lat, 0.5), "push_p95_s": pct(lat, 0.95), "push_max_s": round(max(lat), 3) if lat else None,
        # where the time goes: the switched page's own run; the rest is the watcher's tick (up to 0.2 s), the run
        # it wakes up to its switch, and the queue before the page's run starts
        "push_page_run_p50_s": pct([x for p in pupils for x in p.page_run_s.values()], 0.5),
        "push_page_run_p95_s": pct([x for p in pupils for x in p.page_run_s.values()], 0.95),
        "push_p95_by_push_s": [pct([p.seen[k] for p in pupils if k in p.seen], 0.95) for k in range(1, pushes + 1)],
        "pushed_text_not_shown": [f"{p.name}: push {k}" for p in pupils for k, ok in p.text_shown.items() if not ok],
        "answers_sent": sum(sum(c.values()) for c in sent.values()),
        "answers_counted": sum(sum(c.values()) for c in counted.values()),
        "answers_exact": all(sent[pid] == counted[pid] for pid in poll_ids) and len(poll_ids) == min(polls, pushes),
        "answer_mismatches": [f"poll {pid}: sent {dict(sent[pid])}, counted {dict(counted[pid])}"
                              for pid in poll_ids if sent[pid] != counted[pid]],
        "auto_reruns_sent": sum(p.auto_reruns for p in pupils),
        "teacher_view_s": teacher_view_s,
        "lesson_s": round(lesson_s, 1) if lesson_s else None,
        "errors": teacher_errors + [f"{p.name}: {e}" for p in pupils for e in p.errors],
        "crosstalk": [], "own_text_missing": [],
    }
    rep["students_per_replica"] = per_replica(p.upstreams for p in pupils)
    rep["students_on_two_replicas"] = [p.name for p in pupils if len(p.upstreams) > 1]
    close = getattr(store, "close", None)
    if close:
        close()
    return rep


def start_class_server(store_url: str) -> browser_load.Server:
    server = devserver.start(["-m", "bench.load", "--serve"], kind=browser_load.Server, env={"TX_CLASS_STORE": store_url},
                             warm=True)
    STARTED.append(server)
    return server


async def class_mode_profile(args, replicas: int) -> dict:
    """``replicas`` == 1: one server with the SQLite store (a file in a new temporary directory); otherwise that
    many servers behind nginx (deploy/nginx.conf) sharing a redis-server started on a loopback port."""
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="tx-class-load-"))
    redis = devserver.start_redis() if replicas > 1 else None
    store_url = redis.url if redis else f"sqlite://{tmp / 'class.db'}"
    servers: list = []
    ng = None
    try:
        servers = list(await asyncio.gather(*(asyncio.to_thread(start_class_server, store_url)
                                              for _ in range(replicas))))
        if replicas > 1:
            ng = devserver.start_nginx([urllib.parse.urlsplit(srv.url).netloc for srv in servers])
        url = ng.url if ng else servers[0].url
        meter = Meter(*servers)
        n = args.class_students if replicas == 1 else args.class_replica_students
        rep = await run_class(url, store_url, n, args.pushes, args.polls, args.seed, args.class_timeout,
                              args.push_gap, [urllib.parse.urlsplit(srv.url).netloc for srv in servers] if ng else None)
        m = meter.read(max(1, rep["push_views_seen"] + rep["answers_sent"]))
        rep.update(profile="class" if replicas == 1 else "class-replicas", replicas=replicas,
                   store="sqlite" if replicas == 1 else "redis", server_cpu_s=m["server_cpu_s"],
                   server_cpu_fraction=m["server_cpu_fraction"], client_cpu_fraction=m["client_cpu_fraction"],
                   machine_busy_fraction=m["machine_busy_fraction"], wall_s=m["wall_s"],
                   peak_rss_mb=round(max(srv.rss_mb()[1] for srv in servers)))
        if ng is not None:
            rep["nginx_errors"] = nginx_errors(ng)
        return rep
    finally:
        if ng is not None:
            ng.stop()
        for srv in servers:
            srv.stop()
        if redis is not None:
            redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def class_rows(name: str, r: dict) -> list[tuple[str, float | None, str, float | None]]:
    rows = [(f"{name}/push_p50", r["push_p50_s"], "s", None),
            (f"{name}/push_p95", r["push_p95_s"], "s", TARGET_PUSH_P95_S),
            (f"{name}/push_max", r["push_max_s"], "s", None),
            (f"{name}/push_missed", r["push_missed_count"], "count", 0),
            (f"{name}/answers_sent", r["answers_sent"], "count", None),
            (f"{name}/answers_counted", r["answers_counted"], "count", None),
            (f"{name}/answers_not_exact", 0 if r["answers_exact"] else 1, "count", 0),
            (f"{name}/errors", len(r["errors"]), "count", 0),
            (f"{name}/server_cpu_fraction", r["server_cpu_fraction"], "ratio", None),
            (f"{name}/client_cpu_fraction", r["client_cpu_fraction"], "ratio", TARGET_CLIENT_CPU),
            (f"{name}/peak_rss", r["peak_rss_mb"], "MB", TARGET_RSS_MB)]
    if r["replicas"] > 1:
        rows.append((f"{name}/students_on_two_replicas", len(r["students_on_two_replicas"]), "count", 0))
    return rows


# ----------------------------------------------------------------------------------------- report
def pct(values: list[float], q: float) -> float | None:
    v = browser_load.pct([x for x in values if x is not None], q)
    return None if v is None else round(v, 4)


def first_line(e: BaseException) -> str:
    return (str(e).splitlines() or [type(e).__name__])[0][:200]


def crowd_report(students: list[Student], meter: Meter, wfacts: dict, witnesses: list) -> dict:
    """What every crowd profile reports (one server or replicas): the students' numbers (:func:`summarise`),
    the witnesses' browser facts and their own latencies."""
    return {**summarise(students, meter), **wfacts, **witness_report(witnesses)}


def per_replica(upstreams: Iterable[set[str]]) -> dict[str, int]:
    """How many students (or pupils) each replica served, from each one's set of upstreams."""
    return dict(Counter(u for ups in upstreams for u in ups))


def nginx_errors(ng) -> list[str]:
    """The first error lines of nginx's log (error, crit, emerg)."""
    return [line for line in ng.error_log().splitlines()
            if "[error]" in line or "[crit]" in line or "[emerg]" in line][:10]


def rows_of(name: str, r: dict) -> list[tuple[str, float | None, str, float | None]]:
    """The results.json rows of one profile's report (target None: reported, not a target)."""
    reading = r["profile"] == "reading"
    rows = [
        (f"{name}/interaction_p50", r["interaction_p50_s"], "s", None),
        (f"{name}/interaction_p95", r["interaction_p95_s"], "s", TARGET_P95_S if reading else None),
        (f"{name}/interaction_max", r["interaction_max_s"], "s", None),
        (f"{name}/interactions_done", r["interactions_done"], "count", None),
        (f"{name}/generation_p50", r["generation_p50_s"], "s", None),
        (f"{name}/generation_p95", r["generation_p95_s"], "s", None),
        (f"{name}/first_page_p50", r["first_page_p50_s"], "s", None),
        (f"{name}/first_page_max", r["first_page_max_s"], "s", TARGET_COLD_S if r["profile"] == "cold" else None),
        (f"{name}/errors", len(r["errors"]), "count", 0),
        (f"{name}/crosstalk", len(r["crosstalk"]), "count", 0),
        (f"{name}/own_text_missing", len(r["own_text_missing"]), "count", 0),
        (f"{name}/max_loads_per_model", r["max_loads_per_model"], "count", 1),
        (f"{name}/peak_rss", r["peak_rss_mb"], "MB", TARGET_RSS_MB),
        (f"{name}/server_cpu_per_interaction", r["server_cpu_s_per_interaction"], "s", None),
        (f"{name}/client_cpu_fraction", r["client_cpu_fraction"], "ratio", TARGET_CLIENT_CPU),
        (f"{name}/server_run_p95", r["server_run_p95_s"], "s", None),
        (f"{name}/witness_p95", r.get("witness_p95_s"), "s", None),
        (f"{name}/witness_errors", len(r.get("witness_errors", [])), "count", 0),
        (f"{name}/witness_crosstalk", len(r.get("witness_crosstalk", [])), "count", 0),
    ]
    if r["profile"] == "generate":
        rows += [(f"{name}/generation_alone", r["alone_median_s"], "s", None),
                 (f"{name}/burst_max_over_alone", r["burst_max_over_alone"], "ratio", TARGET_GEN_RATIO)]
    if r["profile"] == "knee":
        rows += [(f"{name}/knee_students", r["knee_students"], "students", None)]
        rows += [(f"{name}/p95_at_{b['students']}", b["p95_s"], "s", None) for b in r["by_step"]]
    if r["profile"] == "replicas":
        rows += [(f"{name}/students_on_two_replicas", len(r["students_on_two_replicas"]), "count", 0),
                 (f"{name}/reconnects_not_resumed", len(r["reconnects_not_resumed"]), "count", 0),
                 (f"{name}/interactions_per_s", r["interactions_per_s"], "1/s", None),
                 (f"{name}/throughput_ratio_vs_one", r.get("throughput_ratio"), "ratio", None)]
    if "memory" in r:
        m = r["memory"]
        rows += [(f"load/proto/memory_{m['texts']}_texts/rss_max", m["rss_max_sampled_mb"], "MB", TARGET_RSS_MB),
                 (f"load/proto/memory_{m['texts']}_texts/errors", m["error_count"], "count", 0)]
    return rows


def section_name(args, r: dict) -> str:
    p = r["profile"]
    if p == "reading":
        lo, hi = r["think_s"]
        return f"load/proto/{r['students']}_students_reading_{lo:g}-{hi:g}s"
    if p == "back-to-back":
        return f"load/proto/{r['students']}_students_back_to_back"
    if p == "cold":
        return f"load/proto/{r['students']}_students_cold_open"
    if p == "generate":
        return f"load/proto/{r['students']}_students_generate_{r['tokens']}"
    if p == "replicas":
        return f"load/proto/{r['replicas']}_replicas_nginx_{r['students']}_students"
    if p == "class":
        return f"load/class_{r['students']}"
    if p == "class-replicas":
        return f"load/class_{r['students']}_{r['replicas']}_replicas_redis"
    return f"load/proto/knee_{r['steps'][-1]}_students"


PROFILES = ("reading", "back-to-back", "cold", "generate", "knee", "replicas", "class", "class-replicas")


async def run_profile(args, profile: str) -> dict:
    if profile == "reading":
        return await class_profile(args, tuple(args.think), "reading")
    if profile == "back-to-back":
        return await class_profile(args, (0.0, 0.0), "back-to-back", memory=args.texts)
    if profile == "cold":
        return await cold_profile(args)
    if profile == "generate":
        return await generate_profile(args)
    if profile == "replicas":
        return await replicas_profile(args)
    if profile == "class":
        return await class_mode_profile(args, 1)
    if profile == "class-replicas":
        return await class_mode_profile(args, args.replicas)
    return await knee_profile(args)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", action="append", choices=PROFILES, help="repeatable; default: all")
    ap.add_argument("--students", type=int, default=30)
    ap.add_argument("--interactions", type=int, default=20)
    ap.add_argument("--think", type=browser_load.think_range, default=(4.0, 12.0), metavar="MIN-MAX")
    ap.add_argument("--witnesses", type=int, default=2, help="real Chromium tabs beside the students")
    ap.add_argument("--texts", type=int, default=300, help="the memory phase (after back-to-back); 0: none")
    ap.add_argument("--memory-workers", type=int, default=6)
    ap.add_argument("--knee-steps", default="10,20,30,40,50,60,70,80,90,100")
    ap.add_argument("--step-seconds", type=float, default=60.0)
    ap.add_argument("--replicas", type=int, default=2, help="replicas profile: serve.py processes behind nginx")
    ap.add_argument("--replica-students", type=int, default=60)
    ap.add_argument("--replica-think", type=browser_load.think_range, default=(0.0, 0.0), metavar="MIN-MAX",
                    help="replicas profile: the students' pace (default back to back: throughput)")
    ap.add_argument("--no-baseline", dest="baseline", action="store_false",
                    help="replicas profile: skip the phase with one replica behind nginx")
    ap.add_argument("--class-students", type=int, default=30, help="class profile: students in the room")
    ap.add_argument("--class-replica-students", type=int, default=30,
                    help="class-replicas profile: students in the room, across the replicas")
    ap.add_argument("--pushes", type=int, default=10, help="class profiles: views the teacher sends")
    ap.add_argument("--polls", type=int, default=5, help="class profiles: polls the students answer")
    ap.add_argument("--push-gap", type=float, default=2.0,
                    help="class profiles: seconds between a push (or poll) done and the next push")
    ap.add_argument("--class-timeout", type=float, default=60.0,
                    help="class profiles: how long the teacher waits for every student (a push not seen by then "
                         "is missed)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path, help="also write the reports (a list) to this file")
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # stop the servers, nginx and browsers (finally blocks) on TERM too
    missed, reports = [], []
    for profile in args.profile or PROFILES:
        pargs = args if profile != "replicas" else argparse.Namespace(**{**vars(args),
                                                                          "students": args.replica_students})
        at_start = machine()
        STARTED.clear()
        report = asyncio.run(run_profile(pargs, profile))
        if report["errors"]:
            report["server_logs"] = [str(srv.log) for srv in STARTED]
        else:
            for srv in STARTED:
                srv.log.unlink(missing_ok=True)
        name = section_name(pargs, report)
        rows = class_rows(name, report) if profile.startswith("class") else rows_of(name, report)
        notes = {k: v for k, v in report.items() if k not in ("errors", "crosstalk", "own_text_missing")}
        notes.update(errors=report["errors"][:20], crosstalk=report["crosstalk"][:20],
                     own_text_missing=report["own_text_missing"][:20], load_average_at_start=at_start["load_average"])
        if not args.no_record:
            record_section(name, notes, rows)
        print(name, json.dumps(notes, indent=2, default=str), flush=True)
        reports.append({"name": name, **report})
        if args.json:
            args.json.write_text(json.dumps(reports, indent=2, default=str))
        missed += [n for n, v, _, target in rows if target is not None and v is not None and v > target]
    print("targets missed: " + ", ".join(missed) if missed else "all targets met")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
