"""Running one (operator, check) suite: Hypothesis generates cases, each is checked and recorded.

Outcomes per case: ``pass``; ``fail`` (unexpected departure: raised, so Hypothesis shrinks it to
the smallest failing case, which gets a reproducer); ``xfail``/``xpass`` (the case matches a known
departure of the expectations file: recorded, and the run goes on); ``skip`` with the exact
reason.  While Hypothesis shrinks, only the latest failing example is kept, so the results hold
each explored case once plus the minimal failing one.
"""
from __future__ import annotations

import time

import pytest
from hypothesis import given, note, settings

from . import checks, expectations as exp_mod
from .backends import get_backend
from .case import Case
from .plugin import RunState
from .results import Record
from .table import OpEntry

CACHE_SIZE = 48


class DepartureFound(AssertionError):
    """An unexpected departure; Hypothesis shrinks on it."""


def _case_run(state: RunState, entry: OpEntry, case: Case) -> checks.CaseRun:
    key = case.case_id
    cache = state.cache
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    run = checks.CaseRun(entry, case, trt_version=state.settings.trt_version,
                         implicit_batch=state.settings.implicit_batch)
    cache[key] = run
    while len(cache) > CACHE_SIZE:
        cache.popitem(last=False)
    return run


def _base_fields(state: RunState, entry: OpEntry, case: Case, check: str, nodeid: str) -> dict:
    from .versions import format_version

    return dict(op=entry.name, tvm_op=entry.tvm_op, check=check, case_id=case.case_id, dtype=case.dtype,
                input_shapes=[list(s) for s in case.shapes], attrs={**case.attrs, "_weights": [
                    [n, list(s)] for n, s in case.weights]} if case.weights else dict(case.attrs),
                trt_version=format_version(state.settings.trt_version), nodeid=nodeid,
                backend=state.settings.backend if check == "tensorrt" else "tvm-llvm",
                reference=state.settings.reference if check == "tensorrt" else (
                    "numpy-oracle" if check == "reference" else "tvm-llvm (original)"))


def tensorrt_skip_reason(state: RunState) -> str | None:
    for name in (state.settings.backend, state.settings.reference):
        reason = get_backend(name).unavailable_reason()
        if reason:
            return f"backend {name} cannot run here: {reason}"
    return None


def compute(state: RunState, entry: OpEntry, case: Case, check: str):
    """One check of one case, in this process: (CaseRun, CheckResult, rule id of the decision)."""
    tensorrt_check = None
    if check == "tensorrt":
        from .execution import check_tensorrt

        tensorrt_check = lambda r: check_tensorrt(r, state)  # noqa: E731
    run = _case_run(state, entry, case)
    result = checks.run_check(run, check, tensorrt_check)
    try:
        rule = run.main_rule()
    except (checks.TVMFailure, checks.EnvironmentProblem):
        rule = None
    return run, result, rule


