"""The device-time method against an independent CUPTI reader, on CuPy workloads: no TVM needed.

For a GPU machine where TVM is not installed (or a new driver or CUPTI to check before anything
else): each workload is timed the way a GPU runner times a request (``harness.timing.time_many``
with a CUPTI session kept open and the op suites' options, ``harness.suite.TIMING``), alone and
together with the others (their device rounds taken in turn), and the device time per call is
compared with ``suites/runtime/independent_cupti.py`` (written apart from the harness).  Then the
same request is timed with the device rounds as long as the latency rounds (``device_round_s``
unset) and, one request per workload, as before the rounds were taken in turn: what the device
pass costs each way, and what a CUPTI flush costs (per flush or per record).

    python tools/timing_fidelity_cupy.py [--tolerance 0.02] [--json OUT]

Exit status: 0 when every ratio is within the tolerance, 1 otherwise, 2 when it cannot run here
(no CuPy, no GPU, no cupti-python: the line says which).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "suites", "runtime"))


def workloads(cp):
    """(name, fn, args): from a sub-microsecond launch-bound kernel to a millisecond matmul, one
    kernel a call and several."""
    rng = cp.random.default_rng(0)
    small = rng.standard_normal((2, 3, 4, 5), dtype=cp.float32)
    act = rng.standard_normal((1, 256, 56, 56), dtype=cp.float32)
    a512 = rng.standard_normal((512, 512), dtype=cp.float32)
    a4k = rng.standard_normal((4096, 4096), dtype=cp.float32)
    rows = rng.standard_normal((64, 1000), dtype=cp.float32)

    def softmax(x):                       # several kernels a call: max, sub+exp, sum, div
        e = cp.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    return [("small add", cp.add, (small, small)), ("add 1x256x56x56", cp.add, (act, act)),
            ("copy 1x256x56x56", cp.copy, (act,)), ("softmax 64x1000", softmax, (rows,)),
            ("matmul 512", cp.matmul, (a512, a512)), ("matmul 4096", cp.matmul, (a4k, a4k))]


class _Dev:
    def __init__(self, cp):
        self.cp = cp

    def sync(self):
        self.cp.cuda.Device().synchronize()


def looped(fn, args, dev):
    def run(n=1):
        for _ in range(n):
            fn(*args)
        dev.sync()
    return run


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tolerance", type=float, default=0.02)
    p.add_argument("--json", default=None, help="write every row here (JSON lines)")
    a = p.parse_args(argv)
    try:
        import cupy as cp

        cp.cuda.Device(0).compute_capability
        from cupti import cupti  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - the one line says why it cannot run here
        print(f"timing_fidelity_cupy: cannot run here: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    trace_path = os.path.join(tempfile.mkdtemp(), "t.trace")
    os.environ["TRT_HARNESS_TRACE"] = trace_path
    from harness import trace
    from harness.suite import TIMING
    from harness.timing import device as D
    from harness.timing import time_many
    from independent_cupti import independent_cupti

    dev = _Dev(cp)
    loads = workloads(cp)
    runs = [looped(fn, args, dev) for _, fn, args in loads]
    name = cp.cuda.runtime.getDeviceProperties(0)["name"].decode()
    rows, bad = [], 0

    def timed(which, **opts):
        tracer = D.Tracer(D.load_cupti())
        tracer.start()
        t0 = time.perf_counter()
        try:
            got = time_many([runs[k] for k in which], device_kind="cuda", device_name=name, exclusive=False,
                            tracer=tracer, **{**TIMING, **opts})
        finally:
            tracer.stop()
        return got, time.perf_counter() - t0

    for how, groups in (("alone", [[k] for k in range(len(runs))]), ("in turn", [list(range(len(runs)))])):
        for which in groups:
            got, _ = timed(which)
            for k, g in zip(which, got):
                label, fn, args = loads[k]
                dv = g["device"]
                ind, per_call, clock, note = independent_cupti(fn, args, dev, max(10, min(g["latency"]["iterations"], 2000)))
                row = {"workload": label, "how": how, "gpu": name, "device_us": dv and dv["median_s"] * 1e6,
                       "independent_us": ind and ind * 1e6, "ratio": dv and ind and dv["median_s"] / ind,
                       "rounds": dv and dv["rounds"], "iterations": dv and dv["iterations"],
                       "latency_iterations": g["latency"]["iterations"], "stopped": dv and dv["stopped"],
                       "note": dv and dv.get("note"), "unavailable": g["device_unavailable"]}
                ok = row["ratio"] is not None and abs(row["ratio"] - 1) <= a.tolerance
                bad += not ok
                rows.append(row)
                print(f"{'ok ' if ok else 'BAD'} {how:8} {label:18} device {row['device_us'] or 0:10.3f} us  "
                      f"independent {row['independent_us'] or 0:10.3f} us  ratio {row['ratio'] or 0:.4f}  "
                      f"rounds {row['rounds']} x {row['iterations']} calls  {row['note'] or ''}"
                      f"{row['unavailable'] or ''}", flush=True)
    # what the device pass costs: the request as the op suites time it now, with long device rounds,
    # and one request a workload (each its own looks, as before the rounds were taken in turn)
    tiny = [k for k, (label, _, _) in enumerate(loads) if not label.startswith("matmul 4096")]
    for label, opts, groups in (("in turn, 0.25 ms device rounds (now)", {}, [tiny]),
                                ("in turn, device rounds as latency's (1 ms)", {"device_round_s": None}, [tiny]),
                                ("one request a workload, 1 ms rounds", {"device_round_s": None}, [[k] for k in tiny])):
        open(trace_path, "w").close()
        spent = sum(timed(which, **opts)[1] for which in groups)
        spans = trace.read(trace_path)
        passes = [e for e in spans if e["name"] == "device pass"]
        flush = [e for e in spans if e["name"] == "cupti flush"]
        row = {"cost": label, "gpu": name, "workloads": len(tiny), "wall_s": spent,
               "device_pass_s": sum(e["dur"] for e in passes) / 1e6, "flushes": len(flush),
               "flush_s": sum(e["dur"] for e in flush) / 1e6,
               "records": sum((e.get("args") or {}).get("records", 0) for e in flush)}
        rows.append(row)
        print(f"cost: {label}: {len(tiny)} workloads, timing {spent:.3f} s, device pass {row['device_pass_s']:.3f} s, "
              f"{row['flushes']} flushes {row['flush_s'] * 1e3:.1f} ms, {row['records']} records", flush=True)
        print("   " + "\n   ".join(line for line in trace.figures(flush) if line), flush=True)
    if a.json:
        with open(a.json, "w") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in rows)
    print(f"{'all' if not bad else 'NOT all'} device times within {a.tolerance:.0%} of the independent reader "
          f"({len([r for r in rows if 'ratio' in r]) - bad} of {len([r for r in rows if 'ratio' in r])})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
