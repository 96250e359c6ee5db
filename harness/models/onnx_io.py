"""An ONNX model's file, its inputs and their data, for ``trt-harness check MODEL.onnx``.

* :func:`load_model`: the file (or a ``ModelProto``) as a checked ``ModelProto``; every problem
  is one :class:`~harness.errors.InputError` line that names the file.
* :func:`declared_inputs`: what the graph declares for its runtime inputs (graph inputs that are
  not initializers): element type and dimensions, fixed or named.
* :func:`input_specs`: concrete ``{name: (shape, dtype)}``; named dimensions (``dim_param``) take
  values per name (``dims={"batch": 2, "seq": 128}``), the others ``dim_value``; a rank-0 input
  stays rank-0.
* :func:`load_inputs`: the user's data (``--input name=file.npy``, ``--input file.npz``,
  ``--input name=file.pb``), loaded with ``allow_pickle=False`` and checked against the
  declared element type and rank (fixed dimensions must match).
* :func:`generate_inputs`: seeded data that stays inside each consuming op's domain.
"""
from __future__ import annotations

import copy
import math
import os
import zlib
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

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
    ``given`` (the user's data, see :func:`load_inputs`) take the data's shape and dtype and bind
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


# ---------------------------------------------------------------------------------------------
# The user's input files
# ---------------------------------------------------------------------------------------------

def _read_npy(path: str, what: str):
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file ({what})")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory, not a {what}")
    try:
        obj = np.load(path, allow_pickle=False)
    except ValueError as exc:
        msg = one_line(exc)
        if "pickle" in msg:
            msg = "holds pickled objects, which the harness does not load (allow_pickle=False)"
        raise InputError(f"{path}: not a readable {what}: {msg}") from None
    except Exception as exc:  # truncated, not a NumPy file, ...
        raise InputError(f"{path}: not a readable {what}: {one_line(exc)}") from None
    return obj


def _read_pb(path: str):
    import onnx
    from onnx import numpy_helper

    if not os.path.exists(path):
        raise InputError(f"{path}: no such file (ONNX TensorProto)")
    try:
        tensor = onnx.load_tensor(path)
        arr = numpy_helper.to_array(tensor)
    except Exception as exc:
        raise InputError(f"{path}: not a readable ONNX TensorProto: {one_line(exc)}") from None
    return tensor.name, np.asarray(arr)


