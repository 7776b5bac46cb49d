"""serving.static_assets against Streamlit's own static handler (the app it stands in front of): the same bytes,
content type and cache header for every file, answered from memory only where it may be, the rest passed on."""
from __future__ import annotations

import asyncio
import concurrent.futures
import gzip
import re
import threading
from pathlib import Path

import pytest
from starlette.exceptions import HTTPException
from starlette.responses import Response
from streamlit.file_util import get_static_dir
from streamlit.web.server.starlette import starlette_server
from streamlit.web.server.starlette.starlette_static_routes import create_streamlit_static_handler

import serve
from serving import attention_layers, static_assets
from serving.attention_layers import AttentionLayers
from serving.static_assets import StaticAssets, accepts_gzip

ROOT = Path(get_static_dir())
INDEX_ASSETS = [m.decode() for m in re.findall(rb'(?:href|src)="\./static/([^"]+)"', (ROOT / "index.html").read_bytes())]
GZ = [(b"accept-encoding", b"gzip, deflate, br")]


class Recorder:
    """An ASGI app that records the requests it is given and answers them with Streamlit's static handler."""

    def __init__(self, base_url: str = "") -> None:
        self.handler = create_streamlit_static_handler(str(ROOT), base_url)
        self.seen: list[str] = []

    async def __call__(self, scope, receive, send):
        self.seen.append(scope["path"])
        try:
            await self.handler(scope, receive, send)
        except HTTPException as e:  # what Starlette's exception middleware turns into a response in the full app
            await Response(status_code=e.status_code)(scope, receive, send)


async def call(app, path: str, headers=(), method: str = "GET") -> tuple[int, dict[bytes, bytes], bytes]:
    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "root_path": "",
             "query_string": b"", "headers": list(headers), "http_version": "1.1", "scheme": "http",
             "server": ("127.0.0.1", 8501), "client": ("127.0.0.1", 50000)}
    sent: list[dict] = []
    asked: list[int] = []

    async def receive():  # the request once; then, like a client still connected, nothing more
        asked.append(1)
        if len(asked) > 1:
            await asyncio.Event().wait()
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], {k.lower(): v for k, v in start["headers"]}, body  # (a repeated name: its last value)


