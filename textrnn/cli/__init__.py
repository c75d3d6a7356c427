"""The `textrnn` command line: one module per command, each a thin layer over plain
functions (`_util` holds the app, shared options and the error handler)."""

import os

# NumPy's OpenBLAS threads busy-wait and collapse when the cores are shared; the NumPy engine
# runs the two directions of a BiRNN in threads of its own instead. Must precede numpy's import.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# Importing a command's module registers it; help lists them in this order.
# isort: off
from textrnn.cli import (  # noqa: E402, F401
    train, pretrain, compare, evaluate, predict, convert, info, vectors, serve,
)
# isort: on
from textrnn.cli._util import app  # noqa: E402

__all__ = ["app", "main"]


def main():
    from textrnn import api
    from textrnn.cli._util import mark_start

    mark_start()  # `train --autotune`'s budget counts from here
    api.keras_extras = False  # this process is textrnn's own: see api.KERAS_EXTRAS
    app()
