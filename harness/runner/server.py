"""The runner: one process that owns one device and does every run of the run on it.

``python -m harness.runner.server --socket PATH --kind cuda`` (started by
:mod:`harness.runner.supervisor`, with ``CUDA_VISIBLE_DEVICES`` naming its card).  It listens on a
Unix socket (``multiprocessing.connection``, with the run's authentication key); one thread per
connection reads requests, and the main thread (the only one that touches the device) serves them
one at a time from one queue, in arrival order:

``run``    load the exported library (kept loaded, LRU), run ``entry`` on the inputs through the
           backend's own ``run``; the outputs, or TVM's one-line error.  A CUDA error that says the
           device failed (:data:`harness.pipeline.DEVICE_ERRORS`) is answered, then the runner exits
           so the supervisor starts a fresh one with a clean context; one that says the card is
           gone (:data:`harness.pipeline.CARD_GONE`, in a run or a timing) gives the card up first
           (:func:`harness.runner.mark_lost`) and is answered ``lost``: the client sends the
           request to another card.
``time``   :func:`harness.timing.time_many` on several libraries, with the runner's own CUPTI
           session (opened once for its life, paused for the latency passes) and adaptive rounds.
``stats``  the accounting: wall time since ready, time serving requests (runner time), idle time,
           and the device's busy time: kernels, copies and memsets recorded by CUPTI (intervals
           merged), plus the latency passes (untraced: their calls times the measured device time
           per call, said apart as ``busy_estimated_s``).
``load``   the backlog in estimated seconds (answered at once by the connection's thread): how
           clients spread work over several cards.
"""
from __future__ import annotations

import argparse
import collections
import os
import queue
import sys
import threading
import time

from .. import trace

LIBS_KEPT = 64


