"""The retrain decision: triggers, cooldown, label minimum, confirmation, reasons."""

from __future__ import annotations

import numpy as np
import pytest

from monitors.concept_drift import ConceptDriftConfig, ConceptDriftMonitor, DetectorSignal
from monitors.decision import DecisionConfig, RetrainDecider
from monitors.performance import Performance, losses, window_performance
from monitors.stream import Window

NO_PERF = Performance(task="classification", n=0)


def feed(decider: RetrainDecider, lo: int, hi: int, error_rate: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed + lo)
    e = (rng.random(hi - lo) < error_rate).astype(float)
    decider.observe_losses(np.arange(lo, hi), e)
    return e


def perf_of(e: np.ndarray) -> Performance:
    return window_performance("classification", np.zeros(len(e)), e)


def test_concept_signal_waits_for_labels_then_retrains_when_confirmed() -> None:
    d = RetrainDecider(DecisionConfig(min_labelled_rows=500, cooldown_rows=0), "classification")
    d.set_baseline(0.9, row=0)
    feed(d, 0, 5000, 0.1)
    feed(d, 5000, 5200, 0.4)
    sig = DetectorSignal(5150, "drift", "ADWIN", 0.1)
    dec = d.decide(Window(0, 5000, 5200), signals=[sig], performance=NO_PERF, data_drift_share=0.0)
    assert dec.status == "pending" and "waiting for labels" in " ".join(dec.reasons)
    assert dec.trigger is not None and dec.trigger.row == 5150 and dec.trigger.kind == "concept"
    feed(d, 5200, 6000, 0.4)
    dec = d.decide(Window(1, 5200, 6000), signals=[], performance=NO_PERF, data_drift_share=0.0)
    assert dec.retrain and dec.trigger.row == 5150
    assert any("confirmed" in r for r in dec.reasons) and any("ADWIN" in r for r in dec.reasons)


def test_warning_start_is_used_as_the_start_of_the_new_concept() -> None:
    d = RetrainDecider(DecisionConfig(min_labelled_rows=100, cooldown_rows=0), "classification")
    d.set_baseline(0.9, 0)
    sig = DetectorSignal(5150, "drift", "HDDM_W", 0.1)
    dec = d.decide(Window(0, 5000, 6000), signals=[sig], performance=NO_PERF,
                   data_drift_share=None, warning_start=5080)
    assert dec.trigger.since_row == 5080


def test_unconfirmed_false_alarm_is_dismissed_and_never_retrains() -> None:
    cfg = DecisionConfig(min_labelled_rows=500, confirm_within_rows=2000, cooldown_rows=0)
    d = RetrainDecider(cfg, "classification")
    d.set_baseline(0.9, 0)
    statuses = []
    for w in range(8):
        lo = w * 1000
        feed(d, lo, lo + 1000, 0.1)
        sig = [DetectorSignal(lo + 10, "drift", "DDM", 0.1)] if w == 1 else []
        statuses.append(d.decide(Window(w, lo, lo + 1000), signals=sig, performance=NO_PERF,
                                 data_drift_share=0.0).status)
    assert "retrain" not in statuses and "dismissed" in statuses


def test_raw_ddm_false_alarms_are_filtered_by_the_decision() -> None:
    """On a stationary error stream DDM alone fires; the decision retrains zero times."""
    det = ConceptDriftMonitor(ConceptDriftConfig(detector="DDM"), "classification")
    d = RetrainDecider(DecisionConfig(cooldown_rows=0), "classification")
    d.set_baseline(0.9, 0)
    raw, retrains = 0, 0
    for w in range(30):
        lo = w * 1000
        e = feed(d, lo, lo + 1000, 0.1, seed=3)
        sig = det.update(np.arange(lo, lo + 1000), e)
        raw += sum(s.kind == "drift" for s in sig)
        dec = d.decide(Window(w, lo, lo + 1000), signals=sig, performance=perf_of(e),
                       data_drift_share=0.0)
        retrains += dec.retrain
        if dec.retrain:
            d.notify_retrain(lo + 1000)
    assert raw >= 1, "DDM was expected to false-alarm on this seed"
    assert retrains == 0


def test_performance_drop_beyond_tolerance_triggers_without_a_detector() -> None:
    d = RetrainDecider(DecisionConfig(performance_tolerance=0.05, min_labelled_rows=500,
                                      cooldown_rows=0), "classification")
    d.set_baseline(0.9, 0)
    e = feed(d, 0, 1000, 0.2)
    dec = d.decide(Window(0, 0, 1000), signals=[], performance=perf_of(e), data_drift_share=0.1)
    assert dec.retrain and dec.trigger.kind == "performance"
    assert dec.trigger.details["drop"] == pytest.approx(e.mean() - 0.1)