def load_inputs(items: Sequence[str], model) -> dict[str, np.ndarray]:
    """The user's input data, ``{name: array}`` in the model's input order.

    Each item is ``NAME=FILE.npy``, ``NAME=FILE.pb`` (an ONNX ``TensorProto``), ``FILE.npz``
    (its keys are input names), or ``FILE.npy`` / ``FILE.pb`` alone when the model has one input
    (a ``.pb`` alone may also name its input through the tensor's own name).  Files are loaded
    with ``allow_pickle=False``.  Each array must have the declared element type and rank, and
    the size of each fixed dimension.  Every problem (missing or unreadable file, unknown or
    repeated input name, pickled data, wrong dtype/rank/size) is one :class:`InputError` line
    that names the file.
    """
    decl = declared_inputs(model)
    names = list(decl)
    out: dict[str, np.ndarray] = {}
    origin: dict[str, str] = {}

    def put(name: str, arr, source: str) -> None:
        if name not in decl:
            inits = {t.name for t in model.graph.initializer}
            what = "an initializer (a weight), not a runtime input" if name in inits else \
                "not an input of the model"
            raise InputError(f"{source}: {name!r} is {what}; its inputs: {', '.join(names) or 'none'}")
        if name in out:
            raise InputError(f"{source}: input {name!r} is given twice (also by {origin[name]})")
        if not isinstance(arr, np.ndarray):
            raise InputError(f"{source}: input {name!r} is not an array")
        check_input(name, arr, decl[name], source=source)
        out[name] = arr
        origin[name] = source

    for item in items:
        name, sep, path = item.partition("=")
        if not sep:
            name, path = "", item
        if sep and not name:
            raise InputError(f"--input {item!r}: empty input name (use NAME=FILE.npy)")
        if not path:
            raise InputError(f"--input {item!r}: no file (use NAME=FILE.npy or FILE.npz)")
        if not os.path.exists(path):
            raise InputError(f"{path}: no such file (--input {item})")
        if os.path.isdir(path):
            raise InputError(f"{path}: is a directory, not an input file (.npy, .npz or .pb)")
        low = path.lower()
        if low.endswith(".npz"):
            if name:
                raise InputError(f"{path}: an .npz holds one array per input, named by its keys; "
                                 f"give it without {name}=")
            npz = _read_npy(path, ".npz archive")
            try:
                with npz:
                    keys = list(npz.files)
                    if not keys:
                        raise InputError(f"{path}: the .npz archive is empty")
                    for k in keys:
                        try:
                            arr = npz[k]
                        except ValueError as exc:
                            msg = one_line(exc)
                            if "pickle" in msg:
                                msg = "holds pickled objects (allow_pickle=False)"
                            raise InputError(f"{path}: array {k!r}: {msg}") from None
                        put(k, arr, f"{path}[{k}]")
            except InputError:
                raise
            except Exception as exc:  # a corrupt member
                raise InputError(f"{path}: not a readable .npz archive: {one_line(exc)}") from None
        elif low.endswith(".pb"):
            tname, arr = _read_pb(path)
            if not name:
                if tname in decl:
                    name = tname
                elif len(names) == 1:
                    name = names[0]
                else:
                    raise InputError(f"{path}: which input? the tensor is named {tname!r}, the model "
                                     f"takes {', '.join(names)}; use NAME={path}")
            put(name, arr, path)
        elif low.endswith(".npy"):
            if not name:
                if len(names) != 1:
                    raise InputError(f"{path}: which input? the model takes {len(names)} inputs "
                                     f"({', '.join(names)}); use NAME={path}")
                name = names[0]
            arr = _read_npy(path, ".npy file")
            put(name, arr, path)
        else:
            raise InputError(f"{path}: unknown input file type (use .npy, .npz or .pb)")
    return {k: out[k] for k in names if k in out}


# ---------------------------------------------------------------------------------------------
# Generated inputs that respect each op's domain
# ---------------------------------------------------------------------------------------------

# Ops whose listed inputs pass values through unchanged (a subset, a permutation or a copy):
# a constraint found past them holds for the input before them.  ``None``: every input.
_PASS = {
    "Identity": (0,), "Cast": (0,), "CastLike": (0,), "Reshape": (0,), "Flatten": (0,),
    "Squeeze": (0,), "Unsqueeze": (0,), "Transpose": (0,), "Expand": (0,), "Tile": (0,),
    "Concat": None, "Slice": (0,), "Gather": (0,), "GatherElements": (0,), "GatherND": (0,),
    "Split": (0,), "Dropout": (0,), "DepthToSpace": (0,), "SpaceToDepth": (0,),
    "ReduceMax": (0,), "ReduceMin": (0,), "Max": None, "Min": None, "Compress": (0,),
}
# Ops (input slots) where any value is fine: integers there can be negative.
_VALUE_OPS = {
    "Add", "Sub", "Mul", "Div", "Mod", "Neg", "Abs", "Sum", "Mean", "Equal", "Less", "Greater",
    "LessOrEqual", "GreaterOrEqual", "Sign", "MatMul", "MatMulInteger", "Gemm", "BitwiseAnd",
    "BitwiseOr", "BitwiseXor", "BitwiseNot", "Where", "Clip", "ReduceSum", "ReduceMean",
    "ReduceProd", "ReduceL1", "ReduceL2", "ReduceSumSquare", "CumSum", "ArgMax", "ArgMin",
    "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Exp", "Erf", "Softmax", "LogSoftmax", "Round",
    "Floor", "Ceil", "IsNaN", "IsInf", "Pow", "Einsum", "Det", "Conv", "ConvInteger",
    "QLinearMatMul", "DequantizeLinear", "QuantizeLinear", "Trilu", "Hardmax", "Shrink",
}
_AXIS_DEFAULT = {"Gather": 0, "GatherElements": 0, "ScatterElements": 0, "Scatter": 0,
                 "TopK": -1, "Split": 0, "OneHot": -1}


