"""The stage boundaries of the package: what each stage may import, checked in a fresh
interpreter (importing a module must not pull in what its stage never uses)."""

import subprocess
import sys

import pytest

HEAVY = ("tensorflow", "keras", "pandas", "optuna")  # optuna: `train --autotune` only
# module -> what importing it must never import (top-level packages or textrnn subpackages)
BOUNDARIES = {
    # Predicting: no TensorFlow, Keras, pandas, training or model-building code.
    "textrnn.predict.predictor": (*HEAVY, "textrnn.train", "textrnn.nn"),
    "textrnn.predict.runtime": (*HEAVY, "textrnn.train", "textrnn.nn"),
    "textrnn.predict.lines": (*HEAVY, "textrnn.train", "textrnn.nn"),
    "textrnn.predict.decode": (*HEAVY, "textrnn.train", "textrnn.nn"),
    "textrnn.predict.server": (*HEAVY, "textrnn.train", "textrnn.nn"),
    "textrnn.predict.page": (*HEAVY, "textrnn.train", "textrnn.nn"),
    # Reading, tokenizing and scoring: never Keras (pandas only inside a table reader).
    "textrnn.data.read": (*HEAVY, "textrnn.nn", "textrnn.train", "textrnn.predict"),
    "textrnn.data.shards": (*HEAVY, "textrnn.nn", "textrnn.train", "textrnn.predict"),
    "textrnn.data.vectors": (*HEAVY, "textrnn.nn", "textrnn.train", "textrnn.predict"),
    "textrnn.data.align": (*HEAVY, "textrnn.nn", "textrnn.train", "textrnn.predict"),
    "textrnn.data.markup": (*HEAVY, "textrnn.nn", "textrnn.train", "textrnn.predict"),
    "textrnn.data.rasa": (*HEAVY, "textrnn.nn", "textrnn.train", "textrnn.predict"),
    "textrnn.data.spans": (*HEAVY, "textrnn.nn", "textrnn.train", "textrnn.predict"),
    "textrnn.data.write": (*HEAVY, "textrnn.nn", "textrnn.train", "textrnn.predict"),
    "textrnn.report": (*HEAVY, "textrnn.nn", "textrnn.train"),
    "textrnn.text": (*HEAVY, "textrnn.data", "textrnn.nn", "textrnn.train", "textrnn.predict"),
    "textrnn.metrics": (*HEAVY, "textrnn.nn", "textrnn.train", "textrnn.predict"),
    "textrnn.bundle": (*HEAVY, "textrnn.nn", "textrnn.train", "textrnn.predict"),
    "textrnn.pretrained": (*HEAVY, "textrnn.nn", "textrnn.train", "textrnn.predict"),
    "textrnn.data.plain": (*HEAVY, "textrnn.nn", "textrnn.train", "textrnn.predict"),
    # The Python API: `import textrnn` loads it on first use, and it imports nothing heavy.
    "textrnn": (*HEAVY, "textrnn.api", "textrnn.nn", "textrnn.train", "textrnn.predict"),
    "textrnn.api": (*HEAVY, "textrnn.nn", "textrnn.train", "textrnn.predict"),
    # The command line answers --help and argument errors without the heavy libraries.
    "textrnn.cli": (*HEAVY, "textrnn.nn", "textrnn.train"),
}

PROBE = """
import sys, importlib
importlib.import_module({module!r})
forbidden = {forbidden!r}
print(sorted(m for m in sys.modules
             if any(m == f or m.startswith(f + '.') for f in forbidden)))
"""


@pytest.mark.parametrize("module", sorted(BOUNDARIES))
def test_importing_a_stage_stays_inside_its_boundary(module):
    code = PROBE.format(module=module, forbidden=BOUNDARIES[module])
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"{module} imports {result.stdout.strip()}"


def test_the_probe_sees_a_forbidden_import():
    """The check above can fail: the model factory's package does import Keras when built."""
    code = PROBE.format(module="textrnn.nn.layers", forbidden=("keras",))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert "keras" in result.stdout
