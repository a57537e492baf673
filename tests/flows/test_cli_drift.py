"""``driftloop drift`` and ``driftloop bench`` through click's ``CliRunner``.

The drift files are small seeded Parquet/CSV files under ``tmp_path``; the working directory
is an empty temporary folder, so a stray relative write would show. ``bench`` is checked for
its help and for the arguments it hands to ``benchmarks.run.main`` (without running it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from flows import cli
from flows.cli import main

JSON_KEYS = {"columns", "share_drifted", "n_drifted", "dataset_drift", "n_reference",
             "n_current", "elapsed_s", "reference", "current", "method", "threshold",
             "correction"}


@pytest.fixture(autouse=True)
def _empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    yield cwd
    assert list(cwd.iterdir()) == [], "the CLI wrote into the working directory"


@pytest.fixture()
def files(tmp_path: Path) -> tuple[Path, Path]:
    """A reference and a window in which only ``shifted`` drifts."""
    rng = np.random.default_rng(11)
    ref = pd.DataFrame({"shifted": rng.normal(size=3000), "stable": rng.normal(size=3000),
                        "colour": rng.choice(["red", "blue"], 3000)})
    cur = pd.DataFrame({"shifted": rng.normal(1.5, 1, 2000), "stable": rng.normal(size=2000),
                        "colour": rng.choice(["red", "blue"], 2000)})
    ref.to_parquet(tmp_path / "ref.parquet", row_group_size=1000)
    cur.to_csv(tmp_path / "cur.csv", index=False)
    return tmp_path / "ref.parquet", tmp_path / "cur.csv"


def _invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def _assert_clean_failure(result: Result, *needles: str) -> None:
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output, result.output


# --------------------------------------------------------------------------------- drift
def test_drift_prints_a_table_and_a_summary(files: tuple[Path, Path]) -> None:
    ref, cur = files
    result = _invoke("drift", "--reference", ref, "--current", cur)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["column", "method", "score", "threshold", "drifted"]
    rows = {line.split()[0]: line.split() for line in lines[2:5]}
    assert rows["shifted"][1] == "wasserstein" and rows["shifted"][4] == "DRIFT"
    assert rows["stable"][4] == "-" and rows["colour"][1] == "jensenshannon"
    assert "1 of 3 columns drifted (33%); dataset drift: no" in result.output


def test_drift_writes_the_json_report(files: tuple[Path, Path], tmp_path: Path) -> None:
    ref, cur = files
    out = tmp_path / "reports" / "drift.json"
    result = _invoke("drift", "--reference", ref, "--current", cur, "--method", "psi",
                     "--threshold", "0.2", "--drift-share", "0.3", "--json", out)
    assert result.exit_code == 0, result.output  # drift found, and still exit code 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert set(data) >= JSON_KEYS
    assert [c["name"] for c in data["columns"]] == ["shifted", "stable", "colour"]
    assert all(set(c) == {"name", "method", "score", "threshold", "drifted"}
               for c in data["columns"])
    assert {c["method"] for c in data["columns"]} == {"psi"}
    assert {c["threshold"] for c in data["columns"]} == {0.2}
    assert (data["n_drifted"], data["dataset_drift"]) == (1, True)  # 1/3 >= 0.3
    assert (data["n_reference"], data["n_current"]) == (3000, 2000)
    assert (data["method"], data["threshold"], data["correction"]) == ("psi", 0.2, "none")
    assert data["reference"] == str(ref) and data["current"] == str(cur)
    assert f"wrote {out}" in result.output


def test_drift_with_a_correction_and_one_column(files: tuple[Path, Path]) -> None:
    ref, cur = files
    result = _invoke("drift", "--reference", ref, "--current", cur, "--method", "ks",
                     "--correction", "bonferroni", "--column", "shifted", "--column", "stable")
    assert result.exit_code == 0, result.output
    assert "colour" not in result.output and "2 columns drifted" in result.output


def test_a_bad_method_fails_with_the_valid_names(files: tuple[Path, Path]) -> None:
    ref, cur = files
    result = _invoke("drift", "--reference", ref, "--current", cur, "--method", "wasserstien")
    _assert_clean_failure(result, "Unknown drift method 'wasserstien'", "'wasserstein'")
    result = _invoke("drift", "--reference", ref, "--current", cur, "--method", "chisquare")
    _assert_clean_failure(result, "does not apply to numerical column 'shifted'")


def test_drift_errors_are_clean(files: tuple[Path, Path], tmp_path: Path) -> None:
    ref, _ = files
    _assert_clean_failure(_invoke("drift", "--reference", ref, "--current",
                                  tmp_path / "missing.parquet"), "does not exist")
    _assert_clean_failure(_invoke("drift", "--reference", ref, "--current", ref,
                                  "--correction", "holm"), "--correction")
    _assert_clean_failure(_invoke("drift", "--current", ref), "--reference")


def test_drift_help_says_the_exit_code_does_not_depend_on_drift() -> None:
    result = _invoke("drift", "--help")
    assert result.exit_code == 0, result.output
    assert "exit code is 0 whether or not drift is found" in " ".join(result.output.split())
    for flag in ("--reference", "--current", "--method", "--threshold", "--correction",
                 "--drift-share", "--json"):
        assert flag in result.output


# --------------------------------------------------------------------------------- bench
def test_bench_help() -> None:
    result = _invoke("bench", "--help")
    assert result.exit_code == 0, result.output
    assert "--part" in result.output and "--quick" in result.output


def test_bench_hands_its_arguments_to_benchmarks_run(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def fake_main(argv: list[str]) -> int:
        calls.append(argv)
        return 0

    fake = SimpleNamespace(PARTS=("detection", "speed"), main=fake_main)
    monkeypatch.setattr(cli, "_benchmarks_run", lambda: fake)
    result = _invoke("bench", "--part", "speed", "--part", "detection", "--quick",
                     "--out", tmp_path / "res")
    assert result.exit_code == 0, result.output
    assert calls == [["--part", "speed", "--part", "detection", "--quick",
                      "--out", str(tmp_path / "res")]]
    result = _invoke("bench", "--part", "sped")
    _assert_clean_failure(result, "unknown part(s) ['sped']", "'speed'")
    assert len(calls) == 1


def test_bench_finds_the_benchmarks_from_any_working_directory() -> None:
    module = cli._benchmarks_run()
    assert Path(module.__file__).parts[-2:] == ("benchmarks", "run.py")
    assert "speed" in module.PARTS
