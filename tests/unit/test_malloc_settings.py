"""The server's malloc settings (Makefile, devserver.server_env, Dockerfile): the same values in the three places
that start a server, and the mmap threshold doing what the Makefile says it does."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import devserver

REPO = Path(__file__).resolve().parents[2]
SETTINGS = ("MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_")

# a large block freed, then a smaller one asked for: is the smaller one in a mapping of its own (hblkhd)?
PROBE = """
import ctypes, numpy as np
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                              "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6"); libc.mallinfo2.restype = Info
a = np.ones(8 << 20, np.uint8); del a
b = np.ones(4 << 20, np.uint8)
print(libc.mallinfo2().hblkhd >= (4 << 20))
"""


def test_every_way_of_starting_the_server_sets_the_same_values():
    make = dict(re.findall(r"^export (MALLOC_\w+) \?= (\S+)$", (REPO / "Makefile").read_text(), re.M))
    docker = dict(re.findall(r"\b(MALLOC_\w+)=(\S+)", (REPO / "Dockerfile").read_text()))
    env = devserver.server_env()
    assert set(make) == set(docker) == set(SETTINGS)
    for name in SETTINGS:
        assert make[name] == docker[name] == env[name], name


def _mapped(env: dict[str, str]) -> bool:
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip() == "True"


def test_a_fixed_threshold_keeps_large_blocks_in_their_own_mappings():
    """Without it glibc raises its threshold to the size of each large block freed, and the next large arrays
    come from the heap (whose holes it does not give back); with it they stay mapped, returned when freed."""
    # glibc's dynamic threshold is also off when any of these is set: the baseline has none of them
    fixed = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_", "GLIBC_TUNABLES")
    base = {k: v for k, v in devserver.server_env().items() if k not in fixed}
    assert not _mapped(base)
    assert _mapped(devserver.server_env())
