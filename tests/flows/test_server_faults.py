"""Server faults: the MLflow server goes away in the middle of the work.

A real MLflow server (``driftloop up``, MLflow only) on a free loopback port holds the model.
- The retraining flow loses the server between registering its challenger and moving the
  alias: it fails with a clear error after MLflow's client has retried, the champion is
  unchanged; once the server is back, the next run completes the work.
- The prediction service loses the registry: it keeps answering with the version it has,
  and picks up the new champion once the registry is back.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from benchmarks._service import frame, labels, register, rows, start_service
from deploy.servers import ServerError, ServersConfig, down, up
from flows import production
from models.registry import ModelRegistry, RegistryConfig, RegistryError

pytestmark = [pytest.mark.server, pytest.mark.e2e]
MODEL = "faults-model"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    state = tmp_path_factory.mktemp("faults")
    config = ServersConfig.model_validate({"prefect": {"enabled": False},
                                           "mlflow": {"port": _free_port()},
                                           "evidently": {"enabled": False}})
    servers = up(config, state)
    try:
        yield {"state": state, "config": config, "uri": servers[0].url}
    finally:
        down(state)


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    # MLflow's client retries with exponential backoff (7 tries by default, about two minutes);
    # the same behaviour, shortened for the test
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")


def _champion_and_drifted_drop(registry: ModelRegistry, tmp_path: Path, seed: int,
                               n: int, **config: Any) -> Path:
    """Version 1 promoted (with the gate score the monitor compares with), one file of the
    flipped concept in ``tmp_path/drop``, and the config file for both; returns its path."""
    v1 = register(registry, flip=False, seed=seed)
    registry.record_gate(v1, None, 0.97, True, "first model")
    registry.promote(v1, "first model", by="tests")
    drop = tmp_path / "drop"
    drop.mkdir()
    X = frame(n, seed=seed + 1)
    X.assign(y=labels(X, flip=True)).to_csv(drop / "batch-001.csv", index=False)
    config_path = tmp_path / "driftloop.yaml"
    config_path.write_text(yaml.safe_dump({
        "state_dir": str(tmp_path / "state"), "registry": {"model_name": registry.model_name},
        "source": {"kind": "folder", "path": str(drop), "target": "y", "min_age_seconds": 0,
                   "ledger": str(tmp_path / "state" / "ledger.json")}, **config}))
    return config_path


def test_registry_lost_before_promotion_leaves_the_champion_and_the_next_run_completes(
        prefect_harness: None, mlflow_server: dict[str, Any], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, quick_retries: None) -> None:
    uri = mlflow_server["uri"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    registry = ModelRegistry(uri, tmp_path / "unused", RegistryConfig(model_name=MODEL))
    config_path = _champion_and_drifted_drop(
        registry, tmp_path, 31, 2500, training={"recent_rows": 1500, "holdout_rows": 500})
    v1 = registry.champion().version
    from monitors.sources import DropFolderSource

    source = DropFolderSource(production._folder_config(production.load_config(config_path)))
    source.commit(source.pending().files)  # monitoring has processed the file

    real_gate = production.gate_and_promote

    def server_dies_first(*args: Any, **kwargs: Any) -> Any:
        down(mlflow_server["state"])  # the registry goes away after the registration
        return real_gate(*args, **kwargs)

    monkeypatch.setattr(production, "gate_and_promote", server_dies_first)
    started = time.monotonic()
    with pytest.raises(RegistryError) as failure:
        production.retrain_on_event(MODEL, "concept drift", config_path=str(config_path))
    took = time.monotonic() - started
    message = str(failure.value)
    assert uri.split("//")[1] in message and "reachable MLflow" in message
    assert took < 120
    monkeypatch.setattr(production, "gate_and_promote", real_gate)

    up(mlflow_server["config"], mlflow_server["state"])  # back
    assert registry.champion().version == v1  # unchanged by the failed run
    orphan = registry.challenger()
    assert orphan is not None and orphan.version == v1 + 1  # registered, never champion

    result = production.retrain_on_event(MODEL, "concept drift", config_path=str(config_path))
    assert result["status"] == "promoted"
    assert registry.champion().version == result["version"] == v1 + 2
    history = registry.champion_history()
    assert [h["version"] for h in history] == [v1, v1 + 2]


def test_service_keeps_serving_while_the_registry_is_down(
        mlflow_server: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        quick_retries: None) -> None:
    uri = mlflow_server["uri"]
    registry = ModelRegistry(uri, tmp_path / "unused",
                             RegistryConfig(model_name="faults-served"))
    v1 = register(registry, flip=False, seed=41)
    registry.promote(v1, "first", by="tests")
    v2 = register(registry, flip=True, seed=42)
    service = start_service(registry, tmp_path / "state",
                            env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
                                 "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                                 "MLFLOW_HTTP_REQUEST_TIMEOUT": "3"})
    X = frame(20, seed=43)
    try:
        down(mlflow_server["state"])
        with service.client() as c:
            deadline = time.monotonic() + 8  # several polls fail meanwhile
            while time.monotonic() < deadline:
                r = c.post("/predict", json={"rows": rows(X)})
                assert r.status_code == 200 and r.json()["version"] == v1
                time.sleep(0.2)
        log_text = service.log_path.read_text()
        assert "Could not refresh the served model" in log_text
        up(mlflow_server["config"], mlflow_server["state"])
        registry.promote(v2, "tests: after the outage", by="tests")
        service.wait_for_version(v2)
        with service.client() as c:
            answer = c.post("/predict", json={"rows": rows(X)}).json()
        assert np.array_equal(answer["predictions"],
                              registry.load_pyfunc(v2).predict(pd.DataFrame(X)))
    finally:
        service.stop()
        with contextlib.suppress(ServerError):  # leave the module's server running
            up(mlflow_server["config"], mlflow_server["state"])


def test_prefect_server_lost_mid_run_fails_clearly_and_resume_completes(
        tmp_path: Path) -> None:
    """A Prefect-mode run against a real Prefect server that is stopped mid-run: the run stops
    with a clear error (exit code 3, after Prefect's client retries), every registered version
    is complete, and ``--resume`` against the restarted server finishes the run with the same
    retrains as an uninterrupted run, registering nothing twice."""
    import json
    import sqlite3
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    config = ServersConfig.model_validate({"prefect": {"port": _free_port()},
                                           "mlflow": {"enabled": False},
                                           "evidently": {"enabled": False}})
    servers_state = tmp_path / "servers"
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update({"PREFECT_HOME": str(tmp_path / "prefect-home"), "PREFECT_CLIENT_MAX_RETRIES": "2",
                "PYTHONUNBUFFERED": "1"})

    def demo(state: Path, *extra: str, api: bool = True) -> subprocess.Popen[bytes]:
        run_env = {**env, **({"PREFECT_API_URL": url} if api else {})}
        log = (tmp_path / f"{state.name}.log").open("ab")
        return subprocess.Popen(
            [sys.executable, "-m", "flows.cli", "demo", "--rows", "30000", "--state-dir",
             str(state), "--out", str(state / "out"), *extra], cwd=repo, env=run_env,
            stdout=log, stderr=subprocess.STDOUT)

    servers = up(config, servers_state)
    url = servers[0].url + "/api"
    try:
        run = tmp_path / "run"
        proc = demo(run)
        time.sleep(12)
        down(servers_state)  # the Prefect server goes away mid-run
        rc = proc.wait(300)
        log_text = (tmp_path / "run.log").read_text()
        assert rc == 3, log_text[-3000:]
        assert "lost the Prefect API at " + url in log_text and "--resume" in log_text
        up(config, servers_state)
        assert demo(run, "--resume").wait(300) == 0, (tmp_path / "run.log").read_text()[-3000:]
    finally:
        with contextlib.suppress(ServerError):
            down(servers_state)
    reference = tmp_path / "reference"
    assert demo(reference, "--no-prefect", api=False).wait(300) == 0

    def outcome(state: Path) -> tuple[Any, ...]:
        summary = json.loads((state / "out" / "summary.json").read_text())
        with sqlite3.connect(state / "mlflow.db") as db:
            versions = db.execute(
                "SELECT v.status, t.value FROM model_versions v JOIN model_version_tags t ON "
                "t.name = v.name AND t.version = v.version AND t.key = "
                "'driftloop.drift_step_key' ORDER BY v.version").fetchall()
        steps = [key.split(":", 1)[1] for _, key in versions]
        return ([(r["row"], r["version"], r["promoted"]) for r in summary["retrains"]],
                [w["end"] for w in summary["windows"]], {s for s, _ in versions}, steps)

    resumed, expected = outcome(run), outcome(reference)
    assert resumed[2] == {"READY"}
    assert len(resumed[3]) == len(set(resumed[3]))  # no step registered twice
    assert resumed[:2] == expected[:2] and resumed[3] == expected[3]


def test_prefect_server_lost_before_the_drift_event_leaves_the_files_to_the_next_run(
        tmp_path: Path) -> None:
    """The scheduled monitor finds drift, and the Prefect server it must tell is gone: the
    event is not confirmed, so the monitor fails with a clear error and records nothing as
    checked (the drop files stay pending, the detector state is not moved on). With the server
    back, the next run checks the same files, and its event reaches the server.

    The monitor's body runs without Prefect's flow engine (``.fn``) so that only the event
    needs the server: what the engine does when its API dies is the Prefect-mode test above.
    """
    import json
    import urllib.request

    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.events import EventDeliveryError
    from flows.settings import StatePaths
    from monitors.sources import DropFolderSource

    state = tmp_path / "state"
    paths = StatePaths.at(state).create()
    registry = ModelRegistry(paths.tracking_uri, paths.artifacts,
                             RegistryConfig(model_name="faults-monitored"))
    config_path = _champion_and_drifted_drop(registry, tmp_path, 51, 1500,
                                             window={"size": 300})
    config = ServersConfig.model_validate({"prefect": {"port": _free_port()},
                                           "mlflow": {"enabled": False},
                                           "evidently": {"enabled": False}})
    servers_state = tmp_path / "servers"
    servers = up(config, servers_state)
    api = servers[0].url + "/api"
    real_emit = production.emit_drift_event

    def server_dies_first(*args: Any, **kwargs: Any) -> Any:
        down(servers_state)  # the server goes away just before the event is sent
        return real_emit(*args, **kwargs)

    def pending() -> list[str]:  # the ledger as a new process reads it
        source = DropFolderSource(production._folder_config(production.load_config(config_path)))
        return [f.name for f in source.pending().files]

    try:
        with temporary_settings({PREFECT_API_URL: api}):
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(production, "emit_drift_event", server_dies_first)
                with pytest.raises(EventDeliveryError) as failure:
                    production.monitor_drop_folder.fn(str(config_path))
            message = str(failure.value)
            assert api in message and "next monitoring run checks the same rows" in message
            assert pending() == ["batch-001.csv"]
            assert not (state / "monitor" / "faults-monitored" / "checkpoint.bin").exists()

            up(config, servers_state)  # back
            again = production.monitor_drop_folder.fn(str(config_path))
        assert again["retrain"] is True and again["files"] == ["batch-001.csv"]
        assert again["continued"] is False  # from the state the failed run started from
        assert pending() == []
        assert (state / "monitor" / "faults-monitored" / "checkpoint.bin").exists()
        deadline, events = time.monotonic() + 60, []
        while not events and time.monotonic() < deadline:  # the server stores events async
            request = urllib.request.Request(
                api + "/events/filter", method="POST", headers={"Content-Type":
                                                                "application/json"},
                data=json.dumps({"filter": {"event": {"name": [
                    "driftloop.drift.detected"]}}}).encode())
            with urllib.request.urlopen(request, timeout=10) as response:
                events = json.load(response)["events"]
            time.sleep(0.5)
        assert [e["id"] for e in events] == [again["event"]]
        assert events[0]["payload"]["model"] == "faults-monitored"
    finally:
        with contextlib.suppress(ServerError):
            down(servers_state)
