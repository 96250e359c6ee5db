"""Timing fidelity on the GPU: the harness's timings against independent measurements.

For small op-suite-sized cases and layers of the benchmark set, each built by the harness
(harness.program.build_case) and compiled by TVM's CUDA pipeline:

* the harness's device time per call (CUPTI, harness/timing/device.py) against an independent
  CUPTI measurement written apart from it (independent_cupti.py): within 2 %;
* for workloads large enough that the host does not dominate (device time >= 20 us), the
  harness's latency against TVM's own ``time_evaluator`` on the same build: within 5 %, CV <= 3 %.

Every measurement of one case is taken while this process holds the GPU exclusively (the per-GPU
lock of harness/timing/exclusive.py), so it passes under ``-n 8`` as it does alone.  Runs on a GPU
with cupti-python; skips with the exact reason elsewhere.  Rows go to $TRT_HARNESS_FIDELITY_OUT
(JSON lines) when set.
"""
import json
import os

import numpy as np
import pytest

from harness.bench.shapes import BENCH
from harness.case import Case

SMALL = [
    ("small add", Case("add", "float32", ((2, 3, 4, 5), (2, 3, 4, 5)))),
    ("small conv2d", Case("nn.conv2d", "float32", ((1, 3, 8, 8),),
                          {"strides": [1, 1], "padding": [1, 1], "dilation": [1, 1], "groups": 1,
                           "data_layout": "NCHW", "kernel_layout": "OIHW"}, (("weight", (4, 3, 3, 3)),))),
    ("small softmax", Case("nn.softmax", "float32", ((2, 5),), {"axis": -1})),
    ("small max_pool2d", Case("nn.max_pool2d", "float32", ((1, 2, 6, 6),),
                              {"pool_size": [3, 3], "strides": [2, 2], "padding": [0, 0], "dilation": [1, 1],
                               "ceil_mode": False, "layout": "NCHW"})),
    ("small mean", Case("mean", "float32", ((3, 4, 5),), {"axis": [1], "keepdims": False})),
]
LARGE = ["resnet50.layer1.0 (residual add)", "resnet50.layer1.0.conv2", "bert_base.b8.encoder.layer.0.intermediate.dense",
         "bert_base.b8.encoder.layer.0.attention.self (softmax)", "resnet50.maxpool", "c3d.pool2",
         "resnet50.avgpool (as mean over H, W)"]
CASES = SMALL + [(n, c) for n, c in BENCH if n in LARGE and c.dtype == "float32"] + \
    [(n, c) for n, c in BENCH if n in LARGE[1:3] and c.dtype == "float16"]
LARGE_ENOUGH_S = 20e-6
#: the harness's device time per call against the independent CUPTI reader's
DEVICE_TOLERANCE = 0.02


def _cupti_reason():
    try:
        import cupti  # noqa: F401
    except Exception as exc:
        return f"cupti-python is not importable ({type(exc).__name__}: {exc})"
    return None


def _loaded(case):
    """(run, fn, args, dev, vm): ``case`` built by the harness, compiled by TVM's CUDA pipeline,
    loaded; ``run(n)`` calls it n times and synchronises once (what every timing calls)."""
    import tvm
    from tvm import relax

    from harness import program
    from harness.backends import get_backend
    from harness.table import BY_NAME

    cuda = get_backend("tvm-cuda")
    prog = program.build_case(BY_NAME[case.op], case)
    dev = cuda.device()
    vm = relax.VirtualMachine(cuda.compile(prog.mod), dev)
    args = [tvm.runtime.tensor(x, dev) for x in prog.inputs]
    fn = vm["main"]

    def run(n=1):
        for _ in range(n):
            fn(*args)
        dev.sync()
    return run, fn, args, dev, vm


@pytest.mark.parametrize("how", ["per-unit", "runner", "interleaved"])
@pytest.mark.parametrize("name,case", CASES, ids=[f"{n}-{c.dtype}" for n, c in CASES])
def test_device_time_and_latency_against_independent_measurements(name, case, how, needs_cuda):
    """``how``: ``per-unit`` opens a CUPTI session for the timing (the ``--trt-runner off`` path);
    ``runner`` times as a runner does (harness.runner.server): a session opened before and kept
    open, paused for the latency pass, with the op suites' options (harness.suite.TIMING: adaptive
    rounds, median to +-0.5 %, device rounds of ~0.25 ms); ``interleaved`` as ``runner``, the case
    timed in one request with two other workloads (a small add before it, a small softmax after),
    whose rounds take turns with its own."""
    reason = _cupti_reason()
    if reason:
        pytest.skip(reason)
    from harness import gpu
    from harness.timing import time_run
    from harness.timing.exclusive import exclusive_gpu, gpu_identity
    from independent_cupti import independent_cupti

    run, fn, args, dev, vm = _loaded(case)
    others = [_loaded(c)[0] for n, c in SMALL if n in ("small add", "small softmax")] if how == "interleaved" else []

    with exclusive_gpu(gpu_identity(gpu.assigned_index())["key"], None) as held:
        if how in ("runner", "interleaved"):
            from harness.suite import TIMING
            from harness.timing import device as D, time_many

            tracer = D.Tracer(D.load_cupti())
            tracer.start()
            try:
                timed = others[:1] + [run] + others[1:]
                got = time_many(timed, device_kind="cuda", device_index=gpu.assigned_index(),
                                device_name=dev.device_name, exclusive=False, tracer=tracer, **TIMING)
                ours = got[timed.index(run)]
            finally:
                tracer.stop()
        else:
            ours = time_run(run, device_kind="cuda", device_index=gpu.assigned_index(), device_name=dev.device_name,
                            exclusive=False, rounds=30)
        ev = vm.time_evaluator("main", dev, number=ours["latency"]["iterations"], repeat=30)(*args)
        calls = max(10, min(ours["latency"]["iterations"], 2000))
        independent, per_call, clock, note = independent_cupti(fn, args, dev, calls)
    lat, dv = ours["latency"], ours["device"]
    row = {"name": name, "how": how, "op": case.op, "dtype": case.dtype, "shape": [list(s) for s in case.shapes],
           "latency_us": lat["median_s"] * 1e6, "latency_cv": lat["cv"],
           "device_us": dv["median_s"] * 1e6 if dv else None, "device_cv": dv["cv"] if dv else None,
           "time_evaluator_us": float(np.median(ev.results)) * 1e6,
           "independent_cupti_us": independent * 1e6 if independent is not None else None,
           "exclusive": held["exclusive"], "waited_s": held["waited_s"], "gpu": dev.device_name,
           "method": ours["method"], "note": note, "rounds": [lat["rounds"], dv["rounds"] if dv else None],
           "iterations": [lat["iterations"], dv["iterations"] if dv else None],
           "stopped": [lat.get("stopped"), dv.get("stopped") if dv else None]}
    if dv and independent:
        row["device_ratio"] = dv["median_s"] / independent
    row["latency_ratio"] = lat["median_s"] / (row["time_evaluator_us"] * 1e-6)
    out = os.environ.get("TRT_HARNESS_FIDELITY_OUT")
    if out:
        with open(out, "a") as fh:
            fh.write(json.dumps(row) + "\n")
    print(json.dumps(row))
    assert held["exclusive"], row
    assert dv is not None, f"no device time: {ours['device_unavailable']}"
    if independent is not None and independent > 0:
        assert abs(row["device_ratio"] - 1) <= DEVICE_TOLERANCE, row
    if dv["median_s"] >= LARGE_ENOUGH_S:
        assert abs(row["latency_ratio"] - 1) <= 0.05, row
        assert lat["cv"] <= 0.03, row
