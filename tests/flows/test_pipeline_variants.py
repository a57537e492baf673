"""The loop (``run_stream``, no Prefect) under its variants: model families, fine-tuning, label
delay, regression, bad input, and a replay of the shared SEA benchmark.

Every run is real (MLflow on SQLite, River and Evidently in-process) on a small seeded stream
with a known drift row, in its own state folder under ``tmp_path``; tests assert where the
drift was detected, what was promoted and what the registry serves.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from pydantic import BaseModel, ConfigDict

from deploy.champion import load_champion
from flows.config import DriftloopConfig
from flows.pipeline import run_stream
from flows.summary import first_detections
from models.registry import RegistryReader
from monitors.errors import ValidationError
from monitors.sources import SOURCES, SyntheticSource, SyntheticStreamConfig, register_source
from monitors.stream import Batch

WINDOW, WARMUP = 500, 1500
SMALL: dict[str, Any] = {
    "window": {"size": WINDOW, "warmup_rows": WARMUP},
    "data_drift": {"snapshots": False},
    "training": {"holdout_rows": 200, "recent_rows": 1000, "min_train_rows": 200},
    "decision": {
        "min_labelled_rows": 300,
        "cooldown_rows": 1000,
        "refresh_rows": 1500,
        "baseline_rows": 500,
        "confirm_within_rows": 1500,
    },
}


def _config(
    tmp_path: Path, source: dict[str, Any], name: str, **sections: dict[str, Any]
) -> DriftloopConfig:
    """The small-scale config, with some sections' keys changed."""
    data: dict[str, Any] = {
        **SMALL,
        "state_dir": str(tmp_path / "state"),
        "source": source,
        "registry": {"model_name": name},
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value}
    return DriftloopConfig.model_validate(data)


def _sea(n_rows: int, drift_row: int, **kw: Any) -> dict[str, Any]:
    return {
        "kind": "synthetic",
        "generator": "sea",
        "n_rows": n_rows,
        "drift_rows": [drift_row],
        "seed": 3,
        **kw,
    }


def _fresh_rows_of_last_concept(config: DriftloopConfig, n: int = 2000) -> pd.DataFrame:
    src = config.source
    assert isinstance(src, SyntheticStreamConfig)
    return SyntheticSource(
        SyntheticStreamConfig(
            generator=src.generator,
            n_rows=n,
            drift_rows=(),
            concepts=src.resolved_concepts[-1:],
            seed=src.seed + 100,
            noise=0.0,
        )
    ).frame()


