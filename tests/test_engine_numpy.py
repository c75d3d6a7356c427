"""The NumPy forward pass against Keras: same outputs for every model the factory builds."""

import json

import keras
import numpy as np
import pytest
from keras import layers
from test_jordan import jordan_decode

from textrnn.nn.export import UnsupportedLayer, export
from textrnn.nn.factory import build_model
from textrnn.nn.jordan import JordanCell, JordanTagger
from textrnn.predict.predictor import Predictor
from textrnn.predict.runtime import NumpyModel
from textrnn.text import OOV, PAD
from textrnn.train.defaults import resolve_spec

VOCAB, LABELS, TAGS = 30, 4, 5
TOLERANCE = 1e-4
# Right-padded rows of varied length; the first batch has full-length rows, the second is
# padded to a round width as the Predictor does (so some columns are padding in every row).
LENGTHS = [9, 1, 5, 3, 9, 7, 2]
WIDTHS = (9, 16)


def token_batch(seed: int, width: int, lengths=LENGTHS) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ids = np.zeros((len(lengths), width), dtype=np.int32)
    for row, length in enumerate(lengths):
        ids[row, :length] = rng.integers(1, VOCAB, length)
    return ids


def randomize(model, seed: int) -> None:
    """Non-zero biases and transitions too: every variable gets seeded random values."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        variable.assign(rng.normal(0.0, 0.5, variable.shape).astype("float32"))


def factory_model(task, encoder, seed=0, **overrides):
    spec = resolve_spec(task, encoder, units=8, embedding_dim=6, **overrides)[0]
    spec.vocab_size, spec.num_labels, spec.num_tags, spec.num_chars = VOCAB, LABELS, TAGS, 12
    model = build_model(spec)
    randomize(model, seed)
    return model


def keras_feed(model, ids):
    feed = {"tokens": ids}
    names = [tensor.name for tensor in model.inputs]
    if "prev_tags" in names:
        feed["prev_tags"] = np.zeros_like(ids)
    if "chars" in names:  # 1 to 6 characters per real token, ids 1..11
        rng = np.random.default_rng(int(ids.sum()))
        chars = rng.integers(1, 12, size=(*ids.shape, 6)).astype("int32")
        chars[np.arange(6) >= rng.integers(1, 7, size=(*ids.shape, 1))] = 0
        chars[ids == 0] = 0
        feed["chars"] = chars
    if "bigrams" in names:  # ids 1..19 at real tokens
        rng = np.random.default_rng(int(ids.sum()) + 1)
        feed["bigrams"] = np.where(ids != 0, rng.integers(1, 20, size=ids.shape), 0
                                   ).astype("int32")
    if "lookup" in names:  # begin/continue flags of 2 lists at real tokens
        rng = np.random.default_rng(int(ids.sum()) + 2)
        width = model.get_layer("lookup").output.shape[-1]
        flags = rng.integers(0, 2, size=(*ids.shape, width)).astype("float32")
        feed["lookup"] = flags * (ids != 0)[..., None]
    return feed


def round_trip(model, tmp_path) -> NumpyModel:
    """Export, store as the bundle will (JSON + npz without pickles), load back."""
    graph, weights = export(model)
    assert all(value.dtype == np.float32 for value in weights.values())
    (tmp_path / "graph.json").write_text(json.dumps(graph), encoding="utf-8")
    np.savez(tmp_path / "weights.npz", **weights)
    with np.load(tmp_path / "weights.npz", allow_pickle=False) as stored:
        assert sorted(stored.files) == sorted(weights)
        loaded = NumpyModel(json.loads((tmp_path / "graph.json").read_text("utf-8")), stored)
    # Single-threaded, the two directions of a BiRNN run one after the other: same numbers.
    feed = keras_feed(model, token_batch(1, 9))
    in_memory = NumpyModel(graph, weights, threads=1).predict_on_batch(feed)
    for key, value in loaded.predict_on_batch(feed).items():
        np.testing.assert_array_equal(value, in_memory[key])
    return loaded


def assert_same_outputs(model, engine, ids) -> None:
    expected = model.predict_on_batch(keras_feed(model, ids))
    got = engine.predict_on_batch(keras_feed(model, ids))
    assert set(got) == set(expected)
    real = ids != 0
    for key, want in expected.items():
        want = np.asarray(want)
        assert got[key].shape == want.shape and got[key].dtype == np.float32, key
        # Every position, padding included: downstream code may read any of them. Relative
        # too: float32 emission scores of randomised stacked layers reach the hundreds.
        assert np.all(np.abs(got[key] - want) <= TOLERANCE * (1 + np.abs(want))), key
        if want.ndim == 3:
            np.testing.assert_array_equal(got[key].argmax(-1)[real], want.argmax(-1)[real])
        else:
            np.testing.assert_array_equal(got[key].argmax(-1), want.argmax(-1))


def factory_cases():
    cases = []
    for encoder in ("lstm", "gru", "rnn", "jordan", "cnn"):
        for task in ("classify", "tag", "joint"):
            jordan_tagger = encoder == "jordan" and task != "classify"
            for bidirectional in (False,) if encoder == "cnn" or jordan_tagger else (False, True):
                overrides = {"bidirectional": bidirectional}
                if not jordan_tagger:  # the Jordan tagger is one layer, without a CRF
                    overrides["layers"] = 2
                    overrides["crf"] = task != "classify"
                overrides["multilabel"] = task == "classify"
                name = f"{encoder}-{task}-{'bi' if bidirectional else 'uni'}"
                cases.append(pytest.param(task, encoder, overrides, id=name))
    # Softmax heads and single layers too.
    cases += [
        pytest.param("tag", "lstm", {"bidirectional": False, "crf": False}, id="lstm-tag-softmax"),
        pytest.param("joint", "gru", {"crf": False}, id="gru-joint-softmax"),
        pytest.param("joint", "lstm", {"token_intent": False}, id="lstm-joint-pooled-intent"),
        pytest.param("joint", "cnn", {"token_intent": True, "crf": False},
                     id="cnn-joint-token-intent-softmax"),
        pytest.param("classify", "cnn", {}, id="cnn-classify-softmax"),
        pytest.param("joint", "lstm", {"char_features": True}, id="lstm-joint-chars"),
        pytest.param("classify", "gru", {"char_features": True}, id="gru-classify-chars"),
        pytest.param("joint", "lstm", {"char_features": True, "lookup_features": 4},
                     id="lstm-joint-chars-lookups"),
        pytest.param("tag", "gru", {"lookup_features": 2}, id="gru-tag-lookups"),
        pytest.param("classify", "tree", {}, id="tree-classify-softmax"),
        pytest.param("classify", "tree", {"multilabel": True}, id="tree-classify-multilabel"),
        pytest.param("classify", "tree", {"char_features": True}, id="tree-classify-chars"),
    ]
    return cases


@pytest.mark.parametrize("task, encoder, overrides", factory_cases())
def test_engine_matches_keras_on_every_factory_model(task, encoder, overrides, tmp_path):
    model = factory_model(task, encoder, seed=7, **overrides)
    engine = round_trip(model, tmp_path)
    for width in WIDTHS:
        assert_same_outputs(model, engine, token_batch(width, width))


def test_keras_mask_semantics_are_matched(tmp_path):
    """What Keras does on right-padded input, stated and checked: a unidirectional RNN repeats
    its last real output over the padding, a Bidirectional one outputs zeros there, and the
    backward direction starts afresh at each row's last real token."""
    keras.utils.set_random_seed(3)
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    x = layers.Embedding(VOCAB, 6, mask_zero=True)(tokens)
    outputs = {
        "uni": layers.LSTM(4, return_sequences=True)(x),
        "bi": layers.Bidirectional(layers.LSTM(4, return_sequences=True))(x),
        "back": layers.GRU(4, return_sequences=True, go_backwards=True, reset_after=False)(x),
        "last": layers.Bidirectional(layers.SimpleRNN(4, activation="relu"), merge_mode="sum")(x),
        "jordan": layers.RNN(JordanCell(4), return_sequences=True)(x),
        "final": layers.LSTM(4, zero_output_for_mask=True)(x),  # zeros if the last step is padding
    }
    model = keras.Model([tokens], outputs)
    randomize(model, 11)
    engine = round_trip(model, tmp_path)
    lengths = [12, 1, 5, 0, 3, 9, 7]  # an all-padding row too: no pooling here to divide by 0
    ids = token_batch(5, 16, lengths)
    for width in (12, 16):
        assert_same_outputs(model, engine, ids[:, :width])
    # Not what the Predictor sends, but Keras masks it all the same: left padding, holes, and
    # a column that is padding in every row.
    holes = ids[:, :12].copy()
    holes[:, [2, 9]] = 0  # steps 2 of both directions of a width-12 BiRNN
    holes[::2, :4] = 0
    holes[1, 6:9] = 0
    assert_same_outputs(model, engine, holes)

    out = model.predict_on_batch({"tokens": ids})
    for row, length in enumerate(lengths):
        last = out["uni"][row, length - 1] if length else np.zeros(4, np.float32)
        np.testing.assert_array_equal(out["uni"][row, length:],
                                      np.broadcast_to(last, (16 - length, 4)))
        assert not np.any(out["bi"][row, length:])
        if length:
            alone = model.predict_on_batch({"tokens": ids[row: row + 1, :length]})["bi"][0]
            np.testing.assert_allclose(out["bi"][row, :length], alone, atol=1e-6)


