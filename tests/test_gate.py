"""harness.gate.Gate on typed runs: each kind of finding is caught, noise and shared GPUs respected,
environment differences reported, and identical runs give no finding at all."""
from __future__ import annotations

import argparse
import json
import math

import pytest

from harness.cli import _non_negative as _positive
from harness.cli import parse_fraction
from harness.gate import Finding, Gate, Verdict
from harness.records import Offload, Tolerance


@pytest.fixture
def b(build):
    return build


def kinds(verdict, regression=True):
    return sorted(f.kind for f in verdict.findings if f.regression is regression)


def only(verdict, kind):
    (f,) = [f for f in verdict.findings if f.kind == kind]
    return f


def trt(b, median=None, iqr=None, **kw):
    """A tensorrt record timed on the given backend figures."""
    backend = kw.pop("backend", "tensorrt")
    return b.record(check="tensorrt", timings={backend: b.timing(median, iqr, **kw)})


# -- no finding -------------------------------------------------------------------------------------
def test_identical_runs_give_no_finding(b):
    records = [b.record(case_id=f"c{i}", max_abs_err=1e-6, tolerance=b.TOL) for i in range(3)] + [
        b.record(case_id="o", check="offload", outcome="fail", offload=b.offload("over-offload", {"relax.add": 1})),
        b.record(case_id="t", check="tensorrt", max_abs_err=2e-6, tolerance=b.TOL,
                 timings={"tensorrt": b.timing(1e-3, 1e-5, device=5e-4, device_iqr=1e-6),
                          "tvm-cuda": b.timing(2e-3, 1e-5)}),
        b.record(case_id="x", outcome="xfail"), b.record(case_id="e", outcome="error", error_kind="crash"),
        b.record(case_id="s", outcome="skip", reason="no GPU"),
    ]
    v = Gate().compare(b.run(records, "base"), b.run(records, "cur"))
    assert v.findings == [] and not v.regressed and v.regressions == [] and v.matched == len(records)
    assert v.env_differences == [] and v.notes == [] and v.counts() == {}
    assert v.to_text().startswith("gate: OK: ")


def test_unmatched_cases_are_not_compared(b):
    v = Gate(allow_different_cases=True).compare(b.run([b.record(case_id="a")], "base"), b.run([b.record(case_id="a"),
                                                                       b.record(case_id="new", outcome="fail")], "c"))
    assert v.matched == 1 and v.findings == []


# -- outcomes ---------------------------------------------------------------------------------------
def test_new_failure_and_fix(b):
    base = b.run([b.record(case_id="a"), b.record(case_id="b", outcome="fail"), b.record(case_id="c", outcome="xfail"),
                  b.record(case_id="d", outcome="error", error_kind="crash")], "base")
    cur = b.run([b.record(case_id="a", outcome="fail", reason="mismatch"), b.record(case_id="b", outcome="xpass"),
                 b.record(case_id="c", outcome="error", error_kind="crash"), b.record(case_id="d")], "cur")
    v = Gate().compare(base, cur)
    assert kinds(v) == ["new-failure", "new-failure"] and kinds(v, False) == ["fixed", "fixed"]
    by_case = {f.case_id: f for f in v.findings}
    assert by_case["a"].detail == "pass -> fail: mismatch" and by_case["a"].check == "reference"
    assert by_case["a"].op == "nn.relu"
    assert by_case["c"].detail == "xfail -> error"
    assert by_case["b"].detail == "fail -> xpass" and by_case["d"].detail == "error -> pass"
    assert v.regressed and len(v.regressions) == 2


@pytest.mark.parametrize("before,after,kind", [
    ("skip", "fail", None),                  # a check that could not run before
    ("fail", "fail", None),
    ("fail", "error", None),
    ("error", "fail", None),
    ("xfail", "xfail", None),
    ("xpass", "fail", "new-failure"),
    ("pass", "error", "new-failure"),
    ("pass", "skip", None),
    ("fail", "skip", None),
    ("fail", "xfail", None),                 # became a known departure: not counted as fixed
    ("error", "xpass", "fixed"),
])
def test_outcome_transitions(b, before, after, kind):
    v = Gate().compare(b.run([b.record(outcome=before)], "b"), b.run([b.record(outcome=after)], "c"))
    assert [f.kind for f in v.findings] == ([kind] if kind else [])


def test_a_long_reason_is_cut(b):
    v = Gate().compare(b.run([b.record()], "b"), b.run([b.record(outcome="fail", reason="x" * 1000)], "c"))
    assert len(v.findings[0].detail) == 300


# -- offload ---------------------------------------------------------------------------------------
def off(b, case_id, verdict, actual, op="nn.relu"):
    return b.record(op=op, case_id=case_id, check="offload", offload=b.offload(verdict, actual))


def test_offload_lost_and_gained(b):
    base = b.run([off(b, "a", "match", {"relax.nn.relu": 1}), off(b, "b", "under-offload", {"relax.nn.relu": 0})],
                 "base")
    cur = b.run([off(b, "a", "under-offload", {"relax.nn.relu": 0}), off(b, "b", "match", {"relax.nn.relu": 1})],
                "cur")
    v = Gate().compare(base, cur)
    changes = {f.case_id: f for f in v.findings if f.kind == "offload-change"}
    assert changes["a"].regression and changes["a"].detail == "no longer offloaded (verdict match -> under-offload)"
    assert changes["a"].data == {"baseline": {"relax.nn.relu": 1}, "current": {"relax.nn.relu": 0}}
    assert not changes["b"].regression and changes["b"].detail == "now offloaded (verdict under-offload -> match)"
    assert changes["a"].check == "offload"


def test_gained_offload_that_departs_from_the_rules_is_a_regression(b):
    v = Gate().compare(b.run([off(b, "a", "match", {})], "b"), b.run([off(b, "a", "over-offload", {"relax.add": 1})],
                                                                     "c"))
    f = only(v, "offload-change")
    assert f.regression and f.detail == "now offloaded (verdict match -> over-offload)"


def test_lost_offload_that_the_rules_now_expect_is_not_a_regression(b):
    v = Gate().compare(b.run([off(b, "a", "match", {"relax.add": 1})], "b"), b.run([off(b, "a", "match", {})], "c"))
    assert not only(v, "offload-change").regression


