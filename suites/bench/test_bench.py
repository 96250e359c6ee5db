"""The benchmark set: layers of real networks (harness/bench/shapes.py) in float32 and float16, on
every GPU backend that can run here, checked against NumPy on the same run and timed exclusively
on the GPU (latency and CUPTI device time), with the roofline position of each on the card.

Run: `pytest suites/bench` (or `trt-harness run --suite bench`); on a machine without a GPU every
test skips with the exact reason.  Records go to the run's results file (suite "bench").
"""
import pytest

from harness.bench.run import gpu_backends_reason, run_chunk
from harness.bench.shapes import bench_cases

CHUNK = 8


def _chunks():
    layers = bench_cases()
    by_op: dict = {}
    for name, case in layers:
        by_op.setdefault(case.op, []).append((name, case))
    for op, items in by_op.items():
        for i in range(0, len(items), CHUNK):
            part = items[i:i + CHUNK]
            yield pytest.param(part, id=f"{op}-{i // CHUNK + 1}")


@pytest.mark.parametrize("layers", list(_chunks()))
def test_bench(layers, trt_session, request):
    reason = gpu_backends_reason(trt_session)
    if reason:
        pytest.skip(reason)
    unexpected = run_chunk(trt_session, layers, request.node.nodeid)
    assert not unexpected, "\n".join(unexpected)
