"""The configuration: defaults, JSON/YAML round trips, reading files and error messages.

A wrong value must give a :class:`ConfigError` that names the key path, what is allowed and
what was received, so a user can fix the file without reading the source.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from flows.cli import main
from flows.config import ConfigError, DriftloopConfig, load_config


def _write_yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _error(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        DriftloopConfig.model_validate(data)
    return str(info.value)


# -- defaults and round trips ---------------------------------------------------------------


def test_defaults_validate_and_are_documented_values() -> None:
    cfg = DriftloopConfig()
    assert cfg.state_dir == ".driftloop"
    assert cfg.source.kind == "synthetic"
    assert cfg.concept_drift.detector == "ADWIN"
    assert cfg.model.family == "sklearn"
    assert cfg.training.strategy == "refit"
    assert cfg.validation.on_bad_rows == "quarantine"
    assert cfg.window.size > 0 and cfg.window.warmup_rows > 0
    # an empty mapping means every default
    assert DriftloopConfig.model_validate({}) == cfg


def test_config_is_frozen() -> None:
    cfg = DriftloopConfig()
    with pytest.raises(Exception, match="frozen"):
        cfg.window.size = 3  # type: ignore[misc]


def _non_default() -> DriftloopConfig:
    return DriftloopConfig.model_validate(
        {
            "state_dir": "/tmp/somewhere",
            "source": {
                "kind": "file",
                "path": "stream.parquet",
                "target": "label",
                "timestamp": "ts",
                "label_delay": 250,
                "true_drift_rows": [100, 900],
            },
            "window": {"size": 250, "warmup_rows": 750},
            "validation": {
                "on_bad_rows": "error",
                "on_extra_columns": "drop",
                "max_abs_value": 1e6,
            },
            "data_drift": {
                "method": "psi",
                "threshold": 0.2,
                "drift_share": 0.75,
                "snapshots": False,
            },
            "concept_drift": {"detector": "DDM", "params": {"drift_threshold": 3.5}},
            "decision": {"performance_tolerance": 0.1, "refresh_rows": None, "cooldown_rows": 0},
            "model": {"family": "torch_mlp", "torch": {"hidden_sizes": [16, 8], "epochs": 3}},
            "training": {"strategy": "finetune", "recent_rows": 800, "holdout_rows": 100},
            "gate": {"margin": 0.0},
            "registry": {"model_name": "my-model"},
        }
    )


@pytest.mark.parametrize("make", [DriftloopConfig, _non_default], ids=["defaults", "custom"])
def test_round_trips_through_json(make: Any) -> None:
    cfg = make()
    text = cfg.model_dump_json()
    assert DriftloopConfig.model_validate_json(text) == cfg
    assert DriftloopConfig.model_validate(json.loads(text)) == cfg


@pytest.mark.parametrize("make", [DriftloopConfig, _non_default], ids=["defaults", "custom"])
def test_round_trips_through_yaml(make: Any, tmp_path: Path) -> None:
    cfg = make()
    path = _write_yaml(tmp_path / "full.yaml", cfg.model_dump(mode="json"))
    assert load_config(path) == cfg


def test_with_updates_validates_again() -> None:
    cfg = DriftloopConfig().with_updates(window={"size": 300, "warmup_rows": 600})
    assert (cfg.window.size, cfg.window.warmup_rows) == (300, 600)
    with pytest.raises(ConfigError, match=r"window\.size"):
        cfg.with_updates(window={"size": 0})


# -- reading a file -------------------------------------------------------------------------


def test_load_config_reads_a_partial_yaml_file_and_keeps_other_defaults(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text(
        "# a user's file: only what differs from the defaults\n"
        "concept_drift:\n  detector: PageHinkley\n"
        "window:\n  size: 250\n"
        "source:\n  kind: synthetic\n  generator: sea\n  n_rows: 5000\n  drift_rows: [2500]\n",
        encoding="utf-8",
    )
    cfg = load_config(path)
    assert cfg.concept_drift.detector == "PageHinkley"
    assert cfg.window.size == 250
    assert cfg.window.warmup_rows == DriftloopConfig().window.warmup_rows
    assert (cfg.source.generator, cfg.source.n_rows, cfg.source.drift_rows) == (
        "sea",
        5000,
        (2500,),
    )
    assert cfg.model == DriftloopConfig().model
    # a string path works as well as a Path, and overrides win over the file
    assert load_config(str(path), state_dir=str(tmp_path / "s")).state_dir == str(tmp_path / "s")


def test_load_config_without_a_file_or_with_an_empty_file_gives_the_defaults(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    assert load_config() == DriftloopConfig()
    assert load_config(empty) == DriftloopConfig()


def test_missing_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="does not exist") as info:
        load_config(missing)
    assert "nope.yaml" in str(info.value)


def test_a_file_that_is_not_yaml(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("window: {size: 10\nmodel: [sklearn\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML") as info:
        load_config(bad)
    assert "bad.yaml" in str(info.value)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00\x81 not text")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(binary)


@pytest.mark.parametrize(
    "content, kind", [("- window\n- model\n", "list"), ("just a string\n", "str"), ("42\n", "int")]
)
def test_a_yaml_file_that_is_not_a_mapping(tmp_path: Path, content: str, kind: str) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match="must hold a mapping") as info:
        load_config(path)
    assert kind in str(info.value)


def test_config_error_is_a_value_error() -> None:
    assert issubclass(ConfigError, ValueError)


# -- error messages -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, key, allowed, received",
    [
        (
            {"concept_drift": {"detector": "ADWN"}},
            "concept_drift.detector",
            ["'ADWIN'", "'DDM'", "'PageHinkley'", "'KSWIN'"],
            "'ADWN'",
        ),
        (
            {"model": {"family": "xgboost"}},
            "model.family",
            ["'sklearn'", "'torch_mlp'", "'river'"],
            "'xgboost'",
        ),
        (
            {"training": {"strategy": "distill"}},
            "training.strategy",
            ["'refit'", "'finetune'"],
            "'distill'",
        ),
        (
            {"data_drift": {"drift_share": 1.5}},
            "data_drift.drift_share",
            ["less than or equal to 1"],
            "1.5",
        ),
        ({"data_drift": {"drift_share": 0}}, "data_drift.drift_share", ["greater than 0"], "got 0"),
        (
            {"decision": {"performance_tolerance": -0.1}},
            "decision.performance_tolerance",
            ["greater than or equal to 0"],
            "-0.1",
        ),
        (
            {"validation": {"on_bad_rows": "drop"}},
            "validation.on_bad_rows",
            ["'error'", "'quarantine'"],
            "'drop'",
        ),
        ({"window": {"size": -3}}, "window.size", ["greater than 0"], "-3"),
        (
            {"model": {"family": "sklearn", "estimator": "xgb"}},
            "model",
            ["'hist_gradient_boosting'", "'ridge'"],
            "'xgb'",
        ),
        ({"source": {"kind": "kafka"}}, "source", ["'synthetic'", "'file'"], "'kafka'"),
    ],
    ids=lambda v: v if isinstance(v, str) and "." in v else None,
)
def test_wrong_values_name_the_key_the_allowed_values_and_the_received_value(
    data: dict[str, Any], key: str, allowed: list[str], received: str
) -> None:
    msg = _error(data)
    line = next((ln for ln in msg.splitlines() if ln.strip().startswith(f"{key}:")), None)
    assert line is not None, f"no line for {key!r} in:\n{msg}"
    for value in allowed:
        assert value in line, f"{value} not listed in {line!r}"
    assert received in line, f"received value {received} not shown in {line!r}"


@pytest.mark.parametrize(
    "data, key, valid",
    [
        ({"window": {"sise": 3}}, "window.sise", ["'size'", "'warmup_rows'"]),
        # the share knob moved to data_drift.drift_share: an old file is told what exists
        (
            {"decision": {"data_drift_share": 0.5}},
            "decision.data_drift_share",
            ["'performance_tolerance'", "'data_drift_tolerance'", "'cooldown_rows'"],
        ),
        ({"windw": {"size": 3}}, "windw", ["'window'", "'concept_drift'", "'model'"]),
        ({"model": {"torch": {"hidden": [8]}}}, "model.torch.hidden", ["'hidden_sizes'"]),
        (
            {"source": {"kind": "file", "path": "a.csv", "target": "y", "tagret": "z"}},
            "source.tagret",
            ["'target'", "'timestamp'", "'label_delay'"],
        ),
    ],
)
def test_an_unknown_key_is_named_with_the_valid_keys(
    data: dict[str, Any], key: str, valid: list[str]
) -> None:
    msg = _error(data)
    line = next((ln for ln in msg.splitlines() if ln.strip().startswith(f"{key}:")), None)
    assert line is not None, f"no line for {key!r} in:\n{msg}"
    assert "unknown key" in line
    for name in valid:
        assert name in line, f"{name} not listed in {line!r}"


def test_a_file_source_without_target_names_source_target() -> None:
    msg = _error({"source": {"kind": "file", "path": "stream.csv"}})
    assert "source.target: Field required" in msg, msg


def test_detector_params_are_checked_against_the_detector() -> None:
    msg = _error({"concept_drift": {"detector": "DDM", "params": {"delta": 0.1}}})
    assert "concept_drift" in msg and "'delta'" in msg and "drift_threshold" in msg


def test_every_problem_is_reported_at_once() -> None:
    msg = _error({"concept_drift": {"detector": "ADWN"}, "training": {"strategy": "distill"}})
    assert msg.splitlines()[0] == "Invalid driftloop configuration (2 problem(s)):"
    assert "concept_drift.detector" in msg and "training.strategy" in msg


def test_a_wrong_value_in_a_file_names_its_key(tmp_path: Path) -> None:
    path = _write_yaml(tmp_path / "cfg.yaml", {"concept_drift": {"detector": "ADWN"}})
    with pytest.raises(ConfigError, match=r"concept_drift\.detector: .*'ADWIN'.*\(got 'ADWN'\)"):
        load_config(path)


# -- `driftloop config` ---------------------------------------------------------------------


def test_cli_config_prints_the_resolved_configuration_as_json(tmp_path: Path) -> None:
    path = _write_yaml(
        tmp_path / "cfg.yaml", {"window": {"size": 250}, "model": {"family": "river"}}
    )
    result = CliRunner().invoke(main, ["config", "--config", str(path)])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed == load_config(path).model_dump(mode="json")
    assert printed["window"]["size"] == 250 and printed["model"]["family"] == "river"
    # every section is resolved, with its defaults
    assert set(printed) == set(DriftloopConfig.model_fields)
    assert printed["window"]["warmup_rows"] == DriftloopConfig().window.warmup_rows


def test_cli_config_without_a_file_prints_the_defaults() -> None:
    result = CliRunner().invoke(main, ["config"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == DriftloopConfig().model_dump(mode="json")


def test_cli_config_rejects_a_bad_file_without_a_traceback(tmp_path: Path) -> None:
    path = _write_yaml(tmp_path / "cfg.yaml", {"training": {"strategy": "distill"}})
    result = CliRunner().invoke(main, ["config", "--config", str(path)])
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit)
    assert "training.strategy" in result.output and "'distill'" in result.output
    assert "Traceback" not in result.output


def test_state_dir_comes_from_the_override_the_file_or_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.config import STATE_DIR_ENV, load_config

    monkeypatch.delenv(STATE_DIR_ENV, raising=False)
    assert load_config().state_dir == ".driftloop"
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path / "from-env"))
    assert load_config().state_dir == str(tmp_path / "from-env")
    config = tmp_path / "c.yaml"
    config.write_text("state_dir: from-file\n")
    assert load_config(config).state_dir == "from-file"
    assert load_config(config, state_dir="from-flag").state_dir == "from-flag"


def test_serving_section_is_validated() -> None:
    cfg = DriftloopConfig.model_validate(
        {"serving": {"port": 9000, "shadow": True, "runtime": "onnx", "poll_interval_s": 0.5}})
    assert (cfg.serving.port, cfg.serving.shadow, cfg.serving.runtime) == (9000, True, "onnx")
    assert DriftloopConfig().serving.host == "127.0.0.1"
    with pytest.raises(ConfigError, match="serving.runtime"):
        DriftloopConfig.model_validate({"serving": {"runtime": "tensorrt"}})
    with pytest.raises(ConfigError, match="serving.token_env"):
        DriftloopConfig.model_validate({"serving": {"token_env": "not a name"}})
