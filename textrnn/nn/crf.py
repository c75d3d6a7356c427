"""Linear-chain conditional random field (CRF) output layer.

A softmax tagger scores every token independently; a CRF adds a learned
score for every tag bigram (``transitions[i, j]`` = score of tag ``j``
right after tag ``i``) plus start/end scores, and normalises over whole tag
sequences.  Training maximises the sequence log-likelihood computed with
the forward algorithm; decoding is Viterbi.

Conventions: tag id 0 is the padding tag ``<pad>`` and never a real tag;
sequences are right-padded, so a mask is a prefix of ones.  ``viterbi_decode``
is plain NumPy so inference can run without TensorFlow.
"""

import keras
from keras import ops

from textrnn.text import PAD_TAG

# Score given to the pad tag in the training loss.  Finite (not -inf) so that
# masked arithmetic such as ``0 * score`` can never produce NaN.
_PAD_SCORE = -1e9


@keras.saving.register_keras_serializable(package="textrnn")
class CRF(keras.layers.Layer):
    """Owns the CRF transition weights; the forward pass is the identity.

    Put it after the layer producing per-token tag scores (emissions,
    ``(B, T, num_tags)``) and train with ``crf_loss(this_layer)``.  The
    output carries no Keras mask on purpose: the CRF loss is one value per
    sequence, and a propagated ``(B, T)`` mask would make Keras try to weight
    a ``(B,)`` loss with it.  The loss derives the mask from ``y_true > 0``.
    """

    def __init__(self, num_tags, **kwargs):
        super().__init__(**kwargs)
        num_tags = int(num_tags)
        if num_tags < 2:
            raise ValueError(f"num_tags must be >= 2 (tag 0 is <pad>), got {num_tags}")
        self.num_tags = num_tags
        # Accept a mask from upstream (no warning) but drop it: see
        # compute_mask.
        self.supports_masking = True

    def build(self, input_shape):
        last = input_shape[-1]
        if last is not None and last != self.num_tags:
            raise ValueError(
                f"CRF expects emissions with {self.num_tags} scores per "
                f"token, got last dimension {last}"
            )
        k = self.num_tags
        self.transitions = self.add_weight(name="transitions", shape=(k, k), initializer="zeros")
        self.start_transitions = self.add_weight(
            name="start_transitions", shape=(k,), initializer="zeros"
        )
        self.end_transitions = self.add_weight(
            name="end_transitions", shape=(k,), initializer="zeros"
        )

    def call(self, emissions, mask=None):
        # A fresh tensor is returned: handing back the input object would let
        # it keep the upstream ``_keras_mask`` we deliberately drop.
        return ops.copy(emissions)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return input_shape

    def numpy_weights(self):
        """Transition weights as float NumPy arrays, for ``viterbi_decode``."""
        return {
            "transitions": ops.convert_to_numpy(self.transitions),
            "start": ops.convert_to_numpy(self.start_transitions),
            "end": ops.convert_to_numpy(self.end_transitions),
        }

    def get_config(self):
        config = super().get_config()
        config["num_tags"] = self.num_tags
        return config


