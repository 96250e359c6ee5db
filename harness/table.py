"""THE support table: one frozen entry per operator of the seed's table, in one tuple.

Nothing else in the harness lists operators.  Each entry carries the seed's name and minimum
TensorRT version, the installed TVM's Relax op (or ``None`` with the reason there is none), the
family that generates, builds and checks its cases, and tolerances per dtype.  The table is
checked against the seed document at import time: a missing, extra or misspelt operator, or a
minimum version that disagrees with the seed, fails with the difference in the message.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Mapping

import numpy as np

from . import families as F
from . import oracle as O
from .errors import TableError
from .families import Domain
from .families.base import few_large
from .records import Tolerance
from .seed import seed_operators
from .versions import Version

# Tolerances per dtype, used by the preserve, reference and tensorrt checks.
DEFAULT_TOL: Mapping[str, Tolerance] = MappingProxyType({
    "float32": Tolerance(atol=1e-5, rtol=1e-5),
    "float16": Tolerance(atol=2e-3, rtol=2e-3),
    "float64": Tolerance(atol=1e-10, rtol=1e-10),
    "int32": Tolerance(atol=0.0, rtol=0.0),
})
# TensorRT's FP16 mode (TVM_TENSORRT_USE_FP16=1) is compared with this looser one.
FP16_MODE_TOL = Tolerance(atol=5e-2, rtol=5e-2)

# Dtypes a case may take: the ones TensorRT's runtime takes come first, so shrinking heads for
# the supported case; int32 and float64 are dtypes TVM accepts and the TensorRT path refuses.
FLOATS = ("float32", "float16")
F_INT = FLOATS + ("int32",)
F_F64 = FLOATS + ("float64",)
ALL = FLOATS + ("int32", "float64")


@dataclass(frozen=True)
class OpEntry:
    """Everything the harness knows about one operator of the seed's table (OpInfo-style)."""

    name: str                                  # seed (Relay) name, e.g. "nn.conv2d"
    min_trt: Version | None                    # minimum TensorRT version from the seed
    tvm_op: str | None                         # Relax op in the installed TVM, e.g. "relax.nn.conv2d"
    family: F.Family | None = None             # how its cases look and how the op is called
    ref: Callable | None = None                # NumPy reference (float64), called by the family
    dtypes: tuple = ALL                        # dtypes its cases take (TensorRT-able ones first)
    domain: Domain | tuple = Domain()          # input values (one Domain, or one per input)
    no_equivalent: str | None = None           # why there is no Relax op, when tvm_op is None
    tol: Mapping[str, Tolerance] = field(default_factory=dict)
    note: str = ""                             # how the seed op maps to Relax, when not 1:1

    def tolerance(self, dtype: str) -> Tolerance:
        if dtype in self.tol:
            return self.tol[dtype]
        if dtype not in DEFAULT_TOL:
            raise TableError(f"{self.name}: no tolerance for dtype {dtype!r}")
        return DEFAULT_TOL[dtype]

    @property
    def runnable(self) -> bool:
        return self.tvm_op is not None


def _e(name, tvm_op, family, ref, *, dtypes=ALL, domain=Domain(), min_trt=None, tol=None, note=""):
    return OpEntry(name=name, min_trt=min_trt, tvm_op=tvm_op, family=family, ref=ref, dtypes=dtypes,
                   domain=domain, tol=MappingProxyType({k: Tolerance(atol=a, rtol=r) for k, (a, r) in
                                                        (tol or {}).items()}), note=note)


def _none(name, reason, *, min_trt=None):
    return OpEntry(name=name, min_trt=min_trt, tvm_op=None, no_equivalent=reason)


_LOOSE = {"float32": (1e-4, 1e-4), "float16": (1e-2, 1e-2)}          # accumulations
_CONV = {"float32": (1e-4, 1e-4), "float16": (3e-2, 3e-2)}
_TRANS = {"float32": (1e-5, 1e-5), "float16": (5e-3, 5e-3)}           # transcendental
_V515, _V601, _V700 = (5, 1, 5), (6, 0, 1), (7, 0, 0)
_P = functools.partial
_U, _B = F.Unary(), F.Binary()

