"""Test doubles for testing the harness itself: each is wrong on purpose, and named for it.

A harness that reports these as passing is broken.  Installed into a pytester run by
``install(name)`` from that run's conftest.
"""
from __future__ import annotations

import numpy as np

import harness.pipeline as pipeline
import harness.program as program
import harness.rules as rules
from harness import oracle
from harness.table import BY_NAME


def wrong_relu_reference_off_by_half(x):
    """A reference function off by 0.5: the reference check must fail."""
    return oracle.relu(x) + 0.5


def _partition_dropping_everything(mod):
    """A partitioner that offloads nothing: the offload check must report under-offload."""
    return mod


def _partition_then_corrupt(mod):
    """Partition, then change the TensorRT function's computation (x -> x + 1): preserve must fail."""
    import tvm
    from tvm import relax

    part = program.partition(mod)
    funcs = {}
    for gv, func in part.functions.items():
        if isinstance(func, relax.Function) and func.attrs is not None and "Codegen" in func.attrs:
            body = func.body
            one = relax.const(np.ones((), dtype=str(func.ret_ty.dtype)))
            func = relax.Function(func.params, relax.op.add(body, one) if not hasattr(body, "blocks")
                                  else _add_one(body, one), func.ret_ty, func.is_pure, func.attrs)
        funcs[gv] = func
    return tvm.IRModule(funcs)


def _add_one(seq_expr, one):
    from tvm import relax

    return relax.SeqExpr(seq_expr.blocks, relax.op.add(seq_expr.body, one))


def _decide_never(call, *, trt_version, implicit_batch=None):
    """A wrong expected rule: 'TensorRT takes nothing'.  Offload must report over-offload."""
    return rules.Decision(False, "wrong-rule-double", "test double: rules say nothing offloads", "tests/doubles.py")


def _partition_extra_offload(mod):
    """A partitioner that also offloads every relax.nn.leakyrelu (the rules keep it on TVM when the
    targeted TensorRT is older than 5.1.5): over-offload."""
    from tvm import relax
    from tvm.relax.dpl import is_op, wildcard

    part = _REAL_PARTITION(mod)
    return relax.transform.FuseOpsByPattern([("tensorrt.nn.leaky_relu", is_op("relax.nn.leakyrelu")(wildcard()))],
                                            annotate_codegen=True)(part)


def _partition_segfaults(mod):
    """A partitioner that crashes the process (as a native bug in a converter would)."""
    import os
    import signal

    os.kill(os.getpid(), signal.SIGSEGV)


def segfaulting_reference_double(model, inputs):
    """A reference that crashes its process (as a native bug in ONNX Runtime would)."""
    import os
    import signal

    os.kill(os.getpid(), signal.SIGSEGV)


def _partition_hangs(mod):
    """A partitioner that never returns (well beyond any --trt-timeout a test gives)."""
    import time

    time.sleep(3600)


def _partition_held(mod):
    """The real partitioner, except that a program of the op named by $TRT_TEST_HOLD_OP waits while
    the file $TRT_TEST_HOLD exists, having said so in $TRT_TEST_HOLD.held: a run held at a known
    point, for a test to act on it (an event, never a timer).  Runs in the isolated worker."""
    import os
    import time

    from harness.offload import all_calls, op_name

    op, path = os.environ.get("TRT_TEST_HOLD_OP"), os.environ.get("TRT_TEST_HOLD", "")
    if op and os.path.exists(path) and any(op_name(c) == BY_NAME[op].tvm_op for c in all_calls(mod)):
        with open(path + ".held", "w") as fh:
            fh.write(str(os.getpid()))
        while os.path.exists(path):
            time.sleep(0.01)
    return _REAL_PARTITION(mod)


def _perturbed_outputs(how):
    """A broken execution: the partitioned program's outputs on tvm-llvm, damaged by ``how``."""
    real = pipeline.execute

    def execute(arts, needs, cache, **kwargs):
        real(arts, needs, cache, **kwargs)
        for art in arts:
            got = art.outputs.get(("partitioned", "tvm-llvm"))
            if isinstance(got, list):
                art.outputs[("partitioned", "tvm-llvm")] = [how(np.array(o, copy=True)) for o in got]
    return execute


def _scale(factor):
    def how(o):
        return (o.astype(np.float64) * factor).astype(o.dtype)
    return how


def _poison(value):
    def how(o):
        if o.size and np.issubdtype(o.dtype, np.floating):
            o.flat[0] = value
        return o
    return how


_REAL_PARTITION = program.partition

OUTPUT_FAULTS = {
    "numeric-small": _scale(1 + 1e-3),     # 1e-3 relative: above float32's rtol 1e-5
    "numeric-large": _scale(2.0),
    "nan-output": _poison(np.nan),
    "inf-output": _poison(np.inf),
}


