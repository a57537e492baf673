"""Event-driven retraining against a real Prefect server on loopback.

A Prefect server and a process serving the ``driftloop-retrain`` deployment (with its drift
event trigger) run as subprocesses on a free port, each in its own process group, stopped by
process id. The test bootstraps a champion on the first concept of a drop folder, drops files
of a new concept, emits ``driftloop.drift.detected`` and asserts that the server started the
retraining deployment because of that event, with its payload as parameters, and that a new
version was registered and took the ``champion`` alias. MLflow is SQLite in the state folder.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.server

MODEL = "event-model"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _concept(rng: np.random.Generator, n: int, flipped: bool) -> pd.DataFrame:
    X = rng.uniform(0, 10, size=(n, 3))
    y = (X[:, 0] + X[:, 1] > 10).astype(int)
    if flipped:
        y = (X[:, 0] - X[:, 1] > 0).astype(int)
    return pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "y": y})


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("events")
    drop = tmp / "drop"
    drop.mkdir()
    config = {
        "state_dir": str(tmp / "state"),
        "source": {"kind": "folder", "path": str(drop), "target": "y", "min_age_seconds": 0,
                   "ledger": str(tmp / "state" / "ledger.json")},
        "training": {"recent_rows": 1500, "holdout_rows": 500},
        "registry": {"model_name": MODEL},
    }
    config_path = tmp / "driftloop.yaml"
    config_path.write_text(yaml.safe_dump(config))
    port = _free_port()
    env = {**os.environ, "PREFECT_HOME": str(tmp / "prefect-home"),
           "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "true",
           "MLFLOW_DISABLE_TELEMETRY": "true", "PREFECT_LOGGING_LEVEL": "WARNING"}
    env.pop("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", None)
    bin_dir = Path(sys.executable).parent
    procs: list[subprocess.Popen[bytes]] = []
    with open(tmp / "server.log", "wb") as server_log, open(tmp / "serve.log", "wb") as serve_log:
        try:
            yield from _start(procs, tmp, drop, config_path, env, port, bin_dir, server_log, serve_log)
        finally:
            for proc in reversed(procs):  # the served process before its server
                _stop(proc)


def _start(procs: list[subprocess.Popen[bytes]], tmp: Path, drop: Path, config_path: Path,
           env: dict[str, str], port: int, bin_dir: Path, server_log: Any,
           serve_log: Any) -> Iterator[dict[str, Any]]:
    server = subprocess.Popen(
        [str(bin_dir / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=server_log, stderr=subprocess.STDOUT, start_new_session=True)
    procs.append(server)
    _wait_healthy(port, tmp / "server.log")
    served = subprocess.Popen(
        [sys.executable, "-m", "flows.production", str(config_path)], env=env,
        cwd=Path(__file__).resolve().parents[2], stdout=serve_log,
        stderr=subprocess.STDOUT, start_new_session=True)
    procs.append(served)
    yield {"tmp": tmp, "drop": drop, "config_path": config_path, "env": env, "port": port,
           "served": served}


def _wait_healthy(port: int, log: Path, timeout: float = 90.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"Prefect server did not come up; log:\n{log.read_text()[-3000:]}")


def _api(port: int, path: str, body: dict[str, Any]) -> Any:
    import urllib.request

    req = urllib.request.Request(f"http://127.0.0.1:{port}/api{path}",
                                 data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def _run_in(env: dict[str, str], code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_a_drift_event_runs_the_retraining_deployment_and_moves_the_champion(
        stack: dict[str, Any]) -> None:
    from mlflow import MlflowClient

    from flows.settings import StatePaths

    rng = np.random.default_rng(0)
    drop, env, port = stack["drop"], stack["env"], stack["port"]
    state = StatePaths.at(yaml.safe_load(stack["config_path"].read_text())["state_dir"])
    # 1. the first concept, processed by monitoring; a champion is bootstrapped on it
    _concept(rng, 2000, flipped=False).to_csv(drop / "day1.csv", index=False)
    boot = _run_in(env, (
        "from monitors.sources import DropFolderSource\n"
        "from flows.config import load_config\n"
        "from flows.production import retrain_on_event\n"
        f"cfg = load_config({str(stack['config_path'])!r})\n"
        "src = DropFolderSource(cfg.source); p = src.pending(); src.commit(p.files)\n"
        f"print(retrain_on_event({MODEL!r}, 'bootstrap', config_path={str(stack['config_path'])!r}))\n"))
    assert "'status': 'promoted'" in boot, boot
    client = MlflowClient(tracking_uri=state.tracking_uri)
    assert int(client.get_model_version_by_alias(MODEL, "champion").version) == 1

    # 2. the concept changes; monitoring processes the new file and emits the drift event
    _concept(rng, 2000, flipped=True).to_csv(drop / "day2.csv", index=False)
    _run_in(env, (
        "from monitors.sources import DropFolderSource\n"
        "from flows.config import load_config\n"
        "from flows.events import emit_drift_event\n"
        f"cfg = load_config({str(stack['config_path'])!r})\n"
        "src = DropFolderSource(cfg.source); p = src.pending(); src.commit(p.files)\n"
        f"emit_drift_event({MODEL!r}, ['concept drift (ADWIN)', 'accuracy -0.40'], "
        "window=3, row=3456)\n"))

    # 3. the server starts the retraining deployment with the event's payload
    deadline = time.monotonic() + 240
    runs: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        runs = _api(port, "/flow_runs/filter", {"flow_runs": {
            "deployment_id": {"is_null_": False},
            "state": {"type": {"any_": ["COMPLETED", "FAILED", "CRASHED"]}}}})
        if runs:
            break
        assert stack["served"].poll() is None, (stack["tmp"] / "serve.log").read_text()[-3000:]
        time.sleep(2)
    assert runs, f"no retraining run; serve log:\n{(stack['tmp'] / 'serve.log').read_text()[-3000:]}"
    run = runs[0]
    assert run["state_type"] == "COMPLETED", (stack["tmp"] / "serve.log").read_text()[-3000:]
    assert run["parameters"]["model"] == MODEL
    assert run["parameters"]["reasons"] == "concept drift (ADWIN); accuracy -0.40"
    assert str(run["parameters"]["row"]) == "3456"
    deployment = _api(port, "/deployments/filter", {})[0]
    assert run["deployment_id"] == deployment["id"] and deployment["name"] == "driftloop-retrain"
    events = _api(port, "/events/filter", {"filter": {"event": {"name": ["driftloop.drift.detected"]}}})
    assert events["events"], "the drift event is not in the server's event store"

    # 4. a new version, registered because of that event, holds the champion alias
    champion = client.get_model_version_by_alias(MODEL, "champion")
    assert int(champion.version) == 2
    assert champion.tags["driftloop.trigger"] == "event"
    assert champion.tags["driftloop.drift_reasons"] == "concept drift (ADWIN); accuracy -0.40"
