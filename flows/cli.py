"""The ``driftloop`` command line. Imports stay lazy so ``--help`` answers at once."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click


def _run(config: Any, out: Path, use_prefect: bool, json_out: Path | None,
         resume: bool = False) -> dict[str, Any]:
    import os

    from flows.settings import StatePaths, prepare_environment, stop_leftover_prefect_api
    from monitors.checkpoint import folder_lock

    paths = StatePaths.at(config.state_dir)
    prepare_environment(paths)
    from flows.summary import render_table, write_json

    with folder_lock(paths.root, "run"):  # the loop takes it again (re-entrant)
        if use_prefect:
            import httpx

            from flows.pipeline import pipeline

            if not os.environ.get("PREFECT_API_URL"):
                for pid in stop_leftover_prefect_api(paths.prefect_home):
                    click.echo(f"stopped the ephemeral Prefect API (pid {pid}) that a killed "
                               "run of this state folder left behind", err=True)
            try:
                summary = pipeline(config, str(out), resume=resume)
            except httpx.TransportError as exc:
                _lost_prefect(exc)
        else:
            from flows.pipeline import run_stream

            summary = run_stream(config, out, resume=resume)
    if json_out is not None:
        write_json(summary, json_out)
    click.echo(render_table(summary))
    click.echo(f"\nwrote {out / 'summary.json'}, {out / 'accuracy.png'}"
               + (f", {json_out}" if json_out else ""))
    return summary


def _lost_prefect(exc: BaseException) -> None:
    """The Prefect API went away mid-run (after Prefect's own retries): say so and exit now.

    ``os._exit`` skips Prefect's exit hooks, which would otherwise spend minutes trying to send
    the queued events to the server that is gone. The checkpoint is already on disk.
    """
    import os

    api = os.environ.get("PREFECT_API_URL") or "the ephemeral Prefect API"
    click.echo(f"Error: lost the Prefect API at {api} ({type(exc).__name__}: {exc}). The "
               "champion is unchanged since the last completed step and the run's last "
               "complete window is checkpointed: when the server is back, rerun the same "
               "command with --resume.", err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(3)


def _errors() -> tuple[type[BaseException], ...]:
    from flows.config import ConfigError
    from models.base import ModelError
    from monitors.errors import MonitorError

    return (ConfigError, ModelError, MonitorError)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="driftloop")
def main() -> None:
    """driftloop: stream -> drift checks (Evidently, River) -> retrain -> gate -> MLflow
    champion, orchestrated by Prefect.

    All local state (MLflow store, Evidently workspace, Prefect home) lives under one folder,
    .driftloop/ by default (--state-dir or `state_dir` in the config).
    """


@main.command()
@click.option("--out", type=click.Path(path_type=Path), default=Path(".driftloop/demo"),
              show_default=True, help="Folder for summary.json, accuracy.png and reports.")
@click.option("--state-dir", type=click.Path(path_type=Path), default=None,
              help="State folder (default .driftloop).")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              help="YAML config; the demo's stream settings override its `source`.")
@click.option("--seed", default=7, show_default=True, help="Seed of the synthetic stream.")
@click.option("--rows", default=30_000, show_default=True, help="Rows in the stream.")
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None,
              help="Also write the JSON summary here.")
@click.option("--no-prefect", is_flag=True, help="Run the same loop without Prefect.")
@click.option("--resume", is_flag=True,
              help="Continue the interrupted run of this state folder after its last complete "
                   "window (same options).")
def demo(out: Path, state_dir: Path | None, config_path: Path | None, seed: int, rows: int,
         json_out: Path | None, no_prefect: bool, resume: bool) -> None:
    """Run a seeded synthetic stream with two known drifts through the whole loop.

    Prints a summary table and writes accuracy.png and summary.json under --out.
    """
    t0 = time.perf_counter()
    try:
        from flows.config import demo_config, load_config

        config = demo_config(load_config(config_path), seed=seed, rows=rows,
                             state_dir=state_dir)
        _run(config, out, not no_prefect, json_out, resume)
    except _errors() as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"demo finished in {time.perf_counter() - t0:.1f} s (including start-up)")


@main.command()
@click.option("--data", "data", required=True, type=click.Path(path_type=Path),
              help="CSV or Parquet file to replay as a stream.")
@click.option("--target", required=True, help="Target (label) column.")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              help="YAML config file (see README).")
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None,
              help="Write the JSON summary here.")
@click.option("--timestamp", default=None, help="Timestamp column that orders the rows.")
@click.option("--label-delay", type=int, default=None, help="Rows until a row's label arrives.")
@click.option("--out", type=click.Path(path_type=Path), default=Path(".driftloop/run"),
              show_default=True, help="Folder for summary.json, accuracy.png and reports.")
@click.option("--state-dir", type=click.Path(path_type=Path), default=None,
              help="State folder (default .driftloop).")
@click.option("--no-prefect", is_flag=True, help="Run the same loop without Prefect.")
@click.option("--resume", is_flag=True,
              help="Continue the interrupted run of this state folder after its last complete "
                   "window (same options).")
def run(data: Path, target: str, config_path: Path | None, json_out: Path | None,
        timestamp: str | None, label_delay: int | None, out: Path, state_dir: Path | None,
        no_prefect: bool, resume: bool) -> None:
    """Run the loop on a user's CSV/Parquet stream."""
    try:
        from flows.config import load_config

        base = load_config(config_path)
        source: dict[str, Any] = {"kind": "file", "path": str(data), "target": target}
        if timestamp:
            source["timestamp"] = timestamp
        if label_delay is not None:
            source["label_delay"] = label_delay
        if base.source.kind == "file":  # keep the config file's other source settings
            source = {**base.source.model_dump(mode="json"), **source}
        config = base.with_updates(source=source,
                                   state_dir=str(state_dir) if state_dir else None)
        _run(config, out, not no_prefect, json_out, resume)
    except _errors() as e:
        raise click.ClickException(str(e)) from None


@main.command("config")
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              help="Validate this YAML file and print the resolved config.")
def show_config(config_path: Path | None) -> None:
    """Print the full configuration with every default (as JSON)."""
    try:
        from flows.config import load_config

        click.echo(json.dumps(load_config(config_path).model_dump(mode="json"), indent=2))
    except _errors() as e:
        raise click.ClickException(str(e)) from None


