"""Builders and runners apart: one runner process per GPU does every run on that card.

The way TVM's MetaSchedule measures candidates (a pool of builders, a runner per device) and the way
benchmark farms work:

- **builders** are the run's case workers (pytest-xdist workers and their isolated children,
  :mod:`harness.isolate`): they draw, build the Relax programs, partition, compile for CUDA
  (batched, cached on disk by :class:`harness.builds.BuildCache`) and export the libraries.  They
  never touch the GPU.
- **a runner** (:mod:`.server`) is a process that owns one card: it loads the exported libraries
  and does every GPU run of the run, back to back from one queue: the correctness runs of the
  reference and tensorrt checks and the timings.  No lock queue between processes of the run, one
  CUPTI session for the runner's life, and the card's busy, runner and idle time accounted
  (:meth:`.server.Runner.stats`).
- **the supervisor** (:mod:`.supervisor`, in pytest's controller process) starts one runner per
  visible card before the workers start, restarts one that dies, and at the end collects the
  accounting for the results header and the summary.
- **the client** (:mod:`.client`, in the builders) sends a request to the least loaded runner of
  the device kind (their backlog in estimated seconds), and says exactly what happened when a
  runner died under a case (the case is retried once in a fresh runner; a case that kills it again
  is an ``error`` record of kind ``crash`` or ``timeout``).

**A card that is lost.**  A card is given up for the rest of the run (its slot's ``.lost`` file,
:func:`mark_lost`, says which card and why; no runner is started for it again) in two cases:

- its runner meets a CUDA error that says the device itself is gone
  (:data:`harness.pipeline.CARD_GONE`: no CUDA-capable device, device unavailable, fallen off the
  bus, uncorrectable ECC error), in a run or a timing.  Out of memory and the other device errors
  of :data:`harness.pipeline.DEVICE_ERRORS` are not: they stay an ``error`` record of kind
  ``device`` for the case, and a fresh runner starts on the same card;
- runners for it cannot start any more: ``START_FAILURES`` starts in a row end before the runner
  is ready, after a runner of that card had started once.  This catches a card that fell off
  without its runner saying so (a runner killed by the fall, or an error spelt ``unspecified launch
  failure``: the next start finds no device).  A card whose first runner never starts is a set-up
  problem, not a lost card: each of its runs is an ``error`` record saying why.

The request the card was lost under, and every request queued on it or sent later, go to another
live runner of the same kind (:meth:`.client.Client.choose`); their records name the card that ran
them, and a timing is taken (and marked exclusive) there as anywhere.  Where no runner of the kind
is left, the request raises :class:`CardLost`: the unit's pairs get no record, the builder stops
the run (pytest's ``shouldstop``; a unit that starts later finds the kind :func:`stranded` and
runs nothing), and the run ends with one line (:func:`harness.stopped.card_lost_line`): the cards,
the pairs left, and the command that finishes them (``--trt-resume``).  Its exit code is
:data:`LOST_EXIT`.  (``--trt-runner off`` has no runner to give up: there a gone card stays a
``device`` record per case.)

Builds and runs are pipelined across the builders: while one builder waits for its unit's runs,
the others build.  ``--trt-runner auto`` (the default) uses runners for the runs of GPU backends
where a GPU is visible; ``off`` gives the old path (each worker runs on the GPU itself under the
per-GPU lock of :mod:`harness.timing.exclusive`); ``all`` sends the runs of every backend to
runners, CPU ones too (one CPU runner): how the harness's own tests exercise this path on a
machine without a GPU.  Runners are found through :data:`ENV` (set by the supervisor, inherited by
every worker).
"""
from __future__ import annotations

import json
import os

ENV = "TRT_HARNESS_RUNNERS"           # {"key": hex authkey, "runners": {device kind: [socket, ...]}}
PRELOAD_ENV = "TRT_HARNESS_RUNNER_PRELOAD"   # "module:function" called with the Runner before its device opens
MODES = ("auto", "all", "off")


def spec() -> dict | None:
    raw = os.environ.get(ENV)
    if not raw:
        return None
    try:
        got = json.loads(raw)
    except ValueError:
        return None
    return got if isinstance(got, dict) and got.get("runners") else None


def serves(device_kind: str) -> bool:
    """Whether this run's runs on ``device_kind`` go to runners."""
    s = spec()
    return bool(s and s["runners"].get(device_kind))


LOST_EXIT = 75     # a run cut short by lost cards (sysexits' EX_TEMPFAIL: finish it later, --trt-resume)


class RunnerDied(Exception):
    """The runner did not answer: it died (``kind`` "crash") or ran past its time ("timeout")."""

    def __init__(self, reason: str, kind: str = "crash") -> None:
        super().__init__(reason)
        self.kind = kind


class CardLost(RunnerDied):
    """Every runner of a device kind lost its card: the request cannot run in this run."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, "lost")


def card_label(name: str, pci: str | None) -> str:
    """How a card is named to the user: ``cuda:1 (PCI 0000:3b:00.0)`` (its ``CUDA_VISIBLE_DEVICES``
    entry, and its PCI bus id where the driver said it)."""
    return f"{name} (PCI {pci})" if pci else name


def mark_lost(socket: str, card: str, why: str) -> None:
    """Give the card of the runner slot at ``socket`` up for the rest of the run (atomically)."""
    tmp = f"{socket}.lost.{os.getpid()}"
    with open(tmp, "w") as fh:
        json.dump({"card": card, "why": " ".join(why.split())[:300]}, fh)
    os.replace(tmp, socket + ".lost")


def lost(socket: str) -> dict | None:
    """{"card", "why"} where the slot at ``socket`` lost its card, else None."""
    try:
        with open(socket + ".lost") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def stranded(runners: dict) -> str | None:
    """Where some device kind of ``runners`` (kind -> sockets) has no live runner left: which cards
    were lost and why (the first one's), else None."""
    for kind, sockets in runners.items():
        gone = [lost(s) for s in sockets]
        if sockets and all(gone):
            cards = ", ".join(g["card"] for g in gone)
            return f"{'card' if len(gone) == 1 else 'cards'} {cards} lost ({gone[0]['why']}); no {kind} runner left"
    return None
