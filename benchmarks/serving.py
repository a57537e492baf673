"""Serving load benchmark: requests per second and latency of ``driftloop serve``, with and
without a hot swap of the champion.

The service runs as its own process (``python -m flows.cli serve``) on a loopback port, against
a SQLite MLflow registry holding two versions of a scikit-learn model; every request is
logged to the SQLite prediction log, as in production. Concurrent keep-alive clients in this
process send one-row requests (the common case) for a fixed time:

- **steady**: the champion does not move;
- **swap**: the same load while ``champion`` moves between the two versions every
  ``SWAP_EVERY_S`` seconds; the service (polling the registry every 2 s, its default) loads
  each new version in the background.

The anchor, measured in the same run, is the model alone: ``pyfunc.predict`` on one row in
this process. Latencies are client-side (request sent to response parsed). Failed requests
are counted, not hidden; the claim is that a swap fails none.

``python -m benchmarks.serving [--quick]`` or ``make bench BENCH_ARGS="--part serving"``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

NAME = "serving"
DEFAULT_OUT = Path(__file__).resolve().parent / "results"
CLIENTS = 8
DURATION_S = 20.0
QUICK_DURATION_S = 3.0
SWAP_EVERY_S = 4.0
QUICK_SWAP_EVERY_S = 1.0
POLL_INTERVAL_S = 2.0  # the service's default


def _load(service: Any, rows: list[dict[str, Any]], duration: float, clients: int,
          on_tick: Any = None) -> dict[str, Any]:
    """``clients`` threads send one-row requests for ``duration`` seconds."""
    stop = threading.Event()
    samples: list[list[tuple[float, float, int | None, int | None]]] = [[] for _ in range(clients)]

    def client(i: int) -> None:
        rng = random.Random(i)
        out = samples[i]
        with service.client() as c:
            while not stop.is_set():
                row = rows[rng.randrange(len(rows))]
                t0 = time.perf_counter()
                try:
                    r = c.post("/predict", json={"row": row})
                    version = r.json().get("version") if r.status_code == 200 else None
                    out.append((t0, time.perf_counter() - t0, r.status_code, version))
                except Exception:  # a transport error is a failed request
                    out.append((t0, time.perf_counter() - t0, None, None))

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    swaps: list[float] = []
    while (now := time.perf_counter()) - started < duration:
        if on_tick is not None and on_tick(now - started):
            swaps.append(time.perf_counter() - started)
        time.sleep(0.02)
    stop.set()
    for t in threads:
        t.join(60)
    elapsed = time.perf_counter() - started
    flat = [s for per in samples for s in per]
    lat = np.array([s[1] for s in flat if s[2] == 200]) * 1000
    versions = sorted({s[3] for s in flat if s[3] is not None})
    return {
        "requests": len(flat), "ok": int(lat.size), "failed": len(flat) - int(lat.size),
        "seconds": elapsed, "rps": lat.size / elapsed,
        "p50_ms": float(np.percentile(lat, 50)) if lat.size else None,
        "p99_ms": float(np.percentile(lat, 99)) if lat.size else None,
        "max_ms": float(lat.max()) if lat.size else None,
        "versions_seen": versions, "swaps_at_s": [round(s, 2) for s in swaps],
        "timeline": [(round(s[0] - started, 4), round(s[1] * 1000, 3)) for s in flat
                     if s[2] == 200][:: max(1, len(flat) // 4000)],
    }


def _anchor(tracking_uri: str, model: str, rows: list[dict[str, Any]], n: int) -> dict[str, Any]:
    """The model alone: one-row ``pyfunc.predict`` in this process."""
    import pandas as pd

    from models.registry import RegistryReader

    pyfunc = RegistryReader(tracking_uri, model).load_pyfunc("champion")
    frames = [pd.DataFrame([r]) for r in rows[:200]]
    for f in frames[:20]:
        pyfunc.predict(f)
    lat = []
    for i in range(n):
        t0 = time.perf_counter()
        pyfunc.predict(frames[i % len(frames)])
        lat.append(time.perf_counter() - t0)
    ms = np.array(lat) * 1000
    return {"calls": n, "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)), "per_s_one_thread": n / float(np.sum(lat))}


def run(*, quick: bool = False, data_dir: Path | None = None, out_dir: Path,
        clients: int = CLIENTS) -> dict[str, Any]:
    """Run the benchmark; write ``serving.json``, ``serving.md`` and ``serving.png``.

    ``data_dir`` is not used (the rows are generated); it is accepted for the driver's contract.
    """
    from benchmarks._measure import QUIET_ENV
    from benchmarks._service import frame, make_registry, register, rows, start_service

    os.environ.update(QUIET_ENV)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    duration = QUICK_DURATION_S if quick else DURATION_S
    swap_every = QUICK_SWAP_EVERY_S if quick else SWAP_EVERY_S
    started = time.perf_counter()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    tmp = Path(tempfile.mkdtemp(prefix="driftloop-bench-serving-"))
    try:
        registry = make_registry(tmp / "registry", name="bench-serving")
        v1 = register(registry, flip=False, seed=1)
        v2 = register(registry, flip=True, seed=2)
        registry.promote(v1, "benchmark: first", by="benchmark")
        pool = rows(frame(1000, seed=3))
        print("serving: starting the service ...", flush=True)
        service = start_service(registry, tmp / "state", env={"PREFECT_HOME": str(tmp / "ph")},
                                poll_interval=POLL_INTERVAL_S)
        try:
            _load(service, pool, min(2.0, duration), clients)  # warm-up, not reported
            print(f"serving: one client, {duration / 2:g} s ...", flush=True)
            single = _load(service, pool, duration / 2, 1)
            print(f"serving: steady load, {clients} clients, {duration:g} s ...", flush=True)
            steady = _load(service, pool, duration, clients)
            state = {"next": swap_every, "version": v1}

            def tick(t: float) -> bool:
                if t < state["next"]:
                    return False
                state["version"] = v2 if state["version"] == v1 else v1
                registry.promote(state["version"], "benchmark: swap", by="benchmark")
                state["next"] += swap_every
                return True

            print(f"serving: the same load with a swap every {swap_every:g} s ...", flush=True)
            swapping = _load(service, pool, duration, clients, on_tick=tick)
        finally:
            service.stop()
        anchor = _anchor(registry.tracking_uri, registry.model_name, pool,
                         300 if quick else 3000)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result: dict[str, Any] = {
        "name": NAME, "quick": quick, "clients": clients, "duration_s": duration,
        "swap_every_s": swap_every, "single": single, "steady": steady, "swap": swapping,
        "anchor": anchor,
        "swap_vs_steady_rps": swapping["rps"] / steady["rps"] if steady["rps"] else None,
        "service_p50_over_model_p50": (single["p50_ms"] / anchor["p50_ms"]
                                       if single["p50_ms"] else None),
        "machine": {"cpus": os.cpu_count(), "load_start": round(load, 2)},
    }
    result["elapsed_s"] = time.perf_counter() - started
    result["markdown"] = render(result)
    plot(result, out_dir / f"{NAME}.png")
    for case in ("single", "steady", "swap"):  # the latency samples are in the plot, not the JSON
        result[case].pop("timeline")
    (out_dir / f"{NAME}.json").write_text(json.dumps(result, indent=2, default=str))
    (out_dir / f"{NAME}.md").write_text(result["markdown"] + "\n")
    return result


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f} ms" if x >= 1 else f"{x * 1000:.0f} µs"


def render(result: dict[str, Any]) -> str:
    one, s, w, a = result["single"], result["steady"], result["swap"], result["anchor"]
    lines = [
        f"One-row `POST /predict` requests from keep-alive clients for "
        f"{result['duration_s']:g} s per case (half that for one client), every prediction written to the SQLite "
        f"prediction log; the service and the clients share this machine "
        f"({result['machine']['cpus']} CPUs, load {result['machine']['load_start']} at start).",
        "",
        "| case | requests | failed | req/s | p50 | p99 | max |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| one client, steady champion | {one['requests']:,} | {one['failed']} | "
        f"{one['rps']:,.0f} | {_ms(one['p50_ms'])} | {_ms(one['p99_ms'])} | "
        f"{_ms(one['max_ms'])} |",
        f"| {result['clients']} clients, steady champion | {s['requests']:,} | {s['failed']} | {s['rps']:,.0f} | "
        f"{_ms(s['p50_ms'])} | {_ms(s['p99_ms'])} | {_ms(s['max_ms'])} |",
        f"| {result['clients']} clients, champion swapped {len(w['swaps_at_s'])} times | "
        f"{w['requests']:,} | {w['failed']} | "
        f"{w['rps']:,.0f} | {_ms(w['p50_ms'])} | {_ms(w['p99_ms'])} | {_ms(w['max_ms'])} |",
        f"| anchor: `pyfunc.predict` alone, one row, in-process | {a['calls']:,} | - | - | "
        f"{_ms(a['p50_ms'])} | {_ms(a['p99_ms'])} | - |",
        "",
        f"With swaps the service keeps **{result['swap_vs_steady_rps']:.0%}** of its steady "
        f"throughput and fails **{w['failed']}** requests (versions seen: "
        f"{w['versions_seen']}). With one client (no queueing) a request's median latency is "
        f"{result['service_p50_over_model_p50']:.1f}x the model's own predict call: the rest is "
        "HTTP, JSON, the signature check and the prediction log.",
    ]
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True)
    for ax, key, title in ((axes[0], "steady", "steady champion"),
                           (axes[1], "swap", "champion swapped")):
        data = result[key]
        if data["timeline"]:
            t, ms = zip(*data["timeline"], strict=True)
            ax.scatter(t, ms, s=2, alpha=0.4)
        for at in data["swaps_at_s"]:
            ax.axvline(at, color="tab:red", lw=1, ls="--")
        ax.set_yscale("log")
        ax.set_title(f"{title}: {data['rps']:,.0f} req/s, {data['failed']} failed")
        ax.set_xlabel("seconds")
    axes[0].set_ylabel("latency (ms, log)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.serving", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a few seconds per case: a smoke run")
    p.add_argument("--clients", type=int, default=CLIENTS, help="concurrent clients")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results folder")
    args = p.parse_args(argv)
    result = run(quick=args.quick, out_dir=args.out, clients=args.clients)
    print(result["markdown"])
    print(f"took {result['elapsed_s']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
