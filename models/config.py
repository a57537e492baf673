"""Configuration of models, training and the promotion gate: frozen pydantic models.

Every knob has a default, enumerations are ``Literal`` so a wrong value is rejected with the key,
the allowed values and what was received, and every config round-trips through JSON.

>>> cfg = ModelConfig(family="river")
>>> cfg.estimator_name("classification")
'hoeffding_adaptive_tree'
>>> ModelConfig.model_validate_json(cfg.model_dump_json()) == cfg
True
>>> TrainingConfig().strategy, GateConfig().margin
('refit', 0.005)
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveInt, model_validator

from models.base import ConfigError, Task, check_task

Family = Literal["sklearn", "torch_mlp", "river"]
Device = Literal["auto", "cpu", "cuda"]
Strategy = Literal["refit", "finetune"]
ParamValue = int | float | str | bool | None

#: Estimator names each family offers, per task; the first one is the family's default.
ESTIMATORS: dict[str, dict[str, tuple[str, ...]]] = {
    "sklearn": {
        "classification": ("hist_gradient_boosting", "logistic_regression", "random_forest", "sgd"),
        "regression": ("hist_gradient_boosting", "ridge", "random_forest", "linear", "sgd"),
    },
    "torch_mlp": {
        "classification": ("mlp",),
        "regression": ("mlp",),
    },
    "river": {
        "classification": (
            "hoeffding_adaptive_tree",
            "arf",
            "hoeffding_tree",
            "logistic_regression",
            "gaussian_nb",
        ),
        "regression": ("hoeffding_adaptive_tree", "arf", "hoeffding_tree", "linear_regression"),
    },
}


def estimator_names(family: str, task: Task) -> tuple[str, ...]:
    """The estimator names ``family`` offers for ``task``, default first.

    >>> estimator_names("sklearn", "regression")[:2]
    ('hist_gradient_boosting', 'ridge')
    """
    check_task(task)
    if family not in ESTIMATORS:
        raise ConfigError(
            f"The 'family' parameter must be one of {sorted(ESTIMATORS)}. Got {family!r} instead."
        )
    return ESTIMATORS[family][task]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TorchConfig(_Frozen):
    """Training knobs of the PyTorch MLP family (the seed is :attr:`ModelConfig.seed`).

    ``fit`` trains ``epochs`` epochs at ``lr``; ``update`` fine-tunes the current weights for
    ``finetune_epochs`` epochs at the lower ``finetune_lr`` (the continual-learning strategy).
    Fine-tuning trades adaptation against forgetting: on a rotated decision boundary the defaults
    took accuracy on the new concept from 0.61 to 0.80 while keeping 0.83 on the old one
    (``finetune_lr=lr`` reached 0.93 but fell to 0.69 on the old concept). The gate rejects a
    challenger that did not adapt enough.
    """

    hidden_sizes: tuple[PositiveInt, ...] = (64, 64)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    epochs: PositiveInt = 20
    batch_size: PositiveInt = 128
    lr: float = Field(default=1e-3, gt=0.0)
    weight_decay: NonNegativeFloat = 1e-4
    finetune_epochs: PositiveInt = 10
    finetune_lr: float = Field(default=5e-4, gt=0.0)
    device: Device = "auto"


class RiverConfig(_Frozen):
    """Knobs of the River online family.

    ``learn_batch_size`` 1 (the default) learns row by row with ``learn_one``, which is what an
    online learner means. A larger value learns mini-batches with ``learn_many`` where the model
    supports it (linear models, Gaussian NB): one gradient step per mini-batch, which is a
    different algorithm and, measured on 2k rows, neither faster nor as accurate below ~256 rows.
    """

    learn_batch_size: PositiveInt = 1


class ModelConfig(_Frozen):
    """Which model family and estimator to train, and its hyper-parameters.

    ``estimator`` ``None`` means the family's default (first in :data:`ESTIMATORS`). ``params``
    are keyword arguments of the scikit-learn or River estimator (checked against its signature
    when the model is made); the torch family takes its knobs from ``torch`` instead.

    ``n_threads`` caps the CPU threads (OpenMP, BLAS, torch intra-op) the scikit-learn and torch
    families use while fitting and predicting; None leaves the process settings alone. One
    thread is the default because on tabular data of this size it is as fast as two, and it
    does not collapse when other processes share the cores: with one busy process beside it on
    a 2-core machine, a 3k-row HistGradientBoosting fit took 12.5 s with 2 OpenMP threads and
    0.14 s with 1 (a torch MLP fit 1.3-1.6 s against 0.36 s).
    """

    family: Family = "sklearn"
    estimator: str | None = None
    params: dict[str, ParamValue] = Field(default_factory=dict)
    torch: TorchConfig = Field(default_factory=TorchConfig)
    river: RiverConfig = Field(default_factory=RiverConfig)
    seed: int = 0
    n_threads: PositiveInt | None = 1

    @model_validator(mode="after")
    def _check_estimator(self) -> ModelConfig:
        if self.estimator is not None:
            known = {name for names in ESTIMATORS[self.family].values() for name in names}
            if self.estimator not in known:
                listing = "; ".join(
                    f"{task}: {list(names)}" for task, names in ESTIMATORS[self.family].items()
                )
                raise ValueError(
                    f"The 'estimator' of family {self.family!r} must be one of ({listing}). "
                    f"Got {self.estimator!r} instead. Leave it unset for the family's default."
                )
        if self.family == "torch_mlp" and self.params:
            raise ValueError(
                "The 'params' of family 'torch_mlp' must be empty: set the MLP's knobs under "
                f"'torch' ({list(TorchConfig.model_fields)}). Got {sorted(self.params)}."
            )
        return self

    def estimator_name(self, task: Task) -> str:
        """The estimator to build for ``task``: ``estimator`` or the family default.

        Raises :class:`ConfigError` listing the valid names when ``estimator`` exists in this
        family but not for ``task`` (e.g. sklearn ``"ridge"`` for classification).
        """
        names = estimator_names(self.family, task)
        if self.estimator is None:
            return names[0]
        if self.estimator not in names:
            raise ConfigError(
                f"The 'estimator' {self.estimator!r} of family {self.family!r} does not support "
                f"task {task!r}; choose one of {list(names)}."
            )
        return self.estimator


class TrainingConfig(_Frozen):
    """How a challenger's training data is assembled and how it is trained.

    ``strategy`` ``"refit"`` trains a fresh model; ``"finetune"`` continues from the champion
    (PyTorch fine-tunes, River keeps learning, scikit-learn refits). The training set is the
    most recent ``recent_rows`` labelled rows before a holdout of the newest ``holdout_rows``
    rows, plus a replay sample from a reservoir of ``replay_size`` older rows making up
    ``replay_fraction`` of the training set. Right after a drift, when only the rows since the
    drift are used, the holdout is at most ``holdout_fraction`` of them, so that most of the
    few rows of the new concept train the challenger.
    """

    strategy: Strategy = "refit"
    recent_rows: PositiveInt = 2000
    replay_size: int = Field(default=500, ge=0)
    replay_fraction: float = Field(default=0.2, ge=0.0, lt=1.0)
    holdout_rows: PositiveInt = 500
    holdout_fraction: float = Field(default=0.3, gt=0.0, lt=1.0)
    min_train_rows: PositiveInt = 300
    seed: int = 0


class GateConfig(_Frozen):
    """When a challenger replaces the champion.

    Scores are "higher is better" (accuracy, negative MAE); the challenger is promoted when
    ``challenger >= champion + margin``, and when there is no champion if ``promote_first``.
    """

    margin: NonNegativeFloat = 0.005
    promote_first: bool = True