def install(name: str, monkeypatch) -> None:
    if name in OUTPUT_FAULTS:
        import harness.engine

        monkeypatch.setattr(harness.engine, "execute", _perturbed_outputs(OUTPUT_FAULTS[name]))
    elif name == "partition-extra-offload":
        monkeypatch.setattr(program, "partition", _partition_extra_offload)
    elif name == "crash-in-case":
        monkeypatch.setattr(program, "partition", _partition_segfaults)
    elif name == "hang-in-case":
        monkeypatch.setattr(program, "partition", _partition_hangs)
    elif name == "held-partition":
        monkeypatch.setattr(program, "partition", _partition_held)
    elif name == "wrong-oracle":
        entry = BY_NAME["nn.relu"]   # frozen: its field replaced in place, undone with the monkeypatch
        monkeypatch.setitem(vars(entry), "ref", wrong_relu_reference_off_by_half)
    elif name == "partition-drops-ops":
        monkeypatch.setattr(program, "partition", _partition_dropping_everything)
    elif name == "partition-corrupts-region":
        original = program.partition
        monkeypatch.setattr(program, "partition", lambda mod: _partition_then_corrupt_with(original, mod))
    elif name == "wrong-backend":
        install_backend_double(monkeypatch)
    elif name == "gpu-oom-backend":
        from harness import backends

        monkeypatch.setitem(backends.BUILTIN, "gpu-oom-llvm", _gpu_oom_backend_class())
    elif name == "wrong-expected-rule":
        monkeypatch.setattr(rules, "decide", _decide_never)
    else:
        raise ValueError(name)


def _partition_then_corrupt_with(partition, mod):
    global_partition = program.partition
    program.partition = partition
    try:
        return _partition_then_corrupt(mod)
    finally:
        program.partition = global_partition


# -- running the op suite in a child pytest, with or without a double -----------------------------
import os as _os

ROOT = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))

_CONFTEST = '''
import importlib.metadata as _md
import os
import sys
sys.path.insert(0, {tests!r})
sys.path.insert(0, {root!r})
if not any(ep.value.startswith("harness.plugin") for ep in _md.entry_points(group="pytest11")):
    pytest_plugins = ["harness.plugin"]

def pytest_configure(config):
    double = os.environ.get("TRT_TEST_DOUBLE")
    if double:
        import doubles
        from _pytest.monkeypatch import MonkeyPatch
        doubles.install(double, MonkeyPatch())
'''


def suite_command(workdir, *args, results=None):
    """Prepare ``workdir`` (conftest + a copy of the op suite) and return (argv, env, results)."""
    import os
    import sys

    tests = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(tests)
    workdir = os.fspath(workdir)
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "conftest.py"), "w") as fh:
        fh.write(_CONFTEST.format(tests=tests, root=root))
    with open(os.path.join(root, "suites", "ops", "test_ops.py")) as src, \
            open(os.path.join(workdir, "test_ops.py"), "w") as dst:
        dst.write(src.read())
    results = results or os.path.join(workdir, "out", "results.jsonl")
    env = dict(os.environ, TRT_HARNESS_FORCE="1",
               XDG_CACHE_HOME=os.environ.get("TRT_HARNESS_TEST_CACHE") or os.path.join(workdir, ".cache"),
               PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("TRT_TEST_DOUBLE", None)
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--rootdir={workdir}",
            f"--trt-results={results}", "--trt-report=", "test_ops.py", *args]
    return argv, env, results


def run_suite(workdir, *args, double=None, timeout=300, results=None):
    """Run the op suite in a child pytest; returns (returncode, output, records)."""
    import json
    import os
    import subprocess

    argv, env, results = suite_command(workdir, *args, results=results)
    if double:
        env["TRT_TEST_DOUBLE"] = double
    proc = subprocess.run(argv, cwd=os.fspath(workdir), env=env, capture_output=True, text=True, timeout=timeout)
    records = []
    if os.path.exists(results):
        with open(results) as fh:
            for line in fh:
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if obj.get("kind") == "record":
                    records.append(obj)
    return proc.returncode, proc.stdout + proc.stderr, records


def _wrong_backend_class():
    from harness.backends import TVMLLVM

    class WrongByOneLLVMBackend(TVMLLVM):
        """A system under test that adds 1 to every output: the tensorrt check must fail."""

        name = "wrong-by-one-llvm"

        def run(self, vm, inputs, device, entry="main"):
            return [o + 1 for o in super().run(vm, inputs, device, entry)]

    return WrongByOneLLVMBackend


def _gpu_oom_backend_class():
    from harness.backends import TVMLLVM

    class GpuOutOfMemoryBackend(TVMLLVM):
        """A backend whose device runs out of memory on every run, as a full GPU does."""

        name = "gpu-oom-llvm"

        def run(self, vm, inputs, device, entry="main"):
            raise RuntimeError("CUDA: out of memory (cudaErrorMemoryAllocation) while allocating the outputs")

    return GpuOutOfMemoryBackend


def install_backend_double(monkeypatch=None) -> None:
    """Register the wrong backend under its name, as a third-party entry point would (undone with
    ``monkeypatch``, if given)."""
    from harness import backends

    if monkeypatch is None:
        backends.BUILTIN["wrong-by-one-llvm"] = _wrong_backend_class()
    else:
        monkeypatch.setitem(backends.BUILTIN, "wrong-by-one-llvm", _wrong_backend_class())


def onnxruntime_wrong_on_its_first_call_only(model, inputs):
    """Test double: ONNX Runtime off by one on its first call and right afterwards (a flaky reference).
    The calls are counted in the file $TRT_TEST_FLAKY_COUNTER: each reference runs in a child process."""
    import os

    from harness.models import references

    ref = references.onnxruntime_reference(model, inputs)
    path = os.environ["TRT_TEST_FLAKY_COUNTER"]
    with open(path, "a") as fh:
        fh.write("x")
    with open(path) as fh:
        first = fh.read() == "x"
    if first:
        ref.outputs = [o + 1 for o in ref.outputs]
    return ref
