"""Production flows: retraining started by a drift event, served as a Prefect deployment.

:func:`retrain_on_event` is the retraining flow: it trains a challenger on the most recent
labelled rows of the drop folder (the files monitoring has processed), gates it against the
current ``champion`` on the newest of them, registers it in MLflow and promotes it when it
wins, with the event's reasons as the drift context. :func:`serve_retraining` serves it as a
deployment whose trigger (:func:`flows.events.retrain_trigger`) makes Prefect's server start
it for every ``driftloop.drift.detected`` event, the payload becoming its parameters.

MLflow is the state folder's SQLite store unless ``MLFLOW_TRACKING_URI`` names a tracking
server. The flow only orchestrates: the work is done by the pipeline's tasks
(:mod:`flows.pipeline`) and the library underneath.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prefect import flow

from flows.config import ConfigError, DriftloopConfig, load_config
from flows.events import DRIFT_EVENT, retrain_trigger
from flows.pipeline import gate_and_promote, register, retrain
from flows.settings import StatePaths
from models.families import make_model
from models.registry import ModelRegistry
from models.training import make_memory
from monitors.sources import DropFolderSource, DropFolderSourceConfig

RETRAIN_DEPLOYMENT = "driftloop-retrain"


def _int_or_none(value: Any) -> int | None:
    """Event parameters arrive rendered from templates: ``12``, ``"12"``, ``"None"`` or ``""``."""
    if value is None or (isinstance(value, str) and value.strip() in ("", "None", "null")):
        return None
    return int(value)


def _folder_config(config: DriftloopConfig) -> DropFolderSourceConfig:
    if not isinstance(config.source, DropFolderSourceConfig):
        raise ConfigError(
            f"Event-driven retraining reads its rows from a drop folder, but source.kind is "
            f"{config.source.kind!r}. Set source: {{kind: folder, path: ..., target: ...}}."
        )
    return config.source


def tracking_uri(config: DriftloopConfig) -> str:
    """``MLFLOW_TRACKING_URI`` when set (a tracking server), else the state folder's store."""
    return os.environ.get("MLFLOW_TRACKING_URI") or StatePaths.at(config.state_dir).tracking_uri


@flow(name="driftloop-retrain")
def retrain_on_event(model: str, reasons: str = "", window: Any = None, row: Any = None,
                     config_path: str | None = None) -> dict[str, Any]:
    """Retrain ``model`` on the drop folder's recent rows because of a drift event.

    Returns ``{"status": "promoted" | "kept" | "deferred", "version", "reasons", ...}``.
    """
    config = load_config(Path(config_path) if config_path else None)
    if model != config.registry.model_name:
        raise ConfigError(
            f"The drift event names model {model!r} but this deployment's config serves "
            f"{config.registry.model_name!r}; serve one retraining deployment per model."
        )
    source = DropFolderSource(_folder_config(config))
    history = source.history(config.training.recent_rows + config.training.holdout_rows)
    target = source.target
    if target not in history.columns or history.empty:
        return {"status": "deferred", "version": None, "reasons": reasons,
                "reason": "the drop folder has no processed rows yet"}
    drop = [c for c in (target, source.config.timestamp) if c]
    X, y = history.drop(columns=drop), history[target].to_numpy()
    paths = StatePaths.at(config.state_dir).create()
    registry = ModelRegistry(tracking_uri(config), paths.artifacts, config.registry)
    champion = registry.load_model("champion") if registry.champion() is not None else None
    buffer, reservoir = make_memory(config.training)
    buffer.add(X, y)
    trained = retrain(make_model(config.model, source.task), champion, buffer, reservoir,
                      config, None)
    if isinstance(trained, str):
        return {"status": "deferred", "version": None, "reasons": reasons, "reason": trained}
    challenger, ts = trained
    context: dict[str, Any] = {"trigger": "event", "kind": "event", "event": DRIFT_EVENT,
                               "reasons": reasons, "window": _int_or_none(window),
                               "row": _int_or_none(row)}
    version = register(registry, challenger, ts, config, context, None)
    gate = gate_and_promote(registry, version, champion, challenger, ts, config)
    return {"status": "promoted" if gate.promoted else "kept", "version": version.version,
            "champion_score": gate.champion_score, "challenger_score": gate.challenger_score,
            "gate_reason": gate.reason, "reasons": reasons, "n_train": len(ts.y_train)}


def serve_retraining(config_path: str | None = None) -> None:  # pragma: no cover - blocks
    """Serve :func:`retrain_on_event` as the deployment ``driftloop-retrain``, triggered by
    every drift event of the config's model. Blocks until interrupted."""
    config = load_config(Path(config_path) if config_path else None)
    _folder_config(config)
    path = str(Path(config_path).resolve()) if config_path else None
    retrain_on_event.serve(
        name=RETRAIN_DEPLOYMENT,
        triggers=[retrain_trigger(config.registry.model_name, config_path=path)],
        parameters={"model": config.registry.model_name, "config_path": path},
    )


if __name__ == "__main__":  # pragma: no cover
    import sys

    serve_retraining(sys.argv[1] if len(sys.argv) > 1 else None)
