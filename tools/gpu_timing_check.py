#!/usr/bin/env python3
"""Check the harness's GPU timings against independent measurements, on a GPU machine.

For a few small, op-suite-sized cases and a selection of the benchmark set (harness/bench), this
builds each one-op program with TVM's CUDA pipeline (``tvm.compile(mod, target="cuda")``, run on
``relax.VirtualMachine``) and measures it four ways:

1. ``harness.timing.time_run``: host latency per call, and device time per call from CUPTI
   (harness/timing/device.py), under the per-GPU lock;
2. TVM's own ``time_evaluator`` on the same build;
3. an independent CUPTI measurement written here, apart from device.py: one block of calls, the
   activity records grouped call by call, the median of the per-call sums;
4. optionally (``--torch``) PyTorch's profiler (kineto), when torch is importable; it runs after
   all CUPTI measurements, because kineto registers a CUPTI timestamp callback that changes the
   unit of every CUPTI timestamp in the process from then on.

It prints one table (op, case, shape, latency, device time, time_evaluator, independent CUPTI,
ratio harness-device / independent, CVs, kernels per call, roofline fraction) and writes it as
JSON to ``--out``.  Needs only TVM, NumPy and cupti-python (``cupti``); the harness's timing code is
imported from this checkout.  A case that fails is recorded with its error; the exit status is
non-zero only when the script itself crashes.

    python tools/gpu_timing_check.py --out timing-check.json            # default selection
    python tools/gpu_timing_check.py --out t.json --all-bench --quick   # the whole benchmark set
    python tools/gpu_timing_check.py --out t.json --target llvm         # dry run on a CPU
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from harness.bench.shapes import BENCH  # noqa: E402  (stdlib + harness.case only)
from harness.case import Case  # noqa: E402
from harness.timing import roofline, time_run  # noqa: E402

# Small cases of the size the op suites generate (launch-bound: device time << latency).
SMALL = [
    ("small add", Case("add", "float32", ((2, 3, 4, 5), (2, 3, 4, 5)))),
    ("small conv2d", Case("nn.conv2d", "float32", ((1, 3, 8, 8),),
                          {"strides": [1, 1], "padding": [1, 1], "dilation": [1, 1], "groups": 1,
                           "data_layout": "NCHW", "kernel_layout": "OIHW"}, (("weight", (4, 3, 3, 3)),))),
    ("small softmax", Case("nn.softmax", "float32", ((2, 5),), {"axis": -1})),
    ("small max_pool2d", Case("nn.max_pool2d", "float32", ((1, 2, 6, 6),),
                              {"pool_size": [3, 3], "strides": [2, 2], "padding": [0, 0], "dilation": [1, 1],
                               "ceil_mode": False, "layout": "NCHW"})),
    ("small mean", Case("mean", "float32", ((3, 4, 5),), {"axis": [1], "keepdims": False})),
]

# Benchmark-set layers checked by default (name, dtype); --all-bench takes the whole set.
DEFAULT_BENCH = [
    ("resnet50.layer1.0 (residual add)", "float32"),       # measured 2.74 us before (shared/gpu/README.md)
    ("resnet50.layer1.0.conv2", "float32"),
    ("resnet50.layer1.0.conv2", "float16"),
    ("bert_base.b8.encoder.layer.0.intermediate.dense", "float16"),
    ("bert_base.b8.encoder.layer.0.attention.self (query @ key^T)", "float16"),
    ("bert_base.b8.encoder.layer.0.attention.self (softmax)", "float32"),
    ("bert_base.b8.encoder.layer.0.output.LayerNorm", "float32"),
    ("bert_base.b8.encoder.layer.0.intermediate (GELU: erf)", "float16"),
    ("resnet50.maxpool", "float32"),
    ("c3d.pool2", "float32"),
    ("resnet50.avgpool (as mean over H, W)", "float32"),
    ("bert_base.b8.encoder.layer.0.attention.self (merge heads)", "float32"),   # a reshape: maybe no kernel
]


# -- building (self-contained: no harness.families, which needs Hypothesis) ---------------------------
def _tensor_type(shape, dtype):
    from tvm import relax

    if hasattr(relax, "TensorStructInfo"):
        return relax.TensorStructInfo(list(shape), dtype)
    return relax.TensorType(list(shape), dtype)


def _body(case, xs, ws):
    from tvm import relax

    op, a, R = case.op, case.attrs, relax.op
    x = xs[0]
    if op in ("nn.conv1d", "nn.conv2d", "nn.conv3d"):
        return getattr(R.nn, op[3:])(x, ws["weight"], **a)
    if op == "nn.dense":
        return R.matmul(x, ws["weight_t"])
    if op == "nn.batch_matmul":
        return R.matmul(xs[0], xs[1])
    if op in ("add", "subtract", "multiply", "divide", "maximum", "minimum", "power"):
        return getattr(R, op)(xs[0], xs[1])
    if op in ("sigmoid", "tanh", "erf", "exp", "log", "sqrt", "abs", "negative"):
        return getattr(R, op)(x)
    if op == "nn.relu":
        return R.nn.relu(x)
    if op == "clip":
        return R.clip(x, a["min"], a["max"])
    if op == "nn.bias_add":
        axis = a["axis"] % len(case.shapes[0])
        shape = [d if i == axis else 1 for i, d in enumerate(case.shapes[0])]
        return R.add(x, R.reshape(ws["bias"], shape))
    if op == "nn.softmax":
        return R.nn.softmax(x, axis=a["axis"])
    if op == "nn.layer_norm":
        return R.nn.layer_norm(x, ws["gamma"], ws["beta"], axes=a["axes"], epsilon=a["epsilon"],
                               center=a["center"], scale=a["scale"])
    if op == "nn.batch_norm":
        bn = R.nn.batch_norm(x, ws["gamma"], ws["beta"], ws["mean"], ws["var"], axis=a["axis"],
                             epsilon=a["epsilon"], center=a["center"], scale=a["scale"], training=False)
        return relax.TupleGetItem(bn, 0)
    if op in ("nn.max_pool2d", "nn.avg_pool2d", "nn.max_pool3d", "nn.avg_pool3d"):
        return getattr(R.nn, op[3:])(x, **a)
    if op in ("nn.global_avg_pool2d", "nn.adaptive_avg_pool2d"):
        return R.nn.adaptive_avg_pool2d(x, output_size=a["output_size"], layout=a["layout"])
    if op in ("mean", "sum", "max", "min", "prod"):
        return getattr(R, op)(x, axis=a["axis"], keepdims=a["keepdims"])
    if op == "transpose":
        return R.permute_dims(x, axes=a["axes"])
    if op == "reshape":
        return R.reshape(x, a["newshape"])
    if op == "nn.batch_flatten":
        return R.reshape(x, [case.shapes[0][0], -1])
    if op == "concatenate":
        return R.concat(relax.Tuple(xs), axis=a["axis"])
    if op == "strided_slice":
        return R.strided_slice(x, a["axes"], a["begin"], a["end"], a["strides"])
    raise NotImplementedError(f"no builder for {op}")


def build(case, target):
    """(executable, device, runtime args, build seconds) of ``case`` compiled for ``target``."""
    import tvm
    from tvm import relax

    rng = np.random.default_rng(case.seed)
    inputs = [rng.uniform(-1, 1, s).astype(case.dtype) for s in case.shapes]
    weights = {n: rng.uniform(-1, 1, s).astype(case.dtype) for n, s in case.weights}
    if "var" in weights:
        weights["var"] = (np.abs(weights["var"]) + 0.5).astype(case.dtype)
    bb = relax.BlockBuilder()
    xs = [relax.Var(f"x{i}", _tensor_type(x.shape, case.dtype)) for i, x in enumerate(inputs)]
    ws = {n: relax.Var(n, _tensor_type(w.shape, case.dtype)) for n, w in weights.items()}
    with bb.function("main", xs + list(ws.values())):
        with bb.dataflow():
            out = bb.emit(_body(case, xs, ws))
            gv = bb.emit_output(out)
        bb.emit_func_output(gv)
    mod = bb.get()
    if weights:
        mod = relax.transform.BindParams("main", {k: _to_tensor(v, tvm.cpu()) for k, v in weights.items()})(mod)
    t0 = time.perf_counter()
    ex = tvm.compile(mod, target=target)
    build_s = time.perf_counter() - t0
    dev = tvm.cuda(0) if target.startswith("cuda") else tvm.cpu(0)
    return ex, dev, [_to_tensor(x, dev) for x in inputs], build_s


def _to_tensor(x, dev):
    import tvm

    if hasattr(tvm.runtime, "tensor"):
        return tvm.runtime.tensor(x, dev)
    return tvm.nd.array(x, dev)


# -- the independent measurements ---------------------------------------------------------------------
def independent_cupti(fn, args, dev, calls):
    """Device time per call from CUPTI, written apart from harness/timing/device.py: one block of
    ``calls`` calls, records sorted by start and cut into ``calls`` equal groups (one per call),
    median of the per-call sums.  CUPTI's clock is checked against the host's over the block (a
    timestamp callback registered by another profiler changes its unit) and converted if it is off.
    Returns (median seconds, records per call, CUPTI units per ns, note)."""
    from cupti import cupti as C

    recs = []
    wanted = {int(C.ActivityKind.CONCURRENT_KERNEL), int(C.ActivityKind.MEMCPY), int(C.ActivityKind.MEMSET)}

    def requested():
        return 4 * 1024 * 1024, 0

    def completed(activities):
        for act in activities:
            if int(act.kind) in wanted:
                recs.append((int(act.start), int(act.end)))

    kinds = (C.ActivityKind.CONCURRENT_KERNEL, C.ActivityKind.MEMCPY, C.ActivityKind.MEMSET)
    C.activity_register_callbacks(requested, completed)
    for k in kinds:
        C.activity_enable(k)
    try:
        fn(*args)
        dev.sync()
        C.activity_flush_all(1)
        del recs[:]
        c0, h0 = C.get_timestamp(), time.perf_counter_ns()
        for _ in range(calls):
            fn(*args)
        dev.sync()
        h1, c1 = time.perf_counter_ns(), C.get_timestamp()
        C.activity_flush_all(1)
    finally:
        for k in kinds:
            C.activity_disable(k)
    ratio = (c1 - c0) / max(h1 - h0, 1)
    scale = 1.0 if abs(ratio - 1) < 0.01 else ratio
    notes = [] if scale == 1.0 else [f"CUPTI clock {ratio:.4f} units/ns: converted"]
    recs.sort()
    if not recs:
        return None, 0, ratio, "no records"
    if len(recs) % calls:
        total = sum(e - s for s, e in recs)
        notes.append(f"{len(recs)} records for {calls} calls: mean, not median")
        return total / calls / scale * 1e-9, len(recs) / calls, ratio, "; ".join(notes)
    k = len(recs) // calls
    per_call = [sum(e - s for s, e in recs[i * k:(i + 1) * k]) for i in range(calls)]
    return statistics.median(per_call) / scale * 1e-9, k, ratio, "; ".join(notes) or None


def torch_profiler(fn, args, dev, calls):
    """Device time per call of CUDA events seen by torch.profiler (kineto)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            fn(*args)
        dev.sync()
        torch.cuda.synchronize()
    cuda = [e for e in prof.events() if str(getattr(e, "device_type", "")).endswith("CUDA")]
    total_us = sum(e.time_range.elapsed_us() for e in cuda)
    return total_us / calls * 1e-6, len(cuda) / calls


