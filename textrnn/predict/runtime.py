"""A TensorFlow-free forward pass: the trained Keras graph replayed in NumPy.

`import tensorflow` alone costs seconds, which dominates `textrnn predict` in shell loops. At
save time `textrnn.nn.export.export(model)` (Keras available) turns the functional model into a
JSON-ready graph description plus float32 weight arrays for `weights.npz`; at predict time
`NumpyModel` runs that graph with NumPy only. This module never imports TensorFlow or Keras.

Graph (`export()[0]`)::

    {"format": "textrnn-numpy", "version": 1,
     "inputs": ["tokens", ...],                    # InputLayer names, in model order
     "outputs": {"tags": ["tags", 0], ...},        # output key -> [node id, output index]
     "nodes": [{"id", "type", "inputs": [[id, index], ...], "mask": [id, index] | null,
                "config": {...}, "weights": {role: weight name}}, ...],   # topological
     "crf": {"tags": {"transitions": "tags/transitions", "start": "tags/start_transitions",
                      "end": "tags/end_transitions"}}}

A node id is the Keras layer (or op) name. `mask` is the mask tensor the layer receives at run
time: Keras records it in the node's call arguments, and it is the output of a `NotEqual`
node (`tokens != 0`, the Embedding's `mask_zero` mask).

Weight names (`export()[1]`) are ``"<layer name>/<weight>"``, e.g. ``embedding/embeddings``,
``lstm_1/kernel``, ``lstm_1/recurrent_kernel``, ``lstm_1/bias``; the two directions of a
Bidirectional layer are ``bilstm_1/forward/...`` and ``bilstm_1/backward/...``; a KimConv's
convolutions are ``cnn_1/conv3/kernel`` and ``cnn_1/conv3/bias``; the bigram table is
``bigram_embedding/embeddings``; a GRU's bias is (2, 3h):
row 0 input bias, row 1 recurrent bias (Keras' layout). The CRF transitions of the layer named
``tags`` are ``tags/transitions`` (K, K; ``[i, j]`` scores tag j after tag i),
``tags/start_transitions`` and ``tags/end_transitions`` (K,) -- also listed under
``graph["crf"]`` and available as ``NumpyModel.crf_weights("tags")`` in the key layout of
``CRF.numpy_weights()`` / ``viterbi_decode``.

Keras masking semantics reproduced here (Keras 3.15, TensorFlow backend, CPU):

* A recurrent layer on masked steps keeps its state; its output there is the previous step's
  output (so a unidirectional layer repeats the last real output over right padding), or zeros
  when ``zero_output_for_mask`` is set -- and ``Bidirectional`` forces it on for both
  directions when returning sequences, so a BiRNN outputs exact zeros at padded positions.
* The backward direction iterates from the last (padded) position: masked steps leave its
  zero initial state alone, so it effectively starts at each row's last real token; its output
  is flipped back to natural order before the merge.
* The JordanTagger gets no mask: it decodes free-running over padded steps too (padding comes
  after every real step, so it cannot change real outputs).
* Masked mean pooling divides by the number of real steps (NaN for an all-padding row, as in
  Keras); MaskedGlobalMaxPooling1D puts -1e9 at padded steps; KimConv zeroes padded steps
  before convolving; Dense, Dropout, Identity and CRF ignore the mask (CRF's output is a copy).
* TreeEncoder zeroes padded leaves and passes a left child up unchanged when its right sibling
  is padding, so a row's root is the tree of its real tokens (zeros for an all-padding row).

Speed: float32 throughout. A recurrent layer projects the inputs of all steps in one matmul,
then does one (B, h) @ (h, G) matmul per step; steps that are padding in every row (the
Predictor rounds widths up to a multiple of 8) are not computed, since Keras' result there is
known (see `_Recurrent._trailing_padding`). The two directions of a Bidirectional layer run in
two threads (NumPy releases the GIL). OpenBLAS' own threads busy-wait and collapse when the
cores are shared with other processes; with ``OPENBLAS_NUM_THREADS=1`` set before NumPy is
imported this engine still uses two cores for BiRNNs and stays steady.
"""

from __future__ import annotations

import json
import os
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from textrnn.bundle import GRAPH_FILE, WEIGHTS_FILE
from textrnn.errors import BundleError
from textrnn.text import PAD_TAG

