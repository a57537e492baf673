"""The MLflow model registry behind a narrow interface.

Every retrain becomes one MLflow run and one new version of a single registered model. Two
aliases carry the lifecycle: ``challenger`` is the latest trained version waiting for the gate,
``champion`` is the version being served. Promotion moves ``champion`` and appends to a history
kept on the registered model (tag ``driftloop.champion_history``), so a rollback is one call.

- :class:`RegistryReader` resolves aliases and versions and loads models; the serving side
  (:mod:`deploy.champion`) needs nothing more.
- :class:`ModelRegistry` adds the writes: :meth:`~ModelRegistry.log_training`,
  :meth:`~ModelRegistry.record_gate`, :meth:`~ModelRegistry.promote`,
  :meth:`~ModelRegistry.rollback`.

Models are stored as MLflow *pyfunc* models wrapping the :class:`~models.base.DriftModel`
object (pickled with cloudpickle, by reference to its class), so any family loads with
``mlflow.pyfunc.load_model`` and predicts on a DataFrame, and :meth:`RegistryReader.load_model`
hands back the original object to continue training from. Unpickling runs code, so models are
only ever loaded from the registry (a version number or an alias), never from a path or URI that
a caller passes in. Loading needs driftloop's ``models`` package importable, as in any
environment where driftloop is installed.

Nothing here touches MLflow's global state on import. The fluent calls that need a global
tracking URI (logging and loading a model) run inside a scope that sets it and restores the
previous value afterwards.

>>> cfg = RegistryConfig(model_name="churn")
>>> cfg.experiment, cfg.model_name
('driftloop', 'churn')
>>> RegistryConfig.model_validate_json(cfg.model_dump_json()) == cfg
True
>>> RegisteredVersion(name="churn", version=3, run_id="abc", model_uri="models:/churn/3").version
3
"""

from __future__ import annotations

import contextlib
import getpass
import json
import logging
import math
import numbers
import os
import re
import socket
import threading
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _dist_version
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import Model, infer_signature
from mlflow.pyfunc import PyFuncModel, PythonModel
from mlflow.tracking._model_registry import utils as _registry_utils
from mlflow.tracking._tracking_service import utils as _tracking_utils
from mlflow.tracking.context.registry import resolve_tags
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator

from models.base import DriftModel, ModelError

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "HISTORY_TAG",
    "DriftModelPyfunc",
    "ModelRegistry",
    "NoChampionError",
    "RegisteredVersion",
    "RegistryConfig",
    "RegistryError",
    "RegistryReader",
    "VersionNotFoundError",
    "actor",
    "default_pip_requirements",
    "mask_uri",
]

_log = logging.getLogger(__name__)

CHAMPION = "champion"
"""Alias of the version being served."""
CHALLENGER = "challenger"
"""Alias of the latest trained version, waiting for the gate."""
HISTORY_TAG = "driftloop.champion_history"
"""Registered-model tag holding the champion history as a JSON list."""

_MODEL_ARTIFACT = "model"
_DRIFT_PREFIX = "drift."
_TAG = "driftloop."
#: Distributions a pickled model of any driftloop family needs in order to load.
_STACK = ("mlflow", "cloudpickle", "numpy", "pandas", "scikit-learn", "river", "torch")
#: What MLflow accepts in param, metric and tag keys.
_KEY = re.compile(r"^[\w\-. /:]+$")
_ALIAS = re.compile(r"^[A-Za-z0-9_-]+$")

ParamValue = str | int | float | bool | None
ContextValue = str | int | float | None
VersionRef = int | str
"""A version number (``3``, or ``"3"``) or an alias (``"champion"``)."""


class RegistryError(ModelError):
    """The registry could not do what was asked; the message says why and how to fix it."""


class VersionNotFoundError(RegistryError, LookupError):
    """The registered model, version or alias asked for does not exist."""


class NoChampionError(VersionNotFoundError):
    """No version holds the ``champion`` alias yet."""


def default_pip_requirements() -> tuple[str, ...]:
    """Pins of the installed driftloop stack that a logged model needs to load.

    Passing requirements explicitly spares MLflow 7-10 s of inference per logged model, and
    pinning the installed versions keeps MLflow from warning about mismatches on load.

    >>> any(req.startswith("mlflow==") for req in default_pip_requirements())
    True
    """
    pins = []
    for dist in _STACK:
        try:
            # drop a local build tag ("2.13.0+cpu"): PyPI has no such file, "==2.13.0" matches it
            pins.append(f"{dist}=={_dist_version(dist).split('+')[0]}")
        except PackageNotFoundError:
            continue
    return tuple(pins)


