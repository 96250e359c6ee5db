"""Device time per call, from CUPTI's activity records (NVIDIA's ``cupti-python``, module ``cupti``).

How it is taken.  CUPTI's activity API is enabled for three kinds of record:

- ``CONCURRENT_KERNEL``: every kernel, with GPU start and end timestamps (ns), without serialising
  kernels as the older ``KERNEL`` kind does;
- ``MEMCPY`` and ``MEMSET``: copies and memsets issued by the call.  They count because they are
  device work the call asked for: a backend may implement an operator (or part of it: a layout
  change, a concatenation, a reformat between TensorRT layers, an output initialised to zero) as a
  copy or memset, and a device time that left them out would flatter it.  They are reported apart
  from kernels (counts and time per call), so a reader sees the split.

The session (:mod:`harness.timing.cupti_session`): buffers are handed to CUPTI through the
buffer-requested callback and come back through the buffer-completed callback;
``cupti.activity_flush_all`` with ``FLUSH_FORCED`` forces out the last, partly filled buffer.  The
records are copied into plain tuples inside the callback: CUPTI reuses the buffer afterwards.

Each timed round runs ``run(n)`` (n calls, one synchronisation) between two readings of CUPTI's
own clock (``cupti.get_timestamp``, the clock of the activity records), after one untimed call.
Several workloads timed together take their rounds in turn, so that one flush serves all of them
when their samples are looked at; the untimed call puts a workload's code and data back in the
caches after the other workloads' rounds.  A record belongs to the round whose window holds its
start; records from the warm-up, the untimed calls, or another device are left out.  For each
round, device time per call = (sum of end - start of its records) / n; the summary over rounds
(median, IQR, CV, ...) is that of :func:`harness.timing.latency.summarise`.  The span (first start
to last end of the round, per call) is reported too: busy time well below the span means the
device waited for the host between kernels (launch-bound).

Kernel names (``top_kernels``) are hints (on an H200, CUPTI 13.0 at times named a kernel after one
of a module unloaded earlier); the times and counts do not depend on them.

When ``cupti`` cannot be imported, or CUPTI refuses to start, :class:`DeviceTimeUnavailable`
carries the exact reason (e.g. ``CUPTI unavailable: No module named 'cupti'``) and the caller
falls back to latency only.  When the timed rounds hold no record at all, a known memset (the
canary) is issued through the CUDA driver: if CUPTI records it, the call really launched no device
work and the device time is 0 (said in ``note``); otherwise the device time is unknown and
:class:`DeviceTimeUnavailable` says so.  A device time is never guessed.
"""
from __future__ import annotations

import bisect
import math
import time
from typing import Callable

from .canary import cuda_memset_canary
from .cupti_session import _LABEL, KINDS, DeviceTimeUnavailable, Tracer, load_cupti, unavailable_reason
from .latency import MIN_ROUNDS, Stopper, summarise

ADAPT_EVERY = 3     # fewest rounds between two looks (a flush each) at an adaptive device pass's samples
_TOP_KERNELS = 5


class ClockCheckFailed(DeviceTimeUnavailable):
    """CUPTI's clock could not be checked against the host's over the timed rounds (see
    :func:`clock_ratio`); longer rounds may let it (:func:`harness.timing.run.time_many` retries)."""


def _round_stats(records: list[tuple], starts: list[int], window: tuple[int, int], n: int) -> dict:
    lo = bisect.bisect_left(starts, window[0])
    hi = bisect.bisect_right(starts, window[1])
    busy = {"kernel": 0, "memcpy": 0, "memset": 0}
    count = {"kernel": 0, "memcpy": 0, "memset": 0}
    first, last = None, None
    names: dict[str, int] = {}
    for label, start, end, _dev, name in records[lo:hi]:
        busy[label] += end - start
        count[label] += 1
        first = start if first is None else min(first, start)
        last = end if last is None else max(last, end)
        if label == "kernel":
            names[name] = names.get(name, 0) + (end - start)
    return {"busy_ns": sum(busy.values()), "busy": busy, "count": count,
            "span_ns": (last - first) if first is not None else 0, "names": names, "n": n}