# -- one case -----------------------------------------------------------------------------------------
def check_case(name, case, args, keep):
    row = {"name": name, "op": case.op, "dtype": case.dtype,
           "shape": " ".join("x".join(map(str, s)) for s in case.shapes), "error": None}
    try:
        ex, dev, targs, build_s = build(case, args.target)
        from tvm import relax

        vm = relax.VirtualMachine(ex, dev)
        fn = vm["main"]

        def run(n=1):
            for _ in range(n):
                fn(*targs)
            dev.sync()

        is_gpu = args.target.startswith("cuda")
        name_reported = dev.device_name if is_gpu else platform.processor() or "cpu"
        t = time_run(run, device_kind="cuda" if is_gpu else "cpu", device_index=0,
                     device_name=name_reported if is_gpu else None, lock_dir=args.lock_dir,
                     rounds=args.rounds, min_round_s=args.min_round_s, max_total_s=args.max_total_s)
        row.update(build_s=build_s, method=t["method"], exclusive=t["exclusive"], waited_s=t["waited_s"],
                   lock=t["lock"]["path"], latency_us=t["latency"]["median_s"] * 1e6,
                   latency_cv=t["latency"]["cv"], iterations=t["latency"]["iterations"],
                   rounds=t["latency"]["rounds"])
        d = t["device"]
        row.update(device_us=d["median_s"] * 1e6 if d else None, device_cv=d["cv"] if d else None,
                   device_iqr_us=d["iqr_s"] * 1e6 if d else None,
                   kernels_per_call=d["kernels_per_call"] if d else None,
                   span_us=d["span_median_s"] * 1e6 if d else None,
                   traced_latency_us=d["host_median_s"] * 1e6 if d else None,
                   top_kernel=(d["top_kernels"][0]["name"] if d and d["top_kernels"] else None),
                   clock_ratio=d["clock_ratio"] if d else None, device_note=d["note"] if d else None,
                   device_over_latency=d["device_over_latency"] if d else None,
                   device_unavailable=t["device_unavailable"])
        ev = vm.time_evaluator("main", dev, number=t["latency"]["iterations"], repeat=args.rounds)(*targs)
        row["time_evaluator_us"] = float(np.median(ev.results)) * 1e6
        calls = max(10, min(t["latency"]["iterations"], 2000))
        row["independent_calls"] = calls
        if is_gpu:
            try:
                ind, per_call, ratio, note = independent_cupti(fn, targs, dev, calls)
                row.update(independent_cupti_us=ind * 1e6 if ind is not None else None,
                           independent_records_per_call=per_call, independent_clock_ratio=ratio,
                           independent_note=note)
            except Exception as exc:  # noqa: BLE001
                row.update(independent_cupti_us=None, independent_note=f"{type(exc).__name__}: {exc}")
        else:
            row.update(independent_cupti_us=None, independent_note="not a CUDA device")
        if row.get("device_us") is not None and row.get("independent_cupti_us"):
            row["ratio"] = row["device_us"] / row["independent_cupti_us"]
        else:
            row["ratio"] = None
        if args.torch and is_gpu:          # measured after every CUPTI measurement: see main()
            keep.append((row, fn, targs, dev, calls, vm, ex))
        r = roofline.analyse(case, d["median_s"] if d else None, name_reported if is_gpu else None)
        row.update(flops=r["flops"], bytes=r["bytes"], roof=r["roof"], fraction_of_peak=r["fraction_of_peak"],
                   card=r["card"], roofline_note=r["note"])
    except Exception as exc:  # noqa: BLE001 - one case failing is a row, not a crash
        row["error"] = f"{type(exc).__name__}: {exc}"
        row["traceback"] = traceback.format_exc()[-2000:]
    return row