def test_verdict_change_without_offload_change(b):
    v = Gate().compare(b.run([off(b, "a", "match", {"relax.add": 1})], "b"),
                       b.run([off(b, "a", "over-offload", {"relax.add": 1})], "c"))
    f = only(v, "offload-change")
    assert f.regression and f.detail == "verdict match -> over-offload" and f.data == {}
    fixed = Gate().compare(b.run([off(b, "a", "over-offload", {"relax.add": 1})], "b"),
                           b.run([off(b, "a", "match", {"relax.add": 1})], "c"))
    assert fixed.findings == []
    other = Gate().compare(b.run([off(b, "a", "over-offload", {"relax.add": 1})], "b"),
                           b.run([off(b, "a", "under-offload", {"relax.add": 1})], "c"))
    assert other.findings == []


def test_offload_is_only_read_on_offload_records(b):
    base = b.run([b.record(offload=b.offload("match", {"relax.nn.relu": 1}))], "b")
    cur = b.run([b.record(offload=b.offload("under-offload", {}))], "c")
    assert Gate().compare(base, cur).findings == []


def test_a_record_without_offload_is_not_compared(b):
    v = Gate().compare(b.run([off(b, "a", "match", {"relax.add": 1})], "b"),
                       b.run([b.record(case_id="a", check="offload")], "c"))
    assert v.findings == []
    v = Gate().compare(b.run([b.record(case_id="a", check="offload")], "b"),
                       b.run([off(b, "a", "match", {"relax.add": 1})], "c"))
    assert v.findings == []


# -- accuracy ---------------------------------------------------------------------------------------
def acc(b, case_id, err, tol=None):
    return b.record(case_id=case_id, max_abs_err=err, tolerance=tol)


def test_accuracy_growth_beyond_the_budget_is_a_regression(b):
    tol = Tolerance(atol=1e-5, rtol=1e-5)          # budget 0.5 * (atol + rtol) = 1e-5
    base = b.run([acc(b, "big", 1e-6, tol), acc(b, "small", 1e-7, tol), acc(b, "nan", 1e-7, tol)], "base")
    cur = b.run([acc(b, "big", 5e-5, tol),      # grew 50x and by 4.9e-5 > 1e-5
                 acc(b, "small", 5e-7, tol),    # grew 5x but only by 4e-7: within the budget
                 acc(b, "nan", math.nan, tol)], "cur")
    v = Gate().compare(base, cur)
    found = {f.case_id: f for f in v.findings}
    assert sorted(found) == ["big", "nan"] and all(f.kind == "accuracy" and f.regression for f in found.values())
    assert found["big"].detail == "max_abs_err 1e-06 -> 5e-05 (x50, budget 1e-05)"
    assert found["big"].data == {"baseline": 1e-6, "current": 5e-5, "allowed_growth": pytest.approx(1e-5),
                                 "tolerance": {"atol": 1e-5, "rtol": 1e-5}}
    assert found["nan"].detail == "max_abs_err 1e-07 -> nan"
    assert [f.case_id for f in Gate(acc_budget=10).compare(base, cur).findings] == ["nan"]


def test_accuracy_growth_needs_the_factor_too(b):
    tol = Tolerance(atol=0.0, rtol=0.0)
    base, cur = b.run([acc(b, "a", 1.0, tol)], "b"), b.run([acc(b, "a", 1.9, tol)], "c")
    assert Gate().compare(base, cur).findings == []                      # x1.9 < x2
    assert kinds(Gate(acc_factor=1.5).compare(base, cur)) == ["accuracy"]
    assert Gate().compare(base, b.run([acc(b, "a", 2.0, tol)], "c")).findings == []    # x2 is not beyond x2


def test_accuracy_budget_edge(b):
    tol = Tolerance(atol=1.0, rtol=1.0)            # budget 0.5 * 2 = 1.0
    base = b.run([acc(b, "a", 0.5, tol)], "b")
    assert Gate().compare(base, b.run([acc(b, "a", 1.5, tol)], "c")).findings == []    # grew by exactly 1.0
    assert kinds(Gate().compare(base, b.run([acc(b, "a", 1.5000001, tol)], "c"))) == ["accuracy"]


def test_accuracy_takes_the_baseline_tolerance_when_the_current_has_none(b):
    base = b.run([acc(b, "a", 1e-6, Tolerance(atol=1.0, rtol=1.0))], "b")
    assert Gate().compare(base, b.run([acc(b, "a", 1e-3)], "c")).findings == []
    assert Gate().compare(b.run([acc(b, "a", 1e-6)], "b"),
                          b.run([acc(b, "a", 1e-3, Tolerance(atol=1.0, rtol=0.0))], "c")).findings == []


def test_accuracy_without_any_tolerance_has_no_budget(b):
    v = Gate().compare(b.run([acc(b, "a", 1e-7)], "b"), b.run([acc(b, "a", 1e-6)], "c"))
    f = only(v, "accuracy")
    assert f.data["allowed_growth"] == 0.0 and f.data["tolerance"] is None


def test_accuracy_from_zero(b):
    v = Gate().compare(b.run([acc(b, "a", 0.0)], "b"), b.run([acc(b, "a", 1e-3)], "c"))
    assert only(v, "accuracy").detail == "max_abs_err 0 -> 0.001 (xinf, budget 0)"


@pytest.mark.parametrize("before,after", [(math.nan, 1.0), (math.inf, 1.0), (math.nan, math.nan), (None, 1.0),
                                          (1.0, None), (math.inf, math.inf)])
def test_accuracy_not_comparable(b, before, after):
    assert Gate().compare(b.run([acc(b, "a", before)], "b"), b.run([acc(b, "a", after)], "c")).findings == []


def test_accuracy_to_infinity_is_a_regression(b):
    v = Gate().compare(b.run([acc(b, "a", 1e-6)], "b"), b.run([acc(b, "a", math.inf)], "c"))
    assert only(v, "accuracy").data == {"baseline": 1e-6, "current": math.inf}


# -- performance ------------------------------------------------------------------------------------
def test_slowdown_beyond_noise_is_a_regression(b):
    v = Gate(timing="latency").compare(b.run([trt(b, 1.0e-3, 1e-5)], "b"), b.run([trt(b, 1.3e-3, 1e-5)], "c"))
    f = only(v, "performance")
    assert f.regression and f.check == "tensorrt"
    assert f.data == {"backend": "tensorrt", "figure": "latency", "baseline_s": 1.0e-3, "current_s": 1.3e-3,
                      "slowdown": pytest.approx(0.3), "noise_s": pytest.approx(math.hypot(1e-5, 1e-5))}
    assert f.detail == "tensorrt latency median 0.001s -> 0.0013s (+30%, noise 1.4e-05s)"


