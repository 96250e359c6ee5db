"""The timing layer (harness/timing/): latency statistics, CUPTI device time and its fallback,
the per-GPU lock across processes, the peak table and the roofline arithmetic.  CPU only."""
from __future__ import annotations

import sys
import time

import pytest

from harness.timing import measure
from harness.timing.latency import summarise


def spin(units: int) -> int:
    """CPU work proportional to ``units`` (no sleeping: the cost is CPU time)."""
    acc = 0
    for i in range(units * 2000):
        acc = (acc * 31 + i) % 1000003
    return acc


def workload(units: int):
    calls = []

    def run(n: int = 1):
        calls.append(n)
        for _ in range(n):
            spin(units)
    return run, calls


def test_summarise_exact():
    s = summarise([4.0, 1.0, 3.0, 2.0, 5.0])
    assert s["median_s"] == 3.0 and s["min_s"] == 1.0 and s["max_s"] == 5.0 and s["rounds"] == 5
    assert s["mean_s"] == 3.0
    assert s["stddev_s"] == pytest.approx(1.5811388, rel=1e-6)
    assert s["cv"] == pytest.approx(1.5811388 / 3.0, rel=1e-6)
    assert s["iqr_s"] == pytest.approx(3.0)          # exclusive quartiles of 1..5: 1.5 and 4.5
    with pytest.raises(ValueError):
        summarise([])


def test_measure_counts_calls_and_orders_stats():
    run, calls = workload(1)
    stats = measure(run, warmup=2, rounds=7, min_round_s=5e-3, max_total_s=10.0)
    assert calls[0] == 2 and calls[1] == 1                      # warm-up, then one calibration call
    assert calls[2:] == [stats["iterations"]] * stats["rounds"]  # every round runs the same n
    assert stats["rounds"] == 7
    assert 0 < stats["min_s"] <= stats["median_s"] <= stats["max_s"]
    assert stats["iqr_s"] >= 0 and stats["cv"] >= 0


def test_measure_tells_heavier_work_apart():
    """On the process's CPU clock: the wall clock of a busy 2-core machine let a light round that waited
    for the CPU look as long as a heavy one (seen once beside four other test runs)."""
    light = measure(workload(1)[0], warmup=1, rounds=5, min_round_s=5e-3, clock=time.process_time)
    heavy = measure(workload(8)[0], warmup=1, rounds=5, min_round_s=5e-3, clock=time.process_time)
    assert heavy["median_s"] > 2 * light["median_s"]


# -- device time (CUPTI) ----------------------------------------------------------------------------
import enum
import importlib.util
import json
import multiprocessing

from harness.timing import device as device_mod
from harness.timing import time_run
from harness.timing.device import DeviceTimeUnavailable, measure_device
from harness.timing.exclusive import exclusive_gpu, gpu_identity, lock_path


class FakeCupti:
    """The slice of cupti-python's ``cupti.cupti`` API the harness calls, over a virtual GPU.

    ``launch(kind, ns)`` appends one activity record of ``ns`` nanoseconds; records come back
    through the registered buffer-completed callback on flush, as CUPTI's do.  The clock is virtual
    (``host`` reads it in seconds, ``get_timestamp`` in CUPTI units = ns x ``scale``: a scale other
    than 1 is what a foreign timestamp callback does), or with ``realtime`` the host's own clock."""

    class ActivityKind(enum.IntEnum):
        MEMCPY = 1
        MEMSET = 2
        KERNEL = 3
        CONCURRENT_KERNEL = 10

    class ActivityFlag(enum.IntEnum):
        NONE = 0
        FLUSH_FORCED = 1

    class Record:
        def __init__(self, kind, start, end, name, device_id=0):
            self.kind, self.start, self.end, self.name, self.device_id = kind, start, end, name, device_id

    def __init__(self, fail_enable=None, scale=1.0, realtime=False):
        self.clock = 1_000_000
        self.scale, self.realtime = scale, realtime
        self.pending, self.enabled, self.callbacks = [], set(), None
        self.fail_enable = fail_enable
        self.flushes = []

    def activity_register_callbacks(self, requested, completed):
        size, max_records = requested()
        assert size > 0 and max_records == 0
        self.callbacks = (requested, completed)

    def activity_enable(self, kind):
        if kind == self.fail_enable:
            raise RuntimeError("CUPTI_ERROR_NOT_INITIALIZED")
        self.enabled.add(kind)

    def activity_disable(self, kind):
        self.enabled.discard(kind)

    def activity_flush_all(self, flag):
        self.flushes.append(flag)
        batch, self.pending = self.pending, []
        if batch:
            self.callbacks[1](batch)

    def _now(self):
        return time.perf_counter_ns() if self.realtime else self.clock

    def get_timestamp(self):
        return int(self._now() * self.scale)

    def host(self):
        return self._now() / 1e9

    def advance(self, ns):
        self.clock += ns

    def launch(self, kind, ns, name="k", device_id=0):
        self.advance(100)                            # launch gap: the span is longer than busy time
        start = self._now()
        if kind in self.enabled:
            self.pending.append(self.Record(kind, int(start * self.scale), int((start + ns) * self.scale),
                                            name, device_id))
        self.advance(ns)


def fake_workload(cupti, per_call):
    def run(n=1):
        for _ in range(n):
            for kind, ns, name in per_call:
                cupti.launch(kind, ns, name)
    return run


K = FakeCupti.ActivityKind


