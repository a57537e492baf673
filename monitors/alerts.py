"""Alerts: tell people when drift forces a retrain or a new champion is promoted.

An :class:`Alert` says what happened (model, kind, severity, title, reasons). An
:class:`Alerter` decides whether to send it, sends it to every configured sink and stores it:

- **sinks** register by name in :data:`SINKS`: ``log`` (Python logging), ``webhook`` (a JSON
  POST; ``format: slack`` posts a Slack-compatible ``{"text", "blocks"}`` payload) and
  ``smtp`` (email through :mod:`smtplib`). Each is built from a frozen config picked by its
  ``kind``; a sink that fails is retried, then recorded as an error; the others still send.
- **deduplication**: an alert with the same model, kind and reasons as one sent less than
  ``dedupe_s`` seconds before is suppressed;
- **cooldown**: after an alert is sent for a (model, kind), others of that pair are
  suppressed for ``cooldown_s`` seconds (``cooldown_by_kind`` overrides it per kind; an alert
  more severe than the last one sent goes through);
- **store**: every alert, sent or suppressed, is a row of an SQLite file (default
  ``<state_dir>/alerts.sqlite``) with its time, severity, reasons, the sinks that got it, why
  it was suppressed and the sinks' errors. The state lives there, so cooldowns hold across
  processes (scheduled monitoring runs).

Secrets stay out of logs and the store: webhook URLs and header values are read from
environment variables when configured so, SMTP passwords only ever from one, and every error
text is passed through :class:`Redactor` before it is logged or stored.

>>> cfg = AlertsConfig.model_validate({"sinks": ["log", {"kind": "webhook", "url": "http://127.0.0.1:9/hook"}]})
>>> [s.label for s in cfg.sinks]
['log', 'webhook']
>>> try:
...     AlertsConfig.model_validate({"sinks": ["pager"]})
... except ValueError as e:
...     print(e.errors()[0]["msg"])
Value error, Unknown alert sink 'pager'; valid sinks: 'log', 'webhook', 'smtp'. Register new ones with monitors.alerts.register_sink().
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import smtplib
import sqlite3
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, field_validator, model_validator

from monitors.errors import MonitorError

Severity = Literal["info", "warning", "critical"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}

logger = logging.getLogger("driftloop.alerts")


class AlertError(MonitorError):
    """An alert sink is misconfigured (missing URL, unset environment variable) or failed."""


def utcnow() -> datetime:
    return datetime.now(UTC)


# -- the alert -------------------------------------------------------------------------------


class Alert(BaseModel):
    """One thing worth telling a person about.

    ``kind`` is what happened: ``"concept"``, ``"data"``, ``"performance"`` (drift that leads
    to a retrain), ``"retrain"``, ``"promotion"``, or any other short word.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str = Field(min_length=1)
    kind: str = Field(min_length=1)
    severity: Severity = "warning"
    title: str = Field(min_length=1)
    reasons: tuple[str, ...] = ()
    window: int | None = None
    row: int | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)

    @field_validator("created_at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError(
                "created_at must be timezone-aware (UTC); got a naive datetime. "
                "Use datetime.now(UTC)."
            )
        return v.astimezone(UTC)

    @property
    def dedupe_key(self) -> str:
        """Model, kind and reasons (order ignored): equal keys mean the same alert."""
        raw = json.dumps([self.model, self.kind, sorted(self.reasons)])
        return hashlib.sha256(raw.encode()).hexdigest()[:32]

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def text(self) -> str:
        """A plain-text rendering (email body, log line)."""
        where = ", ".join(
            f"{k} {v}" for k, v in (("window", self.window), ("row", self.row)) if v is not None
        )
        lines = [
            f"[{self.severity.upper()}] {self.title}",
            f"model: {self.model}   kind: {self.kind}" + (f"   {where}" if where else ""),
            f"time: {self.created_at.isoformat()}",
        ]
        if self.reasons:
            lines += ["reasons:", *(f"  - {r}" for r in self.reasons)]
        if self.details:
            lines += ["details:", json.dumps(self.details, indent=2, sort_keys=True, default=str)]
        return "\n".join(lines)


# -- secrets ---------------------------------------------------------------------------------