def test_slowdown_within_noise_is_not_reported(b):
    """+30 % median but both runs measured an IQR of 0.2 ms: within 3x the combined noise."""
    base, cur = b.run([trt(b, 1.0e-3, 2e-4)], "b"), b.run([trt(b, 1.3e-3, 2e-4)], "c")
    assert Gate(timing="latency").compare(base, cur).findings == []
    assert kinds(Gate(timing="latency", noise_k=1).compare(base, cur)) == ["performance"]


def test_noise_edge(b):
    # slowdown 0.4 ms; noise hypot(0.1, 0.1) ms * 2 = 0.283 ms; * 3 = 0.424 ms
    base, cur = b.run([trt(b, 1.0e-3, 1e-4)], "b"), b.run([trt(b, 1.4e-3, 1e-4)], "c")
    assert Gate(timing="latency").compare(base, cur).findings == []
    assert kinds(Gate(timing="latency", noise_k=2).compare(base, cur)) == ["performance"]


def test_small_slowdown_below_the_percentage(b):
    base, cur = b.run([trt(b, 1.0e-3, 0.0)], "b"), b.run([trt(b, 1.05e-3, 0.0)], "c")
    assert Gate(timing="latency").compare(base, cur).findings == []
    assert kinds(Gate(timing="latency", max_slowdown=0.01).compare(base, cur)) == ["performance"]
    exactly = b.run([trt(b, 1.25e-3, 0.0)], "c")
    assert Gate(timing="latency", max_slowdown=0.25).compare(b.run([trt(b, 1.0e-3, 0.0)], "b"), exactly).findings == []


def test_speedup_is_an_improvement_not_a_regression(b):
    v = Gate(timing="latency").compare(b.run([trt(b, 2e-3, 0.0)], "b"), b.run([trt(b, 1e-3, 0.0)], "c"))
    f = only(v, "performance")
    assert f.category == "improvement" and not v.regressed and f.data["current_s"] == 1e-3
    assert Gate(timing="latency").compare(b.run([trt(b, 2e-3, 0.0)], "b"), b.run([trt(b, 1.9e-3, 0.0)], "c")
                                          ).findings == []   # 5 %: within --max-slowdown


def test_stddev_is_the_noise_when_iqr_is_missing(b):
    t_base = {"tvm-cuda": b.timing()}
    t_base["tvm-cuda"].latency = b.stats(1e-3, None, stddev_s=3e-4)
    t_cur = {"tvm-cuda": b.timing()}
    t_cur["tvm-cuda"].latency = b.stats(1.5e-3, None, stddev_s=3e-4)
    base, cur = b.run([b.record(timings=t_base)], "b"), b.run([b.record(timings=t_cur)], "c")
    assert Gate(timing="latency").compare(base, cur).findings == []
    t_cur["tvm-cuda"].latency = b.stats(1.5e-3, 0.0, stddev_s=1e-6)       # IQR 0 falls back to stddev
    t_base["tvm-cuda"].latency = b.stats(1e-3, math.nan, stddev_s=1e-6)   # a NaN IQR too
    assert kinds(Gate(timing="latency").compare(base, cur)) == ["performance"]


def test_device_time_is_the_default_figure(b):
    """The device time slowed down, the latency did not: only the device figure sees it."""
    base = b.run([trt(b, 1e-3, 1e-6, device=5e-4, device_iqr=1e-7)], "b")
    cur = b.run([trt(b, 1e-3, 1e-6, device=8e-4, device_iqr=1e-7)], "c")
    f = only(Gate().compare(base, cur), "performance")
    assert f.regression and f.data["figure"] == "device" and f.data["baseline_s"] == 5e-4
    assert f.detail.startswith("tensorrt device median 0.0005s -> 0.0008s (+60%")
    assert Gate(timing="latency").compare(base, cur).findings == []


def test_latency_figure_on_request(b):
    base = b.run([trt(b, 1e-3, 1e-6, device=5e-4, device_iqr=1e-7)], "b")
    cur = b.run([trt(b, 2e-3, 1e-6, device=5e-4, device_iqr=1e-7)], "c")
    assert Gate().compare(base, cur).findings == []
    f = only(Gate(timing="latency").compare(base, cur), "performance")
    assert f.regression and f.data["figure"] == "latency" and f.data["current_s"] == 2e-3


def test_device_noise_is_used_with_the_device_figure(b):
    base = b.run([trt(b, 1e-3, 1e-9, device=1e-3, device_iqr=2e-4)], "b")
    cur = b.run([trt(b, 1e-3, 1e-9, device=1.3e-3, device_iqr=2e-4)], "c")
    assert Gate().compare(base, cur).findings == []


def test_without_device_time_the_latency_is_reported_but_not_gated(b):
    base = b.run([trt(b, 1e-3, 1e-6)], "b")
    cur = b.run([trt(b, 2e-3, 1e-6)], "c")
    f = only(Gate().compare(base, cur), "performance")
    assert not f.regression and not Gate().compare(base, cur).regressed
    assert f.detail.endswith("[not gated: no device time (latency compared)]")
    assert f.data["figure"] == "latency" and f.detail.startswith("tensorrt latency median 0.001s -> 0.002s")


def test_device_time_on_one_side_only_compares_the_latency_of_both(b):
    base = b.run([trt(b, 1e-3, 1e-6)], "b")
    cur = b.run([trt(b, 2e-3, 1e-6, device=1e-4, device_iqr=1e-7)], "c")      # device time < base latency
    f = only(Gate().compare(base, cur), "performance")
    assert not f.regression and f.data["figure"] == "latency" and f.data["current_s"] == 2e-3
    assert f.detail.endswith("[not gated: no device time (latency compared)]")
    assert Gate().compare(b.run([trt(b, 1e-3, 1e-6, device=5e-3, device_iqr=1e-7)], "b"),
                          b.run([trt(b, 1e-3, 1e-6)], "c")).findings == []


