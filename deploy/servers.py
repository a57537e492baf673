"""The server stack on one machine: a Prefect server, an MLflow tracking server and the
Evidently UI, started by ``driftloop up``, listed by ``driftloop status`` and stopped by
``driftloop down``.

Each server runs as a detached process in its own session (so it outlives the command that
started it and its whole process group can be stopped at once), logs to
``<state_dir>/servers/<name>.log`` and is recorded in ``<state_dir>/servers/servers.json``
with its process id, process group, start time and command line. :func:`down` stops only the
process groups in that record, and only while the recorded process id still belongs to the
recorded command (a process id reused by something else is left alone).

Where each server listens comes from the ``servers:`` section of the config, then from
environment variables (:data:`ENV_VARS`, e.g. ``DRIFTLOOP_MLFLOW_PORT``):

>>> cfg = ServersConfig().with_env({"DRIFTLOOP_MLFLOW_PORT": "5050"})
>>> [(s.name, s.url) for s in server_specs(cfg, "/tmp/state")]
[('prefect', 'http://127.0.0.1:4200'), ('mlflow', 'http://127.0.0.1:5050'), ('evidently', 'http://127.0.0.1:8000')]

Credentials in database or artifact URIs are handed to the servers through their environment,
never on the command line, so they appear neither in ``ps`` nor in ``servers.json``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pydantic
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ENV_VARS",
    "EvidentlyServerConfig",
    "MlflowServerConfig",
    "PrefectServerConfig",
    "RunningServer",
    "ServerError",
    "ServerSpec",
    "ServerStatus",
    "ServersConfig",
    "client_env",
    "down",
    "server_specs",
    "status",
    "up",
]

logger = logging.getLogger(__name__)

#: Telemetry off in every server unless the user's environment says otherwise.
TELEMETRY_OFF = {
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "EVIDENTLY_DISABLE_TELEMETRY": "1",
}

SERVERS_DIR = "servers"
RECORD_FILE = "servers.json"


class ServerError(RuntimeError):
    """A server could not be configured, started, checked or stopped."""


# --------------------------------------------------------------------------- configuration


class _ServerConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    host: str | None = Field(None, description="Interface to bind; default: servers.host.")
    port: int = Field(..., gt=0, lt=65536)


class PrefectServerConfig(_ServerConfig):
    """``prefect server start``; its own ``PREFECT_HOME`` (and SQLite) under the state folder."""

    port: int = Field(4200, gt=0, lt=65536)
    database_uri: str | None = Field(
        None, description="SQLAlchemy URI of Prefect's database (e.g. postgresql+asyncpg://...); "
                          "default: SQLite in <state_dir>/prefect-server.")


class MlflowServerConfig(_ServerConfig):
    """``mlflow server``, over the same store as the embedded mode by default."""

    port: int = Field(5000, gt=0, lt=65536)
    backend_store_uri: str | None = Field(
        None, description="Any SQLAlchemy URI (sqlite:///..., postgresql://...); default: "
                          "sqlite:///<state_dir>/mlflow.db.")
    artifacts_destination: str | None = Field(
        None, description="A folder or an S3-compatible URI (s3://bucket/prefix); default: "
                          "<state_dir>/mlartifacts.")
    s3_endpoint_url: str | None = Field(
        None, description="Endpoint of an S3-compatible store (MinIO, ...), passed as "
                          "MLFLOW_S3_ENDPOINT_URL.")
    workers: int = Field(1, gt=0, description="Worker processes of the tracking server.")


class EvidentlyServerConfig(_ServerConfig):
    """``evidently ui`` over driftloop's workspace."""

    port: int = Field(8000, gt=0, lt=65536)
    workspace: str | None = Field(None, description="Default: <state_dir>/workspace.")


