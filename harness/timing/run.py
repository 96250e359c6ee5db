"""The one entry point backends and checks call: :func:`time_run`."""
from __future__ import annotations

import math
import sys
from typing import Callable

from .. import trace
from . import device as _device
from .exclusive import exclusive_gpu, gpu_identity
from .latency import measure

GPU_KINDS = ("cuda", "gpu")
#: device time above the untraced latency per call by more than this is flagged in device["note"]
DEVICE_OVER_LATENCY_TOLERANCE = 0.02
#: a workload whose CUPTI clock check failed is traced once more with rounds this many times longer
CLOCK_RETRY_FACTOR = 4


def _device_name(kind: str, index: int) -> str | None:
    """The name TVM reports, if TVM is already imported here (never imported, nor CUDA started, for this)."""
    tvm = sys.modules.get("tvm")
    if tvm is None or kind not in GPU_KINDS:
        return None
    try:
        dev = tvm.cuda(index)
        return dev.device_name if dev.exist else None
    except Exception:  # noqa: BLE001
        return None


def time_run(run: Callable[[int], object], *, device_kind: str = "cuda", device_index: int = 0,
             device_name: str | None = None, lock_dir: str | None = None, exclusive: bool = True,
             device_time: bool = True, warmup: int = 3, rounds: int = 15, min_round_s: float = 2e-2,
             max_total_s: float = 5.0, cupti=None, gpu_key: dict | None = None) -> dict:
    """Time ``run(n)`` (n calls back to back, one synchronisation): latency, and device time from
    CUPTI where it can be had, under an exclusive per-GPU lock.  Returns one JSON-able dict:

    ``method``      "cupti+latency" when both were measured, else "latency (<reason>)", the reason
                    saying exactly why there is no device time (e.g. "latency (CUPTI unavailable:
                    No module named 'cupti')").
    ``latency``     host-inclusive seconds per call, what an application sees (see
                    :func:`harness.timing.latency.measure`): median_s, iqr_s, mean_s, stddev_s, cv,
                    min_s, max_s, rounds, iterations.  Measured with tracing off.
    ``device``      None, or device seconds per call from CUPTI (see
                    :func:`harness.timing.device.measure_device`): median_s, iqr_s, mean_s, stddev_s,
                    cv, min_s, max_s, rounds, iterations, kernel_median_s, memcpy_median_s,
                    memset_median_s, kernels_per_call, memcpys_per_call, memsets_per_call,
                    span_median_s, host_median_s (latency with tracing on), top_kernels, counted, note.
                    Taken in a second pass, same calls per round as ``latency`` (time_many: fewer,
                    where ``device_round_s`` asks).
    ``device_unavailable``  None, or the reason ``device`` is None.
    ``exclusive``   True when the per-GPU lock was held over both passes (warm-up included).
    ``lock``        {"path", "key", "key_source", "waited_s", "contended", "reason"}: the lock file,
                    the GPU identity it is keyed by and where that came from, the wait, whether
                    another process held it, and why it was not exclusive (None when it was).
    ``waited_s``    seconds spent waiting for the lock (0.0 when not locked).
    ``gpu``         {"kind", "index", "name"}: the device timed and the name TVM reports (None
                    when unknown); :func:`harness.timing.peaks.lookup` takes that name.

    ``lock_dir``: a directory every worker of the run sees (default: see
    :func:`harness.timing.exclusive.default_lock_dir`).  ``cupti``/``gpu_key`` replace the
    ``cupti`` module and the GPU identity (tests)."""
    return time_many([run], device_kind=device_kind, device_index=device_index, device_name=device_name,
                     lock_dir=lock_dir, exclusive=exclusive, device_time=device_time, warmup=warmup, rounds=rounds,
                     min_round_s=min_round_s, max_total_s=max_total_s, cupti=cupti, gpu_key=gpu_key)[0]