def test_a_slowdown_on_a_shared_gpu_is_reported_but_not_gated(b):
    base = b.run([trt(b, 1e-3, 1e-6, device=1e-3, device_iqr=1e-6)], "b")
    cur = b.run([trt(b, 1e-3, 1e-6, device=2e-3, device_iqr=1e-6, exclusive=False)], "c")
    f = only(Gate().compare(base, cur), "performance")
    assert not f.regression and f.detail.endswith("[not gated: GPU shared]")
    noted = b.run([trt(b, 1e-3, 1e-6, device=2e-3, device_iqr=1e-6, exclusive=False,
                       exclusive_note="worker gw1 used cuda:0")], "c")
    assert only(Gate().compare(base, noted), "performance").detail.endswith("[not gated: worker gw1 used cuda:0]")
    shared_base = b.run([trt(b, 1e-3, 1e-6, device=1e-3, device_iqr=1e-6, exclusive=False)], "b")
    assert not only(Gate().compare(shared_base, b.run([trt(b, 1e-3, 1e-6, device=2e-3, device_iqr=1e-6,
                                                           exclusive=True)], "c")), "performance").regression
    exclusive = b.run([trt(b, 1e-3, 1e-6, device=2e-3, device_iqr=1e-6, exclusive=True)], "c")
    assert only(Gate().compare(base, exclusive), "performance").regression


def test_timings_compared_per_backend(b):
    base = b.run([b.record(timings={"tensorrt": b.timing(1e-3, 0.0), "tvm-cuda": b.timing(1e-3, 0.0)})], "b")
    cur = b.run([b.record(timings={"tensorrt": b.timing(1e-3, 0.0), "tvm-cuda": b.timing(3e-3, 0.0),
                                   "new": b.timing(9.0, 0.0)})], "c")
    f = only(Gate(timing="latency").compare(base, cur), "performance")
    assert f.data["backend"] == "tvm-cuda" and f.detail.startswith("tvm-cuda latency")


@pytest.mark.parametrize("before,after", [(None, 2e-3), (1e-3, None), (0.0, 1e-3), (math.nan, 1e-3),
                                          (1e-3, math.inf), (-1e-3, 1e-3)])
def test_timings_not_comparable(b, before, after):
    assert Gate(timing="latency").compare(b.run([trt(b, before)], "b"), b.run([trt(b, after)], "c")).findings == []


def test_records_without_timings(b):
    assert Gate().compare(b.run([b.record(timings={})], "b"), b.run([trt(b, 1.0)], "c")).findings == []
    assert Gate().compare(b.run([trt(b, 1.0)], "b"), b.run([b.record()], "c")).findings == []


def test_performance_on_other_hardware_is_reported_but_not_gated(b):
    base = b.run([trt(b, 1.0e-3, 1e-6)], "base")
    cur = b.run([trt(b, 2.0e-3, 1e-6)], "cur", gpu="A100", hypothesis_seed=2, harness_version="0.2.0",
                tvm_version="0.28", tag="x")
    v = Gate(timing="latency").compare(base, cur)
    diffs = {d["key"]: d for d in v.env_differences}
    assert diffs["gpu"] == {"key": "gpu", "baseline": "H100", "current": "A100", "effect": "timings not comparable"}
    assert diffs["harness_version"]["effect"] == "cases or checks may differ"
    assert diffs["hypothesis_seed"]["effect"] == "noted: both ran the same plan"   # how cases were drawn: moot
    assert diffs["tvm_version"]["effect"] == "the versions under comparison"
    assert diffs["tag"] == {"key": "tag", "baseline": None, "current": "x", "effect": "noted"}
    # what differs beyond the system under test (TVM, TensorRT) first, then the versions compared
    assert [d["key"] for d in v.env_differences] == ["harness_version", "gpu", "tvm_version", "tag",
                                                     "hypothesis_seed"]
    assert not v.regressed and kinds(v, False) == ["performance"]
    assert v.notes == ["the environments differ in more than the system under test: harness_version, gpu",
                       "the runs used different seeds, profiles, harness or backends: per-op aggregates are "
                       "compared where case ids differ",
                       "hardware differs: performance changes are reported but do not fail the gate"]
    text = v.to_text()
    assert "  env differs: gpu: 'H100' -> 'A100' (timings not comparable)" in text.splitlines()
    assert "  note: hardware differs: performance changes are reported but do not fail the gate" in text


def test_a_version_difference_alone_keeps_performance_gated(b):
    v = Gate(timing="latency").compare(b.run([trt(b, 1.0e-3, 1e-6)], "b"),
                                       b.run([trt(b, 2.0e-3, 1e-6)], "c", trt_version="10.0.1"))
    assert v.regressed and v.notes == []
    assert v.env_differences == [{"key": "trt_version", "baseline": "8.6.1", "current": "10.0.1",
                                  "effect": "the versions under comparison"}]


# -- per-op aggregates --------------------------------------------------------------------------------
def test_op_missing_is_a_regression(b):
    v = Gate(allow_different_cases=True).compare(b.run([b.record(op="nn.relu"), b.record(op="nn.softmax")], "b"),
                       b.run([b.record(op="nn.relu")], "c"))
    assert [(f.kind, f.op, f.detail) for f in v.regressions] == [
        ("op-missing", "nn.softmax", "op has records in the baseline but none now")]


def test_case_ids_differ_compare_aggregates(b):
    base = b.run([b.record(case_id=f"s1-{i}") for i in range(10)] +
                 [off(b, f"s1-{i}", "match", {"relax.nn.conv2d": 1}, op="nn.conv2d") for i in range(10)], "base")
    cur = b.run([b.record(case_id=f"s2-{i}", outcome="fail" if i < 3 else "pass") for i in range(10)] +
                [off(b, f"s2-{i}", "match", {"relax.nn.conv2d": int(i < 5)}, op="nn.conv2d") for i in range(10)],
                "cur")
    v = Gate(allow_different_cases=True).compare(base, cur)
    assert v.matched == 0
    agg = only(v, "aggregate")
    assert (agg.op, agg.check, agg.regression) == ("nn.relu", "reference", True)
    assert agg.detail == "pass rate 100% -> 70% (case ids differ; 10 vs 10 cases)"
    assert agg.data == {"baseline": {"pass": 10}, "current": {"fail": 3, "pass": 7}, "baseline_rate": 1.0,
                        "current_rate": 0.7}
    rate = only(v, "offload-change")
    assert (rate.op, rate.check, rate.regression) == ("nn.conv2d", "offload", True)
    assert rate.detail == "offload rate 100% -> 50% (case ids differ)"
    assert rate.data == {"baseline": 1.0, "current": 0.5}


