"""Shared AppTest helpers: run a page through the real app.py, read the figures it sends to the browser."""
from __future__ import annotations

import base64
import contextlib
import importlib
import html
import json
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def _renamed_pages() -> dict[str, str]:
    """Page file -> url_path, for the pages whose url_path is not their file name (app_pages/class_room.py ->
    /class, app_pages/next_token.py -> /next-token)."""
    from components.pages import TABLE

    return {p.file: p.url_path for p in TABLE if p.url_path and Path(p.file).stem != p.url_path}


def switch_to(at: AppTest, page: str) -> None:
    """at.switch_page(page), also before the first run for a page whose url_path is not its file name. Before its
    first run AppTest names a page by its file name, while st.Page names it by the hash of its url_path; a real
    browser opening /next-token asks for that hash, so we ask for it too (no extra run of the home page first,
    which would read the link's parameters there)."""
    from streamlit.util import calc_hash

    at.switch_page(page)
    renamed = _renamed_pages()
    if page in renamed:
        at._page_hash = calc_hash(renamed[page])  # what st.Page(url_path=...) registers (streamlit/navigation/page.py)


def run_page(page: str, timeout: float = 300, **params: str) -> AppTest:
    """Open ``page`` (e.g. "app_pages/tokens.py") with these URL query params; fail on any exception."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    for k, v in params.items():
        at.query_params[k] = v
    switch_to(at, page)
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


@contextlib.contextmanager
def session_language_in_test_thread():
    """AppTest turns widget values back into option indices with the widgets' format_func in the TEST's thread,
    where there is no session and the language would be English (a browser sends indices and needs no such
    step): let that thread use the language the script last ran in."""
    import i18n
    importlib.import_module("components.lang")  # installs the session's getter first
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    session_getter, last = i18n._language_getter, ["en"]

    def getter() -> str:
        if get_script_run_ctx() is not None:
            last[0] = session_getter()
        return last[0]

    i18n.use_language_getter(getter)
    try:
        yield
    finally:
        i18n.use_language_getter(session_getter)
