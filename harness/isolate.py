"""Crash and hang isolation: any request runs in a persistent child process.

A request is a function named by its import path (``"harness.engine:run_unit"``) and picklable
arguments; the worker imports the function and calls it, so module-level state (the worker's
artefact and build caches) lives as long as the worker.  The parent waits at most ``timeout``
seconds for each answer.  A worker that dies (SIGSEGV, SIGABRT, an OOM kill) or does not answer
in time is reaped (killed first if it hangs); the answer says ``crash`` or ``timeout`` and the
next request starts a fresh worker.  Only objects this process made cross the pipe: nothing read
from a file is unpickled.

With isolation off, :meth:`Isolator.call` runs the function in this process: the same code path.
"""
from __future__ import annotations

import importlib
import multiprocessing
import os
import signal
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any

DEFAULT_TIMEOUT = 120.0
#: builders yield the CPU to the GPU runners: a runner's launches and its latency rounds wait for no build
BUILDER_NICENESS = 10
#: Held around each fork of a worker and each process a thread of this process starts beside one
#: (harness.runner.supervisor): a worker forked while another thread's Popen waits for its child's
#: exec keeps that Popen's error pipe open, and the Popen waits for the worker to end.
SPAWN_LOCK = threading.Lock()


@dataclass
class Answer:
    value: Any = None
    error_kind: str | None = None      # "crash" | "timeout" when no value came back
    reason: str = ""
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error_kind is None


class HarnessBug(RuntimeError):
    """The requested function raised in the worker (a bug of the harness, not a crash)."""


def signal_name(code: int) -> str:
    try:
        return signal.Signals(code).name
    except ValueError:
        return f"signal {code}"


def describe_exit(exitcode: int | None) -> str:
    if exitcode is None:
        return "the worker process vanished"
    if exitcode < 0:
        hint = " (killed: out of memory, or killed from outside)" if -exitcode == signal.SIGKILL else ""
        return f"the worker process died of {signal_name(-exitcode)}{hint}"
    return f"the worker process exited with status {exitcode}"


def resolve(path: str):
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _serve(conn, parent_end) -> None:
    """The worker loop (in the child)."""
    if parent_end is not None:
        parent_end.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the parent's to handle
    from . import trace

    trace.name("case worker")
    from .runner import ENV as RUNNERS_ENV

    if os.environ.get(RUNNERS_ENV):               # a builder (harness.runner): the runners come first
        try:
            os.nice(BUILDER_NICENESS)
        except OSError:
            pass
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        path, args, kwargs = msg
        try:
            conn.send(("ok", resolve(path)(*args, **kwargs)))
        except BaseException as exc:  # report and keep serving: the parent decides
            text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            try:
                conn.send(("bug", text))
            except Exception:
                return


def auto_method() -> str:
    """How the case worker starts (``TRT_HARNESS_ISOLATE_METHOD`` overrides).  No GPU: ``fork``.  A GPU
    machine: ``forkserver`` (a fresh interpreter importing TVM, 2-3 s, at the first request and after
    every crash), because CUDA does not survive fork() once the parent has touched it; except where
    runners do every CUDA run (:func:`harness.runner.serves`) and the probe gave the CUDA target
    (:func:`harness.gpu.cuda_target`).  Then the case workers only build, with that target (they never
    parse "cuda" against device 0 nor run on it), and their parent, the pytest(-xdist) worker, never
    touches CUDA either (not pinned, the probe answer shared, every GPU run on a runner), so ``fork``
    is safe: the worker starts at once with TVM already imported."""
    explicit = os.environ.get("TRT_HARNESS_ISOLATE_METHOD")
    if explicit:
        return explicit
    from . import gpu, runner

    if not gpu.probe().get("exist"):
        return "fork"
    if not os.environ.get(gpu.PROBE_ENV):   # outside pytest: the worker inherits the answer, asks no probe
        gpu.share_probe()
    return "fork" if runner.serves("cuda") and gpu.cuda_target() else "forkserver"


class Isolator:
    """The parent's handle on the worker.  ``method``: fork (cheap) or forkserver (a fresh
    interpreter: CUDA does not survive fork() once the parent has touched it); ``None`` runs
    requests in this process."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT, method: str | None = "auto") -> None:
        self.timeout = float(timeout)
        if method == "auto":
            method = auto_method()
        self.method = method
        self._ctx = multiprocessing.get_context(method) if method else None
        self._proc = None
        self._conn = None
        self.restarts = 0

    @property
    def isolated(self) -> bool:
        return self.method is not None

    def _start(self) -> None:
        parent, child = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(target=_serve, args=(child, parent if self.method == "fork" else None),
                                 daemon=True, name="trt-harness-worker")
        with SPAWN_LOCK:
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

    def restart(self) -> None:
        """Drop the worker (e.g. after a device error left its CUDA context unusable)."""
        if self._proc is not None:
            self._reap(kill=True)

    def close(self) -> None:
        if self._proc is None:
            return
        try:
            self._conn.send(None)
        except Exception:
            pass
        self._proc.join(2)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(2)
        self._conn.close()
        self._proc = self._conn = None

    def call(self, path: str, *args, timeout: float | None = None, **kwargs) -> Answer:
        """Run ``path(*args, **kwargs)`` in the worker; a crash or hang becomes the Answer."""
        t0 = time.perf_counter()
        if not self.isolated:
            return Answer(value=resolve(path)(*args, **kwargs), elapsed_s=time.perf_counter() - t0)
        timeout = self.timeout if timeout is None else timeout
        if self._proc is None or not self._proc.is_alive():
            if self._proc is not None:
                self._reap(kill=False)
            self._start()
        try:
            self._conn.send((path, args, kwargs))
        except (BrokenPipeError, OSError):
            code = self._reap(kill=True)
            return Answer(error_kind="crash", reason=describe_exit(code), elapsed_s=time.perf_counter() - t0)
        if not self._conn.poll(timeout):
            self._reap(kill=True)
            elapsed = time.perf_counter() - t0
            return Answer(error_kind="timeout", reason=f"timeout: no result after {elapsed:.1f} s (limit "
                                                       f"{timeout:g} s); the worker process was killed",
                          elapsed_s=elapsed)
        try:
            status, value = self._conn.recv()
        except (EOFError, OSError):
            code = self._reap(kill=True)
            return Answer(error_kind="crash", reason=describe_exit(code), elapsed_s=time.perf_counter() - t0)
        if status == "bug":
            raise HarnessBug(f"{path} raised in the isolated worker:\n{value}")
        return Answer(value=value, elapsed_s=time.perf_counter() - t0)
