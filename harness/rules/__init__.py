"""Expected offload: should TensorRT take this Relax call, for the targeted TensorRT version?

The answer combines the support table (op and minimum version, from the seed) with the rules
TensorRT's converters enforce.  Every rule cites its source:

* ``ops.cc:<Class>`` - the converter in ``tvm/src/runtime/extra/contrib/tensorrt/tensorrt_ops.cc``,
  shipped inside the installed TVM wheel (its ICHECKs abort the engine build when violated).
* ``runtime.cc`` / ``builder.cc`` - ``tensorrt_runtime.cc`` / ``tensorrt_builder.cc`` beside it.
* ``codegen.cc`` / ``codegen_json.h`` - the Relax TensorRT codegen, which serialises a call's attributes
  for the converters: ``src/relax/backend/contrib/tensorrt/codegen.cc`` and
  ``src/relax/backend/contrib/codegen_json/codegen_json.h`` in apache/tvm (not in the wheel).
* ``pattern:`` - the installed partitioner, ``tvm/relax/backend/contrib/tensorrt.py``.
* ``relay:<function>`` - the Relay-era annotation rules, ``python/tvm/relay/op/contrib/tensorrt.py``
  in apache/tvm before Relay was removed (digest in ``docs/relay-annotation-rules.md``).
* ``trt-docs`` - TensorRT's API documentation (IMatrixMultiplyLayer, IPoolingLayer, ...).

A decision is a value: ``offload`` (bool), ``rule`` (a short stable id used by the expectations
file), ``reason`` (one line) and ``source`` (the citation).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..table import entries_for_tvm_op
from ..versions import Version, format_version, implicit_batch_default
from . import base, ops  # ops registers the per-op rules
from .base import Decision, _no, _out_types, _shape, _tensor_types, _yes, rule

__all__ = ["Decision", "base", "decide", "ops", "rule", "signature"]

# Ops of the seed's table that the installed partitioner can never offload, though the table claims
# them, and whose converter in the wheel could not take the Relax call anyway.  The table's claim is
# the expected offload (rule ``table-claim``), so the partitioner's refusal is an under-offload:
# a finding, known through harness/data/expectations.toml, never a pass.  (batch_norm and
# leaky_relu have no pattern either, but a converter that takes them: rule ``supported``.)
_TABLE_CLAIMS = {
    "relax.nn.pad": (
        "the seed's table lists nn.pad, but the installed partitioner registers no pattern for relax.nn.pad, "
        "and the converter could not take Relax's attributes anyway: PadOpConverter is Relay's (it reads a "
        "`padding` attribute where Relax's PadAttrs has pad_width, and declares two inputs where Relax's pad "
        "has one tensor, its pad_value being an attribute)",
        "seed table (nn.pad); pattern: no relax.nn.pad; ops.cc:PadOpConverter input kinds {kTensor, kIgnored}, "
        "GetAttr(\"padding\"); builder.cc AddLayer ICHECK_EQ(inputs, input_types) 'Mismatched input sizes'"),
}

# Ops with a converter in the installed wheel but absent from the seed's table.
_EXTRA_CONVERTERS = {
    "relax.nn.silu": ((0, 0, 0), "ops.cc:SiluOpConverter"),
    "relax.image.resize2d": ((8, 0, 0), "ops.cc:Resize2DOpConverter (TRT_VERSION_GE(8, 0, 0))"),
}


# -- the decision ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Ctx:
    version: Version
    implicit_batch: bool


def decide(call, *, trt_version: Version, implicit_batch: bool | None = None) -> Decision:
    """Should TensorRT take ``call`` (a ``tvm.relax.Call`` of an operator)?"""
    op = str(call.op.name)
    version = tuple(trt_version)
    if implicit_batch is None:
        implicit_batch = implicit_batch_default(version)
    ctx = _Ctx(version, implicit_batch)
    entries = entries_for_tvm_op(op)
    if entries:
        min_trt = min((e.min_trt or (0, 0, 0)) for e in entries)
        names = "/".join(e.name for e in entries)
        if version < min_trt:
            return _no("version", f"{names} needs TensorRT {format_version(min_trt)}; targeting "
                       f"{format_version(version)}", "seed table; ops.cc TRT_VERSION_GE guards")
        source = f"seed table ({names})"
    elif op in _EXTRA_CONVERTERS:
        min_trt, conv = _EXTRA_CONVERTERS[op]
        if version < min_trt:
            return _no("version", f"{op} needs TensorRT {format_version(min_trt)}", conv)
        source = f"{conv} (not in the seed's table)"
    else:
        return _no("not-in-table", f"{op} is not in the support table", "seed table")
    if op in _TABLE_CLAIMS:
        return Decision(True, "table-claim", *_TABLE_CLAIMS[op])

    for ty in _tensor_types(call) + _out_types(call):
        if str(ty.dtype) not in ("float32", "float16"):
            return _no("dtype", f"dtype {ty.dtype}: TVM's TensorRT builder maps only float32/float16 to TensorRT "
                       "types (TensorRT itself has int32 layers): every engine input and every layer output goes "
                       "through DLDataType2NVDataType, which ICHECKs float16/float32",
                       "builder.cc DLDataType2NVDataType ICHECK(kDLFloat, 16 or 32 bits), called by "
                       "TensorRTBuilder::AddInput and AddLayer (out->setType); runtime.cc BuildEngineAtCompileTime "
                       "ICHECK float16/float32 inputs and constants; relay:is_supported_trt_type")
        shape = _shape(ty)
        if shape is None:
            return _no("dynamic-shape", "a tensor with unknown shape", "runtime.cc (static engine shapes)")
        if len(shape) > 8:
            return _no("rank", f"rank {len(shape)} > 8", "trt-docs:Dims::MAX_DIMS")
        if ctx.implicit_batch and len(shape) == 0:
            return _no("implicit-batch", "under implicit batch, a rank-0 tensor has no batch dimension",
                       "relay:is_valid_subgraph (IB: rank-0 parameter rejected)")
    for check in base._RULES.get(op, ()):
        d = check(call, op, ctx)
        if d is not None:
            return d
    return _yes(source=source)


def signature(call) -> tuple:
    """What tells two calls of one op apart for matching expected with actual offload."""
    types = tuple((str(t.dtype), tuple(_shape(t) or ())) for t in _tensor_types(call))
    attrs = str(call.attrs) if call.attrs is not None else ""
    return (str(call.op.name), types, attrs)