def measure_device(run: Callable[[int], object], *, iterations: int, rounds: int = 15, warmup: int = 2,
                   max_total_s: float = 5.0, device_index: int = 0, cupti=None,
                   canary: Callable[[], str | None] | None = cuda_memset_canary,
                   host_clock: Callable[[], float] = time.perf_counter) -> dict:
    """Device time per call of ``run`` over ``rounds`` rounds of ``iterations`` calls each.

    Returns (seconds per call unless said): median_s, iqr_s, mean_s, stddev_s, cv, min_s, max_s,
    rounds, iterations (device time of all records: kernels + memcpy + memset);
    kernel_median_s, memcpy_median_s, memset_median_s (each kind alone); kernels_per_call,
    memcpys_per_call, memsets_per_call (median over rounds); span_median_s (first start to last
    end per call); host_median_s (wall time per call of the traced rounds: latency with tracing
    on); top_kernels (name, share of kernel time); counted; clock_ratio (CUPTI clock units per
    host nanosecond over the timed section, 1.0 when CUPTI's timestamps are nanoseconds); note.
    Raises DeviceTimeUnavailable."""
    (result,) = measure_devices([(run, iterations)], rounds=rounds, warmup=warmup, max_total_s=max_total_s,
                                device_index=device_index, cupti=cupti, canary=canary, host_clock=host_clock)
    if isinstance(result, DeviceTimeUnavailable):
        raise result
    return result


class _Pass:
    """One workload's rounds in an interleaved device pass."""

    def __init__(self, run, iterations: int, stop: Stopper) -> None:
        self.run, self.iterations, self.stop = run, iterations, stop
        self.windows: list[tuple[int, int]] = []          # CUPTI clock, each round's run(iterations)
        self.host_windows: list[tuple[float, float]] = []  # host clock at the same two instants
        self.host: list[float] = []                       # host seconds per call of each round
        self.spent = 0.0                                  # host seconds of its own rounds

    def round(self, tracer, host_clock) -> float:
        """One timed round, after one untimed call that puts this workload's code and data back in
        the caches (the round before was another workload's).  Returns the round's host seconds."""
        h = host_clock()
        self.run(1)
        a0 = host_clock()
        t0 = tracer.timestamp()
        a1 = host_clock()
        self.run(self.iterations)
        b0 = host_clock()
        t1 = tracer.timestamp()
        b1 = host_clock()
        self.windows.append((t0, t1))
        self.host_windows.append(((a0 + a1) / 2, (b0 + b1) / 2))   # when CUPTI's clock was read
        self.host.append((b0 - a1) / self.iterations)
        self.spent += b1 - h
        return b1 - h


