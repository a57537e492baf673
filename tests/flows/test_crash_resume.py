"""Crash safety of the loop: SIGKILL at any step, ``--resume``, and the run ends exactly as an
uninterrupted one: the same windows, drift events and retrains, the same registered versions
(none twice, none lost) and the alias on the same, completely registered version.

The kills are real: ``$DRIFTLOOP_FAILPOINT=<step>:<n>`` makes the process SIGKILL itself the
n-th time it passes a step (ingest, drift_check, training, registration, promotion,
checkpoint), and the slow test also kills from outside at random instants.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

ROWS = 6000  # 4 windows after the 2,000 warm-up rows; 3 retrains, all promoted
REPO = Path(__file__).resolve().parents[2]


def _demo(state: Path, *, resume: bool = False, failpoint: str | None = None,
          kill_after: float | None = None, prefect: bool = False) -> int:
    """One ``driftloop demo`` process (``--no-prefect`` unless ``prefect``); its return code
    (-9: killed)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("DRIFTLOOP_FAILPOINT", None)
    if failpoint:
        env["DRIFTLOOP_FAILPOINT"] = failpoint
    cmd = [sys.executable, "-m", "flows.cli", "demo", *([] if prefect else ["--no-prefect"]),
           "--rows", str(ROWS),
           "--state-dir", str(state), "--out", str(state / "out"),
           *(["--resume"] if resume else [])]
    with (state.parent / f"{state.name}.log").open("ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        if kill_after is not None:
            try:
                proc.wait(kill_after)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
        return proc.wait(300)


def facts(state: Path) -> dict[str, Any]:
    """What a run must get exactly right, read from its summary and the MLflow store."""
    summary = json.loads((state / "out" / "summary.json").read_text())
    with sqlite3.connect(state / "mlflow.db") as db:
        versions = db.execute(
            "SELECT v.version, v.status, (SELECT value FROM model_version_tags t WHERE "
            "t.name = v.name AND t.version = v.version AND t.key = 'driftloop.drift_row') "
            "FROM model_versions v ORDER BY v.version").fetchall()
        alias = db.execute("SELECT version FROM registered_model_aliases "
                           "WHERE alias = 'champion'").fetchall()
        history = db.execute("SELECT value FROM registered_model_tags "
                             "WHERE key = 'driftloop.champion_history'").fetchone()
    return {
        "windows": [(w["index"], w["start"], w["end"], w["decision"], w["champion_version"],
                     w["accuracy"]) for w in summary["windows"]],
        "drift_events": [(e["row"], e["kind"], e["method"]) for e in summary["drift_events"]],
        "retrains": [(r["row"], r["version"], r["promoted"], r["challenger_score"])
                     for r in summary["retrains"]],
        "versions": versions,
        "champion": alias,
        "champion_history": [(h["version"], h["action"]) for h in json.loads(history[0])],
        "prequential_accuracy": summary["prequential_accuracy"],
        # Evidently snapshots on the dashboard: one per window and event, none twice
        "snapshots": len(list((state / "workspace").glob("*/snapshots/*.json"))),
        "registered_versions": summary["registered_versions"],
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    state = tmp_path_factory.mktemp("crash") / "reference"
    assert _demo(state) == 0, (state.parent / "reference.log").read_text()[-3000:]
    ref = facts(state)
    assert len(ref["retrains"]) == 3 and len(ref["windows"]) == 4  # the premise of the kills
    assert [v[1] for v in ref["versions"]] == ["READY"] * 3
    return ref


def _resume_until_done(state: Path, limit: int = 10) -> int:
    for attempt in range(limit):
        if _demo(state, resume=True) == 0:
            return attempt + 1
    raise AssertionError(f"--resume did not finish in {limit} tries:\n"
                         f"{(state.parent / f'{state.name}.log').read_text()[-3000:]}")


@pytest.mark.parametrize("failpoint", [
    pytest.param("ingest:1", marks=pytest.mark.slow),  # before anything was done
    "promotion:1",     # first model promoted, its snapshots stored, nothing checkpointed yet
    pytest.param("training:2", marks=pytest.mark.slow),  # trained, not registered
    "registration:2",  # registered, not gated: must not register again
    "promotion:3",     # the alias moved, the window not checkpointed
    pytest.param("checkpoint:3", marks=pytest.mark.slow),  # just after a checkpoint
])
def test_killed_at_a_step_then_resumed_equals_an_uninterrupted_run(
        tmp_path: Path, reference: dict[str, Any], failpoint: str) -> None:
    state = tmp_path / "run"
    assert _demo(state, failpoint=failpoint) == -signal.SIGKILL
    assert not (state / "out" / "summary.json").exists()
    _resume_until_done(state)
    assert facts(state) == reference
    # the snapshot journal names each stored snapshot once, and nothing else
    journal = [line.split()[1] for line in
               (state / "checkpoint" / "snapshots.log").read_text().splitlines()]
    stored = [p.stem for p in (state / "workspace").glob("*/snapshots/*.json")]
    assert sorted(journal) == sorted(stored) and len(set(journal)) == len(journal)


def test_resume_of_a_finished_run_changes_nothing(tmp_path: Path,
                                                  reference: dict[str, Any]) -> None:
    state = tmp_path / "run"
    assert _demo(state) == 0
    assert _demo(state, resume=True) == 0
    assert facts(state) == reference


def test_resume_with_another_config_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "run"
    assert _demo(state, failpoint="drift_check:2") == -signal.SIGKILL
    env = {**os.environ}
    env.pop("DRIFTLOOP_FAILPOINT", None)
    out = subprocess.run([sys.executable, "-m", "flows.cli", "demo", "--no-prefect", "--rows",
                          str(ROWS + 1000), "--state-dir", str(state), "--out",
                          str(state / "out"), "--resume"], capture_output=True, text=True,
                         env=env, cwd=REPO)
    assert out.returncode != 0
    assert "another configuration" in out.stderr


def test_a_tampered_checkpoint_is_not_loaded(tmp_path: Path) -> None:
    state = tmp_path / "run"
    assert _demo(state, failpoint="drift_check:2") == -signal.SIGKILL
    path = state / "checkpoint" / "checkpoint.bin"
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF  # one bit of the pickled state flipped
    path.write_bytes(bytes(data))
    env = {k: v for k, v in os.environ.items() if k != "DRIFTLOOP_FAILPOINT"}
    out = subprocess.run([sys.executable, "-m", "flows.cli", "demo", "--no-prefect", "--rows",
                          str(ROWS), "--state-dir", str(state), "--out", str(state / "out"),
                          "--resume"], capture_output=True, text=True, env=env, cwd=REPO)
    assert out.returncode != 0
    assert "was not written by this state folder's loop" in out.stderr


def test_a_second_run_in_the_same_state_folder_is_refused(tmp_path: Path,
                                                           lock_holder: Any) -> None:
    state = tmp_path / "run"
    holder = lock_holder(state, "run")  # as a run in progress holds it
    env = {k: v for k, v in os.environ.items() if k != "DRIFTLOOP_FAILPOINT"}
    out = subprocess.run([sys.executable, "-m", "flows.cli", "demo", "--no-prefect", "--rows",
                          str(ROWS), "--state-dir", str(state), "--out", str(state / "out")],
                         capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert out.returncode == 1
    assert f"already working in {state} " in out.stderr
    assert f"held by pid {holder.pid}" in out.stderr
    # it touched nothing of the run in progress
    assert not (state / "mlflow.db").exists() and not (state / "checkpoint").exists()


@pytest.mark.slow
def test_killed_in_prefect_mode_then_resumed(tmp_path: Path, reference: dict[str, Any]) -> None:
    """A SIGKILL leaves the run's ephemeral Prefect API running; the resume stops it, starts
    its own (stopped at its exit) and ends as the uninterrupted run."""
    from flows.settings import leftover_prefect_api

    state = tmp_path / "run"
    assert _demo(state, prefect=True, failpoint="registration:2") == -signal.SIGKILL
    left = leftover_prefect_api(state / "prefect")
    assert len(left) == 1
    assert _demo(state, prefect=True, resume=True) == 0
    log = (tmp_path / "run.log").read_text()
    assert f"stopped the ephemeral Prefect API (pid {left[0]})" in log
    assert leftover_prefect_api(state / "prefect") == []
    assert facts(state) == reference


@pytest.mark.slow
def test_fifty_random_kills_across_the_steps(tmp_path: Path, reference: dict[str, Any]) -> None:
    """At least 50 SIGKILLs, at random steps and random instants, over several runs; each run
    resumed until it finishes must equal the uninterrupted one."""
    rng = random.Random(20261124)
    steps = ["ingest", "drift_check", "training", "registration", "promotion", "checkpoint"]
    limits = {"ingest": 5, "drift_check": 4, "training": 4, "registration": 4, "promotion": 4,
              "checkpoint": 5}
    kills, runs, by_step = 0, 0, dict.fromkeys([*steps, "random-instant"], 0)
    while kills < 50:
        runs += 1
        state = tmp_path / f"run{runs}"
        resume = False
        for _ in range(30):
            if rng.random() < 0.25:  # from outside, at a random instant
                rc = _demo(state, resume=resume, kill_after=rng.uniform(3.0, 14.0))
                step = "random-instant"
            else:
                step = rng.choice(steps)
                rc = _demo(state, resume=resume, failpoint=f"{step}:{rng.randint(1, limits[step])}")
            resume = True
            if rc == 0:
                break
            assert rc == -signal.SIGKILL, (state.parent / f"{state.name}.log").read_text()[-3000:]
            kills += 1
            by_step[step] += 1
        else:
            raise AssertionError(f"run {runs} never finished")
        assert facts(state) == reference, f"run {runs} differs after its kills"
    print(f"{kills} kills over {runs} runs: {by_step}")
    assert all(by_step[s] > 0 for s in steps)