def run_op_check(state: RunState, entry: OpEntry, check: str, nodeid: str) -> None:
    """The body of a generated test: one op, one check, many cases."""
    if not entry.runnable:
        pytest.skip(f"{entry.name}: no equivalent in the installed TVM: {entry.no_equivalent}")
    if check == "tensorrt":
        reason = tensorrt_skip_reason(state)
        if reason:
            if (f"{entry.name}-*", check) not in state.done:   # --trt-resume: recorded once
                state.record(Record(op=entry.name, tvm_op=entry.tvm_op, check=check, outcome="skip",
                                    case_id=f"{entry.name}-*", reason=reason, nodeid=nodeid,
                                    backend=state.settings.backend, reference=state.settings.reference))
            pytest.skip(reason)

    track = {"failed": False, "pending": None, "xpass": [], "errors": [], "skips": [], "cases": 0}

    def one(case: Case) -> None:
        note(f"case {case.case_id}: {case.describe()}")
        if (case.case_id, check) in state.done:
            return
        t0 = time.perf_counter()
        isolator = getattr(state, "isolator", None)
        if isolator is not None:
            run = None
            answer = isolator.check(entry, case, check)
            if answer.error_kind:
                fields = _base_fields(state, entry, case, check, nodeid)
                rec = Record(outcome="error", error_kind=answer.error_kind, reason=answer.reason,
                             duration_s=time.perf_counter() - t0, **fields)
                note(f"{answer.error_kind}: {answer.reason}")
                track["errors"].append(f"{case.describe()}: {answer.error_kind}: {answer.reason}")
                state.record(rec)
                return
            result, rule = answer.result, answer.rule
        else:
            run, result, rule = compute(state, entry, case, check)
        fields = _base_fields(state, entry, case, check, nodeid)
        fields.update(result.fields)
        outcome, reason = result.outcome, result.reason
        expected = exp_mod.find(state.settings.expectations, op=entry.name, check=check, dtype=case.dtype,
                                attrs=case.attrs, rule=rule)
        if expected is not None and expected.verdict and check == "offload" and outcome == "fail":
            if fields.get("offload_verdict") != expected.verdict:
                expected = None    # a different departure than the one known: it must fail
        if expected is not None and outcome == "fail":
            outcome, reason = "xfail", f"known departure (expectations #{expected.index}): {expected.reason} | {reason}"
        elif expected is not None and outcome == "pass":
            outcome, reason = "xpass", f"expected to fail (expectations #{expected.index}: {expected.reason}) but passed"
        rec = Record(outcome=outcome, reason=reason, duration_s=time.perf_counter() - t0, **fields)
        if outcome == "fail":
            note(reason)
            track["failed"] = True
            track["pending"] = (rec, run, case)
            raise DepartureFound(f"{entry.name} {check}: {reason}\n  case: {case.describe()}")
        if track["failed"]:
            return    # shrinking: passing examples are not recorded
        if outcome == "xpass" and expected.strict:
            track["xpass"].append(f"{case.describe()}: {reason}")
        track["cases"] += 1
        if outcome == "skip":
            track["skips"].append(reason)
        state.record(rec)

    test = settings()(given(case=entry.family.strategy(entry.name))(one))
    if state.settings.seed is not None:
        from hypothesis import seed as hypothesis_seed

        test = hypothesis_seed(state.settings.seed)(test)
    try:
        test()
    except DepartureFound:
        rec, run, case = track["pending"]
        if run is None:   # isolated: the worker, which holds the case's builds, writes it
            rec.reproducer = state.isolator.reproducer(entry, case, rec)
        else:
            rec.reproducer = _reproducer(state, run, rec)
        state.record(rec)
        raise
    if track["errors"]:
        pytest.fail(f"{entry.name} {check}: {len(track['errors'])} case(s) crashed or timed out (recorded as "
                    f"errors; the run went on). First: {track['errors'][0]}", pytrace=False)
    if track["xpass"]:
        pytest.fail(f"XPASS(strict) {entry.name} {check}: {len(track['xpass'])} case(s) no longer depart; "
                    f"update the expectations file. First: {track['xpass'][0]}", pytrace=False)
    if track["skips"] and len(track["skips"]) == track["cases"]:
        pytest.skip(track["skips"][0])   # e.g. a TVM without the TensorRT partitioner


def _reproducer(state: RunState, run: checks.CaseRun, rec: Record) -> str | None:
    from . import repro

    try:
        oracle = run.oracle
    except Exception:
        oracle = None
    try:
        return repro.write(state.settings.repro_dir, case=run.case, check=rec.check, outcome=rec.outcome,
                           reason=rec.reason, program=run.program, oracle=oracle,
                           tolerance=run.entry.tolerance(run.case.dtype),
                           expected_offload=[{"op": op, **d.to_json()} for op, d in run.decisions()])
    except Exception as exc:  # a reproducer that cannot be written must not hide the failure
        return f"(not written: {type(exc).__name__}: {exc})"
