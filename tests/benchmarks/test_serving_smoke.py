"""Smoke test of the serving load benchmark in quick mode: it runs end to end against the real
service and writes sane results. No timing is asserted (the machine may be busy)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import serving

pytestmark = pytest.mark.server


def test_serving_quick(tmp_path: Path) -> None:
    result = serving.run(quick=True, out_dir=tmp_path, clients=4)
    for ext in ("json", "md", "png"):
        assert (tmp_path / f"serving.{ext}").stat().st_size > 0
    saved = json.loads((tmp_path / "serving.json").read_text())
    assert saved["markdown"] == result["markdown"]
    steady, swap = result["steady"], result["swap"]
    assert steady["requests"] > 0 and steady["failed"] == 0
    assert steady["versions_seen"] == [1]
    # the champion moved during the second case and no request failed because of it (whether
    # the service got to serve version 2 before the next move depends on the machine's load;
    # tests/deploy/test_service.py checks the swap itself)
    assert len(swap["swaps_at_s"]) >= 2 and swap["failed"] == 0
    assert set(swap["versions_seen"]) <= {1, 2}
    assert result["single"]["failed"] == 0 and result["single"]["requests"] > 0
    for case in (result["single"], steady, swap, result["anchor"]):
        assert 0 < case["p50_ms"] <= case["p99_ms"]
    assert "| 4 clients, steady champion |" in result["markdown"]
