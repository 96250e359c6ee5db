"""tools/timing_fidelity_cupy.py, on a virtual GPU: CuPy and CUPTI stand-ins (test doubles, named so)
over test_timing's FakeCupti.  On a GPU machine the tool runs against the real ones."""
from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest

from conftest import tool
from test_timing import FakeCupti

K = FakeCupti.ActivityKind


def fake_cupy(cupti):
    """A CuPy double: each op launches a kernel of fixed length on the virtual GPU and computes
    nothing (its first operand comes back; exp's plus one, so softmax divides by no zero)."""
    cp = types.ModuleType("cupy")
    cp.float32 = np.float32

    class Rng:
        def __init__(self, seed):
            pass

        def standard_normal(self, shape, dtype):
            return np.zeros(shape, dtype)

    def op(ns, name, result=lambda x: x):
        def launched(x, *a, **k):
            cupti.launch(K.CONCURRENT_KERNEL, ns, name)
            return result(x)
        return launched

    class Device:
        compute_capability = "90"

        def __init__(self, index=0):
            pass

        def synchronize(self):
            pass
    cp.random = types.SimpleNamespace(default_rng=Rng)
    cp.add, cp.copy, cp.exp, cp.matmul = op(1000, "add"), op(3000, "copy"), op(1500, "exp", lambda x: x + 1), op(20000, "matmul")
    cp.cuda = types.SimpleNamespace(Device=Device, runtime=types.SimpleNamespace(
        getDeviceProperties=lambda i: {"name": b"Virtual GPU"}))
    return cp


@pytest.fixture
def virtual_gpu(monkeypatch):
    cupti = FakeCupti(realtime=True)
    package = types.ModuleType("cupti")
    package.cupti = cupti
    monkeypatch.setitem(sys.modules, "cupti", package)
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy(cupti))
    monkeypatch.delenv("TRT_HARNESS_TRACE", raising=False)
    yield cupti
    monkeypatch.delenv("TRT_HARNESS_TRACE", raising=False)      # the tool sets it for its own trace


def test_the_tool_compares_each_workload_alone_and_in_turn_and_says_what_the_device_pass_costs(virtual_gpu, tmp_path, capsys):
    out = tmp_path / "rows.jsonl"
    assert tool("timing_fidelity_cupy").main(["--json", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    ratios = [r for r in rows if "ratio" in r]
    assert len(ratios) == 12 and {r["how"] for r in ratios} == {"alone", "in turn"}
    assert all(r["ratio"] == pytest.approx(1, abs=1e-6) for r in ratios)
    costs = [r for r in rows if "cost" in r]
    assert len(costs) == 3 and all(r["records"] > 0 and r["flushes"] > 0 for r in costs)
    # one request a workload looks at each workload's samples apart: more flushes than in turn
    assert costs[2]["flushes"] > costs[1]["flushes"]
    assert "all device times within 2% of the independent reader (12 of 12)" in capsys.readouterr().out


def test_a_device_time_off_by_more_than_the_tolerance_fails_the_tool(virtual_gpu, monkeypatch, capsys):
    from harness.timing import device as D

    real = D._round_stats

    def doubled(*a, **k):                   # a device-time method wrong on purpose: twice the busy time
        got = real(*a, **k)
        return {**got, "busy_ns": 2 * got["busy_ns"]}
    monkeypatch.setattr(D, "_round_stats", doubled)
    assert tool("timing_fidelity_cupy").main([]) == 1
    out = capsys.readouterr().out
    assert out.count("BAD ") == 12 and "NOT all device times within 2%" in out


def test_without_cupy_it_says_why_in_one_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "cupy", None)          # CuPy not importable here
    assert tool("timing_fidelity_cupy").main([]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("timing_fidelity_cupy: cannot run here: ")
