"""Configs: defaults, JSON round-trips, and errors that name the key, the choices and the input."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from models.base import ConfigError
from models.config import ESTIMATORS, GateConfig, ModelConfig, TorchConfig, TrainingConfig
from models.families import family_names, make_model, register_family
from models.river_family import RiverModel
from models.sklearn_family import SklearnModel
from models.torch_family import TorchMLPModel


def test_defaults() -> None:
    model, training, gate = ModelConfig(), TrainingConfig(), GateConfig()
    assert (model.family, model.estimator_name("classification"), model.seed) == (
        "sklearn",
        "hist_gradient_boosting",
        0,
    )
    assert (
        training.strategy,
        training.recent_rows,
        training.replay_size,
        training.replay_fraction,
        training.holdout_rows,
        training.min_train_rows,
    ) == ("refit", 2000, 500, 0.2, 500, 300)
    assert (gate.margin, gate.promote_first) == (0.005, True)
    assert ModelConfig(family="river").estimator_name("regression") == "hoeffding_adaptive_tree"


@pytest.mark.parametrize(
    "config",
    [
        ModelConfig(family="river", estimator="arf", params={"n_models": 3, "lambda_value": 6.0}),
        ModelConfig(family="torch_mlp", torch=TorchConfig(hidden_sizes=(8,), device="cpu")),
        TrainingConfig(strategy="finetune", replay_fraction=0.0),
        GateConfig(margin=0.0, promote_first=False),
    ],
)
def test_json_round_trip(config) -> None:
    assert type(config).model_validate_json(config.model_dump_json()) == config


def test_configs_are_frozen_and_strict() -> None:
    config = ModelConfig()
    with pytest.raises(ValidationError):
        config.seed = 3
    with pytest.raises(ValidationError, match="extra_forbidden"):
        ModelConfig(familly="river")  # type: ignore[call-arg]


def test_literal_error_names_key_choices_and_input() -> None:
    with pytest.raises(ValidationError) as info:
        TrainingConfig(strategy="retrain")  # type: ignore[arg-type]
    text = str(info.value)
    assert "strategy" in text and "'refit' or 'finetune'" in text and "retrain" in text
    with pytest.raises(ValidationError, match="device"):
        TorchConfig(device="tpu")  # type: ignore[arg-type]


def test_unknown_estimator_lists_the_valid_names() -> None:
    with pytest.raises(ValidationError) as info:
        ModelConfig(family="sklearn", estimator="xgboost")
    text = str(info.value)
    assert "'xgboost'" in text
    for name in ESTIMATORS["sklearn"]["classification"] + ESTIMATORS["sklearn"]["regression"]:
        assert name in text


def test_estimator_of_the_wrong_task_is_refused_with_the_choices() -> None:
    config = ModelConfig(family="sklearn", estimator="ridge")
    with pytest.raises(ConfigError, match="ridge.*classification.*logistic_regression"):
        config.estimator_name("classification")
    with pytest.raises(ConfigError, match="task"):
        make_model(config, "ranking")  # type: ignore[arg-type]


def test_torch_params_must_go_under_torch() -> None:
    with pytest.raises(ValidationError, match="hidden_sizes"):
        ModelConfig(family="torch_mlp", params={"epochs": 3})


@pytest.mark.parametrize(
    ("family", "params", "valid"),
    [
        ("sklearn", {"max_depthh": 3}, "max_depth"),
        ("river", {"grace_periodd": 50}, "grace_period"),
    ],
)
def test_unknown_params_list_the_valid_keys(family: str, params, valid: str) -> None:
    with pytest.raises(ConfigError, match="max_depthh|grace_periodd") as info:
        make_model(ModelConfig(family=family, params=params), "classification")
    assert valid in str(info.value)


def test_make_model_builds_each_family_from_config() -> None:
    sk = make_model(
        ModelConfig(estimator="random_forest", params={"n_estimators": 7}, seed=5), "regression"
    )
    assert isinstance(sk, SklearnModel) and sk.get_params() == {
        "task": "regression",
        "estimator": "random_forest",
        "params": {"n_estimators": 7},
        "seed": 5,
        "n_threads": 1,
    }
    torch_cfg = TorchConfig(epochs=3)
    tm = make_model(ModelConfig(family="torch_mlp", torch=torch_cfg), "classification")
    assert isinstance(tm, TorchMLPModel) and tm.config == torch_cfg
    rv = make_model(ModelConfig(family="river", estimator="gaussian_nb"), "classification")
    assert isinstance(rv, RiverModel) and rv.estimator == "gaussian_nb" and rv.learns_online


def test_family_registry_lists_names_and_refuses_duplicates() -> None:
    assert set(family_names()) == {"sklearn", "torch_mlp", "river"}
    with pytest.raises(ConfigError, match="already registered"):
        register_family("sklearn")(lambda config, task: None)  # type: ignore[arg-type,return-value]