@dataclass(frozen=True)
class _Need:
    kind: str          # positive | nonzero | ge_one | open_unit | unit | small | index | param
    high: int = 0      # index: exclusive upper bound (0: unknown -> indices 0)
    negative: bool = False   # index: negative indices are allowed
    node: int = -1     # param: the node, slot and op that need exact values
    slot: int = -1


class _Context:
    """Shapes and small constant values of the graph's tensors, and who consumes what."""

    def __init__(self, model, specs: Mapping[str, Spec], given: Mapping[str, np.ndarray]):
        from onnx import numpy_helper

        self.model = model
        self.nodes = list(model.graph.node)
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
        self.consumers: dict[str, list[tuple[int, int]]] = {}
        for i, n in enumerate(self.nodes):
            for j, name in enumerate(n.input):
                if name:
                    self.consumers.setdefault(name, []).append((i, j))
        self.values: dict[str, np.ndarray] = {}
        self.shapes: dict[str, tuple[int | None, ...]] = {}
        for t in model.graph.initializer:
            self.shapes[t.name] = tuple(int(d) for d in t.dims)
            if int(np.prod(t.dims or [1])) <= 64:
                try:
                    self.values[t.name] = numpy_helper.to_array(t)
                except Exception:
                    pass
        for n in self.nodes:
            if n.op_type == "Constant" and n.output:
                for a in n.attribute:
                    if a.name == "value":
                        try:
                            v = numpy_helper.to_array(a.t)
                        except Exception:
                            continue
                        self.values[n.output[0]] = v
                        self.shapes[n.output[0]] = tuple(v.shape)
        # Output shapes the model declares (all dimensions fixed): what a shape input should make.
        self.declared: dict[str, tuple[int, ...]] = {}
        for v in list(model.graph.output) + list(model.graph.value_info):
            tt = v.type.tensor_type if v.type.HasField("tensor_type") else None
            if tt is not None and tt.HasField("shape") and \
                    all(d.HasField("dim_value") for d in tt.shape.dim):
                self.declared[v.name] = tuple(int(d.dim_value) for d in tt.shape.dim)
        for name, arr in given.items():
            self.shapes[name] = tuple(np.shape(arr))
        for name, (shape, _) in specs.items():
            self.shapes[name] = tuple(shape)
        self._infer(specs, given)

    def _infer(self, specs, given) -> None:
        """Shapes of intermediate tensors from ONNX shape inference on concrete input shapes."""
        import onnx

        try:
            m = onnx.ModelProto()
            m.CopyFrom(self.model)
            fixed = {**{k: tuple(np.shape(v)) for k, v in given.items()},
                     **{k: tuple(s) for k, (s, _) in specs.items()}}
            for vi in m.graph.input:
                if vi.name in fixed and vi.type.HasField("tensor_type"):
                    shp = vi.type.tensor_type.shape
                    shp.Clear()
                    for d in fixed[vi.name]:
                        shp.dim.add().dim_value = int(d)
            if m.ir_version > onnx.IR_VERSION:
                m.ir_version = onnx.IR_VERSION
            inferred = onnx.shape_inference.infer_shapes(m, check_type=False, strict_mode=False,
                                                         data_prop=True)
        except Exception:
            return
        for vi in list(inferred.graph.value_info) + list(inferred.graph.output):
            tt = vi.type.tensor_type if vi.type.HasField("tensor_type") else None
            if tt is None or not tt.HasField("shape") or vi.name in self.shapes:
                continue
            self.shapes[vi.name] = tuple(int(d.dim_value) if d.HasField("dim_value") else None
                                         for d in tt.shape.dim)

    def attr(self, node, name: str, default=None):
        from onnx import helper

        for a in node.attribute:
            if a.name == name:
                return helper.get_attribute_value(a)
        return default

    def dim(self, tensor: str, axis: int) -> int | None:
        shape = self.shapes.get(tensor)
        if shape is None or not shape:
            return None
        if axis < 0:
            axis += len(shape)
        if not 0 <= axis < len(shape):
            return None
        return shape[axis]

    def rank(self, tensor: str) -> int | None:
        shape = self.shapes.get(tensor)
        return None if shape is None else len(shape)

    def uses(self, name: str) -> list[tuple[int, int]]:
        """(node, slot) pairs that consume ``name``, looking through value-preserving ops."""
        seen, todo, out = {name}, [name], []
        while todo:
            t = todo.pop()
            for i, j in self.consumers.get(t, ()):
                node = self.nodes[i]
                out.append((i, j))
                passes = _PASS.get(node.op_type, ())
                if node.domain in ("", "ai.onnx") and (passes is None or j in passes):
                    for o in node.output:
                        if o and o not in seen:
                            seen.add(o)
                            todo.append(o)
        return out


