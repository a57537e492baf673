"""Smoke tests of the speed and throughput benchmarks in quick mode: they run end to end and
write sane results. No timing is asserted (the machine may be busy)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from benchmarks import false_alarms, speed, throughput


def _files(out: Path, name: str) -> dict[str, Any]:
    for ext in ("json", "md", "png"):
        path = out / f"{name}.{ext}"
        assert path.is_file() and path.stat().st_size > 0, path
    return json.loads((out / f"{name}.json").read_text())


def _positive(x: float) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def test_speed_quick(tmp_path: Path) -> None:
    result = speed.run(quick=True, out_dir=tmp_path)
    saved = _files(tmp_path, "speed")
    assert saved["markdown"] == result["markdown"]
    md = result["markdown"]
    assert "| 2,000 × 20 |" in md
    (case,) = result["sizes"]
    for engine in ("driftloop", "evidently"):
        m = case[engine]
        assert _positive(m["seconds"]) and _positive(m["peak_rss_mb"])
        assert m["peak_rss_mb"] >= m["rss_before_mb"] > 0
        assert len(case["verdicts"][engine]["columns"]) == speed.N_FEATURES
    assert _positive(case["driftloop"]["fit_seconds"])
    assert _positive(case["speedup"]) and _positive(case["speedup_with_fit"])
    assert case["speedup_with_fit"] < case["speedup"]
    # the engine gives Evidently's verdicts, column by column, with the same tests
    agreement = case["agreement"]
    assert agreement["identical_verdicts"] is True
    assert agreement["flags_equal"] == agreement["scores_close"] == speed.N_FEATURES
    assert agreement["methods_equal"] is True
    assert agreement["max_abs_score_diff"] <= speed.SCORE_ATOL + speed.SCORE_RTOL
    # the shifted columns are found by both engines (the data is seeded)
    assert set(agreement["drifted_evidently"]) >= {"f00", "f01", "f02", "f03"}
    assert "f04" not in agreement["drifted_evidently"]  # shifted below the threshold
    assert agreement["drifted_driftloop"] == agreement["drifted_evidently"]

    # the Parquet case ran at the quick size, in chunks, and matches the in-memory engine
    files = result["files"]
    assert files.get("skipped") is None, files.get("skipped")
    assert files["rows"] == speed.QUICK_FILE_ROWS and files["folder_removed"] is True
    chunked = files["chunked"]
    assert _positive(chunked["seconds"]) and chunked["peak_rss_mb"] >= chunked["rss_before_mb"] > 0
    assert chunked["chunk_rows"] == speed.QUICK_CHUNK_ROWS < speed.QUICK_FILE_ROWS
    assert len(chunked["verdict"]["columns"]) == speed.N_FEATURES
    assert files["agreement"]["identical_verdicts"] is True
    assert files["agreement"]["scores_close"] == speed.N_FEATURES
    assert "**From Parquet in chunks**" in md and f"| {speed.QUICK_FILE_ROWS:,} × 20 |" in md

    # no goal is measured at quick sizes, and the report says so
    assert [g["met"] for g in result["goals"]] == [None, None, None]
    assert md.count("**not measured**") == 3

    # false alarms: every control ran (SEA only where the shared data is present)
    alarms = {c["name"]: c for c in result["false_alarms"]["controls"]}
    assert set(alarms) == {c.name for c in false_alarms.QUICK_CONTROLS}
    sea = alarms["SEA no-drift, small windows"]
    if (speed.DEFAULT_DATA / false_alarms.SEA_FILE).is_file():
        assert sea["skipped"] is None and sea["features"] == 3
    else:
        assert "not found" in sea["skipped"]
    labels = [v[0] for v in false_alarms.VARIANTS]
    for c in alarms.values():
        if c["skipped"]:
            continue
        by = {v["variant"]: v for v in c["variants"]}
        assert list(by) == labels
        for v in by.values():
            assert v["windows"] == c["windows"] > 0
            for key in ("column_flag_rate", "any_column_rate", "dataset_drift_rate"):
                assert 0.0 <= v[key] <= 1.0
            assert f"| {c['name']} | {c['reference_rows']:,} |" in md
        # a correction can only remove flags
        for corrected in ("ks + Bonferroni", "ks + BH"):
            assert by[corrected]["columns_flagged"] <= by["ks"]["columns_flagged"]
    large = {v["variant"]: v for v in alarms["synthetic no-drift, large windows"]["variants"]}
    assert large["default (method=None)"]["methods_used"] == ["wasserstein"]
    assert large["ks"]["methods_used"] == ["ks"]
    # a tiny real shift: K-S flags it, the effect-size default does not
    tiny = {v["variant"]: v for v in
            alarms[f"synthetic, tiny shift (+{false_alarms.TINY_SHIFT_SD} sd)"]["variants"]}
    assert tiny["ks"]["column_flag_rate"] > 0.2
    assert tiny["default (method=None)"]["column_flag_rate"] == 0.0
    assert "### False alarms" in md


def test_parquet_pair_is_written_in_row_groups(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    written = speed.write_parquet_pair(tmp_path, 2_500, 1_000)
    ref = pq.ParquetFile(written["paths"]["reference"])
    cur = pq.ParquetFile(written["paths"]["current"])
    for f in (ref, cur):
        assert f.metadata.num_rows == 2_500 and f.metadata.num_row_groups == 3
        assert f.schema_arrow.names == speed.feature_names()
    def mean(f: pq.ParquetFile) -> float:
        return float(f.read(["f00"]).column(0).to_numpy().mean())

    shift = mean(cur) - mean(ref)
    assert shift == pytest.approx(0.5, abs=0.1)
    (tmp_path / "again").mkdir()
    again = speed.write_parquet_pair(tmp_path / "again", 2_500, 1_000)  # seeded: same data
    assert pq.read_table(again["paths"]["current"]).equals(cur.read())


def test_goals_are_judged_on_the_measured_numbers() -> None:
    def size(rows: int, check_s: float, evidently_s: float, peak_mb: float,
             identical: bool = True) -> dict[str, Any]:
        return {"rows": rows, "repeats": {"driftloop": 3, "evidently": 1},
                "driftloop": {"seconds": check_s, "fit_seconds": 0.01, "peak_rss_mb": peak_mb},
                "speedup": evidently_s / check_s, "speedup_with_fit": evidently_s / (check_s + 0.01),
                "agreement": {"identical_verdicts": identical}}

    files = {"rows": speed.FILE_ROWS, "chunked": {"seconds": 30.0, "peak_rss_mb": 500.0}}
    met = speed.goals([size(10_000, 0.02, 3.0, 200), size(1_000_000, 1.0, 120.0, 700)], files)
    assert [g["met"] for g in met] == [True, True, True]
    missed = speed.goals(
        [size(10_000, 0.08, 3.0, 200), size(1_000_000, 1.0, 120.0, 1_000)],
        {**files, "chunked": {"seconds": 30.0, "peak_rss_mb": 2_000.0}})
    assert [g["met"] for g in missed] == [False, False, False]  # memory, time, memory
    slow = speed.goals([size(1_000_000, 2.0, 120.0, 500)], None)
    assert [g["met"] for g in slow] == [False, None, None]
    differ = speed.goals([size(1_000_000, 0.5, 120.0, 500, identical=False)], None)
    assert differ[0]["met"] is False and "DIFFER" in differ[0]["detail"]


def test_make_data_is_seeded_and_shifted() -> None:
    ref, cur = speed.make_data(3000)
    ref2, cur2 = speed.make_data(3000)
    assert ref.equals(ref2) and cur.equals(cur2)
    assert ref.shape == cur.shape == (3000, speed.N_FEATURES)
    assert cur["f00"].mean() - ref["f00"].mean() == pytest.approx(0.5, abs=0.1)
    assert abs(cur["f10"].mean() - ref["f10"].mean()) < 0.1


def _check_stream(m: dict[str, Any]) -> None:
    assert m["windows"] >= 1 and m["rows"] > m["stream_rows"] > 0
    for key in ("call_s", "loop_s", "rows_per_s_end_to_end", "rows_per_s_loop",
                "rows_per_s_steady", "steady_window_s"):
        assert _positive(m[key]), key
    assert set(m["step_median_s"]) == {*throughput.STEPS, "other"}


def test_throughput_quick_plain(tmp_path: Path) -> None:
    result = throughput.run(quick=True, out_dir=tmp_path)
    saved = _files(tmp_path, "throughput")
    assert saved["markdown"] == result["markdown"]
    _check_stream(result["plain"])
    assert result["prefect"] is None
    assert "Prefect run was skipped" in result["markdown"]


@pytest.mark.slow
def test_throughput_quick_with_prefect(tmp_path: Path) -> None:
    """The Prefect half: 35-70 s on this machine (the ephemeral server's start-up on a fresh
    database alone is 15-20 s), so it runs under ``make test-slow``."""
    result = throughput.run(quick=True, out_dir=tmp_path, with_prefect=True)
    _files(tmp_path, "throughput")
    _check_stream(result["plain"])
    _check_stream(result["prefect"])
    assert result["same_decisions"] is True
    assert _positive(result["prefect_overhead"]["startup_s"])
