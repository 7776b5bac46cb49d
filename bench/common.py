"""What every bench section shares: the result entry, the test texts, Chromium's launch options and a fresh server.

bench/run.py imports the sections and the sections import this module, never bench.run (which `python -m bench.run`
runs as __main__: importing it again from a section would load it a second time). Nothing here imports tests/.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import devserver  # noqa: E402  (the one server start/stop helper of tests/ and bench/)

RESULTS = REPO / "bench" / "results.json"  # its format: bench/results.py
MODELS = ("smollm2-135m", "minilm-l6")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps",
]
PASSAGE = (
    "Students celebrate the graduation with a big party in the old town hall. Their teachers give short "
    "speeches about patience, curiosity and the long nights spent reading before exams. Parents take photos, "
    "friends exchange addresses and promise to write, and the music plays until the caretaker switches off "
    "the lights. Outside, the first summer rain falls on the bicycles, and somebody starts singing a song "
    "that everybody seems to know."
)

NOTES: dict[str, Any] = {}  # extra facts the running section reports, written into its metadata


def entry(name: str, value: float | None, unit: str, target: float | None = None,
          baseline: float | None = None) -> dict[str, Any]:
    """One measurement. With a ``baseline`` (measured by the same section in the same run) ``ratio`` is
    value / baseline and ``target`` applies to the ratio; otherwise ``target`` applies to ``value``."""
    ratio = None if baseline in (None, 0) or value is None else value / baseline
    checked = ratio if baseline is not None else value
    ok = None if target is None or checked is None else bool(checked <= target)
    return {"name": name, "value": _round(value), "unit": unit, "target": target, "baseline": _round(baseline),
            "ratio": _round(ratio), "ok": ok}


def _round(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(float(x), digits)


def median(xs: list[float]) -> float:
    return float(statistics.median(xs))


def served(model_id: str) -> Any:
    """The model as the app serves it (components/cache.py: models.loading.load, the stock transformers model), so
    that a section measures what a student waits for."""
    from models.loading import load

    return load(model_id)


def text_with_tokens(tokenizer: Any, n: int) -> str:
    """Natural text that this tokenizer (special tokens included, as the app encodes it) cuts into exactly n."""
    def count(t: str) -> int:
        return len(tokenizer(t, add_special_tokens=True)["input_ids"])

    words = PASSAGE.split()
    text, i = "", 0
    while True:
        candidate = f"{text} {words[i % len(words)]}".strip()
        if count(candidate) > n:
            break
        text, i = candidate, i + 1
        if count(text) == n:
            return text
    while count(text) < n:  # top up with a one-token word
        text += " a"
    if count(text) != n:
        raise RuntimeError(f"could not build a {n}-token text")
    return text


def chromium() -> dict[str, Any]:
    """Playwright's Chromium launcher args for Debian's chromium (Playwright cannot download its own here)."""
    exe = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(exe):
        raise RuntimeError("chromium is not installed (`make browser`)")
    return dict(executable_path=exe, headless=True, args=CHROMIUM_ARGS)


@contextlib.contextmanager
def serving(timeout: float = 180, warm: bool = True):
    """A fresh ``serve.py`` (as `make run` starts it, devserver.start) on a free port: yields (base url, seconds
    to healthy); with ``warm`` it returns once serve.py's background warm-up is done. Its process group is stopped
    on exit. The server log is kept only when something failed."""
    srv = devserver.start(timeout=timeout, warm=warm)
    ok = False
    try:
        yield srv.url, srv.started_s
        ok = True
    finally:
        srv.stop()
        if ok:
            srv.log.unlink(missing_ok=True)
        else:
            print(f"[bench] server log kept: {srv.log}", file=sys.stderr)


CHILD_MARK = "BENCH_JSON:"  # a child's one line of JSON result on stdout


def run_child(module: str, kind: str, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> dict:
    """Run ``python -m <module> --child kind args`` in a fresh interpreter (nothing of this process's state, e.g.
    its torch threads, leaks into the measurement); return the JSON it printed after :data:`CHILD_MARK`."""
    cmd = [sys.executable, "-m", module, "--child", kind, *args]
    full_env = dict(os.environ, TOKENIZERS_PARALLELISM="false", HF_HUB_DISABLE_TELEMETRY="1", **(env or {}))
    proc = subprocess.run(cmd, cwd=REPO, env=full_env, capture_output=True, text=True, timeout=timeout)
    for line in proc.stdout.splitlines():
        if line.startswith(CHILD_MARK):
            return json.loads(line[len(CHILD_MARK):])
    raise RuntimeError(f"{module} child {kind} {args} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
