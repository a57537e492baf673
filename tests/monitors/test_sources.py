"""Stream sources: synthetic drifting streams and file replay."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pydantic
import pytest
from river.datasets import synth

from monitors.errors import SourceError
from monitors.sources import (
    GENERATORS,
    SOURCES,
    CovariateShift,
    FileSource,
    FileSourceConfig,
    StreamSource,
    SyntheticSource,
    SyntheticStreamConfig,
    make_source,
)
from monitors.stream import Batch

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
GENERATOR_NAMES = list(GENERATORS)


def synthetic(**kw) -> SyntheticSource:  # type: ignore[no-untyped-def]
    return SyntheticSource(SyntheticStreamConfig(**kw))


def assert_contiguous(batches: list[Batch], n_rows: int, batch_size: int) -> None:
    """Offsets run 0..n_rows-1 without gap, every batch full but the last."""
    assert batches[0].start == 0
    for a, b in zip(batches, batches[1:], strict=False):
        assert a.end == b.start
        assert len(a) == batch_size
    assert 0 < len(batches[-1]) <= batch_size
    assert batches[-1].end == n_rows
    index = np.concatenate([b.features.index.to_numpy() for b in batches])
    np.testing.assert_array_equal(index, np.arange(n_rows))


# ------------------------------------------------------------------------------------------
# Synthetic streams
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("generator", GENERATOR_NAMES)
def test_generator_yields_requested_rows_with_stable_offsets(generator: str) -> None:
    src = synthetic(generator=generator, n_rows=1500, drift_rows=(500, 1000), seed=3)
    batches = list(src.batches(400))
    assert [(b.start, b.end) for b in batches] == [(0, 400), (400, 800), (800, 1200), (1200, 1500)]
    assert_contiguous(batches, 1500, 400)
    whole = Batch.concat(batches)
    assert list(whole.features.columns) == list(GENERATORS[generator].features)
    assert whole.target is not None and whole.target.name == "y"
    assert whole.target.dtype == np.int64
    assert set(whole.target.unique()) == {0, 1}
    assert not whole.features.isna().any().any()
    assert isinstance(src, StreamSource)
    assert (src.task, src.target, src.true_drift_rows) == ("classification", "y", (500, 1000))
    # Calling batches() again replays the same stream from row 0.
    again = Batch.concat(list(src.batches(1000)))
    pd.testing.assert_frame_equal(again.features, whole.features)


@pytest.mark.parametrize("generator", GENERATOR_NAMES)
def test_same_seed_same_stream_other_seed_other_stream(generator: str) -> None:
    cfg = dict(generator=generator, n_rows=600, drift_rows=(300,), drift_width=50)
    a, b = synthetic(seed=7, **cfg).frame(), synthetic(seed=7, **cfg).frame()
    pd.testing.assert_frame_equal(a, b)
    c = synthetic(seed=8, **cfg).frame()
    assert not a.equals(c)


def test_categorical_features_are_integer_codes() -> None:
    src = synthetic(generator="agrawal", n_rows=2000, drift_rows=())
    frame = src.frame()
    assert src.categorical_features == ("elevel", "car", "zipcode")
    assert set(frame["elevel"]) == set(range(5))
    assert set(frame["car"]) == set(range(1, 21))
    assert synthetic(generator="stagger", n_rows=10, drift_rows=()).categorical_features == (
        "size",
        "color",
        "shape",
    )


def _river_labels(generator: str, concept: int, frame: pd.DataFrame) -> np.ndarray:
    """Labels straight from River's own concept functions (independent of driftloop)."""
    if generator == "sea":
        threshold = {0: 8, 1: 9, 2: 7, 3: 9.5}[concept]
        return (frame["x0"] + frame["x1"] > threshold).to_numpy().astype(int)
    if generator == "agrawal":
        fn = synth.Agrawal()._classification_functions[concept]
    else:
        fn = synth.STAGGER()._functions[concept]
    return np.array([fn(**r) for r in frame.drop(columns="y").to_dict("records")])


