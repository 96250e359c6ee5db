"""The results file's types: one header, then one record per (case, check).  Written and read by
the same code: :func:`encode` turns a :class:`Header` or :class:`Record` into one JSON line and
:func:`decode` turns a line back into one, validating it on the way (msgspec, at C speed).

The JSON Schema for outsiders (``harness/schema/results.schema.json``) is generated from these
types (``python -m harness.record_schema > harness/schema/results.schema.json``); a test keeps the file
and the types in step.  Non-finite floats are written as the strings ``"nan"``, ``"inf"`` and
``"-inf"``.  Files of schema version 1 are converted on reading (:func:`harness.records_v1.from_v1`).
"""
from __future__ import annotations

import datetime as _dt
import json
import math
from typing import Annotated, Any, Literal, Union

import msgspec
from msgspec import Meta, Struct

SCHEMA_NAME = "tvm-trt-harness.results"
SCHEMA_VERSION = 2

Check = Literal["offload", "preserve", "reference", "tensorrt"]
Outcome = Literal["pass", "fail", "xfail", "xpass", "skip", "error"]
ErrorKind = Literal["crash", "timeout", "harness", "device"]
Verdict = Literal["match", "over-offload", "under-offload"]
CHECKS: tuple[str, ...] = Check.__args__
OUTCOMES: tuple[str, ...] = Outcome.__args__
ERROR_KINDS: tuple[str, ...] = ErrorKind.__args__
OFFLOAD_VERDICTS: tuple[str, ...] = Verdict.__args__
NonEmpty = Annotated[str, Meta(min_length=1)]
Count = Annotated[int, Meta(ge=0)]


class _Base(Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=False):
    pass


# -- numbers -------------------------------------------------------------------------------------
class Tolerance(_Base, frozen=True):
    """|actual - expected| <= atol + rtol * |expected| + acc * max|expected|.  Normwise: atol is
    scaled by max|expected| too.  ``acc`` is the rounding allowed for an output that is a long sum
    (convolutions, dense, matmul): see :func:`harness.compare.accumulation`."""

    atol: float
    rtol: float
    mode: Literal["elementwise", "normwise"] = "elementwise"
    acc: float = 0.0


# -- offload ---------------------------------------------------------------------------------------
class Decision(_Base, frozen=True):
    """What the rules (harness.rules) say of the calls of one op that share a decision."""

    op: str                      # Relax op, e.g. relax.nn.conv2d
    offload: bool
    rule: str                    # stable rule id, e.g. "layout"
    reason: str
    source: str                  # the converter source or annotation rule the decision cites
    count: Count = 1             # how many calls this decision covers


class Departure(_Base, frozen=True):
    op: str
    reason: str
    rule: str
    count: Count = 1


class Offload(_Base):
    """Expected against actual offload of one program (one op for the op suites, a model's ops)."""

    verdict: Verdict
    expected: dict[str, Count] = {}    # op -> calls the rules would offload
    actual: dict[str, Count] = {}      # op -> calls offloaded to TensorRT
    total: dict[str, Count] = {}       # op -> calls in the program
    regions: Count = 0                 # functions marked Codegen="tensorrt"
    decisions: list[Decision] = []
    over: list[Departure] = []         # offloaded though the rules reject it
    under: list[Departure] = []        # supported, but kept on TVM

    @property
    def offloaded(self) -> bool:
        return sum(self.actual.values()) > 0


# -- timings ---------------------------------------------------------------------------------------
class Stats(_Base):
    """Per-call time statistics over timed rounds, in seconds."""

    median_s: float
    iqr_s: float | None = None
    mean_s: float | None = None
    stddev_s: float | None = None
    cv: float | None = None
    min_s: float | None = None
    max_s: float | None = None
    rounds: Count | None = None
    iterations: Count | None = None
    stopped: str | None = None              # why the rounds ended (adaptive timing: the CI reached, ...)
    ci_rel: float | None = None             # half width of the median's 95 % CI, relative to the median


class Roofline(_Base):
    """Where a timed case sits against the card's peaks (bench set)."""

    flops: float | None = None
    bytes: float | None = None
    intensity: float | None = None          # FLOP per byte
    achieved_flop_s: float | None = None
    achieved_byte_s: float | None = None
    roof: str | None = None                 # "memory" | "compute"
    peak_flop_s: float | None = None
    peak_byte_s: float | None = None
    fraction: float | None = None           # of the roof that applies
    compute_roof: str | None = None         # which compute peak: fp32, fp16_tensor, ...
    card: str | None = None                 # the GPU model of the peak table entry
    peak_source: str | None = None
    note: str = ""                          # e.g. "unknown card: no peak, no fraction"


