"""The op suites, parent side: one unit of work (a chunk of one op's cases) from request to records.

:func:`run_unit` asks the worker for every selected check of every case of the unit
(:func:`harness.engine.run_unit`), judges each result against the known departures, writes one
record per (case, check), shrinks the first unexpected failure of each check with Hypothesis and
writes reproducers.  A batch that kills the worker is split until the case (and check) that does
it is found, so no innocent case is recorded as a crash.  A case that a known-crash expectation
describes is run once per run to confirm the expectation; the others it describes are recorded as
xfail without running ([NOTRUN], as pytest's ``xfail(run=False)``).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from . import confirm, engine, trace
from .checks import CheckOptions, CheckResult
from .expectations import Judgement, Subject, judge
from .records import Record, op_level_id
from .session import Session
from .versions import format_version

SHRINK_CANDIDATES = 60         # at most this many smaller cases are tried per unexpected failure
SHRINK_SECONDS = 120.0


@dataclass
class UnitReport:
    """What the pytest item reports: unexpected results, and a skip reason when nothing ran."""

    unexpected: list = field(default_factory=list)   # one line each
    skipped: str | None = None
    ran: int = 0
    done_before: int = 0                              # pairs an earlier part of a resumed run recorded
    lost: str | None = None                           # no runner left (harness.runner): the run stops here


def check_options(session: Session) -> CheckOptions:
    from .backends import get_backend
    from .checks import FP16_ENV
    from .table import FP16_MODE_TOL
    import os

    s = session.settings
    cuda = get_backend("tvm-cuda").unavailable_reason() is None
    return CheckOptions(trt_version=tuple(s.trt_version), implicit_batch=s.implicit_batch, sut=s.backend,
                        reference=s.reference, cuda_reference=cuda,
                        fp16_mode=os.environ.get(FP16_ENV, "0") not in ("", "0"), fp16_tolerance=FP16_MODE_TOL)


def timing_options(session: Session) -> dict | None:
    """Keyword arguments of the tensorrt check's timing, or None where it does not time."""
    from .backends import get_backend

    s = session.settings
    if s.timing == "off":
        return None
    on_gpu = any(get_backend(n).device_kind == "cuda" for n in (s.backend, s.reference))
    if s.timing == "auto" and not on_gpu:
        return None
    # Rounds of 1 ms (a workload whose CUPTI clock check needs longer rounds is traced again with
    # them: timing.run.CLOCK_RETRY_FACTOR); adaptive: each pass stops once its median is known to
    # +-0.5 % (95 % CI, order statistics), after 5 rounds at least; at most 15 rounds of latency
    # (host latency beside 16 busy builders seldom settles to 0.5 %: on an H100 every pass ran to
    # its maximum) and 40 of device time (the figure the gate compares), in rounds of ~0.25 ms:
    # CUPTI times every call, and a CUPTI flush costs per record (32-48 us each on an H100), so the
    # device pass costs what its calls do; a longer round adds little precision (docs/timing.md).
    return dict(TIMING)


#: the op suites' timing (a GPU runner's too): what timing_options gives, and what the timing
#: fidelity suite times with
TIMING = {"min_round_s": 1e-3, "rounds": 15, "device_rounds": 40, "device_round_s": 2.5e-4, "max_total_s": 2.0,
          "target_ci": 0.005, "min_rounds": 5}


def tensorrt_skip_reason(session: Session) -> str | None:
    from .backends import get_backend

    for name in (session.settings.backend, session.settings.reference):
        reason = get_backend(name).unavailable_reason()
        if reason:
            return f"backend {name} cannot run here: {reason}"
    return None


def make_record(session: Session, entry, case, check: str, result: CheckResult, judged: Judgement, *,
                rule: str | None, nodeid: str | None, duration_s: float | None, device: str | None = None) -> Record:
    """The one place a table case's record is made."""
    cmp = result.comparison
    has = cmp is not None    # (a failed Comparison is falsy)
    return Record(
        op=entry.name, tvm_op=entry.tvm_op, check=check, case_id=case.case_id, outcome=judged.outcome,
        reason=judged.reason, error_kind=result.error_kind if judged.outcome in ("error", "xfail") else None, dtype=case.dtype,
        input_shapes=[list(s) for s in case.shapes], attrs=dict(case.attrs),
        weights=[(n, list(s)) for n, s in case.weights], seed=case.seed,
        trt_version=format_version(session.settings.trt_version),
        rule=rule, expectation=judged.expectation.id if judged.expectation else None, offload=result.offload,
        max_abs_err=cmp.max_abs_err if has else None, max_rel_err=cmp.max_rel_err if has else None,
        tolerance=cmp.tolerance if has else None, min_tolerance=cmp.min_tolerance if has else None,
        nan_inf_agree=cmp.nan_inf_agree if has else None,
        backend=result.backend or ("tvm-llvm" if check != "offload" else None), reference=result.reference,
        timings=result.timings, speedup=result.speedup, duration_s=duration_s, nodeid=nodeid,
        worker=session.worker, device=(device or session.device) if check in ("reference", "tensorrt") else None,
        details=result.details)