@pytest.mark.parametrize("feedback", ["argmax", "probs"])
def test_jordan_tagger_decodes_free_running(feedback, tmp_path):
    """Parity with Keras and with textrnn.jordan.jordan_decode, row by row."""
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    prev_tags = keras.Input(shape=(None,), dtype="int32", name="prev_tags")
    x = layers.Embedding(VOCAB, 6, mask_zero=True, name="embedding")(tokens)
    probs, hidden = JordanTagger(8, TAGS, feedback=feedback, name="jordan")([x, prev_tags])
    model = keras.Model([tokens, prev_tags], {
        "tags": layers.Identity(name="tags")(probs),
        "intent": layers.GlobalAveragePooling1D(name="mean_pool")(hidden)})
    randomize(model, 5)
    engine = round_trip(model, tmp_path)
    ids = token_batch(9, 12)
    assert_same_outputs(model, engine, ids)

    got = engine.predict_on_batch({"tokens": ids})  # prev_tags is not needed to predict
    table = model.get_layer("embedding").embeddings.numpy()
    tagger = model.get_layer("jordan")
    weights = {name: getattr(tagger, name).numpy() for name in
               ("kernel", "prev_tag_kernel", "bias", "output_kernel", "output_bias")}
    for row, length in enumerate(LENGTHS):
        want, _ = jordan_decode(table[ids[row, :length]], weights, feedback=feedback)
        np.testing.assert_allclose(got["tags"][row, :length], want, atol=1e-5)


