"""An ONNX model's file, its inputs and their data, for ``trt-harness check MODEL.onnx``.

* :func:`load_model`: the file (or a ``ModelProto``) as a checked ``ModelProto``; every problem
  is one :class:`~harness.errors.InputError` line that names the file.
* :func:`declared_inputs`: what the graph declares for its runtime inputs (graph inputs that are
  not initializers): element type and dimensions, fixed or named.
* :func:`input_specs`: concrete ``{name: (shape, dtype)}``; named dimensions (``dim_param``) take
  values per name (``dims={"batch": 2, "seq": 128}``), the others ``dim_value``; a rank-0 input
  stays rank-0.
* :func:`~harness.models.input_files.load_inputs` (in :mod:`harness.models.input_files`): the user's data (``--input name=file.npy``, ``--input file.npz``,
  ``--input name=file.pb``), loaded with ``allow_pickle=False`` and checked against the
  declared element type and rank (fixed dimensions must match).
* :func:`~harness.models.domains.generate_inputs` (in :mod:`harness.models.domains`): seeded data that stays inside each
  consuming op's domain.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ..errors import InputError

Shape = tuple[int, ...]
Spec = tuple[Shape, str]

# Element types the harness can generate, load and hand to TVM (NumPy has no bfloat16/float8/int4).
SUPPORTED_DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64",
                    "uint8", "uint16", "uint32", "uint64", "bool")


def one_line(exc: BaseException | str, limit: int = 300) -> str:
    """``exc``'s message on one line (a traceback's last line, else all lines joined)."""
    text = (exc if isinstance(exc, str) else str(exc)).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return exc if isinstance(exc, str) else type(exc).__name__
    line = lines[-1] if "Traceback" in text else " ".join(lines)
    return line if len(line) <= limit else line[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------------
# Loading and checking the model
# ---------------------------------------------------------------------------------------------

def load_model(model_or_path, *, check: bool = True):
    """``(ModelProto, label)``; the label is the path (or the graph's name for a proto).

    Raises :class:`InputError` (one line, naming the file) for a missing path, a directory, an
    empty, truncated or non-ONNX file, a graph without nodes or outputs, and a model that
    ``onnx.checker`` refuses.  A model of a newer IR version than the installed ``onnx`` knows
    (IR 10 with onnx 1.15) is checked as the newest IR version it knows, since the IR versions
    after 8 only add types and fields that the checker reports on its own.
    """
    import onnx

    if isinstance(model_or_path, onnx.ModelProto):
        model, label = model_or_path, (model_or_path.graph.name or "<model>")
    else:
        try:
            path = os.fspath(model_or_path)
        except TypeError:
            raise InputError(f"{model_or_path!r}: not a path or an onnx.ModelProto") from None
        label = path
        if not os.path.exists(path):
            raise InputError(f"{path}: no such file")
        if os.path.isdir(path):
            raise InputError(f"{path}: is a directory, not an ONNX file")
        if os.path.getsize(path) == 0:
            raise InputError(f"{path}: empty file, not an ONNX model")
        try:
            model = onnx.load(path)
        except Exception as exc:  # DecodeError, missing external data, ...
            raise InputError(f"{path}: not a readable ONNX model (truncated or corrupt?): "
                             f"{one_line(exc)}") from None
    if not model.HasField("graph") or not model.graph.node:
        raise InputError(f"{label}: the ONNX graph has no nodes (truncated or not an ONNX model?)")
    if not model.graph.output:
        raise InputError(f"{label}: the ONNX graph declares no outputs (truncated?)")
    if check:
        checked = model
        if model.ir_version > onnx.IR_VERSION:
            checked = copy.copy(model)
            checked.CopyFrom(model)
            checked.ir_version = onnx.IR_VERSION
        try:
            if checked.ByteSize() > 2**31 - 1 and not isinstance(model_or_path, onnx.ModelProto):
                onnx.checker.check_model(os.fspath(model_or_path))
            else:
                onnx.checker.check_model(checked)
        except Exception as exc:
            raise InputError(f"{label}: invalid ONNX model: {one_line(exc)}") from None
    return model, label


# ---------------------------------------------------------------------------------------------
# Declared inputs and concrete specs
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Declared:
    """A runtime input as the graph declares it.

    ``dims`` is ``None`` when no shape is declared; each dimension is an ``int`` (fixed, may be
    0), a ``str`` (``dim_param``) or ``None`` (unknown).  ``dtype`` is the NumPy name or ``None``
    when the element type has no supported NumPy dtype (``elem`` then names it).
    """

    name: str
    elem: str
    dtype: str | None
    dims: tuple[int | str | None, ...] | None

    def describe(self) -> str:
        if self.dims is None:
            return f"{self.dtype or self.elem}[?]"
        return f"{self.dtype or self.elem}[{','.join('?' if d is None else str(d) for d in self.dims)}]"


def _elem_name(elem_type: int) -> str:
    from onnx import TensorProto

    try:
        return TensorProto.DataType.Name(elem_type)
    except ValueError:
        return f"element type {elem_type}"


# TensorProto element types -> NumPy (explicit: onnx < 1.16 maps bfloat16/float8 to float32).
_ELEM_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32",
                7: "int64", 9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64"}


def _np_dtype_name(elem_type: int) -> str | None:
    return _ELEM_DTYPES.get(int(elem_type))


def declared_inputs(model) -> dict[str, Declared]:
    """The runtime inputs (graph inputs that are not initializers), in graph order.

    A non-tensor input (sequence, map, optional) is an :class:`InputError`."""
    inits = {t.name for t in model.graph.initializer}
    out: dict[str, Declared] = {}
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        kind = vi.type.WhichOneof("value")
        if kind != "tensor_type":
            raise InputError(f"input {vi.name!r} is not a tensor ({kind or 'no type'}); "
                             f"the harness takes tensor inputs only")
        tt = vi.type.tensor_type
        dims = None
        if tt.HasField("shape"):
            ds: list[int | str | None] = []
            for d in tt.shape.dim:
                if d.HasField("dim_value") and d.dim_value >= 0:
                    ds.append(int(d.dim_value))
                elif d.HasField("dim_param") and d.dim_param:
                    ds.append(d.dim_param)
                else:
                    ds.append(None)
            dims = tuple(ds)
        out[vi.name] = Declared(vi.name, _elem_name(tt.elem_type), _np_dtype_name(tt.elem_type), dims)
    return out


def _positive(what: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def input_specs(model, *, dims: Mapping[str, int] | None = None, dim_value: int | None = 1,
                given: Mapping[str, np.ndarray] | None = None) -> dict[str, Spec]:
    """``{name: (shape, dtype)}`` for every runtime input, in graph order.

    A fixed dimension keeps its value (a rank-0 input keeps shape ``()``).  A named dimension
    (``dim_param``) takes ``dims[name]``; any dynamic dimension can also be set by position as
    ``dims["input:axis"]``; the rest take ``dim_value`` (``None``: each must be given).  Inputs in
    ``given`` (the user's data, see :func:`harness.models.input_files.load_inputs`) take the data's shape and dtype and bind
    the named dimensions they carry, so ``batch`` read from one input's data applies to the
    inputs that are generated.  A name in ``dims`` that no input has, a conflict between two
    values of one named dimension, an input without any shape that is not given, and an
    unsupported element type are :class:`InputError` lines.
    """
    decl = declared_inputs(model)
    dims = dict(dims or {})
    for k, v in dims.items():
        _positive(f"dimension {k!r}", v)
    if dim_value is not None:
        dim_value = _positive("--dim-value", dim_value)
    given = dict(given or {})
    unknown = sorted(set(given) - set(decl))
    if unknown:
        raise InputError(f"data given for {', '.join(map(repr, unknown))}, which the model does not "
                         f"take as input(s); its inputs: {', '.join(decl) or 'none'}")
    params = sorted({d for x in decl.values() if x.dims for d in x.dims if isinstance(d, str)})
    positional = {f"{x.name}:{i}" for x in decl.values() if x.dims
                  for i, d in enumerate(x.dims) if not isinstance(d, int)}
    stray = sorted(k for k in dims if k not in params and k not in positional)
    if stray:
        raise InputError(f"no input has a dynamic dimension named {', '.join(map(repr, stray))}; "
                         f"named dimensions: {', '.join(params) or 'none'} "
                         f"(or give one as INPUT:AXIS)")
    # Named dimensions bound by the given data.
    bound: dict[str, tuple[int, str]] = {}
    for name, arr in given.items():
        check_input(name, np.asarray(arr), decl[name], source="given data")
        d = decl[name]
        for axis, dd in enumerate(d.dims or ()):
            if isinstance(dd, str):
                n = int(np.shape(arr)[axis])
                if dd in dims and dims[dd] != n:
                    raise InputError(f"dimension {dd!r} is {dims[dd]} but input {name!r}'s data "
                                     f"has {n} there (axis {axis})")
                if dd in bound and bound[dd][0] != n:
                    raise InputError(f"dimension {dd!r} is {bound[dd][0]} in input "
                                     f"{bound[dd][1]!r}'s data but {n} in input {name!r}'s")
                bound[dd] = (n, name)
    values = {k: v for k, v in dims.items()}
    values.update({k: v for k, (v, _) in bound.items()})
    specs: dict[str, Spec] = {}
    for name, d in decl.items():
        if name in given:
            arr = np.asarray(given[name])
            specs[name] = (tuple(int(s) for s in arr.shape), arr.dtype.name)
            continue
        if d.dtype is None:
            raise InputError(f"input {name!r} has element type {d.elem}, which the harness cannot "
                             f"generate (supported: {', '.join(SUPPORTED_DTYPES)})")
        if d.dims is None:
            raise InputError(f"input {name!r} declares no shape, so it has no fixed shape; give its "
                             f"data with --input {name}=FILE.npy")
        shape = []
        for axis, dd in enumerate(d.dims):
            if isinstance(dd, int):
                shape.append(dd)
            elif isinstance(dd, str) and dd in values:
                shape.append(values[dd])
            elif f"{name}:{axis}" in values:
                shape.append(values[f"{name}:{axis}"])
            elif dim_value is not None:
                shape.append(dim_value)
            else:
                what = repr(dd) if isinstance(dd, str) else f"{name}:{axis}"
                raise InputError(f"input {name!r} ({d.describe()}): no value for dynamic "
                                 f"dimension {what}; give it with --dim {what}=N")
        specs[name] = (tuple(shape), d.dtype)
    return specs


def check_input(name: str, arr: np.ndarray, declared: Declared, *, source: str) -> None:
    """The data of input ``name`` has the declared element type and rank, and each fixed
    dimension's size; otherwise an :class:`InputError` line naming ``source``."""
    if not isinstance(arr, np.ndarray):
        raise InputError(f"{source}: input {name!r} is not an array ({type(arr).__name__})")
    got = f"{arr.dtype.name}{list(arr.shape)}"
    if declared.dtype is None:
        raise InputError(f"{source}: input {name!r} has element type {declared.elem}, which the "
                         f"harness does not support")
    if arr.dtype.name != declared.dtype:
        raise InputError(f"{source}: input {name!r} is {got}, the model declares "
                         f"{declared.describe()} (element type {arr.dtype.name} is not "
                         f"{declared.dtype}; convert the data, the harness does not cast)")
    if declared.dims is None:
        return
    if arr.ndim != len(declared.dims):
        raise InputError(f"{source}: input {name!r} is {got} (rank {arr.ndim}), the model declares "
                         f"{declared.describe()} (rank {len(declared.dims)})")
    for axis, (n, d) in enumerate(zip(arr.shape, declared.dims)):
        if isinstance(d, int) and n != d:
            raise InputError(f"{source}: input {name!r} is {got}, the model declares "
                             f"{declared.describe()} (axis {axis} must be {d})")
