"""Load tests run the benchmark's own command (`python -m bench.loadproto ...`) in a subprocess and check its
JSON report: tests/ does not import bench/ (nor bench/ tests/); the command is the interface."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 540  # within pytest.ini's 600 s per test


def run_loadproto(tmp_path: Path, *args: str) -> list[dict]:
    """Run ``python -m bench.loadproto --no-record --json ... *args``; its reports (a list, one per profile)."""
    out = tmp_path / "load-report.json"
    log = tmp_path / "loadproto.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false", HF_HUB_DISABLE_TELEMETRY="1")
    with open(log, "w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "bench.loadproto", "--no-record", "--json", str(out), *args],
                                cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT)
        try:
            proc.wait(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            # SIGINT: the profile's finally blocks stop its servers, nginx and browsers (they run in their own
            # process groups, which killing this child would leave behind)
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            raise AssertionError(f"bench.loadproto did not finish within {RUN_TIMEOUT_S} s (a very busy machine?):"
                                 "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-60:]))
    if not out.exists():
        raise AssertionError(f"bench.loadproto wrote no report (exit {proc.returncode}):\n"
                             + "\n".join(log.read_text(errors="replace").splitlines()[-60:]))
    return json.loads(out.read_text())


def summary(report: dict, keys: tuple[str, ...]) -> str:
    return json.dumps({k: report.get(k) for k in keys}, default=str)