def measure_devices(runs: list, *, rounds: int = 15, warmup: int = 2, max_total_s: float = 5.0,
                    device_index: int = 0, cupti=None, canary: Callable[[], str | None] | None = cuda_memset_canary,
                    host_clock: Callable[[], float] = time.perf_counter, tracer: "Tracer | None" = None,
                    target_ci: float | None = None, min_rounds: int = MIN_ROUNDS) -> list:
    """:func:`measure_device` for several ``(run, iterations)`` in one tracing session (the tracer is
    started, flushed and stopped once for all of them: those are the costly CUPTI calls).  Returns,
    per run, its result dict or the DeviceTimeUnavailable that says why it has none.  Raises
    DeviceTimeUnavailable when CUPTI itself cannot start.

    The workloads take their rounds in turn (round k of each, then round k+1 of each still going),
    each round after one untimed call of its own, so that a look at the samples (a forced flush and
    a sort of every record so far) serves every workload at once, and a slow drift of the card
    (clocks, heat) falls on all of them alike.  A flush costs per record (32-48 us each on an H100,
    docs/timing.md): the calls a pass makes are what it costs.

    ``tracer``: a tracing session already started (and left running): a runner opens one for its
    whole life.  ``target_ci``: adaptive rounds, as :func:`harness.timing.latency.measure`; each
    result's ``stopped`` says why its rounds ended; ``max_total_s`` is then each workload's own
    budget (its rounds' host time)."""
    own = tracer is None
    if own:
        tracer = Tracer(cupti if cupti is not None else load_cupti())
        tracer.start()
    passes = [_Pass(run, iterations, Stopper(target=target_ci, min_rounds=min_rounds, max_rounds=rounds,
                                             max_total_s=max_total_s)) for run, iterations in runs]
    try:
        for p in passes:
            p.run(warmup)                      # absorbs the first traced launches' overhead
        active = list(passes)
        look = min_rounds                      # the round after which the samples are looked at next
        n = 0
        while active:
            round_s = sum(p.round(tracer, host_clock) for p in active)
            n += 1
            if target_ci is not None:
                # the samples so far (one flush for all) at min_rounds, then after as many rounds as a
                # look costs, and at the last round
                if n >= look or n >= rounds:
                    t_look = host_clock()
                    busy = _busy_per_call(tracer, active, device_index)
                    active = [p for p, b in zip(active, busy) if not p.stop.done(b, p.spent)]
                    cost = host_clock() - t_look
                    look = min(rounds, n + max(ADAPT_EVERY, math.ceil(cost / max(round_s, 1e-9))))
            else:
                for p in active:
                    if n >= rounds:
                        p.stop.why = f"{n} rounds: the most asked for"
                    elif p.spent > max_total_s and n >= min(min_rounds, rounds):
                        p.stop.why = f"time budget of {max_total_s:g} s spent after {n} rounds"
                active = [p for p in active if not p.stop.why]
        records = sorted((r for r in tracer.flush() if r[3] in (device_index, -1)), key=lambda r: r[1])
        starts = [r[1] for r in records]
        per_run = [[_round_stats(records, starts, w, p.iterations) for w in p.windows] for p in passes]
        canary_status = {}
        for k, per_round in enumerate(per_run):
            if any(r["count"]["kernel"] + r["count"]["memcpy"] + r["count"]["memset"] for r in per_round):
                continue
            before = len(tracer.records)
            why = canary() if canary is not None else "no canary given"
            after = [r for r in tracer.flush()[before:] if r[0] == "memset"] if why is None else []
            if why is not None:
                canary_status[k] = DeviceTimeUnavailable(
                    "CUPTI recorded no device activity in the timed rounds, and the canary memset "
                    f"could not run ({why}): device time unknown")
            elif not after:
                canary_status[k] = DeviceTimeUnavailable(
                    "CUPTI recorded no device activity in the timed rounds, nor the canary memset: "
                    "CUPTI is not seeing this device's work, device time unknown")
            else:
                canary_status[k] = "recorded"
    finally:
        if own:
            tracer.stop()
    out = []
    for k, (p, per_round) in enumerate(zip(passes, per_run)):
        if isinstance(canary_status.get(k), DeviceTimeUnavailable):
            out.append(canary_status[k])
            continue
        try:
            got = _result(per_round, p.windows, p.host, p.host_windows, p.iterations, canary_status.get(k))
        except DeviceTimeUnavailable as exc:
            out.append(exc)
            continue
        got["stopped"] = p.stop.why
        out.append(got)
    return out


def _busy_per_call(tracer, passes: list, device_index) -> list[list[float]]:
    """Device nanoseconds per call of each round so far, per pass (relative spread is all the
    stopper needs): one flush for all."""
    records = sorted((r for r in tracer.flush() if r[3] in (device_index, -1)), key=lambda r: r[1])
    starts = [r[1] for r in records]
    return [[_round_stats(records, starts, w, p.iterations)["busy_ns"] / p.iterations for w in p.windows]
            for p in passes]


