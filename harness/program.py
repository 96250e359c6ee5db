"""Relax programs: the one builder of one-op programs, partitioning, and batches.

A :class:`Program` is what every pipeline stage works on, whether it came from a table case
(:func:`build_case`), an ONNX model or a fuzzed graph: a module whose weights are bound as
constants (``mod``), the same module with weights as parameters (``source``, printable and
re-parsable TVMScript for reproducers), its inputs and weights.

A batch puts the functions of many modules into one module under distinct prefixes, so TVM
compiles (and JITs) once for many cases: :func:`merge` renames every global function of each
module (``c3_main``, ``c3_fused_relax_nn_conv2d`` ...) and the references between them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import EnvironmentProblem
from .tvmcompat import tensor_type


@dataclass
class Program:
    source: object        # IRModule, weights as parameters
    mod: object           # IRModule, weights bound as constants
    inputs: list          # numpy inputs, in parameter order
    weights: dict         # name -> numpy weight (bound into ``mod``)


def build_case(entry, case) -> Program:
    """The one-op program of a table case: ``main(inputs..., weights...)`` calling the op once."""
    from tvm import relax

    xs_np, ws_np = entry.family.data(entry, case)
    bb = relax.BlockBuilder()
    xs = [relax.Var(f"x{i}", tensor_type(x.shape, str(x.dtype))) for i, x in enumerate(xs_np)]
    ws = {n: relax.Var(n, tensor_type(w.shape, str(w.dtype))) for n, w in ws_np.items()}
    with bb.function("main", xs + list(ws.values())):
        with bb.dataflow():
            out = bb.emit(entry.family.body(entry, case, xs, ws))
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
    """``partition_for_tensorrt`` of the installed TVM (no options: see the seed findings)."""
    try:
        from tvm.relax.backend.contrib.tensorrt import partition_for_tensorrt
    except ImportError as exc:
        import tvm

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


def merge(modules: dict[str, object]):
    """One module holding every function of ``modules`` (prefix -> IRModule), each renamed with
    its prefix; ``prefix + "main"`` is the entry of each."""
    from tvm import relax
    from tvm.relax.expr_functor import PyExprMutator, mutator

    @mutator
    class _Rename(PyExprMutator):
        def __init__(self, mapping):
            super().__init__()
            self.mapping = mapping

        def visit_global_var_(self, gv):
            return self.mapping.get(gv, gv)

    bb = relax.BlockBuilder()
    for prefix, mod in modules.items():
        items = list(mod.functions_items())
        mapping = {gv: bb.add_func(func, prefix + gv.name_hint) for gv, func in items}
        rename = _Rename(mapping)
        for gv, func in items:
            new = rename.visit_expr(func) if isinstance(func, relax.Function) else func
            if new.attrs is not None and "global_symbol" in new.attrs:
                new = new.with_attr("global_symbol", prefix + gv.name_hint)
            bb.update_func(mapping[gv], new)
    return bb.get()


def signature(mod) -> tuple:
    """What TVM's compilation of ``mod`` most likely depends on: each call's op, argument dtypes and
    layouts.  Modules alike in this usually compile alike, so a batch that fails is retried in
    groups of one signature before case by case (see :func:`harness.builds.compile_many`)."""
    from tvm import relax

    from .tvmcompat import type_of

    keys = ("data_layout", "kernel_layout", "layout", "out_layout")
    sig = set()
    for _gv, func in mod.functions_items():
        if not isinstance(func, relax.Function):
            continue
        for block in getattr(func.body, "blocks", ()):
            for binding in block.bindings:
                call = binding.value
                if not isinstance(call, relax.Call) or not hasattr(call.op, "name"):
                    continue
                attrs = call.attrs
                layouts = tuple(str(getattr(attrs, k)) for k in keys if attrs is not None and hasattr(attrs, k))
                dtypes = tuple(str(getattr(type_of(a), "dtype", "")) for a in call.args)
                sig.add((str(call.op.name), dtypes, layouts))
    return tuple(sorted(sig))


def run(executable, inputs: list, device=None, entry: str = "main") -> list[np.ndarray]:
    """Run ``entry`` on the VM; always returns a flat list of NumPy outputs."""
    import tvm
    from tvm import relax

    device = device or tvm.cpu()
    vm = executable if isinstance(executable, relax.VirtualMachine) else relax.VirtualMachine(executable, device)
    out = vm[entry](*[tvm.runtime.tensor(np.require(x, requirements="C"), device) for x in inputs])
    return flatten_outputs(out)


def flatten_outputs(out) -> list[np.ndarray]:
    if hasattr(out, "numpy"):
        return [out.numpy()]
    result = []
    for item in out:
        result.extend(flatten_outputs(item))
    return result
