"""A Streamlit client without a browser: it speaks the app's own websocket protocol, so one process can play a
whole class of students beside the server on this machine (a Chromium tab costs ~1.5 CPU-s per interaction; this
client costs a few milliseconds).

What it does is what Streamlit 1.67's frontend does (read from the wheel's static JS and checked against the
frames Chromium sends, see bench/protocheck.py):

* opening a link: GET the page (index.html) and the scripts and styles it preloads, /_stcore/health and
  /_stcore/host-config, then the websocket ``/_stcore/stream`` (subprotocol ``streamlit``) and a first
  ``BackMsg.rerun_script`` with the URL's raw query string, ``page_name`` = the URL path (no page hash yet) and
  empty widget states;
* reading ``ForwardMsg``s: ``new_session`` (session id, main script hash), ``navigation`` (the pages' hashes and
  the current page), ``page_info_changed`` (the query string the app wrote), ``delta``s (the element tree, keyed
  by delta path; every widget's id, kind, default and fragment), ``script_finished`` (stale elements are dropped
  as the frontend's clearStaleNodes does, and with them their widgets' states), ``ref_hash`` (a cached message:
  the client keeps the frontend's ForwardMsg cache and reports its hashes in every rerun, so the server sends
  what it would send a browser);
* changing a widget: a ``rerun_script`` with the states of all widgets on screen (each widget's current value,
  the changed one new; a button as ``trigger_value`` for that one message; a custom component's reported value as
  ``json_value``), the current query string and page hash, and the widget's ``fragment_id`` when it lives in a
  fragment (then only the fragment reruns);
* changing page (the sidebar's navigation): the page's hash, an empty query string and only the widgets of the
  main script (app.py's sidebar), as the frontend's onPageChange does;
* a fragment with ``run_every`` (``st.fragment(run_every=...)``): the server sends ``auto_rerun`` (interval,
  fragment id) in each run that draws it; the frontend's handleAutoRerun starts a timer (setInterval; the same
  interval for the same fragment keeps the running timer) that sends a ``rerun_script`` with that fragment id,
  ``is_auto_rerun`` and all widget states, whether or not a run is going on; ``stop_auto_rerun`` stops the named
  timers, and a full run's ``new_session`` (no fragment ids) or a page change stops all of them (cleanupAutoReruns),
  the run then starting them again. This client does the same (``auto_rerun=True``, the default);
* a page switch made by the server (``st.switch_page``, e.g. in such a fragment): a new full run arrives unasked,
  with ``navigation`` (the new page's hash) and ``page_info_changed`` (its query string); every full run that
  finishes is appended to ``page_runs`` (time, page, query) and announced to ``on_page_run`` and ``page_run``;
* a form (``st.form``): its widgets' changes stay in the browser (``fill``) until the submit button is pressed;
* timing: from just before the BackMsg is sent to the ``script_finished`` of that run (a run that ends
  ``FINISHED_EARLY_FOR_RERUN``, i.e. ``st.rerun()``, continues into the next one).

Cross-talk: each session may carry a marker word (in its text); every frame it receives is searched for the
other sessions' markers (bytes; a hit is recorded), and each full run is checked to contain its own marker.

    python -m bench.protoclient http://127.0.0.1:8501 "/tokens?text=hello"     # open, print the widgets
"""
from __future__ import annotations

import asyncio
import gzip
import json
import re
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Iterable

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

DONE = {ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY,
        ForwardMsg.FINISHED_WITH_COMPILE_ERROR}
EARLY = ForwardMsg.FINISHED_EARLY_FOR_RERUN
DEFAULT_TIMEOUT_S = 180.0
BROWSER_CONNECTIONS = 6  # parallel HTTP/1.1 connections a browser opens to one host
CONTEXT = dict(timezone="UTC", timezone_offset=0, locale="en-US", is_embedded=False, color_scheme="light")


class ProtocolError(RuntimeError):
    """The server closed the session, sent an unexpected message, or a run did not finish in time."""


