"""Results files: JSON Lines, one header line then one record per (case, check).

The writer appends and flushes each record as soon as its case ends, so a run killed at any
moment leaves a valid file lacking at most the case in flight.  The schema is documented in
``harness/schema/results.schema.json``; readers live in :mod:`harness.reader`.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import sys
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from . import __version__

SCHEMA_NAME = "tvm-trt-harness.results"
SCHEMA_VERSION = 1

CHECKS = ("offload", "preserve", "reference", "tensorrt")
OUTCOMES = ("pass", "fail", "xfail", "xpass", "skip", "error")
ERROR_KINDS = ("crash", "timeout", "harness")
OFFLOAD_VERDICTS = ("match", "over-offload", "under-offload")


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _clean(value: Any) -> Any:
    """Make a value JSON-safe: NaN/Inf become strings, tuples lists, numpy scalars Python."""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            return _clean(value.item())
        except (TypeError, ValueError):
            pass
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    return str(value)


@dataclass
class Record:
    """One outcome of one check on one generated case."""

    op: str
    check: str
    outcome: str
    case_id: str
    tvm_op: str | None = None
    reason: str = ""
    error_kind: str | None = None
    dtype: str | None = None
    input_shapes: list = field(default_factory=list)
    attrs: dict = field(default_factory=dict)
    trt_version: str | None = None
    expected_offload: Any = None
    actual_offload: Any = None
    offload_verdict: str | None = None
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    tolerance: dict | None = None
    min_tolerance: dict | None = None
    nan_inf_agree: bool | None = None
    backend: str | None = None
    reference: str | None = None
    timings: dict | None = None
    reproducer: str | None = None
    duration_s: float | None = None
    nodeid: str | None = None

    def __post_init__(self) -> None:
        if self.check not in CHECKS:
            raise ValueError(f"unknown check {self.check!r}; known: {', '.join(CHECKS)}")
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {self.outcome!r}; known: {', '.join(OUTCOMES)}")
        if self.error_kind is not None and self.error_kind not in ERROR_KINDS:
            raise ValueError(f"unknown error kind {self.error_kind!r}")

    def to_json(self) -> dict:
        d = {"kind": "record", **asdict(self), "time": now_iso()}
        return _clean(d)


def _tvm_facts() -> dict:
    facts: dict[str, Any] = {}
    try:
        import tvm  # noqa: F401
    except Exception as exc:  # pragma: no cover - exercised only without TVM
        return {"tvm_version": None, "tvm_import_error": f"{type(exc).__name__}: {exc}"}
    facts["tvm_version"] = tvm.__version__
    facts["tvm_has_tensorrt_codegen"] = tvm.get_global_func("relax.ext.tensorrt", allow_missing=True) is not None
    facts["tvm_has_tensorrt_runtime"] = (
        tvm.get_global_func("runtime.tensorrt_runtime_create", allow_missing=True) is not None
    )
    get_ver = tvm.get_global_func("relax.get_tensorrt_version", allow_missing=True)
    facts["tensorrt_version"] = ".".join(str(v) for v in get_ver()) if get_ver is not None else None
    from . import gpu   # asked in a child process: CUDA must not be initialised before fork()

    info = gpu.probe()
    facts["cuda_available"] = bool(info.get("exist"))
    if facts["cuda_available"]:
        facts["gpu"] = info.get("name")
        facts["gpu_compute_version"] = info.get("compute_version")
    elif info.get("error"):
        facts["cuda_error"] = info["error"]
    return facts


def environment(**extra: Any) -> dict:
    """The environment fingerprint written into every results header."""
    import numpy

    env = {
        "harness_version": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "hostname": platform.node(),
    }
    env.update(_tvm_facts())
    if not env.get("tvm_has_tensorrt_runtime"):
        env.setdefault(
            "tensorrt_absent_reason",
            "TVM was built without the TensorRT runtime (no runtime.tensorrt_runtime_create)",
        )
    env.update(extra)
    return _clean(env)


class ResultsWriter:
    """Appends records to a JSON Lines file, flushing and fsyncing each one.

    A file that already holds records is appended to (``--resume``); a new file starts with a
    header.  Records from a previous, unfinished run are never rewritten.
    """

    def __init__(self, path: str | os.PathLike, header: dict, *, resume: bool = False) -> None:
        self.path = os.fspath(path)
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        exists = os.path.exists(self.path) and os.path.getsize(self.path) > 0
        if exists and not resume:
            raise FileExistsError(self.path)
        self._fh = open(self.path, "a", encoding="utf-8")
        if exists:
            self._repair_tail()
        self.header = {
            "kind": "header",
            "schema": SCHEMA_NAME,
            "schema_version": SCHEMA_VERSION,
            "run_id": header.pop("run_id", None) or uuid.uuid4().hex[:12],
            "created": now_iso(),
            "resumed": bool(exists),
            **header,
        }
        self._write(self.header)

    def _repair_tail(self) -> None:
        """A SIGKILL mid-write can leave a partial last line: end it so the next line is whole."""
        with open(self.path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() == 0:
                return
            fh.seek(-1, os.SEEK_END)
            last = fh.read(1)
        if last != b"\n":
            self._fh.write("\n")
            self._fh.flush()

    @property
    def run_id(self) -> str:
        return self.header["run_id"]

    def _write(self, obj: dict) -> None:
        self._fh.write(json.dumps(obj, sort_keys=True, allow_nan=False) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def write(self, record: Record) -> None:
        self._write({**record.to_json(), "run_id": self.run_id})

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


def python_info() -> str:
    return sys.version.split()[0]
