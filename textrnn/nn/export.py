"""The exporter of the NumPy engine: a trained Keras functional model turned, at save time,
into the JSON-ready graph and float32 weight arrays that `textrnn.predict.runtime` runs without
TensorFlow. The graph's layout, the weight names and the Keras masking semantics the runtime
reproduces are described there.
"""

from __future__ import annotations

import numpy as np

from textrnn.predict.runtime import FORMAT, VERSION


class UnsupportedLayer(Exception):
    """The model holds a layer (or op) this engine cannot run; fall back to Keras."""

    def __init__(self, name: str, type_: str, reason: str = ""):
        self.name = name
        self.type = type_
        self.reason = reason
        detail = f": {reason}" if reason else ""
        super().__init__(f"layer '{name}' ({type_}) has no NumPy implementation{detail}")


_ACTIVATIONS = ("linear", "tanh", "sigmoid", "relu", "softmax")
_IDENTITY_LAYERS = ("Dropout", "SpatialDropout1D", "Identity")
_MASK_CONSUMERS = ("LSTM", "GRU", "SimpleRNN", "RNN", "Bidirectional", "GlobalAveragePooling1D",
                   "MaskedGlobalMaxPooling1D", "KimConv", "TreeEncoder")


def export(model) -> tuple[dict, dict[str, np.ndarray]]:
    """(graph, weights) for a built Keras functional model; raises UnsupportedLayer.

    `graph` is JSON-serialisable; `weights` maps unique names to float32 arrays, to be stored
    with `np.savez` and read back with `np.load(path, allow_pickle=False)`.
    """
    import keras

    nodes_by_depth = getattr(model, "_nodes_by_depth", None)
    if not isinstance(model, keras.Model) or nodes_by_depth is None:
        raise UnsupportedLayer(getattr(model, "name", "?"), type(model).__name__,
                               "not a functional model")
    exporter = _Exporter(keras)
    # The order Keras itself runs the graph in (Function._run_through_graph): deepest first.
    for depth in sorted(nodes_by_depth, reverse=True):
        for node in nodes_by_depth[depth]:
            exporter.add_node(node)

    struct = model._outputs_struct
    if isinstance(struct, dict):
        outputs = {str(key): exporter.ref(tensor) for key, tensor in struct.items()}
    else:
        outputs = {name: exporter.ref(tensor)
                   for name, tensor in zip(model.output_names, model.outputs)}
    graph = {
        "format": FORMAT,
        "version": VERSION,
        "inputs": [tensor._keras_history[0].name for tensor in model.inputs],
        "outputs": outputs,
        "nodes": exporter.nodes,
        "crf": exporter.crf,
    }
    return graph, exporter.weights


