"""The few ONNX protobuf messages `onnx_rnn` needs, encoded by hand.

The `onnx` package would build them too, but importing it takes longer than the whole rest of
`textrnn predict`'s start-up (its protobuf and type modules): onnxruntime only needs the bytes.
Field numbers are onnx.proto's (ModelProto, GraphProto, NodeProto, AttributeProto,
TensorProto, ValueInfoProto, TypeProto); tests/test_engine_onnx.py checks the result with the
`onnx` package's parser and checker when it is installed.
"""

from __future__ import annotations

import numpy as np

FLOAT, INT32 = 1, 6  # TensorProto.DataType
_ATTRIBUTE_INT, _ATTRIBUTE_STRING = 2, 3  # AttributeProto.AttributeType


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes | str | int) -> bytes:
    """One field: an int as a varint (wire type 0), anything else length-delimited (2)."""
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def attribute(name: str, value: int | str) -> bytes:
    if isinstance(value, int):
        return _field(1, name) + _field(3, value) + _field(20, _ATTRIBUTE_INT)
    return _field(1, name) + _field(4, value) + _field(20, _ATTRIBUTE_STRING)


def node(op_type: str, inputs: list[str], outputs: list[str], **attributes) -> bytes:
    return (b"".join(_field(1, name) for name in inputs)
            + b"".join(_field(2, name) for name in outputs) + _field(4, op_type)
            + b"".join(_field(5, attribute(key, value)) for key, value in attributes.items()))


def tensor(name: str, array: np.ndarray) -> bytes:
    """A float32 initializer, its values as raw little-endian bytes."""
    array = np.ascontiguousarray(array, dtype="<f4")
    return (b"".join(_field(1, dim) for dim in array.shape) + _field(2, FLOAT)
            + _field(8, name) + _field(9, array.tobytes()))


def value_info(name: str, elem_type: int, dims: list[int | str]) -> bytes:
    """A graph input or output: its element type and shape (a str is a symbolic dim)."""
    shape = b"".join(_field(1, _field(1, dim) if isinstance(dim, int) else _field(2, dim))
                     for dim in dims)
    return _field(1, name) + _field(2, _field(1, _field(1, elem_type) + _field(2, shape)))


def model(nodes: list[bytes], inputs: list[bytes], outputs: list[bytes],
          initializers: list[bytes], opset: int, ir_version: int) -> bytes:
    graph = (b"".join(_field(1, item) for item in nodes) + _field(2, "textrnn")
             + b"".join(_field(5, item) for item in initializers)
             + b"".join(_field(11, item) for item in inputs)
             + b"".join(_field(12, item) for item in outputs))
    return (_field(1, ir_version) + _field(2, "textrnn") + _field(7, graph)
            + _field(8, _field(1, "") + _field(2, opset)))
