"""bench/results.json: every measurement with the run it came from.

The file holds one entry per bench SECTION (``python -m bench.run`` sections such as ``next_token`` or
``generation``, the load harness's ``load/...`` profiles, ``fuzz``)::

    {"format": 2, "convention": "...",
     "sections": {"next_token": {"metadata": {"date", "commit", "cpu_model", "cpu_count", ...},
                                 "results": [{"name", "value", "unit", "target", "baseline", "ratio", "ok"}, ...]},
                  ...}}

A section is written whole, by the run that measured it: its numbers, the baselines measured in the same run
(each entry's ``baseline``: the reference the same section measured beside it, interleaved, on the same machine),
and its own date, git commit, CPU model and core count. A partial run (``--only``) therefore replaces only its
own sections and leaves the others, with their own dates, as they were. Readers (bench/docs.py, which writes the
numbers into README.md and docs/) take a number together with its section's date and machine.

``python -m bench.results --migrate`` converted the earlier flat file (one global date for all rows) once: each old
section got the date and commit of the run that last changed its numbers, found in the git history of this file.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

from models.filelock import file_lock

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results.json"
FORMAT = 2
CONVENTION = ("ratio = value / baseline when baseline is set, and then target applies to ratio; otherwise target "
              "applies to value. ok = within target (null: no target). baseline: measured in the same run as the "
              "value. Each section's metadata says when, at which commit and on which CPU its numbers were measured.")


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str:
    """HEAD's commit, with "+dirty" when tracked files other than bench/results.json differ from it (the numbers
    then belong to the working tree)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                                timeout=10).stdout.strip()
        # results.json itself changes as the sections of one run are written: it does not make the code dirty
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)bench/results.json"], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (commit or "unknown") + ("+dirty" if dirty else "")


def machine() -> dict[str, Any]:
    """Where and when: date, commit, CPU model, cores, load average, platform and the versions that matter."""
    from importlib.metadata import PackageNotFoundError, version

    def v(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return {
        "date": now(), "commit": git_commit(), "cpu_model": cpu_model(), "cpu_count": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()], "platform": platform.platform(),
        "python": platform.python_version(), "torch": v("torch"), "transformers": v("transformers"),
        "streamlit": v("streamlit"), "playwright": v("playwright"),
    }


# ------------------------------------------------------------------------------------------ the file
def empty() -> dict:
    return {"format": FORMAT, "convention": CONVENTION, "sections": {}}


def read(path: Path = RESULTS) -> dict:
    """The results in the per-section format (an old flat file is converted on the fly, see :func:`from_flat`)."""
    path = Path(path)
    if not path.exists():
        return empty()
    data = json.loads(path.read_text())
    if data.get("format") == FORMAT:
        return data
    return from_flat(data)


def write(data: dict, path: Path = RESULTS) -> None:
    data = {"format": FORMAT, "convention": CONVENTION,
            "sections": dict(sorted(data.get("sections", {}).items()))}
    tmp = Path(path).with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def _locked(path: Path) -> contextlib.AbstractContextManager:
    """One writer at a time (a bench run and a load run may finish together)."""
    return file_lock(Path(path).with_suffix(".json.lock"))


def record(section: str, entries: list[dict], notes: dict | None = None, path: Path = RESULTS,
           meta: dict | None = None) -> None:
    """Replace ``section`` with these entries and its metadata: ``meta`` (default: :func:`machine` now) plus
    ``notes`` (what the section reports beside its numbers). Other sections are left as they are."""
    metadata = dict(meta) if meta is not None else machine()
    for k, v in machine().items():
        metadata.setdefault(k, v)
    if notes:
        metadata.update(notes)
    with _locked(path):
        data = read(path)
        data["sections"][section] = {"metadata": metadata, "results": list(entries)}
        write(data, path)


def record_error(section: str, message: str, path: Path = RESULTS) -> None:
    """A section that failed keeps its last numbers (with their own date); the failure is noted beside them."""
    with _locked(path):
        data = read(path)
        sec = data["sections"].setdefault(section, {"metadata": {}, "results": []})
        sec["metadata"]["last_failure"] = {"date": now(), "commit": git_commit(), "error": message[:2000]}
        write(data, path)


def rows(data: dict) -> Iterator[tuple[str, dict, dict]]:
    """(section, entry, section metadata) for every number in the file."""
    for section, sec in data.get("sections", {}).items():
        for entry in sec.get("results", []):
            yield section, entry, sec.get("metadata", {})


def find(data: dict, name: str) -> tuple[dict, dict]:
    """The entry called ``name`` and its section's metadata (KeyError when no section has it)."""
    for _section, entry, meta in rows(data):
        if entry["name"] == name:
            return entry, meta
    raise KeyError(name)


