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


# -- named case predicates -----------------------------------------------------------------------
PREDICATES: dict[str, Callable] = {}


def predicate(name: str):
    """Register a case predicate ``fn(case) -> bool`` under ``name`` for ``when = [...]``."""
    def deco(fn):
        PREDICATES[name] = fn
        return fn
    return deco


@predicate("split-empty-piece")
def _split_empty_piece(case) -> bool:
    """split yields at least one empty piece (an index at 0 or at the axis length, or repeated)."""
    a = case.attrs
    n = case.shapes[0][a["axis"]]
    ios = a["indices_or_sections"]
    if isinstance(ios, int):
        return n == 0
    bounds = [0, *[min(max(i + n if i < 0 else i, 0), n) for i in ios], n]
    return any(hi <= lo for lo, hi in zip(bounds, bounds[1:]))


@predicate("output-size-not-1x1")
def _output_not_1x1(case) -> bool:
    """adaptive pooling whose output is not 1x1 (output_size None keeps the input size)."""
    out = case.attrs.get("output_size")
    if out is None:
        layout = case.attrs.get("layout", "NCHW")
        shape = case.shapes[0]
        out = [shape[layout.index("H")], shape[layout.index("W")]]
    return list(out) != [1, 1]


@predicate("axis-none")
def _axis_none(case) -> bool:
    """The reduction/squeeze axis (or the transpose axes) is None: all axes."""
    return case.attrs.get("axis", case.attrs.get("axes", 0)) is None


@predicate("adaptive-uneven-windows")
def _adaptive_uneven(case) -> bool:
    """adaptive pooling whose output size does not divide the input size (windows of two sizes)."""
    layout = case.attrs.get("layout", "NCHW")
    shape = case.shapes[0]
    sizes = [shape[layout.index("H")], shape[layout.index("W")]]
    out = case.attrs.get("output_size") or sizes
    return any(n % o for n, o in zip(sizes, out))


@predicate("reduce-to-scalar")
def _reduce_to_scalar(case) -> bool:
    """A reduction over every axis without keepdims, of more than one element: a rank-0 result."""
    import math

    shape = case.shapes[0]
    axis = case.attrs.get("axis")
    every = axis is None or len({a % len(shape) for a in axis}) == len(shape)
    return every and not case.attrs.get("keepdims", False) and math.prod(shape) > 1


# -- TVM's CUDA build, settled where it is raised ------------------------------------------------
#: an H100's CUDA target (the GPU of the sweep): TVM's default GPU pipeline picks its dlight rules
#: by target, and tvm.compile(target="cuda") on a machine without a GPU would assume sm_50
CUDA_TARGET = {"kind": "cuda", "arch": "sm_90", "max_shared_memory_per_block": 49152,
               "max_threads_per_block": 1024, "thread_warp_size": 32}
_CUDA_BUILDS: dict = {}


def cuda_build_error(case):
    """Where ``tvm.compile(<the case's one-op program>, target=CUDA_TARGET)`` raises, or None when
    it builds: ``(exception type, file under tvm/, function, line)`` of the innermost frame of TVM's
    Python code (the schedule rule or pass that raised).  The build needs no GPU (it stops at CUDA
    source), so this settles a build failure of tvm-cuda on any machine.  Cached per case."""
    import traceback

    key = (case.case_id, json_key(case))
    if key in _CUDA_BUILDS:
        return _CUDA_BUILDS[key]
    import tvm

    from .program import build_case
    from .table import BY_NAME

    prog = build_case(BY_NAME[case.op], case)
    where = None
    try:
        tvm.compile(prog.mod, target=tvm.target.Target(CUDA_TARGET))
    except Exception as exc:  # noqa: BLE001 - the failure is the datum
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f"{os.sep}tvm{os.sep}" in f.filename]
        inner = frames[-1] if frames else None
        path = inner.filename.split(f"{os.sep}tvm{os.sep}", 1)[-1] if inner else "?"
        checks = [ln.strip() for ln in str(exc).splitlines() if "Check failed" in ln]
        where = (type(exc).__name__, path.replace(os.sep, "/"), inner.name if inner else "?",
                 inner.lineno if inner else 0, checks[0][:300] if checks else "")
    _CUDA_BUILDS[key] = where
    return where


def json_key(case) -> str:
    return f"{case.dtype}|{case.shapes}|{case.attrs_key}|{case.weights}"


