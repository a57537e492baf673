"""Monitoring speed: driftloop's data-drift engine against Evidently's DataDriftPreset.

Three measurements in one run (issue 4's targets), every ratio against Evidently measured in
the same run:

1. **In memory, 10k / 100k / 1M rows x 20 numeric features.** Both engines compare the same
   seeded window with a reference of the same size (four columns truly shifted, one shifted
   below the drift threshold):

   * **driftloop**: ``profile = ReferenceProfile.fit(reference)`` (once per reference; timed
     separately) then ``compare(profile, window)`` (the per-window check);
   * **Evidently**: ``Report([DataDriftPreset()], include_tests=True).run(current, reference)``,
     the verdicts read from ``snapshot.dict()``.

   Each engine runs in a fresh subprocess per size (see :mod:`benchmarks._measure` for how
   peak memory is read), after a warm-up on a small frame that pays for lazy imports. The
   table gives the window-check time, the fit time, Evidently's time, the ratios, peak memory
   and whether the two agree column by column (drifted flag, and score within
   ``SCORE_ATOL + SCORE_RTOL * |score|``).

2. **10M rows x 20 from Parquet, in chunks.** A seeded reference and current file are written
   with pyarrow one row group at a time (the whole table is never in memory) to a temporary
   folder, then ``monitors.drift_files.check_files`` compares them in a fresh subprocess (time
   and peak memory); where the machine has the memory, a second subprocess loads both files
   whole and runs the in-memory engine, to check the chunked verdicts are the same. Evidently
   is not run at this size (see :func:`render`).

3. **False alarms** on no-drift controls, with and without the effect-size default and the
   multiple-testing corrections: :mod:`benchmarks.false_alarms`.

``python -m benchmarks.speed [--quick] [--out DIR] [--data-dir DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._measure import (
    REPO,
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
#: timed runs per engine and size (the median is reported), after a warm-up
REPEATS: dict[str, dict[int, int]] = {
    "driftloop": {10_000: 21, 100_000: 5, 1_000_000: 3},
    "evidently": {10_000: 3, 100_000: 1, 1_000_000: 1},
}
WARMUP_ROWS = 2_000  # > 1,000 rows, so the warm-up takes the same (Wasserstein) path
ENGINES = ("driftloop", "evidently")
SCORE_ATOL = 1e-9
SCORE_RTOL = 1e-6
DRIFT_SHARE = 0.5  # DataDriftPreset's: dataset drift when at least half the columns drift

#: The Parquet case: rows per file, rows per row group written, and (quick mode only) the
#: chunk size passed to ``check_files`` so that a tiny file is still read in several chunks.
FILE_ROWS = 10_000_000
QUICK_FILE_ROWS = 20_000
ROW_GROUP_ROWS = 1_000_000
QUICK_ROW_GROUP_ROWS = 5_000
QUICK_CHUNK_ROWS = 4_000
#: The in-memory cross-check of the Parquet case runs only when MemAvailable exceeds this many
#: times the size of the two tables as float64 (frames + profile + per-column temporaries).
CROSSCHECK_MEMORY_FACTOR = 3.0

GOAL_SPEEDUP = 100.0
GOAL_ROWS = 1_000_000
GOAL_MEMORY_MB = 1e9 / 2**20  # 1 GB = 10^9 bytes = 953.7 MiB (the tables' "MB" are MiB)
GOAL_WINDOW_S = 0.050
GOAL_WINDOW_ROWS = 10_000
DEFAULT_OUT = Path(__file__).resolve().parent / "results"
DEFAULT_DATA = REPO.parent / "shared" / "data"

#: How each feature is drawn, and the shift applied in the current window only.
#: (base distribution, shift description); the base cycles over seven shapes.
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

def drift_verdict(results: Any) -> dict[str, Any]:
    """driftloop's ``ColumnDrift`` list as the verdict dict :func:`compare` reads."""
    columns = {r.name: {"score": float(r.score), "drifted": bool(r.drifted), "method": r.method,
                        "threshold": float(r.threshold)} for r in results}
    n_drifted = sum(c["drifted"] for c in columns.values())
    return {"columns": columns, "n_drifted": n_drifted,
            "dataset_drift": bool(columns) and n_drifted / len(columns) >= DRIFT_SHARE}


