"""Runs that say what happened: a run stopped by SIGINT (Ctrl-C) or SIGTERM ends with one line, the
(case, check) pairs done and the exact command that finishes it; that command, run as printed,
finishes the file, and its summary counts the whole file and calls no finished op skipped.  One
chain of runs: SIGINT stops a fresh run, SIGTERM stops the resumed one, the third run finishes.

The signal is sent while the run is held at a known point: a test double (doubles.py,
``held-partition``) makes the partitioning of one op's cases wait while a file exists, and says
so (an event, not a timer; waiting for N records instead raced the end of a run that takes a
second), so every run is surely still going when it is stopped, with the ops before it done."""
from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time

import pytest

import doubles
from harness.reader import load_results

OPS = "--trt-ops=nn.relu,exp,sigmoid,nn.conv2d"
NOTHING_HAPPENED_S = 600     # only a machine that does nothing at all for this long fails a wait


def _no_tensorrt() -> bool:
    from harness.backends import get_backend

    return any(get_backend(n).unavailable_reason() for n in ("tensorrt", "tvm-cuda"))


NO_TENSORRT = _no_tensorrt()


def _wait_for(path, proc) -> bool:
    """Block until ``path`` exists (False if the process ended first)."""
    deadline = time.monotonic() + NOTHING_HAPPENED_S
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.01)
    raise AssertionError(f"no {path} after {NOTHING_HAPPENED_S} s: the run made no progress")


def _interrupt(argv, work, env, results, hold_op, signum):
    """Run ``argv`` held at ``hold_op``'s partitioning, send it ``signum`` there; returns (the pairs
    its last line says are done, the pairs planned, the command it says finishes the file, the
    case pairs written)."""
    hold = work / f"hold-{hold_op}"
    hold.touch()
    env = dict(env, TRT_TEST_DOUBLE="held-partition", TRT_TEST_HOLD_OP=hold_op, TRT_TEST_HOLD=str(hold))
    # SIGINT at its default in the child, as a shell starts a foreground job: a session started in
    # the background by a script (`make test &`) ignores SIGINT, and a child would inherit that.
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(argv, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    finally:
        signal.signal(signal.SIGINT, old)
    try:
        reached = _wait_for(f"{hold}.held", proc)
        proc.send_signal(signum)      # the pytest process only, as a terminal's Ctrl-C reaches the foreground job
    finally:
        hold.unlink()                 # the worker may finish its request and end (the run is stopped)
    out, _ = proc.communicate(timeout=600)
    assert reached, f"the run ended before it reached {hold_op}:\n" + out[-2000:]
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out[-2000:]
    last = out.strip().splitlines()[-1]
    m = re.fullmatch(r"interrupted: (\d+) of (\d+) \(case, check\) pairs done, kept in (\S+); finish with: (.+)", last)
    assert m, out[-2000:]
    written = load_results(results).records      # op-level skip records too
    kept = {(r.case_id, r.check) for r in written if not r.case_id.endswith("-*")}
    assert int(m.group(1)) == len(kept) and hold_op not in {r.op for r in written if not r.case_id.endswith("-*")}
    return int(m.group(1)), int(m.group(2)), shlex.split(m.group(4)), kept


def test_an_interrupted_run_says_how_to_finish_and_finishing_it_counts_the_whole_file(tmp_path):
    """Ctrl-C (SIGINT) stops the run; the command it prints is started and stopped in turn, by SIGTERM;
    the command that one prints (the same) finishes the file."""
    work = tmp_path / "w"
    argv, env, results = doubles.suite_command(work, OPS, "-rs")
    checks = 3 + (not NO_TENSORRT)
    done, planned, command, kept = _interrupt(argv, work, env, results, "sigmoid", signal.SIGINT)
    assert 0 < done < planned == 40 * checks   # 4 ops x 10 cases x checks
    assert command[-1] == "--trt-resume" and command[:-1] == argv

    done2, planned2, command2, kept2 = _interrupt(command, work, env, results, "exp", signal.SIGTERM)
    assert kept < kept2 and done < done2 < planned2 == planned
    assert command2 == command                          # no second --trt-resume

    finished = subprocess.run(command2, cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert finished.returncode == 0, finished.stdout[-3000:]
    final = {(r.case_id, r.check) for r in load_results(results).records if not r.case_id.endswith("-*")}
    assert kept2 <= final and len(final) == planned
    assert "SKIPPED" not in finished.stdout        # finished ops are not 'skipped'
    assert "ops: 4  cases: 40  records per check: " in finished.stdout
    assert "counts are of the whole results file" in finished.stdout
    assert ("check not run: tensorrt (4 ops): " in finished.stdout) is NO_TENSORRT
