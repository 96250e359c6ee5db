"""A card that disappears (harness.runner): its work goes to the other cards, or the run ends with
one line, and ``--trt-resume`` finishes it.  CPU runners act as cards (``--trt-runner all``; two of
them with ``$TRT_HARNESS_CPU_RUNNERS``); the test double ``runner_doubles.card_lost_after_n`` makes a runner's
run fail as CUDA does when the device is gone.  The op suite runs in a pytest session of its own in
this process (pytester); its runners and its case worker are processes of their own.

- a run loses its only card: it stops with one line (the card, the pairs left, the command that
  finishes them), exit ``LOST_EXIT``; the records written before are valid, the pairs left have none;
- that command (``--trt-resume``), on two cards, loses one more: the request it was lost under and
  the rest go to the other card, and the run finishes green, every pair recorded exactly once;
- which errors say the card is gone (out of memory does not).
- a lost card's accounting waits for the end of the runner that gave it up (which ends after
  its answer): its requests are counted, its restarts are not -1.
"""
from __future__ import annotations

import json
import os
import shlex
import sys

from harness.reader import load_results
from harness.runner import LOST_EXIT
from test_runner_pool import library  # noqa: F401 - a fixture: an nn.relu library built for the CPU

CASES = 6            # nn.relu, chunks of 2: three units of the reference check, one run request per case


def _headers(path):
    with open(path) as fh:
        return [h for h in (json.loads(line) for line in fh if line.strip()) if h["kind"] == "header"]


