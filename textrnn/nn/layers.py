"""Small custom Keras layers, registered so that `model.keras` loads in safe mode."""

from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="textrnn")
class MaskedGlobalMaxPooling1D(layers.Layer):
    """Max over the real tokens only (Keras' GlobalMaxPooling1D ignores the padding mask)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is not None:
            inputs = ops.where(ops.expand_dims(mask, -1), inputs, ops.full_like(inputs, -1e9))
        return ops.max(inputs, axis=1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


@keras.saving.register_keras_serializable(package="textrnn")
class KimConv(layers.Layer):
    """Parallel 1-D convolutions of several widths (Kim, 2014), concatenated per position.

    Padding positions are zeroed before convolving and the mask is passed on, so a pooling or
    tagging head after it sees only the real tokens.
    """

    def __init__(self, filters: int, widths=(3, 4, 5), **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.widths = tuple(widths)
        self.convs = [
            layers.Conv1D(filters, width, padding="same", activation="relu", name=f"conv{width}")
            for width in self.widths
        ]
        self.supports_masking = True

    def build(self, input_shape):
        for conv in self.convs:
            conv.build(input_shape)

    def call(self, inputs, mask=None):
        if mask is not None:
            inputs = inputs * ops.expand_dims(ops.cast(mask, inputs.dtype), -1)
        return ops.concatenate([conv(inputs) for conv in self.convs], axis=-1)

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters * len(self.widths))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "widths": list(self.widths)}


@keras.saving.register_keras_serializable(package="textrnn")
class CharCNN(layers.Layer):
    """Word vectors extended with a vector per token from its characters: embedding,
    convolution, max over the characters. Words never seen in training (typos, rare names)
    still get a representation from their spelling.

    Called on [word vectors (B, T, D), character ids (B, T, C), 0 padding]; returns
    (B, T, D + filters) and passes on the word mask unchanged (doing the concatenation here
    keeps the mask a plain tensor, which the NumPy engine can follow).
    """

    def __init__(self, num_chars: int, dim: int = 32, filters: int = 64, width: int = 3,
                 **kwargs):
        super().__init__(**kwargs)
        self.num_chars, self.dim, self.filters, self.width = num_chars, dim, filters, width
        self.embedding = layers.Embedding(num_chars, dim, name="char_embedding")
        # A (1, width) 2-D convolution runs over the characters of every token at once.
        self.conv = layers.Conv2D(filters, (1, width), padding="same", activation="relu",
                                  name="char_conv")
        self.supports_masking = True

    def build(self, input_shape):
        chars_shape = input_shape[1]
        self.embedding.build(chars_shape)
        self.conv.build((*chars_shape, self.dim))

    def call(self, inputs, mask=None):
        words, chars = inputs
        features = self.conv(self.embedding(chars))
        # ReLU outputs are >= 0, so zeroing padded characters leaves the max unchanged.
        real = ops.expand_dims(ops.cast(chars > 0, features.dtype), -1)
        return ops.concatenate([words, ops.max(features * real, axis=2)], axis=-1)

    def compute_mask(self, inputs, mask=None):
        return mask[0] if mask is not None else None

    def compute_output_shape(self, input_shape):
        return (*input_shape[0][:-1], input_shape[0][-1] + self.filters)

    def get_config(self):
        return {**super().get_config(), "num_chars": self.num_chars, "dim": self.dim,
                "filters": self.filters, "width": self.width}


@keras.saving.register_keras_serializable(package="textrnn")
class BigramEmbedding(layers.Layer):
    """Token vectors extended with a vector for each position's bigram (the token and its right
    neighbour): for Chinese, where a token is one character, the bigram is the nearest thing to
    a word.

    Called on [token vectors (B, T, D), bigram ids (B, T), 0 padding, 1 unknown]; returns
    (B, T, D + dim) and passes on the token mask unchanged (the concatenation is done here,
    as in CharCNN, so the mask stays a plain tensor the NumPy engine can follow). `dropout`
    zeroes whole bigram vectors in training: the bigram table is large and overfits first.
    """

    def __init__(self, num_bigrams: int, dim: int = 64, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_bigrams, self.dim, self.dropout = num_bigrams, dim, dropout
        self.embedding = layers.Embedding(num_bigrams, dim, name="embedding")
        # noise_shape (B, T, 1): a dropped bigram loses its whole vector.
        self.drop = layers.Dropout(dropout, noise_shape=(None, None, 1))
        self.supports_masking = True

    def build(self, input_shape):
        self.embedding.build(input_shape[1])

    def call(self, inputs, mask=None, training=None):
        words, ids = inputs
        vectors = self.drop(self.embedding(ids), training=training)
        return ops.concatenate([words, vectors], axis=-1)

    def compute_mask(self, inputs, mask=None):
        return mask[0] if mask is not None else None

    def compute_output_shape(self, input_shape):
        return (*input_shape[0][:-1], input_shape[0][-1] + self.dim)

    def get_config(self):
        return {**super().get_config(), "num_bigrams": self.num_bigrams, "dim": self.dim,
                "dropout": self.dropout}


@keras.saving.register_keras_serializable(package="textrnn")
class ConcatSequence(layers.Layer):
    """Per-token features of the same sentences joined on the last axis. They share one padding
    mask, which passes through as it is (Keras' Concatenate would recombine the masks with
    extra graph ops)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs):
        return ops.concatenate(inputs, axis=-1)

    def compute_mask(self, inputs, mask=None):
        return None if mask is None else mask[0]

    def compute_output_shape(self, input_shape):
        widths = [shape[-1] for shape in input_shape]
        width = None if None in widths else sum(widths)
        return (*input_shape[0][:-1], width)

