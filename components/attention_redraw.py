"""The per-head attention heatmap, redrawn in the browser when the layer or head changes.

A Streamlit slider costs a server round trip per move (fragment rerun + a new figure JSON: 0.6-0.7 s p95 here);
this custom component sends the attention of many heads at once and its own layer/head sliders redraw the
heatmap in the browser: Plotly.js draws the figure's frame (title, token axes, colour bar, zoom, the camera button)
and the component colours the cells onto a canvas over the plot area, with the figure's own colour scale and hover
texts (redraw.js says why). What it sends (:func:`payload`):

* every layer and head when their float32 weights fit :data:`BUDGET_BYTES`; else, within
  :data:`LAYER_BUDGET_BYTES`, the "cross" through the current head: every head of the current layer and the
  current head in every layer (both sliders move in the browser; after a head change the page re-centres the
  cross in the background), else every head of the current layer, else the current head only (a layer or head
  outside what was sent costs one round trip);
* where serve.py installed serving/attention_layers.py, not every layer fits and one layer does
  (:func:`fetchable`), no weights are sent at all: the browser fetches each layer it shows over HTTP (and the
  layers next to it, ahead of the slider), with no script run, by a handle in the arguments (scope "fetch");
* the exact float32 weights (not rounded: hover shows the model's number), as raw bytes (a binary component
  argument, no JSON text), and the mask as one byte per cell;
* the figure of the current head built by :func:`components.attention_plots.attention_heatmap` with its
  weights left out, as a template: same colours, mask layer, hover texts and escaped labels.

The frontend (``attention_redraw_frontend/``: ``index.html`` and ``redraw.js``, no build step) speaks
Streamlit's component protocol itself (postMessage: ``streamlit:componentReady``, ``streamlit:render``,
``streamlit:setComponentValue``, ``streamlit:setFrameHeight``). Plotly.js comes from the installed ``plotly``
Python package (``package_data/plotly.min.js``, the version its figure JSON is written for): that folder is
registered as a second component, so Streamlit's own component route serves the file; nothing is copied into
this repository and nothing is fetched from the internet.

The component reports ``{"layer": l, "head": h, "seq": n, "src": frame id}`` (after the browser has redrawn; ``seq`` counts the
reports, see :func:`newest`); the page stores it and writes it to the URL. With ``address`` the browser also
writes the layer/head into the address bar itself on every redraw, and puts them back if a rerun that started
before the last move wrote older numbers there (the address is always the view on screen). Everything between Python and the browser (``selection``, ``pairs``, the reported value) is
a 0-based (block, head) INDEX; the browser SHOWS numbers (layers 1..L, heads 1..H, models/numbering.py): its
sliders run from 1, and ``{layer}``/``{head}`` in the title and the loading text become index + 1. The selection sent in the arguments changes only when it changes from outside the
component (a link, another view), so a rerun caused by the component itself leaves the arguments identical
(Streamlit's message cache then sends a reference instead of the bytes) and never moves the sliders back.
"""
from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from models.numbering import number
from serving import attention_layers

FRONTEND = Path(__file__).parent / "attention_redraw_frontend"
BUDGET_BYTES = 4 * 2**20  # float32 weights of every layer and head at once (4 MiB: SmolLM2 up to 62 tokens)
# every head of one layer (9 MiB for SmolLM2 at 512 tokens, 12 MiB for MiniLM): heads switch in the browser at any
# length. Sending one head instead would make every head change a server round trip with the whole layer's
# weights computed again (`python -m bench.run --only attention` times both kinds of change).
LAYER_BUDGET_BYTES = 16 * 2**20
COMPONENT = "attention_heatmap"
PLOTLY_COMPONENT = "plotlyjs"  # the plotly package's package_data folder, served by Streamlit's component route
SCOPES = ("model", "cross", "layer", "head", "fetch")  # "fetch": no weights sent, the browser fetches them


