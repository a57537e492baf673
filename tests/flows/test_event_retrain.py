"""Scheduled monitoring and event-driven retraining against a real Prefect server on loopback.

A Prefect server and a process serving the two production deployments (``driftloop-monitor``
on a schedule, ``driftloop-retrain`` with its drift-event trigger) run as subprocesses on a
free port, each in its own process group, stopped by process id. A first monitoring run over
a drop folder trains the first champion; files of a new concept are dropped and a second
monitoring run detects the drift and emits ``driftloop.drift.detected``; the test asserts that
the server started the retraining deployment because of that event, with its payload as
parameters, and that a new version was registered and took the ``champion`` alias. MLflow is
SQLite in the state folder.
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
DRIFT = "driftloop.drift.detected"
CRON = "0 0 1 1 *"  # a schedule that does not fire during the test: runs are started by hand


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
def webhook() -> Iterator[Any]:
    from alert_receivers import WebhookReceiver

    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def smtp() -> Iterator[Any]:
    from alert_receivers import SmtpReceiver

    with SmtpReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, webhook: Any,
          smtp: Any) -> Iterator[dict[str, Any]]:
    """`driftloop up` (Prefect and MLflow servers on free ports) and `driftloop deploy`."""
    from deploy.servers import ServersConfig, client_env, down, up

    tmp = tmp_path_factory.mktemp("events")
    drop = tmp / "drop"
    drop.mkdir()
    state = tmp / "state"
    config = {
        "alerts": {"sinks": ["log",
                            {"kind": "webhook", "url": webhook.url(),
                             "url_env": "DRIFTLOOP_TEST_UNSET_WEBHOOK"},
                            {"kind": "smtp", "host": "127.0.0.1", "port": smtp.port,
                             "from_addr": "driftloop@localhost", "to": ["ml-team@localhost"]}]},
        "state_dir": str(state),
        "source": {"kind": "folder", "path": str(drop), "target": "y", "min_age_seconds": 0,
                   "ledger": str(state / "ledger.json")},
        "training": {"recent_rows": 1500, "holdout_rows": 500},
        "registry": {"model_name": MODEL},
    }
    config_path = tmp / "driftloop.yaml"
    config_path.write_text(yaml.safe_dump(config))
    servers_config = ServersConfig.model_validate({
        "prefect": {"port": _free_port()}, "mlflow": {"port": _free_port()},
        "evidently": {"enabled": False}})
    env = {**os.environ, "PREFECT_HOME": str(tmp / "prefect-home"),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "true",
           "MLFLOW_DISABLE_TELEMETRY": "true", "PREFECT_LOGGING_LEVEL": "WARNING"}
    env.pop("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", None)
    try:
        servers = up(servers_config, state)
        env.update(client_env(servers))
        port = int(env["PREFECT_API_URL"].rsplit(":", 1)[1].split("/")[0])
        with open(tmp / "serve.log", "wb") as serve_log:
            served = subprocess.Popen(
                [str(Path(sys.executable).parent / "driftloop"), "deploy", "--config",
                 str(config_path), "--cron", CRON], env=env, stdout=serve_log,
                stderr=subprocess.STDOUT, start_new_session=True)
            try:
                yield {"tmp": tmp, "drop": drop, "config_path": config_path, "env": env,
                       "port": port, "served": served, "webhook": webhook, "smtp": smtp,
                       "tracking_uri": env["MLFLOW_TRACKING_URI"]}
            finally:
                _stop(served)  # the served process before its servers
    finally:
        down(state)


def _api(port: int, path: str, body: dict[str, Any]) -> Any:
    """POST to the server's API; a busy server's 503 is retried for up to 30 s."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + 30
    while True:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api{path}",
                                     data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            if e.code != 503 or time.monotonic() > deadline:
                raise
            time.sleep(1)


def _deployment(port: int, name: str) -> dict[str, Any]:
    found = [d for d in _api(port, "/deployments/filter", {}) if d["name"] == name]
    assert found, f"no deployment {name!r}"
    return found[0]


