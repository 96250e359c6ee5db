"""The named predicates an expectation's ``when`` can name: each a function of a case, following the
TVM code its departure comes from (the TVM source is cited on the entry in expectations.toml).
"""
from __future__ import annotations

import os
from typing import Callable


# -- named case predicates -----------------------------------------------------------------------
PREDICATES: dict[str, Callable] = {}


def predicate(name: str):
    """Register a case predicate ``fn(case) -> bool`` under ``name`` for ``when = [...]``."""
    def deco(fn):
        PREDICATES[name] = fn
        return fn
    return deco


@predicate("split-empty-piece")
def _split_empty_piece(case) -> bool:
    """split yields at least one empty piece (an index at 0 or at the axis length, or repeated)."""
    a = case.attrs
    n = case.shapes[0][a["axis"]]
    ios = a["indices_or_sections"]
    if isinstance(ios, int):
        return n == 0
    bounds = [0, *[min(max(i + n if i < 0 else i, 0), n) for i in ios], n]
    return any(hi <= lo for lo, hi in zip(bounds, bounds[1:]))


@predicate("output-size-not-1x1")
def _output_not_1x1(case) -> bool:
    """adaptive pooling whose output is not 1x1 (output_size None keeps the input size)."""
    out = case.attrs.get("output_size")
    if out is None:
        layout = case.attrs.get("layout", "NCHW")
        shape = case.shapes[0]
        out = [shape[layout.index("H")], shape[layout.index("W")]]
    return list(out) != [1, 1]


@predicate("axis-none")
def _axis_none(case) -> bool:
    """The reduction/squeeze axis (or the transpose axes) is None: all axes."""
    return case.attrs.get("axis", case.attrs.get("axes", 0)) is None


@predicate("reduce-to-scalar")
def _reduce_to_scalar(case) -> bool:
    """A reduction over every axis without keepdims, of more than one element: a rank-0 result."""
    import math

    shape = case.shapes[0]
    axis = case.attrs.get("axis")
    every = axis is None or len({a % len(shape) for a in axis}) == len(shape)
    return every and not case.attrs.get("keepdims", False) and math.prod(shape) > 1


# -- TVM's CUDA build, settled where it is raised ------------------------------------------------
#: an H100's CUDA target (the GPU of the sweep): TVM's default GPU pipeline picks its dlight rules
#: by target, and tvm.compile(target="cuda") on a machine without a GPU would assume sm_50
CUDA_TARGET = {"kind": "cuda", "arch": "sm_90", "max_shared_memory_per_block": 49152,
               "max_threads_per_block": 1024, "thread_warp_size": 32}
_CUDA_BUILDS: dict = {}


def cuda_build_error(case):
    """Where ``tvm.compile(<the case's one-op program>, target=CUDA_TARGET)`` raises before it
    generates device code, or None when it gets there: ``(exception type, file under tvm/,
    function, line)`` of the innermost frame of TVM's Python code (the schedule rule or pass that
    raised).  The build stops where TVM would generate the CUDA code (:func:`_before_device_code`):
    the departures named here are all raised earlier (dlight's rules, the TIR passes), and a machine
    with a GPU would otherwise pay NVRTC for each case (on an H100 host, gaps of about 6 s a unit in
    the pytest process, between units), so the answer is the same, and as cheap, on every machine.
    Cached per case."""
    import traceback

    from . import trace

    key = (case.case_id, json_key(case))
    if key in _CUDA_BUILDS:
        return _CUDA_BUILDS[key]
    import tvm

    from .program import build_case
    from .table import BY_NAME

    prog = build_case(BY_NAME[case.op], case)
    where = None
    with trace.span("predicate build", op=case.op):
        try:
            with tvm.target.Target(CUDA_TARGET) as target, _before_device_code():
                tvm.compile(prog.mod, target=target)
        except Exception as exc:  # noqa: BLE001 - the failure is the datum
            if _STOPPED not in str(exc):
                frames = [f for f in traceback.extract_tb(exc.__traceback__) if f"{os.sep}tvm{os.sep}" in f.filename]
                inner = frames[-1] if frames else None
                path = inner.filename.split(f"{os.sep}tvm{os.sep}", 1)[-1] if inner else "?"
                checks = [ln.strip() for ln in str(exc).splitlines() if "Check failed" in ln]
                where = (type(exc).__name__, path.replace(os.sep, "/"), inner.name if inner else "?",
                         inner.lineno if inner else 0, checks[0][:300] if checks else "")
    _CUDA_BUILDS[key] = where
    return where


_STOPPED = "tvm-trt-harness: the build stops before TVM generates CUDA code"


