"""Each check can fail: test doubles that are wrong on purpose are caught, with the right outcome."""
import pytest



def _outcomes(records, check):
    return [r for r in records if r["check"] == check]


def test_correct_harness_passes_relu(harness_run):
    res, records = harness_run("--trt-ops=nn.relu", "--trt-no-expectations", "--trt-checks=reference,preserve")
    assert res.ret == 0, res.stdout.str()[-2000:]
    ref = _outcomes(records, "reference")
    assert ref and all(r["outcome"] == "pass" for r in ref)


def test_wrong_oracle_is_caught_by_reference(harness_run):
    res, records = harness_run("--trt-ops=nn.relu", "--trt-checks=reference", double="wrong-oracle")
    assert res.ret == 1
    failed = [r for r in _outcomes(records, "reference") if r["outcome"] == "fail"]
    assert failed, records
    assert failed[-1]["max_abs_err"] == pytest.approx(0.5, abs=1e-3)
    assert failed[-1]["reproducer"] and failed[-1]["reproducer"].endswith(".py")
    res.stdout.fnmatch_lines(["*reference*TVM LLVM vs numpy-oracle*"])


def test_partition_dropping_ops_is_caught_as_under_offload(harness_run):
    res, records = harness_run("--trt-ops=nn.conv2d", "--trt-checks=offload", double="partition-drops-ops")
    assert res.ret == 1
    failed = [r for r in _outcomes(records, "offload") if r["outcome"] == "fail"]
    assert failed and failed[-1]["offload"]["verdict"] == "under-offload"
    assert failed[-1]["offload"].get("actual", {}) in ({}, {"relax.nn.conv2d": 0})


def test_partition_corrupting_region_is_caught_by_preserve(harness_run):
    res, records = harness_run("--trt-ops=exp", "--trt-checks=preserve", double="partition-corrupts-region")
    assert res.ret == 1
    failed = [r for r in _outcomes(records, "preserve") if r["outcome"] == "fail"]
    assert failed and failed[-1]["max_abs_err"] >= 0.99


def test_wrong_expected_rule_is_caught_as_over_offload(harness_run):
    res, records = harness_run("--trt-ops=sigmoid", "--trt-checks=offload", double="wrong-expected-rule")
    assert res.ret == 1
    failed = [r for r in _outcomes(records, "offload") if r["outcome"] == "fail"]
    assert failed and failed[-1]["offload"]["verdict"] == "over-offload"
    assert "test double" in failed[-1]["reason"]


def test_unknown_trt_version_is_a_usage_error(harness_run):
    res, _ = harness_run("--trt-ops=nn.relu", "--trt-version=9.9.9")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines(["*--trt-version: unknown TensorRT version '9.9.9'; known: *10.0.1*"])


def test_tensorrt_check_skips_with_exact_reason_here(harness_run):
    from harness.backends import get_backend

    reason = get_backend("tensorrt").unavailable_reason()
    if reason is None:
        pytest.skip("this machine can run TensorRT: the skip path does not apply")
    res, records = harness_run("--trt-ops=nn.relu", "--trt-checks=tensorrt", "-rs")
    assert res.ret == 0
    skips = _outcomes(records, "tensorrt")
    assert skips and skips[0]["outcome"] == "skip" and reason in skips[0]["reason"]
    res.stdout.fnmatch_lines([f"*{reason[:60]}*"])


def test_a_reproducer_runs_where_the_reference_check_blamed():
    """The reference check compares TVM's CUDA build only after its LLVM build agreed, so its reason
    starts with the LLVM side's "within" (H100 seeds 8 and 9: reproducers of wrong CUDA values were
    written for llvm, where they showed nothing).  The build blamed is the one that departs."""
    import numpy as np

    from harness import checks as C
    from harness.records import Tolerance

    x, tol = [np.ones(4, "float32")], Tolerance(atol=1e-4, rtol=1e-4)
    llvm_ok = C.numeric(x, x, tol, "TVM LLVM vs numpy-oracle")
    llvm_bad = C.numeric([x[0] + 1], x, tol, "TVM LLVM vs numpy-oracle")
    cuda_bad = C.numeric([x[0] + 1], x, tol, "TVM CUDA vs numpy-oracle")
    assert llvm_ok.outcome == "pass" and cuda_bad.outcome == "fail"
    assert C.blames_cuda(f"{llvm_ok.reason}; {cuda_bad.reason}")
    assert not C.blames_cuda(llvm_bad.reason)
    assert C.blames_cuda("TVM failed: tvm.compile(cuda) for tvm-cuda: ValueError: Error in pass: _pipeline")
    assert not C.blames_cuda("TVM failed: tvm.compile(llvm) for tvm-llvm: ValueError: x")