def _fmt(v, spec):
    return "-".rjust(int(spec.split(".")[0])) if v is None else format(v, spec)


def print_table(rows):
    head = (f"{'op':<18} {'dt':<4} {'case':<60} {'shape':<28} {'lat us':>9} {'dev us':>9} {'t_eval us':>9} "
            f"{'indep us':>9} {'dev/ind':>7} {'lat cv':>6} {'dev cv':>6} {'k/call':>6} {'roof':>6} {'%peak':>6}")
    print(head)
    print("-" * len(head))
    for r in rows:
        if r["error"]:
            print(f"{r['op']:<18} {r['dtype'][-2:]:<4} {r['name'][:60]:<60} {r['shape'][:28]:<28} ERROR {r['error'][:120]}")
            continue
        frac = r.get("fraction_of_peak")
        print(f"{r['op']:<18} {r['dtype'][-2:]:<4} {r['name'][:60]:<60} {r['shape'][:28]:<28} "
              f"{_fmt(r['latency_us'], '9.2f')} {_fmt(r['device_us'], '9.2f')} {_fmt(r['time_evaluator_us'], '9.2f')} "
              f"{_fmt(r['independent_cupti_us'], '9.2f')} {_fmt(r['ratio'], '7.3f')} {_fmt(r['latency_cv'], '6.3f')} "
              f"{_fmt(r['device_cv'], '6.3f')} {_fmt(r['kernels_per_call'], '6.1f')} {str(r.get('roof') or '-'):>6} "
              f"{_fmt(frac * 100 if frac is not None else None, '6.1f')}")


