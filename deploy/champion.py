"""Load the champion model for serving.

The serving side only ever reads the registry: :func:`load_champion` resolves the ``champion``
alias to a version number first and then loads ``models:/<name>/<version>``, so the version a
:class:`ChampionPredictor` reports is always the one it predicts with, even if the alias moves
while it loads. A service checks :meth:`ChampionPredictor.is_current` to know when to reload.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import PyFuncModel

from models.base import ModelError
from models.registry import CHAMPION, RegisteredVersion, RegistryReader

__all__ = ["ChampionPredictor", "PredictionError", "load_champion"]


class PredictionError(ModelError, ValueError):
    """Features handed to the champion do not match what it was trained on."""


@dataclass(frozen=True)
class ChampionPredictor:
    """The champion of a registered model, loaded and ready to predict.

    Build it with :func:`load_champion`.

    Attributes
    ----------
    registered
        Which version was loaded (name, version, run id, ``models:/`` URI).
    """

    registered: RegisteredVersion
    _pyfunc: PyFuncModel = field(repr=False)
    _reader: RegistryReader = field(repr=False)

    @property
    def model_name(self) -> str:
        """Registered model name."""
        return self.registered.name

    @property
    def version(self) -> int:
        """Version number being served."""
        return self.registered.version

    @property
    def run_id(self) -> str:
        """MLflow run of the training that produced the served version."""
        return self.registered.run_id

    @property
    def model_uri(self) -> str:
        """``models:/<name>/<version>`` of the served version."""
        return self.registered.model_uri

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predict on a feature frame with the champion.

        Raises
        ------
        PredictionError
            ``X`` is not a DataFrame or does not match the model's signature (missing
            columns, incompatible types).
        """
        if not isinstance(X, pd.DataFrame):
            raise PredictionError(
                "The 'X' parameter of ChampionPredictor.predict must be a pandas DataFrame of "
                f"features. Got {type(X).__name__} instead."
            )
        try:
            return np.asarray(self._pyfunc.predict(X))
        except MlflowException as exc:
            expected = self._pyfunc.metadata.get_input_schema()
            raise PredictionError(
                f"The features do not match the input schema of {self.model_uri} "
                f"({expected}): {exc.message}"
            ) from exc

    def is_current(self) -> bool:
        """Whether this version still holds the ``champion`` alias (reload when it does not)."""
        current = self._reader.champion()
        return current is not None and current.version == self.version


def load_champion(tracking_uri: str, model_name: str) -> ChampionPredictor:
    """Load the current champion of ``model_name`` from the registry at ``tracking_uri``.

    Parameters
    ----------
    tracking_uri
        MLflow tracking URI (also the registry URI), e.g. ``sqlite:////abs/path/mlflow.db``.
    model_name
        Registered model name.

    Raises
    ------
    models.registry.NoChampionError
        No version has been promoted to champion yet.
    models.registry.VersionNotFoundError
        There is no registered model named ``model_name``.
    models.registry.RegistryError
        MLflow could not be reached or the model could not be loaded.
    """
    reader = RegistryReader(tracking_uri, model_name)
    registered = reader.resolve(CHAMPION)
    return ChampionPredictor(registered, reader.load_pyfunc(registered.version), reader)
