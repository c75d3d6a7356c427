"""A Keras model into a model directory and back: `model.keras` (safe mode) plus the NumPy
engine's export, inside the atomic directory that `textrnn.bundle` writes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from textrnn import bundle
from textrnn.errors import BundleError
from textrnn.predict import lookup


def save(directory: str | Path, model, meta: dict,
         extra_files: Callable[[Path], object] | None = None) -> Path:
    """Write `model` and `meta` as a model directory (see bundle.save for `extra_files`).
    Compiled lookup lists in `meta["lookups"]` go to their own file, with their summary in
    textrnn.json."""
    lookups = meta.get("lookups")

    def write_model(folder: Path) -> dict:
        from textrnn.nn.factory import layer_table

        model.save(folder / bundle.MODEL_FILE)
        # The layer table too, so that `textrnn info` reads it without TensorFlow.
        written = {"engine": _export_numpy(model, folder), "layers": layer_table(model)}
        if lookups is not None:
            lookups.save(folder)
            written["lookups"] = lookups.summary()
        return written

    return bundle.save(directory, meta, write_model, extra_files)


def _export_numpy(model, folder: Path) -> dict:
    """Write the NumPy engine's files when every layer has a NumPy twin; say which is used."""
    import numpy as np

    from textrnn.nn.export import UnsupportedLayer, export

    try:
        graph, weights = export(model)
    except UnsupportedLayer as error:
        return {"numpy": False, "reason": str(error)}
    (folder / bundle.GRAPH_FILE).write_text(json.dumps(graph), encoding="utf-8")
    np.savez(folder / bundle.WEIGHTS_FILE, **weights)
    return {"numpy": True}


def load(directory: str | Path):
    """(keras model, metadata) from a model directory; Keras safe mode, no compile."""
    meta = bundle.read_meta(directory)
    model_path = Path(directory) / bundle.MODEL_FILE
    bundle.check_model_file(model_path)
    import keras

    # Importing our layer modules registers their classes for safe-mode loading.
    import textrnn.nn.crf  # noqa: F401
    import textrnn.nn.jordan  # noqa: F401
    import textrnn.nn.layers  # noqa: F401
    import textrnn.nn.tree  # noqa: F401

    try:
        model = keras.models.load_model(model_path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many types for damaged archives
        raise BundleError(f"{model_path}: cannot load ({type(error).__name__}: "
                          f"{str(error).splitlines()[0] if str(error) else ''})") from None
    return model, lookup.with_lookups(meta, directory)

