"""One layer of attention weights fetched by the browser over HTTP, without a script run: the heatmap component's
layer slider at any length.

The rule and its reason: the heatmap component (components/attention_redraw.py) redraws in the browser what it
was sent; at 512 tokens that is one layer of SmolLM2 (9 heads, 9 MiB of float32), and any other layer cost a whole
fragment run that builds, hashes and sends the next 9 MiB through the websocket (about half a second; the target is
150 ms). Here the page registers the trace it shows (:func:`register`: a weak reference to its attention array and
the view's transform, under an unguessable handle), and the component GETs ``{base}/_tx/attention/{handle}/{layer}``
for another layer: the event loop answers with the layer's float32 bytes, sliced off the event loop, in one send.
Nothing is kept alive for the browser: when the trace cache drops the trace, the handle answers 404 and the
component falls back to the round trip, as it does where this route is not installed (`streamlit run` without
serve.py, development mode, AppTest).

Only ``GET``/``HEAD`` of exactly that path shape are answered here; everything else goes to the app unchanged.
"""
from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

import numpy as np

from serving.static_assets import ASGIApp, Receive, Scope, Send

ROUTE = "_tx/attention"
PATH = re.compile(r"([0-9a-f]{32})/([0-9]{1,4})")  # {handle}/{layer} after the route's prefix
MAX_ENTRIES = 256  # registered views kept (a weak reference, a transform and a mask flag each: a few hundred bytes)
CONCURRENT = 4  # layer copies made at once (each up to 16 MiB)
_SECRET = secrets.token_bytes(32)  # handles are unguessable and never valid in another process


@dataclass(frozen=True)
class _View:
    attentions: weakref.ref  # -> np.ndarray [L, H, T, T]
    transform: Callable[[np.ndarray], np.ndarray] | None  # [1, H, T, T] -> [1, H, S, S] (word level), or None
    size: int  # S
    causal: bool  # a decoder's future (the strict upper triangle) is masked: 0 by construction, not sent


_views: OrderedDict[str, _View] = OrderedDict()
_lock = threading.Lock()
installed = False  # set by serve.py when it puts :class:`AttentionLayers` in front of the app


def handle_for(identity: str) -> str:
    """The handle of a view: a keyed hash of what identifies its weights (the payload's data id), so the same view
    gets the same handle on every rerun (the component's arguments stay identical) and no one can guess one."""
    return hashlib.blake2b(identity.encode(), key=_SECRET, digest_size=16).hexdigest()


def is_causal(masked: np.ndarray | None, size: int) -> bool:
    """Whether ``masked`` [size, size] is nothing (None) or a decoder's future, the strict upper triangle: the only
    mask whose cells a layer can leave out (the browser puts them back from the mask it was sent)."""
    return masked is None or np.array_equal(np.asarray(masked, bool), np.triu(np.ones((size, size), bool), 1))


def register(identity: str, attentions: np.ndarray, transform: Callable[[np.ndarray], np.ndarray] | None,
             size: int, masked: np.ndarray | None = None) -> str:
    """Make every layer of ``attentions`` [L, H, T, T] fetchable (after ``transform``: [H, size, size] float32 per
    layer, without the cells of a causal ``masked`` [size, size], which the browser knows from the mask it was
    sent); returns the handle. Holds only a weak reference to the array."""
    handle = handle_for(identity)
    causal = masked is not None and np.asarray(masked).any()
    if causal and not is_causal(masked, size):
        raise ValueError("only a causal mask (the strict upper triangle) is left out of a layer")
    with _lock:
        _views[handle] = _View(weakref.ref(attentions), transform, int(size), bool(causal))
        _views.move_to_end(handle)
        while len(_views) > MAX_ENTRIES:
            _views.popitem(last=False)
    return handle


def layer_bytes(handle: str, layer: int) -> bytes | None:
    """Layer ``layer``'s weights of a registered view as float32 little-endian bytes, [H, S, S] or, with a mask,
    [H, cells kept] in row-major order (half the bytes for a decoder); None for an unknown handle, a trace the
    cache has dropped or a layer out of range."""
    with _lock:
        view = _views.get(handle)
    a = view.attentions() if view is not None else None
    if a is None or not 0 <= layer < a.shape[0]:
        return None
    block = a[layer][None]  # [1, H, T, T]
    if view.transform is not None:
        block = view.transform(block)
    block = block[0] if not view.causal else block[0][:, np.tri(view.size, dtype=bool)]  # [H, S, S] or [H, kept]
    return np.ascontiguousarray(block, dtype="<f4").tobytes()


class AttentionLayers:
    """The ASGI layer: ``AttentionLayers(app, base_url)`` answers ``GET {base}/_tx/attention/{handle}/{layer}``."""

    def __init__(self, app: ASGIApp, base_url: str = "") -> None:
        self.app = app
        base = base_url.strip("/")
        self.prefix = f"/{base}/{ROUTE}/" if base else f"/{ROUTE}/"
        self.busy: asyncio.Semaphore | None = None  # made on the event loop, at the first request

    def parse(self, scope: Scope) -> tuple[str, int] | None:
        if scope["type"] != "http" or scope.get("method") not in ("GET", "HEAD"):
            return None
        path = scope.get("path", "")
        if not path.startswith(self.prefix):
            return None
        asked = PATH.fullmatch(path[len(self.prefix):])  # ASCII hex and digits only
        return None if asked is None else (asked.group(1), int(asked.group(2)))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        asked = self.parse(scope)
        if asked is None:
            await self.app(scope, receive, send)
            return
        if self.busy is None:
            self.busy = asyncio.Semaphore(CONCURRENT)
        async with self.busy:  # a copy of up to 16 MiB each, off the event loop; a few at a time
            body = await asyncio.to_thread(layer_bytes, *asked)
        status, headers = 200, [(b"content-type", b"application/octet-stream")]
        if body is None:
            status, body, headers = 404, b"gone: ask the page", [(b"content-type", b"text/plain; charset=utf-8")]
        headers += [(b"cache-control", b"no-store"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


def registered() -> int:
    """How many views are registered (for tests and the bench)."""
    with _lock:
        return len(_views)


def _forget_all() -> None:  # tests
    with _lock:
        _views.clear()

