"""Smoke tests of the speed and throughput benchmarks in quick mode: they run end to end and
write sane results. No timing is asserted (the machine may be busy)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from benchmarks import speed, throughput


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
    assert "| 2,000 × 20 |" in result["markdown"]
    (case,) = result["sizes"]
    for engine in ("driftloop", "evidently"):
        m = case[engine]
        assert _positive(m["seconds"]) and _positive(m["peak_rss_mb"])
        assert m["peak_rss_mb"] >= m["rss_before_mb"] > 0
        assert len(case["verdicts"][engine]["columns"]) == speed.N_FEATURES
    assert _positive(case["speedup"])
    agreement = case["agreement"]
    for key in ("flag_agreement", "score_agreement"):
        assert 0.0 <= agreement[key] <= 1.0
    # the shifted columns are found by both engines (the data is seeded)
    assert set(agreement["drifted_evidently"]) >= {"f00", "f01", "f02", "f03"}
    assert "f04" not in agreement["drifted_evidently"]  # shifted below the threshold
    assert result["goal"]["met"] is None  # no 1M-row case in quick mode


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
