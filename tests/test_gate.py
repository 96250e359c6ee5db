"""harness.gate: each kind of regression is caught, noise is respected, env differences reported."""
from __future__ import annotations

import json

import pytest

from harness.gate import Gate, gate_main, offloaded, parse_fraction
from harness.reader import Run
from harness.results import Record

ENV = {"harness_version": "0.1.0", "tvm_version": "0.26", "trt_version": "8.6.1", "gpu": "H100",
       "hostname": "ci-1", "hypothesis_profile": "ci", "hypothesis_seed": 1}


def header(run_id="base", **env) -> dict:
    return {"kind": "header", "schema": "tvm-trt-harness.results", "schema_version": 1, "run_id": run_id,
            "created": "2025-01-01T00:00:00+00:00", "resumed": False, "env": {**ENV, **env}}


def rec(op="nn.relu", case_id="c1", check="reference", outcome="pass", run_id="base", **kw) -> dict:
    r = Record(op=op, check=check, outcome=outcome, case_id=case_id, **kw).to_json()
    r["run_id"] = run_id
    return r


def run(records, run_id="base", **env) -> Run:
    return Run(headers=[header(run_id, **env)], records=[dict(r, run_id=run_id) for r in records])


def timing(median, iqr, backend="tensorrt"):
    return {backend: {"median_s": median, "iqr_s": iqr, "build_s": 1.0, "rounds": 30}, "speedup": None}


def kinds(verdict, regression=True):
    return sorted(f.kind for f in verdict.findings if f.regression is regression)


def test_identical_runs_pass():
    records = [rec(case_id=f"c{i}", max_abs_err=1e-6, tolerance={"atol": 1e-5, "rtol": 1e-5}) for i in range(5)]
    v = Gate().compare(run(records), run(records, "cur"))
    assert not v.regressed and v.findings == [] and v.matched == 5


def test_new_failure_and_fix():
    base = run([rec(case_id="a"), rec(case_id="b", outcome="fail"), rec(case_id="c", outcome="xfail")])
    cur = run([rec(case_id="a", outcome="fail", reason="mismatch"), rec(case_id="b"),
               rec(case_id="c", outcome="error", error_kind="crash")], "cur")
    v = Gate().compare(base, cur)
    assert kinds(v) == ["new-failure", "new-failure"]
    assert kinds(v, False) == ["fixed"]
    assert any("pass -> fail: mismatch" in f.detail for f in v.findings)
    assert v.regressed


def test_skip_to_fail_is_not_a_regression():
    v = Gate().compare(run([rec(outcome="skip")]), run([rec(outcome="fail")], "cur"))
    assert not v.regressed


def test_offload_lost_and_gained():
    base = run([rec(case_id="a", check="offload", actual_offload=True, offload_verdict="match"),
                rec(case_id="b", check="offload", actual_offload=[], offload_verdict="under-offload")])
    cur = run([rec(case_id="a", check="offload", actual_offload=False, offload_verdict="under-offload"),
               rec(case_id="b", check="offload", actual_offload=["nn.relu"], offload_verdict="match")], "cur")
    v = Gate().compare(base, cur)
    changes = {f.case_id: f for f in v.findings if f.kind == "offload-change"}
    assert changes["a"].regression and "no longer offloaded" in changes["a"].detail
    assert not changes["b"].regression and "now offloaded" in changes["b"].detail


def test_offload_lost_without_verdict_is_a_regression():
    v = Gate().compare(run([rec(check="offload", actual_offload=2)]), run([rec(check="offload", actual_offload=0)], "c"))
    assert kinds(v) == ["offload-change"]


@pytest.mark.parametrize("value,expected", [(True, True), (False, False), (0, False), (3, True), ([], False),
                                            (["a"], True), ({}, False), ("none", False), ("tensorrt", True),
                                            (None, None)])
def test_offloaded(value, expected):
    assert offloaded(value) is expected


def test_accuracy_regression_beyond_tolerance_budget():
    tol = {"atol": 1e-5, "rtol": 1e-5}
    base = run([rec(case_id="big", max_abs_err=1e-6, tolerance=tol), rec(case_id="small", max_abs_err=1e-7, tolerance=tol),
                rec(case_id="nan", max_abs_err=1e-7, tolerance=tol)])
    cur = run([rec(case_id="big", max_abs_err=5e-5, tolerance=tol),      # grew 50x and by 4.9e-5 > 0.5 * 2e-5
               rec(case_id="small", max_abs_err=5e-7, tolerance=tol),    # grew 5x but only by 4e-7: noise
               rec(case_id="nan", max_abs_err=float("nan"), tolerance=tol)], "cur")
    v = Gate().compare(base, cur)
    assert sorted(f.case_id for f in v.findings if f.kind == "accuracy") == ["big", "nan"]
    # a looser budget accepts the growth
    assert [f.case_id for f in Gate(acc_budget=10).compare(base, cur).findings if f.kind == "accuracy"] == ["nan"]


def test_performance_regression_detected():
    base = run([rec(check="tensorrt", timings=timing(1.00e-3, 1e-5))])
    cur = run([rec(check="tensorrt", timings=timing(1.30e-3, 1e-5))], "cur")
    v = Gate().compare(base, cur)
    assert kinds(v) == ["performance"]
    assert v.findings[0].data["slowdown"] == pytest.approx(0.3)


def test_noise_prevents_false_performance_regression():
    """+30 % median but both runs measured an IQR of 0.2 ms: within 3x the combined noise."""
    base = run([rec(check="tensorrt", timings=timing(1.00e-3, 2e-4))])
    cur = run([rec(check="tensorrt", timings=timing(1.30e-3, 2e-4))], "cur")
    assert Gate().compare(base, cur).findings == []
    assert kinds(Gate(noise_k=1).compare(base, cur)) == ["performance"]