def _before_device_code():
    """TVM's ``target.build.cuda`` (the CUDA code generator and NVRTC) replaced, for the block's
    duration, by one that raises :data:`_STOPPED`: the build runs every pass, then stops.  Only
    :func:`cuda_build_error` uses it, in processes that build nothing for CUDA at the same time (the
    pytest side, or a tool).  A TVM without CUDA codegen raises where it always did."""
    from .tvmcompat import global_func_replaced

    def stop(mod, target):
        raise RuntimeError(_STOPPED)

    return global_func_replaced("target.build.cuda", lambda real: stop)


def json_key(case) -> str:
    return f"{case.dtype}|{case.shapes}|{case.attrs_key}|{case.weights}"


def cuda_unscheduled(case) -> tuple:
    """The PrimFuncs of the case's program that no dlight rule schedules in TVM's default CUDA
    pipeline (tvm/relax/backend/cuda/pipeline.py:legalize_passes, dl.ApplyDefaultSchedule with
    Matmul, GEMV, Reduction, GeneralReduction and Fallback): ApplyDefaultSchedule.transform_module
    (tvm/s_tir/dlight/base/transform.py) leaves a function every rule declines as it was, without
    ``tirx.is_scheduled`` and without a thread binding.  No GPU needed.  Cached per case."""
    import tvm

    mod = cuda_legalized(case)
    return () if mod is None else tuple(sorted(gv.name_hint for gv, f in mod.functions.items()
                                               if isinstance(f, tvm.tirx.PrimFunc) and "tirx.is_scheduled" not in f.attrs))


def cuda_legalized(case):
    """The case's program after TVM's default CUDA pipeline's library dispatch and legalize passes
    (dlight's default schedule included), for an H100's target (CUDA_TARGET), or None where those
    passes raise (another departure: cuda_build_error).  No GPU needed.  Cached per case."""
    key = ("legalized", case.case_id, json_key(case))
    if key not in _CUDA_BUILDS:
        import tvm
        from tvm.relax.backend.cuda import pipeline as cuda_pipeline

        from .program import build_case
        from .table import BY_NAME

        target = tvm.target.Target(CUDA_TARGET)
        try:
            with target:
                passes = cuda_pipeline.library_dispatch_passes(target) + cuda_pipeline.legalize_passes(target)
                _CUDA_BUILDS[key] = tvm.transform.Sequential(passes)(build_case(BY_NAME[case.op], case).mod)
        except Exception:  # noqa: BLE001 - the build stops before: another departure (cuda_build_error)
            _CUDA_BUILDS[key] = None
    return _CUDA_BUILDS[key]


@predicate("cuda-unscheduled-runs-on-host")
def _cuda_unscheduled(case) -> bool:
    """Every dlight rule declines one of the program's PrimFuncs (:func:`cuda_unscheduled`), e.g. the
    nested, variable-extent reduction topi's adaptive pooling makes where the windows have two
    sizes (Fallback's normalize_prim_func returns None on it).  Nothing later binds its loops to
    threads, and tvm/s_tir/pipeline.py's VerifyMemory lets it through, so tvm.compile(target=
    "cuda") makes it host code (an LLVM module, no CUDA kernel) that reads and writes the CUDA
    tensors' device pointers: the process dies of SIGSEGV."""
    return bool(cuda_unscheduled(case))


# dlight's GEMV rule (tvm/s_tir/dlight/gpu/gemv.py, GEMV.apply) takes every reduction block that
# analysis/gemv.py:is_gemv calls a GEMV (a reduction X += Y where some read buffer uses fewer,
# but some, of the block's iterators): matmuls and dense layers with a unit dimension, and grouped
# or pointwise convolutions.  Its schedule then fails in one of three places, each one predicate.
# Which one depends on the extents after TVM folded the unit iterators away and on the tile sizes
# GEMV.apply picks, so the predicates ask the build itself where it stops (on CPU; no GPU needed).
@predicate("cuda-gemv-normalize-no-reduction")
def _gemv_normalize(case) -> bool:
    """tvm/s_tir/dlight/analysis/gemv.py:normalize `assert r_loops` (or `assert s_loops`): the block
    is a GEMV but no reduction (spatial) iterator is left in its dominant read, e.g. a reduction of
    extent 1 folded away."""
    w = cuda_build_error(case)
    return w is not None and w[0] == "AssertionError" and w[1:3] == ("s_tir/dlight/analysis/gemv.py", "normalize")