class RegistryConfig(BaseModel):
    """Where trainings are recorded and what logged models declare.

    Parameters
    ----------
    model_name
        Registered model every trained version goes to.
    experiment
        MLflow experiment holding one run per training; created on first use.
    pip_requirements
        Requirements written into each logged model; defaults to the installed stack.
    history_limit
        Most champion-history entries kept on the registered model (oldest dropped first).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_name: str = "driftloop-model"
    experiment: str = "driftloop"
    pip_requirements: tuple[str, ...] = Field(default_factory=default_pip_requirements)
    history_limit: PositiveInt = 200

    @field_validator("model_name")
    @classmethod
    def _check_model_name(cls, value: str) -> str:
        if not value.strip() or value != value.strip() or any(c in value for c in "/:@"):
            raise ValueError(
                "must be a non-empty name without surrounding spaces or any of '/', ':', '@' "
                f"(they break 'models:/<name>/<version>' URIs). Got {value!r} instead."
            )
        return value

    @field_validator("experiment")
    @classmethod
    def _check_experiment(cls, value: str) -> str:
        if not value.strip():
            raise ValueError(f"must be a non-empty experiment name. Got {value!r} instead.")
        return value

    @field_validator("pip_requirements")
    @classmethod
    def _check_requirements(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or any(not req.strip() for req in value):
            raise ValueError(
                "must be a non-empty tuple of requirement strings such as 'mlflow==3.17.2' "
                f"(explicit requirements spare MLflow seconds of inference). Got {value!r} instead."
            )
        return value


@dataclass(frozen=True)
class RegisteredVersion:
    """One version of a registered model.

    Attributes
    ----------
    name
        Registered model name.
    version
        Version number, from 1.
    run_id
        MLflow run of the training that produced it.
    model_uri
        ``models:/<name>/<version>``, loadable with ``mlflow.pyfunc.load_model``.
    """

    name: str
    version: int
    run_id: str
    model_uri: str


class DriftModelPyfunc(PythonModel):
    """MLflow pyfunc wrapper around a :class:`~models.base.DriftModel` object.

    Parameters
    ----------
    model
        A fitted model; pickled with the wrapper when the model is logged.
    """

    def __init__(self, model: DriftModel) -> None:
        self.model = model

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> np.ndarray:
        """Predict with the wrapped model; MLflow has already checked the input schema."""
        return np.asarray(self.model.predict(model_input))


# ---------------------------------------------------------------------------------------------
# MLflow plumbing


_FLUENT_LOCK = threading.RLock()


@contextlib.contextmanager
def _fluent_uri(tracking_uri: str) -> Iterator[None]:
    """Point MLflow's fluent API (tracking and registry) at ``tracking_uri`` for one block.

    The previous URIs and their environment variables are restored afterwards, so a registry
    never leaks its URI into the rest of the process. A lock keeps two registries with different
    URIs in one process from interleaving.
    """
    with _FLUENT_LOCK:
        saved_env = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
        saved_tracking = _tracking_utils._tracking_uri
        saved_registry = _registry_utils._registry_uri
        try:
            mlflow.set_tracking_uri(tracking_uri)
            mlflow.set_registry_uri(tracking_uri)
            yield
        finally:
            mlflow.set_tracking_uri(saved_tracking)  # type: ignore[arg-type]  # None unsets it
            _registry_utils._registry_uri = saved_registry
            for key, value in saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


@contextlib.contextmanager
def _mlflow_errors(action: str, tracking_uri: str) -> Iterator[None]:
    """Turn MLflow's exceptions into :class:`RegistryError` naming what was being done."""
    try:
        yield
    except MlflowException as exc:
        raise RegistryError(
            f"Could not {action} in the MLflow registry at {mask_uri(tracking_uri)!r}: "
            f"{mask_uri(exc.message)} "
            "Check that the tracking URI points at a reachable MLflow store."
        ) from exc