# ------------------------------------------------------------------------------------------- HTTP
@dataclass
class HttpResult:
    status: int
    headers: dict[str, str]  # lower-case names; repeated ones joined by "\n"
    body: bytes


async def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 60) -> HttpResult:
    """One HTTP/1.1 GET (Connection: close) on a raw socket: no client library, a few hundred microseconds of
    CPU. Accepts gzip like a browser and keeps the body as sent (compressed), since only its size matters here."""
    u = urllib.parse.urlsplit(url)
    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    reader, writer = await asyncio.wait_for(asyncio.open_connection(u.hostname, u.port or 80), timeout)
    try:
        lines = [f"GET {path} HTTP/1.1", f"Host: {u.netloc}", "Connection: close", "Accept: */*",
                 "Accept-Encoding: gzip, deflate", "User-Agent: tx-protoclient"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout)  # until the server closes
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    hdrs: dict[str, str] = {}
    for line in header_lines:
        k, _, v = line.partition(":")
        k = k.strip().lower()
        hdrs[k] = f"{hdrs[k]}\n{v.strip()}" if k in hdrs else v.strip()
    if "chunked" in hdrs.get("transfer-encoding", ""):
        body = _dechunk(body)
    return HttpResult(int(status_line.split()[1]), hdrs, body)


