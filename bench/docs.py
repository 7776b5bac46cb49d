"""`python -m bench.docs`: write the bench's numbers into README.md and docs/*.md, from bench/results.json.

A number the documentation quotes from the bench sits between two markers::

    <!-- bench:start generation -->...generated text...<!-- bench:end -->

and the text between them is what :data:`BLOCKS` ``[name]`` makes of bench/results.json: the numbers together with
the date, commit and machine of the run that measured them (bench/results.py keeps those per section). Edit the
words in the block's function below, never between the markers. tests/unit/test_bench_docs.py fails when a file
differs from what this would write (a number changed in results.json and the docs were not regenerated, or the
docs were edited by hand), and when a block names numbers that results.json does not have.

    python -m bench.docs            # rewrite the blocks
    python -m bench.docs --check    # exit 1 and list the files that differ
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Callable

from bench import results as store

REPO = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- bench:start (?P<name>[\w-]+) -->)(?P<body>.*?)(<!-- bench:end -->)", re.S)


def files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


class Numbers:
    """Read access to bench/results.json for one block: values by name, and the runs they came from."""

    def __init__(self, data: dict):
        self.data = data
        self.used: dict[str, dict] = {}  # section -> its metadata, for the "measured on" note

    def entry(self, name: str) -> dict:
        for section, entry, meta in store.rows(self.data):
            if entry["name"] == name:
                self.used[section] = meta
                return entry
        raise KeyError(f"bench/results.json has no {name!r}")

    def value(self, name: str) -> float:
        return float(self.entry(name)["value"])

    def baseline(self, name: str) -> float:
        return float(self.entry(name)["baseline"])

    def meta(self, section: str) -> dict:
        sec = self.data["sections"][section]
        self.used[section] = sec["metadata"]
        return sec["metadata"]

    def when(self) -> str:
        """"bench `generation` of 2026-12-04: commit 5e7e525, 2 cores, CPU model not recorded", per run used."""
        parts = []
        for section, meta in self.used.items():
            date = str(meta.get("date") or "an unknown date")[:10]
            commit = str(meta.get("commit") or "unknown")[:7]
            cpu = meta.get("cpu_model") or "CPU model not recorded"
            parts.append(f"bench `{section}` of {date}: commit {commit}, {meta.get('cpu_count')} cores, {cpu}")
        return "; ".join(dict.fromkeys(parts))


def _s(x: float) -> str:
    return f"{x:.1f}" if x < 10 else f"{x:.0f}"


# ---------------------------------------------------------------------------------------------- the blocks
def conversion(n: Numbers) -> str:
    s = n.value("conversion/smollm2-135m/gguf_to_safetensors")
    return f"about {s:.0f} s in {n.when()}"


def generation(n: Numbers) -> str:
    g = "generation/"
    one = n.value(g + "one_stream/tokens_per_s")
    main = n.value(g + "one_stream/hf_generate_tokens_per_s")
    thread = n.value(g + "one_stream/hf_generate_in_a_thread_tokens_per_s")
    after = n.value(g + "one_stream/hf_generate_in_a_thread_after_the_main_thread_tokens_per_s")
    agg8 = n.value(g + "8_streams/aggregate_tokens_per_s")
    agg30 = n.value(g + "30_streams/aggregate_tokens_per_s")
    slow, alone = n.value(g + "30_streams/slowest_vs_one_alone"), n.baseline(g + "30_streams/slowest_vs_one_alone")
    frac = n.value(g + "bandwidth/fraction_of_bound")
    bound = n.value(g + "bandwidth/bound_tokens_per_s")
    return (f"The last run ({n.when()}, each figure from a fresh process) gave one stream {one:.1f} tokens/s, "
            f"against transformers' `generate` on a stock model {main:.1f} on the main thread and {thread:.1f} from "
            f"a background thread ({after:.1f} from a thread once the main thread had run torch: see "
            f"docs/generation.md); 8 streams at once {agg8:.0f} tokens/s in all, 30 at once {agg30:.0f}, the "
            f"slowest of the 30 done in {_s(slow)} s against {_s(alone)} s for one alone; one stream used "
            f"{frac:.0%} of the float32 memory-bandwidth bound ({bound:.0f} tokens/s).")


def memory(n: Numbers) -> str:
    imports = n.value("memory/rss_after_imports")
    peak = n.value("memory/peak_rss_both_models_and_512_token_traces")
    traces = n.value("memory/trace_arrays_512_tokens_both_models")
    return (f"a process holding both models and a 512-token text of each peaked at {peak / 1024:.1f} GB of RSS "
            f"({imports:.0f} MB of it after the imports, {traces:.0f} MB the two traces' arrays; {n.when()})")


def next_token(n: Numbers) -> str:
    p95 = n.value("next_token/browser_redraw_p95")
    rt = n.baseline("next_token/browser_redraw_p95_vs_server_round_trip")
    return (f"a slider move redraws every figure in {p95:.0f} ms (p95, SmolLM2's 49,152 tokens), against {rt:.0f} "
            f"ms for a round trip to the server ({n.when()})")


def bertviz_bytes(n: Numbers) -> str:
    """The page's BertViz views against bertviz's own HTML, in bytes, for texts of 128 tokens or more."""
    def span(view: str) -> str:
        ratios = [n.value(f"bertviz/{m}/{view}/{t}_tokens/bytes_vs_bertviz") / n.baseline(
                  f"bertviz/{m}/{view}/{t}_tokens/bytes_vs_bertviz") for m in ("smollm2-135m", "minilm-l6")
                  for t in (128, 512)]
        lo, hi = round(min(ratios) * 100), round(max(ratios) * 100)
        return f"{lo}%" if lo == hi else f"{lo}–{hi}%"

    head, model = span("head"), span("model")
    return f"{head} of bertviz's bytes for the head view and {model} for the model view ({n.when()})"


LOAD = ("load/30_sessions_reading_4-12s", "load/30_sessions")


def _both(n: Numbers, fmt: Callable[[dict], str]) -> str:
    return " | ".join(fmt(n.meta(s)) for s in LOAD)


def load_when(n: Numbers) -> str:
    for s in LOAD:
        n.meta(s)
    return n.when()


def load_table(n: Numbers) -> str:
    """The two paces side by side; a target cell says whether both met it."""
    def mib(x):
        return f"{x:.0f} MiB"

    within = 3 * 1024  # MiB
    rows = [
        ("**server**: script run wall time p50 / p95 (interactions, pages but /generate)",
         lambda m: f"{m['server_run_p50_s']:.2f} s / **{m['server_run_p95_s']:.2f} s**",
         "p95 ≤ 1 s (server side)", lambda m: m["server_run_p95_s"] <= 1),
        ("server: CPU time of the run's thread p50 / p95",
         lambda m: f"{m['server_run_cpu_p50_s']:.2f} s / {m['server_run_cpu_p95_s']:.2f} s", "", None),
        ("server: waiting for a model's lock (another session's forward pass), p95",
         lambda m: f"{m['server_run_lock_wait_p95_s']:.2g} s", "", None),
        ("server: the rest of the wait (wall − CPU − lock: the GIL, the cores), p95",
         lambda m: f"{m['server_run_other_wait_p95_s']:.2f} s", "", None),
        ("server: the cold start's runs (30 first pages at once), p95",
         lambda m: f"{m['server_run_cold_start_p95_s']:.2f} s", "", None),
        ("server: a 16-token generation's run, p95", lambda m: f"{m['server_run_generate_p95_s']:.1f} s", "", None),
        ("**browser**: interaction latency p50 / p95 / max (generations excluded)",
         lambda m: f"{m['latency_p50_s']:.1f} s / {m['latency_p95_s']:.1f} s / {m['latency_max_s']:.1f} s",
         "p95 ≤ 1 s", lambda m: m["latency_p95_s"] <= 1),
        ("browser: generation, click to finished text, p50 / p95",
         lambda m: f"{m['generation_p50_s']:.1f} s / {m['generation_p95_s']:.1f} s", "", None),
        ("browser: cold start, 30 tabs opening the link in the same second, p50 / max",
         lambda m: f"{m['cold_start_p50_s']:.1f} s / {m['cold_start_max_s']:.1f} s", "", None),
        ("interactions completed",
         lambda m: f"{m['interactions_done'] + m['generations_done']} of "
                   f"{m['sessions'] * m['interactions_per_session']}, {len(m['errors'])} errors",
         "0 errors", lambda m: not m["errors"]),
        ("cross-talk (a session seeing another's marker or text)", lambda m: f"{len(m['crosstalk'])}", "0",
         lambda m: not m["crosstalk"]),
        ("model loads in the process",
         lambda m: f"{max(v for k, v in m['loads'].items() if k.startswith('model:'))} per model", "1",
         lambda m: max(v for k, v in m["loads"].items() if k.startswith("model:")) == 1),
        ("peak RSS during the sessions", lambda m: mib(m["peak_rss_after_sessions_mb"]), "≤ 3 GiB",
         lambda m: m["peak_rss_after_sessions_mb"] <= within),
        # the memory phase runs once, after the last pace of a `make load-browser` run: "—" for the other pace
        ("then 300 distinct ~130-token texts through `/embeddings`, 6 sessions at a time",
         lambda m: f"peak {mib(m['memory']['peak_mb'])}, {len(m['memory']['errors'])} errors" if "memory" in m else "—",
         "≤ 3 GiB", lambda m: None if "memory" not in m else m["memory"]["peak_mb"] <= within and not m["memory"]["errors"]),
        ("CPU per interaction: server / **load generator** (30 Chromium tabs, Playwright)",
         lambda m: f"{m['server_cpu_s_per_interaction']:.2f} s / **{m['load_generator_cpu_s_per_interaction']:.2f} "
                   "s**", "", None),
        ("machine busy during the sessions", lambda m: f"{m['machine_busy_fraction']:.1%}", "", None),
    ]
    lines = ["| measure | reading 4-12 s | back to back | target |", "| --- | --- | --- | --- |"]
    for label, fmt, target, check in rows:
        if check is not None:  # a check gives None where that pace did not measure it
            verdicts = [v for v in (check(n.meta(s)) for s in LOAD) if v is not None]
            target += ": not measured" if not verdicts else ": met" if all(verdicts) else ": **missed**"
        lines.append(f"| {label} | {_both(n, fmt)} | {target} |")
    return "\n" + "\n".join(lines) + f"\n\n({n.when()})\n"


def load_by_page(n: Numbers) -> str:
    m = n.meta(LOAD[0])
    names = {"tokens": "Tokens", "next-token": "Next token (its first visit computes the text's trace)",
             "attention": "Attention", "embeddings": "Embeddings",
             "similarity": "Similarity", "block": "Inside a block", "glossary": "Glossary", "home": "Overview"}
    lines = ["| page | runs | wall p50 | wall p95 | CPU p95 | lock wait p95 |", "| --- | --- | --- | --- | --- | --- |"]
    order = ["tokens", "next-token", "attention", "embeddings", "similarity"]
    pages = sorted(m["server_run_by_page"].items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else 99, kv[0]))
    for page, r in pages:
        lines.append(f"| {names.get(page, page)} | {r['runs']} | {r['wall_p50_s']:.2f} s | {r['wall_p95_s']:.2f} s | "
                     f"{r['cpu_p95_s']:.2f} s | {r['lock_wait_p95_s']:.2g} s |")
    return "\n" + "\n".join(lines) + f"\n\n({n.when()})\n"


def generation_threads(n: Numbers) -> str:
    g = "generation/one_stream/"
    main = n.value(g + "hf_generate_tokens_per_s")
    thread = n.value(g + "hf_generate_in_a_thread_tokens_per_s")
    after = n.value(g + "hf_generate_in_a_thread_after_the_main_thread_tokens_per_s")
    one = n.value(g + "tokens_per_s")
    return (f"`generate` on a stock SmolLM2, 64 greedy tokens, each in a fresh process: {main:.1f} tokens/s on the "
            f"main thread, {thread:.1f} from a background thread, and {after:.1f} from a background thread once the "
            f"main thread had run `generate` before it; the engine, in a process set up as `serve.py`'s, "
            f"{one:.1f} ({n.when()})")


def generation_kernel(n: Numbers) -> str:
    name = "generation/kernel/onednn_vs_mkl_on_the_layers"
    onednn, mkl = n.value(name), n.baseline(name)
    kind = n.meta("generation").get("generation_engine_kind", "not recorded")
    return (f"The last run: every layer matrix of SmolLM2 once at 1 row and once at 8 rows took {onednn * 1000:.1f} "
            f"ms with oneDNN's kernel and {mkl * 1000:.1f} ms with MKL's, and the engine ran as: {kind} ({n.when()}).")


PROTO = {  # make load's parts (bench/loadproto.py section names) in the order docs/deploy.md shows them
    "reading": "load/proto/30_students_reading_4-12s", "back-to-back": "load/proto/30_students_back_to_back",
    "cold": "load/proto/30_students_cold_open", "generate": "load/proto/30_students_generate_40",
    "knee": "load/proto/knee_100_students", "replicas": "load/proto/2_replicas_nginx_60_students",
}


def _secs(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f} s"


def proto_table(n: Numbers) -> str:
    """One row per part of `make load` with what a student waited for (protocol students, end to end)."""
    lines = ["| part | students | p50 / p95 / max, interactions (no generation) | what else | errors · cross-talk | "
             "peak RSS | server CPU per interaction | load client's CPU |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for part, section in PROTO.items():
        if section not in n.data["sections"]:
            continue
        m = n.meta(section)
        lat = " / ".join(_secs(m.get(k)) for k in ("interaction_p50_s", "interaction_p95_s", "interaction_max_s"))
        if part == "reading":
            other = f"target p95 ≤ 1 s: {'met' if (m['interaction_p95_s'] or 0) <= 1.0 else '**missed**'}"
        elif part == "cold":
            other = (f"first page p50 {_secs(m['first_page_p50_s'])}, max {_secs(m['first_page_max_s'])} "
                     f"(target ≤ 5 s: {'met' if (m['first_page_max_s'] or 99) <= 5.0 else '**missed**'})")
        elif part == "generate":
            r = m.get("burst_max_over_alone")
            other = (f"40 tokens: one alone {_secs(m.get('alone_median_s'))}, the 30 at once done within "
                     f"{r:.1f} × that (target 2 ×: {'met' if r is not None and r <= 2 else '**missed**'})"
                     if r is not None else "no generation finished")
        elif part == "knee":
            k = m.get("knee_students")
            steps = ", ".join(f"{b['students']}: {_secs(b['p95_s'])}" for b in m.get("by_step", []))
            other = (f"p95 passes 1 s at **{k} students**" if k else "p95 stayed within 1 s up to the last step") + \
                f" (p95 by students active: {steps})"
        elif part == "replicas":
            ph = m.get("phases") or []
            rate = " → ".join(f"{p.get('interactions_per_s', 0):.1f}/s" for p in ph)
            other = (f"through nginx, 1 → 2 replicas: {rate} (×{m.get('throughput_ratio') or 0:.2f}); "
                     f"{len(m.get('students_on_two_replicas', []))} students on two replicas")
        else:
            other = f"{m.get('interactions_per_s', 0):.1f} interactions/s"
        lines.append(f"| {part} | {m['students']} | {lat} | {other} | {len(m.get('errors', []))} · "
                     f"{len(m.get('crosstalk', []))} | {m.get('peak_rss_mb', 0):.0f} MiB | "
                     f"{m.get('server_cpu_s_per_interaction') or 0:.2f} s | {m.get('client_cpu_fraction') or 0:.1%} |")
    return "\n" + "\n".join(lines) + f"\n\n({n.when()})\n"


def sizing(n: Numbers) -> str:
    """Replicas for a class of 30 and a course of 300 at reading pace, from the knee of one 2-core process."""
    m = n.meta(PROTO["knee"])
    steps = [b for b in m.get("by_step", []) if b.get("p95_s") is not None]
    ok = [b["students"] for b in steps if b["p95_s"] <= 1.0]
    per = max(ok) if ok else None
    if not per:
        return f"no step of the knee run stayed within 1 s ({n.when()})"
    bound = "" if m.get("knee_students") else " (at least: p95 stayed within 1 s up to the last step)"
    return (f"one 2-core process kept p95 within 1 s up to **{per} students** reading 4-12 s between clicks"
            f"{bound}; so a class of 30 needs {-(-30 // per)} such replica(s) and a course of 300 all at once "
            f"{-(-300 // per)} ({n.when()})")


def teacher_wait(n: Numbers) -> str:
    """A teacher's wait from starting the server to the first page drawn in a browser (issue #19: <= 5 s)."""
    healthy = n.value("render/server_start_to_healthy")
    whole = n.value("render/start_to_first_page_drawn")
    fresh = n.value("render/tokens_warm_server_new_browser_profile")
    return (f"the server answered its health check {healthy:.1f} s after the start and a browser that asked at that "
            f"moment drew the Tokens page {whole:.1f} s after the start (target 5 s: "
            f"{'met' if whole <= 5 else '**missed**'}); on a warm server a browser with nothing cached draws it in "
            f"{fresh:.1f} s ({n.when()})")


