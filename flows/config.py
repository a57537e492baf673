"""The one configuration file: YAML, validated with pydantic, every knob with a default.

Each section is owned by the package that uses it (``monitors`` or ``models``); this module
only composes them. A wrong value gets an error naming the key, what is allowed and what was
received:

>>> try:
...     DriftloopConfig.model_validate({"concept_drift": {"detector": "ADWN"}})
... except ConfigError as e:
...     print(str(e).splitlines()[1])
  concept_drift.detector: Input should be 'ADWIN', 'DDM', 'EDDM', 'HDDM_A', 'HDDM_W', 'PageHinkley', 'KSWIN' or 'FHDDM' (got 'ADWN')
"""

from __future__ import annotations

import os
import types
import typing
from pathlib import Path
from typing import Any

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field

from deploy.servers import ServersConfig
from deploy.service import ServeConfig
from models.config import GateConfig, ModelConfig, TrainingConfig
from models.registry import RegistryConfig
from monitors.alerts import AlertsConfig
from monitors.concept_drift import ConceptDriftConfig
from monitors.data_drift import DataDriftConfig
from monitors.decision import DecisionConfig
from monitors.sources import SourceConfig, SyntheticStreamConfig
from monitors.validation import ValidationConfig


class ConfigError(ValueError):
    """The configuration file or a value in it is invalid."""


class WindowConfig(BaseModel):
    """Count-based windows, and the labelled history that trains the first champion."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    size: int = Field(1000, gt=0)
    warmup_rows: int = Field(2000, gt=0)


class DriftloopConfig(BaseModel):
    """Everything a driftloop run needs; every field has a default."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state_dir: str = ".driftloop"
    source: SourceConfig = Field(default_factory=SyntheticStreamConfig)
    window: WindowConfig = Field(default_factory=WindowConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    data_drift: DataDriftConfig = Field(default_factory=DataDriftConfig)
    concept_drift: ConceptDriftConfig = Field(default_factory=ConceptDriftConfig)
    decision: DecisionConfig = Field(default_factory=DecisionConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    gate: GateConfig = Field(default_factory=GateConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    servers: ServersConfig = Field(default_factory=ServersConfig)
    serving: ServeConfig = Field(default_factory=ServeConfig)

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> DriftloopConfig:
        try:
            return super().model_validate(obj, *args, **kwargs)
        except pydantic.ValidationError as e:
            raise ConfigError(format_validation_error(e)) from None

    def with_updates(self, **sections: Any) -> DriftloopConfig:
        """A copy with some top-level keys replaced, validated again."""
        data = self.model_dump(mode="json")
        data.update({k: v for k, v in sections.items() if v is not None})
        return DriftloopConfig.model_validate(data)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The config sections an annotation can hold (through Annotated, Optional and unions)."""
    if typing.get_origin(annotation) in (typing.Annotated, typing.Union, types.UnionType):
        return [m for a in typing.get_args(annotation) for m in _models_in(a)]
    return [annotation] if isinstance(annotation, type) and issubclass(annotation, BaseModel) else []


def _locate(loc: tuple[Any, ...]) -> tuple[str, type[BaseModel] | None]:
    """The key path as written in the file (union tags such as ``file`` left out) and the
    section it points into, when there is exactly one."""
    candidates: list[type[BaseModel]] = [DriftloopConfig]
    path: list[str] = []
    for part in (str(p) for p in loc):
        if part.startswith(("function-", "tagged")):
            continue
        tagged = [m for m in candidates if "kind" in m.model_fields
                  and m.model_fields["kind"].default == part]
        if len(candidates) > 1 and tagged:  # the discriminator's tag, not a key
            candidates = tagged
            continue
        path.append(part)
        candidates = [s for m in candidates if part in m.model_fields
                      for s in _models_in(m.model_fields[part].annotation)]
    return ".".join(path), candidates[0] if len(candidates) == 1 else None


def format_validation_error(e: pydantic.ValidationError) -> str:
    lines = [f"Invalid driftloop configuration ({e.error_count()} problem(s)):"]
    for err in e.errors():
        loc, _ = _locate(tuple(err["loc"]))
        msg = err["msg"]
        if err["type"] == "extra_forbidden":  # an unknown key: list the valid ones
            _, section = _locate(tuple(err["loc"])[:-1])
            if section is not None:
                msg = f"unknown key; valid keys are {list(section.model_fields)}"
        received = err.get("input")
        shown = "" if isinstance(received, dict) or "Got " in msg else f" (got {received!r})"
        lines.append(f"  {loc or '<root>'}: {msg}{shown}")
    return "\n".join(lines)


#: Environment variable naming the state folder when neither the config file nor an override
#: (``--state-dir``) sets ``state_dir``.
STATE_DIR_ENV = "DRIFTLOOP_STATE_DIR"


def load_config(path: str | Path | None = None, **overrides: Any) -> DriftloopConfig:
    """Read a YAML config file (or use all defaults) and apply top-level overrides.

    ``state_dir`` comes from the override, else the file, else ``$DRIFTLOOP_STATE_DIR``, else
    ``.driftloop``.
    """
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"Config file {str(p)!r} does not exist; pass an existing YAML file.")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise ConfigError(f"Config file {str(p)!r} is not valid YAML: {e}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"Config file {str(p)!r} must hold a mapping of sections, "
                              f"got a {type(loaded).__name__}.")
        data = loaded or {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    if "state_dir" not in data and os.environ.get(STATE_DIR_ENV):
        data["state_dir"] = os.environ[STATE_DIR_ENV]
    return DriftloopConfig.model_validate(data)


DEMO_MODEL_NAME = "driftloop-demo"


def demo_config(base: DriftloopConfig | None = None, *, seed: int = 7, rows: int = 30_000,
                state_dir: str | Path | None = None) -> DriftloopConfig:
    """The demo: a seeded Agrawal stream with two abrupt concept drifts, at 1/3 and 2/3 of it.

    >>> demo_config(rows=9000).source.drift_rows
    (3000, 6000)
    """
    third = rows // 3
    return (base or DriftloopConfig()).with_updates(
        source={"kind": "synthetic", "generator": "agrawal", "n_rows": rows,
                "drift_rows": [third, 2 * third], "seed": seed},
        registry={**(base or DriftloopConfig()).registry.model_dump(mode="json"),
                  "model_name": DEMO_MODEL_NAME},
        state_dir=str(state_dir) if state_dir is not None else None,
    )
