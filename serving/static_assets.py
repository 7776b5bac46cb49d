"""Streamlit's frontend files answered from memory, gzipped once: an ASGI layer that `serve.py` puts in front of
Streamlit's own app.

The rule and its reason: before a browser opens the websocket it loads ~60 files of Streamlit's frontend (2.2 MB
for the first page, more as charts load their chunks). Streamlit 1.67 sends them uncompressed through Starlette's
``StaticFiles``, which reads every 64 KB chunk on a worker thread: in a class that opens the link at once, on a
server that is still loading its models, those reads queue for the interpreter lock behind the warm-up and the
first page runs. The files never change while the server runs (the wheel is pinned and every bundle's name
carries its content hash), so each one is read and compressed once, on a worker thread, and every later request
is answered by the event loop in one send: the body a browser accepts (gzip where it says so and where it saves
at least a tenth), the cache headers Streamlit gives it, an ETag and ``304 Not Modified`` for a revalidation.

Only GET and HEAD of a file that exists under the frontend's ``static/`` folder, with the same URL prefix Streamlit
serves it under, are answered here; everything else (pages, index.html, the websocket, ``/_stcore/...``,
component files, media) goes to Streamlit unchanged, and so does a client that does not accept gzip for a file
that is worth compressing.
"""
from __future__ import annotations

import asyncio
import gzip
import hashlib
import mimetypes
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# what Streamlit sends for its hashed bundles (starlette_static_routes._apply_cache_headers, 1.67)
IMMUTABLE = b"public, immutable, max-age=31536000"
WORTH = 0.9  # gzip only where it saves at least a tenth (fonts and images are compressed already)
LEVEL = 6  # zlib's default: within a few percent of level 9's size at a fraction of its time


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bool
    content_type: bytes
    etag: bytes


def read_asset(path: Path) -> Asset:
    """One file as it is answered: compressed when that is worth it, with its content type and a strong ETag."""
    raw = path.read_bytes()
    kind, _ = mimetypes.guess_type(path.name)
    kind = kind or "text/plain"
    if kind.startswith("text/"):  # as Starlette's FileResponse says it
        kind += "; charset=utf-8"
    digest = hashlib.sha1(raw).hexdigest()[:20]
    packed = gzip.compress(raw, LEVEL, mtime=0)  # one zlib call, which gives the interpreter lock back meanwhile
    if len(packed) <= WORTH * len(raw):
        return Asset(packed, True, kind.encode(), f'"{digest}-gz"'.encode())
    return Asset(raw, False, kind.encode(), f'"{digest}"'.encode())


def accepts_gzip(value: bytes) -> bool:
    """Accept-Encoding allows gzip: listed by name, or by ``*``, with a q-value above 0 (RFC 9110, 12.5.3)."""
    q: dict[str, float] = {}
    for part in value.decode("latin-1").lower().split(","):
        name, *params = [s.strip() for s in part.split(";")]
        weight = next((p[2:] for p in params if p.startswith("q=")), "1")
        try:
            q[name] = float(weight)
        except ValueError:
            q[name] = 0.0
    return q.get("gzip", q.get("*", 0.0)) > 0


class StaticAssets:
    """The ASGI layer: ``StaticAssets(app, static_root, base_url)``; ``static_root`` is the folder Streamlit serves
    at its root (the one holding ``index.html`` and ``static/``)."""

    def __init__(self, app: ASGIApp, static_root: str | os.PathLike, base_url: str = "") -> None:
        self.app = app
        root = Path(static_root).resolve()
        base = base_url.strip("/")
        self.prefix = f"/{base}/static/" if base else "/static/"
        # the names that may be answered here, listed once: a request can only match one of these exactly, so no
        # path it carries ever reaches the file system
        self.files = {p.relative_to(root / "static").as_posix(): p
                      for p in (root / "static").rglob("*") if p.is_file()}
        self.assets: dict[str, asyncio.Future[Asset]] = {}  # the reads, done or under way

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = self._name(scope)
        if name is None:
            await self.app(scope, receive, send)
            return
        asset = await self._asset(name)
        if asset.gzipped and not accepts_gzip(header(scope, b"accept-encoding")):
            await self.app(scope, receive, with_vary(send))  # a cache must not hand this copy to a gzip client
            return
        meta = [(b"cache-control", IMMUTABLE), (b"etag", asset.etag), (b"vary", b"Accept-Encoding")]
        if etag_matches(header(scope, b"if-none-match"), asset.etag):  # a 304 repeats only these (RFC 9110, 15.4.5)
            await send({"type": "http.response.start", "status": 304, "headers": meta})
            await send({"type": "http.response.body", "body": b""})
            return
        out = [(b"content-type", asset.content_type), *meta, (b"content-length", str(len(asset.body)).encode())]
        if asset.gzipped:
            out.append((b"content-encoding", b"gzip"))
        await send({"type": "http.response.start", "status": 200, "headers": out})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else asset.body})

    def _name(self, scope: Scope) -> str | None:
        if scope["type"] != "http" or scope.get("method") not in ("GET", "HEAD"):
            return None
        path = scope.get("path", "")
        if not path.startswith(self.prefix):
            return None
        name = path[len(self.prefix):]
        return name if name in self.files else None

    async def _asset(self, name: str) -> Asset:
        """Read and compress a file once, off the event loop (zlib gives the interpreter lock back while it works).
        The read belongs to the layer, not to the request that started it: the requests that arrive meanwhile
        wait for the same task, and a request that is cancelled (its client gone) cancels only its own wait."""
        task = self.assets.get(name)
        if task is None:
            task = self.assets[name] = asyncio.ensure_future(asyncio.to_thread(read_asset, self.files[name]))
            task.add_done_callback(lambda done: self._forget_if_failed(name, done))
        return await asyncio.shield(task)

    def _forget_if_failed(self, name: str, task: asyncio.Future[Asset]) -> None:
        if task.cancelled() or task.exception() is not None:  # its waiters got the error; the next request reads
            if self.assets.get(name) is task:                 # the file again
                del self.assets[name]


def header(scope: Scope, name: bytes) -> bytes:
    """A request header's value, repeated lines joined as one list (RFC 9110, 5.3); ASGI names are lower case."""
    return b", ".join(v for k, v in scope.get("headers") or [] if k == name)


def etag_matches(if_none_match: bytes, etag: bytes) -> bool:
    """If-None-Match by weak comparison (RFC 9110, 13.1.2): ``*``, or the tag with or without ``W/``."""
    tags = [t.strip() for t in if_none_match.split(b",")]
    return b"*" in tags or etag in [t[2:] if t.startswith(b"W/") else t for t in tags]


def with_vary(send: Send) -> Send:
    """``send`` with ``Vary: Accept-Encoding`` added to the response's headers."""
    async def wrapped(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"vary", b"Accept-Encoding")]}
        await send(message)
    return wrapped