def _need(ctx: _Context, i: int, j: int, dtype: np.dtype) -> _Need | None:
    """What input slot ``j`` of node ``i`` needs of the values it receives."""
    node = ctx.nodes[i]
    if node.domain not in ("", "ai.onnx"):
        return None
    op = node.op_type
    if (op in ("Div", "Mod") and j == 1) or (op == "Reciprocal" and j == 0):
        return _Need("nonzero")
    if (op in ("Log", "Sqrt", "ReduceLogSum") and j == 0) or (op == "Pow" and j == 0) or \
            (op == "BatchNormalization" and j == 4) or (op == "Loop" and j == 0):
        return _Need("positive")
    if (op in ("BlackmanWindow", "HannWindow", "HammingWindow") and j == 0) or \
            (op == "Loop" and j == 1):
        return _Need("param", node=i, slot=j)
    if op == "Pow" and j == 1 and dtype.kind in "iu":
        return _Need("small")          # integer powers must be non-negative
    if op == "Acosh" and j == 0:
        return _Need("ge_one")
    if op == "Atanh" and j == 0:
        return _Need("open_unit")
    if (op == "Bernoulli" and j == 0) or (op == "NonMaxSuppression" and j in (3, 4)):
        return _Need("unit")
    if op == "BitShift" and j == 1:
        return _Need("small")
    if op == "NonMaxSuppression" and j == 2:
        return _Need("small")
    if op in ("Gather", "GatherElements", "ScatterElements", "Scatter") and j == 1:
        axis = int(ctx.attr(node, "axis", 0))
        high = ctx.dim(node.input[0], axis) or 0
        neg = op in ("Gather", "GatherElements") and ctx.opset >= 11
        if op in ("ScatterElements", "Scatter"):
            return _Need("param", node=i, slot=j)   # unique along the axis
        return _Need("index", high=high, negative=neg)
    if op in ("GatherND", "ScatterND") and j == 1:
        return _Need("param", node=i, slot=j)
    if op == "RoiAlign" and j == 2:
        return _Need("index", high=ctx.dim(node.input[0], 0) or 0)
    if op == "OneHot" and j == 0:
        depth = ctx.values.get(node.input[1]) if len(node.input) > 1 else None
        high = int(np.asarray(depth).reshape(-1)[0]) if depth is not None and np.size(depth) else 4
        return _Need("index", high=max(high, 0))
    if op == "OneHot" and j == 1:
        return _Need("param", node=i, slot=j)
    if (op == "Slice" and 1 <= j <= 4) or (op in ("Reshape", "Expand", "Tile", "TopK",
                                                   "ConstantOfShape", "Split") and j == 1) \
            or (op == "ConstantOfShape" and j == 0) or (op == "Range") \
            or (op == "Pad" and j in (1, 3)) or (op == "Resize" and j in (2, 3)) \
            or (op == "Resize" and j == 1 and ctx.opset < 11) \
            or (op == "Upsample" and j == 1) or (op in ("Squeeze", "Unsqueeze") and j == 1) \
            or (op.startswith("Reduce") and j == 1) or (op == "CumSum" and j == 1):
        return _Need("param", node=i, slot=j)
    return None


def _broadcasts(data: tuple, target: tuple) -> bool:
    """``data`` broadcasts to exactly ``target`` (numpy rules, as Expand)."""
    if len(data) > len(target):
        return False
    for d, t in zip(reversed(data), reversed(target)):
        if d is None or not (d == t or d == 1):
            return False
    return True


