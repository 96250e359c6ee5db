"""Start the runners, restart one that dies, collect their accounting (see :mod:`harness.runner`).

Lives in pytest's controller process (the single process without xdist).  One runner per visible
GPU (``CUDA_VISIBLE_DEVICES`` set to its card; a runner is a fresh interpreter, so CUDA never meets
fork()), or one CPU runner for ``--trt-runner all`` on a machine without a GPU.  A thread per runner
waits for its process: when one ends without being asked to, the next starts on the same socket
with ``--previous`` saying how the last ended and ``--culprit`` naming the request it was serving
(from its ``inflight`` file).  A runner that cannot even start three times in a row is given up:
its ``.failed`` file says why, and clients read it instead of waiting.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading

from . import ENV
from ..isolate import describe_exit

MAX_RESTARTS = 200
START_FAILURES = 3


class Slot:
    def __init__(self, kind: str, card: str | None, socket: str) -> None:
        self.kind, self.card, self.socket = kind, card, socket
        self.proc: subprocess.Popen | None = None
        self.deaths: list[str] = []
        self.started_ok = False
        self.start_failures = 0
        self.log = socket + ".log"


class Supervisor:
    def __init__(self, kinds: dict, *, timeout: float = 120.0) -> None:
        """``kinds``: device kind -> list of cards (``CUDA_VISIBLE_DEVICES`` entries; None for CPU)."""
        self.dir = tempfile.mkdtemp(prefix="trt-runners-")
        self.key = secrets.token_hex(16)
        self.timeout = timeout
        self.slots = [Slot(kind, card, os.path.join(self.dir, f"{kind}{i}.sock"))
                      for kind, cards in kinds.items() for i, card in enumerate(cards)]
        self.stopping = False
        self._lock = threading.Lock()

    def env_value(self) -> str:
        runners: dict = {}
        for s in self.slots:
            runners.setdefault(s.kind, []).append(s.socket)
        return json.dumps({"key": self.key, "runners": runners, "timeout": self.timeout * 0.8, "dir": self.dir})

    def start(self) -> None:
        os.environ[ENV] = self.env_value()      # inherited by the xdist workers and their children
        for slot in self.slots:
            self._spawn(slot, previous="", culprit="")
            threading.Thread(target=self._watch, args=(slot,), daemon=True, name=f"runner-{slot.kind}").start()

    def _spawn(self, slot: Slot, *, previous: str, culprit: str) -> None:
        env = dict(os.environ, TRT_HARNESS_RUNNER_KEY=self.key)
        env.pop(ENV, None)
        if slot.card is not None:
            env["CUDA_VISIBLE_DEVICES"] = slot.card
        cmd = [sys.executable, "-m", "harness.runner.server", "--socket", slot.socket, "--kind", slot.kind,
               "--previous", previous, "--culprit", culprit]
        with open(slot.log, "ab") as log:
            slot.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)

    def _watch(self, slot: Slot) -> None:
        while True:
            proc = slot.proc
            code = proc.wait()
            if self.stopping:
                return
            with self._lock:
                inflight = _read(slot.socket + ".inflight")
                ready = "ready" in _read(slot.log)[-4000:]
                where = f"the runner on {slot.card if slot.card is not None else 'the CPU'}"
                why = describe_exit(code).replace("the worker process", where)
                slot.deaths.append(why)
                slot.start_failures = 0 if ready or slot.started_ok else slot.start_failures + 1
                slot.started_ok = slot.started_ok or ready
                if slot.start_failures >= START_FAILURES or len(slot.deaths) > MAX_RESTARTS:
                    tail = " ".join(_read(slot.log).strip().splitlines()[-1:])[:300]
                    with open(slot.socket + ".failed", "w") as fh:
                        fh.write(f"{where} could not be started ({why}; {len(slot.deaths)} ends): {tail}")
                    return
                for stale in (slot.socket, slot.socket + ".inflight"):
                    if os.path.exists(stale):
                        os.unlink(stale)
                self._spawn(slot, previous=f"{why} while running this case" if inflight else why, culprit=inflight)

    def stats(self) -> list[dict]:
        """Each runner's accounting (asked over its socket), with its restarts."""
        from .client import Client

        client = Client(json.loads(self.env_value()))
        out = []
        for slot in self.slots:
            try:
                got = client._ask(slot.socket, {"op": "stats"}, 60.0)
            except Exception as exc:  # noqa: BLE001 - a runner that cannot answer: say so, keep the rest
                got = {"device": slot.card or "cpu", "kind": slot.kind, "error": f"no accounting: {exc}"}
            got["restarts"] = len(slot.deaths)
            got["deaths"] = slot.deaths[-5:]
            out.append(got)
        for path in list(client.conns):
            client._drop(path)
        return out

    def stop(self) -> None:
        self.stopping = True
        for slot in self.slots:
            if slot.proc is not None and slot.proc.poll() is None:
                slot.proc.kill()
                slot.proc.wait()
        if os.environ.get(ENV) == self.env_value():
            del os.environ[ENV]
        shutil.rmtree(self.dir, ignore_errors=True)


def _read(path: str) -> str:
    try:
        with open(path, errors="replace") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def plan(mode: str, *, gpu_info: dict) -> dict:
    """Which runners a run gets: device kind -> cards.  ``auto``: one per visible GPU (none on a CPU
    machine); ``all``: the same, plus one CPU runner; ``off``: none."""
    if mode == "off":
        return {}
    kinds: dict = {}
    if gpu_info.get("exist"):
        env = os.environ.get("CUDA_VISIBLE_DEVICES")
        visible = [d.strip() for d in env.split(",") if d.strip()] if env else [
            str(d["index"]) for d in gpu_info.get("devices", [])]
        kinds["cuda"] = visible or ["0"]
    if mode == "all":
        kinds["cpu"] = [None]
    return kinds