@main.command()
@click.option("--reference", required=True, type=click.Path(path_type=Path),
              help="Reference file (.csv, .parquet or .pq).")
@click.option("--current", required=True, type=click.Path(path_type=Path),
              help="File to check against the reference (.csv, .parquet or .pq).")
@click.option("--method", default=None,
              help="Evidently stat test for every column (wasserstein, psi, ks, jensenshannon, "
                   "chisquare, ...); default: Evidently's choice per column.")
@click.option("--threshold", type=float, default=None,
              help="Drift threshold; default: the method's own.")
@click.option("--correction", type=click.Choice(["none", "bonferroni", "bh"]), default="none",
              show_default=True, help="Multiple-testing correction of the p-value columns.")
@click.option("--drift-share", type=float, default=0.5, show_default=True,
              help="The dataset drifts when at least this share of the columns drift.")
@click.option("--column", "columns", multiple=True,
              help="Compare only this column (repeatable); default: every column.")
@click.option("--chunk-rows", type=int, default=1_000_000, show_default=True,
              help="Rows per Parquet batch.")
@click.option("--jobs", "n_jobs", type=int, default=None,
              help="Columns compared at once (default: the CPU count).")
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None,
              help="Also write the report as JSON here.")
def drift(reference: Path, current: Path, method: str | None, threshold: float | None,
          correction: str, drift_share: float, columns: tuple[str, ...], chunk_rows: int,
          n_jobs: int | None, json_out: Path | None) -> None:
    """Check two CSV/Parquet files for data drift, column by column, in bounded memory.

    Prints one row per column (method, score, threshold, verdict) and a summary line. Parquet
    files are read one column at a time; CSV files are parsed once per column.

    The exit code is 0 whether or not drift is found (read the verdict from the output or the
    JSON's "dataset_drift"); it is non-zero only when the check could not run.
    """
    try:
        from monitors.drift_files import check_files

        report = check_files(reference, current, method=method, threshold=threshold,
                             correction=correction,  # type: ignore[arg-type]  # click.Choice
                             drift_share=drift_share, columns=list(columns) or None,
                             chunk_rows=chunk_rows, n_jobs=n_jobs)
    except _errors() as e:
        raise click.ClickException(str(e)) from None
    click.echo(report.table())
    if json_out is not None:
        try:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
        except OSError as e:
            raise click.ClickException(f"Could not write the JSON report to {json_out}: {e}") from None
        click.echo(f"wrote {json_out}")