@pytest.mark.parametrize("generator", ["sea", "agrawal", "stagger"])
def test_abrupt_drift_switches_concept_exactly_at_the_drift_row(generator: str) -> None:
    p1, p2, n = 1000, 2000, 3000
    src = synthetic(generator=generator, n_rows=n, drift_rows=(p1, p2), noise=0.0, seed=11)
    frame = src.frame()
    y = frame["y"].to_numpy()
    c0, c1, c2 = src.concepts
    assert (c0, c1, c2) == {"sea": (2, 3, 0), "agrawal": (0, 2, 6), "stagger": (0, 1, 2)}[generator]
    old = {c: _river_labels(generator, c, frame) for c in (c0, c1, c2)}
    # Every row before the drift follows the old concept, every row from it the new one ...
    np.testing.assert_array_equal(y[:p1], old[c0][:p1])
    np.testing.assert_array_equal(y[p1:p2], old[c1][p1:p2])
    np.testing.assert_array_equal(y[p2:], old[c2][p2:])
    # ... and the old concept really disagrees with the new rows (a clear accuracy drop).
    drop1 = 1 - (old[c0][p1:p2] == y[p1:p2]).mean()
    drop2 = 1 - (old[c1][p2:] == y[p2:]).mean()
    minimum = {"sea": 0.1, "agrawal": 0.4, "stagger": 0.4}[generator]
    assert drop1 > minimum and drop2 > minimum
    np.testing.assert_array_equal(src.segments, np.repeat([0, 1, 2], 1000))


def test_hyperplane_drift_moves_the_plane_at_the_drift_row() -> None:
    p, n = 1500, 3000
    src = synthetic(generator="hyperplane", n_rows=n, drift_rows=(p,), noise=0.0, seed=5)
    frame = src.frame()
    x, y = frame.drop(columns="y"), frame["y"].to_numpy()
    old, new = src.concept_labels(x, src.concepts[0]), src.concept_labels(x, src.concepts[1])
    np.testing.assert_array_equal(y[:p], old[:p])
    np.testing.assert_array_equal(y[p:], new[p:])
    assert (old[p:] == y[p:]).mean() < 0.9  # the old plane is wrong on >10% of new rows


def test_rbf_drift_redraws_centroids_so_old_neighbours_stop_predicting() -> None:
    # Model-free check: 5 nearest neighbours among rows 0..1999 predict rows 2000..2999 well
    # but rows after the drift at 3000 no better than a coin.
    src = synthetic(generator="rbf", n_rows=4000, drift_rows=(3000,), noise=0.0, seed=2)
    frame = src.frame()
    x, y = frame.drop(columns="y").to_numpy(), frame["y"].to_numpy()
    ref_x, ref_y = x[:2000], y[:2000]

    def knn_accuracy(rows: slice) -> float:
        d = ((x[rows][:, None, :] - ref_x[None, :, :]) ** 2).sum(-1)
        votes = ref_y[np.argsort(d, axis=1)[:, :5]].mean(axis=1)
        return float(((votes > 0.5).astype(int) == y[rows]).mean())

    before, after = knn_accuracy(slice(2000, 3000)), knn_accuracy(slice(3000, 4000))
    assert before > 0.85
    assert after < 0.65
    with pytest.raises(SourceError, match="not available for generator 'rbf'"):
        src.concept_labels(frame.drop(columns="y"), 0)


