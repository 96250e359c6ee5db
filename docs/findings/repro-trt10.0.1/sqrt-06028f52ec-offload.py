"""Reproducer written by tvm-trt-harness.

case:     sqrt-06028f52ec
check:    offload
outcome:  fail   (the reason is REASON below)
Run: python sqrt-06028f52ec-offload.py   (needs TVM and NumPy only)
"""
import os
import sys

import numpy as np
import tvm
from tvm import relax
from tvm.relax.backend.contrib.tensorrt import partition_for_tensorrt

REASON = "over-offload: relax.sqrt offloaded though dtype float64: TensorRT's runtime takes only float32/float16 tensors"
SOURCE = '# from tvm.script import ir as I\n# from tvm.script import relax as R\n\n@I.ir_module\nclass Module:\n    @R.function\n    def main(x0: R.Tensor((1,), dtype="float64")) -> R.Tensor((1,), dtype="float64"):\n        with R.dataflow():\n            lv: R.Tensor((1,), dtype="float64") = R.sqrt(x0)\n            gv: R.Tensor((1,), dtype="float64") = lv\n            R.output(gv)\n        return gv'
CHECK = 'offload'
TOLERANCE = (1e-10, 1e-10)
HERE = os.path.dirname(os.path.abspath(__file__))
data = np.load(os.path.join(HERE, 'sqrt-06028f52ec-offload.npz'), allow_pickle=False)
inputs = [data[k] for k in sorted((k for k in data.files if k.startswith("input_")), key=lambda k: int(k[6:]))]
weights = {k[7:]: data[k] for k in data.files if k.startswith("weight_")}
expected = [data[k] for k in sorted((k for k in data.files if k.startswith("oracle_")), key=lambda k: int(k[7:]))]

mod = tvm.script.from_source(SOURCE)
if weights:
    mod = relax.transform.BindParams("main", {k: tvm.runtime.tensor(v) for k, v in weights.items()})(mod)
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
print("expected offload:", [{'op': 'relax.sqrt', 'offload': False, 'rule': 'dtype', 'reason': "dtype float64: TensorRT's runtime takes only float32/float16 tensors", 'source': 'runtime.cc ICHECK(dtype FP16/FP32) for inputs and constants; builder.cc DLDataType2NVDataType; relay:is_supported_trt_type'}])

if CHECK in ("preserve", "reference"):
    original = run(mod)
    if CHECK == "reference":
        other = expected
    else:
        funcs = {}
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
