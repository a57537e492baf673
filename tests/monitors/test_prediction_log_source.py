"""The prediction log read as a stream source: champion rows in order, labels joined late."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pydantic
import pytest

from deploy.prediction_log import FeedbackItem, PredictionLog
from monitors.errors import SourceError
from monitors.sources import (
    SOURCES,
    PredictionLogSource,
    PredictionLogSourceConfig,
    SourceConfig,
    StreamSource,
    make_source,
)
from monitors.stream import Batch

LONG_AGO = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / ".driftloop" / "predictions.db"


@pytest.fixture
def plog(db: Path) -> Iterator[PredictionLog]:
    log = PredictionLog(f"sqlite:///{db}")
    yield log
    log.close()


def _uri(db: Path) -> str:
    return f"sqlite:///{db}"


def _serve(log: PredictionLog, request_id: str, xs: list[float], *, role: str = "champion",
           model: str = "m", at: datetime = LONG_AGO) -> None:
    log.record(request_id=request_id, model_name=model, model_version=1, role=role,  # type: ignore[arg-type]
               features=[{"x": x, "colour": "red" if x > 0 else "blue"} for x in xs],
               predictions=[int(x > 0) for x in xs], served_at=at)


def _y(batch: Batch) -> pd.Series:
    assert batch.target is not None
    return batch.target


def _source(db: Path, **kw: object) -> PredictionLogSource:
    source = make_source(PredictionLogSourceConfig(uri=_uri(db), **kw))
    assert isinstance(source, PredictionLogSource)
    return source


def test_batches_hold_features_label_and_time(db: Path, plog: PredictionLog) -> None:
    _serve(plog, "a", [1.0, -2.0, 3.0])
    _serve(plog, "b", [-4.0, 5.0], at=LONG_AGO + timedelta(minutes=5))
    plog.feedback([FeedbackItem(request_id="a", row=1, label=0),
                   FeedbackItem(request_id="b", row=1, label=1)])
    source = _source(db, task="classification")
    assert isinstance(source, StreamSource)
    assert (source.target, source.label_delay, source.true_drift_rows) == ("label", 0, ())
    assert source.categorical_features == ()
    batches = list(source.batches(2))
    assert [(b.start, b.end) for b in batches] == [(0, 2), (2, 4), (4, 5)]
    x = pd.concat([b.features for b in batches])
    assert list(x.columns) == ["x", "colour"]
    assert x["x"].tolist() == [1.0, -2.0, 3.0, -4.0, 5.0]
    assert x["colour"].tolist() == ["red", "blue", "red", "blue", "red"]
    y = pd.concat([_y(b) for b in batches])
    assert y.name == "label"
    np.testing.assert_array_equal(y.to_numpy(dtype=float), [np.nan, 0, np.nan, np.nan, 1])
    ts = pd.concat([b.timestamps for b in batches if b.timestamps is not None])
    assert str(ts.dtype) == "datetime64[ns, UTC]"
    assert ts.tolist() == [pd.Timestamp(LONG_AGO)] * 3 + [pd.Timestamp(LONG_AGO)
                                                          + pd.Timedelta(minutes=5)] * 2
    assert source.last_seq == 5


def test_target_name_is_configurable(db: Path, plog: PredictionLog) -> None:
    _serve(plog, "a", [1.0])
    plog.feedback([FeedbackItem(request_id="a", label="yes")])
    batch = next(_source(db, target="y", task="classification").batches(10))
    assert _y(batch).name == "y" and _y(batch).tolist() == ["yes"]


def test_shadow_rows_and_other_models_are_left_out(db: Path, plog: PredictionLog) -> None:
    _serve(plog, "a", [1.0, 2.0])
    _serve(plog, "a", [1.0, 2.0], role="shadow")
    _serve(plog, "b", [7.0], model="other")
    every = _source(db, task="regression")
    assert [len(b) for b in every.batches(10)] == [3]
    mine = _source(db, task="regression", model_name="m")
    assert mine.name == "prediction_log:m"
    (batch,) = mine.batches(10)
    assert batch.features["x"].tolist() == [1.0, 2.0]
    with pytest.raises(SourceError, match=r"no champion prediction of model 'ghost' \(models "
                                          r"logged: \['m', 'other'\]"):
        _source(db, model_name="ghost")


def test_after_seq_and_last_seq_continue_a_stream(db: Path, plog: PredictionLog) -> None:
    _serve(plog, "a", [1.0, 2.0, 3.0])
    source = _source(db, task="regression")
    assert [len(b) for b in source.batches(2)] == [2, 1] and source.last_seq == 3
    assert list(source.batches(2)) == []  # a poll with nothing new
    _serve(plog, "b", [4.0, 5.0])
    (batch,) = source.batches(10)  # the next poll: only what is new, offsets from 0 again
    assert (batch.start, batch.features["x"].tolist()) == (0, [4.0, 5.0])
    assert source.last_seq == 5
    # a later run starts where this one stopped
    later = _source(db, task="regression", after_seq=3)
    assert [b.features["x"].tolist() for b in later.batches(10)] == [[4.0, 5.0]]
    assert later.last_seq == 5
    assert _source(db, task="regression", after_seq=5).last_seq == 5


def test_last_seq_moves_with_each_batch_handed_over(db: Path, plog: PredictionLog) -> None:
    _serve(plog, "a", [float(i) for i in range(5)])
    source = _source(db, task="regression")
    it = source.batches(2)
    next(it)
    assert source.last_seq == 2  # the consumer stopped after the first batch
    (rest,) = [b.features["x"].tolist() for b in _source(db, task="regression",
                                                          after_seq=source.last_seq).batches(5)]
    assert rest == [2.0, 3.0, 4.0]


def test_label_wait_holds_back_recent_unlabelled_rows(db: Path, plog: PredictionLog) -> None:
    now = datetime.now(UTC)
    _serve(plog, "old-unlabelled", [1.0], at=now - timedelta(hours=2))
    _serve(plog, "old-labelled", [2.0], at=now - timedelta(hours=2))
    _serve(plog, "recent-labelled", [3.0], at=now - timedelta(seconds=5))
    _serve(plog, "recent-unlabelled", [4.0], at=now - timedelta(seconds=5))
    _serve(plog, "after-it", [5.0], at=now - timedelta(seconds=4))
    plog.feedback([FeedbackItem(request_id=r, label=1)
                   for r in ("old-labelled", "recent-labelled", "after-it")])
    source = _source(db, task="classification", label_wait_s=600)
    (batch,) = source.batches(10)
    # the old row without label is given up on; the read stops at the recent one
    assert batch.features["x"].tolist() == [1.0, 2.0, 3.0]
    np.testing.assert_array_equal(_y(batch).to_numpy(dtype=float), [np.nan, 1, 1])
    assert source.last_seq == 3
    assert list(source.batches(10)) == []  # still waiting
    plog.feedback([FeedbackItem(request_id="recent-unlabelled", label=0)])
    (batch,) = source.batches(10)
    assert batch.features["x"].tolist() == [4.0, 5.0] and _y(batch).tolist() == [0, 1]
    assert source.last_seq == 5
    # without waiting, every row comes at once
    assert [len(b) for b in _source(db, task="classification").batches(10)] == [5]


@pytest.mark.parametrize(
    ("labels", "task"),
    [
        (["spam", "ham", "spam"], "classification"),
        ([0, 1, 1], "classification"),
        ([float(i) + 0.5 for i in range(30)], "regression"),
    ],
)
def test_task_is_detected_from_the_labels(db: Path, plog: PredictionLog, labels: list,
                                          task: str) -> None:
    _serve(plog, "a", [float(i) for i in range(len(labels))])
    plog.feedback([FeedbackItem(request_id="a", row=i, label=v) for i, v in enumerate(labels)])
    assert _source(db).task == task
    assert _source(db, task="regression").task == "regression"  # a configured task wins


def test_no_labels_yet_means_the_task_must_be_set(db: Path, plog: PredictionLog) -> None:
    _serve(plog, "a", [1.0])
    with pytest.raises(SourceError, match="no feedback label .*Set PredictionLogSourceConfig.task"):
        _ = _source(db).task


def test_a_missing_or_empty_log_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "predictions.db"
    with pytest.raises(SourceError, match="does not exist.*has not logged predictions there yet"):
        _source(missing)
    assert not missing.exists()  # looking did not create it
    other = tmp_path / "other.db"
    sqlite3.connect(other).close()
    with pytest.raises(SourceError, match="no table driftloop_predictions or driftloop_feedback"
                                          ".*has not logged predictions there yet"):
        _source(other)
    empty = tmp_path / "empty.db"
    PredictionLog(_uri(empty)).close()
    with pytest.raises(SourceError, match="no champion prediction.*has not logged predictions"):
        _source(empty)


def test_shadow_only_log_counts_as_empty(db: Path, plog: PredictionLog) -> None:
    _serve(plog, "a", [1.0], role="shadow")
    with pytest.raises(SourceError, match="holds no champion prediction"):
        _source(db)


def test_in_memory_uri_is_refused() -> None:
    with pytest.raises(SourceError, match="in-memory SQLite database"):
        make_source(PredictionLogSourceConfig(uri="sqlite://"))


def test_bad_batch_size_is_refused(db: Path, plog: PredictionLog) -> None:
    _serve(plog, "a", [1.0])
    with pytest.raises(ValueError, match="'batch_size' parameter"):
        next(_source(db, task="regression").batches(0))


def test_config_validates_through_the_union_and_round_trips(db: Path) -> None:
    union: pydantic.TypeAdapter = pydantic.TypeAdapter(SourceConfig)
    cfg = union.validate_python({"kind": "prediction_log", "uri": _uri(db), "label_wait_s": 60})
    assert isinstance(cfg, PredictionLogSourceConfig)
    assert (cfg.target, cfg.task, cfg.after_seq, cfg.label_wait_s) == ("label", None, 0, 60.0)
    assert isinstance(union.validate_python({"uri": _uri(db)}), PredictionLogSourceConfig)
    assert union.validate_json(union.dump_json(cfg)) == cfg
    assert SOURCES["prediction_log"].config is PredictionLogSourceConfig
    with pytest.raises(pydantic.ValidationError, match="must be a SQLAlchemy database URI"):
        PredictionLogSourceConfig(uri="just words")
    with pytest.raises(pydantic.ValidationError, match="label_wait_s"):
        PredictionLogSourceConfig(uri=_uri(db), label_wait_s=-1)
    with pytest.raises(pydantic.ValidationError, match="after_seq"):
        PredictionLogSourceConfig(uri=_uri(db), after_seq=-1)
    with pytest.raises(pydantic.ValidationError, match="Extra inputs"):
        union.validate_python({"kind": "prediction_log", "uri": _uri(db), "path": "x"})


def test_make_source_by_mapping_and_repr_hides_the_password(db: Path,
                                                            plog: PredictionLog) -> None:
    _serve(plog, "a", [1.0])
    source = make_source({"kind": "prediction_log", "uri": _uri(db), "task": "regression"})
    assert isinstance(source, PredictionLogSource) and source.name == "prediction_log:predictions.db"
    assert repr(source) == f"PredictionLogSource('sqlite:///{db}', model_name=None)"
    source.close()
    with pytest.raises(SourceError, match="is closed"):
        next(source.batches(1))
    with pytest.raises(SourceError) as info:  # no driver or no server: no password either way
        make_source({"kind": "prediction_log", "uri": "postgresql://u:secret@127.0.0.1:1/db"})
    assert "secret" not in str(info.value) and "u:***@127.0.0.1:1" in str(info.value)


def test_history_is_the_newest_labelled_rows_oldest_first(db: Path, plog: PredictionLog) -> None:
    _serve(plog, "a", [1.0, -2.0, 3.0])
    _serve(plog, "b", [-4.0, 5.0], at=LONG_AGO + timedelta(minutes=5))
    _serve(plog, "s", [9.0], role="shadow")
    plog.feedback([FeedbackItem(request_id="a", row=0, label=1),
                   FeedbackItem(request_id="a", row=2, label=1),
                   FeedbackItem(request_id="b", row=0, label=0)])
    source = _source(db, task="classification")
    history = source.history(2)
    assert history["x"].tolist() == [3.0, -4.0]  # a/2 and b/0; the unlabelled a/1, b/1 left out
    assert history["colour"].tolist() == ["red", "blue"]
    assert history["label"].tolist() == [1, 0]
    assert source.history(100)["x"].tolist() == [1.0, 3.0, -4.0]
    assert source.last_seq == 0  # history does not move the stream's offset
    with pytest.raises(SourceError, match="positive int"):
        source.history(0)
    source.close()