# -- computing, with crash isolation ------------------------------------------------------------------
def _settle(session: Session, entry, cases: list, todo: dict, opts: CheckOptions, computed: dict, *,
            wait: bool) -> set:
    """Confirm each known crash that ``todo``'s pairs describe and the run has no outcome for: one
    case at a time, alone (:mod:`harness.confirm`), until one crashes (confirmed) or passes
    (refuted); a case that departs another way the expectation also names (a build that fails)
    says nothing of the crash, so the next one is tried.  Returns the ids another process is
    confirming (``wait`` False: their lock is held); with ``wait`` True it waits for that process."""
    confirm.read(session)
    candidates: dict[str, list] = {}
    for case in cases:
        for check in todo[case.case_id]:
            e = _known_crash(session, entry, case, check, opts)
            if e is not None and e.id not in session.confirmed:
                candidates.setdefault(e.id, []).append((case, check))
    elsewhere = set()
    for eid, pairs in candidates.items():
        claim = confirm.Claim(eid, wait=wait)
        if not claim.held:
            elsewhere.add(eid)
            continue
        try:
            for case, check in pairs:
                if confirm.decided(session, eid):
                    break
                got = _compute(session, entry, [case], {case.case_id: [check]}, opts, expect_crash=True)
                computed.update(got)
                todo[case.case_id].remove(check)
                crashed = confirm.verdict(got.get((case.case_id, check)))
                if crashed is not None:
                    confirm.write(session, eid, case.case_id, crashed)
                    break
        finally:
            claim.release()
    return elsewhere


def _set_aside(session: Session, entry, cases: list, todo: dict, opts: CheckOptions, held: dict,
               elsewhere: set) -> dict:
    """Take out of ``todo`` the pairs of confirmed known crashes (into ``held``: [NOTRUN]) and
    those of expectations confirmed ``elsewhere`` (returned, to run or hold once that is done);
    the pairs of refuted expectations stay and run normally."""
    later = {c.case_id: [] for c in cases}
    for case in cases:
        for check in list(todo[case.case_id]):
            e = _known_crash(session, entry, case, check, opts)
            if e is not None and (e.id in session.confirmed or e.id in elsewhere):
                todo[case.case_id].remove(check)
                if e.id in session.confirmed:
                    held[(case.case_id, check)] = e
                else:
                    later[case.case_id].append(check)
    return later


def _compute(session: Session, entry, cases: list, todo: dict, opts: CheckOptions, *,
             expect_crash: bool = False) -> dict:
    """(case_id, check) -> Computed or Answer (crash/timeout), splitting batches that kill the worker."""
    from .isolate import Answer

    s = session.settings
    req = engine.UnitRequest(op=entry.name, cases=tuple(cases), checks={c.case_id: tuple(todo[c.case_id])
                                                                        for c in cases},
                             opts=opts, cache_dir=s.build_cache, timing=timing_options(session),
                             expect_crash=expect_crash)
    n = sum(len(v) for v in req.checks.values())
    if n == 0:
        return {}
    with trace.span("unit", op=entry.name, cases=len(cases)):
        answer = session.isolator.call("harness.engine:run_unit", req, timeout=s.timeout * len(cases))
    if answer.ok and isinstance(answer.value, engine.Lost):
        from .runner import CardLost

        raise CardLost(answer.value.reason)
    if answer.ok:
        out = {(c.case_id, c.check): c for c in answer.value}
        if any(c.result.error_kind == "device" for c in answer.value):
            session.isolator.restart()   # a device error can leave the CUDA context unusable
        return out
    if len(cases) > 1:   # find the case that kills the worker: halves, not every case alone
        half = len(cases) // 2
        return {**_compute(session, entry, cases[:half], todo, opts),
                **_compute(session, entry, cases[half:], todo, opts)}
    (case,) = cases
    checks = todo[case.case_id]
    if len(checks) > 1:
        out = {}
        for check in checks:
            out.update(_compute(session, entry, cases, {case.case_id: [check]}, opts))
        return out
    return {(case.case_id, checks[0]): Answer(error_kind=answer.error_kind, reason=answer.reason)}


