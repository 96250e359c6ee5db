"""A results file judged again, against the expectations as they are now: what that run would say today.

GPU time is scarce and a results file keeps what each check gave.  A maintainer who writes or narrows
an expectation asks "would last night's GPU run be green with it?"; this answers without the GPU:

    python tools/rejudge.py reports/sweep/seed-*.jsonl [--expectations FILE]

Each record of a table op's reference, tensorrt or preserve check gets back what its check gave before
it was judged (:func:`raw_outcome`) and is judged once more by :func:`harness.expectations.judge`, the
one place where outcomes meet the known departures, in the context the run recorded (its backends,
and so its devices; its TVM and TensorRT versions).  A pair held as ``[NOTRUN]`` (a known crash
confirmed on another case of the run) never ran: it is counted, not judged.  Offload records are
left out: their verdicts come from the rules, which a re-judgement does not replay.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

CHECKS = ("reference", "tensorrt", "preserve")


def raw_outcome(rec, entries: dict) -> tuple[str, str | None] | None:
    """(outcome, error kind) the record's check gave before judgement, or None for a held pair.
    ``entries``: the expectations the run judged against (its header's, by id)."""
    if rec.outcome in ("pass", "xpass"):
        return "pass", None
    if rec.outcome in ("fail", "error"):
        return rec.outcome, rec.error_kind
    if rec.outcome != "xfail":
        return None
    if rec.reason.startswith("[NOTRUN]"):
        return None
    if rec.error_kind:                                    # a known crash, recorded as such
        return "error", rec.error_kind
    entry = entries.get(rec.expectation or "")
    if entry is not None and entry.outcome == "crash":    # files written before the kind was kept
        return "error", "crash"
    return "fail", None


@dataclass
class Rejudged:
    path: str
    judged: int = 0
    held: int = 0
    changed: list = field(default_factory=list)           # (record, new Judgement)
    red: list = field(default_factory=list)               # (record, new Judgement): fails the run today

    def counts(self) -> Counter:
        return Counter((r.outcome, j.outcome) for r, j in self.changed)


def rejudge(path: str, expectations: list) -> Rejudged:
    from . import expectations as E
    from .case import Case
    from .reader import load_results
    from .session import context_for
    from .versions import loose_version, parse_version

    run = load_results(path)
    env, entries, out = run.env, run.expectations, Rejudged(path)
    tvm = loose_version(env["tvm_version"]) if env.get("tvm_version") else None
    for rec in run.records:
        if rec.check not in CHECKS or rec.op.startswith(("model:", "fuzz:")) or (rec.details or {}).get("shrunk_from"):
            continue
        raw = raw_outcome(rec, entries)
        if raw is None:
            out.held += rec.outcome == "xfail"
            continue
        ctx = context_for(rec.check, backend=env.get("backend") or "tensorrt",
                          reference=env.get("reference") or "tvm-cuda", cuda_reference=bool(env.get("cuda_available")),
                          tvm=tvm, trt=parse_version(rec.trt_version or env.get("trt_version")))
        subject = E.Subject(op=rec.op, check=rec.check, dtype=rec.dtype, attrs=rec.attrs, rule=rec.rule,
                            case=Case.from_record(rec))
        judged = E.judge(raw[0], rec.reason, subject, ctx, expectations, error_kind=raw[1])
        out.judged += 1
        new_id = judged.expectation.id if judged.expectation else None
        if judged.outcome != rec.outcome or (judged.outcome == "xfail" and new_id != rec.expectation):
            out.changed.append((rec, judged))
        if judged.unexpected:
            out.red.append((rec, judged))
    return out
