"""Model families as plug-ins registered by name; :func:`make_model` builds one from config.

Each builder imports its family lazily, so importing :mod:`models.families` does not import
torch or River until a model of that family is asked for.

>>> make_model(ModelConfig(family="sklearn", estimator="ridge"), "regression")
SklearnModel(task='regression', estimator='ridge', params={}, seed=0, n_threads=1)
>>> sorted(family_names())
['river', 'sklearn', 'torch_mlp']
"""

from __future__ import annotations

from collections.abc import Callable

from models.base import ConfigError, DriftModel, Task, check_task
from models.config import ModelConfig

FamilyBuilder = Callable[[ModelConfig, Task], DriftModel]

_FAMILIES: dict[str, FamilyBuilder] = {}


def register_family(name: str) -> Callable[[FamilyBuilder], FamilyBuilder]:
    """Register ``builder(config, task) -> DriftModel`` under ``name`` (a decorator)."""

    def decorate(builder: FamilyBuilder) -> FamilyBuilder:
        if name in _FAMILIES:
            raise ConfigError(f"A model family named {name!r} is already registered.")
        _FAMILIES[name] = builder
        return builder

    return decorate


def family_names() -> tuple[str, ...]:
    """The names of all registered families."""
    return tuple(_FAMILIES)


def make_model(config: ModelConfig, task: Task) -> DriftModel:
    """An unfitted model of ``config.family`` for ``task``.

    Raises :class:`~models.base.ConfigError` naming the valid choices when the family is not
    registered, the estimator does not support ``task`` or ``params`` has unknown keys.
    """
    check_task(task)
    builder = _FAMILIES.get(config.family)
    if builder is None:
        raise ConfigError(
            f"The 'family' of ModelConfig must be one of {sorted(_FAMILIES)}. "
            f"Got {config.family!r} instead."
        )
    return builder(config, task)


@register_family("sklearn")
def _sklearn(config: ModelConfig, task: Task) -> DriftModel:
    from models.sklearn_family import SklearnModel, check_params

    name = config.estimator_name(task)
    check_params(name, task, config.params)
    return SklearnModel(
        task=task,
        estimator=name,
        params=dict(config.params),
        seed=config.seed,
        n_threads=config.n_threads,
    )


@register_family("torch_mlp")
def _torch_mlp(config: ModelConfig, task: Task) -> DriftModel:
    from models.torch_family import TorchMLPModel

    config.estimator_name(task)  # "mlp" is the only one; checks a wrong name early
    return TorchMLPModel(
        task=task, config=config.torch, seed=config.seed, n_threads=config.n_threads
    )


@register_family("river")
def _river(config: ModelConfig, task: Task) -> DriftModel:
    from models.river_family import RiverModel, check_params

    name = config.estimator_name(task)
    check_params(name, task, config.params)
    return RiverModel(
        task=task, estimator=name, params=dict(config.params), config=config.river, seed=config.seed
    )
