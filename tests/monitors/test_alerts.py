"""Alerts against real local receivers: a webhook (HTTP on loopback) and an SMTP server.

Dedupe and cooldown run on an injected clock; the store is a real SQLite file; a failing sink
is a closed loopback port. The last test runs the loop (``run_stream``, no Prefect) on a small
drifting stream and checks that its drift and promotion alerts were stored and posted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alert_receivers import SmtpReceiver, WebhookReceiver, closed_port

from flows.config import ConfigError, DriftloopConfig
from flows.pipeline import run_stream
from monitors.alerts import (
    Alert,
    Alerter,
    AlertError,
    AlertsConfig,
    AlertStore,
    Redactor,
    make_sink,
    redact_url,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class Clock:
    """An injectable clock: ``clock.now`` moves only when the test says so."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make_alerter(
    tmp_path: Path,
    sinks: list[Any],
    clock: Callable[[], datetime] | None = None,
    environ: dict[str, str] | None = None,
    **keys: Any,
) -> Alerter:
    config = AlertsConfig.model_validate({"sinks": sinks, "retry_delay_s": 0, **keys})
    return Alerter(
        config, tmp_path / "alerts.sqlite", environ=environ or {}, clock=clock or Clock()
    )


def concept(
    alerter: Alerter,
    *reasons: str,
    severity: Any = "warning",
    kind: str = "concept",
    model: str = "m",
) -> Any:
    return alerter.alert(
        model=model,
        kind=kind,
        severity=severity,
        title=f"{kind} drift on {model}",
        reasons=reasons or ("error rose",),
        window=4,
        row=2500,
        details={"detector": "ADWIN"},
    )


# -- sinks -----------------------------------------------------------------------------------


def test_webhook_posts_the_alert_as_json(tmp_path: Path) -> None:
    with WebhookReceiver() as hook:
        alerter = make_alerter(tmp_path, [{"kind": "webhook", "url": hook.url()}])
        stored = concept(alerter, "ADWIN flagged drift at row 2400", "accuracy 0.91 -> 0.62")

    assert stored.status == "sent" and stored.delivered == ("webhook",)
    (req,) = hook.requests
    assert req.path == "/hook"
    assert req.headers["Content-Type"] == "application/json"
    body = req.json()
    assert body["model"] == "m" and body["kind"] == "concept" and body["severity"] == "warning"
    assert body["reasons"] == ["ADWIN flagged drift at row 2400", "accuracy 0.91 -> 0.62"]
    assert body["window"] == 4 and body["row"] == 2500
    assert body["details"] == {"detector": "ADWIN"}
    assert datetime.fromisoformat(body["created_at"]) == T0


def test_webhook_slack_format_posts_text_and_blocks(tmp_path: Path) -> None:
    with WebhookReceiver() as hook:
        alerter = make_alerter(
            tmp_path, [{"kind": "webhook", "url": hook.url("/services/x"), "format": "slack"}]
        )
        concept(alerter, "ADWIN flagged drift at row 2400", severity="critical")

    body = hook.requests[0].json()
    assert set(body) == {"text", "blocks"}
    assert isinstance(body["text"], str) and "[CRITICAL] concept drift on m" in body["text"]
    blocks = body["blocks"]
    assert all(isinstance(b, dict) and "type" in b for b in blocks)
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "concept drift on m"},
    }
    fields = [f["text"] for f in blocks[1]["fields"]]
    assert "*model:* m" in fields and "*window:* 4" in fields and "*row:* 2500" in fields
    assert blocks[2]["text"] == {"type": "mrkdwn", "text": "• ADWIN flagged drift at row 2400"}
    assert blocks[-1]["type"] == "context"


