"""Soak test (slow): an hour of stream compressed to a couple of minutes.

120,000 rows stamped 30 ms apart (one hour), a concept drift every 20,000 rows, and faults:
bad values injected into 0.5% of the rows (text in numeric columns, missing and infinite
values), and the process killed (SIGKILL) at random instants and resumed with ``--resume``.
At the end the counts reconcile exactly: rows in = warm-up rows + rows labelled and scored +
rows quarantined, the quarantine holds exactly the injected rows, and the resident memory of the
last, uninterrupted stretch stays flat.

Run with ``make test-slow`` (or ``pytest -m slow tests/flows/test_soak.py -s``).
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitors.sources import SyntheticSource, SyntheticStreamConfig

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

ROWS = 120_000
DRIFT_EVERY = 20_000
REPO = Path(__file__).resolve().parents[2]


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _stream(path: Path, seed: int) -> set[int]:
    """Write the stream as CSV; return the row offsets given a bad value."""
    drifts = tuple(range(DRIFT_EVERY, ROWS, DRIFT_EVERY))
    source = SyntheticSource(SyntheticStreamConfig(generator="agrawal", n_rows=ROWS,
                                                   drift_rows=drifts, seed=seed))
    frame = source.frame().reset_index(drop=True)
    start = pd.Timestamp("2026-11-24T10:00:00Z")
    frame.insert(0, "ts", (start + pd.to_timedelta(np.arange(ROWS) * 30, unit="ms"))
                 .strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    numeric = [c for c in frame.columns if c not in ("ts", "y")  # continuous columns only
               and pd.api.types.is_numeric_dtype(frame[c]) and frame[c].nunique() > 100]
    rng = np.random.default_rng(seed)
    # never in the warm-up rows that train the first model
    bad = rng.choice(np.arange(4_000, ROWS), size=ROWS // 200, replace=False)
    frame[numeric] = frame[numeric].astype(object)
    for i, row in enumerate(sorted(bad)):
        col = numeric[i % len(numeric)]
        frame.at[row, col] = ("oops", "", "inf", "-inf")[i % 4]
    frame.to_csv(path, index=False, quoting=csv.QUOTE_MINIMAL)
    return {int(r) for r in bad}


def _run(data: Path, state: Path, *, resume: bool, kill_after: float | None,
         samples: list[tuple[float, float]]) -> int:
    cmd = [sys.executable, "-m", "flows.cli", "run", "--data", str(data), "--target", "y",
           "--timestamp", "ts", "--no-prefect", "--state-dir", str(state),
           "--out", str(state / "out"), "--config", str(state.parent / "soak.yaml"),
           *(["--resume"] if resume else [])]
    with (state.parent / "soak.log").open("ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        started = time.monotonic()
        while proc.poll() is None:
            rss = _rss_mb(proc.pid)
            if rss is not None:
                samples.append((time.monotonic() - started, rss))
            if kill_after is not None and time.monotonic() - started > kill_after:
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.25)
        return proc.wait(600)


def test_an_hour_of_stream_with_drifts_bad_rows_and_kills_reconciles(tmp_path: Path) -> None:
    data = tmp_path / "stream.csv"
    injected = _stream(data, seed=5)
    (tmp_path / "soak.yaml").write_text(
        "window: {size: 2000, warmup_rows: 4000}\n"
        "data_drift: {snapshots: false}\n")
    state = tmp_path / "state"
    rng = random.Random(5)
    kills = 0
    segments: list[list[tuple[float, float]]] = []
    for attempt in range(12):
        samples: list[tuple[float, float]] = []
        segments.append(samples)
        kill_after = rng.uniform(5.0, 9.0) if kills < 3 else None
        rc = _run(data, state, resume=attempt > 0, kill_after=kill_after, samples=samples)
        if rc == 0:
            break
        assert rc == -signal.SIGKILL, (tmp_path / "soak.log").read_text()[-3000:]
        kills += 1
    else:
        raise AssertionError("the soak run never finished")
    assert kills >= 2

    summary = json.loads((state / "out" / "summary.json").read_text())
    # every row is accounted for, exactly
    assert summary["rows"] == ROWS
    # the 4,000 warm-up rows train the first model; every later row is scored or quarantined
    assert 4_000 + summary["labelled_rows"] + summary["quarantined_rows"] == ROWS
    assert summary["quarantined_rows"] == len(injected)
    assert sum(w["quarantined"] for w in summary["windows"]) == len(injected)
    with (state / "quarantine" / "quarantine.csv").open() as fh:
        quarantined = [int(r["row"]) for r in csv.DictReader(fh)]
    # a resumed run cuts the file back to its checkpoint: each injected row is there once
    assert sorted(quarantined) == sorted(injected)
    # windows cover the stream once, in order
    spans = [(w["start"], w["end"]) for w in summary["windows"]]
    assert spans == [(s, s + 2000) for s in range(4000, ROWS, 2000)]
    # the loop kept up with the drifts
    retrain_rows = [r["row"] for r in summary["retrains"] if r["window"] is not None]
    for drift in range(DRIFT_EVERY, ROWS, DRIFT_EVERY):
        assert any(drift < row <= drift + 8000 for row in retrain_rows), (drift, retrain_rows)
    # memory of the last, uninterrupted stretch stays flat once warmed up
    last = segments[-1]
    assert last[-1][0] > 5, "the last stretch is too short to judge memory"
    rss = np.array([r for _, r in last])
    settled, end = np.median(rss[len(rss) // 4: len(rss) // 2]), np.median(rss[-len(rss) // 4:])
    print(f"\nsoak: {kills} kills, {summary['rows']:,} rows, {len(retrain_rows)} retrains, "
          f"{summary['quarantined_rows']} quarantined; RSS {settled:.0f} -> {end:.0f} MiB")
    assert end < settled * 1.15 + 30, (settled, end)
