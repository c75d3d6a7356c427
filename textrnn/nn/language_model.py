"""The language models `textrnn pretrain` trains: a forward one predicting the next word and a
backward one predicting the previous word, two separate recurrent layers over one shared
embedding (with the character and bigram features when the encoder has them).

They are trained separately because a joined bidirectional state at position t has read word
t+1 (the forward target) and word t-1 (the backward one). Keras' Bidirectional layer with
`merge_mode=None` holds exactly that pair, time-aligned, under the name and with the weight
shapes of the task model's encoder: its forward_layer and backward_layer become the task's.
Each direction projects its state to the embedding size and scores words against the
embedding matrix itself (tied input and output embeddings, plus a bias per word).
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from textrnn.nn.factory import ModelSpec, embedded, recurrent_layer

DIRECTIONS = ("forward", "backward")


def encoder_name(cell: str) -> str:
    """The task model's first bidirectional layer for this cell (nn.factory's naming)."""
    return f"bi{cell}_1"


def build_language_model(spec: ModelSpec, sampled: int = 0) -> LanguageModel:
    """The two language models; `sampled` > 0 trains with a sampled softmax of that many
    words (validation always scores the full softmax)."""
    inputs, x = embedded(spec)
    x = layers.Dropout(spec.dropout)(x)
    pair = layers.Bidirectional(recurrent_layer(spec.encoder, spec.units, f"{spec.encoder}_1"),
                                merge_mode=None, name=encoder_name(spec.encoder))
    states = pair(x)
    outputs = [layers.Dense(spec.embedding_dim, name=f"{direction}_projection")(
        layers.Dropout(spec.dropout)(state)) for direction, state in zip(DIRECTIONS, states)]
    return LanguageModel(keras.Model(inputs, outputs, name="language_models"), sampled)


class LanguageModel(keras.Model):
    """Fits on (inputs, {"next": ids, "previous": ids}) batches, id 0 where there is nothing
    to predict (padding, and past either end of the sentence). Reports the mean cross-entropy
    per predicted word of each direction (`forward_loss`, `backward_loss`) and their mean."""

    def __init__(self, network: keras.Model, sampled: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.network = network
        self.sampled = sampled
        vocab_size = network.get_layer("embedding").input_dim
        self.output_bias = self.add_weight(shape=(vocab_size,), initializer="zeros",
                                           name="output_bias")
        self.trackers = {name: keras.metrics.Mean(name=name)
                         for name in ("loss", "forward_loss", "backward_loss")}
        self.built = True  # the network is built; save_weights needs to know

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, inputs, training=False):
        return self.network(inputs, training=training)

    def layer(self, name: str):
        return self.network.get_layer(name)

    def _predicted(self, state, target):
        mask = target > 0
        return tf.boolean_mask(state, mask), tf.boolean_mask(target, mask)

    def _cross_entropy(self, state, target, sampled: bool):
        """Summed cross-entropy over the positions with a target, and their number."""
        hidden, words = self._predicted(state, target)
        table = self.layer("embedding").embeddings
        if sampled:
            losses = tf.nn.sampled_softmax_loss(
                weights=table, biases=self.output_bias,
                labels=tf.cast(words[:, None], tf.int64), inputs=hidden,
                num_sampled=self.sampled, num_classes=table.shape[0])
        else:
            logits = tf.matmul(hidden, table, transpose_b=True) + self.output_bias
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(words, logits)
        return tf.reduce_sum(losses), tf.cast(tf.size(words), tf.float32)

    def _step(self, data, training: bool):
        inputs, targets = data
        states = self.network(inputs, training=training)
        means = []
        for direction, state, target in zip(DIRECTIONS, states,
                                            (targets["next"], targets["previous"])):
            total, count = self._cross_entropy(state, target, training and self.sampled > 0)
            count = tf.maximum(count, 1.0)
            self.trackers[f"{direction}_loss"].update_state(total / count, sample_weight=count)
            means.append(total / count)
        loss = (means[0] + means[1]) / 2
        self.trackers["loss"].update_state(loss, sample_weight=count)
        return loss

    def _results(self) -> dict:
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def train_step(self, data):
        with tf.GradientTape() as tape:
            loss = self._step(data, training=True)
        variables = self.trainable_variables
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        return self._results()

    def test_step(self, data):
        self._step(data, training=False)
        return self._results()
