"""`python ctrl_c_at.py MOMENT textrnn-arguments...`: textrnn with a Ctrl-C landing at one
exact moment of training, as a user's can. The process sends itself SIGINT from inside that
moment, so the tests need no timing; the moments are the windows where an interrupt used to
be lost or to leave a run half-done."""

import os
import signal
import sys

from textrnn import bundle
from textrnn.cli import main
from textrnn.predict import predictor
from textrnn.train import checkpoint


def ctrl_c() -> None:
    os.kill(os.getpid(), signal.SIGINT)


class Finaliser:
    """Receives the Ctrl-C in its `__del__`, as TensorFlow's graph deleters do in training:
    Python prints a KeyboardInterrupt raised there as "Exception ignored" and drops it."""

    def __del__(self):
        ctrl_c()


def on_call(owner, name: str, number: int, action=ctrl_c, path_name: str | None = None):
    """Run `action` at the start of the `number`th call of `owner.name` (counting only calls
    whose first argument is a path named `path_name`, if given)."""
    original, calls = getattr(owner, name), [0]

    def wrapper(*args, **kwargs):
        if path_name is None or os.path.basename(str(args[0])) == path_name:
            calls[0] += 1
            if calls[0] == number:
                action()
        return original(*args, **kwargs)

    setattr(owner, name, wrapper)


def finaliser() -> None:
    Finaliser()  # dropped at once


MOMENTS = {
    # epoch 1's validation pass: no epoch finished yet
    "epoch-1": lambda: on_call(predictor, "evaluate", 1),
    # epoch 2's validation pass, the interrupt lost in a finaliser
    "finaliser": lambda: on_call(predictor, "evaluate", 2, finaliser),
    # epoch 2's checkpoint, between writing the weights and the optimizer state
    "checkpoint": lambda: on_call(checkpoint, "_atomic", 2, path_name=checkpoint.OPTIMIZER),
    # the validation pass after the last of 3 epochs, before the model is saved
    "after-fit": lambda: on_call(predictor, "evaluate", 4),
    # the new model about to replace the previous one
    "saving": lambda: on_call(bundle, "_replace", 1),
}

if __name__ == "__main__":
    moment = sys.argv.pop(1)
    MOMENTS[moment]()
    main()
