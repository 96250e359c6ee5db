"""Dense CPU validation of the tvm-cuda build-failure expectations (issue 22).

tvm.compile(mod, target="cuda") runs TVM's default GPU pipeline (dlight schedules, lowering,
codegen to CUDA source) without a GPU, so whether a one-op program *builds* for CUDA can be
settled on any machine.  This tool draws each op's cases with the harness's own sampler
(harness.plan.draw_cases under a Hypothesis profile, several seeds), builds each case's one-op
program (harness.program.build_case: the original program, which both the reference check and
the tensorrt check's tvm-cuda side compile), runs tvm.compile(target="cuda") and compares
"the build fails" with "an expectation limited to tvm-cuda (reference check) matches the case".

    python tools/cuda_build_probe.py --ops nn.batch_matmul nn.dense --profile nightly --seeds 0 1
    python tools/cuda_build_probe.py --jsonl out.jsonl ...   # one line per case
    python tools/cuda_build_probe.py --gpu-results /work/sweep-h100/seed-*.jsonl
        # instead: re-judge the reference records of a GPU run (tvm-cuda) against the expectations
        # as they are now, and count each expectation's matches by the GPU outcome

Per expectation it prints: cases it matches (predicted fail), of those that fail to build (TP),
build fails no expectation predicts (FN: an unexplained fail), predicted cases that build (FP:
a would-be XPASS).  Expectations about wrong values (GPU only) are listed as 'values' and are
not judged here.  Exit status 1 when any FP or FN is found.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter, defaultdict

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: expectations whose departure is wrong values on a GPU, not a failed build: not judged on CPU
VALUE_DEPARTURES = {"cuda-gemv-vector-without-batch", "cuda-write-back-unguarded"}


def build_fails(entry, case) -> str | None:
    """Where the case's CUDA build stops, in one line, or None when it builds: the predicates' own
    build (harness.predicates.cuda_build_error, an H100's sm_90 target, no GPU needed)."""
    from harness.predicates import cuda_build_error

    where = cuda_build_error(case)
    if where is None:
        return None
    kind, path, func, line, check = where
    return f"{kind} at {path}:{func}:{line}" + (f": {check[:120]}" if check else "")


def judge_gpu_results(paths, ops) -> int:
    """Each (reference) record of these ops in GPU results files: which expectation matches it
    now, against what the GPU saw (a failed CUDA build, wrong values, or a pass)."""
    from harness.case import Case
    from harness.expectations import Context, Subject, load_default
    from harness.reader import load_results

    every = load_default()
    exps = [e for e in every if "tvm-cuda" in e.backends]
    elsewhere = {e.id for e in every if "tvm-cuda" not in e.backends}   # TVM's LLVM build, the partitioner
    ctx = Context(backends=frozenset({"tvm-cuda"}), devices=frozenset({"cuda"}))
    table = defaultdict(Counter)
    bad = 0
    for path in paths:
        for r in load_results(path).records:
            if r.op not in ops or r.check not in ("reference", "tensorrt") or r.outcome not in (
                    "pass", "fail", "xfail", "xpass"):
                continue
            case = Case(op=r.op, dtype=r.dtype, shapes=tuple(tuple(x) for x in r.input_shapes), attrs=r.attrs,
                        weights=tuple((n, tuple(w)) for n, w in r.weights))
            subject = Subject(op=r.op, check=r.check, dtype=r.dtype, attrs=r.attrs, case=case)
            if r.outcome == "xfail" and r.expectation in elsewhere:
                table["(not a tvm-cuda departure: " + r.expectation + ")"]["xfail"] += 1
                continue                      # a departure before the CUDA build (the LLVM side, the partition)
            e = next((e for e in exps if e.applies(ctx) and e.matches(subject)), None)
            failed = r.outcome in ("fail", "xfail")
            seen = ("build fails" if "tvm.compile(cuda)" in (r.reason or "") else "wrong values") if failed else "passes"
            key = e.id if e else "(none)"
            table[key][seen] += 1
            if (e is None) == failed:
                bad += 1
                print(f"  {'FN' if failed else 'FP'} {path} {r.op} {r.check} {r.dtype} {r.input_shapes} {r.weights} "
                      f"{r.attrs}: {r.outcome} {(r.reason or '')[:100]}")
    for key, c in sorted(table.items()):
        print(f"{key}: {dict(c)}")
    return 1 if bad else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ops", nargs="+", default=["nn.batch_matmul", "nn.dense", "nn.conv1d", "nn.conv2d"])
    ap.add_argument("--profile", default="nightly")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--jsonl", help="write one JSON line per case here")
    ap.add_argument("--limit", type=int, default=0, help="at most this many cases per op (0: all drawn)")
    ap.add_argument("--gpu-results", nargs="+", help="re-judge these GPU results files instead of drawing")
    args = ap.parse_args(argv)
    if args.gpu_results:
        return judge_gpu_results(args.gpu_results, set(args.ops))

    from harness import profiles
    from harness.expectations import Context, Subject, load_default
    from harness.plan import draw_cases
    from harness.table import BY_NAME

    profiles.use(args.profile)
    exps = [e for e in load_default() if "tvm-cuda" in e.backends and e.check == "reference"]
    ctx = Context(backends=frozenset({"tvm-cuda"}), devices=frozenset({"cuda"}))
    out = open(args.jsonl, "w") if args.jsonl else None
    table = defaultdict(Counter)      # expectation id (or "(none)") -> counts
    errors = defaultdict(Counter)
    bad = 0
    for op in args.ops:
        entry = BY_NAME[op]
        seen = set()
        cases = []
        for seed in args.seeds:
            for c in draw_cases(entry, seed=seed):
                if c.case_id not in seen:
                    seen.add(c.case_id)
                    cases.append(c)
        if args.limit:
            cases = cases[:args.limit]
        t0 = time.time()
        for case in cases:
            subject = Subject(op=op, check="reference", dtype=case.dtype, attrs=case.attrs, case=case)
            matched = [e for e in exps if e.applies(ctx) and e.matches(subject)]
            first = matched[0].id if matched else "(none)"
            err = build_fails(entry, case)
            values = first in VALUE_DEPARTURES
            key = first
            table[key]["cases"] += 1
            if values:
                table[key]["values (not judged)"] += 1
                if err:
                    table[key]["FN"] += 1
                    bad += 1
            elif matched:
                table[key]["TP" if err else "FP"] += 1
                bad += 0 if err else 1
            else:
                table[key]["FN" if err else "TN"] += 1
                bad += 1 if err else 0
            if err:
                errors[(op, key)][err.split(":")[0]] += 1
            if out:
                out.write(json.dumps({**case.to_json(), "case_id": case.case_id, "expectation": first,
                                      "build_error": err}) + "\n")
                out.flush()
            if err and (not matched or values) or (matched and not err and not values):
                print(f"  {'FN' if err else 'FP'} {op} {case.dtype} {case.shapes} {case.attrs} {case.weights}: {err}",
                      flush=True)
        print(f"{op}: {len(cases)} cases in {time.time() - t0:.0f}s", flush=True)
    print("\nexpectation | cases | TP (predicted, build fails) | FP (predicted, builds) | FN (unpredicted fail) | TN")
    for key, c in sorted(table.items()):
        print(f"{key} | {c['cases']} | {c['TP']} | {c['FP']} | {c['FN']} | {c['TN']}"
              + (f" | values {c['values (not judged)']}" if c["values (not judged)"] else ""))
    for (op, key), c in sorted(errors.items()):
        print(f"errors {op} under {key}: {dict(c)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