class Timing(_Base):
    """How long one backend took on one case, and how the figure was taken."""

    build_s: float | None = None
    latency: Stats | None = None            # host-inclusive, per call
    device: Stats | None = None             # sum of the GPU kernels per call (CUPTI)
    kernels_per_call: float | None = None
    method: str = ""                        # e.g. "cupti+latency", "latency (CUPTI unavailable: ...)"
    exclusive: bool | None = None           # no other worker of the run used the GPU meanwhile
    exclusive_note: str = ""
    waited_s: float | None = None           # time spent waiting for the GPU lock
    gpu: str | None = None
    roofline: Roofline | None = None

    def figure(self, kind: str = "device") -> float | None:
        """The figure the gate compares: device time by default, latency on request; device time
        falls back to latency only where the record says CUPTI was unavailable."""
        stats = self.device if kind == "device" and self.device is not None else self.latency
        return stats.median_s if stats is not None else None


# -- the two kinds of line -------------------------------------------------------------------------
class TableOp(_Base, frozen=True):
    name: str
    tvm_op: str | None = None
    no_equivalent: str | None = None
    min_trt: str | None = None


class KnownDeparture(_Base, frozen=True):
    """One entry of the expectations file a run judged against (harness/expectations.py)."""

    id: str
    check: str
    ops: list[str] = []
    reason: str = ""
    reproducer: str | None = None
    outcome: str = "fail"
    where: str = ""                         # its limits, e.g. "backends tvm-cuda; trt <10"


class GpuUse(_Base):
    """How one runner's device was used over the run (:mod:`harness.runner`), written into the
    header when the run ends."""

    device: str
    kind: str = "cuda"
    wall_s: float | None = None             # from the runner's start to the end of the run
    runner_s: float | None = None           # serving requests (runs and timings)
    idle_s: float | None = None             # waiting for requests: wall - runner
    busy_s: float | None = None             # the device's own work: traced + estimated
    busy_traced_s: float | None = None      # kernels, copies and memsets CUPTI recorded (merged intervals)
    busy_estimated_s: float | None = None   # the untraced latency passes: calls x traced time per call
    busy_share: float | None = None         # busy_s / wall_s
    busy_unavailable: str | None = None     # why there is no busy time (no CUPTI)
    requests: dict[str, int] = {}
    restarts: int = 0
    deaths: list[str] = []
    error: str | None = None
    lost: str | None = None                 # its card was lost (harness.runner): which and why; no runner after
    pid: int | None = None


class Header(_Base, kw_only=True, tag_field="kind", tag="header"):
    """First line of a file, and of each resumed continuation appended to it."""

    schema: Literal["tvm-trt-harness.results"]
    schema_version: int
    run_id: NonEmpty
    created: str
    resumed: bool = False
    label: str | None = None
    suite: str = "ops"                      # ops | models | fuzz | bench | runtime
    env: dict[str, Any] = {}                # environment fingerprint (harness.results.environment)
    ops: list[TableOp] = []                 # the support table the run judged against
    expectations: list[KnownDeparture] = []  # the known departures it judged against
    shard: str | None = None                # "K/N" when the run is one of N CI jobs
    placement: dict[str, str] = {}          # xdist worker -> GPU it was pinned to
    gpu_use: list[GpuUse] = []              # per runner's device: busy, runner and idle time (at the end)


class Record(_Base, kw_only=True, tag_field="kind", tag="record"):
    """One outcome of one check on one case."""

    run_id: str = ""
    op: NonEmpty                            # support-table name, or "model:<name>", "fuzz:<sig>"
    check: Check
    outcome: Outcome
    case_id: NonEmpty
    suite: str = "ops"
    tvm_op: str | None = None
    reason: str = ""
    error_kind: ErrorKind | None = None
    dtype: str | None = None
    input_shapes: list[list[int | str] | None] = []
    attrs: dict[str, Any] = {}              # operator attributes of the case, nothing else
    weights: list[tuple[str, list[int]]] = []
    seed: int | None = None                 # the case's data seed (inputs and weights), to rebuild it
    trt_version: str | None = None
    rule: str | None = None                 # rule id that decided the case's own op
    expectation: str | None = None          # id of the known departure that matched
    offload: Offload | None = None
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    tolerance: Tolerance | None = None
    min_tolerance: Tolerance | None = None
    nan_inf_agree: bool | None = None
    backend: str | None = None
    reference: str | None = None
    timings: dict[str, Timing] | None = None
    speedup: float | None = None            # reference backend time / system-under-test time
    reproducer: str | None = None
    duration_s: float | None = None
    nodeid: str | None = None
    worker: str | None = None
    device: str | None = None               # the device the case ran on, e.g. "cuda:1 NVIDIA H200"
    time: str = ""
    details: dict[str, Any] = {}            # check-specific details, for people (not read by the gate)