def test_a_lost_card_moves_its_work_then_the_run_stops_in_one_line_and_its_resume_finishes(
        tmp_path, monkeypatch, suite_here):
    from conftest import ROOT, TESTS

    results = tmp_path / "out" / "results.jsonl"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([TESTS, ROOT, os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("TRT_HARNESS_RUNNERS", "")      # the runs' supervisors set it; gone again after the test
    for k, v in {"TRT_HARNESS_RUNNER_PRELOAD": "runner_doubles:card_lost_after_n", "TRT_HARNESS_CPU_RUNNERS": "1",
                 "TRT_HARNESS_TEST_RUNNER_FAULT_FILE": str(tmp_path / "lost"), "TRT_HARNESS_TEST_LOSE_AFTER": "2",
                 "TRT_HARNESS_TEST_LOSE_CARDS": "1"}.items():
        monkeypatch.setenv(k, v)
    args = ["--trt-ops=nn.relu", f"--trt-cases={CASES}", "--trt-chunk=2", "--trt-checks=reference", "--trt-runner=all"]
    command = ["trt-suite", *args, f"--trt-results={results}"]
    monkeypatch.setattr(sys, "argv", command)           # what the one line gives back, with --trt-resume

    rc, out, records = suite_here(tmp_path, *args)
    assert rc == LOST_EXIT, out[-3000:]
    (line,) = [ln for ln in out.splitlines() if "stopped: " in ln]                  # one line, said once
    assert out.strip().splitlines()[-1] == line
    assert line.startswith("stopped: card cpu:0 lost (RuntimeError: CUDA_ERROR_NO_DEVICE: no CUDA-capable device "), line
    assert (f"; no cpu runner left: 4 of 6 (case, check) pairs left without a record, 2 done kept in {results}; "
            f"finish them with: {shlex.join(command)} --trt-resume") in line
    assert len(records) == 2 and all(r["outcome"] == "pass" for r in records), out[-3000:]     # the first unit's
    assert len(load_results(str(results)).records) == 2                      # a valid file, as written
    (use,) = _headers(results)[-1]["gpu_use"]
    assert use["lost"].startswith("card cpu:0 lost (") and use["requests"]["run"] == 2, use

    for k, v in {"TRT_HARNESS_CPU_RUNNERS": "2", "TRT_HARNESS_TEST_LOSE_AFTER": "1", "TRT_HARNESS_TEST_LOSE_CARDS": "2",
                 "TRT_HARNESS_RUNNER_STANDBY": "0"}.items():     # two cards now (no standby: a start less each),
        monkeypatch.setenv(k, v)                                  # and one of them is lost
    rc, out, records = suite_here(tmp_path, *shlex.split(line.split("finish them with: ", 1)[1])[1:])
    assert rc == 0, out[-3000:]
    pairs = [(r["case_id"], r["check"]) for r in records]
    assert len(pairs) == len(set(pairs)) == CASES and all(r["outcome"] == "pass" for r in records)
    (lost,) = [u for u in _headers(results)[-1]["gpu_use"] if u.get("lost")]
    (alive,) = [u for u in _headers(results)[-1]["gpu_use"] if not u.get("lost")]
    assert lost["requests"]["run"] == 1 and alive["requests"]["run"] == 3          # the other three went there
    assert f"\ncard {lost['device']} lost (RuntimeError: CUDA_ERROR_NO_DEVICE: " in out and "0 restarts before" in out


def test_only_errors_that_say_the_card_is_gone_lose_it():
    from harness.pipeline import CARD_GONE, DeviceFailure, card_gone, failure

    for text in ("CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected", "GPU has fallen off the bus",
                 "cudaErrorECCUncorrectable: uncorrectable ECC error encountered", "cudaErrorDevicesUnavailable"):
        assert card_gone(text) and isinstance(failure(text), DeviceFailure), text
    for text in ("CUDA_ERROR_OUT_OF_MEMORY: out of memory", "cudaErrorHardwareStackError", "InternalError: bad shape"):
        assert not card_gone(text), text
    assert isinstance(failure("CUDA_ERROR_OUT_OF_MEMORY: out of memory"), DeviceFailure)   # a per-case record
    assert all(isinstance(failure(e), DeviceFailure) for e in CARD_GONE)


def test_a_card_whose_runners_cannot_start_any_more_is_lost(tmp_path, monkeypatch):
    """Its runner started once, then died (killed here), and no runner for it starts again: after
    START_FAILURES tries the card is lost, and a request waiting for it is told so at once."""
    import signal

    from conftest import ROOT, TESTS
    from harness.runner import CardLost, lost
    from harness.runner.client import Client
    from harness.runner.supervisor import START_FAILURES, Supervisor

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([TESTS, ROOT, os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("TRT_HARNESS_RUNNER_PRELOAD", "runner_doubles:starts_once")
    monkeypatch.setenv("TRT_HARNESS_TEST_RUNNER_FAULT_FILE", str(tmp_path / "started"))
    sup = Supervisor({"cpu": [None]}, timeout=60.0, standby=False)
    sup.start()
    try:
        client = Client(json.loads(sup.env_value()))
        (path,) = client.runners["cpu"]
        client._connect(path)                                    # started: ready on its socket
        os.kill(client.info[path]["pid"], signal.SIGKILL)
        try:
            client.request("cpu", {"op": "run", "key": "after"})
        except CardLost as exc:
            died = exc
        else:
            raise AssertionError("a request on a card with no runner left was served")
        assert "card cpu:0 lost (runners for it could not start any more (" in str(died)
        assert f"; {START_FAILURES} tries): " in str(died) and "cannot start again" in str(died)
        assert lost(path)["card"] == "cpu:0" and not os.path.exists(path + ".failed")
        assert sup.stranded().startswith("card cpu:0 lost (runners for it could not start any more")
    finally:
        sup.stop()


def test_a_lost_cards_accounting_waits_for_its_runner_to_end(tmp_path, monkeypatch, library):
    """The runner marks its card lost and answers before it ends; the supervisor adds a runner's
    figures once it has seen it end.  The accounting asked for in between (the run ends at once
    when no card is left) waits for that end: it is not a card with no requests and -1 restarts
    (CI, 2026-12-07: a busy 2-core machine ended the runner after the run had asked)."""
    import threading

    from conftest import ROOT, TESTS
    from harness.runner import CardLost
    from harness.runner.client import Client
    from harness.runner.supervisor import Supervisor
    from test_runner_pool import _run

    release = tmp_path / "release"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([TESTS, ROOT, os.environ.get("PYTHONPATH", "")]))
    for k, v in {"TRT_HARNESS_RUNNER_PRELOAD": "runner_doubles:card_lost_exit_held",
                 "TRT_HARNESS_TEST_RUNNER_FAULT_FILE": str(tmp_path / "lost"), "TRT_HARNESS_TEST_LOSE_AFTER": "1",
                 "TRT_HARNESS_TEST_RELEASE": str(release)}.items():
        monkeypatch.setenv(k, v)
    sup = Supervisor({"cpu": [None]}, timeout=60.0, standby=0)
    sup.start()
    try:
        client = Client(json.loads(sup.env_value()))
        assert _run(client, library, "first")[0]["ok"]
        try:
            _run(client, library, "second")
        except CardLost:
            pass
        else:
            raise AssertionError("the second run was served on a card that is gone")
        got: dict = {}
        asking = threading.Thread(target=lambda: got.update(stats=sup.stats()))
        asking.start()
        asking.join(timeout=0.3)     # room for an accounting that does not wait to come back (the verdict
        release.touch()              # does not depend on it: one that waits passes either way)
        asking.join()
        (use,) = got["stats"]
        assert use["lost"].startswith("card cpu:0 lost (RuntimeError: CUDA_ERROR_NO_DEVICE"), use
        assert use["requests"]["run"] == 1 and use["restarts"] == 0, use
    finally:
        release.touch()
        sup.stop()

