"""Known departures as data, and the one function that judges an outcome against them.

Each ``[[expect]]`` entry of the TOML file names the op(s), the check, exactly which cases depart
(rule, dtype, attributes, named case predicates) and where (backends, devices, TVM and targeted
TensorRT version ranges), and why.  :func:`judge` turns a matching ``fail`` (or crash) into
``xfail`` and a matching ``pass`` into ``xpass``; strict entries make an XPASS fail the run, so a
TVM upgrade that fixes a departure is noticed.  An entry whose place does not hold (e.g. limited
to ``tvm-cuda`` on a machine without a GPU) neither applies nor XPASSes.

File format (TOML)::

    [[expect]]
    id = "split-empty-piece-cuda"   # optional stable id (default "#<position>")
    ops = ["split"]                 # seed op names, or "*" for all
    except_ops = ["nn.pad"]         # optional: ops that "*" leaves out
    check = "reference"             # offload | preserve | reference | tensorrt
    rule = "dtype"                  # optional (offload): the rule id of harness.rules' decision
    verdict = "over-offload"        # optional (offload): the verdict expected
    dtype = ["int32"]               # optional: case dtypes
    attrs = { layout = ["NHWC"] }   # optional: attribute values (any listed value matches)
    when = ["split-empty-piece"]    # optional: named case predicates (PREDICATES), all must hold
    backends = ["tvm-cuda"]         # optional: applies only where the check runs one of these
    devices = ["cuda"]              # optional: applies only where the check runs on these devices
    tvm = ">=0.26"                  # optional: installed TVM version range
    trt = "<10"                     # optional: targeted TensorRT version range
    outcome = "crash"               # optional: fail (default) | crash | error (crash or fail)
    reason = "why this departs"     # required
    reproducer = "docs/findings/..."  # optional: a standalone script showing it
    source = "tvm/...py:func:line"  # where in TVM it comes from (required of backend/device-limited
                                    # tvm-cuda entries by tests/test_expectations.py)
    strict = true                   # optional, default true
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Callable

from .errors import InputError
from .records import CHECKS, OFFLOAD_VERDICTS
from .versions import Version, VersionRange

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser from PyPI
    import tomli as tomllib

DEFAULT_PATH = os.path.join(os.path.dirname(__file__), "data", "expectations.toml")
DEVICES = ("cpu", "cuda")
EXPECTED_OUTCOMES = ("fail", "crash", "error")
_KEYS = {"id", "ops", "except_ops", "check", "rule", "verdict", "dtype", "attrs", "when", "backends", "devices",
         "tvm", "trt", "outcome", "reason", "reproducer", "strict", "source"}


from .predicates import PREDICATES, cuda_build_error, predicate  # noqa: E402,F401  (the named predicates)


# -- entries --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Context:
    """Where a check ran: the backends it used, their devices, TVM's and TensorRT's versions."""

    backends: frozenset = frozenset()
    devices: frozenset = frozenset({"cpu"})
    tvm: Version | None = None
    trt: Version | None = None


@dataclass(frozen=True)
class Subject:
    """What a check judged: a case of a table op, or one op (type) of a model or fuzzed program."""

    op: str
    check: str
    dtype: str | None = None
    attrs: dict = field(default_factory=dict, hash=False, compare=False)
    rule: str | None = None
    verdict: str | None = None
    case: object = field(default=None, hash=False, compare=False)


@dataclass(frozen=True)
class Expectation:
    ops: tuple
    check: str
    reason: str
    id: str = ""
    rule: str | None = None
    verdict: str | None = None
    dtype: tuple | None = None
    attrs: dict = field(default_factory=dict, hash=False, compare=False)
    when: tuple = ()
    backends: tuple = ()
    devices: tuple = ()
    tvm: VersionRange | None = None
    trt: VersionRange | None = None
    outcome: str = "fail"
    reproducer: str | None = None
    strict: bool = True
    index: int = 0
    except_ops: tuple = ()
    source: str | None = None

    def applies(self, ctx: Context) -> bool:
        """Whether the place this entry is limited to holds where the check ran."""
        if self.backends and not set(self.backends) & set(ctx.backends):
            return False
        if self.devices and not set(self.devices) & set(ctx.devices):
            return False
        if self.tvm is not None and (ctx.tvm is None or ctx.tvm not in self.tvm):
            return False
        if self.trt is not None and (ctx.trt is None or ctx.trt not in self.trt):
            return False
        return True

    def matches(self, s: Subject) -> bool:
        """Whether this entry describes the subject (op, check, rule, dtype, attributes, predicates)."""
        if s.check != self.check or ("*" not in self.ops and s.op not in self.ops) or s.op in self.except_ops:
            return False
        if self.dtype is not None and s.dtype not in self.dtype:
            return False
        if self.rule is not None and s.rule != self.rule:
            return False
        for key, allowed in self.attrs.items():
            if key not in s.attrs or s.attrs[key] not in allowed:
                return False
        if self.when:
            if s.case is None:
                return False
            try:
                if not all(PREDICATES[name](s.case) for name in self.when):
                    return False
            except (KeyError, IndexError, TypeError, ValueError):
                return False   # a predicate that cannot read this case does not describe it
        return True

    def takes(self, outcome: str, error_kind: str | None) -> bool:
        """Whether a departure that looks like ``outcome`` is the one this entry expects."""
        if outcome == "fail":
            return self.outcome in ("fail", "error")
        if outcome == "error" and error_kind in ("crash", "timeout", "device"):
            return self.outcome in ("crash", "error")
        return False


def _strs(value, where: str, key: str, allowed=None) -> tuple:
    if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise InputError(f"{where}: {key!r} must be a list of strings")
    if allowed is not None:
        bad = [v for v in value if v not in allowed]
        if bad:
            raise InputError(f"{where}: unknown {key} {bad}; known: {', '.join(sorted(allowed))}")
    return tuple(value)


def load(path: str, known_ops: set[str], known_backends: set[str] | None = None) -> list[Expectation]:
    """Parse and check an expectations file; every problem is one line naming the entry."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise InputError(f"{path}: expectations file not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not an expectations file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid TOML: {exc}") from None
    items = data.get("expect", [])
    if not isinstance(items, list) or set(data) - {"expect"}:
        raise InputError(f"{path}: expected only [[expect]] tables")
    out, ids = [], set()
    for i, item in enumerate(items):
        where = f"{path}: expect #{i + 1}"
        if not isinstance(item, dict):
            raise InputError(f"{where}: not a table")
        unknown = set(item) - _KEYS
        if unknown:
            raise InputError(f"{where}: unknown keys {sorted(unknown)}; known: {', '.join(sorted(_KEYS))}")
        ops = item.get("ops")
        if not (isinstance(ops, list) and ops and all(isinstance(o, str) for o in ops)):
            raise InputError(f"{where}: 'ops' must be a non-empty list of op names")
        except_ops = _strs(item.get("except_ops", []), where, "except_ops")
        bad = [o for o in list(ops) + list(except_ops) if o != "*" and o not in known_ops]
        if bad:
            raise InputError(f"{where}: unknown ops {bad}")
        if item.get("check") not in CHECKS:
            raise InputError(f"{where}: 'check' must be one of {', '.join(CHECKS)}")
        if not isinstance(item.get("reason"), str) or not item["reason"].strip():
            raise InputError(f"{where}: 'reason' is required")
        verdict = item.get("verdict")
        if verdict is not None and verdict not in OFFLOAD_VERDICTS:
            raise InputError(f"{where}: 'verdict' must be one of {', '.join(OFFLOAD_VERDICTS)}")
        attrs = item.get("attrs", {})
        if not isinstance(attrs, dict) or not all(isinstance(v, list) for v in attrs.values()):
            raise InputError(f"{where}: 'attrs' must map attribute names to lists of values")
        dtype = _strs(item["dtype"], where, "dtype") if "dtype" in item else None
        when = _strs(item.get("when", []), where, "predicate", set(PREDICATES))
        backends = _strs(item.get("backends", []), where, "backends", known_backends)
        devices = _strs(item.get("devices", []), where, "devices", set(DEVICES))
        ranges = {}
        for key in ("tvm", "trt"):
            if key in item:
                try:
                    ranges[key] = VersionRange.parse(item[key]) if isinstance(item[key], str) else None
                except InputError as exc:
                    raise InputError(f"{where}: {key!r}: {exc}") from None
                if ranges[key] is None:
                    raise InputError(f"{where}: {key!r} must be a version range string like '>=0.26,<0.28'")
        outcome = item.get("outcome", "fail")
        if outcome not in EXPECTED_OUTCOMES:
            raise InputError(f"{where}: 'outcome' must be one of {', '.join(EXPECTED_OUTCOMES)}")
        strict = item.get("strict", True)
        if not isinstance(strict, bool):
            raise InputError(f"{where}: 'strict' must be true or false")
        ident = item.get("id", f"#{i + 1}")
        if not isinstance(ident, str) or not ident or ident in ids:
            raise InputError(f"{where}: 'id' must be a unique non-empty string, got {ident!r}")
        ids.add(ident)
        reproducer = item.get("reproducer")
        if reproducer is not None and not isinstance(reproducer, str):
            raise InputError(f"{where}: 'reproducer' must be a path")
        source = item.get("source")
        if source is not None and not (isinstance(source, str) and source.strip()):
            raise InputError(f"{where}: 'source' must be a non-empty string (file:function of TVM)")
        try:
            out.append(Expectation(
                ops=tuple(ops), check=item["check"], reason=item["reason"].strip(), id=ident, rule=item.get("rule"),
                verdict=verdict, dtype=dtype, attrs=attrs, when=when, backends=backends, devices=devices,
                tvm=ranges.get("tvm"), trt=ranges.get("trt"), outcome=outcome, reproducer=reproducer,
                strict=strict, index=i + 1, except_ops=except_ops, source=source))
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
    return out