class ServersConfig(BaseModel):
    """Where ``driftloop up`` starts each server (the ``servers:`` section of the config).

    >>> ServersConfig.model_validate({"mlflow": {"port": 5001}}).mlflow.port
    5001
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field("127.0.0.1", description="Interface every server binds unless its own "
                                               "`host` is set (loopback by default).")
    startup_timeout_s: float = Field(120.0, gt=0, description="Seconds to wait for health.")
    prefect: PrefectServerConfig = Field(default_factory=PrefectServerConfig)
    mlflow: MlflowServerConfig = Field(default_factory=MlflowServerConfig)
    evidently: EvidentlyServerConfig = Field(default_factory=EvidentlyServerConfig)

    def with_env(self, environ: Mapping[str, str] | None = None) -> ServersConfig:
        """A copy with the ``DRIFTLOOP_*`` variables of :data:`ENV_VARS` applied on top.

        A bad value gets an error naming the variable:

        >>> try:
        ...     ServersConfig().with_env({"DRIFTLOOP_PREFECT_PORT": "http"})
        ... except ServerError as e:
        ...     print(e)
        Environment variable DRIFTLOOP_PREFECT_PORT='http' is invalid for servers.prefect.port: Input should be a valid integer, unable to parse string as an integer
        """
        environ = os.environ if environ is None else environ
        data = self.model_dump(mode="json")
        used: dict[tuple[str, ...], str] = {}
        for var, path in ENV_VARS.items():
            value = environ.get(var)
            if value is None or value == "":
                continue
            target = data
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
            used[path] = var
        try:
            return ServersConfig.model_validate(data)
        except pydantic.ValidationError as e:
            problems = []
            for err in e.errors():
                path = tuple(str(p) for p in err["loc"])
                from_env = used.get(path)
                where = "servers." + ".".join(path)
                if from_env is None:
                    problems.append(f"{where}: {err['msg']}")
                else:
                    problems.append(f"Environment variable {from_env}={environ[from_env]!r} "
                                    f"is invalid for {where}: {err['msg']}")
            raise ServerError("\n".join(problems)) from None


#: Environment variables read by :meth:`ServersConfig.with_env`, and the key each one sets.
ENV_VARS: dict[str, tuple[str, ...]] = {
    "DRIFTLOOP_SERVER_HOST": ("host",),
    "DRIFTLOOP_SERVER_STARTUP_TIMEOUT": ("startup_timeout_s",),
    "DRIFTLOOP_PREFECT_HOST": ("prefect", "host"),
    "DRIFTLOOP_PREFECT_PORT": ("prefect", "port"),
    "DRIFTLOOP_PREFECT_DATABASE_URI": ("prefect", "database_uri"),
    "DRIFTLOOP_MLFLOW_HOST": ("mlflow", "host"),
    "DRIFTLOOP_MLFLOW_PORT": ("mlflow", "port"),
    "DRIFTLOOP_MLFLOW_BACKEND_URI": ("mlflow", "backend_store_uri"),
    "DRIFTLOOP_MLFLOW_ARTIFACTS_URI": ("mlflow", "artifacts_destination"),
    "DRIFTLOOP_MLFLOW_S3_ENDPOINT_URL": ("mlflow", "s3_endpoint_url"),
    "DRIFTLOOP_MLFLOW_WORKERS": ("mlflow", "workers"),
    "DRIFTLOOP_EVIDENTLY_HOST": ("evidently", "host"),
    "DRIFTLOOP_EVIDENTLY_PORT": ("evidently", "port"),
    "DRIFTLOOP_EVIDENTLY_WORKSPACE": ("evidently", "workspace"),
}


def _env_var_for(path: tuple[str, ...]) -> str:
    return next(var for var, p in ENV_VARS.items() if p == path)


# --------------------------------------------------------------------------- what to start


@dataclass(frozen=True)
class ServerSpec:
    """How to start one server and how to tell that it is up."""

    name: str
    title: str
    command: tuple[str, ...]
    env: Mapping[str, str] = field(repr=False)
    host: str
    port: int
    url: str
    health_url: str

    @property
    def port_hint(self) -> str:
        """Where the user changes this server's port."""
        return f"servers.{self.name}.port in the config or {_env_var_for((self.name, 'port'))}"


def _url_host(host: str) -> str:
    """The address a client on this machine uses for a server bound to ``host``."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _executable(name: str) -> str:
    """``name`` next to the running interpreter (the venv's bin), else on ``PATH``."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise ServerError(f"The '{name}' command was found neither next to {sys.executable} "
                          f"nor on PATH; install driftloop's dependencies in this environment.")
    return found