@predicate("cuda-gemv-inner-reduction-tile")
def _gemv_inner_tile(case) -> bool:
    """tvm/s_tir/dlight/gpu/gemv.py:GEMV.apply (sch_inner_reduction) `assert sch.get(ts_o).extent.value
    == 1`: the spatial tile does not fit one thread tile; the extent is another constant
    (AssertionError) or not a constant at all (AttributeError: 'FloorDiv' object has no attribute
    'value')."""
    w = cuda_build_error(case)
    return (w is not None and w[0] in ("AssertionError", "AttributeError")
            and w[1:3] == ("s_tir/dlight/gpu/gemv.py", "apply"))


@predicate("cuda-reduction-cross-thread")
def _reduction_cross_thread(case) -> bool:
    """GEMV.apply declines the block and dlight's Reduction rule (tvm/s_tir/dlight/gpu/reduction.py)
    schedules it with a cross-thread reduction that LowerCrossThreadReduction rejects (src/s_tir/transform/lower_cross_thread_reduction.cc:
    'Check failed: n_deepest_reduction_loops == reduction_loops.size() ... Cross-thread reduction
    requires all the reduction-related loops to be the deepest'), seen as 'Error in pass: _pipeline'."""
    w = cuda_build_error(case)
    return w is not None and w[0] == "ValueError" and "Cross-thread reduction requires" in w[4]


def cuda_gemv_reads(case):
    """How dlight's GEMV rule sees the case's block in TVM's default CUDA pipeline, or None where the
    rule does not schedule it through ``sch_inner_reduction`` over three iterators: ``(iterator
    names [B, S, R], the iterators each read buffer's indices use)``.  It replays the rule's own
    steps (tvm/s_tir/dlight/gpu/gemv.py:GEMV.apply: normalize_prim_func, try_inline_contiguous_spatial,
    is_gemv, normalize) on the legalized, fused program, after the Matmul rule, which comes first in
    the pipeline, declined the block.  No GPU needed.  Cached per case."""
    key = ("gemv-reads", case.case_id, json_key(case))
    if key in _CUDA_BUILDS:
        return _CUDA_BUILDS[key]
    import tvm
    from tvm.relax.backend.cuda import pipeline as cuda_pipeline
    from tvm.s_tir import dlight as dl
    from tvm.s_tir.dlight import analysis as dla
    from tvm.s_tir.dlight import base as dlb
    from tvm.s_tir.dlight.gpu import gemv as dlg

    from .program import build_case
    from .table import BY_NAME

    target = tvm.target.Target(CUDA_TARGET)
    result = None
    with target:
        passes = cuda_pipeline.library_dispatch_passes(target) + cuda_pipeline.legalize_passes(target)[:-1]
        mod = tvm.transform.Sequential(passes)(build_case(BY_NAME[case.op], case).mod)
        for func in mod.functions.values():
            if not isinstance(func, tvm.tirx.PrimFunc) or dl.gpu.Matmul().apply(func, target, False) is not None:
                continue
            sch = tvm.s_tir.Schedule(func)
            infos = dlb.try_inline_contiguous_spatial(sch, dla.normalize_prim_func(sch))
            if not infos or len(infos) > 2 or len(infos[0].iters) != 3 or dlg.is_gemv(sch, infos[0]) is None:
                continue
            try:
                inner = dla.gemv.normalize(sch, infos[0])
            except AssertionError:             # the build stops here (cuda-gemv-normalize-no-reduction)
                continue
            if not inner:
                continue                       # outer reduction: another schedule
            block = sch.get(infos[0].block_rv)        # normalized: spatial iterators merged, then reduction
            spatial = [iv.var.name for iv in block.iter_vars if iv.iter_type == 0]      # IterVar.DataPar
            reduce_ = [iv.var.name for iv in block.iter_vars if iv.iter_type == 2]      # IterVar.CommReduce
            if len(spatial) != 2 or len(reduce_) != 1:
                continue                       # [S, R] = [S, R] * [R]: no batch iterator to miss
            names = spatial + reduce_
            reads = []
            for region in block.reads:
                used = {v.name for rng in region.region for v in tvm.tirx.analysis.undefined_vars(rng.min)}
                source = region.buffer if hasattr(region, "buffer") else region.source   # TVM 0.27: TensorRegion
                reads.append((getattr(source, "name", str(source)), {v for v in names if v in used}))
            result = (names, reads)
            break
    _CUDA_BUILDS[key] = result
    return result


