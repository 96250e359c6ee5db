"""Read results files back: validate every line, tolerate only a cut final line, merge shards.

Every problem with a file raises :class:`~harness.errors.InputError` whose message is one line:
``<file>: line <n>: <what is wrong>``.  Nothing read from a file is ever evaluated.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Iterable

from .errors import InputError
from .results import CHECKS, OUTCOMES, SCHEMA_NAME, SCHEMA_VERSION

SCHEMA_PATH = os.path.join(os.path.dirname(__file__), "schema", "results.schema.json")
MAX_LINE_BYTES = 8 * 1024 * 1024
_MAX_DETAIL = 200

#: Converters from an older (or other) schema_version to SCHEMA_VERSION: version -> fn(line) -> line.
#: A converter receives every line (header or record) written under that version.
CONVERTERS: dict[int, Callable[[dict], dict]] = {}

#: Environment keys whose difference between the parts of one run is worth a warning.
_ENV_IDENTITY = ("gpu", "hostname", "machine", "tvm_version", "trt_version", "harness_version")


_ANNOTATIONS = {"description", "title", "$schema", "$id", "$defs", "default", "examples", "$comment"}
_KEYWORDS = {"type", "enum", "const", "required", "properties", "additionalProperties", "items",
             "anyOf", "allOf", "if", "then", "$ref", "minLength", "minimum"}

Check = Callable[[object], "tuple[tuple, str] | None"]


def _same(a, b) -> bool:
    """JSON equality, where true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _short(text) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 3] + "..."


def _brief(v) -> str:
    if isinstance(v, dict):
        return "an object"
    if isinstance(v, list):
        return "an array"
    return _short(json.dumps(v))[:60]


def _ok(v):
    return None


def _first(checks: list[Check]) -> Check:
    checks = [c for c in checks if c is not _ok]
    if not checks:
        return _ok
    if len(checks) == 1:
        return checks[0]

    def check(v):
        for c in checks:
            err = c(v)
            if err is not None:
                return err
        return None

    return check


class _Compiler:
    """Compiles the subset of JSON Schema that results.schema.json uses into closures.

    A closure returns None or ``(path, message)``.  It is ~100x faster than jsonschema per
    line; tests check the two agree.  Unsupported keywords fail loudly at compile time.
    """

    def __init__(self, root: dict) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}
        self.compiling: set[str] = set()

    def _ref(self, ref: str) -> Check:
        if ref in self.compiling:  # a cycle: resolve when called
            return lambda v: self.refs[ref](v)
        if ref not in self.refs:
            if not ref.startswith("#/"):
                raise ValueError(f"unsupported $ref {ref}")
            node = self.root
            for part in ref[2:].split("/"):
                node = node[part]
            self.compiling.add(ref)
            self.refs[ref] = self.compile(node)
            self.compiling.discard(ref)
        return self.refs[ref]

    def compile(self, node) -> Check:
        if node is True or node == {}:
            return _ok
        if node is False:
            return lambda v: ((), "no value is allowed here")
        unknown = set(node) - _ANNOTATIONS - _KEYWORDS
        if unknown:
            raise ValueError(f"schema keywords not supported by the reader: {sorted(unknown)}")
        checks: list[Check] = []
        if "$ref" in node:
            checks.append(self._ref(node["$ref"]))
        if "type" in node:
            checks.append(_type_check(node["type"]))
        if "enum" in node:
            checks.append(_enum_check(node["enum"]))
        if "const" in node:
            const = node["const"]
            checks.append(lambda v: None if _same(v, const) else ((), lambda: f"{_brief(v)} should be {json.dumps(const)}"))
        if "minLength" in node:
            n = node["minLength"]
            checks.append(lambda v: ((), "is too short") if isinstance(v, str) and len(v) < n else None)
        if "minimum" in node:
            m = node["minimum"]
            checks.append(lambda v: ((), lambda: f"{_brief(v)} is less than {m}") if type(v) in (int, float) and v < m else None)
        if "required" in node:
            req = node["required"]
            checks.append(lambda v: next((((), f"{k!r} is required") for k in req if k not in v), None)
                          if isinstance(v, dict) else None)
        if "properties" in node or "additionalProperties" in node:
            checks.append(_members_check({k: self.compile(s) for k, s in node.get("properties", {}).items()},
                                         self.compile(node.get("additionalProperties", True))))
        if "items" in node:
            checks.append(_items_check(self.compile(node["items"])))
        if "anyOf" in node:
            alts = [self.compile(s) for s in node["anyOf"]]
            checks.append(lambda v: None if any(a(v) is None for a in alts) else ((), lambda: f"{_brief(v)} is not valid here"))
        checks.extend(self.compile(s) for s in node.get("allOf", []))
        if "if" in node:
            cond, then = self.compile(node["if"]), self.compile(node.get("then", True))
            checks.append(lambda v: then(v) if cond(v) is None else None)
        return _first(checks)


