"""Checking one fuzzed program, and judging what it finds.

:func:`check_spec` takes a spec through the shared pipeline (:mod:`harness.pipeline`: build ->
partition -> compile both variants on TVM LLVM in one batch -> run) and reports its findings:

* ``over-offload``   a TensorRT region holds a call that :func:`harness.rules.decide` rejects;
* ``boundary``       a call the rules allow was left out of every region although, alone, the
                     partitioner takes it (so its neighbours decided); or a tensor that is not
                     float32/float16 crosses a region boundary (a region's parameter or result);
* ``under-offload``  a call the rules allow is never offloaded, even alone;
* ``preserve``       the partitioned program (TensorRT functions left to TVM LLVM) computes
                     something else than the original (:func:`harness.checks.check_preserve`);
* ``tvm-crash``      a stage failed on the program (partition, lowering, compiling or running the
                     partitioned program), or the worker checking it died or hung.

Each finding is about one Relax op where it can be (None: the whole program) and maps to one
record of the ``offload`` or ``preserve`` check; :func:`judge_finding` judges it with
:func:`harness.expectations.judge`, as the op suites are judged: a known departure is ``xfail``.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

from .. import rules
from ..expectations import Context, Judgement, Subject, judge
from ..records import Offload, Record, Tolerance
from ..table import entries_for_tvm_op
from ..versions import format_version, implicit_batch_default
from . import graphs

KINDS = ("over-offload", "boundary", "under-offload", "preserve", "tvm-crash")
FLOAT_DTYPES = ("float32", "float16")

# Partitioned against original, both on TVM LLVM.  Region merging changes fusion, and so the order
# of float32 accumulations along a chain of up to 15 ops: the table's tolerance of its accumulating
# ops (sum, mean, matmul, layer_norm: float32 1e-4), not its element-wise 1e-5.
TOLERANCE = Tolerance(atol=1e-4, rtol=1e-4)


@dataclass(frozen=True)
class Finding:
    kind: str                        # one of KINDS
    key: str                         # tells two findings of one kind apart (op, rule, dtype, stage)
    check: str                       # the record's check: offload | preserve
    detail: str
    relax_op: str | None = None      # the Relax op it is about; None: the whole program
    rule: str | None = None          # rules.decide's rule id for that op's call
    dtype: str | None = None
    verdict: str | None = None       # offload: over-offload | under-offload
    error_kind: str | None = None    # crash | timeout: the worker died or hung on the program
    max_abs_err: float | None = None
    max_rel_err: float | None = None

    @property
    def sig(self) -> str:
        """The finding's signature: ``kind|key``, e.g. ``over-offload|relax.add|dtype``."""
        return f"{self.kind}|{self.key}"


@dataclass
class FuzzResult:
    findings: list = field(default_factory=list)    # Finding, one per signature
    stats: dict = field(default_factory=dict)       # regions, offloaded calls, calls left, stage times
    invalid: str | None = None                       # the strategy drew a program TVM cannot build or run
    skip: str | None = None                          # nothing can be checked here (e.g. no partitioner)
    offload: Offload | None = None                   # expected against actual (harness.offload)

    def add(self, finding: Finding) -> None:
        if finding.sig not in {f.sig for f in self.findings}:
            self.findings.append(finding)


def sig_id(sig: str) -> str:
    """A file-name-safe id of a signature: ``over-offload-add-dtype-8ec68c``."""
    slug = "".join(c if c.isalnum() else "-" for c in sig.replace("relax.", "")).strip("-")
    return f"{slug[:50]}-{hashlib.sha1(sig.encode()).hexdigest()[:6]}"


def crash(reason: str, error_kind: str, stage: str | None = None) -> Finding:
    """A tvm-crash finding: the worker died (``crash``) or hung (``timeout``) on the program."""
    return Finding("tvm-crash", stage or error_kind, "preserve", reason, error_kind=error_kind)


# -- reading calls ----------------------------------------------------------------------------------
def _dtypes(call) -> list[str]:
    """Dtypes of a call's tensor arguments (tuple fields too) and of its result."""
    from ..tvmcompat import is_tensor, is_tuple, type_of

    out = []
    for ty in [type_of(a) for a in call.args] + [type_of(call)]:
        fields = list(ty.fields) if is_tuple(ty) else [ty]
        out += [str(f.dtype) for f in fields if is_tensor(f)]
    return out


def _dtype(call) -> str | None:
    """The dtype of a call's result (its last field for a tuple)."""
    found = _dtypes(call)
    return found[-1] if found else None


def _boundary_types(func) -> list:
    """Types of the tensors crossing into (parameters) and out of (result) a region function."""
    from ..tvmcompat import is_tuple, type_of

    ret = type_of(func.body)
    return [type_of(p) for p in func.params] + (list(ret.fields) if is_tuple(ret) else [ret])


