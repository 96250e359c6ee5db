"""The tensorrt check's comparison and timing path, run here with CPU backends standing in for
TensorRT and CUDA: a correct system under test passes with timings recorded; a deliberately
wrong one (tests/doubles.py: WrongByOneLLVMBackend) fails with the error it introduced."""
import pytest

from harness.backends import BackendError, get_backend


def test_llvm_against_itself_passes_with_timings(harness_run):
    res, records = harness_run("--trt-ops=nn.relu", "--trt-checks=tensorrt", "--trt-backend=tvm-llvm",
                               "--trt-reference=tvm-llvm", "--trt-timing=on")
    assert res.ret == 0, res.stdout.str()[-2000:]
    recs = [r for r in records if r["check"] == "tensorrt"]
    assert recs and all(r["outcome"] == "pass" for r in recs)
    t = recs[0]["timings"]["tvm-llvm"]
    assert t["latency"]["median_s"] > 0 and t["latency"]["rounds"] >= 5 and 0 <= t["latency"]["cv"]
    assert t["build_s"] > 0
    assert t["method"].startswith("latency (")   # and it says why there is no device time...
    assert "device" not in t                     # ...which is never guessed
    assert recs[0]["speedup"] == pytest.approx(1.0)
    roof = t["roofline"]                          # the case's cost, with no rate or fraction without a device time
    assert roof["bytes"] > 0 and roof.get("fraction") is None and roof["note"].startswith("no device time")


def test_wrong_backend_is_caught_by_the_tensorrt_check(harness_run):
    res, records = harness_run("--trt-ops=nn.relu", "--trt-checks=tensorrt", "--trt-backend=wrong-by-one-llvm",
                               "--trt-reference=tvm-llvm", double="wrong-backend")
    assert res.ret == 1
    failed = [r for r in records if r["check"] == "tensorrt" and r["outcome"] == "fail"]
    assert failed and failed[-1]["max_abs_err"] == pytest.approx(1.0)
    assert failed[-1]["min_tolerance"]["atol"] == pytest.approx(1.0, rel=1e-3)
    assert failed[-1]["backend"] == "wrong-by-one-llvm"


def test_unknown_backend_is_a_usage_error_listing_the_known_ones(harness_run):
    res, _ = harness_run("--trt-ops=nn.relu", "--trt-backend=no-such-backend")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines(["*--trt-backend: unknown backend 'no-such-backend'; known: *tensorrt*tvm-cuda*tvm-llvm*"])


def test_backends_say_why_they_cannot_run():
    assert get_backend("tvm-llvm").unavailable_reason() is None
    for name in ("tvm-cuda", "tensorrt"):
        reason = get_backend(name).unavailable_reason()
        assert reason is None or len(reason) > 20
    with pytest.raises(BackendError, match="unknown backend 'nope'; known: "):
        get_backend("nope")


def test_a_gpu_out_of_memory_is_a_device_error_and_the_run_goes_on(harness_run):
    """A device that runs out of memory is not a departure of TVM: every case's tensorrt check is an
    error record of kind 'device' naming CUDA's error, the other checks of the same cases and the
    other op still run, and the run fails (an unexpected error) instead of stopping."""
    res, records = harness_run("--trt-ops=nn.relu,add", "--trt-checks=preserve,tensorrt",
                               "--trt-backend=gpu-oom-llvm", "--trt-reference=tvm-llvm", double="gpu-oom-backend")
    assert res.ret == 1
    trt = [r for r in records if r["check"] == "tensorrt"]
    preserve = [r for r in records if r["check"] == "preserve"]
    assert {r["op"] for r in trt} == {"nn.relu", "add"} and len(trt) == len(preserve) > 2
    assert all(r["outcome"] == "error" and r["error_kind"] == "device" for r in trt)
    assert all("cudaErrorMemoryAllocation" in r["reason"] and "not judged as a departure" in r["reason"] for r in trt)
    assert all(r["outcome"] == "pass" for r in preserve)


@pytest.mark.parametrize("reason,device", [
    ("run original on tvm-cuda: TVMError: CUDA: out of memory", True),
    ("cuModuleLoadData failed with CUDA_ERROR_OUT_OF_MEMORY", True),
    ("cudaErrorNoDevice: no CUDA-capable device is detected", True),
    ("GPU has fallen off the bus", True),
    ("cudaErrorIllegalAddress: an illegal memory access was encountered", False),   # the program's fault
    ("InternalError: Check failed: block_realize == old_block_realize_.get()", False),
])
def test_device_errors_are_told_from_departures(reason, device):
    from harness.pipeline import DeviceFailure, StageFailure, failure

    got = failure(reason)
    assert isinstance(got, StageFailure) and isinstance(got, DeviceFailure) is device and str(got) == reason
