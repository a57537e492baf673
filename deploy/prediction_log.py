"""The prediction log: every prediction served, joined with its label when feedback comes.

The prediction service records each request with :meth:`PredictionLog.record` (one database
row per input row, for the champion and, when one runs, the shadow model) and stores labels
sent later with :meth:`PredictionLog.feedback`. :meth:`PredictionLog.served` reads the rows
back joined with their labels. The monitoring flow reads the same tables as a stream source
(:mod:`monitors.prediction_log_source`), so monitoring sees exactly what was served, with
labels as late as they came.

The default store is a SQLite file, ``<state_dir>/predictions.db``
(:meth:`PredictionLog.in_state_dir`); any SQLAlchemy database URI works
(``postgresql+psycopg://user:password@host/db`` with its driver installed).

The tables (a contract)
-----------------------
:mod:`monitors.prediction_log_source` reads these tables with plain SQL and never imports this
module; change them only together with it.

``driftloop_predictions`` -- one row per served input row:

=================  ==========================  ==============================================
column             type                        meaning
=================  ==========================  ==============================================
``seq``            integer, primary key        increasing with every row logged; readers
                                               continue after the last ``seq`` they saw
``request_id``     varchar(255), not null      the request the row came in
``row``            integer, not null           0-based position of the row in its request
``role``           varchar(16), not null       ``"champion"`` (the answer the caller got) or
                                               ``"shadow"``
``model_name``     varchar(255), not null      registered model name
``model_version``  integer, not null           registered model version
``served_at``      timestamp, not null         when it was served, UTC (SQLite keeps naive
                                               UTC text ``YYYY-MM-DD HH:MM:SS.ffffff``)
``features``       text, not null              the input row as a JSON object
``prediction``     text, not null              the prediction as JSON
=================  ==========================  ==============================================

unique ``(request_id, row, role)``; index ``(role, seq)``.

``driftloop_feedback`` -- at most one label per served row; primary key ``(request_id, row)``:

=================  ==========================  ==============================================
``request_id``     varchar(255), not null      the request the label is for
``row``            integer, not null           the row of that request
``label``          text, not null              the label as JSON
``received_at``    timestamp, not null         when the (latest) label came, UTC
=================  ==========================  ==============================================

A label is only stored for a key that has a champion prediction; a shadow row shares the
label of the champion row with the same ``(request_id, row)``.

Concurrency
-----------
One :class:`PredictionLog` may be used from many threads at once (FastAPI's thread pool).
With SQLite the file is in WAL mode, so other processes (the monitoring flow) read while the
service writes; writes take the write lock at the start of their transaction
(``BEGIN IMMEDIATE``) and wait up to :data:`BUSY_TIMEOUT_S` for it, and ``synchronous=NORMAL``
trades the last transactions before a power cut (never an application crash) for speed.
On a server database with several writers, a row may commit after a row with a higher
``seq``; a reader continuing after a ``seq`` should leave the newest seconds for later.

Examples
--------
>>> log = PredictionLog("sqlite://")  # in memory; PredictionLog.in_state_dir(path) for a file
>>> log.record(request_id="r1", model_name="m", model_version=3, role="champion",
...            features=[{"x": 1.5, "colour": "red"}, {"x": 2.0, "colour": "blue"}],
...            predictions=[1, 0])
>>> log.feedback([FeedbackItem(request_id="r1", row=1, label=1),
...               FeedbackItem(request_id="nope", label=0)])
FeedbackResult(stored=1, updated=0, unknown=[('nope', 0)])
>>> log.served()[["seq", "row", "prediction", "label", "x", "colour"]]
   seq  row  prediction  label    x colour
0    1    0           1    NaN  1.5    red
1    2    1           0    1.0  2.0   blue
>>> log.counts()
{'predictions': 2, 'shadow': 0, 'labelled': 1}
>>> log.close()
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

__all__ = [
    "BUSY_TIMEOUT_S",
    "FEEDBACK_TABLE",
    "PREDICTIONS_TABLE",
    "ROLES",
    "DuplicateRequestError",
    "FeedbackItem",
    "FeedbackResult",
    "PredictionLog",
    "PredictionLogError",
    "mask_uri",
]

log = logging.getLogger(__name__)

PREDICTIONS_TABLE = "driftloop_predictions"
FEEDBACK_TABLE = "driftloop_feedback"

#: The roles a logged prediction can have.
ROLES: tuple[str, ...] = ("champion", "shadow")

#: Name of the SQLite file in the state folder.
DEFAULT_FILENAME = "predictions.db"

#: Seconds a SQLite writer waits for the write lock before giving up.
BUSY_TIMEOUT_S = 30.0

_MAX_ID = 255  # varchar length of request ids and model names
_IN_CHUNK = 500  # keys per IN (...) list, well under every database's parameter limit

_metadata = sa.MetaData()

_predictions = sa.Table(
    PREDICTIONS_TABLE,
    _metadata,
    # BIGINT on server databases; SQLite only autoincrements an INTEGER primary key
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=True),
    sa.Column("request_id", sa.String(_MAX_ID), nullable=False),
    sa.Column("row", sa.Integer, nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("model_name", sa.String(_MAX_ID), nullable=False),
    sa.Column("model_version", sa.Integer, nullable=False),
    sa.Column("served_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("features", sa.Text, nullable=False),
    sa.Column("prediction", sa.Text, nullable=False),
    sa.UniqueConstraint("request_id", "row", "role", name="uq_driftloop_predictions_key"),
    sa.Index("ix_driftloop_predictions_role_seq", "role", "seq"),
    # AUTOINCREMENT on SQLite: a seq is never reused, even after the last rows are deleted
    sqlite_autoincrement=True,
)

_feedback = sa.Table(
    FEEDBACK_TABLE,
    _metadata,
    sa.Column("request_id", sa.String(_MAX_ID), primary_key=True),
    sa.Column("row", sa.Integer, primary_key=True),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
)

#: The columns of :meth:`PredictionLog.served` before the feature columns.
SERVED_COLUMNS: tuple[str, ...] = (
    "seq", "request_id", "row", "role", "model_name", "model_version", "served_at",
    "prediction", "label", "labelled_at",
)


# --------------------------------------------------------------------------------------------
# Errors and value types
# --------------------------------------------------------------------------------------------


class PredictionLogError(RuntimeError):
    """The prediction log could not be opened, written or read; the message says why and the
    fix, and never holds the password of the database URI."""


class DuplicateRequestError(PredictionLogError):
    """A request id was already logged for this role; nothing of the new call was written."""

    def __init__(self, message: str, *, request_id: str, role: str) -> None:
        super().__init__(message)
        self.request_id = request_id
        self.role = role


class FeedbackItem(BaseModel):
    """The label of one served row: ``(request_id, row)`` as it was logged.

    ``label`` must be a JSON scalar: a string, a bool or a finite number (numpy scalars are
    accepted and stored as plain numbers).

    >>> FeedbackItem(request_id="r1", label="spam").row
    0
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str = Field(min_length=1, max_length=_MAX_ID)
    row: int = Field(default=0, ge=0)
    label: Any

    @field_validator("label", mode="before")
    @classmethod
    def _scalar(cls, value: Any) -> Any:
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, bool | str | int):
            return value
        if isinstance(value, float) and math.isfinite(value):
            return value
        raise ValueError(
            "label must be a JSON scalar: a string, a bool or a finite number. Got "
            f"{value!r} ({type(value).__name__}); send one label per (request_id, row)."
        )


