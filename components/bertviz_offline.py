"""BertViz's head view and model view, drawn by bertviz's own JavaScript, with no network and a small payload.

bertviz 1.4.1 returns HTML whose scripts load require.js, d3 and jQuery from a CDN: offline the views stay
blank. Here the same views are built from files inside installed Python packages, read at run time:

* ``head_view.js`` / ``model_view.js`` from the ``bertviz`` package (its own drawing code, unchanged except
  for the loader: the CDN ``require.config`` is dropped and the call waits for the attention to be decoded);
* jQuery 3.7.1 from ``XStatic-jQuery``, require.js 2.1.15 from ``XStatic-RequireJS`` and d3 5.7.0 (the
  version bertviz asks its CDN for) from ``mpld3``'s ``js`` folder.

They are inlined into one self-contained HTML document, which the page shows with
``streamlit.components.v1.html`` (an ``<iframe srcdoc>``: there is no URL to load files from).

bertviz writes the attention as JSON of Python floats (about 20 bytes per weight). We send it as float16,
deflate-compressed and base64-encoded (about 1.3 bytes per weight for a decoder, whose upper triangle is
zeros, 2.4 for an encoder), and a small script decodes it in the browser into the nested arrays bertviz's
code expects, before that code runs. So the weights these views
draw are the model's attention weights ROUNDED TO FLOAT16 (:data:`ROUNDING_NOTE`), about three significant
digits: at most 0.00025 away from the exact weight, invisible as line opacity.

Both views draw one SVG line per (head, query token, key token): the head view for one layer at a time
(heads × T² lines), the model view for every layer and head at once (layers × heads × T² lines). Long texts
would freeze the tab, so the views take the first tokens only (:data:`HEAD_VIEW_MAX_TOKENS`,
:data:`MODEL_VIEW_MAX_TOKENS`) and the model view a subset of layers when all of them would exceed
:data:`MODEL_VIEW_MAX_LINES`; the result carries a ``note`` saying what is left out.

Layers and heads: the arguments here are 0-based block and head indices, as everywhere in the code; what bertviz
is GIVEN to label them (``include_layers``, ``layer``, ``include_heads``) are the numbers people see, layers 1..L
and heads 1..H (models/numbering.py). bertviz uses those lists only as labels (its layer menu, its axes, the
detail panel's "Layer l, Head h") and the index within them to pick the attention, so its menu starts at 1.

Tokens come from user text: they reach bertviz's code as JSON data (``<``, ``>``, ``&``, U+2028 and U+2029
escaped, so ``</script>`` in a token cannot end the script) and bertviz draws them with d3's ``.text()``.
"""
from __future__ import annotations

import base64
import importlib.resources
import importlib.util
import json
import math
import re
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from components.widgets import visible
from i18n import N_, _
from models.numbering import number
from models.tokens import piece_bytes
from models.trace import Trace

# ----------------------------------------------------------------------------------------- limits
# Both views draw one SVG line per (head, query, key) and every hover/click repaints them all, so the cost
# follows the number of lines: the limits keep both views to roughly 50-80k lines, where a hover or a click
# still repaints within a second in headless Chromium on a 2-core machine (`python -m bench.bertviz --sweep`
# measures the sweep; `python -m bench.run --only bertviz` the views at these limits).
HEAD_VIEW_MAX_TOKENS = 64  # heads × T² lines per layer: 37k (SmolLM2, 9 heads), 49k (MiniLM, 12 heads)
MODEL_VIEW_MAX_TOKENS = 64  # tokens per thumbnail (the detail panel is T × 18 px tall)
MODEL_VIEW_MAX_LINES = 80_000  # layers × heads × T² at once; above it an evenly spaced subset of layers
# (all 30 SmolLM2 layers up to 17 tokens, all 6 MiniLM layers up to 33 tokens)

ROUNDING_NOTE = N_("The BertViz views draw the model's attention weights rounded to float16 (about three "
                 "significant digits, at most 0.00025 from the exact weight) to keep the page small.")

CDN_HOSTS = ("cdnjs.cloudflare.com", "cdn.jsdelivr.net", "unpkg.com", "ajax.googleapis.com", "code.jquery.com",
             "requirejs.org/docs/release")