OPS: tuple[OpEntry, ...] = (
    _e("nn.relu", "relax.nn.relu", _U, O.relu),
    _e("sigmoid", "relax.sigmoid", _U, O.sigmoid, dtypes=F_F64, tol=_TRANS),
    _e("tanh", "relax.tanh", _U, np.tanh, dtypes=F_F64, tol=_TRANS),
    _e("nn.batch_norm", "relax.nn.batch_norm", F.BatchNorm(), O.batch_norm, dtypes=FLOATS, tol=_LOOSE,
       note="relax.nn.batch_norm(training=False) returns (out, mean, var); the program returns out"),
    _e("nn.layer_norm", "relax.nn.layer_norm", F.LayerNorm(), O.layer_norm, dtypes=FLOATS, tol=_LOOSE),
    _e("nn.softmax", "relax.nn.softmax", F.Softmax(), O.softmax, dtypes=F_F64, tol=_TRANS),
    _e("nn.conv1d", "relax.nn.conv1d", F.Conv(nsp=1), O.conv, dtypes=F_F64, tol=_CONV),
    _e("nn.conv2d", "relax.nn.conv2d", F.Conv(nsp=2), O.conv, dtypes=F_F64, tol=_CONV),
    _e("nn.dense", "relax.matmul", F.Dense(), np.matmul, dtypes=F_F64, tol=_LOOSE,
       note="Relax has no dense: matmul by the transposed constant weight (what relax.op.linear emits)"),
    _e("nn.bias_add", "relax.add", F.BiasAdd(), np.add, dtypes=F_F64,
       note="Relax has no bias_add: add with the constant bias reshaped to broadcast along axis"),
    _e("add", "relax.add", _B, np.add),
    _e("subtract", "relax.subtract", _B, np.subtract),
    _e("multiply", "relax.multiply", _B, np.multiply),
    _e("divide", "relax.divide", _B, np.divide, dtypes=F_F64, tol=_TRANS,
       domain=(Domain(), Domain(away=0.5))),
    _e("power", "relax.power", _B, np.power, dtypes=F_F64, tol=_TRANS, domain=(Domain(0.5, 2.0), Domain())),
    _e("maximum", "relax.maximum", _B, np.maximum),
    _e("minimum", "relax.minimum", _B, np.minimum),
    _e("nn.max_pool2d", "relax.nn.max_pool2d", F.Pool(nsp=2, kind="max"), _P(O.pool, kind="max"), dtypes=FLOATS),
    _e("nn.avg_pool2d", "relax.nn.avg_pool2d", F.Pool(nsp=2, kind="avg"), _P(O.pool, kind="avg"), dtypes=FLOATS,
       tol=_LOOSE),
    _none("nn.global_max_pool2d",
          "Relax has no global or adaptive max pooling (relax.op.nn has adaptive_avg_pool1d/2d/3d only); "
          "frontends lower GlobalMaxPool to relax.max over the spatial axes, covered by the `max` suite"),
    _e("nn.global_avg_pool2d", "relax.nn.adaptive_avg_pool2d", F.AdaptiveAvgPool(global_=True), O.adaptive_avg_pool,
       dtypes=FLOATS, tol=_LOOSE, note="Relax has no global pooling: adaptive_avg_pool2d with output_size (1, 1)"),
    _e("exp", "relax.exp", _U, np.exp, dtypes=F_F64, tol=_TRANS),
    _e("log", "relax.log", _U, np.log, dtypes=F_F64, domain=Domain(0.05, 4.0), tol=_TRANS),
    _e("sqrt", "relax.sqrt", _U, np.sqrt, dtypes=F_F64, domain=Domain(0.0, 4.0), tol=_TRANS),
    _e("abs", "relax.abs", _U, np.abs),
    _e("negative", "relax.negative", _U, np.negative),
    _e("nn.batch_flatten", "relax.nn.batch_flatten", F.BatchFlatten(), O.batch_flatten),
    _e("expand_dims", "relax.expand_dims", F.ExpandDims(), O.expand_dims),
    _e("squeeze", "relax.squeeze", F.Squeeze(), O.squeeze),
    _e("concatenate", "relax.concat", F.Concat(), O.concatenate),
    _e("nn.conv2d_transpose", "relax.nn.conv2d_transpose", F.Conv(nsp=2, transpose=True), O.conv_transpose,
       dtypes=F_F64, tol=_CONV),
    _e("transpose", "relax.permute_dims", F.Transpose(), O.transpose),
    _e("layout_transform", "relax.layout_transform", F.LayoutTransform(), O.layout_transform),
    _e("reshape", "relax.reshape", F.Reshape(), O.reshape),
    _e("nn.pad", "relax.nn.pad", F.Pad(), O.pad,   # no zeros: edge padding must not copy a 0 by chance
       domain=Domain(0.5, 2.0)),
    _e("sum", "relax.sum", F.Reduce(), np.sum, tol=_LOOSE),
    _e("prod", "relax.prod", F.Reduce(), np.prod, tol=_LOOSE,   # products kept finite and exact-ish
       domain=Domain(squash=lambda x: np.sign(x) * (0.75 + np.abs(x) / 4), int_squash=few_large)),
    _e("max", "relax.max", F.Reduce(), np.max),
    _e("min", "relax.min", F.Reduce(), np.min),
    _e("mean", "relax.mean", F.Reduce(), np.mean, tol=_LOOSE),
    _none("nn.adaptive_max_pool2d",
          "Relax has no adaptive max pooling (relax.op.nn has adaptive_avg_pool1d/2d/3d only)"),
    _e("nn.adaptive_avg_pool2d", "relax.nn.adaptive_avg_pool2d", F.AdaptiveAvgPool(), O.adaptive_avg_pool,
       dtypes=FLOATS, tol=_LOOSE),
    _e("nn.batch_matmul", "relax.matmul", F.BatchMatmul(), np.matmul, tol=_LOOSE,
       note="Relax matmul of two runtime tensors, batch dims broadcast"),
    _e("clip", "relax.clip", F.Clip(), np.clip, dtypes=F_INT + ("float64",), min_trt=_V515),
    _e("nn.leaky_relu", "relax.nn.leakyrelu", F.LeakyRelu(), O.leaky_relu, dtypes=F_F64, min_trt=_V515),
    _e("sin", "relax.sin", _U, np.sin, dtypes=F_F64, min_trt=_V515, tol=_TRANS),
    _e("cos", "relax.cos", _U, np.cos, dtypes=F_F64, min_trt=_V515, tol=_TRANS),
    _e("atan", "relax.atan", _U, np.arctan, dtypes=F_F64, min_trt=_V515, tol=_TRANS),
    _e("ceil", "relax.ceil", _U, np.ceil, dtypes=F_F64, min_trt=_V515),
    _e("floor", "relax.floor", _U, np.floor, dtypes=F_F64, min_trt=_V515),
    _e("split", "relax.split", F.Split(), O.split, min_trt=_V515),
    _e("strided_slice", "relax.strided_slice", F.StridedSlice(), O.strided_slice, min_trt=_V515),
    _e("nn.conv3d", "relax.nn.conv3d", F.Conv(nsp=3), O.conv, dtypes=F_F64, min_trt=_V601, tol=_CONV),
    _e("nn.max_pool3d", "relax.nn.max_pool3d", F.Pool(nsp=3, kind="max"), _P(O.pool, kind="max"), dtypes=FLOATS,
       min_trt=_V601),
    _e("nn.avg_pool3d", "relax.nn.avg_pool3d", F.Pool(nsp=3, kind="avg"), _P(O.pool, kind="avg"), dtypes=FLOATS,
       min_trt=_V601, tol=_LOOSE),
    _e("nn.conv3d_transpose", "relax.nn.conv3d_transpose", F.Conv(nsp=3, transpose=True), O.conv_transpose,
       dtypes=F_F64, min_trt=_V601, tol=_CONV),
    _e("erf", "relax.erf", _U, O.erf, dtypes=F_F64, min_trt=_V700, tol=_TRANS),
)