def _dechunk(data: bytes) -> bytes:
    out, i = bytearray(), 0
    while i < len(data):
        j = data.find(b"\r\n", i)
        size = int(data[i:j].split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += data[j + 2:j + 2 + size]
        i = j + 2 + size + 2
    return bytes(out)


ASSET = re.compile(rb'(?:href|src)="\./(static/[^"]+)"')


# ------------------------------------------------------------------------------------ the session
@dataclass
class Widget:
    id: str
    kind: str  # the Element oneof: text_area, slider, selectbox, radio, button_group, button, ...
    label: str
    fragment_id: str  # "" outside a fragment
    script_hash: str  # active_script_hash of the delta: the main script's (sidebar) or the page's
    proto: Any  # the element's message, for its options

    @property
    def key(self) -> str:
        """The user key Streamlit put in the id ("$$ID-<hash>-<key>"; "None" when the widget has none)."""
        parts = self.id.split("-", 2)
        return parts[2] if len(parts) == 3 else self.id


@dataclass
class Node:
    run_id: str
    fragment_id: str
    script_hash: str
    widget: str | None  # the widget id drawn at this path, if any


@dataclass
class RunResult:
    """One interaction as the client saw it."""
    action: str
    seconds: float  # BackMsg sent -> script_finished of the run (the last one, across st.rerun())
    first_frame_s: float | None  # BackMsg sent -> first ForwardMsg of the reply
    frames: int
    bytes: int
    runs: int  # script_finished messages (1 + the st.rerun()s)
    status: str
    fragment: bool
    exceptions: list[str] = field(default_factory=list)  # st.exception elements drawn (the app's errors)
    own_marker_seen: bool = True
    http_s: float = 0.0  # opening a link: the page and its assets (already in ``seconds``)
    http_bytes: int = 0
    upstreams: set[str] = field(default_factory=set)  # X-Upstream header values seen (behind nginx)


class ProtoSession:
    """One student's browser tab, as far as the server can tell."""

    def __init__(self, base_url: str, *, marker: str = "", others: Iterable[str] = (), fetch_assets: bool = True,
                 message_cache: bool = True, timeout: float = DEFAULT_TIMEOUT_S, name: str = "",
                 auto_rerun: bool = True):
        self.base_url = base_url.rstrip("/")
        self.marker = marker.encode()
        others = [m for m in others if m and m != marker]
        self._others = re.compile(b"|".join(re.escape(m.encode()) for m in others)) if others else None
        self.fetch_assets = fetch_assets
        self.message_cache = message_cache
        self.timeout = timeout
        self.name = name or marker
        self.cookies: dict[str, str] = {}
        self.upstreams: set[str] = set()  # every X-Upstream value seen (HTTP and the websocket's handshake)
        self.ws = None
        self.ws_upstream: str | None = None  # X-Upstream of the websocket's handshake (behind nginx)
        self.session_id = ""
        self.main_script_hash = ""
        self.page_hash = ""
        self.pages: dict[str, str] = {}  # url_pathname ("" = the default page) -> page_script_hash
        self.url_path = ""
        self.query = ""
        self.run_id = ""
        self.run_fragments: list[str] = []
        self.nodes: dict[tuple[int, ...], Node] = {}
        self.widgets: dict[str, Widget] = {}
        self.values: dict[str, tuple[str, Any]] = {}  # widget id -> (WidgetState field, value)
        self.cache: dict[str, list] = {}  # ForwardMsg hash -> [message bytes, run count when stored/used, fragment]
        self.cache_runs = 0
        self.max_cache_age = 2
        self.crosstalk: list[str] = []
        self.errors: list[str] = []
        self.frames_total = 0
        self.bytes_total = 0
        self._reader: asyncio.Task | None = None
        self._finished: asyncio.Queue = asyncio.Queue()
        self._run_frames = 0
        self._run_bytes = 0
        self._run_first: float | None = None
        self._run_exceptions: list[str] = []
        self._run_marker = False
        self._closed_reason: str | None = None
        self.auto_rerun = auto_rerun
        self._auto: dict[str, tuple[float, asyncio.Task]] = {}  # fragment id -> (interval, its timer)
        self.auto_reruns_sent = 0
        self.run_started = 0.0  # time.time() of the latest full run's new_session
        self.finishes: list[tuple[float, str, bool]] = []  # (time.time(), status, fragment run) of every run
        self.exceptions: list[str] = []  # every st.exception drawn in this session (runs asked for or not)
        self.pending: dict[str, tuple[str, Any]] = {}  # form widgets changed, not submitted yet
        self.page_runs: list[tuple[float, str, str]] = []  # (time.time(), url path, query) of every full run done
        self.page_run = asyncio.Event()  # set when a full run finished (the waiter clears it)
        self.on_page_run = None  # callable(session, time.time()) called by the reader as a full run finishes

    # ------------------------------------------------------------------------------- connection
    def _cookie_header(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}

    def _take_headers(self, headers) -> None:
        items = headers.raw_items() if hasattr(headers, "raw_items") else headers.items()
        for k, v in items:
            k = k.lower()
            for value in str(v).split("\n"):
                if k == "set-cookie":
                    name, _, rest = value.partition("=")
                    self.cookies[name.strip()] = rest.split(";", 1)[0].strip()
                elif k == "x-upstream":
                    self.upstreams.add(value.strip())

    async def _get(self, path: str) -> HttpResult:
        r = await http_get(self.base_url + path, self._cookie_header(), self.timeout)
        self._take_headers(r.headers)
        return r

    async def _fetch_page(self, path_and_query: str) -> tuple[int, str | None]:
        """The page and what a browser loads before it opens the websocket; returns (bytes, error)."""
        page = await self._get(path_and_query)
        if page.status != 200:
            return len(page.body), f"GET {path_and_query}: HTTP {page.status}"
        total = len(page.body)
        html = gzip.decompress(page.body) if page.headers.get("content-encoding") == "gzip" else page.body
        assets = [f"/{m.decode()}" for m in ASSET.findall(html)]
        gate = asyncio.Semaphore(BROWSER_CONNECTIONS)

        async def one(path: str) -> int:
            async with gate:
                r = await self._get(path)
                if r.status >= 400:
                    raise ProtocolError(f"GET {path}: HTTP {r.status}")
                return len(r.body)

        sizes = await asyncio.gather(*(one(p) for p in [*dict.fromkeys(assets), "/_stcore/health",
                                                          "/_stcore/host-config"]))
        return total + sum(sizes), None

    async def open(self, path_and_query: str) -> RunResult:
        """Open a link (e.g. ``/tokens?text=...``): the page's HTTP requests, the websocket, the first run."""
        t0 = time.perf_counter()
        http_bytes, http_s = 0, 0.0
        if self.fetch_assets:
            http_bytes, err = await self._fetch_page(path_and_query)
            http_s = time.perf_counter() - t0
            if err:
                raise ProtocolError(err)
        u = urllib.parse.urlsplit(path_and_query)
        self.url_path = u.path.strip("/")
        self.query = u.query
        await self._connect(["streamlit"])
        msg = self._rerun(page_name=self.url_path, widgets=[])
        result = await self._exchange("open", msg, t0=t0)
        result.http_s, result.http_bytes = http_s, http_bytes
        return result

    async def _connect(self, subprotocols: list[str]) -> None:
        ws_url = "ws" + self.base_url[4:] + "/_stcore/stream"
        self._closed_reason = None
        self._finished = asyncio.Queue()
        self.ws = await asyncio.wait_for(websockets.connect(
            ws_url, subprotocols=subprotocols, max_size=None, open_timeout=self.timeout, ping_interval=None,
            additional_headers={"Origin": self.base_url, **self._cookie_header()}), self.timeout)
        self._take_headers(self.ws.response.headers)
        self.ws_upstream = self.ws.response.headers.get("X-Upstream")
        self._reader = asyncio.create_task(self._read(), name=f"read-{self.name}")

    async def reconnect(self) -> RunResult:
        """Drop the websocket and open a new one as the frontend does after a network blip: its subprotocol
        header names the session to resume (``streamlit, <xsrf>, <session id>``), then it reruns the page with
        its widget states. The same replica still holds the session (server.disconnectedSessionTTL, 120 s), so
        ``session_id`` stays the same; a fresh session elsewhere gets a new id."""
        old = self.session_id
        await self.close()
        await self._connect(["streamlit", self.cookies.get("_streamlit_xsrf", "tx"), old])
        return await self._exchange("reconnect", self._rerun(widgets=self._states()))

    async def close(self) -> None:
        self._stop_auto()
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):
                pass

    # ---------------------------------------------------------------------------------- reading
    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                if isinstance(frame, str):
                    raise ProtocolError(f"text frame from the server: {frame[:200]}")
                self._on_frame(frame)
        except websockets.ConnectionClosed as e:
            self._closed_reason = f"websocket closed: {e}"
        except Exception as e:  # a bug here must not hang the session: report it to the waiting interaction
            self._closed_reason = f"reader: {type(e).__name__}: {e}"
        finally:
            self._finished.put_nowait(None)

    def _on_frame(self, frame: bytes) -> None:
        now = time.perf_counter()
        self.frames_total += 1
        self.bytes_total += len(frame)
        self._run_frames += 1
        self._run_bytes += len(frame)
        if self._run_first is None:
            self._run_first = now
        if self._others is not None:
            for m in set(self._others.findall(frame)):
                self.crosstalk.append(f"{self.name} received {m.decode()}")
        if self.marker and self.marker in frame:
            self._run_marker = True
        msg = ForwardMsg()
        msg.ParseFromString(frame)
        kind = msg.WhichOneof("type")
        if kind == "ref_hash":
            cached = self.cache.get(msg.ref_hash)
            if cached is None:
                raise ProtocolError(f"cached ForwardMsg miss {msg.ref_hash}")
            cached[1] = self.cache_runs
            full = ForwardMsg()
            full.ParseFromString(cached[0])
            full.metadata.CopyFrom(msg.metadata)
            if self.marker and self.marker in cached[0]:
                self._run_marker = True
            msg, kind = full, full.WhichOneof("type")
        elif self.message_cache and msg.metadata.cacheable and msg.hash and msg.hash not in self.cache:
            self.cache[msg.hash] = [frame, self.cache_runs, msg.delta.fragment_id if kind == "delta" else ""]
        if kind == "new_session":
            ns = msg.new_session
            self.session_id = ns.initialize.session_id
            self.main_script_hash = ns.main_script_hash
            self.max_cache_age = ns.config.max_cached_message_age or self.max_cache_age
            self.run_id = msg.metadata.run.script_run_id
            self.run_fragments = list(msg.metadata.run.fragment_ids)
            if not self.run_fragments:
                self.run_started = time.time()  # a full run began (asked for or not: a page switch)
                self._stop_auto()  # the frontend's cleanupAutoReruns: this full run starts its timers again
        elif kind == "auto_rerun":
            if self.auto_rerun and msg.auto_rerun.fragment_id:
                self._start_auto(msg.auto_rerun.fragment_id, msg.auto_rerun.interval)
        elif kind == "stop_auto_rerun":
            self._stop_auto(list(msg.stop_auto_rerun.fragment_ids))
        elif kind == "navigation":
            nav = msg.navigation
            self.pages = {p.url_pathname: p.page_script_hash for p in nav.app_pages}
            self.page_hash = nav.page_script_hash
            self.url_path = next((p.url_pathname for p in nav.app_pages
                                  if p.page_script_hash == nav.page_script_hash), self.url_path)
        elif kind == "page_info_changed":
            self.query = msg.page_info_changed.query_string
        elif kind == "delta":
            self._on_delta(msg)
        elif kind == "page_not_found":
            self._run_exceptions.append(f"page not found: {msg.page_not_found.page_name}")
        elif kind == "script_finished":
            status = msg.script_finished
            if status in DONE:
                self._clear_stale()
            if status != EARLY and self.message_cache:
                self._age_cache()
            if status == ForwardMsg.FINISHED_SUCCESSFULLY and not self.run_fragments:
                wall = time.time()
                self.page_runs.append((wall, self.url_path, self.query))
                if self.on_page_run is not None:
                    self.on_page_run(self, wall)
                self.page_run.set()
            self.finishes.append((time.time(), ForwardMsg.ScriptFinishedStatus.Name(status), bool(self.run_fragments)))
            self._finished.put_nowait((now, status))

    def _on_delta(self, msg: ForwardMsg) -> None:
        d = msg.delta
        path = tuple(msg.metadata.delta_path)
        which = d.WhichOneof("type")
        widget_id = None
        if which == "new_element":
            el = d.new_element
            kind = el.WhichOneof("type")
            if kind == "exception":
                self._run_exceptions.append(f"{el.exception.type}: {el.exception.message}"[:300])
                self.exceptions.append(self._run_exceptions[-1])
            proto = getattr(el, kind) if kind else None
            widget_id = getattr(proto, "id", "") or None if proto is not None else None
            if widget_id and kind in WIDGET_KINDS:
                w = Widget(widget_id, kind, getattr(proto, "label", ""), d.fragment_id,
                           msg.metadata.active_script_hash, proto)
                self.widgets[widget_id] = w
                initial = initial_value(w)
                if initial is not None and (widget_id not in self.values or getattr(proto, "set_value", False)):
                    self.values[widget_id] = initial
            elif widget_id:  # a button, a chart with selections, a custom component: no state until used
                self.widgets[widget_id] = Widget(widget_id, kind, getattr(proto, "label", ""), d.fragment_id,
                                                 msg.metadata.active_script_hash, proto)
        elif which == "new_transient":
            return
        self.nodes[path] = Node(self.run_id, d.fragment_id, msg.metadata.active_script_hash, widget_id)

    def _clear_stale(self) -> None:
        """Drop what this run did not draw (the frontend's clearStaleNodes), then the states of widgets gone."""
        frags = set(self.run_fragments)
        if frags:
            stale = [p for p, n in self.nodes.items() if n.fragment_id in frags and n.run_id != self.run_id]
        else:
            stale = [p for p, n in self.nodes.items() if n.run_id != self.run_id]
        for p in stale:
            del self.nodes[p]
        self._drop_inactive()

    def _drop_inactive(self) -> None:
        active = {n.widget for n in self.nodes.values() if n.widget}
        for wid in [w for w in self.widgets if w not in active]:
            del self.widgets[wid]
            self.values.pop(wid, None)

    def _age_cache(self) -> None:
        self.cache_runs += 1
        frags = set(self.run_fragments)
        for h, (_, runs, frag) in list(self.cache.items()):
            if frags and (not frag or frag not in frags):
                continue
            if self.cache_runs - runs > self.max_cache_age:
                del self.cache[h]

    # ------------------------------------------------------------------------------ auto reruns
    def _start_auto(self, fragment_id: str, interval: float) -> None:
        """handleAutoRerun: a timer for this fragment (kept as it is when the interval is the same)."""
        old = self._auto.get(fragment_id)
        if old is not None and old[0] == interval:
            return
        self._stop_auto([fragment_id])
        self._auto[fragment_id] = (interval, asyncio.get_running_loop().create_task(
            self._auto_timer(fragment_id, interval), name=f"auto-{self.name}-{fragment_id[:8]}"))

    def _stop_auto(self, fragment_ids: list[str] | None = None) -> None:
        for fid in list(self._auto) if fragment_ids is None else fragment_ids:
            entry = self._auto.pop(fid, None)
            if entry is not None:
                entry[1].cancel()

    async def _auto_timer(self, fragment_id: str, interval: float) -> None:
        """setInterval: a rerun of the fragment every ``interval`` seconds from now (not from the last reply)."""
        start, k = time.perf_counter(), 0
        while self.ws is not None and self._closed_reason is None:
            k += 1
            await asyncio.sleep(max(0.0, start + k * max(interval, 0.05) - time.perf_counter()))
            msg = self._rerun(widgets=self._states(), fragment_id=fragment_id, auto=True)
            try:
                await self.ws.send(msg.SerializeToString())
            except websockets.ConnectionClosed:
                return
            self.auto_reruns_sent += 1

    # ---------------------------------------------------------------------------------- writing
    def _rerun(self, *, widgets: list[WidgetState], page_name: str = "", fragment_id: str = "",
               page_hash: str | None = None, query: str | None = None, auto: bool = False) -> BackMsg:
        msg = BackMsg()
        rr = msg.rerun_script
        rr.query_string = self.query if query is None else query
        rr.widget_states.widgets.extend(widgets)
        rr.page_script_hash = self.page_hash if page_hash is None else page_hash
        if page_name:
            rr.page_name = page_name
        if fragment_id:
            rr.fragment_id = fragment_id
        if auto:
            rr.is_auto_rerun = True
        if self.message_cache:
            rr.cached_message_hashes.extend(self.cache)
        ci = rr.context_info
        for k, v in CONTEXT.items():
            setattr(ci, k, v)
        ci.url = f"{self.base_url}/{self.url_path}"
        return msg

    def _states(self, only: set[str] | None = None, trigger: str | None = None) -> list[WidgetState]:
        out = []
        for wid, (fieldname, value) in self.values.items():
            if only is not None and wid not in only:
                continue
            out.append(make_state(wid, fieldname, value))
        if trigger is not None:
            out.append(make_state(trigger, "trigger_value", True))
        return out

    async def _exchange(self, action: str, msg: BackMsg, t0: float | None = None,
                        fragment: bool = False) -> RunResult:
        while not self._finished.empty():  # anything left from an earlier run (an auto rerun) is not ours
            self._finished.get_nowait()
        self._run_frames = self._run_bytes = 0
        self._run_first, self._run_exceptions, self._run_marker = None, [], False
        if self._closed_reason:
            raise ProtocolError(self._closed_reason)
        sent = time.perf_counter()
        t0 = sent if t0 is None else t0
        self.last_sent = msg
        await self.ws.send(msg.SerializeToString())
        runs, deadline = 0, sent + self.timeout
        while True:
            try:
                item = await asyncio.wait_for(self._finished.get(), max(0.01, deadline - time.perf_counter()))
            except asyncio.TimeoutError:
                raise ProtocolError(f"{action}: no script_finished within {self.timeout:.0f} s") from None
            if item is None:
                raise ProtocolError(f"{action}: {self._closed_reason}")
            at, status = item
            if status == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY and not fragment:
                continue  # an auto rerun of a fragment (its timer), not the run this change started
            runs += 1
            if status != EARLY:
                break
        return RunResult(action, at - t0, None if self._run_first is None else self._run_first - sent,
                         self._run_frames, self._run_bytes, runs, ForwardMsg.ScriptFinishedStatus.Name(status),
                         fragment, list(self._run_exceptions),
                         own_marker_seen=(not self.marker) or self._run_marker or fragment,
                         upstreams=set(self.upstreams))

    # ------------------------------------------------------------------------------ interactions
    def widget(self, key: str, kind: str | None = None) -> Widget:
        """The widget on screen with this user key (or, failing that, this label)."""
        found = [w for w in self.widgets.values() if w.key == key and (kind is None or w.kind == kind)]
        found = found or [w for w in self.widgets.values() if w.label == key and (kind is None or w.kind == kind)]
        if not found:
            raise ProtocolError(f"no widget {key!r} on {self.url_path or 'home'} "
                                f"(widgets: {sorted(w.key for w in self.widgets.values())})")
        return found[-1]

    def value(self, key: str) -> Any:
        return self.values.get(self.widget(key).id, (None, None))[1]

    async def set(self, key: str, value: Any, action: str | None = None) -> RunResult:
        """Set a widget's value the way its frontend component does, and wait for the run it starts."""
        w = self.widget(key)
        state = encode_value(w, value)
        self.values[w.id] = state
        msg = self._rerun(widgets=self._states(), fragment_id=w.fragment_id)
        return await self._exchange(action or f"set:{key}", msg, fragment=bool(w.fragment_id))

    def fill(self, key: str, value: Any) -> None:
        """Change a widget inside a form: the frontend keeps the value until the form's submit button is pressed
        (nothing is sent now; :meth:`click` on the submit button sends it)."""
        w = self.widget(key)
        self.pending[w.id] = encode_value(w, value)

    async def click(self, key: str, action: str | None = None) -> RunResult:
        """Press a button (a trigger: true in this one message only); a form's submit button also sends the
        values :meth:`fill` kept."""
        w = self.widget(key)
        self.values.update(self.pending)
        self.pending = {}
        msg = self._rerun(widgets=self._states(trigger=w.id), fragment_id=w.fragment_id)
        return await self._exchange(action or f"click:{key}", msg, fragment=bool(w.fragment_id))

    async def goto(self, url_path: str, action: str | None = None) -> RunResult:
        """Follow the sidebar's link to a page: its hash, no query string, only the main script's widgets."""
        url_path = url_path.strip("/")
        if url_path not in self.pages:
            raise ProtocolError(f"no page {url_path!r} (pages: {sorted(self.pages)})")
        self._stop_auto()  # onPageChange: cleanupAutoReruns
        keep = {p: n for p, n in self.nodes.items() if n.script_hash == self.main_script_hash}
        self.nodes = keep  # the frontend's clearPageElements
        self._drop_inactive()
        context_path = self.url_path
        msg = self._rerun(widgets=self._states(), page_hash=self.pages[url_path], query="")
        msg.rerun_script.context_info.url = f"{self.base_url}/{context_path}"
        return await self._exchange(action or f"goto:{url_path}", msg)

    async def rerun(self, action: str = "rerun") -> RunResult:
        """What pressing R does: the same page again with the same widget states."""
        return await self._exchange(action, self._rerun(widgets=self._states()))


