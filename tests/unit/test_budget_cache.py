"""The trace cache: bounded by bytes and age, least recently used first out, one computation per key."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from components.cache import BudgetCache, trace_nbytes


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_evicts_least_recently_used_by_bytes():
    cache = BudgetCache(100, ttl=60, size_of=len)
    for key in "abc":
        cache.get(key, lambda k=key: k * 40)  # 40 bytes each: the third pushes out the oldest
    assert len(cache) == 2 and cache.used == 80
    calls = []
    cache.get("b", lambda: calls.append("b") or "x")  # a hit: not recomputed, and now most recent
    cache.get("d", lambda: "d" * 40)
    assert calls == [] and cache.get("b", lambda: "recomputed") == "b" * 40
    assert cache.get("c", lambda: "recomputed") == "recomputed"  # c was the least recently used


def test_an_entry_bigger_than_the_budget_is_kept_alone():
    cache = BudgetCache(10, ttl=60, size_of=len)
    cache.get("small", lambda: "12345")
    assert cache.get("big", lambda: "x" * 50) == "x" * 50
    assert len(cache) == 1 and cache.used == 50


def test_entries_expire():
    clock = Clock()
    cache = BudgetCache(1000, ttl=10, size_of=len, clock=clock)
    cache.get("a", lambda: "old")
    clock.now = 9
    assert "a" in cache and "b" not in cache
    assert cache.get("a", lambda: "new") == "old"
    clock.now = 21  # born at 0: 21 s > ttl
    assert "a" not in cache
    assert cache.get("a", lambda: "new") == "new" and cache.used == 3


def test_one_computation_per_key_under_concurrency():
    cache = BudgetCache(1000, ttl=60, size_of=len)
    calls = []

    def slow():
        calls.append(1)
        time.sleep(0.2)
        return "value"

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("k", slow))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [1] and results == ["value"] * 8


def test_trace_size_counts_every_array(minilm):
    from models.trace import compute_trace

    tr = compute_trace(minilm, "a short text")
    arrays = [tr.ids, tr.offsets, tr.special, tr.token_embeddings, tr.position_embeddings, tr.hidden_states,
              tr.attentions]
    assert trace_nbytes(tr) == sum(a.nbytes for a in arrays if isinstance(a, np.ndarray))



@pytest.fixture
def spinners(monkeypatch) -> list[str]:
    """The messages of every st.spinner entered (components.cache), in a process that has made nothing yet."""
    import contextlib

    from components import cache

    shown: list[str] = []

    @contextlib.contextmanager
    def spinner(message):
        shown.append(message)
        yield

    monkeypatch.setattr(cache.st, "spinner", spinner)
    monkeypatch.setattr(cache, "_MADE", set())
    return shown


def test_the_spinner_shows_only_the_first_time_a_resource_is_made(spinners):
    """st.spinner starts a thread per call; a model already loaded is returned without one."""
    from components.cache import once_with_spinner

    made = []
    for _ in range(3):
        assert once_with_spinner(("model", "m"), "Loading m...", lambda: made.append(1) or "lm") == "lm"
    once_with_spinner(("engine", "m"), "Starting...", lambda: "engine")
    assert spinners == ["Loading m...", "Starting..."] and len(made) == 3  # the cache is asked every time


def test_a_failed_first_load_shows_the_spinner_again_next_time(spinners):
    from components.cache import ModelUnavailable, once_with_spinner

    def fail():
        raise ModelUnavailable("The hub is unreachable.")

    for _ in range(2):
        with pytest.raises(ModelUnavailable):
            once_with_spinner("hub", "Loading...", fail)
    assert spinners == ["Loading...", "Loading..."]
