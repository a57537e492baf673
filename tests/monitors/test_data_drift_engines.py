"""DataDriftCheck's two engines give the same verdicts; driftloop's runs inside Evidently.

Real Evidently throughout: ``engine="evidently"`` runs ``DataDriftPreset``; ``engine="driftloop"``
runs :mod:`monitors.drift_engine`, directly (snapshots off) or through the Evidently plug-in
(snapshots on).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitors.data_drift import DataDriftCheck, DataDriftConfig, DataDriftResult, DriftWorkspace
from monitors.errors import DriftCheckError
from monitors.stream import Window

RTOL = 1e-9


def _frames(n_ref: int, n_cur: int, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)

    def frame(n: int, shift: float) -> pd.DataFrame:
        return pd.DataFrame({
            "a": rng.normal(shift, 1, n),
            "b": rng.exponential(1 + shift, n),
            "k": rng.integers(0, 4, n),                     # low-cardinality numeric
            "i": rng.integers(0, 500, n),                   # integer
            "c": rng.choice(["x", "y", "z"], n, p=[0.5 - shift / 4, 0.3, 0.2 + shift / 4]),
            "flag": rng.random(n) < 0.3 + shift / 5,
        })

    ref, cur = frame(n_ref, 0.0), frame(n_cur, 0.4)
    cur.loc[cur.index[:7], "a"] = np.nan
    cur.loc[cur.index[7:9], "b"] = np.nan
    return ref, cur


def _check(engine: str, ref: pd.DataFrame, cur: pd.DataFrame, *, snapshots: bool,
           **cfg: object) -> DataDriftResult:
    rng = np.random.default_rng(5)
    preds_ref = rng.integers(0, 2, len(ref))
    preds_cur = rng.integers(0, 2, len(cur))
    check = DataDriftCheck(DataDriftConfig(engine=engine, snapshots=snapshots,
                                           reference_size=len(ref), **cfg))  # type: ignore[arg-type]
    check.fit(ref, reference_predictions=preds_ref)
    return check.calculate(cur, Window(3, 0, len(cur)), predictions=preds_cur)


def _assert_same(a: DataDriftResult, b: DataDriftResult, *, count: bool = True) -> None:
    assert [c.name for c in a.columns] == [c.name for c in b.columns]
    for x, y in zip(a.columns, b.columns, strict=True):
        assert (x.method, x.threshold, x.drifted) == (y.method, y.threshold, y.drifted), (x, y)
        assert x.score == pytest.approx(y.score, rel=RTOL, abs=1e-12), (x, y)
    assert a.n_drifted == sum(c.drifted for c in a.columns)
    if count:
        assert (a.n_drifted, a.dataset_drift) == (b.n_drifted, b.dataset_drift)
        assert a.share_drifted == pytest.approx(b.share_drifted)
    assert a.prediction_drift is not None and b.prediction_drift is not None
    assert a.prediction_drift.drifted == b.prediction_drift.drifted
    assert a.prediction_drift.score == pytest.approx(b.prediction_drift.score, rel=RTOL)


@pytest.mark.parametrize(("n_ref", "n_cur"), [(600, 300), (3000, 1000)])
@pytest.mark.parametrize("method", [None, "psi", "jensenshannon"])
def test_driftloop_engine_matches_evidentlys_preset(n_ref: int, n_cur: int, method: str | None) -> None:
    ref, cur = _frames(n_ref, n_cur)
    evidently = _check("evidently", ref, cur, snapshots=True, method=method)
    direct = _check("driftloop", ref, cur, snapshots=False, method=method)
    plugged = _check("driftloop", ref, cur, snapshots=True, method=method)
    assert evidently.n_drifted > 0  # the comparison is not vacuous
    _assert_same(direct, evidently)
    _assert_same(plugged, evidently)
    assert direct.snapshot is None and plugged.snapshot is not None
    methods = {c.method for c in direct.columns}
    expected = {None: {"ks", "chisquare", "z"} if n_ref <= 1000 else {"wasserstein", "jensenshannon"}}
    if method is None:
        assert methods <= expected[None] | {"jensenshannon", "chisquare", "z"}
        assert methods & expected[None]
    else:
        assert methods == {method}


def test_snapshots_are_evidently_snapshots_with_driftloop_metrics(tmp_path: Path) -> None:
    ref, cur = _frames(3000, 1000)
    result = _check("driftloop", ref, cur, snapshots=True)
    assert result.snapshot is not None
    types = {r.metric_value_location.metric.params["type"]
             for r in result.snapshot.metric_results.values()}
    assert types == {"evidently:metric_v2:DriftloopDriftedColumnsCount",
                     "evidently:metric_v2:DriftloopValueDrift"}
    ws = DriftWorkspace(tmp_path / "ws", "engine-test")
    sid = ws.add(result)
    assert sid in ws.snapshot_ids()
    html = ws.save_html(result, tmp_path / "window.html").read_text()
    assert "Value drift for a (driftloop)" in html
    # the dashboard's share panel plots driftloop's count metric
    project = json.dumps([p.model_dump(mode="json") if hasattr(p, "model_dump") else p.dict()
                          for p in ws._project.dashboard.model().panels], default=str)
    assert "DriftloopDriftedColumnsCount" in project


def test_the_plugin_works_standalone_in_a_report() -> None:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    from monitors.data_drift import _read_snapshot
    from monitors.evidently_plugin import DriftloopDataDriftPreset

    ref, cur = _frames(2500, 800, seed=3)
    ref, cur = ref[["a", "b", "c"]], cur[["a", "b", "c"]]
    definition = DataDefinition(numerical_columns=["a", "b"], categorical_columns=["c"])

    def run(preset: object) -> dict[str, tuple[bool, float]]:
        snap = Report([preset], include_tests=True).run(
            Dataset.from_pandas(cur, data_definition=definition),
            Dataset.from_pandas(ref, data_definition=definition))
        by_column, count = _read_snapshot(snap)
        assert count is not None
        return {n: (c.drifted, c.score) for n, c in by_column.items()}

    ours, theirs = run(DriftloopDataDriftPreset()), run(DataDriftPreset())
    assert ours.keys() == theirs.keys() == {"a", "b", "c"}
    for name in ours:
        assert ours[name][0] == theirs[name][0]
        assert ours[name][1] == pytest.approx(theirs[name][1], rel=RTOL)


def test_correction_reduces_false_alarms_of_ks_on_data_without_drift() -> None:
    rng = np.random.default_rng(11)
    cols = [f"f{i}" for i in range(20)]
    ref = pd.DataFrame(rng.normal(size=(800, 20)), columns=cols)
    raw_alarms = bh_alarms = bonf_alarms = 0
    for w in range(30):
        cur = pd.DataFrame(rng.normal(size=(400, 20)), columns=cols)
        for name, cfg in (("raw", "none"), ("bh", "bh"), ("bonferroni", "bonferroni")):
            check = DataDriftCheck(DataDriftConfig(method="ks", correction=cfg, snapshots=False))
            n = check.fit(ref).calculate(cur, Window(w, 0, 400)).n_drifted
            if name == "raw":
                raw_alarms += n
            elif name == "bh":
                bh_alarms += n
            else:
                bonf_alarms += n
    # 600 tests at 5 %: about 30 raw false alarms; corrected, about 30 x 0.05 / 20 windows' worth
    assert raw_alarms >= 10
    assert bh_alarms <= raw_alarms // 3 and bonf_alarms <= raw_alarms // 3


def test_correction_keeps_real_drift_and_reports_the_effective_threshold() -> None:
    ref, cur = _frames(800, 400)
    plain = _check("driftloop", ref, cur, snapshots=False, method=None)
    bonf = _check("driftloop", ref, cur, snapshots=True, method=None, correction="bonferroni")
    k = sum(c.method in {"ks", "chisquare", "z"} for c in plain.columns)
    for a, b in zip(plain.columns, bonf.columns, strict=True):
        assert b.threshold == pytest.approx(a.threshold / k)
        assert b.drifted == (a.score <= a.threshold / k)
    assert bonf.n_drifted >= 1


def test_correction_needs_the_driftloop_engine_and_a_known_name() -> None:
    with pytest.raises(ValueError, match="needs data_drift.engine='driftloop'"):
        DataDriftConfig(engine="evidently", correction="bh")
    with pytest.raises(ValueError, match="correction must be one of"):
        DataDriftConfig(correction="holm")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="engine must be one of"):
        DataDriftConfig(engine="spark")  # type: ignore[arg-type]


def test_driftloop_engine_reports_bad_windows_clearly() -> None:
    ref, cur = _frames(1500, 500)
    check = DataDriftCheck(DataDriftConfig(snapshots=False)).fit(ref)
    with pytest.raises(DriftCheckError, match=r"lacks the feature column\(s\) \['c'\]"):
        check.calculate(cur.drop(columns="c"), Window(0, 0, 500))
    bad = cur.assign(a=np.nan)
    with pytest.raises(DriftCheckError, match=r"\['a'\] hold only missing values"):
        check.calculate(bad, Window(1, 0, 500))
    with pytest.raises(DriftCheckError, match="does not apply to categorical"):
        DataDriftCheck(DataDriftConfig(method="wasserstein")).fit(ref)


def test_infinite_values_are_dropped_for_the_count_too() -> None:
    """Evidently 0.7.23 drops +-inf before ``ValueDrift`` but, in ``DriftedColumnsCount``, only
    in columns that also hold a NaN: a drifted column with an inf is flagged by its
    ``ValueDrift`` and not counted. driftloop's count always agrees with its column flags."""
    ref, cur = _frames(3000, 1000)
    cur.loc[cur.index[7:9], "b"] = np.inf  # "b" holds no NaN
    evidently = _check("evidently", ref, cur, snapshots=True)
    ours = _check("driftloop", ref, cur, snapshots=True)
    _assert_same(ours, evidently, count=False)
    assert evidently.column("b").drifted and ours.column("b").drifted
    assert evidently.n_drifted == sum(c.drifted for c in evidently.columns) - 1  # Evidently's slip


def test_engine_failures_are_drift_check_errors_that_say_what_to_do() -> None:
    from monitors.drift_engine import ReferenceProfile, compare

    profile = ReferenceProfile.fit(pd.DataFrame({"x": [1.0] * 50}))
    window = pd.DataFrame({"x": [1.0] * 20})
    with pytest.raises(DriftCheckError, match=r"Unknown drift method 'nope'.*wasserstein"):
        compare(profile, window, method="nope")
    with pytest.raises(DriftCheckError, match=r"'anderson' test failed on column 'x'.*another method"):
        compare(profile, window, method="anderson")
