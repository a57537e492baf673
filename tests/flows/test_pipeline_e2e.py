"""End to end: the demo stream through the Prefect flow with real MLflow, Evidently and River.

One module-scoped run of the ``pipeline`` flow under Prefect's test harness; each test reads
one property of that run. Drifts are at known rows (10,000 and 20,000 of 30,000).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest

from flows.config import DriftloopConfig, demo_config
from flows.settings import StatePaths
from flows.summary import accuracy_around_drifts, first_detections

pytestmark = pytest.mark.e2e

MAX_CONCEPT_DELAY = 500  # rows between a true drift and the detector's signal
RECOVERY_TOLERANCE = 0.07  # accuracy after recovery vs before the drift


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory,
             prefect_harness: None) -> tuple[DriftloopConfig, dict[str, Any], Path, Any]:
    from flows.pipeline import pipeline

    tmp = tmp_path_factory.mktemp("demo")
    config = demo_config(state_dir=tmp / "state")
    state = pipeline(config, str(tmp / "out"), return_state=True)
    assert state.is_completed(), state
    return config, state.result(), tmp / "out", state


def test_flow_ran_every_step_as_a_prefect_task(demo_run: Any) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    *_, state = demo_run

    async def names() -> list[str]:
        async with get_client() as client:
            runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id])),
                limit=200,
            )
            return [r.name for r in runs]

    import asyncio

    got = asyncio.run(names())
    for step in ("monitor-window", "learn-from-labels", "retrain", "register", "gate-and-promote"):
        assert any(n.startswith(step) for n in got), f"no {step!r} task run in {sorted(set(got))}"


def test_each_drift_is_detected_within_a_bounded_delay(demo_run: Any) -> None:
    _, summary, *_ = demo_run
    assert summary["true_drift_rows"] == [10_000, 20_000]
    for d in first_detections(summary):
        assert d["detected_row"] is not None, f"drift at {d['true_row']} missed"
        assert 0 <= d["delay"] <= MAX_CONCEPT_DELAY, d
        assert d["kind"] == "concept"


def test_nothing_is_detected_before_the_first_drift(demo_run: Any) -> None:
    _, summary, *_ = demo_run
    first = summary["true_drift_rows"][0]
    assert [e for e in summary["drift_events"] if e["row"] < first] == []
    assert [r for r in summary["retrains"] if r["window"] is not None and r["row"] < first] == []
    early = [w for w in summary["windows"] if w["end"] <= first]
    assert early and all(w["decision"] == "none" for w in early)


def test_a_retrain_is_promoted_after_each_drift(demo_run: Any) -> None:
    _, summary, *_ = demo_run
    drifts = summary["true_drift_rows"] + [summary["rows"]]
    for lo, hi in zip(drifts, drifts[1:], strict=False):
        promoted = [r for r in summary["retrains"] if lo <= r["row"] < hi and r["promoted"]]
        assert promoted, f"no promotion between rows {lo} and {hi}"
        first = promoted[0]
        assert first["challenger_score"] > first["champion_score"] + 0.1
        assert first["trigger"]["kind"] in ("concept", "performance", "data")


def test_accuracy_recovers_to_near_the_pre_drift_level(demo_run: Any) -> None:
    _, summary, *_ = demo_run
    for a in accuracy_around_drifts(summary):
        assert a["after"] < a["before"] - 0.1, a  # the drift really hurt
        assert a["recovered"] >= a["before"] - RECOVERY_TOLERANCE, a
    assert summary["prequential_accuracy"] > 0.8


def test_champion_alias_loads_and_predicts(demo_run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from deploy.champion import load_champion
    from monitors.sources import SyntheticSource, SyntheticStreamConfig

    config, summary, *_ = demo_run
    champ = load_champion(summary["tracking_uri"], config.registry.model_name)
    assert champ.version == summary["champion_version"] == summary["registered_versions"][-1]
    # fresh rows of the last concept, from another seed
    src = config.source
    fresh = SyntheticSource(SyntheticStreamConfig(
        generator="agrawal", n_rows=2000, drift_rows=(),
        concepts=src.resolved_concepts[-1:], seed=src.seed + 100, noise=0.0)).frame()
    X, y = fresh.drop(columns=["y"]), fresh["y"].to_numpy()
    acc = float(np.mean(champ.predict(X) == y))
    assert acc > 0.85, acc

    monkeypatch.setenv("MLFLOW_TRACKING_URI", summary["tracking_uri"])
    pyfunc = mlflow.pyfunc.load_model(f"models:/{config.registry.model_name}@champion")
    assert np.array_equal(np.asarray(pyfunc.predict(X)), champ.predict(X))


def test_mlflow_runs_record_the_drift_that_triggered_them(
        demo_run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow import MlflowClient

    config, summary, *_ = demo_run
    client = MlflowClient(tracking_uri=summary["tracking_uri"])
    name = config.registry.model_name
    drift_retrains = [r for r in summary["retrains"] if r["window"] is not None]
    assert drift_retrains
    r = drift_retrains[0]
    mv = client.get_model_version(name, str(r["version"]))
    assert mv.tags["driftloop.trigger"] == r["trigger"]["kind"]
    assert int(mv.tags["driftloop.drift_row"]) == r["trigger"]["row"]
    assert mv.tags["driftloop.drift_detector"] == "ADWIN"
    run = client.get_run(r["run_id"])
    assert run.data.params["drift.row"] == str(r["trigger"]["row"])
    assert run.data.params["family"] == "sklearn"
    assert "gate.challenger_score" in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(r["run_id"])}
    assert "drift_context.json" in artifacts
    reports = [a.path for a in client.list_artifacts(r["run_id"], "reports")]
    assert reports and reports[0].endswith(".html")
    html = Path(client.download_artifacts(r["run_id"], reports[0])).read_text(errors="ignore")
    assert "root_metric" in html and "salary" in html  # an Evidently report of the window
    monkeypatch.setenv("MLFLOW_TRACKING_URI", summary["tracking_uri"])
    info = mlflow.models.get_model_info(f"models:/{name}/{r['version']}")
    assert info.signature is not None and info.signature.inputs is not None
    assert info.saved_input_example_info is not None
    # the aliases: champion on the last promoted version, challenger on the last trained one
    assert int(client.get_model_version_by_alias(name, "champion").version) == summary["champion_version"]
    assert int(client.get_model_version_by_alias(name, "challenger").version) == summary["registered_versions"][-1]


def test_every_window_is_an_evidently_snapshot_in_the_workspace(demo_run: Any) -> None:
    from monitors.data_drift import DriftWorkspace

    config, summary, *_ = demo_run
    ws = DriftWorkspace(StatePaths.at(config.state_dir).workspace, config.registry.model_name)
    stored = ws.snapshots()
    windows = [s for s in stored if "data-drift" in s.tags]
    assert len(windows) == len(summary["windows"]) == 28
    # the other snapshots are the retrain and promotion events of the dashboard
    events = [s for s in stored if "data-drift" not in s.tags]
    promoted = sum(bool(r["promoted"]) for r in summary["retrains"])
    assert len(events) == len(summary["retrains"]) + promoted


def test_outputs_are_written(demo_run: Any) -> None:
    _, summary, out, _ = demo_run
    assert json.loads((out / "summary.json").read_text()) == summary
    assert (out / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for key in ("rows", "windows", "drift_events", "retrains", "prequential_accuracy", "elapsed_s"):
        assert key in summary
    assert summary["rows"] == 30_000 and summary["labelled_rows"] == 28_000
    w = summary["windows"][0]
    assert {"start", "end", "data_drift_share", "features", "accuracy", "f1"} <= set(w)
    assert set(w["features"]["salary"]) == {"score", "method", "threshold", "drifted"}


def test_a_stream_without_drift_yields_no_retrain(tmp_path: Path) -> None:
    from flows.pipeline import run_stream

    config = demo_config(state_dir=tmp_path / "state", rows=20_000).with_updates(
        source={"kind": "synthetic", "generator": "agrawal", "n_rows": 20_000,
                "drift_rows": [], "seed": 11})
    summary = run_stream(config, tmp_path / "out")
    assert [r["trigger"]["kind"] for r in summary["retrains"]] == ["initial"]
    assert summary["registered_versions"] == [1]
    assert all(w["decision"] in ("none", "dismissed", "pending") for w in summary["windows"])
    assert summary["prequential_accuracy"] > 0.9


def test_each_promoted_version_carries_its_drift_reference_profile(
        demo_run: Any, tmp_path: Path) -> None:
    from flows.pipeline import load_profile
    from models.registry import RegistryReader

    config, summary, *_ = demo_run
    reader = RegistryReader(summary["tracking_uri"], config.registry.model_name)
    promoted = [r["version"] for r in summary["retrains"] if r.get("promoted")]
    assert promoted
    for version in (promoted[0], "champion"):
        profile = load_profile(reader, version, tmp_path / str(version))
        assert "salary" in profile.numerical_columns
        assert "elevel" in profile.columns
        assert 0 < profile.n_rows <= config.data_drift.reference_size


def test_the_flow_checks_data_drift_with_driftloops_engine_inside_evidently(demo_run: Any) -> None:
    from evidently.ui.workspace import Workspace

    config, *_ = demo_run
    assert config.data_drift.engine == "driftloop"
    ws = Workspace(str(StatePaths.at(config.state_dir).workspace))
    project = ws.search_project(config.registry.model_name)[0]
    types: set[str] = set()
    for sid in ws.list_runs(project.id):
        run = ws.get_run(project.id, sid)
        if run is not None and "data-drift" in run.tags:
            types = {r.metric_value_location.metric.params["type"]
                     for r in run.metric_results.values()}
            break
    assert "evidently:metric_v2:DriftloopValueDrift" in types
    assert "evidently:metric_v2:DriftloopDriftedColumnsCount" in types


@pytest.fixture(scope="module")
def evidently_ui(demo_run: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The real Evidently UI over the run's workspace, on a free loopback port."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    config, *_ = demo_run
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp("ui") / "evidently-ui.log"
    exe = Path(sys.executable).parent / "evidently"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(exe), "ui", "--workspace", str(StatePaths.at(config.state_dir).workspace),
             "--host", "127.0.0.1", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "DO_NOT_TRACK": "true"})
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/api/projects", timeout=2)
                    break
                except OSError:
                    assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                    time.sleep(0.5)
            yield f"http://127.0.0.1:{port}"
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)


def _post(url: str, body: dict[str, Any]) -> Any:
    import urllib.request

    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def test_the_evidently_ui_dashboard_shows_the_runs_drift_quality_and_promotions(
        demo_run: Any, evidently_ui: str) -> None:
    import urllib.request

    from monitors.data_drift import DriftWorkspace

    config, summary, *_ = demo_run
    ws = DriftWorkspace(StatePaths.at(config.state_dir).workspace, config.registry.model_name)
    pid = ws.project_id
    with urllib.request.urlopen(f"{evidently_ui}/api/v2/dashboards/{pid}", timeout=30) as r:
        dashboard = json.loads(r.read())
    titles = [p["title"] for p in dashboard["panels"]]
    assert titles == list(DriftWorkspace.PANEL_TITLES)

    def series(metric: str, **labels: str) -> list[float]:
        """The values the UI plots for one panel line, in snapshot order. Points of one line
        may come in several series (a resolved parameter, such as the method after the
        reference grew, splits them); every snapshot has at most one point."""
        got = _post(f"{evidently_ui}/api/v2/snapshots/{pid}/data_series_batch", {"series_filter": [
            {"tags": [], "metadata": {}, "metric": f"evidently:metric_v2:{metric}",
             "metric_labels": labels}]})
        assert got["series"], f"no {metric} {labels} series"
        points = []
        for i in range(len(got["sources"])):
            at = [s["values"][i] for s in got["series"]
                  if i < len(s["values"]) and s["values"][i] is not None]
            assert len(at) <= 1, at
            points.extend(at)
        return points

    windows = summary["windows"]
    shares = series("DriftloopDriftedColumnsCount", value_type="share")
    assert shares == pytest.approx([w["data_drift_share"] for w in windows])
    accuracy = series("DriftloopWindowValue", name="accuracy")
    assert accuracy == pytest.approx([w["accuracy"] for w in windows if w["accuracy"] is not None])
    salary = series("DriftloopValueDrift", column="salary")
    assert salary == pytest.approx([w["features"]["salary"]["score"] for w in windows])
    promoted = [r["version"] for r in summary["retrains"] if r["promoted"]]
    assert series("DriftloopWindowValue", name="promotion") == [float(v) for v in promoted]
    assert len(series("DriftloopWindowValue", name="retrain")) == len(summary["retrains"])


def _chrome() -> Any:
    """A headless Chromium through Selenium, or a skip that says what is missing."""
    import shutil

    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (make install-dev installs it)")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        pytest.skip("no Chromium here: install Debian's `chromium` and `chromium-driver` "
                    "packages to run the dashboard in a headless browser")
    options = Options()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1600,2400"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(driver), options=options)


def test_the_dashboard_renders_in_a_headless_browser(
        demo_run: Any, evidently_ui: str, tmp_path: Path) -> None:
    import time

    from monitors.data_drift import DriftWorkspace

    config, summary, *_ = demo_run
    pid = DriftWorkspace(StatePaths.at(config.state_dir).workspace,
                         config.registry.model_name).project_id
    browser = _chrome()
    try:
        browser.get(f"{evidently_ui}/projects/{pid}")
        deadline, text = time.monotonic() + 60, ""
        while time.monotonic() < deadline:
            text = browser.find_element("tag name", "body").text
            if all(t in text for t in DriftWorkspace.PANEL_TITLES) and "promotion" in text:
                break
            time.sleep(1)
        shot = tmp_path / "dashboard.png"
        browser.save_screenshot(str(shot))
        print(f"dashboard screenshot: {shot}")
        for title in DriftWorkspace.PANEL_TITLES:
            assert title in text, f"panel {title!r} not shown; page text:\n{text[:2000]}"
        for legend in ("share", "accuracy", "f1", "retrain", "promotion", "salary", "zipcode"):
            assert legend in text.split("\n"), f"no {legend!r} series in the page"
        # every panel drew its points (SVG marks), one panel per title
        marks = browser.execute_script(
            "return Array.from(document.querySelectorAll('svg')).map("
            "s => s.querySelectorAll('circle, rect, path').length)")
        assert sum(1 for m in marks if m > 10) >= len(DriftWorkspace.PANEL_TITLES), marks
        assert shot.stat().st_size > 20_000
    finally:
        browser.quit()
