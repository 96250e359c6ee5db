"""Timing fidelity: the harness's steady-state time against TVM's own time_evaluator on the same
build (tvm-cuda).  Runs on a GPU; skips with the reason elsewhere.  Writes a JSON summary."""
import json
import os

import numpy as np
import pytest

from harness.backends import get_backend
from harness.timing import measure

WORKLOADS = ("conv2d", "matmul", "softmax", "add", "max_pool2d", "mean")


def _build(name):
    from tvm import relax

    from harness.program import bind_weights

    rng = np.random.default_rng(0)
    bb = relax.BlockBuilder()
    weights = {}
    if name == "conv2d":
        x = relax.Var("x", relax.TensorType((8, 64, 56, 56), "float32"))
        w = relax.Var("w", relax.TensorType((64, 64, 3, 3), "float32"))
        weights["w"] = rng.uniform(-1, 1, (64, 64, 3, 3)).astype("float32")
        params, body = [x, w], lambda: relax.op.nn.conv2d(x, w, padding=1)
        inputs = [rng.uniform(-1, 1, (8, 64, 56, 56)).astype("float32")]
    elif name == "matmul":
        a = relax.Var("a", relax.TensorType((8, 512, 512), "float32"))
        b = relax.Var("b", relax.TensorType((8, 512, 512), "float32"))
        params, body = [a, b], lambda: relax.op.matmul(a, b)
        inputs = [rng.uniform(-1, 1, (8, 512, 512)).astype("float32") for _ in range(2)]
    else:
        x = relax.Var("x", relax.TensorType((64, 64, 112, 112), "float32"))
        params = [x]
        body = {"softmax": lambda: relax.op.nn.softmax(x, axis=1), "add": lambda: relax.op.add(x, x),
                "max_pool2d": lambda: relax.op.nn.max_pool2d(x, (3, 3), (2, 2), padding=(1, 1)),
                "mean": lambda: relax.op.mean(x, axis=[2, 3])}[name]
        inputs = [rng.uniform(-1, 1, (64, 64, 112, 112)).astype("float32")]
    with bb.function("main", params):
        with bb.dataflow():
            gv = bb.emit_output(bb.emit(body()))
        bb.emit_func_output(gv)
    mod = bb.get()
    return (bind_weights(mod, weights) if weights else mod), inputs


@pytest.mark.parametrize("name", WORKLOADS)
def test_steady_state_matches_time_evaluator(name, needs_cuda, request):
    import tvm
    from tvm import relax

    cuda = get_backend("tvm-cuda")
    mod, inputs = _build(name)
    built = cuda.build(mod)
    ours = measure(cuda.timer(built, inputs), rounds=30)
    dev = cuda.device()
    vm = relax.VirtualMachine(built.executable, dev)
    args = [tvm.runtime.tensor(x, dev) for x in inputs]
    ev = vm.time_evaluator("main", dev, number=max(ours["iterations"], 10), repeat=30)(*args)
    theirs = float(np.median(ev.results))
    ratio = ours["median_s"] / theirs
    row = {"op": name, "harness_median_us": ours["median_s"] * 1e6, "time_evaluator_median_us": theirs * 1e6,
           "ratio": ratio, "harness_cv": ours["cv"], "harness_iqr_us": ours["iqr_s"] * 1e6,
           "rounds": ours["rounds"], "gpu": dev.device_name}
    out = os.environ.get("TRT_HARNESS_FIDELITY_OUT")
    if out:
        with open(out, "a") as fh:
            fh.write(json.dumps(row) + "\n")
    print(json.dumps(row))
    assert abs(ratio - 1) <= 0.05, row
    assert ours["cv"] <= 0.03, row
