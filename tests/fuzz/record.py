"""Fuzz sizes (reduced in `make test`, full in `make fuzz`) and the count of cases actually run.

``FUZZ_PROFILE=full`` selects the full sizes; `make fuzz` then records the counts into bench/results.json
at the end of the session (see conftest.py).
"""
from __future__ import annotations

import os
from collections import Counter

from hypothesis import HealthCheck, settings

FULL = os.environ.get("FUZZ_PROFILE", "").lower() == "full"
CASES: Counter = Counter()  # property name -> examples run (hypothesis' shrinking re-runs included)


def sized(ci: int, full: int) -> settings:
    """Hypothesis settings with ``ci`` examples in `make test` and ``full`` in `make fuzz`. The reduced form
    is derandomized (the same cases every run: CI stays reproducible); the full form explores afresh."""
    return settings(
        max_examples=full if FULL else ci, deadline=None, derandomize=not FULL, database=None if not FULL else
        settings.default.database, print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                               HealthCheck.large_base_example],
    )


def count(name: str) -> None:
    CASES[name] += 1
