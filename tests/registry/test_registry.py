"""The MLflow registry on a real SQLite tracking store: runs, versions, aliases, history."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from models_registry_helpers import Store, TinyLogReg, fitted, make_frame, make_store

from models.base import NotFittedError
from models.registry import (
    CHALLENGER,
    CHAMPION,
    HISTORY_TAG,
    ModelRegistry,
    NoChampionError,
    RegisteredVersion,
    RegistryConfig,
    RegistryError,
    VersionNotFoundError,
)

REQS = ("mlflow", "scikit-learn", "pandas", "numpy")  # short fixed list: fast and sufficient


def drift_context(event: str, row: int | np.integer) -> dict[str, object]:
    return {
        "event_id": event,
        "row": row,
        "window": "w-7",
        "detector": "adwin",
        "p_value": 0.01,
        "note": None,
    }


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """One SQLite DB for the module: migrations run once."""
    return make_store(tmp_path_factory.mktemp("mlflow"))


@pytest.fixture
def registry(store: Store, request: pytest.FixtureRequest) -> ModelRegistry:
    """A registry on a registered model of the test's own, in the shared DB."""
    name = f"m-{request.node.name.replace('[', '-').replace(']', '')}"
    return ModelRegistry(
        store.tracking_uri,
        store.artifact_root,
        RegistryConfig(model_name=name, pip_requirements=REQS),
    )


@dataclass(frozen=True)
class Logged:
    registry: ModelRegistry
    models: tuple[TinyLogReg, TinyLogReg]
    versions: tuple[RegisteredVersion, RegisteredVersion]
    challenger_after_first: RegisteredVersion | None
    report: Path


