"""The run summary: collected while the pipeline runs, written as JSON, a table and a plot.

The JSON format is documented in the README ("The JSON summary").
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.gate import GateResult
from models.registry import RegisteredVersion
from monitors.decision import Decision
from monitors.monitor import WindowReport


def _clean(x: Any) -> Any:
    """JSON-safe: numpy scalars to Python, NaN/inf to None."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        try:
            x = x.item()
        except (ValueError, AttributeError):
            return str(x)
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


@dataclass
class RunRecorder:
    """Collects windows, drift events and retrains into the JSON summary."""

    task: str
    target: str
    source: dict[str, Any]
    true_drift_rows: tuple[int, ...] = ()
    windows: list[dict[str, Any]] = field(default_factory=list)
    drift_events: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    retrains: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)

    def add_window(self, report: WindowReport, champion_version: int | None) -> None:
        w = report.window
        perf = report.performance
        dd = report.data_drift
        entry: dict[str, Any] = {
            "index": w.index, "start": w.start, "end": w.end,
            "rows": report.validation.n_in, "quarantined": report.validation.n_quarantined,
            "labelled": perf.n, "champion_version": champion_version,
            "data_drift_share": None if dd is None else dd.share_drifted,
            "dataset_drift": None if dd is None else dd.dataset_drift,
            "features": {} if dd is None else {
                c.name: {"score": c.score, "method": c.method, "threshold": c.threshold,
                         "drifted": c.drifted} for c in dd.columns},
            "prediction_drift": None if dd is None or dd.prediction_drift is None else {
                "score": dd.prediction_drift.score, "method": dd.prediction_drift.method,
                "threshold": dd.prediction_drift.threshold,
                "drifted": dd.prediction_drift.drifted},
            "decision": report.decision.status,
        }
        if self.task == "classification":
            entry.update(accuracy=perf.accuracy, f1=perf.f1)
        else:
            entry.update(mae=perf.mae, rmse=perf.rmse)
        self.windows.append(entry)
        for s in report.signals:
            target = self.drift_events if s.kind == "drift" else self.warnings
            target.append({"row": s.row, "kind": "concept" if s.kind == "drift" else "warning",
                           "method": s.detector, "window": w.index,
                           "details": {"mean_loss_before": s.mean_loss_before}})
        for t in report.decision.new_triggers:
            if t.kind != "concept":
                self.drift_events.append({"row": t.row, "kind": t.kind, "method": t.method,
                                          "window": w.index, "details": t.details})
        self.add_decision(report.decision)

    def add_decision(self, decision: Decision) -> None:
        if decision.status != "none":
            self.decisions.append(decision.to_dict())

    def defer(self, window: int | None, reason: str) -> None:
        """A retrain the decision asked for waits: not enough labelled rows to train on yet."""
        for w in reversed(self.windows):
            if w["index"] == window:
                w["decision"] = "deferred"
                break
        for d in reversed(self.decisions):
            if d["window"] == window:
                d["status"] = "deferred"
                d["retrain"] = False
                d["reasons"].append(f"deferred: {reason}")
                break

    def add_retrain(self, *, row: int, window: int | None, version: RegisteredVersion,
                    gate: GateResult, champion_version: int | None, trigger: dict[str, Any],
                    n_train: int, n_replay: int, reasons: list[str]) -> None:
        self.versions.append(version.version)
        self.retrains.append({
            "row": row, "window": window, "version": version.version, "run_id": version.run_id,
            "champion_version": champion_version, "metric": gate.metric,
            "champion_score": gate.champion_score, "challenger_score": gate.challenger_score,
            "promoted": gate.promoted, "gate_reason": gate.reason, "trigger": trigger,
            "n_train": n_train, "n_replay": n_replay, "reasons": reasons,
        })

    def add_checkpoint(self, *, row: int, version: RegisteredVersion, previous: int | None,
                       reason: str) -> None:
        """An online champion's learnt state registered as a new version (and champion)."""
        self.versions.append(version.version)
        self.checkpoints.append({"row": row, "version": version.version,
                                 "previous_version": previous, "run_id": version.run_id,
                                 "reason": reason})

    def to_dict(self, *, rows: int, prequential: float | None, labelled: int,
                quarantined: int, elapsed_s: float, extra: dict[str, Any]) -> dict[str, Any]:
        key = "prequential_accuracy" if self.task == "classification" else "prequential_mae"
        out = {
            "rows": rows, "task": self.task, "target": self.target, "source": self.source,
            "true_drift_rows": list(self.true_drift_rows),
            key: prequential, "labelled_rows": labelled, "quarantined_rows": quarantined,
            "windows": self.windows, "drift_events": self.drift_events,
            "drift_warnings": self.warnings, "decisions": self.decisions,
            "retrains": self.retrains, "checkpoints": self.checkpoints,
            "registered_versions": self.versions,
            "elapsed_s": elapsed_s, **extra,
        }
        if self.task == "classification":
            out.setdefault("prequential_mae", None)
        else:
            out["prequential_accuracy"] = None
        return _clean(out)


def write_json(summary: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2))
    return path


