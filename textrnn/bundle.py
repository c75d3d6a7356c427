"""The model directory: `textrnn.json` beside the model's files, written atomically, read safely.

Saving writes everything into a hidden sibling directory and renames it into place, so an
interrupted run never leaves a half-written model where a good one was. Reading validates the
JSON first, and `check_model_file` refuses any layer that is not a Keras built-in or one of
ours before Keras (in safe mode) sees `model.keras`: a model directory never runs code. What
is inside the files is the business of `textrnn.nn.saving` (Keras) and
`textrnn.predict.runtime` (NumPy); this module knows only the directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from textrnn.errors import BundleError

META_FILE = "textrnn.json"
MODEL_FILE = "model.keras"
GRAPH_FILE = "graph.json"  # the model for the NumPy engine: layers in order...
WEIGHTS_FILE = "weights.npz"  # ...and their weights
FORMAT_VERSION = 1
AUTOTUNE_FILE = "autotune.json"  # how `train --autotune` chose the model: every trial
PRETRAINED_FORMAT = "textrnn-pretrained"  # textrnn.json's format in a pretrained directory
_REQUIRED = {"format": str, "format_version": int, "task": str, "tokenizer": dict,
             "vocab": list, "labels": list, "tags": list, "model": dict}


def save(directory: str | Path, meta: dict, write_model: Callable[[Path], dict],
         extra_files: Callable[[Path], object] | None = None) -> Path:
    """Write the model directory atomically; an existing textrnn model there is replaced.

    `write_model(folder)` writes the model's own files (textrnn.nn.saving does: model.keras
    and the NumPy export) and returns what textrnn.json should add about them.
    `extra_files(folder)` may add files (e.g. plots) to the folder before it goes into place,
    so they appear together with the model; if it raises, nothing is replaced.
    """
    target = check_target(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        meta = {**meta, **write_model(staging)}
        (staging / META_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n",
                                         encoding="utf-8")
        if extra_files is not None:
            extra_files(staging)
        _replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def check_target(directory: str | Path) -> Path:
    """Refuse an output that save() would have to destroy (a file, or a folder holding
    something else than a textrnn directory); commands call it before any work."""
    target = Path(directory)
    if target.exists() and not (target / META_FILE).exists():
        if not target.is_dir() or any(target.iterdir()):
            raise BundleError(f"{target}: exists and is not a textrnn directory; choose "
                              "another --out")
    return target


def _replace(staging: Path, target: Path) -> None:
    """Put `staging` where `target` is; a kill at any moment leaves one complete model there."""
    if not target.exists():
        os.rename(staging, target)
        return
    if _exchange(staging, target):  # one atomic step: staging now holds the old model
        shutil.rmtree(staging, ignore_errors=True)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
    os.rename(target, retired / "model")
    os.rename(staging, target)
    shutil.rmtree(retired, ignore_errors=True)


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths atomically with Linux' renameat2(RENAME_EXCHANGE); False if unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second),
                     rename_exchange) == 0


def read_json(directory: str | Path, what: str, hint: str) -> dict:
    """The JSON object in the textrnn.json of a `what` ("model directory", "pretrained
    directory"); `hint` says how to make one when there is none."""
    folder = Path(directory)
    if folder.is_file():
        raise BundleError(f"{folder}: a file, not a {what} (the folder that `textrnn train` "
                          "or `textrnn pretrain` writes)")
    if not folder.is_dir():
        raise BundleError(f"{folder}: no {what} here ({hint})")
    path = folder / META_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{folder}: not a textrnn {what} ({META_FILE} missing)") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BundleError(f"{path}: damaged ({error})") from None
    if not isinstance(meta, dict):
        raise BundleError(f"{path}: damaged (expected a JSON object)")
    return meta


def write_autotune(directory: str | Path, record: dict) -> None:
    """Write (or replace, in one step) the autotune.json of a model directory."""
    path = Path(directory) / AUTOTUNE_FILE
    temporary = path.with_name(f".{AUTOTUNE_FILE}.tmp")
    temporary.write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n",
                         encoding="utf-8")
    os.replace(temporary, path)


def read_autotune(directory: str | Path) -> dict | None:
    """The autotune.json of a model directory (None: trained without --autotune)."""
    path = Path(directory) / AUTOTUNE_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BundleError(f"{path}: damaged ({error})") from None
    if not isinstance(record, dict):
        raise BundleError(f"{path}: damaged (expected a JSON object)")
    return record


def read_meta(directory: str | Path) -> dict:
    """The validated contents of textrnn.json."""
    meta = read_json(directory, "model directory",
                     f"train one with `textrnn train DATA --out {directory}`, or pass --model")
    path = Path(directory) / META_FILE
    if meta.get("format") == PRETRAINED_FORMAT:
        raise BundleError(f"{directory}: a pretrained directory, not a model; train one from it "
                          f"with `textrnn train DATA --pretrained {directory}`")
    for key, kind in _REQUIRED.items():
        if not isinstance(meta.get(key), kind):
            raise BundleError(f"{path}: damaged (field '{key}' missing or not a {kind.__name__})")
    if meta["format"] != "textrnn":
        raise BundleError(f"{path}: not a textrnn model file")
    if meta["format_version"] > FORMAT_VERSION:
        raise BundleError(f"{path}: written by a newer textrnn (format {meta['format_version']}, "
                          f"this version reads up to {FORMAT_VERSION}); upgrade textrnn")
    _check_export(Path(directory), meta)
    return meta


def _check_export(folder: Path, meta: dict) -> None:
    """A NumPy export whose files are gone counts as none, so that prediction falls back to
    Keras (with its notice) rather than failing."""
    engine = meta.get("engine")
    if isinstance(engine, dict) and engine.get("numpy"):
        missing = [name for name in (GRAPH_FILE, WEIGHTS_FILE) if not (folder / name).is_file()]
        if missing:
            meta["engine"] = {"numpy": False, "reason": f"{' and '.join(missing)} missing"}


def check_model_file(path: Path) -> None:
    """Refuse a model.keras whose config names any class outside Keras and textrnn."""
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except FileNotFoundError:
        raise BundleError(f"{path}: missing") from None
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, UnicodeDecodeError):
        raise BundleError(f"{path}: damaged (not a Keras model archive)") from None
    config.pop("compile_config", None)  # never read: models load with compile=False
    for node in _walk(config):
        name = node.get("class_name")
        module = node.get("module") or ""
        registered = node.get("registered_name") or ""
        if name in ("Lambda", "__lambda__"):
            raise BundleError(f"{path}: contains a Lambda layer; refusing to load code")
        if (module and not module.startswith("keras")
                and not registered.startswith("textrnn>")):
            raise BundleError(f"{path}: contains a foreign class '{module}.{name}'; "
                              "refusing to load it")


def _walk(node):
    if isinstance(node, dict):
        if "class_name" in node:
            yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def fingerprint(directory: str | Path) -> str:
    """The first hex digits of textrnn.json's sha256: which model this is."""
    return hashlib.sha256((Path(directory) / META_FILE).read_bytes()).hexdigest()[:12]