def _alone_offloaded(call, partition: Callable) -> bool:
    """Would the partitioner take this call in a one-op program (same types, constants kept)?"""
    from tvm import relax

    from ..offload import trt_functions
    from ..tvmcompat import constant_class, is_tensor, type_of

    const = constant_class()
    params: list = []

    def lift(arg):
        if isinstance(arg, relax.Tuple):
            return relax.Tuple([lift(f) for f in arg.fields])
        if isinstance(arg, const) or not is_tensor(type_of(arg)):
            return arg
        params.append(relax.Var(f"p{len(params)}", type_of(arg)))
        return params[-1]

    args = [lift(a) for a in call.args]
    bb = relax.BlockBuilder()
    with bb.function("main", params):
        with bb.dataflow():
            ty_args = call.ty_args if hasattr(call, "ty_args") else call.sinfo_args   # TVM 0.25: sinfo_args
            out = bb.emit_output(bb.emit(relax.Call(call.op, args, call.attrs, ty_args)))
        bb.emit_func_output(out)
    try:
        return bool(trt_functions(partition(bb.get())))
    except Exception:   # the one-op program cannot be built or partitioned: not taken alone
        return False


# -- the check ---------------------------------------------------------------------------------------
def _offload_findings(res: FuzzResult, part, partition: Callable, trt_version, implicit_batch: bool) -> None:
    from ..offload import all_calls, op_name, trt_calls, trt_functions

    def decide(call):
        return rules.decide(call, trt_version=trt_version, implicit_batch=implicit_batch)

    in_regions = trt_calls(part)
    for call in in_regions:
        d = decide(call)
        if not d.offload:
            name = op_name(call)
            res.add(Finding("over-offload", f"{name}|{d.rule}", "offload", f"region holds {name}: {d.reason}",
                            relax_op=name, rule=d.rule, dtype=_dtype(call), verdict="over-offload"))
    funcs = trt_functions(part)
    for func in funcs:
        for ty in _boundary_types(func):
            dtype = str(getattr(ty, "dtype", "float32"))
            if dtype in FLOAT_DTYPES:
                continue
            # the region call that reads or makes the tensor: what the partitioner should have left out
            culprit = next((c for c in in_regions if dtype in _dtypes(c)), None)
            d = decide(culprit) if culprit is not None else None
            res.add(Finding("boundary", f"io-dtype|{dtype}", "offload",
                            f"a {dtype} tensor crosses into/out of a TensorRT region (TensorRT's runtime takes "
                            f"float32/float16 only)", relax_op=op_name(culprit) if culprit is not None else None,
                            rule=d.rule if d else None, dtype=dtype, verdict="over-offload"))
    left = all_calls(part)
    for call in left:
        d = decide(call)
        if not d.offload:
            continue
        name = op_name(call)
        if _alone_offloaded(call, partition):
            res.add(Finding("boundary", f"left-out|{name}", "offload",
                            f"{name} is allowed and offloaded alone, but its neighbours kept it on TVM",
                            relax_op=name, rule=d.rule, dtype=_dtype(call), verdict="under-offload"))
        else:
            res.add(Finding("under-offload", name, "offload", f"{name} is allowed but never offloaded, even alone",
                            relax_op=name, rule=d.rule, dtype=_dtype(call), verdict="under-offload"))
    res.stats.update(regions=len(funcs), offloaded_calls=len(in_regions), calls_left=len(left))


def _stage(reason: str) -> str:
    """The stage a StageFailure of the partitioned build names: lower | run | compile."""
    return "lower" if reason.startswith("lower") else "run" if reason.startswith("run") else "compile"


