"""The xdist controller's handoff (harness.handoff): its workers start while it does its part.

- a worker that gets there first waits for the handoff, then has the controller's variables (and
  not the ones it unset);
- a controller that fails hands its reason over, and one that ends without a word is said to have;
- a process the announcing controller did not start never waits on it;
- in a real ``pytest -n 2`` run through a runner, both workers were created before the controller
  began importing TVM, and they still sent their runs to the runner the controller started after them;
- a real controller that fails after its workers started ends the run with its one line (exit 4),
  and leaves no handoff behind.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from harness import handoff

WORKER = (   # a stand-in worker: says it is ready, then receives, then prints what it got
    "import json, os, sys\n"
    "from harness import handoff\n"
    "from harness.errors import HarnessError\n"
    "print('ready', flush=True); sys.stdin.readline()\n"
    "try:\n"
    "    got = handoff.receive(wait_s=float(sys.argv[1]))\n"
    "except HarnessError as exc:\n"
    "    print(json.dumps({'error': str(exc)})); sys.exit(3)\n"
    "print(json.dumps({'received': got, 'a': os.environ.get('TRT_TEST_HANDOFF_A'),"
    " 'gone': os.environ.get('TRT_TEST_HANDOFF_GONE')}))\n"
)


@pytest.fixture
def controller(monkeypatch):
    monkeypatch.setattr(handoff, "_announced", None)
    monkeypatch.delenv(handoff.ENV, raising=False)
    monkeypatch.setenv("TRT_TEST_HANDOFF_GONE", "set before the workers started")
    handoff.announce()
    yield handoff
    handoff.forget()
    os.environ.pop(handoff.ENV, None)


def _worker(wait_s=60.0):
    from conftest import ROOT

    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", WORKER, str(wait_s)], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _answer(proc):
    out, _ = proc.communicate(timeout=60)
    return proc.returncode, json.loads(out.strip().splitlines()[-1])


def test_a_worker_that_gets_there_first_waits_for_the_controllers_variables(controller, monkeypatch):
    proc = _worker()
    proc.stdin.write("\n")
    proc.stdin.flush()          # it is receiving (or about to): nothing is published yet
    monkeypatch.setenv("TRT_TEST_HANDOFF_A", "set while the workers started")
    monkeypatch.delenv("TRT_TEST_HANDOFF_GONE")
    controller.publish()
    rc, got = _answer(proc)
    assert rc == 0 and got == {"received": True, "a": "set while the workers started", "gone": None}


def test_a_controller_that_fails_hands_its_reason_over(controller):
    proc = _worker()
    controller.publish(error="--trt-plan: no such file: plan.jsonl")
    proc.stdin.write("\n")
    proc.stdin.flush()
    rc, got = _answer(proc)
    assert rc == 3 and got == {"error": "--trt-plan: no such file: plan.jsonl"}


def test_a_controller_that_ends_without_a_word_is_said_to_have(monkeypatch, tmp_path):
    """The announcing process is gone (a pid that ended): the worker does not wait out WAIT_S."""
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(gone.stdout)
    monkeypatch.setenv(handoff.ENV, json.dumps({"path": str(tmp_path / "handoff.json"), "pid": pid}))
    monkeypatch.setattr(os, "getppid", lambda: pid)       # as if that process had started this one
    with pytest.raises(handoff.HarnessError, match=rf"controller \(pid {pid}\) ended before"):
        handoff.receive(wait_s=600)


def test_a_process_the_controller_did_not_start_never_waits(controller):
    """This test process announced; a handoff is only for its children (it is not its own parent)."""
    assert handoff.receive(wait_s=600) is False


def _xdist_run(tmp_path, *args, **env_extra):
    from conftest import ROOT, shared_cache

    env = dict(os.environ, XDG_CACHE_HOME=shared_cache() or str(tmp_path / ".cache"), TMPDIR=str(tmp_path / "tmp"),
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""), **env_extra)
    env.pop(handoff.ENV, None)
    (tmp_path / "tmp").mkdir()
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2",
                           os.path.join(ROOT, "suites", "ops"), "--trt-ops=nn.relu", "--trt-backend=tvm-llvm",
                           "--trt-reference=tvm-llvm", "--trt-timing=off", "--trt-report=", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


def _handoffs_left(tmp_path):
    return [n for n in os.listdir(tmp_path / "tmp") if n.startswith("trt-handoff-")]


def test_workers_start_before_the_controller_imports_tvm_and_still_use_its_runner(tmp_path):
    from harness import trace

    results, path = tmp_path / "r.jsonl", tmp_path / "run.trace"
    proc = _xdist_run(tmp_path, "--trt-runner=all", f"--trt-results={results}", TRT_HARNESS_TRACE=str(path))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    lines = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    (use,) = [ln for ln in lines if ln["kind"] == "header"][-1]["gpu_use"]
    assert use["requests"]["run"] > 0          # the workers found the runner: it started after them
    events = trace.read(str(path))
    names = {e["pid"]: e["args"]["name"].split(" (")[0] for e in events if e.get("ph") == "M"}
    spans = [e for e in events if e.get("ph") == "X"]

    def first(name, who):
        return min(e["ts"] for e in spans if e["name"] == name and names.get(e["pid"]) == who)

    created = {w: first("process start", w) for w in ("gw0", "gw1")}
    controller_import = first("import tvm", "pytest controller")
    assert max(created.values()) < controller_import, (created, controller_import)
    assert all(any(e["name"] == "handoff" and names.get(e["pid"]) == w for e in spans) for w in created)
    assert not _handoffs_left(tmp_path)          # removed at the end


def test_a_controller_that_fails_after_its_workers_started_ends_the_run_with_one_line(tmp_path):
    """The results file to resume is not one (found by the controller's part, after xdist started
    the workers): its reason once, pytest's usage-error exit, and nothing left behind."""
    bad = tmp_path / "r.jsonl"
    bad.write_text('{"kind": "header"}\n')
    proc = _xdist_run(tmp_path, f"--trt-results={bad}", "--trt-resume")
    errors = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.startswith("ERROR")]
    assert proc.returncode == 4 and len(errors) == 1 and "--trt-resume" in errors[0], proc.stdout + proc.stderr
    assert not _handoffs_left(tmp_path)