def server_specs(config: ServersConfig, state_dir: str | Path) -> list[ServerSpec]:
    """The enabled servers of ``config``, with state (databases, logs) under ``state_dir``."""
    root = Path(state_dir).expanduser().resolve()
    specs: list[ServerSpec] = []

    p = config.prefect
    if p.enabled:
        host = p.host or config.host
        url = f"http://{_url_host(host)}:{p.port}"
        env = {"PREFECT_HOME": str(root / "prefect-server"),
               "PREFECT_SERVER_API_HOST": host, "PREFECT_SERVER_API_PORT": str(p.port)}
        if p.database_uri:
            env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = p.database_uri
        specs.append(ServerSpec(
            "prefect", "Prefect server",
            (_executable("prefect"), "server", "start", "--host", host, "--port", str(p.port)),
            env, host, p.port, url, f"{url}/api/health"))

    m = config.mlflow
    if m.enabled:
        host = m.host or config.host
        url = f"http://{_url_host(host)}:{m.port}"
        env = {"MLFLOW_BACKEND_STORE_URI": m.backend_store_uri
               or f"sqlite:///{root / 'mlflow.db'}",
               "MLFLOW_ARTIFACTS_DESTINATION": m.artifacts_destination
               or str(root / "mlartifacts"),
               "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        if m.s3_endpoint_url:
            env["MLFLOW_S3_ENDPOINT_URL"] = m.s3_endpoint_url
        specs.append(ServerSpec(
            "mlflow", "MLflow tracking server",
            (_executable("mlflow"), "server", "--serve-artifacts", "--host", host,
             "--port", str(m.port), "--workers", str(m.workers)),
            env, host, m.port, url, f"{url}/health"))

    e = config.evidently
    if e.enabled:
        host = e.host or config.host
        url = f"http://{_url_host(host)}:{e.port}"
        workspace = Path(e.workspace).expanduser().resolve() if e.workspace \
            else root / "workspace"
        specs.append(ServerSpec(
            "evidently", "Evidently UI",
            (_executable("evidently"), "ui", "--workspace", str(workspace), "--host", host,
             "--port", str(e.port)),
            {}, host, e.port, url, f"{url}/"))
    return specs


def _child_env(spec: ServerSpec) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PREFECT_API_URL", None)  # the server is the API; it must not point elsewhere
    for key, value in TELEMETRY_OFF.items():
        env.setdefault(key, value)
    env.update(spec.env)
    return env


# --------------------------------------------------------------------------- the record


class RunningServer(BaseModel):
    """One server started by :func:`up`, as recorded in ``servers.json``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    pid: int
    pgid: int
    url: str
    health_url: str
    command: tuple[str, ...]
    started_at: datetime
    start_ticks: int | None = Field(
        None, description="The process's start time in clock ticks since boot (Linux), so a "
                          "reused process id is never taken for this server.")
    log: str


@dataclass(frozen=True)
class ServerStatus:
    """What :func:`status` found for one recorded server."""

    server: RunningServer
    running: bool
    healthy: bool


def _servers_dir(state_dir: str | Path) -> Path:
    return Path(state_dir).expanduser().resolve() / SERVERS_DIR


def _record_path(state_dir: str | Path) -> Path:
    return _servers_dir(state_dir) / RECORD_FILE


def read_record(state_dir: str | Path) -> list[RunningServer]:
    """The servers recorded under ``state_dir`` (empty when :func:`up` has not run)."""
    path = _record_path(state_dir)
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [RunningServer.model_validate(s) for s in data["servers"]]
    except (ValueError, KeyError, TypeError) as e:
        raise ServerError(f"The server record {path} is unreadable ({e}); stop the servers "
                          f"by hand and delete it.") from None


def _write_record(state_dir: str | Path, servers: Sequence[RunningServer]) -> None:
    path = _record_path(state_dir)
    if not servers:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    payload = {"servers": [s.model_dump(mode="json") for s in servers]}
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# --------------------------------------------------------------------------- processes


@dataclass(frozen=True)
class _ProcInfo:
    cmdline: tuple[str, ...]
    zombie: bool
    pgid: int | None
    start_ticks: int | None


def _proc(pid: int) -> _ProcInfo | None:
    """What the system says about ``pid`` (``/proc`` on Linux, ``ps`` elsewhere)."""
    proc = Path("/proc")
    if proc.is_dir():
        try:
            raw = (proc / str(pid) / "cmdline").read_bytes()
            stat = (proc / str(pid) / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            return None
        rest = stat[stat.rindex(")") + 2:].split()  # fields 3.. (after the command name)
        return _ProcInfo(tuple(a.decode(errors="replace") for a in raw.split(b"\0") if a),
                         zombie=rest[0] in ("Z", "X"), pgid=int(rest[2]),
                         start_ticks=int(rest[19]))
    try:  # pragma: no cover - no /proc (macOS)
        out = subprocess.run(["ps", "-o", "stat=,pgid=,command=", "-p", str(pid)],
                             capture_output=True, text=True, check=False).stdout.strip()
    except OSError:  # pragma: no cover
        return None
    if not out:  # pragma: no cover
        return None
    state, pgid, command = out.split(None, 2)  # pragma: no cover
    return _ProcInfo(tuple(command.split()), state.startswith("Z"), int(pgid), None)


def _is_ours(server: RunningServer, info: _ProcInfo | None) -> bool:
    """Whether a live process is the one :func:`up` started (same command, same start)."""
    if info is None or info.zombie:
        return False
    n = len(server.command)
    # a console script runs as `python <script> args...`: the recorded command is its tail
    same_command = info.cmdline[-n:] == server.command
    same_start = server.start_ticks is None or info.start_ticks == server.start_ticks
    return same_command and same_start


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group ``pgid``."""
    proc = Path("/proc")
    if not proc.is_dir():  # pragma: no cover
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]
    members = []
    for entry in proc.iterdir():
        if entry.name.isdigit():
            info = _proc(int(entry.name))
            if info is not None and not info.zombie and info.pgid == pgid:
                members.append(int(entry.name))
    return members


