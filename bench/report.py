#!/usr/bin/env python3
"""Turn the JSON of one bench/run.sh run into the Markdown report of docs/perf/.

    python3 bench/report.py <results-dir> [--save-json <file.json>]
    python3 bench/report.py <file.json>

<results-dir> holds meta.json (written by run.sh) and one Google Benchmark JSON file per
round x workload x pool (or a {"failure": ...} marker when that process failed).
--save-json also writes every run's figures, with the run's context, to one file: the data a
dated report came from, which this script reads back to print the same report again.

For every workload figure the report gives each pool's median over the rounds and how weft
compares with the best peer, then W1's peak RSS, the round-to-round spread, and notes.
Standard library only.
"""

import glob
import json
import os
import statistics
import sys

POOLS = ["weft", "tbb_task_group", "tbb_arena", "asio", "textbook", "thread_per_task",
         "std_async"]

# workload -> [(counter, label, kind, better)], in table order. kind selects the formatting;
# better is "higher" or "lower".
FIGURES = {
    "W1SubmitThroughput": [("tasks_per_s", "tasks/s", "rate", "higher")],
    "W2FutureThroughput": [("tasks_per_s", "tasks/s", "rate", "higher")],
    "W3ShortTasks": [("overhead_pct", "overhead over ideal", "overhead", "lower")],
    "W4ForkJoin": [("time_ms", "fib({fib_n}) time, serial at n ≤ 12", "ms", "lower")],
    "W4bSpawnJoin": [("time_ms", "fib({fib_n}) time, no cutoff", "ms", "lower")],
    "W6WakeLatency": [
        ("start_p50_us", "submit→start median", "us", "lower"),
        ("start_p99_us", "submit→start p99", "us", "lower"),
        ("ready_p50_us", "submit→ready median", "us", "lower"),
        ("ready_p99_us", "submit→ready p99", "us", "lower"),
    ],
    "W7MultiProducer": [("tasks_per_s", "tasks/s", "rate", "higher")],
    "W8IdleCost": [("cpu_pct_of_core", "CPU while idle, % of one core", "cpu", "lower")],
}

WORKLOAD_TITLES = {
    "W1SubmitThroughput": "W1 submit-throughput",
    "W2FutureThroughput": "W2 future-throughput",
    "W3ShortTasks": "W3 short-tasks",
    "W4ForkJoin": "W4 fork-join",
    "W4bSpawnJoin": "W4b spawn-join",
    "W6WakeLatency": "W6 wake-up latency",
    "W7MultiProducer": "W7 multi-producer",
    "W8IdleCost": "W8 idle cost (8 workers)",
}


def split_name(name):
    """BM_W1SubmitThroughput/weft/iterations:1/real_time -> (W1SubmitThroughput, weft)."""
    parts = name.split("/")
    workload = parts[0][3:] if parts[0].startswith("BM_") else parts[0]
    return workload, parts[1] if len(parts) > 1 else "?"


class Cell:
    """What one workload x pool produced over the rounds: values per counter, and errors."""

    def __init__(self):
        self.values = {}   # counter -> [value per successful round]
        self.errors = []   # error message per failed round

    def add_values(self, counters):
        for key, value in counters.items():
            self.values.setdefault(key, []).append(value)

    def rounds(self):
        counts = [len(v) for v in self.values.values()]
        return max(counts) if counts else 0


# Google Benchmark's bookkeeping fields, left out of the saved runs.
BOOKKEEPING = {"family_index", "per_family_instance_index", "repetitions", "repetition_index",
               "threads"}


def round_of(path):
    """r3_BM_W1SubmitThroughput_weft.json -> 3."""
    digits = os.path.basename(path)[1:].split("_", 1)[0]
    return int(digits) if digits.isdigit() else 0