@main.command()
@click.option("--part", "parts", multiple=True,
              help="Run only this part (repeatable): detection, continual, speed or "
                   "throughput; default: all.")
@click.option("--quick", is_flag=True, help="Tiny sizes: a smoke run, not a measurement.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Results folder (default benchmarks/results).")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="The shared data folder (default ../shared/data beside the repository).")
def bench(parts: tuple[str, ...], quick: bool, out: Path | None, data_dir: Path | None) -> None:
    """Run the benchmarks (benchmarks/run.py) and write their tables and plots.

    Needs a source checkout: the benchmarks are not part of the installed package.
    """
    run_module = _benchmarks_run()
    unknown = [p for p in parts if p not in run_module.PARTS]
    if unknown:
        raise click.BadParameter(
            f"unknown part(s) {unknown}; choose from {list(run_module.PARTS)}.",
            param_hint="'--part'")
    argv = [arg for p in parts for arg in ("--part", p)]
    if quick:
        argv.append("--quick")
    if out is not None:
        argv += ["--out", str(out)]
    if data_dir is not None:
        argv += ["--data-dir", str(data_dir)]
    code = run_module.main(argv)
    if code:
        raise click.exceptions.Exit(code)


def _benchmarks_run() -> Any:
    """``benchmarks.run``, from the checkout this package was installed from if needed."""
    import importlib

    try:
        return importlib.import_module("benchmarks.run")
    except ModuleNotFoundError as e:
        if e.name not in ("benchmarks", "benchmarks.run"):
            raise
    repo = Path(__file__).resolve().parents[1]
    if not (repo / "benchmarks" / "run.py").is_file():
        raise click.ClickException(
            f"driftloop bench needs a source checkout: benchmarks/run.py is not in {repo}. Run "
            "it from the repository (pip install -e .), or `python -m benchmarks.run` there.")
    shadow = sys.modules.get("benchmarks")
    if shadow is not None and getattr(shadow, "__file__", None) is None:
        del sys.modules["benchmarks"]  # a namespace folder named benchmarks (tests/benchmarks)
    sys.path.insert(0, str(repo))
    importlib.invalidate_caches()
    return importlib.import_module("benchmarks.run")


def _servers_setup(config_path: Path | None, state_dir: Path | None) -> tuple[Any, Path]:
    """The ``servers`` section (environment applied) and the state folder of a server command."""
    from flows.config import load_config

    config = load_config(config_path)
    return config.servers.with_env(), Path(state_dir or config.state_dir)


def _server_errors() -> tuple[type[BaseException], ...]:
    from deploy.servers import ServerError

    return (*_errors(), ServerError)


_SERVER_OPTIONS = [
    click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
                 help="YAML config; its `servers:` section sets hosts, ports and URIs."),
    click.option("--state-dir", type=click.Path(path_type=Path), default=None,
                 help="State folder (default: the config's state_dir, .driftloop)."),
]


def _server_options(f: Any) -> Any:
    for option in reversed(_SERVER_OPTIONS):
        f = option(f)
    return f


@main.command()
@_server_options
@click.option("--timeout", type=float, default=None,
              help="Seconds to wait for each server's health check "
                   "(default: servers.startup_timeout_s, 120).")
