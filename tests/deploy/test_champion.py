"""The serving side: load the champion from a real SQLite registry and predict."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from models_registry_helpers import TinyLogReg, fitted, make_frame, make_store

from deploy.champion import ChampionPredictor, PredictionError, load_champion
from models.registry import (
    ModelRegistry,
    NoChampionError,
    RegisteredVersion,
    RegistryConfig,
    VersionNotFoundError,
)

NAME = "serving"


@dataclass(frozen=True)
class Served:
    registry: ModelRegistry
    models: tuple[TinyLogReg, TinyLogReg]
    versions: tuple[RegisteredVersion, RegisteredVersion]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Served:
    """Two versions of one model in a fresh SQLite registry, no champion yet."""
    store = make_store(tmp_path_factory.mktemp("mlflow"))
    registry = ModelRegistry(
        store.tracking_uri,
        store.artifact_root,
        RegistryConfig(model_name=NAME, pip_requirements=("mlflow", "scikit-learn")),
    )
    X, _ = make_frame(20, seed=3)
    models = (fitted(seed=1), fitted(seed=2, flip=True))
    versions = tuple(
        registry.log_training(m, X_example=X, params={}, metrics={}, drift_context={"row": i})
        for i, m in enumerate(models)
    )
    return Served(registry, models, versions)  # type: ignore[arg-type]


def test_no_champion_yet_is_a_clear_error(served: Served) -> None:
    registry = ModelRegistry(
        served.registry.tracking_uri,
        served.registry.artifact_location,
        RegistryConfig(model_name="never-promoted", pip_requirements=("mlflow",)),
    )
    X, _ = make_frame(20, seed=3)
    registry.log_training(fitted(seed=1), X_example=X, params={}, metrics={}, drift_context={})
    with pytest.raises(NoChampionError, match="'never-promoted' has no champion yet.*promote"):
        load_champion(registry.tracking_uri, "never-promoted")


def test_unknown_model_is_a_clear_error(served: Served) -> None:
    with pytest.raises(VersionNotFoundError, match="no registered model named 'other'"):
        load_champion(served.registry.tracking_uri, "other")


def test_champion_loads_with_its_version_and_predicts_like_the_original(served: Served) -> None:
    served.registry.promote(2, "better after drift")
    predictor = load_champion(served.registry.tracking_uri, NAME)
    assert isinstance(predictor, ChampionPredictor)
    assert predictor.version == 2 and predictor.registered == served.versions[1]
    assert predictor.model_uri == f"models:/{NAME}/2"
    assert predictor.run_id == served.versions[1].run_id
    X, _ = make_frame(60, seed=7)
    predictions = predictor.predict(X)
    assert isinstance(predictions, np.ndarray) and predictions.shape == (60,)
    np.testing.assert_array_equal(predictions, served.models[1].predict(X))
    np.testing.assert_array_equal(predictor.predict(X[["x2", "x0", "x1"]]), predictions)
    assert predictor.is_current()

    served.registry.rollback(to_version=1)
    assert not predictor.is_current()
    reloaded = load_champion(served.registry.tracking_uri, NAME)
    assert reloaded.version == 1
    np.testing.assert_array_equal(reloaded.predict(X), served.models[0].predict(X))


def test_predict_names_the_schema_problem(served: Served) -> None:
    served.registry.promote(1, "serve something")
    predictor = load_champion(served.registry.tracking_uri, NAME)
    X, _ = make_frame(5, seed=8)
    with pytest.raises(PredictionError, match="input schema of models:/serving/1.*x2"):
        predictor.predict(X.drop(columns="x2"))
    with pytest.raises(PredictionError, match="must be a pandas DataFrame"):
        predictor.predict(X.to_numpy())  # type: ignore[arg-type]
