"""Tests for textrnn.nn.jordan: cell maths and masking, teacher forcing vs
free-running, NumPy decoding, training on a toy task, saving."""

import keras
import numpy as np
import pytest
from keras import ops

from textrnn.nn.jordan import JordanCell, JordanTagger
from textrnn.text import PAD_TAG

# ----------------------------------------------------------------------------
# JordanCell


def numpy_jordan_cell(x, w):
    """Reference: h_t = tanh(x W + o_{t-1} U + b), o_t = tanh(h_t V + c)."""
    kernel, rec, b, out_k, c = w
    o = np.zeros(kernel.shape[1])
    outs = []
    for x_t in x:
        h = np.tanh(x_t @ kernel + o @ rec + b)
        o = np.tanh(h @ out_k + c)
        outs.append(o)
    return np.array(outs)


def test_cell_parameter_count_and_stacking():
    d, h = 7, 5
    inp = keras.Input(shape=(None, d))
    rnn = keras.layers.RNN(JordanCell(h), return_sequences=True)
    x = rnn(inp)
    assert rnn.count_params() == d * h + h * h + h + h * h + h
    bi = keras.layers.Bidirectional(keras.layers.RNN(JordanCell(3), return_sequences=True))
    y = bi(x)
    assert bi.count_params() == 2 * (h * 3 + 3 * 3 + 3 + 3 * 3 + 3)
    assert tuple(y.shape) == (None, None, 6)


def test_cell_matches_formula_and_respects_mask():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    d, h, n = 4, 6, 5
    rnn = keras.layers.RNN(JordanCell(h), return_sequences=True, return_state=True)
    x = rng.normal(size=(1, n, d)).astype("float32")
    seq, last = rnn(x)
    want = numpy_jordan_cell(x[0], rnn.cell.get_weights())
    np.testing.assert_allclose(ops.convert_to_numpy(seq)[0], want, atol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(last)[0], want[-1], atol=1e-5)

    # Same sequence right-padded with garbage: final state/last output unchanged.
    padded = np.concatenate([x, rng.normal(size=(1, 3, d)).astype("float32")], 1)
    mask = np.arange(n + 3)[None, :] < n
    last_only = keras.layers.RNN(rnn.cell, return_state=True)
    out_p, state_p = last_only(padded, mask=mask)
    out_u, state_u = last_only(x)
    np.testing.assert_allclose(ops.convert_to_numpy(out_p), out_u, atol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(state_p), state_u, atol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(out_u)[0], want[-1], atol=1e-5)


def test_stacked_bidirectional_cells_round_trip(tmp_path):
    keras.utils.set_random_seed(0)
    inp = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(9, 4, mask_zero=True)(inp)
    x = keras.layers.Bidirectional(keras.layers.RNN(JordanCell(5), return_sequences=True))(x)
    x = keras.layers.RNN(JordanCell(3))(x)
    model = keras.Model(inp, x)
    tokens = np.array([[1, 2, 3, 0, 0], [4, 5, 6, 7, 8]], dtype="int32")
    out = model.predict(tokens, verbose=0)
    path = tmp_path / "cell.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True, compile=False)
    np.testing.assert_array_equal(loaded.predict(tokens, verbose=0), out)


# ----------------------------------------------------------------------------
# JordanTagger


def shift_right(tags):
    """Gold tags -> previous tags (0 = start at t=0 and at padding)."""
    prev = np.zeros_like(tags)
    prev[:, 1:] = tags[:, :-1]
    prev[tags == 0] = 0
    return prev


def best_real_tag(probs):
    return np.asarray(probs)[..., 1:].argmax(-1) + 1


def random_tagger(feedback="argmax", d=5, units=8, num_tags=5):
    tagger = JordanTagger(units, num_tags, feedback=feedback)
    tagger.build([(None, None, d), (None, None)])
    rng = np.random.default_rng(1)
    tagger.set_weights([rng.normal(size=w.shape).astype("float32") for w in tagger.get_weights()])
    return tagger


def test_teacher_forcing_equals_free_running_on_own_predictions():
    tagger = random_tagger()
    x = np.random.default_rng(2).normal(size=(3, 7, 5)).astype("float32")
    free_probs, free_hidden = tagger([x, np.zeros((3, 7), "int32")], training=False)
    prev = shift_right(best_real_tag(free_probs))
    tf_probs, tf_hidden = tagger([x, prev], training=True)
    np.testing.assert_allclose(tf_probs, free_probs, atol=1e-6)
    np.testing.assert_allclose(tf_hidden, free_hidden, atol=1e-6)
    # ...and the previous tags really matter.
    other_probs, _ = tagger([x, (prev % 4) + 1], training=True)
    assert np.abs(np.asarray(other_probs) - np.asarray(free_probs)).max() > 1e-2


@pytest.mark.parametrize("feedback", ["argmax", "probs"])
def test_numpy_decode_matches_keras_free_running(feedback):
    tagger = random_tagger(feedback)
    rng = np.random.default_rng(3)
    lengths = [7, 4, 1]
    x = rng.normal(size=(3, 7, 5)).astype("float32")
    probs, hidden = tagger([x, np.zeros((3, 7), "int32")])  # training=None
    weights = tagger.numpy_weights()
    for b, n in enumerate(lengths):
        np_probs, np_hidden = jordan_decode(x[b, :n], weights, feedback=feedback)
        np.testing.assert_allclose(np_probs, np.asarray(probs)[b, :n], atol=1e-5)
        np.testing.assert_allclose(np_hidden, np.asarray(hidden)[b, :n], atol=1e-5)