class Runner:
    def __init__(self, kind: str, index: int = 0, previous: str = "") -> None:
        """The runner's bookkeeping; :meth:`open` imports TVM and opens the device."""
        self.kind, self.index, self.previous = kind, index, previous
        self.jobs: queue.Queue = queue.Queue()
        self.libs: collections.OrderedDict = collections.OrderedDict()
        self.started = time.perf_counter()
        self.serve_s = self.busy_traced_ns = self.busy_estimated_s = 0.0
        self.requests: collections.Counter = collections.Counter()
        self.pending_s = 0.0
        self.per_item = {"run": 2e-3, "time": 0.3}        # running estimate of seconds per item
        self.tracer, self.cupti_reason = None, None
        self.fault = None                                 # a test double's hook (PRELOAD), else None
        self.inflight_path: str | None = None
        self.stats_path: str | None = None
        self.culprit = ""                                 # the request the previous runner died under
        self.home: str | None = None                      # the slot's socket (its .lost file beside it)
        self.card, self.pci = kind, None                  # the card's name (the supervisor's) and PCI bus id

    def open(self) -> None:
        """TVM's import (seconds) and the device: after anything that can refuse the start cheaply."""
        from ..tvmcompat import import_tvm

        tvm = import_tvm()

        kind, index = self.kind, self.index
        self.dev = tvm.cuda(index) if kind == "cuda" else tvm.cpu()
        self.name = self.dev.device_name if kind == "cuda" and self.dev.exist else ("cpu" if kind != "cuda" else None)
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
        self.describe = f"cuda:{visible or index} {self.name}" if kind == "cuda" else "cpu"
        if kind == "cuda":
            if not self.dev.exist:
                raise RuntimeError(f"no CUDA-capable device is visible (CUDA_VISIBLE_DEVICES={visible!r})")
            self.pci = _pci_bus_id()
            self._open_cupti()

    def _open_cupti(self) -> None:
        from ..timing import device as D

        try:
            self.dev.sync()                               # the context first: CUPTI traces it
            self.tracer = D.Tracer(D.load_cupti())
            self.tracer.start()
        except D.DeviceTimeUnavailable as exc:
            self.tracer, self.cupti_reason = None, str(exc)

    # -- requests -----------------------------------------------------------------------------
    def _vm(self, path: str):
        got = self.libs.get(path)
        if got is None:
            import tvm
            from tvm import relax

            with trace.span("runner load"):
                lib = tvm.runtime.load_module(path)
                got = self.libs[path] = relax.VirtualMachine(lib, self.dev)
            while len(self.libs) > LIBS_KEPT:
                self.libs.popitem(last=False)
        self.libs.move_to_end(path)
        return got

    def run(self, msg: dict) -> dict:
        from ..backends import get_backend
        from ..builds import one_line
        from ..pipeline import failure, DeviceFailure

        try:
            if self.fault is not None:
                self.fault(self, msg)
            vm = self._vm(msg["path"])
            outputs = get_backend(msg["backend"]).run(vm, msg["inputs"], self.dev, entry=msg["entry"])
        except Exception as exc:  # TVM raising on the program: its one line goes back
            text = one_line(exc)
            return {"ok": False, "error": text, "exit": isinstance(failure(text), DeviceFailure)}
        return {"ok": True, "outputs": outputs}

    def time(self, msg: dict) -> dict:
        from ..timing import time_many

        runs = []
        for path, entry, inputs in msg["items"]:
            runs.append(self._timer(self._vm(path), entry, inputs))
        got = time_many(runs, device_kind=self.kind, device_index=self.index, device_name=self.name,
                        tracer=self.tracer, **msg["options"])
        for g in got:      # the latency passes ran untraced: their device work, from the traced figure
            dev, lat = g.get("device"), g.get("latency")
            if dev and lat:
                calls = lat["rounds"] * lat["iterations"] + lat["iterations"] + 4
                self.busy_estimated_s += calls * dev["median_s"]
            g["runner"] = self.describe
        return {"ok": True, "timings": got}

    def _timer(self, vm, entry: str, inputs: list):
        from ..pipeline import looped

        return looped(vm, entry, inputs, self.dev)

    def account(self) -> None:
        """Fold CUPTI's records so far into the busy time (intervals merged: overlapping work on
        two streams counts once), and leave the figures where the supervisor finds them if this
        runner dies."""
        if self.tracer is not None:
            spans = sorted((r[1], r[2]) for r in self.tracer.take() if r[3] in (self.index, -1))
            end = None
            for a, b in spans:
                if end is None or a > end:
                    self.busy_traced_ns += b - a
                    end = b
                elif b > end:
                    self.busy_traced_ns += b - end
                    end = b
        self.save()

    def save(self) -> None:
        """The figures so far, where the supervisor adds them up if this runner dies (after every
        request: ~0.1 ms)."""
        if self.stats_path:
            import json

            tmp = self.stats_path + ".tmp"
            with open(tmp, "w") as fh:
                json.dump(self.figures(), fh)
            os.replace(tmp, self.stats_path)

    def stats(self) -> dict:
        self.account()
        return self.figures()

    def figures(self) -> dict:
        wall = time.perf_counter() - self.started
        busy_traced = self.busy_traced_ns * 1e-9
        busy = busy_traced + self.busy_estimated_s if self.tracer is not None else None
        return {"device": self.describe, "kind": self.kind, "wall_s": wall, "runner_s": self.serve_s,
                "idle_s": max(0.0, wall - self.serve_s), "busy_s": busy,
                "busy_traced_s": busy_traced if self.tracer is not None else None,
                "busy_estimated_s": self.busy_estimated_s if self.tracer is not None else None,
                "busy_share": (busy / wall) if busy is not None and wall > 0 else None,
                "busy_unavailable": None if self.tracer is not None else (
                    self.cupti_reason or f"no CUPTI on a {self.kind} device"),
                "requests": dict(self.requests), "pid": os.getpid()}

    def estimate(self, msg: dict) -> float:
        n = len(msg.get("items", ())) or 1
        return self.per_item.get(msg["op"], 0.0) * n

    # -- the loop -----------------------------------------------------------------------------
    def serve_forever(self, listener) -> None:
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        served = 0
        while True:
            conn, msg = self.jobs.get()
            est = self.estimate(msg)
            op = msg["op"]
            if self.inflight_path and op in ("run", "time"):
                with open(self.inflight_path, "w") as fh:   # the supervisor reads it if this one kills us
                    fh.write(str(msg.get("id", "")))
            t0 = time.perf_counter()
            try:
                with trace.span(f"runner {op}", items=len(msg.get("items", ())), queued=self.jobs.qsize()):
                    if op == "run":
                        reply = self.run(msg)
                    elif op == "time":
                        reply = self.time(msg)
                    else:
                        reply = self.stats() if op == "stats" else {"ok": True}
            except Exception as exc:  # a bug of the harness: said in full, the runner keeps serving
                reply = self._raised(exc)
            reply = self._gone(reply)
            took = time.perf_counter() - t0
            self.serve_s += took
            self.pending_s = max(0.0, self.pending_s - est)
            self.requests[op] += 1
            if op in self.per_item:
                n = len(msg.get("items", ())) or 1
                self.per_item[op] = 0.8 * self.per_item[op] + 0.2 * took / n
            served += 1
            if self.inflight_path and op in ("run", "time") and not (reply and reply.get("exit")):
                with open(self.inflight_path, "w"):   # served: a later death (idle) names no request
                    pass
            try:
                conn.send(reply)
            except (OSError, EOFError):
                pass                                      # the client went away: nothing to tell
            if op == "stop" or (reply and reply.get("exit")):
                os._exit(0 if op == "stop" else 3)
            if self.jobs.empty() or served % 64 == 0:
                self.account()
            else:
                self.save()

    @staticmethod
    def _raised(exc: Exception) -> dict:
        """The answer to a request that raised: the card gone under it (a timing), else a bug."""
        import traceback

        from ..builds import one_line
        from ..pipeline import card_gone

        text = one_line(exc)
        return {"ok": False, "error": text, "exit": True} if card_gone(text) else {
            "ok": False, "bug": traceback.format_exc()}

    def _gone(self, reply: dict) -> dict:
        """An answer that says the card is gone: the card given up before the answer goes (so no
        client sees this runner end first), and the answer marked ``lost``."""
        from ..pipeline import card_gone

        if not self.home or reply.get("ok") is not False or not reply.get("exit") or not card_gone(
                reply.get("error", "")):
            return reply
        from . import card_label, mark_lost

        mark_lost(self.home, card_label(self.card, self.pci), reply["error"])
        return {**reply, "lost": True}

    def _accept(self, listener) -> None:
        while True:
            try:
                conn = listener.accept()
            except (OSError, EOFError):
                continue
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn) -> None:
        while True:
            try:
                msg = conn.recv()
            except (OSError, EOFError):
                return
            if msg.get("op") == "hello":
                conn.send({"pid": os.getpid(), "device": self.describe, "kind": self.kind, "previous": self.previous,
                           "culprit": self.culprit})
            elif msg.get("op") == "load":
                conn.send({"backlog_s": self.pending_s})
            elif msg.get("op") == "adopt":       # a standby taking over from a runner that ended
                self.previous, self.culprit = msg.get("previous", ""), msg.get("culprit", "")
                self.started = time.perf_counter()
                conn.send({"ok": True})
            else:
                self.pending_s += self.estimate(msg)
                self.jobs.put((conn, msg))


