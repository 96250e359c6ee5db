"""The few TVM API differences between the apache-tvm releases the harness runs on (0.25-0.27).

0.25 annotates Relax values with ``StructInfo`` (``relax.TensorStructInfo``, ``expr.struct_info``,
``relax.Constant``); 0.26 and 0.27 merged it into types (``relax.TensorType``, ``expr.ty``,
``tvm.ir.expr.Constant``).  Everything else the harness uses is common to all three.
"""
from __future__ import annotations

import contextlib
import os
import sys

TORCH_ENV = "TRT_HARNESS_IMPORT_TORCH"


def import_tvm():
    """``import tvm`` without the PyTorch import that tvm_ffi makes on its way (tvm_ffi/__init__.py
    first tries ``import torch``, a workaround for a symbol clash on Windows, and
    _optional_torch_c_dlpack.py loads torch's DLPack extension).  Where PyTorch is installed (the
    GPU machine) that is 2.7 s of the 4.8 s import, in each of the run's builders, runners and its
    probe.  The harness hands TVM no PyTorch tensors.  PyTorch stays importable afterwards (the
    timing-fidelity test's independent CUPTI reader imports it), and one that is already imported
    is left alone.  ``TRT_HARNESS_IMPORT_TORCH=1`` imports TVM as it comes."""
    if "tvm" in sys.modules:
        return sys.modules["tvm"]
    block = "torch" not in sys.modules and not os.environ.get(TORCH_ENV)
    if block:
        sys.modules["torch"] = None          # `import torch` raises ImportError, which tvm_ffi expects
    try:
        import tvm
    finally:
        if block and "torch" in sys.modules and sys.modules["torch"] is None:
            del sys.modules["torch"]
    return tvm


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


@contextlib.contextmanager
def global_func_replaced(name: str, replace):
    """TVM's global function ``name`` replaced by ``replace(real)`` for the block's duration and
    registered again on the way out; where TVM has no such function, nothing is replaced and
    ``real`` is None to the caller's ``replace`` (which is then not called)."""
    import tvm
    import tvm_ffi

    real = tvm.get_global_func(name, allow_missing=True)
    if real is None:
        yield None
        return
    tvm_ffi.register_global_func(name, replace(real), override=True)
    try:
        yield real
    finally:
        tvm_ffi.register_global_func(name, real, override=True)