@dataclass(frozen=True)
class Payload:
    """Attention weights for the browser: ``data`` is float32 little-endian [len(pairs), T, T], one [T, T] block per
    (layer, head) of ``pairs``, in that order."""

    scope: str  # "model" (every layer and head), "cross", "layer" (every head of one layer), "head", or "fetch"
    layers: list[int]  # the layers and heads that occur in ``pairs``
    heads: list[int]
    n_tokens: int
    data: bytes
    mask: bytes | None  # uint8 [T, T], 1 = the query may not see that key (decoders), None = nothing masked
    pairs: list[tuple[int, int]]

    @property
    def data_id(self) -> str:
        """Identity of the weights sent (the browser decodes a payload once)."""
        h = hashlib.blake2b(self.data, digest_size=12)
        h.update(self.mask or b"")
        h.update(json.dumps([self.pairs, self.n_tokens]).encode())
        return h.hexdigest()

    def weights(self, layer: int, head: int) -> np.ndarray:
        """[T, T] the weights of (layer, head) as the browser decodes them (KeyError if not sent)."""
        T = self.n_tokens
        a = np.frombuffer(self.data, dtype="<f4").reshape(len(self.pairs), T, T)
        if (layer, head) not in self.pairs:
            raise KeyError((layer, head))
        return a[self.pairs.index((layer, head))]



def payload(attentions: np.ndarray, layer: int, head: int, masked: np.ndarray | None = None,
            budget: int = BUDGET_BYTES, transform: Callable[[np.ndarray], np.ndarray] | None = None,
            size: int | None = None, layer_budget: int = LAYER_BUDGET_BYTES) -> Payload:
    """The widest scope whose float32 weights fit: all layers × heads within ``budget`` bytes; else, within
    ``layer_budget``, the cross (every head of ``layer`` and ``head`` in every layer), else every head of
    ``layer``; else only (``layer``, ``head``). ``attentions`` [L, H, T, T]; ``masked`` [S, S] bool or None.
    ``transform`` maps the chosen [l, h, T, T] block to what is drawn, [l, h, S, S] (word level: S words;
    ``size`` = S), applied after the block is chosen so only the heads sent are transformed."""
    a = np.asarray(attentions)
    L, H, T, _ = a.shape
    if not (0 <= layer < L and 0 <= head < H):
        raise IndexError(f"layer {layer} / head {head} outside {L} layers × {H} heads")
    T = size or T
    per_head = T * T * 4
    if L * H * per_head <= budget:
        scope, pairs = "model", [(lyr, h) for lyr in range(L) for h in range(H)]
    elif L > 1 and H > 1 and (L + H - 1) * per_head <= layer_budget:
        scope, pairs = "cross", [(layer, h) for h in range(H)] + [(lyr, head) for lyr in range(L) if lyr != layer]
    elif H * per_head <= layer_budget:
        scope, pairs = "layer", [(layer, h) for h in range(H)]
    else:
        scope, pairs = "head", [(layer, head)]
    block = a[[lyr for lyr, _ in pairs], [h for _, h in pairs]][None]  # [1, N, T, T]
    if transform is not None:
        block = transform(block)
        if block.shape[-2:] != (T, T):
            raise ValueError(f"transform gave {block.shape[-2:]}, expected {(T, T)} (pass size=)")
    data = np.ascontiguousarray(block, dtype="<f4").tobytes()  # exact float32 (the trace's dtype)
    layers, heads = sorted({lyr for lyr, _ in pairs}), sorted({h for _, h in pairs})
    return Payload(scope, layers, heads, T, data, mask_bytes(masked), pairs)


def mask_bytes(masked: np.ndarray | None) -> bytes | None:
    """The mask as the browser reads it: uint8 [S, S], 1 = masked; None when nothing is masked."""
    if masked is None or not np.asarray(masked).any():
        return None
    return np.ascontiguousarray(masked, dtype=np.uint8).tobytes()


