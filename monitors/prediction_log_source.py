"""The prediction log as a stream source: monitoring sees exactly what was served.

The prediction service logs every champion prediction (``request_id``, time, features,
prediction, model version) into two SQL tables and joins feedback labels to them when they
come (``deploy.prediction_log`` writes them; their layout is documented there). This source
reads those tables with plain SQLAlchemy Core and never imports ``deploy``:

* only ``role = 'champion'`` rows (what callers got; shadow rows are left out), optionally of
  one ``model_name``, with ``seq > after_seq``, in ``seq`` order;
* the features come from each row's JSON object, one column per feature;
* the target (named :attr:`PredictionLogSourceConfig.target`) is the feedback label, NaN
  where none has come yet; ``Batch.timestamps`` is ``served_at`` (UTC);
* labels are delayed in time, not in rows: a row without a label that was served less than
  ``label_wait_s`` seconds ago stops the read there, so that it and everything after it are
  read, in order, by a later read once its label had time to come. Older unlabelled rows are
  handed over with a NaN target (their label is not waited for any longer).

Each call of :meth:`PredictionLogSource.batches` is a poll: it continues after the last row
handed over before (:attr:`PredictionLogSource.last_seq`; a new source starts after
``after_seq``), and its row offsets start at 0. A scheduled flow keeps ``last_seq`` and passes
it as ``after_seq`` next time.

Examples
--------
>>> import tempfile, pathlib, sqlalchemy as sa
>>> db = pathlib.Path(tempfile.mkdtemp()) / "predictions.db"
>>> engine = sa.create_engine(f"sqlite:///{db}")
>>> with engine.begin() as conn:  # what the service writes (deploy.prediction_log)
...     _ = conn.exec_driver_sql(
...         "CREATE TABLE driftloop_predictions (seq INTEGER PRIMARY KEY, request_id TEXT, "
...         "row INTEGER, role TEXT, model_name TEXT, model_version INTEGER, served_at TEXT, "
...         "features TEXT, prediction TEXT)")
...     _ = conn.exec_driver_sql("CREATE TABLE driftloop_feedback (request_id TEXT, row INTEGER, "
...                              "label TEXT, received_at TEXT)")
...     _ = conn.exec_driver_sql(
...         "INSERT INTO driftloop_predictions VALUES "
...         "(1, 'r1', 0, 'champion', 'm', 1, '2026-01-01 10:00:00', '{\\"x\\": 1.5}', '0'), "
...         "(2, 'r1', 0, 'shadow', 'm', 2, '2026-01-01 10:00:00', '{\\"x\\": 1.5}', '1'), "
...         "(3, 'r2', 0, 'champion', 'm', 1, '2026-01-01 10:00:05', '{\\"x\\": 0.5}', '1')")
...     _ = conn.exec_driver_sql("INSERT INTO driftloop_feedback VALUES "
...                              "('r2', 0, '1', '2026-01-02 09:00:00')")
>>> engine.dispose()
>>> source = PredictionLogSource(PredictionLogSourceConfig(uri=f"sqlite:///{db}",
...                                                        task="classification"))
>>> batch = next(source.batches(10))
>>> batch.features.to_dict("list"), batch.target.tolist(), source.last_seq
({'x': [1.5, 0.5]}, [nan, 1.0], 3)
>>> list(source.batches(10))  # nothing new since
[]
>>> source.close()
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from monitors.errors import SourceError
from monitors.stream import Batch

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

    from monitors.sources import Task

__all__ = ["PredictionLogSource", "PredictionLogSourceConfig"]

#: The tables the prediction service writes (the layout is documented in
#: ``deploy.prediction_log``).
PREDICTIONS_TABLE = "driftloop_predictions"
FEEDBACK_TABLE = "driftloop_feedback"

#: Rows read from the database at a time.
PAGE_ROWS = 5_000

#: Labelled rows read to detect the task when it is not configured.
TASK_SAMPLE_ROWS = 50_000


class PredictionLogSourceConfig(BaseModel):
    """The champion predictions of a prediction log, read as a stream.

    Parameters
    ----------
    uri
        SQLAlchemy URI of the log, e.g. ``"sqlite:////abs/path/.driftloop/predictions.db"``.
    model_name
        Read only the rows served by this registered model; ``None``: all of them.
    target
        Name the feedback label gets in the batches (``Batch.target.name``).
    task
        ``None``: detected from the labels in the log as for :class:`FileSourceConfig`
        (classification when they are not numeric or have at most 20 distinct values).
    label_wait_s
        Seconds to wait for a row's label: an unlabelled row served less than this long ago
        stops the read there (read again next time); older unlabelled rows come with a NaN
        target. 0: never wait.
    after_seq
        Start after this ``seq`` (the :attr:`PredictionLogSource.last_seq` of the run
        before); 0: from the first row.

    >>> PredictionLogSourceConfig(uri="sqlite:////tmp/p.db", label_wait_s=3600).kind
    'prediction_log'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["prediction_log"] = "prediction_log"
    uri: str = Field(min_length=1)
    model_name: str | None = None
    target: str = Field(default="label", min_length=1)
    task: Literal["classification", "regression"] | None = None
    label_wait_s: float = Field(default=0.0, ge=0.0)
    after_seq: int = Field(default=0, ge=0)

    @field_validator("uri")
    @classmethod
    def _database_uri(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        try:
            url = make_url(value)
        except (ArgumentError, ValueError) as exc:
            raise ValueError(
                "uri must be a SQLAlchemy database URI such as "
                "'sqlite:////abs/path/.driftloop/predictions.db'; got something else "
                f"({type(exc).__name__})."
            ) from None
        try:
            url.get_dialect()  # the dialect only: its driver is imported on connecting
        except NoSuchModuleError:
            raise ValueError(
                f"uri must name a database SQLAlchemy knows (sqlite, postgresql, mysql, ...); "
                f"{url.drivername!r} is not one. Use e.g. "
                "'sqlite:////abs/path/.driftloop/predictions.db'."
            ) from None
        return value

    @field_validator("label_wait_s")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError(f"label_wait_s must be a finite number of seconds. Got {value}.")
        return value


@cache
def _tables() -> tuple[Any, Any]:
    """Light-weight descriptions of the two tables (no reflection, dialect-aware quoting)."""
    import sqlalchemy as sa

    predictions = sa.table(
        PREDICTIONS_TABLE,
        sa.column("seq", sa.BigInteger),
        sa.column("request_id", sa.String),
        sa.column("row", sa.Integer),
        sa.column("role", sa.String),
        sa.column("model_name", sa.String),
        sa.column("served_at", sa.DateTime(timezone=True)),
        sa.column("features", sa.Text),
    )
    feedback = sa.table(
        FEEDBACK_TABLE,
        sa.column("request_id", sa.String),
        sa.column("row", sa.Integer),
        sa.column("label", sa.Text),
    )
    return predictions, feedback


def _as_utc(value: Any) -> datetime:
    """A ``served_at`` value as an aware UTC datetime (SQLite gives naive UTC text/values)."""
    ts = pd.Timestamp(value)
    return (ts.tz_localize(UTC) if ts.tzinfo is None else ts.tz_convert(UTC)).to_pydatetime()


class PredictionLogSource:
    """Champion predictions of a prediction log, with their feedback labels, as batches.

    Built from a :class:`PredictionLogSourceConfig`. The log must exist and hold at least
    one champion row (of ``model_name``, when set); otherwise
    :class:`~monitors.errors.SourceError` says that the service has not logged predictions
    there yet.

    Attributes
    ----------
    last_seq
        The ``seq`` of the last row handed over (``after_seq`` before the first); pass it as
        ``after_seq`` to continue in a later run.
    label_delay
        0: labels are joined to their rows already (rows still waiting are held back, see
        ``label_wait_s``).
    """

    def __init__(self, config: PredictionLogSourceConfig) -> None:
        from sqlalchemy.engine import make_url

        self.config = config
        self.target = config.target
        self.label_delay = 0
        self.true_drift_rows: tuple[int, ...] = ()
        self.categorical_features: tuple[str, ...] = ()  # text features are inferred as such
        self.last_seq: int = config.after_seq
        self._url: URL = make_url(config.uri)
        self.uri = self._url.render_as_string(hide_password=True)
        database = Path(self._url.database or "").name or self._url.get_backend_name()
        self.name = f"prediction_log:{config.model_name or database}"
        self._engine: Engine | None = self._connect()
        self._check_log()

    def __repr__(self) -> str:
        return f"PredictionLogSource({self.uri!r}, model_name={self.config.model_name!r})"

    # -- connection --------------------------------------------------------------------------

    def _not_logged(self, why: str) -> SourceError:
        return SourceError(
            f"No predictions to read at {self.uri}: {why}. The prediction service has not "
            "logged predictions there yet; start it with this database (or point "
            "PredictionLogSourceConfig.uri at the one it writes), serve some requests, and "
            "read again."
        )

    def _failed(self, doing: str, exc: BaseException) -> SourceError:
        detail = getattr(exc, "orig", None) or exc
        text = str(detail)
        if self._url.password:  # drivers may quote the URI; mask only what they said
            text = text.replace(str(self._url.password), "***")
        return SourceError(
            f"Could not {doing} the prediction log {self.uri}: {type(detail).__name__}: "
            f"{text}. Check PredictionLogSourceConfig.uri and that the database is reachable."
        )

    def _connect(self) -> Engine:
        import sqlalchemy as sa

        kwargs: dict[str, Any] = {}
        if self._url.get_backend_name() == "sqlite":
            database = self._url.database or ""
            if database in ("", ":memory:"):
                raise SourceError(
                    f"PredictionLogSourceConfig.uri {self.uri!r} is an in-memory SQLite "
                    "database, which no other connection can see; use the file the service "
                    "writes, e.g. 'sqlite:////abs/path/.driftloop/predictions.db'."
                )
            if not database.startswith("file:") and not Path(database).is_file():
                # connecting would create an empty file where the service may write later
                raise self._not_logged(f"the SQLite file {database} does not exist")
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30.0}
        else:
            kwargs["pool_pre_ping"] = True
        try:
            return sa.create_engine(self._url, **kwargs)
        except (ImportError, sa.exc.SQLAlchemyError) as exc:
            raise self._failed("open", exc) from exc

    def _require_engine(self) -> Engine:
        if self._engine is None:
            raise SourceError(f"The source for {self.uri} is closed; build a new one.")
        return self._engine

    def _execute(self, doing: str, stmt: Any) -> Sequence[Any]:
        import sqlalchemy as sa

        try:
            with self._require_engine().connect() as conn:
                return conn.execute(stmt).all()
        except sa.exc.SQLAlchemyError as exc:
            raise self._failed(doing, exc) from exc

    def _champion(self) -> Any:
        """The WHERE clause of the rows this source reads (but the seq bound)."""
        predictions, _ = _tables()
        clause = predictions.c.role == "champion"
        if self.config.model_name is not None:
            clause = clause & (predictions.c.model_name == self.config.model_name)
        return clause

    def _check_log(self) -> None:
        import sqlalchemy as sa

        try:
            names = set(sa.inspect(self._require_engine()).get_table_names())
        except sa.exc.SQLAlchemyError as exc:
            raise self._failed("open", exc) from exc
        missing = [t for t in (PREDICTIONS_TABLE, FEEDBACK_TABLE) if t not in names]
        if missing:
            raise self._not_logged(f"the database has no table {' or '.join(missing)}")
        predictions, _ = _tables()
        found = self._execute("read", sa.select(predictions.c.seq).where(self._champion())
                              .limit(1))
        if found:
            return
        if self.config.model_name is None:
            raise self._not_logged("the log holds no champion prediction")
        models = [r[0] for r in self._execute(
            "read", sa.select(predictions.c.model_name).distinct()
            .where(predictions.c.role == "champion").order_by(predictions.c.model_name))]
        raise self._not_logged(
            f"the log holds no champion prediction of model {self.config.model_name!r} "
            f"(models logged: {models}; set PredictionLogSourceConfig.model_name to one of "
            "them, or to None for all)"
        )

    def close(self) -> None:
        """Close the database connections."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # -- the protocol ------------------------------------------------------------------------

    @cached_property
    def task(self) -> Task:
        """The configured task, or the one detected from the labels in the log."""
        if self.config.task is not None:
            return self.config.task
        import sqlalchemy as sa

        from monitors.sources import _detect_task

        predictions, feedback = _tables()
        rows = self._execute("read labels of", (
            sa.select(feedback.c.label)
            .select_from(predictions.join(feedback, sa.and_(
                feedback.c.request_id == predictions.c.request_id,
                feedback.c.row == predictions.c.row)))
            .where(self._champion())
            .order_by(predictions.c.seq)
            .limit(TASK_SAMPLE_ROWS)
        ))
        if not rows:
            raise SourceError(
                f"Cannot detect the task: the prediction log {self.uri} has no feedback label "
                "for a champion prediction yet. Set PredictionLogSourceConfig.task, or send "
                "feedback first."
            )
        labels = pd.Series([json.loads(r[0]) for r in rows], name=self.target)
        return _detect_task(labels, self.uri, "PredictionLogSourceConfig")

    def _page(self, after: int) -> Sequence[Any]:
        """Up to :data:`PAGE_ROWS` rows after ``after``: (seq, served_at, features, label)."""
        import sqlalchemy as sa

        predictions, feedback = _tables()
        p, f = predictions.c, feedback.c
        return self._execute("read", (
            sa.select(p.seq, p.served_at, p.features, f.label)
            .select_from(predictions.outerjoin(
                feedback, sa.and_(f.request_id == p.request_id, f.row == p.row)))
            .where(self._champion(), p.seq > after)
            .order_by(p.seq)
            .limit(PAGE_ROWS)
        ))

    def _rows(self) -> Iterator[tuple[int, datetime, str, str | None]]:
        """The rows to hand over in this read, in seq order, up to the first one that still
        waits for its label."""
        wait = self.config.label_wait_s
        cutoff = datetime.now(UTC) - timedelta(seconds=wait)
        after = self.last_seq
        while True:
            page = self._page(after)
            for seq, served_at, features, label in page:
                served = _as_utc(served_at)
                if label is None and wait > 0 and served > cutoff:
                    return  # its label may still come: this row and the rest wait
                yield int(seq), served, features, label
                after = int(seq)
            if len(page) < PAGE_ROWS:
                return

    def batches(self, batch_size: int) -> Iterator[Batch]:
        """Yield the champion rows logged after :attr:`last_seq`, in batches with offsets
        from 0, and move :attr:`last_seq` past each batch as it is handed over.

        The read stops before the first unlabelled row served less than ``label_wait_s``
        seconds ago (see :class:`PredictionLogSourceConfig`).
        """
        from monitors.sources import _check_batch_size

        _check_batch_size(batch_size)
        start = 0
        pending: list[tuple[int, datetime, str, str | None]] = []
        for row in self._rows():
            pending.append(row)
            if len(pending) == batch_size:
                yield self._batch(pending, start)
                start += len(pending)
                pending = []
        if pending:
            yield self._batch(pending, start)

    def history(self, n_rows: int) -> pd.DataFrame:
        """The newest ``n_rows`` labelled champion rows of the whole log, oldest first.

        What retraining learns from: one column per feature and the target column (the
        label), indexed from 0. Independent of :attr:`last_seq`.
        """
        import sqlalchemy as sa

        if isinstance(n_rows, bool) or not isinstance(n_rows, int) or n_rows <= 0:
            raise SourceError(f"The 'n_rows' parameter of PredictionLogSource.history must be a "
                              f"positive int. Got {n_rows!r} instead.")
        predictions, feedback = _tables()
        p, f = predictions.c, feedback.c
        rows = self._execute("read labelled rows of", (
            sa.select(p.seq, p.served_at, p.features, f.label)
            .select_from(predictions.join(
                feedback, sa.and_(f.request_id == p.request_id, f.row == p.row)))
            .where(self._champion())
            .order_by(p.seq.desc())
            .limit(n_rows)
        ))
        if not rows:
            return pd.DataFrame()
        ordered = [(int(seq), _as_utc(at), features, label)
                   for seq, at, features, label in reversed(rows)]
        batch = self._batch(ordered, 0, move=False)
        return batch.features.assign(**{self.target: batch.target})

    def _batch(self, rows: list[tuple[int, datetime, str, str | None]], start: int,
               *, move: bool = True) -> Batch:
        index = pd.RangeIndex(start, start + len(rows))
        try:
            features = pd.DataFrame([json.loads(r[2]) for r in rows], index=index)
            labels = [np.nan if r[3] is None else json.loads(r[3]) for r in rows]
        except (TypeError, ValueError) as exc:
            raise SourceError(
                f"A row of the prediction log {self.uri} between seq {rows[0][0]} and "
                f"{rows[-1][0]} is not valid JSON ({exc}); the log was not written by the "
                "driftloop prediction service."
            ) from exc
        target = pd.Series(labels, index=index, name=self.target)
        if target.dtype == object and target.isna().all():
            target = target.astype(float)
        timestamps = pd.Series(pd.DatetimeIndex([r[1] for r in rows]), index=index,
                               name="served_at", dtype="datetime64[ns, UTC]")
        if move:
            self.last_seq = rows[-1][0]
        return Batch(start=start, features=features, target=target, timestamps=timestamps)
