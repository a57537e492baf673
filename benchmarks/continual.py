"""Continual-learning accuracy: driftloop's strategies against River's online learners and batch
baselines, prequential (test-then-train), in one run.

Protocol
--------
- Streams (``<repo>/../shared/data``; a missing file skips its stream with a message):
  ``elec2.csv`` (target ``class``; the ``date`` column, a normalised timestamp, is dropped as
  is usual), ``weather.csv`` (``target``), ``insects_gradual_balanced.csv`` (``class``) and
  ``sea_drift.csv`` (``class``, synthetic, drifts at 12,500 / 25,000 / 37,500).
- Every method learns the first ``warmup_rows`` (2,000) rows as labelled history; every later
  row is scored once, with the model as it was when the row was served, then learnt when its
  label arrives. Accuracies are over exactly the same rows for every method.
- Label delay: ``0`` (a row's label arrives before the next row) and ``500`` rows (the label of
  row ``r`` is usable from row ``r + 501`` on; driftloop's ``label_delay`` semantics).
- driftloop (``flows.pipeline.run_stream``, no Prefect, real MLflow/Evidently/River, each run
  in its own state folder): 1,000-row windows, so a served window is predicted by the
  champion of the window start and its labels come in at the window end; ``data_drift.
  snapshots`` off; default decision, training and gate settings. Configs: window retrain
  (scikit-learn HistGradientBoosting refit, no replay), the same with the replay buffer
  (500-row reservoir, 20 %), PyTorch MLP fine-tune, River online (ARF; the family default,
  Hoeffding adaptive tree, with ``--extended``), and the best combination found in pilot runs
  on Elec2 (River ARF with 250-row windows).
- Baselines: a static HistGradientBoosting model trained on the warm-up rows; periodic
  retraining every ``periodic_every`` (1,000) rows on the newest ``recent_rows`` (2,000)
  labelled rows (both with driftloop's own scikit-learn model wrapper); River
  ``NoChangeClassifier`` ("predict the last label"), ``HoeffdingAdaptiveTreeClassifier``,
  ``ARFClassifier``, ``ALMAClassifier`` (standard-scaled; one-vs-rest on multi-class),
  ``LeveragingBaggingClassifier`` and ``SRPClassifier``, learning row by row, and ARF fed
  its labels per 1,000-row window as driftloop does (Elec2). All seeds 0.
- To keep the default run near 15 minutes on two cores, the slow extras run only with
  ``--extended`` (see ``Method.extended`` in :data:`METHODS`): SRP, driftloop's River HAT,
  LeveragingBagging on INSECTS, the best combination beyond Elec2, SEA at delay 500.
- Wall and CPU time per method and stream, including driftloop's MLflow logging and Evidently
  checks; jobs run two at a time (one per core), each limited to one thread.

Run ``python -m benchmarks.continual [--quick] [--extended] [--out DIR]``; ``--quick`` runs a
3,000-row synthetic SEA stream with a few methods (a smoke run, not a measurement).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import multiprocessing
import os
import platform
import sys
import tempfile
import time
import traceback
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
DEFAULT_OUT = REPO / "benchmarks" / "results"

#: Telemetry off for every tool in the stack (set only where the user has not said otherwise).
TELEMETRY_OFF = {
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "EVIDENTLY_DISABLE_TELEMETRY": "1",
}

Group = Literal["driftloop", "river", "batch"]

# -- what is measured ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Stream:
    """A data set replayed as a stream: its file, target and the columns left out."""

    name: str
    file: str
    target: str
    drop: tuple[str, ...] = ()
    true_drift_rows: tuple[int, ...] = ()
    real: bool = True
    note: str = ""
    #: label delays this stream runs at only with ``extended``
    extended_delays: tuple[int, ...] = ()
    #: relative cost per row (features, classes), to schedule the longest jobs first
    cost: float = 1.0


STREAMS: tuple[Stream, ...] = (
    Stream("elec2", "elec2.csv", "class", drop=("date",),
           note="`date` (a normalised timestamp) dropped"),
    Stream("weather", "weather.csv", "target", cost=1.2),
    Stream("insects-gradual", "insects_gradual_balanced.csv", "class", cost=2.5),
    Stream("sea-drift", "sea_drift.csv", "class", true_drift_rows=(12_500, 25_000, 37_500),
           real=False, note="synthetic, abrupt drifts at 12,500 / 25,000 / 37,500",
           extended_delays=(500,), cost=0.8),
)


@dataclass(frozen=True)
class Protocol:
    """The evaluation settings shared by every method."""

    warmup_rows: int = 2000
    window: int = 1000
    delays: tuple[int, ...] = (0, 500)
    periodic_every: int = 1000
    recent_rows: int = 2000
    seed: int = 0


@dataclass(frozen=True)
class Method:
    """One competitor: how it runs (``kind``) and with what (``spec``).

    ``delays`` / ``streams`` restrict where it runs (None: everywhere); ``extended`` says
    where it runs only in the extended run (True: everywhere, or a tuple of streams). ``cost``
    is CPU seconds per 1,000 rows as measured on Elec2, used only to start the longest jobs
    first.
    """

    key: str
    label: str
    group: Group
    kind: Literal["driftloop", "river", "static", "periodic"]
    spec: dict[str, Any] = field(default_factory=dict)
    learns: str = ""
    delays: tuple[int, ...] | None = None
    streams: tuple[str, ...] | None = None
    extended: bool | tuple[str, ...] = False
    cost: float = 1.0
    quick: Literal["", "first-delay", "all-delays"] = ""


REAL = tuple(s.name for s in STREAMS if s.real)

METHODS: tuple[Method, ...] = (
    # driftloop, through the real loop
    Method("dl-refit", "driftloop: window retrain (sklearn refit, no replay)", "driftloop",
           "driftloop", {"model": {"family": "sklearn"},
                         "training": {"strategy": "refit", "replay_size": 0}},
           "retrain on drift", cost=0.6, quick="first-delay"),
    Method("dl-replay", "driftloop: window retrain + replay (sklearn refit)", "driftloop",
           "driftloop", {"model": {"family": "sklearn"}, "training": {"strategy": "refit"}},
           "retrain on drift", cost=0.6),
    Method("dl-torch-ft", "driftloop: PyTorch MLP fine-tune (+ replay)", "driftloop",
           "driftloop", {"model": {"family": "torch_mlp"}, "training": {"strategy": "finetune"}},
           "retrain on drift", cost=0.45),
    Method("dl-river-hat", "driftloop: River online (HAT, family default)", "driftloop",
           "driftloop", {"model": {"family": "river"}}, "every labelled window",
           extended=True, cost=0.75, quick="all-delays"),
    Method("dl-river-arf", "driftloop: River online (ARF)", "driftloop", "driftloop",
           {"model": {"family": "river", "estimator": "arf"}}, "every labelled window",
           cost=1.8),
    Method("dl-best", "driftloop: best combination (River ARF, 250-row windows)", "driftloop",
           "driftloop", {"model": {"family": "river", "estimator": "arf"},
                         "window": {"size": 250}},
           "every labelled window", delays=(0,), streams=REAL,
           extended=("weather", "insects-gradual"), cost=3.5),
    # batch baselines (driftloop's scikit-learn wrapper, HistGradientBoosting)
    Method("static", "static: HGB trained on the first {warmup_rows} rows", "batch", "static",
           {}, "never", cost=0.02, quick="all-delays"),
    Method("periodic",
           "periodic: HGB refit every {periodic_every} rows on the last {recent_rows}",
           "batch", "periodic", {}, "every {periodic_every} rows", cost=0.2,
           quick="all-delays"),
    # River, row by row
    Method("river-nochange", "River NoChangeClassifier (last label)", "river", "river",
           {"model": "nochange"}, "every row", cost=0.01, quick="all-delays"),
    Method("river-hat", "River HoeffdingAdaptiveTree", "river", "river", {"model": "hat"},
           "every row", cost=0.15, quick="all-delays"),
    Method("river-arf", "River ARF (10 trees)", "river", "river", {"model": "arf"},
           "every row", cost=1.2),
    Method("river-alma", "River ALMA (scaled)", "river", "river", {"model": "alma"},
           "every row", cost=0.05),
    Method("river-levbag", "River LeveragingBagging (10 HT)", "river", "river",
           {"model": "levbag"}, "every row", delays=(0,), streams=REAL,
           extended=("insects-gradual",), cost=2.2),
    Method("river-srp", "River SRP (10 HT)", "river", "river", {"model": "srp"}, "every row",
           delays=(0,), streams=("elec2",), extended=True, cost=3.5),
    # why driftloop's online learners fall short on Elec2: labels per window
    Method("river-arf-window", "River ARF, labels per {window}-row window (as in driftloop)",
           "river", "river", {"model": "arf", "release_every": "window"}, "every window",
           delays=(0,), streams=("elec2",), cost=1.1),
)

QUICK_PROTOCOL = Protocol(warmup_rows=1000, window=500, delays=(0, 250), periodic_every=500,
                          recent_rows=1000)

# -- jobs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """One method on one stream at one label delay."""

    stream: Stream
    path: str
    n_rows: int
    delay: int
    method: Method
    protocol: Protocol
    work_dir: str

    @property
    def ident(self) -> str:
        return f"{self.stream.name}-d{self.delay}-{self.method.key}"


@lru_cache(maxsize=4)
def _load(path: str, target: str) -> tuple[pd.DataFrame, np.ndarray]:
    frame = pd.read_csv(path)
    y = frame.pop(target).to_numpy()
    return frame, y


def _river_model(name: str, n_classes: int) -> Any:
    from river import dummy, ensemble, forest, linear_model, multiclass, preprocessing, tree

    if name == "nochange":
        return dummy.NoChangeClassifier()
    if name == "hat":
        return tree.HoeffdingAdaptiveTreeClassifier(seed=0)
    if name == "arf":
        return forest.ARFClassifier(seed=0)
    if name == "alma":
        alma = linear_model.ALMAClassifier()
        return preprocessing.StandardScaler() | (
            alma if n_classes <= 2 else multiclass.OneVsRestClassifier(alma))
    if name == "levbag":
        return ensemble.LeveragingBaggingClassifier(model=tree.HoeffdingTreeClassifier(), seed=0)
    if name == "srp":
        return ensemble.SRPClassifier(seed=0)
    raise ValueError(f"Unknown River baseline {name!r}; add it to _river_model.")


def _run_river(job: Job) -> dict[str, Any]:
    """Prequential River: predict each row, learn rows whose label has arrived (row by row, or
    per window when ``release_every == "window"``)."""
    frame, y_raw = _load(job.path, job.stream.target)
    classes = sorted(pd.unique(y_raw).tolist())
    X = frame.to_dict("records")
    if job.method.spec["model"] == "alma" and len(classes) == 2:
        y = [v == classes[1] for v in y_raw.tolist()]  # ALMA is binary: learn booleans
    else:
        y = y_raw.tolist()
    model = _river_model(job.method.spec["model"], len(classes))
    step = job.protocol.window if job.method.spec.get("release_every") == "window" else 1
    warmup, delay, n = job.protocol.warmup_rows, job.delay, job.n_rows
    t0 = time.perf_counter()
    for r in range(warmup):
        model.learn_one(X[r], y[r])
    learnt, correct = warmup, 0
    for start in range(warmup, n, step):
        ready = max(warmup, start - delay)  # rows r with r + delay < start are labelled
        while learnt < ready:
            model.learn_one(X[learnt], y[learnt])
            learnt += 1
        for i in range(start, min(start + step, n)):
            correct += int(model.predict_one(X[i]) == y[i])
    return {"accuracy": correct / (n - warmup), "n_scored": n - warmup,
            "wall_s": time.perf_counter() - t0, "retrains": 0}


def _run_batch(job: Job) -> dict[str, Any]:
    """Static or periodic HistGradientBoosting through driftloop's scikit-learn wrapper."""
    from models.config import ModelConfig
    from models.families import make_model

    frame, y = _load(job.path, job.stream.target)
    p, n, delay = job.protocol, job.n_rows, job.delay
    template = make_model(ModelConfig(family="sklearn", seed=p.seed), "classification")
    t0 = time.perf_counter()
    every = n if job.method.kind == "static" else p.periodic_every
    correct, fits = 0, 0
    model = None
    for start in range(p.warmup_rows, n, every):
        if model is None or job.method.kind == "periodic":
            end = max(p.warmup_rows, start - delay)  # the labelled rows at ``start``
            begin = 0 if model is None else max(0, end - p.recent_rows)
            model = template.clone().fit(frame.iloc[begin:end], y[begin:end])
            fits += 1
        stop = min(start + every, n)
        correct += int(np.sum(model.predict(frame.iloc[start:stop]) == y[start:stop]))
    return {"accuracy": correct / (n - p.warmup_rows), "n_scored": n - p.warmup_rows,
            "wall_s": time.perf_counter() - t0, "retrains": fits - 1}


