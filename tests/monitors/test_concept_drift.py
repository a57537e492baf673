"""River detectors on seeded error streams with a known change row."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from monitors.concept_drift import ConceptDriftConfig, ConceptDriftMonitor
from monitors.errors import DriftCheckError

DRIFT = 3000
BINARY = ["DDM", "EDDM", "HDDM_A", "HDDM_W", "FHDDM"]
ALL = ["ADWIN", "PageHinkley", "KSWIN", *BINARY]


def error_stream(seed: int, before: float = 0.1, after: float = 0.4, n: int = 6000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.r_[rng.random(DRIFT) < before, rng.random(n - DRIFT) < after].astype(float)


@pytest.mark.parametrize("name", ["ADWIN", "PageHinkley", *BINARY])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_detects_abrupt_error_increase_within_bounded_delay(name: str, seed: int) -> None:
    m = ConceptDriftMonitor(ConceptDriftConfig(detector=name, seed=seed), "classification")
    signals = m.update(np.arange(6000), error_stream(seed))
    after = [s.row for s in signals if s.kind == "drift" and s.row >= DRIFT]
    assert after, f"{name} missed the drift at row {DRIFT}"
    assert after[0] - DRIFT < 400, f"{name} detected at {after[0]}, too late"


@pytest.mark.parametrize("name", ["ADWIN", "PageHinkley", "HDDM_A", "HDDM_W", "FHDDM"])
def test_quiet_detectors_raise_nothing_before_the_drift(name: str) -> None:
    for seed in range(3):
        m = ConceptDriftMonitor(ConceptDriftConfig(detector=name, seed=seed), "classification")
        signals = m.update(np.arange(6000), error_stream(seed))
        assert not [s for s in signals if s.kind == "drift" and s.row < DRIFT]


def test_kswin_on_absolute_errors_of_a_regression_model() -> None:
    rng = np.random.default_rng(0)
    err = np.abs(np.r_[rng.normal(0, 1, DRIFT), rng.normal(0, 3, 3000)])
    m = ConceptDriftMonitor(ConceptDriftConfig(detector="KSWIN", seed=0), "regression")
    drifts = [s.row for s in m.update(np.arange(6000), err) if s.kind == "drift"]
    assert any(DRIFT <= r < DRIFT + 300 for r in drifts)


def test_signals_name_the_stream_row_not_the_position_in_the_batch() -> None:
    m = ConceptDriftMonitor(ConceptDriftConfig(detector="ADWIN"), "classification")
    rows = np.arange(6000) + 100_000
    drifts = [s.row for s in m.update(rows, error_stream(0)) if s.kind == "drift"]
    assert drifts and all(r >= 100_000 + DRIFT for r in drifts)


def test_batches_give_the_same_signals_as_one_call() -> None:
    e = error_stream(3)
    one = ConceptDriftMonitor(ConceptDriftConfig(detector="HDDM_W"), "classification")
    many = ConceptDriftMonitor(ConceptDriftConfig(detector="HDDM_W"), "classification")
    expected = one.update(np.arange(6000), e)
    got = []
    for lo in range(0, 6000, 777):
        got += many.update(np.arange(lo, min(lo + 777, 6000)), e[lo:lo + 777])
    assert got == expected


def test_warning_zone_starts_before_the_drift_signal() -> None:
    m = ConceptDriftMonitor(ConceptDriftConfig(detector="HDDM_W"), "classification")
    signals = m.update(np.arange(6000), error_stream(0))
    drift = next(s for s in signals if s.kind == "drift" and s.row >= DRIFT)
    warnings = [s.row for s in signals if s.kind == "warning" and DRIFT <= s.row <= drift.row]
    assert warnings and warnings[0] <= drift.row


def test_reset_and_pickle_roundtrip_keep_behaviour() -> None:
    m = ConceptDriftMonitor(ConceptDriftConfig(detector="ADWIN"), "classification")
    e = error_stream(1)
    m.update(np.arange(2000), e[:2000])
    clone = pickle.loads(pickle.dumps(m))
    assert clone.update(np.arange(2000, 6000), e[2000:]) == m.update(np.arange(2000, 6000), e[2000:])
    m.reset()
    fresh = ConceptDriftMonitor(ConceptDriftConfig(detector="ADWIN"), "classification")
    assert m.update(np.arange(6000), e) == fresh.update(np.arange(6000), e)


def test_fhddm_is_fed_correctness_not_error() -> None:
    # FHDDM expects 1 = correct; a rising error must still be detected (tested above) and a
    # falling error (model got better) must not be reported as drift.
    rng = np.random.default_rng(0)
    e = np.r_[rng.random(DRIFT) < 0.4, rng.random(3000) < 0.1].astype(float)
    m = ConceptDriftMonitor(ConceptDriftConfig(detector="FHDDM"), "classification")
    assert not [s for s in m.update(np.arange(6000), e) if s.kind == "drift" and s.row >= DRIFT + 200]


def test_binary_detector_refuses_regression_with_a_fix() -> None:
    with pytest.raises(DriftCheckError, match="Use one of .*ADWIN"):
        ConceptDriftMonitor(ConceptDriftConfig(detector="DDM"), "regression")


def test_bad_detector_name_and_params_name_the_key() -> None:
    with pytest.raises(ValueError, match="ADWIN"):
        ConceptDriftConfig(detector="ADWN")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['delt'\].*'delta'"):
        ConceptDriftConfig(detector="ADWIN", params={"delt": 0.1})


def test_non_finite_losses_are_rejected_with_rows() -> None:
    m = ConceptDriftMonitor(ConceptDriftConfig(), "regression")
    with pytest.raises(DriftCheckError, match=r"rows \[5\]"):
        m.update(np.arange(10), np.r_[np.zeros(5), np.nan, np.zeros(4)])
