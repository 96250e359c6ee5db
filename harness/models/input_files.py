"""The user's input data for ``trt-harness check``: ``--input NAME=file.npy``, ``--input file.npz``
(keys are input names), ``--input NAME=file.pb`` (an ONNX TensorProto, as onnx's own test data
stores them).  Loaded with ``allow_pickle=False`` and checked against what the graph declares."""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from ..errors import InputError
from .onnx_io import check_input, declared_inputs, one_line


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