@pytest.fixture(scope="module")
def logged(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Logged:
    """Two trainings of 'churn': the second after a concept drift (flipped labels)."""
    registry = ModelRegistry(
        store.tracking_uri,
        store.artifact_root,
        RegistryConfig(model_name="churn", pip_requirements=REQS),
    )
    report = tmp_path_factory.mktemp("reports") / "window.html"
    report.write_text("<html><body>drift report</body></html>")
    models = (fitted(seed=1), fitted(seed=2, flip=True, C=0.5))
    X, _ = make_frame(20, seed=3)
    first = registry.log_training(
        models[0],
        X_example=X,
        params={"C": 1.0, "strategy": "refit", "warm": False, "seed": None},
        metrics={"accuracy": 0.9},
        drift_context=drift_context("ev-1", 500),
        report_html=report,
        run_name="train-1",
    )
    challenger_after_first = registry.challenger()
    second = registry.log_training(
        models[1],
        X_example=X,
        params={"C": 0.5},
        metrics={"accuracy": 0.8},
        drift_context=drift_context("ev-2", np.int64(1500)),  # numpy scalars are fine
    )
    return Logged(registry, models, (first, second), challenger_after_first, report)


def test_versions_are_registered_and_challenger_moves(logged: Logged) -> None:
    first, second = logged.versions
    assert (first.version, second.version) == (1, 2)
    assert first.model_uri == "models:/churn/1" and second.name == "churn"
    assert logged.challenger_after_first == first
    assert logged.registry.challenger() == second
    assert logged.registry.resolve(CHALLENGER) == second
    assert logged.registry.champion() is None


def test_run_records_params_metrics_and_drift_context(logged: Logged) -> None:
    client = MlflowClient(logged.registry.tracking_uri)
    run = client.get_run(logged.versions[0].run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "train-1"
    assert run.data.params["C"] == "1.0" and run.data.params["warm"] == "False"
    assert run.data.params["seed"] == "None"
    assert run.data.params["drift.event_id"] == "ev-1" and run.data.params["drift.row"] == "500"
    assert run.data.tags["drift.detector"] == "adwin" and run.data.tags["drift.window"] == "w-7"
    assert "mlflow.user" in run.data.tags  # the context start_run would record
    assert run.data.metrics == {"accuracy": 0.9}
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"drift_context.json", "reports"} <= artifacts
    assert [a.path for a in client.list_artifacts(run.info.run_id, "reports")] == [
        "reports/window.html"
    ]
    local = Path(client.download_artifacts(run.info.run_id, "drift_context.json"))
    assert json.loads(local.read_text()) == drift_context("ev-1", 500)
    # the second training had no report, and its numpy row number became a plain int
    second = logged.versions[1].run_id
    assert "reports" not in {a.path for a in client.list_artifacts(second)}
    local = Path(client.download_artifacts(second, "drift_context.json"))
    assert json.loads(local.read_text())["row"] == 1500


def test_version_tags_link_to_the_drift_event(logged: Logged) -> None:
    info = logged.registry.version_info(2)
    assert info["run_id"] == logged.versions[1].run_id
    assert info["aliases"] == [CHALLENGER]
    tags = info["tags"]
    assert tags["driftloop.drift_event_id"] == "ev-2"
    assert tags["driftloop.drift_row"] == "1500"
    assert tags["driftloop.drift_detector"] == "adwin"
    assert tags["driftloop.trigger"] == "drift"
    assert tags["driftloop.model_class"] == "models_registry_helpers.TinyLogReg"
    assert tags["driftloop.task"] == "classification"
    assert logged.registry.version_info(CHALLENGER)["version"] == 2


def test_model_artifacts_live_under_the_artifact_root(logged: Logged, store: Store) -> None:
    client = MlflowClient(logged.registry.tracking_uri)
    for version in logged.versions:
        location = client.get_model_version_download_uri(version.name, str(version.version))
        assert location.startswith(store.artifact_root.resolve().as_uri() + "/")
        run = client.get_run(version.run_id)
        source = client.get_model_version(version.name, str(version.version)).source
        assert [f"models:/{out.model_id}" for out in run.outputs.model_outputs] == [source]
    assert not Path("mlruns").exists()  # nothing went to a Default experiment in the cwd


def test_logged_model_is_a_pyfunc_with_signature_and_input_example(logged: Logged) -> None:
    pyfunc = logged.registry.load_pyfunc(1)
    signature = pyfunc.metadata.signature
    assert signature is not None
    assert signature.inputs.input_names() == ["x0", "x1", "x2"]
    assert pyfunc.metadata.saved_input_example_info is not None
    X, _ = make_frame(50, seed=4)
    np.testing.assert_array_equal(pyfunc.predict(X), logged.models[0].predict(X))


def test_load_model_unwraps_the_original_object(logged: Logged) -> None:
    X, y = make_frame(50, seed=5, flip=True)
    model = logged.registry.load_model(2)
    assert isinstance(model, TinyLogReg) and model.C == 0.5
    np.testing.assert_array_equal(model.predict(X), logged.models[1].predict(X))
    assert model.update(X, y).score(X, y) > 0.8  # training continues from the loaded object


def test_fluent_tracking_uri_does_not_leak(logged: Logged, tmp_path: Path) -> None:
    def state() -> tuple[str, str | None, str]:
        env = os.environ.get("MLFLOW_TRACKING_URI")
        return mlflow.get_tracking_uri(), env, mlflow.get_registry_uri()

    before = state()
    logged.registry.load_pyfunc(1)
    assert state() == before and before[0] != logged.registry.tracking_uri
    # a URI the caller set is back in place afterwards too
    mlflow.set_tracking_uri(tmp_path.as_uri())
    try:
        elsewhere = state()
        logged.registry.load_pyfunc(1)
        assert state() == elsewhere
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
        if before[1] is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
    assert state() == before


def test_promote_gate_rollback_lifecycle(
    registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    X, _ = make_frame(20, seed=3)
    models = [fitted(seed=1), fitted(seed=2, flip=True), fitted(seed=3)]
    versions = [
        registry.log_training(
            m,
            X_example=X,
            params={},
            metrics={"accuracy": 0.9},
            drift_context=drift_context(f"ev-{i}", i),
        )
        for i, m in enumerate(models)
    ]
    assert [v.version for v in versions] == [1, 2, 3]
    assert registry.champion() is None and registry.champion_history() == []

    registry.promote(1, "first model")
    registry.record_gate(2, champion_score=0.7, challenger_score=0.9, promoted=True, reason="+0.2")
    registry.promote(2, "gate: +0.2 accuracy")
    assert registry.champion() == versions[1]
    history = registry.champion_history()
    assert [(h["version"], h["previous_version"], h["action"]) for h in history] == [
        (1, None, "promote"),
        (2, 1, "promote"),
    ]
    assert history[1]["reason"] == "gate: +0.2 accuracy" and history[1]["at"]
    registry.promote(2, "again")  # already champion: no new entry
    assert len(registry.champion_history()) == 2

    # the raw MLflow API sees the same champion and predicts like the original object
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registry.tracking_uri)
    raw = mlflow.pyfunc.load_model(f"models:/{registry.model_name}@{CHAMPION}")
    Xp, _ = make_frame(40, seed=9)
    np.testing.assert_array_equal(raw.predict(Xp), models[1].predict(Xp))
    monkeypatch.delenv("MLFLOW_TRACKING_URI")

    assert registry.rollback() == versions[0]
    assert registry.champion() == versions[0]
    last = registry.champion_history()[-1]
    assert (last["version"], last["previous_version"], last["action"]) == (1, 2, "rollback")
    assert last["reason"] == "rollback from version 2"
    with pytest.raises(RegistryError, match="no earlier one to roll back to"):
        registry.rollback()

    # 1 -> 3 -> 2, then default rollbacks walk back: 3, then 1
    registry.promote(3, "third")
    registry.promote(2, "second again")
    assert registry.rollback().version == 3
    assert registry.rollback().version == 1
    assert registry.rollback(to_version=3, reason="manual").version == 3
    assert registry.champion_history()[-1]["reason"] == "manual"
    assert registry.resolve(CHALLENGER).version == 3


def test_gate_is_recorded_on_version_and_run(registry: ModelRegistry) -> None:
    X, _ = make_frame(20, seed=3)
    v = registry.log_training(fitted(seed=1), X_example=X, params={}, metrics={}, drift_context={})
    assert registry.version_info(v.version)["tags"]["driftloop.trigger"] == "manual"
    registry.record_gate(
        v.version,
        champion_score=None,
        challenger_score=0.75,
        promoted=False,
        reason="no champion score",
    )
    tags = registry.version_info(v.version)["tags"]
    assert tags["driftloop.gate.promoted"] == "false"
    assert tags["driftloop.gate.reason"] == "no champion score"
    assert tags["driftloop.gate.champion_score"] == "None"
    assert tags["driftloop.gate.challenger_score"] == "0.75"
    metrics = MlflowClient(registry.tracking_uri).get_run(v.run_id).data.metrics
    assert metrics == {"gate.challenger_score": 0.75, "gate.promoted": 0.0}


def test_missing_champion_and_versions_are_clear_errors(logged: Logged, store: Store) -> None:
    registry = logged.registry
    with pytest.raises(NoChampionError, match="has no champion yet.*Promote a version"):
        registry.resolve(CHAMPION)
    with pytest.raises(NoChampionError, match="nothing to roll back"):
        registry.rollback()
    with pytest.raises(VersionNotFoundError, match=r"no version 99; its versions are \[1, 2\]"):
        registry.load_model(99)
    with pytest.raises(VersionNotFoundError, match="no alias 'staging'"):
        registry.promote("staging", "x")  # type: ignore[arg-type]
    other = ModelRegistry(
        store.tracking_uri, store.artifact_root, RegistryConfig(model_name="nope")
    )
    with pytest.raises(VersionNotFoundError, match="no registered model named 'nope'"):
        other.resolve(1)
    assert other.champion() is None and other.champion_history() == []


@pytest.mark.parametrize(
    "ref", ["/tmp/model", "runs:/abc/model", "models:/churn/1", "../x", 0, True, 1.5]
)
def test_only_registry_references_are_loaded(logged: Logged, ref: object) -> None:
    with pytest.raises(RegistryError, match="alias_or_version"):
        logged.registry.load_pyfunc(ref)  # type: ignore[arg-type]


def test_bad_training_inputs_are_refused_before_anything_is_written(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    X, _ = make_frame(20, seed=3)
    model = fitted(seed=1)
    ok = {"params": {}, "metrics": {}, "drift_context": {}}
    cases = [
        ({**ok, "X_example": X.to_numpy()}, "must be a non-empty DataFrame"),
        ({**ok, "X_example": X.iloc[:0]}, "must be a non-empty DataFrame"),
        ({**ok, "X_example": X, "metrics": {"acc": math.nan}}, r"metrics\['acc'\] must be finite"),
        ({**ok, "X_example": X, "metrics": {"acc": "high"}}, "must be a real number"),
        (
            {**ok, "X_example": X, "params": {"layers": [1, 2]}},
            r"params\['layers'\] must be one of",
        ),
        ({**ok, "X_example": X, "drift_context": {"bad key!": 1}}, "Every key of 'drift_context'"),
        (
            {**ok, "X_example": X, "params": {"drift.row": 1}, "drift_context": {"row": 2}},
            "collides",
        ),
        (
            {**ok, "X_example": X, "report_html": tmp_path / "missing.html"},
            "must be an existing file",
        ),
    ]
    for kwargs, message in cases:
        with pytest.raises(RegistryError, match=message):
            registry.log_training(model, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(RegistryError, match="must implement models.base.DriftModel"):
        registry.log_training(object(), **{**ok, "X_example": X})  # type: ignore[arg-type]
    with pytest.raises(NotFittedError):
        registry.log_training(TinyLogReg(), **{**ok, "X_example": X})
    assert registry.challenger() is None
    client = MlflowClient(registry.tracking_uri)
    experiment = client.get_experiment_by_name(registry.config.experiment)
    runs = experiment and client.search_runs(
        [experiment.experiment_id], f"tags.`driftloop.model_name` = '{registry.model_name}'"
    )
    assert not runs


def test_history_tag_is_plain_json_on_the_registered_model(registry: ModelRegistry) -> None:
    X, _ = make_frame(20, seed=3)
    v = registry.log_training(fitted(seed=1), X_example=X, params={}, metrics={}, drift_context={})
    registry.promote(v.version, "only one")
    raw = (
        MlflowClient(registry.tracking_uri)
        .get_registered_model(registry.model_name)
        .tags[HISTORY_TAG]
    )
    assert json.loads(raw)[0]["version"] == 1


def test_config_validates_and_round_trips() -> None:
    cfg = RegistryConfig()
    assert cfg.model_name == "driftloop-model" and cfg.experiment == "driftloop"
    assert any(r.startswith("mlflow==") for r in cfg.pip_requirements)
    assert RegistryConfig.model_validate_json(cfg.model_dump_json()) == cfg
    with pytest.raises(ValueError, match="'/', ':', '@'"):
        RegistryConfig(model_name="a/b")
    with pytest.raises(ValueError, match="Extra inputs"):
        RegistryConfig(stage="Production")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="frozen"):
        cfg.model_name = "x"  # type: ignore[misc]


def test_promote_completes_a_history_the_alias_got_ahead_of(tmp_path) -> None:
    """A crash between moving the alias and writing the history: promoting the same version
    again (as a resumed run does) writes the missing entry, once."""
    from models_registry_helpers import fitted, make_frame, make_store

    from models.registry import CHAMPION, ModelRegistry, RegistryConfig

    store = make_store(tmp_path)
    reg = ModelRegistry(store.tracking_uri, store.artifact_root, RegistryConfig(model_name="h"))
    X, _ = make_frame(20, seed=0)
    versions = [reg.log_training(fitted(seed=s), X_example=X, params={}, metrics={},
                                 drift_context={}).version for s in (1, 2)]
    reg.promote(versions[0], "first")
    reg._client.set_registered_model_alias("h", CHAMPION, str(versions[1]))  # the crash
    reg.promote(versions[1], "second")
    reg.promote(versions[1], "second, again")
    history = reg.champion_history()
    assert [(h["version"], h["previous_version"]) for h in history] == \
        [(versions[0], None), (versions[1], versions[0])]
