"""The ``pipeline`` flow: a whole stream through the closed loop.

stream -> window -> checks -> decision -> retrain -> gate -> register -> (champion serves)

The flow only orchestrates: every step is a call into :mod:`monitors` or :mod:`models`,
wrapped as a Prefect task so the run shows up step by step in Prefect. The same loop runs
without Prefect (``run_stream(..., steps=PLAIN_STEPS)``) so its overhead can be measured.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple, cast

from prefect import Task, flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.config import ConfigError, DriftloopConfig
from flows.settings import StatePaths
from flows.summary import RunRecorder, plot_accuracy, render_table, write_json
from models.base import DriftModel
from models.buffers import LabelledBuffer, Reservoir
from models.families import make_model
from models.gate import GateResult, evaluate_gate
from models.registry import ModelRegistry, RegisteredVersion, RegistryReader, mask_uri
from models.training import (
    NotEnoughDataError,
    TrainingSet,
    build_training_set,
    make_memory,
    train_challenger,
)
from monitors.alerts import Alerter
from monitors.checkpoint import CheckpointStore, folder_lock, write_atomic
from monitors.data_drift import DriftWorkspace
from monitors.decision import Decision
from monitors.drift_engine import ReferenceProfile
from monitors.errors import ValidationError
from monitors.labels import LabelledRows
from monitors.monitor import WindowMonitor, WindowReport
from monitors.sources import make_source, write_json_atomic
from monitors.stream import Batch, CountWindower, split_stream
from monitors.validation import Schema

_TASK: dict[str, Any] = {"cache_policy": NO_CACHE, "persist_result": False}


def _log() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    try:
        return get_run_logger()
    except Exception:  # outside a Prefect run
        return logging.getLogger("driftloop")


# -- steps (each a thin call into the libraries) -------------------------------------------

@task(name="monitor-window", **_TASK)
def monitor_window(monitor: WindowMonitor, window: Any, batch: Batch,
                   champion: DriftModel, version: int | None = None) -> WindowReport:
    """Validate, serve, join labels, check concept and data drift, decide."""
    return monitor.observe(window, batch, champion.predict,
                           values={"champion_version": version})


@task(name="learn-from-labels", **_TASK)
def learn_from_labels(buffer: LabelledBuffer, champion: DriftModel,
                      labelled: LabelledRows) -> None:
    """Labelled rows go to the training buffer; online models also learn from them."""
    if not len(labelled):
        return
    buffer.add(labelled.features, labelled.y)
    if getattr(champion, "learns_online", False):
        champion.update(labelled.features, labelled.y)


@task(name="retrain", **_TASK)
def retrain(template: DriftModel, champion: DriftModel | None, buffer: LabelledBuffer,
            reservoir: Reservoir, config: DriftloopConfig,
            since_row: int | None) -> tuple[DriftModel, TrainingSet] | str:
    """Train a challenger on the recent labelled rows plus the replay sample.

    Returns the reason instead when there are not enough labelled rows yet: the retrain is
    deferred and the decision stays pending until the next window.
    """
    try:
        ts = build_training_set(buffer, reservoir, config.training, since_row=since_row)
    except NotEnoughDataError as e:
        return str(e)
    return train_challenger(template, champion, ts, config.training), ts


@task(name="register", retries=2, retry_delay_seconds=2, **_TASK)
def register(registry: ModelRegistry, challenger: DriftModel, ts: TrainingSet,
             config: DriftloopConfig, context: dict[str, Any],
             report_html: Path | None) -> RegisteredVersion:
    """Log the training run to MLflow and register the challenger."""
    params: dict[str, Any] = {
        "family": config.model.family, "estimator": config.model.estimator_name(challenger.task),
        "strategy": config.training.strategy, "recent_rows": config.training.recent_rows,
        "replay_size": config.training.replay_size, "holdout_rows": config.training.holdout_rows,
        "detector": config.concept_drift.detector, "window_size": config.window.size,
        "n_train": len(ts.y_train), "n_replay": ts.n_replay, "n_holdout": len(ts.y_holdout),
    }
    return registry.log_training(
        challenger, X_example=ts.X_train.head(5), params=params,
        metrics={"n_train": float(len(ts.y_train)), "n_replay": float(ts.n_replay)},
        drift_context=context, report_html=report_html,
        run_name=f"train-{context.get('trigger')}-row{context.get('row')}",
    )


@task(name="gate-and-promote", retries=2, retry_delay_seconds=2, **_TASK)
def gate_and_promote(registry: ModelRegistry, version: RegisteredVersion,
                     champion: DriftModel | None, challenger: DriftModel, ts: TrainingSet,
                     config: DriftloopConfig,
                     champion_predictions: Any = None) -> GateResult:
    """Challenger vs champion on the most recent labelled holdout; promote if better.

    An online champion is scored on what it served for the holdout rows (it has learnt them
    since), see :func:`models.gate.evaluate_gate`.
    """
    gate = evaluate_gate(champion, challenger, ts.X_holdout, ts.y_holdout, config.gate,
                         champion_predictions=champion_predictions)
    registry.record_gate(version.version, gate.champion_score, gate.challenger_score,
                         gate.promoted, gate.reason)
    if gate.promoted:
        registry.promote(version.version, gate.reason, by="driftloop gate")
    return gate


def _without_secrets(section: dict[str, Any]) -> dict[str, Any]:
    """A config section for the run summary, with the password of any URI in it masked."""
    return {k: mask_uri(v) if isinstance(v, str) else v for k, v in section.items()}


@task(name="checkpoint-online-champion", retries=2, retry_delay_seconds=2, **_TASK)
def checkpoint_online_champion(registry: ModelRegistry, champion: DriftModel,
                               X_example: Any, config: DriftloopConfig,
                               context: dict[str, Any], reason: str) -> RegisteredVersion:
    """Register what an online champion has learnt since its last version and move
    ``champion`` to it, so the served alias is the model that is really serving."""
    version = registry.log_training(
        champion, X_example=X_example,
        params={"family": config.model.family,
                "estimator": config.model.estimator_name(champion.task),
                "strategy": "online"},
        metrics={}, drift_context=context, report_html=None,
        run_name=f"checkpoint-row{context.get('row')}",
    )
    registry.promote(version.version, reason, by="driftloop online checkpoint")
    return version


class Steps(NamedTuple):
    monitor_window: Callable[..., WindowReport]
    learn_from_labels: Callable[..., None]
    retrain: Callable[..., tuple[DriftModel, TrainingSet] | str]
    register: Callable[..., RegisteredVersion]
    gate_and_promote: Callable[..., GateResult]
    checkpoint_online_champion: Callable[..., RegisteredVersion]


PREFECT_STEPS = Steps(monitor_window, learn_from_labels, retrain, register, gate_and_promote,
                      checkpoint_online_champion)
PLAIN_STEPS = Steps(*(cast(Task[..., Any], t).fn for t in PREFECT_STEPS))


# -- the loop --------------------------------------------------------------------------------

@dataclass
class _Serving:
    model: DriftModel | None = None
    version: int | None = None
    #: labelled rows an online champion has learnt since its version was registered
    learnt_since_version: int = 0

    @property
    def online(self) -> bool:
        return bool(getattr(self.model, "learns_online", False))


def _checkpoint(steps: Steps, registry: ModelRegistry, serving: _Serving,
                recorder: RunRecorder, config: DriftloopConfig, X_example: Any, row: int,
                why: str, run_id: str | None = None) -> None:
    """An online champion that has learnt since its version: register its current state."""
    if not (serving.online and serving.learnt_since_version and serving.model is not None):
        return
    reason = (f"online champion v{serving.version} checkpointed at row {row} after learning "
              f"{serving.learnt_since_version} labelled rows ({why})")
    context: dict[str, Any] = {"trigger": "online-checkpoint", "kind": "online-checkpoint",
                               "row": row, "method": "online",
                               "previous_version": serving.version}
    if run_id is not None:
        context["step_key"] = f"{run_id}:online:{row}"
    existing = (registry.find_by_drift_context("step_key", context["step_key"])
                if "step_key" in context else None)
    if existing is not None:  # registered before a crash: promote it (idempotent), not again
        registry.promote(existing.version, reason, by="driftloop online checkpoint")
        version = existing
    else:
        version = steps.checkpoint_online_champion(registry, serving.model, X_example, config,
                                                   context, reason)
    recorder.add_checkpoint(row=row, version=version, previous=serving.version, reason=reason)
    serving.version, serving.learnt_since_version = version.version, 0


def _dashboard_event(monitor: WindowMonitor, kind: Literal["retrain", "promotion"],
                     value: float, window: int | None) -> None:
    """A retrain or promotion on the Evidently dashboard (when snapshots are kept)."""
    if monitor.workspace is None:
        return
    try:
        monitor.workspace.add_event(kind, value)
    except Exception as e:  # the dashboard never stops the loop
        _log().warning("could not store the %s event for window %s: %s", kind, window, e)


def _retrain_cycle(*, steps: Steps, config: DriftloopConfig, registry: ModelRegistry,
                   monitor: WindowMonitor, template: DriftModel, serving: _Serving,
                   buffer: LabelledBuffer, reservoir: Reservoir, recorder: RunRecorder,
                   row: int, window: int | None, since_row: int | None,
                   context: dict[str, Any], reasons: list[str],
                   out_dir: Path, run_id: str | None = None) -> GateResult | str:
    trained = steps.retrain(template, serving.model, buffer, reservoir, config, since_row)
    _failpoint("training")
    if isinstance(trained, str):  # not enough labelled rows yet: deferred
        if serving.model is None:
            raise ConfigError(f"Cannot train the first model on the warm-up rows: {trained} "
                              "Raise window.warmup_rows.")
        recorder.defer(window, trained)
        return trained
    challenger, ts = trained
    html = None
    trigger_row = context.get("row")
    result = monitor.result_for_row(int(trigger_row)) if trigger_row is not None else None
    if result is not None and monitor.workspace is not None:
        html = monitor.workspace.save_html(result, out_dir / "reports" / f"window-{result.window.index}.html")
    key = context.get("step_key")
    existing = registry.find_by_drift_context("step_key", key) if key else None
    if existing is not None:  # registered before a crash interrupted this step: not twice
        version, challenger = existing, registry.load_model(existing.version)
    else:
        version = steps.register(registry, challenger, ts, config, context, html)
    _failpoint("registration")
    served = None
    if serving.online:
        served = monitor.served_predictions(ts.X_holdout.index.to_numpy())
    gate = steps.gate_and_promote(registry, version, serving.model, challenger, ts, config,
                                  served)
    _failpoint("promotion")
    recorder.add_retrain(row=row, window=window, version=version, gate=gate,
                         champion_version=serving.version, trigger=context,
                         n_train=len(ts.y_train), n_replay=ts.n_replay, reasons=reasons)
    monitor.on_retrain(row)
    _dashboard_event(monitor, "retrain", 1, window)
    if gate.promoted:
        _dashboard_event(monitor, "promotion", version.version, window)
        serving.model, serving.version = challenger, version.version
        serving.learnt_since_version = 0
        drift_start = since_row if context.get("kind") not in ("initial", "refresh") else None
        monitor.on_promotion(ts.X_train, challenger.predict(ts.X_train),
                             gate.challenger_score, row, trained_since=drift_start)
        store_profile(registry, monitor, version.version, out_dir)
    else:
        _checkpoint(steps, registry, serving, recorder, config, ts.X_holdout.head(5), row,
                    "kept by the gate", run_id=run_id)
    return gate


def alert_drift(alerter: Alerter, config: DriftloopConfig, decision: Decision,
                 context: dict[str, Any]) -> None:
    """Drift that leads to a retrain: a warning (a refresh retrain is routine, not drift)."""
    trig = decision.trigger
    if trig is None or trig.kind == "refresh":
        return
    model = config.registry.model_name
    try:
        alerter.alert(model=model, kind=trig.kind, severity="warning",
                      title=f"{trig.kind} drift on {model} at row {trig.row}: retraining",
                      reasons=decision.reasons, window=context.get("window"), row=trig.row,
                      details=context)
    except Exception as e:  # alerting never stops the loop
        _log().warning("could not raise the drift alert: %s", e)


def alert_promotion(alerter: Alerter, config: DriftloopConfig, result: GateResult | str,
                     version: int | None, previous: int | None,
                     context: dict[str, Any]) -> None:
    """Each promotion (the gate moved ``champion``): an info alert."""
    if isinstance(result, str) or not result.promoted or version == previous:
        return
    model = config.registry.model_name
    try:
        alerter.alert(model=model, kind="promotion", severity="info",
                      title=f"{model} v{version} promoted to champion"
                            + (f" (was v{previous})" if previous is not None else ""),
                      reasons=(result.reason,), window=context.get("window"),
                      row=context.get("row"),
                      details={"version": version, "previous_version": previous,
                               "trigger": context.get("trigger"), **result.to_dict()})
    except Exception as e:  # alerting never stops the loop
        _log().warning("could not raise the promotion alert: %s", e)


#: Where a promoted version's data-drift reference profile is stored in its MLflow run.
PROFILE_ARTIFACT = "drift_profile"
PROFILE_FILE = "reference_profile.zip"


def store_profile(registry: ModelRegistry, monitor: WindowMonitor, version: int,
                  out_dir: Path) -> str | None:
    """Store the drift reference profile the monitor just fitted for a promoted ``version``
    with that version (artifact ``drift_profile/reference_profile.zip``)."""
    profile = getattr(monitor.data_drift, "profile_", None)
    if profile is None:  # engine="evidently" keeps no profile
        return None
    return save_profile(registry, profile, version, out_dir)


def save_profile(registry: ModelRegistry, profile: ReferenceProfile, version: int,
                 folder: Path) -> str:
    """Write ``profile`` under ``folder/profiles/v<version>/`` and log it with ``version``."""
    path = profile.save(folder / "profiles" / f"v{version}" / PROFILE_FILE)
    return registry.log_version_artifact(version, path, PROFILE_ARTIFACT)


def load_profile(registry: RegistryReader, version: int | str, dst: Path | str) -> ReferenceProfile:
    """The data-drift reference profile stored with a version (or alias such as ``"champion"``)."""
    folder = registry.download_version_artifact(version, PROFILE_ARTIFACT, dst)
    return ReferenceProfile.load(folder / PROFILE_FILE)


#: Environment variable naming a failpoint, ``<step>:<n>``: the process kills itself (SIGKILL)
#: the n-th time it passes that step. For the crash tests; unset in normal runs.
#: Steps: ingest, drift_check, training, registration, promotion, checkpoint.
FAILPOINT_ENV = "DRIFTLOOP_FAILPOINT"
_failpoint_hits: dict[str, int] = {}


def _failpoint(step: str) -> None:
    """Die here (SIGKILL, no clean-up) when ``$DRIFTLOOP_FAILPOINT`` says so."""
    spec = os.environ.get(FAILPOINT_ENV)
    if not spec:
        return
    name, _, nth = spec.partition(":")
    if name != step:
        return
    _failpoint_hits[step] = _failpoint_hits.get(step, 0) + 1
    if _failpoint_hits[step] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def config_fingerprint(config: DriftloopConfig) -> str:
    """A hash of everything in the config that changes what a run computes."""
    data = config.model_dump(mode="json")
    data.pop("state_dir", None)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class _LoopState:
    """Everything a run needs to continue after its last complete window."""

    run_id: str
    rows: int
    monitor: WindowMonitor
    buffer: LabelledBuffer
    reservoir: Reservoir
    serving: _Serving
    recorder: RunRecorder
    X_example: Any
    elapsed_s: float = 0.0
    #: size of the quarantine file when the state was saved: a resumed run cuts it back to
    #: this, so the rows of the window it processes again are not quarantined twice
    quarantine_bytes: int = 0
    #: how many checkpoints the run has saved; the snapshot journal's entries up to this one
    #: are done (a resumed run removes the other snapshots: the interrupted window's, which
    #: it stores again)
    checkpoint_seq: int = 0


class _SnapshotJournal:
    """``<state>/checkpoint/snapshots.log``: the ids of the Evidently snapshots a run stored,
    one line each, with the number of the checkpoint that made them done.

    Each checkpoint appends the ids stored since the previous one (fsynced before the
    checkpoint itself is written), so neither the checkpoint nor the work per window grows
    with the number of windows. A resume keeps the entries up to its checkpoint's number.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, seq: int, ids: list[str]) -> None:
        if not ids:
            return
        with self.path.open("a", encoding="utf-8") as fh:
            fh.writelines(f"{seq} {sid}\n" for sid in ids)
            fh.flush()
            os.fsync(fh.fileno())

    def _entries(self) -> list[tuple[int, str]]:
        if not self.path.is_file():
            return []
        entries = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            seq, _, sid = line.partition(" ")
            if seq.isdigit() and sid:  # a line torn by a crash mid-append is not an entry
                entries.append((int(seq), sid))
        return entries

    def rewind(self, upto: int) -> set[str]:
        """Keep the entries of checkpoints up to ``upto``; return their ids."""
        kept = [(seq, sid) for seq, sid in self._entries() if seq <= upto]
        write_atomic(self.path, "".join(f"{seq} {sid}\n" for seq, sid in kept).encode())
        return {sid for _, sid in kept}


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else 0


