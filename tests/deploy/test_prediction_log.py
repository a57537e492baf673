"""The prediction log: every served row recorded, joined with feedback, safe under concurrency."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pydantic
import pytest

from deploy.prediction_log import (
    FEEDBACK_TABLE,
    PREDICTIONS_TABLE,
    DuplicateRequestError,
    FeedbackItem,
    FeedbackResult,
    PredictionLog,
    PredictionLogError,
    mask_uri,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def log(tmp_path: Path) -> Iterator[PredictionLog]:
    plog = PredictionLog(f"sqlite:///{tmp_path / 'preds.db'}")
    yield plog
    plog.close()


def _record(plog: PredictionLog, request_id: str, n: int = 1, *, role: str = "champion",
            version: int = 1, model: str = "m", served_at: datetime | None = None,
            offset: int = 0) -> None:
    plog.record(
        request_id=request_id, model_name=model, model_version=version, role=role,  # type: ignore[arg-type]
        features=[{"x": float(offset + i), "k": offset + i, "c": "abc"[i % 3]} for i in range(n)],
        predictions=[(offset + i) % 2 for i in range(n)], served_at=served_at,
    )


# ------------------------------------------------------------------------------------------
# Recording and reading back
# ------------------------------------------------------------------------------------------


def test_record_and_served_round_trip_keeps_types(log: PredictionLog) -> None:
    at = datetime(2026, 3, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))
    log.record(
        request_id="req-1", model_name="churn", model_version=4, role="champion",
        features=[
            {"age": np.int64(31), "income": np.float32(1.5), "city": "Oslo", "vip": True},
            {"age": 45, "income": float("nan"), "city": "Bergen", "vip": np.bool_(False)},
        ],
        predictions=np.array([1, 0]),
        served_at=at,
    )
    served = log.served()
    assert list(served.columns) == [
        "seq", "request_id", "row", "role", "model_name", "model_version", "served_at",
        "prediction", "label", "labelled_at", "age", "income", "city", "vip",
    ]
    assert served["seq"].tolist() == [1, 2] and served["row"].tolist() == [0, 1]
    assert served["request_id"].tolist() == ["req-1", "req-1"]
    assert (served["role"] == "champion").all() and (served["model_name"] == "churn").all()
    assert served["model_version"].tolist() == [4, 4]
    assert str(served["served_at"].dtype) == "datetime64[ns, UTC]"
    assert served["served_at"].iloc[0] == pd.Timestamp("2026-03-01 10:30", tz="UTC")
    assert served["prediction"].tolist() == [1, 0]
    assert pd.api.types.is_integer_dtype(served["prediction"])
    assert served["label"].isna().all() and served["labelled_at"].isna().all()
    assert pd.api.types.is_integer_dtype(served["age"]) and served["age"].tolist() == [31, 45]
    # NaN is stored as JSON null and comes back missing, as a float column
    assert pd.api.types.is_float_dtype(served["income"])
    assert served["income"].iloc[0] == 1.5 and np.isnan(served["income"].iloc[1])
    assert served["city"].tolist() == ["Oslo", "Bergen"]
    assert served["vip"].tolist() == [True, False]


def test_multi_row_requests_and_filters(log: PredictionLog) -> None:
    _record(log, "a", 3)
    _record(log, "b", 2, model="other", version=2, offset=3)
    _record(log, "a", 3, role="shadow", version=2)
    served = log.served()
    assert served["seq"].tolist() == [1, 2, 3, 4, 5]
    assert served["request_id"].tolist() == ["a", "a", "a", "b", "b"]
    assert served["row"].tolist() == [0, 1, 2, 0, 1]
    assert served["k"].tolist() == [0, 1, 2, 3, 4]
    assert log.served(model_name="other")["request_id"].tolist() == ["b", "b"]
    assert log.served(after_seq=2)["seq"].tolist() == [3, 4, 5]
    assert log.served(after_seq=1, limit=2)["seq"].tolist() == [2, 3]
    shadow = log.served(role="shadow")
    assert shadow["seq"].tolist() == [6, 7, 8] and (shadow["model_version"] == 2).all()
    assert log.counts() == {"predictions": 5, "shadow": 3, "labelled": 0}


def test_features_are_expanded_in_first_seen_order(log: PredictionLog) -> None:
    log.record(request_id="r", model_name="m", model_version=1, role="champion",
               features=[{"b": 1, "a": "x"}, {"a": "y", "c": 2.5}], predictions=["p", "q"])
    served = log.served()
    assert list(served.columns[-3:]) == ["b", "a", "c"]
    assert served["b"].iloc[0] == 1 and np.isnan(served["b"].iloc[1])
    assert served["prediction"].tolist() == ["p", "q"]


def test_a_feature_named_like_a_log_column_is_prefixed(log: PredictionLog) -> None:
    log.record(request_id="r", model_name="m", model_version=1, role="champion",
               features=[{"label": 3, "x": 1}], predictions=[0])
    served = log.served()
    assert served["feature.label"].tolist() == [3] and served["label"].isna().all()


def test_a_dataframe_of_features_and_list_predictions_are_accepted(log: PredictionLog) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0], "when": pd.to_datetime(["2026-01-01", "2026-01-02"])})
    log.record(request_id="df", model_name="m", model_version=1, role="champion",
               features=frame, predictions=[[0.2, 0.8], [0.9, 0.1]])
    served = log.served()
    assert served["prediction"].tolist() == [[0.2, 0.8], [0.9, 0.1]]
    assert served["when"].tolist() == ["2026-01-01T00:00:00", "2026-01-02T00:00:00"]


def test_empty_log_reads_as_an_empty_frame(log: PredictionLog) -> None:
    served = log.served()
    assert served.empty and list(served.columns)[:10] == [
        "seq", "request_id", "row", "role", "model_name", "model_version", "served_at",
        "prediction", "label", "labelled_at",
    ]
    assert str(served["served_at"].dtype) == "datetime64[ns, UTC]"
    assert log.counts() == {"predictions": 0, "shadow": 0, "labelled": 0}


# ------------------------------------------------------------------------------------------
# Duplicates and bad input: nothing half-written
# ------------------------------------------------------------------------------------------


def test_duplicate_request_id_is_refused_and_nothing_is_written(log: PredictionLog) -> None:
    _record(log, "dup", 2)
    with pytest.raises(DuplicateRequestError, match="'dup' was already logged as champion") as info:
        _record(log, "dup", 5, offset=10)
    assert info.value.request_id == "dup" and info.value.role == "champion"
    assert isinstance(info.value, PredictionLogError)
    served = log.served()
    assert len(served) == 2 and served["k"].tolist() == [0, 1]
    # the same id as shadow is another role: allowed, once
    _record(log, "dup", 2, role="shadow")
    with pytest.raises(DuplicateRequestError):
        _record(log, "dup", 1, role="shadow")
    assert log.counts() == {"predictions": 2, "shadow": 2, "labelled": 0}


def test_a_bad_row_writes_none_of_the_request(log: PredictionLog) -> None:
    with pytest.raises(PredictionLogError, match="Row 2 of the 'features' of request 'bad'.*JSON"):
        log.record(request_id="bad", model_name="m", model_version=1, role="champion",
                   features=[{"x": 1}, {"x": 2}, {"x": object()}], predictions=[0, 1, 0])
    assert log.counts()["predictions"] == 0
    _record(log, "bad", 1)  # the id is still free
    assert log.counts()["predictions"] == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"predictions": [0]}, "got 2 feature rows but 1 predictions"),
        ({"features": [], "predictions": []}, "got no rows"),
        ({"role": "canary"}, "'role' parameter .* one of \\['champion', 'shadow'\\]"),
        ({"model_version": "3"}, "'model_version' parameter .* int >= 0"),
        ({"request_id": ""}, "'request_id' parameter .* non-empty str"),
        ({"served_at": datetime(2026, 1, 1)}, "'served_at' parameter .* timezone-aware"),
        ({"features": {"x": 1}}, "'features' parameter .* sequence of mappings"),
        ({"features": [1, 2]}, "Row 0 of the 'features'.*mapping"),
    ],
)
def test_bad_arguments_name_the_parameter(log: PredictionLog, kwargs: dict, message: str) -> None:
    args = {"request_id": "r", "model_name": "m", "model_version": 1, "role": "champion",
            "features": [{"x": 1}, {"x": 2}], "predictions": [0, 1], **kwargs}
    with pytest.raises(PredictionLogError, match=message):
        log.record(**args)
    assert log.counts()["predictions"] == 0


# ------------------------------------------------------------------------------------------
# Feedback
# ------------------------------------------------------------------------------------------


def test_a_label_arriving_long_after_joins_its_row(log: PredictionLog) -> None:
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    _record(log, "old", 3, served_at=two_days_ago)
    before = log.served()
    assert before["label"].isna().all()
    result = log.feedback([FeedbackItem(request_id="old", row=2, label=1)])
    assert result == FeedbackResult(stored=1, updated=0, unknown=[])
    after = log.served().set_index("row")
    assert after.loc[2, "label"] == 1 and after["label"].isna().sum() == 2
    assert after.loc[2, "labelled_at"] - after.loc[2, "served_at"] > pd.Timedelta(days=1)
    assert log.counts()["labelled"] == 1


def test_a_second_label_replaces_the_first(log: PredictionLog) -> None:
    _record(log, "r", 2)
    assert log.feedback([FeedbackItem(request_id="r", label="cat")]).stored == 1
    first_at = log.served()["labelled_at"].iloc[0]
    result = log.feedback([FeedbackItem(request_id="r", label="dog"),
                           FeedbackItem(request_id="r", row=1, label="cat"),
                           FeedbackItem(request_id="r", row=1, label="emu")])
    assert (result.stored, result.updated, result.unknown) == (1, 2, [])
    served = log.served()
    assert served["label"].tolist() == ["dog", "emu"]
    assert served["labelled_at"].iloc[0] >= first_at
    assert log.counts()["labelled"] == 2


def test_unknown_keys_are_reported_and_not_stored(log: PredictionLog, tmp_path: Path) -> None:
    _record(log, "known", 2)
    _record(log, "shadow-only", 1, role="shadow")
    result = log.feedback([
        FeedbackItem(request_id="nope", label=1),
        FeedbackItem(request_id="known", row=5, label=1),
        FeedbackItem(request_id="known", row=1, label=0),
        FeedbackItem(request_id="shadow-only", label=1),
    ])
    assert result.stored == 1 and result.updated == 0
    assert result.unknown == [("nope", 0), ("known", 5), ("shadow-only", 0)]
    assert log.counts()["labelled"] == 1
    with sqlite3.connect(tmp_path / "preds.db") as conn:  # nothing else reached the table
        assert conn.execute(f"SELECT request_id, row FROM {FEEDBACK_TABLE}").fetchall() == [
            ("known", 1)
        ]


def test_shadow_rows_share_the_champion_label(log: PredictionLog) -> None:
    _record(log, "r", 2)
    _record(log, "r", 2, role="shadow", version=2)
    log.feedback([FeedbackItem(request_id="r", row=0, label=1)])
    shadow = log.served(role="shadow")
    assert shadow["label"].iloc[0] == 1 and np.isnan(shadow["label"].iloc[1])


def test_feedback_items_are_validated() -> None:
    assert FeedbackItem(request_id="r", label=np.int64(3)).label == 3
    with pytest.raises(pydantic.ValidationError, match="label must be a JSON scalar"):
        FeedbackItem(request_id="r", label=None)
    with pytest.raises(pydantic.ValidationError, match="label must be a JSON scalar"):
        FeedbackItem(request_id="r", label=float("nan"))
    with pytest.raises(pydantic.ValidationError, match="row"):
        FeedbackItem(request_id="r", row=-1, label=1)
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        FeedbackItem(request_id="r", label=1).label = 2  # type: ignore[misc]


def test_feedback_refuses_other_items(log: PredictionLog) -> None:
    with pytest.raises(PredictionLogError, match="sequence of FeedbackItem. Got dict"):
        log.feedback([{"request_id": "r", "label": 1}])  # type: ignore[list-item]
    assert log.feedback([]) == FeedbackResult(stored=0, updated=0, unknown=[])


# ------------------------------------------------------------------------------------------
# Concurrency
# ------------------------------------------------------------------------------------------


def test_many_threads_write_one_sqlite_log(log: PredictionLog) -> None:
    n_threads, n_each = 8, 50
    start = threading.Barrier(n_threads)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            start.wait()
            for i in range(n_each):
                _record(log, f"t{t}-{i}", 2, offset=1000 * t + 2 * i)
                if i % 5 == 0:
                    log.feedback([FeedbackItem(request_id=f"t{t}-{i}", row=1, label=i)])
                if i % 10 == 0:
                    log.counts()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert log.counts() == {"predictions": n_threads * n_each * 2, "shadow": 0,
                            "labelled": n_threads * n_each // 5}
    served = log.served()
    assert served["seq"].is_monotonic_increasing and served["seq"].is_unique
    # each request's rows are consecutive: one transaction per request
    first = served.groupby("request_id")["seq"].agg(["min", "max"])
    assert ((first["max"] - first["min"]) == 1).all()


_READER = textwrap.dedent(
    """
    import json, sys, time
    from monitors.sources import PredictionLogSourceConfig, make_source

    uri, expected = sys.argv[1], int(sys.argv[2])
    source = make_source(PredictionLogSourceConfig(uri=uri, task="classification"))
    print("ready", flush=True)
    seen, polls = [], 0
    deadline = time.monotonic() + 60
    while len(seen) < expected and time.monotonic() < deadline:
        for batch in source.batches(7):
            seen.extend(int(v) for v in batch.features["k"])
        polls += 1
        time.sleep(0.005)
    print(json.dumps({"seen": seen, "polls": polls, "last_seq": source.last_seq}))
    """
)


def test_another_process_reads_while_the_service_writes(tmp_path: Path) -> None:
    db = tmp_path / "state" / "predictions.db"
    plog = PredictionLog(f"sqlite:///{db}")
    n = 150
    _record(plog, "r0", 1)  # the log exists before the reader starts
    reader = subprocess.Popen(
        [sys.executable, "-c", _READER, f"sqlite:///{db}", str(n)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert reader.stdout is not None
        assert reader.stdout.readline().strip() == "ready"  # it reads while we write
        for i in range(1, n):
            _record(plog, f"r{i}", 1, offset=i)
            plog.feedback([FeedbackItem(request_id=f"r{i - 1}", label=i % 2)])
            time.sleep(0.002)
        out, err = reader.communicate(timeout=90)
    finally:
        if reader.poll() is None:  # pragma: no cover - only when the reader hangs
            reader.kill()
        plog.close()
    assert reader.returncode == 0, err
    result = json.loads(out)
    # every row exactly once, in the order it was served, over several polls
    assert result["seen"] == list(range(n)), err
    assert result["last_seq"] == n
    assert result["polls"] > 1


_WRITER = textwrap.dedent(
    """
    import sys
    from deploy.prediction_log import FeedbackItem, PredictionLog

    uri, name = sys.argv[1], sys.argv[2]
    print("ready", flush=True)
    sys.stdin.readline()  # go: all writers create the tables at the same moment
    log = PredictionLog(uri)
    for i in range(30):
        log.record(request_id=f"{name}-{i}", model_name="m", model_version=1, role="champion",
                   features=[{"x": i}, {"x": -i}], predictions=[0, 1])
        log.feedback([FeedbackItem(request_id=f"{name}-{i}", row=1, label=1)])
    """
)


def test_several_processes_create_and_write_one_sqlite_file(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'fresh' / 'predictions.db'}"
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, uri, f"p{k}"], cwd=REPO,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
        for k in range(4)
    ]
    for w in writers:
        assert w.stdout is not None and w.stdout.readline().strip() == "ready"
    for w in writers:
        assert w.stdin is not None
        w.stdin.write("go\n")
        w.stdin.flush()
    for w in writers:
        _, err = w.communicate(timeout=90)
        assert w.returncode == 0, err
    plog = PredictionLog(uri)
    assert plog.counts() == {"predictions": 240, "shadow": 0, "labelled": 120}
    plog.close()


# ------------------------------------------------------------------------------------------
# URIs, files, lifecycle
# ------------------------------------------------------------------------------------------


def test_in_state_dir_creates_the_sqlite_file_in_wal_mode(tmp_path: Path) -> None:
    state = tmp_path / "nested" / ".driftloop"
    plog = PredictionLog.in_state_dir(state)
    _record(plog, "r", 1)
    path = state / "predictions.db"
    assert path.is_file()
    assert repr(plog) == f"PredictionLog('sqlite:///{path.resolve()}')"
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {PREDICTIONS_TABLE, FEEDBACK_TABLE} <= tables
    plog.close()
    # a second log on the same file sees what the first wrote
    again = PredictionLog(f"sqlite:///{path}")
    assert again.counts()["predictions"] == 1
    again.close()


def test_a_closed_log_says_so(tmp_path: Path) -> None:
    plog = PredictionLog.in_state_dir(tmp_path)
    plog.close()
    plog.close()  # twice is fine
    with pytest.raises(PredictionLogError, match="is closed; open a new PredictionLog"):
        plog.counts()


def test_the_password_never_shows() -> None:
    assert mask_uri("postgresql://u:secret@h/db") == "postgresql://u:***@h/db"
    # no driver or no server: either way a clear error without the password
    with pytest.raises(PredictionLogError) as info:
        PredictionLog("postgresql://u:secret@127.0.0.1:1/db")
    assert "secret" not in str(info.value) and "postgresql://u:***@127.0.0.1:1/db" in str(
        info.value
    )
    with pytest.raises(PredictionLogError, match="must be a SQLAlchemy database URI") as info:
        PredictionLog("nonsense")
    assert "secret" not in str(info.value)


def test_tables_of_another_layout_are_refused(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute(f"CREATE TABLE {PREDICTIONS_TABLE} (seq INTEGER PRIMARY KEY, id TEXT)")
    with pytest.raises(PredictionLogError, match="lacks the columns .*'request_id'"):
        PredictionLog(f"sqlite:///{db}")


def test_in_memory_log_works_from_threads() -> None:
    plog = PredictionLog("sqlite://")
    threads = [threading.Thread(target=_record, args=(plog, f"m{i}", 3)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert plog.counts()["predictions"] == 12
    plog.close()


def test_shadow_comparison_scores_both_sides_on_the_same_labelled_rows(log: PredictionLog) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    feats = [{"x": float(i)} for i in range(4)]
    log.record(request_id="r1", model_name="m", model_version=1, role="champion",
               features=feats, predictions=["a", "a", "b", "b"], served_at=at)
    log.record(request_id="r1", model_name="m", model_version=2, role="shadow",
               features=feats, predictions=["a", "b", "b", "a"], served_at=at)
    log.record(request_id="r2", model_name="m", model_version=1, role="champion",
               features=feats[:1], predictions=["a"], served_at=at)  # never shadow-scored
    log.feedback([FeedbackItem(request_id="r1", row=i, label=y)
                  for i, y in enumerate(["a", "b", "b"])]  # row 3 is not labelled yet
                 + [FeedbackItem(request_id="r2", label="b")])
    (pair,) = log.shadow_comparison(model_name="m")
    assert pair == {"champion_version": 1, "shadow_version": 2, "rows": 4, "agreement": 0.5,
                    "labelled": 3, "champion_accuracy": pytest.approx(2 / 3),
                    "shadow_accuracy": 1.0}
    assert log.shadow_comparison(model_name="other") == []


def test_shadow_comparison_of_numeric_predictions_has_mae(log: PredictionLog) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    feats = [{"x": 1.0}, {"x": 2.0}]
    log.record(request_id="q", model_name="m", model_version=3, role="champion",
               features=feats, predictions=[1.0, 2.0], served_at=at)
    log.record(request_id="q", model_name="m", model_version=4, role="shadow",
               features=feats, predictions=[1.5, 2.0], served_at=at)
    log.feedback([FeedbackItem(request_id="q", row=0, label=2.0),
                  FeedbackItem(request_id="q", row=1, label=2.0)])
    (pair,) = log.shadow_comparison()
    assert pair["champion_mae"] == pytest.approx(0.5) and pair["shadow_mae"] == pytest.approx(0.25)
