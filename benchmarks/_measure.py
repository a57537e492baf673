"""Shared helpers of the speed and throughput benchmarks: run one measurement in a fresh
Python process, and read that process's memory.

A measurement is a module-level function ``f(**kwargs) -> dict`` named as
``"package.module:function"``; :func:`run_in_subprocess` runs it in a new interpreter (this
file's ``__main__``) with its own environment and returns the dict it returned. The function
times its own work (imports and data generation excluded) and reads memory with
:func:`reset_peak`, :func:`rss_mb` and :func:`peak_rss_mb`.

How memory is measured: the peak resident set size of the child's address space, ``VmHWM``
in ``/proc/self/status`` (Linux), reset with ``/proc/self/clear_refs`` just before the measured
call, so the peak is the highest RSS reached *during* that call (imports and input data
included, since they are resident). ``getrusage(...).ru_maxrss`` is not used on Linux: a child
started by ``fork``/``vfork`` + ``exec`` inherits the parent's high-water mark (a 10 MB child of
a 1.5 GB parent reports 1.5 GB), so it would measure the benchmark driver, not the child. Where
``/proc`` is unavailable the helpers fall back to ``ru_maxrss`` and say so.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

#: Telemetry off for every tool the children import (as the Makefile does).
QUIET_ENV = {
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "GIT_PYTHON_REFRESH": "quiet",
}


class MeasurementError(RuntimeError):
    """A measurement subprocess failed; the message holds the end of its output."""


# -- memory of the current process ------------------------------------------------------------

def _status_kb(key: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _ru_maxrss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 / (1024 if sys.platform == "darwin" else 1)  # macOS reports bytes


def memory_method() -> str:
    """How :func:`peak_rss_mb` measures, in words (for the report)."""
    if _status_kb("VmHWM") is not None:
        return ("peak RSS of a fresh subprocess (VmHWM from /proc/self/status, reset via "
                "/proc/self/clear_refs just before the measured call)")
    return "peak RSS of a fresh subprocess (getrusage ru_maxrss; may include the parent's peak)"


def reset_peak() -> bool:
    """Reset this process's RSS high-water mark to its current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def rss_mb() -> float:
    """This process's resident set size now, in MiB."""
    kb = _status_kb("VmRSS")
    return kb / 1024 if kb is not None else _ru_maxrss_mb()


def peak_rss_mb() -> float:
    """This process's peak resident set size since start or the last :func:`reset_peak`."""
    kb = _status_kb("VmHWM")
    return kb / 1024 if kb is not None else _ru_maxrss_mb()


# -- subprocesses ---------------------------------------------------------------------------

def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a measurement child: this one, telemetry off, the repo importable,
    no inherited Prefect API URL, plus ``extra``."""
    env = dict(os.environ)
    env.pop("PREFECT_API_URL", None)
    env.update(QUIET_ENV)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.update(extra or {})
    return env


def run_in_subprocess(target: str, kwargs: Mapping[str, Any], *, timeout: float,
                      env: Mapping[str, str] | None = None,
                      log_path: Path | None = None) -> dict[str, Any]:
    """Run ``target(**kwargs)`` in a fresh interpreter and return its result dict.

    ``target`` is ``"module:function"``; ``kwargs`` must be JSON-serialisable, and so must the
    result. The child's stdout and stderr go to ``log_path`` (a temporary file when ``None``).
    The result gets ``process_s``: the child's whole wall time, start-up and imports included.
    """
    with tempfile.TemporaryDirectory(prefix="driftloop-bench-") as tmp:
        spec = Path(tmp) / "spec.json"
        result = Path(tmp) / "result.json"
        log = log_path if log_path is not None else Path(tmp) / "child.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        spec.write_text(json.dumps({"target": target, "kwargs": dict(kwargs),
                                    "result": str(result)}))
        t0 = time.perf_counter()
        with open(log, "w", encoding="utf-8") as out:
            try:
                proc = subprocess.run(
                    [sys.executable, "-m", "benchmarks._measure", str(spec)], cwd=REPO,
                    env=dict(env) if env is not None else child_env(), stdout=out,
                    stderr=subprocess.STDOUT, timeout=timeout, check=False)
            except subprocess.TimeoutExpired:
                raise MeasurementError(
                    f"{target}({kwargs}) ran past its {timeout:.0f} s limit.\n"
                    + _tail(log)) from None
        took = time.perf_counter() - t0
        if proc.returncode != 0 or not result.exists():
            raise MeasurementError(f"{target}({kwargs}) exited with code {proc.returncode}.\n"
                                   + _tail(log))
        value: dict[str, Any] = json.loads(result.read_text())
        value["process_s"] = took
        return value


def _tail(log: Path, lines: int = 25) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "(no output)"
    return "Last lines of its output:\n" + "\n".join(text[-lines:])


def _child_main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    module, _, name = spec["target"].partition(":")
    func = getattr(importlib.import_module(module), name)
    value = func(**spec["kwargs"])
    Path(spec["result"]).write_text(json.dumps(value))


if __name__ == "__main__":
    _child_main(sys.argv[1])