def time_many(runs: list, *, device_kind: str = "cuda", device_index: int = 0, device_name: str | None = None,
              lock_dir: str | None = None, exclusive: bool = True, device_time: bool = True, warmup: int = 3,
              rounds: int = 15, min_round_s: float = 2e-2, max_total_s: float = 5.0, cupti=None,
              gpu_key: dict | None = None, tracer=None, target_ci: float | None = None,
              min_rounds: int | None = None, device_rounds: int | None = None,
              device_round_s: float | None = None) -> list[dict]:
    """:func:`time_run` for several workloads on one device, with the lock taken once and one CUPTI
    tracing session for all of them (a unit of the op suites times its cases together: CUPTI's
    start, flush and stop, and the lock's hand-over, are paid once).  One dict per run, as
    :func:`time_run` returns; each run's ``lock`` is the shared one.

    ``tracer``: a CUPTI tracing session the caller keeps open (a GPU runner opens one for its life);
    it is paused for the latency pass.  ``target_ci``/``min_rounds``: adaptive rounds (see
    :func:`harness.timing.latency.measure`): ``rounds`` is then the most taken (``device_rounds`` in
    the device pass, where given: device time settles where the host's latency, on a busy machine,
    may not).  ``device_round_s``: the device pass's rounds last about this long (calls per round
    from the latency pass's time per call; CUPTI times every call, so a round need not be as long
    as a latency round); by default they take as many calls as the latency pass's rounds."""
    adapt = {"target_ci": target_ci} if target_ci is not None else {}
    if min_rounds is not None:
        adapt["min_rounds"] = min_rounds
    is_gpu = device_kind in GPU_KINDS
    name = device_name if device_name is not None else _device_name(device_kind, device_index)

    if not device_time:
        reason = "device time not asked for"
    elif cupti is not None or tracer is not None:
        reason = None if is_gpu else _device.unavailable_reason(device_kind)
    else:
        reason = _device.unavailable_reason(device_kind)

    if is_gpu and exclusive:
        ident = gpu_key or gpu_identity(device_index)
        lock_cm = exclusive_gpu(ident["key"], lock_dir)
    else:
        ident = {"key": None, "key_source": None}
        lock_cm = None
    devs: list = [None] * len(runs)
    whys: list = [reason] * len(runs)

    def _trace(pairs):
        try:
            with trace.span("device pass", workloads=len(pairs)):
                return _device.measure_devices(pairs, rounds=device_rounds or rounds, max_total_s=max_total_s,
                                               device_index=device_index, cupti=cupti, tracer=tracer, **adapt)
        except _device.DeviceTimeUnavailable as exc:
            return [exc] * len(pairs)
        except Exception as exc:  # noqa: BLE001 - CUPTI failing mid-way: say so, keep the latency
            return [_device.DeviceTimeUnavailable(f"CUPTI failed: {type(exc).__name__}: {exc}")] * len(pairs)

    def timed():
        if tracer is not None:
            tracer.pause()             # the latency pass runs untraced
        try:
            with trace.span("latency pass", workloads=len(runs)):
                lats = [measure(run, warmup=warmup, rounds=rounds, min_round_s=min_round_s, max_total_s=max_total_s,
                                **adapt) for run in runs]
        finally:
            if tracer is not None:
                tracer.resume()
        if reason is None:
            calls = [lat["iterations"] if device_round_s is None
                     else max(1, min(lat["iterations"], math.ceil(device_round_s / max(lat["median_s"], 1e-9))))
                     for lat in lats]
            got = _trace(list(zip(runs, calls)))
            # Rounds of ~1 ms keep the timing short (the GPU is held exclusively meanwhile), and now
            # and then that is too short for CUPTI's clock check (rounds under 1 ms are not used):
            # those workloads alone are traced again with longer rounds.
            again = [k for k, g in enumerate(got) if isinstance(g, _device.ClockCheckFailed)]
            if again:
                redo = _trace([(runs[k], lats[k]["iterations"] * CLOCK_RETRY_FACTOR) for k in again])  # >= 4 ms
                for k, g in zip(again, redo):
                    if isinstance(g, dict):
                        why = (f"traced again with rounds {CLOCK_RETRY_FACTOR}x as long: on the first pass, {got[k]}")
                        g["note"] = f"{g['note']}; {why}" if g.get("note") else why
                    got[k] = g
            for k, g in enumerate(got):
                if isinstance(g, Exception):
                    whys[k] = str(g)
                else:
                    devs[k] = g
        return lats

    if lock_cm is not None:
        with lock_cm as held:
            latencies = timed()
        lock = {"path": held["path"], **ident, "waited_s": held["waited_s"], "contended": held["contended"],
                "reason": held["reason"]}
        is_exclusive = held["exclusive"]
    else:
        latencies = timed()
        why = "exclusive timing not asked for" if is_gpu else f"not a GPU (device kind {device_kind!r}): no per-GPU lock"
        lock = {"path": None, **ident, "waited_s": 0.0, "contended": False, "reason": why}
        is_exclusive = False
    out = []
    for lat, dev, why in zip(latencies, devs, whys):
        if dev is not None and lat["median_s"] > 0:
            # n calls on one stream cannot finish faster than their device time: a device time above
            # the untraced latency per call means tracing slowed the kernels (or the clocks moved).
            over = dev["median_s"] / lat["median_s"]
            dev["device_over_latency"] = over
            if over > 1 + DEVICE_OVER_LATENCY_TOLERANCE:
                msg = (f"device time is {over:.3f}x the untraced latency per call: CUPTI's tracing slowed the "
                       "device work (or its clocks changed between the passes); read it as an upper bound")
                dev["note"] = f"{dev['note']}; {msg}" if dev.get("note") else msg
        out.append({
            "gpu": {"kind": device_kind, "index": device_index, "name": name},
            "method": "cupti+latency" if dev is not None else f"latency ({why})",
            "latency": lat, "device": dev, "device_unavailable": None if dev is not None else why,
            "exclusive": is_exclusive, "lock": lock, "waited_s": lock["waited_s"],
        })
    return out
