"""Cutting an ONNX graph down to some of its nodes, for ``trt-harness reduce``.

A candidate keeps a set of nodes (indices into the graph's topologically ordered nodes).  An
edge cut by it, a value a kept node reads that no kept node makes, is fed with the value the
original model computes there on the same inputs (:func:`intermediates`, from the references'
ONNX Runtime, else onnx's evaluator), so the kept nodes see exactly the data they saw in the
whole model: a small integer value (a shape, an axis list, indices) becomes a constant, anything
else a graph input.  Outputs: the original outputs that kept nodes make, and every kept value a
removed node read; with ``probe``, every value the kept nodes make (so a wrong value is seen where
it is made, not only where it ends up).  Shapes are inferred again on the result.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError

CONSTANT_LIMIT = 64          # integer/bool values up to this many elements become constants


@dataclass
class Candidate:
    model: object                                   # onnx.ModelProto
    inputs: dict                                    # input name -> ndarray
    specs: dict                                     # input name -> (shape, dtype)
    producer: dict = field(default_factory=dict)    # output name -> (node index, op type)


def node_values(model) -> list[str]:
    """Every value a node makes, in graph order (optional outputs left empty are skipped)."""
    return [o for n in model.graph.node for o in n.output if o]


def intermediates(model, inputs: dict) -> dict:
    """name -> ndarray for every graph input, initializer and node output of ``model`` on ``inputs``."""
    import onnx
    from onnx import helper, numpy_helper

    from .references import onnx_reference, onnxruntime_reference

    try:
        typed = {vi.name: vi for vi in onnx.shape_inference.infer_shapes(model).graph.value_info}
    except Exception:
        typed = {}
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    have = {o.name for o in probe.graph.output}
    extra = [o for o in node_values(model) if o not in have]
    for name in extra:
        probe.graph.output.append(typed.get(name) or helper.make_empty_tensor_value_info(name))
    names = [o.name for o in probe.graph.output]
    why = []
    for runner in (onnxruntime_reference, onnx_reference):
        ref = runner(probe, inputs)
        if ref.ok and len(ref.outputs) == len(names):
            out = {k: np.asarray(v) for k, v in inputs.items()}
            out.update({init.name: numpy_helper.to_array(init) for init in model.graph.initializer})
            out.update(zip(names, ref.outputs))
            return out
        why.append(ref.line())
    raise InputError("cannot compute the model's intermediate values to cut it: " + "; ".join(why))


def _value_info(name: str, arr: np.ndarray):
    from onnx import helper

    return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(arr.dtype), list(arr.shape))


def cut(model, keep, values: dict, *, specs: dict, probe: bool = False) -> Candidate | None:
    """The model of nodes ``keep`` (see the module docstring); None when it cannot be made."""
    import onnx
    from onnx import helper, numpy_helper

    g = model.graph
    keep = sorted(keep)
    nodes = [g.node[i] for i in keep]
    made = {o: (i, g.node[i].op_type) for i in keep for o in g.node[i].output if o}
    read = [x for n in nodes for x in n.input if x]
    inits = {t.name: t for t in g.initializer}
    graph_inputs = {vi.name: vi for vi in g.input}
    new_inputs, new_inits, data, seen = [], [], {}, set()
    for x in read:
        if x in made or x in seen:
            continue
        seen.add(x)
        if x in inits:
            new_inits.append(inits[x])
        elif x in graph_inputs:
            new_inputs.append(graph_inputs[x])
            data[x] = values[x]
        elif x in values:      # a cut edge
            arr = np.asarray(values[x])
            if (arr.dtype.kind in "iub") and arr.size <= CONSTANT_LIMIT:
                new_inits.append(numpy_helper.from_array(arr, x))
            else:
                new_inputs.append(_value_info(x, arr))
                data[x] = arr
        else:
            return None
    removed_reads = {x for j, n in enumerate(g.node) if j not in set(keep) for x in n.input}
    originals = [o.name for o in g.output]
    if probe:
        outs = [o for o in made]
    else:
        outs = [o for o in originals if o in made] + [o for o in made if o in removed_reads and o not in originals]
    if not outs or any(o not in values for o in outs):
        return None
    graph = helper.make_graph(nodes, g.name or "reduced", new_inputs, [_value_info(o, np.asarray(values[o]))
                                                                       for o in outs], new_inits)
    m = helper.make_model(graph, opset_imports=list(model.opset_import), ir_version=model.ir_version)
    for fn in model.functions:
        m.functions.append(fn)
    try:
        m = onnx.shape_inference.infer_shapes(m)
    except Exception:
        pass           # TVM infers on its own; the candidate is judged by what it does
    cand_specs = {}
    for vi in new_inputs:
        if vi.name in specs:
            cand_specs[vi.name] = specs[vi.name]
        else:
            arr = data[vi.name]
            cand_specs[vi.name] = (tuple(arr.shape), str(arr.dtype))
    return Candidate(m, data, cand_specs, {o: made[o] for o in outs})
