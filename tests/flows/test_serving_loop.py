"""The closed loop through the prediction service.

The real service serves version 1; clients send rows and, later, their labels; the concept
flips. The scheduled monitoring flow reads the prediction log (what was served, with the
labels that came), finds the drift and emits the event; the retraining flow learns from the
log's labelled rows and promotes version 2; the service swaps to it on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from benchmarks._service import Service, frame, labels, register, rows, start_service
from flows.production import monitor_prediction_log, retrain_on_event
from flows.settings import StatePaths
from models.registry import ModelRegistry, RegistryConfig

pytestmark = [pytest.mark.server, pytest.mark.e2e]
MODEL = "loop-model"


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("loop-state")


@pytest.fixture(scope="module")
def registry(state: Path) -> ModelRegistry:
    paths = StatePaths.at(state).create()
    reg = ModelRegistry(paths.tracking_uri, paths.artifacts, RegistryConfig(model_name=MODEL))
    v1 = register(reg, flip=False, seed=11)
    # as the retraining flow does: the gate's holdout score is the baseline monitoring compares
    # each window's accuracy with
    reg.record_gate(v1, None, 0.97, True, "first model")
    reg.promote(v1, "first model", by="tests")
    return reg


@pytest.fixture(scope="module")
def service(registry: ModelRegistry, state: Path) -> Iterator[Service]:
    svc = start_service(registry, state)
    try:
        yield svc
    finally:
        svc.stop()


@pytest.fixture(scope="module")
def config_path(state: Path) -> Path:
    path = state / "driftloop.yaml"
    path.write_text(yaml.safe_dump({
        "state_dir": str(state),
        "source": {"kind": "prediction_log", "model_name": MODEL, "task": "classification",
                   "uri": f"sqlite:///{state / 'predictions.db'}"},
        "registry": {"model_name": MODEL},
        "model": {"family": "sklearn"},
        "window": {"size": 300},
        "training": {"recent_rows": 1000, "holdout_rows": 300},
    }))
    return path


def _serve_and_label(service: Service, n: int, seed: int, *, flip: bool) -> float:
    """Send ``n`` rows in requests of 50, then their true labels; the served accuracy."""
    X = frame(n, seed)
    y = labels(X, flip=flip)
    payload = rows(X)
    served: list[str] = []
    with service.client() as c:
        ids = []
        for i in range(0, n, 50):
            body = c.post("/predict", json={"rows": payload[i:i + 50]}).json()
            ids.append(body["request_id"])
            served += body["predictions"]
        items = [{"request_id": rid, "row": j, "label": str(y[k * 50 + j])}
                 for k, rid in enumerate(ids) for j in range(min(50, n - k * 50))]
        result = c.post("/feedback", json={"items": items}).json()
    assert result["stored"] == n and not result["unknown"]
    return float(np.mean(np.array(served) == y))


def test_drift_in_served_traffic_retrains_and_the_service_follows(
        prefect_harness: None, service: Service, registry: ModelRegistry,
        config_path: Path) -> None:
    # 1. the concept the champion learnt: monitoring finds nothing to do
    assert _serve_and_label(service, 1200, seed=21, flip=False) > 0.9
    quiet = monitor_prediction_log(str(config_path))
    assert (quiet["rows"], quiet["labelled"], quiet["retrain"]) == (1200, 1200, False)
    assert quiet["windows"] == 4 and quiet["event"] is None
    assert quiet["continued"] is False  # the first run has no earlier state

    # 2. the concept flips: the served predictions go wrong, and monitoring sees it
    assert _serve_and_label(service, 1500, seed=22, flip=True) < 0.2
    drift = monitor_prediction_log(str(config_path))
    assert drift["after_seq"] == quiet["last_seq"] and drift["rows"] == 1500
    assert drift["retrain"] is True and drift["reasons"]
    assert drift["champion_version"] == 1
    assert drift["continued"] is True  # the detector went on from the quiet run's state

    # 3. the event's retraining learns from the log and promotes; the service swaps by itself
    retrained = retrain_on_event(MODEL, "; ".join(drift["reasons"]), config_path=str(config_path))
    assert retrained["status"] == "promoted" and retrained["version"] == 2
    service.wait_for_version(2)
    assert _serve_and_label(service, 600, seed=23, flip=True) > 0.85
    with service.client() as c:
        info = c.get("/model").json()
    assert info["version"] == 2 and info["trigger"] == "event"
    assert info["drift_event"]["reasons"] == "; ".join(drift["reasons"])
    history = registry.champion_history()
    assert [h["version"] for h in history] == [1, 2]
    assert history[-1]["by"] == "driftloop gate"

    # 4. the offset moved: nothing is read twice
    again = monitor_prediction_log(str(config_path))
    assert again["after_seq"] == drift["last_seq"]
    assert again["rows"] == 600  # only the rows served since
    assert again["continued"] is False  # a new champion: its detector starts afresh


def test_one_monitoring_run_and_one_retrain_at_a_time(
        prefect_harness: None, service: Service, registry: ModelRegistry, config_path: Path,
        state: Path, lock_holder: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import flows.production as production
    from monitors.checkpoint import FolderBusyError

    _serve_and_label(service, 300, seed=24, flip=True)
    offsets = state / "prediction_log_offsets.json"
    before = offsets.read_text()
    # the previous scheduled run still works: this one skips, and reads nothing
    holder = lock_holder(state / "monitor" / MODEL, "monitor")
    skipped = monitor_prediction_log(str(config_path))
    assert f"held by pid {holder.pid}" in skipped["skipped"]
    assert skipped["retrain"] is False and skipped["event"] is None
    assert offsets.read_text() == before
    lock_holder.kill(holder)  # it died: the next run takes the rows the skipped one left
    ran = monitor_prediction_log(str(config_path))
    assert "skipped" not in ran and ran["rows"] == 300

    # a retrain waits for the one in progress, then gives up with a clear error
    monkeypatch.setattr(production, "RETRAIN_LOCK_WAIT_S", 0.5)
    champion = registry.champion()
    holder = lock_holder(state / "monitor" / MODEL, "retrain")
    with pytest.raises(FolderBusyError, match=f"A retrain of '{MODEL}' is already working"):
        retrain_on_event(MODEL, "test", config_path=str(config_path))
    assert registry.champion() == champion
