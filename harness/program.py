"""Build one-op Relax programs from cases, partition them, and run them with TVM."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .case import Case
from .table import OpEntry
from .tvmcompat import tensor_type


@dataclass
class Program:
    """A case's program: ``source`` takes weights as parameters (printable, re-parsable TVMScript);
    ``mod`` has them bound as constants, as a real model's weights are before partitioning."""

    source: object
    mod: object
    inputs: list
    weights: dict


def build(entry: OpEntry, case: Case) -> Program:
    from tvm import relax

    xs_np, ws_np = entry.family.data(case)
    bb = relax.BlockBuilder()
    xs = [relax.Var(f"x{i}", tensor_type(x.shape, str(x.dtype))) for i, x in enumerate(xs_np)]
    ws = {n: relax.Var(n, tensor_type(w.shape, str(w.dtype))) for n, w in ws_np.items()}
    with bb.function("main", xs + list(ws.values())):
        with bb.dataflow():
            out = bb.emit(entry.family.body(case, xs, ws))
            gv = bb.emit_output(out)
        bb.emit_func_output(gv)
    source = bb.get()
    mod = bind_weights(source, ws_np) if ws_np else source
    return Program(source=source, mod=mod, inputs=xs_np, weights=ws_np)


def bind_weights(mod, weights: dict):
    import tvm
    from tvm import relax

    return relax.transform.BindParams("main", {k: tvm.runtime.tensor(v) for k, v in weights.items()})(mod)


def partition(mod):
    try:
        from tvm.relax.backend.contrib.tensorrt import partition_for_tensorrt
    except ImportError as exc:
        import tvm

        from .errors import EnvironmentProblem

        raise EnvironmentProblem(f"TVM {tvm.__version__} has no TensorRT partitioner "
                                 f"(tvm.relax.backend.contrib.tensorrt: {exc})") from None
    return partition_for_tensorrt(mod)


def strip_codegen(mod):
    """The partitioned module with its TensorRT functions left to TVM: drop the Codegen attribute
    and lift the nested composite functions, so TVM's own pipeline can build it."""
    import tvm
    from tvm import relax

    funcs = {}
    for gv, func in mod.functions.items():
        if isinstance(func, relax.Function) and func.attrs is not None and "Codegen" in func.attrs:
            func = func.without_attr("Codegen")
        funcs[gv] = func
    return relax.transform.LambdaLift()(tvm.IRModule(funcs, attrs=mod.attrs))


def compile_module(mod, target: str = "llvm"):
    import tvm

    return tvm.compile(mod, target=target)


def run(executable, inputs: list, device=None) -> list[np.ndarray]:
    """Run ``main`` on the VM; always returns a flat list of NumPy outputs."""
    import tvm
    from tvm import relax

    device = device or tvm.cpu()
    vm = relax.VirtualMachine(executable, device)
    out = vm["main"](*[tvm.runtime.tensor(x, device) for x in inputs])
    return flatten_outputs(out)


def flatten_outputs(out) -> list[np.ndarray]:
    if hasattr(out, "numpy"):
        return [out.numpy()]
    result = []
    for item in out:
        result.extend(flatten_outputs(item))
    return result
