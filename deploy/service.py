"""The prediction service: the ``champion`` of a registered model behind an HTTP API.

``driftloop serve`` runs it (uvicorn). What it promises:

- **Endpoints.** ``POST /predict`` (one row or many, checked against the model signature; a
  bad field gets a 422 naming it), ``POST /feedback`` (labels for earlier request ids, at any
  later time), ``GET /model`` (name, version, alias, trained-at, the drift event that caused
  the version, the shadow challenger) and ``GET /health``.
- **Prediction log.** Every served row is written to the :class:`~deploy.prediction_log.
  PredictionLog` (request id, row, time, features, prediction, version) before the response
  goes out; feedback joins it there. The monitoring flow reads the same log as a stream.
- **Hot swap.** A watcher thread polls the registry; when ``champion`` moves it loads the new
  version in the background and then replaces one reference. A request reads that reference
  once, so it is answered wholly by one version, the one its response names, and no request
  waits on a load or fails because of it.
- **Shadow challenger.** With ``shadow: true`` the ``challenger`` version (when it differs from
  the champion) scores the same rows after the response is sent; its predictions are logged
  with role ``shadow``, and ``GET /shadow`` compares the two on the live traffic both scored
  (agreement, and accuracy or MAE on the rows whose feedback came).
- **Security.** Every endpoint but ``/health`` needs ``Authorization: Bearer <token>``; the
  token comes from an environment variable or a file, is compared in constant time and is
  never logged. Models are loaded only from the registry by alias; no request can name a model,
  path or URI.

>>> cfg = ServeConfig(port=8081, shadow=True)
>>> cfg.host, cfg.port, cfg.token_env, cfg.runtime
('127.0.0.1', 8081, 'DRIFTLOOP_API_TOKEN', 'pyfunc')
>>> ServeConfig.model_validate_json(cfg.model_dump_json()) == cfg
True
"""

from __future__ import annotations

import hmac
import logging
import math
import os
import re
import stat
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from deploy.prediction_log import FeedbackItem
from models.base import ModelError
from models.registry import CHALLENGER, CHAMPION, RegistryError, RegistryReader

__all__ = [
    "TOKEN_ENV",
    "LoadedModel",
    "ModelSlot",
    "PayloadError",
    "ServeConfig",
    "ServeError",
    "build_app",
    "load_token",
    "load_version",
    "rows_to_frame",
]

_log = logging.getLogger(__name__)
_access = logging.getLogger("deploy.service.access")

TOKEN_ENV = "DRIFTLOOP_API_TOKEN"
"""Default environment variable holding the API token."""
MIN_TOKEN_LENGTH = 16
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
#: Artifact (in the version's run) holding an exported ONNX network, see models.onnx_export.
ONNX_ARTIFACT = "onnx/model.onnx"
#: Requests waiting for shadow scoring at most; beyond it they are skipped (and counted).
SHADOW_QUEUE = 1000


class ServeError(ModelError):
    """The service cannot start or cannot do what was asked; the message says how to fix it."""


