"""The ``tensorrt`` check: the system under test (by default the ``tensorrt`` backend) against the
reference (by default ``tvm-cuda``), with timings.  Runs only where both backends can run; the
suite skips with the exact reason elsewhere (see :func:`harness.suite.tensorrt_skip_reason`)."""
from __future__ import annotations

import os

from . import checks, timing
from .backends import get_backend
from .table import FP16_MODE_TOL


def fp16_mode() -> bool:
    return os.environ.get("TVM_TENSORRT_USE_FP16", "0") not in ("", "0")


def _built(run: checks.CaseRun, name: str):
    backend = get_backend(name)

    def make():
        return checks._guard(f"build with {name}", lambda: backend.build(run.program.mod, run.partitioned))
    return backend, run._get(f"built:{name}", make)


def check_tensorrt(run: checks.CaseRun, state) -> checks.CheckResult:
    sut_name, ref_name = state.settings.backend, state.settings.reference
    sut, sut_built = _built(run, sut_name)
    ref, ref_built = _built(run, ref_name)
    inputs = run.program.inputs
    got = checks._guard(f"run {sut_name}", lambda: sut.run(sut_built, inputs))
    want = checks._guard(f"run {ref_name}", lambda: ref.run(ref_built, inputs))
    atol, rtol = FP16_MODE_TOL if fp16_mode() else run.entry.tolerance(run.case.dtype)
    result = checks._numeric(got, want, atol, rtol, f"{sut_name} vs {ref_name}")
    stats = {
        sut_name: {**timing.measure(sut.timer(sut_built, inputs)), "build_s": sut_built.build_s},
        ref_name: {**timing.measure(ref.timer(ref_built, inputs)), "build_s": ref_built.build_s},
    }
    stats["speedup"] = stats[ref_name]["median_s"] / stats[sut_name]["median_s"] if stats[sut_name]["median_s"] else None
    result.fields["timings"] = stats
    result.fields["tolerance"] = {**result.fields.get("tolerance", {}), "fp16_mode": fp16_mode()}
    return result
