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


class EventDeliveryError(RuntimeError):
    """The Prefect API did not confirm a drift event (unreachable after the retries)."""


def emit_drift_event(model: str, reasons: Sequence[str], *, attempts: int = 5,
                     **kwargs: Any) -> Any:
    """Send :data:`DRIFT_EVENT` to the Prefect API of this process (``PREFECT_API_URL``, else
    the ephemeral one) and wait until the API has confirmed it.

    Prefect's own ``emit_event`` queues the event for a background worker and returns; a
    delivery failure is only logged, and an event still queued when the process ends is
    lost. A monitor must not record its rows as checked on the strength of an event nobody
    received, so this sends the event on a connection of its own and returns once the server
    has answered a ping sent after it (how Prefect's client checkpoints delivered events).
    The flow run's related resources are attached, as ``emit_event`` does.

    Returns the event, or ``None`` where Prefect is set up to emit no events.

    Raises
    ------
    EventDeliveryError
        The API could not be reached after ``attempts`` reconnections.
    """
    from prefect.events.clients import get_events_client
    from prefect.events.worker import should_emit_events
    from prefect.utilities.asyncutils import run_coro_as_sync

    if not should_emit_events():
        return None
    payload = drift_event_payload(model, reasons, **kwargs)
    resource = {"prefect.resource.id": f"{RESOURCE_PREFIX}{model}"}

    async def deliver() -> Any:
        from prefect.events import Event

        event = Event(event=DRIFT_EVENT, resource=resource, payload=payload,
                      related=await _run_related(resource["prefect.resource.id"]))
        async with get_events_client(reconnection_attempts=attempts,
                                     checkpoint_every=1) as client:
            await client.emit(event)
        return event

    try:
        return run_coro_as_sync(deliver())
    except Exception as exc:
        from prefect.settings import PREFECT_API_URL

        api = PREFECT_API_URL.value() or "the ephemeral Prefect API"
        raise EventDeliveryError(
            f"The drift event for model {model!r} was not confirmed by the Prefect API at "
            f"{api} after {attempts} reconnection attempts ({type(exc).__name__}: {exc}). "
            "Nothing was recorded as checked: once the server is back, the next monitoring "
            "run checks the same rows again and emits the event.") from exc


async def _run_related(exclude: str) -> list[Any]:
    """The flow run (and its flow and deployment) this code runs in, as related resources."""
    from prefect.client.orchestration import get_client
    from prefect.context import FlowRunContext, TaskRunContext
    from prefect.events.related import related_resources_from_run_context

    if FlowRunContext.get() is None and TaskRunContext.get() is None:
        return []
    try:
        async with get_client() as client:
            return list(await related_resources_from_run_context(client, exclude={exclude}))
    except Exception:  # noqa: BLE001 - decoration only: the event goes without them
        return []


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
