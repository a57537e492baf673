"""Monitoring speed: driftloop's per-window data-drift check against Evidently's DataDriftPreset.

Both engines compare the same seeded window with a reference of the same size (20 numeric
features; four columns truly shifted, one shifted below the drift threshold):

* **driftloop**: ``DataDriftCheck(DataDriftConfig(reference_size=rows)).fit(reference)`` then
  ``.calculate(window)``, the check every window of the pipeline runs (fit is included: it is
  the same work as the reference side of Evidently's report, done once per champion);
* **Evidently**: ``Report([DataDriftPreset()], include_tests=True).run(current, reference)``,
  the verdicts read from ``snapshot.dict()``.

Each engine runs in a fresh subprocess per size (see :mod:`benchmarks._measure` for how peak
memory is read), after a warm-up on a few hundred rows that pays for lazy imports. The table
gives the time of each, the ratio measured in the same run, peak memory, and whether the two
agree column by column (drifted flag, and score within ``SCORE_ATOL + SCORE_RTOL * |score|``).

``python -m benchmarks.speed [--quick] [--out DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._measure import (
    child_env,
    memory_method,
    peak_rss_mb,
    reset_peak,
    rss_mb,
    run_in_subprocess,
)

NAME = "speed"
N_FEATURES = 20
SEED = 20_240_607
SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (2_000,)
#: timed runs per size (the median is reported); the first run of a process is after a warm-up
REPEATS = {10_000: 3, 100_000: 1, 1_000_000: 1}
WARMUP_ROWS = 500
ENGINES = ("driftloop", "evidently")
SCORE_ATOL = 1e-9
SCORE_RTOL = 1e-6
GOAL_SPEEDUP = 100.0
GOAL_ROWS = 1_000_000
DEFAULT_OUT = Path(__file__).resolve().parent / "results"

#: How each feature is drawn, and the shift applied in the current window only.
#: (base distribution, shift description); the base cycles over six shapes.
SHIFTS: dict[int, str] = {
    0: "mean +0.5 sd",
    1: "scale x1.5",
    2: "location +0.1 (10% of the range)",
    3: "mean 1.0 -> 1.3",
    4: "mean +0.05 sd (real, below the 0.1 threshold)",
}
_BASES = ("normal", "lognormal", "uniform", "exponential", "normal", "poisson(3)",
          "student-t(5)")


def feature_names(n_features: int = N_FEATURES) -> list[str]:
    return [f"f{j:02d}" for j in range(n_features)]


def describe_features(n_features: int = N_FEATURES) -> list[dict[str, str]]:
    return [{"name": name, "distribution": _BASES[j % len(_BASES)],
             "shift": SHIFTS.get(j, "none")} for j, name in enumerate(feature_names(n_features))]


def _fill(rng: np.random.Generator, j: int, out: np.ndarray, shifted: bool) -> None:
    """Draw feature ``j`` into ``out`` (a column view), shifted for the current window."""
    n = len(out)
    base = _BASES[j % len(_BASES)]
    if base == "normal":
        rng.standard_normal(out=out)
    elif base == "lognormal":
        out[:] = rng.lognormal(0.0, 0.5, n)
    elif base == "uniform":
        rng.random(out=out)
    elif base == "exponential":
        out[:] = rng.exponential(1.3 if (shifted and j == 3) else 1.0, n)
    elif base == "poisson(3)":
        out[:] = rng.poisson(3.0, n)
    else:
        out[:] = rng.standard_t(5, n)
    if not shifted:
        return
    if j == 0:
        out += 0.5
    elif j == 1:
        out *= 1.5
    elif j == 2:
        out += 0.1
    elif j == 4:
        out += 0.05


def make_data(rows: int, seed: int = SEED,
              n_features: int = N_FEATURES) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The seeded (reference, current) pair: ``rows`` rows each, float64 features.

    Built column by column into one Fortran-ordered array per frame, so the frames are the
    only large allocations (no transient copy inflates the memory baseline).
    """
    frames = []
    for part, shifted in ((0, False), (1, True)):
        rng = np.random.default_rng([seed, rows, part])
        values = np.empty((rows, n_features), dtype=np.float64, order="F")
        for j in range(n_features):
            _fill(rng, j, values[:, j], shifted)
        frames.append(pd.DataFrame(values, columns=feature_names(n_features), copy=False))
    return frames[0], frames[1]