def main(argv=None) -> int:
    from multiprocessing.connection import Listener

    p = argparse.ArgumentParser(prog="python -m harness.runner.server")
    p.add_argument("--socket", required=True)
    p.add_argument("--kind", choices=("cuda", "cpu"), required=True)
    p.add_argument("--previous", default="", help="why the runner before this one ended")
    p.add_argument("--culprit", default="", help="the request it was serving then")
    p.add_argument("--home", default=None, help="the slot's socket (its inflight and stats files are beside it)")
    p.add_argument("--card", default=None, help="the card's name for the user (cuda:N, N its CUDA_VISIBLE_DEVICES entry)")
    a = p.parse_args(argv)
    try:   # end with the process that started it (a killed pytest leaves no runner behind)
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)     # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    key = bytes.fromhex(os.environ["TRT_HARNESS_RUNNER_KEY"])
    runner = Runner(a.kind, 0, a.previous)
    home = a.home or a.socket
    runner.culprit, runner.inflight_path, runner.stats_path = a.culprit, home + ".inflight", home + ".stats"
    runner.home, runner.card = home, a.card or a.kind
    from . import PRELOAD_ENV

    if os.environ.get(PRELOAD_ENV):        # before TVM's import: a preload that fails, fails in a blink
        from ..isolate import resolve

        resolve(os.environ[PRELOAD_ENV])(runner)
    trace.name(f"runner {a.kind}")
    with trace.span("runner open"):
        runner.open()
    if os.path.exists(a.socket):
        os.unlink(a.socket)
    listener = Listener(a.socket, family="AF_UNIX", authkey=key)
    print(f"ready pid={os.getpid()} {runner.describe}" + (f" pci={runner.pci}" if runner.pci else ""), flush=True)
    runner.started = time.perf_counter()
    runner.serve_forever(listener)
    return 0


def _pci_bus_id() -> str | None:
    """The PCI bus id of this process's ``cuda:0`` (the driver API; the context is open already)."""
    import ctypes

    try:
        cuda = ctypes.CDLL("libcuda.so.1")
        dev, buf = ctypes.c_int(), ctypes.create_string_buffer(32)
        if cuda.cuInit(0) or cuda.cuDeviceGet(ctypes.byref(dev), 0) or cuda.cuDeviceGetPCIBusId(buf, 32, dev):
            return None
        return buf.value.decode() or None
    except (OSError, AttributeError, UnicodeDecodeError):
        return None


if __name__ == "__main__":
    sys.exit(main())