def _timed_steps(timings: dict[str, float]) -> Any:
    """driftloop's plain steps, each timed; the monitor's own per-check timings are summed."""
    from flows.pipeline import PLAIN_STEPS

    def wrap(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            timings[name] = timings.get(name, 0.0) + time.perf_counter() - t0
            for check, seconds in (getattr(out, "timings", None) or {}).items():
                timings[f"window.{check}"] = timings.get(f"window.{check}", 0.0) + seconds
            if name == "monitor_window":
                timings["windows"] = timings.get("windows", 0) + 1
            return out
        return timed

    return type(PLAIN_STEPS)(*(wrap(n, f) for n, f in zip(PLAIN_STEPS._fields, PLAIN_STEPS,
                                                           strict=True)))


def _driftloop_config(job: Job) -> Any:
    from flows.config import DriftloopConfig

    p = job.protocol
    data: dict[str, Any] = {
        "state_dir": str(Path(job.work_dir) / "state" / job.ident),
        "source": {"kind": "file", "path": job.path, "target": job.stream.target,
                   "label_delay": job.delay,
                   "true_drift_rows": list(job.stream.true_drift_rows)},
        "window": {"size": p.window, "warmup_rows": p.warmup_rows},
        "data_drift": {"snapshots": False},
        "model": {"seed": p.seed},
        "training": {"recent_rows": p.recent_rows, "seed": p.seed},
        "registry": {"model_name": "continual-bench"},
    }
    for section, values in job.method.spec.items():
        data[section] = {**data.get(section, {}), **values}
    return DriftloopConfig.model_validate(data)


def _run_driftloop(job: Job) -> dict[str, Any]:
    from flows.pipeline import run_stream

    config = _driftloop_config(job)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    summary = run_stream(config, Path(job.work_dir) / "out" / job.ident,
                         steps=_timed_steps(timings))
    wall = time.perf_counter() - t0
    retrains = summary["retrains"][1:]  # the first entry is the initial model
    windows = int(timings.get("windows", 0))
    # outside the steps: MLflow store creation, source set-up, the run's summary and plot
    timings["other"] = wall - sum(v for k, v in timings.items()
                                  if k != "windows" and not k.startswith("window."))
    return {
        "accuracy": summary["prequential_accuracy"], "n_scored": summary["labelled_rows"],
        "wall_s": wall, "retrains": len(retrains),
        "promoted": sum(bool(r.get("promoted")) for r in retrains),
        "deferred": sum(d.get("status") == "deferred" for d in summary.get("decisions", [])),
        "windows": windows,
        "evidently_s": timings.get("window.data_drift", 0.0),
        "breakdown_s": {k: round(v, 2) for k, v in timings.items() if k != "windows"},
    }


def _quiet(job: Job) -> contextlib.ExitStack:
    if job.method.kind == "driftloop":
        import mlflow  # noqa: F401  # it sets its loggers' level on import: import it first
    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")  # Evidently/numpy divide warnings on constant columns
    if job.method.kind == "driftloop":  # MLflow prints its registry messages to stderr
        log_path = Path(job.work_dir) / "logs" / f"{job.ident}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = stack.enter_context(log_path.open("w"))
        stack.enter_context(contextlib.redirect_stderr(log))
        stack.enter_context(contextlib.redirect_stdout(log))
    for name in ("mlflow", "driftloop", "alembic", "evidently", "prefect"):
        logger = logging.getLogger(name)
        stack.callback(logger.setLevel, logger.level)
        logger.setLevel(logging.WARNING)
    return stack


def run_job(job: Job) -> dict[str, Any]:
    """Run one job; a failure becomes a row with ``error`` set, not an exception."""
    row: dict[str, Any] = {
        "stream": job.stream.name, "delay": job.delay, "method": job.method.key,
        "label": job.method.label, "group": job.method.group, "learns": job.method.learns,
        "accuracy": None, "n_scored": None, "wall_s": None, "retrains": None, "error": None,
    }
    runner = {"driftloop": _run_driftloop, "river": _run_river, "static": _run_batch,
              "periodic": _run_batch}[job.method.kind]
    cpu0 = time.process_time()
    try:
        with _quiet(job):
            row.update(runner(job))
    except Exception as exc:  # one failing method must not lose the others' results
        row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        row["traceback"] = traceback.format_exc(limit=6)
    row["cpu_s"] = round(time.process_time() - cpu0, 2)  # this process, all its threads
    if row["wall_s"] is not None:
        row["wall_s"] = round(row["wall_s"], 2)
    if row["accuracy"] is not None:
        row["accuracy"] = round(float(row["accuracy"]), 4)
    return row


def _warm_imports() -> None:
    """Import the stack once, so that no job's time includes it."""
    import evidently  # noqa: F401
    import mlflow  # noqa: F401
    import river  # noqa: F401
    import torch  # noqa: F401

    import flows.pipeline  # noqa: F401
    import models.river_family  # noqa: F401
    import models.sklearn_family  # noqa: F401
    import models.torch_family  # noqa: F401


def _init_worker() -> None:
    for key, value in TELEMETRY_OFF.items():
        os.environ.setdefault(key, value)
    with contextlib.suppress(Exception):
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    _warm_imports()


# -- the run ------------------------------------------------------------------------------------


def _prepare(stream: Stream, data_dir: Path, work: Path, n_rows: int | None) -> tuple[str, int]:
    """The file the stream is replayed from (columns dropped / rows cut in a temp copy)."""
    src = data_dir / stream.file
    if not stream.drop and n_rows is None:
        return str(src), len(pd.read_csv(src, usecols=[stream.target]))
    frame = pd.read_csv(src, nrows=n_rows).drop(columns=list(stream.drop))
    path = work / "data" / f"{stream.name}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return str(path), len(frame)


def _quick_stream(work: Path) -> tuple[Stream, str, int]:
    """A seeded 3,000-row SEA stream with one abrupt drift at row 1,800 (driftloop's generator)."""
    from monitors.sources import SyntheticSource, SyntheticStreamConfig

    cfg = SyntheticStreamConfig(generator="sea", n_rows=3000, drift_rows=(1800,), noise=0.05,
                                seed=11)
    path = work / "data" / "synthetic-sea.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    SyntheticSource(cfg).frame().to_csv(path, index=False)
    stream = Stream("synthetic-sea", path.name, "y", true_drift_rows=(1800,), real=False,
                    note="quick mode: driftloop's SEA generator, drift at 1,800, 5 % noise")
    return stream, str(path), 3000


def _selected(m: Method, stream: Stream, delay: int, protocol: Protocol, *, quick: bool,
              extended: bool) -> bool:
    """Whether method ``m`` runs on ``stream`` at ``delay`` in this kind of run."""
    if quick:
        return m.quick == "all-delays" or (m.quick == "first-delay"
                                           and delay == protocol.delays[0])
    if (m.delays is not None and delay not in m.delays) or \
            (m.streams is not None and stream.name not in m.streams):
        return False
    if extended:
        return True
    only_extended = m.extended is True or (isinstance(m.extended, tuple)
                                           and stream.name in m.extended)
    return not only_extended and delay not in stream.extended_delays


def _jobs(streams: list[tuple[Stream, str, int]], protocol: Protocol, work: Path,
          quick: bool, extended: bool = False) -> list[Job]:
    jobs = []
    for stream, path, n in streams:
        for delay in protocol.delays:
            for m in METHODS:
                if not _selected(m, stream, delay, protocol, quick=quick, extended=extended):
                    continue
                names = {k: f"{v:,}" for k, v in asdict(protocol).items() if isinstance(v, int)}
                named = replace(m, label=m.label.format(**names), learns=m.learns.format(**names))
                jobs.append(Job(stream, path, n, delay, named, protocol, str(work)))
    # longest first, so two workers finish together
    return sorted(jobs, key=lambda j: -j.method.cost * j.stream.cost * j.n_rows)


def _execute(jobs: list[Job], workers: int) -> Iterator[dict[str, Any]]:
    if workers <= 1:
        _warm_imports()
        for job in jobs:
            yield run_job(job)
        return
    ctx = multiprocessing.get_context("spawn")  # no fork after torch/MLflow are imported
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                             initializer=_init_worker) as pool:
        futures = [pool.submit(run_job, job) for job in jobs]
        for future in as_completed(futures):
            yield future.result()


