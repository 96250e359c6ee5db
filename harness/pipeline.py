"""The pipeline every program goes through, whatever it came from (a table case, an ONNX model,
a fuzzed graph).  Its stages, in order:

1. **build**     the Relax program (:class:`harness.program.Program`);
2. **partition** ``partition_for_tensorrt`` (and the rules' expected offload of every call);
3. **compile**   per backend and variant, many programs at once (:mod:`harness.builds`);
4. **run**       each build on the program's inputs;
5. **compare**   outputs against each other or a reference (:mod:`harness.compare`), in the
                 checks (:mod:`harness.checks`).

:class:`Artifacts` holds what the stages made for one program; each is made once, whichever checks
need it (one CUDA build serves the reference check and the tensorrt check).  A stage that fails
records its one-line reason under its name, and the checks that need it report that reason.
TVM raising is a departure of TVM; only a bug of the harness itself propagates.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from . import trace
from .builds import BuildCache, Built, CompileFailure, compile_many, one_line
from .errors import EnvironmentProblem
from .program import Program

ORIGINAL, PARTITIONED = "original", "partitioned"
STAGES = ("build", "partition", "compile", "run", "compare")


class StageFailure(Exception):
    """TVM failed at a stage on a program it had accepted; ``str()`` is the one-line reason."""


class RunnerFailure(StageFailure):
    """The case killed the runner that ran it (twice: once more in a fresh runner), or hung it: an
    ``error`` record of kind ``crash`` or ``timeout`` (:mod:`harness.runner`)."""

    def __init__(self, reason: str, kind: str = "crash") -> None:
        super().__init__(reason)
        self.kind = kind


class DeviceFailure(StageFailure):
    """The GPU failed under the program (out of memory, lost, ECC): not a departure of TVM.  The
    check becomes an ``error`` record of kind ``device`` and the worker is restarted."""


# CUDA's errors that say the card itself is gone for this run (a runner gives its card up on them:
# harness.runner), and all those that say the device, not the program, failed (driver and runtime
# API spellings; out of memory and a hardware stack error leave the card usable by a fresh context).
CARD_GONE = ("no CUDA-capable device", "cudaErrorNoDevice", "CUDA_ERROR_NO_DEVICE",
             "cudaErrorDevicesUnavailable", "CUDA_ERROR_DEVICE_UNAVAILABLE", "fallen off the bus",
             "cudaErrorECCUncorrectable", "CUDA_ERROR_ECC_UNCORRECTABLE")
DEVICE_ERRORS = ("out of memory", "CUDA_ERROR_OUT_OF_MEMORY", "cudaErrorMemoryAllocation", *CARD_GONE,
                 "CUDA_ERROR_DEVICE_NOT_LICENSED", "cudaErrorHardwareStackError", "CUDA_ERROR_HARDWARE_STACK_ERROR")


def _says(reason: str, errors: tuple) -> bool:
    low = reason.lower()
    return any(e.lower() in low for e in errors)


def failure(reason: str) -> StageFailure:
    """A stage's failure: :class:`DeviceFailure` when ``reason`` is one of CUDA's device errors."""
    return (DeviceFailure if _says(reason, DEVICE_ERRORS) else StageFailure)(reason)


def card_gone(reason: str) -> bool:
    """Whether ``reason`` says the card itself is gone (:data:`CARD_GONE`)."""
    return _says(reason, CARD_GONE)


@dataclass
class Artifacts:
    key: str                                        # names the program (case id, model name)
    program: Program | None = None
    partitioned: object | None = None
    offload: object | None = None                  # records.Offload: expected against actual
    failures: dict[str, str] = field(default_factory=dict)        # stage -> reason
    built: dict[tuple, Built] = field(default_factory=dict)       # (variant, backend) -> build
    outputs: dict[tuple, object] = field(default_factory=dict)    # (variant, backend) -> list | StageFailure
    stage_s: dict[str, float] = field(default_factory=dict)
    timings: dict[tuple, object] = field(default_factory=dict)   # (variant, backend) -> records.Timing
    skip: str | None = None                         # why nothing can be checked (e.g. no partitioner)
    ran_on: dict[tuple, str] = field(default_factory=dict)       # (variant, backend) -> runner's device

    def need(self, stage: str):
        """The artefact of ``stage`` ("build" or "partition"), or StageFailure with its reason."""
        if self.skip:
            raise EnvironmentProblem(self.skip)
        if stage in self.failures:
            raise StageFailure(self.failures[stage])
        if stage == "partition" and self.partitioned is None:
            raise StageFailure("the program was not partitioned (a bug of the harness: no check asked for it)")
        return self.program if stage == "build" else self.partitioned

    def output(self, variant: str, backend: str) -> list:
        got = self.outputs.get((variant, backend))
        if got is None:
            raise StageFailure(f"no {variant} output of {backend} was computed")   # a harness bug
        if isinstance(got, Exception):
            raise got
        return got

    def rule(self, op: str | None, *, trt_version, implicit_batch: bool) -> str | None:
        """The rule id of the decision on ``op`` (the case's own op; else the last decision)."""
        if self.offload is not None:
            decisions = [(d.op, d.rule) for d in self.offload.decisions]
        elif self.program is not None:   # not partitioned (e.g. the reference check alone): ask the rules
            from . import rules
            from .offload import all_calls, op_name

            decisions = [(op_name(c), rules.decide(c, trt_version=trt_version, implicit_batch=implicit_batch).rule)
                         for c in all_calls(self.program.mod)]
        else:
            return None
        for name, rule in decisions:
            if name == op:
                return rule
        return decisions[-1][1] if decisions else None

    def _timed(self, stage: str, t0: float) -> None:
        self.stage_s[stage] = self.stage_s.get(stage, 0.0) + time.perf_counter() - t0


def prepare(key: str, make: Callable[[], Program]) -> Artifacts:
    """Stage 1: build the program."""
    art = Artifacts(key)
    t0 = time.perf_counter()
    try:
        art.program = make()
    except EnvironmentProblem as exc:
        art.skip = str(exc)
    except Exception as exc:  # TVM refusing the program it was given (the reason names the error)
        art.failures["build"] = f"build the Relax program: {one_line(exc)}"
    art._timed("build", t0)
    return art


def partition(art: Artifacts, *, trt_version, implicit_batch: bool, partitioner: Callable | None = None) -> None:
    """Stage 2 (once, and only for checks that need it): partition the program and judge what was
    offloaded against the rules."""
    if art.partitioned is not None or "partition" in art.failures or art.skip or art.program is None:
        return
    from . import program
    from .offload import compare_offload

    t0 = time.perf_counter()
    try:
        art.partitioned = (partitioner or program.partition)(art.program.mod)
    except EnvironmentProblem as exc:
        art.skip = str(exc)
    except Exception as exc:
        art.failures["partition"] = f"partition_for_tensorrt: {one_line(exc)}"
    else:
        art.offload = compare_offload(art.program.mod, art.partitioned, trt_version=trt_version,
                                      implicit_batch=implicit_batch)
    art._timed("partition", t0)


def execute(arts: list[Artifacts], needs: dict[str, set], cache: BuildCache, *, retry: bool = True) -> None:
    """Stages 3-4 for many programs: compile what ``needs`` (key -> {(variant, backend)}) asks,
    one batch per backend (both variants of every program in one module), then run each."""
    from .backends import get_backend

    groups: dict[str, list[tuple[Artifacts, str]]] = {}
    for art in arts:
        for variant, backend in sorted(needs.get(art.key, ())):
            if (variant, backend) not in art.outputs:
                groups.setdefault(backend, []).append((art, variant))
    for backend_name, members in groups.items():
        backend = get_backend(backend_name)
        modules, member_of = {}, {}
        for i, (art, variant) in enumerate(members):
            slot = (variant, backend_name)
            try:
                art.need("build")
                if variant == PARTITIONED:
                    art.need("partition")
                prefix = f"c{i}{variant[0]}_"
                modules[prefix] = backend.prepare(variant, art.program, art.partitioned)
                member_of[prefix] = (art, variant)
            except (StageFailure, EnvironmentProblem) as exc:
                art.outputs[slot] = exc if isinstance(exc, StageFailure) else StageFailure(str(exc))
            except Exception as exc:
                art.outputs[slot] = StageFailure(f"lower the {variant} module for {backend_name}: {one_line(exc)}")
        with trace.span("compile", backend=backend_name, programs=len(modules)):
            built = compile_many(backend, modules, cache, stage=f"tvm.compile({backend.target})")
        from . import runner

        with trace.span("runs", backend=backend_name, remote=runner.serves(backend.device_kind)):
            if runner.serves(backend.device_kind):     # this device's runner does the runs
                _run_remote(built, member_of, backend, backend_name, retry)
                continue
            vms: dict[int, object] = {}
            dev = backend.device() if built else None
            with _gpu_use(backend):
                _run_built(built, member_of, backend, backend_name, dev, vms)


def _take_build(art: Artifacts, slot: tuple, result) -> bool:
    """Keep a build on its program's artefacts; False (and the failure as its output) when TVM
    could not compile it."""
    if isinstance(result, CompileFailure):
        art.outputs[slot] = failure(f"{result} ({slot[0]} program)")
        return False
    art.built[slot] = result
    art.stage_s["compile"] = art.stage_s.get("compile", 0.0) + result.build_s
    return True


def _run_remote(built, member_of, backend, backend_name, retry: bool = True) -> None:
    """Stage 4 on a runner (:mod:`harness.runner`): each build's library, its entry and inputs go to
    the least loaded runner of the backend's device kind, one request per program."""
    from .runner import CardLost, RunnerDied, client

    runners = client.get()
    for prefix, result in built.items():
        art, variant = member_of[prefix]
        slot = (variant, backend_name)
        if not _take_build(art, slot, result):
            continue
        t1 = time.perf_counter()
        try:
            reply, device = runners.request(backend.device_kind, {
                "op": "run", "backend": backend_name, "path": runners.path_of(result), "entry": result.entry,
                "inputs": art.program.inputs, "key": art.key}, retry=retry)
        except CardLost:
            raise                                   # no runner left: the pair gets no record (harness.runner)
        except RunnerDied as exc:
            art.outputs[slot] = RunnerFailure(f"run {variant} on {backend_name}: {exc}", exc.kind)
        else:
            if "bug" in reply:
                raise RuntimeError(f"the runner hit a bug of the harness:\n{reply['bug']}")
            art.outputs[slot] = reply["outputs"] if reply["ok"] else failure(
                f"run {variant} on {backend_name}: {reply['error']}")
            art.ran_on[slot] = device
        art._timed("run", t1)


def _gpu_use(backend):
    """The GPU held shared while the checks run on it, so no other worker's timing runs meanwhile."""
    import contextlib

    if backend.device_kind != "cuda":
        return contextlib.nullcontext()
    from .timing.exclusive import gpu_identity, shared_gpu

    global _GPU_KEY
    if _GPU_KEY is None:
        _GPU_KEY = gpu_identity(0)["key"]
    return shared_gpu(_GPU_KEY)


_GPU_KEY = None


def _run_built(built, member_of, backend, backend_name, dev, vms) -> None:
    """Stage 4: run each build on its program's inputs."""
    for prefix, result in built.items():
        art, variant = member_of[prefix]
        slot = (variant, backend_name)
        if not _take_build(art, slot, result):
            continue
        t1 = time.perf_counter()
        try:
            vm = vms.get(id(result.executable))
            if vm is None:
                from tvm import relax

                vm = vms[id(result.executable)] = relax.VirtualMachine(result.executable, dev)
            art.outputs[slot] = backend.run(vm, art.program.inputs, dev, entry=result.entry)
        except Exception as exc:
            art.outputs[slot] = failure(f"run {variant} on {backend_name}: {one_line(exc)}")
        art._timed("run", t1)


def looped(vm, entry: str, inputs: list, dev):
    """``run(n)``: call ``entry`` of a loaded build n times back to back, then synchronise with the
    device once (what every timing calls, here and in a GPU runner)."""
    import tvm

    args = [tvm.runtime.tensor(x, dev) for x in inputs]
    fn = vm[entry]

    def run(n: int = 1):
        for _ in range(n):
            fn(*args)
        dev.sync()
    return run


def timer(art: Artifacts, variant: str, backend_name: str):
    """:func:`looped` over the build of ``(variant, backend_name)`` on its own device."""
    from tvm import relax

    from .backends import get_backend

    built = art.built[(variant, backend_name)]
    dev = get_backend(backend_name).device()
    return looped(relax.VirtualMachine(built.executable, dev), built.entry, art.program.inputs, dev)


def time_builds(items: list, **options) -> None:
    """Stage 4b: time builds (``(art, variant, backend)`` items), all of one backend together: host
    latency per call and, where CUPTI can say, device time per call, with the GPU held exclusively
    (no other worker of the run times on it meanwhile) and one CUPTI session for the lot.  Each
    :class:`harness.records.Timing`, which says how it was taken, goes to ``art.timings``."""
    from .backends import get_backend
    from .records import Stats, Timing
    from .timing import time_many

    def stats(d):
        return Stats(**{k: d[k] for k in Stats.__struct_fields__ if d.get(k) is not None}) if d else None

    by_backend: dict[str, list] = {}
    for art, variant, backend in items:
        if (variant, backend) in art.built and (variant, backend) not in art.timings:
            by_backend.setdefault(backend, []).append((art, variant))
    for backend_name, members in by_backend.items():
        backend = get_backend(backend_name)
        got = _time_remote(backend, backend_name, members, options)
        if got is None:
            got = time_many([timer(art, variant, backend_name) for art, variant in members],
                            device_kind=backend.device_kind, device_index=0, **options)
        for (art, variant), g in zip(members, got):
            lock = g.get("lock") or {}
            art.timings[(variant, backend_name)] = Timing(
                build_s=art.built[(variant, backend_name)].build_s, latency=stats(g["latency"]),
                device=stats(g["device"]), kernels_per_call=(g["device"] or {}).get("kernels_per_call"),
                method=g["method"], exclusive=g["exclusive"] if backend.device_kind == "cuda" else None,
                exclusive_note=lock.get("reason") or "", waited_s=g.get("waited_s"), gpu=(g.get("gpu") or {}).get("name"))


def _time_remote(backend, backend_name: str, members: list, options: dict) -> list | None:
    """The timings of ``members`` taken by the runner (one request for the lot), or None where no
    runner serves the backend's device.  A runner that dies under them: no figure, and why."""
    from . import runner

    if not runner.serves(backend.device_kind):
        return None
    from .runner import CardLost, RunnerDied, client

    runners = client.get()
    items = [(runners.path_of(art.built[(variant, backend_name)]), art.built[(variant, backend_name)].entry,
              art.program.inputs) for art, variant in members]
    try:
        reply, _ = runners.request(backend.device_kind, {"op": "time", "backend": backend_name, "items": items,
                                                         "options": options})
    except CardLost:
        raise
    except RunnerDied as exc:
        why = f"not timed: the runner died while timing this unit ({exc})"
        return [{"method": f"latency ({why})", "latency": None, "device": None, "exclusive": False,
                 "lock": {"reason": why}, "waited_s": None, "gpu": None}] * len(members)
    if "bug" in reply:
        raise RuntimeError(f"the runner hit a bug of the harness:\n{reply['bug']}")
    return reply["timings"]