def collect_runs(results_dir):
    """Reads run.sh's directory: one record per process (round, workload, pool, counters or
    error), and the Google Benchmark context of the run."""
    runs = []
    context = {}
    for path in sorted(glob.glob(os.path.join(results_dir, "r*_*.json"))):
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError) as error:
            print(f"report.py: skipping unreadable {os.path.basename(path)}: {error}",
                  file=sys.stderr)
            continue
        if "failure" in data:
            workload, pool = split_name(data["failure"]["name"])
            runs.append({"round": data["failure"].get("round", round_of(path)),
                         "workload": workload, "pool": pool,
                         "error": data["failure"]["reason"]})
            continue
        # The executable's path and the host name say where, not what: they are left out.
        context = context or {k: v for k, v in data.get("context", {}).items()
                              if k not in ("executable", "host_name")}
        for bench in data.get("benchmarks", []):
            if bench.get("run_type") == "aggregate":
                continue
            workload, pool = split_name(bench["name"])
            record = {"round": round_of(path), "workload": workload, "pool": pool}
            if bench.get("error_occurred"):
                record["error"] = bench.get("error_message", "error")
            else:
                record["counters"] = {
                    k: v for k, v in bench.items()
                    if isinstance(v, (int, float)) and not isinstance(v, bool)
                    and k not in BOOKKEEPING}
            runs.append(record)
    return runs, context


def build_cells(runs):
    cells = {}    # (workload, pool) -> Cell
    for run in sorted(runs, key=lambda r: r.get("round", 0)):
        cell = cells.setdefault((run["workload"], run["pool"]), Cell())
        if "error" in run:
            cell.errors.append(run["error"])
        else:
            cell.add_values(run.get("counters", {}))
    return cells


def split_message(message):
    """'deadlocks: why' -> ('deadlocks', 'why'): the cell text and its note."""
    head, sep, tail = message.partition(": ")
    return (head, tail) if sep else (message, "")


# ---- formatting ---------------------------------------------------------------------------

def fmt(value, kind):
    if kind == "rate":
        if value >= 1e6:
            return f"{value / 1e6:.2f} M/s"
        if value >= 1e3:
            return f"{value / 1e3:.1f} k/s"
        return f"{value:.0f} /s"
    if kind == "ms":
        return f"{value:.3g} ms" if value < 100 else f"{value:.0f} ms"
    if kind == "us":
        return f"{value:.3g} µs" if value < 1000 else f"{value:,.0f} µs"
    if kind == "overhead":
        return f"{value:+.1f} %" if abs(value) < 1000 else f"{value:+,.0f} %"
    if kind == "cpu":
        return f"{value:.2f} %"
    if kind == "mib":
        return f"{value:.1f} MiB"
    return f"{value:.4g}"


def comparable(value, kind):
    """The quantity whose ratio is meaningful: W3 compares total times (1 + overhead)."""
    return 1.0 + value / 100.0 if kind == "overhead" else value


def verdict(weft, best, best_pool, kind, better):
    words = {"cpu": ("less CPU", "more CPU"), "mib": ("less memory", "more memory")}
    good, bad = words.get(kind, ("faster", "slower"))
    if kind == "cpu" and (weft < 0.05 or best < 0.05):
        if weft < 0.05 and best < 0.05:
            return f"both ≈ 0 (vs {best_pool})"
        if weft < 0.05:
            return f"weft ≈ 0, {best_pool} {fmt(best, kind)}"
        return f"{best_pool} ≈ 0, weft {fmt(weft, kind)}"
    w, b = comparable(weft, kind), comparable(best, kind)
    if w <= 0 or b <= 0:
        return "n/a"
    ratio = w / b if better == "higher" else b / w
    if ratio >= 1.0:
        return f"{ratio:.2f}× {good} (vs {best_pool})"
    shown = f"{ratio:.2f}" if ratio >= 0.1 else f"{ratio:.2g}"
    return f"{shown}× ({bad}; vs {best_pool})"


def add_note(notes, message, workload, pool):
    """Collects an error message for the notes: (cell text, why) -> {workload: [pools]}."""
    if notes is None:
        return
    head, tail = split_message(message)
    pools = notes.setdefault((head, tail), {}).setdefault(workload, [])
    if pool not in pools:
        pools.append(pool)


def summarize(cell, counter, kind, rounds_expected, notes, workload, pool):
    """The text of one table cell, and the median (or None)."""
    if cell is None:
        return "—", None
    values = cell.values.get(counter, [])
    if not values:
        if cell.errors:
            add_note(notes, cell.errors[0], workload, pool)
            return split_message(cell.errors[0])[0], None
        return "—", None
    middle = statistics.median(values)
    text = fmt(middle, kind)
    failed = len(cell.errors)
    if failed:
        text += f" ({failed} of {failed + len(values)} runs failed)"
        for error in cell.errors:
            add_note(notes, error, workload, pool)
    elif rounds_expected and len(values) < rounds_expected:
        text += f" ({len(values)} of {rounds_expected} rounds)"
    return text, middle


