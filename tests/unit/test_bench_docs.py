"""The numbers README.md and docs/ quote from the bench are bench/results.json's, with their run's date and machine:
`python -m bench.docs` writes them between ``<!-- bench:start NAME -->`` and ``<!-- bench:end -->``, and these tests
fail when the files differ from what it would write. Each section of bench/results.json carries its own date,
commit, CPU model and core count, and a partial run (``--only``) replaces only its own sections.

Run as subprocesses: tests and bench do not import each other."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results.json"
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BLOCK = re.compile(r"<!-- bench:start ([\w-]+) -->(.*?)<!-- bench:end -->", re.S)


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=600)


def test_the_docs_quote_what_bench_results_json_holds():
    proc = run("-m", "bench.docs", "--check")
    assert proc.returncode == 0, f"run `python -m bench.docs`:\n{proc.stdout}{proc.stderr}"
    assert sum(len(BLOCK.findall(p.read_text())) for p in DOCS) >= 6


def test_a_changed_number_makes_the_check_fail(tmp_path):
    data = json.loads(RESULTS.read_text())
    for entry in data["sections"]["generation"]["results"]:
        if entry["name"] == "generation/one_stream/tokens_per_s":
            entry["value"] += 10
    changed = tmp_path / "results.json"
    changed.write_text(json.dumps(data))
    proc = run("-m", "bench.docs", "--check", "--results", str(changed))
    assert proc.returncode == 1 and "README.md" in proc.stdout


def test_every_block_names_its_run():
    for path in DOCS:
        for name, body in BLOCK.findall(path.read_text()):
            assert re.search(r"of 20\d\d-\d\d-\d\d: commit \w{7}, \d+ cores", body), (path.name, name)


def test_throughput_figures_appear_only_inside_blocks():
    """A speed quoted in tokens/s is the bench's, with its date: never typed into the prose by hand."""
    for path in DOCS:
        outside = BLOCK.sub("", path.read_text())
        assert not re.search(r"\d\s*(tokens/s|tok/s)", outside), path.name


def test_each_section_carries_its_own_run():
    data = json.loads(RESULTS.read_text())
    assert data["format"] == 2 and "metadata" not in data  # no file-wide date
    for name, section in data["sections"].items():
        meta = section["metadata"]
        assert re.fullmatch(r"20\d\d-\d\d-\d\dT.*", str(meta.get("date"))), name
        assert meta.get("commit") and meta.get("cpu_count"), name
        assert "cpu_model" in meta and (meta["cpu_model"] or meta.get("note")), name  # unknown only when said so
        assert section["results"], name
        for entry in section["results"]:
            if entry["baseline"] is not None:  # the reference measured by the same run
                assert entry["ratio"] == pytest.approx(entry["value"] / entry["baseline"], rel=1e-2, abs=1e-3)


@pytest.mark.slow
def test_a_partial_run_replaces_only_its_own_section(tmp_path):
    out = tmp_path / "results.json"
    shutil.copyfile(RESULTS, out)
    before = json.loads(out.read_text())["sections"]
    proc = run("-m", "bench.run", "--only", "neighbours", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    after = json.loads(out.read_text())["sections"]
    assert {k: v for k, v in after.items() if k != "neighbours"} == {k: v for k, v in before.items() if k != "neighbours"}
    meta = after["neighbours"]["metadata"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    assert meta["commit"].startswith(head) and meta["date"] > before["neighbours"]["metadata"]["date"]
    assert meta["cpu_model"] and meta["cpu_count"] >= 1 and "seconds" in meta
    names = {e["name"] for e in after["neighbours"]["results"]}
    assert {"neighbours/smollm2-135m/p95_query", "neighbours/smollm2-135m/p95_vs_naive"} <= names