def _wait_deployments(stack: dict[str, Any], names: set[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if names <= {d["name"] for d in _api(stack["port"], "/deployments/filter", {})}:
            return
        assert stack["served"].poll() is None, (stack["tmp"] / "serve.log").read_text()[-3000:]
        time.sleep(1)
    raise AssertionError(f"deployments {names} not created; serve log:\n"
                         f"{(stack['tmp'] / 'serve.log').read_text()[-3000:]}")


def _finished_runs(stack: dict[str, Any], deployment_id: str, n: int,
                   timeout: float = 240) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    runs: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        runs = _api(stack["port"], "/flow_runs/filter", {
            "flow_runs": {"deployment_id": {"any_": [deployment_id]},
                          "state": {"type": {"any_": ["COMPLETED", "FAILED", "CRASHED"]}}},
            "sort": "EXPECTED_START_TIME_ASC"})
        if len(runs) >= n:
            return runs
        assert stack["served"].poll() is None, (stack["tmp"] / "serve.log").read_text()[-3000:]
        time.sleep(2)
    raise AssertionError(f"{len(runs)} of {n} run(s) finished; serve log:\n"
                         f"{(stack['tmp'] / 'serve.log').read_text()[-3000:]}")


def _run_monitor(stack: dict[str, Any], monitor: dict[str, Any], n: int) -> dict[str, Any]:
    _api(stack["port"], f"/deployments/{monitor['id']}/create_flow_run", {})
    run = _finished_runs(stack, monitor["id"], n)[n - 1]
    assert run["state_type"] == "COMPLETED", (stack["tmp"] / "serve.log").read_text()[-3000:]
    return run


def test_monitoring_detects_drift_and_its_event_retrains_and_promotes(
        stack: dict[str, Any]) -> None:
    from mlflow import MlflowClient

    from flows.settings import StatePaths

    rng = np.random.default_rng(0)
    drop, port = stack["drop"], stack["port"]
    state = StatePaths.at(yaml.safe_load(stack["config_path"].read_text())["state_dir"])
    client = MlflowClient(tracking_uri=stack["tracking_uri"])  # the MLflow server
    _wait_deployments(stack, {"driftloop-monitor", "driftloop-retrain"})
    monitor, retraining = _deployment(port, "driftloop-monitor"), _deployment(port, "driftloop-retrain")
    assert [s["schedule"].get("cron") for s in monitor["schedules"]] == [CRON]
    assert retraining["schedules"] == []  # started by events only

    # 1. the first files: the monitoring run trains the first champion on them
    _concept(rng, 2000, flipped=False).to_csv(drop / "day1.csv", index=False)
    _run_monitor(stack, monitor, 1)
    assert int(client.get_model_version_by_alias(MODEL, "champion").version) == 1

    # 2. the same concept again: no drift, no event
    _concept(rng, 1500, flipped=False).to_csv(drop / "day2.csv", index=False)
    _run_monitor(stack, monitor, 2)
    time.sleep(3)
    assert _finished_runs(stack, retraining["id"], 0, timeout=1) == []

    # 3. the concept changes: monitoring detects it and emits the drift event
    _concept(rng, 3000, flipped=True).to_csv(drop / "day3.csv", index=False)
    _run_monitor(stack, monitor, 3)
    deadline, events = time.monotonic() + 60, []
    while not events and time.monotonic() < deadline:  # events are stored asynchronously
        events = _api(port, "/events/filter",
                      {"filter": {"event": {"name": ["driftloop.drift.detected"]}}})["events"]
        time.sleep(1)
    assert len(events) == 1, (stack["tmp"] / "serve.log").read_text()[-3000:]
    payload = events[0]["payload"]
    assert payload["model"] == MODEL and payload["files"] == ["day3.csv"]
    assert payload["champion_version"] == 1 and payload["kind"] in {"concept", "performance"}
    assert "retrain on" in payload["reasons"] and payload["window"] is not None

    # 4. the server starts the retraining deployment with the event's payload
    run = _finished_runs(stack, retraining["id"], 1)[0]
    assert run["state_type"] == "COMPLETED", (stack["tmp"] / "serve.log").read_text()[-3000:]
    assert run["parameters"]["model"] == MODEL
    assert run["parameters"]["reasons"] == payload["reasons"]
    assert str(run["parameters"]["row"]) == str(payload["row"])

    # 5. a new version, registered because of that event, holds the champion alias
    champion = client.get_model_version_by_alias(MODEL, "champion")
    assert int(champion.version) == 2
    assert champion.tags["driftloop.trigger"] == "event"
    assert champion.tags["driftloop.drift_reasons"] == payload["reasons"]
    # the drift and both promotions were alerted (webhook) and stored
    from monitors.alerts import AlertStore

    stored = AlertStore(state.root / "alerts.sqlite").alerts(model=MODEL)
    kinds = [a.alert.kind for a in stored if a.status == "sent"]
    assert kinds.count("promotion") == 2 and payload["kind"] in kinds, kinds
    drift_alert = next(a for a in stored if a.alert.kind == payload["kind"])
    assert "webhook" in drift_alert.delivered and "day3.csv" in str(drift_alert.alert.details)
    assert len(stack["webhook"].requests) >= 3
    mails = [(m.message["Subject"], m.message.get_content()) for m in stack["smtp"].mails]
    assert any("promoted" in subject and MODEL in subject for subject, _ in mails), mails
    assert any("retrain on" in body for _, body in mails), mails
    # and every processed file was taken once
    ledger = json.loads((state.root / "ledger.json").read_text())
    assert sorted(r["name"] for r in ledger["files"]) == ["day1.csv", "day2.csv", "day3.csv"]


def test_prefect_yaml_deploys_the_same_two_deployments_to_a_work_pool(
        stack: dict[str, Any]) -> None:
    repo = Path(__file__).resolve().parents[2]
    env = {**stack["env"], "DRIFTLOOP_HOME": str(repo),
           "DRIFTLOOP_CONFIG": str(stack["config_path"])}
    prefect = str(Path(sys.executable).parent / "prefect")
    for cmd in ([prefect, "work-pool", "create", "driftloop", "--type", "process", "--overwrite"],
                [prefect, "--no-prompt", "deploy", "--all", "--prefect-file",
                 str(repo / "deploy" / "prefect.yaml")]):
        proc = subprocess.run(cmd, env=env, cwd=repo, capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    pooled = [d for d in _api(stack["port"], "/deployments/filter", {})
              if d.get("work_pool_name") == "driftloop"]
    assert sorted(d["name"] for d in pooled) == ["driftloop-monitor", "driftloop-retrain"]
    retraining = next(d for d in pooled if d["name"] == "driftloop-retrain")
    assert retraining["parameters"]["config_path"] == str(stack["config_path"])
    automations = _api(stack["port"], "/automations/filter", {})
    assert any(DRIFT in json.dumps(a["trigger"]) and
               retraining["id"] in json.dumps(a["actions"]) for a in automations), automations