@dataclass(frozen=True)
class FeedbackResult:
    """What :meth:`PredictionLog.feedback` did.

    ``stored``: labels for rows that had none; ``updated``: labels that replaced an earlier
    one; ``unknown``: the ``(request_id, row)`` keys without a champion prediction, which
    were not stored.
    """

    stored: int
    updated: int
    unknown: list[tuple[str, int]] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def mask_uri(uri: str | URL) -> str:
    """The database URI with its password replaced by ``***`` (safe for logs and errors).

    >>> mask_uri("postgresql://u:secret@db.example/preds")
    'postgresql://u:***@db.example/preds'
    >>> mask_uri("not a uri")
    '<unparseable database URI>'
    """
    try:
        url = uri if isinstance(uri, URL) else make_url(uri)
    except (ArgumentError, ValueError, TypeError):
        return "<unparseable database URI>"
    return url.render_as_string(hide_password=True)


def _plain(value: Any) -> Any:
    """``value`` as plain JSON types: numpy scalars and arrays unwrapped, NaN/inf/NA/NaT to
    ``None``, dates to ISO text; a ``TypeError`` for anything else."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else pd.Timestamp(value).isoformat()
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return _plain(float(value))
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _dumps(value: Any) -> str:
    return json.dumps(_plain(value), separators=(",", ":"), allow_nan=False, ensure_ascii=False)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _utc(value: Any) -> pd.Series:
    """Datetimes (naive ones are UTC, as SQLite returns them) as a UTC datetime64 series."""
    return pd.Series(pd.to_datetime(pd.Series(value, dtype=object), utc=True),
                     dtype="datetime64[ns, UTC]")


def _check_name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > _MAX_ID:
        raise PredictionLogError(
            f"The '{what}' parameter of PredictionLog.record must be a non-empty str of at "
            f"most {_MAX_ID} characters. Got {value!r} instead."
        )
    return value


# --------------------------------------------------------------------------------------------
# SQLite connection set-up
# --------------------------------------------------------------------------------------------

_WRITE = "driftloop_write"  # execution option: this connection's transaction writes


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own is deferred and late).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # A writer takes the write lock up front: a deferred transaction that reads and then
    # writes can fail at once with "database is locked" when another writer got in between.
    immediate = conn.get_execution_options().get(_WRITE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _is_memory(url: URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or "mode=memory" in database or (
        url.query.get("mode") == "memory"
    )


# --------------------------------------------------------------------------------------------
# The log
# --------------------------------------------------------------------------------------------


class PredictionLog:
    """Records served predictions and their feedback in a SQL database.

    Parameters
    ----------
    uri
        SQLAlchemy database URI, e.g. ``"sqlite:////abs/path/.driftloop/predictions.db"``
        (four slashes: an absolute path). The SQLite file and its folder are created when
        missing; on every database the two tables are created when missing.

    Raises
    ------
    PredictionLogError
        The URI is not a database URI, its driver is not installed, the database cannot be
        reached, or it holds tables of these names with other columns.
    """

    def __init__(self, uri: str | URL) -> None:
        try:
            self._url = uri if isinstance(uri, URL) else make_url(uri)
        except (ArgumentError, ValueError, TypeError) as exc:
            raise PredictionLogError(
                f"The 'uri' parameter of PredictionLog must be a SQLAlchemy database URI such "
                f"as 'sqlite:////abs/path/predictions.db'. Got {mask_uri(str(uri))!r} instead."
            ) from exc
        self._masked = mask_uri(self._url)
        self._sqlite = self._url.get_backend_name() == "sqlite"
        self._memory = self._sqlite and _is_memory(self._url)
        # SQLite has one writer at a time: queue this process's writers on a lock rather than
        # on the busy timeout. In memory there is one shared connection: serialise everything.
        self._write_lock: threading.Lock | threading.RLock | None = (
            threading.RLock() if self._memory else threading.Lock() if self._sqlite else None
        )
        self._engine: Engine | None = self._connect()
        self._create_tables()

    @classmethod
    def in_state_dir(cls, state_dir: str | Path) -> PredictionLog:
        """The SQLite log ``<state_dir>/predictions.db`` (created when missing)."""
        path = (Path(state_dir) / DEFAULT_FILENAME).resolve()
        return cls(URL.create("sqlite", database=str(path)))

    def __repr__(self) -> str:
        return f"PredictionLog({self._masked!r})"

    def __enter__(self) -> PredictionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- set-up ------------------------------------------------------------------------------

    def _error(self, doing: str, exc: BaseException, fix: str = "") -> PredictionLogError:
        """A :class:`PredictionLogError` for a database failure, without the password."""
        detail = getattr(exc, "orig", None) or exc
        message = (f"Could not {doing} the prediction log {self._masked}: "
                   f"{type(detail).__name__}: {detail}.")
        if fix:
            message += f" {fix}"
        password = self._url.password
        if password:
            message = message.replace(str(password), "***")
        return PredictionLogError(message)

    def _connect(self) -> Engine:
        kwargs: dict[str, Any] = {}
        if self._sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": BUSY_TIMEOUT_S}
            database = self._url.database or ""
            if self._memory:
                kwargs["poolclass"] = StaticPool  # one connection, so one database
            elif not database.startswith("file:"):
                try:
                    Path(database).parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise self._error("create the folder of", exc,
                                      "Point the URI at a writable folder.") from exc
        else:
            kwargs["pool_pre_ping"] = True
        try:
            engine = sa.create_engine(self._url, **kwargs)
        except (ImportError, SQLAlchemyError, ValueError, TypeError) as exc:
            raise self._error("open", exc,
                              "Install the database driver the URI names, or fix the URI.") from exc
        if self._sqlite:
            sa.event.listen(engine, "connect", _sqlite_connect)
            sa.event.listen(engine, "begin", _sqlite_begin)
        return engine

    def _create_tables(self) -> None:
        engine = self._require_engine()
        try:
            # as a writer (BEGIN IMMEDIATE on SQLite): services starting together wait for
            # each other instead of failing on "database is locked"
            with self._locked(write=True), engine.connect() as conn:
                conn.execution_options(**{_WRITE: True})
                with conn.begin():
                    _metadata.create_all(conn, checkfirst=True)
        except SQLAlchemyError as exc:
            # another process may have created them between the check and the CREATE
            try:
                names = set(sa.inspect(engine).get_table_names())
            except SQLAlchemyError:
                names = set()
            if not {PREDICTIONS_TABLE, FEEDBACK_TABLE} <= names:
                engine.dispose()
                raise self._error("create the tables of", exc,
                                  "Check that the database is reachable and writable.") from exc
        try:
            inspector = sa.inspect(engine)
            for table in (_predictions, _feedback):
                have = {c["name"] for c in inspector.get_columns(table.name)}
                missing = [c.name for c in table.columns if c.name not in have]
                if missing:
                    engine.dispose()
                    raise PredictionLogError(
                        f"The table {table.name} in {self._masked} lacks the columns {missing}: "
                        "it was not made by this version of driftloop. Use another database, "
                        "or move the old table away."
                    )
        except SQLAlchemyError as exc:
            raise self._error("inspect", exc) from exc

    def _require_engine(self) -> Engine:
        if self._engine is None:
            raise PredictionLogError(
                f"The prediction log {self._masked} is closed; open a new PredictionLog."
            )
        return self._engine

    def _locked(self, *, write: bool) -> AbstractContextManager[Any]:
        if self._write_lock is not None and (write or self._memory):
            return self._write_lock
        return nullcontext()

    @contextmanager
    def _transaction(self, doing: str, *, write: bool) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        engine = self._require_engine()
        with self._locked(write=write):
            try:
                with engine.connect() as conn:
                    if write:
                        conn.execution_options(**{_WRITE: True})
                    with conn.begin():
                        yield conn
            except PredictionLogError:
                raise
            except SQLAlchemyError as exc:
                raise self._error(doing, exc) from exc

    # -- writing -----------------------------------------------------------------------------

    def record(
        self,
        *,
        request_id: str,
        model_name: str,
        model_version: int,
        role: Literal["champion", "shadow"],
        features: Sequence[Mapping[str, Any]] | pd.DataFrame,
        predictions: Sequence[Any] | np.ndarray | pd.Series,
        served_at: datetime | None = None,
    ) -> None:
        """Log the rows of one request, all in one transaction.

        Parameters
        ----------
        request_id
            Unique per request (and role); the key feedback uses, with the row number.
        model_name, model_version
            The registered model version that made the predictions.
        role
            ``"champion"`` for the answer returned to the caller, ``"shadow"`` for a model
            evaluated beside it.
        features
            One mapping per input row, ``feature name -> value`` (a DataFrame is taken row by
            row). Stored as JSON: numpy scalars become plain numbers, **NaN and infinities
            become null** (read back as missing), dates become ISO text.
        predictions
            One prediction per row (a JSON-able value, e.g. a class, a number or a list of
            probabilities), same conversions as the features.
        served_at
            When the request was served (timezone-aware); default now. Stored in UTC.

        Raises
        ------
        DuplicateRequestError
            ``(request_id, role)`` was logged before; nothing of this call is written.
        PredictionLogError
            Invalid arguments (the message names the parameter), or the database failed.
        """
        rows = self._rows(request_id=request_id, model_name=model_name,
                          model_version=model_version, role=role, features=features,
                          predictions=predictions, served_at=served_at)
        with self._transaction("write to", write=True) as conn:
            logged = conn.execute(
                sa.select(_predictions.c.seq)
                .where(_predictions.c.request_id == request_id, _predictions.c.role == role)
                .limit(1)
            ).first()
            if logged is not None:
                raise self._duplicate(request_id, role)
            try:
                conn.execute(_predictions.insert(), rows)
            except IntegrityError as exc:  # a concurrent writer on a server database
                raise self._duplicate(request_id, role) from exc

    def _duplicate(self, request_id: str, role: str) -> DuplicateRequestError:
        return DuplicateRequestError(
            f"Request id {request_id!r} was already logged as {role} in {self._masked}; "
            "nothing of this call was written. Give every request a new id (e.g. a UUID).",
            request_id=request_id, role=role,
        )

    def _rows(self, *, request_id: Any, model_name: Any, model_version: Any, role: Any,
              features: Any, predictions: Any, served_at: Any) -> list[dict[str, Any]]:
        """Validate the arguments of :meth:`record` and turn them into table rows."""
        _check_name(request_id, "request_id")
        _check_name(model_name, "model_name")
        if isinstance(model_version, np.integer):
            model_version = int(model_version)
        if not isinstance(model_version, int) or isinstance(model_version, bool) or (
            model_version < 0
        ):
            raise PredictionLogError(
                "The 'model_version' parameter of PredictionLog.record must be an int >= 0 "
                f"(the registered version). Got {model_version!r} instead."
            )
        if role not in ROLES:
            raise PredictionLogError(
                f"The 'role' parameter of PredictionLog.record must be one of {list(ROLES)}. "
                f"Got {role!r} instead."
            )
        if isinstance(features, pd.DataFrame):
            features = features.to_dict("records")
        if isinstance(features, str | bytes | Mapping) or not isinstance(features, Sequence):
            raise PredictionLogError(
                "The 'features' parameter of PredictionLog.record must be a sequence of "
                f"mappings, one per input row. Got {type(features).__name__} instead."
            )
        if isinstance(predictions, str | bytes | Mapping):
            raise PredictionLogError(
                "The 'predictions' parameter of PredictionLog.record must be a sequence with "
                f"one prediction per input row. Got {type(predictions).__name__} instead."
            )
        try:
            predictions = list(predictions)
        except TypeError:
            raise PredictionLogError(
                "The 'predictions' parameter of PredictionLog.record must be a sequence with "
                f"one prediction per input row. Got {type(predictions).__name__} instead."
            ) from None
        if len(features) != len(predictions):
            raise PredictionLogError(
                f"PredictionLog.record got {len(features)} feature rows but {len(predictions)} "
                f"predictions for request {request_id!r}; pass one prediction per row."
            )
        if not features:
            raise PredictionLogError(
                f"PredictionLog.record got no rows for request {request_id!r}; log requests "
                "with at least one row."
            )
        if served_at is None:
            served_at = datetime.now(UTC)
        elif not isinstance(served_at, datetime) or served_at.tzinfo is None or (
            served_at.utcoffset() is None
        ):
            raise PredictionLogError(
                "The 'served_at' parameter of PredictionLog.record must be a timezone-aware "
                f"datetime (e.g. datetime.now(UTC)) or None for now. Got {served_at!r} instead."
            )
        served_at = served_at.astimezone(UTC)
        rows: list[dict[str, Any]] = []
        for i, (x, y) in enumerate(zip(features, predictions, strict=True)):
            if not isinstance(x, Mapping):
                raise PredictionLogError(
                    f"Row {i} of the 'features' of request {request_id!r} must be a mapping of "
                    f"feature name to value. Got {type(x).__name__} instead."
                )
            try:
                x_json = _dumps(x)
            except TypeError as exc:
                raise PredictionLogError(
                    f"Row {i} of the 'features' of request {request_id!r} cannot be stored as "
                    f"JSON: {exc}. Send numbers, strings, bools or None."
                ) from None
            try:
                y_json = _dumps(y)
            except TypeError as exc:
                raise PredictionLogError(
                    f"Prediction {i} of request {request_id!r} cannot be stored as JSON: {exc}."
                ) from None
            rows.append({"request_id": request_id, "row": i, "role": role,
                         "model_name": model_name, "model_version": model_version,
                         "served_at": served_at, "features": x_json, "prediction": y_json})
        return rows

    def feedback(self, items: Sequence[FeedbackItem]) -> FeedbackResult:
        """Store labels for served rows, in one transaction.

        A label replaces an earlier one for the same ``(request_id, row)`` (counted as
        ``updated``; the later item wins within one call too). Keys without a champion
        prediction are not stored and come back in ``unknown``, in the order given.

        >>> log = PredictionLog("sqlite://")
        >>> log.record(request_id="a", model_name="m", model_version=1, role="champion",
        ...            features=[{"x": 1}], predictions=[0])
        >>> log.feedback([FeedbackItem(request_id="a", label=1)])
        FeedbackResult(stored=1, updated=0, unknown=[])
        >>> log.feedback([FeedbackItem(request_id="a", label=0)])
        FeedbackResult(stored=0, updated=1, unknown=[])
        """
        items = list(items)
        bad = [type(i).__name__ for i in items if not isinstance(i, FeedbackItem)]
        if bad:
            raise PredictionLogError(
                "The 'items' parameter of PredictionLog.feedback must be a sequence of "
                f"FeedbackItem. Got {bad[0]} in it."
            )
        if not items:
            return FeedbackResult(stored=0, updated=0, unknown=[])
        for attempt in range(3):
            try:
                return self._feedback(items)
            except PredictionLogError as exc:
                # a concurrent writer stored the same new key first (server databases only)
                if not isinstance(exc.__cause__, IntegrityError) or attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _feedback(self, items: list[FeedbackItem]) -> FeedbackResult:
        received_at = datetime.now(UTC)
        ids = sorted({i.request_id for i in items})
        with self._transaction("store feedback in", write=True) as conn:
            served: set[tuple[str, int]] = set()
            labelled: set[tuple[str, int]] = set()
            for lo in range(0, len(ids), _IN_CHUNK):
                chunk = ids[lo : lo + _IN_CHUNK]
                served.update(conn.execute(
                    sa.select(_predictions.c.request_id, _predictions.c.row).where(
                        _predictions.c.role == "champion", _predictions.c.request_id.in_(chunk)
                    )
                ).tuples())
                labelled.update(conn.execute(
                    sa.select(_feedback.c.request_id, _feedback.c.row).where(
                        _feedback.c.request_id.in_(chunk)
                    )
                ).tuples())
            latest: dict[tuple[str, int], str] = {}  # the last label of each key
            unknown: list[tuple[str, int]] = []
            updated = 0
            for item in items:
                key = (item.request_id, item.row)
                if key not in served:
                    unknown.append(key)
                    continue
                if key in labelled or key in latest:
                    updated += 1
                latest[key] = _dumps(item.label)
            new = [k for k in latest if k not in labelled]
            old = [k for k in latest if k in labelled]
            if new:
                conn.execute(_feedback.insert(), [
                    {"request_id": r, "row": n, "label": latest[(r, n)],
                     "received_at": received_at} for r, n in new
                ])
            if old:
                conn.execute(
                    _feedback.update()
                    .where(_feedback.c.request_id == sa.bindparam("key_request_id"),
                           _feedback.c.row == sa.bindparam("key_row"))
                    .values(label=sa.bindparam("new_label"),
                            received_at=sa.bindparam("new_received_at")),
                    [{"key_request_id": r, "key_row": n, "new_label": latest[(r, n)],
                      "new_received_at": received_at} for r, n in old],
                )
        return FeedbackResult(stored=len(new), updated=updated, unknown=unknown)

    # -- reading -----------------------------------------------------------------------------

    def served(
        self,
        *,
        model_name: str | None = None,
        role: str = "champion",
        after_seq: int = 0,
        limit: int | None = None,
    ) -> pd.DataFrame:
        """The logged rows with ``seq > after_seq``, oldest first, joined with their labels.

        Columns: ``seq``, ``request_id``, ``row``, ``role``, ``model_name``,
        ``model_version``, ``served_at`` (UTC), ``prediction``, ``label`` (missing -- NaN or
        None -- until feedback comes), ``labelled_at`` (UTC, NaT until then), then one column
        per feature in the order first seen (missing where a row lacks it). A feature named
        like one of the columns before it comes as ``feature.<name>``.
        """
        if role not in ROLES:
            raise PredictionLogError(
                f"The 'role' parameter of PredictionLog.served must be one of {list(ROLES)}. "
                f"Got {role!r} instead."
            )
        if not isinstance(after_seq, int) or after_seq < 0:
            raise PredictionLogError(
                "The 'after_seq' parameter of PredictionLog.served must be an int >= 0. Got "
                f"{after_seq!r} instead."
            )
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise PredictionLogError(
                "The 'limit' parameter of PredictionLog.served must be a positive int or None. "
                f"Got {limit!r} instead."
            )
        p, f = _predictions.c, _feedback.c
        stmt = (
            sa.select(p.seq, p.request_id, p.row, p.role, p.model_name, p.model_version,
                      p.served_at, p.prediction, f.label, f.received_at, p.features)
            .select_from(_predictions.outerjoin(
                _feedback, sa.and_(f.request_id == p.request_id, f.row == p.row)))
            .where(p.role == role, p.seq > after_seq)
            .order_by(p.seq)
        )
        if model_name is not None:
            stmt = stmt.where(p.model_name == model_name)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._transaction("read", write=False) as conn:
            rows = conn.execute(stmt).all()
        return _served_frame(rows)

    def shadow_comparison(self, *, model_name: str | None = None) -> list[dict[str, Any]]:
        """Champion against shadow challenger on the same live requests, per pair of versions.

        For each (champion version, shadow version): ``rows`` scored by both, ``agreement``
        (share of identical predictions), ``labelled`` rows among them and, on those, each
        side's ``accuracy`` (exact match) and, for numeric predictions and labels, ``mae``. The
        gate's question -- would the challenger have done better on the traffic it shadowed?
        -- answered from the log.
        """
        champion = self.served(model_name=model_name, role="champion")
        shadow = self.served(model_name=model_name, role="shadow")
        if champion.empty or shadow.empty:
            return []
        keys = ["request_id", "row"]
        both = champion[[*keys, "model_version", "prediction", "label"]].merge(
            shadow[[*keys, "model_version", "prediction"]], on=keys,
            suffixes=("_champion", "_shadow"))
        out: list[dict[str, Any]] = []
        for (cv, sv), group in both.groupby(["model_version_champion", "model_version_shadow"]):
            c, sh = group["prediction_champion"], group["prediction_shadow"]
            entry: dict[str, Any] = {"champion_version": int(cv), "shadow_version": int(sv),
                                     "rows": len(group), "agreement": float((c == sh).mean())}
            labelled = group[group["label"].notna()]
            entry["labelled"] = len(labelled)
            if len(labelled):
                y = labelled["label"]
                for side in ("champion", "shadow"):
                    pred = labelled[f"prediction_{side}"]
                    entry[f"{side}_accuracy"] = float((pred == y).mean())
                    numeric = pd.to_numeric(pred, errors="coerce"), pd.to_numeric(y, errors="coerce")
                    if numeric[0].notna().all() and numeric[1].notna().all():
                        entry[f"{side}_mae"] = float((numeric[0] - numeric[1]).abs().mean())
            out.append(entry)
        return out

    def counts(self) -> dict[str, int]:
        """Rows logged as champion (``predictions``) and as ``shadow``, and labels stored."""

        def count(table: sa.Table, *where: Any) -> Any:
            return sa.select(sa.func.count()).select_from(table).where(*where).scalar_subquery()

        stmt = sa.select(
            count(_predictions, _predictions.c.role == "champion").label("predictions"),
            count(_predictions, _predictions.c.role == "shadow").label("shadow"),
            count(_feedback).label("labelled"),
        )
        with self._transaction("read", write=False) as conn:
            row = conn.execute(stmt).one()
        return {k: int(v) for k, v in row._mapping.items()}

    def close(self) -> None:
        """Close the database connections; the log cannot be used afterwards."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def _served_frame(rows: Sequence[Any]) -> pd.DataFrame:
    """The rows of :meth:`PredictionLog.served` as a frame, features expanded."""
    n = len(rows)
    columns = list(zip(*rows, strict=True)) if rows else [()] * 11
    (seq, request_id, row, role, model_name, model_version, served_at, prediction, label,
     labelled_at, features) = columns
    frame = pd.DataFrame({
        "seq": pd.Series(seq, dtype="int64"),
        "request_id": pd.Series(request_id, dtype=object),
        "row": pd.Series(row, dtype="int64"),
        "role": pd.Series(role, dtype=object),
        "model_name": pd.Series(model_name, dtype=object),
        "model_version": pd.Series(model_version, dtype="int64"),
        "served_at": _utc(served_at),
        "prediction": pd.Series([_loads(v) for v in prediction], dtype=None if n else object),
        "label": pd.Series([_loads(v) for v in label], dtype=None if n else object),
        "labelled_at": _utc(labelled_at),
    })
    if n and frame["label"].isna().all():
        # a column of all-missing labels is float NaN (not None) like a partly labelled one
        frame["label"] = np.nan
    x = pd.DataFrame([json.loads(v) for v in features], index=frame.index)
    clash = [c for c in x.columns if c in SERVED_COLUMNS]
    if clash:
        log.warning("Features %s clash with prediction-log columns; served() names them "
                    "'feature.<name>'.", clash)
        x = x.rename(columns={c: f"feature.{c}" for c in clash})
    return pd.concat([frame, x], axis=1) if len(x.columns) else frame