def runs_of_rates(b, before, after, check="reference"):
    """Runs with different case ids whose outcomes are ``before`` and ``after`` (lists)."""
    base = b.run([b.record(case_id=f"a{i}", outcome=o, check=check) for i, o in enumerate(before)], "b")
    cur = b.run([b.record(case_id=f"b{i}", outcome=o, check=check) for i, o in enumerate(after)], "c")
    return base, cur


def test_aggregate_rate_edges(b):
    # 40 cases: one more failure is a 2.5 % drop, within max_rate_drop (5 %), but a first failure counts
    base, cur = runs_of_rates(b, ["pass"] * 39 + ["fail"], ["pass"] * 38 + ["fail"] * 2)
    assert Gate(allow_different_cases=True).compare(base, cur).findings == []
    assert kinds(Gate(allow_different_cases=True, max_rate_drop=0.02).compare(base, cur)) == ["aggregate"]
    base, cur = runs_of_rates(b, ["pass"] * 40, ["pass"] * 39 + ["error"])
    assert only(Gate(allow_different_cases=True).compare(base, cur), "aggregate").regression
    base, cur = runs_of_rates(b, ["pass"] * 36 + ["fail"] * 4, ["pass"] * 38 + ["fail"] * 2)
    assert Gate(allow_different_cases=True).compare(base, cur).findings == []                     # +5 %: not beyond
    assert not only(Gate(allow_different_cases=True, max_rate_drop=0.02).compare(base, cur), "aggregate").regression


def test_aggregate_improvement_is_reported_not_a_regression(b):
    base, cur = runs_of_rates(b, ["pass"] * 5 + ["fail"] * 5, ["pass"] * 9 + ["fail"])
    f = only(Gate(allow_different_cases=True).compare(base, cur), "aggregate")
    assert not f.regression and f.detail.startswith("pass rate 50% -> 90%")


def test_aggregate_rates_count_known_departures_as_passing_and_skips_not_at_all(b):
    base, cur = runs_of_rates(b, ["pass", "xfail", "skip", "skip"], ["xpass", "pass", "skip"])
    assert Gate(allow_different_cases=True).compare(base, cur).findings == []
    base, cur = runs_of_rates(b, ["skip"] * 3, ["fail"] * 3)
    assert Gate(allow_different_cases=True).compare(base, cur).findings == []       # no rate before: nothing to compare with


def test_aggregates_only_where_baseline_cases_are_unmatched(b):
    base = b.run([b.record(case_id="a"), b.record(case_id="b")], "b")
    cur = b.run([b.record(case_id="a"), b.record(case_id="b"), b.record(case_id="new", outcome="fail")], "c")
    assert Gate(allow_different_cases=True).compare(base, cur).findings == []
    cur = b.run([b.record(case_id="a"), b.record(case_id="c", outcome="fail")], "c")
    assert kinds(Gate(allow_different_cases=True).compare(base, cur)) == ["aggregate"]


def test_aggregate_of_a_check_missing_now(b):
    base = b.run([b.record(case_id="a"), b.record(case_id="a", check="preserve")], "b")
    cur = b.run([b.record(case_id="z")], "c")
    assert Gate(allow_different_cases=True).compare(base, cur).findings == []


def test_offload_rate_gain_is_not_a_regression(b):
    base = b.run([off(b, f"a{i}", "under-offload", {}) for i in range(4)], "b")
    cur = b.run([off(b, f"b{i}", "match", {"relax.nn.relu": 1}) for i in range(4)], "c")
    f = only(Gate(allow_different_cases=True).compare(base, cur), "offload-change")
    assert not f.regression and f.detail == "offload rate 0% -> 100% (case ids differ)"
    small = b.run([off(b, f"b{i}", "under-offload", {}) for i in range(4)], "c")
    assert [f.kind for f in Gate(allow_different_cases=True).compare(base, small).findings] == []


def test_offload_rate_needs_offload_records_on_both_sides(b):
    base = b.run([b.record(case_id="a", check="offload")], "b")
    cur = b.run([off(b, "z", "match", {"relax.nn.relu": 1})], "c")
    assert Gate(allow_different_cases=True).compare(base, cur).findings == []


# -- the verdict --------------------------------------------------------------------------------------
def test_verdict_json_is_serialisable(b):
    v = Gate().compare(b.run([b.record()], "b"), b.run([b.record(outcome="fail")], "c"))
    data = json.loads(json.dumps(v.to_json()))
    assert data["regressed"] is True and data["counts"] == {"new-failure": 1} and data["matched_cases"] == 1
    assert data["baseline"] == "tvm0.27 trt8.6.1 [b]" and data["current"] == "tvm0.27 trt8.6.1 [c]"
    assert data["findings"] == [{"kind": "new-failure", "op": "nn.relu", "detail": "pass -> fail", "regression": True,
                                 "case_id": "c1", "check": "reference", "data": {}, "category": "regression",
                                 "expectation": None}]
    assert data["categories"] == {"regression": 1, "improvement": 0, "expected": 0, "other": 0}
    assert data["missing"] == data["extra"] == [] and data["plans"].startswith("the same plan")
    assert data["env_differences"] == [] and data["notes"] == []


def test_labels(b):
    v = Gate().compare(b.run([], "base", label="old"), b.run([], "cur", label="new"))
    assert (v.baseline, v.current) == ("old", "new")
    v = Gate().compare(b.run([], "base-1234567890"), b.run([], "cur-0987654321"))
    assert (v.baseline, v.current) == ("tvm0.27 trt8.6.1 [base-123]", "tvm0.27 trt8.6.1 [cur-0987]")
    same = b.run([], "same")
    v = Gate().compare(same, same)
    assert v.baseline == v.current == "tvm0.27 trt8.6.1"


def test_verdict_text(b):
    base = b.run([b.record(case_id=f"c{i}", outcome="fail") for i in range(3)] + [b.record(case_id="p")], "b")
    cur = b.run([b.record(case_id=f"c{i}") for i in range(3)] + [b.record(case_id="p", outcome="fail")], "c")
    lines = Gate().compare(base, cur).to_text(limit=2).splitlines()
    assert lines[0] == ("gate: REGRESSION: tvm0.27 trt8.6.1 [c] vs baseline tvm0.27 trt8.6.1 [b] (4 matched checks): "
                        "1 regression, 3 improvements, 0 expected changes in 0 groups")
    assert lines[1].startswith("  cases: the same plan (")
    assert lines[2] == "regressions (1):"
    assert lines[3] == "  new-failure    nn.relu [p] reference: pass -> fail"
    assert lines[4:] == ["improvements (3):", "  fixed          nn.relu [c0] reference: fail -> pass",
                         "  fixed          nn.relu [c1] reference: fail -> pass",
                         "  ... and 1 more (--all shows every row)"]


