"""harness.builds.compile_many on TVM's real LLVM build: a batch that fails is retried in groups of
one signature, so the cases that compile still share one build and each failure stays with its
case.  TVM's LLVM codegen has no float16 atan (a known departure), which makes the failing case."""
from __future__ import annotations

import numpy as np

from harness import program
from harness.backends import get_backend
from harness.builds import Built, BuildCache, CompileFailure, compile_many
from harness.case import Case
from harness.table import BY_NAME


class CountingBackend:
    """The real tvm-llvm backend, counting its compiles (to test the harness's batching)."""

    def __init__(self):
        self.real = get_backend("tvm-llvm")
        self.compiles = 0

    def __getattr__(self, name):
        return getattr(self.real, name)

    def compile(self, mod):
        self.compiles += 1
        return self.real.compile(mod)


def _modules(dtypes):
    entry = BY_NAME["atan"]
    out = {}
    for i, dtype in enumerate(dtypes):
        case = Case("atan", dtype, ((2, 3),), {}, (), seed=i)
        out[f"c{i}o_"] = program.build_case(entry, case).mod
    return out


def test_a_failing_batch_is_split_by_signature_not_case_by_case():
    dtypes = ["float32", "float16", "float32", "float64", "float16", "float32"]
    backend = CountingBackend()
    got = compile_many(backend, _modules(dtypes), BuildCache(None), stage="tvm.compile(llvm)")
    failed = [p for p, b in got.items() if isinstance(b, CompileFailure)]
    assert failed == ["c1o_", "c4o_"]                                   # the float16 cases, and only them
    assert all("unknown intrinsic" in str(got[p]) and "tvm.compile(llvm)" in str(got[p]) for p in failed)
    f32 = [got[p] for p in ("c0o_", "c2o_", "c5o_")]
    assert all(isinstance(b, Built) and b.batch == 3 for b in f32) and len({id(b.executable) for b in f32}) == 1
    assert [b.entry for b in f32] == ["c0o_main", "c2o_main", "c5o_main"]
    assert isinstance(got["c3o_"], Built) and got["c3o_"].batch == 1     # a group of one is built alone
    # whole batch (fails) + float32 group + float16 group (fails) + 2 float16 alone + float64 alone
    assert backend.compiles == 6
    x = np.linspace(-1, 1, 6, dtype="float32").reshape(2, 3)
    out = program.run(f32[1].executable, [x], entry=f32[1].entry)[0]
    np.testing.assert_allclose(out, np.arctan(x), rtol=1e-5, atol=1e-6)


def test_a_batch_that_compiles_is_one_build():
    backend = CountingBackend()
    got = compile_many(backend, _modules(["float32", "float64", "float32"]), BuildCache(None), stage="s")
    assert backend.compiles == 1 and {b.batch for b in got.values()} == {3}
