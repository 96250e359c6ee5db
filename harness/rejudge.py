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


def judge_again(run, expectations: list):
    """(record, its new Judgement or None, whether its check ran) per record of ``run``
    (harness.reader.Run): None for the records a re-judgement leaves as they are (offload, model and
    fuzz records, shrunk cases); a held pair (it did not run) is judged as the known crash it was held
    for (its outcome stays, its entry may change)."""
    from . import expectations as E

    env, entries = run.env, run.expectations
    for rec in run.records:
        if rec.check not in CHECKS or rec.op.startswith(("model:", "fuzz:")) or (rec.details or {}).get("shrunk_from"):
            yield rec, None, True
            continue
        raw = raw_outcome(rec, entries)
        kind = raw or ("error", "crash")
        ctx, subject = where_and_what(rec, env)
        yield rec, E.judge(kind[0], rec.reason, subject, ctx, expectations, error_kind=kind[1]), raw is not None


def where_and_what(rec, env: dict):
    """(Context, Subject) of a table op's record, from it and its run's environment: where the
    check ran (the backends, TVM and TensorRT the run recorded) and what it judged."""
    from . import expectations as E
    from .case import Case
    from .session import context_for
    from .versions import loose_version, parse_version

    ctx = context_for(rec.check, backend=env.get("backend") or "tensorrt", reference=env.get("reference") or "tvm-cuda",
                      cuda_reference=bool(env.get("cuda_available")),
                      tvm=loose_version(env["tvm_version"]) if env.get("tvm_version") else None,
                      trt=parse_version(rec.trt_version or env.get("trt_version")))
    subject = E.Subject(op=rec.op, check=rec.check, dtype=rec.dtype, attrs=rec.attrs, rule=rec.rule,
                        verdict=rec.offload.verdict if rec.offload else None, case=Case.from_record(rec))
    return ctx, subject


def as_today(run, expectations: list) -> list:
    """The run's records as a run today would write them: outcome, reason and entry from the
    re-judgement (a held pair keeps its [NOTRUN] outcome and reason, and takes the new entry)."""
    import msgspec

    out = []
    for rec, j, ran in judge_again(run, expectations):
        if j is None:
            out.append(rec)
        elif not ran:
            out.append(msgspec.structs.replace(rec, expectation=j.expectation.id if j.expectation else None))
        else:
            out.append(msgspec.structs.replace(rec, outcome=j.outcome, reason=j.reason,
                                               expectation=j.expectation.id if j.expectation else None))
    return out


def rejudge(path: str, expectations: list) -> Rejudged:
    from .reader import load_results

    run = load_results(path)
    out = Rejudged(path)
    for rec, judged, ran in judge_again(run, expectations):
        if judged is None:
            continue
        if not ran:
            out.held += rec.outcome == "xfail"
            continue
        out.judged += 1
        new_id = judged.expectation.id if judged.expectation else None
        if judged.outcome != rec.outcome or (judged.outcome == "xfail" and new_id != rec.expectation):
            out.changed.append((rec, judged))
        if judged.unexpected:
            out.red.append((rec, judged))
    return out
