"""`make image`: build the Dockerfile as it is, without a Docker daemon or a registry, then run the image and
open the app in Chromium. The build time, the image size and the wait until a browser draws the first page go to
bench/results.json (section ``image``) and docs/deploy.md.

Nothing of the Dockerfile is changed. The daemon is buildah (Debian's package) with ``vfs`` storage and ``chroot``
isolation, so it runs inside an unprivileged container too; what Docker Hub's base image and the torch CPU index
would give comes from deploy/offline_build.py (a base made with debootstrap, and a local index for torch's CPU
wheel that sends everything else to PyPI).

    python -m bench.image                 # build, run, record
    python -m bench.image --no-record     # the same, nothing written
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import REPO, chromium, entry
from deploy.offline_build import BASE, STORAGE, TorchIndex, build_base

IMAGE = "localhost/transformer-explainer:latest"


def _buildah(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["buildah", *STORAGE, *args], check=True, **kw)


def _in(ctr: str, *cmd: str) -> list[str]:
    """The command line that runs ``cmd`` in container ``ctr`` (its image's user, working folder and environment)."""
    return ["buildah", *STORAGE, "run", "--isolation", "chroot", ctr, "--", *cmd]


def _has_image(name: str) -> bool:
    return subprocess.run(["buildah", *STORAGE, "inspect", "--type", "image", name],
                          capture_output=True).returncode == 0


def image_size_mb(name: str) -> float:
    """Size of the image's layers unpacked, in MB (what `docker images` shows; buildah writes it as "2.81 GB")."""
    got = json.loads(_buildah("images", "--json", name, capture_output=True, text=True).stdout)
    value, unit = got[0]["size"].split()
    return float(value) * {"B": 1e-6, "KB": 1e-3, "kB": 1e-3, "MB": 1.0, "GB": 1e3, "TB": 1e6}[unit]


def build(torch_index: str, ca_bundle: Path | None) -> float:
    """Seconds of ``buildah bud`` on the Dockerfile (no build cache: ``--layers=false``). ``ca_bundle``: where the
    network re-signs TLS (a school's proxy, this machine's sandbox), that CA bundle is mounted into the RUN steps
    only, with a pip.conf that points pip at it (pip trusts its own certifi bundle otherwise); the image keeps
    Debian's."""
    mounts: list[str] = []
    with tempfile.TemporaryDirectory(prefix="image-build-") as tmp:
        if ca_bundle is not None:
            conf = Path(tmp) / "pip.conf"
            conf.write_text("[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n")
            mounts = ["--volume", f"{ca_bundle}:/etc/ssl/certs/ca-certificates.crt:ro",
                      "--volume", f"{conf}:/etc/pip.conf:ro"]
        t0 = time.monotonic()
        _buildah("bud", "--format", "docker", "--isolation", "chroot", "--pull=never", "--layers=false", *mounts, "--build-arg",
                 f"TORCH_INDEX={torch_index}", "-t", IMAGE, "-f", "Dockerfile", str(REPO), cwd=REPO)
        return time.monotonic() - t0


def _config(name: str) -> dict:
    out = _buildah("inspect", "--type", "image", name, capture_output=True, text=True).stdout
    return json.loads(out)["Docker"]["config"]


def run_and_open(port: int = 8501, timeout: float = 300) -> dict:
    """Start the image's CMD (as its USER, in its WORKDIR, with its ENV), run its HEALTHCHECK command inside it until
    it passes, then open the Tokens page in Chromium from outside. Returns seconds from the start to healthy and
    to the first page drawn, and the page's first token chip."""
    from playwright.sync_api import sync_playwright

    config = _config(IMAGE)
    cmd, health = config["Cmd"], config["Healthcheck"]["Test"]
    if f"{port}" not in cmd:
        raise RuntimeError(f"the image's CMD does not serve port {port}: {cmd}")
    ctr = _buildah("from", "--pull=never", IMAGE, capture_output=True, text=True).stdout.strip()
    log = tempfile.NamedTemporaryFile("w+", prefix="image-run-", suffix=".log", delete=False)
    t0 = time.monotonic()
    proc = subprocess.Popen(_in(ctr, *cmd), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        probe = health[1:] if health[0] == "CMD" else ["sh", "-c", health[1]]
        healthy = None
        while time.monotonic() - t0 < timeout and proc.poll() is None:
            ok = subprocess.run(_in(ctr, *probe), capture_output=True).returncode == 0
            if ok:
                healthy = time.monotonic() - t0
                break
            time.sleep(0.5)
        if healthy is None:
            raise RuntimeError(f"the container never passed its health check; log {log.name}")
        with sync_playwright() as p:
            browser = p.chromium.launch(**chromium())
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/tokens?model=smollm2-135m&text=Hello%20class", timeout=timeout * 1000)
            chip = page.locator(".tx-chips").first.locator(".tx-chip").first  # the page's first token chip
            chip.wait_for(timeout=timeout * 1000)
            drawn = time.monotonic() - t0
            first = chip.locator(".tx-piece").inner_text()
            browser.close()
        if first != "Hello":
            raise RuntimeError(f"the Tokens page of 'Hello class' starts with {first!r}")
        user = subprocess.run(_in(ctr, "id", "-un"), capture_output=True, text=True).stdout.strip()
        return {"healthy_s": healthy, "page_s": drawn, "first_token": first, "user": user}
    finally:
        os.killpg(proc.pid, 15)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
        subprocess.run(["buildah", *STORAGE, "rm", ctr], capture_output=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", type=Path, default=Path.home() / ".pyenv/versions/3.11.7",
                    help="a CPython 3.11.7 prefix built with --enable-shared (for the stand-in base image)")
    ap.add_argument("--wheels", type=Path, default=Path("/opt/wheels"), help="folder with torch's CPU wheel")
    ap.add_argument("--ca-bundle", type=Path, default=os.environ.get("PIP_CERT") or None,
                    help="CA bundle for the build's downloads (default: $PIP_CERT; none: the image's own)")
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args(argv)
    for tool in ("buildah", "debootstrap", "chroot"):
        if not shutil.which(tool):
            print(f"{tool} is not installed (apt-get install buildah debootstrap)", file=sys.stderr)
            return 2
    base_s = None
    if not _has_image(BASE):
        t0 = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="base-image-") as work:
            build_base(args.python, Path(work))
        base_s = round(time.monotonic() - t0, 1)
    with TorchIndex(args.wheels).serving() as index:
        build_s = build(index.url, args.ca_bundle)
    size = image_size_mb(IMAGE)
    ran = run_and_open()
    print(json.dumps({"base_s": base_s, "build_s": build_s, "size_mb": size, **ran}))
    if not args.no_record:
        from bench.results import record

        record("image", [entry("image/build_s", build_s, "s"), entry("image/size", size, "MB"),
                         entry("image/start_to_healthy", ran["healthy_s"], "s"),
                         entry("image/start_to_first_page", ran["page_s"], "s")],
               notes={"builder": subprocess.run(["buildah", "--version"], capture_output=True,
                                                text=True).stdout.strip(),
                      "base": f"{BASE}: debootstrap bookworm + CPython 3.11.7 in /usr/local",
                      "torch_index": "local index: torch's CPU wheel from disk, the rest from PyPI",
                      "base_built_s": base_s, "first_token": ran["first_token"], "user": ran["user"]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
