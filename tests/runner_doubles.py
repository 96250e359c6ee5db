"""Test doubles of the GPU runner (harness.runner), loaded into the runner process through
``TRT_HARNESS_RUNNER_PRELOAD``: faults of the runner itself, to prove the harness survives them."""
from __future__ import annotations

import os
import signal

FILE_ENV = "TRT_HARNESS_TEST_RUNNER_FAULT_FILE"     # where the double remembers its victim


def segfault_on_first_exp(runner) -> None:
    """The runner dies of SIGSEGV on the first run request of an ``exp`` case it sees, and on the
    same request (same case, same library) every time it comes again, in any later runner."""
    path = os.environ[FILE_ENV]

    def fault(_runner, msg):
        mark = f"{msg.get('key')}|{msg.get('path')}|{msg.get('entry')}"
        if not os.path.exists(path) and str(msg.get("key", "")).startswith("exp-"):
            with open(path, "w") as fh:
                fh.write(mark)
        with open(path) if os.path.exists(path) else open(os.devnull) as fh:
            if fh.read() == mark:
                os.kill(os.getpid(), signal.SIGSEGV)
    runner.fault = fault


def cannot_start(runner) -> None:
    raise RuntimeError("this runner double refuses to start")


def block_until_released(runner) -> None:
    """A run request whose key is ``block`` waits until the file ``$TRT_HARNESS_TEST_RELEASE``
    exists (the test says when, an event; never released, it hangs)."""
    import time

    def fault(_runner, msg):
        if msg.get("key") == "block":
            while not os.path.exists(os.environ["TRT_HARNESS_TEST_RELEASE"]):
                time.sleep(0.01)
    runner.fault = fault
