"""Plans: the exact case list of a run, to run again whatever Hypothesis version is installed.

Hypothesis is how new cases are drawn (:mod:`harness.plan`); it promises no stable draws across
its versions, so a baseline kept for months, or a plan moved to another machine, is run again
from a *plan*: the cases themselves.  A plan is read from a results file (each case rebuilt from
its records with :meth:`harness.case.Case.from_record`) or from a plan file that
``trt-harness plan`` writes (``--trt-plan FILE`` takes either).

Every results header carries the hash of the plan the run ran (``env["plan"]``: the sorted
(op, case_id) pairs), so the gate can tell "other cases" from "changed verdicts".
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field

from .case import Case
from .errors import HarnessError, InputError
from .records import is_op_level

PLAN_SCHEMA = "tvm-trt-harness.plan"
PLAN_VERSION = 1
MAX_FIRST_LINE = 8 * 1024 * 1024


def plan_hash(pairs) -> str:
    """The hash of a case list: of its sorted, distinct (op, case_id) pairs."""
    blob = json.dumps(sorted({(op, cid) for op, cid in pairs}))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def hash_of(cases_of: dict) -> str:
    return plan_hash((op, c.case_id) for op, cs in cases_of.items() for c in cs)


def is_case_record(r) -> bool:
    """A record of one of the run's planned cases (not an op-level skip, not a case shrinking made)."""
    return not is_op_level(r) and not (r.details or {}).get("shrunk_from")


def case_keys(run) -> set:
    """(op, case_id) of every planned case a loaded run has records of."""
    return {(r.op, r.case_id) for r in run.records if is_case_record(r)}


def run_plan(run) -> str:
    """The plan hash a run's header carries, or (older files) the hash of the cases it has records of."""
    return (run.env or {}).get("plan") or plan_hash(case_keys(run))


@dataclass
class Plan:
    cases: dict = field(default_factory=dict)     # op -> [Case], in the order drawn
    source: str = ""

    @property
    def hash(self) -> str:
        return hash_of(self.cases)

    def n_cases(self) -> int:
        return sum(len(cs) for cs in self.cases.values())

    def to_json(self) -> dict:
        return {"schema": PLAN_SCHEMA, "schema_version": PLAN_VERSION, "hash": self.hash, "source": self.source,
                "cases": {op: [c.to_json() for c in cs] for op, cs in self.cases.items()}}


def from_run(run, source: str = "") -> Plan:
    """The cases a loaded results file ran, rebuilt from their records (table ops only)."""
    cases: dict[str, dict] = {}
    for r in run.records:
        if r.suite != "ops" or r.dtype is None or not is_case_record(r):
            continue
        got = cases.setdefault(r.op, {})
        if r.case_id in got:
            continue
        case = Case.from_record(r)
        if case.case_id != r.case_id:
            raise InputError(f"{source}: the record of {r.op} case {r.case_id} does not rebuild to that case "
                             f"(got {case.case_id}; written before records kept the data seed?)")
        got[r.case_id] = case
    return Plan({op: list(cs.values()) for op, cs in cases.items()}, source)


def load(path: str) -> Plan:
    """A plan from a plan file or a results file; InputError (one line) for anything else."""
    from .reader import load_results

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file" if not os.path.exists(path) else f"{path}: not a file")
    try:
        with open(path, "rb") as fh:
            first = fh.readline(MAX_FIRST_LINE)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        obj = json.loads(first)
    except (ValueError, RecursionError):
        obj = None
    if isinstance(obj, dict) and "kind" in obj:      # a results file: its first line is a header
        plan = from_run(load_results(path), path)
    else:
        plan = _from_plan_file(path)
    if not plan.cases:
        raise InputError(f"{path}: lists no cases of table ops")
    return plan


def _from_plan_file(path: str) -> Plan:
    try:
        with open(path, encoding="utf-8") as fh:
            obj = json.load(fh)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        raise InputError(f"{path}: neither a results file nor a plan file (JSON of schema {PLAN_SCHEMA!r})") from None
    if not isinstance(obj, dict) or obj.get("schema") != PLAN_SCHEMA:
        raise InputError(f"{path}: neither a results file nor a plan file (schema {PLAN_SCHEMA!r})")
    version = obj.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InputError(f"{path}: plan schema_version must be a positive integer, got {str(version)[:40]!r}")
    if version > PLAN_VERSION:
        raise InputError(f"{path}: plan schema_version {version} is newer than this harness reads ({PLAN_VERSION}); "
                         "upgrade the harness")
    cases = obj.get("cases")
    if not isinstance(cases, dict):
        raise InputError(f"{path}: 'cases' must be an object of op -> list of cases")
    out: dict[str, list] = {}
    for op, cs in cases.items():
        if not isinstance(cs, list):
            raise InputError(f"{path}: cases of {str(op)[:60]!r} must be a list")
        for i, c in enumerate(cs):
            try:
                case = Case.from_json(c)
                if case.op != op:
                    raise ValueError(f"its op is {case.op!r}")
                case.case_id  # noqa: B018 - a case whose id cannot be computed is refused here
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise InputError(f"{path}: case {i + 1} of {str(op)[:60]!r} is not a case: "
                                 f"{type(exc).__name__}: {str(exc)[:100]}") from None
            out.setdefault(op, []).append(case)
    return Plan({op: list(dict.fromkeys(cs)) for op, cs in out.items()}, path)


def write(plan: Plan, out: str) -> None:
    try:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        obj = plan.to_json()
        cases = obj.pop("cases")
        head = json.dumps(obj, sort_keys=True)[:-1]
        body = ",\n".join(f" {json.dumps(op)}: {json.dumps(cs, sort_keys=True)}" for op, cs in cases.items())
        with open(out, "w", encoding="utf-8") as fh:     # one op per line: diffable, still one JSON object
            fh.write(f'{head}, "cases": {{\n{body}\n}}}}\n')
    except OSError as exc:
        raise InputError(f"{out}: cannot write: {exc.strerror or exc}") from None


def load_for_run(path: str) -> Plan:
    """:func:`load` with the option's name in the message."""
    try:
        return load(path)
    except HarnessError as exc:
        raise InputError(f"--trt-plan: {exc}") from None
