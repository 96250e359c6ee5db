"""The gate's verdict: its findings, sorted into four kinds, and how it is told (text, JSON).

A *regression* is a change for the worse that no expectation explains (a new failure, a lost
offload, an XPASS that became a fail, accuracy or speed beyond the noise); only regressions fail
the gate.  An *improvement* is a change for the better.  An *expected change* is a change of
verdict that an expectation explains: the current run judged the case by an expectation valid for
its own version, backend and device (or the baseline did, and in the current run it no longer
applies); expected changes are grouped by expectation.  *Other* changes are reported last.
Pairs that only one run has are listed apart (``missing`` / ``extra``).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

#: The order in which the gate tells its findings.
CATEGORIES = ("regression", "improvement", "expected", "other")
TITLES = {"regression": "regressions", "improvement": "improvements", "expected": "expected changes",
          "other": "other changes"}
LIMIT = 50


@dataclass
class Finding:
    """One difference between baseline and current; ``regression`` ones fail the gate."""

    kind: str  # new-failure | fixed | offload-change | outcome-change | accuracy | performance | op-missing | aggregate
    op: str
    detail: str
    regression: bool
    case_id: str | None = None
    check: str | None = None
    data: dict = field(default_factory=dict)
    category: str = ""            # regression | improvement | expected | other (default: from ``regression``)
    expectation: str | None = None  # the expectation that explains an expected change

    def __post_init__(self) -> None:
        if not self.category:
            self.category = "regression" if self.regression else "other"
        self.regression = self.category == "regression"

    def where(self) -> str:
        return self.op + (f" [{self.case_id}]" if self.case_id else "") + (f" {self.check}" if self.check else "")


@dataclass
class Verdict:
    baseline: str
    current: str
    findings: list[Finding]
    env_differences: list[dict]
    notes: list[str]
    matched: int
    missing: list[tuple] = field(default_factory=list)   # (op, case_id, check) only in the baseline
    extra: list[tuple] = field(default_factory=list)     # (op, case_id, check) only in the current run
    expectations: dict = field(default_factory=dict)     # id -> reason (with where it applies)
    plans: str = ""                                      # one line: how the two runs' case lists compare

    @property
    def regressions(self) -> list[Finding]:
        return [f for f in self.findings if f.regression]

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)

    def of(self, category: str) -> list[Finding]:
        return [f for f in self.findings if f.category == category]

    def counts(self) -> dict[str, int]:
        return dict(Counter(f.kind for f in self.findings))

    def expected_groups(self) -> list[dict]:
        """One row per expectation: how many changes it explains, per (op, check), the verdict
        changes it explains, and its reason; the largest group first."""
        groups: dict[str, dict] = {}
        for f in self.of("expected"):
            eid = f.expectation or "(no id)"
            g = groups.setdefault(eid, {"id": eid, "n": 0, "cells": Counter(), "changes": Counter(),
                                        "reason": self.expectations.get(eid, "")})
            g["n"] += 1
            g["cells"][(f.op, f.check or "")] += 1
            g["changes"][f.data.get("change", f.detail)] += 1
        out = sorted(groups.values(), key=lambda g: (-g["n"], g["id"]))
        for g in out:
            g["cells"] = [{"op": op, "check": check, "n": n} for (op, check), n in sorted(g["cells"].items())]
            g["changes"] = [{"change": c, "n": n} for c, n in g["changes"].most_common()]
        return out

    def headline(self) -> str:
        status = "REGRESSION" if self.regressed else "OK"
        n = {c: len(self.of(c)) for c in CATEGORIES}
        parts = [f"{n['regression']} regression{'s' if n['regression'] != 1 else ''}",
                 f"{n['improvement']} improvement{'s' if n['improvement'] != 1 else ''}",
                 f"{n['expected']} expected change{'s' if n['expected'] != 1 else ''} in "
                 f"{len(self.expected_groups())} group{'s' if len(self.expected_groups()) != 1 else ''}"]
        if n["other"]:
            parts.append(f"{n['other']} other")
        if self.missing or self.extra:
            parts.append(f"{len(self.missing)} missing and {len(self.extra)} extra (case, check) pairs")
        return (f"gate: {status}: {self.current} vs baseline {self.baseline} ({self.matched} matched checks): "
                + ", ".join(parts))

    def to_json(self) -> dict:
        return {
            "baseline": self.baseline,
            "current": self.current,
            "regressed": self.regressed,
            "matched_cases": self.matched,
            "counts": self.counts(),
            "categories": {c: len(self.of(c)) for c in CATEGORIES},
            "expected_groups": self.expected_groups(),
            "plans": self.plans,
            "missing": [list(p) for p in self.missing],
            "extra": [list(p) for p in self.extra],
            "env_differences": self.env_differences,
            "notes": self.notes,
            "findings": [asdict(f) for f in self.findings],
        }

    def to_text(self, limit: int | None = LIMIT) -> str:
        """Regressions, then improvements, then expected changes (one row per expectation), then
        other changes and the pairs only one run has; ``limit`` rows of each (None: all)."""
        lines = [self.headline()]
        if self.plans:
            lines.append(f"  cases: {self.plans}")
        for d in self.env_differences:
            lines.append(f"  env differs: {d['key']}: {d['baseline']!r} -> {d['current']!r} ({d['effect']})")
        lines.extend(f"  note: {n}" for n in self.notes)
        for category in CATEGORIES:
            if category == "expected":
                lines.extend(_expected_text(self.expected_groups(), limit))
                continue
            group = self.of(category)
            if group:
                lines.append(f"{TITLES[category]} ({len(group)}):")
                lines.extend(f"  {f.kind:14} {f.where()}: {f.detail}" for f in group[:limit])
                lines.extend(_more(len(group), limit))
        for title, pairs in (("missing: only in the baseline", self.missing), ("extra: only in the current run",
                                                                                self.extra)):
            if pairs:
                lines.append(f"{title} ({len(pairs)} (case, check) pairs):")
                lines.extend(f"  {op} [{cid}] {check}" for op, cid, check in pairs[:limit])
                lines.extend(_more(len(pairs), limit))
        return "\n".join(lines)


def _more(n: int, limit: int | None) -> list[str]:
    return [f"  ... and {n - limit} more (--all shows every row)"] if limit is not None and n > limit else []


def _expected_text(groups: list[dict], limit: int | None) -> list[str]:
    if not groups:
        return []
    n = sum(g["n"] for g in groups)
    lines = [f"expected changes ({n}, in {len(groups)} group{'s' if len(groups) != 1 else ''} by expectation):"]
    for g in groups[:limit]:
        cells = ", ".join(f"{c['op']} {c['check']} {c['n']}" for c in g["cells"])
        changes = ", ".join(f"{c['change']} {c['n']}" for c in g["changes"])
        lines.append(f"  {g['id']}: {g['n']} ({changes}): {cells}" + (f"; why: {g['reason']}" if g["reason"] else ""))
    lines.extend(_more(len(groups), limit))
    return lines
