"""Bidirectional LSTM/GRU layers on ONNX Runtime's fused CPU kernels (`--engine onnx`).

Optional (`pip install 'textrnn[onnx]'`: onnxruntime): the NumPy engine hands each
Bidirectional layer it can express here to one ONNX `LSTM` or `GRU` node (opset 14) with
`sequence_lens`, built from the NumPy export's weights (`onnx_proto` encodes it); every other
layer stays NumPy. Measured on the default SNIPS model (docs/benchmarks.md), the fused kernel
runs the BiLSTM faster than NumPy's step loop, whose float32 gate math is a dozen separate
passes over memory.

Keras' semantics map onto ONNX's for right-padded rows: the forward direction stops at each
row's length, the backward one starts at its last real token, and `Bidirectional` (returning
sequences) outputs zeros at padding, which ONNX Runtime writes there too. A mask with holes or
an empty row has no `sequence_lens`: such a batch runs on NumPy (`__call__` returns None).
"""

from __future__ import annotations

import numpy as np
import onnxruntime

from textrnn.predict import onnx_proto

OPSET = 14
IR_VERSION = 8  # what opset 14 needs; old enough for every supported onnxruntime
# Keras' gate blocks (last axis) in ONNX's order: LSTM i f c o -> i o f c; GRU z r h is shared.
_GATES = {"lstm": (0, 3, 1, 2), "gru": (0, 1, 2)}


def bidirectional(config: dict, weights: dict, threads: int) -> FusedBidirectional | None:
    """A fused kernel for a Bidirectional node's config, or None when ONNX cannot express it
    exactly (other cells or activations, a merge other than concat, last outputs only)."""
    halves = config["forward"], config["backward"]
    cell = halves[0]["cell"]
    if (cell not in _GATES or config["merge_mode"] != "concat"
            or not config["return_sequences"]
            or any(half["cell"] != cell or not half["zero_output_for_mask"]
                   or half.get("activation", "tanh") != "tanh"
                   or half.get("recurrent_activation", "sigmoid") != "sigmoid"
                   for half in halves)
            or cell == "gru" and halves[0].get("reset_after", True)
            != halves[1].get("reset_after", True)):
        return None
    return FusedBidirectional(cell, [_onnx_weights(cell, half, weights) for half in halves],
                              bool(halves[0].get("reset_after", True)), threads)


def _onnx_weights(cell: str, config: dict, weights: dict):
    """W (G, D), R (G, h) and B (2G,: input then recurrent bias) of one direction."""
    get = {role: weights[name] for role, name in config["weights"].items()}
    units = int(config["units"])
    order = np.concatenate([np.arange(g * units, (g + 1) * units) for g in _GATES[cell]])
    bias = get.get("bias")
    size = len(order)
    if bias is None:
        bias = np.zeros(2 * size, np.float32)
    elif bias.ndim == 2:  # a GRU's (2, 3h): input bias, recurrent bias
        bias = np.concatenate([bias[0][order], bias[1][order]])
    else:
        bias = np.concatenate([bias[order], np.zeros(size, np.float32)])
    return get["kernel"][:, order].T, get["recurrent_kernel"][:, order].T, bias


def recurrent_model(cell: str, directions: list, reset_after: bool) -> bytes:
    """The ONNX model (serialised) of one bidirectional LSTM/GRU node: X (T, B, D) and
    lengths (B,) in, Y (T, 2, B, h) out; `directions` are `_onnx_weights` of each."""
    stacked = [np.stack(parts) for parts in zip(*directions)]
    units = stacked[1].shape[2]
    attributes = {"direction": "bidirectional", "hidden_size": units}
    if cell == "gru":
        attributes["linear_before_reset"] = int(reset_after)
    return onnx_proto.model(
        [onnx_proto.node(cell.upper(), ["X", "W", "R", "B", "lengths"], ["Y"], **attributes)],
        [onnx_proto.value_info("X", onnx_proto.FLOAT, ["T", "B", "D"]),
         onnx_proto.value_info("lengths", onnx_proto.INT32, ["B"])],
        [onnx_proto.value_info("Y", onnx_proto.FLOAT, ["T", 2, "B", units])],
        [onnx_proto.tensor(name, array) for name, array in zip("WRB", stacked)],
        OPSET, IR_VERSION)


class FusedBidirectional:
    """`(x (B, T, D), mask (B, T) or None) -> (B, T, 2h)`, or None for a mask ONNX cannot
    take."""

    def __init__(self, cell: str, directions: list, reset_after: bool, threads: int):
        self.model = recurrent_model(cell, directions, reset_after)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        # Spinning threads steal the cores from everything else on a shared machine.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.units = directions[0][1].shape[1]
        self.session = onnxruntime.InferenceSession(self.model, options,
                                                    providers=["CPUExecutionProvider"])

    def __call__(self, x: np.ndarray, mask) -> np.ndarray | None:
        batch, steps, _ = x.shape
        if mask is None:
            lengths = np.full(batch, steps, np.int32)
        else:
            mask = np.asarray(mask, bool)
            lengths = mask.sum(axis=1, dtype=np.int32)
            if not lengths.all() or not np.array_equal(mask, np.arange(steps) < lengths[:, None]):
                return None
        time_major = np.ascontiguousarray(np.transpose(x, (1, 0, 2)), dtype=np.float32)
        (y,) = self.session.run(None, {"X": time_major, "lengths": lengths})
        # (T, 2, B, h) -> (B, T, 2h): the forward then the backward output, as Keras concats.
        return np.ascontiguousarray(y.transpose(2, 0, 1, 3)).reshape(batch, steps, 2 * self.units)