def up(config_path: Path | None, state_dir: Path | None, timeout: float | None) -> None:
    """Start a Prefect server, an MLflow tracking server and the Evidently UI.

    They listen on 127.0.0.1 (ports 4200, 5000 and 8000) unless the config's `servers:`
    section or DRIFTLOOP_SERVER_HOST, DRIFTLOOP_PREFECT_PORT, DRIFTLOOP_MLFLOW_PORT,
    DRIFTLOOP_EVIDENTLY_PORT, DRIFTLOOP_MLFLOW_BACKEND_URI, DRIFTLOOP_MLFLOW_ARTIFACTS_URI, ...
    say otherwise. They keep running after this command returns; `driftloop down` stops them.
    """
    try:
        from deploy.servers import client_env
        from deploy.servers import up as start_servers

        servers_config, root = _servers_setup(config_path, state_dir)
        click.echo("starting servers (their logs are in "
                   f"{root.expanduser().resolve() / 'servers'}) ...")
        started = start_servers(servers_config, root, timeout=timeout)
    except _server_errors() as e:
        raise click.ClickException(str(e)) from None
    for s in started:
        click.echo(f"  {s.name:<10} pid {s.pid:<8} {s.url}")
    click.echo("\nPoint driftloop, Prefect and MLflow clients at them with:")
    for key, value in client_env(started).items():
        click.echo(f"  export {key}={value}")
    click.echo(f"\nStop them with: driftloop down --state-dir {root}")


@main.command()
@_server_options
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(config_path: Path | None, state_dir: Path | None, as_json: bool) -> None:
    """Show the servers `driftloop up` started: name, pid, url, running, healthy.

    Exits with 1 when a recorded server is not running or not healthy.
    """
    try:
        from deploy.servers import status as server_status

        _, root = _servers_setup(config_path, state_dir)
        found = server_status(root)
    except _server_errors() as e:
        raise click.ClickException(str(e)) from None
    rows = [{"name": s.server.name, "pid": s.server.pid, "url": s.server.url,
             "running": s.running, "healthy": s.healthy, "log": s.server.log,
             "started_at": s.server.started_at.isoformat()} for s in found]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    elif not rows:
        click.echo(f"no servers started by `driftloop up` under {root}")
    else:
        click.echo(f"{'name':<10} {'pid':<8} {'url':<28} {'running':<8} healthy")
        for r in rows:
            click.echo(f"{r['name']:<10} {r['pid']:<8} {r['url']:<28} "
                       f"{'yes' if r['running'] else 'no':<8} {'yes' if r['healthy'] else 'no'}")
    if not all(s.healthy for s in found):
        raise click.exceptions.Exit(1)


@main.command()
@_server_options
@click.option("--timeout", type=float, default=15.0, show_default=True,
              help="Seconds to wait after SIGTERM before SIGKILL.")
def down(config_path: Path | None, state_dir: Path | None, timeout: float) -> None:
    """Stop exactly the servers `driftloop up` started (by their recorded process ids)."""
    try:
        from deploy.servers import down as stop_servers
        from deploy.servers import read_record

        _, root = _servers_setup(config_path, state_dir)
        recorded = read_record(root)
        stopped = stop_servers(root, timeout=timeout)
    except _server_errors() as e:
        raise click.ClickException(str(e)) from None
    if not recorded:
        click.echo(f"no servers started by `driftloop up` under {root}")
    stopped_pids = {s.pid for s in stopped}
    for s in recorded:
        what = "stopped" if s.pid in stopped_pids else "had already exited"
        click.echo(f"  {s.name:<10} pid {s.pid:<8} {what}")


@main.command()
@click.option("--config", "config_path", required=True, type=click.Path(path_type=Path),
              help="YAML config whose source is a drop folder (source.kind: folder) or the "
                   "prediction log (source.kind: prediction_log).")
@click.option("--interval", type=float, default=3600.0, show_default=True,
              help="Seconds between monitoring runs.")
@click.option("--cron", default=None, help="Cron schedule for monitoring instead of --interval.")
def deploy(config_path: Path, interval: float, cron: str | None) -> None:
    """Serve the production deployments against the Prefect API of PREFECT_API_URL.

    driftloop-monitor checks the drop folder's new files (or the prediction log's new
    labelled rows) on the schedule and emits
    driftloop.drift.detected when a retrain is due; driftloop-retrain is started by each such
    event (a deployment trigger) and retrains, gates, registers and promotes. Runs until
    interrupted; point PREFECT_API_URL and MLFLOW_TRACKING_URI at the servers of `driftloop up`
    first. deploy/prefect.yaml describes the same deployments for `prefect deploy`.
    """
    try:
        from flows.config import load_config
        from flows.production import production_source

        production_source(load_config(config_path))  # fail before serving on a wrong config
        from flows.production import serve_production
    except _errors() as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"serving driftloop-monitor ({f'cron {cron}' if cron else f'every {interval:g} s'}) "
               "and driftloop-retrain (on driftloop.drift.detected); Ctrl-C stops")
    serve_production(str(config_path), interval_s=interval, cron=cron)