def run(coro):
    """The coroutine on a loop of its own thread: an earlier test in the same process (Playwright's sync API) may
    have left a running loop on this one."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def test_every_file_of_the_first_page_equals_streamlits_answer_gzipped_from_memory():
    assert len(INDEX_ASSETS) > 20  # the frontend's entry bundle and its chunks, the stylesheet, the font
    inner = Recorder()
    app = StaticAssets(inner, ROOT)

    async def both():
        for name in [*INDEX_ASSETS, "js/PlotlyChart.D9Z0_fxz.js"]:
            if not (ROOT / "static" / name).is_file():
                continue
            status, mine, wire = await call(app, f"/static/{name}", GZ)
            ref_status, theirs, ref_body = await call(inner.handler, f"/static/{name}")
            assert (status, ref_status) == (200, 200), name
            assert int(mine[b"content-length"]) == len(wire), name
            body = gzip.decompress(wire) if mine.get(b"content-encoding") == b"gzip" else wire
            assert body == ref_body == (ROOT / "static" / name).read_bytes(), name
            assert mine[b"content-type"] == theirs[b"content-type"], name
            assert mine[b"cache-control"] == theirs[b"cache-control"], name

    run(both())
    assert inner.seen == []  # every one answered from memory


def test_compressible_files_are_gzipped_and_compressed_ones_are_not():
    app = StaticAssets(Recorder(), ROOT)
    js = next(n for n in INDEX_ASSETS if n.startswith("js/index."))
    font = next(n for n in INDEX_ASSETS if n.endswith(".woff2"))
    _, js_headers, js_body = run(call(app, f"/static/{js}", GZ))
    assert js_headers[b"content-encoding"] == b"gzip"
    assert len(js_body) < 0.5 * (ROOT / "static" / js).stat().st_size
    assert js_headers[b"vary"] == b"Accept-Encoding"
    _, font_headers, font_body = run(call(app, f"/static/{font}", GZ))
    assert b"content-encoding" not in font_headers
    assert font_body == (ROOT / "static" / font).read_bytes()


def test_a_client_without_gzip_gets_streamlits_own_answer_for_a_compressible_file():
    inner = Recorder()
    app = StaticAssets(inner, ROOT)
    js = next(n for n in INDEX_ASSETS if n.startswith("js/index."))
    for headers in ([], [(b"accept-encoding", b"identity")], [(b"accept-encoding", b"gzip;q=0, br")]):
        status, got, body = run(call(app, f"/static/{js}", headers))
        assert status == 200 and b"content-encoding" not in got
        assert body == (ROOT / "static" / js).read_bytes()
    assert inner.seen == [f"/static/{js}"] * 3
    assert got[b"vary"] == b"Accept-Encoding"  # a shared cache keeps this copy apart from the gzipped one
    # a file not worth compressing is answered from memory whatever the client accepts
    font = next(n for n in INDEX_ASSETS if n.endswith(".woff2"))
    assert run(call(app, f"/static/{font}"))[2] == (ROOT / "static" / font).read_bytes()
    assert inner.seen == [f"/static/{js}"] * 3


def test_revalidation_and_head():
    app = StaticAssets(Recorder(), ROOT)
    js = next(n for n in INDEX_ASSETS if n.startswith("js/index."))
    _, first, body = run(call(app, f"/static/{js}", GZ))
    etag = first[b"etag"]
    for asked in ([(b"if-none-match", b'"other", ' + etag)], [(b"if-none-match", b"W/" + etag)],
                  [(b"if-none-match", b"*")], [(b"if-none-match", b'"other"'), (b"if-none-match", etag)]):
        status, again, empty = run(call(app, f"/static/{js}", [*GZ, *asked]))
        assert (status, empty) == (304, b""), asked
        # a 304 repeats the validators and caching headers, not the representation's (RFC 9110, 15.4.5)
        assert again == {b"etag": etag, b"cache-control": first[b"cache-control"], b"vary": b"Accept-Encoding"}
    status, _, full = run(call(app, f"/static/{js}", [*GZ, (b"if-none-match", b'"other"')]))
    assert (status, full) == (200, body)
    status, head, nothing = run(call(app, f"/static/{js}", GZ, method="HEAD"))
    assert (status, nothing, int(head[b"content-length"])) == (200, b"", len(body))


@pytest.mark.parametrize("method,path", [
    ("GET", "/"), ("GET", "/tokens"), ("GET", "/index.html"), ("GET", "/static/js/no-such-file.js"),
    ("GET", "/static/../index.html"), ("GET", "/static/js/"), ("GET", "/static"), ("POST", "/static/" + next(n for n in INDEX_ASSETS if n.endswith(".css"))),
    ("GET", "/_stcore/health"),
])
def test_anything_but_an_existing_frontend_file_goes_to_streamlit(method, path):
    inner = Recorder()
    app = StaticAssets(inner, ROOT)
    run(call(app, path, GZ, method=method))
    assert inner.seen == [path]


def test_a_base_url_moves_the_prefix():
    inner = Recorder("course")
    app = StaticAssets(inner, ROOT, "/course/")
    js = next(n for n in INDEX_ASSETS if n.startswith("js/index."))
    status, _, _ = run(call(app, f"/course/static/{js}", GZ))
    assert status == 200 and inner.seen == []
    run(call(app, f"/static/{js}", GZ))
    assert inner.seen == [f"/static/{js}"]


def test_a_class_asking_at_once_reads_each_file_once(monkeypatch):
    reads: list[Path] = []
    real = static_assets.read_asset

    def counted(path):
        reads.append(path)
        return real(path)

    monkeypatch.setattr(static_assets, "read_asset", counted)
    app = StaticAssets(Recorder(), ROOT)
    js = next(n for n in INDEX_ASSETS if n.startswith("js/index."))

    async def crowd():
        return await asyncio.gather(*(call(app, f"/static/{js}", GZ) for _ in range(30)))

    answers = run(crowd())
    assert {a[2] for a in answers} == {answers[0][2]} and len(reads) == 1


class SlowRead:
    """read_asset held at a gate, so a test decides when the read under way ends (and whether it fails)."""

    def __init__(self, real, fail: bool = False) -> None:
        self.real, self.fail, self.calls = real, fail, 0
        self.started, self.gate = threading.Event(), threading.Event()

    def __call__(self, path):
        self.calls += 1
        self.started.set()
        self.gate.wait(30)
        if self.fail:
            raise OSError("the disk went away")
        return self.real(path)


@pytest.fixture
def slow_read(monkeypatch):
    def make(fail: bool = False) -> SlowRead:
        slow = SlowRead(static_assets.read_asset, fail)
        monkeypatch.setattr(static_assets, "read_asset", slow)
        return slow
    return make


async def _started(slow: SlowRead) -> None:
    while not slow.started.is_set():
        await asyncio.sleep(0.005)


def test_a_request_cancelled_during_the_read_leaves_the_others_their_answer(slow_read):
    slow = slow_read()
    app = StaticAssets(Recorder(), ROOT)
    js = next(n for n in INDEX_ASSETS if n.startswith("js/index."))

    async def scene():
        first = asyncio.ensure_future(call(app, f"/static/{js}", GZ))
        await _started(slow)
        second = asyncio.ensure_future(call(app, f"/static/{js}", GZ))
        await asyncio.sleep(0.01)
        first.cancel()  # the first student closed the tab while the file was being read
        await asyncio.sleep(0.01)
        slow.gate.set()
        with pytest.raises(asyncio.CancelledError):
            await first
        return await second

    status, headers, body = run(scene())
    assert status == 200 and gzip.decompress(body) == (ROOT / "static" / js).read_bytes()
    assert slow.calls == 1


def test_a_failed_read_reaches_every_waiting_request_and_the_next_one_reads_again(slow_read):
    slow = slow_read(fail=True)
    app = StaticAssets(Recorder(), ROOT)
    js = next(n for n in INDEX_ASSETS if n.startswith("js/index."))

    async def scene():
        waiting = [asyncio.ensure_future(call(app, f"/static/{js}", GZ)) for _ in range(3)]
        await _started(slow)
        slow.gate.set()
        return await asyncio.gather(*waiting, return_exceptions=True)

    assert [type(e) for e in run(scene())] == [OSError] * 3 and slow.calls == 1
    slow.fail = False
    assert run(call(app, f"/static/{js}", GZ))[0] == 200 and slow.calls == 2


def test_a_failed_read_reaches_its_requests_and_the_next_one_reads_again(monkeypatch, tmp_path):
    (tmp_path / "static" / "js").mkdir(parents=True)
    target = tmp_path / "static" / "js" / "a.js"
    target.write_text("let a = 1;\n" * 200)
    app = StaticAssets(Recorder(), tmp_path)
    target.unlink()
    with pytest.raises(FileNotFoundError):
        run(call(app, "/static/js/a.js", GZ))
    target.write_text("let a = 2;\n" * 200)
    _, headers, body = run(call(app, "/static/js/a.js", GZ))
    assert gzip.decompress(body) == target.read_bytes()


@pytest.mark.parametrize("header,expected", [
    (b"gzip", True), (b"gzip, deflate, br, zstd", True), (b"br;q=1.0, gzip;q=0.8", True), (b"*", True),
    (b"", False), (b"identity", False), (b"deflate, br", False), (b"gzip;q=0", False), (b"gzip;q=0.0, *", False),
    (b"*;q=0", False), (b"x-gzip", False), (b"GZIP", True), (b"gzip;q=bad", False),
])
def test_accept_encoding(header, expected):
    assert accepts_gzip(header) is expected


def test_serve_puts_the_layer_in_front_of_the_app_streamlit_builds(monkeypatch):
    built = []

    def factory(runtime):
        built.append(runtime)
        return Recorder()

    monkeypatch.setattr(starlette_server, "create_starlette_app", factory)
    monkeypatch.setattr(attention_layers, "installed", False)  # restored after: later tests run without the route
    serve.serve_frontend_from_memory()
    assert not attention_layers.installed  # only once the app is built
    app = starlette_server.create_starlette_app("the runtime")
    # the heatmap's layer route in front, then the frontend's files, then Streamlit's own app
    assert isinstance(app, AttentionLayers) and isinstance(app.app, StaticAssets)
    assert isinstance(app.app.app, Recorder) and built == ["the runtime"] and attention_layers.installed


def test_in_development_mode_the_app_is_left_as_streamlit_builds_it(monkeypatch):
    from streamlit import config as st_config

    monkeypatch.setattr(starlette_server, "create_starlette_app", lambda runtime: Recorder())
    serve.serve_frontend_from_memory()
    before = st_config.get_option("global.developmentMode")
    st_config.set_option("global.developmentMode", True)
    try:
        app = starlette_server.create_starlette_app(None)
    finally:
        st_config.set_option("global.developmentMode", before)
    assert isinstance(app, Recorder)


def test_streamlits_server_still_builds_its_app_through_that_factory():
    """The hook point serve.py relies on: the server's start looks the factory up in its own module."""
    import inspect

    source = inspect.getsource(starlette_server.UvicornServer.start)
    assert "create_starlette_app(self._runtime)" in source
    assert inspect.signature(starlette_server.create_starlette_app).parameters.keys() == {"runtime"}
