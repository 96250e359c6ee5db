"""Reading results files back: typed lines, validated; only a cut final line is tolerated.

Every problem with a file raises :class:`~harness.errors.InputError` whose message is one line:
``<file>: line <n>: <what is wrong>``.  Nothing read from a file is ever evaluated.  Files of
schema version 1 are converted (:func:`harness.records_v1.from_v1`); other versions are refused.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

from .errors import InputError
from .records import (CHECKS, OUTCOMES, SCHEMA_NAME, SCHEMA_VERSION, Header, LineError, Record, TableOp, convert,
                      decode, explain, is_op_level, reject_constant)
from .records_v1 import from_v1

MAX_LINE_BYTES = 8 * 1024 * 1024
_ENV_IDENTITY = ("gpu", "hostname", "machine", "tvm_version", "trt_version", "harness_version")


@dataclass
class Run:
    """One run: its header(s), its records (deduplicated, last wins), where it came from."""

    headers: list[Header]
    records: list[Record]
    paths: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    label: str = ""

    def __post_init__(self) -> None:
        keyed: dict[tuple, Record] = {}
        for r in self.records:
            key = (r.op, r.case_id, r.check)
            keyed.pop(key, None)   # re-insert so the order follows the last occurrence
            keyed[key] = r
        self.records = list(keyed.values())
        if not self.label:
            self.label = default_label(self.headers[0]) if self.headers else "run"

    @property
    def run_id(self) -> str:
        return self.headers[0].run_id

    @property
    def env(self) -> dict:
        return self.headers[0].env if self.headers else {}

    @property
    def table(self) -> list[TableOp]:
        """The support table the run was judged against (from its header)."""
        return next((h.ops for h in self.headers if h.ops), [])

    @property
    def expectations(self) -> dict:
        """id -> the known departure (records.KnownDeparture) the run judged against."""
        return {e.id: e for h in self.headers for e in h.expectations}

    def ops(self) -> list[str]:
        """Operators in the order they first appear."""
        return list(dict.fromkeys(r.op for r in self.records))

    def n_cases(self) -> int:
        """Cases, not counting op-level records (a check that did not run for a whole op)."""
        return len({(r.op, r.case_id) for r in self.records if not is_op_level(r)})

    def outcomes_by_check(self) -> dict[str, Counter]:
        """check -> outcomes of its case records (op-level records apart: :meth:`not_run`)."""
        out: dict[str, Counter] = {}
        for r in self.records:
            if not is_op_level(r):
                out.setdefault(r.check, Counter())[r.outcome] += 1
        return out

    def not_run(self) -> dict[str, dict]:
        """check -> {"ops": [...], "reason": the most frequent, "backend": ...} of the checks that did
        not run for whole ops (their op-level skip records)."""
        out: dict[str, dict] = {}
        for r in self.records:
            if is_op_level(r) and r.outcome == "skip":
                d = out.setdefault(r.check, {"ops": [], "reasons": Counter(), "backend": r.backend})
                d["ops"].append(r.op)
                d["reasons"][r.reason] += 1
        return {c: {"ops": d["ops"], "reason": d["reasons"].most_common(1)[0][0], "backend": d["backend"]}
                for c, d in out.items()}

    def per_op(self) -> dict[str, dict[str, Counter]]:
        """op -> check -> Counter of outcomes."""
        out: dict[str, dict[str, Counter]] = {}
        for r in self.records:
            out.setdefault(r.op, {}).setdefault(r.check, Counter())[r.outcome] += 1
        return out

    def index(self) -> dict[tuple[str, str, str], Record]:
        """(op, case_id, check) -> record."""
        return {(r.op, r.case_id, r.check): r for r in self.records}


def default_label(head: Header) -> str:
    """``tvm0.27 trt8.6.1`` from the environment, or the header's own label."""
    if head.label:
        return head.label
    env = head.env or {}
    tvm = env.get("tvm_version")
    trt = env.get("trt_version") or env.get("tensorrt_version")
    if tvm is None and trt is None:
        return f"run {head.run_id}"
    return f"tvm{tvm or '?'} trt{trt or '?'}"