def load_default() -> list[Expectation]:
    from .table import BY_NAME

    return load(DEFAULT_PATH, set(BY_NAME))


def find(expectations: list[Expectation], subject: Subject, ctx: Context) -> Expectation | None:
    for e in expectations:
        if e.applies(ctx) and e.matches(subject):
            return e
    return None


@dataclass(frozen=True)
class Judgement:
    outcome: str
    reason: str
    expectation: Expectation | None = None

    @property
    def strict_xpass(self) -> bool:
        return self.outcome == "xpass" and self.expectation is not None and self.expectation.strict

    @property
    def unexpected(self) -> bool:
        """A result that fails the run: a new departure, a crash nobody expected, a strict XPASS."""
        return self.outcome in ("fail", "error") or self.strict_xpass


def judge(outcome: str, reason: str, subject: Subject, ctx: Context, expectations: list[Expectation], *,
          error_kind: str | None = None) -> Judgement:
    """The one place where outcomes meet the known departures (op suites, models and fuzz).

    fail/crash + an entry that expects it -> xfail; pass + a matching entry -> xpass; a matching
    entry that expects another verdict or another kind of failure does not cover it."""
    if outcome not in ("pass", "fail", "error"):
        return Judgement(outcome, reason)
    for e in expectations:
        if not (e.applies(ctx) and e.matches(subject)):
            continue
        if subject.check == "offload" and e.verdict and outcome == "fail" and subject.verdict != e.verdict:
            continue   # a different departure than the one known: it must fail
        where = f"expectations {e.id}"
        if outcome == "pass":
            return Judgement("xpass", f"expected to fail ({where}: {e.reason}) but passed", e)
        if e.takes(outcome, error_kind):
            return Judgement("xfail", f"known departure ({where}): {e.reason} | {reason}", e)
    return Judgement(outcome, reason)
