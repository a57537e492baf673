"""Production flows: scheduled monitoring of a drop folder, and retraining started by its events.

- :func:`monitor_drop_folder` is the monitoring flow, meant to run on a schedule: it takes the
  files dropped since its last run (exactly once: :class:`~monitors.sources.DropFolderSource`),
  puts their rows through the checks against the ``champion`` (:func:`monitors.scan.scan_rows`)
  and, when the decision is to retrain, emits ``driftloop.drift.detected``
  (:func:`flows.events.emit_drift_event`) with the window, the reasons and the model. The
  files are recorded as processed once the run has done its work. With no champion yet it
  trains the first one on the rows instead.
- :func:`retrain_on_event` is the retraining flow: it trains a challenger on the most recent
  labelled rows of the drop folder (the files monitoring has processed), gates it against the
  current ``champion`` on the newest of them, registers it in MLflow and promotes it when it
  wins, with the event's reasons as the drift context, and stores the promoted version's
  data-drift reference profile with it.
- :func:`serve_production` serves both as deployments (``driftloop deploy``): monitoring on an
  interval or cron schedule, retraining with a deployment trigger
  (:func:`flows.events.retrain_trigger`) that makes Prefect's server start it for every drift
  event of the model, the payload becoming its parameters.

MLflow is the state folder's SQLite store unless ``MLFLOW_TRACKING_URI`` names a tracking
server. The flow only orchestrates: the work is done by the pipeline's tasks
(:mod:`flows.pipeline`) and the library underneath.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from prefect import flow

from flows.config import ConfigError, DriftloopConfig, load_config
from flows.events import DRIFT_EVENT, emit_drift_event, retrain_trigger
from flows.pipeline import (
    alert_drift,
    alert_promotion,
    gate_and_promote,
    load_profile,
    register,
    retrain,
    save_profile,
)
from flows.settings import StatePaths
from flows.settings import tracking_uri as settings_tracking_uri
from models.families import make_model
from models.registry import ModelRegistry, RegistryError
from models.training import make_memory
from monitors.alerts import Alerter
from monitors.drift_engine import ReferenceProfile
from monitors.errors import DriftCheckError
from monitors.scan import scan_rows
from monitors.sources import DropFolderSource, DropFolderSourceConfig

if TYPE_CHECKING:  # pragma: no cover
    from prefect.deployments.runner import RunnerDeployment

RETRAIN_DEPLOYMENT = "driftloop-retrain"
MONITOR_DEPLOYMENT = "driftloop-monitor"


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
    return settings_tracking_uri(config.state_dir)


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
    previous = registry.champion()
    version = register(registry, challenger, ts, config, context, None)
    gate = gate_and_promote(registry, version, champion, challenger, ts, config)
    alert_promotion(Alerter.from_config(config.alerts, paths.root), config, gate,
                     version.version, None if previous is None else previous.version, context)
    if gate.promoted:
        save_profile(registry, ReferenceProfile.fit(ts.X_train.reset_index(drop=True)),
                     version.version, paths.root)
    return {"status": "promoted" if gate.promoted else "kept", "version": version.version,
            "champion_score": gate.champion_score, "challenger_score": gate.challenger_score,
            "gate_reason": gate.reason, "reasons": reasons, "n_train": len(ts.y_train)}


@flow(name="driftloop-monitor")
def monitor_drop_folder(config_path: str | None = None) -> dict[str, Any]:
    """Check the files dropped since the last run; emit a drift event when a retrain is due.

    Returns ``{"files", "rows", "windows", "retrain", "reasons", "event", ...}``.
    """
    config = load_config(Path(config_path) if config_path else None)
    source = DropFolderSource(_folder_config(config))
    pending = source.pending()
    files = [f.name for f in pending.files]
    summary: dict[str, Any] = {"files": files, "rows": len(pending.frame), "windows": 0,
                               "retrain": False, "reasons": [], "event": None}
    if pending.frame.empty:
        source.commit(pending.files)
        return summary
    model = config.registry.model_name
    paths = StatePaths.at(config.state_dir).create()
    registry = ModelRegistry(tracking_uri(config), paths.artifacts, config.registry)
    if registry.champion() is None:  # the first files train the first champion
        source.commit(pending.files)
        summary["bootstrap"] = retrain_on_event(model, "first model: no champion yet",
                                                config_path=config_path)
        return summary
    info = registry.version_info("champion")
    baseline = float(info["tags"].get("driftloop.gate.challenger_score", "nan"))
    frame = pending.frame
    drop = [c for c in (source.target, source.config.timestamp) if c]
    X, y = frame.drop(columns=drop), frame[source.target].to_numpy()
    champion = registry.load_model("champion")
    try:
        profile = load_profile(registry, "champion", paths.root / "profiles" / "champion")
    except (RegistryError, DriftCheckError):  # a champion without a profile: no data-drift check
        profile = None
    dd = config.data_drift
    result = scan_rows(X, y, champion.predict, task=champion.task,
                       baseline_score=baseline, window_size=config.window.size,
                       decision=config.decision, concept_drift=config.concept_drift,
                       profile=profile, drift_method=dd.method, drift_threshold=dd.threshold,
                       drift_share=dd.drift_share)
    summary.update(windows=len(result.windows), retrain=result.retrain,
                   reasons=list(result.reasons), champion_version=info["version"],
                   window_summaries=result.windows)
    if result.retrain and result.window is not None and result.decision is not None:
        alert_drift(Alerter.from_config(config.alerts, paths.root), config, result.decision,
                     {"window": result.window.index, "row": result.window.end,
                      "trigger": "scheduled-monitoring", "files": ", ".join(files)})
        event = emit_drift_event(model, result.reasons, window=result.window.index,
                                 row=result.window.end, kind=result.kind,
                                 extra={"files": files, "champion_version": info["version"]})
        summary["event"] = None if event is None else str(event.id)
    source.commit(pending.files)
    return summary


def serve_production(config_path: str | None = None, *, interval_s: float | None = 3600,
                     cron: str | None = None) -> None:  # pragma: no cover - blocks
    """Serve the monitoring deployment (every ``interval_s`` seconds, or on ``cron``) and the
    retraining deployment (started by each drift event of the config's model), in this
    process, until interrupted. ``deploy/prefect.yaml`` describes the same two deployments
    for ``prefect deploy`` with a worker."""
    from prefect import serve

    config = load_config(Path(config_path) if config_path else None)
    _folder_config(config)
    path = str(Path(config_path).resolve()) if config_path else None
    model = config.registry.model_name
    schedule: dict[str, Any] = {"cron": cron} if cron else {"interval": interval_s}
    monitor = monitor_drop_folder.to_deployment(name=MONITOR_DEPLOYMENT,
                                                parameters={"config_path": path}, **schedule)
    retraining = retrain_on_event.to_deployment(
        name=RETRAIN_DEPLOYMENT, triggers=[retrain_trigger(model, config_path=path)],
        parameters={"model": model, "config_path": path})
    serve(cast("RunnerDeployment", monitor), cast("RunnerDeployment", retraining))


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - blocks
    """``python -m flows.production CONFIG [--interval S | --cron EXPR]``."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m flows.production", description=serve_production.__doc__)
    p.add_argument("config")
    p.add_argument("--interval", type=float, default=3600.0, help="seconds between monitoring runs")
    p.add_argument("--cron", default=None, help="cron schedule instead of --interval")
    args = p.parse_args(argv)
    serve_production(args.config, interval_s=args.interval, cron=args.cron)


if __name__ == "__main__":  # pragma: no cover
    main()
