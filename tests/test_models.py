import keras
import pytest

from textrnn.errors import UsageError
from textrnn.nn.factory import ENCODERS, build_model, check_spec, encoders_for, layer_table
from textrnn.train.defaults import resolve_spec


def spec_for(task, encoder, **overrides):
    spec = resolve_spec(task, encoder, units=8, embedding_dim=6, **overrides)[0]
    spec.vocab_size, spec.num_labels, spec.num_tags, spec.num_chars = 30, 4, 5, 12
    return spec


@pytest.mark.parametrize("encoder, bidirectional, layers", [
    ("rnn", False, 1), ("lstm", True, 1), ("gru", False, 2), ("gru", True, 1), ("lstm", True, 2),
])
def test_recurrent_parameter_counts_match_the_textbook(encoder, bidirectional, layers):
    model = build_model(spec_for("classify", encoder, bidirectional=bidirectional, layers=layers))
    rows = [row for row in layer_table(model) if row["formula"]]
    assert len(rows) == layers
    h, x = 8, 6
    gates = {"rnn": 1, "lstm": 4, "gru": 3}[encoder]
    for index, row in enumerate(rows):
        inputs = x if index == 0 else h * (2 if bidirectional else 1)
        expected = gates * (h * (h + inputs) + h) + (3 * h if encoder == "gru" else 0)
        expected *= 2 if bidirectional else 1
        assert row["params"] == row["formula_params"] == expected


@pytest.mark.parametrize("char_features", [False, True])
def test_tree_parameter_count_matches_the_textbook(char_features):
    model = build_model(spec_for("classify", "tree", char_features=char_features))
    (row,) = [row for row in layer_table(model) if row["formula"]]
    h, x = 8, 6 + (model.get_layer("char_cnn").filters if char_features else 0)
    assert row["params"] == row["formula_params"] == h * (x + 1) + h * (2 * h + 1)


@pytest.mark.parametrize("encoder", sorted(ENCODERS))
@pytest.mark.parametrize("task", ["classify", "tag", "joint"])
def test_every_encoder_builds_for_every_task(encoder, task):
    if encoder not in encoders_for(task):  # what `compare` trains by default
        with pytest.raises(UsageError, match="it does not tag"):
            build_model(spec_for(task, encoder))
        return
    spec = spec_for(task, encoder)
    model = build_model(spec)
    outputs = {"classify": {"label"}, "tag": {"tags"}, "joint": {"intent", "tags"}}[task]
    if spec.token_intent:  # joint models but the Jordan tagger: the per-token intents too
        outputs.add("token_intent")
    assert set(model.output_names) == outputs
    assert spec.token_intent == (task == "joint" and not spec.jordan_tagger)
    batch = {"tokens": keras.ops.convert_to_tensor([[3, 4, 5, 0], [6, 0, 0, 0]])}
    names = [tensor.name for tensor in model.inputs]
    if "prev_tags" in names:
        batch["prev_tags"] = keras.ops.zeros((2, 4), dtype="int32")
    if "chars" in names:
        batch["chars"] = keras.ops.ones((2, 4, 3), dtype="int32")
    result = model(batch)
    if "tags" in result:
        assert tuple(result["tags"].shape) == (2, 4, 5)


def test_cnn_classifier_ignores_padding():
    model = build_model(spec_for("classify", "cnn"))
    short = model({"tokens": keras.ops.convert_to_tensor([[3, 4, 5]])})["label"]
    padded = model({"tokens": keras.ops.convert_to_tensor([[3, 4, 5, 0, 0, 0]])})["label"]
    assert keras.ops.max(keras.ops.abs(short - padded)) < 1e-6


@pytest.mark.parametrize("overrides, message", [
    ({"encoder": "cnn", "bidirectional": True}, "--bidirectional does not apply"),
    ({"encoder": "transformer"}, "unknown encoder"),
    ({"crf": True}, "--crf needs tag data"),
    ({"dropout": 1.5}, "--dropout"),
])
def test_contradictory_options_are_refused(overrides, message):
    spec = spec_for("classify", "lstm")
    for key, value in overrides.items():
        setattr(spec, key, value)
    with pytest.raises(UsageError, match=message):
        check_spec(spec)


