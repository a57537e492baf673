"""Paths and formats (issue 7, item 5): sources read only where they are pointed, nothing is
unpickled outside the registry (and the authenticated checkpoint), and config files are parsed
safely.

* A drop folder reads only regular files directly inside it: links that leave the folder (or
  loop), names and patterns with path parts, files swapped for a link after listing, pipes
  -- each refused with a clear error, or skipped with ``on_bad_file="skip"``, and never read.
  (Symlinks to outside, ``../*.csv`` patterns and ``../`` names passed to ``mark_processed`` /
  ``commit`` are covered in ``tests/monitors/test_drop_folder.py``.)
* A :class:`FileSource` has no folder: its configured *file* is the boundary. It must be a
  regular file (a pipe would block the reader forever).
* The prediction-log source only takes database URIs.
* ``load_config`` refuses Python tags, alias bombs, recursive aliases, deep nesting, non-UTF-8
  and oversized files, with a :class:`ConfigError` naming the file.
"""

from __future__ import annotations

import ast
import json
import os
import re
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pandas as pd
import pydantic
import pytest

from flows.config import MAX_CONFIG_BYTES, MAX_CONFIG_NODES, ConfigError, load_config
from monitors.errors import SourceError
from monitors.sources import (
    DropFolderSource,
    DropFolderSourceConfig,
    FileSource,
    FileSourceConfig,
    PredictionLogSourceConfig,
    make_source,
)

REPO = Path(__file__).resolve().parents[2]
SECRET = "password,hunter2,1\n"  # what must never show up in a batch


def drop_folder(tmp_path: Path) -> tuple[Path, Path]:
    """(the drop folder, a file outside it whose content must never be read)."""
    folder = tmp_path / "drop"
    folder.mkdir()
    outside = tmp_path / "secret.csv"
    outside.write_text("x,c,y\n" + SECRET)
    return folder, outside


def good(folder: Path, name: str = "good.csv", at: int = 1_700_000_000) -> Path:
    path = folder / name
    pd.DataFrame({"x": [1.0, 2.0], "c": ["a", "b"], "y": [0, 1]}).to_csv(path, index=False)
    os.utime(path, (at, at))
    return path


def source(folder: Path, **kw: Any) -> DropFolderSource:
    return DropFolderSource(DropFolderSourceConfig(path=folder, target="y", min_age_seconds=0,
                                                   **kw))


def assert_never_read(src: DropFolderSource) -> None:
    """Only good.csv's two rows come out, and the secret is in no record."""
    frame = src.pending().frame
    assert frame["x"].tolist() == [1.0, 2.0]
    assert "hunter2" not in frame.to_csv()
    assert "hunter2" not in json.dumps(src.records)


# ------------------------------------------------------------------------------------------
# Drop folder: only the folder's own regular files
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make_link",
    [
        pytest.param(lambda folder, outside: (folder / "a.csv").symlink_to(outside.parent),
                     id="link to the parent folder"),
        pytest.param(lambda folder, outside: (folder / "a.csv").symlink_to(
            folder / ".." / outside.name), id="relative link with .."),
        pytest.param(lambda folder, outside: (
            (folder / "hop.csv.part").symlink_to(outside), (folder / "a.csv").symlink_to(
                folder / "hop.csv.part")), id="chain of links through the folder"),
        pytest.param(lambda folder, outside: (folder / "a.csv").symlink_to(
            outside.parent / "missing.csv"), id="dangling link outside"),
        pytest.param(lambda folder, outside: (
            (folder / "a.csv").symlink_to(folder / "b.csv"),
            (folder / "b.csv").symlink_to(folder / "a.csv")), id="loop of links"),
    ],
)
def test_links_that_leave_the_folder_are_refused_or_skipped_never_read(
    tmp_path: Path, make_link: Any
) -> None:
    folder, outside = drop_folder(tmp_path)
    make_link(folder, outside)
    good(folder)
    with pytest.raises(SourceError, match=r"a.csv is a link .*(outside the drop folder|cannot "
                                          r"be resolved).*drop the file itself"):
        source(folder).pending()
    assert_never_read(source(folder, on_bad_file="skip"))