def _owns_group(server: RunningServer) -> bool:
    """Whether the recorded process group is still the one :func:`up` started.

    While the leader lives it must match the record. Once it is gone the group number cannot
    be handed out again as long as any member of the group lives, so live members are ours.
    """
    info = _proc(server.pid)
    if info is not None and not info.zombie:
        return _is_ours(server, info)
    return bool(_group_members(server.pgid))


def _reap(pid: int) -> None:
    """Collect an exited child of this process so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _wait_gone(servers: Sequence[RunningServer], timeout: float) -> list[RunningServer]:
    """Wait up to ``timeout`` s for the servers' process groups to empty; return the rest."""
    deadline = time.monotonic() + timeout
    pending = list(servers)
    while True:
        for s in pending:
            _reap(s.pid)
        pending = [s for s in pending if _group_members(s.pgid)]
        if not pending or time.monotonic() > deadline:
            return pending
        time.sleep(0.1)


def _stop(servers: Sequence[RunningServer], timeout: float) -> list[RunningServer]:
    """SIGTERM each group that is still ours, wait up to ``timeout`` s, then SIGKILL the rest."""
    owned = [s for s in servers if _owns_group(s)]
    for s in owned:
        _signal_group(s.pgid, signal.SIGTERM)
    left = _wait_gone(owned, timeout)
    for s in left:
        logger.warning("%s (pgid %d) outlived SIGTERM by %.0f s; sending SIGKILL",
                       s.name, s.pgid, timeout)
        _signal_group(s.pgid, signal.SIGKILL)
    left = _wait_gone(left, 5.0)
    if left:
        raise ServerError("Could not stop " + ", ".join(
            f"{s.name} (pgid {s.pgid})" for s in left) + " even with SIGKILL.")
    return owned


