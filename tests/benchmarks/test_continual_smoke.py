"""Smoke test of the continual-learning benchmark: quick mode on its synthetic stream.

Quick mode needs no shared data (driftloop's own SEA generator makes the stream), so this never
skips. It runs the real loop (MLflow on SQLite, Evidently, River) for a few methods.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import continual


@pytest.fixture(scope="module")
def quick_result(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("continual")
    return continual.run(quick=True, data_dir=out / "no-data-needed", out_dir=out), out


def test_quick_writes_json_markdown_and_plot(quick_result: tuple[dict, Path]) -> None:
    result, out = quick_result
    for name in ("continual.json", "continual.md", "continual.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    on_disk = json.loads((out / "continual.json").read_text())
    assert on_disk["markdown"] == result["markdown"]
    assert (out / "continual.md").read_text().strip() == result["markdown"].strip()
    assert "| method |" in result["markdown"] and "### Goals" in result["markdown"]


def test_quick_rows_are_sane(quick_result: tuple[dict, Path]) -> None:
    result, _ = quick_result
    rows = result["results"]
    assert result["quick"] is True and result["skipped"] == []
    assert [r for r in rows if r["error"]] == []
    methods = {r["method"] for r in rows}
    assert {"static", "periodic", "river-nochange", "river-hat", "dl-refit",
            "dl-river-hat"} <= methods
    assert {r["delay"] for r in rows} == set(result["protocol"]["delays"])
    n_scored = 3000 - result["protocol"]["warmup_rows"]
    for r in rows:
        assert r["n_scored"] == n_scored, r  # every method scores the same rows
        assert isinstance(r["retrains"], int) and r["retrains"] >= 0, r
        assert r["wall_s"] >= 0
        if r["method"] != "river-nochange":  # the SEA concept is learnable
            assert 0.5 < r["accuracy"] <= 1.0, r
    for r in rows:
        if r["group"] == "driftloop":
            assert isinstance(r["promoted"], int) and 0 <= r["promoted"] <= r["retrains"]
            assert r["windows"] > 0 and r["evidently_s"] >= 0
    static = next(r for r in rows if r["method"] == "static" and r["delay"] == 0)
    periodic = next(r for r in rows if r["method"] == "periodic" and r["delay"] == 0)
    assert static["retrains"] == 0 and periodic["retrains"] >= 1


def test_missing_data_files_skip_their_stream(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(continual, "METHODS", ())
    result = continual.run(data_dir=tmp_path / "absent", out_dir=tmp_path, workers=1)
    assert result["results"] == [] and len(result["skipped"]) == len(continual.STREAMS)
    assert all("not found" in msg for msg in result["skipped"])
    assert (tmp_path / "continual.md").is_file()
