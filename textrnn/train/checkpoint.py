"""Epoch checkpoints, so that `textrnn train --resume` continues after a kill.

After every epoch the weights, the optimizer's state, the early-stopping state and the history so
far go into a hidden directory beside the model directory; each file is written under a temporary
name and renamed, so a kill mid-write leaves the previous epoch's checkpoint readable. The
checkpoint remembers the data fingerprint and the options it was made with, and refuses to resume
a different run.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import keras
import numpy as np

from textrnn.errors import UsageError
from textrnn.train import interrupts

STATE = "state.json"
WEIGHTS = "model.weights.h5"
BEST = "best.weights.h5"
OPTIMIZER = "optimizer.npz"


def directory_for(out: Path) -> Path:
    return out.parent / f".{out.name}.checkpoint"


def run_identity(data_sha256: str, valid_sha256: str | None, spec, config) -> dict:
    """What a checkpoint must match to be resumed: the data and every option (a spec and a
    config dataclass) except those a resumed run may change."""
    return {"data_sha256": data_sha256, "valid_sha256": valid_sha256,
            "options": {**asdict(spec), **asdict(config), "epochs": None, "patience": None,
                        "save_on_interrupt": None}}


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """EarlyStopping whose counters can be restored after `on_train_begin` resets them."""

    def __init__(self, restored: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.restored = restored

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.restored:
            self.wait = self.restored["wait"]
            self.best = self.restored["best"]
            self.best_epoch = self.restored["best_epoch"]
            self.best_weights = self.restored.get("best_weights")


class EpochCheckpoint(keras.callbacks.Callback):
    """Writes the checkpoint after every epoch; `saved_epoch` is the last one on disk (the
    epoch resumed from, until this run has written one). A first Ctrl-C waits for the write."""

    def __init__(self, directory: Path, identity: dict, early_stopping=None, history=None,
                 saved_epoch: int | None = None):
        super().__init__()
        self.directory = directory
        self.identity = identity
        self.early_stopping = early_stopping
        self.history = history or {}
        self.saved_epoch = saved_epoch

    def on_epoch_end(self, epoch, logs=None):
        with interrupts.critical():
            self._write(epoch, logs)
            self.saved_epoch = epoch + 1

    def _write(self, epoch: int, logs: dict | None) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        _atomic(self.directory / WEIGHTS, lambda path: self.model.save_weights(path))
        variables = {f"v{i}": np.asarray(v) for i, v in enumerate(self.model.optimizer.variables)}
        _atomic(self.directory / OPTIMIZER, lambda path: np.savez(path, **variables))
        state = {**self.identity, "epoch": epoch + 1, "history": self.history}
        stopper = self.early_stopping
        if stopper is not None:
            state["early_stopping"] = {"wait": stopper.wait, "best": _finite(stopper.best),
                                       "best_epoch": stopper.best_epoch}
            if stopper.best_weights is not None and stopper.wait == 0:
                _atomic(self.directory / BEST, lambda path: self.model.save_weights(path))
        _atomic(self.directory / STATE,
                lambda path: Path(path).write_text(json.dumps(state), encoding="utf-8"))


def _finite(value) -> float | None:
    return float(value) if value is not None and np.isfinite(float(value)) else None


def _atomic(path: Path, write) -> None:
    # Keras insists on the real suffix, so the temporary name keeps it.
    temporary = path.with_name(f"tmp-{path.name}")
    write(str(temporary))
    os.replace(temporary, path)


def resume(directory: Path, identity: dict, model) -> dict:
    """Load a checkpoint into `model` (compiled); returns the saved state with early-stopping
    counters ready for ResumableEarlyStopping."""
    try:
        state = json.loads((directory / STATE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"--resume: no checkpoint at {directory} (nothing to resume)") from None
    changed = [key for key, value in identity.items() if state.get(key) != value]
    if changed:
        raise UsageError(f"--resume: the checkpoint at {directory} was made with different "
                         f"{' and '.join(changed)}; drop --resume to start afresh")
    model.load_weights(directory / WEIGHTS)
    optimizer = model.optimizer
    optimizer.build(model.trainable_variables)
    with np.load(directory / OPTIMIZER, allow_pickle=False) as saved:
        for i, variable in enumerate(optimizer.variables):
            variable.assign(saved[f"v{i}"])
    stopper = state.get("early_stopping")
    if stopper is not None and (directory / BEST).exists():
        current = model.get_weights()
        model.load_weights(directory / BEST)
        stopper["best_weights"] = model.get_weights()
        model.set_weights(current)
    return state