def test_smtp_delivers_an_email_with_subject_and_reasons_and_never_logs_the_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    password = "pa55-w0rd-xyz"
    caplog.set_level(logging.DEBUG)
    with SmtpReceiver() as smtp:
        alerter = make_alerter(
            tmp_path,
            [
                "log",
                {
                    "kind": "smtp",
                    "host": "127.0.0.1",
                    "port": smtp.port,
                    "from_addr": "driftloop@example.org",
                    "to": ["ops@example.org", "ml@example.org"],
                    "user": "bot",
                    "password_env": "ALERT_SMTP_PASSWORD",
                },
            ],
            environ={"ALERT_SMTP_PASSWORD": password},
        )
        stored = concept(alerter, "ADWIN flagged drift at row 2400", "accuracy 0.91 -> 0.62")

    assert stored.delivered == ("log", "smtp"), stored.errors
    (mail,) = smtp.mails
    assert mail.mail_from == "driftloop@example.org"
    assert mail.rcpt_to == ["ops@example.org", "ml@example.org"]
    assert mail.login == ("bot", password)  # the server got it ...
    msg = mail.message
    assert msg["Subject"] == "[driftloop] [WARNING] concept drift on m"
    assert msg["To"] == "ops@example.org, ml@example.org"
    body = msg.get_content()
    assert "  - ADWIN flagged drift at row 2400" in body and "  - accuracy 0.91 -> 0.62" in body
    assert "model: m   kind: concept   window 4, row 2500" in body
    # ... and nothing else did
    assert password not in caplog.text
    assert password.encode() not in (tmp_path / "alerts.sqlite").read_bytes()
    assert (
        password
        not in AlertsConfig.model_validate(alerter.config.model_dump(mode="json")).model_dump_json()
    )


def test_log_sink_logs_at_the_alerts_severity(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="driftloop.alerts")
    alerter = make_alerter(tmp_path, ["log"])
    for kind, severity in (("a", "info"), ("b", "warning"), ("c", "critical")):
        concept(alerter, kind=kind, severity=severity)
    got = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "driftloop.alerts"]
    assert [lvl for lvl, _ in got] == [logging.INFO, logging.WARNING, logging.ERROR]
    assert got[1][1] == "alert [warning] b drift on m: error rose (model m, kind b) window 4"


# -- dedupe and cooldown ---------------------------------------------------------------------


def test_duplicates_and_alerts_within_the_cooldown_are_suppressed_and_stored(
    tmp_path: Path,
) -> None:
    clock = Clock()
    with WebhookReceiver() as hook:
        alerter = make_alerter(
            tmp_path,
            [{"kind": "webhook", "url": hook.url()}],
            clock=clock,
            cooldown_s=600,
            dedupe_s=3600,
        )
        first = concept(alerter, "b", "a")
        clock.advance(10)
        dup = concept(alerter, "a", "b")  # same reasons in another order
        clock.advance(10)
        cooled = concept(alerter, "c")  # same (model, kind), new reasons
        other_kind = concept(alerter, "c", kind="data")
        other_model = concept(alerter, "c", model="m2")
        escalated = concept(alerter, "d", severity="critical")
        clock.advance(600)  # past the cooldown of the critical one
        after = concept(alerter, "e")
        clock.advance(600)
        dup_late = concept(alerter, "a", "b")  # the cooldown is over, the dedupe window not
        clock.advance(3600)
        dup_after = concept(alerter, "a", "b")
        promotions = [
            alerter.alert(
                model="m",
                kind="promotion",
                severity="info",
                title=f"v{v} promoted",
                reasons=(f"v{v} better",),
            )
            for v in (2, 3)
        ]  # promotions have no cooldown by default

    assert first.status == "sent"
    assert dup.status == "suppressed" and dup.suppressed_why is not None
    assert dup.suppressed_why.startswith(f"duplicate of alert #{first.id} sent 10s before")
    assert cooled.status == "suppressed" and cooled.suppressed_why is not None
    assert cooled.suppressed_why.startswith(f"cooldown: alert #{first.id} for (m, concept)")
    assert "2026-01-01T12:10:00+00:00" in cooled.suppressed_why
    assert other_kind.status == other_model.status == "sent"
    assert escalated.status == "sent"  # more severe than the last one sent: goes through
    assert after.status == "sent"
    assert dup_late.status == "suppressed" and "duplicate" in (dup_late.suppressed_why or "")
    assert dup_after.status == "sent"
    assert [p.status for p in promotions] == ["sent", "sent"]

    sent_reasons = [r.json()["reasons"] for r in hook.requests]
    assert sent_reasons == [
        ["b", "a"],
        ["c"],
        ["c"],
        ["d"],
        ["e"],
        ["a", "b"],
        ["v2 better"],
        ["v3 better"],
    ]
    stored = alerter.store.alerts(model="m", kind="concept")
    assert [s.status for s in stored] == [
        "sent",
        "suppressed",
        "suppressed",
        "sent",
        "sent",
        "suppressed",
        "sent",
    ]
    assert len(alerter.store.alerts(status="suppressed")) == 3


