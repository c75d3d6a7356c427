"""Fine-tuning from a pretrained directory (`textrnn train --pretrained DIR`): check the task
model fits the pretrained layers, copy them in, keep them fixed for the first epoch(s) while
the fresh heads learn, and then let them learn more slowly than the heads (ULMFiT's
discriminative fine-tuning: lower layers hold more general knowledge).

The vocabularies are merged in prepare.py (the pretrained words first, in their order, then
the training words they lack), so the pretrained rows keep their ids and new words get the
fresh rows Keras initialised at the end of the table.
"""

from __future__ import annotations

import functools

import numpy as np

from textrnn import pretrained
from textrnn.errors import UsageError
from textrnn.nn.factory import ModelSpec
from textrnn.train.prepare import TrainConfig

FEATURE_LAYERS = ("embedding", "char_cnn", "bigram_embedding")


def load(spec: ModelSpec, config: TrainConfig) -> tuple[dict, dict]:
    """(meta, weights) of config.pretrained, after checking the spec and options can use it;
    sets the spec's embedding size to the pretrained one."""
    meta, weights = pretrained.load(config.pretrained)
    dim = meta["model"]["embedding_dim"]
    if spec.embedding_dim not in (0, dim):
        raise UsageError(f"--embedding-dim {spec.embedding_dim}: {config.pretrained} has "
                         f"vectors of size {dim} (leave the option out)")
    if meta["tokenizer"].get("lowercase", True) != config.lowercase:
        flag = "--lowercase" if meta["tokenizer"].get("lowercase", True) else "--keep-case"
        raise UsageError(f"{config.pretrained} was pretrained with {flag}: pass it to train too")
    spec.embedding_dim = dim
    return meta, weights


def initialise(model, meta: dict, weights: dict, directory: str) -> dict:
    """Copy the pretrained layers into `model`; returns what carried over, for textrnn.json."""
    carried, notes = [], []
    names = {layer.name: layer for layer in model.layers}
    for name in FEATURE_LAYERS:
        if name in names and name in weights:
            names[name].set_weights(_with_prefix(names[name].get_weights(), weights[name], name))
            carried.append(name)
    cell = meta["model"]["encoder"]
    encoder = names.get(f"bi{cell}_1") or names.get(f"{cell}_1")
    if encoder is None:
        notes.append(f"{directory} holds {cell} language models: only the embedding and its "
                     "features carry over to this encoder")
    else:
        directions = ([(encoder.forward_layer, "forward"), (encoder.backward_layer, "backward")]
                      if hasattr(encoder, "forward_layer") else [(encoder, "forward")])
        extra = _lookup_rows(model)
        if all(_shapes(layer.get_weights()) == _input_rows(_shapes(weights[direction]), extra)
               for layer, direction in directions):
            for layer, direction in directions:
                layer.set_weights(_with_prefix(layer.get_weights(), weights[direction],
                                               encoder.name))
            carried.append(encoder.name)
        else:
            notes.append(f"the encoder starts fresh: its weight shapes differ from "
                         f"{directory}'s (units, or character/bigram features, not as "
                         "pretrained)")
    return {"directory": directory, "layers": carried, "words": len(meta["vocab"]),
            "perplexity": meta.get("perplexity", {}).get("mean"), "notes": notes}


def _shapes(arrays) -> list[tuple]:
    return [tuple(np.shape(array)) for array in arrays]


def _lookup_rows(model) -> int:
    """The lookup-list features the encoder reads after the pretrained ones (0: none)."""
    names = [tensor.name.split(":")[0] for tensor in model.inputs]
    return int(model.inputs[names.index("lookup")].shape[-1]) if "lookup" in names else 0


def _input_rows(shapes: list[tuple], extra: int) -> list[tuple]:
    """Pretrained recurrent weight shapes as the task encoder has them when it reads `extra`
    more features per token: its input kernel (the first array) has that many more rows,
    which start as Keras initialised them while the pretrained rows carry over."""
    return [(shapes[0][0] + extra, *shapes[0][1:]), *shapes[1:]] if extra else shapes


def _with_prefix(current: list, saved: list, name: str) -> list:
    """The saved weights, each either of the current shape or its first rows (an embedding
    table whose vocabulary grew: the rows past the pretrained ones stay as initialised)."""
    merged = []
    for now, then in zip(current, saved, strict=True):
        if now.shape == then.shape:
            merged.append(then)
        elif now.shape[1:] == then.shape[1:] and then.shape[0] <= now.shape[0]:
            rows = np.array(now)
            rows[: then.shape[0]] = then
            merged.append(rows)
        else:
            raise UsageError(f"the pretrained {name} has weights of shape {then.shape}, the "
                             f"model's are {now.shape}")
    return merged


def freeze_callback(names: list[str], epochs: int):
    """Keeps the named (pretrained) layers fixed for the first `epochs` epochs."""
    import keras

    class FreezePretrained(keras.callbacks.Callback):
        """The optimizer is built over every variable first, so that unfreezing needs no new
        optimizer state, and checkpoints hold the same variables in every epoch."""

        def __init__(self):
            super().__init__()
            self.frozen = False

        def on_train_begin(self, logs=None):
            if not self.model.optimizer.built:
                self.model.optimizer.build(self.model.trainable_variables)

        def on_epoch_begin(self, epoch, logs=None):
            frozen = epoch < epochs
            if frozen != self.frozen:
                for name in names:
                    self.model.get_layer(name).trainable = not frozen
                self.model.make_train_function(force=True)  # fit reads it at every step
                self.frozen = frozen

    return FreezePretrained()


def layerwise_adam(learning_rate, clipnorm: float | None, scaled: list[str], scale: float):
    """Adam whose updates of the `scaled` layers' variables use `scale` x the learning rate.
    (Adam's steps do not depend on the size of the gradient: scaling gradients would not do.)"""
    return _layerwise_adam_class()(learning_rate=learning_rate, clipnorm=clipnorm,
                                   scaled=scaled, scale=scale)


@functools.cache
def _layerwise_adam_class():
    import keras

    @keras.saving.register_keras_serializable(package="textrnn")
    class LayerwiseAdam(keras.optimizers.Adam):
        def __init__(self, scaled=(), scale=1.0, **kwargs):
            super().__init__(**kwargs)
            self.scaled = list(scaled)
            self.scale = float(scale)

        def build(self, variables):
            super().build(variables)
            self.scaled_indices = {self._get_variable_index(variable) for variable in variables
                                   if variable.path.split("/", 1)[0] in self.scaled}

        def update_step(self, gradient, variable, learning_rate):
            if self._get_variable_index(variable) in self.scaled_indices:
                learning_rate = learning_rate * self.scale
            super().update_step(gradient, variable, learning_rate)

        def get_config(self):
            return {**super().get_config(), "scaled": self.scaled, "scale": self.scale}

    return LayerwiseAdam
