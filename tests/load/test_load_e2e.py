"""The load test of `make load` (bench/load.py) in a reduced but real form, so `make test` guards it:
a fresh serve.py, 8 concurrent Chromium sessions opening the link in the same second, each doing a few
interactions on its own text (including a short generation), then 30 distinct ~128-token texts. Correctness targets are asserted (no error,
no cross-talk, one load per model, RSS under 3 GB); latencies are reported, not asserted (the machine is
shared: they are measured in `make load` and recorded in bench/results.json).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import threading

import pytest

from tests.e2e.conftest import chromium_path

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def in_own_thread(fn):
    """Run ``fn`` in a fresh thread: the e2e suite's sync Playwright keeps an event loop running in this one,
    and asyncio.run refuses to start inside a running loop."""
    out: dict = {}

    def target():
        try:
            out["value"] = fn()
        except BaseException as e:  # re-raised in the test's thread
            out["error"] = e

    t = threading.Thread(target=target, name="load-test")
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_eight_sessions_at_once(capsys):
    if chromium_path() is None:
        pytest.skip("chromium is not installed (`make browser`)")
    from bench import load

    args = argparse.Namespace(sessions=8, interactions=8, texts=30, memory_workers=4, browser_idle=True,
                              think=(0.0, 0.0))
    r = in_own_thread(lambda: asyncio.run(load._run(args)))
    with capsys.disabled():
        print("\n[load] " + json.dumps({k: r[k] for k in ("latency_p50_s", "latency_p95_s", "latency_max_s", "generation_p95_s",
                                                          "server_run_p50_s", "server_run_p95_s",
                                                          "cold_start_max_s", "peak_rss_mb", "loads")}, default=str))
    assert r["errors"] == [], r["errors"][:10]
    assert r["crosstalk"] == []
    assert r["interactions_done"] + r["generations_done"] == 8 * 8
    assert r["generations_done"] == 8  # every session generated once, concurrently, on the one shared model
    assert r["memory"]["errors"] == [] and r["memory"]["texts"] == 30
    model_loads = {k: v for k, v in r["loads"].items() if k.startswith("model:")}
    assert model_loads and all(v == 1 for v in model_loads.values()), r["loads"]
    assert r["peak_rss_mb"] <= load.TARGET_RSS_MB
    # the server timed its own side: at least one script run per interaction, each with its wall and CPU time
    assert r["server_runs"] >= 8 * 8 and 0 < r["server_run_cpu_p50_s"] <= r["server_run_p95_s"]
    # every run is told to its session (the marker in its text); the first pages are the cold start's
    assert r["server_runs_unattributed"] == 0 and r["server_run_cold_start_p95_s"] > 0
    # and where each run waited: the models' locks were timed (an untimed lock reads exactly 0), per page
    assert r["server_run_lock_wait_max_s"] > 0 and r["server_run_other_wait_p95_s"] is not None
    assert sum(p["runs"] for p in r["server_run_by_page"].values()) == r["server_runs_pages"]
    # the browsers ran under SCHED_IDLE, every thread of them (Chromium resets nice values, not the policy)
    assert r["browser_threads"] > 8 and r["browser_threads_not_idle"] == 0
    # and the machine's: the server's CPU is part of it, the rest is the load generator's
    assert 0 < r["server_cpu_s_sessions"] <= r["machine_cpu_s_sessions"]
    assert 0 < r["machine_busy_fraction"] <= 1.05 and r["load_generator_cpu_s_per_interaction"] > 0