def _stattest_names() -> dict[str, str]:
    """Evidently's stat-test display names ("Wasserstein distance (normed)") -> registered
    names ("wasserstein"), the names driftloop reports."""
    from evidently.legacy.calculations.stattests.registry import _registered_stat_tests

    out: dict[str, str] = {}
    for name, by_type in _registered_stat_tests.items():
        for test in by_type.values():
            out.setdefault(test.display_name, name)
    return out


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
    names = _stattest_names()
    for col in columns.values():  # Evidently reports the test's display name
        col["method"] = names.get(col["method"], col["method"])
    dataset_drift = None
    for test in data["tests"]:
        params = test["metric_config"]["params"]
        failed = str(getattr(test["status"], "value", test["status"])) == "FAIL"
        if params["type"].endswith(":ValueDrift"):
            columns[params["column"]]["drifted"] = failed
        elif params["type"].endswith(":DriftedColumnsCount"):
            dataset_drift = failed
    return {"columns": columns, "dataset_drift": dataset_drift, "n_drifted": n_drifted}


def _timed_driftloop(reference: pd.DataFrame, current: pd.DataFrame) -> tuple[dict[str, Any], dict[str, Any]]:
    """One fit and one window check, each timed, with the peak memory of each."""
    from monitors.drift_engine import ReferenceProfile, compare

    reset_peak()
    before = rss_mb()
    t0 = time.perf_counter()
    profile = ReferenceProfile.fit(reference)
    fit_s = time.perf_counter() - t0
    fit_peak = peak_rss_mb()
    reset_peak()
    check_before = rss_mb()
    t0 = time.perf_counter()
    results = compare(profile, current)
    seconds = time.perf_counter() - t0
    check_peak = peak_rss_mb()
    profile_mb = sum(c.values.nbytes for c in profile.columns.values() if c.kind == "num") / 2**20
    run = {"seconds": seconds, "fit_seconds": fit_s, "rss_before_mb": before,
           "peak_rss_mb": max(fit_peak, check_peak), "fit_peak_rss_mb": fit_peak,
           "check_rss_before_mb": check_before, "check_peak_rss_mb": check_peak,
           "profile_mb": profile_mb}
    return run, drift_verdict(results)


def _timed_evidently(reference: pd.DataFrame, current: pd.DataFrame) -> tuple[dict[str, Any], dict[str, Any]]:
    reset_peak()
    before = rss_mb()
    t0 = time.perf_counter()
    verdict = _run_evidently(reference, current)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rss_before_mb": before, "peak_rss_mb": peak_rss_mb()}, verdict


_ENGINES = {"driftloop": _timed_driftloop, "evidently": _timed_evidently}


def measure_engine(engine: str, rows: int, seed: int, repeats: int,
                   warmup_rows: int) -> dict[str, Any]:
    """One engine at one size, in this (fresh) process: warm-up, then ``repeats`` timed runs."""
    timed = _ENGINES[engine]
    t0 = time.perf_counter()
    if warmup_rows > 0:
        timed(*make_data(warmup_rows, seed + 1))  # imports and first-call costs
    warmup_s = time.perf_counter() - t0
    reference, current = make_data(rows, seed)
    data_mb = (reference.memory_usage(index=False).sum()
               + current.memory_usage(index=False).sum()) / 2**20
    runs = []
    verdict: dict[str, Any] = {}
    for _ in range(repeats):
        run, verdict = timed(reference, current)
        runs.append(run)
    return {"engine": engine, "rows": rows, "warmup_s": warmup_s, "data_mb": data_mb,
            "runs": runs, "verdict": verdict}


# -- the Parquet case -----------------------------------------------------------------------

