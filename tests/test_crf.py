"""Tests for textrnn.nn.crf: exactness against brute force, training, saving."""

import itertools

import keras
import numpy as np
import pytest
from keras import ops

from textrnn.nn.crf import CRF, crf_log_likelihood, crf_loss
from textrnn.predict.decode import crf_marginals, viterbi_batch, viterbi_decode

# ----------------------------------------------------------------------------
# brute-force references


def path_score(em, path, trans, start, end):
    s = start[path[0]] + end[path[-1]]
    s += sum(em[t, y] for t, y in enumerate(path))
    s += sum(trans[a, b] for a, b in zip(path[:-1], path[1:], strict=True))
    return s


def brute_log_z(em, trans, start, end, tag_set):
    scores = [
        path_score(em, p, trans, start, end) for p in itertools.product(tag_set, repeat=len(em))
    ]
    return np.logaddexp.reduce(scores)


def brute_best(em, trans, start, end, tag_set, allowed=None):
    best, best_path = -np.inf, None
    for p in itertools.product(tag_set, repeat=len(em)):
        if allowed is not None and not all(
            allowed[a, b] for a, b in zip(p[:-1], p[1:], strict=True)
        ):
            continue
        s = path_score(em, p, trans, start, end)
        if s > best:
            best, best_path = s, list(p)
    return best_path


def random_crf(rng, k):
    return (
        rng.normal(size=(k, k)).astype("float32"),
        rng.normal(size=k).astype("float32"),
        rng.normal(size=k).astype("float32"),
    )


# ----------------------------------------------------------------------------
# log-likelihood


@pytest.mark.parametrize("seed,max_len", [(0, 1), (1, 2), (2, 3), (3, 4), (4, 4)])
def test_log_likelihood_matches_brute_force(seed, max_len):
    rng = np.random.default_rng(seed)
    k = 3
    lengths = np.array([max_len, max(max_len - 1, 1), 1, max_len])
    batch = len(lengths)
    em = rng.normal(size=(batch, max_len, k)).astype("float32") * 2
    trans, start, end = random_crf(rng, k)
    tags = rng.integers(0, k, size=(batch, max_len))  # padding values random
    mask = np.arange(max_len)[None, :] < lengths[:, None]

    got = ops.convert_to_numpy(crf_log_likelihood(em, tags, mask, trans, start, end))
    for b, n in enumerate(lengths):
        e = em[b, :n].astype("float64")
        gold = path_score(e, list(tags[b, :n]), trans, start, end)
        want = gold - brute_log_z(e, trans, start, end, range(k))
        np.testing.assert_allclose(got[b], want, atol=1e-5)


@pytest.mark.parametrize("length", [1, 3, 4])
def test_all_paths_sum_to_one(length):
    rng = np.random.default_rng(10 + length)
    k = 3
    trans, start, end = random_crf(rng, k)
    em = rng.normal(size=(length, k)).astype("float32")
    paths = np.array(list(itertools.product(range(k), repeat=length)))
    # Pad to a longer T to check that padding is ignored too.
    tags = np.zeros((len(paths), length + 2), dtype="int32")
    tags[:, :length] = paths
    ems = np.zeros((len(paths), length + 2, k), dtype="float32")
    ems[:, :length] = em
    ems[:, length:] = rng.normal(size=(2, k))
    mask = tags * 0 + (np.arange(length + 2) < length)
    ll = ops.convert_to_numpy(crf_log_likelihood(ems, tags, mask, trans, start, end))
    np.testing.assert_allclose(np.exp(ll.astype("float64")).sum(), 1.0, atol=1e-5)


def test_empty_sequence_has_zero_log_likelihood():
    rng = np.random.default_rng(0)
    trans, start, end = random_crf(rng, 3)
    em = rng.normal(size=(2, 3, 3)).astype("float32")
    mask = np.array([[0, 0, 0], [1, 1, 0]])
    ll = ops.convert_to_numpy(
        crf_log_likelihood(em, np.ones((2, 3), "int32"), mask, trans, start, end)
    )
    assert ll[0] == 0.0
    assert ll[1] < 0.0