def test_verdict_text_of_an_op_finding():
    v = Verdict("a", "b", [Finding("op-missing", "nn.relu", "gone", True)], [], [], 0)
    assert v.to_text().splitlines() == ["gate: REGRESSION: b vs baseline a (0 matched checks): 1 regression, "
                                        "0 improvements, 0 expected changes in 0 groups", "regressions (1):",
                                        "  op-missing     nn.relu: gone"]
    assert v.counts() == {"op-missing": 1}


@pytest.mark.parametrize("text,value", [("10%", 0.10), ("0.1", 0.1), ("2.5%", 0.025), ("0", 0.0), (" 1 ", 1.0),
                                        ("150%", 1.5), ("0%", 0.0)])
def test_parse_fraction(text, value):
    assert parse_fraction(text) == pytest.approx(value)


@pytest.mark.parametrize("text,message", [
    ("10", "ambiguous fraction '10': write 10% or 0.1"),
    ("1.5", "ambiguous fraction '1.5': write 1.5% or 0.015"),
    ("abc", "not a percentage: 'abc' (write e.g. 10% or 0.10)"),
    ("-5%", "must be a non-negative percentage: '-5%'"),
    ("-0.1", "must be a non-negative percentage: '-0.1'"),
    ("nan%", "must be a non-negative percentage: 'nan%'"),
    ("inf%", "must be a non-negative percentage: 'inf%'"),
])
def test_parse_fraction_refuses(text, message):
    with pytest.raises(argparse.ArgumentTypeError) as info:
        parse_fraction(text)
    assert str(info.value) == message


def test_positive():
    assert _positive("3") == 3.0 and _positive("0") == 0.0
    for text, message in (("x", "not a number: 'x'"), ("-1", "must be a non-negative number: '-1'"),
                          ("inf", "must be a non-negative number: 'inf'")):
        with pytest.raises(argparse.ArgumentTypeError) as info:
            _positive(text)
        assert str(info.value) == message


def test_offload_record_has_offloaded_property():
    assert Offload(verdict="match", actual={"a": 1}).offloaded and not Offload(verdict="match", actual={"a": 0}).offloaded


# -- edges that mutation testing showed unguarded ----------------------------------------------------
def fresh(text: str) -> str:
    """An equal string that is not the interned literal (as values built at run time are)."""
    return "".join(list(text))


def test_values_are_compared_by_value_not_identity(b):
    def rec(**kw):
        r = b.record(**kw)
        r.check, r.outcome = fresh(r.check), fresh(r.outcome)
        return r

    v = Gate().compare(b.run([rec(outcome="skip")], "b"), b.run([rec(outcome="fail")], "c"))
    assert v.findings == []
    base = b.run([rec(check="offload", offload=b.offload(fresh("match"), {"relax.add": 1}))], "b")
    cur = b.run([rec(check="offload", offload=b.offload(fresh("over-offload"), {"relax.add": 1}))], "c")
    assert only(Gate().compare(base, cur), "offload-change").regression
    same = b.run([rec(check="offload", offload=b.offload(fresh("match"), {"relax.add": 1}))], "c")
    assert Gate().compare(base, same).findings == []
    lost = b.run([rec(check="offload", offload=b.offload(fresh("under-offload"), {}))], "c")
    assert only(Gate().compare(base, lost), "offload-change").regression
    t = b.run([trt(b, 1e-3, 1e-6, device=1e-3, device_iqr=1e-6)], "b")
    slow = b.run([trt(b, 1e-3, 1e-6, device=2e-3, device_iqr=1e-6)], "c")
    assert only(Gate(timing=fresh("device")).compare(t, slow), "performance").data["figure"] == "device"
    assert Gate().compare(b.run([], fresh("same")), b.run([], "same")).baseline == "tvm0.27 trt8.6.1"
    assert Gate().compare(b.run([], "r", gpu=fresh("H100")), b.run([], "r", gpu="H100")).env_differences == []


def test_identical_offload_matches_give_no_finding(b):
    r = [off(b, "a", "match", {"relax.add": 1}), off(b, "z", "match", {})]
    assert Gate().compare(b.run(r, "b"), b.run(r, "c")).findings == []


def test_a_change_between_two_departures_is_not_a_regression(b):
    v = Gate().compare(b.run([off(b, "a", "over-offload", {"relax.add": 1})], "b"),
                       b.run([off(b, "a", "under-offload", {})], "c"))
    f = only(v, "offload-change")
    assert not f.regression and f.detail == "no longer offloaded (verdict over-offload -> under-offload)"


def test_every_matched_case_is_compared(b):
    base = b.run([b.record(case_id="gone"), b.record(case_id="kept")], "b")
    cur = b.run([b.record(case_id="kept", outcome="fail")], "c")
    assert [f.case_id for f in Gate(allow_different_cases=True).compare(base, cur).findings if f.kind == "new-failure"] == ["kept"]


def test_labels_are_disambiguated_only_when_equal(b):
    v = Gate().compare(b.run([], "b", label="a-old"), b.run([], "c", label="b-new"))
    assert (v.baseline, v.current) == ("a-old", "b-new")
    v = Gate().compare(b.run([], "zzz-base"), b.run([], "aaa-cur"))
    assert (v.baseline, v.current) == ("tvm0.27 trt8.6.1 [zzz-base]", "tvm0.27 trt8.6.1 [aaa-cur]")


def test_accuracy_ratio_text(b):
    v = Gate().compare(b.run([acc(b, "a", 4e-6)], "b"), b.run([acc(b, "a", 5e-5)], "c"))
    assert "(x12.5, budget 0)" in only(v, "accuracy").detail


def test_default_thresholds(b):
    g = Gate()
    assert (g.max_slowdown, g.noise_k, g.acc_factor, g.acc_budget, g.max_rate_drop, g.timing) == (
        0.10, 3.0, 2.0, 0.5, 0.05, "device")
    hash(g)
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        g.noise_k = 1.0
    # slowdown 0.5 ms against 3 x 0.14 ms of noise: found; a 4x noise factor would not find it
    assert kinds(Gate(timing="latency").compare(b.run([trt(b, 1.0e-3, 1e-4)], "b"),
                                                b.run([trt(b, 1.5e-3, 1e-4)], "c"))) == ["performance"]
    # grew x2.5 by far more than the budget: found; a x3 factor would not find it
    tol = Tolerance(atol=0.0, rtol=0.0)
    assert kinds(Gate().compare(b.run([acc(b, "a", 1.0, tol)], "b"), b.run([acc(b, "a", 2.5, tol)], "c"))) == [
        "accuracy"]