def write_parquet_pair(folder: Path, rows: int, row_group_rows: int,
                       seed: int = SEED) -> dict[str, Any]:
    """Write ``reference.parquet`` and ``current.parquet`` (``rows`` x 20 float64, the current
    one shifted as in :func:`make_data`) one row group at a time: at most one row group's data
    is in memory. Each row group is drawn from its own seeded generator."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    names = feature_names()
    schema = pa.schema([(n, pa.float64()) for n in names])
    paths = {}
    for part, shifted in (("reference", False), ("current", True)):
        path = folder / f"{part}.parquet"
        with pq.ParquetWriter(path, schema) as writer:
            for g, start in enumerate(range(0, rows, row_group_rows)):
                n = min(row_group_rows, rows - start)
                rng = np.random.default_rng([seed, rows, int(shifted), g])
                values = np.empty((n, N_FEATURES), dtype=np.float64, order="F")
                for j in range(N_FEATURES):
                    _fill(rng, j, values[:, j], shifted)
                table = pa.Table.from_arrays([pa.array(values[:, j]) for j in range(N_FEATURES)],
                                             schema=schema)
                writer.write_table(table, row_group_size=n)
                del table, values
        paths[part] = str(path)
    return {"paths": paths, "rows": rows, "row_group_rows": row_group_rows,
            "file_mb": {k: Path(v).stat().st_size / 2**20 for k, v in paths.items()},
            "write_s": time.perf_counter() - t0}


def _file_verdict(report: Any) -> dict[str, Any]:
    """A ``FileDriftReport`` as the verdict dict :func:`compare` reads."""
    verdict = drift_verdict(report.columns)
    if getattr(report, "dataset_drift", None) is not None:
        verdict["dataset_drift"] = bool(report.dataset_drift)
    return verdict


def measure_files(reference: str, current: str, chunk_rows: int | None) -> dict[str, Any]:
    """``check_files(reference, current)`` once in this (fresh) process: time and peak RSS."""
    from monitors.drift_files import check_files

    kwargs: dict[str, Any] = {} if chunk_rows is None else {"chunk_rows": chunk_rows}
    reset_peak()
    before = rss_mb()
    t0 = time.perf_counter()
    report = check_files(reference, current, **kwargs)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rss_before_mb": before, "peak_rss_mb": peak_rss_mb(),
            "chunk_rows": chunk_rows, "verdict": _file_verdict(report)}


def measure_files_in_memory(reference: str, current: str) -> dict[str, Any]:
    """The cross-check: both files loaded whole, ``ReferenceProfile.fit`` + ``compare``."""
    from monitors.drift_engine import ReferenceProfile, compare

    reset_peak()
    before = rss_mb()
    t0 = time.perf_counter()
    ref, cur = pd.read_parquet(reference), pd.read_parquet(current)
    load_s = time.perf_counter() - t0
    results = compare(ReferenceProfile.fit(ref), cur)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "load_s": load_s, "rss_before_mb": before,
            "peak_rss_mb": peak_rss_mb(), "verdict": drift_verdict(results)}


def _mem_available_mb() -> float | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def run_files_case(rows: int, row_group_rows: int, chunk_rows: int | None, *, timeout: float,
                   env: dict[str, str]) -> dict[str, Any]:
    """Write the Parquet pair to a temporary folder, measure, delete the folder."""
    folder = Path(tempfile.mkdtemp(prefix="driftloop-speed-parquet-"))
    try:
        print(f"speed: writing {rows:,} x {N_FEATURES} Parquet pair to {folder} ...", flush=True)
        written = write_parquet_pair(folder, rows, row_group_rows)
        ref, cur = written["paths"]["reference"], written["paths"]["current"]
        print(f"speed: check_files at {rows:,} x {N_FEATURES} ...", flush=True)
        chunked = run_in_subprocess("benchmarks.speed:measure_files",
                                    {"reference": ref, "current": cur, "chunk_rows": chunk_rows},
                                    timeout=timeout, env=env)
        need_mb = CROSSCHECK_MEMORY_FACTOR * 2 * rows * N_FEATURES * 8 / 2**20
        available = _mem_available_mb()
        in_memory: dict[str, Any] | None = None
        agreement: dict[str, Any] | None = None
        if available is not None and available > need_mb:
            print(f"speed: in-memory cross-check at {rows:,} x {N_FEATURES} ...", flush=True)
            in_memory = run_in_subprocess("benchmarks.speed:measure_files_in_memory",
                                          {"reference": ref, "current": cur},
                                          timeout=timeout, env=env)
            agreement = compare(chunked["verdict"], in_memory["verdict"])
            crosscheck = None
        else:
            crosscheck = (f"skipped: about {need_mb:,.0f} MB needed, "
                          f"{'unknown' if available is None else f'{available:,.0f} MB'} available")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"rows": rows, "write": {k: v for k, v in written.items() if k != "paths"},
            "chunked": chunked, "in_memory": in_memory, "agreement": agreement,
            "crosscheck_skipped": crosscheck, "folder_removed": not folder.exists()}


# -- comparison and report ----------------------------------------------------------------

def compare(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    """Per-column agreement of the verdicts ``ours`` (driftloop) with ``theirs`` (Evidently,
    or the in-memory engine for the Parquet case)."""
    names = sorted(set(ours["columns"]) | set(theirs["columns"]))
    flags = scores = 0
    max_diff = max_rel = 0.0
    disagree = []
    for name in names:
        a, b = ours["columns"].get(name), theirs["columns"].get(name)
        if a is None or b is None:
            disagree.append(name)
            max_diff = max_rel = float("inf")
            continue
        same_flag = a["drifted"] == b["drifted"]
        diff = abs(a["score"] - b["score"])
        close = diff <= SCORE_ATOL + SCORE_RTOL * abs(b["score"])
        flags += same_flag
        scores += close
        max_diff = max(max_diff, diff)
        if b["score"]:
            max_rel = max(max_rel, diff / abs(b["score"]))
        if not (same_flag and close):
            disagree.append(name)
    n = len(names)
    return {
        "columns": n,
        "flags_equal": flags, "flag_agreement": flags / n if n else 0.0,
        "scores_close": scores, "score_agreement": scores / n if n else 0.0,
        "max_abs_score_diff": max_diff, "max_rel_score_diff": max_rel,
        "methods_equal": all(ours["columns"][c]["method"] == theirs["columns"][c]["method"]
                             for c in names if c in ours["columns"] and c in theirs["columns"]),
        "dataset_drift_equal": ours["dataset_drift"] == theirs["dataset_drift"],
        "disagreeing_columns": disagree,
        "drifted_driftloop": sorted(c for c, v in ours["columns"].items() if v["drifted"]),
        "drifted_evidently": sorted(c for c, v in theirs["columns"].items() if v["drifted"]),
        "identical_verdicts": flags == n and ours["dataset_drift"] == theirs["dataset_drift"],
    }


def _summarise(m: dict[str, Any]) -> dict[str, Any]:
    runs = m["runs"]
    secs = [r["seconds"] for r in runs]
    out = {"seconds": statistics.median(secs), "all_seconds": secs,
           "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
           "rss_before_mb": runs[0]["rss_before_mb"],
           "peak_rise_mb": max(r["peak_rss_mb"] - r["rss_before_mb"] for r in runs),
           "warmup_s": m["warmup_s"], "process_s": m["process_s"], "data_mb": m["data_mb"]}
    if "fit_seconds" in runs[0]:
        fits = [r["fit_seconds"] for r in runs]
        out.update(fit_seconds=statistics.median(fits), all_fit_seconds=fits,
                   check_peak_rss_mb=max(r["check_peak_rss_mb"] for r in runs),
                   profile_mb=runs[0]["profile_mb"])
    return out


def _fmt_s(s: float) -> str:
    if s < 0.1:
        return f"{1000 * s:.1f} ms"
    if s >= 300:
        return f"{s / 60:.0f} min"
    return f"{s:.3f} s" if s < 1 else f"{s:.2f} s" if s < 10 else f"{s:.1f} s"


def _fmt_mb(peak: float, rise: float) -> str:
    return f"{peak:,.0f} MB (+{rise:,.0f})"


def _yes(flag: bool | None) -> str:
    return "n/a" if flag is None else "yes" if flag else "NO"


def goals(sizes: list[dict[str, Any]], files: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Issue 4's three targets, each ``met`` True/False, or None when not measured."""
    out = []
    big = next((r for r in sizes if r["rows"] == GOAL_ROWS), None)
    text = (f"≥ {GOAL_SPEEDUP:.0f}× faster than `DataDriftPreset` per window check at "
            f"{GOAL_ROWS:,} × {N_FEATURES}, peak memory < 1 GB, identical verdicts")
    if big is None:
        out.append({"goal": text, "met": None,
                    "detail": f"no {GOAL_ROWS:,}-row case in this run"})
    else:
        d, agree = big["driftloop"], big["agreement"]["identical_verdicts"]
        met = (big["speedup"] >= GOAL_SPEEDUP and d["peak_rss_mb"] < GOAL_MEMORY_MB and agree)
        out.append({"goal": text, "met": met, "detail": (
            f"{big['speedup']:.0f}× per window check ({big['speedup_with_fit']:.0f}× counting "
            f"the fit as well), peak {d['peak_rss_mb']:,.0f} MB, verdicts "
            f"{'identical' if agree else 'DIFFER'}")})
    small = next((r for r in sizes if r["rows"] == GOAL_WINDOW_ROWS), None)
    text = f"≤ {1000 * GOAL_WINDOW_S:.0f} ms per window check at {GOAL_WINDOW_ROWS:,} × {N_FEATURES}"
    if small is None:
        out.append({"goal": text, "met": None,
                    "detail": f"no {GOAL_WINDOW_ROWS:,}-row case in this run"})
    else:
        s = small["driftloop"]["seconds"]
        out.append({"goal": text, "met": s <= GOAL_WINDOW_S,
                    "detail": f"{_fmt_s(s)} (median of {small['repeats']['driftloop']}); "
                              f"the fit, once per reference, {_fmt_s(small['driftloop']['fit_seconds'])}"})
    text = f"{FILE_ROWS:,} × {N_FEATURES} from Parquet in chunks completes with peak memory < 1 GB"
    if files is None or files.get("skipped") or files["rows"] != FILE_ROWS:
        why = files.get("skipped") if files else None
        out.append({"goal": text, "met": None, "detail": why or (
            f"the Parquet case ran at {files['rows']:,} rows" if files else "not run")})
    else:
        c = files["chunked"]
        out.append({"goal": text, "met": c["peak_rss_mb"] < GOAL_MEMORY_MB,
                    "detail": f"{_fmt_s(c['seconds'])}, peak {c['peak_rss_mb']:,.0f} MB"})
    return out