class PayloadError(ValueError):
    """A request's rows do not match the model signature. ``errors`` name row and field."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        first = errors[0]
        super().__init__(f"{first['msg']} (and {len(errors) - 1} more)" if len(errors) > 1
                         else first["msg"])


class ServeConfig(BaseModel):
    """The ``serving`` section: where the service listens and how it finds its model.

    Attributes
    ----------
    host, port
        Where uvicorn listens (loopback by default; the Evidently UI of ``driftloop up`` has
        8000, so the service takes 8080).
    token_env
        Environment variable holding the API token (used when ``token_file`` is not set).
    token_file
        File holding the API token (first line). It must not be readable by other users.
    poll_interval_s
        How often the watcher asks the registry where ``champion`` (and ``challenger``) point.
    shadow
        Score every request with the ``challenger`` as well, off the response path, and log it.
    runtime
        ``"pyfunc"`` (the MLflow model) or ``"onnx"``: PyTorch versions run through
        onnxruntime (other families keep pyfunc).
    prediction_log_uri
        SQLAlchemy URI of the prediction log; ``None``: ``predictions.db`` in the state folder.
    max_rows
        Most rows one ``/predict`` request may carry.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    token_env: str = TOKEN_ENV
    token_file: str | None = None
    poll_interval_s: float = Field(2.0, gt=0)
    shadow: bool = False
    runtime: Literal["pyfunc", "onnx"] = "pyfunc"
    prediction_log_uri: str | None = None
    max_rows: int = Field(10_000, gt=0)

    @field_validator("token_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError(f"must be an environment variable name; got {value!r}")
        return value


def load_token(config: ServeConfig) -> str:
    """The API token from ``config.token_file`` or else the ``config.token_env`` variable.

    Raises
    ------
    ServeError
        No token is configured, the file is readable by other users, or the token is shorter
        than 16 characters. The token itself never appears in the message.
    """
    if config.token_file is not None:
        path = Path(config.token_file).expanduser()
        if not path.is_file():
            raise ServeError(f"The token file {str(path)!r} (serving.token_file) does not exist. "
                             "Write the API token into it, or unset token_file and set "
                             f"${config.token_env}.")
        if os.name == "posix" and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ServeError(f"The token file {str(path)!r} is readable by other users; restrict "
                             f"it with `chmod 600 {path}`.")
        lines = path.read_text(encoding="utf-8").splitlines()
        token, source = (lines[0].strip() if lines else ""), f"the token file {str(path)!r}"
    else:
        token, source = os.environ.get(config.token_env, "").strip(), f"${config.token_env}"
        if not token:
            raise ServeError(
                f"No API token: set ${config.token_env} (e.g. `export {config.token_env}=$(python "
                "-c 'import secrets; print(secrets.token_urlsafe(32))')`) or serving.token_file. "
                "The service refuses to run without one.")
    if len(token) < MIN_TOKEN_LENGTH:
        raise ServeError(f"The API token in {source} is shorter than {MIN_TOKEN_LENGTH} "
                         "characters; use a random one, e.g. secrets.token_urlsafe(32).")
    return token


# ---------------------------------------------------------------------------------------------
# Input checking against the model signature

_NUMPY_DTYPES = {"boolean": "bool", "integer": "int32", "long": "int64", "float": "float32",
                 "double": "float64", "string": "object", "datetime": "datetime64[ns]",
                 "binary": "object"}


@dataclass(frozen=True)
class Column:
    """One input column of the signature: name, MLflow type name and whether it is required."""

    name: str
    type: str
    required: bool = True


def signature_columns(pyfunc: Any) -> tuple[Column, ...]:
    """The input columns of an MLflow pyfunc model's signature."""
    schema = pyfunc.metadata.get_input_schema()
    if schema is None:
        raise ServeError("The model has no input signature, so requests cannot be checked. Log "
                         "it with driftloop (ModelRegistry.log_training infers one).")
    return tuple(Column(str(c.name), str(c.type.name), bool(getattr(c, "required", True)))
                 for c in schema.inputs)


def _check_value(value: Any, col: Column) -> str | None:
    """Why ``value`` does not fit ``col`` (None when it does)."""
    t = col.type
    if value is None:
        return None if t in ("double", "float") or not col.required else "must not be null"
    if t == "boolean":
        return None if isinstance(value, bool) else f"must be a boolean, got {value!r}"
    if t in ("integer", "long"):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be an integer, got {value!r}"
        bound = 2**31 if t == "integer" else 2**63
        return None if -bound <= value < bound else f"is out of range for {t}: {value!r}"
    if t in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"must be a number, got {value!r}"
        if isinstance(value, float) and math.isinf(value):
            return f"must be a finite number, got {value!r}; send null for a missing value"
        if isinstance(value, float) and math.isnan(value):
            return None  # NaN, as null
        limit, name = (sys.float_info.max, "double") if t == "double" else (3.4e38, "float32")
        if abs(value) <= limit:
            return None
        shown = repr(value) if len(repr(value)) <= 40 else f"{repr(value)[:37]}..."
        return f"is out of range for {name}: {shown}"
    if t == "string":
        return None if isinstance(value, str) else f"must be a string, got {value!r}"
    return None


def rows_to_frame(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> pd.DataFrame:
    """Check JSON rows against the signature and build the model's input frame.

    Every row must have exactly the signature's columns (a missing or an unknown field is an
    error, as is a value of the wrong type). ``null`` is accepted for floating columns (NaN);
    +-Infinity and numbers beyond the column's range are errors.

    >>> cols = (Column("x", "double"), Column("k", "string"))
    >>> rows_to_frame([{"x": 1, "k": "a"}], cols).dtypes.astype(str).tolist()
    ['float64', 'object']
    >>> try:
    ...     rows_to_frame([{"x": "1", "k": "a", "y": 2}], cols)
    ... except PayloadError as e:
    ...     [err["msg"] for err in e.errors]
    ["rows[0].x: must be a number, got '1'", "rows[0].y: unknown field; the model's fields are ['x', 'k']"]
    """
    names = [c.name for c in columns]
    known = set(names)
    errors: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        for col in columns:
            if col.name not in row:
                if col.required:
                    errors.append(_error(i, col.name, "missing field", "missing"))
                continue
            why = _check_value(row[col.name], col)
            if why is not None:
                errors.append(_error(i, col.name, why, "type_error"))
        for extra in row.keys() - known:
            errors.append(_error(i, str(extra), f"unknown field; the model's fields are {names}",
                                 "extra_forbidden"))
        if len(errors) >= 20:
            break
    if errors:
        raise PayloadError(errors)
    data = {c.name: pd.Series([r.get(c.name) for r in rows], dtype=_frame_dtype(c))
            for c in columns}
    return pd.DataFrame(data, columns=names)


def _frame_dtype(col: Column) -> str:
    if col.type in ("double", "float"):
        return _NUMPY_DTYPES[col.type]
    return "object" if not col.required else _NUMPY_DTYPES.get(col.type, "object")


def _error(row: int, name: str, msg: str, kind: str) -> dict[str, Any]:
    return {"loc": ["body", "rows", row, name], "msg": f"rows[{row}].{name}: {msg}", "type": kind}


# ---------------------------------------------------------------------------------------------
# Loaded versions and the slot that holds them


@dataclass(frozen=True)
class LoadedModel:
    """One registered version, loaded and ready: what a request is answered with."""

    name: str
    version: int
    alias: str
    runtime: str
    columns: tuple[Column, ...]
    info: dict[str, Any]
    predict: Callable[[pd.DataFrame], np.ndarray] = field(repr=False, compare=False)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "alias": self.alias,
                "runtime": self.runtime, **self.info,
                "features": {c.name: c.type for c in self.columns}}


def _version_info(reader: RegistryReader, version: int) -> dict[str, Any]:
    info = reader.version_info(version)
    tags = info["tags"]
    drift = {k.removeprefix("driftloop.drift_"): v for k, v in sorted(tags.items())
             if k.startswith("driftloop.drift_")}
    return {"run_id": info["run_id"], "trained_at": info["created_at"],
            "trigger": tags.get("driftloop.trigger"), "drift_event": drift or None}


def load_version(reader: RegistryReader, version: int, alias: str,
                 runtime: Literal["pyfunc", "onnx"] = "pyfunc") -> LoadedModel:
    """Load ``version`` from the registry (only from there) for serving.

    With ``runtime="onnx"`` a PyTorch version runs through onnxruntime: the network stored as
    the run artifact ``onnx/model.onnx`` when there is one, else exported now. Other families
    fall back to pyfunc (logged).
    """
    pyfunc = reader.load_pyfunc(version)
    columns = signature_columns(pyfunc)
    predict: Callable[[pd.DataFrame], np.ndarray] = lambda X: np.asarray(pyfunc.predict(X))  # noqa: E731
    used = "pyfunc"
    if runtime == "onnx":
        model = getattr(pyfunc.unwrap_python_model(), "model", None)
        from models.torch_family import TorchMLPModel

        if isinstance(model, TorchMLPModel):
            from models.onnx_export import OnnxMLPModel

            stored = _stored_onnx(reader, version)
            if stored is None:
                _log.info("Version %d of %r has no stored ONNX network (driftloop export-onnx); "
                          "exported now.", version, reader.model_name)
            onnx_model = OnnxMLPModel.from_torch(model, stored)
            predict, used = onnx_model.predict, "onnx"
        else:
            _log.warning("runtime onnx: version %d of %r is a %s, not a PyTorch model; serving "
                         "it through pyfunc.", version, reader.model_name, type(model).__name__)
    return LoadedModel(reader.model_name, version, alias, used, columns,
                       _version_info(reader, version), predict)


def _stored_onnx(reader: RegistryReader, version: int) -> bytes | None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = reader.download_version_artifact(version, ONNX_ARTIFACT, tmp)
        except RegistryError:
            return None
        return Path(path).read_bytes()


class ModelSlot:
    """The versions being served; swapping one is a single reference assignment.

    A request takes :attr:`champion` once and uses that object for everything, so it is
    answered by one version even if a swap happens meanwhile.
    """

    def __init__(self) -> None:
        self.champion: LoadedModel | None = None
        self.shadow: LoadedModel | None = None
        self.swaps = 0
        self.shadow_skipped = 0
        self.last_error: str | None = None


class Watcher(threading.Thread):
    """Polls the registry and swaps in new champion (and challenger) versions.

    Loading happens on this thread; requests keep being answered by the current version.
    """

    def __init__(self, reader: RegistryReader, slot: ModelSlot, config: ServeConfig) -> None:
        super().__init__(name="driftloop-model-watcher", daemon=True)
        self.reader, self.slot, self.config = reader, slot, config
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.config.poll_interval_s):
            self.refresh()

    def refresh(self) -> None:
        """Look once; load and swap what moved. Errors are logged and retried next time."""
        try:
            champion = self.reader.champion()
            current = self.slot.champion
            if champion is not None and (current is None or current.version != champion.version):
                loaded = load_version(self.reader, champion.version, CHAMPION, self.config.runtime)
                self.slot.champion = loaded
                self.slot.swaps += 1
                _log.info("Now serving version %d of %r (was %s).", loaded.version,
                          loaded.name, None if current is None else current.version)
            if self.config.shadow:
                self._refresh_shadow(champion.version if champion is not None else None)
            self.slot.last_error = None
        except (ModelError, OSError) as exc:
            self.slot.last_error = str(exc)
            _log.warning("Could not refresh the served model (will retry in %.1f s): %s",
                         self.config.poll_interval_s, exc)

    def _refresh_shadow(self, champion_version: int | None) -> None:
        challenger = self.reader.challenger()
        if challenger is None or challenger.version == champion_version:
            self.slot.shadow = None
            return
        if self.slot.shadow is None or self.slot.shadow.version != challenger.version:
            self.slot.shadow = load_version(self.reader, challenger.version, CHALLENGER,
                                            self.config.runtime)
            _log.info("Shadow-scoring with challenger version %d.", challenger.version)