def _result(per_round, windows, host, host_windows, iterations, canary_status) -> dict:
    ratio, clock_note = clock_ratio(windows, host_windows)
    unit = 1e-9 / ratio                     # seconds per CUPTI clock unit

    def per_call(key):
        return [r[key] / r["n"] * unit for r in per_round]

    stats = summarise([r["busy_ns"] / r["n"] * unit for r in per_round])
    by_kind = {k: summarise([r["busy"][k] / r["n"] * unit for r in per_round])["median_s"]
               for k in ("kernel", "memcpy", "memset")}
    counts = {k: summarise([r["count"][k] / r["n"] for r in per_round])["median_s"]
              for k in ("kernel", "memcpy", "memset")}
    names: dict[str, int] = {}
    for r in per_round:
        for name, ns in r["names"].items():
            names[name] = names.get(name, 0) + ns
    total = sum(names.values()) or 1
    top = sorted(names.items(), key=lambda kv: -kv[1])[:_TOP_KERNELS]
    result = {
        **stats, "iterations": iterations,
        "kernel_median_s": by_kind["kernel"], "memcpy_median_s": by_kind["memcpy"],
        "memset_median_s": by_kind["memset"],
        "kernels_per_call": counts["kernel"], "memcpys_per_call": counts["memcpy"],
        "memsets_per_call": counts["memset"],
        "span_median_s": summarise(per_call("span_ns"))["median_s"],
        "host_median_s": summarise(host)["median_s"],
        "top_kernels": [{"name": n, "share": ns / total} for n, ns in top],
        "counted": "+".join(_LABEL[k] for k in KINDS),
        "clock_ratio": ratio,
        "note": clock_note,
    }
    if canary_status == "recorded":
        result["note"] = ("no kernel, copy or memset in the timed rounds; CUPTI recorded the canary "
                          "memset, so the call launched no device work")
    return result


#: CUPTI's clock is taken as nanoseconds when it runs within this of the host clock.
CLOCK_TOLERANCE = 0.01


def clock_ratio(windows: list[tuple[int, int]], host_windows: list[tuple[float, float]]) -> tuple[float, str | None]:
    """(CUPTI units per host nanosecond, note) over the timed section.

    CUPTI's timestamps are nanoseconds unless someone in the process registered a timestamp
    callback (``cuptiActivityRegisterTimestampCallback``): PyTorch's profiler (kineto) does, and
    after it ran, CUPTI's records came in another unit (seen on an H200: every device time 2.1x
    the host latency per call, which a single stream cannot do).  The ratio of the CUPTI window to
    the host window over the whole timed section tells: within :data:`CLOCK_TOLERANCE` of 1 it is
    1.0 (nanoseconds); otherwise, when every round of at least 1 ms agrees within 5 %, durations are
    converted with the measured ratio and the note says so; else DeviceTimeUnavailable."""
    cupti_span = windows[-1][1] - windows[0][0]
    host_span = (host_windows[-1][1] - host_windows[0][0]) * 1e9
    if cupti_span <= 0 or host_span <= 0:
        raise ClockCheckFailed("CUPTI's clock did not advance over the timed rounds: device time unknown")
    ratio = cupti_span / host_span
    if abs(ratio - 1) <= CLOCK_TOLERANCE:
        return 1.0, None
    per_round = [(t1 - t0) / ((h1 - h0) * 1e9) for (t0, t1), (h0, h1) in zip(windows, host_windows)
                 if h1 - h0 >= 1e-3]
    if not per_round or max(per_round) > 1.05 * min(per_round) or not (0.95 * ratio <= per_round[0] <= 1.05 * ratio):
        raise ClockCheckFailed(
            f"CUPTI's timestamps do not track the host clock (ratio {ratio:.3f} over the timed section, "
            f"per round {[round(r, 3) for r in per_round]}): device time unknown")
    return ratio, (f"CUPTI's clock ran at {ratio:.4f} units per host nanosecond (a timestamp callback "
                   "registered in this process, e.g. by torch.profiler): converted with that measured ratio")
