"""Production flows: scheduled monitoring of a drop folder or of the prediction log, and
retraining started by their events.

- :func:`monitor` is the scheduled monitoring flow: it runs the one of the next two that
  fits the config's source.
- :func:`monitor_drop_folder` is the monitoring flow of a drop folder: it takes the
  files dropped since its last run (exactly once: :class:`~monitors.sources.DropFolderSource`),
  puts their rows through the checks against the ``champion`` (:func:`monitors.scan.scan_rows`)
  and, when the decision is to retrain, emits ``driftloop.drift.detected``
  (:func:`flows.events.emit_drift_event`) with the window, the reasons and the model. The
  files are recorded as processed once the run has done its work. With no champion yet it
  trains the first one on the rows instead.
- :func:`monitor_prediction_log` is the same for a served model: it reads what the prediction
  service served since its last run (:class:`~monitors.prediction_log_source.
  PredictionLogSource`, from an offset kept in the state folder) and checks the rows whose
  feedback labels have come. The service then hot-swaps to whatever retraining promotes: the
  loop is closed.
- :func:`retrain_on_event` is the retraining flow: it trains a challenger on the most recent
  labelled rows of the drop folder (the files monitoring has processed) or of the prediction
  log, gates it against the
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

import contextlib
import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd
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
from monitors.checkpoint import CheckpointError, CheckpointStore, FolderBusyError, folder_lock
from monitors.drift_engine import ReferenceProfile
from monitors.errors import DriftCheckError
from monitors.prediction_log_source import PredictionLogSource, PredictionLogSourceConfig
from monitors.scan import ScanCarry, scan_rows
from monitors.sources import DropFolderSource, DropFolderSourceConfig, LogOffsets, Task

if TYPE_CHECKING:  # pragma: no cover
    from prefect.deployments.runner import RunnerDeployment

RETRAIN_DEPLOYMENT = "driftloop-retrain"
MONITOR_DEPLOYMENT = "driftloop-monitor"
#: How long a retrain waits for another retrain of the same model to finish.
RETRAIN_LOCK_WAIT_S = 1800.0


def _model_lock(config: DriftloopConfig, name: str, what: str,
                wait_s: float = 0.0) -> contextlib.AbstractContextManager[None]:
    """``<state>/monitor/<model>/<name>.lock``: one monitoring run (or one retrain) of a model
    at a time, whatever process runs it."""
    model = config.registry.model_name
    folder = StatePaths.at(config.state_dir).create().root / "monitor" / model
    return folder_lock(folder, name, what=f"{what} of {model!r}", wait_s=wait_s)


def _one_monitor_at_a_time(config: DriftloopConfig,
                           work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``work`` holding the model's monitor lock; when the previous scheduled run still
    holds it, skip this one (its files or log rows are taken by the next run instead of being
    checked twice at once)."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(_model_lock(config, "monitor", "a monitoring run"))
        except FolderBusyError as exc:
            logging.getLogger(__name__).warning("skipped this monitoring run: %s", exc)
            return {"skipped": str(exc), "retrain": False, "event": None}
        return work()


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


def production_source(config: DriftloopConfig) -> str:
    """``"folder"`` or ``"prediction_log"``: the production sources; anything else is an error."""
    if isinstance(config.source, PredictionLogSourceConfig):
        return "prediction_log"
    return _folder_config(config).kind


def tracking_uri(config: DriftloopConfig) -> str:
    """``MLFLOW_TRACKING_URI`` when set (a tracking server), else the state folder's store."""
    return settings_tracking_uri(config.state_dir)


def _training_rows(config: DriftloopConfig) -> tuple[pd.DataFrame, np.ndarray, Task] | str:
    """The newest labelled rows of the production source (drop folder or prediction log), or
    why there are none."""
    n = config.training.recent_rows + config.training.holdout_rows
    if isinstance(config.source, PredictionLogSourceConfig):
        log_source = PredictionLogSource(config.source)
        try:
            history, target = log_source.history(n), log_source.target
            if history.empty:
                return "the prediction log has no labelled rows yet"
            task: Task = log_source.task
        finally:
            log_source.close()
        drop = [target]
    else:
        source = DropFolderSource(_folder_config(config))
        history, target = source.history(n), source.target
        if history.empty or target not in history.columns:
            return "the drop folder has no processed rows yet"
        task = source.task
        drop = [c for c in (target, source.config.timestamp) if c]
    return history.drop(columns=drop), history[target].to_numpy(), task


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
    with _model_lock(config, "retrain", "a retrain", wait_s=RETRAIN_LOCK_WAIT_S):
        return _retrain(config, reasons, window, row)