def spread(cell, counter):
    values = (cell.values.get(counter, []) if cell else [])
    if len(values) < 2 or min(values) <= 0:
        return "—"
    return f"×{max(values) / min(values):.2f}"


# ---- the report ---------------------------------------------------------------------------

def header(meta, context):
    date = meta.get("date", "unknown date")
    threads = context.get("weft_bench_threads", "?")
    lines = [f"# weft benchmarks: {date}", ""]
    lines.append(f"- Commit: {meta.get('commit', 'unknown')}; weft "
                 f"{context.get('weft_version', '?')}")
    lines.append(f"- Compiler: {context.get('compiler', '?')}; build type "
                 f"{context.get('build_type', '?')}; flags `{context.get('cxx_flags', '?')}`")
    lines.append(f"- CPU: {meta.get('cpu_model', '?')}; {meta.get('cores_online', '?')} cores "
                 f"online ({context.get('affinity', '?')})")
    lines.append(f"- Threads per pool: {threads} (W8: 8); peers: {context.get('peers', '?')}")
    if meta.get("command"):
        lines.append(f"- Command: `{meta['command']}`")
    lines.append(f"- Rounds: {meta.get('rounds', '?')}, interleaved (each workload x pool in its "
                 f"own process, pools in a rotated order); every figure is the median over the "
                 f"rounds")
    scale = context.get("weft_bench_scale", meta.get("scale", "1"))
    try:
        scaled = float(scale) < 1.0
    except ValueError:
        scaled = False
    if scaled:
        lines.append(f"- **Scale {scale}: a smoke run with reduced task counts; these figures "
                     f"do not compare with full runs.**")
    load_line = (f"- Load average (1 min): {meta.get('load_at_start', '?')} when started, "
                 f"{meta.get('load_at_run', '?')} when the first round began")
    if meta.get("idle_wait_s"):
        load_line += f" (waited {meta['idle_wait_s']} s for < {meta.get('idle_load_wanted')})"
    lines.append(load_line)
    lines.append("")
    lines.append("Figures compare only within this run: single runs on this machine swing 2–3× "
                 "with its state. \"weft vs best peer\" divides in the better direction (for "
                 "throughput weft ÷ best, for times best ÷ weft); above 1 weft is better.")
    lines.append("")
    return lines


def fib_n(cells, workload):
    """The n that W4/W4b ran with (it shrinks in scaled runs)."""
    for (w, _), cell in cells.items():
        if w == workload and cell.values.get("fib_n"):
            return f"{cell.values['fib_n'][0]:.0f}"
    return "n"