FORMAT = "textrnn-numpy"
VERSION = 1
# Below this many rows, handing a direction to another thread costs more than it saves.
_PARALLEL_MIN_BATCH = 4


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


_NUMPY_ACTIVATIONS = {
    "linear": lambda x: x,
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "relu": lambda x: np.maximum(x, 0),
    "softmax": _softmax,
}


class _Missing:
    """Stands in for an input the caller did not give; an error only if something reads it."""

    def __init__(self, name):
        self.name = name


class NumpyModel:
    """Runs an exported graph; `predict_on_batch` mirrors the Keras model's.

    Also duck-types what `textrnn.predict.predictor.Predictor` reads from a Keras model: `inputs`
    (objects with a `.name`) and `get_layer(name)` (the layer's weights as attributes, e.g.
    `get_layer("tags").transitions`).
    """

    def __init__(self, graph: dict, weights, threads: int | None = None, engine: str = "numpy"):
        """`threads`: 2 runs the two directions of a Bidirectional layer in parallel (the
        default when the machine has 2+ cores), 1 runs everything in the calling thread.
        `engine`: 'onnx' runs the Bidirectional layers `onnx_rnn` can express on ONNX Runtime
        (by node id in `fused`), the rest in NumPy."""
        if graph.get("format") != FORMAT or int(graph.get("version", 0)) > VERSION:
            raise ValueError(f"not a {FORMAT} graph of version <= {VERSION}")
        self.graph = graph
        self.input_names = list(graph["inputs"])
        self.inputs = [SimpleNamespace(name=name) for name in self.input_names]
        self.output_names = list(graph["outputs"])
        self.weights = {name: np.ascontiguousarray(weights[name], dtype=np.float32)
                        for name in _weight_names(graph)}
        self.threads = min(2, os.cpu_count() or 1) if threads is None else int(threads)
        self.engine = engine
        self.fused: dict = {}  # node id -> its onnx_rnn kernel
        self._pool = None
        self._pool_lock = threading.Lock()
        self._steps = [self._compile(node) for node in graph["nodes"]]
        self._outputs = {key: tuple(ref) for key, ref in graph["outputs"].items()}

    def _worker(self):
        """A one-thread executor, started on first use; None when running single-threaded."""
        if self.threads < 2:
            return None
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1,
                                                thread_name_prefix="textrnn-numpy")
        return self._pool

    @classmethod
    def load(cls, graph_path, weights_path, engine: str = "numpy") -> NumpyModel:
        """From a graph JSON file and a weights .npz file."""
        with open(graph_path, encoding="utf-8") as handle:
            graph = json.load(handle)
        with np.load(weights_path, allow_pickle=False) as weights:
            return cls(graph, weights, engine=engine)

    @classmethod
    def from_directory(cls, directory, engine: str = "numpy") -> NumpyModel:
        """A model directory's NumPy model; a missing or damaged file is a BundleError."""
        folder = Path(directory)
        try:
            return cls.load(folder / GRAPH_FILE, folder / WEIGHTS_FILE, engine)
        except FileNotFoundError as error:
            raise BundleError(f"{folder}: {Path(error.filename).name} missing") from None
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile,
                json.JSONDecodeError) as error:
            raise BundleError(f"{folder}: the NumPy model is damaged ({error}); "
                              "use --engine keras") from None

    # -- public API -------------------------------------------------------------------------
    def predict_on_batch(self, inputs: dict) -> dict[str, np.ndarray]:
        values: dict[tuple, object] = {}
        with np.errstate(**_QUIET):
            for node_id, run, input_refs, mask_ref in self._steps:
                args = [_value(values, ref) for ref in input_refs]
                mask = None if mask_ref is None else _value(values, mask_ref)
                for index, output in enumerate(run(args, mask, inputs)):
                    values[node_id, index] = output
        return {key: np.ascontiguousarray(_value(values, ref))
                for key, ref in self._outputs.items()}

    def get_layer(self, name: str) -> SimpleNamespace:
        for node in self.graph["nodes"]:
            if node["id"] == name:
                return SimpleNamespace(**{
                    weight[len(name) + 1:].replace("/", "_"): self.weights[weight]
                    for weight in _weight_names({"nodes": [node]})})
        raise ValueError(f"no layer named {name!r}")

    def crf_weights(self, name: str = "tags") -> dict[str, np.ndarray]:
        """{'transitions', 'start', 'end'} of a CRF layer, as `CRF.numpy_weights()` gives."""
        names = self.graph.get("crf", {}).get(name)
        if names is None:
            raise ValueError(f"no CRF layer named {name!r}")
        return {role: self.weights[weight] for role, weight in names.items()}

    # -- compilation of nodes into closures -------------------------------------------------
    def _compile(self, node: dict):
        kind = node["type"]
        config = node["config"]
        w = {role: self.weights[name] for role, name in node.get("weights", {}).items()}
        refs = [tuple(ref) for ref in node["inputs"]]
        mask_ref = tuple(node["mask"]) if node.get("mask") else None
        builder = getattr(self, f"_build_{kind}", None)
        if builder is None:
            raise ValueError(f"unknown node type {kind!r} in the graph")
        run, refs = builder(node, config, w, refs)
        return node["id"], run, refs, mask_ref

    def _build_Input(self, node, config, w, refs):
        name = config["name"]

        def run(args, mask, inputs):
            return [inputs[name] if name in inputs else _Missing(name)]
        return run, refs

    def _build_NotEqual(self, node, config, w, refs):
        value = config["value"]

        def run(args, mask, inputs):
            return [np.asarray(args[0]) != value]
        return run, refs

    def _build_Identity(self, node, config, w, refs):
        def run(args, mask, inputs):
            return [args[0]]
        return run, refs

    _build_CRF = _build_Identity

    def _build_Embedding(self, node, config, w, refs):
        table = w["embeddings"]

        def run(args, mask, inputs):
            return [table[np.asarray(args[0]).astype(np.intp, copy=False)]]
        return run, refs

    def _build_Dense(self, node, config, w, refs):
        kernel, bias = w["kernel"], w.get("bias")
        activation = _NUMPY_ACTIVATIONS[config["activation"]]

        def run(args, mask, inputs):
            y = args[0] @ kernel
            if bias is not None:
                y += bias
            return [activation(y)]
        return run, refs

    def _build_GlobalAveragePooling1D(self, node, config, w, refs):
        keepdims = config.get("keepdims", False)

        def run(args, mask, inputs):
            x = args[0]
            if mask is None:
                return [x.mean(axis=1, keepdims=keepdims)]
            m = mask[:, :, None]
            total = np.where(m, x, 0).sum(axis=1, keepdims=keepdims)
            return [total / m.sum(axis=1, keepdims=keepdims).astype(x.dtype)]
        return run, refs

    def _build_ConcatSequence(self, node, config, w, refs):
        def run(args, mask, inputs):
            return [np.concatenate(args, axis=-1)]
        return run, refs

    def _build_MaskedGlobalMaxPooling1D(self, node, config, w, refs):
        def run(args, mask, inputs):
            x = args[0]
            if mask is not None:
                x = np.where(mask[:, :, None], x, np.float32(-1e9))
            return [x.max(axis=1)]
        return run, refs

    def _build_KimConv(self, node, config, w, refs):
        # All widths in one matmul: TF's "same" padding puts (k - 1) // 2 zeros before and the
        # rest after, so every width's window lies inside one window of `before + 1 + after`
        # positions; each kernel is embedded at its offset there, zeros elsewhere.
        convs = config["convs"]
        lefts = [(c["width"] - 1) // 2 for c in convs]
        before = max(lefts)
        after = max(c["width"] - 1 - left for c, left in zip(convs, lefts))
        span = before + 1 + after
        kernels, biases, activations = [], [], []
        for conv, left in zip(convs, lefts):
            kernel = self.weights[conv["weights"]["kernel"]]  # (width, D, F)
            full = np.zeros((span, *kernel.shape[1:]), np.float32)
            full[before - left: before - left + conv["width"]] = kernel
            kernels.append(full)
            filters = kernel.shape[-1]
            bias_name = conv["weights"].get("bias")
            biases.append(self.weights[bias_name] if bias_name else np.zeros(filters, np.float32))
            activations.append(conv["activation"])
        kernel = np.concatenate(kernels, axis=-1)  # (span, D, total filters)
        dim = kernel.shape[1]
        kernel = np.ascontiguousarray(kernel.reshape(span * dim, -1))
        bias = np.concatenate(biases)
        same_activation = len(set(activations)) == 1
        sizes = np.cumsum([b.shape[0] for b in biases])[:-1]

        def run(args, mask, inputs):
            x = args[0]
            if mask is not None:
                x = x * mask[:, :, None].astype(x.dtype)
            batch, steps, _ = x.shape
            padded = np.zeros((batch, steps + span - 1, dim), np.float32)
            padded[:, before: before + steps] = x
            windows = np.lib.stride_tricks.sliding_window_view(padded, span, axis=1)
            # (B, T, D, span) -> (B, T, span, D) so that it matches the kernel's row order.
            cols = np.ascontiguousarray(windows.transpose(0, 1, 3, 2)).reshape(
                batch * steps, span * dim)
            y = cols @ kernel
            y += bias
            if same_activation:
                y = _NUMPY_ACTIVATIONS[activations[0]](y)
            else:
                parts = np.split(y, sizes, axis=-1)
                y = np.concatenate([_NUMPY_ACTIVATIONS[a](p) for a, p in zip(activations, parts)],
                                   axis=-1)
            return [y.reshape(batch, steps, -1)]
        return run, refs

    def _build_CharCNN(self, node, config, w, refs):
        # [word vectors, character ids] -> word vectors + the characters' features. Conv2D with
        # a (1, width) kernel and "same" padding: over each token's characters, (width - 1) // 2
        # zeros before and the rest after; ReLU outputs are >= 0, so zeroing padded characters
        # before the max is exact.
        table, bias = w["embeddings"], w["bias"]
        width = config["width"]
        kernel = np.ascontiguousarray(w["kernel"][0].reshape(width * table.shape[1], -1))
        before = (width - 1) // 2
        activation = _NUMPY_ACTIVATIONS[config["activation"]]

        def run(args, mask, inputs):
            words, chars = args[0], np.asarray(args[1]).astype(np.intp, copy=False)
            batch, steps, length = chars.shape
            # A token's features depend on its characters only: compute each spelling once.
            spellings, where = _distinct_rows(chars.reshape(-1, length))
            count, dim = len(spellings), table.shape[1]
            padded = np.zeros((count, length + width - 1, dim), np.float32)
            padded[:, before: before + length] = table[spellings]
            windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=1)
            cols = np.ascontiguousarray(windows.transpose(0, 1, 3, 2)).reshape(
                count * length, width * dim)
            features = activation(cols @ kernel + bias).reshape(count, length, -1)
            features *= (spellings > 0)[..., None]
            per_token = features.max(axis=1)[where].reshape(batch, steps, -1)
            return [np.concatenate([words, per_token], axis=-1)]
        return run, refs

    def _build_BigramEmbedding(self, node, config, w, refs):
        # [token vectors, bigram ids] -> the token vectors, then each bigram's vector (dropout
        # is for training only).
        table = w["embeddings"]

        def run(args, mask, inputs):
            ids = np.asarray(args[1]).astype(np.intp, copy=False)
            return [np.concatenate([args[0], table[ids]], axis=-1)]
        return run, refs

    def _build_TreeEncoder(self, node, config, w, refs):
        leaf_kernel, leaf_bias, kernel, bias = (w[name] for name in
                                                ("leaf_kernel", "leaf_bias", "kernel", "bias"))
        units = bias.shape[0]

        def run(args, mask, inputs):
            x = args[0]
            batch, width, _ = x.shape
            real = np.ones((batch, width), bool) if mask is None else np.asarray(mask, bool)
            nodes = np.tanh(x @ leaf_kernel + leaf_bias) * real[:, :, None]
            while nodes.shape[1] > 1:
                if nodes.shape[1] % 2:  # an odd last node meets a padding right child
                    nodes = np.pad(nodes, ((0, 0), (0, 1), (0, 0)))
                    real = np.pad(real, ((0, 0), (0, 1)))
                pairs = nodes.reshape(batch, -1, 2 * units)
                composed = np.tanh(pairs @ kernel + bias)
                nodes = np.where(real[:, 1::2, None], composed, pairs[:, :, :units])
                real = real[:, ::2]
            return [nodes[:, 0]]
        return run, refs

    def _build_JordanTagger(self, node, config, w, refs):
        kernel, bias = w["kernel"], w["bias"]
        prev_kernel = w["prev_tag_kernel"]
        out_kernel, out_bias = w["output_kernel"], w["output_bias"]
        argmax = config.get("feedback", "argmax") == "argmax"

        def run(args, mask, inputs):
            x = args[0]  # prev_tags (args[1]) is only read in training (teacher forcing)
            batch, steps, dim = x.shape
            units, k = bias.shape[0], out_bias.shape[0]
            x_proj = _time_major_projection(x, kernel, bias)
            probs = np.empty((steps, batch, k), np.float32)
            hidden = np.empty((steps, batch, units), np.float32)
            fed = np.broadcast_to(prev_kernel[PAD_TAG], (batch, units))  # one_hot(pad) @ U
            for t in range(steps):
                h = np.tanh(x_proj[t] + fed)
                logits = h @ out_kernel
                logits += out_bias
                p = _softmax(logits)
                hidden[t], probs[t] = h, p
                if argmax:
                    logits[:, PAD_TAG] = -np.inf
                    fed = prev_kernel[logits.argmax(axis=-1)]  # one_hot(best) @ U
                else:
                    fed = p @ prev_kernel
            return [probs.transpose(1, 0, 2), hidden.transpose(1, 0, 2)]
        return run, refs[:1]

    def _build_RNN(self, node, config, w, refs):
        layer = _Recurrent(config, self.weights)

        def run(args, mask, inputs):
            return [layer(args[0], mask)]
        return run, refs

    def _build_Bidirectional(self, node, config, w, refs):
        forward = _Recurrent(config["forward"], self.weights)
        backward = _Recurrent(config["backward"], self.weights)
        merge = config["merge_mode"]
        return_sequences = config["return_sequences"]
        fused = None
        if self.engine == "onnx":
            from textrnn.predict import onnx_rnn

            fused = onnx_rnn.bidirectional(config, self.weights, self.threads)
            if fused is not None:
                self.fused[node["id"]] = fused

        def run(args, mask, inputs):
            x = args[0]
            y = None if fused is None else fused(x, mask)
            if y is not None:
                return [y]
            worker = self._worker() if x.shape[0] >= _PARALLEL_MIN_BATCH else None
            if worker is None:
                y, y_rev = forward(x, mask), backward(x, mask)
            else:  # NumPy releases the GIL in its kernels: the directions run side by side
                pending = worker.submit(_quietly, forward, x, mask)
                y_rev = backward(x, mask)
                y = pending.result()
            if return_sequences:  # the backward outputs come in reversed order
                y_rev = y_rev[:, ::-1]
            if merge == "concat":
                return [np.concatenate([y, y_rev], axis=-1)]
            if merge == "sum":
                return [y + y_rev]
            if merge == "ave":
                return [(y + y_rev) / np.float32(2)]
            return [y * y_rev]
        return run, refs


