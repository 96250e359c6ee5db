"""Reproducer written by tvm-trt-harness.

case:     nn.conv2d_transpose-7e1da76453-reference
check:    reference
outcome:  fail   (the reason is REASON below)
Run: python nn.conv2d_transpose-7e1da76453-reference.py   (needs TVM and NumPy only)
Exit status: 1 while the departure is there, 0 once it is gone.
"""
import os
import sys
from collections import Counter

import numpy as np
import tvm
from tvm import relax

REASON = 'TVM LLVM vs numpy-oracle: within atol=1e-10 rtol=1e-10 acc=3.14e-16; TVM CUDA vs numpy-oracle: output 0: 3/36 elements beyond atol=1e-10 rtol=1e-10 + 7.5e-16 for rounding in the sum (acc=3.14e-16) (max abs error 1.42, max rel error 1)'
SOURCE = '# from tvm.script import ir as I\n# from tvm.script import relax as R\n\n@I.ir_module\nclass Module:\n    @R.function\n    def main(x0: R.Tensor((1, 1, 5, 5), dtype="float64"), weight: R.Tensor((1, 1, 2, 1), dtype="float64")) -> R.Tensor((1, 1, 4, 9), dtype="float64"):\n        with R.dataflow():\n            lv: R.Tensor((1, 1, 4, 9), dtype="float64") = R.nn.conv2d_transpose(x0, weight, strides=[1, 2], padding=[2, 0, 1, 0], output_padding=[0, 0], dilation=[2, 2], groups=1, data_layout="NCHW", kernel_layout="IOHW", out_layout="NCHW", out_dtype=None)\n            gv: R.Tensor((1, 1, 4, 9), dtype="float64") = lv\n            R.output(gv)\n        return gv'             # TVMScript, or None when the program comes from MODEL
MODEL = None               # an ONNX file beside this script, or None
SHAPES = {}             # ONNX input name -> (shape, dtype), for MODEL
CHECK = 'reference'
TARGET = 'cuda'
ATOL, RTOL, MODE, ACC = (1e-10, 1e-10, 'elementwise', 3.1401849173675503e-16)
EXPECTED_OFFLOAD = {}   # op -> calls the converter rules say TensorRT should take
HERE = os.path.dirname(os.path.abspath(__file__))
data = np.load(os.path.join(HERE, 'nn.conv2d_transpose-7e1da76453-reference.npz'), allow_pickle=False)
inputs = [data[k] for k in sorted((k for k in data.files if k.startswith("input_")), key=lambda k: int(k[6:]))]
weights = {k[7:]: data[k] for k in data.files if k.startswith("weight_")}
oracle = [data[k] for k in sorted((k for k in data.files if k.startswith("oracle_")), key=lambda k: int(k[7:]))]

if MODEL is not None:
    import onnx
    from tvm.relax.frontend.onnx import from_onnx

    mod = from_onnx(onnx.load(os.path.join(HERE, MODEL)), shape_dict={k: v[0] for k, v in SHAPES.items()},
                    dtype_dict={k: v[1] for k, v in SHAPES.items()}, keep_params_in_input=False)
else:
    mod = tvm.script.from_source(SOURCE)
    if weights:
        mod = relax.transform.BindParams("main", {k: tvm.runtime.tensor(v) for k, v in weights.items()})(mod)
    print(mod)


def run(m):
    dev = tvm.cuda(0) if TARGET == "cuda" else tvm.cpu()
    ex = tvm.compile(m, target=TARGET)
    vm = relax.VirtualMachine(ex, dev)
    out = vm["main"](*[tvm.runtime.tensor(x, dev) for x in inputs])
    flat = []

    def walk(o):
        if hasattr(o, "numpy"):
            flat.append(o.numpy())
        else:
            for item in o:
                walk(item)
    walk(out)
    return flat


def same(actual, expected):
    """harness/compare.py's rule: |a - e| <= ATOL + RTOL * |e| + ACC * max|e| (ATOL scaled by max|e|
    when MODE is normwise; ACC is the rounding allowed in a long sum); NaN/Inf must agree in place;
    integer outputs must be equal."""
    ok = len(actual) == len(expected)
    for a, e in zip(actual, expected):
        a64, e64 = a.astype(np.float64), e.astype(np.float64)
        if a.shape != e.shape:
            print("shape", a.shape, "expected", e.shape)
            ok = False
            continue
        special = np.array_equal(np.isnan(a64), np.isnan(e64)) and np.array_equal(a64[np.isinf(a64)], e64[np.isinf(e64)])
        fin = np.isfinite(a64) & np.isfinite(e64)
        top = np.abs(e64[fin]).max(initial=0.0)
        atol = (ATOL * (top or 1.0) if MODE == "normwise" else ATOL) + ACC * top
        err = np.abs(a64[fin] - e64[fin])
        good = special and bool(np.all(err <= atol + RTOL * np.abs(e64[fin])))
        print("output", a.shape, "max abs error", err.max(initial=0.0), "ok" if good else "MISMATCH")
        ok = ok and good
    return ok


from tvm.relax.backend.contrib.tensorrt import partition_for_tensorrt  # noqa: E402


def offloaded_calls(part):
    """Op calls run by TensorRT, counted per call site (as harness/offload.py's trt_calls): a
    region binds a composite function once and calls it for every identical op, and main may
    call a region more than once, so a multi-op program is not counted by its definitions."""
    counts = Counter()

    def walk(expr, local):
        def visit(node):
            if isinstance(node, relax.Call) and isinstance(node.op, tvm.ir.Op):
                counts[str(node.op.name)] += 1
            elif isinstance(node, relax.Call) and node.op in local:
                walk(local[node.op].body, local)
        relax.analysis.post_order_visit(expr, visit)

    sites = []
    relax.analysis.post_order_visit(part["main"].body, lambda n: sites.append(n.op) if isinstance(n, relax.Call)
                                    and isinstance(n.op, tvm.ir.GlobalVar) else None)
    for gv in sites:
        func = part[gv]
        if not (isinstance(func, relax.Function) and func.attrs is not None and "Codegen" in func.attrs):
            continue
        blocks = getattr(func.body, "blocks", [])
        bindings = [b for block in blocks for b in block.bindings]
        local = {b.var: b.value for b in bindings if isinstance(b.value, relax.Function)}
        for b in bindings:
            if not isinstance(b.value, relax.Function):
                walk(b.value, local)
        if not blocks:
            walk(func.body, local)
    return counts


if CHECK == "reference":      # TVM's build against the stored reference outputs (no partitioning)
    sys.exit(0 if same(run(mod), oracle) else 1)
try:
    partitioned = partition_for_tensorrt(mod)
except Exception as exc:      # (a crash ends the process with a signal: a non-zero status too)
    print("partition_for_tensorrt raised:", type(exc).__name__, exc)
    sys.exit(1)
if CHECK == "partition":
    sys.exit(0)
if CHECK == "offload":
    offloaded = offloaded_calls(partitioned)
    print("offloaded to TensorRT:", dict(offloaded))
    print("expected (converter rules):", EXPECTED_OFFLOAD)
    sys.exit(0 if dict(offloaded) == EXPECTED_OFFLOAD else 1)

original = run(mod)
funcs = {}
for gv, func in partitioned.functions.items():
    if isinstance(func, relax.Function) and func.attrs is not None and "Codegen" in func.attrs:
        func = func.without_attr("Codegen")
    funcs[gv] = func
sys.exit(0 if same(run(relax.transform.LambdaLift()(tvm.IRModule(funcs))), original) else 1)