def test_names_with_dots_are_plain_names_and_hidden_names_are_never_read(tmp_path: Path) -> None:
    folder, _ = drop_folder(tmp_path)
    good(folder, "a..b.csv")  # '..' inside a name is no path part
    good(folder, "..csv", at=1_700_000_001)  # hidden: starts with '.'
    good(folder, ".driftloop-processed.json.csv", at=1_700_000_002)
    src = source(folder)
    assert [f.name for f in src.pending().files] == ["a..b.csv"]


@pytest.mark.parametrize("pattern", ["../*.csv", "/etc/*.csv", "sub/*.csv", "..\\*.csv",
                                     "*/../*.csv", ""])
def test_patterns_with_path_parts_are_refused_by_the_config(pattern: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="not plain file-name globs|patterns"):
        DropFolderSourceConfig(path="drop", target="y", patterns=(pattern,))


def test_a_file_swapped_for_an_outside_link_after_listing_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, outside = drop_folder(tmp_path)
    target = good(folder, "a.csv")
    listed = DropFolderSource._candidates

    def list_then_swap(self: DropFolderSource) -> list[tuple[str, os.stat_result]]:
        found = listed(self)
        target.unlink()
        target.symlink_to(outside)  # a race: the folder changes between listing and reading
        return found

    monkeypatch.setattr(DropFolderSource, "_candidates", list_then_swap)
    with pytest.raises(SourceError, match=r"a.csv resolves to .*secret.csv, outside the drop"):
        source(folder).pending()
    skipping = source(folder, on_bad_file="skip").pending()
    assert skipping.files == () and len(skipping) == 0


def test_a_tampered_ledger_cannot_make_history_read_outside(tmp_path: Path) -> None:
    folder, _ = drop_folder(tmp_path)
    good(folder)
    src = source(folder)
    assert len(list(src.batches(10))) == 1
    ledger = folder / ".driftloop-processed.json"
    data = json.loads(ledger.read_text())
    data["files"].append({**data["files"][0], "name": "../secret.csv"})
    ledger.write_text(json.dumps(data))
    with pytest.raises(SourceError, match=r"'../secret.csv' is not a plain file name"):
        source(folder).history(100)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_pipes_are_never_opened(tmp_path: Path) -> None:
    """Opening a pipe for reading blocks until someone writes: a pipe named like a data file
    would hang the reader forever."""
    folder, _ = drop_folder(tmp_path)
    os.mkfifo(folder / "a.csv")
    good(folder)
    assert [f.name for f in source(folder).pending().files] == ["good.csv"]
    with pytest.raises(SourceError, match="is not a file"):
        FileSource(FileSourceConfig(path=folder / "a.csv", target="y"))


# ------------------------------------------------------------------------------------------
# Prediction log: database URIs only
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("/etc/passwd", "must be a SQLAlchemy database URI"),
        ("../predictions.db", "must be a SQLAlchemy database URI"),
        ("file:///etc/passwd", "'file' is not one"),
        ("http://evil.example/log", "'http' is not one"),
        ("s3://bucket/predictions.db", "'s3' is not one"),
        ("", "at least 1 character"),
    ],
)
def test_the_prediction_log_source_takes_only_database_uris(uri: str, message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=re.escape(message)):
        PredictionLogSourceConfig(uri=uri)


def test_a_short_password_is_masked_without_mangling_the_message(tmp_path: Path) -> None:
    """Masking replaced every 'p' of the message when the password was 'p'."""
    pytest.importorskip("sqlalchemy")
    cfg = PredictionLogSourceConfig(uri="postgresql://u:p@127.0.0.1:1/db")
    with pytest.raises(SourceError) as info:
        make_source(cfg)
    message = str(info.value)
    assert message.startswith("Could not open the prediction log postgresql://u:***@127.0.0.1")
    assert "PredictionLogSourceConfig.uri" in message


