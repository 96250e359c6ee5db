"""Crash and hang isolation, and compile memory growth."""
from __future__ import annotations

import pytest


def test_crash_becomes_error_record_and_run_goes_on(tmp_path, suite_here):
    # the run in this process (the crash happens in its isolated worker, forked from it); three cases
    # (each a crash and a fresh worker) show it as well as the profile's ten
    rc, out, records = suite_here(tmp_path, "--trt-ops=nn.relu", "--trt-checks=offload,reference", "--trt-cases=3",
                                  double="crash-in-case")
    assert rc == 1, out[-2000:]
    off = [r for r in records if r["check"] == "offload"]
    assert off and all(r["outcome"] == "error" and r["error_kind"] == "crash" and "SIGSEGV" in r["reason"]
                       for r in off)
    ref = [r for r in records if r["check"] == "reference"]   # ran after the crashes, in a fresh worker
    assert ref and all(r["outcome"] == "pass" for r in ref)
    assert "unexpected result" in out and "crash" in out


def test_a_known_crash_is_confirmed_once_and_its_other_cases_held(tmp_path, suite_here):
    """An expectation of a crash: one case per run confirms it (it runs, it crashes: an xfail that keeps
    the kind, so a later re-judgement knows a crash from a wrong result); the unit's other cases it
    describes are held, not run again to kill another worker: [NOTRUN] xfails. The run is green."""
    exp = tmp_path / "exp.toml"
    exp.write_text('[[expect]]\nid = "relu-partition-crash"\nops = ["nn.relu"]\ncheck = "offload"\n'
                   'outcome = "crash"\nreason = "the partitioner segfaults (test double)"\n')
    rc, out, records = suite_here(tmp_path, "--trt-ops=nn.relu", "--trt-checks=offload", "--trt-cases=3",
                                  f"--trt-expectations={exp}", double="crash-in-case")
    assert rc == 0, out[-2000:]
    off = [r for r in records if r["check"] == "offload"]
    assert len(off) == 3 and all(r["outcome"] == "xfail" and r["expectation"] == "relu-partition-crash"
                                 for r in off)
    ran = [r for r in off if "[NOTRUN]" not in r["reason"]]
    assert len(ran) == 1 and ran[0]["error_kind"] == "crash" and "SIGSEGV" in ran[0]["reason"]
    held = [r for r in off if "[NOTRUN]" in r["reason"]]
    assert len(held) == 2 and all(r.get("error_kind") is None and ran[0]["case_id"] in r["reason"] for r in held)


def test_off_keeps_running_in_process(tmp_path, suite_here):
    # in this process: the cases leave their artefacts in its engine.WORKER, which suite_here clears
    # after the run (else every later isolated worker forked from it would inherit them)
    rc, out, records = suite_here(tmp_path, "--trt-ops=nn.relu", "--trt-checks=offload", "--trt-isolate=off")
    assert rc == 0, out[-2000:]
    assert records and all(r["outcome"] in ("pass", "xfail") for r in records)


def _rss_kib() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