def crf_log_likelihood(emissions, tags, mask, transitions, start, end):
    """Log-likelihood ``log p(tags | emissions)`` of each sequence.

    Args:
        emissions: ``(B, T, K)`` float tag scores.
        tags: ``(B, T)`` int gold tags; values at masked positions are ignored.
        mask: ``(B, T)`` bool/float, 1 for real tokens; right-padded.
        transitions: ``(K, K)``, ``transitions[i, j]`` scores ``i -> j``.
        start: ``(K,)`` score of the first tag; end: ``(K,)`` of the last.

    Returns:
        ``(B,)`` log-likelihoods; 0 for an empty (all-masked) sequence.

    All K tags take part in the partition function; ``crf_loss`` is where the
    pad tag gets excluded.
    """
    emissions = ops.convert_to_tensor(emissions)
    dtype = emissions.dtype
    tags = ops.cast(tags, "int32")
    maskb = ops.cast(mask, "bool")
    maskf = ops.cast(maskb, dtype)
    transitions = ops.cast(transitions, dtype)
    start = ops.cast(start, dtype)
    end = ops.cast(end, dtype)

    lengths = ops.cast(ops.sum(maskf, axis=1), "int32")  # (B,)
    nonempty = lengths > 0

    # --- score of the gold path (vectorised) ---------------------------
    emit = ops.squeeze(
        ops.take_along_axis(emissions, ops.expand_dims(tags, -1), axis=2), -1
    )  # (B, T)
    # ops.where, not a product: masked scores may be huge or -inf.
    score = ops.sum(ops.where(maskb, emit, ops.zeros_like(emit)), axis=1)
    score = score + ops.take(start, tags[:, 0])
    # transitions[tags[t-1], tags[t]] for t >= 1, counted where t is real.
    k = ops.shape(transitions)[0]
    flat = ops.reshape(transitions, (-1,))
    pair = ops.take(flat, tags[:, :-1] * k + tags[:, 1:])  # (B, T-1)
    score = score + ops.sum(ops.where(maskb[:, 1:], pair, ops.zeros_like(pair)), axis=1)
    last_idx = ops.expand_dims(ops.maximum(lengths - 1, 0), -1)
    last_tag = ops.squeeze(ops.take_along_axis(tags, last_idx, axis=1), -1)
    score = score + ops.take(end, last_tag)

    # --- log partition: forward algorithm ------------------------------
    alpha0 = start[None, :] + emissions[:, 0, :]  # (B, K)
    # Emissions and mask travel as one tensor (T-1, B, K+1): Keras' TensorFlow scan fails on a
    # tuple of inputs whose time length is unknown at trace time, as it is inside model.fit.
    steps = ops.concatenate([emissions[:, 1:, :], ops.expand_dims(maskf[:, 1:], -1)], axis=-1)
    steps = ops.transpose(steps, (1, 0, 2))

    def step(alpha, xs):
        e, m = xs[:, :-1], xs[:, -1:] > 0.5
        nxt = ops.logsumexp(alpha[:, :, None] + transitions[None], axis=1) + e
        # Past the end of a sequence alpha is carried unchanged.
        alpha = ops.where(m, nxt, alpha)
        return alpha, alpha

    alpha, _ = ops.scan(step, alpha0, steps)
    log_z = ops.logsumexp(alpha + end[None, :], axis=1)

    return ops.where(nonempty, score - log_z, ops.zeros_like(log_z))


def crf_loss(crf_layer):
    """Build a Keras loss ``loss(y_true, y_pred)`` bound to ``crf_layer``.

    ``y_true``: ``(B, T)`` int tags, 0-padded (mask = ``y_true > 0``);
    ``y_pred``: emissions ``(B, T, K)`` (the CRF layer's output).  Returns
    ``(B,)`` values: sequence negative log-likelihood times
    ``B / (real tokens in the batch)``, so Keras' default batch mean equals
    the summed NLL divided by the number of real tokens.

    Why this normalisation: it is a per-token NLL (same scale as the masked
    token cross-entropy of the softmax taggers, so losses and learning rates
    are comparable) while still weighting every token equally, i.e. it is
    the corpus maximum-likelihood objective.  Dividing each sequence by its
    own length would instead up-weight tokens of short sentences.

    The pad tag is excluded from the partition function (its emission is
    pinned to a huge negative score), so training normalises over exactly
    the tag sequences ``viterbi_decode`` searches.  Only the closure uses
    ``crf_layer``; load a saved model with ``compile=False``.
    """

    def loss(y_true, y_pred):
        tags = ops.cast(y_true, "int32")
        mask = tags > 0
        # float32 even under mixed precision: the pad score must stay finite.
        emissions = ops.cast(y_pred, "float32")
        num_tags = ops.shape(emissions)[-1]
        is_pad = ops.arange(num_tags) == PAD_TAG
        emissions = ops.where(is_pad, ops.cast(_PAD_SCORE, emissions.dtype), emissions)
        ll = crf_log_likelihood(
            emissions,
            tags,
            mask,
            crf_layer.transitions,
            crf_layer.start_transitions,
            crf_layer.end_transitions,
        )
        batch = ops.cast(ops.shape(tags)[0], ll.dtype)
        tokens = ops.maximum(ops.sum(ops.cast(mask, ll.dtype)), 1.0)
        return -ll * (batch / tokens)

    loss.__name__ = "crf_loss"
    return loss