def _known_crash(session: Session, entry, case, check: str, opts: CheckOptions):
    ctx = session.context(check, opts.cuda_reference)
    subject = Subject(op=entry.name, check=check, dtype=case.dtype, attrs=case.attrs, case=case)
    for e in session.settings.expectations:
        if e.outcome in ("crash", "error") and e.applies(ctx) and e.matches(subject) and e.id not in session.refuted:
            return e
    return None


def run_unit(session: Session, unit, nodeid: str | None = None) -> UnitReport:
    """Every selected check of every case of ``unit``: compute, judge, record, shrink, reproduce.
    Where a device kind has no runner left (lost cards), nothing of the unit is recorded."""
    from .runner import CardLost, spec, stranded

    try:
        why = stranded((spec() or {}).get("runners") or {})
        return UnitReport(lost=why) if why else _run_unit(session, unit, nodeid)
    except CardLost as exc:
        return UnitReport(lost=str(exc))


def _run_unit(session: Session, unit, nodeid: str | None = None) -> UnitReport:
    from .table import BY_NAME

    report = UnitReport()
    if unit.skip or unit.op not in BY_NAME:
        report.skipped = unit.skip or f"{unit.op}: not run: not in the support table"
        return report
    entry = BY_NAME[unit.op]
    s = session.settings
    opts = check_options(session)
    checks = list(s.checks)
    if not entry.runnable:
        report.skipped = f"{entry.name}: no equivalent in the installed TVM: {entry.no_equivalent}"
        return report
    if "tensorrt" in checks:
        reason = tensorrt_skip_reason(session)
        if reason:
            checks.remove("tensorrt")
            if unit.index == 0 and (op_level_id(entry.name), "tensorrt") not in session.done:
                session.record(Record(op=entry.name, tvm_op=entry.tvm_op, check="tensorrt", outcome="skip",
                                      case_id=op_level_id(entry.name), reason=reason, nodeid=nodeid, backend=s.backend,
                                      reference=s.reference, worker=session.worker))
            report.skipped = reason
    cases = list(unit.cases)
    todo = {c.case_id: [k for k in checks if (c.case_id, k) not in session.done] for c in cases}
    held, computed = {}, {}
    t0 = time.perf_counter()
    with trace.span("known crashes", op=entry.name):
        elsewhere = _settle(session, entry, cases, todo, opts, computed, wait=False)
        later = _set_aside(session, entry, cases, todo, opts, held, elsewhere)
    computed.update(_compute(session, entry, cases, todo, opts))
    if any(later.values()):      # known crashes another process was confirming: its outcome now
        with trace.span("known crashes", op=entry.name, waited=True):
            _settle(session, entry, cases, later, opts, computed, wait=True)
            _set_aside(session, entry, cases, later, opts, held, set())
        computed.update(_compute(session, entry, cases, later, opts))
    elapsed = (time.perf_counter() - t0) / max(1, len(computed))
    with trace.span("judge", op=entry.name):
        _record_unit(session, entry, cases, checks, held, computed, opts, nodeid, elapsed, report)
    if report.ran and report.skipped and not report.unexpected:
        report.skipped = None
    return report


def _record_unit(session, entry, cases, checks, held, computed, opts, nodeid, elapsed, report) -> None:
    """Judge every computed pair of the unit, record it, and shrink and reproduce the unexpected."""
    failures = []
    for case in cases:
        for check in checks:
            key = (case.case_id, check)
            if key in held:
                e = held[key]
                judged = Judgement("xfail", f"[NOTRUN] known to crash (expectations {e.id}: {e.reason}); confirmed "
                                            f"on {session.confirmed[e.id]} in this run", e)
                session.record(make_record(session, entry, case, check, CheckResult("xfail"), judged, rule=None,
                                           nodeid=nodeid, duration_s=0.0))
                continue
            got = computed.get(key)
            if got is None:
                report.done_before += key in session.done
                continue   # done in an earlier (resumed) run
            judged, rec = _judge(session, entry, case, check, got, opts, nodeid, elapsed)
            report.ran += 1
            if judged.unexpected:
                report.unexpected.append(f"{case.describe()} {check}: {judged.outcome}: {judged.reason[:300]}")
                failures.append((case, check, judged, rec))
            else:
                e = judged.expectation
                if judged.outcome == "xfail" and e is not None and not e.reproducer and e.id not in session.reproduced:
                    session.reproduced.add(e.id)      # a known departure without one: the run writes one
                    if confirm.first_in_run(session, e.id):
                        rec.reproducer = _reproducer(session, entry, case, check, judged.outcome, judged.reason, opts)
                session.record(rec)
    _shrink_and_reproduce(session, entry, failures, opts)