@pytest.mark.slow
def test_rss_after_100_and_1000_compiles(capsys):
    import tvm
    from tvm import relax

    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType([4, 8], "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            y = bb.emit_output(relax.op.nn.relu(x))
        bb.emit_func_output(y)
    mod = bb.get()
    rss = {}
    for i in range(1, 1001):
        ex = tvm.compile(mod, target="llvm")
        del ex
        if i in (100, 1000):
            rss[i] = _rss_kib()
    growth = (rss[1000] - rss[100]) / rss[100]
    with capsys.disabled():
        print(f"\nRSS after 100 compiles: {rss[100] / 1024:.1f} MiB; after 1000: {rss[1000] / 1024:.1f} MiB "
              f"(growth {growth:+.1%})")
    assert growth < 0.5


def _two_builders_on_a_known_crash(tmp_path, preload, outcome="crash"):
    """The op suite with two builders (xdist) and a CPU runner, 8 exp cases in units of 2, and an
    expectation that every exp case kills the runner: (exit code, output, records, the last header)."""
    import json
    import os
    import subprocess

    import doubles
    import runner_doubles
    from conftest import ROOT, TESTS

    exp = tmp_path / "exp.toml"
    exp.write_text('[[expect]]\nid = "exp-kills-the-runner"\nops = ["exp"]\ncheck = "reference"\n'
                   f'outcome = "{outcome}"\nreason = "every exp case kills the runner (test double)"\n')
    argv, env, results = doubles.suite_command(tmp_path, "-n", "2", "--trt-ops=exp", "--trt-cases=8", "--trt-chunk=2",
                                               "--trt-checks=reference", "--trt-runner=all",
                                               f"--trt-expectations={exp}")
    env.update(PYTHONPATH=os.pathsep.join([TESTS, ROOT, env.get("PYTHONPATH", "")]))
    if preload:
        env["TRT_HARNESS_RUNNER_PRELOAD"] = preload
        env[runner_doubles.FILE_ENV] = str(tmp_path / "fault")
    proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    with open(results) as fh:
        lines = [json.loads(line) for line in fh if line.strip()]
    return (proc.returncode, proc.stdout + proc.stderr, [r for r in lines if r["kind"] == "record"],
            [h for h in lines if h["kind"] == "header"][-1])


def test_a_known_crash_of_the_runner_is_confirmed_once_per_run_not_per_process(tmp_path):
    """Two builders reach units of an op whose every case kills the runner (a test double) at the
    same time: one confirms the known crash, the other waits for its outcome (the lock of
    harness.confirm, not a timer) and holds its pairs. One runner death in the whole run."""
    rc, out, records, head = _two_builders_on_a_known_crash(tmp_path, "runner_doubles:segfault_on_every_exp")
    assert rc == 0, out[-3000:]
    assert len(records) == 8 and all(r["outcome"] == "xfail" and r["expectation"] == "exp-kills-the-runner"
                                     for r in records), out[-3000:]
    (ran,) = [r for r in records if "[NOTRUN]" not in r["reason"]]
    assert ran["error_kind"] == "crash" and "SIGSEGV" in ran["reason"]
    assert all(ran["case_id"] in r["reason"] for r in records if r is not ran)
    assert len({r["worker"] for r in records}) == 2                     # both builders had units of it
    (use,) = head["gpu_use"]
    assert use["restarts"] == 1, use


def test_a_known_crash_that_does_not_happen_is_refuted_for_the_whole_run(tmp_path):
    """The same expectation with no crash: refuted once, every pair then runs normally in both
    builders (an XPASS each, which fails the run), none is held."""
    rc, out, records, head = _two_builders_on_a_known_crash(tmp_path, None)
    assert rc == 1, out[-3000:]
    assert len(records) == 8 and all(r["outcome"] == "xpass" and "[NOTRUN]" not in (r["reason"] or "")
                                     for r in records), out[-3000:]
    assert len({r["worker"] for r in records}) == 2
    (use,) = head["gpu_use"]
    assert not use.get("restarts"), use                                # no runner died


def test_a_known_crash_whose_first_case_departs_another_way_is_confirmed_by_the_next(tmp_path):
    """The expectation names an error (a crash or a failed build): the first case it describes
    fails without killing the runner, which says nothing of the crash, so the next case is tried
    alone; it kills the runner, and every other pair is held. Before, the first case refuted the
    crash and each of the other seven then killed the runner."""
    rc, out, records, head = _two_builders_on_a_known_crash(tmp_path, "runner_doubles:fails_first_exp_then_segfaults",
                                                            outcome="error")
    assert rc == 0, out[-3000:]
    assert len(records) == 8 and all(r["outcome"] == "xfail" and r["expectation"] == "exp-kills-the-runner"
                                     for r in records), out[-3000:]
    ran = [r for r in records if "[NOTRUN]" not in r["reason"]]
    assert sorted(r.get("error_kind") or "" for r in ran) == ["", "crash"], ran
    (crashed,) = [r for r in ran if r.get("error_kind") == "crash"]
    assert all(crashed["case_id"] in r["reason"] for r in records if r not in ran)
    (use,) = head["gpu_use"]
    assert use["restarts"] == 1, use


def test_a_known_departure_without_a_reproducer_gets_one_per_run_not_one_per_builder(tmp_path):
    """Two builders record xfails of one expectation that names no reproducer: the run writes one
    reproducer for it, not one in each builder."""
    import os

    from doubles import run_suite

    exp = tmp_path / "exp.toml"
    exp.write_text('[[expect]]\nid = "relu-oracle-off"\nops = ["nn.relu"]\ncheck = "reference"\noutcome = "fail"\n'
                   'dtype = ["float16", "float32", "float64"]\nreason = "the oracle is off by half (test double)"\n')
    rc, out, records = run_suite(tmp_path, "-n", "2", "--trt-ops=nn.relu", "--trt-cases=8", "--trt-chunk=2",
                                 "--trt-checks=reference", f"--trt-expectations={exp}", double="wrong-oracle")
    assert rc == 0, out[-3000:]
    xfails = [r for r in records if r["outcome"] == "xfail"]
    assert len(records) == 8 and len(xfails) >= 2, out[-3000:]
    assert len({r["worker"] for r in xfails}) == 2                      # both builders recorded some
    assert len([r for r in records if r.get("reproducer")]) == 1
    scripts = [n for n in os.listdir(tmp_path / "out" / "repro") if n.endswith(".py")]
    assert len(scripts) == 1, scripts
    assert not [n for n in os.listdir(tmp_path / "out" / "repro") if n.startswith(".")]   # no marker is left
