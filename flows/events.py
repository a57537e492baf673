"""Event-driven retraining: the Prefect event monitoring emits, and the trigger that answers it.

When monitoring decides to retrain it emits the custom event :data:`DRIFT_EVENT`
(``driftloop.drift.detected``) on the resource ``driftloop.model.<name>``, with the model, the
window, the row and the reasons in its payload. A deployment of the retraining flow
(:func:`flows.production.retrain_on_event`) served with :func:`retrain_trigger` is started by
Prefect's server for every such event, with the payload as its parameters. In the embedded
mode the pipeline keeps calling its retrain step directly.

>>> payload = drift_event_payload("churn", ["concept drift (ADWIN)"], window=12, row=12_031)
>>> payload["model"], payload["reasons"], payload["window"]
('churn', 'concept drift (ADWIN)', 12)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

DRIFT_EVENT = "driftloop.drift.detected"
RESOURCE_PREFIX = "driftloop.model."


def drift_event_payload(model: str, reasons: Sequence[str], *, window: int | None = None,
                        row: int | None = None, kind: str | None = None,
                        extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The payload of a drift event; ``reasons`` are joined with ``"; "`` so that they travel
    as one deployment parameter."""
    if not model:
        raise ValueError("A drift event needs the model name (registry.model_name).")
    payload: dict[str, Any] = {"model": model, "reasons": "; ".join(str(r) for r in reasons),
                               "window": window, "row": row, "kind": kind}
    if extra:
        payload.update(extra)
    return payload


def emit_drift_event(model: str, reasons: Sequence[str], **kwargs: Any) -> Any:
    """Emit :data:`DRIFT_EVENT` to the Prefect API of this process (``PREFECT_API_URL``).

    Returns the emitted event, or ``None`` where Prefect has no events client (no API to send
    to); never raises for a delivery problem, which Prefect logs itself.
    """
    from prefect.events import emit_event

    return emit_event(event=DRIFT_EVENT,
                      resource={"prefect.resource.id": f"{RESOURCE_PREFIX}{model}"},
                      payload=drift_event_payload(model, reasons, **kwargs))


def retrain_trigger(model: str | None = None, *, config_path: str | None = None) -> Any:
    """A deployment trigger that runs the retraining deployment for every drift event (of
    ``model`` only, when given), with the event's model, reasons, window and row."""
    from prefect.events import DeploymentEventTrigger

    match = {"prefect.resource.id": f"{RESOURCE_PREFIX}{model}"} if model else {}
    parameters: dict[str, Any] = {
        "model": "{{ event.payload.model }}",
        "reasons": "{{ event.payload.reasons }}",
        "window": "{{ event.payload.window }}",
        "row": "{{ event.payload.row }}",
    }
    if config_path is not None:
        parameters["config_path"] = config_path
    return DeploymentEventTrigger(expect={DRIFT_EVENT}, match=match, parameters=parameters)
