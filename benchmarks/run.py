"""The benchmark driver: runs the parts and writes one combined table.

``make bench`` runs every part; ``make bench BENCH_ARGS="--part detection --quick"`` or
``driftloop bench --part speed`` runs one. Results go to ``benchmarks/results/``: per part a
markdown table, a JSON file and a PNG plot, and ``RESULTS.md`` combining the tables with the
date and the command that made them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import platform
import sys
import time
from pathlib import Path

PARTS = ("detection", "continual", "speed", "throughput")
REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results"
DEFAULT_DATA = REPO.parent / "shared" / "data"


def run_parts(parts: list[str], *, quick: bool, out_dir: Path, data_dir: Path | None,
              command: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    if data_dir is not None and not data_dir.is_dir():
        print(f"data folder {data_dir} not found: cases that need it are skipped")
    sections: list[str] = []
    for part in parts:
        t0 = time.perf_counter()
        print(f"== {part} ==", flush=True)
        module = importlib.import_module(f"benchmarks.{part}")
        result = module.run(quick=quick, data_dir=data_dir, out_dir=out_dir)
        took = time.perf_counter() - t0
        print(result.get("markdown", ""), flush=True)
        sections.append(f"## {part}\n\n{result.get('markdown', '')}\n\n_{part} took {took:.0f} s._\n")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = (f"# driftloop benchmarks\n\nRun on {stamp} with `{command}` on {platform.node() or 'this machine'} "
              f"({platform.machine()}, Python {platform.python_version()})"
              f"{' in quick mode (not representative)' if quick else ''}.\n\n")
    name = "RESULTS-quick.md" if quick else "RESULTS.md"
    path = out_dir / name
    if set(parts) != set(PARTS) and path.exists() and not quick:
        # a partial run updates its own sections and keeps the others
        name = f"RESULTS-{'-'.join(parts)}.md"
        path = out_dir / name
    path.write_text(header + "\n".join(sections))
    print(f"wrote {path}")
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", action="append", choices=PARTS,
                   help="run only this part (repeatable); default: all")
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run, not a measurement")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results folder")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    args = p.parse_args(argv)
    parts = args.part or list(PARTS)
    command = "python -m benchmarks.run " + " ".join(sys.argv[1:] if argv is None else argv)
    run_parts(parts, quick=args.quick, out_dir=args.out, data_dir=args.data_dir,
              command=command.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
