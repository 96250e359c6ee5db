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
from dataclasses import asdict, dataclass, field

from .reader import Run
from .records import Record, Timing

BAD = ("fail", "error")
GOOD = ("pass", "xpass")

#: Environment keys that make timings incomparable / case sets differ / are merely noted.
ENV_HARDWARE = ("gpu", "gpu_compute_version", "hostname", "machine", "platform", "cuda_available")
ENV_CASES = ("hypothesis_profile", "hypothesis_seed", "harness_version", "backend", "reference")
ENV_COMPARED = ("tvm_version", "trt_version", "tensorrt_version")


@dataclass
class Finding:
    """One difference between baseline and current; ``regression`` ones fail the gate."""

    kind: str  # new-failure | fixed | offload-change | accuracy | performance | op-missing | aggregate
    op: str
    detail: str
    regression: bool
    case_id: str | None = None
    check: str | None = None
    data: dict = field(default_factory=dict)


@dataclass
class Verdict:
    baseline: str
    current: str
    findings: list[Finding]
    env_differences: list[dict]
    notes: list[str]
    matched: int

    @property
    def regressions(self) -> list[Finding]:
        return [f for f in self.findings if f.regression]

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)

    def counts(self) -> dict[str, int]:
        return dict(Counter(f.kind for f in self.findings))

    def to_json(self) -> dict:
        return {
            "baseline": self.baseline,
            "current": self.current,
            "regressed": self.regressed,
            "matched_cases": self.matched,
            "counts": self.counts(),
            "env_differences": self.env_differences,
            "notes": self.notes,
            "findings": [asdict(f) for f in self.findings],
        }

    def to_text(self, limit: int = 50) -> str:
        status = "REGRESSION" if self.regressed else "OK"
        lines = [f"gate: {status}: {self.current} vs baseline {self.baseline} ({self.matched} matched checks)"]
        for d in self.env_differences:
            lines.append(f"  env differs: {d['key']}: {d['baseline']!r} -> {d['current']!r} ({d['effect']})")
        lines.extend(f"  note: {n}" for n in self.notes)
        for title, regression in (("regressions", True), ("other changes", False)):
            group = [f for f in self.findings if f.regression is regression]
            if not group:
                continue
            lines.append(f"{title} ({len(group)}):")
            for f in group[:limit]:
                where = f.op + (f" [{f.case_id}]" if f.case_id else "") + (f" {f.check}" if f.check else "")
                lines.append(f"  {f.kind:14} {where}: {f.detail}")
            if len(group) > limit:
                lines.append(f"  ... and {len(group) - limit} more (see --json)")
        return "\n".join(lines)


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

    def compare(self, baseline: Run, current: Run) -> Verdict:
        env_diffs, notes = _env_differences(baseline.env, current.env)
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
        labels = [baseline.label, current.label]
        if labels[0] == labels[1] and baseline.run_id != current.run_id:
            labels = [f"{r.label} [{r.run_id[:8]}]" for r in (baseline, current)]
        return Verdict(labels[0], labels[1], findings, env_diffs, notes, matched)

    def _case(self, b: Record, c: Record, gate_perf: bool) -> list[Finding]:
        out = []
        ident = dict(op=c.op, case_id=c.case_id, check=c.check)
        bo, co = b.outcome, c.outcome
        if co in BAD and bo not in BAD and bo != "skip":
            why = f": {c.reason}" if c.reason else ""
            out.append(Finding("new-failure", detail=f"{bo} -> {co}{why}"[:300], regression=True, **ident))
        elif bo in BAD and co in GOOD:
            out.append(Finding("fixed", detail=f"{bo} -> {co}", regression=False, **ident))
        if c.check == "offload":
            out.extend(self._offload(b, c, ident))
        acc = self._accuracy(b, c)
        if acc:
            out.append(Finding("accuracy", detail=acc[0], regression=True, data=acc[1], **ident))
        for detail, data, counts in self._timings(b.timings, c.timings):
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
        return [Finding("offload-change", detail=detail, regression=bv == "match" and cv != "match",
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


def _env_differences(be: dict, ce: dict) -> tuple[list[dict], list[str]]:
    diffs, notes = [], []
    for key in sorted(set(be) | set(ce)):
        b, c = be.get(key), ce.get(key)
        if b == c:
            continue
        if key in ENV_HARDWARE:
            effect = "timings not comparable"
        elif key in ENV_CASES:
            effect = "cases or checks may differ"
        elif key in ENV_COMPARED:
            effect = "the versions under comparison"
        else:
            effect = "noted"
        diffs.append({"key": key, "baseline": b, "current": c, "effect": effect})
    if any(d["effect"] == "cases or checks may differ" for d in diffs):
        notes.append("the runs used different seeds, profiles, harness or backends: per-op aggregates are compared where case ids differ")
    return diffs, notes