def validate(ops: tuple[OpEntry, ...], seed: dict[str, Version | None]) -> None:
    """Raise TableError naming what disagrees between ``ops`` and the seed's table."""
    problems = []
    for i, e in enumerate(ops):
        where = f"table entry {i} ({getattr(e, 'name', '?')!r})"
        if not isinstance(e, OpEntry):
            problems.append(f"{where}: not an OpEntry")
            continue
        if (e.tvm_op is None) == (e.no_equivalent is None):
            problems.append(f"{where}: give exactly one of tvm_op and no_equivalent")
        if e.tvm_op is not None and (e.family is None or e.ref is None or not e.tvm_op.startswith("relax.")):
            problems.append(f"{where}: a mapped op needs a family, a reference function and a 'relax.' op name, "
                            f"got {e.tvm_op!r}")
        if e.tvm_op is not None and (not e.dtypes or not set(e.dtypes) <= set(DEFAULT_TOL)):
            problems.append(f"{where}: dtypes must be a non-empty subset of {sorted(DEFAULT_TOL)}, got {e.dtypes!r}")
        if e.min_trt is not None and (
            not isinstance(e.min_trt, tuple) or len(e.min_trt) != 3
            or not all(isinstance(v, int) and v >= 0 for v in e.min_trt)
        ):
            problems.append(f"{where}: min_trt must be a (major, minor, patch) tuple, got {e.min_trt!r}")
        for dt, tol in e.tol.items():
            if not (isinstance(tol, Tolerance) and tol.atol >= 0 and tol.rtol >= 0):
                problems.append(f"{where}: tolerance for {dt} must be a Tolerance with atol, rtol >= 0, got {tol!r}")
    if problems:
        raise TableError("; ".join(problems))
    names = [e.name for e in ops]
    dupes = sorted({n for n in names if names.count(n) > 1})
    missing, extra = sorted(set(seed) - set(names)), sorted(set(names) - set(seed))
    if dupes or missing or extra:
        raise TableError(
            f"table has {len(names)} ops, seed lists {len(seed)}; missing: {missing}; extra: {extra}; "
            f"duplicated: {dupes}"
        )
    wrong = {e.name: (e.min_trt, seed[e.name]) for e in ops if e.min_trt != seed[e.name]}
    if wrong:
        raise TableError(f"minimum TensorRT version differs from the seed (table, seed): {wrong}")


validate(OPS, seed_operators())

BY_NAME: Mapping[str, OpEntry] = MappingProxyType({e.name: e for e in OPS})


def cases(entry: OpEntry):
    """The Hypothesis strategy of ``entry``'s cases: the family's sample, then the dtype (from
    ``entry.dtypes``), what the family draws after it, and the data seed."""
    from hypothesis import strategies as st

    from . import strategies as S
    from .case import Case

    @st.composite
    def case(draw):
        sample = entry.family.sample(draw)
        dtype = draw(st.sampled_from(entry.dtypes))
        sample = entry.family.late(draw, sample)
        return Case(entry.name, dtype, tuple(sample.shapes), dict(sample.attrs), tuple(sample.weights),
                    draw(S.seeds()))
    return case()


def entries_for_tvm_op(tvm_op: str) -> list[OpEntry]:
    """Table entries whose Relax op is ``tvm_op`` (matmul serves dense and batch_matmul)."""
    return [e for e in OPS if e.tvm_op == tvm_op]