def fetchable(n_layers: int, n_heads: int, size: int, budget: int = BUDGET_BYTES,
              layer_budget: int = LAYER_BUDGET_BYTES) -> bool:
    """Whether the browser fetches the layers it was not sent (serving/attention_layers.py): where that route is
    installed, not every layer was sent (:func:`payload`'s "model" scope), and one layer's heads fit
    ``layer_budget``."""
    per_layer = n_heads * size * size * 4
    return attention_layers.installed and n_layers * per_layer > budget and per_layer <= layer_budget


def template(fig, title: str | None = None) -> dict:
    """The figure as JSON with the weights of its first trace (and the mask layer's cells) taken out: the
    browser fills them in for the head it shows. ``title``: the title template (so that the arguments stay
    the same whichever head is shown)."""
    import plotly.io as pio

    spec = fig.to_dict()  # the weights are taken out before the JSON is written, not after (at 512 tokens: 2 × 262k)
    for trace in spec["data"][:2]:
        trace.pop("z", None)
    spec = json.loads(pio.to_json(spec, validate=False))
    if title is not None:
        spec["layout"]["title"]["text"] = title_template(title)
    return spec


def title_template(title: str) -> str:
    """A title with ``{layer}`` and ``{head}`` placeholders, escaped as attention_heatmap escapes titles (the
    browser substitutes the numbers)."""
    from components.plots import plotly_text

    return plotly_text(title)


# -------------------------------------------------------------------------------------------- streamlit
_DECLARED: dict = {}
_DECLARE_LOCK = threading.Lock()


def declared_once(name: str, declare: Callable[[], Any]) -> Any:
    """``declare()`` (a lambda calling declare_component in the component's own module, whose name names the
    component) once per server process, under a lock. Its registry belongs to the runtime, so once is enough; and
    declare_component finds its caller's module with inspect.getmodule, which is not thread-safe: sessions that
    render at the same moment (a class following a push) made it fail ("module is None"). Without a server
    (AppTest) every call declares."""
    from streamlit import runtime

    key = (id(runtime.get_instance()), name) if runtime.exists() else None
    with _DECLARE_LOCK:
        if key is None:
            return declare()
        if key not in _DECLARED:
            _DECLARED[key] = declare()
        return _DECLARED[key]


def _components():
    """Declare (register) the component and the folder that serves plotly.min.js (once per process)."""
    import importlib.util

    import streamlit.components.v1 as components

    spec = importlib.util.find_spec("plotly")
    plotly_dir = Path(spec.submodule_search_locations[0]) / "package_data"
    declared_once(PLOTLY_COMPONENT, lambda: components.declare_component(PLOTLY_COMPONENT, path=str(plotly_dir)))
    return declared_once(COMPONENT, lambda: components.declare_component(COMPONENT, path=str(FRONTEND)))


def _keys(key: str) -> tuple[str, str]:
    return key, f"_{key}_sent_selection"


def chosen(key: str) -> tuple[int, int] | None:
    """The (layer, head) the component last reported, or None."""
    import streamlit as st

    value = st.session_state.get(key)
    if isinstance(value, dict) and isinstance(value.get("layer"), int) and isinstance(value.get("head"), int):
        return value["layer"], value["head"]
    return None


def newest(key: str) -> tuple[int, int] | None:
    """Like :func:`chosen`, for an ``on_change`` callback: None when the report is older than one already taken.
    The browser numbers its reports (``seq``); last write wins, so a late report can never move the page (and its
    URL) back to a head the chart no longer shows."""
    import streamlit as st

    value, picked = st.session_state.get(key), chosen(key)
    if picked is None:
        return None
    report = (str(value.get("src", "")), value.get("seq") if isinstance(value.get("seq"), int) else 0)
    last_key = f"_{key}_seq"
    if not is_newer(report, st.session_state.get(last_key)):
        return None
    st.session_state[last_key] = report
    return picked


def is_newer(report: tuple[str, int], last: tuple[str, int] | None) -> bool:
    """Whether a report (frame id, number) comes after ``last``: a later number from the same frame, or any report
    from another frame (the component was drawn again: its numbers start from 1). Unnumbered reports always pass."""
    if last is None or not report[1] or report[0] != last[0]:
        return True
    return report[1] > last[1]