def test_crf_loss_excludes_pad_and_normalises_per_token():
    rng = np.random.default_rng(5)
    k = 4  # tag 0 = <pad>, real tags 1..3
    layer = CRF(k)
    layer.build((None, None, k))
    trans, start, end = random_crf(rng, k)
    layer.set_weights([trans, start, end])
    lengths = [4, 2, 3]
    y_true = np.zeros((3, 4), dtype="int32")
    for b, n in enumerate(lengths):
        y_true[b, :n] = rng.integers(1, k, size=n)
    em = rng.normal(size=(3, 4, k)).astype("float32")

    got = ops.convert_to_numpy(crf_loss(layer)(y_true, em))
    assert got.shape == (3,)
    scale = len(lengths) / sum(lengths)
    for b, n in enumerate(lengths):
        e = em[b, :n].astype("float64")
        gold = path_score(e, list(y_true[b, :n]), trans, start, end)
        nll = brute_log_z(e, trans, start, end, range(1, k)) - gold
        np.testing.assert_allclose(got[b], nll * scale, atol=1e-5)


# ----------------------------------------------------------------------------
# Viterbi


@pytest.mark.parametrize("seed", range(6))
def test_viterbi_matches_brute_force(seed):
    rng = np.random.default_rng(100 + seed)
    k = 4
    length = 1 + seed % 5
    trans, start, end = random_crf(rng, k)
    em = rng.normal(size=(length, k))
    em[:, 0] += 10.0  # tempting pad column must still never be chosen
    got = viterbi_decode(em, trans, start, end)
    assert got == brute_best(em, trans, start, end, range(1, k))
    assert 0 not in got


@pytest.mark.parametrize("seed", range(4))
def test_marginals_match_brute_force(seed):
    """Each tag's probability at each step: the mass of the paths through it (pad excluded)."""
    rng = np.random.default_rng(200 + seed)
    k, length = 4, 1 + seed
    trans, start, end = random_crf(rng, k)
    em = rng.normal(size=(length, k)) * 3
    expected = np.zeros((length, k))
    for path in itertools.product(range(1, k), repeat=length):
        weight = np.exp(path_score(em, path, trans, start, end))
        for t, tag in enumerate(path):
            expected[t, tag] += weight
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(crf_marginals(em, trans, start, end), expected, atol=1e-6)


def test_viterbi_respects_allowed_transitions():
    rng = np.random.default_rng(7)
    k = 4
    for _ in range(5):
        trans, start, end = random_crf(rng, k)
        em = rng.normal(size=(5, k))
        allowed = rng.random((k, k)) > 0.4
        want = brute_best(em, trans, start, end, range(1, k), allowed)
        got = viterbi_decode(em, trans, start, end, allowed=allowed)
        if want is None:  # constraints unsatisfiable -> fall back
            want = brute_best(em, trans, start, end, range(1, k))
        assert got == want


def test_viterbi_empty():
    z = np.zeros((3, 3))
    assert viterbi_decode(np.zeros((0, 3)), z, z[0], z[0]) == []


# ----------------------------------------------------------------------------
# Keras integration

O_TAG, B_TAG, I_TAG = 1, 2, 3
NUM_TAGS = 4
OPENERS, CLOSERS, FILLERS = (1, 2, 3), (4, 5, 6), (7, 8, 9, 10)
VOCAB = 11