# ---------------------------------------------------------------------------------------------
# Serving: the prediction service, the champion history and rollback

_REGISTRY_OPTIONS = [
    click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
                 help="YAML config (state_dir, registry.model_name, serving: section)."),
    click.option("--state-dir", type=click.Path(path_type=Path), default=None,
                 help="State folder (default: the config's state_dir, .driftloop)."),
    click.option("--tracking-uri", default=None,
                 help="MLflow tracking/registry URI (default: $MLFLOW_TRACKING_URI, else the "
                      "state folder's mlflow.db)."),
]


def _registry_options(f: Any) -> Any:
    for option in reversed(_REGISTRY_OPTIONS):
        f = option(f)
    return f


def _registry_setup(config_path: Path | None, state_dir: Path | None,
                    tracking_uri: str | None) -> tuple[Any, str]:
    """The config (state_dir applied, environment prepared) and the tracking URI to use."""
    from flows.config import load_config
    from flows.settings import StatePaths, prepare_environment
    from flows.settings import tracking_uri as default_tracking_uri

    config = load_config(config_path, state_dir=str(state_dir) if state_dir else None)
    prepare_environment(StatePaths.at(config.state_dir))
    return config, tracking_uri or default_tracking_uri(config.state_dir)


def _writer(config: Any, uri: str, model: str) -> Any:
    from flows.settings import StatePaths
    from models.registry import ModelRegistry

    paths = StatePaths.at(config.state_dir).create()
    return ModelRegistry(uri, paths.artifacts,
                         config.registry.model_copy(update={"model_name": model}))


def _serve_errors() -> tuple[type[BaseException], ...]:
    from deploy.prediction_log import PredictionLogError
    from deploy.service import ServeError

    return (*_errors(), ServeError, PredictionLogError)


@main.command()
@_registry_options
@click.option("--model", "model_name", default=None,
              help="Registered model to serve (default: registry.model_name of the config).")
@click.option("--host", default=None, help="Listen address (default serving.host, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default serving.port, 8080).")
@click.option("--token-file", type=click.Path(path_type=Path), default=None,
              help="File holding the API token (default: $DRIFTLOOP_API_TOKEN).")
@click.option("--poll-interval", type=float, default=None,
              help="Seconds between registry polls for a new champion (default 2).")
@click.option("--shadow/--no-shadow", default=None,
              help="Also score every request with the challenger, off the response path.")
@click.option("--runtime", type=click.Choice(["pyfunc", "onnx"]), default=None,
              help="onnx: serve PyTorch versions through onnxruntime.")
@click.option("--log-uri", default=None,
              help="SQLAlchemy URI of the prediction log (default: <state>/predictions.db).")
def serve(config_path: Path | None, state_dir: Path | None, tracking_uri: str | None,
          model_name: str | None, host: str | None, port: int | None, token_file: Path | None,
          poll_interval: float | None, shadow: bool | None, runtime: str | None,
          log_uri: str | None) -> None:
    """Serve the champion of a registered model over HTTP (POST /predict, POST /feedback,
    GET /model, GET /health) and follow the `champion` alias as it moves.

    Every endpoint but /health needs `Authorization: Bearer <token>`; the token comes from
    $DRIFTLOOP_API_TOKEN or --token-file. Every prediction is logged with its request id and
    version; the monitoring flow reads that log (source.kind: prediction_log).
    """
    try:
        config, uri = _registry_setup(config_path, state_dir, tracking_uri)
        updates = {k: v for k, v in {
            "host": host, "port": port, "token_file": str(token_file) if token_file else None,
            "poll_interval_s": poll_interval, "shadow": shadow, "runtime": runtime,
            "prediction_log_uri": log_uri}.items() if v is not None}
        from deploy.service import ServeConfig, load_token
        from deploy.service import serve as run_service

        serving = ServeConfig.model_validate({**config.serving.model_dump(), **updates})
        token = load_token(serving)
        from deploy.prediction_log import PredictionLog
        from flows.settings import StatePaths
        from models.registry import RegistryReader

        name = model_name or config.registry.model_name
        reader = RegistryReader(uri, name)
        log = (PredictionLog(serving.prediction_log_uri) if serving.prediction_log_uri
               else PredictionLog.in_state_dir(StatePaths.at(config.state_dir).create().root))
    except _serve_errors() as e:
        raise click.ClickException(str(e)) from None
    import logging

    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("deploy").setLevel(logging.INFO)
    click.echo(f"serving {name}@champion on http://{serving.host}:{serving.port} "
               f"(registry {reader!r}, prediction log {log!r}); Ctrl-C stops")
    run_service(reader, log, serving, token)


