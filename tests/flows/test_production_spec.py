"""deploy/prefect.yaml and `driftloop deploy` agree with the flows they deploy."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from flows.cli import main
from flows.events import DRIFT_EVENT

REPO = Path(__file__).resolve().parents[2]


def test_prefect_yaml_names_the_production_flows_and_the_drift_trigger() -> None:
    spec = yaml.safe_load((REPO / "deploy" / "prefect.yaml").read_text())
    by_name = {d["name"]: d for d in spec["deployments"]}
    assert set(by_name) == {"driftloop-monitor", "driftloop-retrain"}
    for d in by_name.values():
        path, func = d["entrypoint"].split(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        assert getattr(module, func).name == d["name"]  # the flow's own name
    assert by_name["driftloop-monitor"]["schedules"]
    assert by_name["driftloop-monitor"]["entrypoint"] == "flows/production.py:monitor"
    trigger = by_name["driftloop-retrain"]["triggers"][0]
    assert trigger["expect"] == [DRIFT_EVENT]
    assert set(trigger["parameters"]) == {"model", "reasons", "window", "row"}


def test_deploy_refuses_a_config_without_a_drop_folder(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("registry: {model_name: m}\n")
    result = CliRunner().invoke(main, ["deploy", "--config", str(config)])
    assert result.exit_code != 0
    assert "reads its rows from a drop folder" in result.output
    assert "kind: folder" in result.output


def test_the_monitor_deployment_runs_the_monitor_of_the_configured_source(
        tmp_path: Path, prefect_harness: None) -> None:
    """One spec for both production sources: ``monitor`` checks the prediction log when the
    config says so, the drop folder otherwise (here with nothing in either)."""
    from flows.production import monitor
    from monitors.errors import SourceError

    drop = tmp_path / "drop"
    drop.mkdir()
    folder = tmp_path / "folder.yaml"
    folder.write_text(yaml.safe_dump({
        "state_dir": str(tmp_path / "s1"), "registry": {"model_name": "m"},
        "source": {"kind": "folder", "path": str(drop), "target": "y"}}))
    log = tmp_path / "log.yaml"
    log.write_text(yaml.safe_dump({
        "state_dir": str(tmp_path / "s2"), "registry": {"model_name": "m"},
        "source": {"kind": "prediction_log", "model_name": "m", "task": "classification",
                   "uri": f"sqlite:///{tmp_path / 'predictions.db'}"}}))
    from deploy.prediction_log import PredictionLog

    PredictionLog(f"sqlite:///{tmp_path / 'predictions.db'}").close()  # an empty log
    by_folder = monitor(str(folder))
    assert by_folder["files"] == [] and by_folder["rows"] == 0
    with pytest.raises(SourceError, match="No predictions to read at sqlite:"):
        monitor(str(log))  # the prediction log's monitor: nothing served yet
