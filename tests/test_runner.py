"""The runners (harness.runner): builders and runners apart, on this machine's CPU (``--trt-runner
all`` sends every run and timing to one CPU runner process, the path a GPU run takes).

- the records of a run through the runner are the records of a run without it;
- adaptive timing says how many rounds it took and why it stopped;
- the header carries the runner's accounting and the summary prints it;
- a case that kills the runner (twice: once more in a fresh runner) is an ``error`` record of kind
  ``crash``, and every other case still runs;
- a runner that cannot start ends each GPU run with one line saying so.
"""
from __future__ import annotations

import json
import os

import pytest

from harness.timing.latency import Stopper, ci_half_width, median_ci


def _records(path):
    with open(path) as fh:
        lines = [json.loads(line) for line in fh if line.strip()]
    return [ln for ln in lines if ln["kind"] == "header"], [ln for ln in lines if ln["kind"] == "record"]


def _outcomes(records):
    return {(r["case_id"], r["check"]): r["outcome"] for r in records}


LLVM = ["--trt-backend=tvm-llvm", "--trt-reference=tvm-llvm"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, suite_here_once):
    """The same ci cases of two ops, with the runner (a child pytest) and without it (in this process,
    while the child runs)."""
    import subprocess
    import sys

    from conftest import ROOT, shared_cache

    out = tmp_path_factory.mktemp("runner")
    env = dict(os.environ, XDG_CACHE_HOME=shared_cache() or str(out / ".cache"))
    args = ["--trt-ops=nn.relu,exp", *LLVM, "--trt-timing=on"]
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             os.path.join(ROOT, "suites", "ops"), *args, "--trt-runner=all",
                             f"--trt-results={out / 'all'}.jsonl", "--trt-report="], cwd=out,
                            env=dict(env, TRT_HARNESS_TRACE=str(out / "all.trace")),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        rc, text, _ = suite_here_once(out / "off", *args, "--trt-runner=off")
    finally:
        stdout, _ = proc.communicate(timeout=600)
    return {"all": (subprocess.CompletedProcess(proc.args, proc.returncode, stdout, ""),
                    *_records(f"{out / 'all'}.jsonl")),
            "off": (subprocess.CompletedProcess(["(in this process)"], rc, text, ""),
                    *_records(out / "off" / "out" / "results.jsonl"))}


def test_a_run_through_the_runner_records_what_a_run_without_it_does(runs):
    (p_all, _, rec_all), (p_off, _, rec_off) = runs["all"], runs["off"]
    assert p_all.returncode == p_off.returncode == 0, p_all.stdout[-2000:] + p_off.stdout[-2000:]
    assert len(rec_all) == len(rec_off) > 40
    assert _outcomes(rec_all) == _outcomes(rec_off)


def test_a_traced_run_times_every_process_and_phase_of_the_run(runs):
    """TRT_HARNESS_TRACE: the controller, its case worker and the runner each appear, with the
    phases of start-up and one ``unit`` span per unit the run computed."""
    from harness import trace

    p_all, header, records = runs["all"]
    path = os.path.join(os.path.dirname(next(a for a in p_all.args if a.startswith("--trt-results=")).split("=", 1)[1]),
                        "all.trace")
    events = trace.read(path)
    names = {e["args"]["name"].split(" (")[0] for e in events if e.get("ph") == "M"}
    assert {"pytest controller", "case worker", "runner cpu"} <= names, names
    spans = [e for e in events if e.get("ph") == "X"]
    kinds = {e["name"] for e in spans}
    assert {"process start", "import tvm", "plan", "start runners", "runner open", "unit", "compile", "runs",
            "runner run", "timing"} <= kinds, kinds
    units = {(e["args"]["op"]) for e in spans if e["name"] == "unit"}
    assert units == {r["op"] for r in records}
    assert all(e["dur"] >= 0 for e in spans)
    summary = "\n".join(trace.summary(events))
    assert "runner cpu" in summary and "import tvm" in summary


def test_the_header_and_summary_carry_the_runners_accounting(runs):
    proc, heads, _ = runs["all"]
    (use,) = heads[-1]["gpu_use"]
    assert use["device"] == "cpu" and use["kind"] == "cpu"
    assert use["requests"]["run"] > 0 and use["requests"]["time"] > 0
    assert 0 < use["runner_s"] <= use["wall_s"] and abs(use["idle_s"] + use["runner_s"] - use["wall_s"]) < 1e-6
    assert "busy_s" not in use and "CUPTI" in use["busy_unavailable"]          # never guessed
    assert "runner cpu: busy time unknown" in proc.stdout
    assert not runs["off"][1][-1].get("gpu_use")                               # no runner, no accounting


