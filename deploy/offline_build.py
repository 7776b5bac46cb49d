"""What stands in, when the Dockerfile is built on a machine that cannot reach Docker Hub or the torch CPU index
(bench/image.py, `make image`, builds it with buildah): nothing of the Dockerfile itself is changed.

* :func:`build_base` makes ``localhost/python:3.11.7-slim-bookworm`` the way the official image is made: a Debian
  bookworm root from debootstrap (Debian's mirror) with the runtime libraries CPython needs, and a CPython 3.11.7
  built with ``--enable-shared`` in ``/usr/local`` (without its site-packages; pip from its own ``ensurepip``);
* :class:`TorchIndex` is a PEP 503 index on loopback for ``--build-arg TORCH_INDEX=...``: it lists torch's CPU
  wheel from a folder on disk and sends every other project to PyPI's simple index.
"""
from __future__ import annotations

import contextlib
import html
import http.server
import re
import shutil
import subprocess
import threading
import urllib.parse
from pathlib import Path
from typing import Iterator

BASE = "localhost/python:3.11.7-slim-bookworm"  # what `FROM python:3.11.7-slim-bookworm` resolves to there
MIRROR = "http://deb.debian.org/debian"
# the official image's runtime packages (docker-library/python's 3.11/slim-bookworm: ca-certificates, netbase,
# tzdata, and the shared libraries its CPython build links against)
BASE_PACKAGES = ("ca-certificates", "netbase", "tzdata", "libssl3", "libsqlite3-0", "libffi8", "libbz2-1.0",
                 "liblzma5", "zlib1g", "libreadline8", "libncursesw6", "libgdbm6", "libuuid1", "libexpat1")
PYPI_SIMPLE = "https://pypi.org/simple"
STORAGE = ("--storage-driver", "vfs")  # buildah's storage that needs no overlay mounts (works inside a container)


def _run(*cmd: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kw)


def _project(name: str) -> str:
    """PEP 503's normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


class TorchIndex(http.server.ThreadingHTTPServer):
    """A PEP 503 simple index on loopback: ``/simple/<project>/`` lists the wheels of ``wheels`` whose project is
    <project> (served from ``/files/``) and redirects every other project to PyPI's simple index, so that
    ``pip install --index-url http://127.0.0.1:PORT/simple torch==X`` takes torch from the folder and its
    dependencies from PyPI, as pip would from download.pytorch.org/whl/cpu."""

    def __init__(self, wheels: Path, upstream: str = PYPI_SIMPLE):
        self.wheels, self.upstream = Path(wheels), upstream.rstrip("/")
        super().__init__(("127.0.0.1", 0), _IndexHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/simple"

    def local(self, project: str) -> list[Path]:
        return sorted(p for p in self.wheels.glob("*.whl") if _project(p.name.split("-", 1)[0]) == project)

    @contextlib.contextmanager
    def serving(self) -> Iterator["TorchIndex"]:
        thread = threading.Thread(target=self.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.shutdown()
            self.server_close()


class _IndexHandler(http.server.BaseHTTPRequestHandler):
    server: TorchIndex

    def log_message(self, *args) -> None:  # pip's own log says what it fetched
        pass

    def do_GET(self) -> None:
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        parts = [p for p in path.split("/") if p]
        if len(parts) == 2 and parts[0] == "simple":
            project = _project(parts[1])
            wheels = self.server.local(project)
            if not wheels:
                self._send(302, b"", location=f"{self.server.upstream}/{project}/")
                return
            links = "".join(f'<a href="/files/{urllib.parse.quote(w.name)}">{html.escape(w.name)}</a>\n'
                            for w in wheels)
            self._send(200, f"<!DOCTYPE html><html><body>\n{links}</body></html>\n".encode(), "text/html")
        elif len(parts) == 2 and parts[0] == "files" and (self.server.wheels / parts[1]).is_file() \
                and "/" not in parts[1] and parts[1].endswith(".whl"):
            self._send(200, (self.server.wheels / parts[1]).read_bytes(), "application/octet-stream")
        else:
            self._send(404, b"not found", "text/plain")

    def _send(self, status: int, body: bytes, ctype: str | None = None, location: str | None = None) -> None:
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def not_in_base(folder: str, names: list[str]) -> list[str]:
    """What the official image leaves out of its CPython (its Dockerfile's ``find /usr/local ... -exec rm -rf``:
    test folders, .pyc, the static libpython), plus this prefix's installed packages and their scripts."""
    d = Path(folder)
    if d.name == "site-packages":
        return names
    return [n for n in names if n in ("test", "tests", "idle_test") or n.endswith((".pyc", ".pyo"))
            or (n.startswith("libpython") and n.endswith(".a"))
            or (d.name == "bin" and n.startswith(("pip", "easy_install")))]


def build_base(python_prefix: Path, work: Path) -> None:
    """``localhost/python:3.11.7-slim-bookworm``: debootstrap's bookworm + :data:`BASE_PACKAGES` + CPython in
    /usr/local (its site-packages left out, pip from ensurepip), as one layer."""
    root = work / "rootfs"
    _run("debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", "bookworm", str(root), MIRROR,
         stdout=subprocess.DEVNULL)
    local = root / "usr" / "local"
    shutil.copytree(python_prefix, local, dirs_exist_ok=True, symlinks=True, ignore=not_in_base)
    for link, target in (("python", "python3"), ("python3", "python3.11")):
        (local / "bin" / link).unlink(missing_ok=True)
        (local / "bin" / link).symlink_to(target)
    _run("chroot", str(root), "/sbin/ldconfig")
    _run("chroot", str(root), "/usr/local/bin/python3", "-m", "ensurepip", "--default-pip", stdout=subprocess.DEVNULL)
    (local / "bin" / "pip").unlink(missing_ok=True)
    (local / "bin" / "pip").symlink_to("pip3")
    shutil.rmtree(root / "var" / "cache" / "apt" / "archives", ignore_errors=True)
    _run("tar", "-C", str(root), "-cf", str(work / "rootfs.tar"), ".")
    shutil.rmtree(root)
    (work / "Containerfile").write_text(
        "FROM scratch\nADD rootfs.tar /\n"
        "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 PYTHON_VERSION=3.11.7\n"
        'CMD ["python3"]\n')
    _run("buildah", *STORAGE, "bud", "--isolation", "chroot", "-t", BASE, str(work), stdout=subprocess.DEVNULL)