WIDGET_KINDS = {"text_area", "text_input", "selectbox", "radio", "slider", "checkbox", "button_group",
                "number_input", "multiselect"}


def initial_value(w: Widget) -> tuple[str, Any] | None:
    """The state the frontend registers when it draws the widget: the server's value when it set one
    (``set_value``), else the default; None when the widget has no value yet (e.g. an empty selectbox)."""
    p, k = w.proto, w.kind
    if k in ("text_area", "text_input"):
        if p.set_value and p.HasField("value"):
            return "string_value", p.value
        return ("string_value", p.default) if p.HasField("default") else None
    if k in ("selectbox", "radio"):
        if p.set_value:
            return ("string_value", p.raw_value) if p.HasField("raw_value") else None
        if p.HasField("default") and 0 <= p.default < len(p.options):
            return "string_value", p.options[p.default]
        return None
    if k == "slider":
        return "double_array_value", list(p.value if p.set_value else p.default)
    if k == "checkbox":
        return "bool_value", bool(p.value if p.set_value else p.default)
    if k == "button_group":
        if p.set_value:
            return "string_array_value", list(p.raw_values)
        return "string_array_value", [p.options[i].content for i in p.default if 0 <= i < len(p.options)]
    if k == "number_input":
        cast = int if p.data_type == p.DataType.INT else float
        field_name = "int_value" if cast is int else "double_value"
        if p.set_value and p.HasField("value"):
            return field_name, cast(p.value)
        return (field_name, cast(p.default)) if p.HasField("default") else None
    if k == "multiselect":
        if p.set_value:
            return "string_array_value", list(p.raw_values)
        return "string_array_value", [p.options[i] for i in p.default if 0 <= i < len(p.options)]
    return None