def _read_lines(path: str, max_line_bytes: int) -> list[tuple[bytes, bool]]:
    """(content, ended_by_newline) per line; refuses a line longer than the limit."""
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory, not a results file")
    lines = []
    try:
        with open(path, "rb") as fh:
            while True:
                chunk = fh.readline(max_line_bytes + 1)
                if not chunk:
                    break
                if len(chunk) > max_line_bytes:
                    raise InputError(f"{path}: line {len(lines) + 1}: longer than the {max_line_bytes}-byte limit")
                ended = chunk.endswith(b"\n")
                lines.append((chunk[:-1] if ended else chunk, ended))
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if not lines:
        raise InputError(f"{path}: empty file (a results file starts with a header line)")
    return lines


def _parse(raw: bytes) -> dict:
    obj = json.loads(raw.decode("utf-8"), parse_constant=reject_constant)
    if not isinstance(obj, dict):
        raise LineError(explain(raw))
    return obj


def _version_of(obj: dict, where: str) -> int:
    if obj.get("schema") != SCHEMA_NAME:
        raise InputError(f"{where}: schema is {str(obj.get('schema'))[:80]!r}, expected {SCHEMA_NAME!r}")
    version = obj.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise InputError(f"{where}: schema_version must be an integer, got {str(version)[:40]!r}")
    if version not in (1, SCHEMA_VERSION):
        raise InputError(f"{where}: schema_version {version} is not supported: this harness reads versions 1 "
                         f"and {SCHEMA_VERSION}")
    return version


def _typed(raw: bytes, version: int):
    if version == SCHEMA_VERSION:
        return decode(raw)
    return convert(from_v1(_parse(raw)))


def _looks_like_resume_header(item) -> bool:
    if item is None:
        return False
    try:
        obj = _parse(item[0])
    except (ValueError, LineError, RecursionError):
        return False
    return obj.get("kind") == "header" and obj.get("resumed") is True


def load_results(path: str | os.PathLike, *, max_line_bytes: int = MAX_LINE_BYTES) -> Run:
    """Load and validate one results file."""
    path = os.fspath(path)
    _refuse_other_kinds(path)
    lines = _read_lines(path, max_line_bytes)
    headers: list[Header] = []
    records: list[Record] = []
    warnings: list[str] = []
    version = SCHEMA_VERSION
    for i, (raw, ended) in enumerate(lines):
        n = i + 1
        where = f"{path}: line {n}"
        cut_last = i == len(lines) - 1 and not ended and n > 1
        if not raw.strip():
            raise InputError(f"{where}: empty line")
        try:
            if b'"header"' in raw or i == 0:
                obj = _parse(raw)
                if obj.get("kind") != "header":
                    if i == 0:
                        raise InputError(f"{where}: not a results file: the first line must be a header "
                                         "(kind 'header')")
                else:
                    version = _version_of(obj, where)
            line = _typed(raw, version)
        except InputError:
            raise
        except (UnicodeDecodeError, ValueError, LineError, RecursionError) as exc:
            if cut_last:
                warnings.append(f"{where}: incomplete last line ignored (interrupted run?)")
                break
            if i > 0 and _looks_like_resume_header(lines[i + 1] if i + 1 < len(lines) else None):
                warnings.append(f"{where}: partial line left by an interrupted run before --resume ignored")
                continue
            if isinstance(exc, RecursionError):
                detail = "nested too deeply"
            elif isinstance(exc, LineError):
                detail = str(exc)
            else:                        # not UTF-8, not JSON: where, in the harness's own words
                detail = explain(raw)
            raise InputError(f"{where}: {detail}") from None
        if isinstance(line, Header):
            headers.append(line)
        else:
            if line.run_id != headers[-1].run_id:
                raise InputError(f"{where}: record run_id {line.run_id[:40]!r} does not match its header's "
                                 f"{headers[-1].run_id!r}")
            records.append(line)
    warnings.extend(f"{path}: {w}" for w in _env_conflicts(headers))
    return Run(headers=headers, records=records, paths=[path], warnings=warnings)


def _env_conflicts(headers: list[Header]) -> list[str]:
    out = []
    first = headers[0].env if headers else {}
    for h in headers[1:]:
        for key in _ENV_IDENTITY:
            if key in first and key in h.env and first[key] != h.env[key]:
                out.append(f"parts of run {headers[0].run_id} differ in {key}: {first[key]!r} vs {h.env[key]!r}")
    return list(dict.fromkeys(out))