# ---------------------------------------------------------------------------------------------
# The HTTP API


class PredictRequest(BaseModel):
    """``{"rows": [{...}, ...]}`` or ``{"row": {...}}``, with an optional ``request_id``."""

    model_config = ConfigDict(extra="forbid")

    rows: list[dict[str, Any]] | None = None
    row: dict[str, Any] | None = None
    request_id: str | None = Field(None, pattern=_REQUEST_ID.pattern)

    @model_validator(mode="after")
    def _one_of(self) -> PredictRequest:
        if (self.rows is None) == (self.row is None):
            raise ValueError("send either 'rows' (a list of objects) or 'row' (one object)")
        if self.rows is not None and not self.rows:
            raise ValueError("'rows' is empty; send at least one row")
        return self

    def all_rows(self) -> list[dict[str, Any]]:
        return self.rows if self.rows is not None else [self.row or {}]


class FeedbackItemIn(FeedbackItem):
    """A label as a request sends it: the log's item, with the request-id format of
    ``/predict`` (the label itself is checked by :class:`~deploy.prediction_log.FeedbackItem`)."""

    request_id: str = Field(pattern=_REQUEST_ID.pattern)


class FeedbackRequest(BaseModel):
    """``{"items": [{"request_id": ..., "row": 0, "label": ...}, ...]}``."""

    model_config = ConfigDict(extra="forbid")

    items: list[FeedbackItemIn] = Field(min_length=1, max_length=100_000)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class TokenGuard:
    """ASGI middleware: ``Authorization: Bearer <token>`` on every path but ``/health``."""

    def __init__(self, app: Any, token: str, open_paths: frozenset[str] = frozenset({"/health"})):
        self.app, self._token, self.open_paths = app, token.encode(), open_paths

    async def __call__(self, scope: MutableMapping[str, Any], receive: Callable[[], Awaitable[Any]],
                       send: Callable[[MutableMapping[str, Any]], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status: list[int] = []

        async def send_logged(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        started = time.perf_counter()
        try:
            await self._guarded(scope, receive, send_logged)
        finally:
            # the access log: method, path and status only; never headers or the query string,
            # where a careless client may have put a token
            _access.info("%s %s %s %.1f ms", scope["method"], scope["path"],
                         status[0] if status else "-", 1000 * (time.perf_counter() - started))

    async def _guarded(self, scope: MutableMapping[str, Any],
                       receive: Callable[[], Awaitable[Any]],
                       send: Callable[[MutableMapping[str, Any]], Awaitable[None]]) -> None:
        if scope["path"] not in self.open_paths:
            header = dict(scope.get("headers") or ()).get(b"authorization", b"")
            scheme, _, given = header.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(given.strip(), self._token):
                from starlette.responses import JSONResponse

                response = JSONResponse(
                    {"detail": "Missing or wrong API token: send 'Authorization: Bearer <token>'."},
                    status_code=401, headers={"WWW-Authenticate": "Bearer"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def build_app(reader: RegistryReader, log: Any, config: ServeConfig, token: str,
              *, start_watcher: bool = True) -> Any:
    """The FastAPI application (wrapped in the token guard).

    Parameters
    ----------
    reader
        Registry reader of the served model.
    log
        A :class:`~deploy.prediction_log.PredictionLog`.
    config
        The ``serving`` section.
    token
        The API token (see :func:`load_token`).
    start_watcher
        Load the champion and poll the registry in the background (tests of the API alone
        may switch it off and fill :class:`ModelSlot` themselves).
    """
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    from deploy.prediction_log import DuplicateRequestError, PredictionLogError

    slot = ModelSlot()
    watcher = Watcher(reader, slot, config)
    shadow_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="driftloop-shadow")
    shadow_slots = threading.BoundedSemaphore(SHADOW_QUEUE)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        if start_watcher:
            watcher.refresh()  # first load before the first request, when there is a champion
            watcher.start()
        try:
            yield
        finally:
            watcher.stopped.set()
            shadow_pool.shutdown(wait=True)

    app = FastAPI(title="driftloop prediction service", lifespan=lifespan)
    app.state.slot, app.state.watcher, app.state.log = slot, watcher, log

    def no_model() -> JSONResponse:
        why = f" Last error: {slot.last_error}" if slot.last_error else ""
        return JSONResponse({"detail": f"Model {reader.model_name!r} has no champion loaded yet; "
                             f"promote a version and the service picks it up.{why}"},
                            status_code=503)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own 422 echoes the input, which may be NaN (not JSON) or a secret
        return JSONResponse({"detail": [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
                                        for e in exc.errors()]}, status_code=422)

    @app.exception_handler(PayloadError)
    async def _payload(request: Request, exc: PayloadError) -> JSONResponse:
        return JSONResponse({"detail": exc.errors}, status_code=422)

    @app.exception_handler(PredictionLogError)
    async def _log_down(request: Request, exc: PredictionLogError) -> JSONResponse:
        # fail closed: a prediction that cannot be logged is not served
        _log.error("Prediction log error on %s: %s", request.url.path, exc)
        return JSONResponse({"detail": f"The prediction log is not available, so nothing was "
                             f"served or stored: {exc}"}, status_code=503)

    @app.get("/health")
    def health() -> dict[str, Any]:
        served = slot.champion
        return {"status": "ok" if served is not None else "no_model",
                "model": reader.model_name,
                "version": None if served is None else served.version}

    @app.get("/model", response_model=None)
    def model() -> dict[str, Any] | JSONResponse:
        served, shadow = slot.champion, slot.shadow
        if served is None:
            return no_model()
        return {**served.describe(), "swaps": slot.swaps,
                "shadow": None if shadow is None else shadow.describe(),
                "shadow_skipped": slot.shadow_skipped}

    @app.post("/predict", response_model=None)
    def predict(body: PredictRequest) -> dict[str, Any] | JSONResponse:
        served = slot.champion  # read once: this version answers the whole request
        if served is None:
            return no_model()
        rows = body.all_rows()
        if len(rows) > config.max_rows:
            return JSONResponse({"detail": f"{len(rows)} rows in one request; the most allowed is "
                                 f"{config.max_rows} (serving.max_rows). Split the request."},
                                status_code=413)
        frame = rows_to_frame(rows, served.columns)
        try:
            predictions = [_plain(p) for p in served.predict(frame)]
        except ModelError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=422)
        request_id = body.request_id or uuid.uuid4().hex
        now = datetime.now(UTC)
        try:
            log.record(request_id=request_id, model_name=served.name,
                       model_version=served.version, role="champion", features=rows,
                       predictions=predictions, served_at=now)
        except DuplicateRequestError:
            return JSONResponse({"detail": f"request_id {request_id!r} was used before; send a "
                                 "new one or none (the service makes one)."}, status_code=409)
        shadow = slot.shadow
        if shadow is not None and shadow.version != served.version:
            if shadow_slots.acquire(blocking=False):
                future = shadow_pool.submit(_shadow_score, shadow, rows, request_id, log, now)
                future.add_done_callback(lambda _: shadow_slots.release())
            else:  # the challenger cannot keep up: skip it rather than queue without bound
                slot.shadow_skipped += 1
        return {"request_id": request_id, "model": served.name, "version": served.version,
                "predictions": predictions}

    @app.get("/shadow")
    def shadow_report() -> dict[str, Any]:
        """The champion against the shadow challenger on the requests both scored."""
        return {"model": reader.model_name, "shadow_enabled": config.shadow,
                "comparisons": log.shadow_comparison(model_name=reader.model_name)}

    @app.post("/feedback")
    def feedback(body: FeedbackRequest) -> dict[str, Any]:
        result = log.feedback(body.items)
        return {"stored": result.stored, "updated": result.updated,
                "unknown": [{"request_id": r, "row": n} for r, n in result.unknown]}

    return TokenGuard(app, token)


def _shadow_score(shadow: LoadedModel, rows: list[dict[str, Any]], request_id: str, log: Any,
                  served_at: datetime) -> None:
    """Score a served request with the challenger and log it; never affects the response."""
    try:
        frame = rows_to_frame(rows, shadow.columns)
        predictions = [_plain(p) for p in shadow.predict(frame)]
        log.record(request_id=request_id, model_name=shadow.name, model_version=shadow.version,
                   role="shadow", features=rows, predictions=predictions, served_at=served_at)
    except Exception as exc:  # a shadow failure must never reach a client
        _log.warning("Shadow scoring of request %s with version %d failed: %s", request_id,
                     shadow.version, exc)


def serve(reader: RegistryReader, log: Any, config: ServeConfig, token: str,
          *, log_level: str = "info") -> None:
    """Run the service in this process until it is interrupted (SIGINT/SIGTERM).

    uvicorn's own access log is off: it would print query strings. The service logs method,
    path, status and latency of each request on ``deploy.service.access`` instead.
    """
    import uvicorn

    app = build_app(reader, log, config, token)
    started = time.monotonic()
    uvicorn.run(app, host=config.host, port=config.port, log_level=log_level, access_log=False)
    _log.info("Service stopped after %.0f s.", time.monotonic() - started)