def _side_effects(quarantine: Path, workspace: DriftWorkspace | None) -> dict[str, Any]:
    """What is in the state folder when a run starts: the quarantine file's size and the
    Evidently snapshots stored before it."""
    return {"quarantine_bytes": _size(quarantine),
            "snapshot_ids": tuple(workspace.snapshot_ids()) if workspace is not None else ()}


def _undo_side_effects(quarantine: Path, workspace: DriftWorkspace | None,
                       quarantine_bytes: int, done: set[str]) -> None:
    """Undo what the interrupted step wrote after the checkpoint: cut the quarantine file back
    and remove the snapshots not in ``done``, which the resumed run stores again."""
    if _size(quarantine) > quarantine_bytes:
        with quarantine.open("r+b") as fh:
            fh.truncate(quarantine_bytes)
    if workspace is not None:
        for snapshot_id in set(workspace.snapshot_ids()) - done:
            workspace.delete_snapshot(snapshot_id)


def _save_state(store: CheckpointStore, state: _LoopState, quarantine: Path,
                journal: _SnapshotJournal) -> None:
    state.checkpoint_seq += 1
    state.quarantine_bytes = _size(quarantine)
    if state.monitor.workspace is not None:
        journal.record(state.checkpoint_seq, state.monitor.workspace.take_added())
    store.save(state, {"run_id": state.run_id, "rows": state.rows})
    _failpoint("checkpoint")


