import numpy as np
import pytest

from harness.backends import get_backend


def _require(name):
    reason = get_backend(name).unavailable_reason()
    if reason:
        pytest.skip(f"backend {name} cannot run here: {reason}")


@pytest.fixture
def needs_tensorrt():
    _require("tensorrt")


@pytest.fixture
def needs_cuda():
    _require("tvm-cuda")


def conv_module(batch=1, dtype="float32"):
    """A small conv2d + relu program with bound weights (a MAC op, so no heuristic drops it)."""
    from tvm import relax

    from harness.program import bind_weights

    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((batch, 3, 16, 16), dtype))
    w = relax.Var("w", relax.TensorType((8, 3, 3, 3), dtype))
    with bb.function("main", [x, w]):
        with bb.dataflow():
            y = bb.emit(relax.op.nn.relu(relax.op.nn.conv2d(x, w, padding=1)))
            gv = bb.emit_output(y)
        bb.emit_func_output(gv)
    rng = np.random.default_rng(0)
    weights = {"w": rng.uniform(-1, 1, (8, 3, 3, 3)).astype(dtype)}
    return bind_weights(bb.get(), weights), rng.uniform(-1, 1, (batch, 3, 16, 16)).astype(dtype)
