"""The seed document's worked example: MXNet Gluon ResNet-18 v1, exported to ONNX.

The seed builds the model with ``get_model('resnet18_v1', pretrained=True)`` and imports it with
Relay's MXNet frontend.  Neither the pretrained weights (network) nor Relay (removed from TVM) are
available here, so the harness keeps the architecture and the framework and changes the route:

* ``pretrained=False``, parameters initialised from ``mx.random.seed(seed)`` (Xavier for weights).
  BatchNorm's gamma/beta/running statistics would start at 1/0/0/1, which makes every BatchNorm an
  identity and hides any mistake in how it is lowered, so they are then overwritten with seeded
  non-trivial values (numpy ``default_rng(seed)``).
* hybridized, exported to symbol + params, converted with ``mxnet.onnx.export_model``;
* MXNet's own output for the same 1x3x224x224 input is kept as the source-framework reference.

The export is cached per seed: the suite asks for the model and for MXNet's output separately.
"""
from __future__ import annotations

import functools
import os
import tempfile

import numpy as np
import onnx

INPUT_NAME = "data"
INPUT_SHAPE = (1, 3, 224, 224)


@functools.lru_cache(maxsize=2)
def _export(seed: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    import mxnet as mx
    from mxnet.gluon.model_zoo.vision import get_model

    mx.random.seed(seed)
    net = get_model("resnet18_v1", pretrained=False)
    net.initialize(mx.init.Xavier(), ctx=mx.cpu())
    net.hybridize()
    data = np.random.default_rng(seed + 1).uniform(0.0, 1.0, INPUT_SHAPE).astype(np.float32)
    net(mx.nd.array(data))  # finishes Gluon's deferred initialisation (shapes become known)
    rng = np.random.default_rng(seed)
    for name, param in sorted(net.collect_params().items()):
        shape = param.shape
        if name.endswith("_gamma"):
            param.set_data(mx.nd.array(rng.uniform(0.5, 1.5, shape).astype(np.float32)))
        elif name.endswith(("_beta", "_running_mean")):
            param.set_data(mx.nd.array((rng.standard_normal(shape) * 0.1).astype(np.float32)))
        elif name.endswith("_running_var"):
            param.set_data(mx.nd.array(rng.uniform(0.5, 1.5, shape).astype(np.float32)))
    out = net(mx.nd.array(data)).asnumpy()

    with tempfile.TemporaryDirectory(prefix="trt-harness-mxnet-") as tmp:
        prefix = os.path.join(tmp, "resnet18_v1")
        net.export(prefix, epoch=0)
        onnx_path = os.path.join(tmp, "resnet18_v1.onnx")
        import mxnet.onnx as mx_onnx

        mx_onnx.export_model(f"{prefix}-symbol.json", f"{prefix}-0000.params",
                             [INPUT_SHAPE], [np.float32], onnx_path)
        with open(onnx_path, "rb") as fh:
            blob = fh.read()
    return blob, data, out


def resnet18_v1(seed: int = 0) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """(ONNX model, {"data": 1x3x224x224 float32}) of MXNet's ResNet-18 v1, seeded."""
    blob, data, _ = _export(seed)
    model = onnx.load_from_string(blob)
    model.graph.name = "resnet18_v1"
    return model, {INPUT_NAME: data.copy()}


def resnet18_v1_reference(seed: int = 0) -> list[np.ndarray]:
    """MXNet's own output for the input :func:`resnet18_v1` returns (same seed)."""
    return [_export(seed)[2].copy()]


def mxnet_version() -> str:
    import mxnet as mx

    return mx.__version__