def _read_run(path: Path) -> dict[str, Any] | None:
    """The run the state folder holds (id, config fingerprint, done), or None."""
    if not path.is_file():
        return None
    try:
        run = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is damaged ({exc}); run without --resume to start over.") \
            from exc
    return run if isinstance(run, dict) and "run_id" in run else None


def _resumed_state(store: CheckpointStore, run_id: str) -> _LoopState | None:
    """The checkpointed state of run ``run_id`` to continue from, or None (the run was
    interrupted before its first checkpoint: it starts from the beginning, same run id)."""
    loaded = store.load()
    if loaded is None:
        _log().info("no checkpoint in %s: starting from the beginning", store.folder)
        return None
    meta, state = loaded
    if meta.get("run_id") != run_id or not isinstance(state, _LoopState):
        raise ConfigError(f"The checkpoint in {store.folder} is not the state of run {run_id}; "
                          "run without --resume to start over.")
    if "checkpoint_seq" not in vars(state):  # before the snapshot journal: not resumable
        raise ConfigError(f"The checkpoint in {store.folder} was written by an older driftloop "
                          "that kept its snapshots another way; run without --resume to start "
                          "over.")
    _log().info("resuming run %s after row %s", state.run_id, state.rows)
    return state


def run_stream(config: DriftloopConfig, out_dir: str | Path,
               steps: Steps = PLAIN_STEPS, *, resume: bool = False) -> dict[str, Any]:
    """Run a whole stream through the loop and return the JSON summary.

    After the first model and after every window the loop's state is checkpointed atomically
    under ``<state>/checkpoint/``. With ``resume=True`` the run continues after its last
    complete window: windows already done are not processed again, and a version registered
    by a step the crash interrupted is found in the registry (by its step key) instead of
    being registered twice. Without ``resume`` a run starts over.

    One run at a time per state folder: a second one is refused with
    :class:`monitors.checkpoint.FolderBusyError` while the first holds ``<state>/run.lock``.
    """
    paths = StatePaths.at(config.state_dir).create()
    with folder_lock(paths.root, "run"):
        return _run_stream(config, out_dir, steps, resume=resume)


