"""Learning-rate schedules beyond Keras' own: a linear warm-up in front of any schedule
(`--warmup`), so that fresh heads on a pretrained encoder do not send large, random gradients
into it in the first updates (the warm-up half of ULMFiT's slanted triangular rate)."""

from __future__ import annotations

import functools


def with_warmup(learning_rate, updates: int):
    """`learning_rate` (a float or a Keras schedule), ramped up linearly over the first
    `updates` updates; unchanged when `updates` is 0."""
    if not updates:
        return learning_rate
    return _warmup_class()(learning_rate, updates)


@functools.cache
def _warmup_class():
    import keras

    @keras.saving.register_keras_serializable(package="textrnn")
    class Warmup(keras.optimizers.schedules.LearningRateSchedule):
        """rate(step) = after(step) x min(1, (step + 1) / updates)."""

        def __init__(self, after, updates: int):
            self.after = after
            self.updates = int(updates)

        def __call__(self, step):
            step = keras.ops.cast(step, "float32")
            after = self.after(step) if callable(self.after) else self.after
            return after * keras.ops.minimum(1.0, (step + 1.0) / self.updates)

        def get_config(self):
            after = (keras.saving.serialize_keras_object(self.after) if callable(self.after)
                     else self.after)
            return {"after": after, "updates": self.updates}

        @classmethod
        def from_config(cls, config):
            after = config["after"]
            if isinstance(after, dict):
                after = keras.saving.deserialize_keras_object(after)
            return cls(after, config["updates"])

    return Warmup
