"""Undo registrations of local models made by a test: the model registry is process-wide, so a test that
registers a folder puts the registry back as it found it (specs, their order, the rejected folders)."""
from __future__ import annotations

import contextlib
from typing import Iterator


@contextlib.contextmanager
def restored_registry() -> Iterator[None]:
    """The registry as it is now, put back when the block ends (also on an error)."""
    from models import registry

    before = dict(registry.REGISTRY)
    specs, errors = list(registry._SPECS), list(registry.LOCAL_ERRORS)
    try:
        yield
    finally:
        registry.REGISTRY.clear()
        registry.REGISTRY.update(before)
        registry._SPECS[:] = specs
        registry.LOCAL_ERRORS[:] = errors