def image(n: Numbers) -> str:
    """The Dockerfile built with buildah and run (bench/image.py, `make image`)."""
    m = n.meta("image")
    return (f"built in {n.value('image/build_s') / 60:.1f} min ({m['builder']}; no build cache), "
            f"{n.value('image/size') / 1000:.2f} GB; started, it passed its own health check "
            f"{n.value('image/start_to_healthy'):.1f} s after the start, and Chromium drew its Tokens page "
            f"{n.value('image/start_to_first_page'):.1f} s after the start ({n.when()})")


def class_push(n: Numbers) -> str:
    """Class mode: how long until each student's screen shows a pushed view, one server and two replicas."""
    parts = []
    for section, where in (("load/class_30", "on one server (SQLite)"),
                           ("load/class_30_2_replicas_redis", "across two replicas behind nginx (Redis)")):
        if section not in n.data["sections"]:
            continue
        m = n.meta(section)
        parts.append(f"{m['students']} students {where}: each of {m['pushes']} pushes on every screen in "
                     f"{m['push_p50_s']:.1f} s (p50), {m['push_p95_s']:.1f} s (p95), "
                     f"{m['push_views_seen']} of {m['push_views_expected']} views seen, "
                     f"{m['answers_counted']} of {m['answers_sent']} answers counted")
    return "; ".join(parts) + f" ({n.when()})"