def test_zero_iqr_falls_back_to_stddev(b):
    t_base, t_cur = {"tvm-cuda": b.timing()}, {"tvm-cuda": b.timing()}
    t_base["tvm-cuda"].latency = b.stats(1e-3, 0.0, stddev_s=3e-4)
    t_cur["tvm-cuda"].latency = b.stats(1.5e-3, 0.0, stddev_s=3e-4)
    assert Gate(timing="latency").compare(b.run([b.record(timings=t_base)], "b"),
                                          b.run([b.record(timings=t_cur)], "c")).findings == []


def test_noise_edge_is_not_beyond(b):
    base = b.run([trt(b, 8.0, 3.0)], "b")
    cur = b.run([trt(b, 13.0, 4.0)], "c")         # grew by 5 s; noise hypot(3, 4) = 5 s
    assert Gate(timing="latency", noise_k=1.0).compare(base, cur).findings == []
    assert kinds(Gate(timing="latency", noise_k=0.99).compare(base, cur)) == ["performance"]


def test_timings_on_one_side_only(b):
    assert Gate().compare(b.run([trt(b, 1.0)], "b"), b.run([b.record(check="tensorrt")], "c")).findings == []
    assert Gate().compare(b.run([b.record(check="tensorrt")], "b"), b.run([trt(b, 1.0)], "c")).findings == []


def test_every_backend_is_compared(b):
    base = b.run([b.record(timings={"gone": b.timing(1e-3, 0.0), "none": b.timing(), "x": b.timing(1e-3, 0.0)})],
                 "b")
    cur = b.run([b.record(timings={"none": b.timing(2e-3, 0.0), "x": b.timing(2e-3, 0.0)})], "c")
    assert [f.data["backend"] for f in Gate(timing="latency").compare(base, cur).findings] == ["x"]


def test_every_op_gets_its_aggregate(b):
    base = b.run([b.record(op="a", case_id="1"), b.record(op="b", case_id="1")], "b")
    cur = b.run([b.record(op="a", case_id="1"), b.record(op="b", case_id="2", outcome="fail")], "c")
    assert [(f.kind, f.op) for f in Gate(allow_different_cases=True).compare(base, cur).findings] == [("aggregate", "b")]


def test_first_failures_count_only_where_there_were_none(b):
    # 1 fail + 1 error before; one more failure now is a 2.5 % drop: within the threshold
    base, cur = runs_of_rates(b, ["pass"] * 38 + ["fail", "error"], ["pass"] * 37 + ["fail", "fail", "error"])
    assert Gate(allow_different_cases=True).compare(base, cur).findings == []
    base, cur = runs_of_rates(b, ["pass"] * 39 + ["error"], ["pass"] * 38 + ["error", "error"])
    assert Gate(allow_different_cases=True).compare(base, cur).findings == []
    # none before, 1 fail + 1 error now (3.3 % drop): a regression all the same
    base, cur = runs_of_rates(b, ["pass"] * 60, ["pass"] * 58 + ["fail", "error"])
    assert only(Gate(allow_different_cases=True).compare(base, cur), "aggregate").regression


def test_rate_drop_edges(b):
    base, cur = runs_of_rates(b, ["pass", "pass", "fail", "fail"], ["pass", "fail", "fail", "fail"])   # 50 -> 25 %
    assert Gate(allow_different_cases=True, max_rate_drop=0.25).compare(base, cur).findings == []
    assert Gate(allow_different_cases=True, max_rate_drop=0.25).compare(cur, base).findings == []
    offl = [off(b, f"a{i}", "match", {"relax.nn.relu": int(i < 2)}) for i in range(4)]
    less = [off(b, f"b{i}", "match", {"relax.nn.relu": int(i < 1)}) for i in range(4)]
    assert Gate(allow_different_cases=True, max_rate_drop=0.25).compare(b.run(offl, "b"), b.run(less, "c")).findings == []
    same = [off(b, f"c{i}", "match", {"relax.nn.relu": int(i < 2)}) for i in range(4)]
    assert Gate(allow_different_cases=True).compare(b.run(offl, "b"), b.run(same, "c")).findings == []


def test_pass_rate_arithmetic(b):
    base, cur = runs_of_rates(b, ["pass"] + ["xpass"] * 2 + ["xfail"] * 3 + ["skip"] * 4,
                              ["pass"] * 2 + ["fail"] * 4 + ["skip"])
    f = only(Gate(allow_different_cases=True).compare(base, cur), "aggregate")
    assert (f.data["baseline_rate"], f.data["current_rate"]) == (1.0, pytest.approx(1 / 3))
    assert f.detail == "pass rate 100% -> 33% (case ids differ; 10 vs 7 cases)"


def test_offload_rate_reads_only_its_op_and_offload_records(b):
    adds = lambda p: [off(b, f"{p}{i}", "match", {"relax.add": 1}, op="add") for i in range(2)]  # noqa: E731
    base = b.run(adds("a") + [off(b, "z", "under-offload", {}, op="sum"),
                              b.record(op="add", case_id="r", offload=b.offload("under-offload", {}))], "b")
    cur = b.run(adds("b") + [off(b, "z", "match", {"relax.sum": 1}, op="sum"),
                             b.record(op="add", case_id="r", offload=b.offload("match", {"relax.add": 1}))], "c")
    assert [f for f in Gate(allow_different_cases=True).compare(base, cur).findings if f.op == "add"] == []


def test_offload_rate_compares_ops_by_value(b):
    base = b.run([off(b, f"a{i}", "match", {"relax.add": 1}, op="add") for i in range(2)], "b")
    cur = b.run([off(b, f"b{i}", "under-offload", {}, op="add") for i in range(2)], "c")
    for r in cur.records:
        r.op, r.check = fresh(r.op), fresh(r.check)
    f = only(Gate(allow_different_cases=True).compare(base, cur), "offload-change")
    assert f.regression and f.detail == "offload rate 100% -> 0% (case ids differ)"


