"""The few TVM API differences between the apache-tvm releases the harness runs on (0.25-0.27).

0.25 annotates Relax values with ``StructInfo`` (``relax.TensorStructInfo``, ``expr.struct_info``,
``relax.Constant``); 0.26 and 0.27 merged it into types (``relax.TensorType``, ``expr.ty``,
``tvm.ir.expr.Constant``).  Everything else the harness uses is common to all three.
"""
from __future__ import annotations


def _relax():
    from tvm import relax

    return relax


def uses_struct_info() -> bool:
    return hasattr(_relax(), "TensorStructInfo")


def tensor_type(shape, dtype: str):
    relax = _relax()
    if uses_struct_info():
        return relax.TensorStructInfo(list(shape), dtype)
    return relax.TensorType(list(shape), dtype)


def type_of(expr):
    """The value's tensor/tuple annotation (StructInfo on 0.25, Type on later releases)."""
    if uses_struct_info():
        return getattr(expr, "struct_info", None)
    return getattr(expr, "ty", None)


def is_tensor(ty) -> bool:
    relax = _relax()
    cls = relax.TensorStructInfo if uses_struct_info() else relax.TensorType
    return isinstance(ty, cls)


def is_tuple(ty) -> bool:
    relax = _relax()
    cls = relax.TupleStructInfo if uses_struct_info() else relax.TupleType
    return isinstance(ty, cls)


def constant_class():
    relax = _relax()
    if hasattr(relax, "Constant"):
        return relax.Constant
    from tvm.ir.expr import Constant

    return Constant


def index_map_class():
    import tvm

    return (tvm.tirx if hasattr(tvm, "tirx") else tvm.tir).IndexMap
