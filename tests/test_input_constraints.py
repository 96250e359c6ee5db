"""Generated inputs honour each op's input constraints that the graph shows (harness/models/domains.py
and shape_params.py), one op at a time: the property itself is asserted, and ONNX Runtime (which
validates splits, indices, axes and shapes) must run the one-node model on them.  Nothing mocked."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from harness.models import onnx_io
from harness.models.domains import generate_inputs

ort = pytest.importorskip("onnxruntime")
F, I64, I32 = TensorProto.FLOAT, TensorProto.INT64, TensorProto.INT32
SEEDS = (0, 1, 2, 3)


def one_node(op, inputs, outputs, opset=18, **attrs):
    node = helper.make_node(op, [n for n, _, _ in inputs], [n for n, _, _ in outputs], **attrs)
    g = helper.make_graph([node], op, [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                          [helper.make_tensor_value_info(n, t, s) if t is not None else
                           helper.make_tensor_sequence_value_info(n, F, None) for n, t, s in outputs])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(m) if all(s is not None for _, t, s in outputs if t is not None) else None
    return m


def generated(model, seed):
    specs = onnx_io.input_specs(model)
    data = generate_inputs(model, specs, seed=seed)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    sess.run(None, data)          # raises on a split that does not sum, an index out of range, ...
    return data


CASES = {
    "SplitToSequence-1d": (lambda: one_node("SplitToSequence", [("x", F, [7, 2]), ("split", I64, [3])],
                                            [("seq", None, None)], axis=0),
                           lambda d: d["split"].sum() == 7 and (d["split"] >= 0).all()),
    "SplitToSequence-scalar": (lambda: one_node("SplitToSequence", [("x", F, [2, 6]), ("split", I64, [])],
                                                [("seq", None, None)], axis=1),
                               lambda d: d["split"].shape == () and 1 <= int(d["split"]) <= 6),
    "Split": (lambda: one_node("Split", [("x", F, [2, 9]), ("split", I64, [3])],
                               [("a", F, None), ("b", F, None), ("c", F, None)], axis=1),
              lambda d: d["split"].sum() == 9 and (d["split"] >= 0).all()),
    "Gather": (lambda: one_node("Gather", [("x", F, [5, 3]), ("i", I64, [4])], [("y", F, [4, 3])], axis=0),
               lambda d: ((d["i"] >= -5) & (d["i"] < 5)).all()),
    "GatherElements": (lambda: one_node("GatherElements", [("x", F, [3, 4]), ("i", I64, [3, 2])],
                                        [("y", F, [3, 2])], axis=1),
                       lambda d: ((d["i"] >= -4) & (d["i"] < 4)).all()),
    "GatherND": (lambda: one_node("GatherND", [("x", F, [3, 4, 2]), ("i", I64, [5, 2])], [("y", F, [5, 2])]),
                 lambda d: (d["i"][:, 0] < 3).all() and (d["i"][:, 1] < 4).all() and (d["i"] >= 0).all()),
    "ScatterElements": (lambda: one_node("ScatterElements", [("x", F, [3, 5]), ("i", I64, [3, 4]),
                                                             ("u", F, [3, 4])], [("y", F, [3, 5])], axis=1),
                        lambda d: all(len(set(r)) == len(r) for r in d["i"].tolist()) and (d["i"] < 5).all()),
    "ScatterND": (lambda: one_node("ScatterND", [("x", F, [4, 3]), ("i", I64, [3, 1]), ("u", F, [3, 3])],
                                   [("y", F, [4, 3])]),
                  lambda d: len(set(d["i"].reshape(-1).tolist())) == 3 and (d["i"] < 4).all()),
    "Slice": (lambda: one_node("Slice", [("x", F, [6, 5]), ("s", I64, [2]), ("e", I64, [2]), ("a", I64, [2]),
                                         ("st", I64, [2])], [("y", F, None)]),
              lambda d: sorted(d["a"].tolist()) == [0, 1] and (d["st"] > 0).all()),
    "Reshape": (lambda: one_node("Reshape", [("x", F, [2, 3, 4]), ("shape", I64, [2])], [("y", F, None)]),
                lambda d: int(np.prod(d["shape"])) == 24 or -1 in d["shape"].tolist()),
    "Expand": (lambda: one_node("Expand", [("x", F, [1, 3]), ("shape", I64, [2])], [("y", F, None)]),
               lambda d: d["shape"][1] in (1, 3)),
    "Tile": (lambda: one_node("Tile", [("x", F, [2, 3]), ("r", I64, [2])], [("y", F, None)]),
             lambda d: (d["r"] >= 1).all()),
    "TopK": (lambda: one_node("TopK", [("x", F, [2, 6]), ("k", I64, [1])], [("v", F, None), ("i", I64, None)]),
             lambda d: 1 <= int(d["k"][0]) <= 6),
    "Squeeze": (lambda: one_node("Squeeze", [("x", F, [3, 1, 2, 1]), ("a", I64, [2])], [("y", F, None)]),
                lambda d: sorted(d["a"].tolist()) == [1, 3]),
    "Unsqueeze": (lambda: one_node("Unsqueeze", [("x", F, [3, 2]), ("a", I64, [2])], [("y", F, None)]),
                  lambda d: len(set(d["a"].tolist())) == 2 and (d["a"] < 4).all()),
    "ReduceSum": (lambda: one_node("ReduceSum", [("x", F, [3, 4, 2]), ("a", I64, [2])], [("y", F, None)]),
                  lambda d: len(set(d["a"].tolist())) == 2 and (d["a"] < 3).all()),
    "Pad": (lambda: one_node("Pad", [("x", F, [3, 4]), ("p", I64, [4])], [("y", F, None)]),
            lambda d: (d["p"] >= 0).all()),
    "CumSum": (lambda: one_node("CumSum", [("x", F, [3, 4]), ("a", I64, [])], [("y", F, [3, 4])]),
               lambda d: 0 <= int(d["a"]) < 2),
    "OneHot": (lambda: one_node("OneHot", [("i", I64, [5]), ("depth", I64, []), ("v", F, [2])], [("y", F, None)]),
               lambda d: int(d["depth"]) > 0),
    "Div-int": (lambda: one_node("Div", [("a", I32, [20]), ("b", I32, [20])], [("y", I32, [20])]),
                lambda d: (d["b"] != 0).all()),
    "Log": (lambda: one_node("Log", [("x", F, [20])], [("y", F, [20])]), lambda d: (d["x"] > 0).all()),
    "Sqrt": (lambda: one_node("Sqrt", [("x", F, [20])], [("y", F, [20])]), lambda d: (d["x"] > 0).all()),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("seed", SEEDS)
def test_generated_inputs_fit_the_op(case, seed):
    build, holds = CASES[case]
    data = generated(build(), seed)
    assert holds(data), {k: v.tolist() for k, v in data.items() if v.dtype.kind in "iu"}


def test_split_to_sequence_splits_a_dynamic_dimension_as_declared():
    # onnx's test_sequence_model8: X[n] split by Splits[3]; n generated (1) -> the sizes sum to it
    m = one_node("SplitToSequence", [("x", F, ["n"]), ("split", I64, [3])], [("seq", None, None)])
    data = generated(m, 0)
    assert data["split"].sum() == data["x"].shape[0]


def test_split_to_sequence_chunk_length_is_never_zero():
    m = one_node("SplitToSequence", [("x", F, [3, 2]), ("split", I64, [])], [("seq", None, None)], axis=1)
    lengths = {int(generated(m, seed)["split"]) for seed in range(16)}
    assert lengths <= {1, 2} and lengths     # a chunk length of 0 is invalid (ONNX Runtime refuses it)
