"""The builders' CUDA target comes from the controller's GPU probe, and their case workers fork.

On a GPU machine the probe (harness.gpu, one child process for the run) also reports the CUDA target
TVM parses there for device 0; the builders compile with exactly that target, in its scope, so none
of them starts CUDA to parse "cuda" (TVM asks device 0 for its arch when none is given).  Here, with
no GPU, the probe answer is a stand-in given through its real channel (TRT_HARNESS_GPU_PROBE), and
TVM's CUDA codegen runs for real: it needs no GPU.  TVM's own post-processing hook
(``tvm_callback_cuda_postproc``, called by the CUDA codegen with the target it builds for) says
which target TVM really built for."""
from __future__ import annotations

import json
import os

import pytest

from harness import gpu, isolate, program, runner
from harness.backends import get_backend
from harness.builds import Built, BuildCache, compile_many
from harness.case import Case
from harness.table import BY_NAME


def _sm90a() -> str:
    """An H100's target as TVM prints it (what the probe reports on a TVM that writes sm_90a)."""
    import tvm

    return str(tvm.target.Target({"kind": "cuda", "arch": "sm_90a"}))


def _answer(monkeypatch, *, exist: bool, cuda_target: str | None = None) -> None:
    """The controller's probe answer, as share_probe hands it to the workers."""
    told = {"exist": exist, "count": int(exist), "name": "NVIDIA H100 80GB HBM3" if exist else None,
            "devices": [{"index": 0, "name": "NVIDIA H100 80GB HBM3", "compute_version": "9.0"}] if exist else [],
            "cvd": os.environ.get("CUDA_VISIBLE_DEVICES")}
    if cuda_target is not None:
        told["cuda_target"] = cuda_target
    monkeypatch.setenv(gpu.PROBE_ENV, json.dumps(told))
    gpu.probe.cache_clear()


@pytest.fixture(autouse=True)
def _fresh_probe():
    gpu.probe.cache_clear()
    yield
    gpu.probe.cache_clear()


@pytest.fixture
def codegen_targets():
    """The targets TVM's CUDA codegen built for, and Target.current() meanwhile (what NVRTC reads)."""
    import tvm
    import tvm_ffi

    name = "tvm_callback_cuda_postproc"
    assert tvm_ffi.get_global_func(name, allow_missing=True) is None
    seen = []

    def postproc(code, target):
        seen.append((str(target.attrs["arch"]), tvm.target.Target.current(allow_none=True)))
        return code

    tvm_ffi.register_global_func(name, postproc)
    yield seen
    tvm_ffi.remove_global_func(name)


def _relu():
    return program.build_case(BY_NAME["nn.relu"], Case("nn.relu", "float32", ((2, 8),), {}, (), seed=0)).mod


def test_the_probes_target_is_what_tvm_builds_for(monkeypatch, codegen_targets, tmp_path):
    target = _sm90a()
    _answer(monkeypatch, exist=True, cuda_target=target)
    for name in ("tvm-cuda", "tensorrt"):
        assert get_backend(name).compile_target() == target          # exactly the probe's string
    assert get_backend("tvm-llvm").compile_target() == "llvm"
    cuda = get_backend("tvm-cuda")
    mod = _relu()
    assert cuda.compile(mod) is not None                              # a real CUDA build, no GPU needed
    arch, current = codegen_targets[-1]
    assert arch == "sm_90a" and current is not None and str(current.attrs["arch"]) == "sm_90a"
    # the build cache keys on the target used
    cache = BuildCache(str(tmp_path))
    got = compile_many(cuda, {"c0o_": mod}, cache, stage="tvm.compile(cuda)")
    assert isinstance(got["c0o_"], Built)
    assert BuildCache.key(mod, target) != BuildCache.key(mod, "cuda")
    # exported under the key of the target used (loading it back needs CUDA: not here)
    assert sorted(os.listdir(tmp_path)) == [f"{BuildCache.key(mod, target)}.so"]


@pytest.mark.parametrize("exist", [False, True])
def test_without_a_target_from_the_probe_nothing_changes(monkeypatch, codegen_targets, exist):
    """No GPU (or a probe answer without the target): "cuda", parsed by TVM as before."""
    _answer(monkeypatch, exist=exist)
    cuda = get_backend("tvm-cuda")
    assert gpu.cuda_target() is None and cuda.compile_target() == "cuda" == cuda.target
    assert cuda.compile(_relu()) is not None
    arch, current = codegen_targets[-1]
    assert arch == "sm_50" and current is None      # TVM's own default without a GPU, and no scope of ours


def test_the_probe_says_no_target_without_a_gpu(capsys):
    """The probe script itself (the controller runs it in a child; here in this process, which has
    TVM imported already): no device, so no target."""
    exec(compile(gpu._PROBE, "<probe>", "exec"), {})
    got = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert got["exist"] is False and got["cuda_target"] is None


def _runners(monkeypatch, kinds):
    if kinds:
        monkeypatch.setenv(runner.ENV, json.dumps({"key": "00", "runners": {k: ["/nonexistent.sock"] for k in kinds}}))
    else:
        monkeypatch.delenv(runner.ENV, raising=False)


@pytest.mark.parametrize("exist, cuda_target, runners, method", [
    (True, "known", ["cuda"], "fork"),          # runners do every GPU run, builders never touch CUDA
    (True, "known", [], "forkserver"),          # the workers run on the GPU themselves
    (True, None, ["cuda"], "forkserver"),       # the builders would parse "cuda" against device 0
    (True, "known", ["cpu"], "forkserver"),     # runners, but not for the GPU
    (False, None, [], "fork"),                  # a CPU machine
    (False, None, ["cpu"], "fork"),             # --trt-runner all on a CPU machine
])
def test_the_case_workers_start_method(monkeypatch, exist, cuda_target, runners, method):
    monkeypatch.delenv("TRT_HARNESS_ISOLATE_METHOD", raising=False)
    _answer(monkeypatch, exist=exist, cuda_target=_sm90a() if cuda_target else None)
    _runners(monkeypatch, runners)
    assert isolate.auto_method() == method
    iso = isolate.Isolator(method="auto")
    try:
        assert iso.method == method
    finally:
        iso.close()
    monkeypatch.setenv("TRT_HARNESS_ISOLATE_METHOD", "spawn")      # said outright, it wins
    assert isolate.auto_method() == "spawn"


@pytest.mark.parametrize("script, expect", [
    ("import json; print(json.dumps({'exist': True, 'count': 1, 'name': 'stand-in', 'devices': []}))", "stand-in"),
    ("import sys; sys.exit('CUDA_ERROR_NO_DEVICE')", "TVM cannot query CUDA: CUDA_ERROR_NO_DEVICE"),
])
def test_the_probe_started_early_gives_the_answer_later(monkeypatch, script, expect):
    """The controller starts its probe child before TVM's import (gpu.start_probe) and reads it when
    asked; here the child is a stand-in script (this machine has no CUDA driver)."""
    monkeypatch.setattr(gpu, "_driver_missing", lambda: None)
    monkeypatch.setattr(gpu, "_PROBE", script)
    monkeypatch.delenv(gpu.PROBE_ENV, raising=False)
    monkeypatch.setattr(gpu, "_started", None)
    gpu.start_probe()
    assert gpu._started is not None
    got = gpu.probe()
    assert gpu._started is None
    assert expect in (got.get("name") or got.get("error")), got
