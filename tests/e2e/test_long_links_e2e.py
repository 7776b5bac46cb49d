"""A long shared link reaches the app however the browser's write is cut, from serve.py itself and through the
nginx config of docs/deploy.md (deploy/nginx.conf). Before: uvicorn's HTTP parser answered a bare 400 to a request
head over 16 KiB that arrived in more than one piece (Chromium, once it had loaded the app, sent a 100 KB link so),
and nginx answered every link over 8 KiB with 414. The page's own handling of such a value (one warning, the page
drawn) is tests/e2e/test_lesson25_links_e2e.py's 100 KB test, in the suite's shared browser context."""
from __future__ import annotations

import os
import socket
import time

import pytest

import devserver
from serve import MAX_REQUEST_HEAD

pytestmark = pytest.mark.e2e
CHROMIUM_URL_MAX = 2 * 2**20  # the longest URL Chromium opens


def get(port: int, path: str, piece: int) -> tuple[str, dict[str, str], bytes]:
    """GET ``path`` on loopback with a browser's cookie, written ``piece`` bytes at a time with a pause between
    writes (as TCP may deliver it); the status line, headers and body of the answer."""
    head = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: _streamlit_xsrf=2|abc|def|1\r\n"
            "Accept: text/html\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        for i in range(0, len(head), piece):
            s.sendall(head[i: i + piece])
            time.sleep(0.01)
        data = b""
        while chunk := s.recv(1 << 16):
            data += chunk
    top, _, body = data.partition(b"\r\n\r\n")
    status, *lines = top.decode("latin-1").split("\r\n")
    return status, {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines)}, body


def link(n: int) -> str:
    return "/tokens?text=" + "9" * (n - len("/tokens?text="))


@pytest.mark.parametrize("n", [100_000, CHROMIUM_URL_MAX])
def test_a_long_link_sent_in_pieces_gets_the_page(server, n):
    assert n + 1024 <= MAX_REQUEST_HEAD
    status, headers, body = get(server.port, link(n), piece=16 * 1024)
    assert status == "HTTP/1.1 200 OK", status
    assert headers["content-type"].startswith("text/html") and b'<div id="root">' in body


def test_a_long_link_through_the_deployed_nginx_config(server, tmp_path):
    if devserver.nginx_path() is None:
        if os.environ.get("TX_SKIP_PROXY_TESTS") != "1":
            pytest.fail("nginx is not installed (`make proxy` installs Debian's package)", pytrace=False)
        pytest.skip("nginx is not installed and TX_SKIP_PROXY_TESTS=1")
    with devserver.start_nginx([f"127.0.0.1:{server.port}"], prefix=tmp_path) as nginx:
        port = nginx.port
        for n, piece in [(100_000, 1 << 20), (CHROMIUM_URL_MAX, 16 * 1024)]:
            status, headers, body = get(port, link(n), piece)
            assert status == "HTTP/1.1 200 OK", (n, status)
            assert headers["x-upstream"] == f"127.0.0.1:{server.port}" and b'<div id="root">' in body
        assert "414" not in nginx.access_log() and nginx.error_log().count("[error]") == 0
