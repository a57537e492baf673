"""``driftloop up / status / down``: configuration, environment, and the real servers.

The first part checks how the config and the ``DRIFTLOOP_*`` variables resolve into command
lines, environments and URLs, and the refusals (a taken port, a pid that is not ours) without
starting a server. The ``server`` part starts a real Prefect server, MLflow tracking server and
Evidently UI once, on free loopback ports under a temporary state folder, through the CLI,
talks to each, and stops them with ``driftloop down``; a finalizer stops them by their
recorded process groups whatever happens.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from deploy import servers as srv
from deploy.servers import RunningServer, ServerError, ServersConfig, server_specs
from flows.cli import main
from flows.config import ConfigError, load_config

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_ports(n: int) -> list[int]:
    """``n`` distinct loopback ports that were free a moment ago."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    info = srv._proc(pid)
    return info is not None and not info.zombie


def group_pids(pgid: int) -> list[int]:
    return srv._group_members(pgid)


def get(url: str) -> tuple[int, str]:
    with NO_PROXY.open(url, timeout=10) as r:
        return r.status, r.read().decode()


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen[bytes]]:
    """An unrelated process in its own session, which nothing here may kill."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"],
                            start_new_session=True)
    yield proc
    proc.kill()
    proc.wait()


# --------------------------------------------------------------------------- configuration


def test_defaults_are_loopback_with_fixed_ports(tmp_path: Path) -> None:
    specs = {s.name: s for s in server_specs(ServersConfig(), tmp_path)}
    assert list(specs) == ["prefect", "mlflow", "evidently"]
    assert {n: (s.host, s.port) for n, s in specs.items()} == {
        "prefect": ("127.0.0.1", 4200), "mlflow": ("127.0.0.1", 5000),
        "evidently": ("127.0.0.1", 8000)}
    assert specs["prefect"].health_url == "http://127.0.0.1:4200/api/health"
    assert specs["mlflow"].health_url == "http://127.0.0.1:5000/health"
    assert specs["evidently"].health_url == "http://127.0.0.1:8000/"
    bin_dir = Path(sys.executable).parent
    for name, spec in specs.items():
        assert spec.command[0] == str(bin_dir / name)
    # state under the state folder: Prefect's own home, MLflow's SQLite store and artifacts,
    # the Evidently workspace
    root = tmp_path.resolve()
    assert specs["prefect"].env["PREFECT_HOME"] == str(root / "prefect-server")
    assert specs["mlflow"].env["MLFLOW_BACKEND_STORE_URI"] == f"sqlite:///{root / 'mlflow.db'}"
    assert specs["mlflow"].env["MLFLOW_ARTIFACTS_DESTINATION"] == str(root / "mlartifacts")
    ev = specs["evidently"].command
    assert ev[ev.index("--workspace") + 1] == str(root / "workspace")


def test_environment_overrides_the_config_file(tmp_path: Path) -> None:
    cfg_file = tmp_path / "driftloop.yaml"
    cfg_file.write_text(yaml.safe_dump({"servers": {
        "host": "127.0.0.2", "mlflow": {"port": 5100, "workers": 2},
        "evidently": {"port": 8100, "workspace": str(tmp_path / "ws")}}}))
    file_only = load_config(cfg_file).servers
    assert (file_only.host, file_only.mlflow.port, file_only.evidently.port) == (
        "127.0.0.2", 5100, 8100)

    secret_uri = "postgresql://driftloop:s3cret@db.internal:5432/mlflow"
    env = {"DRIFTLOOP_SERVER_HOST": "127.0.0.3", "DRIFTLOOP_MLFLOW_PORT": "5200",
           "DRIFTLOOP_PREFECT_PORT": "4300", "DRIFTLOOP_MLFLOW_BACKEND_URI": secret_uri,
           "DRIFTLOOP_MLFLOW_ARTIFACTS_URI": "s3://bucket/mlflow",
           "DRIFTLOOP_MLFLOW_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
           "DRIFTLOOP_PREFECT_DATABASE_URI": "postgresql+asyncpg://p:pw@db/prefect",
           "DRIFTLOOP_EVIDENTLY_PORT": ""}  # empty: not set
    cfg = file_only.with_env(env)
    specs = {s.name: s for s in server_specs(cfg, tmp_path)}
    assert specs["prefect"].url == "http://127.0.0.3:4300"
    assert specs["mlflow"].url == "http://127.0.0.3:5200"
    assert specs["evidently"].url == "http://127.0.0.3:8100"  # from the file
    m = specs["mlflow"]
    assert m.env["MLFLOW_BACKEND_STORE_URI"] == secret_uri
    assert m.env["MLFLOW_ARTIFACTS_DESTINATION"] == "s3://bucket/mlflow"
    assert m.env["MLFLOW_S3_ENDPOINT_URL"] == "http://127.0.0.1:9000"
    assert m.command[m.command.index("--workers") + 1] == "2"
    assert specs["prefect"].env["PREFECT_SERVER_DATABASE_CONNECTION_URL"].endswith("/prefect")
    # credentials stay off the command lines (visible in ps, recorded in servers.json)
    assert not any("s3cret" in arg or "pw@" in arg for s in specs.values() for arg in s.command)
    ev = specs["evidently"].command
    assert ev[ev.index("--workspace") + 1] == str((tmp_path / "ws").resolve())


def test_bad_values_name_the_variable_or_the_key(tmp_path: Path) -> None:
    with pytest.raises(ServerError, match=r"DRIFTLOOP_MLFLOW_PORT='99999' is invalid for "
                                          r"servers\.mlflow\.port: Input should be less than"):
        ServersConfig().with_env({"DRIFTLOOP_MLFLOW_PORT": "99999"})
    cfg_file = tmp_path / "bad.yaml"
    cfg_file.write_text(yaml.safe_dump({"servers": {"mlflow": {"prot": 5000}}}))
    with pytest.raises(ConfigError, match=r"servers\.mlflow\.prot: unknown key; valid keys are"):
        load_config(cfg_file)


def test_per_server_host_and_client_urls(tmp_path: Path) -> None:
    cfg = ServersConfig.model_validate({"host": "0.0.0.0", "evidently": {"host": "::1"},
                                        "prefect": {"enabled": False}})
    specs = {s.name: s for s in server_specs(cfg, tmp_path)}
    assert list(specs) == ["mlflow", "evidently"]
    assert specs["mlflow"].host == "0.0.0.0"
    assert specs["mlflow"].url == "http://127.0.0.1:5000"  # clients use loopback
    assert specs["evidently"].url == "http://[::1]:8000"


def test_child_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://elsewhere:4200/api")
    monkeypatch.delenv("DO_NOT_TRACK", raising=False)
    specs = {s.name: s for s in server_specs(ServersConfig(), tmp_path)}
    env = srv._child_env(specs["prefect"])
    assert "PREFECT_API_URL" not in env
    assert env["DO_NOT_TRACK"] == "true"
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert (env["PREFECT_SERVER_API_HOST"], env["PREFECT_SERVER_API_PORT"]) == (
        "127.0.0.1", "4200")
    env = srv._child_env(specs["mlflow"])
    assert env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert env["MLFLOW_DISABLE_TELEMETRY"] == "true"


def test_two_servers_on_one_port_are_refused(tmp_path: Path) -> None:
    cfg = ServersConfig.model_validate({"prefect": {"port": 5000}})
    with pytest.raises(ServerError, match="Prefect server and the MLflow tracking server are "
                                          "both set to port 5000"):
        srv.up(cfg, tmp_path)
    assert not (tmp_path / "servers" / "servers.json").exists()


def test_taken_port_is_a_clear_error_and_starts_nothing(tmp_path: Path) -> None:
    p_port, m_port, e_port = free_ports(3)
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(yaml.safe_dump({"servers": {
        "prefect": {"port": p_port}, "mlflow": {"port": m_port},
        "evidently": {"port": e_port}}}))
    before = set(os.listdir("/proc"))
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", m_port))
        squatter.listen()
        result = CliRunner().invoke(main, ["up", "--config", str(cfg_file),
                                           "--state-dir", str(tmp_path / "state")])
    assert result.exit_code == 1
    assert (f"Port {m_port} on 127.0.0.1 is already in use" in result.output
            and "MLflow tracking server cannot start there" in result.output
            and "servers.mlflow.port in the config or DRIFTLOOP_MLFLOW_PORT" in result.output)
    assert not (tmp_path / "state" / "servers" / "servers.json").exists()
    started = [p for p in set(os.listdir("/proc")) - before if p.isdigit() and alive(int(p))
               and str(tmp_path) in " ".join(srv._proc(int(p)).cmdline)]  # type: ignore[union-attr]
    assert started == []


def _record(tmp_path: Path, proc: subprocess.Popen[bytes], command: tuple[str, ...],
            start_ticks: int | None) -> None:
    srv._write_record(tmp_path, [RunningServer(
        name="mlflow", pid=proc.pid, pgid=proc.pid, url="http://127.0.0.1:1",
        health_url="http://127.0.0.1:1/health", command=command,
        started_at=datetime.now(UTC), start_ticks=start_ticks, log=str(tmp_path / "x.log"))])


@pytest.mark.parametrize("case", ["other command", "reused pid"])
def test_down_leaves_a_process_that_is_not_ours(tmp_path: Path, case: str,
                                                bystander: subprocess.Popen[bytes]) -> None:
    info = srv._proc(bystander.pid)
    assert info is not None
    if case == "other command":  # the pid now runs something else
        _record(tmp_path, bystander, ("/usr/bin/mlflow", "server"), info.start_ticks)
    else:  # the same command line, started at another time
        _record(tmp_path, bystander, info.cmdline, (info.start_ticks or 0) - 1)
    assert [s.running for s in srv.status(tmp_path)] == [False]
    assert srv.down(tmp_path, timeout=2) == []
    assert alive(bystander.pid)
    assert not (tmp_path / "servers" / "servers.json").exists()


def test_down_stops_the_group_left_behind_by_a_leader_that_exited(tmp_path: Path) -> None:
    # the leader starts a child in its group and exits: the group number cannot be reused
    # while the child lives, so the child is still ours and down stops it
    script = ("/bin/sh", "-c", "sleep 300 >/dev/null 2>&1 & echo $!")
    leader = subprocess.Popen(script, stdout=subprocess.PIPE, start_new_session=True)
    child = int(leader.communicate(timeout=10)[0])
    try:
        assert alive(child) and not alive(leader.pid)
        _record(tmp_path, leader, script, None)
        assert [s.running for s in srv.status(tmp_path)] == [True]
        assert [s.pid for s in srv.down(tmp_path, timeout=5)] == [leader.pid]
        deadline = time.monotonic() + 5
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(child)
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)


def test_status_and_down_without_a_record(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["status", "--state-dir", str(tmp_path)])
    assert result.exit_code == 0 and "no servers started by `driftloop up`" in result.output
    result = runner.invoke(main, ["down", "--state-dir", str(tmp_path)])
    assert result.exit_code == 0 and "no servers started by `driftloop up`" in result.output


# --------------------------------------------------------------------------- real servers


@pytest.mark.server
@pytest.mark.timeout(120)
def test_a_server_that_exits_is_reported_with_its_log(tmp_path: Path) -> None:
    port, = free_ports(1)
    cfg = ServersConfig.model_validate({
        "prefect": {"enabled": False}, "evidently": {"enabled": False},
        "mlflow": {"port": port, "backend_store_uri": "bogus://nowhere"}})
    with pytest.raises(ServerError) as err:
        srv.up(cfg, tmp_path)
    log = tmp_path.resolve() / "servers" / "mlflow.log"
    assert "The MLflow tracking server exited with code" in str(err.value)
    assert f"see its log {log}" in str(err.value) and "bogus://nowhere" in str(err.value)
    assert not (tmp_path / "servers" / "servers.json").exists()


@pytest.mark.server
@pytest.mark.timeout(120)
def test_a_server_too_slow_for_the_timeout_is_stopped(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    port, = free_ports(1)
    cfg = ServersConfig.model_validate({
        "prefect": {"enabled": False}, "mlflow": {"enabled": False},
        "evidently": {"port": port}})
    seen: list[RunningServer] = []
    real_write = srv._write_record

    def spy(state_dir: str | Path, servers: list[RunningServer]) -> None:
        seen.extend(servers)
        real_write(state_dir, servers)

    monkeypatch.setattr(srv, "_write_record", spy)
    with pytest.raises(ServerError, match=r"(?s)The Evidently UI did not answer "
                                          r"http://127\.0\.0\.1:\d+/ within 0 s .* see its "
                                          r"log .*evidently\.log"):
        srv.up(cfg, tmp_path, timeout=0.3)
    assert seen and not alive(seen[0].pid) and group_pids(seen[0].pgid) == []
    assert not (tmp_path / "servers" / "servers.json").exists()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, int]]]:
    """All three servers, started once through ``driftloop up``; always stopped at the end."""
    tmp = tmp_path_factory.mktemp("servers")
    state = tmp / "state"
    ports = dict(zip(["prefect", "mlflow", "evidently"], free_ports(3), strict=True))
    cfg_file = tmp / "driftloop.yaml"
    cfg_file.write_text(yaml.safe_dump({"state_dir": str(state), "servers": {
        name: {"port": port} for name, port in ports.items()}}))
    try:
        result = CliRunner().invoke(main, ["up", "--config", str(cfg_file), "--timeout", "150"])
        assert result.exit_code == 0, result.output
        assert f"export PREFECT_API_URL=http://127.0.0.1:{ports['prefect']}/api" in result.output
        assert f"export MLFLOW_TRACKING_URI=http://127.0.0.1:{ports['mlflow']}" in result.output
        yield state, ports
    finally:
        recorded = srv.read_record(state)
        srv.down(state, timeout=10)
        for s in recorded:  # belt and braces: nothing of ours survives the module
            if srv._owns_group(s):
                os.killpg(s.pgid, signal.SIGKILL)


@pytest.mark.server
def test_status_shows_each_server_healthy(stack: tuple[Path, dict[str, int]]) -> None:
    state, ports = stack
    result = CliRunner().invoke(main, ["status", "--state-dir", str(state), "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert {n: (r["url"], r["running"], r["healthy"]) for n, r in rows.items()} == {
        n: (f"http://127.0.0.1:{p}", True, True) for n, p in ports.items()}
    for r in rows.values():
        assert alive(r["pid"]) and Path(r["log"]).is_file()
    table = CliRunner().invoke(main, ["status", "--state-dir", str(state)]).output
    assert f"mlflow     {rows['mlflow']['pid']:<8} http://127.0.0.1:{ports['mlflow']}" in table


@pytest.mark.server
def test_prefect_server_answers(stack: tuple[Path, dict[str, int]]) -> None:
    state, ports = stack
    code, body = get(f"http://127.0.0.1:{ports['prefect']}/api/health")
    assert (code, body) == (200, "true")
    assert (state / "prefect-server").is_dir()  # its own home, with its own database


@pytest.mark.server
def test_mlflow_server_tracks_and_stores_artifacts(stack: tuple[Path, dict[str, int]]) -> None:
    from mlflow.tracking import MlflowClient

    state, ports = stack
    client = MlflowClient(tracking_uri=f"http://127.0.0.1:{ports['mlflow']}")
    assert [e.name for e in client.search_experiments()] == ["Default"]
    exp = client.create_experiment("servers-test")
    run = client.create_run(exp)
    client.log_metric(run.info.run_id, "accuracy", 0.9)
    client.log_text(run.info.run_id, "hello", "note.txt")
    assert client.get_run(run.info.run_id).data.metrics == {"accuracy": 0.9}
    assert (state / "mlflow.db").is_file()
    # artifacts go through the server's proxy into the state folder
    assert [p.read_text() for p in (state / "mlartifacts").rglob("note.txt")] == ["hello"]


@pytest.mark.server
def test_evidently_ui_serves_the_workspace(stack: tuple[Path, dict[str, int]]) -> None:
    state, ports = stack
    code, body = get(f"http://127.0.0.1:{ports['evidently']}/")
    assert code == 200 and body.lstrip().lower().startswith("<!doctype html")
    code, body = get(f"http://127.0.0.1:{ports['evidently']}/api/projects")
    assert code == 200 and json.loads(body) == []
    assert (state / "workspace").is_dir()


@pytest.mark.server
def test_up_twice_is_refused(stack: tuple[Path, dict[str, int]]) -> None:
    state, _ = stack
    with pytest.raises(ServerError, match="still running .*run `driftloop down` first"):
        srv.up(ServersConfig(), state)


@pytest.mark.server
def test_down_stops_exactly_what_up_started(stack: tuple[Path, dict[str, int]],
                                            bystander: subprocess.Popen[bytes]) -> None:
    state, ports = stack
    recorded = srv.read_record(state)
    groups = {s.name: group_pids(s.pgid) for s in recorded}
    assert set(groups) == set(ports) and all(groups.values())
    result = CliRunner().invoke(main, ["down", "--state-dir", str(state)])
    assert result.exit_code == 0, result.output
    for s in recorded:
        assert f"{s.name:<10} pid {s.pid:<8} stopped" in result.output
    deadline = time.monotonic() + 5
    while any(alive(p) for ps in groups.values() for p in ps) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [p for ps in groups.values() for p in ps if alive(p)] == []
    assert alive(bystander.pid)
    assert srv.status(state) == []
    for port in ports.values():  # the ports are free again
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))
