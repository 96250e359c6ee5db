"""Whom a runner's death is charged to (harness.runner.client and .server).

A request queued behind another that kills the runner is sent again, uncounted, however many times
that happens: in the H100 nightly (seed 11, 2026-12-07) split's known crashes killed the runner nine
times within 14 s and a cap of eight re-sends made four innocent clip, floor and split cases errors.
Only deaths that name no request are capped, and a runner names a request only while it serves it.

The runner here is a scripted double (``ScriptedRunner``: the runner's socket protocol, no TVM),
or the real runner process on the CPU with the blocking double of ``runner_doubles``.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Listener

import pytest

from harness.runner import RunnerDied
from harness.runner.client import UNNAMED_DEATHS, Client

KEY = "ab" * 16


class ScriptedRunner:
    """Speaks the runner's protocol on a Unix socket: the first ``deaths`` requests it reads it
    'dies' under (drops the connection, as a killed runner does), each death naming ``culprit`` (None:
    the request itself) as the request it was serving, which the next hello reports as a successor
    would; then it answers."""

    def __init__(self, path: str, deaths: int, culprit: str | None) -> None:
        self.deaths, self.culprit, self.named = deaths, culprit, ""
        self.listener = Listener(path, family="AF_UNIX", authkey=bytes.fromhex(KEY))
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn = self.listener.accept()
            except OSError:
                return
            try:
                while True:
                    msg = conn.recv()
                    if msg["op"] == "hello":
                        conn.send({"pid": os.getpid(), "device": "scripted", "previous": "the runner died of "
                                   "SIGABRT while running this case", "culprit": self.named})
                    elif self.deaths > 0:
                        self.deaths -= 1
                        self.named = msg["id"] if self.culprit is None else self.culprit
                        conn.close()
                        break
                    else:
                        conn.send({"ok": True, "outputs": [], "id": msg["id"]})
            except (OSError, EOFError):
                pass


def _client(path: str) -> Client:
    return Client({"key": KEY, "runners": {"cuda": [path]}, "timeout": 60})


def test_a_request_behind_many_killers_is_sent_again_until_it_runs(tmp_path):
    path = str(tmp_path / "runner.sock")
    ScriptedRunner(path, deaths=3 * UNNAMED_DEATHS, culprit="4242-7")   # another process's request
    reply, device = _client(path).request("cuda", {"op": "run", "key": "clip"})
    assert reply["ok"] and device == "scripted"


def test_deaths_that_name_no_request_are_capped(tmp_path):
    path = str(tmp_path / "runner.sock")
    ScriptedRunner(path, deaths=3 * UNNAMED_DEATHS, culprit="")
    with pytest.raises(RunnerDied) as got:
        _client(path).request("cuda", {"op": "run", "key": "clip"})
    assert f"died {UNNAMED_DEATHS + 1} times while this request waited, serving no request" in str(got.value)


def test_the_killer_itself_is_retried_once_then_named(tmp_path):
    path = str(tmp_path / "runner.sock")
    ScriptedRunner(path, deaths=2, culprit=None)     # each death names the request it was serving
    with pytest.raises(RunnerDied) as got:
        _client(path).request("cuda", {"op": "run", "key": "exp"})
    assert str(got.value).endswith("it did so again in a fresh runner")


def test_a_runner_names_a_request_only_while_serving_it(tmp_path):
    """The real runner (CPU): its ``inflight`` file names the request while it is served, and is
    empty once it is answered, so a death while idle charges no one."""
    from conftest import ROOT, TESTS

    sock, release = str(tmp_path / "cpu.sock"), tmp_path / "release"
    env = dict(os.environ, TRT_HARNESS_RUNNER_KEY=KEY, TRT_HARNESS_RUNNER_PRELOAD="runner_doubles:block_until_released",
               TRT_HARNESS_TEST_RELEASE=str(release),
               PYTHONPATH=os.pathsep.join([TESTS, ROOT, os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-m", "harness.runner.server", "--socket", sock, "--kind", "cpu"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout.readline().startswith("ready pid="), proc.stdout.read()
        client = Client({"key": KEY, "runners": {"cpu": [sock]}, "timeout": 120})
        conn = client._connect(sock)
        conn.send({"op": "run", "key": "block", "id": "me-1", "path": str(tmp_path / "none.so"),
                   "backend": "tvm-llvm", "entry": "main", "inputs": []})
        inflight = sock + ".inflight"
        hang = time.monotonic() + 300            # a safety net against a hang, not a timing
        while not (os.path.exists(inflight) and open(inflight).read() == "me-1"):   # the event: it is served
            assert proc.poll() is None and time.monotonic() < hang, "the runner never named the request"
            assert not conn.poll(0.01), "answered while the double blocks it"
        release.touch()
        reply = conn.recv()
        assert reply["ok"] is False and reply["error"]            # no such library: TVM's one line
        assert open(inflight).read() == ""
    finally:
        proc.kill()
        proc.wait()
