"""Where driftloop keeps its local state, and the environment it runs in.

Everything a run writes lives under one folder (default ``.driftloop/``, set with
``state_dir`` in the config, ``--state-dir`` or ``DRIFTLOOP_STATE_DIR``):

- ``mlflow.db`` and ``mlartifacts/``: the MLflow tracking store and model artifacts;
- ``workspace/``: the Evidently workspace (``evidently ui --workspace .driftloop/workspace``);
- ``prefect/``: ``PREFECT_HOME`` for Prefect's ephemeral API and its SQLite database;
- ``quarantine/``: rows set aside by validation.

Nothing happens on import: :func:`prepare_environment` is called once by the entry point.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: Telemetry off for every tool in the stack unless the user has said otherwise.
TELEMETRY_OFF = {
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "EVIDENTLY_DISABLE_TELEMETRY": "1",
}


@dataclass(frozen=True)
class StatePaths:
    """The layout of the local state folder."""

    root: Path

    @classmethod
    def at(cls, root: str | Path) -> StatePaths:
        return cls(Path(root).expanduser().resolve())

    @property
    def mlflow_db(self) -> Path:
        return self.root / "mlflow.db"

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.mlflow_db}"

    @property
    def artifacts(self) -> Path:
        return self.root / "mlartifacts"

    @property
    def workspace(self) -> Path:
        return self.root / "workspace"

    @property
    def prefect_home(self) -> Path:
        return self.root / "prefect"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    def create(self) -> StatePaths:
        for p in (self.root, self.artifacts, self.workspace, self.prefect_home, self.quarantine):
            p.mkdir(parents=True, exist_ok=True)
        return self


def tracking_uri(state_dir: str | Path) -> str:
    """``MLFLOW_TRACKING_URI`` when set (a tracking server), else the state folder's store."""
    return os.environ.get("MLFLOW_TRACKING_URI") or StatePaths.at(state_dir).tracking_uri


def prepare_environment(paths: StatePaths, *, log_level: str = "WARNING") -> None:
    """Set the process environment for a run; call before Prefect or MLflow is imported.

    Telemetry is switched off, Prefect gets its own home under the state folder (so two runs
    with different state folders never share a SQLite database) and runs on its ephemeral
    API unless ``PREFECT_API_URL`` points at a server.
    """
    paths.create()
    for key, value in TELEMETRY_OFF.items():
        os.environ.setdefault(key, value)
    os.environ["PREFECT_HOME"] = str(paths.prefect_home)
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "60")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", log_level)
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", log_level)
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
