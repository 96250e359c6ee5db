"""Backends: the systems a program runs on.  Each says whether it can run here and, if not, why.

Built in: ``tvm-llvm`` (TVM's CPU build), ``tvm-cuda`` (TVM's own CUDA build, the reference on a
GPU) and ``tensorrt`` (the partitioned program through ``RunCodegen`` and a CUDA build, as TVM's
own Relax TensorRT tests do).  Third parties add backends through the ``trt_harness.backends``
entry point group: the entry point names a zero-argument callable returning a :class:`Backend`.

A backend runs one form of a program (``variant``): TVM's builds run the ``original`` program;
the TensorRT backend runs the ``partitioned`` one.  The preserve check runs TVM's build of the
partitioned program too, with its TensorRT functions left to TVM (:func:`program.strip_codegen`).
"""
from __future__ import annotations

from importlib import metadata

from ..errors import BackendError


class Backend:
    name = "?"
    device_kind = "cpu"          # "cpu" | "cuda": where it runs (expectations can be limited to it)
    target = "llvm"              # what tvm.compile targets
    variant = "original"         # the form of the program it runs by default
    batchable = True             # many programs may be compiled as one module
    enable = ""                  # what makes it run where it cannot (a build flag, a GPU...), if known

    def unavailable_reason(self) -> str | None:
        """None when the backend can run here, else exactly why not."""
        raise NotImplementedError

    def device(self):
        import tvm

        from .. import gpu

        return tvm.cuda(gpu.assigned_index()) if self.device_kind == "cuda" else tvm.cpu()

    def prepare(self, variant: str, program, partitioned):
        """The module to compile for ``variant`` ("original" or "partitioned")."""
        from .. import program as P

        if variant == "original":
            return program.mod
        return P.strip_codegen(partitioned)

    def compile_target(self) -> str:
        """What ``tvm.compile`` targets, as a string (the build cache keys on it).  A CUDA build
        takes the exact target TVM parsed for device 0 in the controller's GPU probe
        (:func:`harness.gpu.cuda_target`), so no builder starts CUDA to parse "cuda"; where the
        probe has none (no GPU), ``target`` as it is."""
        if self.device_kind == "cuda" and self.target == "cuda":
            from .. import gpu

            return gpu.cuda_target() or self.target
        return self.target

    def compile(self, mod):
        import tvm

        target = self.compile_target()
        if target == self.target:
            return tvm.compile(mod, target=target)   # TVM's default pipeline (and GPU schedules)
        # In the target's scope: TVM's NVRTC callback (tvm.support.nvcc) takes the arch from
        # Target.current() and otherwise asks tvm.cuda(0), which starts CUDA.
        with tvm.target.Target(target) as scoped:
            return tvm.compile(mod, target=scoped)

    def run(self, vm, inputs: list, device, entry: str = "main") -> list:
        """Run ``entry`` of a loaded build on ``inputs``; a flat list of NumPy outputs."""
        from .. import program

        return program.run(vm, inputs, device, entry=entry)


def _cuda_reason() -> str | None:
    from .. import gpu

    return gpu.unavailable_reason()


class TVMLLVM(Backend):
    name = "tvm-llvm"

    def unavailable_reason(self):
        return None


class TVMCUDA(Backend):
    name = "tvm-cuda"
    device_kind = "cuda"
    target = "cuda"

    def unavailable_reason(self):
        return _cuda_reason()


class TensorRT(Backend):
    name = "tensorrt"
    device_kind = "cuda"
    target = "cuda"
    variant = "partitioned"
    batchable = False            # RunCodegen attaches one external module per region
    #: What makes this backend run (said where it cannot: the skip reason, the report's banner).
    enable = ("build TVM with USE_TENSORRT_CODEGEN=ON and USE_TENSORRT_RUNTIME=ON (TensorRT installed), "
              "and run on a machine with a CUDA GPU")

    def unavailable_reason(self):
        import tvm

        if tvm.get_global_func("relax.ext.tensorrt", allow_missing=True) is None:
            return (f"TVM {tvm.__version__} was built without the TensorRT codegen "
                    f"(relax.ext.tensorrt is not registered); to run it: {self.enable}")
        if tvm.get_global_func("runtime.tensorrt_runtime_create", allow_missing=True) is None:
            return (f"TVM {tvm.__version__} was built without the TensorRT runtime "
                    "(runtime.tensorrt_runtime_create is not registered; needs USE_TENSORRT_RUNTIME=ON)")
        return _cuda_reason()

    def prepare(self, variant, program, partitioned):
        from tvm import relax

        if variant != "partitioned":
            raise BackendError("the tensorrt backend runs partitioned programs only")
        return relax.transform.RunCodegen()(partitioned)


BUILTIN = {b.name: b for b in (TVMLLVM, TVMCUDA, TensorRT)}


def available_backends() -> dict:
    found = dict(BUILTIN)
    for ep in metadata.entry_points(group="trt_harness.backends"):
        found.setdefault(ep.name, ep)
    return found


_CACHE: dict[str, Backend] = {}


def get_backend(name: str) -> Backend:
    if name in _CACHE:
        return _CACHE[name]
    known = available_backends()
    if name not in known:
        raise BackendError(f"unknown backend {name!r}; known: {', '.join(sorted(known))}")
    obj = known[name]
    if isinstance(obj, metadata.EntryPoint):
        obj = obj.load()
    backend = obj() if callable(obj) else obj
    if not isinstance(backend, Backend):
        raise BackendError(f"backend {name!r} is not a harness.backends.Backend")
    _CACHE[name] = backend
    return backend