def run(*, quick: bool = False, data_dir: Path | None = None, out_dir: Path,
        workers: int | None = None, extended: bool = False) -> dict[str, Any]:
    """Run the benchmark; write ``continual.json``, ``continual.md`` and ``continual.png``.

    ``extended`` adds the slow extras (SRP, driftloop's River HAT, LeveragingBagging on
    INSECTS, the best combination beyond Elec2, SEA at delay 500): about 50 % more CPU time.
    Returns the result dict, with the markdown table under ``"markdown"``.
    """
    for key, value in TELEMETRY_OFF.items():
        os.environ.setdefault(key, value)
    t_start = time.perf_counter()
    data_dir = Path(data_dir) if data_dir is not None else DEFAULT_DATA
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    protocol = QUICK_PROTOCOL if quick else Protocol()
    if workers is None:
        workers = 1 if quick else max(1, min(2, os.cpu_count() or 1))
    skipped: list[str] = []
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="driftloop-continual-") as tmp:
        work = Path(tmp)
        streams: list[tuple[Stream, str, int]] = []
        if quick:
            streams.append(_quick_stream(work))
        else:
            for stream in STREAMS:
                if not (data_dir / stream.file).is_file():
                    msg = f"{stream.name}: {data_dir / stream.file} not found, skipped"
                    print(msg, flush=True)
                    skipped.append(msg)
                    continue
                streams.append((stream, *_prepare(stream, data_dir, work, None)))
        jobs = _jobs(streams, protocol, work, quick, extended and not quick)
        print(f"continual: {len(jobs)} jobs on {len(streams)} stream(s), {workers} worker(s)",
              flush=True)
        for i, row in enumerate(_execute(jobs, workers), 1):
            rows.append(row)
            status = row["error"] or f"acc {row['accuracy']:.4f}"
            print(f"  [{i}/{len(jobs)}] {row['stream']} delay {row['delay']} {row['method']}: "
                  f"{status} ({row['wall_s'] or 0:.1f} s)", flush=True)
    order = {m.key: i for i, m in enumerate(METHODS)}
    rows.sort(key=lambda r: (r["delay"], order[r["method"]],
                             [s.name for s, _, _ in streams].index(r["stream"])))
    result: dict[str, Any] = {
        "part": "continual",
        "quick": quick,
        "extended": extended and not quick,
        "protocol": asdict(protocol),
        "streams": [{**asdict(s), "path": p, "rows": n} for s, p, n in streams],
        "skipped": skipped,
        "workers": workers,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
                   f"{platform.python_version()}",
        "results": rows,
    }
    result["goals"] = _goals(rows, [s for s, _, _ in streams])
    result["overhead"] = _overhead(rows)
    result["wall_s"] = round(time.perf_counter() - t_start, 1)
    result["markdown"] = render_markdown(result)
    (out_dir / "continual.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    (out_dir / "continual.md").write_text(result["markdown"] + "\n")
    plot(result, out_dir / "continual.png")
    return result


# -- reading the results ------------------------------------------------------------------------


def _best(rows: list[dict[str, Any]], **where: Any) -> dict[str, Any] | None:
    ok = [r for r in rows if r["accuracy"] is not None
          and all(r[k] == v for k, v in where.items())]
    return max(ok, key=lambda r: r["accuracy"]) if ok else None


def _goals(rows: list[dict[str, Any]], streams: list[Stream]) -> dict[str, Any]:
    """The goals the table is read against, at every delay: Elec2 >= 0.906, and driftloop at
    least River's ARF (measured here) on every real stream."""
    goals: dict[str, Any] = {"elec2_target": 0.906, "checks": []}
    delays = sorted({r["delay"] for r in rows})
    for delay in delays:
        for s in streams:
            dl = _best(rows, stream=s.name, delay=delay, group="driftloop")
            arf = _best(rows, stream=s.name, delay=delay, method="river-arf")
            best_river = _best(rows, stream=s.name, delay=delay, group="river")
            check: dict[str, Any] = {
                "stream": s.name, "delay": delay, "real": s.real,
                "driftloop_best": dl and {"method": dl["method"], "accuracy": dl["accuracy"]},
                "arf": arf and arf["accuracy"],
                "best_other": best_river and {"method": best_river["method"],
                                              "accuracy": best_river["accuracy"]},
            }
            if dl and arf:
                check["gap_to_arf"] = round(dl["accuracy"] - arf["accuracy"], 4)
                check["meets_arf"] = dl["accuracy"] >= arf["accuracy"]
            if s.name == "elec2" and dl:
                check["meets_0906"] = dl["accuracy"] >= 0.906
            goals["checks"].append(check)
    return goals


def _overhead(rows: list[dict[str, Any]]) -> dict[str, Any]:
    dl = [r for r in rows if r["group"] == "driftloop" and r.get("windows")]
    if not dl:
        return {}
    windows = sum(r["windows"] for r in dl)
    evid = sum(r["evidently_s"] for r in dl)
    wall = sum(r["wall_s"] for r in dl)
    return {"windows": windows, "evidently_s": round(evid, 1),
            "evidently_s_per_window": round(evid / windows, 3),
            "evidently_share_of_driftloop_time": round(evid / wall, 3) if wall else None}


def _cell(r: dict[str, Any] | None) -> str:
    if r is None:
        return "–"
    if r["error"]:
        return f"**failed** ({r['error'].split(':')[0]})"
    if r["group"] == "driftloop":
        return f"{r['accuracy']:.3f} ({r['retrains']} / {r.get('promoted', 0)})"
    if r["group"] == "batch":
        return f"{r['accuracy']:.3f} ({r['retrains']})"
    return f"{r['accuracy']:.3f}"


def _time_cell(r: dict[str, Any] | None) -> str:
    if r is None or r["wall_s"] is None:
        return "–"
    return f"{r['wall_s']:.0f} / {r['cpu_s']:.0f}"


def _by_method(rows: list[dict[str, Any]],
               delay: int | None) -> list[tuple[str, dict[str, dict[str, Any]]]]:
    """(method, {stream: row}) in table order, for one delay (None: any)."""
    keys = list(dict.fromkeys(r["method"] for r in rows if delay is None or r["delay"] == delay))
    return [(k, {r["stream"]: r for r in rows
                 if r["method"] == k and (delay is None or r["delay"] == delay)}) for k in keys]


def render_markdown(result: dict[str, Any]) -> str:
    rows = result["results"]
    p = result["protocol"]
    names = [s["name"] for s in result["streams"]]
    lines = []
    if result["quick"]:
        lines.append("_Quick mode: a 3,000-row synthetic stream and a few methods — a smoke "
                     "run, not a measurement._\n")
    lines.append(
        f"Prequential (test-then-train) accuracy on every row after the first "
        f"{p['warmup_rows']:,} (learnt as labelled history by every method); in brackets the "
        "retrains after the initial model (driftloop: retrains / promoted by the gate). "
        "driftloop runs the real loop (`run_stream`, no Prefect) with "
        f"{p['window']:,}-row windows: a window is served by the champion of its start and its "
        "labels come in at its end. River baselines learn row by row. Label delay 0: a label "
        "arrives before the next row; delay d: the label of row r is usable from row r+d+1.\n")
    delays = sorted({r["delay"] for r in rows})
    for delay in delays:
        lines.append(f"### Accuracy, label delay {delay}\n")
        lines.append("| method | learns | " + " | ".join(names) + " |")
        lines.append("|---|---|" + "---|" * len(names))
        for key, mine in _by_method(rows, delay):
            first = next(iter(mine.values()))
            label = f"{first['label']} `{key}`"
            label = f"**{label}**" if first["group"] == "driftloop" else label
            lines.append(f"| {label} | {first['learns']} | "
                         + " | ".join(_cell(mine.get(n)) for n in names) + " |")
        lines.append("")
    lines.append("### Time: wall s / CPU s per run\n")
    lines.append("| method | " + " | ".join(f"{n} d{d}" for d in delays for n in names) + " |")
    lines.append("|---|" + "---|" * (len(names) * len(delays)))
    for key, _ in _by_method(rows, None):
        per = {(r["stream"], r["delay"]): r for r in rows if r["method"] == key}
        lines.append(f"| {key} | " + " | ".join(_time_cell(per.get((n, d)))
                                                for d in delays for n in names) + " |")
    lines.append("")
    lines.append("### Goals\n")
    for c in result["goals"]["checks"]:
        if not c["driftloop_best"]:
            continue
        dl = c["driftloop_best"]
        parts = [f"best driftloop `{dl['method']}` {dl['accuracy']:.3f}"]
        if c.get("arf") is not None:
            verdict = "meets" if c["meets_arf"] else "**falls short of**"
            parts.append(f"{verdict} River ARF {c['arf']:.3f} ({c['gap_to_arf']:+.3f})")
        if "meets_0906" in c:
            parts.append("reaches 0.906" if c["meets_0906"]
                         else f"**falls short of 0.906** by {0.906 - dl['accuracy']:.3f}")
        if c.get("best_other"):
            b = c["best_other"]
            parts.append(f"best River model here: `{b['method']}` {b['accuracy']:.3f}")
        kind = "" if c["real"] else " (synthetic)"
        lines.append(f"- {c['stream']}{kind}, delay {c['delay']}: " + "; ".join(parts) + ".")
    lines.append("\n_\"Best driftloop\" is the best of its configs per stream, picked after the "
                 "fact: an optimistic reading._\n")
    lines.append("### Notes\n")
    for s in result["streams"]:
        if s["note"]:
            lines.append(f"- {s['name']} ({s['rows']:,} rows): {s['note']}.")
    for msg in result["skipped"]:
        lines.append(f"- {msg}.")
    oh = result.get("overhead") or {}
    if oh:
        lines.append(
            f"- Data-drift check (driftloop's engine, snapshots off): "
            f"{oh['evidently_s_per_window']:.2f} s per window "
            f"({oh['windows']} windows, {oh['evidently_s']:.0f} s, "
            f"{100 * (oh['evidently_share_of_driftloop_time'] or 0):.0f} % of driftloop's wall "
            "time). It is a fixed cost per window, so smaller windows (the way to give online "
            "learners fresher labels) pay it more often.")
    if any(r["method"] == "dl-best" for r in rows):
        lines.append(
            "- `dl-best` was chosen from pilot runs on Elec2 at delay 0, before commit 997a5c4 "
            "(River ARF with 1,000 / 250 / 100-row windows: 0.764 / 0.780 / 0.791; fine-tune "
            "instead of refit, or the retrain triggers off, at 1,000: 0.765 / 0.766), so it is "
            "tuned on a test stream; 100-row windows were not kept: 330 s on Elec2 alone.")
    if not result["quick"] and not result.get("extended"):
        lines.append("- Left out of this run (`--extended` adds them, about 50 % more CPU time): "
                     "River SRP, driftloop's River HAT (family default), LeveragingBagging on "
                     "INSECTS, the best combination on weather and INSECTS, SEA at delay 500.")
    deferred = sum(r.get("deferred") or 0 for r in rows)
    lines.append(f"- driftloop runs with its default decision, training and gate settings; "
                 f"{deferred} retrain(s) were deferred for want of labelled rows (all runs).")
    lines.append(
        "- One seed (0) per method; jobs ran "
        f"{result['workers']} at a time, one thread each ({result['machine']}); the whole part "
        f"took {result['wall_s']:.0f} s. Wall time includes waiting for the CPU when the "
        "machine is shared; CPU time (the job's own process) does not, so compare CPU times "
        "across runs. driftloop's times include MLflow logging and the Evidently checks.")
    failed = [r for r in rows if r["error"]]
    for r in failed:
        lines.append(f"- FAILED {r['stream']} delay {r['delay']} {r['method']}: {r['error']}")
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    """Grouped bars: accuracy per stream and method, one panel per label delay."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in result["results"] if r["accuracy"] is not None]
    delays = sorted({r["delay"] for r in result["results"]}) or [0]
    names = [s["name"] for s in result["streams"]]
    keys = list(dict.fromkeys(r["method"] for r in result["results"]))
    colours = {"driftloop": plt.get_cmap("Blues"), "river": plt.get_cmap("Oranges"),
               "batch": plt.get_cmap("Greys")}
    groups = {r["method"]: r["group"] for r in result["results"]}
    count: dict[str, int] = defaultdict(int)
    shade = {}
    for k in keys:
        count[groups[k]] += 1
        shade[k] = count[groups[k]]
    fig, axes = plt.subplots(len(delays), 1, squeeze=False,
                             figsize=(max(8, 2.6 * len(names)) + 2.5, 4 * len(delays)))
    width = 0.85 / max(1, len(keys))
    for ax, delay in zip(axes[:, 0], delays, strict=True):
        acc = {(r["stream"], r["method"]): r["accuracy"] for r in rows if r["delay"] == delay}
        for j, k in enumerate(keys):
            xs = [i + (j - len(keys) / 2) * width for i in range(len(names))]
            ys = [acc.get((n, k), math.nan) for n in names]
            cmap = colours[groups[k]]
            ax.bar(xs, ys, width, label=k, color=cmap(0.35 + 0.6 * shade[k] / (count[groups[k]] + 1)))
        ax.set_xticks(range(len(names)), names)
        ax.set_ylim(0.25, 1.0)
        ax.axhline(0.906, color="red", lw=0.8, ls="--")
        ax.set_ylabel("prequential accuracy")
        ax.set_title(f"label delay {delay} (red: Elec2 goal 0.906)")
    if keys:
        axes[0, 0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.continual", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="synthetic 3,000-row smoke run")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results folder")
    ap.add_argument("--data-dir", type=Path, default=None, help="the shared data folder")
    ap.add_argument("--workers", type=int, default=None, help="parallel jobs (default 2)")
    ap.add_argument("--extended", action="store_true",
                    help="also the slow extras (about 50 %% more CPU time)")
    args = ap.parse_args(argv)
    result = run(quick=args.quick, data_dir=args.data_dir, out_dir=args.out,
                 workers=args.workers, extended=args.extended)
    print(result["markdown"])
    print(f"wrote {args.out / 'continual.json'}, continual.md, continual.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
