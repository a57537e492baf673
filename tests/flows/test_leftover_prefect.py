"""A SIGKILLed run in Prefect mode leaves its ephemeral Prefect API behind; the next run of the
same state folder stops it (:func:`flows.settings.stop_leftover_prefect_api`).

These tests use stand-in processes that look like that server to ``/proc`` (its command line
and environment), so that telling ours from other servers is checked without starting Prefect;
``tests/flows/test_crash_resume.py`` kills and resumes a real Prefect-mode run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flows.settings import leftover_prefect_api, stop_leftover_prefect_api

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(),
                                reason="finding leftover servers reads /proc (Linux only)")

APP = "prefect.server.api.server:create_app"
Spawn = Callable[..., "subprocess.Popen[bytes]"]


@pytest.fixture()
def spawn() -> Iterator[Spawn]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(home: Path, *, ephemeral: bool = True, app: str = APP,
              ignore_term: bool = False) -> subprocess.Popen[bytes]:
        code = ("import signal, sys, time\n"
                + ("signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" if ignore_term else "")
                + "print('up', flush=True)\ntime.sleep(120)\n")
        env = {**os.environ, "PREFECT_HOME": str(home)}
        if ephemeral:
            env["PREFECT__SERVER_EPHEMERAL"] = "1"
        proc = subprocess.Popen([sys.executable, "-c", code, "--factory", app], env=env,
                                stdout=subprocess.PIPE)
        assert proc.stdout is not None and proc.stdout.readline() == b"up\n"
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        assert proc.stdout is not None
        proc.stdout.close()


def test_only_the_ephemeral_servers_of_this_home_are_stopped(tmp_path: Path,
                                                             spawn: Spawn) -> None:
    home, other = tmp_path / "state" / "prefect", tmp_path / "other" / "prefect"
    ours = spawn(home)
    of_another_folder = spawn(other)
    not_ephemeral = spawn(home, ephemeral=False)  # e.g. a `prefect server start` of the user
    not_prefect = spawn(home, app="myapp:create_app")
    assert leftover_prefect_api(home) == [ours.pid]
    assert stop_leftover_prefect_api(home) == [ours.pid]
    assert ours.wait(10) == -signal.SIGTERM
    for proc in (of_another_folder, not_ephemeral, not_prefect):
        assert proc.poll() is None
    assert leftover_prefect_api(home) == []
    assert stop_leftover_prefect_api(home) == []


def test_a_server_that_ignores_sigterm_is_killed(tmp_path: Path, spawn: Spawn) -> None:
    stubborn = spawn(tmp_path / "prefect", ignore_term=True)
    assert stop_leftover_prefect_api(tmp_path / "prefect", wait_s=0.5) == [stubborn.pid]
    assert stubborn.wait(10) == -signal.SIGKILL