def _retrain(config: DriftloopConfig, reasons: str, window: Any, row: Any) -> dict[str, Any]:
    rows = _training_rows(config)
    if isinstance(rows, str):
        return {"status": "deferred", "version": None, "reasons": reasons, "reason": rows}
    X, y, task = rows
    paths = StatePaths.at(config.state_dir).create()
    registry = ModelRegistry(tracking_uri(config), paths.artifacts, config.registry)
    champion = registry.load_model("champion") if registry.champion() is not None else None
    buffer, reservoir = make_memory(config.training)
    buffer.add(X, y)
    trained = retrain(make_model(config.model, task), champion, buffer, reservoir, config, None)
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
def monitor(config_path: str | None = None) -> dict[str, Any]:
    """The scheduled monitoring flow for the config's production source: the prediction log
    (:func:`monitor_prediction_log`) when ``source.kind`` is ``prediction_log``, else the drop
    folder (:func:`monitor_drop_folder`). The ``driftloop-monitor`` deployment runs it, so one
    deployment spec serves both."""
    config = load_config(Path(config_path) if config_path else None)
    if production_source(config) == "prediction_log":
        return _one_monitor_at_a_time(config, lambda: _check_prediction_log(config))
    return _one_monitor_at_a_time(config, lambda: _check_drop_folder(config, config_path))


@flow(name="driftloop-monitor-folder")
def monitor_drop_folder(config_path: str | None = None) -> dict[str, Any]:
    """Check the files dropped since the last run; emit a drift event when a retrain is due.

    Returns ``{"files", "rows", "windows", "retrain", "reasons", "event", ...}``, or
    ``{"skipped": why, ...}`` when the previous run of this monitor is still working.
    """
    config = load_config(Path(config_path) if config_path else None)
    return _one_monitor_at_a_time(config, lambda: _check_drop_folder(config, config_path))


def _check_drop_folder(config: DriftloopConfig, config_path: str | None) -> dict[str, Any]:
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
    frame = pending.frame
    drop = [c for c in (source.target, source.config.timestamp) if c]
    known = [str(r.get("sha256") or r.get("name")) for r in source.records]
    summary.update(_scan_and_signal(
        config, registry, frame.drop(columns=drop), frame[source.target].to_numpy(),
        {"files": files}, paths.root, position=_position(known),
        next_position=_position([*known, *(f.sha256 for f in pending.files)])))
    source.commit(pending.files)
    return summary


def _position(keys: list[str]) -> str:
    """A short fingerprint of what a monitor has committed (the files of its ledger)."""
    return "files:" + hashlib.sha256("\n".join(sorted(set(keys))).encode()).hexdigest()[:16]


@flow(name="driftloop-monitor-predictions")
def monitor_prediction_log(config_path: str | None = None) -> dict[str, Any]:
    """Check what the prediction service served (and got labels for) since the last run; emit
    a drift event when a retrain is due.

    The rows are the champion predictions of the prediction log after the offset stored in
    ``<state>/prediction_log_offsets.json`` (``source.label_wait_s`` holds back rows whose label
    may still come); the labelled ones go through the checks against the champion, and the
    offset moves past them once the run has done its work. Returns ``{"rows", "labelled",
    "after_seq", "last_seq", "windows", "retrain", "reasons", "event", ...}``, or
    ``{"skipped": why, ...}`` when the previous run of this monitor is still working.
    """
    config = load_config(Path(config_path) if config_path else None)
    return _one_monitor_at_a_time(config, lambda: _check_prediction_log(config))


def _check_prediction_log(config: DriftloopConfig) -> dict[str, Any]:
    if not isinstance(config.source, PredictionLogSourceConfig):
        raise ConfigError(f"monitor_prediction_log reads a prediction log, but source.kind is "
                          f"{config.source.kind!r}. Set source: {{kind: prediction_log, uri: "
                          "sqlite:////abs/path/.driftloop/predictions.db}.")
    paths = StatePaths.at(config.state_dir).create()
    offsets = LogOffsets(paths.root / "prediction_log_offsets.json")
    key = offsets.key(config.source.uri, config.source.model_name)
    after = max(config.source.after_seq, offsets.get(key))
    source = PredictionLogSource(config.source.model_copy(update={"after_seq": after}))
    try:
        batches = list(source.batches(config.window.size))
    finally:
        source.close()
    summary: dict[str, Any] = {"rows": sum(len(b) for b in batches), "labelled": 0,
                               "after_seq": after, "last_seq": source.last_seq, "windows": 0,
                               "retrain": False, "reasons": [], "event": None}
    if not batches:
        return summary
    X = pd.concat([b.features for b in batches])
    y = pd.concat([b.target for b in batches if b.target is not None])
    labelled = y.notna().to_numpy()
    summary["labelled"] = int(labelled.sum())
    registry = ModelRegistry(tracking_uri(config), paths.artifacts, config.registry)
    if registry.champion() is not None and labelled.any():
        summary.update(_scan_and_signal(
            config, registry, X[labelled].reset_index(drop=True), y[labelled].to_numpy(),
            {"after_seq": after, "last_seq": source.last_seq}, paths.root,
            position=f"seq:{after}", next_position=f"seq:{source.last_seq}"))
    offsets.set(key, source.last_seq)
    return summary


