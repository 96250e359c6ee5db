"""What a run that stops before its end says last: one line, with the exact command that finishes it.

- interrupted (Ctrl-C, SIGTERM): the (case, check) pairs done, and the command;
- stopped because a device kind has no runner left (its cards lost, :mod:`harness.runner`): which
  card and why, the pairs left (they have no record, so ``--trt-resume`` runs them), and the
  command.  Its exit code is :data:`harness.runner.LOST_EXIT`.
"""
from __future__ import annotations

import os
import shlex
import sys

from .session import Session


def _pairs(session: Session) -> tuple[int, int, str]:
    """(pairs done in the results file, pairs planned, the command that finishes the run: the same
    arguments, with --trt-resume)."""
    from .reader import load_results
    from .replay import is_case_record
    from .suite import tensorrt_skip_reason

    s = session.settings
    try:
        done = len({(r.case_id, r.check) for r in load_results(s.results_path).records if is_case_record(r)})
    except Exception:   # noqa: BLE001 - nothing readable yet: none done
        done = 0
    checks = [c for c in s.checks if c != "tensorrt" or tensorrt_skip_reason(session) is None]
    planned = sum(len(u.cases) for u in session.units or ()) * len(checks)
    prog = os.path.basename(sys.argv[0]) if sys.argv else "pytest"
    prog = [sys.executable, "-m", "pytest"] if prog in ("__main__.py", "") else [prog]
    args = list(sys.argv[1:])
    if "--trt-resume" not in args:
        args.append("--trt-resume")
    return done, planned, shlex.join(prog + args)


def resume_line(session: Session) -> str:
    """What an interrupted run says last."""
    done, planned, command = _pairs(session)
    return (f"interrupted: {done} of {planned} (case, check) pairs done, kept in {session.settings.results_path}; "
            f"finish with: {command}")


def card_lost_line(session: Session) -> str:
    """What a run that lost every card of a device kind says last (``session.stranded`` says which)."""
    done, planned, command = _pairs(session)
    return (f"stopped: {session.stranded}: {max(0, planned - done)} of {planned} (case, check) pairs left without "
            f"a record, {done} done kept in {session.settings.results_path}; finish them with: {command}")