_PY_TYPES = {"object": (dict,), "array": (list,), "string": (str,), "integer": (int,),
             "number": (int, float), "boolean": (bool,), "null": (type(None),)}


def _type_check(spec) -> Check:
    names = [spec] if isinstance(spec, str) else list(spec)
    exact = frozenset(t for n in names for t in _PY_TYPES[n])
    integral_float = "integer" in names and "number" not in names
    want = " or ".join(names)

    def check(v):
        if type(v) in exact or (integral_float and type(v) is float and v.is_integer()):
            return None
        return (), lambda: f"{_brief(v)} is not of type {want}"

    return check


def _enum_check(options: list) -> Check:
    def message(v):
        return lambda: f"{_brief(v)} is not one of {_short(json.dumps(options))}"

    if all(isinstance(o, str) or o is None for o in options):
        allowed = frozenset(options)
        return lambda v: None if (v is None or type(v) is str) and v in allowed else ((), message(v))
    return lambda v: None if any(_same(v, o) for o in options) else ((), message(v))


def _members_check(props: dict[str, Check], extra: Check) -> Check:
    known = frozenset(props)
    props = {k: c for k, c in props.items() if c is not _ok}
    if extra is _ok:
        def only_known(v):
            if not isinstance(v, dict):
                return None
            for k, c in props.items():
                if k in v:
                    err = c(v[k])
                    if err is not None:
                        return ((k, *err[0]), err[1])
            return None

        return only_known

    def check(v):
        if not isinstance(v, dict):
            return None
        for k, x in v.items():
            err = props[k](x) if k in props else extra(x) if k not in known else None
            if err is not None:
                return ((k, *err[0]), err[1])
        return None

    return check


def _items_check(item: Check) -> Check:
    def check(v):
        if not isinstance(v, list):
            return None
        for i, x in enumerate(v):
            err = item(x)
            if err is not None:
                return ((i, *err[0]), err[1])
        return None

    return check


def load_schema() -> dict:
    with open(SCHEMA_PATH, encoding="utf-8") as fh:
        return json.load(fh)


@lru_cache(maxsize=1)
def _validator() -> Check:
    return _Compiler(load_schema()).compile(load_schema())


def schema_error(obj) -> str | None:
    """One line describing why ``obj`` is not a valid results line, or None."""
    err = _validator()(obj)
    if err is None:
        return None
    path, what = err
    what = what() if callable(what) else what
    where = "/".join(str(p) for p in path)
    return f"field {where}: {what}" if where else what


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON (non-finite numbers are written as strings)")


def _parse(text: str):
    return json.loads(text, parse_constant=_reject_constant)


@dataclass
class Run:
    """One run: its header(s), its records (deduplicated, last wins), where it came from."""

    headers: list[dict]
    records: list[dict]
    paths: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    label: str = ""

    def __post_init__(self) -> None:
        self.records = _dedupe(self.records)
        if not self.label:
            self.label = default_label(self.headers[0]) if self.headers else "run"

    @property
    def run_id(self) -> str:
        return self.headers[0]["run_id"]

    @property
    def env(self) -> dict:
        return self.headers[0].get("env", {}) if self.headers else {}

    def ops(self) -> list[str]:
        """Operators in the order they first appear."""
        return list(dict.fromkeys(r["op"] for r in self.records))

    def n_cases(self) -> int:
        return len({(r["op"], r["case_id"]) for r in self.records})

    def outcomes_by_check(self) -> dict[str, Counter]:
        out: dict[str, Counter] = {}
        for r in self.records:
            out.setdefault(r["check"], Counter())[r["outcome"]] += 1
        return out

    def per_op(self) -> dict[str, dict[str, Counter]]:
        """op -> check -> Counter of outcomes."""
        out: dict[str, dict[str, Counter]] = {}
        for r in self.records:
            out.setdefault(r["op"], {}).setdefault(r["check"], Counter())[r["outcome"]] += 1
        return out

    def index(self) -> dict[tuple[str, str, str], dict]:
        """(op, case_id, check) -> record."""
        return {(r["op"], r["case_id"], r["check"]): r for r in self.records}


def _dedupe(records: Iterable[dict]) -> list[dict]:
    keyed: dict[tuple, dict] = {}
    for r in records:
        key = (r["op"], r["case_id"], r["check"])
        keyed.pop(key, None)  # re-insert so the order follows the last occurrence
        keyed[key] = r
    return list(keyed.values())


def default_label(header: dict) -> str:
    """``tvm0.27 trt8.6.1`` from the environment, or the header's own label."""
    if header.get("label"):
        return str(header["label"])
    env = header.get("env") or {}
    tvm = env.get("tvm_version")
    trt = env.get("trt_version") or env.get("tensorrt_version")
    if tvm is None and trt is None:
        return f"run {header.get('run_id', '?')}"
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
                    raise InputError(
                        f"{path}: line {len(lines) + 1}: longer than the {max_line_bytes}-byte limit"
                    )
                ended = chunk.endswith(b"\n")
                lines.append((chunk[:-1] if ended else chunk, ended))
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if not lines:
        raise InputError(f"{path}: empty file (a results file starts with a header line)")
    return lines


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8")


