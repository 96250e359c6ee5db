"""Known crashes confirmed once per run, across the run's processes (used by :mod:`harness.suite`).

A known-crash expectation is confirmed by running one case it describes, alone; every other pair
it describes is then held ([NOTRUN] xfail).  With runners (:mod:`harness.runner`), confirming a
crash kills the card's runner, so the builders share the outcome through the runners' directory:
``confirmed-ID`` (the case that crashed) or ``refuted-ID`` (one passed; a case that fails another
way the expectation names decides nothing, and the next is tried), and ``confirm-ID.lock``,
which the one builder confirming holds (``flock``; the kernel lets it go if that builder dies).

A builder that finds the lock held does the rest of its unit first and then waits for the lock,
not for a timer; it reads the outcome, or confirms itself where the other ended without one.
Before, every builder that reached an op before any confirmation was written confirmed again: in
the H100 nightly (seed 11, 2026-12-07) split's empty-piece crash was confirmed 8 times within 14 s,
each a runner killed.  Without runners (a CPU-only machine) each process confirms for itself: a
crash there kills only that process's own case worker.
"""
from __future__ import annotations

import fcntl
import os


def _directory() -> str | None:
    from .runner import spec

    where = (spec() or {}).get("dir")
    return where if where and os.path.isdir(where) else None


def read(session) -> None:
    """The outcomes written so far into ``session.confirmed`` (id -> case) and ``session.refuted``."""
    where = _directory()
    if where is None:
        return
    for name in os.listdir(where):
        if name.startswith("confirmed-"):
            with open(os.path.join(where, name)) as fh:
                session.confirmed.setdefault(name[len("confirmed-"):], fh.read().strip())
        elif name.startswith("refuted-"):
            session.refuted.add(name[len("refuted-"):])


def decided(session, eid: str) -> bool:
    read(session)
    return eid in session.confirmed or eid in session.refuted


def verdict(res) -> bool | None:
    """What a confirming run (a Computed, or the Answer of a worker or runner that died or hung on
    it) says of a known crash: True it died, False it passed (refuted), None it departed another
    way the expectation also names (a build that fails): undecided, the next case is tried.
    (The H100 dev run of seed 12, 2026-12-07: split's first confirming case failed to build, which
    refuted the crash, and six others then each killed the runner.)"""
    if res is None:
        return None
    if not hasattr(res, "result"):
        return True
    if res.result.error_kind == "crash":
        return True
    return False if res.result.outcome == "pass" else None


def write(session, eid: str, cid: str | None, crashed: bool) -> None:
    """Say the outcome in this process and to the run's others (before the lock is let go)."""
    if crashed:
        session.confirmed[eid] = cid
    else:
        session.refuted.add(eid)
    where = _directory()
    if where is not None:
        tmp = os.path.join(where, f".{eid}.{os.getpid()}")
        with open(tmp, "w") as fh:
            fh.write(cid or "")
        os.replace(tmp, os.path.join(where, f"{'confirmed' if crashed else 'refuted'}-{eid}"))


def first_in_run(session, eid: str) -> bool:
    """True in one process of the run only, for ``eid`` (a known departure's reproducer, which
    each run writes once): an ``O_EXCL`` file named for the run in the reproducers' directory.  A
    process outside xdist (no run token: its own set suffices) or one that cannot write there
    answers True."""
    token = getattr(session, "run_token", None)
    if not token:
        return True
    where = session.settings.repro_dir
    try:
        os.makedirs(where, exist_ok=True)
        os.close(os.open(os.path.join(where, f".once-{token}-{eid}"), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    except OSError:
        return True
    return True


def forget_run(repro_dir: str) -> None:
    """The controller, once its workers ended: the :func:`first_in_run` files removed (all of the
    directory's: they matter only while a run writes there)."""
    try:
        names = [n for n in os.listdir(repro_dir) if n.startswith(".once-")]
    except OSError:
        return
    for name in names:
        try:
            os.unlink(os.path.join(repro_dir, name))
        except OSError:
            pass


class Claim:
    """The right to confirm ``eid``: ``Claim(eid, wait=False).held`` is False where another process
    holds it; ``wait=True`` blocks until it is free.  Always held where the run has no runners."""

    def __init__(self, eid: str, *, wait: bool) -> None:
        where = _directory()
        self.fd = None
        self.held = True
        if where is None:
            return
        self.fd = os.open(os.path.join(where, f"confirm-{eid}.lock"), os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            self.release()
            self.held = False

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)      # closing lets the lock go
            self.fd = None