@predicate("cuda-gemv-vector-without-batch")
def _gemv_vector_without_batch(case) -> bool:
    """dlight's GEMV rule schedules the block as ``[B, S, R] = [B, S, R] * [B, R]`` (its own comment,
    tvm/s_tir/dlight/gpu/gemv.py:GEMV.apply), but the operand it takes for the vector is indexed by
    the spatial iterator S and not by the batch iterator B (``[S, R]``): analysis/gemv.py:is_gemv only
    asks that some read uses fewer iterators than the block.  sch_inner_reduction then loads that
    operand as if it followed B, and TVM's CUDA build returns wrong values.  Reached by grouped
    convolutions whose weight follows the output channel (S) but not the batch or output column (B)
    and by batch_matmul whose second operand broadcasts over the leading batch axis."""
    seen = cuda_gemv_reads(case)
    if seen is None:
        return False
    (b, s, r), reads = seen
    return any(s in used and b not in used for _, used in reads)


def cuda_unguarded_write_backs(case) -> tuple:
    """The cross-thread reductions of the case's CUDA build whose result is written back without the
    predicate of the block they came from: ``("<func>:<block>", ...)``.  dlight's Reduction rule
    (tvm/s_tir/dlight/gpu/reduction.py) tiles the spatial axis over threads and guards the tile's
    overhang with a T.where (e.g. 5 threads x 2 for 9 columns: ``x * 2 + i < 9``);
    LowerCrossThreadReduction (src/s_tir/transform/lower_cross_thread_reduction.cc) splits the block
    into ``<block>_in_thread`` (which keeps the T.where), ``_cross_thread`` and ``_write_back``, whose
    only predicate is ``threadIdx == 0``: the overhanging thread stores past its row, into the next
    row's first element (a race with the thread that owns it) or past the output buffer.  Replayed on
    CPU (the default CUDA pipeline's legalize passes, then the lowering pass).  Cached per case."""
    key = ("write-back", case.case_id, json_key(case))
    if key in _CUDA_BUILDS:
        return _CUDA_BUILDS[key]
    import re

    import tvm

    found = []
    mod = cuda_legalized(case)
    try:
        with tvm.target.Target(CUDA_TARGET):
            mod = tvm.s_tir.transform.LowerCrossThreadReduction()(mod) if mod is not None else None
    except Exception:  # noqa: BLE001 - the build stops before: another departure (cuda_build_error)
        mod = None
    if mod is None:
        _CUDA_BUILDS[key] = ()
        return ()
    for gv, func in mod.functions.items():
        if not isinstance(func, tvm.tirx.PrimFunc):
            continue
        where, binds, block = {}, {}, None
        for line in func.script().splitlines():
            m = re.search(r'T\.sblock\("([^"]+)"\)', line)
            text = line.strip()
            if m:
                block = m.group(1)
            elif block and text.startswith("T.where("):
                where[block] = text[len("T.where("):-1]
            elif block and "= T.axis." in text:          # the block's iterators, bound to loop variables
                binds.setdefault(block, set()).update(re.findall(r"(?<![.\w])([a-z_]\w*)", text.split("=", 1)[1]))
        for name, guard in where.items():
            base = name[:-len("_in_thread")] if name.endswith("_in_thread") else None
            back = f"{base}_write_back"
            if base is None or back not in where or guard in where[back]:
                continue
            # a guard on a loop the write-back's output index follows (a spatial overhang); a guard on the
            # reduction's own loops (which the write-back does not run) is rightly left behind
            if set(re.findall(r"(?<![.\w])([a-z_]\w*)", guard)) & binds.get(back, set()):
                found.append(f"{gv.name_hint}:{base}")
    _CUDA_BUILDS[key] = tuple(found)
    return _CUDA_BUILDS[key]


@predicate("cuda-write-back-unguarded")
def _cuda_write_back_unguarded(case) -> bool:
    """A cross-thread reduction of the CUDA build writes its result back without its block's
    predicate (:func:`cuda_unguarded_write_backs`): the thread past the output's edge stores into
    the next row or past the buffer.  Whether the wrong store lands last (a wrong element) or first
    (overwritten by the right one) depends on the order the GPU runs the blocks in."""
    return bool(cuda_unguarded_write_backs(case))


@predicate("normalizes-over-several")
def _normalizes_over_several(case) -> bool:
    """layer_norm over axes holding more than one element (over one element, x - mean is 0 and
    gamma multiplies nothing)."""
    import math

    shape = case.shapes[0]
    return math.prod(shape[a] for a in case.attrs["axes"]) > 1


@predicate("pad-edge-nonzero")
def _pad_edge_nonzero(case) -> bool:
    """nn.pad in edge mode that pads something (all-zero widths copy the input)."""
    return case.attrs.get("pad_mode") == "edge" and any(int(w) > 0 for w in case.attrs.get("pad_width", []))


