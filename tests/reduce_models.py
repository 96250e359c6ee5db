"""Small ONNX models with one node TVM mishandles buried in a CNN body (tests/test_reduce.py and
the README's figures for ``trt-harness reduce``)."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def buried_cnn(bad: str = "expand", blocks: int = 6) -> onnx.ModelProto:
    """``blocks`` residual blocks (Conv, Relu, Add) with one bad node after the middle block:

    * ``expand``: Expand to a shape read from a graph input at run time (partitioning it raises
      the MatchCast TypeError, and TVM's output has the input's shape, not the expanded one);
    * ``leaky``: LeakyRelu (in the table from TensorRT 5.1.5, the partitioner has no pattern).
    """
    rng = np.random.default_rng(0)
    c = 4
    nodes, inits = [], []
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, 8, 8])]
    h = "x"
    for b in range(blocks):
        w = numpy_helper.from_array((rng.standard_normal((c, c, 3, 3)) * 0.2).astype(np.float32), f"w{b}")
        inits.append(w)
        nodes += [helper.make_node("Conv", [h, f"w{b}"], [f"c{b}"], pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", [f"c{b}"], [f"r{b}"]),
                  helper.make_node("Add", [f"r{b}", h], [f"a{b}"])]
        h = f"a{b}"
        if b == blocks // 2 - 1:
            if bad == "expand":
                inputs.append(helper.make_tensor_value_info("shape", TensorProto.INT64, [4]))
                nodes += [helper.make_node("ReduceMean", [h], ["m"], axes=[1], keepdims=1),
                          helper.make_node("Expand", ["m", "shape"], ["e"])]
                h = "e"
            else:
                nodes.append(helper.make_node("LeakyRelu", [h], ["e"], alpha=0.1))
                h = "e"
    g = helper.make_graph(nodes, f"buried_{bad}", inputs,
                          [helper.make_tensor_value_info(h, TensorProto.FLOAT, [1, c, 8, 8])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


def expand_shape_file(path) -> str:
    """The Expand model's run-time shape, as a ``--input`` argument."""
    np.save(path, np.array([1, 4, 8, 8], dtype=np.int64))
    return f"shape={path}"


def buried_layer_norm(extra: int = 4) -> onnx.ModelProto:
    """``extra`` Relu/Add pairs around a LayerNormalization whose Mean output is a graph output
    (TVM's Mean has another shape than ONNX's), opset 17."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal(8).astype(np.float32), "g"),
             numpy_helper.from_array(rng.standard_normal(8).astype(np.float32), "b")]
    nodes, h = [], "x"
    for i in range(extra):
        nodes += [helper.make_node("Relu", [h], [f"r{i}"]), helper.make_node("Add", [f"r{i}", h], [f"a{i}"])]
        h = f"a{i}"
        if i == extra // 2 - 1:
            nodes.append(helper.make_node("LayerNormalization", [h, "g", "b"], ["ln", "mean"], axis=-1))
            h = "ln"
    g = helper.make_graph(nodes, "buried_layer_norm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 8])],
                          [helper.make_tensor_value_info(h, TensorProto.FLOAT, [3, 8]),
                           helper.make_tensor_value_info("mean", TensorProto.FLOAT, [3, 1])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m