# Two-entity bracketing toy task: an opener starts a PER or LOC span (B-x),
# a closer ends it (O), and a filler is I-x inside a span, O outside -- so a
# filler's tag is decided by the previous tag alone.
O_TAG, B_PER, I_PER, B_LOC, I_LOC = 1, 2, 3, 4, 5
NUM_TAGS = 6
PER_OPEN, LOC_OPEN, CLOSE, FILL = (1, 2), (3, 4), (5, 6), (7, 8, 9, 10)
VOCAB = 11


def make_toy(n, seed, max_len=12):
    rng = np.random.default_rng(seed)
    tokens = np.zeros((n, max_len), dtype="int32")
    tags = np.zeros((n, max_len), dtype="int32")
    for i in range(n):
        span = None
        for t in range(rng.integers(4, max_len + 1)):
            r = rng.random()
            if r < 0.1:
                tok, tag, span = rng.choice(PER_OPEN), B_PER, I_PER
            elif r < 0.2:
                tok, tag, span = rng.choice(LOC_OPEN), B_LOC, I_LOC
            elif r < 0.35:
                tok, tag, span = rng.choice(CLOSE), O_TAG, None
            else:
                tok, tag = rng.choice(FILL), span or O_TAG
            tokens[i, t], tags[i, t] = tok, tag
    return tokens, tags


def token_majority_accuracy(tokens, tags):
    """Best accuracy of any tagger that sees only the current token."""
    m = tags > 0
    correct = 0
    for tok in np.unique(tokens[m]):
        correct += np.bincount(tags[m][tokens[m] == tok]).max()
    return correct / m.sum()


def test_teacher_forced_training_free_running_accuracy_and_round_trip(tmp_path):
    keras.utils.set_random_seed(0)
    x_train, y_train = make_toy(512, seed=100)
    x_test, y_test = make_toy(300, seed=200)
    baseline = token_majority_accuracy(x_test, y_test)

    tokens = keras.Input(shape=(None,), dtype="int32")
    prev = keras.Input(shape=(None,), dtype="int32")
    emb = keras.layers.Embedding(VOCAB, 8, mask_zero=True)(tokens)
    probs, _ = JordanTagger(16, NUM_TAGS)([emb, prev])
    model = keras.Model([tokens, prev], probs)
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit([x_train, shift_right(y_train)], y_train, batch_size=32, epochs=5, verbose=0)

    # The probabilities carry the embedding mask, so the loss skips padding.
    assert model([x_test[:2], x_test[:2] * 0])._keras_mask is not None

    no_prev = np.zeros_like(x_test)  # ignored when not training
    pred_probs = model.predict([x_test, no_prev], verbose=0)
    m = y_test > 0
    acc = (best_real_tag(pred_probs)[m] == y_test[m]).mean()
    assert baseline < 0.8
    assert acc > 0.95, (acc, baseline)

    # model.predict really decodes free-running: same as the NumPy decoder.
    by_type = {type(layer): layer for layer in model.layers}
    table = by_type[keras.layers.Embedding].get_weights()[0]
    weights = by_type[JordanTagger].numpy_weights()
    for row in range(3):
        n = int(m[row].sum())
        np_probs, _ = jordan_decode(table[x_test[row, :n]], weights)
        np.testing.assert_allclose(np_probs, pred_probs[row, :n], atol=1e-5)

    path = tmp_path / "jordan.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True, compile=False)
    np.testing.assert_array_equal(loaded.predict([x_test, no_prev], verbose=0), pred_probs)
    prev_test = shift_right(y_test)
    np.testing.assert_array_equal(
        loaded([x_test, prev_test], training=True),
        model([x_test, prev_test], training=True),
    )


# A reference decoder, one sequence at a time, written straight from the equations.
def jordan_decode(inputs, weights, feedback="argmax"):
    """Free-running ``JordanTagger`` decoding of ONE sequence in NumPy.

    Args:
        inputs: ``(T, D)`` features of the real tokens (no padding needed).
        weights: ``JordanTagger.numpy_weights()``.
        feedback: the tagger's ``feedback`` setting.

    Returns:
        ``(probs, hidden)``: ``(T, num_tags)`` and ``(T, units)`` arrays.
    """
    w = {n: np.asarray(v, dtype=np.float64) for n, v in weights.items()}
    x = np.asarray(inputs, dtype=np.float64)
    k = w["output_bias"].shape[0]
    x_proj = x @ w["kernel"] + w["bias"]
    fed = np.zeros(k)
    fed[PAD_TAG] = 1.0
    probs = np.zeros((len(x), k))
    hidden = np.zeros((len(x), w["bias"].shape[0]))
    for t in range(len(x)):
        hidden[t] = np.tanh(x_proj[t] + fed @ w["prev_tag_kernel"])
        logits = hidden[t] @ w["output_kernel"] + w["output_bias"]
        e = np.exp(logits - logits.max())
        probs[t] = e / e.sum()
        if feedback == "argmax":
            logits[PAD_TAG] = -np.inf
            fed = np.zeros(k)
            fed[int(np.argmax(logits))] = 1.0
        else:
            fed = probs[t]
    return probs, hidden