class Redactor:
    """Replaces every known secret (and its URL-quoted form) in a text with ``***``.

    >>> Redactor(["s3cr3t"]).redact("GET /hook?token=s3cr3t failed")
    'GET /hook?token=*** failed'
    """

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: set[str] = set()
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        for s in secrets:
            if s and len(s) >= 4:  # shorter strings would redact ordinary words
                self._secrets.update({s, urllib.parse.quote(s, safe="")})

    def redact(self, text: str) -> str:
        for s in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(s, "***")
        return text


def redact_url(url: str) -> str:
    """Scheme, host and port only: paths and queries of webhook URLs often hold tokens.

    >>> redact_url("https://user:pw@hooks.slack.com/services/T0/B0/XyZ?x=1")
    'https://hooks.slack.com/***'
    """
    p = urllib.parse.urlsplit(url)
    host = p.hostname or ""
    port = f":{p.port}" if p.port else ""
    return f"{p.scheme}://{host}{port}/***"


def _url_secrets(url: str) -> list[str]:
    """The URL, its password, query and path (a short path such as ``/hook`` is no secret)."""
    p = urllib.parse.urlsplit(url)
    path = p.path.strip("/")
    return [s for s in (p.password, path if len(path) >= 8 else None, p.query, url) if s]


# -- sinks -----------------------------------------------------------------------------------


@runtime_checkable
class AlertSink(Protocol):
    """Delivers an alert somewhere; raises on failure (the :class:`Alerter` retries)."""

    name: str

    def send(self, alert: Alert) -> None: ...