# dlight's GEMV rule (tvm/s_tir/dlight/gpu/gemv.py, GEMV.apply) takes every reduction block that
# analysis/gemv.py:is_gemv calls a GEMV (a reduction X += Y where some read buffer uses fewer,
# but some, of the block's iterators): matmuls and dense layers with a unit dimension, and grouped
# or pointwise convolutions.  Its schedule then fails in one of three places, each one predicate.
# Which one depends on the extents after TVM folded the unit iterators away and on the tile sizes
# GEMV.apply picks, so the predicates ask the build itself where it stops (on CPU; no GPU needed).
@predicate("cuda-gemv-normalize-no-reduction")
def _gemv_normalize(case) -> bool:
    """tvm/s_tir/dlight/analysis/gemv.py:normalize `assert r_loops` (or `assert s_loops`): the block
    is a GEMV but no reduction (spatial) iterator is left in its dominant read, e.g. a reduction of
    extent 1 folded away."""
    w = cuda_build_error(case)
    return w is not None and w[0] == "AssertionError" and w[1:3] == ("s_tir/dlight/analysis/gemv.py", "normalize")


@predicate("cuda-gemv-inner-reduction-tile")
def _gemv_inner_tile(case) -> bool:
    """tvm/s_tir/dlight/gpu/gemv.py:GEMV.apply (sch_inner_reduction) `assert sch.get(ts_o).extent.value
    == 1`: the spatial tile does not fit one thread tile; the extent is another constant
    (AssertionError) or not a constant at all (AttributeError: 'FloorDiv' object has no attribute
    'value')."""
    w = cuda_build_error(case)
    return (w is not None and w[0] in ("AssertionError", "AttributeError")
            and w[1:3] == ("s_tir/dlight/gpu/gemv.py", "apply"))


@predicate("cuda-gemv-cross-thread-reduction")
def _gemv_cross_thread(case) -> bool:
    """The schedule of GEMV.apply (sch_outer_reduction: rfactor, then reverse_compute_at) is rejected
    by LowerCrossThreadReduction (src/s_tir/transform/lower_cross_thread_reduction.cc:
    'Check failed: n_deepest_reduction_loops == reduction_loops.size() ... Cross-thread reduction
    requires all the reduction-related loops to be the deepest'), seen as 'Error in pass: _pipeline'."""
    w = cuda_build_error(case)
    return w is not None and w[0] == "ValueError" and "Cross-thread reduction requires" in w[4]


@predicate("depthwise-ncw-one-output")
def _depthwise_ncw_one_output(case) -> bool:
    """conv1d NCW/OIW, depthwise (groups == in channels == out channels), one output column, batch
    > 1 and a kernel wider than 1: TVM's CUDA build returns wrong values.  dlight's GEMV rule
    (tvm/s_tir/dlight/gpu/gemv.py:GEMV.apply) schedules every such case of the H100 seeds (the
    neighbours with two output columns or batch 1 go to Reduction or Fallback), but GEMV also
    schedules 8 passing conv1d cases there (mostly batch 1), so the shape condition is fitted to,
    and validated against, the four H100 seeds only (wrong values need a GPU)."""
    a = case.attrs
    if a.get("data_layout") != "NCW" or a.get("kernel_layout") != "OIW" or not case.weights:
        return False
    n, c, w = case.shapes[0]
    o, _, k = case.weights[0][1]
    groups = int(a.get("groups", 1))
    if not (groups > 1 and groups == c == o and n > 1 and k > 1):
        return False
    pad = list(a.get("padding", [0]))
    pad = pad * 2 if len(pad) == 1 else pad
    dil, stride = int(a.get("dilation", [1])[0]), int(a.get("strides", [1])[0])
    out = (w + pad[0] + pad[1] - dil * (k - 1) - 1) // stride + 1
    return out == 1


@predicate("normalizes-over-several")
def _normalizes_over_several(case) -> bool:
    """layer_norm over axes holding more than one element (over one element, x - mean is 0 and
    gamma multiplies nothing)."""
    import math

    shape = case.shapes[0]
    return math.prod(shape[a] for a in case.attrs["axes"]) > 1


@predicate("pad-edge-nonzero")
def _pad_edge_nonzero(case) -> bool:
    """nn.pad in edge mode that pads something (all-zero widths copy the input)."""
    return case.attrs.get("pad_mode") == "edge" and any(int(w) > 0 for w in case.attrs.get("pad_width", []))


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