# -- the two engines (run inside the measurement subprocess) --------------------------------

def _run_driftloop(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, Any]:
    from monitors.data_drift import DataDriftCheck, DataDriftConfig
    from monitors.stream import Window

    check = DataDriftCheck(DataDriftConfig(reference_size=len(reference))).fit(reference)
    result = check.calculate(current, Window(0, 0, len(current)))
    return {
        "columns": {c.name: {"score": c.score, "drifted": c.drifted, "method": c.method,
                             "threshold": c.threshold} for c in result.columns},
        "dataset_drift": result.dataset_drift,
        "n_drifted": result.n_drifted,
    }


def _run_evidently(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, Any]:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    snapshot = Report([DataDriftPreset()], include_tests=True).run(current, reference)
    data = snapshot.dict()
    columns: dict[str, dict[str, Any]] = {}
    n_drifted = None
    for metric in data["metrics"]:
        cfg = metric["config"]
        if cfg["type"].endswith(":ValueDrift"):
            columns[cfg["column"]] = {"score": float(metric["value"]), "method": cfg["method"],
                                      "threshold": float(cfg["threshold"]), "drifted": None}
        elif cfg["type"].endswith(":DriftedColumnsCount"):
            n_drifted = int(metric["value"]["count"])
    dataset_drift = None
    for test in data["tests"]:
        params = test["metric_config"]["params"]
        failed = str(getattr(test["status"], "value", test["status"])) == "FAIL"
        if params["type"].endswith(":ValueDrift"):
            columns[params["column"]]["drifted"] = failed
        elif params["type"].endswith(":DriftedColumnsCount"):
            dataset_drift = failed
    return {"columns": columns, "dataset_drift": dataset_drift, "n_drifted": n_drifted}


_ENGINES = {"driftloop": _run_driftloop, "evidently": _run_evidently}


def measure_engine(engine: str, rows: int, seed: int, repeats: int,
                   warmup_rows: int) -> dict[str, Any]:
    """One engine at one size, in this (fresh) process: warm-up, then ``repeats`` timed runs."""
    run = _ENGINES[engine]
    t0 = time.perf_counter()
    if warmup_rows > 0:
        run(*make_data(warmup_rows, seed + 1))  # imports and first-call costs
    warmup_s = time.perf_counter() - t0
    reference, current = make_data(rows, seed)
    data_mb = (reference.memory_usage(index=False).sum()
               + current.memory_usage(index=False).sum()) / 2**20
    runs = []
    verdict: dict[str, Any] = {}
    for _ in range(repeats):
        reset_peak()
        before = rss_mb()
        t0 = time.perf_counter()
        verdict = run(reference, current)
        seconds = time.perf_counter() - t0
        runs.append({"seconds": seconds, "rss_before_mb": before, "peak_rss_mb": peak_rss_mb()})
    return {"engine": engine, "rows": rows, "warmup_s": warmup_s, "data_mb": data_mb,
            "runs": runs, "verdict": verdict}


# -- comparison and report ----------------------------------------------------------------