class _DropCloudpickleWarning(logging.Filter):
    """MLflow warns on every pickled ``python_model``; driftloop pickles by design (see module
    docstring) and only loads from its own registry, so the warning is noise in retrain logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "serialized using CloudPickle" not in record.getMessage()


@contextlib.contextmanager
def _quiet_cloudpickle_warning() -> Iterator[None]:
    logger = logging.getLogger("mlflow.pyfunc")
    flt = _DropCloudpickleWarning()
    logger.addFilter(flt)
    try:
        yield
    finally:
        logger.removeFilter(flt)


def _is_not_found(exc: MlflowException, *, alias: bool = False) -> bool:
    # SQL stores answer INVALID_PARAMETER_VALUE, not RESOURCE_DOES_NOT_EXIST, to a missing alias
    codes = ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND") + (
        ("INVALID_PARAMETER_VALUE",) if alias else ()
    )
    return exc.error_code in codes


# the password runs to the last "@" of the URI (one left unquoted, or a "/" in it, must not
# end it early and leave the rest in the clear: masking too much is the safe side)
_PASSWORD_IN_URI = re.compile(r"(?P<head>[A-Za-z][\w+.-]*://[^/@:\s]*:)[^\s]*@(?=[^@\s]*$|"
                              r"[^@\s]*\s)")


def mask_uri(text: str) -> str:
    """``text`` with the password of any ``scheme://user:password@host`` URI in it masked.

    >>> mask_uri("postgresql://ml:s3cret@db:5432/mlflow and http://u:p@host/x")
    'postgresql://ml:***@db:5432/mlflow and http://u:***@host/x'
    >>> mask_uri("postgresql://ml:pa/ss@db/mlflow or mysql://ml:p@ss@db/m")
    'postgresql://ml:***@db/mlflow or mysql://ml:***@db/m'
    >>> mask_uri("sqlite:////tmp/mlflow.db")
    'sqlite:////tmp/mlflow.db'
    """
    return _PASSWORD_IN_URI.sub(r"\g<head>***@", text)


def actor() -> str:
    """Who is acting: ``$DRIFTLOOP_USER`` when set, else ``user@host``."""
    named = os.environ.get("DRIFTLOOP_USER", "").strip()
    if named:
        return named
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _check_key(kind: str, key: object) -> str:
    if not isinstance(key, str) or not _KEY.match(key):
        raise RegistryError(
            f"Every key of '{kind}' must be a non-empty string of letters, digits, '_', '-', "
            f"'.', ' ', ':' or '/' (MLflow's rule for keys). Got {key!r} instead."
        )
    return key


def _check_value(kind: str, key: str, value: object) -> None:
    if value is not None and not isinstance(value, str | numbers.Real):
        raise RegistryError(
            f"The value of {kind}[{key!r}] must be one of str, int, float, bool or None. "
            f"Got {type(value).__name__} {value!r} instead; convert it before logging."
        )


def _plain(value: object) -> object:
    """A JSON-ready copy of a checked value (numpy scalars become Python numbers)."""
    if value is None or isinstance(value, str | bool):
        return value
    return int(value) if isinstance(value, numbers.Integral) else float(value)  # type: ignore[arg-type]


def _as_text(value: ParamValue) -> str:
    return "None" if value is None else str(value)


def _check_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in metrics.items():
        _check_key("metrics", key)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise RegistryError(
                f"The value of metrics[{key!r}] must be a real number. "
                f"Got {type(value).__name__} {value!r} instead."
            )
        if not math.isfinite(float(value)):
            raise RegistryError(
                f"The value of metrics[{key!r}] must be finite. Got {value!r} instead; "
                "leave the metric out when it could not be computed."
            )
        out[key] = float(value)
    return out


# ---------------------------------------------------------------------------------------------
# Reading


class RegistryReader:
    """Read-only view of one registered model: resolve versions and aliases, load models.

    Parameters
    ----------
    tracking_uri
        MLflow tracking URI, also used as the registry URI (``sqlite:////abs/path/mlflow.db``
        or ``http://host:5000``).
    model_name
        Registered model to read.
    """

    def __init__(self, tracking_uri: str, model_name: str) -> None:
        if not isinstance(tracking_uri, str) or not tracking_uri.strip():
            raise RegistryError(
                "The 'tracking_uri' parameter must be a non-empty MLflow tracking URI such as "
                f"'sqlite:////abs/path/mlflow.db'. Got {tracking_uri!r} instead."
            )
        try:
            self.model_name = RegistryConfig(model_name=model_name).model_name
        except ValueError as exc:
            raise RegistryError(f"The 'model_name' parameter is invalid: {exc}") from exc
        self.tracking_uri = tracking_uri
        self._client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({mask_uri(self.tracking_uri)!r}, "
                f"model_name={self.model_name!r})")

    def _errors(self, action: str) -> contextlib.AbstractContextManager[None]:
        return _mlflow_errors(action, self.tracking_uri)

    def _registered(self, mv: ModelVersion, run_id: str | None = None) -> RegisteredVersion:
        version = int(mv.version)
        return RegisteredVersion(
            name=self.model_name,
            version=version,
            run_id=mv.run_id or run_id or "",
            model_uri=f"models:/{self.model_name}/{version}",
        )

    def _model_exists(self) -> bool:
        try:
            self._client.get_registered_model(self.model_name)
        except MlflowException as exc:
            if _is_not_found(exc):
                return False
            raise
        return True

    def _missing_model(self) -> VersionNotFoundError:
        return VersionNotFoundError(
            f"There is no registered model named {self.model_name!r} at {self.tracking_uri!r}. "
            "Log a training with ModelRegistry.log_training first, or check the model name and "
            "the tracking URI."
        )

    def _version_numbers(self) -> list[int]:
        found = self._client.search_model_versions(f"name = '{self.model_name}'")
        return sorted(int(mv.version) for mv in found)

    def resolve(self, alias_or_version: VersionRef) -> RegisteredVersion:
        """The registered version a version number or an alias points to.

        Parameters
        ----------
        alias_or_version
            A version number (``3`` or ``"3"``) or an alias (``"champion"``). Paths and URIs
            are refused: models are only ever loaded from the registry.

        Raises
        ------
        VersionNotFoundError
            The model, version or alias does not exist (:class:`NoChampionError` for the
            ``champion`` alias).
        """
        ref = self._parse_ref(alias_or_version)
        with self._errors(f"resolve {alias_or_version!r} of model {self.model_name!r}"):
            try:
                if isinstance(ref, int):
                    mv = self._client.get_model_version(self.model_name, str(ref))
                else:
                    mv = self._client.get_model_version_by_alias(self.model_name, ref)
            except MlflowException as exc:
                if not _is_not_found(exc, alias=isinstance(ref, str)):
                    raise
                raise self._not_found(ref) from exc
        return self._registered(mv)

    def _parse_ref(self, ref: object) -> int | str:
        if isinstance(ref, bool) or not isinstance(ref, int | str):
            raise RegistryError(
                "The 'alias_or_version' parameter must be a version number (int) or an alias "
                f"(str). Got {type(ref).__name__} {ref!r} instead."
            )
        if isinstance(ref, str) and ref.isdigit():
            ref = int(ref)
        if isinstance(ref, int):
            if ref < 1:
                raise RegistryError(
                    f"The 'alias_or_version' parameter must be a version number >= 1. Got {ref}."
                )
            return ref
        if not _ALIAS.match(ref):
            raise RegistryError(
                "The 'alias_or_version' parameter must be a version number or an alias made of "
                f"letters, digits, '_' or '-' (e.g. {CHAMPION!r}). Got {ref!r} instead; models "
                "are only loaded from the registry, never from a path or URI."
            )
        return ref

    def _not_found(self, ref: int | str) -> VersionNotFoundError:
        if not self._model_exists():
            return self._missing_model()
        if isinstance(ref, int):
            return VersionNotFoundError(
                f"Model {self.model_name!r} has no version {ref}; its versions are "
                f"{self._version_numbers()}."
            )
        aliases = sorted(self._client.get_registered_model(self.model_name).aliases)
        if ref == CHAMPION:
            return NoChampionError(
                f"Model {self.model_name!r} has no champion yet (aliases set: {aliases}). "
                "Promote a version first with ModelRegistry.promote(version, reason)."
            )
        return VersionNotFoundError(
            f"Model {self.model_name!r} has no alias {ref!r}; the aliases set are {aliases}."
        )

    def champion(self) -> RegisteredVersion | None:
        """The version holding the ``champion`` alias, or ``None`` if there is none yet."""
        try:
            return self.resolve(CHAMPION)
        except VersionNotFoundError:
            return None

    def challenger(self) -> RegisteredVersion | None:
        """The version holding the ``challenger`` alias, or ``None`` if there is none yet."""
        try:
            return self.resolve(CHALLENGER)
        except VersionNotFoundError:
            return None

    def version_info(self, alias_or_version: VersionRef) -> dict[str, Any]:
        """Everything the registry knows about one version, as plain data.

        Returns
        -------
        dict
            ``name``, ``version``, ``run_id``, ``model_uri``, ``aliases`` (sorted), ``tags``,
            ``source``, ``status`` and ``created_at`` (ISO 8601, UTC).
        """
        ref = self.resolve(alias_or_version)
        with self._errors(f"read version {ref.version} of model {self.model_name!r}"):
            mv = self._client.get_model_version(self.model_name, str(ref.version))
        created = datetime.fromtimestamp(mv.creation_timestamp / 1000, tz=UTC)
        return {
            "name": ref.name,
            "version": ref.version,
            "run_id": ref.run_id,
            "model_uri": ref.model_uri,
            "aliases": sorted(mv.aliases),
            "tags": dict(mv.tags),
            "source": mv.source,
            "status": mv.status,
            "created_at": created.isoformat(timespec="seconds"),
        }

    def find_by_drift_context(self, key: str, value: str) -> RegisteredVersion | None:
        """The version whose drift context has ``key == value`` (its version tag
        ``driftloop.drift_<key>``), or None. With a key unique per training (a run's step id),
        a resumed run finds the version it registered before it was interrupted instead of
        registering it twice. The newest such version when there are several.
        """
        _check_key("drift context", key)
        with self._errors(f"search the versions of model {self.model_name!r}"):
            if not self._model_exists():
                return None
            escaped = str(value).replace("'", "''")
            found = self._client.search_model_versions(
                f"name='{self.model_name}' and tags.`{_TAG}drift_{key}` = '{escaped}'")
        if not found:
            return None
        return self._registered(max(found, key=lambda mv: int(mv.version)))

    def champion_history(self) -> list[dict[str, Any]]:
        """Every change of champion, oldest first.

        Each entry has ``version`` (who held champion from then on), ``previous_version``
        (``None`` for the first), ``action`` (``"promote"`` or ``"rollback"``), ``reason``,
        ``by`` (who moved the alias; absent in entries written before driftloop recorded it)
        and ``at`` (ISO 8601, UTC).
        """
        with self._errors(f"read the champion history of model {self.model_name!r}"):
            if not self._model_exists():
                return []
            raw = self._client.get_registered_model(self.model_name).tags.get(HISTORY_TAG)
        if raw is None:
            return []
        try:
            history = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise RegistryError(
                f"The tag {HISTORY_TAG!r} of model {self.model_name!r} is not valid JSON ({exc}). "
                "Fix or delete the tag (MlflowClient.delete_registered_model_tag); promotions "
                "will then start a new history."
            ) from exc
        if not isinstance(history, list):
            raise RegistryError(
                f"The tag {HISTORY_TAG!r} of model {self.model_name!r} must hold a JSON list. "
                f"Got {type(history).__name__} instead; fix or delete the tag."
            )
        return history

    def load_pyfunc(self, alias_or_version: VersionRef) -> PyFuncModel:
        """Load a version as an MLflow pyfunc model (``.predict(DataFrame)``).

        The alias is resolved first and ``models:/<name>/<version>`` is loaded, so the model
        matches the version :meth:`resolve` reports even if the alias moves meanwhile.
        """
        return self._load(self.resolve(alias_or_version))

    def _load(self, ref: RegisteredVersion) -> PyFuncModel:
        uri = f"models:/{self.model_name}/{ref.version}"
        with self._errors(f"load {uri}"), _fluent_uri(self.tracking_uri):
            try:
                return mlflow.pyfunc.load_model(uri)
            except (ImportError, AttributeError) as exc:
                raise RegistryError(
                    f"Could not unpickle {uri}: {exc}. The model's class must be importable "
                    "where it is loaded: install driftloop (and the model family's libraries) "
                    "in this environment."
                ) from exc

    def download_version_artifact(self, alias_or_version: VersionRef, artifact_path: str,
                                  dst: Path | str) -> Path:
        """Download ``artifact_path`` of a version's training run into the folder ``dst``.

        Raises
        ------
        RegistryError
            The version has no run, or the run has no such artifact.
        """
        ref = self.resolve(alias_or_version)
        if not ref.run_id:
            raise RegistryError(f"Version {ref.version} of model {self.model_name!r} has no run "
                                "to read artifacts from.")
        Path(dst).mkdir(parents=True, exist_ok=True)
        with self._errors(f"download {artifact_path!r} of version {ref.version}"):
            return Path(self._client.download_artifacts(ref.run_id, artifact_path, str(dst)))

    def load_model(self, alias_or_version: VersionRef) -> DriftModel:
        """Load a version as the original :class:`~models.base.DriftModel` object.

        Use it to continue training from the champion (``update``) or to score it in the gate.

        Raises
        ------
        RegistryError
            The version was not logged by :meth:`ModelRegistry.log_training`.
        """
        ref = self.resolve(alias_or_version)
        wrapper = self._load(ref).unwrap_python_model()
        if not isinstance(wrapper, DriftModelPyfunc):
            raise RegistryError(
                f"Version {ref.version} of model {self.model_name!r} holds a "
                f"{type(wrapper).__name__}, not a driftloop model; only versions logged with "
                "ModelRegistry.log_training can be loaded with load_model. Use load_pyfunc."
            )
        return wrapper.model


# ---------------------------------------------------------------------------------------------
# Writing


class ModelRegistry(RegistryReader):
    """Record trainings, gate decisions and promotions of one registered model.

    Parameters
    ----------
    tracking_uri
        MLflow tracking URI, also used as the registry URI (``sqlite:////abs/path/mlflow.db``).
    artifact_root
        Folder (or artifact URI) for the experiment's artifacts; used when the experiment is
        created on the first :meth:`log_training`.
    config
        Model name, experiment name and pip requirements.
    """

    def __init__(
        self, tracking_uri: str, artifact_root: str | Path, config: RegistryConfig | None = None
    ) -> None:
        config = RegistryConfig() if config is None else config
        super().__init__(tracking_uri, config.model_name)
        self.config = config
        self.artifact_location = (
            artifact_root
            if isinstance(artifact_root, str) and "://" in artifact_root
            else Path(artifact_root).expanduser().resolve().as_uri()
        )
        self._experiment_id: str | None = None

    def _experiment(self) -> str:
        """Id of the configured experiment, created with our artifact location if missing."""
        if self._experiment_id is not None:
            return self._experiment_id
        name = self.config.experiment
        exp = self._client.get_experiment_by_name(name)
        if exp is None:
            try:
                exp_id = self._client.create_experiment(
                    name, artifact_location=self.artifact_location
                )
            except MlflowException:
                exp = self._client.get_experiment_by_name(name)  # created concurrently
                if exp is None:
                    raise
                exp_id = exp.experiment_id
        elif exp.lifecycle_stage == "deleted":
            raise RegistryError(
                f"The experiment {name!r} at {self.tracking_uri!r} is deleted. Restore it "
                "(MlflowClient.restore_experiment) or set RegistryConfig.experiment to another name."
            )
        else:
            exp_id = exp.experiment_id
            if exp.artifact_location.rstrip("/") != self.artifact_location.rstrip("/"):
                _log.warning(
                    "Experiment %r keeps its artifacts at %s, not at the artifact_root %s given "
                    "to ModelRegistry; artifacts go to the experiment's location.",
                    name,
                    exp.artifact_location,
                    self.artifact_location,
                )
        self._experiment_id = exp_id
        return exp_id

    def log_training(
        self,
        model: DriftModel,
        *,
        X_example: pd.DataFrame,
        params: Mapping[str, ParamValue],
        metrics: Mapping[str, float],
        drift_context: Mapping[str, ContextValue],
        report_html: Path | None = None,
        run_name: str | None = None,
    ) -> RegisteredVersion:
        """Record one training as an MLflow run and register the model as the new challenger.

        Parameters
        ----------
        model
            The fitted model.
        X_example
            A few feature rows: the model signature is inferred from them and their
            predictions, and the first five are stored as the input example.
        params
            Training hyper-parameters and settings.
        metrics
            Evaluation metrics (finite numbers).
        drift_context
            What triggered the training (window, detector, row, event id, ...). Logged as run
            params and run tags prefixed ``drift.``, as the artifact ``drift_context.json``, and
            as version tags ``driftloop.drift_<key>``. The version tag ``driftloop.trigger`` is
            ``drift_context["trigger"]`` when given, else ``"drift"`` (or ``"manual"`` when the
            context is empty).
        report_html
            The Evidently HTML report of the triggering window, stored under ``reports/``.
        run_name
            Name of the MLflow run; MLflow picks one when ``None``.

        Returns
        -------
        RegisteredVersion
            The new version, which now holds the ``challenger`` alias.

        Raises
        ------
        RegistryError
            Inputs are unusable or MLflow failed; a run created before the failure is marked
            ``FAILED``.
        """
        run_params, drift = self._check_training_inputs(
            model, X_example, params, drift_context, report_html
        )
        run_metrics = _check_metrics(metrics)
        with warnings.catch_warnings():
            # integer columns are what the stream has; the hint about NaN in ints is noise here
            warnings.filterwarnings("ignore", message=".*Inferred schema contains integer")
            signature = infer_signature(X_example, np.asarray(model.predict(X_example)))
        model_class = f"{type(model).__module__}.{type(model).__qualname__}"

        run_tags = {f"{_DRIFT_PREFIX}{k}": v for k, v in drift.items()}
        run_tags.update(
            {
                f"{_TAG}model_name": self.model_name,
                f"{_TAG}model_class": model_class,
                f"{_TAG}task": str(model.task),
            }
        )
        version_tags = {f"{_TAG}drift_{k}": v for k, v in drift.items() if k != "trigger"}
        version_tags.update(
            {
                f"{_TAG}trigger": drift.get("trigger", "drift" if drift else "manual"),
                f"{_TAG}model_class": model_class,
                f"{_TAG}task": str(model.task),
            }
        )

        with self._errors(f"log a training of model {self.model_name!r}"):
            run = self._client.create_run(
                self._experiment(), run_name=run_name, tags=resolve_tags(run_tags)
            )
            run_id = run.info.run_id
            try:
                self._client.log_batch(
                    run_id,
                    metrics=[
                        mlflow.entities.Metric(k, v, run.info.start_time, 0)
                        for k, v in run_metrics.items()
                    ],
                    params=[mlflow.entities.Param(k, v) for k, v in run_params.items()],
                )
                self._client.log_dict(
                    run_id, {k: _plain(v) for k, v in drift_context.items()}, "drift_context.json"
                )
                if report_html is not None:
                    self._client.log_artifact(run_id, str(report_html), "reports")
                # Created here, not by Model.log: given only a run id, Model.log files the logged
                # model under the *fluent* experiment (Default, artifacts in ./mlruns of the
                # working directory) instead of the run's experiment.
                logged = self._client.create_logged_model(
                    run.info.experiment_id,
                    name=_MODEL_ARTIFACT,
                    source_run_id=run_id,
                    params=run_params,
                    tags={k: v for k, v in run_tags.items() if k.startswith(_TAG)},
                )
                with _fluent_uri(self.tracking_uri), _quiet_cloudpickle_warning(), \
                        warnings.catch_warnings():
                    warnings.filterwarnings("ignore", message=".*Inferred schema contains integer")
                    info = Model.log(
                        artifact_path=None,
                        name=_MODEL_ARTIFACT,
                        flavor=mlflow.pyfunc,
                        run_id=run_id,
                        model_id=logged.model_id,
                        python_model=DriftModelPyfunc(model),
                        signature=signature,
                        input_example=X_example.head(5),
                        pip_requirements=list(self.config.pip_requirements),
                    )
                    mv = mlflow.register_model(info.model_uri, self.model_name, tags=version_tags)
                self._client.set_registered_model_alias(self.model_name, CHALLENGER, mv.version)
            except BaseException:
                with contextlib.suppress(MlflowException):
                    self._client.set_terminated(run_id, "FAILED")
                raise
            self._client.set_terminated(run_id, "FINISHED")
        registered = self._registered(mv, run_id)
        _log.info("Registered %s (run %s) as %s.", registered.model_uri, run_id, CHALLENGER)
        return registered

    def _check_training_inputs(
        self,
        model: object,
        X_example: object,
        params: Mapping[str, ParamValue],
        drift_context: Mapping[str, ContextValue],
        report_html: Path | None,
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Validate before anything is written; return run params and the drift context as text."""
        if not isinstance(model, DriftModel):
            raise RegistryError(
                "The 'model' parameter of log_training must implement models.base.DriftModel "
                f"(task, fit, update, predict, score, clone...). Got {type(model).__name__}."
            )
        if not isinstance(X_example, pd.DataFrame) or X_example.empty:
            raise RegistryError(
                "The 'X_example' parameter of log_training must be a non-empty DataFrame of "
                f"feature rows. Got {type(X_example).__name__} "
                f"{'(empty)' if isinstance(X_example, pd.DataFrame) else ''}instead."
            )
        if report_html is not None and not Path(report_html).is_file():
            raise RegistryError(
                f"The 'report_html' parameter of log_training must be an existing file. Got "
                f"{str(report_html)!r}; pass None when there is no report."
            )
        run_params = {}
        for key, value in params.items():
            _check_key("params", key)
            _check_value("params", key, value)
            run_params[key] = _as_text(value)
        drift = {}
        for key, value in drift_context.items():
            _check_key("drift_context", key)
            _check_value("drift_context", key, value)
            drift[key] = _as_text(value)
            if f"{_DRIFT_PREFIX}{key}" in run_params:
                raise RegistryError(
                    f"params[{_DRIFT_PREFIX + key!r}] collides with drift_context[{key!r}], "
                    f"which is logged as the param {_DRIFT_PREFIX + key!r}. Rename the param."
                )
            run_params[f"{_DRIFT_PREFIX}{key}"] = drift[key]
        return run_params, drift

    def record_gate(
        self,
        version: int,
        champion_score: float | None,
        challenger_score: float,
        promoted: bool,
        reason: str,
    ) -> None:
        """Record the gate's decision about ``version`` on the version and on its run.

        Version tags ``driftloop.gate.{promoted,reason,champion_score,challenger_score,at}``;
        run metrics ``gate.challenger_score``, ``gate.champion_score`` (when there was a
        champion) and ``gate.promoted`` (1 or 0). Promotion itself is :meth:`promote`.

        Parameters
        ----------
        version
            The version that went through the gate (usually the challenger).
        champion_score, challenger_score
            Scores on the same evaluation window, higher is better; ``champion_score`` is
            ``None`` when there was no champion to compare with.
        promoted
            The gate's decision.
        reason
            Why, in words (shown in the MLflow UI).
        """
        ref = self.resolve(version)
        scores = {"gate.challenger_score": challenger_score}
        if champion_score is not None:
            scores["gate.champion_score"] = champion_score
        metrics = _check_metrics(scores)
        metrics["gate.promoted"] = 1.0 if promoted else 0.0
        tags = {
            "promoted": "true" if promoted else "false",
            "reason": str(reason),
            "champion_score": _as_text(champion_score),
            "challenger_score": _as_text(challenger_score),
            "at": _now(),
        }
        with self._errors(f"record the gate decision for version {ref.version}"):
            for key, text in tags.items():
                self._client.set_model_version_tag(
                    self.model_name, str(ref.version), f"{_TAG}gate.{key}", text
                )
            if ref.run_id:
                for key, number in metrics.items():
                    self._client.log_metric(ref.run_id, key, number)

    def log_version_artifact(self, version: VersionRef, local_path: Path | str,
                             artifact_path: str) -> str:
        """Store a file with a version: logged to its training run under ``artifact_path`` and
        named in the version tag ``driftloop.artifact.<artifact_path>``. Returns the artifact's
        path inside the run (read it back with :meth:`download_version_artifact`)."""
        ref = self.resolve(version)
        src = Path(local_path)
        if not src.is_file():
            raise RegistryError(f"Cannot store {src} with version {ref.version}: no such file.")
        if not ref.run_id:
            raise RegistryError(f"Version {ref.version} of model {self.model_name!r} has no run "
                                "to store artifacts in.")
        stored = f"{artifact_path}/{src.name}"
        with self._errors(f"store {src.name} with version {ref.version}"):
            self._client.log_artifact(ref.run_id, str(src), artifact_path)
            self._client.set_model_version_tag(self.model_name, str(ref.version),
                                               f"{_TAG}artifact.{artifact_path}", stored)
        return stored

    def promote(self, version: int, reason: str, *, by: str | None = None) -> None:
        """Move the ``champion`` alias to ``version`` and append to the champion history.

        ``by`` says who moved it (default: ``$DRIFTLOOP_USER``, else ``user@host``). Promoting the
        current champion again changes nothing.
        """
        self._move_champion(self.resolve(version), reason, action="promote", by=by)

    def rollback(
        self, to_version: int | None = None, reason: str | None = None, *, by: str | None = None
    ) -> RegisteredVersion:
        """Give the ``champion`` alias back to an earlier version, in one call.

        Parameters
        ----------
        to_version
            Version to return to. By default, the champion before the current one, following
            the history back: after promotions 1 -> 2 -> 3, rollbacks go to 2, then to 1.
        reason
            Recorded in the history; defaults to ``"rollback from version <n>"``.
        by
            Who rolled back (default: ``$DRIFTLOOP_USER``, else ``user@host``).

        Returns
        -------
        RegisteredVersion
            The new champion.

        Raises
        ------
        NoChampionError
            There is no champion to roll back from.
        RegistryError
            There is no earlier champion, or the alias was moved outside driftloop so the
            history cannot say which one was earlier (pass ``to_version``).
        """
        current = self.champion()
        if current is None:
            raise NoChampionError(
                f"Model {self.model_name!r} has no champion, so there is nothing to roll back. "
                "Promote a version with ModelRegistry.promote(version, reason)."
            )
        if to_version is None:
            stack = _champion_stack(self.champion_history())
            if not stack or stack[-1] != current.version:
                raise RegistryError(
                    f"The champion of model {self.model_name!r} is version {current.version} but "
                    f"the champion history ends with {stack[-1] if stack else 'nothing'}: the alias "
                    "was moved outside driftloop. Pass rollback(to_version=...) explicitly."
                )
            if len(stack) < 2:
                raise RegistryError(
                    f"Version {current.version} is the first champion of model "
                    f"{self.model_name!r}; there is no earlier one to roll back to. Promote "
                    "another version instead."
                )
            to_version = stack[-2]
        target = self.resolve(to_version)
        self._move_champion(
            target, reason or f"rollback from version {current.version}", action="rollback", by=by
        )
        return target

    def _move_champion(self, target: RegisteredVersion, reason: str, action: str,
                       by: str | None = None) -> None:
        current = self.champion()
        history = self.champion_history()
        previous = None if current is None else current.version
        if previous == target.version:
            if history and int(history[-1]["version"]) == target.version:
                _log.info("Version %d is already the champion; nothing to do.", target.version)
                return
            # the alias moved but the history write did not follow (a crash between the two
            # calls): complete the history now, once
            previous = int(history[-1]["version"]) if history else None
        history.append(
            {
                "version": target.version,
                "previous_version": previous,
                "action": action,
                "reason": str(reason),
                "by": by or actor(),
                "at": _now(),
            }
        )
        history = history[-self.config.history_limit :]
        with self._errors(f"move {CHAMPION!r} to version {target.version}"):
            self._client.set_registered_model_alias(self.model_name, CHAMPION, str(target.version))
            self._client.set_registered_model_tag(
                self.model_name, HISTORY_TAG, json.dumps(history, separators=(",", ":"))
            )
        _log.info(
            "%s: champion of %r is now version %d (was %s): %s",
            action,
            self.model_name,
            target.version,
            previous,
            reason,
        )


def _champion_stack(history: list[dict[str, Any]]) -> list[int]:
    """Replay the history into the chain of champions a default rollback walks back along.

    A promotion pushes its version; a rollback to a version in the chain cuts the chain back to
    it, a rollback to any other version pushes it like a promotion.

    >>> _champion_stack([
    ...     {"version": 1, "action": "promote"}, {"version": 2, "action": "promote"},
    ...     {"version": 3, "action": "promote"}, {"version": 2, "action": "rollback"},
    ... ])
    [1, 2]
    """
    stack: list[int] = []
    for entry in history:
        version = int(entry["version"])
        if entry.get("action") == "rollback" and version in stack:
            del stack[len(stack) - stack[::-1].index(version) :]
        else:
            stack.append(version)
    return stack