def _scan_and_signal(config: DriftloopConfig, registry: ModelRegistry, X: pd.DataFrame,
                     y: np.ndarray, extra: dict[str, Any], state_root: Path, *,
                     position: str, next_position: str) -> dict[str, Any]:
    """Put labelled rows through the checks against the champion; alert and emit the drift
    event when the decision is to retrain.

    The detector and the decision continue from the previous run (a checkpoint under
    ``<state>/monitor/<model>/``) when it ended exactly at ``position`` with the same
    champion; the state after this run is saved for ``next_position`` once the drift event
    (if any) is confirmed by the Prefect API, before the caller commits the position. A crash
    in between leaves a saved state that matches no committed position: it is then not used,
    so no row is counted twice by the detector. An event the API does not confirm raises
    :class:`flows.events.EventDeliveryError`: nothing is saved or committed, and the next run
    checks the same rows again from the state this one started from.
    """
    model = config.registry.model_name
    info = registry.version_info("champion")
    store = CheckpointStore(state_root / "monitor" / model)
    carry: ScanCarry | None = None
    try:
        saved = store.load()
    except CheckpointError as exc:
        logging.getLogger(__name__).warning("ignoring the monitor state: %s", exc)
        saved = None
    if saved is not None:
        meta, state = saved
        if (meta.get("champion_version") == info["version"] and meta.get("position") == position
                and isinstance(state, ScanCarry)):
            carry = state
    baseline = float(info["tags"].get("driftloop.gate.challenger_score", "nan"))
    champion = registry.load_model("champion")
    try:
        profile = load_profile(registry, "champion", state_root / "profiles" / "champion")
    except (RegistryError, DriftCheckError):  # a champion without a profile: no data-drift check
        profile = None
    dd = config.data_drift
    result = scan_rows(X, y, champion.predict, task=champion.task,
                       baseline_score=baseline, window_size=config.window.size,
                       decision=config.decision, concept_drift=config.concept_drift,
                       profile=profile, drift_method=dd.method, drift_threshold=dd.threshold,
                       drift_share=dd.drift_share, carry=carry)
    summary: dict[str, Any] = {"windows": len(result.windows), "retrain": result.retrain,
                               "continued": carry is not None,
                               "reasons": list(result.reasons), "event": None,
                               "champion_version": info["version"],
                               "window_summaries": result.windows}
    if result.retrain and result.window is not None and result.decision is not None:
        shown = {k: ", ".join(v) if isinstance(v, list) else v for k, v in extra.items()}
        alert_drift(Alerter.from_config(config.alerts, state_root), config, result.decision,
                     {"window": result.window.index, "row": result.window.end,
                      "trigger": "scheduled-monitoring", **shown})
        event = emit_drift_event(model, result.reasons, window=result.window.index,
                                 row=result.window.end, kind=result.kind,
                                 extra={**extra, "champion_version": info["version"]})
        summary["event"] = None if event is None else str(event.id)
    # only now: an event that was not delivered raised above, and the next run starts again
    # from the state this one started from
    if result.carry is not None:
        store.save(result.carry, {"champion_version": info["version"],
                                  "position": next_position})
    return summary


def serve_production(config_path: str | None = None, *, interval_s: float | None = 3600,
                     cron: str | None = None) -> None:  # pragma: no cover - blocks
    """Serve the monitoring deployment (every ``interval_s`` seconds, or on ``cron``) and the
    retraining deployment (started by each drift event of the config's model), in this
    process, until interrupted. ``deploy/prefect.yaml`` describes the same two deployments
    for ``prefect deploy`` with a worker."""
    from prefect import serve

    config = load_config(Path(config_path) if config_path else None)
    production_source(config)  # refuse a config without a production source now
    path = str(Path(config_path).resolve()) if config_path else None
    model = config.registry.model_name
    schedule: dict[str, Any] = {"cron": cron} if cron else {"interval": interval_s}
    monitoring = monitor.to_deployment(name=MONITOR_DEPLOYMENT,
                                       parameters={"config_path": path}, **schedule)
    retraining = retrain_on_event.to_deployment(
        name=RETRAIN_DEPLOYMENT, triggers=[retrain_trigger(model, config_path=path)],
        parameters={"model": model, "config_path": path})
    serve(cast("RunnerDeployment", monitoring), cast("RunnerDeployment", retraining))


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