def select(args):
    chosen = [] if args.no_small else list(SMALL)
    if args.no_bench:
        pass
    elif args.all_bench:
        chosen += list(BENCH)
    else:
        index = {(n, c.dtype): c for n, c in BENCH}
        chosen += [(n, index[(n, dt)]) for n, dt in DEFAULT_BENCH]
    if args.ops:
        ops = set(args.ops.split(","))
        chosen = [(n, c) for n, c in chosen if c.op in ops]
    return chosen


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="where to write the table as JSON")
    p.add_argument("--target", default="cuda", help="TVM target (cuda; llvm for a dry run)")
    p.add_argument("--all-bench", action="store_true", help="the whole benchmark set, not the default selection")
    p.add_argument("--no-small", action="store_true", help="leave out the small op-suite-sized cases")
    p.add_argument("--no-bench", action="store_true", help="only the small op-suite-sized cases")
    p.add_argument("--ops", default="", help="comma-separated table op names to keep")
    p.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    p.add_argument("--torch", action="store_true", help="also measure with torch.profiler, if torch imports")
    p.add_argument("--lock-dir", default=None, help="per-GPU lock directory (default: harness default)")
    args = p.parse_args(argv)
    args.rounds, args.min_round_s, args.max_total_s = (7, 5e-3, 1.5) if args.quick else (15, 2e-2, 5.0)

    import tvm

    env = {"tvm": tvm.__version__, "python": platform.python_version(), "numpy": np.__version__,
           "target": args.target, "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    try:
        import importlib.metadata as md

        env["cupti_python"] = md.version("cupti-python")
    except Exception as exc:  # noqa: BLE001
        env["cupti_python"] = f"not found ({type(exc).__name__})"
    if args.target.startswith("cuda"):
        dev = tvm.cuda(0)
        env.update(gpu=dev.device_name if dev.exist else None, compute_version=dev.compute_version if dev.exist else None)
    rows, keep = [], []
    for name, case in select(args):
        row = check_case(name, case, args, keep)
        rows.append(row)
        print(json.dumps({k: row.get(k) for k in ("name", "dtype", "latency_us", "device_us", "time_evaluator_us",
                                                  "independent_cupti_us", "ratio", "error")}), flush=True)
        with open(args.out, "w") as fh:          # after every case: a later crash keeps what was measured
            json.dump({"env": env, "rows": rows, "complete": False}, fh, indent=1)
    # torch.profiler last: kineto registers a CUPTI timestamp callback that changes the unit of
    # every CUPTI timestamp in the process from then on (seen on an H200: 2.1 units per ns).
    for row, fn, targs, dev, calls, _vm, _ex in keep:
        try:
            tp, n_ev = torch_profiler(fn, targs, dev, calls)
            row.update(torch_profiler_us=tp * 1e6, torch_events_per_call=n_ev)
        except Exception as exc:  # noqa: BLE001
            row.update(torch_profiler_us=None, torch_note=f"{type(exc).__name__}: {exc}")
        if row.get("device_us") and row.get("torch_profiler_us"):
            row["ratio_torch"] = row["device_us"] / row["torch_profiler_us"]
    print()
    print(f"GPU: {env.get('gpu')}  TVM {env['tvm']}  cupti-python {env['cupti_python']}")
    print_table(rows)
    with open(args.out, "w") as fh:
        json.dump({"env": env, "rows": rows, "complete": True}, fh, indent=1)
    print(f"wrote {args.out} ({len(rows)} rows, {sum(1 for r in rows if r['error'])} errors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