class _Exporter:
    def __init__(self, keras):
        self.keras = keras
        self.nodes: list[dict] = []
        self.weights: dict[str, np.ndarray] = {}
        self.crf: dict[str, dict] = {}

    # -- helpers --------------------------------------------------------------------------
    @staticmethod
    def node_id(operation, node_index: int) -> str:
        return operation.name if node_index == 0 else f"{operation.name}#{node_index}"

    def ref(self, tensor) -> list:
        operation, node_index, tensor_index = tensor._keras_history
        return [self.node_id(operation, node_index), int(tensor_index)]

    def weight(self, name: str, variable) -> str:
        if name in self.weights:
            raise ValueError(f"duplicate weight name {name!r}")
        value = variable.numpy() if hasattr(variable, "numpy") else variable
        self.weights[name] = np.array(value, dtype=np.float32, order="C")
        return name

    def activation(self, layer, key: str = "activation") -> str:
        name = layer.get_config().get(key)
        if name not in _ACTIVATIONS:
            raise UnsupportedLayer(layer.name, type(layer).__name__,
                                   f"{key} {name!r} is not one of {', '.join(_ACTIVATIONS)}")
        return name

    # -- nodes ----------------------------------------------------------------------------
    def add_node(self, node) -> None:
        keras = self.keras
        op = node.operation
        index = op._inbound_nodes.index(node)
        kind = type(op).__name__
        entry = {"id": self.node_id(op, index), "type": kind, "inputs": [], "mask": None,
                 "config": {}, "weights": {}}
        if getattr(node, "is_input", False) or isinstance(op, keras.layers.InputLayer):
            entry["type"] = "Input"
            entry["config"] = {"name": op.name}
            self.nodes.append(entry)
            return
        if isinstance(op, keras.layers.Layer) and op.compute_dtype != "float32":
            raise UnsupportedLayer(op.name, kind, f"computes in {op.compute_dtype}")
        args, kwargs = node.arguments.args, node.arguments.kwargs
        flat_args = keras.tree.flatten(args)
        entry["inputs"] = [self.ref(x) for x in flat_args if _is_keras_tensor(keras, x)]
        unknown = set(kwargs) - {"mask", "training"}
        if unknown:
            raise UnsupportedLayer(op.name, kind, f"call arguments {sorted(unknown)}")
        if kwargs.get("training"):
            raise UnsupportedLayer(op.name, kind, "called with training=True")
        mask = kwargs.get("mask")
        if mask is not None and kind in _MASK_CONSUMERS:  # the others ignore their mask
            if not _is_keras_tensor(keras, mask):
                raise UnsupportedLayer(op.name, kind, "mask is not a single tensor")
            entry["mask"] = self.ref(mask)
        handler = getattr(self, f"_{kind}", None)
        if kind in _IDENTITY_LAYERS and type(op) is getattr(keras.layers, kind):
            entry["type"] = "Identity"
        elif handler is None or not _is_native(keras, op, kind):
            raise UnsupportedLayer(op.name, kind)
        else:
            handler(op, entry, flat_args)
        if entry["type"] not in ("NotEqual", "JordanTagger", "CharCNN", "BigramEmbedding",
                                 "ConcatSequence") \
                and len(entry["inputs"]) != 1:
            raise UnsupportedLayer(op.name, kind, "expected exactly one input tensor")
        self.nodes.append(entry)

    def _NotEqual(self, op, entry, flat_args):
        constants = [x for x in flat_args if not _is_keras_tensor(self.keras, x)]
        if len(entry["inputs"]) != 1 or len(constants) != 1 or isinstance(constants[0], bool) \
                or not isinstance(constants[0], (int, float)):
            raise UnsupportedLayer(op.name, "NotEqual", "only tensor != number is supported")
        entry["config"] = {"value": constants[0]}

    def _Embedding(self, layer, entry, _):
        if getattr(layer, "quantization_mode", None):
            raise UnsupportedLayer(layer.name, "Embedding", "quantized")
        entry["weights"] = {"embeddings": self.weight(f"{layer.name}/embeddings",
                                                      layer.embeddings)}

    def _Dense(self, layer, entry, _):
        if getattr(layer, "quantization_mode", None):
            raise UnsupportedLayer(layer.name, "Dense", "quantized")
        entry["config"] = {"activation": self.activation(layer)}
        entry["weights"] = {"kernel": self.weight(f"{layer.name}/kernel", layer.kernel)}
        if layer.bias is not None:
            entry["weights"]["bias"] = self.weight(f"{layer.name}/bias", layer.bias)

    def _GlobalAveragePooling1D(self, layer, entry, _):
        if layer.data_format != "channels_last":
            raise UnsupportedLayer(layer.name, "GlobalAveragePooling1D", "channels_first")
        entry["config"] = {"keepdims": bool(layer.keepdims)}

    def _ConcatSequence(self, layer, entry, _):
        pass

    def _MaskedGlobalMaxPooling1D(self, layer, entry, _):
        pass

    def _KimConv(self, layer, entry, _):
        convs = []
        for conv in layer.convs:
            config = conv.get_config()
            if (type(conv) is not self.keras.layers.Conv1D or config["padding"] != "same"
                    or tuple(config["strides"]) != (1,) or tuple(config["dilation_rate"]) != (1,)
                    or config.get("groups", 1) != 1 or config["data_format"] != "channels_last"):
                raise UnsupportedLayer(layer.name, "KimConv", f"unexpected convolution {conv.name}")
            prefix = f"{layer.name}/{conv.name}"
            names = {"kernel": self.weight(f"{prefix}/kernel", conv.kernel)}
            if conv.bias is not None:
                names["bias"] = self.weight(f"{prefix}/bias", conv.bias)
            convs.append({"width": int(conv.kernel.shape[0]),
                          "activation": self.activation(conv), "weights": names})
        entry["config"] = {"convs": convs}

    def _CharCNN(self, layer, entry, _):
        conv = layer.conv.get_config()
        if conv["padding"] != "same" or tuple(conv["strides"]) != (1, 1) \
                or tuple(conv["kernel_size"]) != (1, layer.width):
            raise UnsupportedLayer(layer.name, "CharCNN", "unexpected convolution")
        entry["config"] = {"width": layer.width, "activation": self.activation(layer.conv)}
        entry["weights"] = {
            "embeddings": self.weight(f"{layer.name}/char_embedding/embeddings",
                                      layer.embedding.embeddings),
            "kernel": self.weight(f"{layer.name}/char_conv/kernel", layer.conv.kernel),
            "bias": self.weight(f"{layer.name}/char_conv/bias", layer.conv.bias)}

    def _BigramEmbedding(self, layer, entry, _):
        if len(entry["inputs"]) != 2:
            raise UnsupportedLayer(layer.name, "BigramEmbedding", "expected [vectors, ids]")
        entry["weights"] = {"embeddings": self.weight(f"{layer.name}/embeddings",
                                                      layer.embedding.embeddings)}

    def _TreeEncoder(self, layer, entry, _):
        entry["weights"] = {name: self.weight(f"{layer.name}/{name}", getattr(layer, name))
                            for name in ("leaf_kernel", "leaf_bias", "kernel", "bias")}

    def _CRF(self, layer, entry, _):
        names = {role: self.weight(f"{layer.name}/{attr}", getattr(layer, attr))
                 for role, attr in (("transitions", "transitions"),
                                    ("start", "start_transitions"), ("end", "end_transitions"))}
        entry["config"] = {"num_tags": int(layer.num_tags)}
        entry["weights"] = names
        self.crf[layer.name] = names

    def _JordanTagger(self, layer, entry, _):
        if len(entry["inputs"]) != 2:
            raise UnsupportedLayer(layer.name, "JordanTagger", "expected [features, prev_tags]")
        entry["config"] = {"units": layer.units, "num_tags": layer.num_tags,
                           "feedback": layer.feedback}
        entry["weights"] = {
            name: self.weight(f"{layer.name}/{name}", getattr(layer, name))
            for name in ("kernel", "prev_tag_kernel", "bias", "output_kernel", "output_bias")}

    def _Bidirectional(self, layer, entry, _):
        if layer.merge_mode not in ("concat", "sum", "ave", "mul") or layer.return_state:
            raise UnsupportedLayer(layer.name, "Bidirectional",
                                   f"merge_mode={layer.merge_mode!r}, "
                                   f"return_state={layer.return_state}")
        forward, backward = layer.forward_layer, layer.backward_layer
        for inner in (forward, backward):
            if type(inner) not in _rnn_types(self.keras):
                raise UnsupportedLayer(layer.name, "Bidirectional",
                                       f"wraps {type(inner).__name__}")
        entry["config"] = {
            "merge_mode": layer.merge_mode,
            "return_sequences": bool(layer.return_sequences),
            "forward": self.rnn(forward, f"{layer.name}/forward", layer.name),
            "backward": self.rnn(backward, f"{layer.name}/backward", layer.name),
        }

    def _rnn_node(self, layer, entry, _):
        entry["type"] = "RNN"
        entry["config"] = self.rnn(layer, layer.name, layer.name)

    _LSTM = _GRU = _SimpleRNN = _RNN = _rnn_node

    def rnn(self, layer, prefix: str, owner: str) -> dict:
        """Config (with weight names) of one recurrent layer, checked to be one we can run."""
        keras = self.keras
        cell = layer.cell
        kind = type(cell).__name__
        if layer.stateful or layer.return_state:
            raise UnsupportedLayer(owner, type(layer).__name__, "stateful or return_state")
        config = {"return_sequences": bool(layer.return_sequences),
                  "go_backwards": bool(layer.go_backwards),
                  "zero_output_for_mask": bool(layer.zero_output_for_mask)}
        if type(cell) is keras.layers.LSTMCell:
            config.update(cell="lstm", activation=self.activation(cell),
                          recurrent_activation=self.activation(cell, "recurrent_activation"))
        elif type(cell) is keras.layers.GRUCell:
            config.update(cell="gru", activation=self.activation(cell),
                          recurrent_activation=self.activation(cell, "recurrent_activation"),
                          reset_after=bool(cell.reset_after))
        elif type(cell) is keras.layers.SimpleRNNCell:
            config.update(cell="simple", activation=self.activation(cell))
        elif _is_textrnn(cell, "textrnn.nn.jordan", "JordanCell"):
            config.update(cell="jordan")
        else:
            raise UnsupportedLayer(owner, type(layer).__name__, f"cell {kind}")
        names = ["kernel", "recurrent_kernel", "bias"]
        if config["cell"] == "jordan":
            names += ["output_kernel", "output_bias"]
        weights = {}
        for name in names:
            variable = getattr(cell, name, None)
            if variable is not None:
                weights[name] = self.weight(f"{prefix}/{name}", variable)
        config["units"] = int(cell.units)
        config["weights"] = weights
        return config


def _is_keras_tensor(keras, value) -> bool:
    return isinstance(value, keras.KerasTensor)


def _rnn_types(keras) -> tuple:
    return (keras.layers.LSTM, keras.layers.GRU, keras.layers.SimpleRNN, keras.layers.RNN)


def _is_textrnn(obj, module: str, name: str) -> bool:
    return type(obj).__module__ == module and type(obj).__name__ == name


def _is_native(keras, op, kind: str) -> bool:
    """The exact Keras or textrnn class the handler was written for (no subclasses)."""
    layers = "textrnn.nn.layers"
    textrnn_classes = {"KimConv": layers, "MaskedGlobalMaxPooling1D": layers,
                       "CharCNN": layers, "BigramEmbedding": layers, "ConcatSequence": layers,
                       "CRF": "textrnn.nn.crf",
                       "JordanTagger": "textrnn.nn.jordan", "TreeEncoder": "textrnn.nn.tree"}
    if kind in textrnn_classes:
        return _is_textrnn(op, textrnn_classes[kind], kind)
    if kind == "NotEqual":
        return type(op).__module__.startswith("keras.")
    return type(op) is getattr(keras.layers, kind, None)
