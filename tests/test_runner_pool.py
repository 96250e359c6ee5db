"""Several runners and a runner that hangs (harness.runner), on CPU runners started directly.

- work goes to the runner with the least backlog: while one runner holds a request, the next
  request goes to the other (the multi-GPU path: one runner per card);
- a request that gets no answer in its time kills the runner (``timeout``), the standby takes the
  socket over, and the next request is served.
"""
from __future__ import annotations

import os
import threading

import pytest

from harness.runner import RunnerDied
from harness.runner.client import Client
from harness.runner.supervisor import Supervisor


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    import tvm

    from harness import program
    from harness.case import Case
    from harness.table import BY_NAME

    prog = program.build_case(BY_NAME["nn.relu"], Case("nn.relu", "float32", ((2, 3),)))
    path = str(tmp_path_factory.mktemp("lib") / "relu.so")
    tvm.compile(prog.mod, target="llvm").export_library(path)
    return path, prog.inputs


@pytest.fixture
def pool(tmp_path, monkeypatch):
    """``pool(cards, standby)`` -> (supervisor, release file): CPU runners, only those the test uses
    (each is an interpreter importing TVM, ~1.3 s of CPU)."""
    from conftest import ROOT, TESTS

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([TESTS, ROOT, os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("TRT_HARNESS_RUNNER_PRELOAD", "runner_doubles:block_until_released")
    monkeypatch.setenv("TRT_HARNESS_TEST_RELEASE", str(tmp_path / "release"))
    started = []

    def start(cards: int, standby: bool):
        sup = Supervisor({"cpu": [None] * cards}, timeout=60.0, standby=standby)
        started.append(sup)
        sup.start()
        return sup, tmp_path / "release"
    yield start
    (tmp_path / "release").touch()
    for sup in started:
        sup.stop()


def _run(client, library, key):
    path, inputs = library
    return client.request("cpu", {"op": "run", "backend": "tvm-llvm", "path": path, "entry": "main",
                                  "inputs": inputs, "key": key})


def test_work_goes_to_the_runner_with_the_least_backlog(pool, library):
    import json

    sup, release = pool(2, standby=False)               # two cards; no runner dies here
    spec = json.loads(sup.env_value())
    first, second = Client(spec), Client(spec)
    a, b = spec["runners"]["cpu"]
    held = {}
    t = threading.Thread(target=lambda: held.update(got=_run(first, library, "block")))
    t.start()                                            # goes to the first runner, and stays there
    probe = Client(spec)
    for _ in range(10**6):                               # until that runner has it queued (an event)
        if probe._ask(a, {"op": "load"}, 30.0)["backlog_s"] > 0:
            break
    else:
        pytest.fail("the first runner never queued the held request")
    assert second.choose("cpu") == b
    reply, _ = _run(second, library, "free")
    assert reply["ok"] and reply["outputs"][0].shape == (2, 3)
    release.touch()
    t.join()
    assert held["got"][0]["ok"]
    stats = sup.stats()
    assert [s["requests"].get("run", 0) for s in stats] == [1, 1]


def test_a_request_that_hangs_kills_its_runner_and_the_standby_serves_the_next(pool, library):
    import json

    sup, _ = pool(1, standby=True)                       # one card, and its standby
    client = Client(json.loads(sup.env_value()))
    path, inputs = library
    with pytest.raises(RunnerDied) as died:
        client.request("cpu", {"op": "run", "backend": "tvm-llvm", "path": path, "entry": "main",
                               "inputs": inputs, "key": "block"}, timeout=1.0)
    assert died.value.kind == "timeout" and "gave no answer in 1 s" in str(died.value)
    reply, _ = _run(client, library, "after")
    assert reply["ok"]
    assert "died of SIGKILL" in client.info[client.runners["cpu"][0]]["previous"]   # told by the standby


def test_two_standbys_take_over_two_deaths_in_a_row_without_a_start(pool, library):
    """On a GPU two known crashes confirmed within a second killed a runner and its one standby, and
    every builder waited for a fresh runner to open: with two standbys, the second death is taken
    over by a runner started with the first, not by one started after it."""
    import json
    import signal
    import time

    sup, _ = pool(1, standby=2)
    slot = sup.slots[0]
    first_standbys = {p.pid for p, _ in slot.standbys}
    assert len(first_standbys) == 2
    client = Client(json.loads(sup.env_value()))
    for _ in range(2):                                   # kill whichever runner serves the socket now
        victim = slot.proc.pid
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 300                # a bound for a broken supervisor, not a timing
        while slot.proc.pid == victim:                   # until the supervisor handed the socket over
            assert time.monotonic() < deadline, "no standby took the socket over"
            time.sleep(0.01)
    reply, _ = _run(client, library, "after")
    assert reply["ok"]
    assert client._ask(client.runners["cpu"][0], {"op": "stats"}, 60.0)["pid"] in first_standbys
    assert slot.spawned == 4                             # two at the start, one after each death
    # every process writes its own log: a standby that fails while the runner dies cannot put its
    # traceback's lines after the runner's last one (the line a cannot-start record quotes)
    # (the standby started after the second death may still be on its way into the list)
    logs = [slot.proc.log_path] + [p.log_path for p, _ in list(slot.standbys)]
    assert len(logs) >= 2 and len(set(logs)) == len(logs) and all(os.path.exists(log) for log in logs)


def test_how_many_standbys(monkeypatch):
    from harness.runner.supervisor import STANDBY_ENV, standbys

    monkeypatch.delenv(STANDBY_ENV, raising=False)
    assert (standbys({"cuda": ["0", "1"]}), standbys({"cpu": [None]})) == (2, 1)
    monkeypatch.setenv(STANDBY_ENV, "0")
    assert standbys({"cuda": ["0"]}) == 0
