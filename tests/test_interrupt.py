"""Runs that say what happened: a run stopped by SIGINT (Ctrl-C) or SIGTERM ends with one line, the
(case, check) pairs done and the exact command that finishes it; that command, run as printed,
finishes the file, and its summary counts the whole file and calls no finished op skipped.  One
chain of runs: SIGINT stops a fresh run, SIGTERM stops the resumed one, the third run finishes.

The signal is sent once the results file holds N records (an event, not a timer)."""
from __future__ import annotations

import re
import shlex
import signal
import subprocess

import pytest

import doubles
from harness.reader import load_results
from test_resilience import _raw_records, _wait_for_records

OPS = "--trt-ops=nn.relu,exp,sigmoid,nn.conv2d"


def _no_tensorrt() -> bool:
    from harness.backends import get_backend

    return any(get_backend(n).unavailable_reason() for n in ("tensorrt", "tvm-cuda"))


NO_TENSORRT = _no_tensorrt()


def _interrupt(argv, work, env, results, after, signum):
    """Run ``argv``, send ``signum`` once the results file holds ``after`` records; returns (the pairs
    its last line says are done, the pairs planned, the command it says finishes the file, the
    case pairs written)."""
    proc = subprocess.Popen(argv, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    reached = _wait_for_records(results, after, proc)
    proc.send_signal(signum)      # the pytest process only, as a terminal's Ctrl-C reaches the foreground job
    out, _ = proc.communicate(timeout=600)
    assert reached, "the run ended before it could be interrupted:\n" + out[-2000:]
    assert proc.returncode == pytest.ExitCode.INTERRUPTED
    last = out.strip().splitlines()[-1]
    m = re.fullmatch(r"interrupted: (\d+) of (\d+) \(case, check\) pairs done, kept in (\S+); finish with: (.+)", last)
    assert m, out[-2000:]
    written = load_results(results).records      # the records waited for may hold an op-level skip record
    kept = {(r.case_id, r.check) for r in written if not r.case_id.endswith("-*")}
    assert len(_raw_records(results)) >= after and int(m.group(1)) == len(kept)
    return int(m.group(1)), int(m.group(2)), shlex.split(m.group(4)), kept


def test_an_interrupted_run_says_how_to_finish_and_finishing_it_counts_the_whole_file(tmp_path):
    """Ctrl-C (SIGINT) stops the run; the command it prints is started and stopped in turn, by SIGTERM;
    the command that one prints (the same) finishes the file."""
    work = tmp_path / "w"
    argv, env, results = doubles.suite_command(work, OPS, "--trt-build-cache=off", "-rs")
    checks = 3 + (not NO_TENSORRT)
    done, planned, command, kept = _interrupt(argv, work, env, results, 12, signal.SIGINT)
    assert 0 < done < planned == 40 * checks   # 4 ops x 10 cases x checks
    assert command[-1] == "--trt-resume" and command[:-1] == argv

    more = len(_raw_records(results)) + 12             # the resumed run, stopped once it added 12
    done2, planned2, command2, kept2 = _interrupt(command, work, env, results, more, signal.SIGTERM)
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
