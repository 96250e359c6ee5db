"""The builders' side: send runs and timings to the runners (see :mod:`harness.runner`).

A request that was being served when its runner died is retried once in the fresh runner the
supervisor starts; if that one dies under it too, :class:`harness.runner.RunnerDied` names the case
as the killer.  A request that was only queued when another request killed the runner is sent again
without counting, however often that happens (the runner's ``inflight`` file names the request it
was serving when it died): every death has one killer and a killer kills at most twice, so the
re-sends end.  The nightly profile's flood of split's known crashes killed the runner nine times
within 14 s, under which a cap of eight re-sends had made innocent clip and floor cases errors.
Only deaths that name no request (a runner that dies before serving one) are capped.
A request whose card is lost (answered ``lost``, or cut off by the end of a runner whose card is
lost) goes to another live runner of its kind, without counting; where none is left it raises
:class:`harness.runner.CardLost` (see :mod:`harness.runner`).
"""
from __future__ import annotations

import itertools
import os
import signal
import time
import uuid

from . import CardLost, RunnerDied, lost, spec, stranded

CONNECT_S = 120.0          # how long a client waits for a (re)started runner to answer
UNNAMED_DEATHS = 8         # re-sends of a request after deaths that name no killer


class Client:
    def __init__(self, s: dict) -> None:
        self.key = bytes.fromhex(s["key"])
        self.runners: dict = s["runners"]
        self.timeout = float(s.get("timeout") or 120.0)
        self.export_dir = s.get("dir")
        self.conns: dict = {}
        self.info: dict = {}
        self.ids = itertools.count()

    # -- connections ----------------------------------------------------------------------------
    def _connect(self, path: str):
        from multiprocessing.connection import Client as Connect

        t0, delay = time.monotonic(), 0.01
        while True:
            gone = lost(path)
            if gone:
                raise CardLost(f"card {gone['card']} lost ({gone['why']})")
            failed = path + ".failed"
            if os.path.exists(failed):
                with open(failed) as fh:
                    raise RunnerDied(fh.read().strip(), "unstarted")
            try:
                conn = Connect(path, family="AF_UNIX", authkey=self.key)
                conn.send({"op": "hello"})
                self.info[path] = conn.recv()
                self.conns[path] = conn
                return conn
            except (OSError, EOFError) as exc:
                if time.monotonic() - t0 > CONNECT_S:
                    raise RunnerDied(f"no runner answers at {path} after {CONNECT_S:.0f} s ({exc})") from None
                time.sleep(delay)      # the supervisor is starting it: wait for its socket
                delay = min(2 * delay, 0.25)

    def _drop(self, path: str) -> None:
        conn = self.conns.pop(path, None)
        if conn is not None:
            try:
                conn.close()
            except OSError:
                pass

    def _ask(self, path: str, msg: dict, timeout: float) -> dict:
        """One request, one answer; RunnerDied when the runner dies or does not answer in time."""
        conn = self.conns.get(path) or self._connect(path)
        try:
            conn.send(msg)
            if not conn.poll(timeout):
                pid = self.info[path]["pid"]
                self._drop(path)
                try:
                    os.kill(pid, signal.SIGKILL)   # the supervisor starts a fresh one
                except ProcessLookupError:
                    pass
                raise RunnerDied(f"the runner on {self.info[path]['device']} gave no answer in {timeout:g} s "
                                 "(killed, and restarted)", "timeout")
            return conn.recv()
        except (OSError, EOFError):
            self._drop(path)
            raise RunnerDied("") from None

    def _after_death(self, path: str, mine: str) -> tuple[str, str]:
        """(why the runner ended, the request it was serving: ``mine``, another's id, or "" for
        none), from its successor."""
        try:
            self._connect(path)
        except CardLost:
            raise
        except RunnerDied as exc:
            return f"the runner died and no new one started: {exc}", mine
        info = self.info[path]
        return info.get("previous") or "the runner ended", info.get("culprit") or ""

    def choose(self, kind: str) -> str:
        """The live runner of ``kind`` with the least backlog (estimated seconds of queued work);
        CardLost where every card of ``kind`` is lost."""
        paths = [p for p in self.runners[kind] if not lost(p)]
        if not paths:
            raise CardLost(stranded({kind: self.runners[kind]}) or f"no {kind} runner left")
        if len(paths) == 1:
            return paths[0]
        loads = []
        for path in paths:
            try:
                loads.append((self._ask(path, {"op": "load"}, 30.0)["backlog_s"], path))
            except RunnerDied:
                continue
        return min(loads)[1] if loads else paths[0]

    def request(self, kind: str, msg: dict, timeout: float | None = None, *, retry: bool = True) -> tuple[dict, str]:
        """(answer, the runner's device) for a ``run`` or ``time`` request; RunnerDied when the request
        killed a runner twice (once where ``retry`` is False: a known crash being confirmed) or ran
        past ``timeout``; CardLost when no card of ``kind`` is left to run it."""
        timeout = self.timeout if timeout is None else timeout
        path = self.choose(kind)
        tries = unnamed = 0
        why = ""
        while True:
            mine = f"{os.getpid()}-{next(self.ids)}"
            try:
                reply = self._ask(path, {**msg, "id": mine}, timeout)
                if not reply.get("lost"):
                    return reply, self.info[path]["device"]
                path = self.choose(kind)          # the card went away under it: another card runs it
                continue
            except CardLost:
                path = self.choose(kind)
                continue
            except RunnerDied as exc:
                if exc.kind == "timeout":       # a hang is not retried: it would only hang again
                    raise
                if exc.kind == "unstarted":     # no runner of the card can start: nothing runs it again
                    raise RunnerDied(f"{why}; no runner could start to run it again" if tries else
                                     f"{exc}; the case was not run", "crash") from None
                try:
                    why, culprit = self._after_death(path, mine)
                except CardLost:                # its card is gone: another card's runner takes it
                    path = self.choose(kind)
                    continue
                if culprit == mine:
                    tries += 1
                    if not retry:
                        raise RunnerDied(why, "crash") from None
                    if tries >= 2:
                        raise RunnerDied(f"{why}; it did so again in a fresh runner", "crash") from None
                elif not culprit:               # it died serving no request (another's death is uncounted)
                    unnamed += 1
                    if unnamed > UNNAMED_DEATHS:
                        raise RunnerDied(f"{why} (the runner died {unnamed} times while this request waited, "
                                         "serving no request)", "crash") from None

    # -- artefacts --------------------------------------------------------------------------------
    def path_of(self, built) -> str:
        """A file the runner can load: the build cache's library, else an export into the run's
        runner directory (once per executable)."""
        path = getattr(built, "path", None)
        if path and os.path.exists(path):
            return path
        out = os.path.join(self.export_dir or "/tmp", f"x-{uuid.uuid4().hex}.so")
        built.executable.export_library(out)
        built.path = out
        return out


_CLIENT: dict = {}


def get() -> Client:
    """This process's client (a forked child makes its own: connections do not survive fork)."""
    pid = os.getpid()
    if pid not in _CLIENT:
        s = spec()
        if s is None:
            raise RunnerDied("no runner is set up for this run")
        _CLIENT.clear()
        _CLIENT[pid] = Client(s)
    return _CLIENT[pid]
