"""`--engine onnx` against Keras: Bidirectional LSTM/GRU layers on ONNX Runtime, same outputs."""

import numpy as np
import pytest
from test_engine_numpy import WIDTHS, assert_same_outputs, factory_model, keras_feed, token_batch

from textrnn.nn.export import export
from textrnn.predict.runtime import NumpyModel

pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("encoder", ["lstm", "gru"])
@pytest.mark.parametrize("task", ["classify", "tag", "joint"])
def test_fused_layers_match_keras(task, encoder):
    model = factory_model(task, encoder, bidirectional=True, layers=2, crf=task != "classify",
                          char_features=task == "joint")
    engine = NumpyModel(*export(model), engine="onnx")
    assert len(engine.fused) == 2  # both layers on ONNX Runtime, none left to NumPy
    for seed, width in enumerate(WIDTHS):
        assert_same_outputs(model, engine, token_batch(seed, width))


@pytest.mark.parametrize("encoder", ["lstm", "gru"])
def test_the_hand_encoded_model_is_valid_onnx(encoder):
    onnx = pytest.importorskip("onnx")
    engine = NumpyModel(*export(factory_model("tag", encoder, bidirectional=True, layers=1)),
                        engine="onnx")
    (kernel,) = engine.fused.values()
    model = onnx.load_from_string(kernel.model)
    onnx.checker.check_model(model, full_check=True)
    assert [n.op_type for n in model.graph.node] == [encoder.upper()]


def test_a_mask_with_holes_runs_on_numpy():
    model = factory_model("tag", "lstm", bidirectional=True, layers=1)
    fused = NumpyModel(*export(model), engine="onnx")
    plain = NumpyModel(*export(model))
    ids = token_batch(3, 9)
    ids[0, 2] = 0  # padding inside a row: no sequence_lens describes it
    feed = keras_feed(model, ids)
    want, got = plain.predict_on_batch(feed), fused.predict_on_batch(feed)
    for key, value in want.items():
        np.testing.assert_array_equal(got[key], value)
