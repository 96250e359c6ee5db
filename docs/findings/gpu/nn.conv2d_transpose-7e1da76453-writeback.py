"""The cause of cuda-write-back-unguarded, shown without a GPU (TVM only).

TVM's default CUDA pipeline (legalize, then dlight's default schedule) tiles this conv2d_transpose's
9 output columns over 5 threads x 2 and guards the overhang with a T.where on the reduction block.
LowerCrossThreadReduction (src/s_tir/transform/lower_cross_thread_reduction.cc) splits that block
into <block>_in_thread (the guard kept), _cross_thread and _write_back, whose only predicate is
threadIdx == 0: the thread past column 8 stores into the next row's column 0 or past the buffer.
Exit status: 1 while a write-back lacks its block's guard, 0 once it has it.
Run: python nn.conv2d_transpose-7e1da76453-writeback.py
"""
import re
import sys

import tvm
from tvm.relax.backend.cuda import pipeline as cuda_pipeline

SOURCE = open(__file__.replace("-writeback.py", "-reference.py")).read().split("SOURCE = ")[1].split("             #")[0]
mod = tvm.script.from_source(eval(SOURCE))
target = tvm.target.Target({"kind": "cuda", "arch": "sm_90", "max_shared_memory_per_block": 49152,
                            "max_threads_per_block": 1024, "thread_warp_size": 32})     # an H100's / H200's
with target:
    mod = tvm.transform.Sequential(cuda_pipeline.library_dispatch_passes(target)
                                   + cuda_pipeline.legalize_passes(target))(mod)
    mod = tvm.s_tir.transform.LowerCrossThreadReduction()(mod)
bad = 0
for gv, func in mod.functions.items():
    if not isinstance(func, tvm.tirx.PrimFunc):
        continue
    where, block = {}, None
    for line in func.script().splitlines():
        m = re.search(r'T\.sblock\("([^"]+)"\)', line)
        if m:
            block = m.group(1)
        elif block and line.strip().startswith("T.where("):
            where[block] = line.strip()[len("T.where("):-1]
    for name, guard in where.items():
        if name.endswith("_in_thread"):
            back = where.get(name[:-len("_in_thread")] + "_write_back", "(no write-back block)")
            print(f"{gv.name_hint}: {name} is guarded by   {guard}\n{' ' * len(gv.name_hint)}  its write-back only by {back}")
            bad += guard not in back
print("UNGUARDED write-back: the overhanging thread stores out of its row" if bad else "every write-back is guarded")
sys.exit(1 if bad else 0)