def test_gradual_drift_mixes_concepts_over_the_width() -> None:
    p, w, n = 3000, 1000, 6000
    src = synthetic(generator="sea", n_rows=n, drift_rows=(p,), drift_width=w, noise=0.0, seed=1)
    seg = src.segments
    assert seg[: p - 2 * w].mean() < 0.01  # essentially all old concept long before
    assert seg[p + 2 * w :].mean() > 0.99  # essentially all new concept long after
    middle = seg[p - w // 4 : p + w // 4].mean()
    assert 0.3 < middle < 0.7  # a real mix around the drift row
    # The share of the new concept follows River's sigmoid 1 / (1 + exp(-4 (t - p) / w)).
    for lo in range(p - w, p + w, 250):
        expected = (1 / (1 + np.exp(-4 * (np.arange(lo, lo + 250) - p) / w))).mean()
        assert abs(seg[lo : lo + 250].mean() - expected) < 0.1
    # Each row's label follows the concept it was drawn from.
    frame = src.frame()
    old, new = (_river_labels("sea", c, frame) for c in src.concepts)
    np.testing.assert_array_equal(frame["y"].to_numpy(), np.where(seg == 1, new, old))


def test_label_noise_flips_about_the_requested_share() -> None:
    clean = synthetic(generator="sea", n_rows=5000, drift_rows=(), noise=0.0).frame()
    noisy = synthetic(generator="sea", n_rows=5000, drift_rows=(), noise=0.2).frame()
    pd.testing.assert_frame_equal(clean.drop(columns="y"), noisy.drop(columns="y"))
    assert 0.18 < (clean["y"] != noisy["y"]).mean() < 0.22


def test_covariate_shift_moves_the_feature_after_its_row_only() -> None:
    cfg = dict(generator="sea", n_rows=4000, drift_rows=(), noise=0.0, seed=4)
    base = synthetic(**cfg).frame()
    shift = CovariateShift(features=("x2",), start_row=2500, shift=5.0)
    src = synthetic(covariate_shift=shift, **cfg)
    shifted = src.frame()
    pd.testing.assert_frame_equal(shifted.iloc[:2500], base.iloc[:2500])
    np.testing.assert_allclose(shifted["x2"].iloc[2500:], base["x2"].iloc[2500:] + 5.0)
    pd.testing.assert_frame_equal(shifted.drop(columns="x2"), base.drop(columns="x2"))
    assert abs(shifted["x2"].iloc[:2500].mean() - 5.0) < 0.3
    assert abs(shifted["x2"].iloc[2500:].mean() - 10.0) < 0.3
    assert src.covariate_shift_rows == (2500,)
    assert src.concept_drift_rows == ()
    assert src.true_drift_rows == (2500,)


def test_covariate_shift_scale_and_union_of_drift_rows() -> None:
    shift = CovariateShift(features=("salary", "loan"), start_row=700, scale=2.0)
    src = synthetic(generator="agrawal", n_rows=1000, drift_rows=(400,), covariate_shift=shift)
    base = synthetic(generator="agrawal", n_rows=1000, drift_rows=(400,)).frame()
    frame = src.frame()
    np.testing.assert_allclose(frame["salary"].iloc[700:], 2 * base["salary"].iloc[700:])
    np.testing.assert_allclose(frame["loan"].iloc[:700], base["loan"].iloc[:700])
    assert src.true_drift_rows == (400, 700)


def test_label_delay_is_exposed() -> None:
    assert synthetic(n_rows=100, drift_rows=(), label_delay=25).label_delay == 25


def test_default_config_is_the_documented_stream() -> None:
    cfg = SyntheticStreamConfig()
    assert (cfg.generator, cfg.n_rows, cfg.drift_rows, cfg.drift_width) == (
        "agrawal",
        30_000,
        (10_000, 20_000),
        1,
    )
    assert (cfg.noise, cfg.label_delay, cfg.seed, cfg.concepts) == (0.05, 0, 42, None)
    assert cfg.resolved_concepts == (0, 2, 6)
    assert SyntheticStreamConfig.model_validate_json(cfg.model_dump_json()) == cfg
    five = SyntheticStreamConfig(generator="sea", n_rows=600, drift_rows=(100, 200, 300, 400, 500))
    assert five.resolved_concepts == (2, 3, 0, 1, 2, 3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"generator": "sine"},
            r"generator\n.*'sea', 'agrawal', 'hyperplane', 'rbf' or "
            r"'stagger'.*input_value='sine'",
        ),
        ({"drift_rows": (200, 100), "n_rows": 300}, "strictly increasing"),
        ({"n_rows": 5000}, r"drift_rows \[10000, 20000\] are outside the stream.*1\.\.4999"),
        ({"drift_rows": (0,), "n_rows": 10}, "outside the stream"),
        ({"concepts": (0, 1)}, "concepts has 2 entries but drift_rows .* makes 3 segments"),
        (
            {"generator": "sea", "concepts": (0, 4, 1)},
            r"concepts \[4\] are not valid for "
            r"generator 'sea'.*one of \(0, 1, 2, 3\)",
        ),
        ({"generator": "rbf", "concepts": (0, -1, 2)}, "an int >= 0"),
        ({"concepts": (0, 0, 1)}, r"repeat the same concept across drift row\(s\) \[10000\]"),
        (
            {"covariate_shift": {"features": ["elevel"], "start_row": 5, "shift": 1}},
            r"\['elevel'\] are not numeric features of generator 'agrawal'; choose from",
        ),
        (
            {
                "generator": "stagger",
                "covariate_shift": {"features": ["size"], "start_row": 5, "shift": 1},
            },
            r"choose from \[\]",
        ),
        (
            {"covariate_shift": {"features": ["age"], "start_row": 50_000, "shift": 1}},
            "start_row=50000 is outside the stream",
        ),
        ({"covariate_shift": {"features": ["age"], "start_row": 5}}, "changes nothing"),
        ({"noise": 1.5}, r"noise\n.*less than 1"),
        ({"label_delay": -1}, r"label_delay\n.*greater than or equal to 0"),
        ({"drift_width": 0}, r"drift_width\n"),
        ({"n_row": 5}, r"n_row\n.*Extra inputs are not permitted"),
    ],
)
def test_bad_synthetic_config_names_the_key_and_the_fix(kwargs: dict, message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        SyntheticStreamConfig(**kwargs)


def test_config_is_frozen() -> None:
    cfg = SyntheticStreamConfig()
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        cfg.n_rows = 5  # type: ignore[misc]


@pytest.mark.parametrize("size", [0, -3, 2.5, True])
def test_bad_batch_size_is_refused(size: object) -> None:
    with pytest.raises(ValueError, match="'batch_size' parameter of batches"):
        next(synthetic(n_rows=10, drift_rows=()).batches(size))  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------
# Registry
# ------------------------------------------------------------------------------------------


def test_make_source_by_config_mapping_and_name(tmp_path: Path) -> None:
    assert isinstance(make_source(SyntheticStreamConfig(n_rows=10, drift_rows=())), SyntheticSource)
    src = make_source({"kind": "synthetic", "generator": "sea", "n_rows": 10, "drift_rows": []})
    assert src.name == "synthetic:sea"
    assert make_source("synthetic").name == "synthetic:agrawal"
    path = tmp_path / "d.csv"
    pd.DataFrame({"x": [1, 2], "y": [0, 1]}).to_csv(path, index=False)
    assert isinstance(make_source({"kind": "file", "path": str(path), "target": "y"}), FileSource)
    assert set(SOURCES) == {"synthetic", "file", "folder", "prediction_log"}


def test_make_source_lists_the_valid_kinds() -> None:
    with pytest.raises(
        SourceError, match="Unknown source kind 'kafka'; valid kinds: 'synthetic', 'file', 'folder'"
    ):
        make_source({"kind": "kafka"})
    with pytest.raises(SourceError, match="no 'kind' key"):
        make_source({"generator": "sea"})
    with pytest.raises(pydantic.ValidationError, match="path\n.*Field required"):
        make_source("file")


# ------------------------------------------------------------------------------------------
# File replay
# ------------------------------------------------------------------------------------------


def _frame(n: int = 1050) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": rng.integers(0, 100, size=n),
            "c": rng.choice(["u", "v", "w"], size=n),
            "y": rng.integers(0, 2, size=n),
        }
    )


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_file_replay_is_contiguous_with_stable_offsets(tmp_path: Path, fmt: str) -> None:
    frame = _frame()
    path = tmp_path / f"data.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    else:
        pq.write_table(pa.Table.from_pandas(frame), path, row_group_size=128)
    src = FileSource(FileSourceConfig(path=path, target="y", chunk_rows=100, label_delay=7))
    assert isinstance(src, StreamSource)
    assert (src.name, src.target, src.label_delay, src.true_drift_rows) == (
        f"file:data.{fmt}",
        "y",
        7,
        (),
    )
    assert src.format == fmt
    # Reads no more than chunk_rows at a time.
    assert max(len(c) for c in src._chunks()) == 100
    batches = list(src.batches(256))
    assert_contiguous(batches, 1050, 256)
    whole = Batch.concat(batches)
    pd.testing.assert_frame_equal(whole.features.reset_index(drop=True), frame.drop(columns="y"))
    np.testing.assert_array_equal(whole.target.to_numpy(), frame["y"].to_numpy())
    assert whole.timestamps is None
    # Replays from row 0 again, with another batch size.
    assert [(b.start, b.end) for b in src.batches(500)] == [(0, 500), (500, 1000), (1000, 1050)]


