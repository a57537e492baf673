"""One conformance suite for every model family x task: the DriftModel contract, checked on
real fits of a learnable synthetic problem (a categorical column, a bool column, string labels)."""

from __future__ import annotations

import copy
import pickle
from dataclasses import dataclass

import cloudpickle
import numpy as np
import pandas as pd
import pytest
import torch

from models.base import ConfigError, DriftModel, InvalidDataError, NotFittedError
from models.config import ESTIMATORS, ModelConfig, TorchConfig
from models.families import make_model
from models.metrics import accuracy, mae

FAMILIES = ("sklearn", "torch_mlp", "river")
TASKS = ("classification", "regression")
CASES = [pytest.param((f, t), id=f"{f}-{t}") for f in FAMILIES for t in TASKS]
LABELS = {"DOWN", "UP"}


def new_model(family: str, task: str, seed: int = 0, estimator: str | None = None) -> DriftModel:
    # CPU so that seeded determinism is bitwise even on a machine with a GPU.
    config = ModelConfig(
        family=family, estimator=estimator, seed=seed, torch=TorchConfig(device="cpu")
    )
    return make_model(config, task)


@dataclass
class Case:
    family: str
    task: str
    model: DriftModel  # fitted on X, y; tests must not mutate it (deep-copy first)
    X: pd.DataFrame
    y: np.ndarray


@pytest.fixture(scope="module", params=CASES)
def case(request: pytest.FixtureRequest, make_data) -> Case:
    family, task = request.param
    X, y = make_data(task, 1500, seed=0)
    return Case(family, task, new_model(family, task).fit(X, y), X, y)


def assert_learnt(task: str, y_true: np.ndarray, y_pred: np.ndarray, y_train: np.ndarray) -> None:
    if task == "classification":
        assert set(np.unique(y_pred)) <= set(np.unique(y_train))
        assert accuracy(y_true, y_pred) > 0.8
    else:
        baseline = mae(y_true, np.full(len(y_true), y_train.mean()))
        assert mae(y_true, y_pred) < 0.5 * baseline


# -- the contract ------------------------------------------------------------------------------


def test_implements_protocol(case: Case) -> None:
    assert isinstance(case.model, DriftModel)
    assert case.model.task == case.task
    assert case.model.learns_online is (case.family == "river")


def test_fit_predict_learns_and_returns_original_labels(case: Case, make_data) -> None:
    X_test, y_test = make_data(case.task, 1000, seed=7)
    pred = case.model.predict(X_test)
    assert pred.shape == (len(X_test),)
    if case.task == "classification":
        assert set(pred.tolist()) <= LABELS and all(isinstance(p, str) for p in pred.tolist())
    else:
        assert pred.dtype == np.float64 and np.isfinite(pred).all()
    assert_learnt(case.task, y_test, pred, case.y)
    expected = accuracy(y_test, pred) if case.task == "classification" else -mae(y_test, pred)
    assert case.model.score(X_test, y_test) == pytest.approx(expected)


def test_predict_before_fit_raises(case: Case) -> None:
    model = new_model(case.family, case.task)
    with pytest.raises(NotFittedError, match="not fitted"):
        model.predict(case.X)
    with pytest.raises(NotFittedError):
        model.score(case.X, case.y)


def test_clone_is_unfitted_with_same_params(case: Case) -> None:
    clone = case.model.clone()
    assert type(clone) is type(case.model) and clone is not case.model
    assert clone.get_params() == case.model.get_params()
    with pytest.raises(NotFittedError):
        clone.predict(case.X)
    case.model.predict(case.X.head(3))  # the original stays fitted


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps], ids=["pickle", "cloudpickle"])
def test_pickle_round_trip_predicts_identically(case: Case, dumps) -> None:
    restored = pickle.loads(dumps(case.model))
    np.testing.assert_array_equal(restored.predict(case.X), case.model.predict(case.X))
    assert restored.get_params() == case.model.get_params()


def test_seeded_fit_is_deterministic(case: Case) -> None:
    again = new_model(case.family, case.task).fit(case.X, case.y)
    np.testing.assert_array_equal(again.predict(case.X), case.model.predict(case.X))


def test_update_adapts_and_changes_nothing_else(case: Case, make_data) -> None:
    model = copy.deepcopy(case.model)
    X_new, y_new = make_data(case.task, 1500, seed=1, concept=1)
    X_test, y_test = make_data(case.task, 1000, seed=2, concept=1)
    X_before, y_before, params = X_new.copy(), y_new.copy(), model.get_params()
    score_before = model.score(X_test, y_test)

    assert model.update(X_new, y_new) is model

    pd.testing.assert_frame_equal(X_new, X_before)  # inputs untouched
    np.testing.assert_array_equal(y_new, y_before)
    assert model.get_params() == params
    assert model.feature_names_in_ == case.model.feature_names_in_  # type: ignore[attr-defined]
    pred = model.predict(X_test)
    assert pred.shape == (len(X_test),)
    if case.task == "classification":
        assert set(pred.tolist()) <= LABELS
        assert model.score(X_test, y_test) > score_before + 0.1
    else:  # scores are negative MAE: the error on the new concept shrinks by a third or more
        assert -model.score(X_test, y_test) < 0.67 * -score_before
    # the fitted case model is a different object and was not affected
    np.testing.assert_array_equal(
        case.model.predict(X_test), copy.deepcopy(case.model).predict(X_test)
    )