def check_spec(spec, *, trt_version, implicit_batch: bool | None = None,
               partition: Callable | str | None = None, preserve: bool = True) -> FuzzResult:
    """Every check on one program spec (see the module docstring).  ``partition`` replaces
    ``partition_for_tensorrt`` (a test double; a callable or ``"module:function"``).
    ``preserve=False`` stops after the offload findings (no build: shrinking an offload finding)."""
    from .. import checks, pipeline, program
    from ..builds import BuildCache
    from ..isolate import resolve

    trt_version = tuple(trt_version)
    if implicit_batch is None:
        implicit_batch = implicit_batch_default(trt_version)
    partition = resolve(partition) if isinstance(partition, str) else partition or program.partition
    res = FuzzResult()
    art = pipeline.prepare("fuzz", lambda: graphs.build(spec))
    if art.skip:
        res.skip = art.skip
        return res
    if "build" in art.failures:   # the strategy promised a valid program: a bug of the harness
        res.invalid = art.failures["build"]
        return res
    pipeline.partition(art, trt_version=trt_version, implicit_batch=implicit_batch, partitioner=partition)
    if art.skip:
        res.skip = art.skip
        return res
    if "partition" in art.failures:
        res.add(Finding("tvm-crash", "partition", "offload", art.failures["partition"]))
        return res
    res.offload = art.offload
    _offload_findings(res, art.partitioned, partition, trt_version, implicit_batch)
    if not preserve:
        return res
    opts = checks.CheckOptions(trt_version=trt_version, implicit_batch=implicit_batch)
    pipeline.execute([art], {art.key: checks.needs("preserve", opts)}, BuildCache(None))
    res.stats["stage_s"] = {k: round(v, 4) for k, v in art.stage_s.items()}
    try:
        art.output(pipeline.ORIGINAL, "tvm-llvm")
    except pipeline.StageFailure as exc:   # TVM cannot build or run the original: the strategy's bug
        res.invalid = f"the original program on TVM LLVM: {exc}"
        return res
    try:
        art.output(pipeline.PARTITIONED, "tvm-llvm")
    except pipeline.StageFailure as exc:
        res.add(Finding("tvm-crash", _stage(str(exc)), "preserve", str(exc)))
        return res
    got = checks.check_preserve(art, checks.CheckTarget(tolerance=TOLERANCE), opts)
    if got.outcome != "pass":
        cmp = got.comparison
        res.add(Finding("preserve", "mismatch", "preserve", got.reason, max_abs_err=cmp.max_abs_err if cmp is not None else None,
                        max_rel_err=cmp.max_rel_err if cmp is not None else None))
    return res


# -- judging and recording ---------------------------------------------------------------------------
def table_op(relax_op: str | None) -> str | None:
    """The support table's name of a Relax op (None when the table lacks it).  Where several
    entries share it, the one named like the op (relax.add -> add, not nn.bias_add), else the
    first (relax.matmul -> nn.dense: the fuzzer multiplies by a constant weight, dense's form)."""
    entries = entries_for_tvm_op(relax_op) if relax_op else []
    if not entries:
        return None
    short = relax_op.removeprefix("relax.")
    return next((e.name for e in entries if e.name == short), entries[0].name)


def record_op(f: Finding) -> str:
    """The record's op: the table op, else ``fuzz:<relax op>``, else ``fuzz:program``."""
    return table_op(f.relax_op) or (f"fuzz:{f.relax_op}" if f.relax_op else "fuzz:program")


@lru_cache(maxsize=1)
def _tvm_version():
    try:
        import tvm

        from ..versions import loose_version

        return loose_version(tvm.__version__)
    except Exception:
        return None


def context(check: str, trt_version) -> Context:
    """Where the check of a finding ran: the preserve check on TVM LLVM, on the CPU."""
    return Context(backends=frozenset({"tvm-llvm"} if check == "preserve" else ()), devices=frozenset({"cpu"}),
                   tvm=_tvm_version(), trt=tuple(trt_version))


def judge_finding(f: Finding, *, trt_version, expectations) -> Judgement:
    """The finding against the known departures (:func:`harness.expectations.judge`)."""
    subject = Subject(op=record_op(f), check=f.check, dtype=f.dtype, rule=f.rule, verdict=f.verdict)
    return judge("error" if f.error_kind else "fail", f"{f.kind}: {f.detail}", subject,
                 context(f.check, trt_version), list(expectations), error_kind=f.error_kind)


def to_record(f: Finding, judged: Judgement, *, spec, trt_version, reproducer: str | None = None,
              offload: Offload | None = None, details: dict | None = None) -> Record:
    """The one record of a distinct finding (its smallest program)."""
    return Record(
        op=record_op(f), tvm_op=f.relax_op, check=f.check, outcome=judged.outcome, suite="fuzz",
        case_id=f"fuzz-{sig_id(f.sig)}", reason=f"{judged.reason} | program: {graphs.describe(spec)}"[:2000],
        error_kind=f.error_kind if judged.outcome == "error" else None, dtype=f.dtype,
        input_shapes=[list(s) for s, _ in spec["inputs"]], trt_version=format_version(trt_version), rule=f.rule,
        expectation=judged.expectation.id if judged.expectation else None,
        offload=offload if f.check == "offload" else None, max_abs_err=f.max_abs_err, max_rel_err=f.max_rel_err,
        tolerance=TOLERANCE if f.kind == "preserve" else None,
        backend="tvm-llvm" if f.check == "preserve" else None,
        reference="tvm-llvm (original)" if f.check == "preserve" else None, reproducer=reproducer,
        details={"kind": f.kind, "sig": f.sig, "program": graphs.describe(spec), "ops": len(spec["nodes"]),
                 **(details or {})})
