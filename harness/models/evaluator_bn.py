"""The workaround for onnx's ``ReferenceEvaluator`` running BatchNormalization of opsets 7-13 in
training mode (see :mod:`harness.models.references`): a probe of the installed evaluator and an
inference-mode BatchNormalization for its ``new_ops``."""
from __future__ import annotations

import functools

import numpy as np

BN_BUG = ("onnx's ReferenceEvaluator runs BatchNormalization of opsets 7-13 in training mode "
          "(onnx 1.15.0-1.23.2; fix proposed in onnx/onnx#8442)")


@functools.lru_cache(maxsize=None)
def _bn_inference_op():
    """A ``BatchNormalization`` for the evaluator's ``new_ops``: one output -> inference mode."""
    from onnx.reference.op_run import OpRun

    class BatchNormalization(OpRun):
        op_domain = ""

        def _run(self, x, scale, bias, mean, var, **_attrs):
            outs = [o for o in self.onnx_node.output[1:] if o]
            if outs:
                raise RuntimeError("training-mode BatchNormalization (several outputs) of opset "
                                   "< 14 is not covered by the harness's workaround of " + BN_BUG)
            eps = 1e-5
            for a in self.onnx_node.attribute:
                if a.name == "epsilon":
                    eps = a.f
            shape = (-1,) + (1,) * (x.ndim - 2)
            s, b, m, v = (np.asarray(t).reshape(shape) for t in (scale, bias, mean, var))
            y = s * (x - m) / np.sqrt(v + np.asarray(eps, dtype=v.dtype)) + b
            return (y.astype(x.dtype),)

    return BatchNormalization


@functools.lru_cache(maxsize=None)
def evaluator_bn_broken(opset: int) -> bool:
    """Whether the installed evaluator gets a one-output BatchNormalization of ``opset`` wrong."""
    from onnx import TensorProto, helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    x = np.array([[[0.0, 2.0]], [[4.0, 6.0]]], np.float32).reshape(2, 1, 2)   # batch mean 3
    consts = [numpy_helper.from_array(np.array([v], np.float32), n)
              for n, v in (("s", 1.0), ("b", 0.0), ("m", 0.0), ("v", 1.0))]
    node = helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], epsilon=0.0)
    g = helper.make_graph([node], "probe", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 1, 2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 1, 2])], consts)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7
    try:
        y = ReferenceEvaluator(model).run(None, {"x": x})[0]
    except Exception:
        return True
    return not np.allclose(y, x, atol=1e-6)   # inference mode with mean 0, var 1 is the identity
