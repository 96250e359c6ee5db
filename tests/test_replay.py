"""Plans (harness/replay.py, --trt-plan) and the gate on real runs: a run replayed from a baseline's
results has exactly its (case, check) pairs, also for cases Hypothesis would not draw; --trt-ops,
--trt-shard and --trt-resume compose with it; bad plans are one line and exit 2; the real
8.6.1-vs-10.0.1 pair gates OK with its changes grouped by expectation, and one injected regression
that no expectation covers fails the gate, naming that case."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import doubles
from harness import replay
from harness.case import Case
from harness.reader import load_results
from harness.records import decode, encode

OPS = "--trt-ops=add,nn.softmax,nn.relu"


def cli(*args, cwd=None):
    """``trt-harness ARGS`` -> (exit code, stdout, stderr): ``run`` (a pytest session) in a child, every
    other command through the same cli.main in this process (an interpreter's start-up per call was
    most of their time)."""
    import contextlib
    import io

    from harness.cli import main

    args = [str(a) for a in args]
    if args[0] == "run":
        proc = subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                              cwd=cwd, timeout=600)
        return proc.returncode, proc.stdout, proc.stderr
    out, err, here = io.StringIO(), io.StringIO(), os.getcwd()
    os.chdir(cwd or here)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(args)
    finally:
        os.chdir(here)
    return rc, out.getvalue(), err.getvalue()


def pairs(path):
    return {(r.op, r.case_id, r.check) for r in load_results(path).records}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, suite_here_once):
    """A real run of three table ops at TensorRT 10.0.1 (ci profile), in this process."""
    work = tmp_path_factory.mktemp("base")
    rc, out, _ = suite_here_once(work, OPS)
    assert rc == 0, out[-3000:]
    return str(work / "out" / "results.jsonl")


def test_every_header_carries_the_plan_hash_and_a_plan_file_has_it_too(baseline, tmp_path):
    run = load_results(baseline)
    plan = replay.from_run(run, baseline)
    assert run.env["plan"] == plan.hash == replay.run_plan(run) and run.env["plan_cases"] == plan.n_cases() > 0
    rc, out, err = cli("plan", baseline, "-o", tmp_path / "p.json")
    assert rc == 0 and plan.hash in out and err == ""
    again = replay.load(str(tmp_path / "p.json"))
    assert again.hash == plan.hash and again.cases == plan.cases


def test_replay_runs_exactly_the_baselines_pairs_at_another_version(baseline, tmp_path, suite_here):
    rc, out, _ = suite_here(tmp_path, OPS, f"--trt-plan={baseline}", "--trt-version=8.6.1")
    assert rc == 0, out[-3000:]
    current = str(tmp_path / "out" / "results.jsonl")
    assert pairs(current) == pairs(baseline)
    assert load_results(current).env["plan"] == load_results(baseline).env["plan"]
    assert f"replayed from {baseline}" in out
    rc, text, err = cli("gate", baseline, current)
    assert rc == 0, text + err
    assert "0 regressions" in text.splitlines()[0] and "the same plan" in text
    assert "missing" not in text and "extra" not in text


def test_a_plan_runs_cases_hypothesis_would_not_draw(baseline, tmp_path, suite_here):
    """The plan is the cases themselves: edit one into a case no profile draws, it runs as written."""
    plan = replay.from_run(load_results(baseline), baseline)
    odd = Case("nn.relu", "float32", ((7, 3, 2),), {}, (), 12345)
    plan.cases = {"nn.relu": [odd]}
    replay.write(plan, str(tmp_path / "odd.json"))
    rc, out, recs = suite_here(tmp_path / "w", f"--trt-plan={tmp_path / 'odd.json'}")
    assert rc == 0, out[-3000:]
    assert {(r["op"], r["case_id"]) for r in recs if not r["case_id"].endswith("-*")} == {("nn.relu", odd.case_id)}
    real = [r for r in recs if not r["case_id"].endswith("-*")]
    assert all(r["input_shapes"] == [[7, 3, 2]] and r["seed"] == 12345 for r in real) and len(real) == 3


def test_plan_composes_with_ops_shards_and_resume(baseline, tmp_path, suite_here):
    full = pairs(baseline)
    rc, out, _ = suite_here(tmp_path / "ops", f"--trt-plan={baseline}", "--trt-ops=nn.relu")
    assert rc == 0, out[-3000:]
    assert pairs(tmp_path / "ops" / "out" / "results.jsonl") == {p for p in full if p[0] == "nn.relu"}
    parts = []
    for k in (1, 2):
        rc, out, _ = suite_here(tmp_path / f"s{k}", f"--trt-plan={baseline}", f"--trt-shard={k}/2")
        assert rc == 0, out[-3000:]
        parts.append(str(tmp_path / f"s{k}" / "out" / "results.jsonl"))
    both = {p for p in pairs(parts[0]) & pairs(parts[1]) if not p[1].endswith("-*")}   # op-level skips: in each
    assert pairs(parts[0]) and pairs(parts[1]) and not both
    assert pairs(parts[0]) | pairs(parts[1]) == full
    rc, _, err = cli("merge", *parts, "-o", tmp_path / "merged.jsonl")
    assert rc == 0, err
    merged = load_results(tmp_path / "merged.jsonl")
    assert pairs(tmp_path / "merged.jsonl") == full and merged.env["plan"] == load_results(baseline).env["plan"]
    rc, _, err = cli("merge", parts[0], tmp_path / "ops" / "out" / "results.jsonl", "-o", tmp_path / "no.jsonl")
    assert rc == 2 and "cannot merge: plan is" in err      # parts of runs of other cases
    # resume a replay whose file holds only the first shard: the rest is run, nothing twice
    work = tmp_path / "resume"
    os.makedirs(work / "out")
    with open(parts[0], "rb") as src, open(work / "out" / "results.jsonl", "wb") as dst:
        dst.write(src.read())
    rc, out, _ = suite_here(work, f"--trt-plan={baseline}", "--trt-resume", "-rs")
    assert rc == 0, out[-3000:]
    assert pairs(work / "out" / "results.jsonl") == full
    assert "SKIPPED" not in out and "counts are of the whole results file" in out
    n_cases = len({(op, cid) for op, cid, _ in full if not cid.endswith("-*")})
    assert f"cases: {n_cases} " in out


def test_a_plan_op_the_table_no_longer_has_is_reported_and_the_rest_runs(baseline, tmp_path, suite_here):
    plan = replay.from_run(load_results(baseline), baseline)
    gone = Case("nn.gone_op", "float32", ((2,),), {}, (), 0)
    plan.cases = {"nn.relu": plan.cases["nn.relu"], "nn.gone_op": [gone]}
    replay.write(plan, str(tmp_path / "p.json"))
    rc, out, recs = suite_here(tmp_path / "w", f"--trt-plan={tmp_path / 'p.json'}", "-rs")
    assert rc == 0, out[-3000:]
    assert "not run: nn.gone_op: the plan names it, but the support table has no such op" in out
    assert {r["op"] for r in recs} == {"nn.relu"} and len(recs) > 10


@pytest.mark.parametrize("content, says", [
    (b"hello\n", "neither a results file nor a plan file"),
    (b'{"schema": "tvm-trt-harness.plan", "schema_version": 9, "cases": {}}\n', "newer than this harness reads"),
    (b'{"schema": "tvm-trt-harness.plan", "schema_version": 1, "cases": {"nn.relu": [{"op": "nn.relu"}]}}\n',
     "is not a case"),
    (b'{"kind":"header","schema":"tvm-trt-harness.results","schema_version":7,"run_id":"r","created":"x"}\n',
     "schema_version 7 is not supported"),
])
def test_a_bad_plan_is_one_line_and_exit_2(tmp_path, content, says):
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    rc, out, err = cli("run", "--suite", "ops", f"--trt-plan={bad}", f"--trt-results={tmp_path / 'r.jsonl'}",
                       "--trt-report=", "-q", "-p", "no:cacheprovider", cwd=tmp_path)
    assert rc == 2 and says in out + err and "Traceback" not in out + err
    rc, out, err = cli("plan", bad, "-o", tmp_path / "p.json")
    assert rc == 2 and says in err and len(err.strip().splitlines()) == 1 and out == ""


def test_the_gate_refuses_runs_of_different_plans_unless_allowed(baseline, tmp_path, suite_here):
    rc, out, _ = suite_here(tmp_path, "--trt-ops=nn.relu,exp")
    assert rc == 0, out[-3000:]
    other = str(tmp_path / "out" / "results.jsonl")
    rc, text, err = cli("gate", baseline, other)
    assert rc == 2 and text == "" and len(err.strip().splitlines()) == 1
    assert "ran different cases" in err and "--allow-different-cases" in err
    rc, text, err = cli("gate", baseline, other, "--allow-different-cases", "--all")
    only_base = {p for p in pairs(baseline) - pairs(other) if not p[1].endswith("-*")}
    only_cur = {p for p in pairs(other) - pairs(baseline) if not p[1].endswith("-*")}
    assert f"missing: only in the baseline ({len(only_base)} (case, check) pairs):" in text
    assert f"extra: only in the current run ({len(only_cur)} (case, check) pairs):" in text
    assert "  exp [" in text and "... and" not in text      # --all: every row


# -- the real pair ----------------------------------------------------------------------------------
def test_real_pair_gates_ok_with_expected_changes_and_an_injected_regression_fails(baseline, tmp_path, suite_here):
    rc, out, _ = suite_here(tmp_path, OPS, "--trt-version=8.6.1")
    assert rc == 0, out[-3000:]
    current = str(tmp_path / "out" / "results.jsonl")
    for base, cur in ((baseline, current), (current, baseline)):
        rc, text, err = cli("gate", base, cur, "--json", tmp_path / "v.json")
        assert rc == 0, text + err
        verdict = json.loads((tmp_path / "v.json").read_text())
        groups = {g["id"]: g for g in verdict["expected_groups"]}
        assert verdict["categories"]["regression"] == 0 and "partitioner-no-implicit-batch" in groups
        assert groups["partitioner-no-implicit-batch"]["reason"] and "\n  partitioner-no-implicit-batch: " in text
    # one injected regression no expectation covers: a preserve check that passed now fails
    with open(current, "rb") as fh:
        lines = fh.read().splitlines()
    for i, raw in enumerate(lines):
        line = decode(raw)
        if getattr(line, "check", None) == "preserve" and line.outcome == "pass":
            line.outcome, line.reason = "fail", "injected: not what TVM did"
            lines[i], victim = encode(line), line
            break
    injected = tmp_path / "injected.jsonl"
    injected.write_bytes(b"\n".join(lines) + b"\n")
    rc, text, err = cli("gate", baseline, injected)
    assert rc == 1, text + err
    assert text.splitlines()[0].startswith("gate: REGRESSION:") and "1 regression," in text.splitlines()[0]
    assert f"new-failure    {victim.op} [{victim.case_id}] preserve: pass -> fail" in text


def test_resume_refuses_a_file_of_another_plan(build, tmp_path):
    from harness.errors import InputError
    from harness.session import done_pairs

    path = build.write(tmp_path / "r.jsonl", build.header("r", plan="aaaa"), [build.record(run_id="r")])
    assert done_pairs(path, "aaaa") == {("c1", "reference")}
    with pytest.raises(InputError, match=r"--trt-resume: .* plan aaaa, this run's plan is bbbb .*--trt-plan"):
        done_pairs(path, "bbbb")


def test_a_plan_file_names_its_cases_once_and_round_trips(tmp_path):
    a = Case("nn.relu", "float32", ((2, 3),), {}, (), 1)
    b = Case("nn.conv2d", "float16", ((1, 2, 4, 4),), {"strides": [1, 1]}, (("w", (2, 2, 1, 1)),), 7)
    plan = replay.Plan({"nn.relu": [a, a], "nn.conv2d": [b]}, "test")
    replay.write(plan, str(tmp_path / "p.json"))
    back = replay.load(str(tmp_path / "p.json"))
    assert back.cases == {"nn.relu": [a], "nn.conv2d": [b]} and back.hash == replay.Plan(back.cases).hash
    assert replay.plan_hash([("nn.relu", a.case_id), ("nn.conv2d", b.case_id)]) == back.hash
