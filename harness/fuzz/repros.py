"""The fuzzer's stored findings: a standalone reproducer per distinct finding, written by
:func:`harness.repro.write` (the same template as the op suites': TVM and NumPy only, it exits 1
while the departure is there), and the spec beside it as JSON, replayed by ``trt-harness fuzz``
and as ``@example`` by the nightly suite (``suites/fuzz``).

``<stem>.py`` / ``<stem>.npz`` / ``<stem>.json``, where the stem is :func:`check.sig_id` of the
finding's signature, so a finding found again replaces its own files.
"""
from __future__ import annotations

import json
import os

from ..errors import InputError
from ..versions import format_version
from . import graphs
from .check import TOLERANCE, Finding, sig_id


def write_reproducer(directory: str, spec: dict, finding: Finding, *, outcome: str, reason: str,
                     expected_offload: dict | None) -> str:
    """``<stem>.py`` and ``<stem>.npz`` of a finding's program; returns the script's path.
    Builds the program: run it in the isolated worker."""
    from .. import repro

    reason = f"{reason} | program: {graphs.describe(spec)}"
    return repro.write(directory, stem=sig_id(finding.sig), check=finding.check, outcome=outcome, reason=reason,
                       program=graphs.build(spec), oracle=None, tolerance=TOLERANCE,
                       expected_offload=expected_offload if finding.check == "offload" else None)


def write_spec(directory: str, spec: dict, finding: Finding, *, trt_version, implicit_batch: bool, op: str,
               outcome: str, expectation: str | None, blob: str | None = None) -> str:
    """``<stem>.json``: the spec and what it shows, for replay."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, sig_id(finding.sig) + ".json")
    data = {"sig": finding.sig, "kind": finding.kind, "detail": finding.detail, "op": op, "check": finding.check,
            "rule": finding.rule, "outcome": outcome, "expectation": expectation, "spec": spec,
            "program": graphs.describe(spec), "trt_version": format_version(trt_version),
            "implicit_batch": implicit_batch, "reproduce_failure": blob}
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
        fh.write("\n")
    return path


def stored_specs(directory: str) -> list[dict]:
    """The stored findings of ``directory`` (``<stem>.json``), in name order; none if it is missing."""
    out = []
    if os.path.isdir(directory):
        for name in sorted(os.listdir(directory)):
            if name.endswith(".json"):
                path = os.path.join(directory, name)
                try:
                    with open(path, encoding="utf-8") as fh:
                        data = json.load(fh)
                except (OSError, ValueError) as exc:
                    raise InputError(f"{path}: not a stored fuzz finding: {exc}") from None
                if not (isinstance(data, dict) and isinstance(data.get("sig"), str) and isinstance(data.get("spec"), dict)):
                    raise InputError(f"{path}: not a stored fuzz finding (needs 'sig' and 'spec')")
                out.append(data)
    return out