def encode_value(w: Widget, value: Any) -> tuple[str, Any]:
    """A Python value as the widget's state: a selectbox/radio option by label or index, a slider's number
    (or pair), a segmented control's option(s) by label, a number input's number, a text, a bool."""
    p, k = w.proto, w.kind
    if k in ("text_area", "text_input"):
        return "string_value", str(value)
    if k in ("selectbox", "radio"):
        if isinstance(value, int) and not isinstance(value, bool):
            value = p.options[value]
        if value not in p.options and not getattr(p, "accept_new_options", False):
            raise ProtocolError(f"{w.key}: {value!r} is not an option ({list(p.options)})")
        return "string_value", value
    if k == "slider":
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        return "double_array_value", [float(v) for v in values]
    if k == "checkbox":
        return "bool_value", bool(value)
    if k == "button_group":
        labels = [o.content for o in p.options]
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        values = [labels[v] if isinstance(v, int) else v for v in values]
        missing = [v for v in values if v not in labels]
        if missing:
            raise ProtocolError(f"{w.key}: {missing} not among {labels}")
        return "string_array_value", values
    if k == "number_input":
        return ("int_value", int(value)) if p.data_type == p.DataType.INT else ("double_value", float(value))
    if k == "multiselect":
        return "string_array_value", [p.options[v] if isinstance(v, int) else v for v in value]
    if k == "component_instance":  # a custom component's Streamlit.setComponentValue(x) with a JSON value
        return "json_value", js_json(value)
    raise ProtocolError(f"{w.key}: setting a {k} is not supported")