def test_small_slowdown_below_percentage_threshold():
    base = run([rec(check="tensorrt", timings=timing(1.00e-3, 0.0))])
    cur = run([rec(check="tensorrt", timings=timing(1.05e-3, 0.0))], "cur")
    assert Gate().compare(base, cur).findings == []
    assert kinds(Gate(max_slowdown=0.01).compare(base, cur)) == ["performance"]


def test_stddev_used_when_iqr_missing():
    t_base = {"cuda": {"median_s": 1e-3, "stddev_s": 3e-4}}
    t_cur = {"cuda": {"median_s": 1.5e-3, "stddev_s": 3e-4}}
    assert Gate().compare(run([rec(timings=t_base)]), run([rec(timings=t_cur)], "c")).findings == []


def test_env_difference_reported_and_perf_not_gated_on_other_gpu():
    base = run([rec(check="tensorrt", timings=timing(1.0e-3, 1e-6))])
    cur = run([rec(check="tensorrt", timings=timing(2.0e-3, 1e-6))], "cur", gpu="A100", hypothesis_seed=2,
              harness_version="0.2.0", tvm_version="0.27")
    v = Gate().compare(base, cur)
    diffs = {d["key"]: d["effect"] for d in v.env_differences}
    assert diffs["gpu"] == "timings not comparable"
    assert diffs["hypothesis_seed"] == diffs["harness_version"] == "cases or checks may differ"
    assert diffs["tvm_version"] == "the versions under comparison"
    assert not v.regressed and kinds(v, False) == ["performance"]
    text = v.to_text()
    assert "env differs: gpu: 'H100' -> 'A100' (timings not comparable)" in text
    assert "hardware differs" in text


def test_case_ids_differ_compare_aggregates():
    base = run([rec(case_id=f"s1-{i}") for i in range(10)] +
               [rec(op="nn.conv2d", case_id=f"s1-{i}", check="offload", actual_offload=True) for i in range(10)])
    cur = run([rec(case_id=f"s2-{i}", outcome="fail" if i < 3 else "pass") for i in range(10)] +
              [rec(op="nn.conv2d", case_id=f"s2-{i}", check="offload", actual_offload=i < 5) for i in range(10)], "cur")
    v = Gate().compare(base, cur)
    assert v.matched == 0
    agg = [f for f in v.findings if f.kind == "aggregate"]
    assert [(f.op, f.check, f.regression) for f in agg] == [("nn.relu", "reference", True)]
    assert "pass rate 100% -> 70%" in agg[0].detail
    rate = [f for f in v.findings if f.kind == "offload-change"]
    assert rate[0].op == "nn.conv2d" and rate[0].regression and "offload rate 100% -> 50%" in rate[0].detail


def test_missing_op_is_a_regression():
    v = Gate().compare(run([rec(op="nn.relu"), rec(op="nn.softmax")]), run([rec(op="nn.relu")], "c"))
    assert [(f.kind, f.op) for f in v.regressions] == [("op-missing", "nn.softmax")]


def test_verdict_json_is_serialisable():
    v = Gate().compare(run([rec()]), run([rec(outcome="fail")], "c"))
    data = json.loads(json.dumps(v.to_json()))
    assert data["regressed"] is True and data["counts"] == {"new-failure": 1}


@pytest.mark.parametrize("text,value", [("10%", 0.10), ("0.1", 0.1), ("2.5%", 0.025), ("0", 0.0)])
def test_parse_fraction(text, value):
    assert parse_fraction(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["10", "abc", "-5%", "nan%"])
def test_parse_fraction_refuses(text):
    import argparse

    with pytest.raises(argparse.ArgumentTypeError):
        parse_fraction(text)


def write(path, run_: Run) -> str:
    path.write_text("\n".join(json.dumps(x) for x in run_.headers + run_.records) + "\n")
    return str(path)


def test_gate_main_exit_codes(tmp_path, capsys):
    base = write(tmp_path / "base.jsonl", run([rec(case_id="a"), rec(case_id="b")]))
    same = write(tmp_path / "same.jsonl", run([rec(case_id="a"), rec(case_id="b")], "cur"))
    worse = write(tmp_path / "worse.jsonl", run([rec(case_id="a", outcome="fail"), rec(case_id="b")], "cur2"))
    out = tmp_path / "verdict.json"
    assert gate_main([base, same]) == 0
    assert "gate: OK" in capsys.readouterr().out
    assert gate_main([base, worse, "--json", str(out), "--max-slowdown", "5%", "--noise-k", "2"]) == 1
    assert "gate: REGRESSION" in capsys.readouterr().out
    assert json.loads(out.read_text())["counts"] == {"new-failure": 1}


def test_gate_main_bad_input_is_one_line_exit_2(tmp_path, capsys):
    base = write(tmp_path / "base.jsonl", run([rec()]))
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    assert gate_main([base, str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"trt-harness: error: {bad}: line 1: invalid JSON") and err.count("\n") == 1
    assert gate_main([base, str(tmp_path / "missing.jsonl")]) == 2
    assert capsys.readouterr().err == f"trt-harness: error: {tmp_path / 'missing.jsonl'}: no such file\n"
    assert gate_main([base, base, "--max-slowdown", "10"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("trt-harness: error: argument --max-slowdown: ambiguous") and err.count("\n") == 1
    assert gate_main([base]) == 2
    assert gate_main([base, base, "--json", str(tmp_path / "no" / "dir" / "v.json")]) == 2
    assert "cannot write" in capsys.readouterr().err
