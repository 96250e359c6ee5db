"""Known departures as data: each entry names the op(s), the check, when it applies and why.

A matching case whose check fails is an ``xfail``; one that passes is an ``xpass``, and strict
entries fail the test on XPASS, so a TVM upgrade that fixes a departure is noticed.

File format (TOML)::

    [[expect]]
    ops = ["*"]                 # seed op names, or "*" for all
    except_ops = ["nn.pad"]     # optional: ops that "*" leaves out
    check = "offload"           # offload | preserve | reference | tensorrt
    rule = "dtype"              # optional (offload): the rule id of harness.rules' decision
    dtype = ["int32"]           # optional: case dtypes
    attrs = { layout = ["NHWC"] }   # optional: attribute values (any listed value matches)
    verdict = "over-offload"    # optional (offload): the verdict expected
    reason = "why this departs" # required
    strict = true               # optional, default true
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field

from .errors import InputError
from .results import CHECKS, OFFLOAD_VERDICTS

_KEYS = {"ops", "except_ops", "check", "rule", "dtype", "attrs", "verdict", "reason", "strict"}


@dataclass(frozen=True)
class Expectation:
    ops: tuple
    check: str
    reason: str
    rule: str | None = None
    dtype: tuple | None = None
    attrs: dict = field(default_factory=dict, hash=False)
    verdict: str | None = None
    strict: bool = True
    index: int = 0
    except_ops: tuple = ()

    def matches(self, op: str, check: str, dtype: str, attrs: dict, rule: str | None) -> bool:
        if check != self.check or ("*" not in self.ops and op not in self.ops) or op in self.except_ops:
            return False
        if self.dtype is not None and dtype not in self.dtype:
            return False
        if self.rule is not None and rule != self.rule:
            return False
        for key, allowed in self.attrs.items():
            if key not in attrs or attrs[key] not in allowed:
                return False
        return True


def load(path: str, known_ops: set[str]) -> list[Expectation]:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise InputError(f"{path}: expectations file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid TOML: {exc}") from None
    items = data.get("expect", [])
    if not isinstance(items, list) or set(data) - {"expect"}:
        raise InputError(f"{path}: expected only [[expect]] tables")
    out = []
    for i, item in enumerate(items):
        where = f"{path}: expect #{i + 1}"
        if not isinstance(item, dict):
            raise InputError(f"{where}: not a table")
        unknown = set(item) - _KEYS
        if unknown:
            raise InputError(f"{where}: unknown keys {sorted(unknown)}")
        ops = item.get("ops")
        if not (isinstance(ops, list) and ops and all(isinstance(o, str) for o in ops)):
            raise InputError(f"{where}: 'ops' must be a non-empty list of op names")
        except_ops = item.get("except_ops", [])
        if not (isinstance(except_ops, list) and all(isinstance(o, str) for o in except_ops)):
            raise InputError(f"{where}: 'except_ops' must be a list of op names")
        bad = [o for o in ops + except_ops if o != "*" and o not in known_ops]
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
        dtype = item.get("dtype")
        if dtype is not None and not (isinstance(dtype, list) and all(isinstance(d, str) for d in dtype)):
            raise InputError(f"{where}: 'dtype' must be a list of dtype names")
        strict = item.get("strict", True)
        if not isinstance(strict, bool):
            raise InputError(f"{where}: 'strict' must be true or false")
        out.append(Expectation(ops=tuple(ops), check=item["check"], reason=item["reason"].strip(),
                               rule=item.get("rule"), dtype=tuple(dtype) if dtype else None, attrs=attrs,
                               verdict=verdict, strict=strict, index=i + 1,
                               except_ops=tuple(except_ops)))
    return out


def find(expectations: list[Expectation], **kw) -> Expectation | None:
    for e in expectations:
        if e.matches(**kw):
            return e
    return None


DEFAULT_PATH = __import__("os").path.join(__import__("os").path.dirname(__file__), "data", "expectations.toml")


def load_default() -> list[Expectation]:
    from .table import BY_NAME

    return load(DEFAULT_PATH, set(BY_NAME))


def classify_offload(comparison, expectations: list[Expectation]) -> tuple[list, list]:
    """Split an OffloadComparison's departures into known (matching an expectation) and new.

    Each departure is (relax op, reason, verdict); known ones carry the expectation too.  Used by
    the model checks, where a departure of one call stands for one op of the table."""
    from .table import entries_for_tvm_op

    known, new = [], []
    for verdict, items in (("over-offload", comparison.over), ("under-offload", comparison.under)):
        for name, why in items:
            rule = comparison.rules.get((name, why))
            seeds = [e.name for e in entries_for_tvm_op(name)] or [name]
            hit = None
            for seed in seeds:
                for e in expectations:
                    if e.matches(op=seed, check="offload", dtype="", attrs={}, rule=rule) and \
                            e.verdict in (None, verdict):
                        hit = e
                        break
                if hit:
                    break
            (known if hit else new).append((name, why, verdict, hit) if hit else (name, why, verdict))
    return known, new