# --------------------------------------------------------------------------- health


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _healthy(url: str, timeout: float = 2.0) -> bool:
    """``GET url`` answers 200 (proxies bypassed: these servers are local)."""
    try:
        with _NO_PROXY.open(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("    " + line for line in text[-lines:])


def _check_ports(specs: Sequence[ServerSpec]) -> None:
    seen: dict[tuple[str, int], ServerSpec] = {}
    for spec in specs:
        other = seen.get((spec.host, spec.port))
        if other is not None:
            raise ServerError(f"The {other.title} and the {spec.title} are both set to port "
                              f"{spec.port} on {spec.host}; give one another port "
                              f"({spec.port_hint}).")
        seen[(spec.host, spec.port)] = spec
        try:
            infos = socket.getaddrinfo(spec.host, spec.port, type=socket.SOCK_STREAM)
        except socket.gaierror as e:
            raise ServerError(f"The {spec.title}'s host {spec.host!r} cannot be resolved "
                              f"({e}); set servers.{spec.name}.host or servers.host to an "
                              f"address of this machine.") from None
        family, _, _, _, address = infos[0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            # the servers set SO_REUSEADDR too: only a live listener makes them fail
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as e:
                raise ServerError(
                    f"Port {spec.port} on {spec.host} is already in use ({e.strerror}); the "
                    f"{spec.title} cannot start there. Stop what listens on it or choose "
                    f"another port: {spec.port_hint}.") from None


# --------------------------------------------------------------------------- the three verbs


def up(config: ServersConfig, state_dir: str | Path, *,
       timeout: float | None = None) -> list[RunningServer]:
    """Start the enabled servers and wait until each answers its health check.

    ``config`` is used as given: apply the environment first with
    :meth:`ServersConfig.with_env`. Raises :class:`ServerError` (and leaves nothing running)
    when servers from an earlier ``up`` still run, a port is taken, or a server does not come
    up within ``timeout`` seconds (default ``config.startup_timeout_s``); the error names the
    server's log file and shows its last lines.
    """
    specs = server_specs(config, state_dir)
    if not specs:
        raise ServerError("Every server is disabled (servers.<name>.enabled); nothing to start.")
    recorded = read_record(state_dir)
    alive = [s for s in recorded if _owns_group(s)]
    if alive:
        raise ServerError("Servers started earlier are still running ("
                          + ", ".join(f"{s.name} pid {s.pid} at {s.url}" for s in alive)
                          + "); run `driftloop down` first.")
    _check_ports(specs)

    root = Path(state_dir).expanduser().resolve()
    logs = _servers_dir(root)
    logs.mkdir(parents=True, exist_ok=True)
    for spec in specs:  # the folders a server expects to exist
        if "PREFECT_HOME" in spec.env:
            Path(spec.env["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
        if "--workspace" in spec.command:
            Path(spec.command[spec.command.index("--workspace") + 1]).mkdir(
                parents=True, exist_ok=True)

    started: list[tuple[ServerSpec, subprocess.Popen[bytes], RunningServer]] = []
    try:
        for spec in specs:
            log = logs / f"{spec.name}.log"
            with open(log, "wb") as out:
                proc = subprocess.Popen(
                    spec.command, env=_child_env(spec), stdin=subprocess.DEVNULL, stdout=out,
                    stderr=subprocess.STDOUT, cwd=root, start_new_session=True)
            info = _proc(proc.pid)
            server = RunningServer(
                name=spec.name, pid=proc.pid, pgid=proc.pid, url=spec.url,
                health_url=spec.health_url, command=spec.command,
                started_at=datetime.now(UTC),
                start_ticks=info.start_ticks if info is not None else None, log=str(log))
            started.append((spec, proc, server))
            _write_record(root, [s for _, _, s in started])  # down can stop it from now on
        _wait_healthy(started, config.startup_timeout_s if timeout is None else timeout)
    except BaseException:
        _stop([s for _, _, s in started], timeout=10.0)
        _write_record(root, [])
        raise
    return [s for _, _, s in started]


def _wait_healthy(started: Sequence[tuple[ServerSpec, subprocess.Popen[bytes], RunningServer]],
                  timeout: float) -> None:
    deadline = time.monotonic() + timeout
    waiting = list(started)
    while waiting:
        for item in list(waiting):
            spec, proc, server = item
            code = proc.poll()
            if code is not None:
                raise ServerError(
                    f"The {spec.title} exited with code {code} before it answered "
                    f"{spec.health_url}; see its log {server.log}:\n{_log_tail(Path(server.log))}")
            if _healthy(spec.health_url):
                logger.info("%s is up at %s (pid %d)", spec.title, spec.url, proc.pid)
                waiting.remove(item)
        if not waiting:
            return
        if time.monotonic() > deadline:
            spec, _, server = waiting[0]
            raise ServerError(
                f"The {spec.title} did not answer {spec.health_url} within {timeout:.0f} s "
                f"(servers.startup_timeout_s or DRIFTLOOP_SERVER_STARTUP_TIMEOUT); see its "
                f"log {server.log}:\n{_log_tail(Path(server.log))}")
        time.sleep(0.5)


def status(state_dir: str | Path) -> list[ServerStatus]:
    """Each recorded server: whether its process still runs and whether it answers health."""
    result = []
    for server in read_record(state_dir):
        running = _owns_group(server)
        result.append(ServerStatus(server, running, running and _healthy(server.health_url)))
    return result


def down(state_dir: str | Path, *, timeout: float = 15.0) -> list[RunningServer]:
    """Stop what :func:`up` started under ``state_dir`` and forget it.

    Sends SIGTERM to each recorded process group that is still ours, SIGKILL to any left after
    ``timeout`` seconds, and removes the record. Returns the servers that were stopped
    (recorded servers that had already exited are only forgotten).
    """
    recorded = read_record(state_dir)
    stopped = _stop(recorded, timeout)
    _write_record(state_dir, [])
    return stopped


def client_env(servers: Sequence[RunningServer]) -> dict[str, str]:
    """The variables that point Prefect and MLflow clients (and driftloop) at these servers.

    >>> s = RunningServer(name="mlflow", pid=1, pgid=1, url="http://127.0.0.1:5000",
    ...                   health_url="http://127.0.0.1:5000/health", command=("mlflow",),
    ...                   started_at=datetime(2026, 1, 1, tzinfo=UTC), log="mlflow.log")
    >>> client_env([s])
    {'MLFLOW_TRACKING_URI': 'http://127.0.0.1:5000'}
    """
    env = {}
    for s in servers:
        if s.name == "prefect":
            env["PREFECT_API_URL"] = f"{s.url}/api"
        elif s.name == "mlflow":
            env["MLFLOW_TRACKING_URI"] = s.url
    return env
