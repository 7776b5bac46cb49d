"""Fuzz suite: hostile text and URL values, straight into the parsers and through the real app (AppTest)."""
from __future__ import annotations

import json
from pathlib import Path

from tests.fuzz.record import CASES, FULL

COUNTS = Path(__file__).resolve().parents[2] / "artifacts" / "fuzz-counts.json"


def pytest_sessionfinish(session, exitstatus):
    if not CASES:
        return
    report = {"profile": "full" if FULL else "ci", "failed_tests": session.testsfailed,
              "cases": dict(sorted(CASES.items())), "total": sum(CASES.values())}
    COUNTS.parent.mkdir(parents=True, exist_ok=True)
    COUNTS.write_text(json.dumps(report, indent=2) + "\n")