def js_json(value: Any) -> str:
    """JSON as the browser's JSON.stringify writes it: no spaces, whole floats without ".0" (JS has one number
    type), keys in insertion order."""
    def js(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, dict):
            return {k: js(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [js(x) for x in v]
        return v
    return json.dumps(js(value), separators=(",", ":"), ensure_ascii=False)


def make_state(widget_id: str, fieldname: str, value: Any) -> WidgetState:
    s = WidgetState(id=widget_id)
    if fieldname == "double_array_value":
        s.double_array_value.data.extend(value)
    elif fieldname == "string_array_value":
        s.string_array_value.data.extend(value)
    else:
        setattr(s, fieldname, value)
    return s


# ------------------------------------------------------------------------------------------ demo
async def _demo(base_url: str, path: str) -> None:
    s = ProtoSession(base_url)
    r = await s.open(path)
    print(f"opened {path} in {r.seconds:.3f} s (HTTP {r.http_s:.3f} s, {r.http_bytes:,} B; {r.frames} frames, "
          f"{r.bytes:,} B), status {r.status}, session {s.session_id}")
    for w in s.widgets.values():
        print(f"  {w.kind:14s} {w.key:24s} {s.values.get(w.id)} {'fragment ' + w.fragment_id if w.fragment_id else ''}")
    print("pages:", sorted(s.pages), "query:", s.query)
    await s.close()


if __name__ == "__main__":
    asyncio.run(_demo(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "/"))
