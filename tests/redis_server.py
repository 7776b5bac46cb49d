"""A real redis-server for the tests: Debian's package (`make proxy` installs it), started on a free loopback
port with no persistence, stopped by its PID. Missing, the tests that need it FAIL (a CI without it must not pass
by skipping), unless TX_SKIP_REDIS_TESTS=1 says to skip them on purpose."""
from __future__ import annotations

import contextlib
import os
from typing import Iterator

import pytest

import devserver

SKIP_ENV = "TX_SKIP_REDIS_TESTS"
free_port = devserver.free_port  # tests import it from here
redis_server_path = devserver.redis_server_path


def require_redis() -> str:
    exe = redis_server_path()
    if exe:
        return exe
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"redis-server is not installed and {SKIP_ENV}=1")
    pytest.fail(f"redis-server is not installed (`make proxy` installs Debian's package; set {SKIP_ENV}=1 to skip on "
                "purpose)", pytrace=False)


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """Yields ``redis://127.0.0.1:PORT/0`` of a fresh redis-server (devserver.start_redis, shared with bench/);
    kills it (by PID) afterwards."""
    server = devserver.start_redis(require_redis())
    try:
        yield server.url
    finally:
        server.stop()
