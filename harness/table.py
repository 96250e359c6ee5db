"""THE support table: one frozen entry per operator of the seed's table, in one tuple.

Nothing else in the harness lists operators.  Each entry carries the seed's name and minimum
TensorRT version, the installed TVM's Relax op (or ``None`` with the reason there is none), the
family that generates, builds and checks its cases, and tolerances per dtype.  The table is
checked against the seed document at import time: a missing, extra or misspelt operator, or a
minimum version that disagrees with the seed, fails with the difference in the message.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from . import families as F
from .errors import TableError
from .seed import seed_operators

from .versions import Version  # noqa: E402

# (atol, rtol) per dtype, used by the preserve and reference checks.
DEFAULT_TOL: Mapping[str, tuple[float, float]] = MappingProxyType({
    "float32": (1e-5, 1e-5),
    "float16": (2e-3, 2e-3),
    "float64": (1e-10, 1e-10),
    "int32": (0.0, 0.0),
})
# TensorRT's FP16 mode (TVM_TENSORRT_USE_FP16=1) is compared with this looser set.
FP16_MODE_TOL = (5e-2, 5e-2)


@dataclass(frozen=True)
class OpEntry:
    name: str                                  # seed (Relay) name, e.g. "nn.conv2d"
    min_trt: Version | None                    # minimum TensorRT version from the seed
    tvm_op: str | None                         # Relax op in the installed TVM, e.g. "relax.nn.conv2d"
    family: F.Family | None = None
    no_equivalent: str | None = None           # why there is no Relax op, when tvm_op is None
    tol: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    note: str = ""                             # how the seed op maps to Relax, when not 1:1

    def tolerance(self, dtype: str) -> tuple[float, float]:
        if dtype in self.tol:
            return self.tol[dtype]
        if dtype not in DEFAULT_TOL:
            raise TableError(f"{self.name}: no tolerance for dtype {dtype!r}")
        return DEFAULT_TOL[dtype]

    @property
    def runnable(self) -> bool:
        return self.tvm_op is not None


def _e(name, tvm_op, family_cls=None, *, min_trt=None, tol=None, note="", **params):
    family = family_cls(tvm_op, **params) if family_cls else None
    return OpEntry(name=name, min_trt=min_trt, tvm_op=tvm_op, family=family,
                   tol=MappingProxyType(dict(tol or {})), note=note)


def _none(name, reason, *, min_trt=None):
    return OpEntry(name=name, min_trt=min_trt, tvm_op=None, no_equivalent=reason)


_LOOSE = {"float32": (1e-4, 1e-4), "float16": (1e-2, 1e-2)}          # accumulations
_CONV = {"float32": (1e-4, 1e-4), "float16": (3e-2, 3e-2)}
_TRANS = {"float32": (1e-5, 1e-5), "float16": (5e-3, 5e-3)}           # transcendental
_V515, _V601, _V700 = (5, 1, 5), (6, 0, 1), (7, 0, 0)

OPS: tuple[OpEntry, ...] = (
    _e("nn.relu", "relax.nn.relu", F.Unary, fn="relu", ints=True),
    _e("sigmoid", "relax.sigmoid", F.Unary, fn="sigmoid", tol=_TRANS),
    _e("tanh", "relax.tanh", F.Unary, fn="tanh", tol=_TRANS),
    _e("nn.batch_norm", "relax.nn.batch_norm", F.BatchNorm, tol=_LOOSE,
       note="relax.nn.batch_norm(training=False) returns (out, mean, var); the program returns out"),
    _e("nn.layer_norm", "relax.nn.layer_norm", F.LayerNorm, tol=_LOOSE),
    _e("nn.softmax", "relax.nn.softmax", F.Softmax, tol=_TRANS),
    _e("nn.conv1d", "relax.nn.conv1d", F.Conv, nsp=1, tol=_CONV),
    _e("nn.conv2d", "relax.nn.conv2d", F.Conv, nsp=2, tol=_CONV),
    _e("nn.dense", "relax.matmul", F.Dense, tol=_LOOSE,
       note="Relax has no dense: matmul by the transposed constant weight (what relax.op.linear emits)"),
    _e("nn.bias_add", "relax.add", F.BiasAdd,
       note="Relax has no bias_add: add with the constant bias reshaped to broadcast along axis"),
    _e("add", "relax.add", F.Binary, fn="add"),
    _e("subtract", "relax.subtract", F.Binary, fn="subtract"),
    _e("multiply", "relax.multiply", F.Binary, fn="multiply"),
    _e("divide", "relax.divide", F.Binary, fn="divide", ints=False, tol=_TRANS),
    _e("power", "relax.power", F.Binary, fn="power", ints=False, tol=_TRANS),
    _e("maximum", "relax.maximum", F.Binary, fn="maximum"),
    _e("minimum", "relax.minimum", F.Binary, fn="minimum"),
    _e("nn.max_pool2d", "relax.nn.max_pool2d", F.Pool, nsp=2, kind="max"),
    _e("nn.avg_pool2d", "relax.nn.avg_pool2d", F.Pool, nsp=2, kind="avg", tol=_LOOSE),
    _none("nn.global_max_pool2d",
          "Relax has no global or adaptive max pooling (relax.op.nn has adaptive_avg_pool1d/2d/3d only); "
          "frontends lower GlobalMaxPool to relax.max over the spatial axes, covered by the `max` suite"),
    _e("nn.global_avg_pool2d", "relax.nn.adaptive_avg_pool2d", F.AdaptiveAvgPool, global_=True, tol=_LOOSE,
       note="Relax has no global pooling: adaptive_avg_pool2d with output_size (1, 1)"),
    _e("exp", "relax.exp", F.Unary, fn="exp", tol=_TRANS),
    _e("log", "relax.log", F.Unary, fn="log", domain=(0.05, 4.0), tol=_TRANS),
    _e("sqrt", "relax.sqrt", F.Unary, fn="sqrt", domain=(0.0, 4.0), tol=_TRANS),
    _e("abs", "relax.abs", F.Unary, fn="abs", ints=True),
    _e("negative", "relax.negative", F.Unary, fn="negative", ints=True),
    _e("nn.batch_flatten", "relax.nn.batch_flatten", F.BatchFlatten),
    _e("expand_dims", "relax.expand_dims", F.ExpandDims),
    _e("squeeze", "relax.squeeze", F.Squeeze),
    _e("concatenate", "relax.concat", F.Concat),
    _e("nn.conv2d_transpose", "relax.nn.conv2d_transpose", F.Conv, nsp=2, transpose=True, tol=_CONV),
    _e("transpose", "relax.permute_dims", F.Transpose),
    _e("layout_transform", "relax.layout_transform", F.LayoutTransform),
    _e("reshape", "relax.reshape", F.Reshape),
    _e("nn.pad", "relax.nn.pad", F.Pad),
    _e("sum", "relax.sum", F.Reduce, fn="sum", tol=_LOOSE),
    _e("prod", "relax.prod", F.Reduce, fn="prod", tol=_LOOSE),
    _e("max", "relax.max", F.Reduce, fn="max"),
    _e("min", "relax.min", F.Reduce, fn="min"),
    _e("mean", "relax.mean", F.Reduce, fn="mean", tol=_LOOSE),
    _none("nn.adaptive_max_pool2d",
          "Relax has no adaptive max pooling (relax.op.nn has adaptive_avg_pool1d/2d/3d only)"),
    _e("nn.adaptive_avg_pool2d", "relax.nn.adaptive_avg_pool2d", F.AdaptiveAvgPool, tol=_LOOSE),
    _e("nn.batch_matmul", "relax.matmul", F.BatchMatmul, tol=_LOOSE,
       note="Relax matmul of two runtime tensors, batch dims broadcast"),
    _e("clip", "relax.clip", F.Clip, min_trt=_V515),
    _e("nn.leaky_relu", "relax.nn.leakyrelu", F.LeakyRelu, min_trt=_V515),
    _e("sin", "relax.sin", F.Unary, fn="sin", min_trt=_V515, tol=_TRANS),
    _e("cos", "relax.cos", F.Unary, fn="cos", min_trt=_V515, tol=_TRANS),
    _e("atan", "relax.atan", F.Unary, fn="atan", min_trt=_V515, tol=_TRANS),
    _e("ceil", "relax.ceil", F.Unary, fn="ceil", min_trt=_V515),
    _e("floor", "relax.floor", F.Unary, fn="floor", min_trt=_V515),
    _e("split", "relax.split", F.Split, min_trt=_V515),
    _e("strided_slice", "relax.strided_slice", F.StridedSlice, min_trt=_V515),
    _e("nn.conv3d", "relax.nn.conv3d", F.Conv, nsp=3, min_trt=_V601, tol=_CONV),
    _e("nn.max_pool3d", "relax.nn.max_pool3d", F.Pool, nsp=3, kind="max", min_trt=_V601),
    _e("nn.avg_pool3d", "relax.nn.avg_pool3d", F.Pool, nsp=3, kind="avg", min_trt=_V601, tol=_LOOSE),
    _e("nn.conv3d_transpose", "relax.nn.conv3d_transpose", F.Conv, nsp=3, transpose=True, min_trt=_V601,
       tol=_CONV),
    _e("erf", "relax.erf", F.Unary, fn="erf", min_trt=_V700, tol=_TRANS),
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
        if e.tvm_op is not None and (e.family is None or not e.tvm_op.startswith("relax.")):
            problems.append(f"{where}: a mapped op needs a family and a 'relax.' op name, got {e.tvm_op!r}")
        if e.min_trt is not None and (
            not isinstance(e.min_trt, tuple) or len(e.min_trt) != 3
            or not all(isinstance(v, int) and v >= 0 for v in e.min_trt)
        ):
            problems.append(f"{where}: min_trt must be a (major, minor, patch) tuple, got {e.min_trt!r}")
        for dt, tol in e.tol.items():
            if not (isinstance(tol, tuple) and len(tol) == 2 and all(isinstance(t, float) and t >= 0 for t in tol)):
                problems.append(f"{where}: tolerance for {dt} must be (atol, rtol) >= 0, got {tol!r}")
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


def entries_for_tvm_op(tvm_op: str) -> list[OpEntry]:
    """Table entries whose Relax op is ``tvm_op`` (matmul serves dense and batch_matmul)."""
    return [e for e in OPS if e.tvm_op == tvm_op]