class SinkConfig(BaseModel):
    """Common keys of every sink config; ``name`` (default: the kind) labels it in the store."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    name: str | None = None

    @property
    def label(self) -> str:
        return self.name or self.kind


class LogSinkConfig(SinkConfig):
    """Alerts as log records (info -> INFO, warning -> WARNING, critical -> ERROR)."""

    kind: Literal["log"] = "log"
    logger: str = "driftloop.alerts"


class WebhookSinkConfig(SinkConfig):
    """A JSON POST to a URL.

    The URL comes from the environment variable ``url_env`` when it is set there, else from
    ``url``; put tokenised URLs (Slack, Teams) in the environment, not in the config file.
    ``headers`` are sent as given; ``header_env`` maps a header name to the environment
    variable holding its value (``Authorization: DRIFTLOOP_WEBHOOK_TOKEN``).
    ``format: slack`` posts ``{"text": ..., "blocks": [...]}``; ``json`` posts the alert.
    """

    kind: Literal["webhook"] = "webhook"
    url: str | None = None
    url_env: str | None = "DRIFTLOOP_ALERT_WEBHOOK_URL"
    format: Literal["json", "slack"] = "json"
    headers: dict[str, str] = Field(default_factory=dict)
    header_env: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = Field(5.0, gt=0)

    @field_validator("url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is not None and urllib.parse.urlsplit(v).scheme not in ("http", "https"):
            raise ValueError(
                f"webhook url must start with http:// or https://; got {redact_url(v)!r}."
            )
        return v


class SmtpSinkConfig(SinkConfig):
    """Email through an SMTP server. The password is read from the environment variable
    ``password_env`` when the message is sent; it is never part of the config."""

    kind: Literal["smtp"] = "smtp"
    host: str = "localhost"
    port: int = Field(25, gt=0, lt=65536)
    from_addr: str = "driftloop@localhost"
    to: tuple[str, ...] = Field(min_length=1)
    starttls: bool = False
    user: str | None = None
    password_env: str | None = None
    subject_prefix: str = "[driftloop]"
    timeout_s: float = Field(10.0, gt=0)

    @model_validator(mode="after")
    def _login_pair(self) -> SmtpSinkConfig:
        if (self.user is None) != (self.password_env is None):
            raise ValueError(
                "smtp needs both 'user' and 'password_env' (the name of the "
                "environment variable holding the password) to log in, or neither."
            )
        return self


class LogSink:
    def __init__(self, config: LogSinkConfig) -> None:
        self.name = config.label
        self._logger = logging.getLogger(config.logger)

    def send(self, alert: Alert) -> None:
        level = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.ERROR}[
            alert.severity
        ]
        reasons = "; ".join(alert.reasons)
        self._logger.log(
            level,
            "alert [%s] %s: %s (model %s, kind %s)%s",
            alert.severity,
            alert.title,
            reasons or "no reasons given",
            alert.model,
            alert.kind,
            "" if alert.window is None else f" window {alert.window}",
        )


def slack_payload(alert: Alert) -> dict[str, Any]:
    """A Slack incoming-webhook message: ``text`` (the notification) plus Block Kit blocks."""
    emoji = {
        "info": ":information_source:",
        "warning": ":warning:",
        "critical": ":rotating_light:",
    }[alert.severity]
    fields = [f"*model:* {alert.model}", f"*kind:* {alert.kind}", f"*severity:* {alert.severity}"]
    fields += [
        f"*{k}:* {v}" for k, v in (("window", alert.window), ("row", alert.row)) if v is not None
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": alert.title[:150]}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
    ]
    if alert.reasons:
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "\n".join(f"• {r}" for r in alert.reasons)[:3000],
                },
            }
        )
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"driftloop · {alert.created_at.isoformat()}"}],
        }
    )
    return {"text": f"{emoji} [{alert.severity.upper()}] {alert.title}", "blocks": blocks}


class WebhookSink:
    def __init__(
        self,
        config: WebhookSinkConfig,
        redactor: Redactor,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        url = env.get(config.url_env) if config.url_env else None
        url = url or config.url
        if not url:
            raise AlertError(
                f"The webhook sink {config.label!r} has no URL: set the environment variable "
                f"{config.url_env!r} or 'url' under alerts.sinks."
                if config.url_env
                else f"The webhook sink {config.label!r} has no URL: set 'url' or 'url_env'."
            )
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise AlertError(
                f"The webhook sink {config.label!r} URL must start with http:// "
                f"or https://; got {redact_url(url)!r}."
            )
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "driftloop-alerts",
            **config.headers,
        }
        for header, var in config.header_env.items():
            if var not in env:
                raise AlertError(
                    f"The webhook sink {config.label!r} reads header {header!r} "
                    f"from the environment variable {var!r}, which is not set."
                )
            headers[header] = env[var]
            redactor.add(env[var], *env[var].split())  # "Bearer <token>": the token too
        for value in config.headers.values():
            redactor.add(value, *value.split())
        redactor.add(*_url_secrets(url))
        self.name = config.label
        self.url = url
        self.target = redact_url(url)
        self._headers = headers
        self._format = config.format
        self._timeout = config.timeout_s

    def payload(self, alert: Alert) -> dict[str, Any]:
        return slack_payload(alert) if self._format == "slack" else alert.to_dict()

    def send(self, alert: Alert) -> None:
        body = json.dumps(self.payload(alert), default=str).encode()
        req = urllib.request.Request(self.url, data=body, headers=self._headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self._timeout) as resp:
                resp.read()
        except urllib.error.HTTPError as e:
            raise AlertError(f"webhook {self.target} answered HTTP {e.code} {e.reason}") from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise AlertError(f"webhook {self.target} unreachable: {reason}") from None


class SmtpSink:
    def __init__(
        self, config: SmtpSinkConfig, redactor: Redactor, environ: Mapping[str, str] | None = None
    ) -> None:
        env = os.environ if environ is None else environ
        self._password: str | None = None
        if config.password_env is not None:
            if config.password_env not in env:
                raise AlertError(
                    f"The smtp sink {config.label!r} reads its password from the "
                    f"environment variable {config.password_env!r}, which is not "
                    "set."
                )
            self._password = env[config.password_env]
            redactor.add(self._password)
        self.name = config.label
        self._config = config

    def message(self, alert: Alert) -> EmailMessage:
        c = self._config
        msg = EmailMessage()
        msg["Subject"] = f"{c.subject_prefix} [{alert.severity.upper()}] {alert.title}".strip()
        msg["From"] = c.from_addr
        msg["To"] = ", ".join(c.to)
        msg.set_content(alert.text() + "\n")
        return msg

    def send(self, alert: Alert) -> None:
        c = self._config
        try:
            with smtplib.SMTP(c.host, c.port, timeout=c.timeout_s) as smtp:
                if c.starttls:
                    smtp.starttls()
                if c.user is not None and self._password is not None:
                    smtp.login(c.user, self._password)
                smtp.send_message(self.message(alert), from_addr=c.from_addr, to_addrs=list(c.to))
        except (smtplib.SMTPException, OSError) as e:
            raise AlertError(f"smtp {c.host}:{c.port} failed: {e}") from None


SinkFactory = Callable[[Any, Redactor, Mapping[str, str] | None], AlertSink]


@dataclass(frozen=True)
class _RegisteredSink:
    config: type[SinkConfig]
    factory: SinkFactory


#: Sink plug-ins by name: the config class and a factory ``(config, redactor, environ) ->
#: sink``; a factory adds the secrets it reads to the redactor.
SINKS: dict[str, _RegisteredSink] = {
    "log": _RegisteredSink(LogSinkConfig, lambda c, r, env: LogSink(c)),
    "webhook": _RegisteredSink(WebhookSinkConfig, WebhookSink),
    "smtp": _RegisteredSink(SmtpSinkConfig, SmtpSink),
}


def register_sink(kind: str, config: type[SinkConfig], factory: SinkFactory) -> None:
    """Register a sink plug-in under ``kind`` (its config should have ``kind: Literal[kind]``)."""
    if kind in SINKS:
        raise ValueError(f"An alert sink named {kind!r} is already registered; pick another name.")
    SINKS[kind] = _RegisteredSink(config, factory)


def _valid_sinks() -> str:
    return ", ".join(repr(k) for k in SINKS)


def sink_config(item: SinkConfig | Mapping[str, Any] | str) -> SinkConfig:
    """A sink config from a kind name (``"log"``), a mapping with ``kind``, or a config."""
    if isinstance(item, SinkConfig):
        return item
    if isinstance(item, str):
        kind, data = item, {"kind": item}
    elif isinstance(item, Mapping):
        if "kind" not in item:
            raise ValueError(
                f"An alert sink mapping needs a 'kind': one of {_valid_sinks()}. "
                f"Got keys {sorted(item)}."
            )
        kind, data = item["kind"], dict(item)
    else:
        raise ValueError(
            f"An alert sink is a name or a mapping with 'kind'; got {type(item).__name__}."
        )
    if kind not in SINKS:
        raise ValueError(
            f"Unknown alert sink {kind!r}; valid sinks: {_valid_sinks()}. "
            "Register new ones with monitors.alerts.register_sink()."
        )
    return SINKS[kind].config.model_validate(data)


def make_sink(
    config: SinkConfig | Mapping[str, Any] | str,
    redactor: Redactor | None = None,
    environ: Mapping[str, str] | None = None,
) -> AlertSink:
    """Build a sink; raises :class:`AlertError` for an unknown kind or a missing secret.

    >>> make_sink("pager")
    Traceback (most recent call last):
    ...
    monitors.alerts.AlertError: Unknown alert sink 'pager'; valid sinks: 'log', 'webhook', 'smtp'. Register new ones with monitors.alerts.register_sink().
    """
    try:
        cfg = sink_config(config)
    except ValueError as e:
        raise AlertError(str(e)) from None
    return SINKS[cfg.kind].factory(cfg, redactor or Redactor(), environ)


# -- configuration ---------------------------------------------------------------------------


class AlertsConfig(BaseModel):
    """The ``alerts`` section: which sinks, dedupe and cooldown windows, where alerts are kept.

    ``sinks`` lists sink names or mappings with a ``kind`` (``log``, ``webhook``, ``smtp``);
    the default only logs, so nothing leaves the machine unless configured.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    sinks: tuple[SerializeAsAny[SinkConfig], ...] = (LogSinkConfig(),)
    cooldown_s: float = Field(3600.0, ge=0)
    cooldown_by_kind: dict[str, float] = Field(default_factory=lambda: {"promotion": 0.0})
    dedupe_s: float = Field(86400.0, ge=0)
    escalation_bypasses_cooldown: bool = True
    retries: int = Field(1, ge=0, le=10)
    retry_delay_s: float = Field(0.5, ge=0)
    store: str | None = None

    @field_validator("sinks", mode="before")
    @classmethod
    def _build_sinks(cls, v: Any) -> tuple[SinkConfig, ...]:
        if isinstance(v, str | Mapping | SinkConfig):
            v = [v]
        configs = tuple(sink_config(item) for item in v)
        labels = [c.label for c in configs]
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise ValueError(
                f"Alert sinks need distinct names; {dup} appear more than once. Give each a 'name'."
            )
        return configs

    @field_validator("cooldown_by_kind")
    @classmethod
    def _non_negative(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {k: s for k, s in v.items() if s < 0}
        if bad:
            raise ValueError(f"cooldown_by_kind values are seconds >= 0; got {bad}.")
        return v

    def cooldown_for(self, kind: str) -> float:
        return self.cooldown_by_kind.get(kind, self.cooldown_s)

    def store_path(self, state_dir: str | Path) -> Path:
        """``store`` if set, else ``<state_dir>/alerts.sqlite``."""
        return Path(self.store).expanduser() if self.store else Path(state_dir) / "alerts.sqlite"


# -- the store -------------------------------------------------------------------------------

Status = Literal["sent", "failed", "suppressed"]


@dataclass(frozen=True)
class StoredAlert:
    """One row of the alert store: the alert and what became of it."""

    id: int
    alert: Alert
    status: Status
    suppressed_why: str | None
    delivered: tuple[str, ...]
    errors: dict[str, str]

    @property
    def suppressed(self) -> bool:
        return self.status == "suppressed"


_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    model TEXT NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    title TEXT NOT NULL,
    window INTEGER,
    row INTEGER,
    reasons TEXT NOT NULL,
    details TEXT NOT NULL,
    dedupe_key TEXT NOT NULL,
    status TEXT NOT NULL,
    suppressed INTEGER NOT NULL,
    suppressed_why TEXT,
    delivered TEXT NOT NULL,
    errors TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_model_kind ON alerts (model, kind, status, created_at);
CREATE INDEX IF NOT EXISTS alerts_dedupe ON alerts (dedupe_key, status, created_at);
"""


class AlertStore:
    """Every alert as a row of an SQLite file; one connection per call, so several processes
    (scheduled runs) can share the file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as con, con:
            con.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=30)
        con.row_factory = sqlite3.Row
        return con

    def add(
        self,
        alert: Alert,
        *,
        status: Status,
        suppressed_why: str | None = None,
        delivered: Sequence[str] = (),
        errors: Mapping[str, str] | None = None,
    ) -> StoredAlert:
        errs = dict(errors or {})
        with closing(self._connect()) as con, con:
            cur = con.execute(
                "INSERT INTO alerts (created_at, model, kind, severity, title, window, row, "
                "reasons, details, dedupe_key, status, suppressed, suppressed_why, delivered, "
                "errors) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    alert.created_at.isoformat(),
                    alert.model,
                    alert.kind,
                    alert.severity,
                    alert.title,
                    alert.window,
                    alert.row,
                    json.dumps(list(alert.reasons)),
                    json.dumps(alert.details, default=str),
                    alert.dedupe_key,
                    status,
                    int(status == "suppressed"),
                    suppressed_why,
                    json.dumps(list(delivered)),
                    json.dumps(errs),
                ),
            )
            new_id = int(cur.lastrowid or 0)
        return StoredAlert(new_id, alert, status, suppressed_why, tuple(delivered), errs)

    @staticmethod
    def _row(r: sqlite3.Row) -> StoredAlert:
        alert = Alert(
            model=r["model"],
            kind=r["kind"],
            severity=r["severity"],
            title=r["title"],
            reasons=tuple(json.loads(r["reasons"])),
            window=r["window"],
            row=r["row"],
            details=json.loads(r["details"]),
            created_at=datetime.fromisoformat(r["created_at"]),
        )
        return StoredAlert(
            int(r["id"]),
            alert,
            r["status"],
            r["suppressed_why"],
            tuple(json.loads(r["delivered"])),
            json.loads(r["errors"]),
        )

    def _one(self, where: str, args: tuple[Any, ...]) -> StoredAlert | None:
        with closing(self._connect()) as con:
            r = con.execute(
                f"SELECT * FROM alerts WHERE {where} AND status = 'sent' "
                "ORDER BY created_at DESC, id DESC LIMIT 1",
                args,
            ).fetchone()
        return None if r is None else self._row(r)

    def last_sent(self, model: str, kind: str) -> StoredAlert | None:
        """The latest alert of (model, kind) that reached at least one sink."""
        return self._one("model = ? AND kind = ?", (model, kind))

    def last_sent_like(self, alert: Alert) -> StoredAlert | None:
        """The latest sent alert with the same model, kind and reasons."""
        return self._one("dedupe_key = ?", (alert.dedupe_key,))

    def alerts(
        self, *, model: str | None = None, kind: str | None = None, status: Status | None = None
    ) -> list[StoredAlert]:
        """Stored alerts, oldest first, optionally filtered."""
        where, args = [], []
        for col, val in (("model", model), ("kind", kind), ("status", status)):
            if val is not None:
                where.append(f"{col} = ?")
                args.append(val)
        sql = "SELECT * FROM alerts" + (" WHERE " + " AND ".join(where) if where else "")
        with closing(self._connect()) as con:
            rows = con.execute(sql + " ORDER BY id", args).fetchall()
        return [self._row(r) for r in rows]


