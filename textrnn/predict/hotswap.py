"""The served model and its replacement while serving.

`textrnn train` replaces a model directory in one rename, so a changed directory is a complete
new model. `ModelSlot` notices the change (the files' identities, polled), loads the new model
beside the old one and switches with a single assignment: a batch already running keeps the
predictor it started with, the next batch gets the new one. A model that fails to load leaves
the old one in place; the reason is kept for `/status` until a load succeeds.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from textrnn import bundle
from textrnn.bundle import fingerprint
from textrnn.errors import TextrnnError, UsageError
from textrnn.predict.predictor import Predictor, missing_numpy_export

WATCHED = (bundle.META_FILE, bundle.GRAPH_FILE, bundle.WEIGHTS_FILE)


@dataclass(frozen=True)
class Loaded:
    """A model that serves: its predictor and what /status says about it."""

    predictor: Predictor
    version: int  # 1 for the model loaded at start, +1 per reload
    fingerprint: str  # the first hex digits of textrnn.json's sha256
    loaded_at: float
    signature: tuple


def load_numpy(directory: str | Path, engine: str = "numpy") -> Predictor:
    """The model's Predictor on the NumPy engine (or 'onnx': NumPy with ONNX Runtime's
    recurrent kernels); a model without the export is refused."""
    missing = missing_numpy_export(bundle.read_meta(directory))
    if missing:
        raise UsageError(f"{directory}: this model has no NumPy export ({missing}); the server "
                         "runs without TensorFlow: retrain it with this textrnn")
    return Predictor.load(str(directory), engine)


def signature(directory: Path) -> tuple:
    """What changes when the model files are replaced (inode, size and mtime of each)."""
    marks = []
    for name in WATCHED:
        try:
            info = os.stat(directory / name)
        except OSError:
            marks.append(None)
            continue
        marks.append((info.st_ino, info.st_size, info.st_mtime_ns))
    return tuple(marks)


class ModelSlot:
    def __init__(self, directory: str | Path, predictor: Predictor | None = None,
                 engine: str = "numpy"):
        self.directory = Path(directory)
        self.engine = engine
        self.current: Loaded | None = None
        self.error: str | None = None  # why the last load failed, until one succeeds
        self._failed: tuple | None = None  # the signature that failed, not retried by polling
        if predictor is not None:
            self._install(predictor, signature(self.directory), fingerprint(self.directory))

    def changed(self) -> bool:
        """Whether the directory holds files other than those served (and not known bad)."""
        now = signature(self.directory)
        served = self.current.signature if self.current else None
        return now != served and now != self._failed

    def reload(self) -> bool:
        """Load the directory's model and switch to it; False (old model kept, `error` set)
        if it does not load. Blocking: call it off the event loop."""
        before = signature(self.directory)
        try:
            predictor = load_numpy(self.directory, self.engine)
            digest = fingerprint(self.directory)
        except (TextrnnError, OSError) as error:
            self.error, self._failed = str(error), before
            return False
        self._install(predictor, before, digest)
        return True

    def _install(self, predictor: Predictor, mark: tuple, digest: str) -> None:
        version = self.current.version + 1 if self.current else 1
        self.current = Loaded(predictor, version, digest, time.time(), mark)
        self.error, self._failed = None, None
