"""Versions of TensorRT (and ranges of TVM and TensorRT versions), in one place.

A version is a tuple of ints, ``(major, minor, patch)``.  The targeted TensorRT version is one the
vendor released (:data:`KNOWN_TRT_VERSIONS`); TVM versions are read from ``tvm.__version__``
(``0.27.0.post1`` -> ``(0, 27, 0)``).  A :class:`VersionRange` is what an expectation limits
itself to (``">=0.26"``, ``"<10"``, ``">=8.0,<10.0"``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import InputError, did_you_mean

Version = tuple  # (major, minor, patch) of ints

KNOWN_TRT_VERSIONS: tuple[Version, ...] = (
    (5, 0, 2), (5, 1, 5), (6, 0, 1), (7, 0, 0), (7, 2, 3), (8, 0, 1), (8, 2, 5), (8, 4, 3), (8, 5, 3),
    (8, 6, 1), (10, 0, 1), (10, 3, 0), (10, 7, 0),
)
DEFAULT_TRT_VERSION: Version = (10, 0, 1)
#: TensorRT 10 removed implicit batch mode (tensorrt_builder.cc, tensorrt_runtime.cc warn and ignore it)
IMPLICIT_BATCH_REMOVED_IN: Version = (10, 0, 0)


def format_version(v: Version) -> str:
    return ".".join(str(p) for p in v)


def parse_version(text: str) -> Version:
    """'8.6.1' -> (8, 6, 1); only versions TensorRT released (KNOWN_TRT_VERSIONS) are accepted."""
    try:
        parts = tuple(int(p) for p in str(text).strip().split("."))
    except ValueError:
        parts = ()
    if len(parts) == 2:
        parts = parts + (0,)
    if parts not in KNOWN_TRT_VERSIONS:
        known = [format_version(v) for v in KNOWN_TRT_VERSIONS]
        raise InputError(f"unknown TensorRT version {text!r}{_closest_version(str(text).strip(), known)}; "
                         f"known: {', '.join(known)}")
    return parts


def _closest_version(text: str, known: list[str]) -> str:
    """'8.6' -> ' (did you mean 8.6.1?)' (the releases it is a prefix of, else the closest spelling)."""
    longer = [k for k in known if k.startswith(text + ".")] if text else []
    if longer:
        return f" (did you mean {' or '.join(longer)}?)"
    return did_you_mean(text, known, quote=False, n=1)


def loose_version(text: str) -> Version:
    """Any dotted version, padded to three parts: '0.27.0.post1' -> (0, 27, 0); '10' -> (10, 0, 0)."""
    nums = re.findall(r"\d+", str(text).split("+")[0])[:3]
    if not nums or not re.match(r"^\s*\d", str(text)):
        raise InputError(f"not a version: {text!r}")
    return tuple(int(n) for n in nums) + (0,) * (3 - len(nums))


def implicit_batch_default(trt_version: Version) -> bool:
    """The seed's default is use_implicit_batch=True; TensorRT 10 has no implicit batch mode."""
    return tuple(trt_version) < IMPLICIT_BATCH_REMOVED_IN


_BOUND = re.compile(r"^\s*(>=|<=|==|>|<)\s*([0-9][0-9A-Za-z.+]*)\s*$")
_OPS = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, "==": lambda a, b: a == b,
        ">": lambda a, b: a > b, "<": lambda a, b: a < b}


@dataclass(frozen=True)
class VersionRange:
    """A conjunction of bounds, written as in pip: ``">=0.26,<0.28"``."""

    text: str
    bounds: tuple = ()

    @classmethod
    def parse(cls, text: str) -> "VersionRange":
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"version range must be a non-empty string like '>=0.26,<0.28', got {text!r}")
        bounds = []
        for part in text.split(","):
            m = _BOUND.match(part)
            if not m:
                raise InputError(f"bad version bound {part.strip()!r} in {text!r} (write e.g. '>=8.0,<10')")
            bounds.append((m.group(1), loose_version(m.group(2))))
        return cls(text.strip(), tuple(bounds))

    def __contains__(self, version: Version) -> bool:
        v = tuple(version)
        return all(_OPS[op](v, bound) for op, bound in self.bounds)
