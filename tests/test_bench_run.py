"""The benchmark set's measurement on the pipeline, run here on TVM's LLVM build standing in for the
GPU backends: each layer is checked against NumPy in its own dtype and timed (latency only, with
the reason there is no device time), with its roofline cost."""
from harness.bench.run import BenchRequest, measure_layers
from harness.bench.shapes import bench_cases


def test_layers_of_both_dtypes_are_checked_and_timed_apart():
    names = {"mobilenet_v2.features.3 (residual add)"}
    layers = [lc for lc in bench_cases(ops=["add"]) if lc[0] in names]
    assert {c.dtype for _, c in layers} == {"float32", "float16"}, layers
    got = measure_layers(BenchRequest(layers=tuple(layers), backends=("tvm-llvm",), cache_dir=None,
                                      timing={"min_round_s": 1e-3, "rounds": 5, "max_total_s": 1.0}))
    assert [(m.layer, m.case.dtype) for m in got] == [(n, c.dtype) for n, c in layers]
    for m in got:
        assert m.result.outcome == "pass", (m.layer, m.case.dtype, m.result.reason)
        t = m.timings["tvm-llvm"]
        assert t.latency.median_s > 0 and t.method.startswith("latency (") and t.device is None
        assert t.roofline is not None and t.roofline.bytes > 0
