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
import reprlib
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


def _short(value: Any, limit: int = 200) -> str:
    """``repr(value)``, cut to ``limit`` characters (a bad value may be a whole list)."""
    text = reprlib.Repr()
    text.maxlevel, text.maxlist, text.maxdict = 3, 10, 10
    text.maxstring = text.maxother = limit
    shown = text.repr(value)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


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
        shown = "" if isinstance(received, dict) or "Got " in msg else f" (got {_short(received)})"
        lines.append(f"  {loc or '<root>'}: {msg}{shown}")
    return "\n".join(lines)


#: Largest config file :func:`load_config` reads (a driftloop config is a few KiB).
MAX_CONFIG_BYTES = 1 << 20

#: Most YAML nodes a config file may hold once its aliases (``*name``) are expanded: anchors
#: that repeat a small section are fine, a "billion laughs" file (aliases of aliases, each
#: level multiplying the size) is refused before it is built.
MAX_CONFIG_NODES = 100_000


def _expanded_size(root: yaml.Node, limit: int) -> int:
    """How many nodes the document would have with every alias expanded (at most just over
    ``limit``: counting stops there), or -1 when an alias refers to a node it is part of."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            children = _children(node)
            sizes[key] = min(limit + 1, 1 + sum(sizes[id(c)] for c in children))
            continue
        if key in sizes:
            continue
        if key in on_path:
            return -1  # recursive: &a [*a]
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in sizes)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _read_yaml(p: Path) -> Any:
    """The YAML document in ``p``, parsed safely (plain data only: no Python tags), with
    guards against huge files and alias bombs; a :class:`ConfigError` says what is wrong."""
    where = f"Config file {str(p)!r}"
    size = p.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{where} is {size:,} bytes, more than the {MAX_CONFIG_BYTES:,} a driftloop config "
            "may have; pass the YAML config file (a few KiB), not a data file."
        )
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{where} is not valid YAML: it is not UTF-8 text ({e}). Save it "
                          "as UTF-8.") from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node, MAX_CONFIG_NODES)
        if size < 0:
            raise ConfigError(f"{where} has an alias (*name) inside the very node its anchor "
                              "(&name) marks, a structure without end; remove that alias.")
        if size > MAX_CONFIG_NODES:
            raise ConfigError(
                f"{where} expands to more than {MAX_CONFIG_NODES:,} values once its aliases "
                "(*name) are followed; a driftloop config is far smaller. Write the values "
                "out or use fewer nested aliases."
            )
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        raise ConfigError(f"{where} is not valid YAML: {e}") from None
    except RecursionError:
        raise ConfigError(f"{where} nests its values too deeply to be a driftloop config; "
                          "flatten it.") from None
    finally:
        loader.dispose()


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
        loaded = _read_yaml(p)
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
