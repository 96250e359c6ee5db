"""Start the runners, restart one that dies, collect their accounting (see :mod:`harness.runner`).

Lives in pytest's controller process (the single process without xdist).  One runner per visible
GPU (``CUDA_VISIBLE_DEVICES`` set to its card; a runner is a fresh interpreter, so CUDA never meets
fork()), or one CPU runner for ``--trt-runner all`` on a machine without a GPU.  A thread per runner
waits for its process: when one ends without being asked to, its oldest standby (more runners per
card, started and waiting on sockets of their own; :func:`standbys`) is told how the last ended and which request it
was serving (from its ``inflight`` file) and takes over the slot's socket; a new standby starts
behind them.  (Without a standby, a fresh runner starts on the socket with ``--previous`` and
``--culprit``.)  The card's accounting adds the figures each ended runner left (``.stats``, written
after every request) to the live one's; its wall time is the supervisor's, from the first start.
A runner that cannot even start ``START_FAILURES`` times in a row is given up: where no runner of
the card ever started, its ``.failed`` file says why, and clients read it instead of waiting; where
one had, the card is lost (:func:`harness.runner.mark_lost`; the runner gives it up itself on an
error that says the card is gone).  A lost card's slot is not restarted, and its standby is ended;
its accounting waits for its last runner's end, which comes after the runner has marked the card
lost and answered.
(A runner is ready once it prints ``ready pid=N``: each start is judged by its own line of the log.)
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading

from . import ENV, card_label, lost, mark_lost, stranded
from ..isolate import SPAWN_LOCK, describe_exit

MAX_RESTARTS = 200
START_FAILURES = 3
CPU_RUNNERS_ENV = "TRT_HARNESS_CPU_RUNNERS"   # --trt-runner all: how many CPU runners (1; tests use 2 as two cards)
STANDBY_ENV = "TRT_HARNESS_RUNNER_STANDBY"   # standbys per card; "0": none (a death costs a start; tests save one per card)


def standbys(kinds: dict) -> int:
    """Standbys per card: ``TRT_HARNESS_RUNNER_STANDBY`` where set, else 2 for GPUs and 1 for a CPU
    runner.  Two, because on an H100 (ci profile) two known crashes confirmed within a second
    killed the runner and its one standby, and all 16 builders then waited 4.7-6.2 s for a runner
    to open, twice in the run (docs/timing.md, *Measured*).  A standby holds a CUDA context."""
    given = os.environ.get(STANDBY_ENV, "").strip()
    if given.isdigit():
        return int(given)
    return 2 if any(kind != "cpu" for kind in kinds) else 1


class Slot:
    def __init__(self, kind: str, card: str | None, socket: str, index: int = 0) -> None:
        self.kind, self.card, self.socket = kind, card, socket
        self.name = f"cuda:{card}" if card is not None else f"{kind}:{index}"    # the card, to the user
        self.proc: subprocess.Popen | None = None
        self.standbys: list = []                          # (process, socket): started, each waiting on its own socket
        self.spawned = 0                                  # standbys started (their sockets' names)
        self.deaths: list[str] = []
        self.started_ok = False
        self.start_failures = 0
        self.total: dict = {}                            # the figures of the runners that ended
        self.log = socket + ".log"
        self.ended = threading.Event()                   # set when its watcher gives the slot up (lost, failed)


class Supervisor:
    def __init__(self, kinds: dict, *, timeout: float = 120.0, standby: int = 1) -> None:
        """``kinds``: device kind -> list of cards (``CUDA_VISIBLE_DEVICES`` entries; None for CPU).
        ``standby``: how many more runners per card to keep started and waiting, so a death costs a
        hand-over (milliseconds) instead of a start (seconds of TVM's import and CUDA's context, while
        every builder waits); see :func:`standbys`."""
        self.dir = tempfile.mkdtemp(prefix="trt-runners-")
        self.key = secrets.token_hex(16)
        self.timeout = timeout
        self.standby = int(standby)
        self.slots = [Slot(kind, card, os.path.join(self.dir, f"{kind}{i}.sock"), i)
                      for kind, cards in kinds.items() for i, card in enumerate(cards)]
        self.stopping = False
        self._lock = threading.Lock()

    def env_value(self) -> str:
        runners: dict = {}
        for s in self.slots:
            runners.setdefault(s.kind, []).append(s.socket)
        return json.dumps({"key": self.key, "runners": runners, "timeout": self.timeout * 0.8, "dir": self.dir})

    def start(self) -> None:
        import time

        self.t0 = time.perf_counter()
        os.environ[ENV] = self.env_value()      # inherited by the runners and case workers; the xdist workers get it from harness.handoff
        for slot in self.slots:
            slot.proc = self._spawn(slot, slot.socket, previous="", culprit="")
            self._new_spare(slot)
            threading.Thread(target=self._watch, args=(slot,), daemon=True, name=f"runner-{slot.kind}").start()

    def _spawn(self, slot: Slot, socket: str, *, previous: str, culprit: str) -> subprocess.Popen:
        env = dict(os.environ, TRT_HARNESS_RUNNER_KEY=self.key)
        env.pop(ENV, None)
        if slot.card is not None:
            env["CUDA_VISIBLE_DEVICES"] = slot.card
        cmd = [sys.executable, "-m", "harness.runner.server", "--socket", socket, "--home", slot.socket,
               "--kind", slot.kind, "--card", slot.name, "--previous", previous, "--culprit", culprit]
        # each process its own log (a standby failing at the same time must not interleave its traceback
        # with the dead runner's last line); the runners of one socket follow each other
        log_path = slot.log if socket == slot.socket else socket + ".log"
        with open(log_path, "ab") as log, SPAWN_LOCK:     # no worker forked meanwhile (harness.isolate)
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        proc.log_path = log_path
        return proc

    def _new_spare(self, slot: Slot) -> None:
        """Top the slot's standbys up to ``self.standby``."""
        while len(slot.standbys) < self.standby and not self.stopping:
            slot.spawned += 1
            path = f"{slot.socket}.spare{slot.spawned}"
            slot.standbys.append((self._spawn(slot, path, previous="", culprit=""), path))

    def _adopt(self, slot: Slot, previous: str, culprit: str) -> bool:
        """Hand the slot's socket to its oldest standby that answers; False when none does."""
        while slot.standbys:
            spare, path = slot.standbys.pop(0)
            if self._hand_over(spare, path, previous, culprit):
                os.replace(path, slot.socket)     # clients that reconnect now reach the standby
                slot.proc = spare
                return True
            if spare.poll() is None:
                spare.kill()
        return False

    def _hand_over(self, spare: subprocess.Popen, path: str, previous: str, culprit: str) -> bool:
        from multiprocessing.connection import Client as Connect

        while not os.path.exists(path):           # still starting: wait for its socket, or its end
            try:
                spare.wait(timeout=0.05)
                return False                      # it ended before it could serve
            except subprocess.TimeoutExpired:
                continue
        try:
            conn = Connect(path, family="AF_UNIX", authkey=bytes.fromhex(self.key))
            conn.send({"op": "adopt", "previous": previous, "culprit": culprit})
            conn.recv()
            conn.close()
        except (OSError, EOFError):
            return False
        return True

    def _watch(self, slot: Slot) -> None:
        try:
            self._follow(slot)
        finally:
            slot.ended.set()

    def _follow(self, slot: Slot) -> None:
        while True:
            code = slot.proc.wait()
            if self.stopping:
                return
            with self._lock:
                inflight = _read(slot.socket + ".inflight")
                _add(slot.total, _load(slot.socket + ".stats"))
                for stale in (slot.socket + ".inflight", slot.socket + ".stats"):
                    if os.path.exists(stale):
                        os.unlink(stale)
                log = _read(getattr(slot.proc, "log_path", slot.log))
                ready = f"ready pid={slot.proc.pid} " in log
                where = f"the runner on {'cuda:' + slot.card if slot.card is not None else 'the CPU'}"
                why = describe_exit(code).replace("the worker process", where)
                slot.deaths.append(why)
                slot.start_failures = 0 if ready else slot.start_failures + 1
                slot.started_ok = slot.started_ok or ready
                tail = " ".join(log.strip().splitlines()[-1:])[:300]
                if slot.started_ok and slot.start_failures >= START_FAILURES and not lost(slot.socket):
                    pci = re.findall(r"^ready pid=\d+ .* pci=(\S+)$", log, re.M)
                    mark_lost(slot.socket, card_label(slot.name, pci[-1] if pci else None),
                              f"runners for it could not start any more ({why}; {START_FAILURES} tries): {tail}")
                if lost(slot.socket):             # the card is gone: no runner for it again
                    self._end_spare(slot)
                    return
                if slot.start_failures >= START_FAILURES or len(slot.deaths) > MAX_RESTARTS:
                    with open(slot.socket + ".failed", "w") as fh:
                        fh.write(f"{where} could not be started ({why}; {len(slot.deaths)} ends): {tail}")
                    return
                previous = f"{why} while running this case" if inflight else why
                if self._adopt(slot, previous, inflight):
                    self._new_spare(slot)
                    continue
                self._end_spare(slot)
                if os.path.exists(slot.socket):
                    os.unlink(slot.socket)
                slot.proc = self._spawn(slot, slot.socket, previous=previous, culprit=inflight)
                self._new_spare(slot)

    @staticmethod
    def _end_spare(slot: Slot) -> None:
        for spare, _ in slot.standbys:
            if spare.poll() is None:
                spare.kill()
        slot.standbys = []

    def stranded(self) -> str | None:
        """Which cards were lost where a device kind has no runner left (harness.runner.stranded)."""
        return stranded(json.loads(self.env_value())["runners"])

    def stats(self) -> list[dict]:
        """Each card's accounting: its live runner's figures plus those of the runners that ended."""
        from .client import Client

        client = Client(json.loads(self.env_value()))
        out = []
        for slot in self.slots:
            gone = lost(slot.socket)
            if gone:       # its runner marks the card lost before its answer and its end: its figures
                slot.ended.wait(self.timeout)        # and its death are added once its watcher has seen it end
            try:
                got = {"device": slot.name, "kind": slot.kind, "runner_s": 0.0,      # the ended runners' figures
                       "lost": f"card {gone['card']} lost ({gone['why']})"} if gone else client._ask(
                    slot.socket, {"op": "stats"}, 60.0)
            except Exception as exc:  # noqa: BLE001 - a runner that cannot answer: say so, keep the rest
                got = {"device": slot.name, "kind": slot.kind, "error": f"no accounting: {exc}"}
            if "error" not in got:
                import time

                _add(got, slot.total)
                got["wall_s"] = wall = time.perf_counter() - self.t0   # the card's: from the first start
                busy = got.get("busy_s")
                got["idle_s"] = max(0.0, wall - got["runner_s"])
                got["busy_share"] = busy / wall if busy is not None and wall else None
            last = 1 if gone and slot.ended.is_set() else 0     # a lost card's last end, once seen: no restart
            got["restarts"] = len(slot.deaths) - last
            got["deaths"] = slot.deaths[-5:]
            out.append(got)
        for path in list(client.conns):
            client._drop(path)
        return out

    def stop(self) -> None:
        self.stopping = True
        for slot in self.slots:
            for proc in (slot.proc, *(p for p, _ in slot.standbys)):
                if proc is not None and proc.poll() is None:
                    proc.kill()
                    proc.wait()
        if os.environ.get(ENV) == self.env_value():
            del os.environ[ENV]
        shutil.rmtree(self.dir, ignore_errors=True)


