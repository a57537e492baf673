"""scan_rows: one scheduled run's rows through the loop's checks, stopping at a retrain."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitors.concept_drift import ConceptDriftConfig
from monitors.decision import DecisionConfig
from monitors.drift_engine import ReferenceProfile
from monitors.errors import MonitorError
from monitors.scan import scan_rows


def _rule(frame: pd.DataFrame) -> np.ndarray:
    return (frame["a"] > 0.5).astype(int).to_numpy()


def _scan(X: pd.DataFrame, y: np.ndarray, **kw: object):  # type: ignore[no-untyped-def]
    return scan_rows(X, y, _rule, task="classification", baseline_score=0.95, window_size=500,
                     decision=DecisionConfig(), concept_drift=ConceptDriftConfig(), **kw)  # type: ignore[arg-type]


def test_rows_of_the_champions_concept_give_no_retrain() -> None:
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.uniform(size=3000), "b": rng.normal(size=3000)})
    y = _rule(X)
    noisy = rng.random(3000) < 0.03
    y[noisy] = 1 - y[noisy]
    profile = ReferenceProfile.fit(X)
    result = _scan(X, y, profile=profile)
    assert not result.retrain and result.decision is None and result.reasons == ()
    assert len(result.windows) == 6
    assert all(w["decision"] == "none" for w in result.windows)
    assert all(w["data_drift_share"] == 0.0 for w in result.windows)


def test_a_shifted_feature_is_seen_and_a_concept_change_retrains() -> None:
    rng = np.random.default_rng(2)
    ref = pd.DataFrame({"a": rng.uniform(size=3000), "b": rng.normal(size=3000)})
    X = pd.DataFrame({"a": rng.uniform(size=3000), "b": rng.normal(3, 1, size=3000)})
    y = 1 - _rule(X)  # the concept flipped
    result = _scan(X, y, profile=ReferenceProfile.fit(ref), start_row=10_000)
    assert result.retrain and result.kind in {"concept", "performance"}
    assert result.window is not None and result.window.start >= 10_000
    assert result.windows[0]["data_drift_share"] == 0.5  # "b" drifted, "a" did not
    assert result.windows[-1]["decision"] == "retrain"
    assert any("retrain on" in r for r in result.reasons)


def test_bad_inputs_are_refused_with_the_fix() -> None:
    X = pd.DataFrame({"a": [0.1, 0.9]})
    with pytest.raises(MonitorError, match="2 feature rows but 1 labels"):
        _scan(X, np.array([1]))
    with pytest.raises(MonitorError, match="window_size must be a positive int"):
        scan_rows(X, np.array([0, 1]), _rule, task="classification", baseline_score=0.9,
                  window_size=0, decision=DecisionConfig(), concept_drift=ConceptDriftConfig())


def test_a_drift_across_two_runs_is_found_only_with_the_carried_state() -> None:
    """The concept flips exactly where one scheduled run ends and the next begins: alone, the
    second run sees only errors (no change for ADWIN, no baseline to drop from); carrying
    the detector across, it sees the change at its row."""
    import pickle

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.uniform(size=4000)})
    y = (X["a"] > 0.5).astype(int).to_numpy()
    y[2000:] = 1 - y[2000:]

    def predict(f: pd.DataFrame) -> np.ndarray:
        return (f["a"] > 0.5).astype(int).to_numpy()

    kw = {"task": "classification", "baseline_score": float("nan"), "window_size": 500,
          "decision": DecisionConfig(), "concept_drift": ConceptDriftConfig()}
    first = scan_rows(X.iloc[:2000], y[:2000], predict, **kw)
    assert not first.retrain and first.carry is not None and first.carry.next_row == 2000
    alone = scan_rows(X.iloc[2000:], y[2000:], predict, start_row=2000, **kw)
    assert not alone.retrain
    carried = pickle.loads(pickle.dumps(first.carry))  # as it is checkpointed between runs
    after = scan_rows(X.iloc[2000:], y[2000:], predict, carry=carried, **kw)
    assert after.retrain and after.kind == "concept"
    assert after.decision is not None and after.decision.trigger is not None
    assert after.decision.trigger.row == 2015
    assert after.windows[0]["start"] == 2000