@main.command()
@click.argument("model")
@_registry_options
@click.option("--json", "as_json", is_flag=True, help="Print the history as JSON.")
def history(model: str, config_path: Path | None, state_dir: Path | None,
            tracking_uri: str | None, as_json: bool) -> None:
    """Print who held `champion` of MODEL, from when, why and who moved it (oldest first)."""
    try:
        _, uri = _registry_setup(config_path, state_dir, tracking_uri)
        from models.registry import RegistryReader

        reader = RegistryReader(uri, model)
        entries = reader.champion_history()
        current = reader.champion()
    except _errors() as e:
        raise click.ClickException(str(e)) from None
    if as_json:
        click.echo(json.dumps({"model": model, "champion": None if current is None
                               else current.version, "history": entries}, indent=2))
        return
    if not entries:
        click.echo(f"{model}: no champion history yet")
        return
    click.echo(f"{'at':<26} {'action':<9} {'version':>7} {'from':>5}  {'by':<28} reason")
    for entry in entries:
        prev = entry.get("previous_version")
        click.echo(f"{entry.get('at', ''):<26} {entry.get('action', ''):<9} "
                   f"{entry['version']:>7} {'-' if prev is None else prev:>5}  "
                   f"{entry.get('by', '?'):<28} {entry.get('reason', '')}")
    click.echo(f"\ncurrent champion: {None if current is None else current.version}")


@main.command()
@click.argument("model")
@_registry_options
@click.option("--to", "to_version", type=int, default=None,
              help="Version to return to (default: the champion before the current one).")
@click.option("--reason", default=None, help="Why; recorded in the history.")
def rollback(model: str, config_path: Path | None, state_dir: Path | None,
             tracking_uri: str | None, to_version: int | None, reason: str | None) -> None:
    """Move `champion` of MODEL back (to the previous champion, or --to VERSION).

    A running `driftloop serve` follows within its poll interval.
    """
    try:
        config, uri = _registry_setup(config_path, state_dir, tracking_uri)
        registry = _writer(config, uri, model)
        before = registry.champion()
        target = registry.rollback(to_version, reason)
    except _errors() as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"{model}: champion is now version {target.version} "
               f"(was {None if before is None else before.version})")


@main.command("export-onnx")
@click.argument("model")
@_registry_options
@click.option("--version", "version", default="champion", show_default=True,
              help="Version number or alias to export.")
def export_onnx_command(model: str, config_path: Path | None, state_dir: Path | None,
                        tracking_uri: str | None, version: str) -> None:
    """Export a PyTorch version of MODEL to ONNX and store it with that version.

    `driftloop serve --runtime onnx` then serves it through onnxruntime without exporting.
    """
    import tempfile

    try:
        config, uri = _registry_setup(config_path, state_dir, tracking_uri)
        from deploy.service import ONNX_ARTIFACT
        from models.onnx_export import export_onnx

        registry = _writer(config, uri, model)
        ref = registry.resolve(version)
        torch_model = registry.load_model(ref.version)
        data = export_onnx(torch_model)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(ONNX_ARTIFACT).name
            path.write_bytes(data)
            stored = registry.log_version_artifact(ref.version, path,
                                                   str(Path(ONNX_ARTIFACT).parent))
    except _errors() as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"{model} version {ref.version}: stored {stored} ({len(data):,} bytes)")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