SUMMED = ("wall_s", "runner_s", "busy_s", "busy_traced_s", "busy_estimated_s")


def _add(into: dict, more: dict) -> None:
    """Add a runner's figures (``more``) to ``into``: times and request counts."""
    for k in SUMMED:
        if more.get(k) is not None:
            into[k] = (into.get(k) or 0.0) + more[k]
    if more.get("requests"):
        req = into.setdefault("requests", {})
        for k, n in more["requests"].items():
            req[k] = req.get(k, 0) + n


def _load(path: str) -> dict:
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return {}


def _read(path: str) -> str:
    try:
        with open(path, errors="replace") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def plan(mode: str, *, gpu_info: dict) -> dict:
    """Which runners a run gets: device kind -> cards.  ``auto``: one per visible GPU (none on a CPU
    machine); ``all``: the same, plus one CPU runner (``$TRT_HARNESS_CPU_RUNNERS`` of them: how the
    harness's tests have two cards of one kind); ``off``: none."""
    if mode == "off":
        return {}
    kinds: dict = {}
    if gpu_info.get("exist"):
        env = os.environ.get("CUDA_VISIBLE_DEVICES")
        visible = [d.strip() for d in env.split(",") if d.strip()] if env else [
            str(d["index"]) for d in gpu_info.get("devices", [])]
        kinds["cuda"] = visible or ["0"]
    if mode == "all":
        kinds["cpu"] = [None] * max(1, int(os.environ.get(CPU_RUNNERS_ENV) or 1))
    return kinds
