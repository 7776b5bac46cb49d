"""One writer at a time across processes: an exclusive ``flock`` on a lock file beside what is being written.

Used where two processes may write the same thing at once: two servers (or a server and ``make models``)
converting the bundled GGUF into the cache (models/loading.py), and a bench run and a load run finishing together
and writing bench/results.json (bench/results.py). The lock is released when the block ends, also on an error,
and by the kernel if the process dies holding it.
"""
from __future__ import annotations

import contextlib
import fcntl
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created, with its folder, if missing) for the ``with`` block."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