def _judge(session, entry, case, check, got, opts, nodeid, elapsed):
    if hasattr(got, "result"):
        result, rule = got.result, got.rule
    else:   # the worker crashed or hung on this (case, check)
        result, rule = CheckResult("error", got.reason, error_kind=got.error_kind), None
    judged = judge(result.outcome, result.reason, Subject(op=entry.name, check=check, dtype=case.dtype,
                                                          attrs=case.attrs, rule=rule,
                                                          verdict=result.offload.verdict if result.offload else None,
                                                          case=case),
                   session.context(check, opts.cuda_reference), session.settings.expectations,
                   error_kind=result.error_kind)
    return judged, make_record(session, entry, case, check, result, judged, rule=rule, nodeid=nodeid,
                               duration_s=elapsed, device=getattr(got, "device", None))


def _reproducer(session: Session, entry, case, check, outcome, reason, opts) -> str | None:
    answer = session.isolator.call("harness.engine:write_reproducer", entry.name, case, check, outcome, reason,
                                   opts, session.settings.repro_dir)
    return answer.value if answer.ok else f"(not written: {answer.reason})"


def _shrink_and_reproduce(session: Session, entry, failures: list, opts: CheckOptions) -> None:
    """Record every unexpected result with a reproducer; the first failure of each check is shrunk
    first, and its smallest case is recorded too (``details.shrunk_from``)."""
    shrunk = set()
    for case, check, judged, rec in failures:
        if judged.outcome == "fail" and check not in shrunk:
            shrunk.add(check)
            smaller = _shrink(session, entry, case, check, opts)
            if smaller is not None:
                s_case, s_judged, s_result, s_rule = smaller
                s_rec = make_record(session, entry, s_case, check, s_result, s_judged, rule=s_rule,
                                    nodeid=rec.nodeid, duration_s=None)
                s_rec.details = {**s_rec.details, "shrunk_from": case.case_id}
                s_rec.reproducer = _reproducer(session, entry, s_case, check, s_judged.outcome, s_judged.reason,
                                               opts)
                session.record(s_rec)
        if judged.outcome in ("fail", "error"):
            rec.reproducer = _reproducer(session, entry, case, check, judged.outcome, judged.reason, opts)
        session.record(rec)


class _Departure(AssertionError):
    pass


def _shrink(session: Session, entry, case, check: str, opts: CheckOptions):
    """The smallest case Hypothesis finds that still departs the same way, or None.

    Hypothesis replays the op's cases under the run's seed; the plan's other cases are passed
    over unchecked (other units check them), so the failing case is reached where it was drawn,
    and only it and the smaller cases shrinking proposes are computed."""
    from hypothesis import given, settings
    from hypothesis import seed as hypothesis_seed

    from .table import cases as strategy

    s = session.settings
    planned = {c.case_id for u in session.units or () if u.op == entry.name for c in u.cases}
    state = {"seen": False, "n": 0, "t0": time.perf_counter(), "best": None}

    def departs(c) -> bool:
        if not state["seen"]:
            if c.case_id != case.case_id and c.case_id in planned:
                return False
            state["seen"] = c.case_id == case.case_id
        if c.case_id == case.case_id:
            return True
        if state["n"] >= SHRINK_CANDIDATES or time.perf_counter() - state["t0"] > SHRINK_SECONDS:
            return False
        state["n"] += 1
        got = _compute(session, entry, [c], {c.case_id: [check]}, opts).get((c.case_id, check))
        if got is None or not hasattr(got, "result"):
            return False
        judged = judge(got.result.outcome, got.result.reason,
                       Subject(op=entry.name, check=check, dtype=c.dtype, attrs=c.attrs, rule=got.rule,
                               verdict=got.result.offload.verdict if got.result.offload else None, case=c),
                       session.context(check, opts.cuda_reference), s.expectations, error_kind=got.result.error_kind)
        if judged.outcome != "fail":
            return False
        state["best"] = (c, judged, got.result, got.rule)
        return True

    def body(c):
        if departs(c):
            raise _Departure(c.case_id)

    test = settings(database=None)(given(c=strategy(entry))(body))
    if s.seed is not None:
        test = hypothesis_seed(s.seed)(test)
    try:
        test()
    except _Departure:
        pass
    except Exception:   # shrinking is a convenience: it must never cost the run
        return None
    return state["best"]