def heatmap(attentions: np.ndarray, fig, *, layer: int, head: int, title: str, masked: np.ndarray | None,
            key: str, strings: dict[str, str], head_labels: list[str] | None = None,
            on_change: Callable[[], None] | None = None, config: dict | None = None,
            budget: int = BUDGET_BYTES, layer_budget: int = LAYER_BUDGET_BYTES,
            transform: Callable[[np.ndarray], np.ndarray] | None = None,
            address: dict[str, tuple[str, int]] | None = None, fetch: bool = True, view_id: str = "") -> None:
    """Show the heatmap component. ``fig`` is attention_heatmap's figure of (layer, head) (the look: its first
    trace's colour scale over a fixed zmin..zmax colours the cells; reversescale and zmid are not read);
    ``title`` its title with ``{layer}``/``{head}`` placeholders (unescaped; escaped here); ``strings``
    the translated words of the controls (``layer``, ``head``, ``loading``, ``layer_help``, ``head_help``, and
    ``download``: the camera button's tooltip, ``preparing`` and ``download_failed``: what it says while it makes
    the image and if that fails);
    ``layer``, ``head``: 0-based indices; ``head_labels``: what the head slider shows for each index (default:
    the head numbers, 1..H);
    ``on_change`` runs when the user picks another layer or head (read it with :func:`chosen`);
    ``transform`` as in :func:`payload` (the figure's size is taken from ``fig``);
    ``address``: ``{"layer": (param, default number), "head": (param, default number)}``: the URL parameters
    that hold the page's layer/head NUMBERS. The browser then writes them into the address bar itself
    (``history.replaceState`` on the app's window, same origin) whenever it redraws, so the address is the view
    on screen at once, not after the server's rerun; a default number is left out, as :func:`state.write_back`
    does. ``fetch``: let the browser fetch layers where it can (:func:`fetchable`); ``view_id``: what the weights
    are of (model, text, level), part of the handle the browser fetches them with."""
    import streamlit as st

    component = _components()
    L, H = attentions.shape[:2]
    size = len(fig.data[0].y)
    key, sent_key = _keys(key)
    # The selection in the arguments changes only when it came from outside the component.
    if chosen(key) != (layer, head) or sent_key not in st.session_state:
        st.session_state[sent_key] = [int(layer), int(head)]
    # Where the browser can fetch any layer itself (serving/attention_layers.py), the arguments carry no weights, only
    # the handle: a move in the browser then reruns the page with the same small arguments while the browser
    # fetches the layer. If a fetch failed (the trace was dropped meanwhile), the browser says so ("nofetch") and
    # gets the weights in the arguments, as without the route.
    report = st.session_state.get(key)
    fetch = fetch and attention_layers.is_causal(masked, size) and fetchable(L, H, size, budget, layer_budget) and not (
        isinstance(report, dict) and report.get("nofetch"))
    look = template(fig, title)
    if fetch:  # no weights in the arguments: the browser fetches every layer it shows
        identity = json.dumps([view_id, id(attentions), list(attentions.shape), size, transform is not None, look])
        handle = attention_layers.register(identity, attentions, transform, size, masked)
        p = Payload("fetch", [], [], size, b"", mask_bytes(masked), [])
        data_id = handle
    else:
        p = payload(attentions, layer, head, masked, budget, transform, size=size, layer_budget=layer_budget)
        handle, data_id = None, p.data_id
    height = int(fig.layout.height or 500)
    component(
        data=p.data, mask=p.mask, data_id=data_id, scope=p.scope, pairs=[list(x) for x in p.pairs],
        n_tokens=p.n_tokens, fetch=handle, fetch_route=attention_layers.ROUTE,
        n_layers=int(L), n_heads=int(H), selection=st.session_state[sent_key], figure=look,
        title=title_template(title), strings=strings, head_labels=head_labels or [str(number(h)) for h in range(H)],
        config=config or {}, plot_height=height,
        address={k: [str(v[0]), int(v[1])] for k, v in (address or {}).items()},
        key=key, default=None, on_change=on_change,
    )