# exp() overflowing to inf in a sigmoid is fine (1 / inf = 0); 0 / 0 for an all-padding row
# gives NaN as in Keras.
_QUIET = {"over": "ignore", "invalid": "ignore", "divide": "ignore"}


def _quietly(function, *args):
    with np.errstate(**_QUIET):  # error states are per thread
        return function(*args)


def _value(values: dict, ref: tuple):
    value = values[ref]
    if isinstance(value, _Missing):
        raise KeyError(f"input {value.name!r} is needed but was not given")
    return value


def _weight_names(graph: dict) -> list[str]:
    names = []

    def collect(obj):
        if isinstance(obj, dict):
            for key, value in obj.items():
                if key == "weights" and isinstance(value, dict):
                    names.extend(value.values())
                else:
                    collect(value)
        elif isinstance(obj, list):
            for item in obj:
                collect(item)

    collect(graph.get("nodes", []))
    return names


def _distinct_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct rows in order of first appearance, each row's index among them): what
    `np.unique(rows, axis=0, return_inverse=True)` gives up to order, by hashing each row's
    bytes (np.unique sorts the rows as records, ~10x slower on a batch's characters)."""
    rows = np.ascontiguousarray(rows)
    data, size = rows.tobytes(), rows.shape[1] * rows.itemsize
    seen: dict[bytes, int] = {}
    where = np.fromiter((seen.setdefault(data[at: at + size], len(seen))
                         for at in range(0, len(data), size)), np.intp, count=len(rows))
    return np.frombuffer(b"".join(seen), rows.dtype).reshape(len(seen), rows.shape[1]), where


def _time_major_projection(x: np.ndarray, kernel: np.ndarray, bias) -> np.ndarray:
    """x (B, T, D) @ kernel (+ bias) for all steps in one matmul, as (T, B, G)."""
    batch, steps, dim = x.shape
    xt = np.ascontiguousarray(np.asarray(x, np.float32).transpose(1, 0, 2))
    proj = xt.reshape(steps * batch, dim) @ kernel
    if bias is not None:
        proj += bias
    return proj.reshape(steps, batch, -1)


class _Recurrent:
    """One keras.layers.RNN (LSTM, GRU, SimpleRNN or RNN(JordanCell)): the input projection of
    every step is one matmul before the loop, then one (B, h) @ (h, G) matmul per step.

    Masking follows `keras.src.backend.tensorflow.rnn.rnn`: at a masked step the states keep
    their previous values and the output is the previous step's output (zeros before the first
    real step), or zeros with `zero_output_for_mask`. With `go_backwards` the input and the mask
    are read reversed and the outputs are returned in that (reversed) order.
    """

    def __init__(self, config: dict, weights: dict):
        self.cell = config["cell"]
        self.units = h = int(config["units"])
        self.go_backwards = bool(config["go_backwards"])
        self.zero_output_for_mask = bool(config["zero_output_for_mask"])
        self.return_sequences = bool(config["return_sequences"])
        activation = config.get("activation", "tanh")
        recurrent_activation = config.get("recurrent_activation", "sigmoid")
        self.activation = _NUMPY_ACTIVATIONS[activation]
        self.recurrent_activation = _NUMPY_ACTIVATIONS[recurrent_activation]
        self.reset_after = bool(config.get("reset_after", True))
        self.fast_lstm = (self.cell == "lstm" and activation == "tanh"
                          and recurrent_activation == "sigmoid")
        get = {role: weights[name] for role, name in config["weights"].items()}
        kernel, recurrent, bias = get["kernel"], get["recurrent_kernel"], get.get("bias")
        self.recurrent_bias = None
        if self.cell == "gru" and self.reset_after and bias is not None:
            bias, self.recurrent_bias = bias[0], bias[1]
        if self.fast_lstm:
            # One exp pass serves all four gates: the columns of i, f, o are negated and those
            # of c doubled and negated, so 1 / (1 + exp(z)) gives sigmoid(a) for i, f, o and
            # sigmoid(2a) for c, whose tanh(a) = 2 sigmoid(2a) - 1. NumPy's float32 exp is
            # vectorised where its tanh is not; scaling by -1 or -2 is exact.
            scale = np.full(4 * h, -1, np.float32)
            scale[2 * h: 3 * h] = -2
            kernel, recurrent = kernel * scale, recurrent * scale
            bias = None if bias is None else bias * scale
        self.kernel = np.ascontiguousarray(kernel)
        self.recurrent_kernel = np.ascontiguousarray(recurrent)
        self.bias = bias
        if self.cell == "gru" and not self.reset_after:
            self.recurrent_zr = np.ascontiguousarray(recurrent[:, : 2 * h])
            self.recurrent_h = np.ascontiguousarray(recurrent[:, 2 * h:])
        if self.cell == "jordan":
            self.output_kernel, self.output_bias = get["output_kernel"], get["output_bias"]
        self.num_states = 2 if self.cell == "lstm" else 1
        self.step = getattr(self, "_step_fast_lstm" if self.fast_lstm else f"_step_{self.cell}")

    def __call__(self, x: np.ndarray, mask) -> np.ndarray:
        """(B, T, h) outputs in processing order, or the (B, h) last output."""
        if mask is not None:
            mask = np.asarray(mask, bool)
            real = np.flatnonzero(mask.any(axis=0))
            length = int(real[-1]) + 1 if real.size else 0
            if length < x.shape[1]:
                return self._trailing_padding(x, mask, length)
        return self._run(x, mask)

    def _trailing_padding(self, x, mask, length: int) -> np.ndarray:
        """Steps `length`.. are padding in every row (right padding to a round width): run on
        the real prefix only, then add what Keras computes for those steps. A forward layer
        ends on them: states kept, output zeros or the last output repeated. A backward one
        starts on them: states still the initial zeros, outputs zeros."""
        batch, steps, _ = x.shape
        zeros = np.zeros((batch, steps - length, self.units), np.float32)
        if not length:
            return zeros if self.return_sequences else zeros[:, 0]
        prefix = self._run(x[:, :length], mask[:, :length])
        if not self.return_sequences:
            forward_zeros = self.zero_output_for_mask and not self.go_backwards
            return np.zeros_like(prefix) if forward_zeros else prefix
        if self.go_backwards:
            return np.concatenate([zeros, prefix], axis=1)
        tail = zeros if self.zero_output_for_mask else np.repeat(prefix[:, -1:], steps - length,
                                                                 axis=1)
        return np.concatenate([prefix, tail], axis=1)

    def _run(self, x: np.ndarray, mask) -> np.ndarray:
        batch, steps, _ = x.shape
        proj = _time_major_projection(x, self.kernel, self.bias)  # (T, B, G)
        if mask is not None:
            masks = mask.T  # (T, B)
            any_real, all_real = masks.any(axis=1), masks.all(axis=1)
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        zeros = np.zeros((batch, self.units), np.float32)
        states = [zeros] * self.num_states
        previous = zeros
        outputs = np.empty((steps, batch, self.units), np.float32)
        for s, t in enumerate(order):
            if mask is not None and not any_real[t]:
                output = zeros if self.zero_output_for_mask else previous
            else:
                output, new_states = self.step(proj[t], states)
                if mask is None or all_real[t]:
                    states = new_states
                else:
                    column = masks[t][:, None]
                    states = [np.where(column, new, old) for new, old in zip(new_states, states)]
                    output = np.where(column, output,
                                      zeros if self.zero_output_for_mask else previous)
            outputs[s] = output
            previous = output
        if not self.return_sequences:
            return outputs[-1].copy()
        return outputs.transpose(1, 0, 2)

    # Step functions: x_t (B, G) input projection, states [(B, h), ...] -> (output, states).
    def _step_fast_lstm(self, x_t, states):
        h, c = states
        units = self.units
        z = h @ self.recurrent_kernel
        z += x_t
        np.exp(z, out=z)
        z += 1
        np.reciprocal(z, out=z)
        i, f = z[:, :units], z[:, units: 2 * units]
        g, o = z[:, 2 * units: 3 * units], z[:, 3 * units:]
        g *= 2
        g -= 1
        g *= i
        c = f * c
        c += g
        h = np.tanh(c)
        h *= o
        return h, [h, c]

    def _step_lstm(self, x_t, states):
        h, c = states
        units = self.units
        z = h @ self.recurrent_kernel
        z += x_t
        i = self.recurrent_activation(z[:, :units])
        f = self.recurrent_activation(z[:, units: 2 * units])
        g = self.activation(z[:, 2 * units: 3 * units])
        o = self.recurrent_activation(z[:, 3 * units:])
        c = f * c + i * g
        h = o * self.activation(c)
        return h, [h, c]

    def _step_gru(self, x_t, states):
        (h,) = states
        units = self.units
        if self.reset_after:
            inner = h @ self.recurrent_kernel
            if self.recurrent_bias is not None:
                inner += self.recurrent_bias
            zr = self.recurrent_activation(x_t[:, : 2 * units] + inner[:, : 2 * units])
            z, r = zr[:, :units], zr[:, units:]
            hh = self.activation(x_t[:, 2 * units:] + r * inner[:, 2 * units:])
        else:
            zr = self.recurrent_activation(x_t[:, : 2 * units] + h @ self.recurrent_zr)
            z, r = zr[:, :units], zr[:, units:]
            hh = self.activation(x_t[:, 2 * units:] + (r * h) @ self.recurrent_h)
        h = z * h + (1 - z) * hh
        return h, [h]

    def _step_simple(self, x_t, states):
        (h,) = states
        z = h @ self.recurrent_kernel
        z += x_t
        h = self.activation(z)
        return h, [h]

    def _step_jordan(self, x_t, states):
        (previous,) = states
        hidden = previous @ self.recurrent_kernel
        hidden += x_t
        np.tanh(hidden, out=hidden)
        out = hidden @ self.output_kernel
        out += self.output_bias
        np.tanh(out, out=out)
        return out, [out]
