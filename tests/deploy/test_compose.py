"""deploy/docker-compose.yml: the stack's file is consistent with the code (Docker itself is not
run here: the machine has no Docker daemon)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from flows.config import load_config

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def test_the_stack_has_every_service_the_issue_names() -> None:
    services = _compose()["services"]
    assert {"postgres", "minio", "prefect", "worker", "mlflow", "evidently"} <= set(services)
    assert "prefect server start" in services["prefect"]["command"]
    assert "postgresql+asyncpg://" in services["prefect"]["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert "--backend-store-uri postgresql://" in services["mlflow"]["command"]
    assert "s3://mlflow-artifacts" in services["mlflow"]["command"]
    assert "mc mb --ignore-existing store/mlflow-artifacts" in services["minio-bucket"]["entrypoint"]
    assert "evidently ui --workspace /state/workspace" in services["evidently"]["command"]
    assert "deploy/prefect.yaml" in services["worker"]["command"]


def test_published_ports_are_on_loopback_only() -> None:
    for name, service in _compose()["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_databases_and_mounted_files_exist() -> None:
    compose = _compose()
    sql = (DEPLOY / "compose" / "init-databases.sql").read_text()
    uris = [compose["services"]["prefect"]["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"],
            compose["services"]["mlflow"]["command"]]
    for db in re.findall(r"@postgres:5432/(\w+)", " ".join(uris)):
        assert f"CREATE DATABASE {db} " in sql
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            src = volume.split(":")[0]
            if src.startswith("./"):
                assert (DEPLOY / src).exists(), f"{src} is mounted but missing"


def test_the_workers_driftloop_config_is_valid_and_reads_a_drop_folder() -> None:
    config = load_config(DEPLOY / "compose" / "driftloop.yaml")
    assert config.source.kind == "folder"
    assert config.state_dir == "/state"
