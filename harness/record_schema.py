"""The JSON Schema of results files, for outsiders, generated from :mod:`harness.records`' types.

``python -m harness.record_schema > harness/schema/results.schema.json`` regenerates the checked-in file.
The file carries :func:`types_fingerprint`, a hash of the types as written in records.py; a test fails
when the types change and the file was not regenerated (not when msgspec or Python render the same
types differently).
"""
from __future__ import annotations

import json
import sys
from typing import Any

import msgspec

from . import records as R


def json_schema() -> dict:
    """The JSON Schema of one results line, generated from the types."""
    schema = _nonfinite_as_strings(msgspec.json.schema(R.Line))
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "tvm-trt-harness results line"
    schema[FINGERPRINT_KEY] = types_fingerprint()
    schema["description"] = (
        f"One line of a results file '{R.SCHEMA_NAME}', schema_version {R.SCHEMA_VERSION} (JSON Lines, UTF-8). The "
        "first line is a header; then records, and a new header for each resumed continuation. Non-finite "
        "floats are written as the strings \"nan\", \"inf\" and \"-inf\". Generated from harness/records.py.")
    return schema


NONFINITE = ("nan", "inf", "-inf")
FINGERPRINT_KEY = "x-types-fingerprint"
_ALIASES = {"Check": R.Check, "Outcome": R.Outcome, "ErrorKind": R.ErrorKind, "Verdict": R.Verdict,
            "NonEmpty": R.NonEmpty, "Count": R.Count}
_META = ("ge", "gt", "le", "lt", "min_length", "max_length", "pattern")


def types_fingerprint() -> str:
    """A hash of what the schema is generated from: each record type's fields (name, the type as written
    in this file, default), its tag, and the values and bounds of the aliases those types name.  It does
    not depend on msgspec's or Python's version, so the checked-in schema is stale exactly when this
    changes (regenerate: ``python -m harness.record_schema > harness/schema/results.schema.json``)."""
    import hashlib
    import typing

    parts = [f"{R.SCHEMA_NAME} {R.SCHEMA_VERSION}"]
    for name, alias in _ALIASES.items():
        args = typing.get_args(alias)
        metas = [{k: getattr(m, k) for k in _META if getattr(m, k, None) is not None}
                 for m in getattr(alias, "__metadata__", ())]
        parts.append(f"{name}={[a if isinstance(a, str) else getattr(a, '__name__', str(a)) for a in args]}{metas}")
    structs = [v for v in vars(R).values() if isinstance(v, type) and issubclass(v, msgspec.Struct) and v is not msgspec.Struct]
    for cls in sorted(structs, key=lambda c: c.__name__):
        cfg = cls.__struct_config__
        parts.append(f"{cls.__name__} tag={cfg.tag_field}:{cfg.tag}")
        defaults = dict(zip(cls.__struct_fields__[len(cls.__struct_fields__) - len(cls.__struct_defaults__):],
                            cls.__struct_defaults__))
        for field in cls.__struct_fields__:
            default = defaults.get(field, "required")
            default = default.__name__ if hasattr(default, "__name__") else repr(default)
            parts.append(f"  {field}: {_annotation(cls, field)} = {default}")
    return "sha256:" + hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _annotation(cls: type, field: str) -> str:
    for klass in cls.__mro__:
        if field in klass.__dict__.get("__annotations__", {}):
            return str(klass.__dict__["__annotations__"][field])
    return "?"


def _nonfinite_as_strings(node: Any) -> Any:
    """Every number of the schema may also be one of the strings non-finite floats are written as."""
    if isinstance(node, list):
        return [_nonfinite_as_strings(v) for v in node]
    if not isinstance(node, dict):
        return node
    node = {k: _nonfinite_as_strings(v) for k, v in node.items()}
    if node.get("type") == "number":
        return {"anyOf": [node, {"enum": list(NONFINITE)}]}
    return node


if __name__ == "__main__":  # python -m harness.record_schema > harness/schema/results.schema.json
    json.dump(json_schema(), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