VIEWS = ("head", "model")


@dataclass(frozen=True)
class BertvizHtml:
    html: str  # a complete, self-contained HTML document (for components.html)
    n_bytes: int  # UTF-8 bytes of ``html``: what is sent to the browser
    note: str | None  # what is not shown ("showing the first 128 of 300 tokens"), for the page to display
    height: int  # px the view needs (iframe height)
    n_tokens: int = 0  # tokens drawn
    layers: tuple[int, ...] = ()  # layers included (0-based block indices; shown as index + 1)
    heads: tuple[int, ...] = ()  # heads included (model view) or initially selected (head view), 0-based indices
    payload_bytes: int = 0  # bytes of the encoded attention inside ``html``
    library_bytes: int = 0  # bytes of the inlined jQuery + d3 + require.js (bertviz fetches those from a CDN)


# ------------------------------------------------------------------------------------ static files
def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the Python package {module!r} is not installed (pip install -r requirements.txt)")
    return Path(spec.submodule_search_locations[0])


LIBRARY_PACKAGES = {"jquery": "XStatic-jQuery", "d3": "mpld3", "requirejs": "XStatic-RequireJS"}


def library_files() -> dict[str, Path]:
    """The JavaScript files inlined into the views, located inside installed Python packages."""
    import xstatic.pkg.jquery as xjquery
    import xstatic.pkg.requirejs as xrequirejs

    return {
        "jquery": Path(xjquery.BASE_DIR) / "jquery.min.js",
        "d3": _package_dir("mpld3") / "js" / "d3.v5.min.js",
        "requirejs": Path(xrequirejs.BASE_DIR) / "require.min.js",
    }


_SOURCE_MAP = re.compile(r"^//[#@] sourceMappingURL=.*$", re.M)


def _script_safe(js: str, name: str) -> str:
    """JavaScript to inline inside <script>: no source-map comment (DevTools would fetch it); refuse text
    that would end or confuse the script element."""
    js = _SOURCE_MAP.sub("", js)
    low = js.lower()
    if "</script" in low or "<!--" in low:
        raise RuntimeError(f"{name} contains '</script' or '<!--' and cannot be inlined")
    return js


@lru_cache(maxsize=1)
def _libraries() -> str:
    """jQuery and d3 first (no AMD loader yet, so they set window.jQuery / window.d3), then require.js and two
    named modules for bertviz's ``requirejs(['jquery', 'd3'], ...)``: nothing is ever fetched."""
    parts = []
    for name, path in library_files().items():
        source = f"{LIBRARY_PACKAGES[name]}: {path.name}"
        parts.append(f"<script>/* {source} */\n{_script_safe(path.read_text('utf-8'), name)}\n</script>")
    parts.append("<script>define('jquery', [], function () { return window.jQuery; });\n"
                 "define('d3', [], function () { return window.d3; });</script>")
    return "\n".join(parts)


_REQUIRE_CONFIG = re.compile(r"require\.config\(\{.*?\}\);", re.S)
_REQUIRE_CALL = "requirejs(['jquery', 'd3'],"


@lru_cache(maxsize=2)
def bertviz_js(view: str) -> str:
    """bertviz's own ``head_view.js`` / ``model_view.js`` from the installed package, with its loader rewired:
    the CDN ``require.config`` removed, the ``requirejs`` call deferred until the attention is decoded, and
    ``PYTHON_PARAMS`` read from the decoded data."""
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, not {view!r}")
    js = importlib.resources.files("bertviz").joinpath(f"{view}_view.js").read_text("utf-8")
    js, n_config = _REQUIRE_CONFIG.subn("", js)
    n_call = js.count(_REQUIRE_CALL)
    n_params = js.count("PYTHON_PARAMS")
    if (n_config, n_call) != (1, 1) or n_params < 1:
        raise RuntimeError(f"bertviz's {view}_view.js is not the layout this module knows (bertviz 1.4.1)")
    js = js.replace(_REQUIRE_CALL, "__txReady(['jquery', 'd3'],").replace("PYTHON_PARAMS", "window.__txParams")
    return _script_safe(js, f"bertviz/{view}_view.js")


