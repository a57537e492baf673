"""A registry with real model versions, and the prediction service run as a real process.

Shared by the serving benchmark and the service tests.

The two versions learn opposite concepts (``y = x0 + region > 0`` and its negation), so every
prediction says which version made it. The service is ``python -m flows.cli serve`` on a free
loopback port, stopped by its process id.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from models.config import ModelConfig
from models.families import make_model
from models.registry import ModelRegistry, RegistryConfig

REPO = Path(__file__).resolve().parents[1]
TOKEN = "test-token-0123456789abcdef"
MODEL = "svc-model"
REGION = {"north": 1.0, "south": -1.0, "east": 0.0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def frame(n: int, seed: int) -> pd.DataFrame:
    """Features of every type a signature can check: float, int, string and bool."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "x0": rng.normal(size=n), "x1": rng.normal(size=n),
        "count": rng.integers(0, 100, n).astype("int64"),
        "region": rng.choice(list(REGION), n), "flag": rng.random(n) < 0.5,
    })


def labels(X: pd.DataFrame, *, flip: bool) -> np.ndarray:
    s = X["x0"].to_numpy() + X["region"].map(REGION).to_numpy()
    return np.where((s > 0) != flip, "UP", "DOWN")


def rows(X: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON rows (plain Python values) of a feature frame."""
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
            for r in X.to_dict(orient="records")]


def register(registry: ModelRegistry, *, flip: bool, seed: int,
             family: str = "sklearn") -> int:
    X = frame(400, seed)
    model = make_model(ModelConfig(family=family), "classification").fit(X, labels(X, flip=flip))
    version = registry.log_training(
        model, X_example=X.head(50), params={"flip": flip}, metrics={"accuracy": 1.0},
        drift_context={"trigger": "drift", "window": 7 + seed, "reasons": "concept drift"},
    )
    return version.version


def make_registry(root: Path, name: str = MODEL) -> ModelRegistry:
    root.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{(root / 'mlflow.db').resolve()}"
    return ModelRegistry(uri, root / "mlartifacts", RegistryConfig(model_name=name))


@dataclass
class Service:
    """A running ``driftloop serve`` process."""

    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def client(self, token: str | None = TOKEN, timeout: float = 30.0) -> httpx.Client:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def wait_for_version(self, version: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        with self.client() as c:
            while time.monotonic() < deadline:
                if c.get("/health").json().get("version") == version:
                    return
                time.sleep(0.05)
        raise AssertionError(f"the service did not switch to version {version} in {timeout} s; "
                             f"its log:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


def start_service(registry: ModelRegistry, state_dir: Path, *extra: str,
                  env: dict[str, str] | None = None, timeout: float = 90.0,
                  poll_interval: float = 0.2) -> Service:
    """Start ``driftloop serve`` for ``registry``'s model and wait until it serves a version."""
    port = free_port()
    log_path = state_dir / f"service-{port}.log"
    state_dir.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, "DRIFTLOOP_API_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1",
                **(env or {})}
    cmd = [sys.executable, "-m", "flows.cli", "serve", "--tracking-uri", registry.tracking_uri,
           "--model", registry.model_name, "--state-dir", str(state_dir), "--port", str(port),
           "--poll-interval", str(poll_interval), *extra]
    with log_path.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=full_env,
                                cwd=REPO)
    service = Service(proc, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"driftloop serve exited with {proc.returncode}:\n"
                                 f"{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{service.url}/health", timeout=1).json().get("version") is not None:
                return service
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    service.stop()
    raise AssertionError(f"driftloop serve did not come up in {timeout} s:\n"
                         f"{log_path.read_text()[-3000:]}")