def _unordered(tmp_path: Path) -> Path:
    path = tmp_path / "events.csv"
    pd.DataFrame(
        {
            "ts": [
                "2024-01-01",
                "2024-01-03",
                "2024-01-02",
                "2024-01-02",
                "2024-01-05",
                "2024-01-04",
            ],
            "x": [0, 1, 2, 3, 4, 5],
            "y": ["a", "b", "a", "b", "a", "b"],
        }
    ).to_csv(path, index=False)
    return path


def test_timestamp_out_of_order_is_sorted_stably(tmp_path: Path) -> None:
    src = FileSource(
        FileSourceConfig(path=_unordered(tmp_path), target="y", timestamp="ts", chunk_rows=2)
    )
    batches = list(src.batches(4))
    assert [(b.start, b.end) for b in batches] == [(0, 4), (4, 6)]
    whole = Batch.concat(batches)
    assert list(whole.features.columns) == ["x"]
    assert whole.features["x"].tolist() == [0, 2, 3, 1, 5, 4]  # ties (rows 2, 3) keep order
    assert whole.timestamps is not None
    assert pd.api.types.is_datetime64_any_dtype(whole.timestamps)
    assert whole.timestamps.is_monotonic_increasing
    assert list(whole.timestamps.index) == list(range(6))


