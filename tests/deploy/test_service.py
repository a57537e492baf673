"""The prediction service as a real process on a loopback port, against a real MLflow registry.

Two versions learn opposite concepts, so each prediction shows which version made it. Tests
that move the ``champion`` alias put it back on version 1 before they end.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from click.testing import CliRunner

from benchmarks._service import (
    TOKEN,
    Service,
    frame,
    labels,
    make_registry,
    register,
    rows,
    start_service,
)
from deploy.prediction_log import PredictionLog
from flows.cli import main
from models.registry import ModelRegistry, RegistryReader

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> ModelRegistry:
    reg = make_registry(tmp_path_factory.mktemp("service-registry"))
    v1 = register(reg, flip=False, seed=1)
    reg.promote(v1, "first model", by="tests")
    register(reg, flip=True, seed=2)  # v2: the challenger, shadow-scored
    return reg


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("service-state")


@pytest.fixture(scope="module")
def service(registry: ModelRegistry, state_dir: Path) -> Iterator[Service]:
    svc = start_service(registry, state_dir, "--shadow")
    try:
        yield svc
    finally:
        svc.stop()
    # the token must never reach the service's own output
    assert TOKEN not in svc.log_path.read_text()


@pytest.fixture(scope="module")
def pool(registry: ModelRegistry) -> dict[str, Any]:
    """400 rows and what each version predicts for them (from the registry, in-process)."""
    X = frame(400, seed=99)
    reader = RegistryReader(registry.tracking_uri, registry.model_name)
    return {"X": X, "rows": rows(X),
            1: reader.load_pyfunc(1).predict(X).tolist(),
            2: reader.load_pyfunc(2).predict(X).tolist()}


def test_versions_disagree(pool: dict[str, Any]) -> None:
    # the premise of every "which version answered" check below
    assert np.mean(np.array(pool[1]) != np.array(pool[2])) > 0.9


def test_health_is_open_and_everything_else_needs_the_token(service: Service) -> None:
    with service.client(token=None) as anon:
        health = anon.get("/health")
        assert health.status_code == 200 and health.json()["version"] == 1
        for method, path in [("GET", "/model"), ("POST", "/predict"), ("POST", "/feedback"),
                             ("GET", "/shadow"),
                             ("GET", "/docs"), ("GET", "/openapi.json")]:
            r = anon.request(method, path, json={"row": {}})
            assert r.status_code == 401, (path, r.text)
            assert r.headers["www-authenticate"] == "Bearer"
    for bad in ("wrong-token-0123456789", TOKEN[:-1], TOKEN + "x"):
        with service.client(token=bad) as c:
            assert c.post("/predict", json={"row": {}}).status_code == 401
    with httpx.Client(base_url=service.url) as c:  # the token in another header or scheme
        assert c.get("/model", headers={"Authorization": TOKEN}).status_code == 401
        assert c.get("/model", headers={"X-API-Token": TOKEN}).status_code == 401
        assert c.get("/model", params={"token": TOKEN}).status_code == 401


def test_predictions_match_the_registered_champion(service: Service,
                                                   pool: dict[str, Any]) -> None:
    with service.client() as c:
        r = c.post("/predict", json={"rows": pool["rows"]})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["version"] == 1 and body["model"] == "svc-model"
        assert body["predictions"] == pool[1]
        one = c.post("/predict", json={"row": pool["rows"][3], "request_id": "single-3"}).json()
        assert one["request_id"] == "single-3" and one["predictions"] == [pool[1][3]]


def test_model_endpoint_describes_the_version(service: Service) -> None:
    with service.client() as c:
        info = c.get("/model").json()
    assert info["name"] == "svc-model" and info["version"] == 1 and info["alias"] == "champion"
    assert info["trained_at"].endswith("+00:00")
    assert info["drift_event"] == {"reasons": "concept drift", "window": "8"}
    assert info["trigger"] == "drift"
    assert info["features"] == {"x0": "double", "x1": "double", "count": "long",
                                "region": "string", "flag": "boolean"}
    assert info["shadow"]["version"] == 2 and info["shadow"]["alias"] == "challenger"


@pytest.mark.parametrize(("payload", "field", "words"), [
    ({"row": {"x0": 1.0, "x1": 0.0, "count": 3, "region": "north"}}, "flag", "missing field"),
    ({"row": {"x0": "high", "x1": 0.0, "count": 3, "region": "north", "flag": True}}, "x0",
     "must be a number"),
    ({"row": {"x0": 1.0, "x1": 0.0, "count": 3.5, "region": "north", "flag": True}}, "count",
     "must be an integer"),
    ({"row": {"x0": 1.0, "x1": 0.0, "count": 3, "region": 4, "flag": True}}, "region",
     "must be a string"),
    ({"row": {"x0": 1.0, "x1": 0.0, "count": 3, "region": "north", "flag": "yes"}}, "flag",
     "must be a boolean"),
    ({"row": {"x0": 1.0, "x1": 0.0, "count": 3, "region": "north", "flag": True, "x9": 1}}, "x9",
     "unknown field"),
    ({"rows": [{"x0": 1.0, "x1": 0.0, "count": 3, "region": "north", "flag": True}],
      "model_uri": "file:///tmp/evil"}, "model_uri", "Extra inputs are not permitted"),
    ({"rows": []}, "body", "at least one row"),
    ({}, "body", "either 'rows'"),
    ({"row": {"x0": 1.0}, "request_id": "../../etc"}, "request_id", "should match pattern"),
])
def test_bad_payloads_get_422_naming_the_field(service: Service, payload: dict[str, Any],
                                               field: str, words: str) -> None:
    with service.client() as c:
        r = c.post("/predict", json=payload)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert any(field in json.dumps(d["loc"]) and words in d["msg"] for d in detail), detail


def test_a_body_that_is_not_json_is_refused_with_a_message(service: Service) -> None:
    with service.client() as c:
        broken = c.post("/predict", content=b'{"rows": [', headers={"Content-Type":
                                                                    "application/json"})
        binary = c.post("/predict", content=b"\xff\xfe not json",
                        headers={"Content-Type": "application/json"})
    assert broken.status_code == 422 and "JSON" in broken.text
    assert binary.status_code == 400 and "parsing the body" in binary.json()["detail"]


def test_reused_request_id_gets_409_and_is_logged_once(service: Service, state_dir: Path,
                                                       pool: dict[str, Any]) -> None:
    with service.client() as c:
        first = c.post("/predict", json={"rows": pool["rows"][:2], "request_id": "dup-1"})
        again = c.post("/predict", json={"rows": pool["rows"][:2], "request_id": "dup-1"})
    assert first.status_code == 200 and again.status_code == 409
    assert "dup-1" in again.json()["detail"]
    served = PredictionLog.in_state_dir(state_dir).served()
    assert (served["request_id"] == "dup-1").sum() == 2  # two rows, once


def test_every_prediction_is_logged_and_feedback_joins(service: Service, state_dir: Path,
                                                       pool: dict[str, Any]) -> None:
    with service.client() as c:
        body = c.post("/predict", json={"rows": pool["rows"][:5], "request_id": "fb-1"}).json()
        time.sleep(0.3)  # feedback arrives later than the prediction
        fb = c.post("/feedback", json={"items": [
            {"request_id": "fb-1", "row": 0, "label": "UP"},
            {"request_id": "fb-1", "row": 3, "label": "DOWN"},
            {"request_id": "no-such-request", "label": "UP"},
        ]}).json()
    assert fb == {"stored": 2, "updated": 0,
                  "unknown": [{"request_id": "no-such-request", "row": 0}]}
    log = PredictionLog.in_state_dir(state_dir)
    served = log.served()
    mine = served[served["request_id"] == "fb-1"].set_index("row")
    assert mine["prediction"].tolist() == body["predictions"] == pool[1][:5]
    assert (mine["model_version"] == 1).all()
    assert mine["x0"].tolist() == pytest.approx(pool["X"]["x0"].head(5).tolist())
    assert mine["region"].tolist() == pool["X"]["region"].head(5).tolist()
    assert mine.loc[0, "label"] == "UP" and mine.loc[3, "label"] == "DOWN"
    assert mine["label"].isna().sum() == 3
    assert (mine["labelled_at"].dropna() > mine["served_at"].min()).all()


def test_shadow_challenger_scores_the_same_requests(service: Service, state_dir: Path,
                                                    pool: dict[str, Any]) -> None:
    with service.client() as c:
        body = c.post("/predict", json={"rows": pool["rows"][:20], "request_id": "shadow-1"})
    assert body.json()["predictions"] == pool[1][:20]  # the champion answers
    log = PredictionLog.in_state_dir(state_dir)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        shadow = log.served(role="shadow")
        shadow = shadow[shadow["request_id"] == "shadow-1"]
        if len(shadow) == 20:
            break
        time.sleep(0.05)
    assert len(shadow) == 20
    assert (shadow["model_version"] == 2).all()
    assert shadow.sort_values("row")["prediction"].tolist() == pool[2][:20]
    # the labels come: the comparison on live traffic says who was right
    truth = labels(pool["X"].head(20), flip=True)  # the world has moved to version 2's concept
    with service.client() as c:
        c.post("/feedback", json={"items": [{"request_id": "shadow-1", "row": i,
                                             "label": str(truth[i])} for i in range(20)]})
        report = c.get("/shadow").json()
    (pair,) = [p for p in report["comparisons"] if p["shadow_version"] == 2]
    # (earlier tests' requests were shadow-scored too; exact figures: test_prediction_log.py)
    assert pair["champion_version"] == 1 and pair["labelled"] >= 20 and pair["rows"] >= 20
    assert pair["shadow_accuracy"] > 0.8 > 0.2 > pair["champion_accuracy"]


def _hammer(service: Service, pool: dict[str, Any], stop: threading.Event,
            results: list[dict[str, Any]], seed: int) -> None:
    rng = random.Random(seed)
    with service.client() as c:
        while not stop.is_set():
            start = rng.randrange(0, 390)
            n = rng.randint(1, 10)
            try:
                r = c.post("/predict", json={"rows": pool["rows"][start:start + n]})
                results.append({"status": r.status_code, "start": start, "n": n,
                                "body": r.json() if r.status_code == 200 else r.text,
                                "t": time.monotonic()})
            except httpx.HTTPError as exc:  # a connection error is a failed request too
                results.append({"status": None, "error": repr(exc), "t": time.monotonic()})


def test_promotion_under_concurrent_load_fails_no_request(service: Service,
                                                          registry: ModelRegistry,
                                                          pool: dict[str, Any]) -> None:
    stop = threading.Event()
    per_client: list[list[dict[str, Any]]] = [[] for _ in range(8)]
    clients = [threading.Thread(target=_hammer, args=(service, pool, stop, per_client[i], i))
               for i in range(8)]
    for t in clients:
        t.start()
    try:
        time.sleep(1.5)  # traffic on version 1
        promoted_at = time.monotonic()
        registry.promote(2, "tests: promotion under load", by="tests")
        service.wait_for_version(2)
        time.sleep(1.5)  # traffic on version 2
    finally:
        stop.set()
        for t in clients:
            t.join(30)
    try:
        everything = [r for results in per_client for r in results]
        failed = [r for r in everything if r["status"] != 200]
        assert not failed, failed[:5]
        assert len(everything) > 100
        for results in per_client:
            versions = [r["body"]["version"] for r in results]
            assert set(versions) == {1, 2}  # every client saw the swap
            # the swap is atomic: once a client got version 2, it never gets version 1 again
            assert versions == sorted(versions)
            for r in results:  # each response was computed wholly by the version it names
                v = r["body"]["version"]
                assert r["body"]["predictions"] == pool[v][r["start"]:r["start"] + r["n"]]
        assert all(r["body"]["version"] == 1 for r in everything if r["t"] < promoted_at)
    finally:
        registry.rollback(to_version=1, reason="tests: restore", by="tests")
        service.wait_for_version(1)


def test_rollback_and_history_commands(service: Service, registry: ModelRegistry,
                                       state_dir: Path, pool: dict[str, Any]) -> None:
    registry.promote(2, "tests: promote before rollback", by="tests")
    service.wait_for_version(2)
    runner = CliRunner()
    common = ["--tracking-uri", registry.tracking_uri, "--state-dir", str(state_dir)]
    result = runner.invoke(main, ["rollback", registry.model_name, *common,
                                  "--reason", "bad model"], env={"DRIFTLOOP_USER": "alice"})
    assert result.exit_code == 0, result.output
    assert "champion is now version 1 (was 2)" in result.output
    service.wait_for_version(1)
    with service.client() as c:
        assert c.post("/predict", json={"rows": pool["rows"][:10]}).json()["predictions"] == \
            pool[1][:10]
    shown = runner.invoke(main, ["history", registry.model_name, *common, "--json"])
    assert shown.exit_code == 0, shown.output
    history = json.loads(shown.output)
    assert history["champion"] == 1
    last = history["history"][-1]
    assert (last["action"], last["version"], last["previous_version"], last["by"],
            last["reason"]) == ("rollback", 1, 2, "alice", "bad model")
    table = runner.invoke(main, ["history", registry.model_name, *common])
    assert "alice" in table.output and "bad model" in table.output
    assert "current champion: 1" in table.output


def test_rollback_with_no_earlier_champion_is_a_clear_error(tmp_path: Path) -> None:
    reg = make_registry(tmp_path / "lonely", name="lonely")
    reg.promote(register(reg, flip=False, seed=5), "only one", by="tests")
    result = CliRunner().invoke(main, ["rollback", "lonely", "--tracking-uri", reg.tracking_uri,
                                       "--state-dir", str(tmp_path / "state")])
    assert result.exit_code != 0
    assert "no earlier one to roll back to" in result.output


def test_serve_refuses_to_start_without_a_good_token(tmp_path: Path,
                                                     registry: ModelRegistry) -> None:
    runner = CliRunner()
    common = ["serve", "--tracking-uri", registry.tracking_uri, "--model", registry.model_name,
              "--state-dir", str(tmp_path)]
    missing = runner.invoke(main, common, env={"DRIFTLOOP_API_TOKEN": ""})
    assert missing.exit_code != 0 and "No API token" in missing.output
    short = runner.invoke(main, common, env={"DRIFTLOOP_API_TOKEN": "abc"})
    assert short.exit_code != 0 and "shorter than 16" in short.output
    assert "abc" not in short.output.replace("abcd", "")  # the token is not echoed
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o644)
    loose = runner.invoke(main, [*common, "--token-file", str(token_file)],
                          env={"DRIFTLOOP_API_TOKEN": ""})
    assert loose.exit_code != 0 and "chmod 600" in loose.output
    assert TOKEN not in loose.output


def test_service_with_a_token_file_and_no_champion_yet(tmp_path: Path) -> None:
    reg = make_registry(tmp_path / "fresh", name="fresh")
    token_file = tmp_path / "token"
    token_file.write_text("file-token-abcdefghijklmnop\n")
    token_file.chmod(0o600)
    import subprocess
    import sys

    from benchmarks._service import free_port

    port = free_port()
    env = {k: v for k, v in __import__("os").environ.items() if k != "DRIFTLOOP_API_TOKEN"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "serve", "--tracking-uri", reg.tracking_uri,
         "--model", "fresh", "--state-dir", str(tmp_path / "state"), "--port", str(port),
         "--poll-interval", "0.2", "--token-file", str(token_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    svc = Service(proc, f"http://127.0.0.1:{port}", tmp_path / "unused.log")
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{svc.url}/health", timeout=1).json()["status"] == "no_model":
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        headers = {"Authorization": "Bearer file-token-abcdefghijklmnop"}
        r = httpx.post(f"{svc.url}/predict", json={"row": {"x0": 1}}, headers=headers)
        assert r.status_code == 503 and "no champion" in r.json()["detail"]
        reg.promote(register(reg, flip=False, seed=3), "first", by="tests")
        svc.wait_for_version(1)
        X = frame(3, seed=4)
        r = httpx.post(f"{svc.url}/predict", json={"rows": rows(X)}, headers=headers)
        assert r.status_code == 200 and r.json()["version"] == 1
    finally:
        svc.stop()


def test_pytorch_champion_served_through_onnxruntime(tmp_path: Path) -> None:
    """`driftloop export-onnx` stores the network with the version; `serve --runtime onnx`
    answers with onnxruntime, within the stated tolerance of the PyTorch model."""
    from models.onnx_export import ONNX_TOLERANCE, OnnxMLPModel, max_output_difference

    reg = make_registry(tmp_path / "torch", name="torch-model")
    version = register(reg, flip=False, seed=6, family="torch_mlp")
    reg.promote(version, "first", by="tests")
    state = tmp_path / "state"
    exported = CliRunner().invoke(main, ["export-onnx", "torch-model", "--tracking-uri",
                                         reg.tracking_uri, "--state-dir", str(state)])
    assert exported.exit_code == 0, exported.output
    assert "stored onnx/model.onnx" in exported.output
    X = frame(300, seed=8)
    torch_model = reg.load_model(version)
    expected = torch_model.predict(X).tolist()
    assert max_output_difference(torch_model, OnnxMLPModel.from_torch(torch_model), X) \
        < ONNX_TOLERANCE
    svc = start_service(reg, state, "--runtime", "onnx")
    try:
        with svc.client() as c:
            assert c.get("/model").json()["runtime"] == "onnx"
            assert c.post("/predict", json={"rows": rows(X)}).json()["predictions"] == expected
    finally:
        svc.stop()
    assert "exported now" not in svc.log_path.read_text()


def test_a_non_pytorch_model_with_runtime_onnx_falls_back_to_pyfunc(
        service: Service, registry: ModelRegistry, state_dir: Path) -> None:
    svc = start_service(registry, state_dir / "onnx-fallback", "--runtime", "onnx")
    try:
        with svc.client() as c:
            assert c.get("/model").json()["runtime"] == "pyfunc"
        assert "not a PyTorch model" in svc.log_path.read_text()
    finally:
        svc.stop()


@pytest.mark.parametrize("label", ["NaN", "Infinity", '{"class": "UP"}', "[1, 2]", "null"])
def test_feedback_with_a_label_that_is_not_a_scalar_gets_422(service: Service,
                                                             label: str) -> None:
    body = '{"items": [{"request_id": "fb-1", "label": LABEL}]}'.replace("LABEL", label)
    with service.client() as c:
        r = c.post("/feedback", content=body.encode(),
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert "label" in json.dumps(r.json()["detail"])


def test_a_broken_prediction_log_fails_closed_with_503(registry: ModelRegistry,
                                                        tmp_path: Path,
                                                        pool: dict[str, Any]) -> None:
    """In-process (Starlette's TestClient): the log's table disappears under the service."""
    import sqlite3

    from fastapi.testclient import TestClient

    from deploy.service import ServeConfig, build_app

    log = PredictionLog.in_state_dir(tmp_path)
    app = build_app(RegistryReader(registry.tracking_uri, registry.model_name), log,
                    ServeConfig(poll_interval_s=60), TOKEN)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with TestClient(app, headers=headers) as c:
        assert c.post("/predict", json={"row": pool["rows"][0]}).status_code == 200
        with sqlite3.connect(tmp_path / "predictions.db") as db:
            db.execute("DROP TABLE driftloop_predictions")
        r = c.post("/predict", json={"row": pool["rows"][0]})
        assert r.status_code == 503
        assert "prediction log is not available" in r.json()["detail"]
        assert "predictions" not in r.json()  # nothing was served
        assert c.get("/health").json()["status"] == "ok"
    log.close()
