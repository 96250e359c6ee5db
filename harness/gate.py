"""The regression gate: compare a current run against a baseline run.

Cases are matched by (op, case_id, check).  Where an op's case ids differ between the runs (a
different Hypothesis seed or profile), its per-op aggregates are compared instead.  Timings are
judged against the noise both runs measured: a slowdown counts only when it exceeds both a
minimum percentage and ``noise_k`` times the combined IQR (or stddev) of the two runs.  The
figure compared is the device time (CUPTI) by default, the host latency on request; a timing
taken while the GPU was shared, or without device time where device time is asked, is reported
but never fails the gate.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from .errors import InputError
from .reader import Run
from .records import OP_LEVEL, Record, Timing
from .verdict import Finding, Verdict

__all__ = ["Gate", "Finding", "Verdict", "PlanMismatch", "plan_pairs"]

BAD = ("fail", "error")
GOOD = ("pass", "xpass")

#: Environment keys that make timings incomparable / case sets differ / are merely noted.
ENV_HARDWARE = ("gpu", "gpu_compute_version", "hostname", "machine", "platform", "cuda_available")
ENV_CASES = ("hypothesis_profile", "hypothesis_seed", "hypothesis", "harness_version", "backend", "reference")
ENV_COMPARED = ("tvm_version", "trt_version", "tensorrt_version", "implicit_batch")
#: Keys that only change how cases are drawn: no matter where both runs ran the same plan.
ENV_DRAW = ("hypothesis_profile", "hypothesis_seed", "hypothesis")


def _noise(stats) -> float:
    for v in (stats.iqr_s, stats.stddev_s):
        if v is not None and math.isfinite(v) and v > 0:
            return v
    return 0.0


def _finite(x) -> bool:
    return x is not None and math.isfinite(x)


@dataclass(frozen=True)
class Gate:
    """Thresholds of the gate.

    max_slowdown: minimum relative slowdown of a median to count (0.10 = 10 %).
    noise_k: the slowdown must also exceed noise_k * sqrt(noise_base^2 + noise_cur^2).
    acc_factor: max_abs_err must grow by at least this factor...
    acc_budget: ...and by more than acc_budget * (atol + rtol) of the case's tolerance.
    max_rate_drop: per-op pass-rate drop (0..1) flagged when case ids differ.
    timing: "device" (default: the sum of GPU kernel time per call) or "latency" (host-inclusive).
    """

    max_slowdown: float = 0.10
    noise_k: float = 3.0
    acc_factor: float = 2.0
    acc_budget: float = 0.5
    max_rate_drop: float = 0.05
    timing: str = "device"

    allow_different_cases: bool = False

    def compare(self, baseline: Run, current: Run) -> Verdict:
        """The verdict of ``current`` against ``baseline``.  Runs of different case lists (plans)
        raise :class:`PlanMismatch` unless ``allow_different_cases``; then the (case, check) pairs
        only one run has are listed apart from the findings."""
        plans, same = _plans(baseline, current)
        if not same and not self.allow_different_cases:
            raise PlanMismatch(f"the runs ran different cases: {plans}; compare like with like (run the baseline's "
                               "cases again with --trt-plan BASELINE) or pass --allow-different-cases")
        env_diffs, notes = _env_differences(baseline.env, current.env, same_plan=same)
        hardware_differs = any(d["effect"].startswith("timings") for d in env_diffs)
        if hardware_differs:
            notes.append("hardware differs: performance changes are reported but do not fail the gate")
        base, cur = baseline.index(), current.index()
        findings: list[Finding] = []
        matched = 0
        for key, b in base.items():
            c = cur.get(key)
            if c is None:
                continue
            matched += 1
            findings.extend(self._case(b, c, gate_perf=not hardware_differs))
        findings.extend(self._aggregates(baseline, current, base, cur))
        order = {k: i for i, k in enumerate(("regression", "improvement", "expected", "other"))}
        findings.sort(key=lambda f: order[f.category])   # stable: within a kind, the runs' order
        labels = [baseline.label, current.label]
        if labels[0] == labels[1] and baseline.run_id != current.run_id:
            labels = [f"{r.label} [{r.run_id[:8]}]" for r in (baseline, current)]
        reasons = {e.id: e.reason + (f" [{e.where}]" if e.where else "")
                   for run in (baseline, current) for e in run.expectations.values()}
        pairs = lambda keys: sorted(k for k in keys if not k[1].endswith(OP_LEVEL))  # noqa: E731
        return Verdict(labels[0], labels[1], findings, env_diffs, notes, matched,
                       missing=pairs(base.keys() - cur.keys()), extra=pairs(cur.keys() - base.keys()),
                       expectations=reasons, plans=plans)

    def _case(self, b: Record, c: Record, gate_perf: bool) -> list[Finding]:
        out = []
        ident = dict(op=c.op, case_id=c.case_id, check=c.check)
        bo, co = b.outcome, c.outcome
        if co in BAD and bo not in BAD and bo != "skip":
            why = f": {c.reason}" if c.reason else ""
            out.append(Finding("new-failure", detail=f"{bo} -> {co}{why}"[:300], regression=True, **ident))
        elif bo in BAD and co in GOOD:
            out.append(Finding("fixed", detail=f"{bo} -> {co}", regression=False, category="improvement", **ident))
        if c.check == "offload":
            out.extend(self._offload(b, c, ident))
        out = _explained(b, c, out, ident)
        acc = self._accuracy(b, c)
        if acc:
            out.append(Finding("accuracy", detail=acc[0], regression=True, data=acc[1], **ident))
        for detail, data, counts in self._timings(b.timings, c.timings):
            if data["slowdown"] < 0:
                out.append(Finding("performance", detail=detail, regression=False, category="improvement", data=data,
                                   **ident))
            else:
                out.append(Finding("performance", detail=detail, regression=gate_perf and counts, data=data, **ident))
        return out

    @staticmethod
    def _offload(b: Record, c: Record, ident: dict) -> list[Finding]:
        if b.offload is None or c.offload is None:
            return []
        was, now = b.offload.offloaded, c.offload.offloaded
        bv, cv = b.offload.verdict, c.offload.verdict
        if was == now:
            if bv == "match" and cv != "match":
                return [Finding("offload-change", detail=f"verdict match -> {cv}", regression=True, **ident)]
            return []
        direction = "no longer offloaded" if was else "now offloaded"
        detail = f"{direction} (verdict {bv} -> {cv})"
        regression = bv == "match" and cv != "match"
        return [Finding("offload-change", detail=detail, regression=regression,
                        category="regression" if regression else "improvement" if cv == "match" else "other",
                        data={"baseline": b.offload.actual, "current": c.offload.actual}, **ident)]

    def _accuracy(self, b: Record, c: Record) -> tuple[str, dict] | None:
        eb, ec = b.max_abs_err, c.max_abs_err
        if eb is None or ec is None:
            return None
        if not math.isfinite(ec):
            return (f"max_abs_err {eb:g} -> {ec:g}", {"baseline": eb, "current": ec}) if math.isfinite(eb) else None
        if not math.isfinite(eb):
            return None
        tol = c.tolerance or b.tolerance
        allowed = self.acc_budget * ((tol.atol + tol.rtol) if tol else 0.0)
        if ec > eb * self.acc_factor and ec - eb > allowed:
            data = {"baseline": eb, "current": ec, "allowed_growth": allowed,
                    "tolerance": {"atol": tol.atol, "rtol": tol.rtol} if tol else None}
            return f"max_abs_err {eb:.3g} -> {ec:.3g} (x{ec / eb if eb else math.inf:.3g}, budget {allowed:.3g})", data
        return None

    def _figure(self, t: Timing):
        """(median, stats, note): the compared figure; the note says why it cannot fail the gate."""
        if self.timing == "device":
            if t.device is not None:
                return t.device.median_s, t.device, ""
            return (t.latency.median_s if t.latency else None), t.latency, "no device time (latency compared)"
        return self._latency(t)

    @staticmethod
    def _latency(t: Timing):
        return (t.latency.median_s if t.latency else None), t.latency, ""

    def _timings(self, tb: dict | None, tc: dict | None) -> list[tuple[str, dict, bool]]:
        out = []
        if not tb or not tc:
            return out
        for backend, b in tb.items():
            c = tc.get(backend)
            if c is None:
                continue
            (mb, sb, nb), (mc, sc, nc) = self._figure(b), self._figure(c)
            figure = self.timing
            if nb or nc:   # a side without device time: the latency of both, never device against latency
                (mb, sb, _), (mc, sc, _), figure = self._latency(b), self._latency(c), "latency"
            if not _finite(mb) or not _finite(mc) or mb <= 0:
                continue
            noise = math.hypot(_noise(sb), _noise(sc))
            slowdown = (mc - mb) / mb
            if slowdown > self.max_slowdown and mc - mb > self.noise_k * noise:
                shared = [r.exclusive_note or "GPU shared" for r in (b, c) if r.exclusive is False]
                why = "; ".join(dict.fromkeys([n for n in (nb, nc) if n] + shared))
                counts = not why
                data = {"backend": backend, "figure": figure, "baseline_s": mb, "current_s": mc,
                        "slowdown": slowdown, "noise_s": noise}
                out.append((f"{backend} {figure} median {mb:.3g}s -> {mc:.3g}s (+{slowdown:.0%}, noise "
                            f"{noise:.2g}s)" + (f" [not gated: {why}]" if why else ""), data, counts))
            elif mc > 0 and (mb - mc) / mc > self.max_slowdown and mb - mc > self.noise_k * noise:   # the mirror
                data = {"backend": backend, "figure": figure, "baseline_s": mb, "current_s": mc,
                        "slowdown": slowdown, "noise_s": noise}
                out.append((f"{backend} {figure} median {mb:.3g}s -> {mc:.3g}s ({slowdown:.0%}, noise {noise:.2g}s)",
                            data, False))
        return out

    def _aggregates(self, baseline: Run, current: Run, base: dict, cur: dict) -> list[Finding]:
        out = []
        bops, cops = baseline.per_op(), current.per_op()
        bcases = _cases_by_op(base)
        ccases = _cases_by_op(cur)
        for op in bops:
            if op not in cops:
                out.append(Finding("op-missing", op, "op has records in the baseline but none now", True))
                continue
            if bcases[op] <= ccases[op]:
                continue  # every baseline case was matched and compared one by one
            for check, bc in bops[op].items():
                cc = cops[op].get(check, Counter())
                out.extend(self._rates(op, check, bc, cc))
            out.extend(self._offload_rate(op, baseline, current))
        return out

    def _rates(self, op: str, check: str, bc: Counter, cc: Counter) -> list[Finding]:
        rb, rc = _pass_rate(bc), _pass_rate(cc)
        if rb is None or rc is None:
            return []
        data = {"baseline": dict(bc), "current": dict(cc), "baseline_rate": rb, "current_rate": rc}
        detail = f"pass rate {rb:.0%} -> {rc:.0%} (case ids differ; {sum(bc.values())} vs {sum(cc.values())} cases)"
        if rb - rc > self.max_rate_drop or (not (bc["fail"] + bc["error"]) and cc["fail"] + cc["error"]):
            return [Finding("aggregate", op, detail, True, check=check, data=data)]
        if rc - rb > self.max_rate_drop:
            return [Finding("aggregate", op, detail, False, check=check, data=data)]
        return []

    def _offload_rate(self, op: str, baseline: Run, current: Run) -> list[Finding]:
        rb, rc = _offload_rate(baseline, op), _offload_rate(current, op)
        if rb is None or rc is None or abs(rb - rc) <= self.max_rate_drop:
            return []
        detail = f"offload rate {rb:.0%} -> {rc:.0%} (case ids differ)"
        return [Finding("offload-change", op, detail, rc < rb, check="offload", data={"baseline": rb, "current": rc})]


class PlanMismatch(InputError):
    """Two runs of different case lists, compared without --allow-different-cases."""


def _plans(baseline: Run, current: Run) -> tuple[str, bool]:
    """(one line on how the runs' case lists compare, whether they are the same plan)."""
    from .replay import case_keys, run_plan

    hb, hc = run_plan(baseline), run_plan(current)
    if hb == hc:
        return f"the same plan ({hb})", True
    kb, kc = case_keys(baseline), case_keys(current)
    return (f"plan {hb} ({len(kb)} cases) vs {hc} ({len(kc)} cases): {len(kb - kc)} cases only in the baseline, "
            f"{len(kc - kb)} only in the current run"), False


def _explained(b: Record, c: Record, found: list[Finding], ident: dict) -> list[Finding]:
    """A change of verdict that an expectation explains is an expected change, not a regression:
    the current run judged the case by an expectation valid where it ran (xfail), or the baseline
    did and the expectation does not apply where the current run ran (now a plain pass)."""
    if c.outcome == "xfail" and c.expectation:
        eid, how = c.expectation, "known departure in the current run"
    elif b.outcome == "xfail" and b.expectation and c.outcome == "pass":
        eid, how = b.expectation, "the baseline's known departure does not apply in the current run"
    else:
        return found
    verdicts = [f for f in found if f.kind in ("new-failure", "fixed", "offload-change")]
    if not verdicts and (b.outcome == c.outcome and b.expectation == c.expectation):
        return found
    change = f"{b.outcome} -> {c.outcome}"
    if b.offload is not None and c.offload is not None and b.offload.verdict != c.offload.verdict:
        change += f" ({b.offload.verdict} -> {c.offload.verdict})"
    elif b.outcome == c.outcome:
        change += f" (expectation {b.expectation or 'none'} -> {c.expectation or 'none'})"
    rest = [f for f in found if f not in verdicts]
    detail = "; ".join([change, how] + [f.detail for f in verdicts if f.kind == "offload-change"])
    return rest + [Finding("expected-change", detail=detail, regression=False, category="expected", expectation=eid,
                           data={"change": change}, **ident)]


def _cases_by_op(index: dict) -> dict[str, set]:
    out: dict[str, set] = {}
    for op, case_id, check in index:
        out.setdefault(op, set()).add((case_id, check))
    return out


def _pass_rate(c: Counter) -> float | None:
    ran = sum(c.values()) - c["skip"]
    return (c["pass"] + c["xpass"] + c["xfail"]) / ran if ran else None


def _offload_rate(run: Run, op: str) -> float | None:
    vals = [r.offload.offloaded for r in run.records if r.op == op and r.check == "offload" and r.offload]
    return sum(vals) / len(vals) if vals else None


#: How much an environment difference matters, most first: the gate lists them in this order.
_EFFECTS = ("cases or checks may differ", "timings not comparable", "the versions under comparison", "noted",
            "noted: both ran the same plan")


def _env_differences(be: dict, ce: dict, same_plan: bool = True) -> tuple[list[dict], list[str]]:
    """Keys whose values differ, those that differ in more than the system under test (TVM and
    TensorRT versions) first; with the same plan, what only changes how cases are drawn is noted."""
    diffs, notes = [], []
    for key in sorted(set(be) | set(ce)):
        b, c = be.get(key), ce.get(key)
        if b == c or key in ("plan", "plan_cases", "plan_source"):
            continue     # the plans are compared on their own (Verdict.plans)
        if key in ENV_HARDWARE:
            effect = "timings not comparable"
        elif key in ENV_CASES and not (same_plan and key in ENV_DRAW):
            effect = "cases or checks may differ"
        elif key in ENV_DRAW:
            effect = "noted: both ran the same plan"
        elif key in ENV_COMPARED:
            effect = "the versions under comparison"
        else:
            effect = "noted"
        diffs.append({"key": key, "baseline": b, "current": c, "effect": effect})
    diffs.sort(key=lambda d: _EFFECTS.index(d["effect"]))
    beyond = [d["key"] for d in diffs if d["effect"] in _EFFECTS[:2]]
    if beyond:
        notes.insert(0, f"the environments differ in more than the system under test: {', '.join(beyond)}")
    if any(d["effect"] == "cases or checks may differ" for d in diffs):
        notes.append("the runs used different seeds, profiles, harness or backends: per-op aggregates are compared where case ids differ")
    return diffs, notes
