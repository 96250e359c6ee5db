"""An independent CUPTI measurement of device time per call, written apart from the harness's
harness/timing/device.py so the two can check each other (suites/runtime/test_timing_fidelity.py)."""
from __future__ import annotations

import statistics
import time


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