def test_timestamp_out_of_order_errors_naming_the_row(tmp_path: Path) -> None:
    src = FileSource(
        FileSourceConfig(
            path=_unordered(tmp_path), target="y", timestamp="ts", on_unordered="error"
        )
    )
    with pytest.raises(
        SourceError,
        match=r"'ts' .* is not in order: row 2 \(2024-01-02.*\) "
        r"comes before row 1 \(2024-01-03.*2 row\(s\) go back"
        r".*on_unordered='sort'",
    ):
        next(src.batches(2))


def test_ordered_timestamps_stream_in_chunks(tmp_path: Path) -> None:
    path = tmp_path / "ordered.parquet"
    frame = _frame(300).assign(t=np.arange(300) * 1.5)
    frame.to_parquet(path)
    src = FileSource(FileSourceConfig(path=path, target="y", timestamp="t", on_unordered="error"))
    whole = Batch.concat(list(src.batches(128)))
    np.testing.assert_array_equal(whole.timestamps.to_numpy(), frame["t"].to_numpy())
    assert "t" not in whole.features.columns


def test_missing_or_bad_timestamps_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "gaps.csv"
    pd.DataFrame({"ts": ["2024-01-01", None, "2024-01-03"], "y": [1, 0, 1], "x": [1, 2, 3]}).to_csv(
        path, index=False
    )
    with pytest.raises(SourceError, match=r"'ts' .* missing in 1 row\(s\), the first being row 1"):
        next(FileSource(FileSourceConfig(path=path, target="y", timestamp="ts")).batches(2))
    path.write_text("ts,y\n2024-01-01,1\nnot a date,0\n")
    with pytest.raises(SourceError, match="not a date/time in row 1: 'not a date'"):
        next(FileSource(FileSourceConfig(path=path, target="y", timestamp="ts")).batches(2))


@pytest.mark.parametrize(
    ("values", "task"),
    [
        (["UP", "DOWN", "UP"], "classification"),
        ([True, False, True], "classification"),
        ([2, 3, 4, 11, 12], "classification"),
        ([0.0, 1.0, 1.0, 0.0], "classification"),
        (list(np.linspace(0, 1, 50)), "regression"),
        (list(range(100)), "regression"),  # counts such as bike-sharing ``cnt``
    ],
)
def test_task_is_detected_from_the_target(tmp_path: Path, values: list, task: str) -> None:
    path = tmp_path / "t.csv"
    pd.DataFrame({"x": range(len(values)), "y": values}).to_csv(path, index=False)
    assert FileSource(FileSourceConfig(path=path, target="y")).task == task


