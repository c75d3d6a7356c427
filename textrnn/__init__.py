"""textrnn: recurrent networks for text classification and slot filling, from the shell and
from Python.

    import textrnn
    model = textrnn.load("textrnn-model")
    model.predict(["Arrive Taipei on November 2nd"])

The API's names come from `textrnn.api`, imported on first use: `import textrnn` alone
imports neither TensorFlow nor pandas.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING

from textrnn.errors import BundleError, DataError, TextrnnError, TextrnnWarning, UsageError

__version__ = "0.1.0"
__all__ = ["BundleError", "DataError", "Model", "TextrnnError", "TextrnnWarning", "UsageError",
           "evaluate", "load", "pretrain", "train"]
_API = ("Model", "evaluate", "load", "pretrain", "train")

if TYPE_CHECKING:
    from textrnn.api import Model, evaluate, load, pretrain, train


class _Package(types.ModuleType):
    """`textrnn.train` stays the API's function once the `textrnn/train/` subpackage is
    imported too (importing binds a subpackage to its parent's attribute of that name; the
    subpackage is still in sys.modules, where its imports find it)."""

    def __setattr__(self, name: str, value) -> None:
        if not (name in _API and isinstance(value, types.ModuleType)):
            super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str):
    if name in _API:
        from textrnn import api

        return getattr(api, name)
    raise AttributeError(f"module 'textrnn' has no attribute {name!r}")