def main_table(cells, workloads, rounds, notes):
    head = ["workload", "figure"] + POOLS + ["weft vs best peer"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    spread_lines = ["| workload | figure | " + " | ".join(POOLS) + " |",
                    "|" + "---|" * (len(POOLS) + 2)]
    for workload in workloads:
        figures = FIGURES.get(workload, [("real_time", "time", "ms", "lower")])
        for counter, label, kind, better in figures:
            label = label.replace("{fib_n}", fib_n(cells, workload))
            row = [WORKLOAD_TITLES.get(workload, workload), label]
            medians = {}
            for pool in POOLS:
                text, middle = summarize(cells.get((workload, pool)), counter, kind, rounds,
                                         notes, workload, pool)
                row.append(text)
                if middle is not None:
                    medians[pool] = middle
            peers = {p: v for p, v in medians.items() if p != "weft"}
            if "weft" in medians and peers:
                pick = max if better == "higher" else min
                best_pool = pick(peers, key=lambda p: comparable(peers[p], kind))
                row.append(verdict(medians["weft"], peers[best_pool], best_pool, kind, better))
            else:
                row.append("n/a")
            lines.append("| " + " | ".join(row) + " |")
            spread_lines.append("| " + " | ".join(
                [WORKLOAD_TITLES.get(workload, workload), label] +
                [spread(cells.get((workload, pool)), counter) for pool in POOLS]) + " |")
    return lines, spread_lines


def memory_table(cells, rounds):
    head = ["W1 memory"] + POOLS + ["weft vs best peer"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for counter, label in (("peak_rss_mib", "peak RSS of the process"),
                           ("rss_before_pool_mib", "RSS before the pool started")):
        row = [label]
        medians = {}
        for pool in POOLS:
            text, middle = summarize(cells.get(("W1SubmitThroughput", pool)), counter, "mib",
                                     rounds, None, "W1SubmitThroughput", pool)
            row.append(text)
            if middle is not None:
                medians[pool] = middle
        peers = {p: v for p, v in medians.items() if p != "weft"}
        if counter == "peak_rss_mib" and "weft" in medians and peers:
            best_pool = min(peers, key=peers.get)
            row.append(verdict(medians["weft"], peers[best_pool], best_pool, "mib", "lower"))
        else:
            row.append("")
        lines.append("| " + " | ".join(row) + " |")
    return lines


def context_notes(cells):
    lines = []
    serial = cells.get(("W4ForkJoin", "weft"))
    if serial and serial.values.get("serial_ms"):
        n = serial.values.get("fib_n", [32])[0]
        lines.append(f"- W4: plain serial recursive fib({n:.0f}) on one thread took "
                     f"{statistics.median(serial.values['serial_ms']):.3g} ms (median).")
    w3 = next((cells[(w, p)] for (w, p) in cells if w == "W3ShortTasks"
               and cells[(w, p)].values.get("task_us")), None)
    if w3:
        lines.append(f"- W3: one task measured {statistics.median(w3.values['task_us']):.3g} µs "
                     f"serially; ideal = tasks × that ÷ usable cores = "
                     f"{statistics.median(w3.values['ideal_ms']):.3g} ms.")
    return lines


def main():
    args = sys.argv[1:]
    save_json = None
    if len(args) == 3 and args[1] == "--save-json":
        save_json = args[2]
        args = args[:1]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    source = args[0]
    if os.path.isdir(source):
        meta = {}
        meta_path = os.path.join(source, "meta.json")
        if os.path.exists(meta_path):
            with open(meta_path, encoding="utf-8") as handle:
                meta = json.load(handle)
        runs, context = collect_runs(source)
    else:
        with open(source, encoding="utf-8") as handle:
            saved = json.load(handle)
        meta, context, runs = saved["meta"], saved["context"], saved["runs"]
    if not runs:
        print(f"report.py: no results in {source}", file=sys.stderr)
        return 1
    if save_json:
        with open(save_json, "w", encoding="utf-8") as handle:
            # One run per line: small, and readable in a diff.
            handle.write('{"meta": ' + json.dumps(meta, sort_keys=True) + ",\n")
            handle.write(' "context": ' + json.dumps(context, sort_keys=True) + ",\n")
            handle.write(' "runs": [\n')
            handle.write(",\n".join("  " + json.dumps(run, sort_keys=True) for run in runs))
            handle.write("\n]}\n")
    cells = build_cells(runs)
    present = {w for (w, _) in cells}
    workloads = [w for w in FIGURES if w in present] + sorted(present - set(FIGURES))
    rounds = int(meta.get("rounds", 0) or 0)

    notes = {}
    out = header(meta, context)
    table, spread_table = main_table(cells, workloads, rounds, notes)
    out += ["## Medians", ""] + table + [""]
    if "W1SubmitThroughput" in present:
        out += ["## Memory (W1: peak resident set of a process that ran only that pool's W1)",
                ""] + memory_table(cells, rounds) + [""]
    out += ["## Spread (max ÷ min over the rounds; large values mean a noisy figure)", ""]
    out += spread_table + [""]
    out += ["## Notes", ""]
    for (head, tail), where in sorted(notes.items()):
        places = "; ".join(f"{WORKLOAD_TITLES.get(w, w)}: {', '.join(pools)}"
                           for w, pools in where.items())
        out.append(f"- **{head}** ({places}): {tail}" if tail else f"- **{head}** ({places})")
    out += context_notes(cells)
    out.append("- How each peer is used, and why: bench/peers/*.hpp. What each workload times: "
               "bench/workloads/*.cpp. How to read this page: docs/perf/README.md.")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