def test_crf_transitions_are_exported_under_documented_names(tmp_path):
    model = factory_model("tag", "lstm", crf=True)
    graph, weights = export(model)
    layer = model.get_layer("tags")
    crf = {role: getattr(layer, name).numpy() for role, name in (
        ("transitions", "transitions"), ("start", "start_transitions"),
        ("end", "end_transitions"))}
    assert graph["crf"] == {"tags": {"transitions": "tags/transitions",
                                     "start": "tags/start_transitions",
                                     "end": "tags/end_transitions"}}
    engine = round_trip(model, tmp_path)
    for role, value in engine.crf_weights("tags").items():
        np.testing.assert_array_equal(value, crf[role])
        np.testing.assert_array_equal(weights[graph["crf"]["tags"][role]], crf[role])
    np.testing.assert_array_equal(engine.get_layer("tags").transitions, crf["transitions"])


def test_predictor_gives_the_same_answers_with_the_engine(tmp_path):
    """NumpyModel duck-types what the Predictor reads: inputs, get_layer, predict_on_batch."""
    model = factory_model("joint", "lstm", crf=True)
    words = [f"w{i}" for i in range(2, VOCAB)]
    meta = {"task": "joint", "multilabel": False,
            "tokenizer": {"max_len": 12, "lowercase": True}, "vocab": [PAD, OOV, *words],
            "chars": [PAD, OOV, *"w012345678"],
            "labels": ["a", "b", "c", "d"], "tags": ["<pad>", "O", "B-x", "I-x", "B-y"],
            "model": {"crf": True}}
    rng = np.random.default_rng(2)
    texts = [" ".join(rng.choice(words + ["unseen"], size=n)) for n in (1, 4, 9, 12, 15, 3)]
    texts.append("")
    want = Predictor(model, meta).predict(texts, top_k=2)
    got = Predictor(round_trip(model, tmp_path), meta).predict(texts, top_k=2)
    for mine, theirs in zip(got, want):
        assert mine.get("tags") == theirs.get("tags") and mine["intent"] == theirs["intent"]
        assert mine.get("intent_prob") == pytest.approx(theirs.get("intent_prob"), abs=1e-5)


def test_unsupported_layers_are_refused_by_name():
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    x = layers.Embedding(VOCAB, 6, mask_zero=True)(tokens)
    x = layers.LayerNormalization(name="norm")(x)
    model = keras.Model(tokens, {"tags": layers.Dense(TAGS, name="tags")(x)})
    with pytest.raises(UnsupportedLayer) as caught:
        export(model)
    assert (caught.value.name, caught.value.type) == ("norm", "LayerNormalization")

    class Scaled(layers.Dense):  # a subclass may compute anything: not ours to guess
        pass

    x = layers.Embedding(VOCAB, 6)(tokens)
    model = keras.Model(tokens, {"label": Scaled(3, name="scaled")(x)})
    with pytest.raises(UnsupportedLayer, match="scaled"):
        export(model)
