"""The seed document: TVM's guide to its TensorRT integration, shipped with the package.

Only one thing is read from it: the operator support table (Relay op name and the minimum
TensorRT version from the "Remarks" column).  :mod:`harness.table` is checked against it.
"""
from __future__ import annotations

import re
from importlib import resources

from .errors import TableError

SEED_FILE = "seed-tensorrt-integration.txt"
_ROW = re.compile(r"^\|\s*([A-Za-z0-9_.]+)\s*\|\s*(.*?)\s*\|\s*$")
_REQUIRES = re.compile(r"Requires TensorRT (\d+)\.(\d+)\.(\d+) or greater")


def seed_text() -> str:
    return resources.files("harness.data").joinpath(SEED_FILE).read_text(encoding="utf-8")


def seed_operators(text: str | None = None) -> dict[str, tuple[int, int, int] | None]:
    """Operator name -> minimum TensorRT version (None when the seed states no minimum)."""
    text = seed_text() if text is None else text
    ops: dict[str, tuple[int, int, int] | None] = {}
    for line in text.splitlines():
        m = _ROW.match(line.strip())
        if not m or m.group(1) in ("Relay",):
            continue
        name, remark = m.group(1), m.group(2)
        req = _REQUIRES.search(remark)
        if remark and not req:
            raise TableError(f"seed table row {name!r}: unreadable remark {remark!r}")
        if name in ops:
            raise TableError(f"seed table lists {name!r} twice")
        ops[name] = tuple(int(g) for g in req.groups()) if req else None
    if not ops:
        raise TableError("seed document has no operator table")
    return ops
