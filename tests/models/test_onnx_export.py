"""ONNX export of the torch family: onnxruntime predicts what torch predicts, within
ONNX_TOLERANCE, for both tasks, after a head-widening update, through bytes and pickles."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import torch

from models.base import InvalidDataError, Task
from models.config import ModelConfig, TorchConfig
from models.families import make_model
from models.onnx_export import (
    ONNX_TOLERANCE,
    OnnxExportError,
    OnnxMLPModel,
    export_onnx,
    max_output_difference,
)
from models.torch_family import TorchMLPModel

MakeData = Callable[..., tuple[pd.DataFrame, np.ndarray]]
CONFIG = TorchConfig(epochs=4, hidden_sizes=(32, 16), finetune_epochs=2, device="cpu")
N_TEST = 3000


def fitted(task: Task, make_data: MakeData, seed: int = 0) -> TorchMLPModel:
    X, y = make_data(task, 800, seed=seed)
    return TorchMLPModel(task, CONFIG, seed=seed).fit(X, y)


@pytest.fixture(scope="module")
def classifier(make_data: MakeData) -> TorchMLPModel:
    return fitted("classification", make_data)


@pytest.fixture(scope="module")
def regressor(make_data: MakeData) -> TorchMLPModel:
    return fitted("regression", make_data)


def assert_same_predictions(
    model: TorchMLPModel, onnx_model: OnnxMLPModel, X: pd.DataFrame
) -> None:
    expected, got = model.predict(X), onnx_model.predict(X)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    if model.task == "classification":
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(
            got, expected, rtol=ONNX_TOLERANCE, atol=ONNX_TOLERANCE * model.y_scale_
        )
    assert max_output_difference(model, onnx_model, X) < ONNX_TOLERANCE


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_onnxruntime_predicts_like_torch(
    task: str, classifier: TorchMLPModel, regressor: TorchMLPModel, make_data: MakeData
) -> None:
    model = classifier if task == "classification" else regressor
    onnx_model = OnnxMLPModel.from_torch(model)
    X, _ = make_data(task, N_TEST, seed=1)
    assert onnx_model.task == task
    assert onnx_model.feature_names_in_ == model.feature_names_in_
    assert onnx_model.n_outputs_ == (2 if task == "classification" else 1)
    assert_same_predictions(model, onnx_model, X)
    if task == "classification":
        assert set(onnx_model.predict(X)) == {"DOWN", "UP"}  # both classes, not a constant


def test_export_leaves_the_model_untouched(classifier: TorchMLPModel) -> None:
    module = classifier.module_
    before = {k: v.clone() for k, v in module.state_dict().items()}
    export_onnx(classifier)
    assert classifier.module_ is module and not module.training
    after = module.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_head_widened_by_update_exports(make_data: MakeData) -> None:
    model = fitted("classification", make_data)
    old_bytes = export_onnx(model)
    X_new, y_new = make_data("classification", 400, seed=2, labels=("DOWN", "SIDE"))
    model.update(X_new, y_new)
    assert model.module_.spec.n_outputs == 3
    onnx_model = OnnxMLPModel.from_torch(model)
    assert onnx_model.n_outputs_ == 3
    X, _ = make_data("classification", N_TEST, seed=3)
    assert_same_predictions(model, onnx_model, X)
    assert "SIDE" in set(onnx_model.predict(X))
    # Bytes exported before the update no longer fit the model.
    with pytest.raises(OnnxExportError, match="2 outputs but the model has 3"):
        OnnxMLPModel.from_torch(model, old_bytes)


def test_round_trip_through_bytes_and_pickle(regressor: TorchMLPModel, make_data: MakeData) -> None:
    data = export_onnx(regressor)
    assert isinstance(data, bytes) and data
    fresh = OnnxMLPModel.from_torch(regressor, data)
    assert fresh.onnx_bytes == data
    X, _ = make_data("regression", 500, seed=4)
    assert_same_predictions(regressor, fresh, X)
    unpickled = pickle.loads(pickle.dumps(fresh))
    np.testing.assert_array_equal(unpickled.predict(X), fresh.predict(X))


def test_unpickled_torch_model_exports(classifier: TorchMLPModel, make_data: MakeData) -> None:
    restored = pickle.loads(pickle.dumps(classifier))
    onnx_model = OnnxMLPModel.from_torch(restored)
    X, _ = make_data("classification", 1000, seed=5)
    np.testing.assert_array_equal(onnx_model.predict(X), classifier.predict(X))
    assert max_output_difference(classifier, onnx_model, X) < ONNX_TOLERANCE


def test_unfitted_and_non_torch_models_are_refused() -> None:
    with pytest.raises(OnnxExportError, match=r"Got an unfitted TorchMLPModel; call fit"):
        export_onnx(TorchMLPModel("classification", CONFIG))
    sklearn_model = make_model(ModelConfig(family="sklearn"), "classification")
    with pytest.raises(OnnxExportError, match=r"Got SklearnModel instead; only the 'torch_mlp'"):
        export_onnx(sklearn_model)  # type: ignore[arg-type]
    with pytest.raises(OnnxExportError, match=r"from_torch must be a fitted TorchMLPModel"):
        OnnxMLPModel.from_torch(sklearn_model)  # type: ignore[arg-type]


def test_bytes_that_are_not_onnx_are_refused(classifier: TorchMLPModel) -> None:
    with pytest.raises(OnnxExportError, match="could not load the ONNX bytes"):
        OnnxMLPModel.from_torch(classifier, b"not an onnx model")


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("n_rows", [0, 1])
def test_tiny_batches_behave_like_torch(
    task: str,
    n_rows: int,
    classifier: TorchMLPModel,
    regressor: TorchMLPModel,
    make_data: MakeData,
) -> None:
    model = classifier if task == "classification" else regressor
    onnx_model = OnnxMLPModel.from_torch(model)
    X, _ = make_data(task, 10, seed=6)
    assert_same_predictions(model, onnx_model, X.iloc[:n_rows])
    assert len(onnx_model.predict(X.iloc[:n_rows])) == n_rows


def test_missing_feature_column_raises_like_torch(
    classifier: TorchMLPModel, make_data: MakeData
) -> None:
    onnx_model = OnnxMLPModel.from_torch(classifier)
    X, _ = make_data("classification", 5, seed=7)
    X = X.drop(columns="region")
    with pytest.raises(InvalidDataError) as from_torch:
        classifier.predict(X)
    with pytest.raises(InvalidDataError) as from_onnx:
        onnx_model.predict(X)
    assert str(from_onnx.value) == str(from_torch.value)
    assert "lacks the columns ['region']" in str(from_onnx.value)


def test_predict_from_several_threads(classifier: TorchMLPModel, make_data: MakeData) -> None:
    onnx_model = OnnxMLPModel.from_torch(classifier, n_threads=2)
    X, _ = make_data("classification", 2000, seed=8)
    chunks = [X.iloc[i : i + 100] for i in range(0, len(X), 100)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(onnx_model.predict, chunks))
    np.testing.assert_array_equal(np.concatenate(results), classifier.predict(X))
