"""Shared AppTest helpers: run a page through the real app.py, read the figures it sends to the browser."""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def run_page(page: str, timeout: float = 300, **params: str) -> AppTest:
    """Open ``page`` (e.g. "app_pages/tokens.py") with these URL query params; fail on any exception."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    for k, v in params.items():
        at.query_params[k] = v
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def array(value) -> np.ndarray:
    """Plotly sends numpy data as typed arrays ({"dtype", "bdata", "shape"}); decode them."""
    if isinstance(value, dict) and "bdata" in value:
        a = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        return a.reshape([int(s) for s in str(value["shape"]).split(",")]) if "shape" in value else a
    return np.asarray(value, dtype=np.float64)


def charts(at: AppTest) -> dict[str, dict]:
    """Title -> the figure JSON the page sends to the browser."""
    out = {}
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        out[html.unescape(spec["layout"]["title"]["text"])] = spec
    return out