def _looks_like_resume_header(item: tuple[bytes, bool] | None) -> bool:
    if item is None:
        return False
    try:
        obj = _parse(_decode(item[0]))
    except (ValueError, RecursionError):
        return False
    return isinstance(obj, dict) and obj.get("kind") == "header" and obj.get("resumed") is True


def _check_version(obj: dict, where: str) -> Callable[[dict], dict] | None:
    if obj.get("schema") != SCHEMA_NAME:
        raise InputError(f"{where}: schema is {_short(repr(obj.get('schema')))}, expected {SCHEMA_NAME!r}")
    version = obj.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise InputError(f"{where}: schema_version must be an integer, got {_short(repr(version))}")
    if version == SCHEMA_VERSION:
        return None
    if version in CONVERTERS:
        return CONVERTERS[version]
    raise InputError(
        f"{where}: schema_version {version} is not supported: this harness reads version "
        f"{SCHEMA_VERSION} and has no converter from version {version}"
    )


def load_results(path: str | os.PathLike, *, max_line_bytes: int = MAX_LINE_BYTES) -> Run:
    """Load and validate one results file."""
    path = os.fspath(path)
    lines = _read_lines(path, max_line_bytes)
    headers: list[dict] = []
    records: list[dict] = []
    warnings: list[str] = []
    convert: Callable[[dict], dict] | None = None
    for i, (raw, ended) in enumerate(lines):
        n = i + 1
        where = f"{path}: line {n}"
        cut_last = i == len(lines) - 1 and not ended and n > 1
        try:
            text = _decode(raw)
        except UnicodeDecodeError as exc:
            if cut_last:
                warnings.append(f"{where}: incomplete last line ignored (interrupted run?)")
                break
            raise InputError(f"{where}: not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})") from None
        if not text.strip():
            raise InputError(f"{where}: empty line")
        try:
            obj = _parse(text)
        except (ValueError, RecursionError) as exc:
            if cut_last:
                warnings.append(f"{where}: incomplete last line ignored (interrupted run?)")
                break
            if i > 0 and _looks_like_resume_header(lines[i + 1] if i + 1 < len(lines) else None):
                warnings.append(f"{where}: partial line left by an interrupted run before --resume ignored")
                continue
            detail = "nested too deeply" if isinstance(exc, RecursionError) else _short(str(exc))
            raise InputError(f"{where}: invalid JSON: {detail}") from None
        if not isinstance(obj, dict):
            raise InputError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        kind = obj.get("kind")
        if i == 0 and kind != "header":
            raise InputError(f"{where}: not a results file: the first line must be a header (kind 'header')")
        if kind == "header":
            convert = _check_version(obj, where)
        if convert is not None:
            try:
                obj = convert(obj)
            except Exception as exc:  # a converter is code of ours, but the data is not
                raise InputError(f"{where}: cannot convert: {_short(exc)}") from None
        try:
            problem = schema_error(obj)
        except RecursionError:
            problem = "nested too deeply"
        if problem:
            raise InputError(f"{where}: {problem}")
        if kind == "header":
            headers.append(obj)
        else:
            if obj["run_id"] != headers[-1]["run_id"]:
                raise InputError(
                    f"{where}: record run_id {_short(obj['run_id'])!r} does not match its header's "
                    f"{headers[-1]['run_id']!r}"
                )
            records.append(obj)
    warnings.extend(f"{path}: {w}" for w in _env_conflicts(headers))
    return Run(headers=headers, records=records, paths=[path], warnings=warnings)


def _env_conflicts(headers: list[dict]) -> list[str]:
    out = []
    first = headers[0].get("env", {}) if headers else {}
    for h in headers[1:]:
        env = h.get("env", {})
        for key in _ENV_IDENTITY:
            if key in first and key in env and first[key] != env[key]:
                out.append(f"parts of run {headers[0]['run_id']} differ in {key}: {first[key]!r} vs {env[key]!r}")
    return list(dict.fromkeys(out))


def merge(runs: list[Run]) -> Run:
    """Combine shards of one run (same run_id); a (op, case_id, check) seen twice keeps the last."""
    if not runs:
        raise InputError("nothing to merge")
    ids = list(dict.fromkeys(r.run_id for r in runs))
    if len(ids) > 1:
        raise InputError(f"cannot merge different runs: run_ids {', '.join(ids)}")
    headers = [h for r in runs for h in r.headers]
    warnings = [w for r in runs for w in r.warnings]
    warnings.extend(f"{', '.join(p for r in runs for p in r.paths)}: {w}" for w in _env_conflicts(headers))
    return Run(
        headers=headers,
        records=[rec for r in runs for rec in r.records],
        paths=[p for r in runs for p in r.paths],
        warnings=list(dict.fromkeys(warnings)),
        label=runs[0].label,
    )


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
    return "; ".join([head, *parts]) if parts else f"{head}; no records"
