"""The tree encoder: the tree of a sentence's real tokens, whatever the padding; it trains."""

import csv
import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers
from typer.testing import CliRunner

from textrnn.cli import app
from textrnn.errors import UsageError
from textrnn.nn.factory import build_model, check_spec
from textrnn.nn.tree import TreeEncoder
from textrnn.train.defaults import resolve_spec

VOCAB, DIM, UNITS = 30, 6, 5


@pytest.fixture(scope="module")
def tree_model():
    """tokens -> embedding (masking id 0) -> tree root, every weight random and non-zero (the
    padding embedding too, so that padding leaking into a root would show)."""
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    x = layers.Embedding(VOCAB, DIM, mask_zero=True, name="embedding")(tokens)
    model = keras.Model(tokens, TreeEncoder(UNITS, name="tree")(x))
    rng = np.random.default_rng(4)
    for variable in model.weights:
        variable.assign(rng.normal(0.0, 0.7, variable.shape).astype("float32"))
    return model


def padded(rows, width):
    ids = np.zeros((len(rows), width), dtype="int32")
    for index, row in enumerate(rows):
        ids[index, : len(row)] = row
    return ids


def reference_root(model, ids):
    """The recursive network written out over a Python list, in float64."""
    table = model.get_layer("embedding").embeddings.numpy().astype("float64")
    tree = model.get_layer("tree")
    leaf_kernel, leaf_bias, kernel, bias = (getattr(tree, name).numpy().astype("float64")
                                            for name in ("leaf_kernel", "leaf_bias", "kernel",
                                                         "bias"))
    nodes = [np.tanh(table[i] @ leaf_kernel + leaf_bias) for i in ids]
    while len(nodes) > 1:
        nodes = [np.tanh(np.concatenate(nodes[i: i + 2]) @ kernel + bias) if i + 1 < len(nodes)
                 else nodes[i] for i in range(0, len(nodes), 2)]
    return nodes[0]


def test_padding_never_changes_a_root(tree_model):
    sentence = [3, 17, 5, 9, 22]
    others = [[4], [8, 2, 11, 6, 1, 19, 12], [], [25, 7]]
    alone = tree_model.predict_on_batch(np.array([sentence], dtype="int32"))[0]
    for width in (7, 8, 20):
        ids = padded([sentence, *others], width)
        for roots in (tree_model.predict_on_batch(ids), tree_model(ids)):  # graph and eager
            np.testing.assert_allclose(np.asarray(roots)[0], alone, atol=1e-5)
            assert not np.any(np.asarray(roots)[3])  # no real token: a zero root
    changed = tree_model.predict_on_batch(padded([[3, 17, 5, 9, 23]], 8))[0]
    assert np.abs(changed - alone).max() > 1e-3


@pytest.mark.parametrize("length", [1, 2, 3, 5, 7])
def test_odd_nodes_are_carried_up(tree_model, length):
    ids = list(np.random.default_rng(length).integers(1, VOCAB, length))
    roots = tree_model.predict_on_batch(padded([ids, [1, 2, 3, 4, 5, 6, 7, 8]], 8))
    np.testing.assert_allclose(roots[0], reference_root(tree_model, ids), atol=1e-5)


def test_three_tokens_make_a_tree_of_depth_two(tree_model):
    layer = tree_model.get_layer("tree")
    table = tree_model.get_layer("embedding").embeddings.numpy()
    leaf = [np.tanh(table[i] @ layer.leaf_kernel.numpy() + layer.leaf_bias.numpy())
            for i in (4, 9, 2)]

    def compose(left, right):
        return np.tanh(np.concatenate([left, right]) @ layer.kernel.numpy() + layer.bias.numpy())

    root = tree_model.predict_on_batch(np.array([[4, 9, 2]], dtype="int32"))[0]
    np.testing.assert_allclose(root, compose(compose(leaf[0], leaf[1]), leaf[2]), atol=1e-5)


def test_gradients_reach_every_weight_and_no_padding():
    layer = TreeEncoder(UNITS)
    x = tf.Variable(np.random.default_rng(0).normal(size=(3, 6, DIM)).astype("float32"))
    mask = tf.constant(padded([[1] * 6, [1] * 3, [1]], 6) > 0)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(layer(x, mask=mask) - 0.3))
    grads = tape.gradient(loss, [x, *layer.trainable_weights])
    assert all(np.all(np.isfinite(g)) and np.any(g) for g in grads)
    per_token = np.abs(np.asarray(grads[0])).sum(-1)
    assert np.all(per_token[mask.numpy()] > 0) and not np.any(per_token[~mask.numpy()])


def test_the_layer_serializes():
    layer = TreeEncoder(7, name="tree")
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(again) is TreeEncoder and again.units == 7 and again.name == "tree"


@pytest.mark.parametrize("task, overrides, message", [
    ("tag", {}, "it classifies, it does not tag"),
    ("joint", {}, "it classifies, it does not tag"),
    ("classify", {"layers": 2}, "one recursive layer"),
    ("classify", {"bidirectional": True}, "--bidirectional does not apply to the 'tree'"),
])
def test_options_that_do_not_fit_a_tree_are_refused(task, overrides, message):
    spec = resolve_spec(task, "tree", **overrides)[0]
    with pytest.raises(UsageError, match=message):
        check_spec(spec)


def test_the_classifier_uses_the_root_without_pooling():
    spec = resolve_spec("classify", "tree", units=8, embedding_dim=6)[0]
    assert not spec.bidirectional
    spec.vocab_size, spec.num_labels = VOCAB, 3
    model = build_model(spec)
    assert [type(layer).__name__ for layer in model.layers] == [
        "InputLayer", "Embedding", "TreeEncoder", "Dropout", "Dense"]


def test_a_tree_classifier_trains_and_predicts_on_the_numpy_engine(topics_csv, topics_test_csv,
                                                                   tmp_path):
    from textrnn.predict.predictor import Predictor

    runner = CliRunner()
    out = tmp_path / "tree"
    result = runner.invoke(app, ["train", str(topics_csv), "--out", str(out), "--encoder", "tree",
                                 "--epochs", "15", "--units", "16", "--embedding-dim", "16",
                                 "--lr", "0.01", "--quiet"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "textrnn.json").read_text())["engine"] == {"numpy": True}
    with open(topics_test_csv, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    result = runner.invoke(app, ["predict", "-", "--model", str(out), "-f", "jsonl"],
                           input="".join(row["text"] + "\n" for row in rows))
    assert result.exit_code == 0, result.output
    got = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.stderr == ""  # no note about falling back to TensorFlow
    accuracy = np.mean([item["label"] == row["label"] for item, row in zip(got, rows)])
    assert accuracy >= 0.7  # topic words decide the label; chance is 1/3
    # model.keras loads in safe mode and agrees with the NumPy engine.
    texts = [row["text"] for row in rows[:8]]
    keras_answers = Predictor.load(str(out), "keras").predict(texts)
    for mine, theirs in zip(got, keras_answers):
        assert mine["label"] == theirs["label"]
        assert abs(mine["prob"] - theirs["prob"]) <= 1e-4


@pytest.mark.parametrize("extra", [[], ["--task", "tag"]])
def test_the_cli_refuses_a_tree_tagger(slots_csv, tmp_path, extra):
    result = CliRunner().invoke(app, ["train", str(slots_csv), "--out", str(tmp_path / "m"),
                                      "--encoder", "tree", "--quiet", *extra])
    assert result.exit_code == 2 and "it does not tag" in result.stderr