Line = Union[Header, Record]

#: The case_id of an op-level record: a check that did not run for any case of the op (a skip).
OP_LEVEL = "-*"


def op_level_id(op: str) -> str:
    return f"{op}{OP_LEVEL}"


def is_op_level(rec: Record) -> bool:
    """A record of a check that did not run for a whole op: not a case, not a (case, check) pair."""
    return rec.case_id.endswith(OP_LEVEL)


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _clean(value: Any) -> Any:
    """JSON-safe builtins: non-finite floats become strings, numpy scalars Python values."""
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
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if hasattr(value, "item"):
        try:
            return _clean(value.item())
        except (TypeError, ValueError):
            pass
    return str(value)


def _enc_hook(obj: Any) -> Any:
    if hasattr(obj, "tolist"):      # numpy arrays and scalars (an array's .item() refuses more than one value)
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    raise NotImplementedError(f"cannot write {type(obj).__name__} into a results file")


def encode(line: Line) -> bytes:
    """One JSON line (without the newline), keys sorted."""
    return msgspec.json.encode(_clean(msgspec.to_builtins(line, enc_hook=_enc_hook)), order="sorted")


_DECODER = msgspec.json.Decoder(Line, strict=False)   # strict=False reads "nan"/"inf" into floats


class LineError(ValueError):
    """A line that is not a valid results line; the message is one line."""


def decode(raw: bytes | str) -> Line:
    try:
        return _DECODER.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        pass
    raise LineError(explain(raw)) from None


def convert(obj: dict) -> Line:
    """A parsed JSON object (e.g. converted from an older schema) into a typed line."""
    try:
        return msgspec.convert(obj, Line, strict=False)
    except msgspec.ValidationError:
        pass
    raise LineError(_explain_object(obj)) from None


class NonFiniteLiteral(ValueError):
    """NaN or Infinity as a bare literal: Python's json reads it, JSON does not allow it."""


def reject_constant(name: str):
    raise NonFiniteLiteral(f"{name} is not valid JSON (non-finite numbers are written as strings)")


_JSON_TYPES = {dict: "object", list: "array", str: "string", int: "integer", float: "number", bool: "boolean",
               type(None): "null"}


def explain(raw: bytes | str) -> str:
    """Why ``raw`` is not a results line, in the harness's own words: the JSON position where it stops
    being JSON (from the standard library's error attributes), or the first field that is missing or
    has the wrong type.  A library's message text is only ever appended, never parsed."""
    try:
        obj = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw, parse_constant=reject_constant)
    except UnicodeDecodeError as exc:
        return f"not UTF-8 (byte 0x{exc.object[exc.start]:02x} at column {exc.start + 1})"
    except json.JSONDecodeError as exc:
        return f"invalid JSON at column {exc.colno}"
    except NonFiniteLiteral as exc:
        return f"invalid JSON: {exc}"
    except (ValueError, RecursionError):
        return "invalid JSON"
    return _explain_object(obj)


def _explain_object(obj: Any) -> str:
    if not isinstance(obj, dict):
        return f"expected a JSON object, got {_JSON_TYPES.get(type(obj), type(obj).__name__)}"
    kind = obj.get("kind")
    cls = {"header": Header, "record": Record}.get(kind) if isinstance(kind, str) else None
    if cls is None:
        return ("missing required field 'kind'" if "kind" not in obj
                else f"field 'kind' must be 'header' or 'record', not {_short(repr(kind), 40)}")
    for f in msgspec.structs.fields(cls):
        if f.encode_name not in obj:
            if f.required:
                return f"missing required field {f.encode_name!r} of a {kind}"
            continue
        try:
            msgspec.convert(obj[f.encode_name], f.type, strict=False)
        except msgspec.ValidationError as exc:
            return _short(f"field {f.encode_name!r} of a {kind}: {exc}")
    return f"not a valid {kind}"


def _short(exc: Exception | str, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