# ------------------------------------------------------------------------------------------ tokens
_BYTE_LEVEL_MARKS = re.compile("[\u0100-\u0143]")  # GPT-2's stand-ins for space, newline, control bytes


def display_tokens(tokens: Sequence[str], special: Sequence[bool] | None = None, kind: str | None = None) -> list[str]:
    """Tokens as the views label them. Byte-level BPE pieces become the text they stand for with whitespace
    made visible ("Ġcapital" -> "␣capital", "Ċ" -> "⏎", "ä¸Ń" -> "中"; bytes of an incomplete character as
    hex, "<F0><9F>"); WordPiece "##" and SentencePiece "▁" are kept, as the vocabulary writes them; special
    tokens are kept as they are. ``kind`` is the tokenizer kind (models.facts); without it, byte-level BPE is
    recognised by its marker characters (Ġ, Ċ...)."""
    special = [False] * len(tokens) if special is None else list(special)
    if kind is None:
        kind = "byte-level BPE" if any(_BYTE_LEVEL_MARKS.search(t) for t in tokens) else "other"
    out = []
    for tok, sp in zip(tokens, special):
        b = None if sp else piece_bytes(tok, kind)
        if b is None:
            out.append(visible(tok))
            continue
        text = b.decode("utf-8", errors="surrogateescape")
        out.append("".join(f"<{ord(c) - 0xDC00:02X}>" if 0xDC80 <= ord(c) <= 0xDCFF else visible(c) for c in text))
    return out