def test_data_drift_alone_does_not_retrain_but_with_a_drop_it_does() -> None:
    cfg = DecisionConfig(performance_tolerance=0.2, data_drift_tolerance=0.02, cooldown_rows=0,
                         min_labelled_rows=100)
    kw = {"data_drift_share": 0.8, "dataset_drift": True}
    d = RetrainDecider(cfg, "classification")
    d.set_baseline(0.9, 0)
    e = feed(d, 0, 1000, 0.1)
    dec = d.decide(Window(0, 0, 1000), signals=[], performance=perf_of(e), **kw)
    assert not dec.retrain and "no retrain" in " ".join(dec.reasons)
    e = feed(d, 1000, 2000, 0.16)
    dec = d.decide(Window(1, 1000, 2000), signals=[], performance=perf_of(e), **kw)
    assert dec.retrain and dec.trigger.kind == "data"
    assert dec.trigger.details["share_drifted"] == 0.8


def test_cooldown_holds_back_a_retrain() -> None:
    d = RetrainDecider(DecisionConfig(cooldown_rows=3000, min_labelled_rows=100), "classification")
    d.set_baseline(0.9, 0)
    d.notify_retrain(1000)
    e = feed(d, 1000, 2000, 0.5)
    dec = d.decide(Window(1, 1000, 2000), signals=[], performance=perf_of(e), data_drift_share=0.0)
    assert dec.status == "cooldown" and "cooldown" in dec.reasons[-1]
    e = feed(d, 2000, 4000, 0.5)
    dec = d.decide(Window(2, 3000, 4000), signals=[], performance=perf_of(e[-1000:]),
                   data_drift_share=0.0)
    assert dec.retrain


def test_regression_drop_is_relative_mae() -> None:
    d = RetrainDecider(DecisionConfig(performance_tolerance=0.9, performance_tolerance_mae=0.25,
                                      cooldown_rows=0, min_labelled_rows=10), "regression")
    d.set_baseline(-2.0, 0)  # holdout MAE 2.0
    y = np.zeros(200)
    pred = np.full(200, 2.6)  # MAE 2.6: +30 %
    d.observe_losses(np.arange(200), losses("regression", y, pred))
    dec = d.decide(Window(0, 0, 200), signals=[],
                   performance=window_performance("regression", y, pred), data_drift_share=None)
    assert dec.retrain and dec.trigger.details["drop"] == pytest.approx(0.3)


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="performance_tolerance"):
        DecisionConfig(performance_tolerance=-0.1)
    with pytest.raises(ValueError, match="cooldwn_rows"):
        DecisionConfig(cooldwn_rows=3)  # type: ignore[call-arg]


def test_refresh_retrain_once_the_new_concept_has_enough_labels() -> None:
    cfg = DecisionConfig(refresh_rows=1500, cooldown_rows=0, min_labelled_rows=100)
    d = RetrainDecider(cfg, "classification")
    d.set_baseline(0.85, row=11_000, trained_since=10_000)  # trained on rows 10,000..11,000
    feed(d, 10_000, 11_000, 0.15)
    feed(d, 11_000, 11_400, 0.15)
    dec = d.decide(Window(0, 11_000, 11_400), signals=[], performance=NO_PERF, data_drift_share=0.0)
    assert dec.status == "none"  # 1,400 rows of the new concept: not yet
    feed(d, 11_400, 12_000, 0.15)
    dec = d.decide(Window(1, 11_400, 12_000), signals=[], performance=NO_PERF, data_drift_share=0.0)
    assert dec.retrain and dec.trigger.kind == "refresh" and dec.trigger.since_row == 10_000
    d.notify_retrain(12_000)
    feed(d, 12_000, 16_000, 0.15)
    dec = d.decide(Window(2, 12_000, 16_000), signals=[], performance=NO_PERF, data_drift_share=0.0)
    assert dec.status == "none"  # only once per drift


def test_no_refresh_without_a_drift_or_when_disabled() -> None:
    d = RetrainDecider(DecisionConfig(refresh_rows=None, cooldown_rows=0), "classification")
    d.set_baseline(0.85, row=11_000, trained_since=10_000)
    feed(d, 10_000, 20_000, 0.15)
    assert d.decide(Window(0, 19_000, 20_000), signals=[], performance=NO_PERF,
                    data_drift_share=0.0).status == "none"
    d = RetrainDecider(DecisionConfig(cooldown_rows=0), "classification")
    d.set_baseline(0.85, row=2_000)
    feed(d, 0, 20_000, 0.15)
    assert d.decide(Window(0, 19_000, 20_000), signals=[], performance=NO_PERF,
                    data_drift_share=0.0).status == "none"
