"""GPU placement: each xdist worker is pinned round robin by its number to one visible GPU, and the
results header's placement says the same as the pinning.  The device list is a stand-in for a
two- or four-GPU host (no GPU here); the logic under test is the harness's own."""
from __future__ import annotations

import pytest

from harness import gpu


@pytest.fixture(autouse=True)
def _restore_env():
    """pin() sets CUDA_VISIBLE_DEVICES and the pinned marker in os.environ itself: put them back."""
    import os

    saved = {k: os.environ.get(k) for k in ("CUDA_VISIBLE_DEVICES", gpu.PINNED_ENV)}
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _host(monkeypatch, n, visible=None):
    devices = [{"index": i, "name": f"GPU-{i}", "compute_version": "9.0"} for i in range(n)]
    monkeypatch.setattr(gpu, "probe", lambda: {"exist": True, "count": n, "devices": devices})
    monkeypatch.delenv(gpu.PINNED_ENV, raising=False)
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)


@pytest.mark.parametrize("n", [1, 2, 4])
def test_placement_matches_pinning_for_every_worker(monkeypatch, n):
    workers = sorted(f"gw{i}" for i in range(16))       # xdist's lexical order: gw0, gw1, gw10, ...
    _host(monkeypatch, n)
    table = gpu.placement(workers)
    for w in workers:
        _host(monkeypatch, n)
        assert gpu.pin(w) == table[w], w
    assert sorted(table.values()).count(table["gw0"]) == 16 // n   # each GPU gets its share
    assert table["gw2"].startswith(f"cuda:{2 % n} ")


def test_pinning_respects_cuda_visible_devices(monkeypatch):
    _host(monkeypatch, 2, visible="3,1")                 # the user gave GPUs 3 and 1 to this run
    assert gpu.placement(["gw0", "gw1", "gw2"]) == {"gw0": "cuda:3 GPU-0", "gw1": "cuda:1 GPU-1",
                                                    "gw2": "cuda:3 GPU-0"}
    assert gpu.pin("gw1") == "cuda:1 GPU-1"
    import os

    assert os.environ["CUDA_VISIBLE_DEVICES"] == "1"     # the worker (and its case worker) sees one GPU


def test_no_gpu_no_placement(monkeypatch):
    monkeypatch.setattr(gpu, "probe", lambda: {"exist": False, "count": 0, "error": "no CUDA driver"})
    monkeypatch.delenv(gpu.PINNED_ENV, raising=False)
    assert gpu.placement(["gw0", "gw1"]) == {} and gpu.pin("gw0") is None


def test_the_controllers_probe_is_shared_while_the_visible_devices_stay(monkeypatch):
    """Workers, case workers and runners take the controller's answer (no child Python, no CUDA
    context each); a process whose CUDA_VISIBLE_DEVICES changed (a pinned worker) asks again."""
    import json

    from harness import gpu

    told = {"exist": True, "count": 2, "name": "NVIDIA H100", "devices": [{"index": 0}, {"index": 1}]}
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    monkeypatch.setenv(gpu.PROBE_ENV, json.dumps({**told, "cvd": "0,1"}))
    gpu.probe.cache_clear()
    try:
        assert gpu.probe()["count"] == 2 and gpu.probe()["name"] == "NVIDIA H100"
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
        gpu.probe.cache_clear()
        assert gpu.probe().get("name") != "NVIDIA H100" or gpu.probe().get("count") != 2
    finally:
        gpu.probe.cache_clear()
