"""The seed document's worked example, MXNet Gluon ResNet-18 v1, read from the model cache.

The seed builds the model with ``get_model('resnet18_v1', pretrained=True)`` and imports it with
Relay's MXNet frontend.  Neither the pretrained weights (network) nor Relay (removed from TVM) are
available here, so the harness keeps the architecture and the framework and changes the route:
``tools/export_mxnet_resnet.py`` runs in an environment of its own (mxnet==1.9.1 needs
numpy<1.24 and onnx<1.16 for its ONNX exporter), initialises the network from the seed,
exports it to ONNX and stores MXNet's own output for the same input.  This module, in the main
environment, only **reads** that cache; it never imports mxnet.

The cache is ``$TRT_HARNESS_CACHE`` or ``~/.cache/tvm-trt-harness/models/``; per seed it holds
``resnet18_v1-seed<N>.onnx``, ``.npz`` (``input.data`` and ``output.0``) and ``.json``
(versions and sha256 of both files, written last).  When an entry is missing or does not match
its JSON, :class:`ModelNotCached` says how to make it: ``make mxnet-model``.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from typing import Any

import numpy as np

from ..errors import EnvironmentProblem

MODEL = "resnet18_v1"
INPUT_NAME = "data"
INPUT_SHAPE = (1, 3, 224, 224)
CACHE_ENV = "TRT_HARNESS_CACHE"
MAKE_TARGET = "make mxnet-model"


class ModelNotCached(EnvironmentProblem):
    """The exported model is not in the cache (or the entry is incomplete or altered)."""


def cache_dir() -> str:
    """``$TRT_HARNESS_CACHE`` or ``~/.cache/tvm-trt-harness/models``."""
    return os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache",
                                                      "tvm-trt-harness", "models")


def paths(seed: int = 0, directory: str | None = None) -> dict[str, str]:
    stem = os.path.join(directory or cache_dir(), f"{MODEL}-seed{seed}")
    return {"onnx": stem + ".onnx", "npz": stem + ".npz", "json": stem + ".json"}


def how_to_make(seed: int = 0) -> str:
    extra = f" MXNET_SEEDS={seed}" if seed != 0 else ""
    return (f"run `{MAKE_TARGET}{extra}` (creates .venv-mxnet with mxnet==1.9.1, numpy<1.24, "
            f"onnx<1.16 and runs tools/export_mxnet_resnet.py --seed {seed}; "
            f"${CACHE_ENV} chooses the directory)")


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _problem(seed: int, directory: str | None, *, verify: bool) -> str | None:
    p = paths(seed, directory)
    missing = [k for k in ("json", "onnx", "npz") if not os.path.isfile(p[k])]
    if missing:
        return (f"{MODEL} seed {seed} is not in the model cache {os.path.dirname(p['json'])} "
                f"(missing {', '.join(os.path.basename(p[k]) for k in missing)}): {how_to_make(seed)}")
    try:
        with open(p["json"]) as fh:
            meta = json.load(fh)
        sums = meta["sha256"]
    except Exception as exc:
        return f"{p['json']}: unreadable cache entry ({type(exc).__name__}: {exc}): {how_to_make(seed)}"
    if verify:
        for k in ("onnx", "npz"):
            if _sha256(p[k]) != sums.get(k):
                return (f"{p[k]}: does not match the sha256 in {os.path.basename(p['json'])} "
                        f"(truncated or altered): {how_to_make(seed)} again")
    return None


def missing_reason(seed: int = 0, directory: str | None = None, *, verify: bool = False) -> str | None:
    """Why the cache entry of ``seed`` cannot be used (naming the make target), or None.

    A skip reason for tests and the zoo.  ``verify``: also compare the sha256 sums."""
    return _problem(seed, directory, verify=verify)


@functools.lru_cache(maxsize=4)
def _read(seed: int, directory: str) -> tuple[bytes, dict[str, np.ndarray], list[np.ndarray], dict]:
    why = _problem(seed, directory, verify=True)
    if why:
        raise ModelNotCached(why)
    p = paths(seed, directory)
    with open(p["json"]) as fh:
        meta = json.load(fh)
    with open(p["onnx"], "rb") as fh:
        blob = fh.read()
    with np.load(p["npz"], allow_pickle=False) as z:
        inputs = {name: z[spec["key"]] for name, spec in meta["inputs"].items()}
        outputs = [z[o["key"]] for o in meta["outputs"]]
    return blob, inputs, outputs, meta


def _entry(seed: int) -> tuple[bytes, dict[str, np.ndarray], list[np.ndarray], dict]:
    return _read(seed, cache_dir())


def resnet18_v1(seed: int = 0) -> tuple[Any, dict[str, np.ndarray]]:
    """(ONNX model, {"data": 1x3x224x224 float32}) of MXNet's ResNet-18 v1, seeded.

    Raises :class:`ModelNotCached` (naming ``make mxnet-model``) when it is not cached."""
    import onnx

    blob, inputs, _, _ = _entry(seed)
    model = onnx.load_from_string(blob)
    model.graph.name = MODEL
    return model, {k: v.copy() for k, v in inputs.items()}


def resnet18_v1_reference(seed: int = 0) -> list[np.ndarray]:
    """MXNet's own output for the input :func:`resnet18_v1` returns (same seed)."""
    return [o.copy() for o in _entry(seed)[2]]


def metadata(seed: int = 0) -> dict:
    """The cache entry's JSON: versions, sha256 sums, shapes, opset."""
    return dict(_entry(seed)[3])


def source_name(seed: int = 0) -> str:
    """The source reference's name, such as ``mxnet 1.9.1``."""
    return _entry(seed)[3]["source"]


def mxnet_version(seed: int = 0) -> str:
    """The MXNet version that exported the cached model (mxnet is not imported here)."""
    return _entry(seed)[3]["versions"]["mxnet"]


def stored_io(onnx_path: str) -> tuple[str, dict[str, np.ndarray], list[np.ndarray]] | None:
    """(source name, inputs, the source framework's outputs) stored beside an exported ONNX file
    (``<stem>.json`` and ``<stem>.npz``, as :func:`paths` names them), or None when there are none
    or the JSON's sha256 does not match the file: ``trt-harness check`` of an exported model then
    runs on the framework's own input and counts the framework among the references."""
    stem = os.path.splitext(os.fspath(onnx_path))[0]
    try:
        with open(stem + ".json") as fh:
            meta = json.load(fh)
        if meta["sha256"]["onnx"] != _sha256(onnx_path) or meta["sha256"]["npz"] != _sha256(stem + ".npz"):
            return None
        with np.load(stem + ".npz", allow_pickle=False) as z:
            inputs = {name: z[spec["key"]] for name, spec in meta["inputs"].items()}
            outputs = [z[o["key"]] for o in meta["outputs"]]
        return str(meta["source"]), inputs, outputs
    except (OSError, ValueError, KeyError, TypeError):
        return None
