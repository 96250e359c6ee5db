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


def test_a_long_float16_sum_passes_with_its_rounding_and_would_fail_without():
    """TVM's LLVM build of a 4096-term float16 dense accumulates in float16: against NumPy it is off
    by ~1.5 (measured), far beyond the table's float16 tolerance alone, and within the rounding the
    comparison allows a sum of 4096 terms (harness.compare.accumulation)."""
    from harness.case import Case
    from harness.table import BY_NAME

    layers = [("long dense", Case(op="nn.dense", dtype=dt, shapes=((4, 4096),), attrs={"units": 64},
                                  weights=(("weight_t", (4096, 64)),))) for dt in ("float16", "float32")]
    got = measure_layers(BenchRequest(layers=tuple(layers), backends=("tvm-llvm",), cache_dir=None,
                                      timing={"min_round_s": 1e-3, "rounds": 3, "max_total_s": 0.5}))
    by_dtype = {m.case.dtype: m.result for m in got}
    for dt, res in by_dtype.items():
        assert res.outcome == "pass", (dt, res.reason)
        assert res.comparison.tolerance.acc > 0, dt
    half, table = by_dtype["float16"].comparison, BY_NAME["nn.dense"].tolerance("float16")
    assert half.max_abs_err > 20 * (table.atol + table.rtol), half.max_abs_err