def compare(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    """Per-column agreement of driftloop's verdicts (``ours``) with Evidently's."""
    names = sorted(set(ours["columns"]) | set(theirs["columns"]))
    flags = scores = 0
    max_diff = 0.0
    disagree = []
    for name in names:
        a, b = ours["columns"].get(name), theirs["columns"].get(name)
        if a is None or b is None:
            disagree.append(name)
            max_diff = float("inf")
            continue
        same_flag = a["drifted"] == b["drifted"]
        diff = abs(a["score"] - b["score"])
        close = diff <= SCORE_ATOL + SCORE_RTOL * abs(b["score"])
        flags += same_flag
        scores += close
        max_diff = max(max_diff, diff)
        if not (same_flag and close):
            disagree.append(name)
    n = len(names)
    return {
        "columns": n,
        "flags_equal": flags, "flag_agreement": flags / n if n else 0.0,
        "scores_close": scores, "score_agreement": scores / n if n else 0.0,
        "max_abs_score_diff": max_diff,
        "dataset_drift_equal": ours["dataset_drift"] == theirs["dataset_drift"],
        "disagreeing_columns": disagree,
        "drifted_driftloop": sorted(c for c, v in ours["columns"].items() if v["drifted"]),
        "drifted_evidently": sorted(c for c, v in theirs["columns"].items() if v["drifted"]),
        "identical_verdicts": flags == n and ours["dataset_drift"] == theirs["dataset_drift"],
    }


def _summarise(m: dict[str, Any]) -> dict[str, Any]:
    secs = [r["seconds"] for r in m["runs"]]
    return {"seconds": statistics.median(secs), "all_seconds": secs,
            "peak_rss_mb": max(r["peak_rss_mb"] for r in m["runs"]),
            "rss_before_mb": m["runs"][0]["rss_before_mb"],
            "peak_rise_mb": max(r["peak_rss_mb"] - r["rss_before_mb"] for r in m["runs"]),
            "warmup_s": m["warmup_s"], "process_s": m["process_s"], "data_mb": m["data_mb"]}


def _fmt_s(s: float) -> str:
    return f"{s:.3f} s" if s < 1 else f"{s:.2f} s" if s < 10 else f"{s:.1f} s"


def _fmt_mb(peak: float, rise: float) -> str:
    return f"{peak:,.0f} MB (+{rise:,.0f})"


def render(result: dict[str, Any]) -> str:
    rows = result["sizes"]
    runs = ", ".join(f"{r['rows']:,} rows: {r['repeats']}" for r in rows)
    data = ", ".join(f"{r['rows']:,}: {r['driftloop']['data_mb']:,.0f} MB" for r in rows)
    lines = [
        "Per-window data-drift check: driftloop `DataDriftCheck.fit(reference).calculate(window)` "
        "(trimmed `DataDriftPreset`, `reference_size` = rows) vs Evidently "
        "`Report([DataDriftPreset()], include_tests=True).run(current, reference)`; "
        f"{N_FEATURES} numeric features, reference and window of the same size, seed "
        f"{result['seed']}. Shifted: "
        + "; ".join(f"{d['name']} {d['shift']}" for d in result["features"] if d["shift"] != "none")
        + ". Time: median of the timed runs (per size: "
        f"{runs}), each engine in a fresh process"
        + (" after a warm-up on a few hundred rows." if result["warmup_rows"] else
           " (no warm-up: the time includes first-call costs)."),
        "",
        "| rows × features | driftloop | Evidently | speed-up (Evidently ÷ driftloop) "
        "| driftloop peak RSS | Evidently peak RSS | drifted flags equal "
        "| scores equal (tol) | dataset drift equal |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        d, e, c = r["driftloop"], r["evidently"], r["agreement"]
        lines.append(
            f"| {r['rows']:,} × {N_FEATURES} | {_fmt_s(d['seconds'])} | {_fmt_s(e['seconds'])} "
            f"| {r['speedup']:.2f}× | {_fmt_mb(d['peak_rss_mb'], d['peak_rise_mb'])} "
            f"| {_fmt_mb(e['peak_rss_mb'], e['peak_rise_mb'])} "
            f"| {c['flags_equal']}/{c['columns']} | {c['scores_close']}/{c['columns']} "
            f"| {'yes' if c['dataset_drift_equal'] else 'NO'} |")
    goal = result["goal"]
    lines += ["", f"**Goal: driftloop ≥ {GOAL_SPEEDUP:.0f}× faster than `DataDriftPreset` at "
              f"{GOAL_ROWS:,} × {N_FEATURES} with identical verdicts: {goal['verdict']}**"]
    last = rows[-1]
    c = last["agreement"]
    lines += [
        "",
        f"Drifted columns at {last['rows']:,} rows: driftloop {', '.join(c['drifted_driftloop']) or 'none'}; "
        f"Evidently {', '.join(c['drifted_evidently']) or 'none'} "
        f"(largest score difference over all sizes: "
        f"{max(r['agreement']['max_abs_score_diff'] for r in rows):.3g}; "
        f"tolerance {SCORE_ATOL:g} + {SCORE_RTOL:g}·|score|).",
        "",
        f"Memory: {result['memory_method']}. '(+N)' is the rise over the RSS just before the "
        "call, which already holds the interpreter, the imports and both frames "
        f"({data} of "
        "input data).",
        f"Machine: {result['machine']['cpus']} CPUs, load average {result['machine']['load_start']} "
        "at the start (other work on the machine slows both engines alike; the ratio is "
        "measured in the same run).",
    ]
    if result["quick"]:
        lines.append("Quick mode: a smoke run at a tiny size, not a measurement.")
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r["rows"] for r in result["sizes"]]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for engine, marker in (("driftloop", "o"), ("evidently", "s")):
        ax1.plot(rows, [r[engine]["seconds"] for r in result["sizes"]], marker=marker,
                 label=engine)
        ax2.plot(rows, [r[engine]["peak_rss_mb"] for r in result["sizes"]], marker=marker,
                 label=engine)
    ax1.plot(rows, [r["evidently"]["seconds"] / GOAL_SPEEDUP for r in result["sizes"]],
             linestyle="--", color="grey", label=f"goal: Evidently ÷ {GOAL_SPEEDUP:.0f}")
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_xlabel(f"rows in reference and window ({N_FEATURES} features)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    ax1.set_yscale("log")
    ax1.set_ylabel("seconds per check")
    ax1.set_title("Data-drift check time")
    ax2.set_ylabel("peak RSS of the process (MB)")
    ax2.set_title("Peak memory")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(*, quick: bool = False, data_dir: Path | None = None, out_dir: Path) -> dict[str, Any]:
    """Run the benchmark, write ``speed.json``, ``speed.md`` and ``speed.png`` to ``out_dir``.

    ``data_dir`` is not used (the data is generated); it is accepted for the driver's contract.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sizes = QUICK_SIZES if quick else SIZES
    warmup = 0 if quick else WARMUP_ROWS
    timeout = 600 if quick else 3600
    started = time.perf_counter()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    results = []
    env = child_env()
    for rows in sizes:
        repeats = 1 if quick else REPEATS.get(rows, 1)
        measured: dict[str, Any] = {}
        for engine in ENGINES:
            print(f"speed: {engine} at {rows:,} x {N_FEATURES} ...", flush=True)
            measured[engine] = run_in_subprocess(
                "benchmarks.speed:measure_engine",
                {"engine": engine, "rows": rows, "seed": SEED, "repeats": repeats,
                 "warmup_rows": warmup},
                timeout=timeout, env=env)
        d, e = _summarise(measured["driftloop"]), _summarise(measured["evidently"])
        agreement = compare(measured["driftloop"]["verdict"], measured["evidently"]["verdict"])
        results.append({"rows": rows, "repeats": repeats, "driftloop": d, "evidently": e,
                        "speedup": e["seconds"] / d["seconds"], "agreement": agreement,
                        "verdicts": {k: v["verdict"] for k, v in measured.items()}})
    at_goal = next((r for r in results if r["rows"] == GOAL_ROWS), None)
    if at_goal is None:
        goal = {"met": None, "verdict": f"not measured (no {GOAL_ROWS:,}-row case in this run)"}
    else:
        met = at_goal["speedup"] >= GOAL_SPEEDUP and at_goal["agreement"]["identical_verdicts"]
        why = (f"{at_goal['speedup']:.2f}× faster"
               f"{', verdicts identical' if at_goal['agreement']['identical_verdicts'] else ', verdicts differ'}")
        goal = {"met": met, "speedup": at_goal["speedup"],
                "verdict": (f"met ({why})" if met else f"NOT MET by the current engine ({why})")}
    result: dict[str, Any] = {
        "name": NAME, "quick": quick, "seed": SEED, "n_features": N_FEATURES,
        "features": describe_features(), "warmup_rows": warmup, "sizes": results,
        "goal": goal,
        "memory_method": memory_method(),
        "score_tolerance": {"atol": SCORE_ATOL, "rtol": SCORE_RTOL},
        "machine": {"cpus": os.cpu_count(), "load_start": round(load, 2)},
    }
    result["elapsed_s"] = time.perf_counter() - started
    result["markdown"] = render(result)
    (out_dir / f"{NAME}.json").write_text(json.dumps(result, indent=2, default=str))
    (out_dir / f"{NAME}.md").write_text(result["markdown"] + "\n")
    plot(result, out_dir / f"{NAME}.png")
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.speed", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="one tiny size: a smoke run")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results folder")
    args = p.parse_args(argv)
    result = run(quick=args.quick, out_dir=args.out)
    print(result["markdown"])
    print(f"took {result['elapsed_s']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