BLOCKS: dict[str, Callable[[Numbers], str]] = {
    "class-push": class_push, "image": image, "proto-table": proto_table, "sizing": sizing, "teacher-wait": teacher_wait,
    "conversion": conversion, "generation": generation, "generation-threads": generation_threads,
    "generation-kernel": generation_kernel, "memory": memory,
    "next-token": next_token,
    "bertviz-bytes": bertviz_bytes,
    "load-when": load_when, "load-table": load_table, "load-by-page": load_by_page,
}


# ---------------------------------------------------------------------------------------------- the files
def render(text: str, data: dict) -> str:
    """``text`` with every block regenerated from ``data`` (KeyError: a block names a number data lacks)."""
    def one(m: re.Match) -> str:
        name = m.group("name")
        if name not in BLOCKS:
            raise KeyError(f"unknown bench block {name!r}")
        return m.group(1) + BLOCKS[name](Numbers(data)) + m.group(4)

    return BLOCK.sub(one, text)


def stale(data: dict | None = None) -> list[Path]:
    """The documentation files whose blocks differ from what bench/results.json says."""
    data = store.read() if data is None else data
    return [p for p in files() if render(p.read_text(), data) != p.read_text()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only list the files that differ (exit 1 if any)")
    parser.add_argument("--results", default=str(store.RESULTS), help="the results file to read")
    args = parser.parse_args(argv)
    data = store.read(Path(args.results))
    changed = stale(data)
    if not args.check:
        for p in changed:
            p.write_text(render(p.read_text(), data))
    for p in changed:
        print(("differs: " if args.check else "rewrote: ") + str(p.relative_to(REPO)))
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