def first_detections(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """For each true drift row, the first drift event at or after it (before the next one)."""
    true = summary.get("true_drift_rows") or []
    events = sorted(summary["drift_events"], key=lambda e: e["row"])
    out = []
    for i, d in enumerate(true):
        nxt = true[i + 1] if i + 1 < len(true) else math.inf
        hit = next((e for e in events if d <= e["row"] < nxt), None)
        if hit is None:
            out.append({"true_row": d, "detected_row": None, "delay": None, "kind": None,
                        "method": None})
        else:
            out.append({"true_row": d, "detected_row": hit["row"], "delay": hit["row"] - d,
                        "kind": hit["kind"], "method": hit["method"]})
    return out


def _mean(values: list[float]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def accuracy_around_drifts(summary: dict[str, Any], n_windows: int = 3) -> list[dict[str, Any]]:
    """Mean window accuracy before each true drift, just after it, and at the end of its
    segment (after recovery)."""
    metric = "accuracy" if summary["task"] == "classification" else "mae"
    wins = summary["windows"]
    true = summary.get("true_drift_rows") or []
    out = []
    for i, d in enumerate(true):
        nxt = true[i + 1] if i + 1 < len(true) else math.inf
        before = [w[metric] for w in wins if w["end"] <= d][-n_windows:]
        after = [w[metric] for w in wins if w["start"] >= d and w["end"] <= nxt][:n_windows]
        recovered = [w[metric] for w in wins if w["start"] >= d and w["end"] <= nxt][-n_windows:]
        out.append({"drift_row": d, "metric": metric, "before": _mean(before),
                    "after": _mean(after), "recovered": _mean(recovered)})
    return out


def _fmt(x: Any, nd: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def render_table(summary: dict[str, Any]) -> str:
    """The human summary printed at the end of a run."""
    lines: list[str] = []
    metric = "accuracy" if summary["task"] == "classification" else "mae"
    lines.append(f"driftloop run: {summary['rows']} rows, {len(summary['windows'])} windows, "
                 f"{summary['labelled_rows']} labelled, {summary['quarantined_rows']} quarantined, "
                 f"{summary['elapsed_s']:.1f} s")
    pre = summary.get("prequential_accuracy") if metric == "accuracy" else summary.get("prequential_mae")
    lines.append(f"prequential {metric}: {_fmt(pre, 4)}")
    lines.append("")
    lines.append("windows")
    lines.append(f"  {'#':>3} {'rows':>13} {metric:>8} {'drift share':>11} {'model':>5}  decision")
    for w in summary["windows"]:
        lines.append(f"  {w['index']:>3} {w['start']:>6}-{w['end']:<6} {_fmt(w.get(metric)):>8} "
                     f"{_fmt(w['data_drift_share'], 2):>11} {_fmt(w['champion_version']):>5}  "
                     f"{w['decision']}")
    if summary.get("true_drift_rows"):
        lines.append("")
        lines.append("drifts: true row -> first detection")
        for d in first_detections(summary):
            if d["detected_row"] is None:
                lines.append(f"  {d['true_row']:>6} -> missed")
            else:
                lines.append(f"  {d['true_row']:>6} -> {d['detected_row']:>6} (+{d['delay']} rows, "
                             f"{d['kind']} / {d['method']})")
        lines.append("")
        lines.append(f"{metric} around each drift (mean of 3 windows)")
        lines.append(f"  {'drift row':>9} {'before':>8} {'after':>8} {'recovered':>9}")
        for a in accuracy_around_drifts(summary):
            lines.append(f"  {a['drift_row']:>9} {_fmt(a['before']):>8} {_fmt(a['after']):>8} "
                         f"{_fmt(a['recovered']):>9}")
    lines.append("")
    lines.append(f"drift events: {len(summary['drift_events'])}")
    for e in summary["drift_events"]:
        lines.append(f"  row {e['row']:>6}  {e['kind']:<11} {e['method']}")
    lines.append("")
    lines.append(f"retrains: {len(summary['retrains'])}")
    for r in summary["retrains"]:
        lines.append(f"  row {r['row']:>6}  v{r['version']:<3} champion {_fmt(r['champion_score'])} "
                     f"challenger {_fmt(r['challenger_score'])}  "
                     f"{'PROMOTED' if r['promoted'] else 'kept champion'}")
    lines.append(f"registered versions: {summary['registered_versions']}; "
                 f"champion: v{summary.get('champion_version')}")
    return "\n".join(lines)


def plot_accuracy(summary: dict[str, Any], path: Path) -> Path:
    """Accuracy (or MAE) per window over rows, with true drifts, detections and promotions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = "accuracy" if summary["task"] == "classification" else "mae"
    wins = [w for w in summary["windows"] if w.get(metric) is not None]
    fig, ax = plt.subplots(figsize=(11, 4.5))
    ax.plot([w["end"] for w in wins], [w[metric] for w in wins], marker="o", ms=3, lw=1.5,
            label=f"window {metric}")
    for i, d in enumerate(summary.get("true_drift_rows") or []):
        ax.axvline(d, color="grey", ls="--", lw=1.2, label="true drift" if i == 0 else None)
    concept = [e["row"] for e in summary["drift_events"] if e["kind"] == "concept"]
    other = [e["row"] for e in summary["drift_events"] if e["kind"] != "concept"]
    lo, hi = ax.get_ylim()
    if concept:
        ax.scatter(concept, [lo + 0.03 * (hi - lo)] * len(concept), marker="^", color="red",
                   zorder=5, label="concept drift detected")
    if other:
        ax.scatter(other, [lo + 0.08 * (hi - lo)] * len(other), marker="v", color="orange",
                   zorder=5, label="performance/data drift")
    first = True
    for r in summary["retrains"]:
        if r["promoted"] and r.get("window") is not None:
            ax.axvline(r["row"], color="green", lw=1.5, alpha=0.7,
                       label="promotion" if first else None)
            ax.annotate(f"v{r['version']}", (r["row"], hi), textcoords="offset points",
                        xytext=(2, -12), fontsize=8, color="green")
            first = False
    ax.set_xlabel("row")
    ax.set_ylabel(metric)
    ax.set_title(f"driftloop: {metric} per window over the stream")
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
