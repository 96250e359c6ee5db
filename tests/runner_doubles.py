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


def fails_first_exp_then_segfaults(runner) -> None:
    """The first run request of an ``exp`` case in the run fails as a program TVM cannot run fails
    (an error, not a death: ``$TRT_HARNESS_TEST_RUNNER_FAULT_FILE`` is claimed by it); every later
    one kills the runner: a known crash whose first case departs another way (split's empty piece
    that fails to build) and whose later cases crash."""
    path = os.environ[FILE_ENV]

    def fault(_runner, msg):
        if not str(msg.get("key", "")).startswith("exp-"):
            return
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            os.kill(os.getpid(), signal.SIGSEGV)
        raise RuntimeError("Check failed: pb->value != 0: Divide by zero (a test double)")
    runner.fault = fault


def cannot_start(runner) -> None:
    raise RuntimeError("this runner double refuses to start")


def _until_released() -> None:
    """Wait until the file ``$TRT_HARNESS_TEST_RELEASE`` exists (the test says when, an event;
    never released, it hangs)."""
    import time

    while not os.path.exists(os.environ["TRT_HARNESS_TEST_RELEASE"]):
        time.sleep(0.01)


def block_until_released(runner) -> None:
    """A run request whose key is ``block`` waits until the test releases it (:func:`_until_released`)."""
    def fault(_runner, msg):
        if msg.get("key") == "block":
            _until_released()
    runner.fault = fault


LOSE_AFTER_ENV = "TRT_HARNESS_TEST_LOSE_AFTER"     # run requests a runner serves before its card is lost
LOSE_CARDS_ENV = "TRT_HARNESS_TEST_LOSE_CARDS"     # how many cards are lost, over this run and later ones


def card_lost_after_n(runner) -> None:
    """A card goes away after ``$TRT_HARNESS_TEST_LOSE_AFTER`` run requests of its runner: that
    runner's next run request fails as CUDA says so.  At most ``$TRT_HARNESS_TEST_LOSE_CARDS``
    cards (default 1) are lost over the runs that share ``$TRT_HARNESS_TEST_RUNNER_FAULT_FILE``: each
    loss claims ``FILE.0``, ``FILE.1``, ... (a later run, e.g. its ``--trt-resume``, sees the claims
    of the earlier)."""
    path, after = os.environ[FILE_ENV], int(os.environ[LOSE_AFTER_ENV])
    cards = int(os.environ.get(LOSE_CARDS_ENV) or 1)
    served = [0]

    def claim() -> bool:
        for i in range(cards):
            try:
                os.close(os.open(f"{path}.{i}", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                return True
            except FileExistsError:
                continue
        return False

    def fault(_runner, msg):
        served[0] += 1
        if served[0] == after + 1 and not claim():
            served[0] = -10**9                           # as many cards as asked were lost: not this one
        if served[0] > after:
            raise RuntimeError("CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected (a test double)")
    runner.fault = fault


def card_lost_exit_held(runner) -> None:
    """:func:`card_lost_after_n`, and the runner that gives its card up does not end until the file
    ``$TRT_HARNESS_TEST_RELEASE`` exists: its answer is out, the card marked lost, the process alive
    (a busy machine, where the end of a process comes late)."""
    card_lost_after_n(runner)
    end = os._exit

    def held(code):
        _until_released()
        end(code)
    os._exit = held


def starts_once(runner) -> None:
    """The first runner of the run starts; every later one refuses (its card went away after the
    start): the one that claims ``$TRT_HARNESS_TEST_RUNNER_FAULT_FILE`` is the first."""
    try:
        os.close(os.open(os.environ[FILE_ENV], os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        raise RuntimeError("this runner double cannot start again") from None


def segfault_on_every_exp(runner) -> None:
    """The runner dies of SIGSEGV on every run request of an ``exp`` case: a crash that a known-crash
    expectation describes, which a run should confirm once, not once per process."""
    def fault(_runner, msg):
        if str(msg.get("key", "")).startswith("exp-"):
            os.kill(os.getpid(), signal.SIGSEGV)
    runner.fault = fault
