"""The ``driftloop`` command line: help, ``run`` on CSV and Parquet files, and its errors.

Runs go in-process through click's ``CliRunner`` with ``--no-prefect`` on a small seeded SEA
stream with one abrupt drift; every path (state, output, JSON) is under ``tmp_path`` and the
working directory is an empty temporary folder, so a stray relative write would show.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner, Result

from flows.cli import main
from monitors.sources import SyntheticSource, SyntheticStreamConfig

N_ROWS, DRIFT_ROW, WINDOW, WARMUP = 7000, 4000, 500, 1500
MAX_DELAY = 1000  # rows between the true drift and its first detection

SMALL_CONFIG: dict[str, Any] = {
    "window": {"size": WINDOW, "warmup_rows": WARMUP},
    "training": {"holdout_rows": 200, "recent_rows": 1000, "min_train_rows": 200},
    "decision": {
        "min_labelled_rows": 300,
        "cooldown_rows": 1000,
        "refresh_rows": 1500,
        "baseline_rows": 500,
        "confirm_within_rows": 1500,
    },
    "registry": {"model_name": "cli-test"},
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty working directory, and the process environment restored afterwards (the CLI
    points PREFECT_HOME at its state folder)."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    saved = dict(os.environ)
    yield cwd
    os.environ.clear()
    os.environ.update(saved)
    assert list(cwd.iterdir()) == [], "the CLI wrote into the working directory"


def _stream() -> pd.DataFrame:
    """SEA, one abrupt concept drift at DRIFT_ROW (threshold 7 -> 9.5), 5% label noise."""
    return SyntheticSource(
        SyntheticStreamConfig(generator="sea", n_rows=N_ROWS, drift_rows=(DRIFT_ROW,), seed=3)
    ).frame()


def _small_yaml(tmp_path: Path, **extra: Any) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump({**SMALL_CONFIG, **extra}), encoding="utf-8")
    return path


def _invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def _assert_clean_failure(result: Result, *needles: str) -> None:
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert result.output.lstrip().startswith("Error:") or "\nError:" in result.output
    for needle in needles:
        assert needle in result.output, f"{needle!r} not in {result.output!r}"


def _assert_summary_format(summary: dict[str, Any]) -> None:
    for key in ("rows", "windows", "drift_events", "retrains", "prequential_accuracy", "elapsed_s"):
        assert key in summary, key
    assert summary["rows"] == N_ROWS
    assert summary["task"] == "classification" and summary["target"] == "y"
    assert summary["prequential_mae"] is None
    assert 0.5 < summary["prequential_accuracy"] <= 1.0
    assert summary["elapsed_s"] > 0
    windows = summary["windows"]
    assert [(w["start"], w["end"]) for w in windows] == [
        (s, s + WINDOW) for s in range(WARMUP, N_ROWS, WINDOW)
    ]
    for w in windows:
        assert {"start", "end", "data_drift_share", "features", "accuracy"} <= set(w)
        assert set(w["features"]) == {"x0", "x1", "x2"}
        for col in w["features"].values():
            assert set(col) == {"score", "method", "threshold", "drifted"}
        assert 0.0 <= w["data_drift_share"] <= 1.0
        assert 0.0 <= w["accuracy"] <= 1.0
    assert summary["drift_events"], "the drift was not detected"
    for e in summary["drift_events"]:
        assert {"row", "kind", "method", "details"} <= set(e)
        assert e["kind"] in ("concept", "data", "performance")
        assert isinstance(e["method"], str) and e["method"]
    assert len(summary["retrains"]) >= 2  # the initial model and at least one after the drift
    for r in summary["retrains"]:
        assert {"row", "version", "champion_score", "challenger_score", "promoted"} <= set(r)
        assert isinstance(r["promoted"], bool)
    initial = summary["retrains"][0]
    assert (initial["row"], initial["version"], initial["champion_score"]) == (WARMUP, 1, None)
    assert [r["version"] for r in summary["retrains"]] == summary["registered_versions"]


def _assert_detects_the_drift(summary: dict[str, Any]) -> None:
    rows = sorted(e["row"] for e in summary["drift_events"])
    assert rows[0] >= DRIFT_ROW, f"detection before the drift: {rows}"
    assert rows[0] <= DRIFT_ROW + MAX_DELAY, f"first detection too late: {rows}"
    promoted = [
        r
        for r in summary["retrains"]
        if r["window"] is not None and r["promoted"] and r["row"] > DRIFT_ROW
    ]
    assert promoted, summary["retrains"]
    before = [w["accuracy"] for w in summary["windows"] if w["end"] <= DRIFT_ROW]
    assert min(before) > 0.88, before  # one concept, before the drift: the model is good
    assert promoted[0]["champion_score"] < min(before) - 0.1  # the drift hurt the champion
    assert promoted[0]["challenger_score"] > promoted[0]["champion_score"]


# -- help -----------------------------------------------------------------------------------


def test_the_installed_entry_point_answers_help(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("driftloop")
    assert exe.is_file(), f"{exe} is not installed"
    proc = subprocess.run(
        [str(exe), "--help"], capture_output=True, text=True, timeout=120, cwd=tmp_path / "cwd"
    )
    assert proc.returncode == 0, proc.stderr
    for name in ("demo", "run", "config"):
        assert name in proc.stdout


def test_group_help_lists_every_command() -> None:
    result = _invoke("--help")
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert {"demo", "run", "config", "drift", "bench", "up", "status", "down"} <= set(main.commands)
    for name in main.commands:
        assert name in result.output
    assert "--version" in result.output
    assert _invoke("-h").output == result.output


@pytest.mark.parametrize("command", ["demo", "run", "config"])
def test_each_command_help_lists_its_options(command: str) -> None:
    result = _invoke(command, "--help")
    assert result.exit_code == 0, result.output
    assert f"Usage: main {command}" in result.output or f"{command} [OPTIONS]" in result.output
    options = [p for p in main.commands[command].params if isinstance(p, click.Option)]
    assert options
    for opt in options:
        for flag in opt.opts:
            assert flag in result.output, f"{flag} missing from `{command} --help`"
        assert opt.help, f"{opt.opts} has no help text"


def test_run_requires_data_and_target() -> None:
    result = _invoke("run")
    assert result.exit_code == 2
    assert "--data" in result.output and "Missing option" in result.output


# -- run on a CSV ---------------------------------------------------------------------------


def test_run_on_a_csv_writes_the_summary_json_and_the_plot(tmp_path: Path) -> None:
    data = tmp_path / "stream.csv"
    _stream().to_csv(data, index=False)
    out, state, json_out = tmp_path / "out", tmp_path / "state", tmp_path / "result.json"
    result = _invoke(
        "run",
        "--data",
        data,
        "--target",
        "y",
        "--config",
        _small_yaml(tmp_path),
        "--json",
        json_out,
        "--no-prefect",
        "--state-dir",
        state,
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(json_out.read_text())
    _assert_summary_format(summary)
    _assert_detects_the_drift(summary)
    # the printed table and summary.json tell the same story as --json
    assert json.loads((out / "summary.json").read_text()) == summary
    assert f"driftloop run: {N_ROWS} rows" in result.output
    assert str(json_out) in result.output
    png = out / "accuracy.png"
    assert png.is_file() and png.read_bytes()[:8] == PNG_MAGIC
    # the state went where it was told, and the source is the file
    assert summary["state_dir"] == str(state.resolve())
    assert (state / "mlflow.db").is_file()
    assert summary["source"]["kind"] == "file" and summary["source"]["path"] == str(data)
    assert summary["model_name"] == "cli-test"
    # the Evidently report of the window that triggered the drift retrain
    assert list((out / "reports").glob("window-*.html"))


# -- run on a Parquet file in timestamp order -----------------------------------------------


def test_run_on_a_shuffled_parquet_replays_it_in_timestamp_order(tmp_path: Path) -> None:
    frame = _stream()
    frame["ts"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(len(frame)), unit="min")
    shuffled = frame.sample(frac=1.0, random_state=0)
    assert not shuffled["ts"].is_monotonic_increasing
    data = tmp_path / "stream.parquet"
    shuffled.to_parquet(data, index=False)
    out, json_out = tmp_path / "out", tmp_path / "result.json"
    result = _invoke(
        "run",
        "--data",
        data,
        "--target",
        "y",
        "--timestamp",
        "ts",
        "--config",
        _small_yaml(tmp_path, data_drift={"snapshots": False}),
        "--json",
        json_out,
        "--no-prefect",
        "--state-dir",
        tmp_path / "state",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(json_out.read_text())
    _assert_summary_format(summary)  # the timestamp is not a feature
    assert summary["source"]["timestamp"] == "ts"
    # In file order both concepts are mixed in every window; in timestamp order the first
    # concept fills every window before the drift row and the drift shows right after it.
    _assert_detects_the_drift(summary)
    at_drift = next(w for w in summary["windows"] if w["start"] == DRIFT_ROW)
    assert at_drift["accuracy"] < 0.85, at_drift["accuracy"]
    assert (out / "accuracy.png").read_bytes()[:8] == PNG_MAGIC


# -- errors ---------------------------------------------------------------------------------


def test_run_with_a_missing_file_fails_cleanly(tmp_path: Path) -> None:
    result = _invoke(
        "run",
        "--data",
        tmp_path / "nope.csv",
        "--target",
        "y",
        "--no-prefect",
        "--state-dir",
        tmp_path / "state",
        "--out",
        tmp_path / "out",
    )
    _assert_clean_failure(result, "nope.csv", "does not exist")


def test_run_with_a_missing_target_column_fails_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "stream.csv"
    _stream().head(100).to_csv(data, index=False)
    result = _invoke(
        "run",
        "--data",
        data,
        "--target",
        "label",
        "--no-prefect",
        "--state-dir",
        tmp_path / "state",
        "--out",
        tmp_path / "out",
    )
    _assert_clean_failure(result, "'label'", "x0", "target")


def test_run_with_a_missing_timestamp_column_fails_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "stream.csv"
    _stream().head(100).to_csv(data, index=False)
    result = _invoke(
        "run",
        "--data",
        data,
        "--target",
        "y",
        "--timestamp",
        "when",
        "--no-prefect",
        "--state-dir",
        tmp_path / "state",
        "--out",
        tmp_path / "out",
    )
    _assert_clean_failure(result, "'when'", "timestamp")


def test_run_with_a_bad_config_value_fails_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "stream.csv"
    _stream().head(100).to_csv(data, index=False)
    config = _small_yaml(tmp_path, concept_drift={"detector": "ADWN"})
    result = _invoke(
        "run",
        "--data",
        data,
        "--target",
        "y",
        "--config",
        config,
        "--no-prefect",
        "--state-dir",
        tmp_path / "state",
        "--out",
        tmp_path / "out",
    )
    _assert_clean_failure(result, "concept_drift.detector", "'ADWIN'", "'ADWN'")
    assert not (tmp_path / "state").exists(), "a bad config must fail before any state is made"


def test_run_with_a_negative_label_delay_fails_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "stream.csv"
    _stream().head(100).to_csv(data, index=False)
    result = _invoke(
        "run",
        "--data",
        data,
        "--target",
        "y",
        "--label-delay",
        "-5",
        "--no-prefect",
        "--state-dir",
        tmp_path / "state",
        "--out",
        tmp_path / "out",
    )
    _assert_clean_failure(result, "source.label_delay", "-5")


def test_run_on_a_file_with_a_date_column_but_no_timestamp_fails_cleanly(tmp_path: Path) -> None:
    frame = _stream().head(WARMUP + WINDOW)
    frame["ts"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(len(frame)), unit="min")
    data = tmp_path / "stream.parquet"
    frame.to_parquet(data, index=False)
    result = _invoke(
        "run",
        "--data",
        data,
        "--target",
        "y",
        "--config",
        _small_yaml(tmp_path),
        "--no-prefect",
        "--state-dir",
        tmp_path / "state",
        "--out",
        tmp_path / "out",
    )
    _assert_clean_failure(result, "['ts']", "dates", "timestamp")