def test_device_time_sums_records_per_round_and_leaves_warmup_out():
    cupti = FakeCupti()
    per_call = [(K.CONCURRENT_KERNEL, 1000, "gemm"), (K.CONCURRENT_KERNEL, 500, "bias"), (K.MEMSET, 250, "")]
    run = fake_workload(cupti, per_call)
    warm = []

    def run_with_odd_warmup(n=1):       # the warm-up launches a 1 ms kernel: it must not count
        if not warm:
            warm.append(n)
            cupti.launch(K.CONCURRENT_KERNEL, 1_000_000, "warmup")
        run(n)
    d = measure_device(run_with_odd_warmup, iterations=4, rounds=6, cupti=cupti, canary=None, host_clock=cupti.host)
    assert d["rounds"] == 6 and d["iterations"] == 4
    assert d["median_s"] == pytest.approx(1750e-9) and d["iqr_s"] == 0 and d["cv"] == 0
    assert d["kernel_median_s"] == pytest.approx(1500e-9)
    assert d["memset_median_s"] == pytest.approx(250e-9) and d["memcpy_median_s"] == 0
    assert (d["kernels_per_call"], d["memsets_per_call"], d["memcpys_per_call"]) == (2, 1, 0)
    assert d["span_median_s"] > d["median_s"]                    # launch gaps
    assert [k["name"] for k in d["top_kernels"]] == ["gemm", "bias"]
    assert d["top_kernels"][0]["share"] == pytest.approx(2 / 3)
    assert d["counted"] == "kernel+memcpy+memset" and d["note"] is None
    assert cupti.enabled == set() and cupti.flushes and all(f == 1 for f in cupti.flushes)
    json.dumps(d)


def test_device_time_of_another_device_is_left_out():
    cupti = FakeCupti()

    def run(n=1):
        for _ in range(n):
            cupti.launch(K.CONCURRENT_KERNEL, 1000, "mine", device_id=0)
            cupti.launch(K.CONCURRENT_KERNEL, 7000, "other gpu", device_id=1)
    d = measure_device(run, iterations=2, rounds=5, cupti=cupti, canary=None, host_clock=cupti.host)
    assert d["median_s"] == pytest.approx(1000e-9) and d["kernels_per_call"] == 1


def test_no_activity_is_never_reported_as_a_device_time():
    cupti = FakeCupti()
    idle = lambda n=1: cupti.advance(1000 * n)  # noqa: E731 - time passes, nothing runs on the device
    kw = dict(iterations=2, rounds=5, cupti=cupti, host_clock=cupti.host)
    with pytest.raises(DeviceTimeUnavailable, match="canary memset could not run \\(no GPU here\\)"):
        measure_device(idle, canary=lambda: "no GPU here", **kw)
    with pytest.raises(DeviceTimeUnavailable, match="nor the canary memset"):
        measure_device(idle, canary=lambda: None, **kw)                 # issued, not seen
    # the canary is seen: the call really launched nothing, and the 0 says so
    d = measure_device(idle, canary=lambda: cupti.launch(K.MEMSET, 100, ""), **kw)
    assert d["median_s"] == 0 and d["kernels_per_call"] == 0 and "launched no device work" in d["note"]


def test_cupti_clock_in_another_unit_is_converted_with_the_measured_ratio():
    cupti = FakeCupti(scale=2.1)                  # what kineto's timestamp callback did on an H200
    run = fake_workload(cupti, [(K.CONCURRENT_KERNEL, 2000, "conv")])
    d = measure_device(run, iterations=600, rounds=5, cupti=cupti, canary=None, host_clock=cupti.host)
    assert d["clock_ratio"] == pytest.approx(2.1, rel=1e-3)
    assert d["median_s"] == pytest.approx(2000e-9, rel=1e-3) and "2.1000 units per host nanosecond" in d["note"]
    plain = FakeCupti()
    ns = measure_device(fake_workload(plain, [(K.CONCURRENT_KERNEL, 2000, "conv")]), iterations=600,
                        rounds=5, cupti=plain, canary=None, host_clock=plain.host)
    assert ns["clock_ratio"] == 1.0 and ns["note"] is None


def test_cupti_clock_that_does_not_track_the_host_gives_no_device_time():
    cupti = FakeCupti()

    def run(n=1):                                   # the CUPTI clock's rate changes from round to round
        cupti.scale = 3.0 if cupti.scale == 1.5 else 1.5
        for _ in range(n):
            cupti.launch(K.CONCURRENT_KERNEL, 2000, "conv")
    with pytest.raises(DeviceTimeUnavailable, match="do not track the host clock"):
        measure_device(run, iterations=600, rounds=5, cupti=cupti, canary=None, host_clock=cupti.host)


def test_cupti_failing_to_start_gives_the_reason_and_disables_what_it_enabled():
    cupti = FakeCupti(fail_enable=K.MEMSET)
    with pytest.raises(DeviceTimeUnavailable, match=r"^CUPTI unavailable: activity_enable\(MEMSET\) failed: "
                                                     r"RuntimeError: CUPTI_ERROR_NOT_INITIALIZED$"):
        measure_device(lambda n=1: None, iterations=1, rounds=5, cupti=cupti, canary=None)
    assert cupti.enabled == set()


NO_CUPTI = importlib.util.find_spec("cupti") is None


@pytest.mark.skipif(not NO_CUPTI, reason="cupti-python is installed here")
def test_without_cupti_the_reason_is_exact_and_timing_falls_back_to_latency(tmp_path):
    assert device_mod.unavailable_reason("cuda") == "CUPTI unavailable: No module named 'cupti'"
    with pytest.raises(DeviceTimeUnavailable, match="^CUPTI unavailable: No module named 'cupti'$"):
        measure_device(lambda n=1: None, iterations=1)
    r = time_run(workload(1)[0], device_kind="cuda", lock_dir=str(tmp_path), rounds=5, min_round_s=2e-3,
                 gpu_key={"key": "test-gpu", "key_source": "test"})
    assert r["method"] == "latency (CUPTI unavailable: No module named 'cupti')"
    assert r["device"] is None and r["device_unavailable"] == "CUPTI unavailable: No module named 'cupti'"
    assert r["latency"]["rounds"] == 5 and r["latency"]["median_s"] > 0
    json.dumps(r)


