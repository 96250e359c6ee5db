"""Root causes of departures (harness/data/upstream.toml) and their upstream pages' paths.

:func:`cause_of` puts a departure (a record that fails, errors or is a known departure) in its
root cause: through the known departure that matched it, a pattern of upstream.toml, or else its
error (digits masked) or its (check, op).  :func:`page_for` maps an expectation id to its page, for
the report; this module imports nothing heavy (the report is an entry point).
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import re

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from .errors import InputError

CAUSES_PATH = os.path.join(os.path.dirname(__file__), "data", "upstream.toml")
PAGES_DIR = "docs/findings/upstream"


@dataclasses.dataclass(frozen=True)
class Cause:
    id: str
    title: str
    where: tuple = ()
    expectations: tuple = ()
    match: tuple = ()
    suspect: bool = False


def load_causes(path: str = CAUSES_PATH) -> list[Cause]:
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{path}: {exc}") from None
    out = []
    for item in data.get("cause", []):
        unknown = set(item) - {f.name for f in dataclasses.fields(Cause)}
        if unknown or "id" not in item or "title" not in item:
            raise InputError(f"{path}: cause {item.get('id', '?')}: needs id and title, unknown keys "
                             f"{sorted(unknown)}")
        out.append(Cause(id=item["id"], title=item["title"], where=tuple(item.get("where", ())),
                         expectations=tuple(item.get("expectations", ())),
                         match=tuple(tuple(sorted(m.items())) for m in item.get("match", ())),
                         suspect=bool(item.get("suspect", False))))
    return out


def page_for(expectation: str | None = None, *, record=None, root: str = ".",
             causes: list[Cause] | None = None) -> str | None:
    """The upstream page (its path, as written under ``root``) of the root cause of a known
    departure (``expectation``) or of a departure (``record``: op, check, reason, expectation);
    None where no page was written."""
    causes = causes if causes is not None else _default_causes()
    cause = None
    if expectation:
        cause = next((c for c in causes if expectation in c.expectations), None)
    elif record is not None:
        cause = cause_of(record, causes)
    if cause is None:
        return None
    path = f"{PAGES_DIR}/{cause.id}.md"
    return path if os.path.isfile(os.path.join(root, path)) else None


_CACHE: dict = {}


def _default_causes() -> list[Cause]:
    if "causes" not in _CACHE:
        _CACHE["causes"] = load_causes()
    return _CACHE["causes"]


def mask(text: str) -> str:
    return re.sub(r"\d+", "N", " ".join(str(text).split()))


# Where TVM failed, as the pipeline says it (harness/pipeline.py): the tags and the first
# place to look, for departures no cause of upstream.toml names.
STAGES = (("build the Relax program", "[Bug][Relax][Frontend][ONNX]", "py:tvm.relax.frontend.onnx.onnx_frontend:from_onnx"),
          ("partition_for_tensorrt", "[Bug][Relax][BYOC][TensorRT]",
           "py:tvm.relax.backend.contrib.tensorrt:partition_for_tensorrt"),
          ("tvm.compile(", "[Bug][Relax]", "py:tvm.driver.build_module:compile"),
          ("run ", "[Bug][Relax][Runtime]", "py:tvm.relax.vm_build:build"))


def _error_of(reason: str) -> str | None:
    """``Type: message`` from a reason that says TVM failed or the worker died."""
    m = re.search(r"(?:TVM failed: |raised |: )((?:[\w.]+Error|InternalError|TypeError|ValueError)[^;|]*)", reason)
    if m:
        return re.sub(r"\s*\((original|partitioned) program\)\s*$", "", m.group(1).strip())[:160]
    m = re.search(r"the worker process died of (\w+)", reason)
    return f"the process died of {m.group(1)}" if m else None


def cause_of(rec, causes: list[Cause], expectation: str | None = None) -> Cause:
    """The root cause a departure belongs to (see the module docstring); ``expectation``: the known
    departure it is (default: the one its record names)."""
    expectation = expectation or rec.expectation
    for c in causes:
        if expectation and expectation in c.expectations:
            return c
    for c in causes:
        for m in c.match:
            spec = dict(m)
            if all(re.search(spec[k], getattr(rec, k) or "", re.IGNORECASE) for k in ("op", "check", "reason")
                   if k in spec):
                return c
    err = _error_of(rec.reason or "")
    stage = next((st for st in STAGES if st[0] in (rec.reason or "")), None)
    where = (stage[2],) if stage else ()
    if err:
        key = mask(err)
        title = f"{stage[1] if stage else '[Bug][Relax]'} {err}"
    else:
        what = "wrong offload" if rec.check == "offload" else "wrong result"
        key = f"{rec.check} {rec.op}"
        title = f"[Bug][Relax] {rec.op}: {what} ({rec.check} check)"
    slug = re.sub(r"[^a-z0-9]+", "-", key.lower()).strip("-")[:48]
    return Cause(id=f"new-{slug}-{hashlib.sha1(key.encode()).hexdigest()[:6]}", title=title, where=where,
                 suspect=bool(where))