def test_char_features_see_only_real_characters():
    import numpy as np

    spec = spec_for("tag", "lstm", char_features=True)
    model = build_model(spec)
    tokens = np.array([[3, 4]], dtype="int32")
    chars = np.array([[[2, 3, 0], [4, 0, 0]]], dtype="int32")
    wider = np.concatenate([chars, np.zeros((1, 2, 5), dtype="int32")], axis=-1)
    narrow = model({"tokens": tokens, "chars": chars})["tags"]
    wide = model({"tokens": tokens, "chars": wider})["tags"]
    assert np.abs(np.asarray(narrow) - np.asarray(wide)).max() < 1e-6


def test_balanced_weights_give_each_class_the_same_total():
    from collections import Counter

    import numpy as np

    from textrnn.train.prepare import class_weights

    labels = np.array([0, 0, 0, 1, 2, 2])
    weights = class_weights(Counter("aaabcc"), ["a", "b", "c"])[labels]
    totals = [weights[labels == k].sum() for k in range(3)]
    assert np.allclose(totals, totals[0]) and np.isclose(weights.sum(), len(labels))


def test_joint_intent_is_the_mean_of_the_token_intents_and_feeds_the_tag_head():
    import numpy as np

    model = build_model(spec_for("joint", "lstm", char_features=False, crf=False))
    assert {"token_intent", "intent", "tags"} <= set(model.output_names)
    tokens = np.array([[3, 4, 5, 0, 0], [6, 7, 8, 9, 10]], dtype="int32")
    out = model.predict_on_batch({"tokens": tokens})
    for row, length in enumerate((3, 5)):
        np.testing.assert_allclose(out["intent"][row],
                                   out["token_intent"][row, :length].mean(axis=0), atol=1e-6)
    assert model.get_layer("tags").input.shape[-1] == 2 * 8 + 4  # BiLSTM states + intents


def test_learning_rate_decays_every_fixed_number_of_updates():
    from textrnn.train.fit import DECAY_UPDATES, compile_model
    from textrnn.train.prepare import TrainConfig

    spec = spec_for("classify", "lstm")
    model = build_model(spec)
    compile_model(model, spec, TrainConfig(learning_rate=0.1, lr_decay=0.5))
    schedule = keras.optimizers.schedules.deserialize(
        model.optimizer.get_config()["learning_rate"])
    steps = (0, DECAY_UPDATES - 1, DECAY_UPDATES, 2 * DECAY_UPDATES)
    assert [round(float(schedule(step)), 6) for step in steps] == [0.1, 0.1, 0.05, 0.025]


def test_training_creates_every_variable_before_the_train_step_is_traced():
    """Variables made inside the first trace of Keras' train step (the optimizer's, the
    losses' and the metrics') make TensorFlow trace the step a second time; fit.train creates
    them first."""
    from conftest import SAMPLE

    from textrnn.data.read import read_corpus
    from textrnn.train.fit import train
    from textrnn.train.prepare import TrainConfig

    corpus = read_corpus(str(SAMPLE / "flights_intents.csv"))
    counts = []

    class CountVariables(keras.callbacks.Callback):
        def count(self):
            counts.append((len(self.model.optimizer.variables),
                           len(self.model.metrics_variables)))

        def on_train_begin(self, logs=None):
            self.count()

        def on_epoch_end(self, epoch, logs=None):
            self.count()

    spec = resolve_spec("classify", "lstm", units=8, embedding_dim=6)[0]
    train(corpus, None, spec, TrainConfig(epochs=1, batch_size=64),
          extra_callbacks=[CountVariables()])
    assert counts[0][0] > 0 and counts[0] == counts[-1]
