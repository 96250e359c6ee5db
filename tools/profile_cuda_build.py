"""Where a builder's CUDA build goes: the harness's own path for one unit of each op, in phases.

On an H100 host the builders bound every GPU profile (the card is busy 2-5 % of a run), and a CUDA
module of five programs took 1.96 s of compile there (docs/timing.md, eighth session) against
0.07-0.27 s on a CPU-only machine, where TVM never calls NVRTC.  This tool splits that time for a
chunk of each op's ci cases, built as a builder builds them (harness.program.merge, tvm.compile in the
tvm-cuda backend's target's scope, as its ``compile`` does; the build cache's export and load; the
cases whose own CUDA build fails, a known departure, are left out):

    python tools/profile_cuda_build.py                          # a few ops, 5 cases each
    python tools/profile_cuda_build.py --ops nn.conv2d add --cases 5 --jsonl out.jsonl

Phases (seconds, per module): ``compile`` (the whole ``tvm.compile``), of which ``cuda_codegen``
(TVM's ``target.build.cuda``, NVRTC included where TVM's CUDA runtime is loaded), of which
``nvrtc`` (``tvm_callback_cuda_compile``), and ``host_codegen`` (``target.build.llvm``); the rest
is ``lowering`` (Relax and TIR passes, dlight).  Then ``export`` (``export_library``: the shared
object the runner loads) and ``load``.  Each hook is TVM's own function wrapped for the call and
registered again afterwards.  Host wall clock: for phases of the build, never for device time.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

HOOKS = {"cuda_codegen": "target.build.cuda", "nvrtc": "tvm_callback_cuda_compile", "host_codegen": "target.build.llvm"}
DEFAULT_OPS = ("add", "nn.relu", "nn.softmax", "mean", "nn.dense", "nn.conv2d")


@contextlib.contextmanager
def timed_hooks(spent: dict):
    """TVM's global functions in HOOKS wrapped to add their time to ``spent`` (name -> seconds,
    and ``<name>_calls``), for the block's duration."""
    from harness.tvmcompat import global_func_replaced

    try:
        import tvm.support.nvcc  # noqa: F401  registers tvm_callback_cuda_compile, as a CUDA build does
    except ImportError:
        pass

    def timer(phase):
        def wrap(fn):
            def timed(*args):
                t0 = time.perf_counter()
                try:
                    return fn(*args)
                finally:
                    spent[phase] = spent.get(phase, 0.0) + time.perf_counter() - t0
                    spent[f"{phase}_calls"] = spent.get(f"{phase}_calls", 0) + 1
            return timed
        return wrap

    with contextlib.ExitStack() as stack:
        for phase, name in HOOKS.items():
            stack.enter_context(global_func_replaced(name, timer(phase)))
        yield


def profile_op(op: str, cases: int, seed: int = 0) -> dict:
    """One unit of ``op``'s ci cases (its first ``cases``), compiled for CUDA as a builder does."""
    import tvm

    from harness import plan, profiles, program
    from harness.backends import get_backend
    from harness.table import BY_NAME

    class _Settings:
        profile, cases, build_cache, ops = "ci", None, None, None

    _Settings.seed = seed
    profiles.use("ci", cases=None)
    from harness.predicates import CUDA_TARGET, cuda_build_error

    entry = BY_NAME[op]
    drawn = [c for c in plan.cached_cases([entry], _Settings)[op] if cuda_build_error(c) is None][:cases]
    backend = get_backend("tvm-cuda")
    mod = program.merge({f"c{i}o_": backend.prepare("original", program.build_case(entry, c), None)
                         for i, c in enumerate(drawn)})
    probed = backend.compile_target() != backend.target       # the GPU probe's target (a GPU host)
    target = tvm.target.Target(backend.compile_target() if probed else CUDA_TARGET)
    spent: dict = {}
    t0 = time.perf_counter()
    with timed_hooks(spent), target:
        ex = tvm.compile(mod, target=target)    # what backend.compile does, in the target's scope
    row = {"op": op, "programs": len(drawn), "target": str(target) + ("" if probed else " (an H100's; no GPU here)"),
           "compile": time.perf_counter() - t0}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "unit.so")
        t1 = time.perf_counter()
        ex.export_library(path)
        row["export"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        try:
            tvm.runtime.load_module(path)
            row["load"] = time.perf_counter() - t2
        except Exception as exc:  # noqa: BLE001 - e.g. no CUDA loader on a CPU-only machine
            row["load"] = None
            row["load_error"] = str(exc).strip().splitlines()[-1][:200]
    for phase in HOOKS:
        row[phase] = spent.get(phase, 0.0)
        row[f"{phase}_calls"] = spent.get(f"{phase}_calls", 0)
    row["lowering"] = row["compile"] - row["cuda_codegen"] - row["host_codegen"]
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ops", nargs="+", default=list(DEFAULT_OPS), help="table ops (default: %(default)s)")
    p.add_argument("--cases", type=int, default=5, help="cases per module, as a unit of the ci profile has")
    p.add_argument("--jsonl", help="also write one JSON object per op here")
    args = p.parse_args(argv)
    from harness.table import BY_NAME

    bad = [op for op in args.ops if op not in BY_NAME or not BY_NAME[op].runnable]
    if bad:
        print(f"not a runnable table op: {', '.join(bad)}", file=sys.stderr)
        return 2
    rows = [profile_op(op, args.cases) for op in args.ops]
    cols = ("compile", "lowering", "cuda_codegen", "nvrtc", "host_codegen", "export", "load")
    print(f"{'op':22s} {'progs':>5s} " + " ".join(f"{c:>12s}" for c in cols) + "  (seconds a module)")
    for r in rows:
        cells = " ".join(f"{r[c]:12.3f}" if r[c] is not None else f"{'-':>12s}" for c in cols)
        print(f"{r['op']:22s} {r['programs']:5d} {cells}")
    if not any(r["nvrtc_calls"] for r in rows):
        print("NVRTC was not called: TVM compiles CUDA source only where its CUDA runtime is loaded "
              "(a machine with a GPU); here the modules keep their source")
    if args.jsonl:
        with open(args.jsonl, "w") as fh:
            for r in rows:
                fh.write(json.dumps(r) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
