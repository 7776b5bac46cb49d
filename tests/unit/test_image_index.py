"""deploy/offline_build.py: the stand-ins for what `make image` cannot reach: the torch CPU index, and the official base image's
CPython clean-up."""
from __future__ import annotations

import http.client
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest

from deploy.offline_build import TorchIndex, not_in_base

TORCH = "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"


def _wheel(path: Path) -> bytes:
    """A minimal valid wheel of torch 2.13.0+cpu (pip checks its metadata)."""
    info = "torch-2.13.0+cpu.dist-info"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: torch\nVersion: 2.13.0+cpu\n")
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\n"
                                    "Tag: cp311-cp311-manylinux_2_28_x86_64\n")
        z.writestr(f"{info}/RECORD", "")
    return path.read_bytes()


@pytest.fixture
def index(tmp_path: Path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels / TORCH)
    (wheels / "Some_Thing-1.0-py3-none-any.whl").write_bytes(b"other")
    (wheels / "notes.txt").write_text("not a wheel")
    with TorchIndex(wheels, upstream="https://pypi.example/simple").serving() as idx:
        yield idx


def _get(index: TorchIndex, path: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", index.server_address[1], timeout=10)
    conn.request("GET", path)
    return conn.getresponse()


def test_local_wheels_are_listed_under_their_normalised_project(index):
    page = urllib.request.urlopen(f"{index.url}/torch/", timeout=10).read().decode()
    assert page.count("<a ") == 1 and "torch-2.13.0%2Bcpu-cp311" in page
    other = urllib.request.urlopen(f"{index.url}/some-thing/", timeout=10).read().decode()
    assert "Some_Thing-1.0-py3-none-any.whl" in other and "torch" not in other
    # the file behind the link is the wheel on disk
    link = page.split('href="')[1].split('"')[0]
    got = urllib.request.urlopen(f"http://127.0.0.1:{index.server_address[1]}{link}", timeout=10).read()
    assert got == (index.wheels / TORCH).read_bytes()


def test_every_other_project_is_sent_to_pypi(index):
    resp = _get(index, "/simple/FileLock/")
    assert resp.status == 302 and resp.getheader("Location") == "https://pypi.example/simple/filelock/"


@pytest.mark.parametrize("path", ["/files/../../etc/passwd", "/files/notes.txt", "/files/missing.whl", "/", "/x"])
def test_nothing_else_is_served(index, path):
    assert _get(index, path).status == 404


def test_pip_takes_torch_from_the_index(index, tmp_path):
    """pip itself reads the page: `pip download` of the pinned torch fetches the local file."""
    dest = tmp_path / "got"
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir", "--isolated",
                           "--index-url", index.url, "--dest", str(dest), "torch==2.13.0"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (dest / TORCH).read_bytes() == (index.wheels / TORCH).read_bytes()


def test_base_image_leaves_out_what_the_official_image_removes():
    names = ["test", "tests", "idle_test", "os.py", "x.pyc", "libpython3.11.a", "libpython3.11.so.1.0", "json"]
    assert not_in_base("/usr/local/lib/python3.11", names) == ["test", "tests", "idle_test", "x.pyc",
                                                                 "libpython3.11.a"]
    assert not_in_base("/p/lib/python3.11/site-packages", ["numpy", "pip"]) == ["numpy", "pip"]
    assert not_in_base("/p/bin", ["pip3", "python3.11", "easy_install-3.11"]) == ["pip3", "easy_install-3.11"]
