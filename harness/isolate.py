"""Crash and hang isolation: each case's check computation runs in a child process.

One persistent worker, forked from the pytest process the first time a case needs it, computes
the checks and keeps the per-case build cache (so a case is still built once for all its checks).
The parent waits at most ``timeout`` seconds for each answer.  A worker that dies (SIGSEGV,
SIGABRT, an OOM kill) or does not answer in time is reaped (killed first if it hangs), the case
becomes an ``error`` outcome with ``error_kind`` ``crash`` or ``timeout``, and the next case forks a
fresh worker.  Only objects made by this process cross the pipe: nothing read from a file is
unpickled.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import time
import traceback
from dataclasses import dataclass
from typing import Any

DEFAULT_TIMEOUT = 120.0


@dataclass
class Answer:
    result: Any = None           # checks.CheckResult when the computation finished
    rule: str | None = None
    error_kind: str | None = None   # "crash" | "timeout" when it did not
    reason: str = ""
    elapsed_s: float = 0.0


class HarnessBug(RuntimeError):
    """The check computation raised an unexpected exception in the worker (not a crash)."""


def signal_name(code: int) -> str:
    try:
        return signal.Signals(code).name
    except ValueError:
        return f"signal {code}"


def describe_exit(exitcode: int | None) -> str:
    if exitcode is None:
        return "the worker process vanished"
    if exitcode < 0:
        name = signal_name(-exitcode)
        hint = " (killed: out of memory, or killed from outside)" if -exitcode == signal.SIGKILL else ""
        return f"the case's worker process died of {name}{hint}"
    return f"the case's worker process exited with status {exitcode}"


def _serve(conn, parent_end, state) -> None:
    """The worker loop (in the child): compute checks on request, keep the build cache."""
    from . import suite
    from .table import BY_NAME

    if parent_end is not None:
        parent_end.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the parent's to handle
    state.writer = None                            # the parent alone writes results
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        kind = msg[0]
        if kind == "stop":
            return
        try:
            if kind == "check":
                _, name, case, check = msg
                entry = BY_NAME[name]
                _, result, rule = suite.compute(state, entry, case, check)
                conn.send(("ok", result, rule))
            elif kind == "repro":
                _, name, case, rec = msg
                run = suite._case_run(state, BY_NAME[name], case)
                conn.send(("ok", suite._reproducer(state, run, rec), None))
            else:
                conn.send(("bug", f"unknown request {kind!r}", None))
        except BaseException as exc:  # report, keep serving: the parent decides
            text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            try:
                conn.send(("bug", text, None))
            except Exception:
                return


class Isolator:
    """The parent's handle on the persistent worker."""

    def __init__(self, state, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.state = state
        self.timeout = float(timeout)
        # fork keeps the worker cheap and lets the harness's own tests patch it; but CUDA does not
        # survive fork() once the parent has touched it (importing TVM on a GPU machine can), so
        # where a GPU is present the worker is started from a fresh interpreter instead.
        from . import gpu

        self.method = os.environ.get("TRT_HARNESS_ISOLATE_METHOD") or (
            "forkserver" if gpu.probe().get("exist") else "fork")
        self._ctx = multiprocessing.get_context(self.method)
        self._proc = None
        self._conn = None
        self.restarts = 0

    # -- process management ---------------------------------------------------------------
    def _start(self) -> None:
        parent, child = self._ctx.Pipe(duplex=True)
        if self.method == "fork":
            args = (child, parent, self.state)
        else:   # only what pickles crosses: the settings, not the open results file or the cache
            from .plugin import RunState

            args = (child, None, RunState(settings=self.state.settings))
        proc = self._ctx.Process(target=_serve, args=args, daemon=True,
                                 name="trt-harness-case-worker")
        proc.start()
        child.close()
        self._proc, self._conn = proc, parent

    def _reap(self, kill: bool) -> int | None:
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        if proc is None:
            return None
        if kill and proc.is_alive():
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.join(10)
        if conn is not None:
            conn.close()
        self.restarts += 1
        return proc.exitcode

    def close(self) -> None:
        if self._proc is None:
            return
        try:
            self._conn.send(("stop",))
        except Exception:
            pass
        self._proc.join(2)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(2)
        self._conn.close()
        self._proc = self._conn = None

    # -- requests ---------------------------------------------------------------------------
    def _ask(self, msg, timeout: float) -> Answer:
        if self._proc is None or not self._proc.is_alive():
            if self._proc is not None:
                self._reap(kill=False)
            self._start()
        t0 = time.perf_counter()
        try:
            self._conn.send(msg)
        except (BrokenPipeError, OSError):
            code = self._reap(kill=True)
            return Answer(error_kind="crash", reason=describe_exit(code), elapsed_s=time.perf_counter() - t0)
        if not self._conn.poll(timeout):
            self._reap(kill=True)
            elapsed = time.perf_counter() - t0
            return Answer(error_kind="timeout",
                          reason=f"timeout: no result after {elapsed:.1f} s (--trt-timeout {timeout:g} s); "
                                 "the case's worker process was killed", elapsed_s=elapsed)
        try:
            status, value, rule = self._conn.recv()
        except (EOFError, OSError):
            code = self._reap(kill=True)
            return Answer(error_kind="crash", reason=describe_exit(code), elapsed_s=time.perf_counter() - t0)
        elapsed = time.perf_counter() - t0
        if status == "bug":
            raise HarnessBug(f"the check computation raised in the isolated worker:\n{value}")
        return Answer(result=value, rule=rule, elapsed_s=elapsed)

    def check(self, entry, case, check: str) -> Answer:
        return self._ask(("check", entry.name, case, check), self.timeout)

    def reproducer(self, entry, case, rec) -> str | None:
        try:
            ans = self._ask(("repro", entry.name, case, rec), self.timeout)
        except HarnessBug as exc:
            return f"(not written: {str(exc).strip().splitlines()[-1]})"
        if ans.error_kind:
            return f"(not written: {ans.reason})"
        return ans.result
