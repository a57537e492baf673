"""The ``driftloop`` command line. Imports stay lazy so ``--help`` answers at once."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click


def _run(config: Any, out: Path, use_prefect: bool, json_out: Path | None) -> dict[str, Any]:
    from flows.settings import StatePaths, prepare_environment

    prepare_environment(StatePaths.at(config.state_dir))
    from flows.summary import render_table, write_json

    if use_prefect:
        from flows.pipeline import pipeline

        summary = pipeline(config, str(out))
    else:
        from flows.pipeline import run_stream

        summary = run_stream(config, out)
    if json_out is not None:
        write_json(summary, json_out)
    click.echo(render_table(summary))
    click.echo(f"\nwrote {out / 'summary.json'}, {out / 'accuracy.png'}"
               + (f", {json_out}" if json_out else ""))
    return summary


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
def demo(out: Path, state_dir: Path | None, config_path: Path | None, seed: int, rows: int,
         json_out: Path | None, no_prefect: bool) -> None:
    """Run a seeded synthetic stream with two known drifts through the whole loop.

    Prints a summary table and writes accuracy.png and summary.json under --out.
    """
    t0 = time.perf_counter()
    try:
        from flows.config import demo_config, load_config

        config = demo_config(load_config(config_path), seed=seed, rows=rows,
                             state_dir=state_dir)
        _run(config, out, not no_prefect, json_out)
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
def run(data: Path, target: str, config_path: Path | None, json_out: Path | None,
        timestamp: str | None, label_delay: int | None, out: Path, state_dir: Path | None,
        no_prefect: bool) -> None:
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
        _run(config, out, not no_prefect, json_out)
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