def test_the_cooldown_holds_across_alerters_sharing_a_store(tmp_path: Path) -> None:
    clock = Clock()
    concept(make_alerter(tmp_path, ["log"], clock=clock), "x")
    clock.advance(60)
    again = concept(make_alerter(tmp_path, ["log"], clock=clock), "y")  # a later process
    assert again.status == "suppressed" and "cooldown" in (again.suppressed_why or "")


def test_the_store_keeps_time_severity_reasons_sinks_and_why(tmp_path: Path) -> None:
    clock = Clock()
    alerter = make_alerter(tmp_path, ["log"], clock=clock)
    concept(alerter, "r1", "r2", severity="critical")
    clock.advance(5)
    concept(alerter, "r1", "r2", severity="critical")

    rows = AlertStore(tmp_path / "alerts.sqlite").alerts()  # read back from the file
    assert [r.id for r in rows] == [1, 2]
    sent, dup = rows
    assert sent.alert.created_at == T0 and dup.alert.created_at == T0 + timedelta(seconds=5)
    assert sent.alert.severity == "critical" and sent.alert.reasons == ("r1", "r2")
    assert sent.alert.title == "concept drift on m" and sent.alert.window == 4
    assert sent.alert.row == 2500 and sent.alert.details == {"detector": "ADWIN"}
    assert (sent.status, sent.suppressed, sent.delivered, sent.errors) == (
        "sent",
        False,
        ("log",),
        {},
    )
    assert dup.suppressed and dup.delivered == () and dup.errors == {}
    assert dup.suppressed_why == "duplicate of alert #1 sent 5s before (dedupe_s=86400)"


# -- failures and secrets --------------------------------------------------------------------