def _run_stream(config: DriftloopConfig, out_dir: str | Path, steps: Steps, *,
                resume: bool) -> dict[str, Any]:
    t_start = time.perf_counter()
    log = _log()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = StatePaths.at(config.state_dir).create()
    store = CheckpointStore(paths.root / "checkpoint")
    run_file = store.folder / "run.json"
    run = _read_run(run_file) if resume else None
    if run is not None and run.get("config") != config_fingerprint(config):
        raise ConfigError(
            f"The run to resume in {store.folder} was started with another configuration; "
            "resume with the same config file and options, or run without --resume.")
    if run is not None and run.get("done"):
        done = Path(run["summary"])
        if done.is_file():
            log.info("run %s is already complete; its summary is %s", run["run_id"], done)
            return cast(dict[str, Any], json.loads(done.read_text()))
    # snapshots off: no Evidently snapshot to store, so no workspace (it would reject them)
    workspace = (DriftWorkspace(paths.workspace, config.registry.model_name,
                                engine=config.data_drift.engine)
                 if config.data_drift.snapshots else None)
    quarantine = paths.quarantine / config.validation.quarantine_file
    journal = _SnapshotJournal(store.folder / "snapshots.log")
    state = _resumed_state(store, run["run_id"]) if run is not None else None
    if run is None:  # a fresh run: its id keys every registration it makes
        store.clear()
        journal.rewind(0)
        run = {"run_id": uuid.uuid4().hex[:12], "config": config_fingerprint(config),
               "done": False, **_side_effects(quarantine, workspace)}
        write_json_atomic(run_file, run)
    else:  # back to the last checkpoint (or to the start): the interrupted window is redone
        seq, kept_bytes = ((0, run["quarantine_bytes"]) if state is None
                           else (state.checkpoint_seq, state.quarantine_bytes))
        kept_ids = set(run["snapshot_ids"]) | journal.rewind(seq)
        _undo_side_effects(quarantine, workspace, kept_bytes, kept_ids)
    source = make_source(config.source)
    task_kind = source.task
    registry = ModelRegistry(paths.tracking_uri, paths.artifacts, config.registry)
    alerter = Alerter.from_config(config.alerts, paths.root)
    template = make_model(config.model, task_kind)
    history, rest = split_stream(source.batches(config.window.size), config.window.warmup_rows)
    _failpoint("ingest")

    if state is None:
        # 1. the labelled history trains the first champion
        buffer, reservoir = make_memory(config.training)
        recorder = RunRecorder(task=task_kind, target=source.target,
                               source=_without_secrets(config.source.model_dump(mode="json")),
                               true_drift_rows=tuple(source.true_drift_rows))
        schema = Schema.infer(history.features, categorical=tuple(source.categorical_features),
                              numeric_text=0.99)
        monitor = WindowMonitor(
            task=task_kind, schema=schema, label_delay=source.label_delay,
            validation=config.validation, data_drift=config.data_drift,
            concept_drift=config.concept_drift, decision=config.decision,
            workspace=workspace, quarantine_dir=paths.quarantine,
        )
        checked = monitor.validator.validate(history)
        monitor.n_quarantined += checked.n_quarantined
        if checked.target is None:
            raise ValidationError(f"The first {history.end} rows train the first model and "
                                  f"need labels, but the stream has no target column "
                                  f"{source.target!r}.")
        buffer.add(checked.features, checked.target.to_numpy())
        state = _LoopState(run_id=run["run_id"], rows=history.end,
                           monitor=monitor, buffer=buffer, reservoir=reservoir,
                           serving=_Serving(), recorder=recorder,
                           X_example=history.features.head(5))
        initial = {"trigger": "initial", "row": history.end, "kind": "initial",
                   "method": "warmup", "window": None,
                   "step_key": f"{state.run_id}:initial:{history.end}"}
        first = _retrain_cycle(steps=steps, config=config, registry=registry, monitor=monitor,
                               template=template, serving=state.serving, buffer=buffer,
                               reservoir=reservoir, recorder=recorder, row=history.end,
                               window=None, since_row=None, context=initial,
                               reasons=[f"initial model on the first {history.end} labelled "
                                        "rows"], out_dir=out)
        alert_promotion(alerter, config, first, state.serving.version, None, initial)
        log.info("initial champion v%s trained on rows 0..%s", state.serving.version,
                 history.end)
        _save_state(store, state, quarantine, journal)
    monitor, buffer, reservoir = state.monitor, state.buffer, state.reservoir
    serving, recorder = state.serving, state.recorder

    # 2. windows (after a resume, those already done are skipped)
    for window, batch in CountWindower(config.window.size).windows(rest):
        if window.end <= state.rows:
            continue
        _failpoint("ingest")
        report = steps.monitor_window(monitor, window, batch, serving.model, serving.version)
        _failpoint("drift_check")
        steps.learn_from_labels(buffer, serving.model, report.labelled)
        if serving.online:
            serving.learnt_since_version += len(report.labelled)
        recorder.add_window(report, serving.version)
        decision: Decision = report.decision
        if decision.retrain and decision.trigger is not None:
            trig = decision.trigger
            context = {"trigger": trig.kind, "kind": trig.kind, "row": trig.row,
                       "method": trig.method, "since_row": trig.since_row,
                       "window": window.index, "window_start": window.start,
                       "window_end": window.end, "detector": config.concept_drift.detector,
                       "event_id": f"{trig.kind}-{trig.row}",
                       "step_key": f"{state.run_id}:retrain:{window.end}"}
            alert_drift(alerter, config, decision, context)
            previous = serving.version
            gate = _retrain_cycle(
                steps=steps, config=config, registry=registry, monitor=monitor,
                template=template, serving=serving, buffer=buffer, reservoir=reservoir,
                recorder=recorder, row=window.end, window=window.index,
                since_row=trig.since_row, context=context, reasons=list(decision.reasons),
                out_dir=out, run_id=state.run_id)
            alert_promotion(alerter, config, gate, serving.version, previous, context)
            if isinstance(gate, str):
                log.info("window %s: retrain deferred: %s", window.index, gate)
            else:
                log.info("window %s: retrained (%s at row %s) -> %s", window.index, trig.kind,
                         trig.row, "promoted" if gate.promoted else "kept champion")
        state.rows = window.end
        state.elapsed_s += time.perf_counter() - t_start
        t_start = time.perf_counter()
        _save_state(store, state, quarantine, journal)

    # 3. labels still in flight arrive after the end; the served champion is registered
    monitor.finish()
    _checkpoint(steps, registry, serving, recorder, config, state.X_example, state.rows,
                "end of stream", run_id=state.run_id)
    elapsed = state.elapsed_s + time.perf_counter() - t_start
    summary = recorder.to_dict(
        rows=state.rows, prequential=monitor.prequential.value, labelled=monitor.prequential.n,
        quarantined=monitor.n_quarantined, elapsed_s=round(elapsed, 2),
        extra={"model_name": config.registry.model_name, "champion_version": serving.version,
               "tracking_uri": paths.tracking_uri, "workspace": str(paths.workspace),
               "state_dir": str(paths.root), "alerts_store": str(alerter.store.path),
               "run_id": state.run_id},
    )
    write_json(summary, out / "summary.json")
    plot_accuracy(summary, out / "accuracy.png")
    (out / "summary.txt").write_text(render_table(summary) + "\n")
    write_json_atomic(run_file, {**run, "done": True,
                                 "summary": str((out / "summary.json").resolve())})
    store.clear()
    return summary


@flow(name="driftloop-pipeline", log_prints=False)
def pipeline(config: DriftloopConfig, out_dir: str, resume: bool = False) -> dict[str, Any]:
    """Prefect flow: run a whole stream through the closed loop (see :func:`run_stream`)."""
    return run_stream(config, out_dir, steps=PREFECT_STEPS, resume=resume)
