"""Standalone reproducers: a Python script (TVM and NumPy only) and an .npz beside it.

The script embeds the program as TVMScript (a string literal written with ``repr``, so any
content is quoted properly) and loads its data with ``allow_pickle=False``: nothing read from a
file is ever evaluated.
"""
from __future__ import annotations

import os

import numpy as np

_TEMPLATE = '''\
"""Reproducer written by tvm-trt-harness.

case:     {case_id}
check:    {check}
outcome:  {outcome}   (the reason is REASON below)
Run: python {script_name}   (needs TVM and NumPy only)
"""
import os
import sys

import numpy as np
import tvm
from tvm import relax
from tvm.relax.backend.contrib.tensorrt import partition_for_tensorrt

REASON = {reason!r}
SOURCE = {source!r}
CHECK = {check!r}
TOLERANCE = {tolerance!r}
HERE = os.path.dirname(os.path.abspath(__file__))
data = np.load(os.path.join(HERE, {npz_name!r}), allow_pickle=False)
inputs = [data[k] for k in sorted((k for k in data.files if k.startswith("input_")), key=lambda k: int(k[6:]))]
weights = {{k[7:]: data[k] for k in data.files if k.startswith("weight_")}}
expected = [data[k] for k in sorted((k for k in data.files if k.startswith("oracle_")), key=lambda k: int(k[7:]))]

mod = tvm.script.from_source(SOURCE)
if weights:
    mod = relax.transform.BindParams("main", {{k: tvm.runtime.tensor(v) for k, v in weights.items()}})(mod)
print(mod)


def run(m):
    ex = tvm.compile(m, target="llvm")
    vm = relax.VirtualMachine(ex, tvm.cpu())
    out = vm["main"](*[tvm.runtime.tensor(x) for x in inputs])
    flat = []

    def walk(o):
        if hasattr(o, "numpy"):
            flat.append(o.numpy())
        else:
            for item in o:
                walk(item)
    walk(out)
    return flat


partitioned = partition_for_tensorrt(mod)
offloaded = []
for gv, func in partitioned.functions.items():
    if isinstance(func, relax.Function) and func.attrs is not None and "Codegen" in func.attrs:
        relax.analysis.post_order_visit(
            func.body, lambda n: offloaded.append(str(n.op.name))
            if isinstance(n, relax.Call) and isinstance(n.op, tvm.ir.Op) else None)
print("ops offloaded to TensorRT:", sorted(offloaded))
print("expected offload:", {expected_offload!r})

if CHECK in ("preserve", "reference"):
    original = run(mod)
    if CHECK == "reference":
        other = expected
    else:
        funcs = {{}}
        for gv, func in partitioned.functions.items():
            if isinstance(func, relax.Function) and func.attrs is not None and "Codegen" in func.attrs:
                func = func.without_attr("Codegen")
            funcs[gv] = func
        other = run(relax.transform.LambdaLift()(tvm.IRModule(funcs)))
    atol, rtol = TOLERANCE
    bad = False
    for a, b in zip(original, other):
        err = np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))) if a.size else 0.0
        ok = a.shape == b.shape and np.allclose(a.astype(np.float64), b.astype(np.float64), atol=atol, rtol=rtol,
                                                equal_nan=True)
        print("shape", a.shape, "vs", b.shape, "max abs error", err, "ok" if ok else "MISMATCH")
        bad = bad or not ok
    sys.exit(1 if bad else 0)
'''


def write(directory: str, *, case, check: str, outcome: str, reason: str, program, oracle,
          tolerance, expected_offload) -> str:
    os.makedirs(directory, exist_ok=True)
    stem = f"{case.case_id}-{check}"
    npz_name = stem + ".npz"
    arrays = {f"input_{i}": x for i, x in enumerate(program.inputs)}
    arrays.update({f"weight_{k}": v for k, v in program.weights.items()})
    if oracle is not None:
        arrays.update({f"oracle_{i}": np.asarray(o) for i, o in enumerate(oracle)})
    np.savez(os.path.join(directory, npz_name), **arrays)
    script_name = stem + ".py"
    text = _TEMPLATE.format(
        case_id=case.case_id, check=check, outcome=outcome, reason=reason,
        script_name=script_name, source=program.source.script(), npz_name=npz_name,
        tolerance=tuple(tolerance), expected_offload=expected_offload,
    )
    path = os.path.join(directory, script_name)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path