def _windows_of(summary: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {w["index"]: w for w in summary["windows"]}


# -- model families -------------------------------------------------------------------------

FAMILY_DRIFT, FAMILY_ROWS = 3500, 6500


@pytest.mark.parametrize("family", ["sklearn", "torch_mlp"])
def test_each_batch_family_detects_the_drift_retrains_and_serves_the_champion(
    tmp_path: Path, family: str
) -> None:
    config = _config(
        tmp_path, _sea(FAMILY_ROWS, FAMILY_DRIFT), f"variant-{family}", model={"family": family}
    )
    summary = run_stream(config, tmp_path / "out")

    assert summary["rows"] == FAMILY_ROWS
    assert summary["true_drift_rows"] == [FAMILY_DRIFT]
    assert [e for e in summary["drift_events"] if e["row"] < FAMILY_DRIFT] == []
    (det,) = first_detections(summary)
    assert det["detected_row"] is not None, "drift missed"
    assert 0 <= det["delay"] <= 1000, det

    drift_retrains = [r for r in summary["retrains"] if r["window"] is not None]
    assert drift_retrains and all(r["row"] > FAMILY_DRIFT for r in drift_retrains)
    first = drift_retrains[0]
    assert first["promoted"], first
    assert first["trigger"]["kind"] in ("concept", "performance", "data")
    # the drift hurt the champion on the newest labelled rows; the challenger beat it there
    before = [w["accuracy"] for w in summary["windows"] if w["end"] <= FAMILY_DRIFT]
    assert min(before) > 0.85, before
    assert first["champion_score"] < min(before) - 0.1, (first, before)
    assert first["challenger_score"] > first["champion_score"], first

    # the registry serves the last promoted version, and it has learnt the new concept
    promoted = [r["version"] for r in summary["retrains"] if r["promoted"]]
    assert summary["champion_version"] == promoted[-1]
    champ = load_champion(summary["tracking_uri"], config.registry.model_name)
    assert champ.version == summary["champion_version"]
    fresh = _fresh_rows_of_last_concept(config)
    acc = float(np.mean(champ.predict(fresh.drop(columns=["y"])) == fresh["y"].to_numpy()))
    assert acc > 0.85, acc
    run = MlflowClient(tracking_uri=summary["tracking_uri"]).get_run(champ.run_id)
    assert run.data.params["family"] == family

    assert summary["prequential_accuracy"] > 0.85


@pytest.fixture(scope="module")
def river_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[DriftloopConfig, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("river")
    config = _config(
        tmp, _sea(FAMILY_ROWS, FAMILY_DRIFT), "variant-river",
        # an online logistic regression: River's Hoeffding adaptive tree restructures itself
        # on this noisy stream and its own error rises before the drift (a model effect)
        model={"family": "river", "estimator": "logistic_regression"},
    )
    return config, run_stream(config, tmp / "out")


def test_the_river_family_detects_the_drift_and_adapts_online(
    river_run: tuple[DriftloopConfig, dict[str, Any]],
) -> None:
    config, summary = river_run
    assert [e for e in summary["drift_events"] if e["row"] < FAMILY_DRIFT] == []
    (det,) = first_detections(summary)
    assert det["detected_row"] is not None and 0 <= det["delay"] <= 1000, det
    drift_retrains = [r for r in summary["retrains"] if r["window"] is not None]
    assert drift_retrains and all(r["row"] > FAMILY_DRIFT for r in drift_retrains)
    # the champion learns every arriving label: it recovers from the drift by itself
    wins = summary["windows"]
    at_drift = next(w for w in wins if w["start"] == FAMILY_DRIFT)["accuracy"]
    before = [w["accuracy"] for w in wins if w["end"] <= FAMILY_DRIFT]
    assert at_drift < min(before) - 0.1, (at_drift, before)
    assert min(w["accuracy"] for w in wins[-3:]) > 0.85
    assert summary["prequential_accuracy"] > 0.85
    # the registered champion loads and predicts labels
    champ = load_champion(summary["tracking_uri"], config.registry.model_name)
    assert champ.version == summary["champion_version"]
    fresh = _fresh_rows_of_last_concept(config)
    assert set(np.unique(champ.predict(fresh.drop(columns=["y"])))) <= {0, 1}
    run = MlflowClient(tracking_uri=summary["tracking_uri"]).get_run(champ.run_id)
    assert run.data.params["family"] == "river"


def test_the_registered_river_champion_follows_the_drift(
    river_run: tuple[DriftloopConfig, dict[str, Any]],
) -> None:
    """The served alias is the model that serves: either a challenger won the (fair) gate, or
    the online champion's learnt state was registered as a new version."""
    config, summary = river_run
    drift_retrains = [r for r in summary["retrains"] if r["window"] is not None]
    assert drift_retrains
    # the online champion is scored on what it served, not on rows it has learnt since
    assert all("served predictions" in r["gate_reason"] for r in drift_retrains)
    assert any(r["promoted"] for r in drift_retrains) or summary["checkpoints"]
    champ = load_champion(summary["tracking_uri"], config.registry.model_name)
    assert champ.version == summary["champion_version"] == summary["registered_versions"][-1]
    fresh = _fresh_rows_of_last_concept(config)
    acc = float(np.mean(champ.predict(fresh.drop(columns=["y"])) == fresh["y"].to_numpy()))
    assert acc > 0.85, acc


def test_finetune_continues_from_the_serving_champion(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        _sea(FAMILY_ROWS, FAMILY_DRIFT),
        "variant-finetune",
        model={"family": "torch_mlp"},
        training={"strategy": "finetune"},
    )
    summary = run_stream(config, tmp_path / "out")

    retrains = summary["retrains"]
    assert len(retrains) >= 2 and retrains[0]["window"] is None
    reader = RegistryReader(summary["tracking_uri"], config.registry.model_name)
    client = MlflowClient(tracking_uri=summary["tracking_uri"])
    # no champion yet: the first model is fitted; every later one fine-tunes the champion
    # that served when it was trained (one more update than it)
    assert reader.load_model(retrains[0]["version"]).n_updates_ == 0
    for r in retrains[1:]:
        assert client.get_run(r["run_id"]).data.params["strategy"] == "finetune"
        updates = reader.load_model(r["version"]).n_updates_
        assert updates == reader.load_model(r["champion_version"]).n_updates_ + 1, r
    after = [r for r in retrains[1:] if r["row"] > FAMILY_DRIFT and r["promoted"]]
    assert after, retrains
    assert after[0]["challenger_score"] > after[0]["champion_score"]
    champ = load_champion(summary["tracking_uri"], config.registry.model_name)
    fresh = _fresh_rows_of_last_concept(config)
    acc = float(np.mean(champ.predict(fresh.drop(columns=["y"])) == fresh["y"].to_numpy()))
    assert acc > 0.85, acc


# -- label delay ----------------------------------------------------------------------------


def test_label_delay_scores_rows_only_once_their_labels_arrive(tmp_path: Path) -> None:
    delay, drift, n = 300, 4000, 7000
    config = _config(tmp_path, _sea(n, drift, label_delay=delay), "variant-delay")
    summary = run_stream(config, tmp_path / "out")

    # every row after the warm-up is labelled by the end; the last `delay` arrive after it
    assert summary["labelled_rows"] == n - WARMUP
    labelled = [w["labelled"] for w in summary["windows"]]
    assert labelled[0] == WINDOW - delay
    assert all(k == WINDOW for k in labelled[1:]), labelled
    assert sum(labelled) == summary["labelled_rows"] - delay

    windows = _windows_of(summary)
    concept = [e for e in summary["drift_events"] if e["kind"] == "concept"]
    assert concept, summary["drift_events"]
    for e in concept:  # a row is scored only once its label has arrived
        assert e["row"] + delay < windows[e["window"]]["end"], e
    # the first detection: not before the drift, known only once its labels arrived, and
    # within a bounded delay
    first = min(summary["drift_events"], key=lambda e: windows[e["window"]]["end"])
    known_at = windows[first["window"]]["end"]
    assert first["row"] >= drift, first
    assert drift + delay < known_at <= drift + delay + 1000, (first, known_at)
    # the retrain learnt from labels that existed: after the drift's labels, and promoted
    drift_retrains = [r for r in summary["retrains"] if r["window"] is not None]
    assert drift_retrains and drift_retrains[0]["row"] > drift + delay
    assert drift_retrains[0]["promoted"]
    assert summary["prequential_accuracy"] > 0.8


# -- regression -----------------------------------------------------------------------------


def test_a_regression_stream_is_watched_with_adwin_on_absolute_errors(tmp_path: Path) -> None:
    n, drift = 6000, 3500
    rng = np.random.default_rng(0)
    x, z = rng.uniform(-1, 1, n), rng.normal(size=n)
    y = np.where(np.arange(n) < drift, 2 * x, -2 * x) + rng.normal(0, 0.1, n)
    data = tmp_path / "regression.csv"
    pd.DataFrame({"x": x, "z": z, "target": y}).to_csv(data, index=False)
    # default decision settings: the regression thresholds (*_mae) keep MAE noise quiet
    config = _config(
        tmp_path,
        {"kind": "file", "path": str(data), "target": "target"},
        "variant-regression",
        concept_drift={"detector": "ADWIN"},
    )
    summary = run_stream(config, tmp_path / "out")

    assert summary["task"] == "regression"  # detected from the numeric target
    assert summary["prequential_accuracy"] is None
    assert isinstance(summary["prequential_mae"], float) and summary["prequential_mae"] > 0
    for w in summary["windows"]:
        assert "mae" in w and "rmse" in w and "accuracy" not in w
        assert w["mae"] >= 0 and w["rmse"] >= w["mae"]
    pre = [w["mae"] for w in summary["windows"] if w["end"] <= drift]
    assert max(pre) < 0.2, pre  # noise sd 0.1: MAE about 0.08
    events = summary["drift_events"]
    assert [e for e in events if e["row"] < drift] == []
    concept = [e for e in events if e["kind"] == "concept"]
    assert concept and concept[0]["method"] == "ADWIN"
    assert drift <= concept[0]["row"] <= drift + 500, concept[0]
    promoted = [r for r in summary["retrains"] if r["window"] is not None and r["promoted"]]
    assert promoted and promoted[0]["trigger"]["kind"] == "concept"
    assert promoted[0]["metric"] == "neg_mae"  # higher is better: -MAE on the holdout
    assert promoted[0]["champion_score"] < -1.0 < promoted[0]["challenger_score"], promoted[0]
    # y = -2x after the drift: the old model is off by about 4|x| = 2 on average
    at_drift = next(w for w in summary["windows"] if w["start"] == drift)
    assert at_drift["mae"] > 1.0, at_drift
    assert summary["windows"][-1]["mae"] < 0.5 * at_drift["mae"]


# -- bad input ------------------------------------------------------------------------------

BAD_ROWS = {
    2100: ("x0", math.nan),
    2600: ("x1", math.inf),
    3100: ("x2", "abc"),
    3101: ("x0", -math.inf),
    4321: ("x1", "1,5"),
}
BAD_REASONS = {
    2100: "missing:x0",
    2600: "inf:x1",
    3100: "non_numeric:x2",
    3101: "inf:x0",
    4321: "non_numeric:x1",
}


def _bad_csv(tmp_path: Path, n: int = 5000) -> Path:
    frame = (
        SyntheticSource(SyntheticStreamConfig(generator="sea", n_rows=n, drift_rows=(), seed=5))
        .frame()
        .astype({"x0": object, "x1": object, "x2": object})
    )
    for row, (col, value) in BAD_ROWS.items():
        frame.loc[row, col] = value
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    return path


def test_bad_rows_are_quarantined_and_counted(tmp_path: Path) -> None:
    n = 5000
    config = _config(
        tmp_path,
        {"kind": "file", "path": str(_bad_csv(tmp_path, n)), "target": "y"},
        "variant-quarantine",
        validation={"on_bad_rows": "quarantine"},
    )
    summary = run_stream(config, tmp_path / "out")

    assert summary["quarantined_rows"] == len(BAD_ROWS)
    # every row in is either scored (all labels arrive, no delay) or quarantined
    assert summary["rows"] == n
    assert n == WARMUP + summary["labelled_rows"] + summary["quarantined_rows"]
    for w in summary["windows"]:
        bad_here = sum(w["start"] <= r < w["end"] for r in BAD_ROWS)
        assert (w["rows"], w["quarantined"], w["labelled"]) == (
            WINDOW,
            bad_here,
            WINDOW - bad_here,
        ), w
        # the bad cells did not turn a numeric feature into a categorical one
        assert set(w["features"]) == {"x0", "x1", "x2"}
        assert {c["method"] for c in w["features"].values()} <= {"ks", "wasserstein"}, w
    quarantine = pd.read_csv(Path(summary["state_dir"]) / "quarantine" / "quarantine.csv")
    assert quarantine["row"].tolist() == sorted(BAD_ROWS)
    assert dict(zip(quarantine["row"], quarantine["reason"], strict=True)) == BAD_REASONS
    assert quarantine.loc[quarantine["row"] == 3100, "x2"].item() == "abc"
    assert summary["prequential_accuracy"] > 0.9


def test_bad_rows_with_on_bad_rows_error_stop_the_run_naming_column_and_rows(
    tmp_path: Path,
) -> None:
    config = _config(
        tmp_path,
        {"kind": "file", "path": str(_bad_csv(tmp_path)), "target": "y"},
        "variant-bad-error",
        validation={"on_bad_rows": "error"},
    )
    with pytest.raises(ValidationError) as info:
        run_stream(config, tmp_path / "out")
    msg = str(info.value)
    assert "'x0'" in msg and "rows 2000..2499" in msg and "2100" in msg, msg
    assert (info.value.start, info.value.end, info.value.columns) == (2000, 2500, ["x0"])
    assert "on_bad_rows" in msg  # the fix is named
    assert not (Path(config.state_dir) / "quarantine" / "quarantine.csv").exists()


class _NewColumnConfig(BaseModel):
    """A synthetic stream whose producer starts sending one more column, ``x3``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["new-column"] = "new-column"
    stream: SyntheticStreamConfig
    from_row: int


class _NewColumnSource:
    """A stream source plug-in (see ``register_source``): the SEA stream, plus ``x3`` in every
    batch from ``from_row`` on (a schema change upstream)."""

    def __init__(self, config: _NewColumnConfig) -> None:
        self.inner = SyntheticSource(config.stream)
        self.from_row = config.from_row
        self.name, self.task, self.target = "new-column", self.inner.task, self.inner.target
        self.label_delay, self.true_drift_rows = 0, ()
        self.categorical_features: tuple[str, ...] = ()

    def batches(self, batch_size: int) -> Iterator[Batch]:
        for b in self.inner.batches(batch_size):
            if b.start >= self.from_row:
                b = Batch(start=b.start, features=b.features.assign(x3=1.0), target=b.target)
            yield b


@pytest.fixture
def new_column_source() -> Iterator[None]:
    register_source("new-column", _NewColumnConfig, _NewColumnSource)
    yield
    SOURCES.pop("new-column")


def _new_column_config(tmp_path: Path, on_extra: str) -> DriftloopConfig:
    # the config file can only name the built-in source kinds: put the plug-in's config in
    base = _config(
        tmp_path,
        _sea(4500, 3000),
        f"variant-extra-{on_extra}",
        validation={"on_extra_columns": on_extra},
    )
    stream = SyntheticStreamConfig(generator="sea", n_rows=4500, drift_rows=(), seed=3)
    return base.model_copy(update={"source": _NewColumnConfig(stream=stream, from_row=3000)})


def test_an_extra_column_stops_the_run_naming_it(tmp_path: Path, new_column_source: None) -> None:
    with pytest.raises(ValidationError) as info:
        run_stream(_new_column_config(tmp_path, "error"), tmp_path / "out")
    msg = str(info.value)
    assert "['x3']" in msg and "rows 3000..3499" in msg and "on_extra_columns" in msg, msg
    assert info.value.columns == ["x3"]


def test_an_extra_column_is_dropped_with_on_extra_columns_drop(
    tmp_path: Path, new_column_source: None
) -> None:
    summary = run_stream(_new_column_config(tmp_path, "drop"), tmp_path / "out")
    assert summary["rows"] == 4500
    assert summary["labelled_rows"] == 4500 - WARMUP and summary["quarantined_rows"] == 0
    assert all(set(w["features"]) == {"x0", "x1", "x2"} for w in summary["windows"])
    assert summary["prequential_accuracy"] > 0.9


# -- the shared SEA benchmark ---------------------------------------------------------------


def test_shared_sea_drift_is_detected_soon_after_its_row(shared_data: Path, tmp_path: Path) -> None:
    """sea_drift.csv: SEA with 10% label noise, first abrupt drift at row 12,500."""
    source = shared_data / "sea_drift.csv"
    if not source.is_file():
        pytest.skip(f"{source} not found")
    drift = 12_500
    data = tmp_path / "sea_15k.csv"
    pd.read_csv(source, nrows=15_000).to_csv(data, index=False)
    config = DriftloopConfig.model_validate(
        {
            "state_dir": str(tmp_path / "state"),
            "source": {
                "kind": "file",
                "path": str(data),
                "target": "class",
                "true_drift_rows": [drift],
            },
            "window": {"size": 1000, "warmup_rows": 2000},
            "data_drift": {"snapshots": False},
            "registry": {"model_name": "variant-sea"},
        }
    )
    summary = run_stream(config, tmp_path / "out")

    assert summary["rows"] == 15_000
    assert [e for e in summary["drift_events"] if e["row"] < drift] == []
    assert [r for r in summary["retrains"] if r["window"] is not None and r["row"] < drift] == []
    (det,) = first_detections(summary)
    assert det["detected_row"] is not None, "drift at 12,500 missed"
    assert 0 <= det["delay"] <= 2000, det
    # 10% label noise: about 0.9 is the best any model can do
    assert summary["prequential_accuracy"] > 0.8


def test_a_retrain_without_enough_labelled_rows_is_deferred_not_fatal(tmp_path: Path) -> None:
    """The decision may ask for a retrain before the training set can be built (here: 50
    labelled rows suffice for the decision, training needs 400): the retrain waits for
    more labels, the run goes on, and the drift is still handled."""
    config = _config(
        tmp_path, _sea(6000, 3000), "variant-deferred",
        decision={"min_labelled_rows": 50, "cooldown_rows": 0},
        training={"min_train_rows": 400},
    )
    summary = run_stream(config, tmp_path / "out")
    deferred = [d for d in summary["decisions"] if d["status"] == "deferred"]
    assert deferred, summary["decisions"]
    assert any("deferred: Only" in r for r in deferred[0]["reasons"])
    assert [w["decision"] for w in summary["windows"]].count("deferred") == len(deferred)
    later = [r for r in summary["retrains"] if r["window"] is not None]
    assert later and later[0]["row"] > deferred[0]["row"] and later[0]["promoted"]
