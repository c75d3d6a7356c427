"""Ctrl-C during training, exactly: wherever it lands, training stops, and what is on disk and
what the user is told agree.

Python raises KeyboardInterrupt wherever the main thread is when SIGINT arrives. Inside a
finaliser (a `__del__` or a weakref callback) it is printed as "Exception ignored" and lost,
and TensorFlow runs finalisers all through training (it deletes graphs in `UniquePtr.__del__`):
a Ctrl-C that landed there was lost, and training ran on to its last epoch. So while training,
SIGINT is recorded as well as raised, and the training loop checks the record at safe points
(after every batch, and before every epoch), where a lost interrupt is raised again.
Inside a `critical()` section (writing a checkpoint, saving the model) SIGINT is only recorded,
so the write completes; a second Ctrl-C raises at once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_state = {"installed": False, "requested": False, "critical": 0}


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on Ctrl-C; `resumable_epoch` is the last epoch its checkpoint holds
    (None: no checkpoint, nothing to resume)."""

    def __init__(self, resumable_epoch: int | None):
        super().__init__(resumable_epoch)
        self.resumable_epoch = resumable_epoch


def _on_sigint(signum, frame):
    again = _state["requested"]
    _state["requested"] = True
    if again or not _state["critical"]:
        raise KeyboardInterrupt


@contextmanager
def catching() -> Iterator[None]:
    """Record every Ctrl-C while inside. Re-entrant; outside the main thread (where Python
    allows no signal handler) nothing changes."""
    if _state["installed"] or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _on_sigint)
    _state.update(installed=True, requested=False)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _state.update(installed=False, requested=False)


@contextmanager
def critical() -> Iterator[None]:
    """A first Ctrl-C inside is only recorded: the section completes (see `requested`)."""
    _state["critical"] += 1
    try:
        yield
    finally:
        _state["critical"] -= 1


def requested() -> bool:
    """Whether a Ctrl-C was pressed and not yet acted on."""
    return _state["requested"]


def check() -> None:
    """A safe point: raise KeyboardInterrupt if Ctrl-C was pressed (again, if it was lost)."""
    if _state["requested"]:
        raise KeyboardInterrupt


@contextmanager
def stopping(resumable_epoch: Callable[[], int | None]) -> Iterator[None]:
    """Training under `catching()`: a KeyboardInterrupt leaving it becomes TrainingInterrupted
    naming `resumable_epoch()`, and counts as acted on."""
    with catching():
        try:
            yield
        except KeyboardInterrupt:
            _state["requested"] = False
            raise TrainingInterrupted(resumable_epoch()) from None


def stop_callback():
    """A Keras callback for the safe points of model.fit: after a batch, and before an epoch
    (so after the last one's checkpoint and history)."""
    import keras

    class StopOnCtrlC(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            check()

        def on_epoch_begin(self, epoch, logs=None):
            check()

    return StopOnCtrlC()
