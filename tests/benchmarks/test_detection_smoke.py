"""Smoke test of the drift-detection benchmark: its quick mode end to end, and its scoring."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks import detection
from benchmarks.detection import ACCEPT_ROWS, DRIFTLOOP, StreamCase, file_cases, score


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("detection")
    return detection.run(quick=True, out_dir=out), out


def _row(result: dict[str, Any], group: str, config: str) -> dict[str, Any]:
    (row,) = [r for r in result["rows"] if r["group"] == group and r["config"] == config]
    return row


def test_quick_run_writes_its_files(quick: tuple[dict[str, Any], Path]) -> None:
    result, out = quick
    assert (out / "detection.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "detection.json").read_text())["markdown"] == result["markdown"]
    assert (out / "detection.md").read_text() == result["markdown"]
    md = result["markdown"]
    assert f"N = {ACCEPT_ROWS:,} rows" in md
    for name in ("**driftloop**", "| ADWIN |", "| DDM |", "false alarms"):
        assert name in md


def test_every_configuration_ran_on_every_stream(quick: tuple[dict[str, Any], Path]) -> None:
    result, _ = quick
    assert {(r["group"], r["config"]) for r in result["rows"]} == {
        (g, c) for g in result["groups"] for c in (DRIFTLOOP, "ADWIN", "DDM")
    }
    assert all(not r["errors"] for r in result["rows"]), [r["errors"] for r in result["rows"]]
    assert {run["rows"] for run in result["runs"]} == {7_000, 5_000}


def test_adwin_and_driftloop_find_the_clear_abrupt_drift(
    quick: tuple[dict[str, Any], Path],
) -> None:
    result, _ = quick
    group = "hyperplane abrupt (quick)"
    assert result["group_info"][group]["drift_rows"] == [4_000]
    adwin = _row(result, group, "ADWIN")
    assert adwin["detected"] == 1 and adwin["missed"] == 0
    assert 0 <= adwin["max_delay"] < 500, adwin
    loop = _row(result, group, DRIFTLOOP)
    assert loop["detected"] == 1, loop
    # the decision is taken at a window end, after its trigger row
    assert loop["median_decision_delay"] >= loop["median_delay"] >= 0
    assert loop["median_decision_delay"] % 1_000 == 0  # drift at 4,000, windows of 1,000
    assert any("Every true drift detected: **met**" in v for v in result["verdicts"][group])


def test_the_no_drift_control_is_counted(quick: tuple[dict[str, Any], Path]) -> None:
    result, _ = quick
    group = "hyperplane (no drift, quick)"
    assert result["group_info"][group]["drift_rows"] == []
    for config in (DRIFTLOOP, "ADWIN", "DDM"):
        row = _row(result, group, config)
        assert row["true_drifts"] == 0 and row["detected"] == 0 and row["missed"] == 0
        assert row["false_alarms"] == row["signals"]  # with no drift every signal is false
        assert row["rows"] == 5_000
    assert any("Zero false alarms on the control" in v for v in result["verdicts"][group])


def test_scoring_rules() -> None:
    abrupt = StreamCase("a", "a", {}, (10_000, 20_000))
    s = score(abrupt, [9_990, 10_300, 10_600, 12_100, 25_000])
    assert [d["delay"] for d in s["per_drift"]] == [300, None]
    # before the drift, and more than N rows after it: false alarms; 10,600 is a repeat
    assert s["false_alarms"] == [9_990, 12_100, 25_000] and s["signals"] == 5
    gradual = StreamCase("g", "g", {}, (10_000,), drift_width=2_000)
    s = score(gradual, [8_990, 9_200, 12_500], decision_rows=[9_000, 10_000, 13_000])
    assert s["per_drift"][0]["delay"] == -800 and s["per_drift"][0]["decision_delay"] == 0
    assert s["false_alarms"] == [8_990]  # 12,500 is a repeat inside 9,000 .. 13,000


def test_missing_data_files_are_skipped_with_a_message(tmp_path: Path) -> None:
    cases, skipped = file_cases(tmp_path / "absent")
    assert cases == [] and len(skipped) == 2
    assert all("not found" in m for m in skipped)