def merge(runs: list[Run]) -> Run:
    """Combine parts of one run (same run_id); a (op, case_id, check) seen twice keeps the last."""
    if not runs:
        raise InputError("nothing to merge")
    ids = list(dict.fromkeys(r.run_id for r in runs))
    if len(ids) > 1:
        raise InputError(f"cannot merge different runs: run_ids {', '.join(ids)}")
    headers = [h for r in runs for h in r.headers]
    warnings = [w for r in runs for w in r.warnings]
    warnings.extend(f"{', '.join(p for r in runs for p in r.paths)}: {w}" for w in _env_conflicts(headers))
    return Run(headers=headers, records=[rec for r in runs for rec in r.records],
               paths=[p for r in runs for p in r.paths], warnings=list(dict.fromkeys(warnings)),
               label=runs[0].label)


def load_many(paths: Iterable[str | os.PathLike]) -> list[Run]:
    """Load files, merge those of one run_id, in order of first appearance; labels made unique."""
    groups: dict[str, list[Run]] = {}
    for p in paths:
        run = load_results(p)
        groups.setdefault(run.run_id, []).append(run)
    runs = [merge(g) for g in groups.values()]
    seen = Counter(r.label for r in runs)
    for r in runs:
        if seen[r.label] > 1:
            r.label = f"{r.label} [{r.run_id[:8]}]"
    return runs


def summary_line(run: Run) -> str:
    """``tvm0.27 trt8.6.1: 57 ops, 5700 cases; offload 5600 pass, 100 fail; ...``"""
    parts = []
    by_check = run.outcomes_by_check()
    for check in CHECKS:
        counts = by_check.get(check)
        if counts:
            parts.append(f"{check} " + ", ".join(f"{counts[o]} {o}" for o in OUTCOMES if counts[o]))
    head = f"{run.label}: {len(run.ops())} ops, {run.n_cases()} cases"
    parts += [f"{check} not run ({len(d['ops'])} ops)" for check, d in run.not_run().items()]
    return "; ".join([head, *parts]) if parts else f"{head}; no records"


# -- files of other kinds ---------------------------------------------------------------------------
_SNIFF_BYTES = 64 * 1024
_WHOLE_JSON_LIMIT = 64 * 1024 * 1024
READS = ("gate, report, merge and benchjson read results files (JSON Lines, a header first: a run's "
         "--trt-results, `trt-harness merge -o`, `trt-harness check --results`)")


def _refuse_other_kinds(path: str) -> None:
    kind = file_kind(path)
    if kind:
        raise InputError(f"{path}: not a results file: this is {kind}; {READS}")


def file_kind(path: str) -> str | None:
    """What a file plainly is when it is not a results file ("a pytest-benchmark file ..."), from its
    content; None when it may be one (the line-by-line reading then says what is wrong, if anything)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except OSError:
        return None
    for magic, kind in ((b"\x1f\x8b", "a gzip-compressed file (decompress it first: gunzip)"),
                        (b"PK\x03\x04", "a zip archive (a downloaded CI artifact? unzip it first)"),
                        (b"\x93NUMPY", "a NumPy .npy array")):
        if head.startswith(magic):
            return kind
    if b'"header"' in head.split(b"\n", 1)[0] or not head.strip():
        return None
    if path.lower().endswith(".onnx"):
        return "an ONNX model (`trt-harness check MODEL.onnx` checks models)"
    text = head.lstrip()
    low = text[:512].lower()
    if low.startswith(b"<?xml") and b"<testsuite" in low or low.startswith(b"<testsuite"):
        return "a JUnit XML file (pytest --junitxml)"
    if low.startswith(b"<!doctype html") or low.startswith(b"<html"):
        return "an HTML page (`trt-harness report` writes them from results files)"
    if b"[[expect]]" in head:
        return "an expectations file (TOML: give it to --trt-expectations)"
    if text[:1] in (b"{", b"[") and os.path.getsize(path) <= _WHOLE_JSON_LIMIT:
        return _json_kind(path)
    return None


def _json_kind(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        obj = json.loads(raw)
    except (OSError, ValueError, RecursionError):
        return None
    keys = set(obj) if isinstance(obj, dict) else set()
    if "benchmarks" in keys and keys & {"machine_info", "commit_info"}:
        return "a pytest-benchmark file (pytest --benchmark-json, `trt-harness benchjson`)"
    if {"baseline", "current", "regressed", "findings"} <= keys:
        return "the gate's verdict (`trt-harness gate --json`)"
    if "$schema" in keys:
        return "a JSON Schema"
    lines = raw.strip().count(b"\n") + 1
    if lines > 1:
        return f"one JSON document over {lines} lines, not JSON Lines (one object per line)"
    return None
