"""The report's first screen: the verdict, and exactly what it covers.

"OK" covers only what ran: a check that did not run on the machine (op-level skip records,
:func:`harness.records.is_op_level`) is named in the banner with the recorded reason and what
makes it run.  Counts add up: cases, records per check and checks not run, each named as such.
The gate's verdict leads with regressions, then improvements, then expected changes grouped by
expectation (:class:`harness.verdict.Verdict`).
"""
from __future__ import annotations

from collections import Counter

from ..reader import Run, summary_line
from ..records import CHECKS, OUTCOMES, is_op_level
from .view import NEW

MAX_FINDINGS = 200


def _enable(backend: str | None, reason: str) -> str:
    """What makes ``backend`` run, unless the recorded reason says it already."""
    if not backend:
        return ""
    try:
        from ..backends import get_backend

        hint = get_backend(backend).enable
    except Exception:   # noqa: BLE001 - a backend this machine does not know: the reason is all there is
        return ""
    return "" if not hint or hint in reason else hint


def not_run(run: Run) -> list[dict]:
    """The checks that did not run for whole ops, in check order, with why and how to run them."""
    out = []
    for check, d in sorted(run.not_run().items(), key=lambda kv: CHECKS.index(kv[0])):
        out.append({"check": check, "ops": len(d["ops"]), "reason": d["reason"],
                    "enable": _enable(d["backend"], d["reason"])})
    return out


def run_status(run: Run) -> dict:
    cases = [r for r in run.records if not is_op_level(r)]
    c = Counter(r.outcome for r in cases)
    by_check = run.outcomes_by_check()
    checks = [{"check": k, "n": sum(by_check[k].values()),
               "outcomes": [(o, by_check[k][o]) for o in OUTCOMES if by_check[k][o]]}
              for k in CHECKS if k in by_check]
    missing = not_run(run)
    return {"label": run.label, "counts": c, "new": sum(c[o] for o in NEW), "known": c["xfail"],
            "cases": run.n_cases(), "ops": len(run.ops()), "summary": summary_line(run),
            "outcomes": [(o, c[o]) for o in OUTCOMES if c[o]], "checks": checks, "not_run": missing,
            "ran": [k["check"] for k in checks if any(o != "skip" for o, _ in k["outcomes"])]}


def headline(statuses: list[dict], verdict, known_groups: int) -> dict:
    """The one line at the top: the gate's verdict when comparing, else the current run's; it
    names the checks it covers when some did not run."""
    cur = statuses[-1]
    c = cur["counts"]
    parts = [f"{o} {c[o]}" for o in NEW if c[o]]
    partial = bool(cur["not_run"])
    covers = f" in {', '.join(cur['ran']) or 'no check'}" if partial else ""
    new = (f"{cur['new']} new departure{'s' if cur['new'] != 1 else ''} ({', '.join(parts)})" if cur["new"]
           else "no new departures") + covers
    known = f"{cur['known']} known in {known_groups} group{'s' if known_groups != 1 else ''}"
    absent = f"; not run here: {', '.join(n['check'] for n in cur['not_run'])}" if partial else ""
    if verdict is not None:
        n = len(verdict.regressions)
        e = len(verdict.of("expected"))
        bad = verdict.regressed or bool(cur["new"])
        status = "REGRESSION" if verdict.regressed else ("NEW DEPARTURES" if cur["new"] else "OK")
        rest = (f"{n} regression{'s' if n != 1 else ''} against the baseline ({e} expected change{'s' if e != 1 else ''})"
                f", {new} in {cur['label']}; {known}{absent}")
    else:
        bad = bool(cur["new"])
        status = "NEW DEPARTURES" if bad else "OK"
        rest = f"{new} in {cur['label']}; {known}{absent}"
    return {"bad": bad, "partial": partial and not bad, "status": status, "rest": rest, "text": f"{status}: {rest}"}


def gate_view(verdict) -> dict | None:
    if verdict is None:
        return None
    key = lambda f: (f.kind, f.op, f.case_id or "", f.check or "")  # noqa: E731
    kinds = {c: sorted(verdict.of(c), key=key) for c in ("regression", "improvement", "other")}
    return {"v": verdict, "counts": sorted(verdict.counts().items()),
            "regressions": kinds["regression"][:MAX_FINDINGS], "improvements": kinds["improvement"][:MAX_FINDINGS],
            "others": kinds["other"][:MAX_FINDINGS], "expected": verdict.expected_groups(),
            "n_expected": len(verdict.of("expected")),
            "hidden": sum(max(0, len(v) - MAX_FINDINGS) for v in kinds.values()),
            "missing": verdict.missing[:MAX_FINDINGS], "extra": verdict.extra[:MAX_FINDINGS]}