def _why_no_evidently(file_rows: int, sizes: list[dict[str, Any]]) -> str:
    """Why Evidently is not run on the Parquet case, from this run's own numbers."""
    frames_gb = 2 * file_rows * N_FEATURES * 8 / 1e9
    text = (f"Evidently is not run at this size: it takes whole pandas frames, so both files "
            f"would have to be loaded ({frames_gb:.2g} GB of float64) before it starts")
    big = max(sizes, key=lambda r: r["rows"]) if sizes else None
    if big is not None and big["rows"] >= GOAL_ROWS:
        scale = file_rows / big["rows"]
        e = big["evidently"]
        text += (f"; a linear extrapolation of its {big['rows']:,}-row run above "
                 f"({_fmt_s(e['seconds'])}, +{e['peak_rise_mb']:,.0f} MB over the loaded data) "
                 f"gives about {_fmt_s(scale * e['seconds'])} and "
                 f"{scale * e['peak_rise_mb'] / 1024:,.1f} GiB more")
    return text + "."


def render(result: dict[str, Any]) -> str:
    from benchmarks import false_alarms

    rows = result["sizes"]
    reps = ", ".join(f"{r['rows']:,} rows: {r['repeats']['driftloop']} / {r['repeats']['evidently']}"
                     for r in rows)
    data = ", ".join(f"{r['rows']:,}: {r['driftloop']['data_mb']:,.0f} MB" for r in rows)
    lines = [
        "Data-drift check: driftloop `profile = ReferenceProfile.fit(reference)` (once per "
        "reference) and `compare(profile, window)` (every window; defaults: Evidently's test "
        "per column and thresholds) vs Evidently "
        "`Report([DataDriftPreset()], include_tests=True).run(current, reference)`; "
        f"{N_FEATURES} numeric features, reference and window of the same size, seed "
        f"{result['seed']}. Shifted: "
        + "; ".join(f"{d['name']} {d['shift']}" for d in result["features"] if d["shift"] != "none")
        + ". Time: median of the timed runs (per size, driftloop / Evidently: "
        f"{reps}), each engine in a fresh process"
        + (f" after a warm-up on {result['warmup_rows']:,} rows." if result["warmup_rows"] else
           " (no warm-up: the time includes first-call costs)."),
        "",
        "| rows × features | driftloop window check | driftloop fit (once per reference) "
        "| Evidently | speed-up per window check | speed-up counting the fit "
        "| driftloop peak RSS | Evidently peak RSS | drifted flags equal "
        "| scores within tol | dataset drift equal |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        d, e, c = r["driftloop"], r["evidently"], r["agreement"]
        lines.append(
            f"| {r['rows']:,} × {N_FEATURES} | {_fmt_s(d['seconds'])} | {_fmt_s(d['fit_seconds'])} "
            f"| {_fmt_s(e['seconds'])} | {r['speedup']:,.1f}× | {r['speedup_with_fit']:,.1f}× "
            f"| {_fmt_mb(d['peak_rss_mb'], d['peak_rise_mb'])} "
            f"| {_fmt_mb(e['peak_rss_mb'], e['peak_rise_mb'])} "
            f"| {c['flags_equal']}/{c['columns']} | {c['scores_close']}/{c['columns']} "
            f"| {_yes(c['dataset_drift_equal'])} |")
    last = rows[-1]
    c = last["agreement"]
    lines += [
        "",
        f"Drifted columns at {last['rows']:,} rows: driftloop "
        f"{', '.join(c['drifted_driftloop']) or 'none'}; Evidently "
        f"{', '.join(c['drifted_evidently']) or 'none'}. Largest score difference over all "
        f"sizes: {max(r['agreement']['max_abs_score_diff'] for r in rows):.3g} absolute, "
        f"{max(r['agreement']['max_rel_score_diff'] for r in rows):.3g} relative "
        f"(tolerance {SCORE_ATOL:g} + {SCORE_RTOL:g}·|score|); same test chosen per column: "
        f"{_yes(all(r['agreement']['methods_equal'] for r in rows))}.",
    ]
    files = result["files"]
    lines += ["", f"**From Parquet in chunks** (`check_files(reference, current)`, each file "
              f"{N_FEATURES} float64 columns):", ""]
    if files.get("skipped"):
        lines.append(f"Not run: {files['skipped']}.")
    else:
        w, ch = files["write"], files["chunked"]
        lines += [
            "| rows × features | file size (each) | row groups of | check_files time "
            "| check_files peak RSS | drifted columns | in-memory engine on the same files |",
            "|---|---:|---:|---:|---:|---|---|",
        ]
        if files["in_memory"] is not None:
            im, a = files["in_memory"], files["agreement"]
            cross = (f"{_fmt_s(im['seconds'])} (load {_fmt_s(im['load_s'])}), peak "
                     f"{im['peak_rss_mb']:,.0f} MB; verdicts "
                     f"{'identical' if a['identical_verdicts'] else 'DIFFER'}, scores within "
                     f"tol {a['scores_close']}/{a['columns']} (max diff {a['max_abs_score_diff']:.2g})")
        else:
            cross = files["crosscheck_skipped"]
        lines.append(
            f"| {files['rows']:,} × {N_FEATURES} | {max(w['file_mb'].values()):,.0f} MB "
            f"| {w['row_group_rows']:,} | {_fmt_s(ch['seconds'])} "
            f"| {_fmt_mb(ch['peak_rss_mb'], ch['peak_rss_mb'] - ch['rss_before_mb'])} "
            f"| {', '.join(sorted(k for k, v in ch['verdict']['columns'].items() if v['drifted'])) or 'none'} "
            f"| {cross} |")
        lines += [
            "",
            f"The files were written one row group at a time ({_fmt_s(w['write_s'])}) to a "
            "temporary folder, deleted afterwards"
            + (f"; `check_files` read them in chunks of {ch['chunk_rows']:,} rows"
               if ch.get("chunk_rows") else "")
            + ". " + _why_no_evidently(files["rows"], rows),
        ]
    lines += ["", "**Goals** (issue 4; ratios against `DataDriftPreset` measured in this run):", ""]
    for g in result["goals"]:
        verdict = "not measured" if g["met"] is None else "met" if g["met"] else "NOT MET"
        lines.append(f"- {g['goal']}: **{verdict}** ({g['detail']}).")
    lines += [
        "",
        f"Memory: {result['memory_method']}; for driftloop the peak over the fit and the window "
        "check. '(+N)' is the rise over the RSS just before the call, which already holds the "
        f"interpreter, the imports and both frames ({data} of input data); 1 GB is taken as "
        f"10^9 bytes ({GOAL_MEMORY_MB:,.0f} MB here, where MB means MiB).",
        f"Machine: {result['machine']['cpus']} CPUs, load average {result['machine']['load_start']} "
        "at the start (other work on the machine slows both engines alike; the ratios are "
        "measured in the same run).",
    ]
    if result["quick"]:
        lines.append("Quick mode: a smoke run at tiny sizes, not a measurement.")
    lines += ["", "### False alarms", "", false_alarms.render(result["false_alarms"])]
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = result["sizes"]
    rows = [r["rows"] for r in sizes]
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(17, 5.2))
    ax1.plot(rows, [r["driftloop"]["seconds"] for r in sizes], marker="o",
             label="driftloop window check")
    ax1.plot(rows, [r["driftloop"]["seconds"] + r["driftloop"]["fit_seconds"] for r in sizes],
             marker="o", linestyle=":", label="driftloop fit + check")
    ax1.plot(rows, [r["evidently"]["seconds"] for r in sizes], marker="s",
             label="Evidently DataDriftPreset")
    ax1.plot(rows, [r["evidently"]["seconds"] / GOAL_SPEEDUP for r in sizes],
             linestyle="--", color="grey", label=f"goal: Evidently ÷ {GOAL_SPEEDUP:.0f}")
    ax1.axhline(GOAL_WINDOW_S, color="grey", linestyle="-.", linewidth=0.8,
                label=f"goal at {GOAL_WINDOW_ROWS:,} rows: {1000 * GOAL_WINDOW_S:.0f} ms")
    ax2.plot(rows, [r["driftloop"]["peak_rss_mb"] for r in sizes], marker="o",
             label="driftloop (in memory)")
    ax2.plot(rows, [r["evidently"]["peak_rss_mb"] for r in sizes], marker="s", label="Evidently")
    files = result["files"]
    if not files.get("skipped"):
        ax1.plot([files["rows"]], [files["chunked"]["seconds"]], marker="D", linestyle="none",
                 label="driftloop check_files (Parquet)")
        ax2.plot([files["rows"]], [files["chunked"]["peak_rss_mb"]], marker="D",
                 linestyle="none", label="driftloop check_files (Parquet, chunks)")
    ax2.axhline(GOAL_MEMORY_MB, color="grey", linestyle="--", label="1 GB")
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_xlabel(f"rows in reference and window ({N_FEATURES} features)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    ax1.set_yscale("log")
    ax1.set_ylabel("seconds")
    ax1.set_title("Data-drift check time")
    ax2.set_ylabel("peak RSS of the process (MB)")
    ax2.set_title("Peak memory")
    controls = [c for c in result["false_alarms"]["controls"] if not c["skipped"]]
    if controls:
        labels = [v["variant"] for v in controls[0]["variants"]]
        width = 0.8 / len(labels)
        x = np.arange(len(controls))
        for i, label in enumerate(labels):
            ax3.bar(x + i * width, [100 * c["variants"][i]["any_column_rate"] for c in controls],
                    width, label=label)
        ax3.set_xticks(x + width * (len(labels) - 1) / 2)
        ax3.set_xticklabels([textwrap.fill(f"{c['name']}, {c['window_rows']:,}-row windows", 16)
                             for c in controls], fontsize=6.5)
        ax3.set_ylabel("% of windows with a column flagged")
        ax3.set_title("False alarms (last group: a tiny real shift)")
        ax3.legend(fontsize=7)
        ax3.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(*, quick: bool = False, data_dir: Path | None = None, out_dir: Path) -> dict[str, Any]:
    """Run the benchmark, write ``speed.json``, ``speed.md`` and ``speed.png`` to ``out_dir``.

    ``data_dir`` is the shared data folder (default ``../shared/data``), read only for the
    ``sea_nodrift.csv`` false-alarm control; the rest of the data is generated.
    """
    from benchmarks import false_alarms

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data_dir = DEFAULT_DATA if data_dir is None else Path(data_dir)
    sizes = QUICK_SIZES if quick else SIZES
    warmup = 0 if quick else WARMUP_ROWS
    timeout = 600 if quick else 3600
    started = time.perf_counter()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    results = []
    env = child_env()
    for rows in sizes:
        repeats = {e: (3 if e == "driftloop" else 1) if quick else REPEATS[e].get(rows, 1)
                   for e in ENGINES}
        measured: dict[str, Any] = {}
        for engine in ENGINES:
            print(f"speed: {engine} at {rows:,} x {N_FEATURES} ...", flush=True)
            measured[engine] = run_in_subprocess(
                "benchmarks.speed:measure_engine",
                {"engine": engine, "rows": rows, "seed": SEED, "repeats": repeats[engine],
                 "warmup_rows": warmup},
                timeout=timeout, env=env)
        d, e = _summarise(measured["driftloop"]), _summarise(measured["evidently"])
        agreement = compare(measured["driftloop"]["verdict"], measured["evidently"]["verdict"])
        results.append({"rows": rows, "repeats": repeats, "driftloop": d, "evidently": e,
                        "speedup": e["seconds"] / d["seconds"],
                        "speedup_with_fit": e["seconds"] / (d["seconds"] + d["fit_seconds"]),
                        "agreement": agreement,
                        "verdicts": {k: v["verdict"] for k, v in measured.items()}})
    if (REPO / "monitors" / "drift_files.py").is_file():
        files = run_files_case(
            QUICK_FILE_ROWS if quick else FILE_ROWS,
            QUICK_ROW_GROUP_ROWS if quick else ROW_GROUP_ROWS,
            QUICK_CHUNK_ROWS if quick else None, timeout=timeout, env=env)
    else:
        files = {"skipped": "monitors/drift_files.py (check_files) is not in this tree"}
    alarms = false_alarms.run_false_alarms(quick=quick, data_dir=data_dir)
    result: dict[str, Any] = {
        "name": NAME, "quick": quick, "seed": SEED, "n_features": N_FEATURES,
        "features": describe_features(), "warmup_rows": warmup, "sizes": results,
        "files": files, "false_alarms": alarms,
        "goals": goals(results, files),
        "memory_method": memory_method(),
        "score_tolerance": {"atol": SCORE_ATOL, "rtol": SCORE_RTOL},
        "goal_memory_mb": GOAL_MEMORY_MB,
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
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results folder")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA,
                   help="the shared data folder (for the sea_nodrift.csv false-alarm control)")
    args = p.parse_args(argv)
    result = run(quick=args.quick, data_dir=args.data_dir, out_dir=args.out)
    print(result["markdown"])
    print(f"took {result['elapsed_s']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