def _unique_along(rng, shape: Shape, axis: int, high: int) -> np.ndarray:
    """Indices of ``shape`` in [0, high), distinct along ``axis`` where ``shape[axis] <= high``."""
    if not shape or high <= 0:
        return np.zeros(shape, np.int64)
    axis %= len(shape)
    if shape[axis] > high:
        return rng.integers(0, high, shape)
    big = list(shape)
    big[axis] = high
    perm = np.argsort(rng.random(big), axis=axis)
    return np.take(perm, np.arange(shape[axis]), axis=axis)


class _Params:
    """Exact values for shape-like input slots (Slice starts..steps, Reshape shape, ...),
    computed once per node so that the slots of one node agree with each other."""

    def __init__(self, ctx: _Context, seed: int):
        self.ctx, self.seed = ctx, seed
        self.cache: dict[tuple[int, int], np.ndarray | None] = {}

    def get(self, i: int, j: int, shape: Shape) -> np.ndarray | None:
        if (i, j) not in self.cache:
            rng = np.random.default_rng([self.seed, 7919, i, j])
            try:
                v = self._compute(i, j, tuple(shape), rng)
            except Exception:  # a shape we could not make sense of: fall back to the defaults
                v = None
            self.cache[(i, j)] = None if v is None else np.asarray(v)
        return self.cache[(i, j)]

    def _len(self, shape: Shape) -> int:
        return int(shape[0]) if len(shape) == 1 else int(np.prod(shape))

    def _compute(self, i: int, j: int, shape: Shape, rng) -> Any:
        ctx = self.ctx
        node = ctx.nodes[i]
        op = node.op_type
        data = node.input[0] if node.input else ""
        dshape = ctx.shapes.get(data)
        rank = None if dshape is None else len(dshape)
        n = self._len(shape)
        known = dshape is not None and all(d is not None for d in dshape)

        def distinct_axes(k: int, r: int | None) -> list[int] | None:
            if r is None or k > r:
                return None
            return sorted(rng.choice(r, size=k, replace=False).tolist())

        if op == "Slice":
            return self._slice(i, j, n, dshape, rng)
        want = ctx.declared.get(node.output[0]) if node.output else None
        if op == "Reshape":
            if want is not None and len(want) == n and known and \
                    int(np.prod(want)) == int(np.prod(dshape)):
                return list(want)   # the shape the model declares for the result
            if not known:
                return [-1] if n == 1 else [0] * (n - 1) + [-1]
            size = int(np.prod(dshape))
            if n == len(dshape):
                return list(dshape)
            if n > len(dshape):
                return [1] * (n - len(dshape)) + list(dshape)
            if n == 0:
                return None
            lead = int(np.prod(dshape[: len(dshape) - n + 1]))
            out = [lead] + list(dshape[len(dshape) - n + 1:])
            assert int(np.prod(out)) == size
            return out
        if op == "Expand":
            if dshape is None:
                return [1] * n
            if want is not None and len(want) == n and _broadcasts(tuple(dshape), want):
                target = list(want)   # the shape the model declares for the result
            else:
                # every axis where the data has size 1 is really expanded (to 2): a no-op
                # Expand would test nothing
                target = ([2] * max(0, n - len(dshape)) +
                          [2 if d == 1 else (d or 1) for d in dshape])[-n:] if n else []
            # Where the data is larger than 1, a target of 1 means "keep": the same result, and
            # the broadcasting rule is exercised (the first such axis always, others at random).
            off = n - len(dshape)
            keep = [a for a in range(max(off, 0), n) if a - off >= 0 and
                    (dshape[a - off] or 0) > 1 and target[a] == dshape[a - off]]
            for k, a in enumerate(keep):
                if k == 0 or rng.random() < 0.5:
                    target[a] = 1
            return target
        if op == "Tile":
            if want is not None and dshape is not None and len(want) == n == len(dshape) and \
                    all(d and w % d == 0 for d, w in zip(dshape, want)):
                return [w // d for d, w in zip(dshape, want)]
            return rng.integers(1, 3, n)
        if op == "Loop":   # the initial condition: true, so the loop runs
            return np.ones(shape, bool)
        if op.endswith("Window"):
            return np.full(shape, int(rng.integers(4, 11)))
        if op == "TopK":
            axis = int(ctx.attr(node, "axis", -1))
            d = ctx.dim(data, axis)
            return np.full(shape, int(rng.integers(1, d + 1)) if d else 1)
        if op == "ConstantOfShape":
            return rng.integers(1, 4, n)
        if op == "Split":
            axis = int(ctx.attr(node, "axis", 0))
            d = ctx.dim(data, axis)
            if d is None:
                return None
            if n == 0:
                return []
            cuts = np.sort(rng.choice(np.arange(1, d), size=n - 1, replace=False)) if d >= n else \
                np.sort(rng.integers(0, d + 1, n - 1))
            return np.diff(np.concatenate([[0], cuts, [d]]))
        if op == "Range":
            return {0: 0, 1: int(rng.integers(2, 7)), 2: 1}.get(j, 1)
        if op == "Pad":
            if j == 1:
                return rng.integers(0, 3, n)
            return distinct_axes(n, rank)
        if op in ("Resize", "Upsample"):
            if (op == "Resize" and (j == 2 or ctx.opset < 11)) or op == "Upsample":
                return [1.0 if a < 2 else float(rng.integers(1, 3)) for a in range(n)]
            if not known:
                return None
            return [d if a < 2 else d * int(rng.integers(1, 3)) for a, d in enumerate(dshape)][:n]
        if op == "Squeeze":
            if dshape is None:
                return None
            ones = [a for a, d in enumerate(dshape) if d == 1]
            return ones[:n] if len(ones) >= n else None
        if op == "Unsqueeze":
            return distinct_axes(n, None if rank is None else rank + n)
        if op.startswith("Reduce"):
            return distinct_axes(n, rank)
        if op == "CumSum":
            return np.full(shape, int(rng.integers(0, rank))) if rank else None
        if op == "OneHot":
            return np.full(shape, 4)
        if op in ("ScatterElements", "Scatter"):
            axis = int(ctx.attr(node, "axis", 0))
            d = ctx.dim(data, axis)
            return _unique_along(rng, shape, axis, d or 0)
        if op in ("GatherND", "ScatterND"):
            if dshape is None or not shape:
                return None
            b = int(ctx.attr(node, "batch_dims", 0)) if op == "GatherND" else 0
            k = shape[-1]
            highs = [dshape[b + c] for c in range(k)]
            if any(h is None or h <= 0 for h in highs):
                return None
            m = int(np.prod(shape[:-1]))
            space = int(np.prod(highs))
            if op == "ScatterND" and 0 < m <= space and space <= 1 << 20:
                flat = rng.choice(space, size=m, replace=False)
                cols = np.stack(np.unravel_index(flat, highs), axis=-1)
                return cols.reshape(shape)
            cols = [rng.integers(0, h, shape[:-1]) for h in highs]
            return np.stack(cols, axis=-1) if cols else np.zeros(shape, np.int64)
        return None

    def _slice(self, i: int, j: int, n: int, dshape, rng):
        """starts/ends/axes/steps of one Slice: distinct valid axes, start < end inside the
        dimension, positive steps; slots that are constants keep their values."""
        ctx = self.ctx
        node = ctx.nodes[i]
        key = (i, -1)
        if key not in self.cache:
            rank = None if dshape is None else len(dshape)
            slots = {s: (node.input[s] if len(node.input) > s and node.input[s] else None)
                     for s in range(1, 5)}
            const = {s: np.asarray(ctx.values[t]).reshape(-1).tolist()
                     for s, t in slots.items() if t is not None and t in ctx.values}
            k = n
            for s, v in const.items():
                k = len(v)
            if 3 in const:
                axes = [int(a) for a in const[3]]
            elif slots[3] is not None and rank is not None and k <= rank:
                axes = sorted(rng.choice(rank, size=k, replace=False).tolist())
            else:
                axes = list(range(k))
            steps = [int(s) for s in const[4]] if 4 in const else \
                [int(rng.integers(1, 3)) for _ in range(k)] if slots[4] is not None else [1] * k
            starts, ends = [], []
            for c, a in enumerate(axes):
                d = (dshape[a] if dshape is not None and -len(dshape) <= a < len(dshape) else None)
                d = 1 if d is None else d
                if 1 in const:
                    s0 = int(const[1][c])
                else:
                    s0 = int(rng.integers(0, max(d, 1)))
                    if steps[c] < 0:
                        s0 = d - 1 - s0
                if 2 in const:
                    e0 = int(const[2][c])
                elif steps[c] > 0:
                    e0 = int(rng.integers(min(s0 + 1, d), d + 1))
                else:   # negative step: end below start; -d-1 reaches past index 0
                    e0 = int(rng.integers(0, s0)) if s0 > 0 else -d - 1
                starts.append(s0)
                ends.append(e0)
            self.cache[key] = {1: starts, 2: ends, 3: axes, 4: steps}  # type: ignore[assignment]
        vals = self.cache[key][j]  # type: ignore[index]
        return vals if len(vals) == n else None


def _default(rng, shape: Shape, dt: np.dtype, *, signed_ok: bool) -> np.ndarray:
    if dt.kind == "f":
        return rng.uniform(-1.0, 1.0, shape).astype(dt)
    if dt.kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    if dt.kind == "i" and signed_ok:
        return rng.integers(-4, 5, shape).astype(dt)
    return rng.integers(0, 4, shape).astype(dt)


def _draw(rng, shape: Shape, dt: np.dtype, need: _Need) -> np.ndarray:
    k = need.kind
    if dt.kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    if dt.kind == "f":
        if k in ("positive", "ge_one"):
            return rng.uniform(1.0, 3.0, shape).astype(dt)
        if k == "nonzero":
            return (rng.choice([-1.0, 1.0], shape) * rng.uniform(1.0, 3.0, shape)).astype(dt)
        if k == "open_unit":
            return rng.uniform(-0.9, 0.9, shape).astype(dt)
        if k == "unit":
            return rng.uniform(0.0, 1.0, shape).astype(dt)
        if k == "small":
            return rng.integers(0, 4, shape).astype(dt)
        if k == "index":
            return rng.integers(0, max(need.high, 1), shape).astype(dt)
        return rng.uniform(-1.0, 1.0, shape).astype(dt)
    # integers
    if k in ("positive", "ge_one"):
        return rng.integers(1, 5, shape).astype(dt)
    if k == "nonzero":
        if dt.kind == "u":
            return rng.integers(1, 5, shape).astype(dt)
        return (rng.choice([-1, 1], shape) * rng.integers(1, 5, shape)).astype(dt)
    if k in ("small", "unit"):
        return rng.integers(0, 4 if k == "small" else 2, shape).astype(dt)
    if k == "index":
        if need.high <= 0:
            return np.zeros(shape, dt)
        low = -need.high if (need.negative and dt.kind == "i") else 0
        return rng.integers(low, need.high, shape).astype(dt)
    return rng.integers(-4, 5, shape).astype(dt) if dt.kind == "i" else \
        rng.integers(0, 5, shape).astype(dt)


_RANK = {"param": 0, "index": 1, "ge_one": 2, "positive": 3, "nonzero": 4, "open_unit": 5,
         "unit": 6, "small": 7}


def generate_inputs(model, specs: Mapping[str, Spec], *, seed: int,
                    given: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Seeded data for the inputs in ``specs`` (``{name: (shape, dtype)}``), inside each op's
    domain.

    Each input's consumers are found by walking the graph from it, through ops that pass values
    on unchanged (Identity, Cast, CastLike, Reshape, Flatten, (Un)Squeeze, Transpose, Expand,
    Tile, Concat, Slice, Gather*, Split, Dropout, DepthToSpace, SpaceToDepth, ReduceMax/Min,
    Max, Min, Compress).  The domains handled:

    * **non-zero**: divisors of Div and Mod (integer and float), Reciprocal's input:
      ``±[1, 3)`` for floats, ``±{1..4}`` for integers (``{1..4}`` unsigned);
    * **positive**: Log, Sqrt, ReduceLogSum, Pow's base, BatchNormalization's variance, Loop's
      trip count: ``[1, 3)`` / ``{1..4}``;
      ``>= 1`` for Acosh, ``(-0.9, 0.9)`` for Atanh, ``[0, 1)`` for Bernoulli's probabilities
      and NonMaxSuppression's thresholds; integer Pow exponents and BitShift amounts in ``[0, 4)``;
    * **indices in range** of the data's dimension (its shape from the specs, the initializers or
      ONNX shape inference): Gather and GatherElements (negative ones too from opset 11),
      GatherND (per column of the last axis, after ``batch_dims``), ScatterND (distinct index
      tuples, as duplicates make the result order-dependent), ScatterElements/Scatter (distinct
      along the axis), OneHot's indices below the depth, RoiAlign's batch indices;
    * **shape-like inputs** chosen from the data's shape: Slice's starts/ends/axes/steps (distinct
      axes, start < end inside the dimension, steps 1 or 2; slots that are constants are kept and
      the others fit them), Reshape's shape (the same element count), Expand's shape
      (broadcast-compatible: size-1 axes really expanded, and 1 where the data is larger), Tile's repeats (1 or 2); for
      Reshape, Expand and Tile the output shape the model declares, when it declares one;
      TopK's k (1..dim), Split's sizes (summing to
      the dimension), Squeeze/Unsqueeze/Reduce* axes (distinct, valid), Pad's pads (0..2),
      Resize's scales/sizes, Upsample's scales, ConstantOfShape's shape (1..3), Range
      (0, 2..6, 1), CumSum's axis, OneHot's depth (4), window ops' size (4..10), Loop's
      initial condition (true);
    * **booleans** for bool inputs.

    Otherwise floats are uniform in ``[-1, 1)`` and integers in ``[-4, 5)``, or in ``[0, 4)``
    when the integer reaches an op outside the value-only ones (where it may be an index).  The
    generated data stays clear of NaN/Inf: to test an op's NaN behaviour, give the inputs with
    :func:`load_inputs`.  Each input has its own stream, seeded by ``seed`` and its name, so
    adding an input does not change the data of the others.  ``given``: the user's data for the
    other inputs (their shapes and values inform the domains).
    """
    given = dict(given or {})
    ctx = _Context(model, specs, given)
    params = _Params(ctx, seed)
    out: dict[str, np.ndarray] = {}
    for name, (shape, dtype) in specs.items():
        shape = tuple(int(s) for s in shape)
        dt = np.dtype(dtype)
        if dt.name not in SUPPORTED_DTYPES:
            raise InputError(f"input {name!r}: cannot generate data of dtype {dtype}")
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        needs = []
        value_only = True
        for i, j in ctx.uses(name):
            node = ctx.nodes[i]
            nd = _need(ctx, i, j, dt)
            if nd is not None:
                needs.append(nd)
            elif node.op_type not in _VALUE_OPS and node.op_type not in _PASS:
                value_only = False
        needs.sort(key=lambda nd: _RANK[nd.kind])
        arr = None
        for nd in needs:
            if nd.kind != "param":
                break
            v = params.get(nd.node, nd.slot, shape)
            if v is not None and v.size == int(np.prod(shape)):
                arr = v.reshape(shape).astype(dt)
                break
        if arr is None:
            rest = [nd for nd in needs if nd.kind != "param"]
            if rest:
                first = rest[0]
                if first.kind == "index":   # the tightest bound over every index use
                    idx = [nd for nd in rest if nd.kind == "index"]
                    first = _Need("index", high=min(nd.high for nd in idx),
                                  negative=all(nd.negative for nd in idx))
                    if any(nd.kind in ("nonzero", "positive") for nd in rest) and first.high > 1:
                        arr = _draw(rng, shape, dt, _Need("index", high=first.high - 1)) + 1
                        arr = arr.astype(dt)
                if arr is None:
                    arr = _draw(rng, shape, dt, first)
            elif needs:   # a param slot we could not fill: stay small and non-negative
                arr = _draw(rng, shape, dt, _Need("small"))
            else:
                arr = _default(rng, shape, dt, signed_ok=value_only)
        out[name] = np.asarray(arr).reshape(shape)
    return out
