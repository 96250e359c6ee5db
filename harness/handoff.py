"""What the xdist controller hands its workers when they start before it is ready.

Without it the controller imports TVM, asks the GPU probe, takes the plan and starts the runners in
``pytest_configure``, and pytest-xdist starts the workers only after that (in its
``pytest_sessionstart``).  On an H100 host that put 2 s (TVM's import 1.5 s, the probe 0.5 s) before
the first worker was even created, and each worker then took 4 s more to start its own pytest.  Now
the controller lets xdist start the workers first (:func:`announce` in ``pytest_configure``), does its
part while they start, and :func:`publish` es what they would otherwise have inherited: the
environment variables it set meanwhile (the runners' sockets and key, the GPU probe's answer).  A
worker imports TVM, then :func:`receive` s them before anything reads them; it waits only when it
got there first.  A controller that fails publishes its one-line reason, and its workers end with it.

The file is written once, atomically, in a directory of the controller's own; the variable names it
and the controller's pid, so a worker started by another process (a nested run) never waits on it.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time

from .errors import HarnessError

ENV = "TRT_HARNESS_HANDOFF"     # {"path": the file, "pid": the controller}
WAIT_S = 600.0                  # a controller that neither publishes nor dies: its workers give up

_announced: dict | None = None  # this process's: {"path", "dir", "env" (os.environ before)}


def announce() -> None:
    """Controller, before xdist starts the workers: they inherit where the handoff will be."""
    global _announced
    directory = tempfile.mkdtemp(prefix="trt-handoff-")
    path = os.path.join(directory, "handoff.json")
    os.environ[ENV] = json.dumps({"path": path, "pid": os.getpid()})
    _announced = {"path": path, "dir": directory, "env": dict(os.environ)}


def publish(error: str | None = None) -> None:
    """Controller: hand over the variables set since :func:`announce` (or the reason it failed)."""
    if _announced is None:
        return
    before = _announced["env"]
    body = {"env": {k: v for k, v in os.environ.items() if before.get(k) != v},
            "unset": [k for k in before if k not in os.environ], "error": error}
    tmp = _announced["path"] + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(body, fh)
    os.replace(tmp, _announced["path"])


def forget() -> None:
    """Controller, at the end: the directory goes."""
    global _announced
    if _announced is not None:
        shutil.rmtree(_announced["dir"], ignore_errors=True)
        _announced = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def receive(wait_s: float = WAIT_S) -> bool:
    """Worker: apply the controller's handoff, waiting for it if need be; False when this process's
    parent announced none.  Raises HarnessError with the controller's reason when it failed, or when
    it ended (or went silent) without one."""
    raw = os.environ.get(ENV)
    if not raw:
        return False
    try:
        where = json.loads(raw)
        path, pid = where["path"], int(where["pid"])
    except (ValueError, KeyError, TypeError):
        return False
    if pid != os.getppid():          # not started by that controller (a nested pytest run)
        return False
    deadline = time.monotonic() + wait_s
    delay = 0.005
    while not os.path.exists(path):
        if not _alive(pid):
            raise HarnessError(f"the pytest controller (pid {pid}) ended before handing its workers the run")
        if time.monotonic() > deadline:
            raise HarnessError(f"the pytest controller (pid {pid}) handed its workers nothing in {wait_s:.0f} s")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    with open(path, encoding="utf-8") as fh:
        body = json.load(fh)
    if body.get("error"):
        raise HarnessError(body["error"])
    for key in body.get("unset", []):
        os.environ.pop(key, None)
    os.environ.update(body.get("env", {}))
    return True
