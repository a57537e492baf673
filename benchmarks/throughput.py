"""Stream throughput: rows per second through the whole loop, with and without Prefect.

The same seeded demo stream (``demo_config``: Agrawal, two abrupt concept drifts, windows of
1,000 rows after a 2,000-row labelled warm-up) runs twice, each in a fresh subprocess with its
own state folder and ``PREFECT_HOME`` under a temporary directory:

* **plain**: ``run_stream(config, out_dir, steps=PLAIN_STEPS)``, the core loop, no Prefect;
* **Prefect**: the ``pipeline`` flow, every step a Prefect task, on Prefect's ephemeral API
  (started by the flow call on a fresh SQLite database, as on a first run).

To time each window, the child wraps ``WindowMonitor.observe`` (instrumentation only: it
records the start time and ``WindowReport.timings`` and returns the report unchanged). A
window's *interval* is the time from its ``observe`` to the next window's: the checks, the two
per-window steps (``monitor-window``, ``learn-from-labels``) with whatever Prefect adds around
them, and the bookkeeping. Windows that retrained are left out of the steady-state median.

Prefect's one-off start-up is the flow call's wall time minus the loop's own time
(``summary["elapsed_s"]``, measured inside ``run_stream``), less the same gap of the plain run.

``python -m benchmarks.throughput [--quick] [--out DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._measure import child_env, peak_rss_mb, run_in_subprocess

NAME = "throughput"
SEED = 7
ROWS = 60_000
QUICK_ROWS = 4_000
MODES = ("plain", "prefect")
STEPS = ("validate", "predict", "concept", "data_drift")
DEFAULT_OUT = Path(__file__).resolve().parent / "results"
LABELS = {"plain": "plain (`run_stream`, `PLAIN_STEPS`)", "prefect": "Prefect (`pipeline` flow)"}


def measure_stream(mode: str, rows: int, seed: int, state_dir: str,
                   out_dir: str) -> dict[str, Any]:
    """Run the demo stream once in this (fresh) process; ``mode`` is ``plain`` or ``prefect``."""
    t0 = time.perf_counter()
    from flows.config import demo_config
    from flows.pipeline import PLAIN_STEPS, pipeline, run_stream
    from monitors.monitor import WindowMonitor

    import_s = time.perf_counter() - t0

    records: list[dict[str, Any]] = []
    observe = WindowMonitor.observe

    def timed_observe(self: Any, window: Any, batch: Any, predict: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        report = observe(self, window, batch, predict, **kwargs)
        records.append({"index": window.index, "rows": window.end - window.start,
                        "start": start, "observe_s": time.perf_counter() - start,
                        "timings": dict(report.timings)})
        return report

    WindowMonitor.observe = timed_observe  # type: ignore[method-assign]
    config = demo_config(rows=rows, seed=seed, state_dir=state_dir)
    t0 = time.perf_counter()
    if mode == "plain":
        summary = run_stream(config, out_dir, steps=PLAIN_STEPS)
    elif mode == "prefect":
        summary = pipeline(config, out_dir)
    else:
        raise ValueError(f"mode must be 'plain' or 'prefect'. Got {mode!r} instead.")
    call_s = time.perf_counter() - t0
    for rec in records:
        rec["start"] -= t0
    retrains = summary["retrains"]
    return {
        "mode": mode, "import_s": import_s, "call_s": call_s,
        "loop_s": float(summary["elapsed_s"]),
        "rows": int(summary["rows"]), "warmup_rows": config.window.warmup_rows,
        "window_size": config.window.size, "windows": records,
        "retrain_windows": [r["window"] for r in retrains if r["window"] is not None],
        "retrain_rows": [r["row"] for r in retrains],
        "promoted": [bool(r["promoted"]) for r in retrains],
        "prequential_accuracy": summary.get("prequential_accuracy"),
        "peak_rss_mb": peak_rss_mb(),
    }


# -- analysis -----------------------------------------------------------------------------

def analyse(m: dict[str, Any]) -> dict[str, Any]:
    """Per-window intervals and step medians of one run."""
    wins = m["windows"]
    retrained = set(m["retrain_windows"])
    intervals = []
    for cur, nxt in zip(wins, wins[1:], strict=False):
        intervals.append({"index": cur["index"], "seconds": nxt["start"] - cur["start"],
                          "retrain": cur["index"] in retrained, "timings": cur["timings"],
                          "observe_s": cur["observe_s"]})
    steady = [i for i in intervals if not i["retrain"]] or intervals
    med = statistics.median(i["seconds"] for i in steady) if steady else float("nan")
    steps = {s: statistics.median(i["timings"].get(s, 0.0) for i in steady) if steady else 0.0
             for s in STEPS}
    steps["other"] = (statistics.median(i["seconds"] - sum(i["timings"].get(s, 0.0)
                                                           for s in STEPS) for i in steady)
                      if steady else 0.0)
    n_windows = len(wins)
    stream_rows = m["rows"] - m["warmup_rows"]
    return {
        "windows": n_windows, "retrains": len(m["retrain_rows"]),
        "stream_rows": stream_rows, "rows": m["rows"],
        "call_s": m["call_s"], "loop_s": m["loop_s"], "import_s": m["import_s"],
        "outside_loop_s": m["call_s"] - m["loop_s"],
        "rows_per_s_end_to_end": m["rows"] / m["call_s"],
        "rows_per_s_loop": m["rows"] / m["loop_s"],
        "steady_window_s": med, "steady_windows": len(steady),
        "rows_per_s_steady": m["window_size"] / med if med > 0 else float("nan"),
        "mean_window_s": m["loop_s"] / n_windows if n_windows else float("nan"),
        "step_median_s": steps,
        "intervals": intervals,
        "peak_rss_mb": m["peak_rss_mb"],
        "process_s": m["process_s"],
    }


def _f(x: float, unit: str = "s") -> str:
    if unit == "s":
        return f"{x * 1000:.0f} ms" if abs(x) < 1 else f"{x:.1f} s"
    return f"{x:,.0f}"


def render(result: dict[str, Any]) -> str:
    p, q = result["plain"], result["prefect"]
    d = result["prefect_overhead"]

    def cell(key: str, unit: str = "s") -> str:
        return "skipped" if q is None else _f(q[key], unit)

    def diff(value: float | None, bold: bool = False) -> str:
        if value is None:
            return ""
        return f"**{_f(value)}**" if bold else _f(value)

    same = result["same_decisions"]
    lines = [
        f"The seeded demo stream (`demo_config(rows={result['rows']:,}, seed={result['seed']})`: "
        f"Agrawal, concept drifts at 1/3 and 2/3, windows of {result['window_size']:,} rows after "
        f"a {result['warmup_rows']:,}-row labelled warm-up) through the whole loop, each run in "
        "a fresh process with its own state folder and `PREFECT_HOME`. "
        + ("" if same is None else f"Same decisions in both runs: {'yes' if same else 'NO'} ")
        + f"(retrains at rows {', '.join(str(r) for r in result['retrain_rows']['plain'])}).",
        "",
        f"| | {LABELS['plain']} | {LABELS['prefect']} | Prefect − plain |",
        "|---|---:|---:|---:|",
        f"| windows / retrains | {p['windows']} / {p['retrains']} | "
        + ("skipped" if q is None else f"{q['windows']} / {q['retrains']}") + " | |",
        f"| wall time of the call | {_f(p['call_s'])} | {cell('call_s')} "
        f"| {diff(None if q is None else q['call_s'] - p['call_s'])} |",
        f"| rows/s end to end ({p['rows']:,} rows incl. warm-up ÷ call) "
        f"| {_f(p['rows_per_s_end_to_end'], 'n')} | {cell('rows_per_s_end_to_end', 'n')} | |",
        f"| loop time (inside `run_stream`) | {_f(p['loop_s'])} | {cell('loop_s')} "
        f"| {diff(None if q is None else q['loop_s'] - p['loop_s'])} |",
        f"| one-off start-up (call − loop) | {_f(p['outside_loop_s'])} "
        f"| {cell('outside_loop_s')} | {diff(d['startup_s'], bold=True)} |",
        f"| steady window, median of {p['steady_windows']} window(s) without retrain "
        f"| {_f(p['steady_window_s'])} | {cell('steady_window_s')} "
        f"| {diff(d['per_window_interval_s'])} |",
        "| time per steady window outside the four checks (*other* below, median) "
        f"| {_f(p['step_median_s']['other'])} "
        f"| {'skipped' if q is None else _f(q['step_median_s']['other'])} "
        f"| {diff(d['per_window_s'], bold=True)}"
        + ("" if q is None else " per window") + " |",
        f"| rows/s steady state ({result['window_size']:,} ÷ median window) "
        f"| {_f(p['rows_per_s_steady'], 'n')} | {cell('rows_per_s_steady', 'n')} | |",
        f"| mean window incl. retrains (loop ÷ windows) | {_f(p['mean_window_s'])} "
        f"| {cell('mean_window_s')} | {diff(d['per_window_mean_s'])} |",
        f"| import of `flows.pipeline` (not in the times above) | {_f(p['import_s'])} "
        f"| {cell('import_s')} | |",
        "",
        "Per-window time by step (median over the steady windows; `WindowReport.timings`; "
        "data_drift includes storing the Evidently snapshot in the workspace; *other* = the "
        "window's interval minus the four steps: learning from labels, the run recorder and, "
        "with Prefect, the overhead of the two per-window tasks):",
        "",
        "| step | plain | Prefect |",
        "|---|---:|---:|",
    ]
    for s in (*STEPS, "other"):
        prefect = "skipped" if q is None else _f(q["step_median_s"][s])
        lines.append(f"| {s} | {_f(p['step_median_s'][s])} | {prefect} |")
    lines.append(f"| **window** | {_f(p['steady_window_s'])} | {cell('steady_window_s')} |")
    lines += [
        "",
        f"Machine: {result['machine']['cpus']} CPUs, load average "
        f"{result['machine']['load_start']} at the start.",
    ]
    if q is not None:
        lines.append(
            "Prefect's overhead per window is read from *other*: the whole window's median "
            "differs by the task overhead plus the run-to-run noise of the data-drift check, "
            "which is larger; *mean window incl. retrains* also carries the retrain steps' "
            "tasks (retrain, register, gate-and-promote) and MLflow.")
    if q is None:
        lines.append("The Prefect run was skipped (quick mode leaves it out by default: "
                     "starting Prefect's ephemeral server on a fresh database alone takes "
                     "15-20 s here; `run(quick=True, with_prefect=True)` includes it).")
    if result["quick"]:
        lines.append("Quick mode: a tiny stream, a smoke run, not a measurement.")
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = [m for m in MODES if result[m] is not None]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2),
                                   gridspec_kw={"width_ratios": [2, 1]})
    for mode, colour in zip(modes, ("tab:blue", "tab:orange"), strict=False):
        iv = result[mode]["intervals"]
        ax1.plot([i["index"] for i in iv], [i["seconds"] for i in iv], marker=".",
                 color=colour, label=LABELS[mode].replace("`", ""))
        ax1.scatter([i["index"] for i in iv if i["retrain"]],
                    [i["seconds"] for i in iv if i["retrain"]], color=colour, marker="x", s=60)
    ax1.set_yscale("log")
    ax1.set_xlabel("window (x: the window retrained)")
    ax1.set_ylabel("seconds to the next window")
    ax1.set_title("Per-window time through the loop")
    ax1.grid(True, which="both", alpha=0.3)
    ax1.legend()
    bottom = [0.0] * len(modes)
    for s in (*STEPS, "other"):
        vals = [result[m]["step_median_s"][s] for m in modes]
        ax2.bar(modes, vals, bottom=bottom, label=s)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax2.set_ylabel("median seconds per steady window")
    ax2.set_title("By step")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(*, quick: bool = False, data_dir: Path | None = None, out_dir: Path,
        with_prefect: bool | None = None) -> dict[str, Any]:
    """Run the benchmark; write ``throughput.json``, ``throughput.md`` and ``throughput.png``.

    ``with_prefect`` (default: on for a full run, off for ``quick``, whose budget Prefect's
    server start-up alone would use up) adds the Prefect run. ``data_dir`` is not used (the
    stream is generated); it is accepted for the driver's contract. Every run's state (MLflow,
    Evidently workspace, Prefect home) lives in a temporary folder removed afterwards.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = QUICK_ROWS if quick else ROWS
    if with_prefect is None:
        with_prefect = not quick
    modes = MODES if with_prefect else ("plain",)
    started = time.perf_counter()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    tmp = Path(tempfile.mkdtemp(prefix="driftloop-bench-throughput-"))
    raw: dict[str, dict[str, Any]] = {}
    try:
        for mode in modes:
            home = tmp / mode
            env = child_env({
                "PREFECT_HOME": str(home / "prefect-home"),
                "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "60",
                "PREFECT_LOGGING_LEVEL": "INFO",  # Prefect's default, whoever launches us
            })
            print(f"throughput: {mode} run of {rows:,} rows ...", flush=True)
            raw[mode] = run_in_subprocess(
                "benchmarks.throughput:measure_stream",
                {"mode": mode, "rows": rows, "seed": SEED, "state_dir": str(home / "state"),
                 "out_dir": str(home / "out")},
                timeout=900, env=env, log_path=home / "child.log")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    plain = analyse(raw["plain"])
    prefect = analyse(raw["prefect"]) if "prefect" in raw else None
    overhead: dict[str, float | None] = dict.fromkeys(
        ("startup_s", "per_window_s", "per_window_interval_s", "per_window_mean_s"))
    same = None
    if prefect is not None:
        overhead = {
            "startup_s": prefect["outside_loop_s"] - plain["outside_loop_s"],
            # the two per-window tasks' overhead lands outside the timed checks ("other");
            # the whole window's median also moves with the noise of the data-drift check
            "per_window_s": (prefect["step_median_s"]["other"]
                             - plain["step_median_s"]["other"]),
            "per_window_interval_s": prefect["steady_window_s"] - plain["steady_window_s"],
            "per_window_mean_s": (prefect["loop_s"] - plain["loop_s"]) / (plain["windows"] or 1),
        }
        same = all(raw["plain"][k] == raw["prefect"][k]
                   for k in ("retrain_rows", "promoted", "prequential_accuracy"))
    result: dict[str, Any] = {
        "name": NAME, "quick": quick, "seed": SEED, "rows": rows,
        "window_size": raw["plain"]["window_size"], "warmup_rows": raw["plain"]["warmup_rows"],
        "plain": plain, "prefect": prefect, "prefect_overhead": overhead,
        "same_decisions": same,
        "retrain_rows": {m: raw[m]["retrain_rows"] for m in raw},
        "prequential_accuracy": {m: raw[m]["prequential_accuracy"] for m in raw},
        "machine": {"cpus": os.cpu_count(), "load_start": round(load, 2)},
    }
    result["elapsed_s"] = time.perf_counter() - started
    result["markdown"] = render(result)
    (out_dir / f"{NAME}.json").write_text(json.dumps(result, indent=2, default=str))
    (out_dir / f"{NAME}.md").write_text(result["markdown"] + "\n")
    plot(result, out_dir / f"{NAME}.png")
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.throughput", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a tiny stream: a smoke run")
    p.add_argument("--prefect", dest="with_prefect", action=argparse.BooleanOptionalAction,
                   default=None, help="include the Prefect run (default: on, off with --quick)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results folder")
    args = p.parse_args(argv)
    result = run(quick=args.quick, out_dir=args.out, with_prefect=args.with_prefect)
    print(result["markdown"])
    print(f"took {result['elapsed_s']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
