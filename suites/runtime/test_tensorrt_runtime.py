"""Runtime settings from the seed (TVM_TENSORRT_* environment variables) and export/load.

Each runs where TVM has the TensorRT codegen and runtime and a GPU, and skips with the exact
reason elsewhere.  Engines are built in child processes, so environment variables are read fresh.
"""
import json
import os
import subprocess
import sys
import textwrap


import numpy as np
import pytest

from harness.compare import Tolerance, compare
from harness.table import FP16_MODE_TOL

TIGHT = Tolerance(atol=1e-4, rtol=1e-4)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CHILD = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    import tvm
    from tvm import relax
    sys.path.insert(0, {root!r}); sys.path.insert(0, {here!r})
    from conftest import conv_module
    from harness.program import partition
    batches = {batches!r}
    outs, times = [], []
    for b in batches:
        mod, x = conv_module(batch=b)
        ex = tvm.compile(relax.transform.RunCodegen()(partition(mod)), target="cuda")
        if {export!r}:
            ex.export_library({export!r}); ex = tvm.runtime.load_module({export!r})
        vm = relax.VirtualMachine(ex, tvm.cuda(0))
        t0 = time.perf_counter(); y = vm["main"](tvm.runtime.tensor(x, tvm.cuda(0))).numpy()
        times.append(time.perf_counter() - t0); outs.append(y.tolist())
    print(json.dumps({{"outs": outs, "first_call_s": times}}))
""")


def child(env_extra, batches=(1,), export="", expect_ok=True):
    env = dict(os.environ, **env_extra)
    code = CHILD.format(root=ROOT, here=os.path.dirname(os.path.abspath(__file__)), batches=list(batches),
                        export=export)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    if expect_ok:
        assert proc.returncode == 0, proc.stderr[-2000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])
    return proc


def reference(batch=1):
    from conftest import conv_module
    from harness import program
    from harness.backends import get_backend

    mod, x = conv_module(batch=batch)
    cuda = get_backend("tvm-cuda")
    return program.run(cuda.compile(mod), [x], cuda.device())[0]


def test_fp16_mode_within_fp16_tolerance(needs_tensorrt):
    got = np.array(child({"TVM_TENSORRT_USE_FP16": "1"})["outs"][0], dtype=np.float32)
    cmp = compare([got], [reference()], FP16_MODE_TOL)
    assert cmp.ok, cmp.reason


def test_engine_cache_cold_then_warm_across_processes(needs_tensorrt, tmp_path):
    env = {"TVM_TENSORRT_CACHE_DIR": str(tmp_path)}
    cold = child(env)
    assert os.listdir(tmp_path), "the first run should write an engine into TVM_TENSORRT_CACHE_DIR"
    warm = child(env)
    assert warm["outs"] == cold["outs"]
    print(f"first call cold {cold['first_call_s'][0]:.3f}s, warm {warm['first_call_s'][0]:.3f}s")
    assert warm["first_call_s"][0] < cold["first_call_s"][0]


def test_corrupt_engine_cache_file_is_rebuilt_or_rejected_cleanly(needs_tensorrt, tmp_path):
    env = {"TVM_TENSORRT_CACHE_DIR": str(tmp_path)}
    child(env)
    for name in os.listdir(tmp_path):
        with open(tmp_path / name, "wb") as fh:
            fh.write(b"not an engine")
    proc = child(env, expect_ok=False)
    assert proc.returncode in (0, 1), f"a corrupt cache must not crash the process: rc={proc.returncode}"
    if proc.returncode == 1:
        assert "Error" in proc.stderr


@pytest.mark.parametrize("size", ["1048576", "1073741824"])
def test_max_workspace_size(needs_tensorrt, size):
    got = np.array(child({"TVM_TENSORRT_MAX_WORKSPACE_SIZE": size})["outs"][0], dtype=np.float32)
    assert compare([got], [reference()], TIGHT).ok


@pytest.mark.parametrize("mode", ["0", "1"])
def test_multi_engine_with_changing_batch(needs_tensorrt, mode):
    res = child({"TVM_TENSORRT_MULTI_ENGINE": mode}, batches=(1, 4, 2))
    for b, out in zip((1, 4, 2), res["outs"]):
        assert compare([np.array(out, np.float32)], [reference(b)], TIGHT).ok


def test_export_and_load_of_built_library(needs_tensorrt, tmp_path):
    res = child({}, export=str(tmp_path / "compiled.so"))
    assert compare([np.array(res["outs"][0], np.float32)], [reference()], TIGHT).ok


def test_export_and_load_of_partitioned_program_on_llvm(tmp_path):
    """Runs anywhere: the partitioned program, left to TVM, survives export_library/load_module."""
    import tvm
    from conftest import conv_module

    from harness import program

    mod, x = conv_module()
    ex = tvm.compile(program.strip_codegen(program.partition(mod)), target="llvm")
    before = program.run(ex, [x])[0]
    path = str(tmp_path / "lib.so")
    ex.export_library(path)
    loaded = tvm.runtime.load_module(path)
    after = program.run(loaded, [x])[0]
    np.testing.assert_array_equal(before, after)