def test_update_before_fit_fits(case: Case) -> None:
    model = new_model(case.family, case.task).update(case.X, case.y)
    assert model.predict(case.X).shape == (len(case.X),)


def test_columns_selected_by_name_unknown_categories_ignored(case: Case) -> None:
    X = case.X.head(200)
    shuffled = X[X.columns[::-1]].assign(extra=1.0)
    np.testing.assert_array_equal(case.model.predict(shuffled), case.model.predict(X))
    unseen = X.assign(region="west", flag=X["flag"].astype(object))
    pred = case.model.predict(unseen)
    assert pred.shape == (200,)
    if case.task == "classification":
        assert set(pred.tolist()) <= LABELS


def test_empty_frame_predicts_nothing(case: Case) -> None:
    pred = case.model.predict(case.X.head(0))
    assert pred.shape == (0,)
    assert pred.dtype == case.model.predict(case.X.head(2)).dtype


def test_missing_column_is_named(case: Case) -> None:
    with pytest.raises(InvalidDataError, match="'region'"):
        case.model.predict(case.X.drop(columns=["region"]))


def test_missing_numeric_values_are_handled(case: Case) -> None:
    X = case.X.copy()
    X.loc[X.index[::7], "x3"] = np.nan
    model = new_model(case.family, case.task).fit(X, case.y)
    pred = model.predict(X)
    if case.task == "regression":
        assert np.isfinite(pred).all()
    assert_learnt(case.task, case.y, pred, case.y)


def test_label_errors_are_clear(case: Case) -> None:
    model = new_model(case.family, case.task)
    with pytest.raises(InvalidDataError, match="one label per row"):
        model.fit(case.X, case.y[:-1])
    y = case.y.astype(object)
    y[3] = None
    with pytest.raises(InvalidDataError, match="missing"):
        model.fit(case.X, y)


# -- classification specifics ------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_integer_labels_come_back_as_integers(family: str, make_data) -> None:
    X, y = make_data("classification", 800, seed=3, labels=(3, 7))
    pred = new_model(family, "classification").fit(X, y).predict(X)
    assert np.issubdtype(pred.dtype, np.integer) and set(pred.tolist()) <= {3, 7}


@pytest.mark.parametrize("family", FAMILIES)
def test_update_with_a_new_class(family: str, make_data) -> None:
    X, y = make_data("classification", 600, seed=4)
    model = new_model(family, "classification").fit(X, y)
    X_new, y_new = make_data("classification", 600, seed=5, start=600)
    y_new = np.where(X_new["x3"] > 1.0, "FLAT", y_new)
    pred = model.update(X_new, y_new).predict(X_new)
    assert set(pred.tolist()) <= {"DOWN", "UP", "FLAT"}


@pytest.mark.parametrize("family", FAMILIES)
def test_a_single_class_is_predicted(family: str, make_data) -> None:
    X, _ = make_data("classification", 300, seed=6)
    model = new_model(family, "classification").fit(X, np.full(300, "UP"))
    assert set(model.predict(X).tolist()) == {"UP"}


# -- every estimator of every family ------------------------------------------------------------

ALL_ESTIMATORS = [
    pytest.param(family, task, name, id=f"{family}-{task}-{name}")
    for family, by_task in ESTIMATORS.items()
    for task, names in by_task.items()
    for name in names
]


@pytest.mark.parametrize(("family", "task", "estimator"), ALL_ESTIMATORS)
def test_every_estimator_learns(family: str, task: str, estimator: str, make_data) -> None:
    X, y = make_data(task, 800, seed=11)
    X_test, y_test = make_data(task, 400, seed=12)
    model = new_model(family, task, estimator=estimator).fit(X, y)
    pred = model.predict(X_test)
    assert pred.shape == (len(X_test),)
    if task == "classification":
        assert set(pred.tolist()) <= LABELS
        assert accuracy(y_test, pred) > 0.75
    else:
        assert mae(y_test, pred) < 0.75 * mae(y_test, np.full(len(y_test), y.mean()))


# -- torch specifics ---------------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only refusal")
def test_torch_cuda_without_cuda_is_a_clear_error(make_data) -> None:
    X, y = make_data("classification", 50, seed=0)
    model = make_model(
        ModelConfig(family="torch_mlp", torch=TorchConfig(device="cuda")), "classification"
    )
    with pytest.raises(ConfigError, match="CUDA is not available.*'auto'"):
        model.fit(X, y)


def test_torch_pickle_holds_cpu_weights_and_a_spec_and_leaves_globals_alone(make_data) -> None:
    X, y = make_data("classification", 200, seed=0)
    threads, rng_state = torch.get_num_threads(), torch.random.get_rng_state()
    model = new_model("torch_mlp", "classification").fit(X, y)
    assert torch.get_num_threads() == threads  # n_threads=1 applied only while training
    assert torch.equal(torch.random.get_rng_state(), rng_state)  # seeding did not leak
    state = model.__getstate__()  # type: ignore[attr-defined]
    assert "module_" not in state and state["module_spec_"].n_inputs == 4 + 3 + 2
    assert all(t.device.type == "cpu" for t in state["module_weights_"].values())
