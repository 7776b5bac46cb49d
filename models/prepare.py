"""`python -m models.prepare`: make the bundled models ready once (idempotent). Used by `make run/test`.

Converts the bundled SmolLM2 GGUF to verified fp32 safetensors in the user cache (skipped when a valid copy
exists) and checks that the bundled MiniLM folder is installed. ``--clean`` removes the converted copies.
"""
from __future__ import annotations

import argparse
import shutil
import sys

from models.checkpoint import ModelUnavailable, bundled_path, cache_root
from models.loading import is_prepared, prepare, terminal_progress
from models.registry import REGISTRY


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clean", action="store_true", help="delete the converted model cache")
    args = parser.parse_args(argv)
    if args.clean:
        shutil.rmtree(cache_root(), ignore_errors=True)
        print(f"Removed {cache_root()}")
        return 0
    ok = True
    for spec in REGISTRY.values():
        if not spec.bundled:
            continue
        try:
            if spec.source == "bundled-gguf" and not is_prepared(spec):
                prepare(spec, terminal_progress)
            else:
                bundled_path(spec)
            print(f"{spec.id}: ready")
        except ModelUnavailable as e:
            ok = False
            print(f"{spec.id}: {e}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
