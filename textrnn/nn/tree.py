"""A recursive neural network over a balanced binary tree: the sentence vector is the root.

Level by level, adjacent nodes (0, 1), (2, 3), ... are composed by one shared layer,
``parent = tanh(W [left; right] + b)``; an odd node at the end of a level is carried up
unchanged, so a sentence of n tokens has a tree of depth ceil(log2 n). Padding never enters the
tree: the real tokens are a prefix of each row, so the real nodes stay a prefix at every level,
and a pair whose right child is padding passes its left child up unchanged. The tree of a row is
therefore the tree of its real tokens alone, whatever width the batch is padded to.
"""

from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="textrnn")
class TreeEncoder(layers.Layer):
    """(B, T, D) token vectors with their mask -> (B, units) root vectors.

    Tokens are first projected to `units` with ``tanh(V x + c)``: leaves and parents then live
    in the same space, which the single composition needs, since a carried-up odd node (or the
    only token of a one-word sentence) meets parents at the levels above as it is.
    Rows without any real token get a zero root.
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.supports_masking = True

    def build(self, input_shape):
        dim, units = input_shape[-1], self.units
        self.leaf_kernel = self.add_weight(shape=(dim, units), initializer="glorot_uniform",
                                           name="leaf_kernel")
        self.leaf_bias = self.add_weight(shape=(units,), initializer="zeros", name="leaf_bias")
        self.kernel = self.add_weight(shape=(2 * units, units), initializer="glorot_uniform",
                                      name="kernel")
        self.bias = self.add_weight(shape=(units,), initializer="zeros", name="bias")

    def call(self, inputs, mask=None):
        batch, width = ops.shape(inputs)[0], ops.shape(inputs)[1]
        units = self.units
        if mask is None:
            mask = ops.ones((batch, width), dtype="bool")
        real = ops.cast(mask, inputs.dtype)
        leaves = ops.tanh(ops.matmul(inputs, self.leaf_kernel) + self.leaf_bias)
        # One spare padding column lets every level round its width up to even in place, so
        # the loop variables keep one shape (tf.while_loop needs that) and the total work is
        # about 2T compositions.
        nodes = ops.pad(leaves * ops.expand_dims(real, -1), [[0, 0], [0, 1], [0, 0]])
        real = ops.pad(real, [[0, 0], [0, 1]])

        def level(count, nodes, real):
            even = count + count % 2
            half = even // 2
            pairs = ops.reshape(ops.slice(nodes, [0, 0, 0], [batch, even, units]),
                                (batch, half, 2 * units))
            flags = ops.reshape(ops.slice(real, [0, 0], [batch, even]), (batch, half, 2))
            composed = ops.tanh(ops.matmul(pairs, self.kernel) + self.bias)
            right_real = ops.expand_dims(flags[:, :, 1], -1) > 0
            parents = ops.where(right_real, composed, pairs[:, :, :units])
            # Back to the full buffer; reshaping to the incoming shape restores its static
            # dimensions, which the dynamic `half` loses and tf.while_loop checks.
            rest = ops.shape(nodes)[1] - half
            parents = ops.concatenate([parents, ops.zeros((batch, rest, units), nodes.dtype)],
                                      axis=1)
            parent_real = ops.concatenate([flags[:, :, 0], ops.zeros((batch, rest), real.dtype)],
                                          axis=1)
            return (half, ops.reshape(parents, ops.shape(nodes)),
                    ops.reshape(parent_real, ops.shape(real)))

        _, nodes, _ = ops.while_loop(lambda count, nodes, real: count > 1, level,
                                     (width, nodes, real))
        return nodes[:, 0]

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}
