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

import contextlib
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


_EPHEMERAL_APP = b"prefect.server.api.server:create_app"
_PROC = Path("/proc")


def leftover_prefect_api(prefect_home: Path) -> list[int]:
    """Process ids of the ephemeral Prefect API servers whose ``PREFECT_HOME`` is
    ``prefect_home``.

    Prefect starts its ephemeral API as a child process and stops it at exit; a run that is
    SIGKILLed cannot, so the server lives on. It is recognised by its command line (uvicorn
    serving ``prefect.server.api.server:create_app``), and by ``PREFECT__SERVER_EPHEMERAL=1``
    and ``PREFECT_HOME`` in its environment. Where there is no ``/proc`` (not Linux) the list
    is empty.
    """
    if not _PROC.is_dir():
        return []
    home = f"PREFECT_HOME={Path(prefect_home).resolve()}".encode()
    found: list[int] = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if _EPHEMERAL_APP not in (entry / "cmdline").read_bytes():
                continue
            env = (entry / "environ").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile, or another user's process
            continue
        if home in env and b"PREFECT__SERVER_EPHEMERAL=1" in env and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def stop_leftover_prefect_api(prefect_home: Path, *, wait_s: float = 5.0) -> list[int]:
    """Stop the ephemeral Prefect API servers that killed runs of this state folder left
    behind (:func:`leftover_prefect_api`): SIGTERM, then SIGKILL after ``wait_s``.

    Call it only while holding the state folder's run lock and before the run starts its own
    server: then every such server belongs to a run that is gone. Returns the ids stopped.
    """
    import signal
    import time

    found = leftover_prefect_api(prefect_home)
    for pid in found:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait_s
    for pid in found:
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie is dead but still has a pid until its parent reaps it
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"