def script_json(value: object) -> str:
    """JSON that is safe inside <script>: ``<``, ``>``, ``&``, U+2028 and U+2029 escaped (``</script>`` in a
    token cannot close the element; the JSON.parse result is unchanged)."""
    s = json.dumps(value, ensure_ascii=False, allow_nan=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        s = s.replace(ch, esc)
    return s


# ----------------------------------------------------------------------------------------- payload
def encode_attention(att: np.ndarray) -> str:
    """[L, H, T, T] weights -> base64 of zlib-deflated little-endian float16 (C order)."""
    half = np.ascontiguousarray(att, dtype="<f2")
    return base64.b64encode(zlib.compress(half.tobytes(), 1)).decode("ascii")


def decode_attention(b64: str, shape: Sequence[int]) -> np.ndarray:
    """Inverse of :func:`encode_attention` (what the browser does), as float32."""
    raw = zlib.decompress(base64.b64decode(b64))
    return np.frombuffer(raw, dtype="<f2").reshape(tuple(shape)).astype(np.float32)


# Decodes TX.b64 (float16, deflated) into TX.params.attention[0].attn as nested arrays [L][H][T][T], then runs
# bertviz's requirejs callback. Marks <body data-bertviz="drawn"> (and __txTimes) when bertviz has drawn.
_SHIM = r"""
(function () {
  var TX = window.__TX;
  function halfTable() {
    var t = new Float32Array(65536);
    for (var h = 0; h < 65536; h++) {
      var s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
      t[h] = e === 0 ? s * m * Math.pow(2, -24)
           : e === 31 ? (m ? NaN : s * Infinity)
           : s * (1 + m / 1024) * Math.pow(2, e - 15);
    }
    return t;
  }
  function inflate(b64) {
    var bin = atob(b64), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('deflate'));
    return new Response(stream).arrayBuffer();
  }
  function nest(buf, shape) {
    var h16 = new Uint16Array(buf), table = halfTable(), L = shape[0], H = shape[1], Q = shape[2], K = shape[3];
    var out = new Array(L), k = 0;
    for (var l = 0; l < L; l++) {
      out[l] = new Array(H);
      for (var h = 0; h < H; h++) {
        var rows = out[l][h] = new Array(Q);
        for (var q = 0; q < Q; q++) {
          var row = rows[q] = new Array(K);
          for (var j = 0; j < K; j++) row[j] = table[h16[k++]];
        }
      }
    }
    return out;
  }
  function fail(err) {
    var box = document.getElementById(TX.params.root_div_id);
    var msg = document.createElement('p');
    msg.style.color = '#b91c1c';
    msg.textContent = 'The BertViz view could not be drawn: ' + err;
    box.appendChild(msg);
    document.body.setAttribute('data-bertviz', 'error');
  }
  var t0 = performance.now();
  var ready = inflate(TX.b64).then(function (buf) {
    TX.params.attention[0].attn = nest(buf, TX.shape);
    TX.params.attention[0].left_text = TX.tokens;
    TX.params.attention[0].right_text = TX.tokens;
    window.__txParams = TX.params;
  });
  window.__txReady = function (deps, draw) {
    ready.then(function () {
      var t1 = performance.now();
      requirejs(deps, function () {
        draw.apply(this, arguments);
        window.__txTimes = {decode_ms: t1 - t0, draw_ms: performance.now() - t1, done_ms: performance.now()};
        document.body.setAttribute('data-bertviz', 'drawn');
      }, fail);
    }).catch(fail);
  };
})();
"""

_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>BertViz {view} view</title>
<style>body {{margin: 4px; background: #fff; color: #111;}} select {{font-size: 14px;}}
#vis svg {{overflow: visible;}} #vis {{padding-left: {pad}px;}}</style></head>
<body data-bertviz="loading">
<div id="{root}" style="font-family:'Helvetica Neue', Helvetica, Arial, sans-serif;">
  <span style="user-select:none">{controls}</span>
  <div id="vis"></div>
</div>
{libraries}
<script>window.__TX = {data};</script>
<script>{shim}</script>
<script>
{bertviz}
</script>
</body></html>
"""


# ------------------------------------------------------------------------------------------ views
def _check_indices(values: Sequence[int] | None, n: int, what: str) -> list[int] | None:
    if values is None:
        return None
    out = sorted({int(v) for v in values})
    if not out:
        raise ValueError(f"choose at least one {what}")
    bad = [v for v in out if not 0 <= v < n]
    if bad:
        raise ValueError(f"{what} index {bad[0]} does not exist: this model has {what} indices 0-{n - 1} "
                         f"({what}s 1-{n})")
    return out


def _token_cap(trace: Trace, max_tokens: int, view: str) -> tuple[int, str | None]:
    t = trace.n_tokens
    if t <= max_tokens:
        return t, None
    note = (_("The BertViz head view shows the first {n} of {total} tokens (it draws one line per pair of tokens, "
              "and more would freeze the browser).") if view == "head" else
            _("The BertViz model view shows the first {n} of {total} tokens (it draws one line per pair of tokens, "
              "and more would freeze the browser).")).format(n=max_tokens, total=t)
    if not _is_causal(trace):
        note += " " + _("The model read all of them: the weights the first tokens give to the hidden later ones are "
                        "not drawn, so rows here sum to less than 1.")
    return max_tokens, note


def _is_causal(trace: Trace) -> bool:
    """Decoder attention: nothing above the diagonal."""
    a = trace.attentions[0, 0]
    return bool(np.all(np.triu(a, 1) == 0))


def evenly_spaced(n_total: int, k: int) -> list[int]:
    """k indices spread over 0..n_total-1, first and last included."""
    if k >= n_total:
        return list(range(n_total))
    if k <= 1:
        return [0]
    return sorted({round(i * (n_total - 1) / (k - 1)) for i in range(k)})


def _build(view: str, trace: Trace, att: np.ndarray, n: int, params: dict, controls: str) -> tuple[str, int]:
    b64 = encode_attention(att)
    tokens = display_tokens(trace.tokens[:n], trace.special[:n].tolist())
    # the head view right-aligns tokens in a 110 px box from x = 0: room on the left for longer ones
    pad = min(400, max(0, math.ceil(max(map(len, tokens), default=0) * 8.5) - 100)) if view == "head" else 0
    data = {"b64": b64, "shape": list(att.shape), "tokens": tokens,
            "params": {"attention": [{"name": None, "attn": None, "left_text": None, "right_text": None}],
                       "default_filter": "0", **params}}
    html = _PAGE.format(view=view, pad=pad, root=params["root_div_id"], controls=controls, libraries=_libraries(),
                        data=script_json(data), shim=_SHIM, bertviz=bertviz_js(view))
    return html, len(b64)


def _notes(*notes: str | None) -> str | None:
    kept = [n for n in notes if n]
    return " ".join(kept) if kept else None


def head_view(trace: Trace, layer: int | None = None, heads: list[int] | None = None,
              layers: list[int] | None = None, max_tokens: int = HEAD_VIEW_MAX_TOKENS) -> BertvizHtml:
    """bertviz's head view of ``trace``: one layer at a time (a drop-down picks it), lines from each token to
    the tokens it attends to, one colour per head. ``layer``: the block index shown first; ``heads``: the head
    indices ticked at first (all by default); ``layers``: the block indices offered (all by default); the first
    ``max_tokens`` tokens only. The menu lists the layer NUMBERS (index + 1)."""
    L, H = trace.attentions.shape[:2]
    layers = _check_indices(layers, L, "layer") or list(range(L))
    heads = _check_indices(heads, H, "head")
    if layer is not None:
        layer = int(layer)
        if layer not in layers:
            raise ValueError(f"layer index {layer} is not among the layer indices shown ({layers[0]}-{layers[-1]})")
    n, note = _token_cap(trace, max_tokens, "head")
    att = trace.attentions[layers][:, :, :n, :n]  # [L', H, n, n]
    # bertviz labels its layer menu with include_layers and selects `layer` among them: give it the numbers.
    # `heads` are indices into the attention array (which checkboxes start ticked), not labels.
    params = {"root_div_id": "bertviz-head", "layer": None if layer is None else number(layer), "heads": heads,
              "include_layers": [number(lyr) for lyr in layers]}
    html, payload = _build("head", trace, att, n, params, _("Layer:") + ' <select id="layer"></select>')
    height = math.ceil(n * 22.5 + 30) + 40  # bertviz: tokens × BOXHEIGHT + TEXT_TOP, plus the layer menu
    return BertvizHtml(html, len(html.encode("utf-8")), note, height, n, tuple(layers),
                       tuple(heads or range(H)), payload, len(_libraries()))


def model_view(trace: Trace, layers: list[int] | None = None, heads: list[int] | None = None,
               max_tokens: int = MODEL_VIEW_MAX_TOKENS, max_lines: int = MODEL_VIEW_MAX_LINES) -> BertvizHtml:
    """bertviz's model view of ``trace``: a thumbnail of every (layer, head), click one to enlarge it.
    ``layers`` / ``heads``: which block / head indices to include (default: all heads; all layers when layers ×
    heads × tokens² lines stay within ``max_lines``, else evenly spaced layers, first and last included); the
    first ``max_tokens`` tokens only. Its axes and detail panel show the layer and head NUMBERS (index + 1)."""
    L, H = trace.attentions.shape[:2]
    heads = _check_indices(heads, H, "head") or list(range(H))
    n, note = _token_cap(trace, max_tokens, "model")
    layer_note = None
    if layers is None:
        fit = max(1, max_lines // (len(heads) * n * n))
        layers = evenly_spaced(L, fit)
        if len(layers) < L:
            layer_note = _("The BertViz model view shows {n} of the {total} layers ({layers}) so that the browser "
                           "stays responsive; the head view has every layer in its menu.").format(
                n=len(layers), total=L, layers=", ".join(str(number(lyr)) for lyr in layers))
    else:
        layers = _check_indices(layers, L, "layer")
    att = trace.attentions[layers][:, heads, :n, :n]  # [L', H', n, n]
    # bertviz uses include_layers / include_heads only as labels (and a layer's colour): give it the numbers
    params = {"root_div_id": "bertviz-model", "display_mode": "light", "include_layers": [number(x) for x in layers],
              "include_heads": [number(h) for h in heads], "total_heads": H}
    html, payload = _build("model", trace, att, n, params, "")
    # bertviz's layout: thumbnails of n × 7·12/H px (+10), under a 38 px axis; or the detail panel if taller
    thumb = n * 7 * (12 / H) + 10
    height = math.ceil(max(len(layers) * thumb + 38, n * 18 + 55)) + 30
    return BertvizHtml(html, len(html.encode("utf-8")), _notes(note, layer_note), height, n,
                       tuple(layers), tuple(heads), payload, len(_libraries()))
