"""The benchmark driver's combined table: every part found in the results folder, each under
its own date and command; quick and full runs never mix."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.run import write_combined


def _part(out: Path, part: str, text: str, *, quick: bool, date: str) -> None:
    (out / f"{part}.md").write_text(text)
    (out / f"{part}.run.json").write_text(json.dumps({
        "part": part, "date": date, "command": f"python -m benchmarks.run --part {part}",
        "took_s": 12.0, "quick": quick, "machine": "x86_64, 2 CPUs"}))


def test_combined_table_gathers_each_part_with_its_own_date(tmp_path: Path) -> None:
    _part(tmp_path, "speed", "| speed table |", quick=False, date="2026-11-24 10:00 UTC")
    _part(tmp_path, "detection", "| detection table |", quick=False, date="2026-11-23 09:00 UTC")
    _part(tmp_path, "continual", "| smoke |", quick=True, date="2026-11-24 11:00 UTC")
    (tmp_path / "throughput.md").write_text("| no run.json: not included |")

    text = write_combined(tmp_path).read_text()
    assert text.index("## detection") < text.index("## speed")  # the driver's part order
    assert "2026-11-23 09:00 UTC" in text and "| detection table |" in text
    assert "`python -m benchmarks.run --part speed`" in text
    assert "| smoke |" not in text and "not included" not in text

    quick = write_combined(tmp_path, quick=True)
    assert quick.name == "RESULTS-quick.md"
    assert "| smoke |" in quick.read_text() and "| speed table |" not in quick.read_text()