# -- the alerter -----------------------------------------------------------------------------


class Alerter:
    """Decides (dedupe, cooldown), sends to every sink with retries, stores every alert.

    Sending never raises: a sink's failure is retried ``retries`` times and then recorded in
    the stored row's ``errors``; the other sinks still get the alert.
    """

    def __init__(
        self,
        config: AlertsConfig,
        store: AlertStore | str | Path,
        *,
        sinks: Sequence[AlertSink] | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.store = store if isinstance(store, AlertStore) else AlertStore(store)
        self.redactor = Redactor()
        if sinks is None:
            sinks = (
                [make_sink(c, self.redactor, environ) for c in config.sinks]
                if config.enabled
                else []
            )
        self.sinks: tuple[AlertSink, ...] = tuple(sinks)
        self.clock = clock
        self._sleep = sleep

    @classmethod
    def from_config(cls, config: AlertsConfig, state_dir: str | Path, **kw: Any) -> Alerter:
        return cls(config, config.store_path(state_dir), **kw)

    def alert(
        self,
        *,
        model: str,
        kind: str,
        title: str,
        severity: Severity = "warning",
        reasons: Iterable[str] = (),
        window: int | None = None,
        row: int | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> StoredAlert:
        """Build an alert stamped with this alerter's clock and :meth:`emit` it."""
        return self.emit(
            Alert(
                model=model,
                kind=kind,
                title=title,
                severity=severity,
                reasons=tuple(reasons),
                window=window,
                row=row,
                details=dict(details or {}),
                created_at=self.clock(),
            )
        )

    def suppression(self, alert: Alert) -> str | None:
        """Why ``alert`` should not be sent now (duplicate or cooldown), or None."""
        same = self.store.last_sent_like(alert)
        if same is not None:
            age = (alert.created_at - same.alert.created_at).total_seconds()
            if 0 <= age < self.config.dedupe_s:
                return (
                    f"duplicate of alert #{same.id} sent {age:.0f}s before "
                    f"(dedupe_s={self.config.dedupe_s:g})"
                )
        cooldown = self.config.cooldown_for(alert.kind)
        last = self.store.last_sent(alert.model, alert.kind)
        if last is not None and cooldown > 0:
            age = (alert.created_at - last.alert.created_at).total_seconds()
            escalates = SEVERITY_RANK[alert.severity] > SEVERITY_RANK[last.alert.severity]
            if 0 <= age < cooldown and not (escalates and self.config.escalation_bypasses_cooldown):
                until = last.alert.created_at + timedelta(seconds=cooldown)
                return (
                    f"cooldown: alert #{last.id} for ({alert.model}, {alert.kind}) was sent "
                    f"{age:.0f}s before; next one after {until.isoformat()} "
                    f"(cooldown_s={cooldown:g})"
                )
        return None

    def _deliver(self, sink: AlertSink, alert: Alert) -> str | None:
        """None when delivered, else the (redacted) error of the last attempt."""
        error = ""
        for attempt in range(self.config.retries + 1):
            if attempt:
                self._sleep(self.config.retry_delay_s * attempt)
            try:
                sink.send(alert)
                return None
            except Exception as e:  # any sink failure is recorded, never raised
                error = self.redactor.redact(f"{type(e).__name__}: {e}")
        return f"{error} (after {self.config.retries + 1} attempt(s))"

    def emit(self, alert: Alert) -> StoredAlert:
        """Send ``alert`` unless it is suppressed, and store it either way."""
        why = self.suppression(alert)
        if why is not None:
            logger.debug("alert suppressed: %s: %s", alert.title, why)
            return self.store.add(alert, status="suppressed", suppressed_why=why)
        delivered: list[str] = []
        errors: dict[str, str] = {}
        for sink in self.sinks:
            err = self._deliver(sink, alert)
            if err is None:
                delivered.append(sink.name)
            else:
                errors[sink.name] = err
                logger.warning("alert sink %r failed: %s", sink.name, err)
        status: Status = "sent" if delivered or not errors else "failed"
        return self.store.add(alert, status=status, delivered=delivered, errors=errors)
