"""A model's own stored outputs, which join the references of ``trt-harness check`` and settle a
disagreement between them (:func:`harness.models.references.run_references`).

* ``--expected FILE`` (repeatable): ``FILE.npy`` or ``FILE.pb`` (an ONNX TensorProto) per output,
  in the graph's output order, ``NAME=FILE`` for a named output, or one ``FILE.npz`` keyed by
  output name.  They are the outputs for the inputs given with ``--input``.
* onnx's test layout: ``test_data_set_0/input_*.pb`` and ``output_*.pb`` beside ``model.onnx``
  (every onnx backend test model): used when no ``--input``, ``--expected`` or ``--dim`` is given.

Every problem (an unreadable file, an unknown or missing output, a wrong element type or rank) is
one :class:`~harness.errors.InputError` line naming the file.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from ..errors import InputError
from .input_files import _read_npy, _read_pb
from .onnx_io import _np_dtype_name

ONNX_TEST_DATA = "test_data_set_0"


def output_names(model) -> list[str]:
    return [o.name for o in model.graph.output]


def _fits(name: str, arr: np.ndarray, model, path: str) -> np.ndarray:
    """``arr`` has the element type and rank that output ``name`` declares (and its fixed sizes)."""
    vi = next(o for o in model.graph.output if o.name == name)
    if vi.type.WhichOneof("value") != "tensor_type":
        raise InputError(f"{path}: output {name!r} is not a tensor; the harness compares tensors only")
    tt = vi.type.tensor_type
    want = _np_dtype_name(tt.elem_type)
    got = f"{arr.dtype.name}{list(arr.shape)}"
    if want is not None and arr.dtype.name != want:
        raise InputError(f"{path}: output {name!r} is {got}, the model declares element type {want}")
    if tt.HasField("shape"):
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        if arr.ndim != len(dims) or any(d is not None and d != n for d, n in zip(dims, arr.shape)):
            shown = ",".join("?" if d is None else str(d) for d in dims)
            raise InputError(f"{path}: output {name!r} is {got}, the model declares [{shown}]")
    return arr


def load_expected(items: Sequence[str], model) -> list[np.ndarray]:
    """The stored outputs given with ``--expected``, in the graph's output order (see the module
    docstring); every output must be given once."""
    names = output_names(model)
    got: dict[str, tuple[np.ndarray, str]] = {}
    positional = 0

    def put(name: str, arr, path: str) -> None:
        if name not in names:
            raise InputError(f"{path}: the model has no output {name!r}; its outputs: {', '.join(names)}")
        if name in got:
            raise InputError(f"{path}: output {name!r} is given twice (also by {got[name][1]})")
        got[name] = (_fits(name, np.asarray(arr), model, path), path)

    for item in items:
        name, sep, path = item.partition("=")
        if not sep:
            name, path = "", item
        if path.endswith(".npz") and not name:
            z = _read_npy(path, "NumPy .npz archive")
            if not hasattr(z, "files"):
                raise InputError(f"{path}: not a .npz archive")
            with z:
                for key in z.files:
                    put(key, z[key], path)
            continue
        if path.endswith(".pb"):
            arr = _read_pb(path)[1]
        else:
            arr = _read_npy(path, "NumPy .npy file")
            if hasattr(arr, "files"):
                raise InputError(f"{path}: a .npz archive given as one output; give it alone (--expected {path})")
        if not name:
            while positional < len(names) and names[positional] in got:
                positional += 1
            if positional >= len(names):
                raise InputError(f"{path}: more --expected files than the model's {len(names)} output(s)")
            name = names[positional]
        put(name, arr, path)
    missing = [n for n in names if n not in got]
    if missing:
        raise InputError(f"--expected: no stored output for {', '.join(map(repr, missing))} (every output is "
                         f"needed: {', '.join(names)})")
    return [got[n][0] for n in names]


def onnx_test_data(model_path: str, model) -> tuple[dict[str, np.ndarray], list[np.ndarray]] | None:
    """``(inputs, outputs)`` of onnx's test layout beside ``model_path``, or None when there is none
    or it does not fit the model (a sequence input, a missing output)."""
    folder = os.path.join(os.path.dirname(os.path.abspath(model_path)), ONNX_TEST_DATA)
    if not os.path.isdir(folder):
        return None

    def numbered(prefix: str) -> list[str]:
        files = [f for f in os.listdir(folder) if f.startswith(prefix) and f.endswith(".pb")]
        return [os.path.join(folder, f) for f in sorted(files, key=lambda f: int(f[len(prefix):-3] or 0))]

    try:
        from .input_files import load_inputs
        from .onnx_io import declared_inputs

        names, ins = list(declared_inputs(model)), numbered("input_")
        if len(ins) != len(names):
            return None
        inputs = load_inputs([f"{n}={p}" for n, p in zip(names, ins)], model) if ins else {}
        outs = numbered("output_")
        if len(outs) != len(output_names(model)):
            return None
        return inputs, load_expected(outs, model)
    except (InputError, ValueError):
        return None