# ------------------------------------------------------------------------ the earlier, flat file
# which bench.run section wrote a row of the flat file (the load harness's rows carry their section in the name)
PREFIXES = {"cold_start": "load", "conversion": "convert", "trace_overhead": "trace",
            "trace_overhead_same_work": "trace", "memory": "rss", "neighbours": "neighbours", "render": "render",
            "bertviz": "bertviz", "next_token": "next_token", "attention": "attention", "generation": "generation",
            "block": "block", "kv_cache": "kv_cache", "samples": "samples", "fuzz": "fuzz"}


def section_of(name: str) -> str:
    head, _, rest = name.partition("/")
    if head == "load":  # load/<profile>/<measure>
        return "load/" + rest.split("/", 1)[0]
    return PREFIXES.get(head, head)


def from_flat(data: dict) -> dict:
    """The flat format ({"metadata": one run's, "results": [...]}) grouped into sections. Sections whose own
    metadata the flat file kept (the load harness's) keep it; the others get no date (they are unknown until
    :func:`migrate` finds them in the git history)."""
    old = data.get("metadata", {})
    out = empty()
    for entry in data.get("results", []):
        section = section_of(entry["name"])
        sec = out["sections"].setdefault(section, {"metadata": {}, "results": []})
        sec["results"].append(entry)
        own = old.get(section)
        if isinstance(own, dict) and not sec["metadata"]:
            sec["metadata"] = dict(own)
    return out


def _history(path: str = "bench/results.json") -> list[tuple[str, str, dict]]:
    """(commit, commit date, flat data) for every committed version of the file, oldest first."""
    log = subprocess.run(["git", "log", "--reverse", "--format=%H %cI", "--", path], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout.split("\n")
    out = []
    for line in filter(None, log):
        commit, date = line.split()
        text = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=REPO, capture_output=True, text=True,
                              check=True).stdout
        out.append((commit, date, json.loads(text)))
    return out


def migrate(data: dict) -> dict:
    """Give every section of a converted flat file a date and commit: those of the committed version where its
    numbers were last changed. When that version's run measured the section (a full run, or ``--only`` with it),
    the run's own date and platform are used; else the commit's date (when the numbers were recorded)."""
    history = _history()
    for section, sec in data["sections"].items():
        if sec["metadata"].get("date") and sec["metadata"].get("commit"):
            continue
        current = {e["name"]: (e["value"], e.get("baseline")) for e in sec["results"]}
        since: int | None = None  # the first version of the last stretch where every number is as now
        for i in range(len(history) - 1, -1, -1):
            rows_i = {e["name"]: (e["value"], e.get("baseline")) for e in history[i][2].get("results", [])}
            if all(rows_i.get(n) == v for n, v in current.items()):
                since = i
            else:
                break
        meta = dict(sec["metadata"])
        if since is None:
            meta.setdefault("note", "not found in the git history of bench/results.json: date and machine unknown")
            sec["metadata"] = meta
            continue
        commit, committed, flat = history[since]
        old = flat.get("metadata", {})
        parent = subprocess.run(["git", "rev-parse", f"{commit}^"], cwd=REPO, capture_output=True,
                                text=True).stdout.strip() or "unknown"
        partial = old.get("partial_update")
        measured_here = partial is None or section in partial
        meta.setdefault("date", old.get("date") if measured_here and old.get("date") else committed)
        meta.setdefault("commit", parent)
        meta["recorded_in_commit"] = commit
        meta.setdefault("cpu_model", None)
        meta.setdefault("cpu_count", old.get("cpu_count"))
        for k in ("platform", "python", "torch", "transformers", "streamlit"):
            if old.get(k) is not None:
                meta.setdefault(k, old[k])
        if measured_here and old.get("load_average_at_start"):
            meta.setdefault("load_average", old["load_average_at_start"])
        if measured_here:  # what the section reported beside its numbers (generation_profile, torch_threads...)
            for k, v in old.items():
                if k.startswith(section + "_") or (section == "trace" and k in ("torch_threads", "trace_timed_runs")):
                    meta.setdefault(k, v)
        meta["note"] = ("measured before results carried their own metadata: date and commit from the git history "
                        "of bench/results.json" + ("" if measured_here else " (the date is when the numbers were "
                                                                            "committed)") + "; CPU model not recorded")
        sec["metadata"] = meta
    return data


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--migrate", action="store_true", help="convert a flat results file, dating each section")
    parser.add_argument("--path", default=str(RESULTS))
    args = parser.parse_args(argv)
    data = read(Path(args.path))
    if args.migrate:
        data = migrate(data)
        write(data, Path(args.path))
    for section, sec in data["sections"].items():
        m = sec["metadata"]
        print(f"{section:<40} {str(m.get('date')):<26} {str(m.get('commit'))[:12]:<13} "
              f"{m.get('cpu_model')} x{m.get('cpu_count')}  ({len(sec['results'])} numbers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