# ------------------------------------------------------------------------------------------
# Config files
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.system ['touch {marker}']",
        "!!python/object/new:os.system ['touch {marker}']",
        "!!python/name:os.system",
        "!!python/module:os",
        "!!python/object:pathlib.Path {{}}",
    ],
)
def test_python_tags_are_refused_and_never_run(tmp_path: Path, tag: str) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "cfg.yaml"
    path.write_text(f"window:\n  size: {tag.format(marker=marker)}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"cfg.yaml' is not valid YAML: could not determine "
                                          r"a constructor for the tag"):
        load_config(path)
    assert not marker.exists()


def _laughs(levels: int, width: int = 9) -> str:
    lines = ["lol0: &lol0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"lol{i}: &lol{i} [" + ", ".join([f"*lol{i - 1}"] * width) + "]")
    return "\n".join(lines) + f"\nwindow: *lol{levels - 1}\n"


def test_an_alias_bomb_is_refused_quickly_in_little_memory(tmp_path: Path) -> None:
    """Nine levels of nine aliases: 9**9 (387 million) values once expanded. PyYAML builds the
    shared structure fast, but validating or printing it never ends."""
    path = tmp_path / "laughs.yaml"
    path.write_text(_laughs(9), encoding="utf-8")
    tracemalloc.start()
    began = time.perf_counter()
    try:
        with pytest.raises(ConfigError, match=rf"laughs.yaml' expands to more than "
                                              rf"{MAX_CONFIG_NODES:,} values .*aliases"):
            load_config(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - began < 2.0
    assert peak < 20 * 2**20


def test_small_anchors_and_aliases_still_work(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text("window: &w {size: 50, warmup_rows: 100}\n"
                    "validation: {on_bad_rows: quarantine}\n", encoding="utf-8")
    assert load_config(path).window.size == 50
    small = tmp_path / "small.yaml"
    small.write_text(_laughs(2, width=3), encoding="utf-8")  # 3 + 9 values: fine to expand
    with pytest.raises(ConfigError, match=r"lol0: unknown key"):  # ... but not a config key
        load_config(small)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("window: &a [*a]\n", "an alias .* inside the very node its anchor .* marks"),
        ("window: &a {size: *a}\n", "an alias .* inside the very node its anchor .* marks"),
        ("window: " + "[" * 5000 + "]" * 5000 + "\n", "nests its values too deeply"),
        ("window: {size: 10}\n---\nwindow: {size: 20}\n", "not valid YAML: expected a single"),
    ],
    ids=["recursive list", "recursive mapping", "deep nesting", "two documents"],
)
def test_structures_without_end_and_extra_documents_are_refused(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert "cfg.yaml" in str(info.value)


def test_a_huge_or_non_utf8_config_file_is_refused(tmp_path: Path) -> None:
    huge = tmp_path / "huge.yaml"
    huge.write_bytes(b"# " + b"x" * MAX_CONFIG_BYTES + b"\nwindow: {size: 10}\n")
    with pytest.raises(ConfigError, match=r"huge.yaml' is 1,048,\d+ bytes, more than the "
                                          r"1,048,576 .*not a data file"):
        load_config(huge)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("state_dir: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin.yaml' is not valid YAML: it is not UTF-8 "
                                          r"text .*Save it as UTF-8"):
        load_config(latin)


def test_a_long_bad_value_is_shown_shortened(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text("window: [" + ", ".join(["1"] * 5000) + "]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert len(str(info.value)) < 600 and "..." in str(info.value)


# ------------------------------------------------------------------------------------------
# Nothing unpickled but from the registry (and the authenticated checkpoint)
# ------------------------------------------------------------------------------------------

#: Calls that turn bytes from a file or URI into live objects (running code on the way).
_UNSAFE_CALLS = {
    "pickle.load", "pickle.loads", "pickle.Unpickler", "_pickle.load", "_pickle.loads",
    "cloudpickle.load", "cloudpickle.loads", "dill.load", "dill.loads", "joblib.load",
    "torch.load", "pandas.read_pickle", "shelve.open", "marshal.load", "marshal.loads",
    "yaml.load", "yaml.unsafe_load", "yaml.full_load", "yaml.load_all", "yaml.unsafe_load_all",
    "skops.io.load",
}
_LOAD_MODEL = re.compile(r"^mlflow(\.\w+)*\.load_model$")

#: Where such a call is allowed, and why.
ALLOWED = {
    ("models/registry.py", "mlflow.pyfunc.load_model"):
        "the registry: loads models:/<name>/<version> URIs it resolved itself",
    ("monitors/checkpoint.py", "pickle.loads"):
        "checkpoints of the state folder, unpickled only after their HMAC-SHA256 checks out "
        "against the folder's own random key",
}


def _imports(tree: ast.Module) -> dict[str, str]:
    """Local name -> the dotted name it was imported as (``pd`` -> ``pandas``)."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = (
                    alias.name if alias.asname else alias.name.split(".")[0]
                )
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _dotted(func: ast.expr, imports: dict[str, str]) -> str | None:
    parts: list[str] = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if not isinstance(func, ast.Name) or func.id not in imports:
        return None  # a method of a local object, e.g. registry.load_model(...)
    return ".".join([imports[func.id], *reversed(parts)])


def _unsafe(call: ast.Call, name: str) -> bool:
    if name in _UNSAFE_CALLS or _LOAD_MODEL.match(name):
        if name in ("yaml.load", "yaml.load_all"):  # safe with the SafeLoader
            loader = next((k.value for k in call.keywords if k.arg == "Loader"),
                          call.args[1] if len(call.args) > 1 else None)
            return not (isinstance(loader, ast.Attribute) and loader.attr in
                        ("SafeLoader", "CSafeLoader"))
        return True
    if name in ("numpy.load", "numpy.lib.format.read_array"):
        return any(k.arg == "allow_pickle" and not (isinstance(k.value, ast.Constant)
                                                    and k.value.value is False)
                   for k in call.keywords)
    return False


def unsafe_loads() -> list[tuple[str, int, str]]:
    found = []
    for package in ("monitors", "models", "flows", "deploy"):
        for path in sorted((REPO / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            imports = _imports(tree)
            for node in ast.walk(tree):
                if isinstance(node, ast.Call):
                    name = _dotted(node.func, imports)
                    if name is not None and _unsafe(node, name):
                        found.append((path.relative_to(REPO).as_posix(), node.lineno, name))
    return found


def test_the_scanner_sees_aliased_and_from_imports() -> None:
    code = ("import pickle as pk\nfrom joblib import load\nimport numpy as np\nimport yaml\n"
            "import mlflow\npk.loads(b'')\nload('m')\nnp.load('a', allow_pickle=True)\n"
            "np.load('b')\nyaml.load(t, Loader=yaml.SafeLoader)\nyaml.load(t)\n"
            "mlflow.sklearn.load_model('m')\nregistry.load_model(3)\n")
    tree = ast.parse(code)
    imports = _imports(tree)
    flagged = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _dotted(node.func, imports)
            if name is not None and _unsafe(node, name):
                flagged.append(node.lineno)
    assert sorted(flagged) == [6, 7, 8, 11, 12]


def test_nothing_is_unpickled_outside_the_registry_and_the_checkpoint() -> None:
    found = unsafe_loads()
    unexpected = [f for f in found if (f[0], f[2]) not in ALLOWED]
    assert not unexpected, (
        f"Calls that unpickle (or load code) outside the allowed places: {unexpected}. Load "
        "models through models.registry (models:/ URIs), or add the place to ALLOWED with the "
        "reason it is safe."
    )
    assert {(f[0], f[2]) for f in found} <= set(ALLOWED)
    assert ("models/registry.py", "mlflow.pyfunc.load_model") in {(f[0], f[2]) for f in found}