def test_task_can_be_set(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    pd.DataFrame({"x": range(100), "y": range(100)}).to_csv(path, index=False)
    src = FileSource(FileSourceConfig(path=path, target="y", task="classification"))
    assert src.task == "classification"


def test_file_errors_name_the_path_or_column_and_the_fix(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    pd.DataFrame({"x": [1, 2], "y": [0, 1]}).to_csv(good, index=False)
    cases: list[tuple[dict, str]] = [
        ({"path": tmp_path / "nope.csv", "target": "y"}, "nope.csv does not exist"),
        (
            {"path": good, "target": "label"},
            r"target column 'label' is not in .*good.csv; its columns are \['x', 'y'\]. "
            r"Set FileSourceConfig.target",
        ),
        (
            {"path": good, "target": "y", "timestamp": "when"},
            "timestamp column 'when' is not in .*FileSourceConfig.timestamp",
        ),
        ({"path": tmp_path, "target": "y"}, "is not a file"),
    ]
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    cases.append(({"path": empty, "target": "y"}, r"empty.csv is empty \(0 bytes\)"))
    header = tmp_path / "header.csv"
    header.write_text("x,y\n")
    cases.append(
        (
            {"path": header, "target": "y"},
            r"header.csv has columns \['x', 'y'\] but "
            "no rows",
        )
    )
    odd = tmp_path / "data.json"
    odd.write_text("{}")
    cases.append(
        (
            {"path": odd, "target": "y"},
            "Cannot tell the format of .*data.json.*Set FileSourceConfig.format",
        )
    )
    fake = tmp_path / "fake.parquet"
    fake.write_text("x,y\n1,2\n")
    cases.append(({"path": fake, "target": "y"}, "Cannot read .*fake.parquet as PARQUET"))
    for kwargs, message in cases:
        with pytest.raises(SourceError, match=message):
            FileSource(FileSourceConfig(**kwargs))
    # With the format set, a CSV with another suffix reads fine.
    dat = tmp_path / "d.dat"
    dat.write_text("x,y\n1,0\n")
    assert (
        len(next(FileSource(FileSourceConfig(path=dat, target="y", format="csv")).batches(10))) == 1
    )


def test_bad_file_config_names_the_key() -> None:
    with pytest.raises(
        pydantic.ValidationError,
        match=r"on_unordered\n.*'sort' or 'error'.*"
        r"input_value='drop'",
    ):
        FileSourceConfig(path="x.csv", target="y", on_unordered="drop")
    with pytest.raises(pydantic.ValidationError, match="timestamp and target are both 'y'"):
        FileSourceConfig(path="x.csv", target="y", timestamp="y")
    cfg = FileSourceConfig(path="x.csv", target="y")
    assert (
        cfg.timestamp,
        cfg.label_delay,
        cfg.task,
        cfg.on_unordered,
        cfg.format,
        cfg.chunk_rows,
    ) == (None, 0, "auto", "sort", "auto", 10_000)
    assert FileSourceConfig.model_validate_json(cfg.model_dump_json()) == cfg


@pytest.mark.skipif(
    not (SHARED_DATA / "sea_drift.csv").exists(),
    reason="shared data folder ../shared/data not found",
)
def test_replays_the_shared_sea_drift_benchmark() -> None:
    src = make_source(
        {
            "kind": "file",
            "path": str(SHARED_DATA / "sea_drift.csv"),
            "target": "class",
            "true_drift_rows": [12_500, 25_000, 37_500],
        }
    )
    assert src.task == "classification"
    assert src.true_drift_rows == (12_500, 25_000, 37_500)
    assert src.categorical_features == ()
    batches = list(src.batches(5000))
    assert_contiguous(batches, 50_000, 5000)
    assert list(batches[0].features.columns) == ["attrib1", "attrib2", "attrib3"]
    y = Batch.concat(batches).target
    assert set(y.unique()) == {0, 1}


@pytest.mark.parametrize("generator", ["sea", "agrawal", "stagger", "hyperplane", "rbf"])
def test_segments_after_a_drift_draw_new_rows(generator: str) -> None:
    """A drift changes the concept, not the sample: rows after it are new feature vectors."""
    cfg = SyntheticStreamConfig(generator=generator, n_rows=3000, drift_rows=(1000, 2000), seed=5)
    features = SyntheticSource(cfg).frame().drop(columns=["y"])
    first = features.iloc[:1000].reset_index(drop=True)
    for lo in (1000, 2000):
        later = features.iloc[lo:lo + 1000].reset_index(drop=True)
        assert not first.equals(later)
        same_rows = (first.to_numpy() == later.to_numpy()).all(axis=1).mean()
        assert same_rows < 0.5, f"{generator}: {same_rows:.0%} of rows {lo}.. repeat rows 0.."