def test_a_failing_sink_is_recorded_and_the_others_still_deliver(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{closed_port()}/hook"
    with WebhookReceiver() as hook, SmtpReceiver() as smtp:
        alerter = make_alerter(
            tmp_path,
            [
                {"kind": "webhook", "name": "down", "url": down, "timeout_s": 2},
                {"kind": "webhook", "name": "up", "url": hook.url()},
                {"kind": "smtp", "host": "127.0.0.1", "port": smtp.port, "to": ["ops@x.org"]},
            ],
            retries=2,
        )
        stored = concept(alerter)

    assert stored.status == "sent"
    assert stored.delivered == ("up", "smtp")
    assert list(stored.errors) == ["down"]
    assert stored.errors["down"].startswith("AlertError: webhook http://127.0.0.1:")
    assert "unreachable" in stored.errors["down"]
    assert stored.errors["down"].endswith("(after 3 attempt(s))")
    assert len(hook.requests) == 1 and len(smtp.mails) == 1
    assert alerter.store.alerts()[0].errors == stored.errors


def test_retries_then_failed_status_which_does_not_start_a_cooldown(tmp_path: Path) -> None:
    clock = Clock()
    with WebhookReceiver(status=500) as hook:
        alerter = make_alerter(
            tmp_path, [{"kind": "webhook", "url": hook.url()}], clock=clock, retries=1
        )
        failed = concept(alerter, "x")
        assert len(hook.requests) == 2  # one try and one retry
        hook.status = 200
        clock.advance(1)
        again = concept(alerter, "x")

    assert failed.status == "failed" and failed.delivered == ()
    assert failed.errors["webhook"].startswith(
        f"AlertError: webhook http://127.0.0.1:{hook.port}/*** answered HTTP 500"
    )
    assert again.status == "sent"  # nobody got the first one: no dedupe, no cooldown


def test_secrets_in_urls_and_headers_never_reach_the_logs_or_the_store(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token, header_token = "T0KEN-in-the-path-123", "hdr-s3cret-456"
    env = {
        "HOOK_URL": f"http://127.0.0.1:{closed_port()}/services/{token}?key={token}",
        "HOOK_AUTH": f"Bearer {header_token}",
    }
    with WebhookReceiver(status=403) as hook:
        env2 = {**env, "HOOK2_URL": hook.url(f"/services/{token}")}
        alerter = make_alerter(
            tmp_path,
            [
                {
                    "kind": "webhook",
                    "name": "closed",
                    "url_env": "HOOK_URL",
                    "header_env": {"Authorization": "HOOK_AUTH"},
                },
                {
                    "kind": "webhook",
                    "name": "denied",
                    "url_env": "HOOK2_URL",
                    "header_env": {"Authorization": "HOOK_AUTH"},
                },
            ],
            environ=env2,
            retries=0,
        )
        stored = concept(alerter)

    assert hook.requests[0].headers["Authorization"] == f"Bearer {header_token}"
    assert hook.requests[0].path == f"/services/{token}"
    assert stored.status == "failed" and set(stored.errors) == {"closed", "denied"}
    assert "answered HTTP 403" in stored.errors["denied"]
    everything = caplog.text + (tmp_path / "alerts.sqlite").read_bytes().decode("latin-1")
    everything += repr(stored) + alerter.config.model_dump_json()
    assert token not in everything and header_token not in everything
    assert "http://127.0.0.1:" in stored.errors["closed"]  # where it failed is still shown
    assert (
        redact_url(f"https://u:pw@hooks.example.com/a/{token}") == "https://hooks.example.com/***"
    )
    assert Redactor([token]).redact(f"x {token} y") == "x *** y"


# -- configuration errors --------------------------------------------------------------------


def test_an_unknown_sink_name_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as e:
        DriftloopConfig.model_validate({"alerts": {"sinks": ["log", "pager"]}})
    assert (
        "alerts.sinks: Value error, Unknown alert sink 'pager'; valid sinks: 'log', "
        "'webhook', 'smtp'." in str(e.value)
    )
    with pytest.raises(
        AlertError, match="Unknown alert sink 'slack'; valid sinks: 'log', 'webhook', 'smtp'"
    ):
        make_sink({"kind": "slack"})
    with pytest.raises(ConfigError, match="need distinct names"):
        DriftloopConfig.model_validate(
            {
                "alerts": {
                    "sinks": [
                        {"kind": "webhook", "url": "http://a"},
                        {"kind": "webhook", "url": "http://b"},
                    ]
                }
            }
        )


def test_missing_urls_and_passwords_are_reported_at_start(tmp_path: Path) -> None:
    with pytest.raises(
        AlertError, match="set the environment variable 'DRIFTLOOP_ALERT_WEBHOOK_URL'"
    ):
        make_alerter(tmp_path, ["webhook"])
    with pytest.raises(AlertError, match="environment variable 'SMTP_PW', which is not set"):
        make_alerter(
            tmp_path, [{"kind": "smtp", "to": ["a@b"], "user": "u", "password_env": "SMTP_PW"}]
        )
    with pytest.raises(ConfigError, match="both 'user' and 'password_env'"):
        DriftloopConfig.model_validate(
            {"alerts": {"sinks": [{"kind": "smtp", "to": ["a@b"], "user": "u"}]}}
        )
    with pytest.raises(ConfigError, match="must start with http:// or https://"):
        DriftloopConfig.model_validate(
            {"alerts": {"sinks": [{"kind": "webhook", "url": "ftp://x/y"}]}}
        )


def test_the_alerts_section_round_trips_and_defaults_to_the_log_only(tmp_path: Path) -> None:
    default = DriftloopConfig()
    assert [s.kind for s in default.alerts.sinks] == ["log"]
    assert default.alerts.store_path("/s") == Path("/s/alerts.sqlite")
    config = DriftloopConfig.model_validate(
        {
            "alerts": {
                "sinks": [
                    "log",
                    {"kind": "webhook", "url_env": "X", "format": "slack"},
                    {"kind": "smtp", "to": ["a@b"], "starttls": True},
                ],
                "cooldown_s": 60,
                "cooldown_by_kind": {"data": 7200},
                "store": str(tmp_path / "a.db"),
            }
        }
    )
    again = DriftloopConfig.model_validate(config.model_dump(mode="json"))
    assert again == config and again.alerts.cooldown_for("data") == 7200
    assert again.alerts.cooldown_for("concept") == 60
    assert config.with_updates(state_dir="elsewhere").alerts == config.alerts
    with pytest.raises(ValueError, match="timezone-aware"):
        Alert(model="m", kind="k", title="t", created_at=datetime(2026, 1, 1))


# -- the loop raises alerts ------------------------------------------------------------------


def test_a_drift_run_stores_alerts_and_posts_them_to_a_webhook(tmp_path: Path) -> None:
    drift_row = 3000
    with WebhookReceiver() as hook:
        config = DriftloopConfig.model_validate(
            {
                "state_dir": str(tmp_path / "state"),
                "source": {
                    "kind": "synthetic",
                    "generator": "sea",
                    "n_rows": 5000,
                    "drift_rows": [drift_row],
                    "seed": 3,
                },
                "window": {"size": 500, "warmup_rows": 1500},
                "data_drift": {"snapshots": False},
                "training": {"holdout_rows": 200, "recent_rows": 1000, "min_train_rows": 200},
                "decision": {
                    "min_labelled_rows": 300,
                    "cooldown_rows": 1000,
                    "refresh_rows": None,
                    "baseline_rows": 500,
                    "confirm_within_rows": 1500,
                },
                "registry": {"model_name": "alerted"},
                "alerts": {
                    "sinks": ["log", {"kind": "webhook", "url": hook.url(), "format": "slack"}]
                },
            }
        )
        summary = run_stream(config, tmp_path / "out")

    store = AlertStore(summary["alerts_store"])
    assert Path(summary["alerts_store"]) == (tmp_path / "state" / "alerts.sqlite").resolve()
    stored = store.alerts(model="alerted")
    drift = [s for s in stored if s.alert.kind in ("concept", "performance", "data")]
    assert drift, [s.alert.title for s in stored]
    first = drift[0]
    assert first.status == "sent" and first.delivered == ("log", "webhook")
    assert first.alert.severity == "warning" and first.alert.reasons
    assert first.alert.row is not None and first.alert.row >= drift_row
    assert first.alert.details["window"] == first.alert.window
    drift_retrain = [r for r in summary["retrains"] if r["window"] is not None][0]
    assert first.alert.window == drift_retrain["window"]
    assert list(first.alert.reasons) == drift_retrain["reasons"]

    promotions = [s for s in stored if s.alert.kind == "promotion"]
    promoted = [r["version"] for r in summary["retrains"] if r["promoted"]]
    assert [p.alert.details["version"] for p in promotions] == promoted
    assert all(p.alert.severity == "info" and p.status == "sent" for p in promotions)
    assert promotions[0].alert.title == f"alerted v{promoted[0]} promoted to champion"

    texts = [r.json()["text"] for r in hook.requests]
    sent = [s for s in stored if s.status == "sent"]
    assert len(texts) == len(sent)
    assert any(f"[WARNING] {first.alert.title}" in t for t in texts)
    assert sum("promoted to champion" in t for t in texts) == len(promotions)
