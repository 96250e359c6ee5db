"""Backends: the systems a case runs on.  Each says whether it can run here and, if not, why.

Built in: ``tvm-llvm`` (TVM's CPU build), ``tvm-cuda`` (TVM's own CUDA build, the reference on
a GPU) and ``tensorrt`` (partition, TensorRT codegen, CUDA build, run on TVM's VM, as TVM's own
Relax TensorRT tests do).  Third parties add backends through the ``trt_harness.backends`` entry
point group: the entry point names a zero-argument callable returning a :class:`Backend`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from importlib import metadata

import numpy as np

from ..errors import BackendError


@dataclass
class Built:
    executable: object
    build_s: float


class Backend:
    name = "?"

    def unavailable_reason(self) -> str | None:
        """None when the backend can run here, else exactly why not."""
        raise NotImplementedError

    def device(self):
        raise NotImplementedError

    def build(self, mod, partitioned) -> Built:
        raise NotImplementedError

    def run(self, built: Built, inputs: list) -> list[np.ndarray]:
        from .. import program

        return program.run(built.executable, inputs, self.device())

    def timer(self, built: Built, inputs: list):
        """``run(n)``: call ``main`` n times back to back, then synchronise with the device once,
        so launch overhead overlaps execution as it does in TVM's own time_evaluator."""
        import tvm
        from tvm import relax

        dev = self.device()
        vm = relax.VirtualMachine(built.executable, dev)
        args = [tvm.runtime.tensor(x, dev) for x in inputs]
        fn = vm["main"]

        def run(n: int = 1):
            for _ in range(n):
                fn(*args)
            dev.sync()
        return run


def _tvm_version() -> str:
    import tvm

    return tvm.__version__


def _cuda_reason() -> str | None:
    from .. import gpu

    return gpu.unavailable_reason()


class TVMLLVM(Backend):
    name = "tvm-llvm"

    def unavailable_reason(self):
        return None

    def device(self):
        import tvm

        return tvm.cpu()

    def build(self, mod, partitioned=None) -> Built:
        from .. import program

        t0 = time.perf_counter()
        ex = program.compile_module(mod, "llvm")
        return Built(ex, time.perf_counter() - t0)


class TVMCUDA(Backend):
    name = "tvm-cuda"

    def unavailable_reason(self):
        return _cuda_reason()

    def device(self):
        import tvm

        return tvm.cuda(0)

    def build(self, mod, partitioned=None) -> Built:
        from .. import program

        t0 = time.perf_counter()
        ex = program.compile_module(mod, "cuda")   # TVM's default CUDA pipeline and GPU schedules
        return Built(ex, time.perf_counter() - t0)


class TensorRT(Backend):
    name = "tensorrt"

    def unavailable_reason(self):
        import tvm

        if tvm.get_global_func("relax.ext.tensorrt", allow_missing=True) is None:
            return (f"TVM {_tvm_version()} was built without the TensorRT codegen "
                    "(relax.ext.tensorrt is not registered; needs USE_TENSORRT_CODEGEN=ON)")
        if tvm.get_global_func("runtime.tensorrt_runtime_create", allow_missing=True) is None:
            return (f"TVM {_tvm_version()} was built without the TensorRT runtime "
                    "(runtime.tensorrt_runtime_create is not registered; needs USE_TENSORRT_RUNTIME=ON)")
        return _cuda_reason()

    def device(self):
        import tvm

        return tvm.cuda(0)

    def build(self, mod, partitioned) -> Built:
        from tvm import relax

        t0 = time.perf_counter()
        offloaded = relax.transform.RunCodegen()(partitioned)
        ex = TVMCUDA().build(offloaded).executable
        return Built(ex, time.perf_counter() - t0)


BUILTIN = {b.name: b for b in (TVMLLVM, TVMCUDA, TensorRT)}


def available_backends() -> dict:
    found = dict(BUILTIN)
    try:
        eps = metadata.entry_points(group="trt_harness.backends")
    except TypeError:  # pragma: no cover - Python < 3.10
        eps = metadata.entry_points().get("trt_harness.backends", [])
    for ep in eps:
        found.setdefault(ep.name, ep)
    return found


def get_backend(name: str) -> Backend:
    known = available_backends()
    if name not in known:
        raise BackendError(f"unknown backend {name!r}; known: {', '.join(sorted(known))}")
    obj = known[name]
    if isinstance(obj, metadata.EntryPoint):
        obj = obj.load()
    backend = obj() if callable(obj) else obj
    if not isinstance(backend, Backend):
        raise BackendError(f"backend {name!r} is not a harness.backends.Backend")
    return backend