def test_cupti_broken_at_import_is_reported_verbatim(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupti", None)       # import of cupti halted
    reason = device_mod.unavailable_reason("cuda")
    assert reason.startswith("CUPTI unavailable: ") and "cupti" in reason
    assert device_mod.unavailable_reason("cpu") == \
        "CUPTI unavailable: device kind 'cpu' (CUPTI traces CUDA devices only)"


def test_time_run_with_cupti_reports_both_and_the_lock(tmp_path):
    cupti = FakeCupti(realtime=True)
    run = fake_workload(cupti, [(K.CONCURRENT_KERNEL, 2000, "conv")])
    r = time_run(run, device_kind="cuda", device_index=0, device_name="NVIDIA H200", lock_dir=str(tmp_path),
                 rounds=5, min_round_s=1e-3, cupti=cupti, gpu_key={"key": "pci-0000:19:00.0", "key_source": "test"})
    assert r["method"] == "cupti+latency" and r["device_unavailable"] is None
    assert r["device"]["median_s"] == pytest.approx(2e-6)
    assert r["device"]["iterations"] == r["latency"]["iterations"]
    assert r["exclusive"] is True and r["lock"]["reason"] is None
    assert r["lock"]["path"] == lock_path(str(tmp_path), "pci-0000:19:00.0") == str(tmp_path / "gpu-pci-0000_19_00.0.lock")
    assert r["waited_s"] == r["lock"]["waited_s"] >= 0 and r["lock"]["contended"] is False
    assert r["gpu"] == {"kind": "cuda", "index": 0, "name": "NVIDIA H200"}
    assert r["device"]["device_over_latency"] == pytest.approx(r["device"]["median_s"] / r["latency"]["median_s"])
    json.dumps(r)


def test_time_many_times_each_workload_in_one_tracing_session_under_one_lock(tmp_path):
    from harness.timing import time_many

    cupti = FakeCupti(realtime=True)
    registered = []
    real = cupti.activity_register_callbacks
    cupti.activity_register_callbacks = lambda *a: (registered.append(1), real(*a))[1]
    runs = [fake_workload(cupti, [(K.CONCURRENT_KERNEL, ns, f"k{ns}")]) for ns in (1000, 3000, 5000)]
    got = time_many(runs, device_kind="cuda", lock_dir=str(tmp_path), rounds=5, min_round_s=1e-3, cupti=cupti,
                    gpu_key={"key": "g", "key_source": "test"})
    assert [r["device"]["median_s"] for r in got] == [pytest.approx(1e-6), pytest.approx(3e-6), pytest.approx(5e-6)]
    assert [r["device"]["top_kernels"][0]["name"] for r in got] == ["k1000", "k3000", "k5000"]
    assert len(registered) == 1, "one CUPTI session for all the workloads"
    assert all(r["exclusive"] and r["lock"] is got[0]["lock"] for r in got)


def test_device_time_above_untraced_latency_is_flagged(tmp_path):
    cupti = FakeCupti(realtime=True)
    run = fake_workload(cupti, [(K.CONCURRENT_KERNEL, 10_000_000, "slow")])   # 10 ms "kernels", no wall time
    r = time_run(run, device_kind="cuda", lock_dir=str(tmp_path), rounds=5, min_round_s=1e-3, cupti=cupti,
                 gpu_key={"key": "g", "key_source": "test"})
    assert r["device"]["device_over_latency"] > 1.02 and "upper bound" in r["device"]["note"]


def test_time_run_on_cpu_is_latency_only_and_not_locked(tmp_path):
    r = time_run(workload(1)[0], device_kind="cpu", lock_dir=str(tmp_path), rounds=5, min_round_s=2e-3)
    assert r["method"] == "latency (CUPTI unavailable: device kind 'cpu' (CUPTI traces CUDA devices only))"
    assert r["exclusive"] is False and r["lock"]["path"] is None and "not a GPU" in r["lock"]["reason"]
    assert list(tmp_path.iterdir()) == []


def test_unwritable_lock_dir_times_anyway_and_says_not_exclusive(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = time_run(workload(1)[0], device_kind="cuda", lock_dir=str(blocker / "locks"), rounds=5,
                 min_round_s=2e-3, device_time=False, gpu_key={"key": "g", "key_source": "test"})
    assert r["exclusive"] is False and r["lock"]["reason"].startswith("lock not taken (")
    assert r["method"] == "latency (device time not asked for)" and r["latency"]["rounds"] == 5


# -- exclusive lock across processes --------------------------------------------------------------
def test_gpu_identity_prefers_pci_then_visible_devices_then_index(monkeypatch):
    assert gpu_identity(0, pci_bus_id=lambda i: ("0000:9A:00.0", None))["key"] == "pci-0000:9a:00.0"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-1234,3")
    ident = gpu_identity(1, pci_bus_id=lambda i: (None, "no driver"))
    assert ident["key"] == "cvd-3" and "no driver" in ident["key_source"]
    assert gpu_identity(0, pci_bus_id=lambda i: (None, "x"))["key"] == "cvd-GPU-1234"
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert gpu_identity(2, pci_bus_id=lambda i: (None, "x"))["key"] == "cuda2"


def _holder(lock_dir, log, held, waiter_blocked):
    with exclusive_gpu("gpu-A", lock_dir) as info:
        assert info["exclusive"] and not info["contended"]
        held.set()
        assert waiter_blocked.wait(60), "the second process never reported that it was blocked"
        with open(log, "a") as fh:
            fh.write("holder releases\n")


def _waiter(lock_dir, log, held, waiter_blocked, out):
    assert held.wait(60)
    with exclusive_gpu("gpu-A", lock_dir, on_contended=waiter_blocked.set) as info:
        with open(log, "a") as fh:
            fh.write("waiter acquires\n")
        with open(out, "w") as fh:
            json.dump(info, fh)


def test_second_process_waits_for_the_first(tmp_path):
    ctx = multiprocessing.get_context("fork")
    held, blocked = ctx.Event(), ctx.Event()
    log, out = str(tmp_path / "log"), str(tmp_path / "waiter.json")
    a = ctx.Process(target=_holder, args=(str(tmp_path), log, held, blocked))
    b = ctx.Process(target=_waiter, args=(str(tmp_path), log, held, blocked, out))
    a.start()
    b.start()
    a.join(120)
    b.join(120)
    assert a.exitcode == 0 and b.exitcode == 0
    with open(log) as fh:
        assert fh.read().splitlines() == ["holder releases", "waiter acquires"]
    with open(out) as fh:
        info = json.load(fh)
    assert info["exclusive"] is True and info["contended"] is True and info["waited_s"] > 0
    assert info["path"] == lock_path(str(tmp_path), "gpu-A")


def test_different_gpus_do_not_exclude_each_other(tmp_path):
    with exclusive_gpu("gpu-A", str(tmp_path)) as a:
        with exclusive_gpu("gpu-B", str(tmp_path), on_contended=lambda: pytest.fail("gpu-B was contended")) as b:
            assert a["exclusive"] and b["exclusive"] and a["path"] != b["path"]


def test_nested_timing_in_one_process_does_not_deadlock(tmp_path):
    with exclusive_gpu("gpu-A", str(tmp_path)) as outer:
        with exclusive_gpu("gpu-A", str(tmp_path)) as inner:
            assert outer["exclusive"] and inner["exclusive"] and "nested" in inner["reason"]
    with exclusive_gpu("gpu-A", str(tmp_path)) as again:        # released afterwards
        assert again["exclusive"] and again["reason"] is None


# -- peaks ------------------------------------------------------------------------------------------
from harness.case import Case
from harness.timing import peaks as P
from harness.timing import cost as C
from harness.timing import roofline as R


@pytest.mark.parametrize("reported, model", [
    ("NVIDIA H200", "H200 SXM"),
    ("NVIDIA H200 NVL", "H200 NVL"),
    ("NVIDIA H100 80GB HBM3", "H100 SXM"),
    ("NVIDIA H100 PCIe", "H100 PCIe"),
    ("NVIDIA H100 NVL", "H100 NVL"),
    ("NVIDIA A100-SXM4-80GB", "A100 SXM 80GB"),
    ("NVIDIA A100 80GB PCIe", "A100 PCIe 80GB"),
    ("NVIDIA L4", "L4"),
])
def test_peak_lookup_by_reported_name(reported, model):
    assert P.lookup(reported).model == model


@pytest.mark.parametrize("reported", ["NVIDIA L40S", "NVIDIA L40", "NVIDIA A100-SXM4-40GB", "NVIDIA H100",
                                      "NVIDIA GeForce RTX 4090", "Tesla T4", "", None])
def test_unknown_card_has_no_peak(reported):
    assert P.lookup(reported) is None


def test_peak_figures_and_sources():
    h200 = P.lookup("NVIDIA H200")
    assert h200.memory_bw.value == 4.8e12 and h200.fp32.value == 67e12
    assert h200.fp16_tensor.value == pytest.approx(989.5e12)       # 1,979 with sparsity / 2
    assert h200.tf32_tensor.value == pytest.approx(494.5e12)
    a100 = P.lookup("NVIDIA A100-SXM4-80GB")
    assert a100.fp16_tensor.value == 312e12 and a100.memory_bw.value == 2.039e12   # dense as printed
    assert P.lookup("NVIDIA L4").fp16 is None                     # not published: no guess
    for peak in P.PEAKS:
        d = peak.as_dict()
        for key in ("memory_bw", "fp32", "fp16_tensor", "bf16_tensor", "tf32_tensor"):
            fig = d[key]
            assert fig["value"] > 0 and fig["printed"] and fig["url"].startswith("https://")
        # tensor cores are faster than CUDA cores, and FP16 tensor at least twice TF32
        assert peak.fp16_tensor.value > peak.fp32.value and peak.fp16_tensor.value >= 2 * peak.tf32_tensor.value * 0.99
    json.dumps([p.as_dict() for p in P.PEAKS])


# -- roofline ---------------------------------------------------------------------------------------
CONV = Case("nn.conv2d", "float32", ((1, 64, 56, 56),),
            {"strides": [1, 1], "padding": [1, 1], "dilation": [1, 1], "groups": 1,
             "data_layout": "NCHW", "kernel_layout": "OIHW"}, (("weight", (64, 64, 3, 3)),))
ADD = Case("add", "float32", ((1, 256, 56, 56), (1, 256, 56, 56)))
MATMUL = Case("nn.batch_matmul", "float16", ((8, 512, 512), (8, 512, 512)))


def test_conv_cost_by_hand():
    c = C.case_cost(CONV)
    assert c["out_shapes"] == [[1, 64, 56, 56]]
    assert c["flops"] == 2 * 1 * 64 * 64 * 3 * 3 * 56 * 56 == 231_211_008
    assert c["bytes"] == (64 * 56 * 56 + 64 * 64 * 9 + 64 * 56 * 56) * 4 == 1_753_088
    assert c["intensity"] == pytest.approx(231_211_008 / 1_753_088)


def test_add_and_matmul_cost_by_hand():
    a = C.case_cost(ADD)
    assert a["flops"] == 802_816 and a["bytes"] == 3 * 802_816 * 4 and a["intensity"] == pytest.approx(1 / 12)
    m = C.case_cost(MATMUL)
    assert m["out_shapes"] == [[8, 512, 512]]
    assert m["flops"] == 2 * 8 * 512 ** 3 and m["bytes"] == 3 * 8 * 512 * 512 * 2
    bcast = C.case_cost(Case("add", "float16", ((8, 12, 128, 128), (8, 1, 1, 128))))
    assert bcast["flops"] == 8 * 12 * 128 * 128
    assert bcast["bytes"] == (2 * 8 * 12 * 128 * 128 + 8 * 128) * 2


def test_fraction_of_peak_memory_bound_add_on_h200():
    r = R.analyse(ADD, 2.74e-6, "NVIDIA H200")
    assert r["card"] == "H200 SXM" and r["roof"] == "memory"
    assert r["achieved_bytes_per_s"] == pytest.approx(9_633_792 / 2.74e-6)
    assert r["fraction_of_peak"] == r["fraction_of_memory_bw"] == pytest.approx(9_633_792 / 2.74e-6 / 4.8e12)
    assert r["peaks"]["compute_roof"]["name"] == "fp32"
    assert r["peaks"]["ridge"] == pytest.approx(67e12 / 4.8e12)
    json.dumps(r)


def test_fp16_matmul_on_h100_uses_tensor_cores_and_the_ridge_decides_the_roof():
    small = R.analyse(MATMUL, 1.0e-4, "NVIDIA H100 80GB HBM3")       # 512^3: 170.7 FLOP/B < ridge 295.4
    assert small["peaks"]["compute_roof"]["name"] == "fp16_tensor"
    assert small["peaks"]["ridge"] == pytest.approx(989.5e12 / 3.35e12)
    assert small["intensity"] == pytest.approx(512 / 3) and small["roof"] == "memory"
    assert small["fraction_of_peak"] == pytest.approx(3 * 8 * 512 * 512 * 2 / 1.0e-4 / 3.35e12)
    big = Case("nn.batch_matmul", "float16", ((8, 2048, 2048), (8, 2048, 2048)))
    t = 1.0e-3
    r = R.analyse(big, t, "NVIDIA H100 80GB HBM3")                    # 682.7 FLOP/B > ridge
    assert r["intensity"] == pytest.approx(2048 / 3) and r["roof"] == "compute"
    assert r["fraction_of_peak"] == pytest.approx(2 * 8 * 2048 ** 3 / t / 989.5e12)
    assert r["fraction_of_tf32_tensor"] is None                      # float16: no TF32 figure


def test_fp32_conv_roof_is_fp32_with_tf32_beside():
    r = R.analyse(CONV, 54e-6, "NVIDIA H200")
    assert r["peaks"]["compute_roof"]["name"] == "fp32"
    assert r["roof"] == "compute"                                # 131.9 FLOP/B > ridge 13.96
    assert r["fraction_of_peak"] == pytest.approx(231_211_008 / 54e-6 / 67e12)
    assert r["fraction_of_tf32_tensor"] == pytest.approx(231_211_008 / 54e-6 / 494.5e12)


def test_fp16_elementwise_on_l4_falls_back_to_fp32_and_says_so():
    r = R.analyse(Case("sigmoid", "float16", ((1, 96, 112, 112),)), 1e-4, "NVIDIA L4")
    assert r["peaks"]["compute_roof"]["name"] == "fp32" and "not published" in r["peaks"]["compute_roof"]["why"]


def test_unknown_card_and_missing_device_time():
    r = R.analyse(ADD, 1e-6, "NVIDIA GeForce RTX 4090")
    assert r["note"] == "unknown card: no peak, no fraction" and r["fraction_of_peak"] is None
    assert r["achieved_bytes_per_s"] == pytest.approx(9_633_792 / 1e-6)
    r = R.analyse(ADD, None, "NVIDIA H200")
    assert r["fraction_of_peak"] is None and r["note"].startswith("no device time")
    r = R.analyse(Case("transpose", "float32", ((2, 3),), {"axes": [1, 0]}), 1e-6, "NVIDIA H200")
    assert r["flops"] is None and r["roof"] == "memory" and r["fraction_of_peak"] == pytest.approx(48 / 1e-6 / 4.8e12)


CONV_ATTRS = {"dilation": [1, 1], "groups": 1}


@pytest.mark.parametrize("case, out, flops", [
    # grouped (depthwise), strided: MobileNetV2 features.2.conv.1.0
    (Case("nn.conv2d", "float32", ((1, 96, 112, 112),), {**CONV_ATTRS, "strides": [2, 2], "padding": [1, 1],
          "groups": 96, "data_layout": "NCHW", "kernel_layout": "OIHW"}, (("weight", (96, 1, 3, 3)),)),
     (1, 96, 56, 56), 2 * 96 * 1 * 9 * 56 * 56),
    # NHWC / HWIO, asymmetric padding (top, left, bottom, right), dilation 2
    (Case("nn.conv2d", "float32", ((2, 9, 10, 4),), {"strides": [1, 2], "padding": [0, 1, 2, 0],
          "dilation": [2, 1], "groups": 2, "data_layout": "NHWC", "kernel_layout": "HWIO"},
          (("weight", (3, 3, 2, 6)),)),
     (2, 7, 5, 6), 2 * 2 * 6 * 2 * 9 * 7 * 5),
    # transposed conv: IOHW weight, output_padding
    (Case("nn.conv2d_transpose", "float32", ((1, 4, 5, 5),), {**CONV_ATTRS, "strides": [2, 2], "padding": [1, 1],
          "output_padding": [1, 1], "data_layout": "NCHW", "kernel_layout": "IOHW"}, (("weight", (4, 3, 3, 3)),)),
     (1, 3, 10, 10), 2 * 4 * 3 * 9 * 25),
    (Case("nn.conv1d", "float32", ((1, 2, 8),), {"strides": [1], "padding": [0], "dilation": [1], "groups": 1,
          "data_layout": "NCW", "kernel_layout": "OIW"}, (("weight", (5, 2, 3)),)),
     (1, 5, 6), 2 * 5 * 2 * 3 * 6),
    (Case("nn.max_pool2d", "float32", ((1, 3, 7, 7),), {"pool_size": [3, 3], "strides": [2, 2], "padding": [0, 0],
          "dilation": [1, 1], "ceil_mode": True, "layout": "NCHW"}),
     (1, 3, 3, 3), 27 * 9),
    (Case("nn.avg_pool3d", "float32", ((1, 4, 4, 4, 2),), {"pool_size": [2, 2, 2], "strides": [2, 2, 2],
          "padding": [0, 0, 0], "dilation": [1, 1, 1], "ceil_mode": False, "layout": "NDHWC",
          "count_include_pad": False}),
     (1, 2, 2, 2, 2), 16 * 8),
    (Case("nn.adaptive_avg_pool2d", "float32", ((1, 2, 5, 3),), {"output_size": [2, 1], "layout": "NCHW"}),
     (1, 2, 2, 1), 2 * (3 + 3) * 3 + 4),                        # windows [0,3) and [2,5) overlap
    (Case("mean", "float32", ((2, 3, 4),), {"axis": [-1, 0], "keepdims": False}), (3,), 24),
    (Case("nn.softmax", "float32", ((4, 10),), {"axis": -1}), (4, 10), 200),
    (Case("nn.layer_norm", "float32", ((2, 8),), {"axes": [-1], "epsilon": 1e-5, "center": False, "scale": True},
          (("gamma", (8,)), ("beta", (8,)))), (2, 8), 6 * 16),
    (Case("nn.dense", "float16", ((8, 128, 768),), {"units": 3072}, (("weight_t", (768, 3072)),)),
     (8, 128, 3072), 2 * 8 * 128 * 768 * 3072),
    (Case("nn.batch_matmul", "float32", ((3, 1, 4, 5), (2, 5, 6)), {}), (3, 2, 4, 6), 2 * 6 * 4 * 5 * 6),
    (Case("reshape", "float32", ((2, 3, 4),), {"newshape": [4, -1]}), (4, 6), None),
    (Case("concatenate", "float32", ((2, 3), (2, 5)), {"axis": -1}), (2, 8), None),
    (Case("strided_slice", "float32", ((8, 10),), {"axes": [1], "begin": [-1], "end": [-11], "strides": [-3]}),
     (8, 4), None),
])
def test_shapes_and_flops_by_hand(case, out, flops):
    c = C.case_cost(case)
    assert tuple(c["out_shapes"][0]) == out and c["flops"] == flops


def test_shape_rules_refuse_what_does_not_fit():
    with pytest.raises(ValueError, match="channels"):
        C.case_cost(Case("nn.conv2d", "float32", ((1, 3, 8, 8),), {**CONV_ATTRS, "strides": [1, 1], "padding": [0, 0],
                         "data_layout": "NCHW", "kernel_layout": "OIHW"}, (("weight", (4, 2, 3, 3)),)))
    with pytest.raises(ValueError, match="broadcast"):
        C.case_cost(Case("add", "float32", ((2, 3), (4, 3))))
    with pytest.raises(ValueError, match="cannot become"):
        C.case_cost(Case("reshape", "float32", ((2, 3),), {"newshape": [4, -1]}))


def test_every_runnable_table_op_has_a_shape_rule():
    from harness.table import OPS

    known = (C.UNARY | C.BINARY | set(C.CONV) | C.MATMUL | set(C.POOL) | C.ADAPTIVE | C.REDUCE |
             {"clip", "nn.leaky_relu", "nn.bias_add", "nn.softmax", "nn.layer_norm", "nn.batch_norm",
              "nn.batch_flatten", "expand_dims", "squeeze", "concatenate", "transpose", "layout_transform",
              "reshape", "nn.pad", "split", "strided_slice"})
    missing = sorted(e.name for e in OPS if e.tvm_op is not None and e.name not in known)
    assert missing == []


def test_bandwidth_above_the_dram_roof_is_flagged_as_cache():
    pool = Case("nn.max_pool3d", "float32", ((1, 128, 16, 56, 56),),
                {"pool_size": [2, 2, 2], "strides": [2, 2, 2], "padding": [0, 0, 0], "dilation": [1, 1, 1],
                 "ceil_mode": False, "layout": "NCDHW"})
    r = R.analyse(pool, 5.02e-6, "NVIDIA H200")                    # as measured on an H200
    assert r["fraction_of_memory_bw"] > 1 and "warm-cache" in r["note"]
    assert R.analyse(pool, 1e-4, "NVIDIA H200")["note"] is None


def _shared_user(lock_dir, log, timing_holds, user_waiting):
    from harness.timing.exclusive import shared_gpu

    assert timing_holds.wait(60)
    user_waiting.set()
    with shared_gpu("gpu-A", lock_dir):
        with open(log, "a") as fh:
            fh.write("shared user runs\n")


def test_other_gpu_work_waits_while_a_timing_holds_the_gpu(tmp_path):
    """A worker's non-timed GPU work (shared) does not run while another worker times (exclusive)."""
    ctx = multiprocessing.get_context("fork")
    holds, waiting = ctx.Event(), ctx.Event()
    log = str(tmp_path / "log")
    user = ctx.Process(target=_shared_user, args=(str(tmp_path), log, holds, waiting))
    user.start()
    with exclusive_gpu("gpu-A", str(tmp_path)) as info:
        assert info["exclusive"]
        holds.set()
        assert waiting.wait(60)
        user.join(0.5)                    # it must still be blocked: the timing holds the GPU
        assert user.is_alive()
        with open(log, "a") as fh:
            fh.write("timing ends\n")
    user.join(60)
    assert user.exitcode == 0
    with open(log) as fh:
        assert fh.read().splitlines() == ["timing ends", "shared user runs"]


def test_measure_takes_the_clock_it_is_given():
    """On the CPU clock a sleeping workload costs nothing, a busy one its CPU time: what lets the
    fault-injection test time a CPU-bound double the same way on an idle and a loaded machine."""
    import time as _time

    from harness.timing import measure

    def sleeps(n=1):
        _time.sleep(0.002 * n)

    def busy(n=1):
        end = _time.process_time() + 0.002 * n
        while _time.process_time() < end:
            pass

    assert measure(sleeps, warmup=1, rounds=5, min_round_s=0, clock=_time.process_time)["median_s"] < 5e-4
    assert measure(sleeps, warmup=1, rounds=5, min_round_s=1e-3)["median_s"] >= 0.002
    cpu = measure(busy, warmup=1, rounds=5, min_round_s=1e-3, clock=_time.process_time)["median_s"]
    assert 0.002 <= cpu < 0.003


def test_a_failed_clock_check_is_traced_again_with_longer_rounds(tmp_path, monkeypatch):
    """Rounds of ~1 ms can be too short for CUPTI's clock check; the workloads it failed for (and
    only those) are traced once more with rounds CLOCK_RETRY_FACTOR times longer, and say so."""
    from harness.timing import run as run_mod
    from harness.timing import time_many

    cupti = FakeCupti(realtime=True)
    runs = [fake_workload(cupti, [(K.CONCURRENT_KERNEL, ns, f"k{ns}")]) for ns in (1000, 3000)]
    real, calls = device_mod.measure_devices, []

    def first_pass_fails_for_the_second(pairs, **kw):
        calls.append([n for _, n in pairs])
        got = real(pairs, **kw)
        if len(calls) == 1:
            got[1] = device_mod.ClockCheckFailed("CUPTI's timestamps do not track the host clock (test)")
        return got
    monkeypatch.setattr(device_mod, "measure_devices", first_pass_fails_for_the_second)
    got = time_many(runs, device_kind="cuda", lock_dir=str(tmp_path), rounds=5, min_round_s=1e-3, cupti=cupti,
                    gpu_key={"key": "g", "key_source": "test"})
    assert len(calls) == 2 and calls[1] == [calls[0][1] * run_mod.CLOCK_RETRY_FACTOR]
    assert [r["method"] for r in got] == ["cupti+latency", "cupti+latency"]
    assert got[1]["device"]["median_s"] == pytest.approx(3e-6)
    assert "traced again with rounds 4x as long" in got[1]["device"]["note"] and "(test)" in got[1]["device"]["note"]
    assert not (got[0]["device"].get("note") or "").count("traced again")


def test_a_clock_check_that_fails_twice_gives_latency_only_with_the_reason(tmp_path, monkeypatch):
    from harness.timing import time_many

    cupti = FakeCupti(realtime=True)
    run = fake_workload(cupti, [(K.CONCURRENT_KERNEL, 1000, "k")])
    monkeypatch.setattr(device_mod, "measure_devices",
                        lambda pairs, **kw: [device_mod.ClockCheckFailed("clock (test)")] * len(pairs))
    got = time_many([run], device_kind="cuda", lock_dir=str(tmp_path), rounds=5, min_round_s=1e-3, cupti=cupti,
                    gpu_key={"key": "g", "key_source": "test"})
    assert got[0]["device"] is None and got[0]["method"] == "latency (clock (test))"


def test_the_clock_checks_failures_are_clock_check_failures():
    cupti = FakeCupti()

    def run(n=1):
        cupti.scale = 3.0 if cupti.scale == 1.5 else 1.5
        for _ in range(n):
            cupti.launch(K.CONCURRENT_KERNEL, 2000, "conv")
    with pytest.raises(device_mod.ClockCheckFailed):
        measure_device(run, iterations=600, rounds=5, cupti=cupti, canary=None, host_clock=cupti.host)


class CostlyFlushCupti(FakeCupti):
    """A forced flush that costs ``flush_ns`` of host time, as CUPTI's does (13 ms on an H200)."""

    def __init__(self, flush_ns, **kw):
        super().__init__(**kw)
        self.flush_ns = flush_ns

    def activity_flush_all(self, flag):
        self.advance(self.flush_ns)
        super().activity_flush_all(flag)


@pytest.mark.parametrize("flush_ns, most_looks", [(0, 13), (100_000, 4)])
def test_an_adaptive_device_pass_looks_as_often_as_a_look_is_worth(flush_ns, most_looks):
    """A workload whose median never settles runs to the most rounds; the pass looks at its samples
    (a forced flush each) after as many rounds as a look costs: every 3 rounds when flushing is free,
    3 times in 40 rounds when a flush costs ~20 rounds (the H200: 13 ms a flush, ~1 ms a round)."""
    cupti = CostlyFlushCupti(flush_ns)
    rounds_done = []

    def noisy(n=1):                     # alternate rounds of 1 and 2 us per call: never known to 0.5 %
        if n == 4:                      # a timed round (not the warm-up, nor a round's untimed first call)
            rounds_done.append(n)
        for _ in range(n):
            cupti.launch(K.CONCURRENT_KERNEL, 1000 if len(rounds_done) % 2 else 2000, "k")
    (got,) = device_mod.measure_devices([(noisy, 4)], rounds=40, cupti=cupti, canary=None, host_clock=cupti.host,
                                        target_ci=0.005)
    assert got["rounds"] == 40 and got["stopped"].startswith("40 rounds: the most asked for")
    looks = len(cupti.flushes) - 2          # the pass's own flushes; the last read and the stop are 2 more
    assert 2 <= looks <= most_looks, cupti.flushes


def test_workloads_take_their_rounds_in_turn_and_one_look_serves_them_all():
    """Three workloads in one pass: rounds A B C A B C ..., each look at the samples is one flush for
    all three (not one each), and each keeps its own figure."""
    cupti = FakeCupti()
    order = []

    def workload(name, ns):
        def run(n=1):
            if n == 3:                                  # a timed round
                order.append(name)
            for _ in range(n):
                cupti.launch(K.CONCURRENT_KERNEL, ns, name)
        return run
    pairs = [(workload(name, ns), 3) for name, ns in (("a", 1000), ("b", 2000), ("c", 4000))]
    got = device_mod.measure_devices(pairs, rounds=12, cupti=cupti, canary=None, host_clock=cupti.host,
                                     target_ci=0.005, min_rounds=5)
    assert [g["median_s"] for g in got] == [pytest.approx(1e-6), pytest.approx(2e-6), pytest.approx(4e-6)]
    assert order[:6] == ["a", "b", "c", "a", "b", "c"] and len(order) == 15        # constant: settled at 5
    assert all(g["rounds"] == 5 and g["stopped"].startswith("median known to") for g in got)
    assert len(cupti.flushes) == 1 + 1 + 1      # one look (at round 5) for all three, the last read, the stop


def test_a_workload_settled_early_leaves_the_others_rounds_going():
    cupti = FakeCupti()
    timed = {"steady": 0, "noisy": 0}

    def steady(n=1):
        timed["steady"] += n == 4
        for _ in range(n):
            cupti.launch(K.CONCURRENT_KERNEL, 1000, "steady")

    def noisy(n=1):
        timed["noisy"] += n == 4
        for _ in range(n):
            cupti.launch(K.CONCURRENT_KERNEL, 1000 if timed["noisy"] % 2 else 2000, "noisy")
    a, b = device_mod.measure_devices([(steady, 4), (noisy, 4)], rounds=20, cupti=cupti, canary=None,
                                      host_clock=cupti.host, target_ci=0.005)
    assert (a["rounds"], b["rounds"]) == (5, 20) and b["stopped"].startswith("20 rounds: the most asked for")
    assert timed == {"steady": 5, "noisy": 20}


def test_each_round_begins_with_an_untimed_call():
    """The round before was another workload's: a round's first call may find its code and data out
    of the caches.  That call is made before the round's window opens, so it is not counted."""
    cupti = FakeCupti()
    last = []

    def workload(name):
        def run(n=1):
            for _ in range(n):
                cold = not last or last[-1] != name
                cupti.launch(K.CONCURRENT_KERNEL, 50_000 if cold else 1000, name)
                last.append(name)
        return run
    got = device_mod.measure_devices([(workload("a"), 8), (workload("b"), 8)], rounds=6, cupti=cupti,
                                     canary=None, host_clock=cupti.host)
    assert [g["median_s"] for g in got] == [pytest.approx(1e-6), pytest.approx(1e-6)]
    assert all(g["max_s"] == pytest.approx(1e-6) for g in got)


class SlowClockCupti(FakeCupti):
    """Reading CUPTI's clock takes host time (``read_ns``), as a call through cupti-python does."""

    def __init__(self, read_ns, **kw):
        super().__init__(**kw)
        self.read_ns = read_ns

    def get_timestamp(self):
        now = super().get_timestamp()
        self.advance(self.read_ns)
        return now


def test_the_clock_check_pairs_each_cupti_reading_with_the_host_time_it_was_taken_at():
    """Short rounds (50 us here) and a clock read that costs 10 us: bracketing the CUPTI reading with
    host readings on one side only would put the two clocks 2 % apart over the section; the harness
    takes the host time at the reading's middle, and finds them the same clock."""
    cupti = SlowClockCupti(10_000)
    run = fake_workload(cupti, [(K.CONCURRENT_KERNEL, 4900, "k")])           # + 100 ns launch gap: 5 us a call
    d = measure_device(run, iterations=10, rounds=5, cupti=cupti, canary=None, host_clock=cupti.host)
    assert d["clock_ratio"] == 1.0 and d["note"] is None
    assert d["median_s"] == pytest.approx(4.9e-6)


def test_device_rounds_as_long_as_asked(tmp_path):
    """``device_round_s``: the device pass takes as many calls a round as fit in it, from the latency
    pass's time per call (never more than a latency round's)."""
    from harness.timing import time_many

    cupti = FakeCupti(realtime=True)
    sleepy = fake_workload(cupti, [(K.CONCURRENT_KERNEL, 2000, "k")])

    def run(n=1):                                   # ~100 us of host time a call
        end = time.perf_counter() + 1e-4 * n
        sleepy(n)
        while time.perf_counter() < end:
            pass
    (got,) = time_many([run], device_kind="cuda", lock_dir=str(tmp_path), rounds=5, min_round_s=4e-3, cupti=cupti,
                       gpu_key={"key": "g", "key_source": "test"}, device_round_s=4e-4)
    lat, dev = got["latency"], got["device"]
    assert lat["iterations"] >= 20                  # 4 ms rounds of ~0.1 ms calls
    assert 1 <= dev["iterations"] <= 4 and dev["iterations"] < lat["iterations"]
    assert dev["median_s"] == pytest.approx(2e-6)