def test_verdict_text_default_limit_and_sections(b):
    many = [Finding("fixed", "op", f"d{i}", False) for i in range(51)]
    lines = Verdict("a", "b", many, [], [], 0).to_text().splitlines()
    assert lines[0] == ("gate: OK: b vs baseline a (0 matched checks): 0 regressions, 0 improvements, 0 expected "
                        "changes in 0 groups, 51 other") and lines[1] == "other changes (51):"
    assert lines[-1] == "  ... and 1 more (--all shows every row)" and len(lines) == 53
    every = Verdict("a", "b", many, [], [], 0).to_text(limit=None).splitlines()   # --all
    assert len(every) == 53 and every[-1] == "  fixed          op: d50"
    exact = Verdict("a", "b", many[:50], [], [], 0).to_text().splitlines()
    assert len(exact) == 52 and "more" not in exact[-1]
    five = Verdict("a", "b", many[:5], [], [], 0).to_text(limit=2).splitlines()
    assert five[-1] == "  ... and 3 more (--all shows every row)"


def test_lost_offload_now_expected_with_a_verdict_built_at_run_time(b):
    v = Gate().compare(b.run([off(b, "a", "match", {"relax.add": 1})], "b"),
                       b.run([off(b, "a", fresh("match"), {})], "c"))
    assert not only(v, "offload-change").regression


def test_ops_after_a_missing_one_are_still_compared(b):
    base = b.run([b.record(op="gone", case_id="1"), b.record(op="kept", case_id="1")], "b")
    cur = b.run([b.record(op="kept", case_id="2", outcome="fail")], "c")
    assert [(f.kind, f.op) for f in Gate(allow_different_cases=True).compare(base, cur).findings] == [("op-missing", "gone"),
                                                                           ("aggregate", "kept")]


# -- expected changes: what an expectation explains is not a regression ------------------------------
def known(b, case_id, verdict, actual, eid, op="nn.relu"):
    """An offload record the run judged by expectation ``eid`` (xfail)."""
    r = off(b, case_id, verdict, actual, op=op)
    r.outcome, r.expectation = "xfail", eid
    return r


def with_expectations(run, **reasons):
    from harness.records import KnownDeparture

    run.headers[0].expectations = [KnownDeparture(id=k.replace("_", "-"), check="offload", reason=v)
                                   for k, v in reasons.items()]
    return run


def test_a_change_the_current_runs_expectation_explains_is_expected_and_grouped(b):
    base = b.run([off(b, f"c{i}", "match", {"relax.add": 1}, op=op) for i, op in
                  enumerate(["add", "add", "nn.relu", "nn.relu", "nn.relu"])], "b")
    cur = with_expectations(b.run([known(b, "c0", "over-offload", {"relax.add": 1}, "implicit", op="add"),
                                   known(b, "c1", "over-offload", {"relax.add": 1}, "implicit", op="add"),
                                   known(b, "c2", "over-offload", {"relax.add": 1}, "implicit"),
                                   known(b, "c3", "under-offload", {}, "pattern"),
                                   off(b, "c4", "match", {"relax.add": 1})], "c"),
                            implicit="no use_implicit_batch", pattern="no pattern")
    v = Gate().compare(base, cur)
    assert not v.regressed and v.of("regression") == [] and len(v.of("expected")) == 4
    groups = v.expected_groups()
    assert [(g["id"], g["n"], g["reason"]) for g in groups] == [("implicit", 3, "no use_implicit_batch"),
                                                                ("pattern", 1, "no pattern")]
    assert groups[0]["cells"] == [{"op": "add", "check": "offload", "n": 2}, {"op": "nn.relu", "check": "offload",
                                                                              "n": 1}]
    assert groups[0]["changes"] == [{"change": "pass -> xfail (match -> over-offload)", "n": 3}]
    lost = [f for f in v.findings if f.case_id == "c3"]
    assert [(f.kind, f.category, f.expectation) for f in lost] == [("expected-change", "expected", "pattern")]
    text = v.to_text().splitlines()
    assert text[0].endswith("0 regressions, 0 improvements, 4 expected changes in 2 groups")
    assert "expected changes (4, in 2 groups by expectation):" in text
    assert ("  implicit: 3 (pass -> xfail (match -> over-offload) 3): add offload 2, nn.relu offload 1; why: "
            "no use_implicit_batch") in text


def test_the_same_change_without_an_expectation_is_a_regression(b):
    base = b.run([off(b, "c0", "match", {"relax.add": 1}), off(b, "c1", "match", {"relax.add": 1})], "b")
    cur = b.run([off(b, "c0", "over-offload", {"relax.add": 1}), off(b, "c1", "under-offload", {})], "c")
    for r in cur.records:
        r.outcome = "fail"
    v = Gate().compare(base, cur)
    assert v.regressed and {f.case_id for f in v.regressions} == {"c0", "c1"} and v.of("expected") == []


def test_a_baseline_departure_that_does_not_apply_now_is_expected_not_an_improvement(b):
    base = with_expectations(b.run([known(b, "c0", "over-offload", {"relax.add": 1}, "implicit")], "b"),
                             implicit="only below TensorRT 10")
    cur = b.run([off(b, "c0", "match", {"relax.add": 1})], "c")
    (f,) = Gate().compare(base, cur).findings
    assert (f.category, f.expectation) == ("expected", "implicit")
    assert f.detail.startswith("xfail -> pass (over-offload -> match); the baseline's known departure does not apply")


def test_an_xpass_that_became_a_fail_is_a_regression_and_a_fix_an_improvement(b):
    base = b.run([b.record(case_id="x", outcome="xpass"), b.record(case_id="f", outcome="fail")], "b")
    cur = b.run([b.record(case_id="x", outcome="fail"), b.record(case_id="f")], "c")
    v = Gate().compare(base, cur)
    assert [(f.case_id, f.kind) for f in v.regressions] == [("x", "new-failure")]
    assert [(f.case_id, f.kind) for f in v.of("improvement")] == [("f", "fixed")]
    lines = v.to_text().splitlines()
    assert lines.index("regressions (1):") < lines.index("improvements (1):")


def test_a_failure_that_becomes_known_is_expected(b):
    base = b.run([b.record(case_id="k", outcome="fail")], "b")
    cur = b.run([b.record(case_id="k", outcome="xfail", expectation="now-known")], "c")
    (f,) = Gate().compare(base, cur).findings
    assert (f.kind, f.category, f.expectation, f.data["change"]) == ("expected-change", "expected", "now-known",
                                                                     "fail -> xfail")