def test_adaptive_timing_says_how_many_rounds_and_why_it_stopped(runs):
    _, _, records = runs["all"]
    timed = [r["timings"]["tvm-llvm"]["latency"] for r in records if r["check"] == "tensorrt" and r.get("timings")]
    assert timed
    for lat in timed:
        assert 5 <= lat["rounds"] <= 15                    # the latency pass: 15 at most
        if lat["stopped"].startswith("median known to"):
            assert lat["ci_rel"] <= 0.005
        elif "the most asked for" in lat["stopped"]:
            assert lat["rounds"] == 15
        else:
            assert "time budget" in lat["stopped"], lat["stopped"]


def test_a_case_that_kills_the_runner_is_a_crash_record_and_the_run_goes_on(tmp_path, monkeypatch, suite_here):
    from conftest import ROOT, TESTS

    results = tmp_path / "out" / "results.jsonl"    # the pytest run in this process: the runners are processes
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([TESTS, ROOT, os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("TRT_HARNESS_RUNNER_PRELOAD", "runner_doubles:segfault_on_first_exp")
    monkeypatch.setenv("TRT_HARNESS_TEST_RUNNER_FAULT_FILE", str(tmp_path / "victim"))
    rc, out, _ = suite_here(tmp_path, "--trt-ops=nn.relu,exp", "--trt-checks=reference", "--trt-runner=all")
    heads, records = _records(results)
    victim = (tmp_path / "victim").read_text().split("|")[0]
    crashed = [r for r in records if r["outcome"] == "error"]
    assert [r["case_id"] for r in crashed] == [victim], out[-3000:]
    (rec,) = crashed
    assert rec["error_kind"] == "crash"
    assert "died of SIGSEGV while running this case" in rec["reason"] and "again in a fresh runner" in rec["reason"]
    others = [r for r in records if r["case_id"] != victim]
    assert others and all(r["outcome"] == "pass" for r in others)
    use = heads[-1]["gpu_use"][0]
    assert use["restarts"] == 2                                      # the first death and the retry's
    assert use["requests"]["run"] == len(others)                      # the runners that died count too
    assert rc == 1                                                    # an unexpected crash fails the run


def test_a_runner_that_cannot_start_is_said_in_one_line(tmp_path, monkeypatch, suite_here):
    from conftest import ROOT, TESTS

    results = tmp_path / "out" / "results.jsonl"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([TESTS, ROOT, os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("TRT_HARNESS_RUNNER_PRELOAD", "runner_doubles:cannot_start")
    _, out, _ = suite_here(tmp_path, "--trt-ops=nn.relu", "--trt-checks=reference", "--trt-runner=all",
                           "--trt-chunk=50")
    _, records = _records(results)
    assert records and all(r["outcome"] == "error" for r in records), out[-2000:]
    assert all("could not be started" in r["reason"] and "refuses to start" in r["reason"] for r in records)
    assert all("; 3 ends)" in r["reason"] and "\n" not in r["reason"] for r in records)   # given up after 3 starts
    assert all(r["reason"].endswith("; the case was not run") and " again" not in r["reason"] for r in records)


# -- the stopping rule, on numbers ------------------------------------------------------------------
def test_the_medians_interval_is_the_order_statistics_one():
    assert median_ci([5, 1, 4, 2, 3]) == (1, 5, 1 - 2 / 32)           # n=5: (min, max), 93.75 %
    lo, hi, cover = median_ci(list(range(1, 21)))                     # n=20: ranks 6 and 15 (1-based)
    assert (lo, hi) == (6, 15) and cover >= 0.95
    assert ci_half_width([1.0] * 9) == 0.0


def test_the_stopper_stops_on_the_interval_the_count_or_the_budget():
    steady = Stopper(target=0.005, min_rounds=5, max_rounds=40, max_total_s=2.0)
    assert not steady.done([1.0, 1.0, 1.0, 1.0], 0.1)                 # fewer than the minimum
    assert steady.done([1.0, 1.001, 0.999, 1.0, 1.0], 0.1) and "after 5 rounds" in steady.why
    noisy = [1.0, 1.5] * 20
    capped = Stopper(target=0.005, min_rounds=5, max_rounds=40, max_total_s=99.0)
    assert not capped.done(noisy[:39], 0.1) and capped.done(noisy, 0.1) and "the most asked for" in capped.why
    spent = Stopper(target=0.005, min_rounds=5, max_rounds=40, max_total_s=2.0)
    assert not spent.done(noisy[:4], 5.0) and spent.done(noisy[:5], 5.0) and "time budget" in spent.why


def test_the_report_shows_the_accounting_beside_the_roofline(runs, tmp_path):
    from harness import report

    out = tmp_path / "index.html"
    results = [a.split("=", 1)[1] for a in runs["all"][0].args if a.startswith("--trt-results=")][0]
    report.write([results], str(out))
    html = out.read_text()
    assert "How the run used its devices" in html
    table = html[html.index('class="gpuuse"'):html.index("</table>", html.index('class="gpuuse"'))]
    assert "<td>cpu</td>" in table and "unknown: no CUPTI" in table