def make_toy(n, seed, max_len=10):
    """Bracketing toy task.  Openers are tagged B, closers O; a filler is I
    inside a span (previous tag B or I) and O outside, so fillers can only
    be tagged right by looking at the previous tag."""
    rng = np.random.default_rng(seed)
    tokens = np.zeros((n, max_len), dtype="int32")
    tags = np.zeros((n, max_len), dtype="int32")
    for i in range(n):
        inside = False
        for t in range(rng.integers(4, max_len + 1)):
            r = rng.random()
            if r < 0.2:
                tok, tag, inside = rng.choice(OPENERS), B_TAG, True
            elif r < 0.4:
                tok, tag, inside = rng.choice(CLOSERS), O_TAG, False
            else:
                tok, tag = rng.choice(FILLERS), (I_TAG if inside else O_TAG)
            tokens[i, t], tags[i, t] = tok, tag
    return tokens, tags


def token_majority_accuracy(tokens, tags):
    """Best accuracy of any tagger that sees only the current token."""
    m = tags > 0
    correct = 0
    for tok in np.unique(tokens[m]):
        correct += np.bincount(tags[m][tokens[m] == tok]).max()
    return correct / m.sum()


def build_model():
    inp = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(VOCAB, 8, mask_zero=True)(inp)
    x = keras.layers.Dense(NUM_TAGS)(x)
    crf = CRF(NUM_TAGS)
    return keras.Model(inp, crf(x)), crf


def viterbi_accuracy(emissions, tags, crf_weights):
    correct = total = 0
    for em, gold in zip(emissions, tags, strict=True):
        n = int((gold > 0).sum())
        pred = viterbi_decode(em[:n], **crf_weights)
        correct += int((np.array(pred) == gold[:n]).sum())
        total += n
    return correct / total


def test_crf_output_is_identity_without_mask():
    keras.utils.set_random_seed(0)
    model, _ = build_model()
    tokens = np.array([[3, 7, 0, 0]], dtype="int32")
    out = model(tokens)
    dense_out = model.layers[-2](model.layers[-3](tokens))
    # The Dense output is masked; the CRF output must not be (per-sequence
    # loss).  Keras 3 keeps masks in the tensor attribute `_keras_mask`.
    assert getattr(dense_out, "_keras_mask", None) is not None
    assert getattr(out, "_keras_mask", None) is None
    np.testing.assert_allclose(ops.convert_to_numpy(out), dense_out)


def test_training_uses_transitions_and_round_trips(tmp_path):
    keras.utils.set_random_seed(1)
    x_train, y_train = make_toy(512, seed=1)
    x_test, y_test = make_toy(200, seed=2)
    baseline = token_majority_accuracy(x_test, y_test)

    model, crf = build_model()
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=crf_loss(crf))
    hist = model.fit(x_train, y_train, batch_size=32, epochs=15, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]

    emissions = model.predict(x_test, verbose=0)
    weights = crf.numpy_weights()
    acc = viterbi_accuracy(emissions, y_test, weights)
    no_trans = viterbi_accuracy(
        emissions, y_test, {k: np.zeros_like(v) for k, v in weights.items()}
    )
    # No tagger that sees only the current token beats the token-majority
    # baseline (~0.8); the learned transitions must resolve the fillers.
    assert baseline < 0.85
    assert acc > 0.95, (acc, baseline)
    assert no_trans < acc - 0.15, (no_trans, acc)

    path = tmp_path / "crf.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True, compile=False)
    np.testing.assert_array_equal(loaded.predict(x_test, verbose=0), emissions)
    loaded_crf = next(la for la in loaded.layers if isinstance(la, CRF))
    for name, value in crf.numpy_weights().items():
        np.testing.assert_array_equal(loaded_crf.numpy_weights()[name], value)


def test_batched_viterbi_equals_one_sequence_at_a_time():
    rng = np.random.default_rng(11)
    k, lengths = 6, [7, 1, 4, 7, 0, 2]
    emissions = rng.normal(size=(len(lengths), 7, k))
    trans, start, end = rng.normal(size=(k, k)), rng.normal(size=k), rng.normal(size=k)
    batched = viterbi_batch(emissions, lengths, trans, start, end)
    assert batched == [viterbi_decode(emissions[row, :n], trans, start, end) if n else []
                       for row, n in enumerate(lengths)]
    assert [len(path) for path in batched] == lengths
