"""Write a findings page (docs/findings/*.md) from a results file.

A findings run is made with ``--trt-no-expectations``: each departure of the installed TVM then
fails, is shrunk to a minimal case and gets a standalone reproducer.  Each row names the entry of
harness/data/expectations.toml that covers it in a normal run (judged by harness.expectations.judge,
the same code a run uses), or NEW.  Records already judged (xfail, from a normal run: the GPU
departures) are listed with the entry that matched them; ``--write-repros DIR`` writes a reproducer
for each listed record that has none, rebuilt from the record's case.

    pytest suites/ops --trt-no-expectations --trt-results /tmp/f.jsonl --trt-repro-dir docs/findings/repro-trt10.0.1
    python tools/findings.py /tmp/f.jsonl docs/findings/trt-10.0.1.md

    # the GPU departures of an H200 run (xfail records), one reproducer per expectation:
    python tools/findings.py reports/gpu/ci-h200-16workers.jsonl docs/findings/gpu.md \
        --only-expectations cuda- --one-per-expectation --write-repros docs/findings/gpu
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from harness import expectations as E  # noqa: E402
from harness import reader  # noqa: E402
from harness.case import Case  # noqa: E402
from harness.session import context_for  # noqa: E402
from harness.versions import loose_version, parse_version  # noqa: E402

LISTED = ("fail", "error", "xfail")


def known_as(rec, env: dict, exps: list) -> str:
    """The expectation a normal run would match ``rec`` with, or NEW."""
    if rec.expectation:
        return rec.expectation
    ctx = context_for(rec.check, backend=env.get("backend") or "tensorrt", reference=env.get("reference") or "tvm-cuda",
                      cuda_reference=bool(env.get("cuda_available")),
                      tvm=loose_version(env["tvm_version"]) if env.get("tvm_version") else None,
                      trt=parse_version(rec.trt_version or env.get("trt_version")))
    subject = E.Subject(op=rec.op, check=rec.check, dtype=rec.dtype, attrs=rec.attrs, rule=rec.rule,
                        verdict=rec.offload.verdict if rec.offload else None, case=Case.from_record(rec))
    raw = "fail" if rec.outcome == "fail" else "error"
    judged = E.judge(raw, rec.reason, subject, ctx, exps, error_kind=rec.error_kind)
    return judged.expectation.id if judged.expectation and judged.outcome == "xfail" else "NEW"


def write_repro(rec, env: dict, directory: str) -> str:
    """A reproducer for ``rec`` rebuilt from its case (the worker's own writer)."""
    from harness import engine
    from harness.checks import CheckOptions

    opts = CheckOptions(trt_version=parse_version(rec.trt_version or env["trt_version"]),
                        implicit_batch=bool(env.get("implicit_batch")), sut=env.get("backend") or "tensorrt",
                        reference=env.get("reference") or "tvm-cuda", cuda_reference=bool(env.get("cuda_available")))
    outcome = "error" if rec.outcome == "xfail" and rec.error_kind else ("fail" if rec.outcome == "xfail" else rec.outcome)
    return engine.write_reproducer(rec.op, Case.from_record(rec), rec.check, outcome, rec.reason, opts, directory)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results")
    ap.add_argument("out")
    ap.add_argument("--only-expectations", default=None, metavar="PREFIX",
                    help="list only records whose expectation id starts with PREFIX")
    ap.add_argument("--one-per-expectation", action="store_true",
                    help="one row per (expectation, check) instead of per (op, check, expectation)")
    ap.add_argument("--write-repros", default=None, metavar="DIR",
                    help="write a reproducer into DIR for each listed record that has none")
    ap.add_argument("--note", default="", help="a paragraph added under the heading")
    ap.add_argument("--prune", default=None, metavar="DIR",
                    help="delete the reproducers in DIR that no row of the page links to")
    a = ap.parse_args(argv)

    run = reader.load_results(a.results)
    env, exps = run.env, E.load_default()
    rows = []
    for r in run.records:
        if r.outcome not in LISTED:
            continue
        known = known_as(r, env, exps)
        if a.only_expectations is not None and not known.startswith(a.only_expectations):
            continue
        rows.append((known, r))
    # One row per (op, check, known as): the case with a reproducer (the shrunk one) or else the
    # smallest, with the number of cases it stands for.
    by_key = {"op": lambda known, r: (r.op, r.check, known), "expectation": lambda known, r: (known, r.check)}[
        "expectation" if a.one_per_expectation else "op"]
    best: dict = {}
    for known, r in rows:
        size = (0 if r.reproducer else 1, sum(len(s or ()) + sum(x for x in (s or ()) if isinstance(x, int))
                                             for s in r.input_shapes))
        key = by_key(known, r)
        n = best[key][3] + 1 if key in best else 1
        if key not in best or size < best[key][0]:
            best[key] = (size, known, r, n)
        else:
            best[key] = (*best[key][:3], n)
    rows = [(known, r, n) for _size, known, r, n in best.values()]

    out_dir = os.path.dirname(os.path.abspath(a.out))
    lines = [
        "# Findings: where the installed TVM departs from the support table and TensorRT's rules", "",
        f"Generated by `tools/findings.py` from `{os.path.basename(a.results)}`: TVM {env.get('tvm_version')}, "
        f"targeted TensorRT {env.get('trt_version')} (implicit batch {env.get('implicit_batch')}), "
        f"Hypothesis profile {env.get('hypothesis_profile')} seed {env.get('hypothesis_seed')}, "
        f"on {env.get('platform')}" + (", on " + ", ".join(f"{g.get('name')} (compute capability {g.get('compute_version')})"
                            for g in env["gpus"]) if env.get("gpus") else "") + ".",
        "Each row is one departure: an (op, check) and the entry that covers it, with the number of cases "
        "that showed it and one of them (the one Hypothesis shrank to, where it did; else the smallest).  "
        "The reproducer needs only TVM and NumPy (`python <file>.py`; it exits 1 while "
        "the departure is there).  'Known as' names the entry of harness/data/expectations.toml that turns it "
        "into a strict xfail in normal runs (NEW: none does).", ""] + ([a.note, ""] if a.note else []) + [
        "| op | check | cases | outcome | verdict / rule | dtype | shapes | attrs | reason | reproducer | known as |",
        "|---|---|---|---|---|---|---|---|---|---|---|"]
    written = 0
    for known, r, n in sorted(rows, key=lambda kr: (kr[1].op, kr[1].check, kr[0], kr[1].case_id)):
        repro = r.reproducer if r.reproducer and not r.reproducer.startswith("(") else None
        if repro is None and a.write_repros:
            repro = write_repro(r, env, a.write_repros)
            written += 1
        link = "-"
        if repro:
            rel = os.path.relpath(os.path.abspath(repro), out_dir)
            link = f"[{os.path.basename(rel)}]({rel})"
        verdict = (r.offload.verdict if r.offload else None) or ""
        attrs = ", ".join(f"{k}={v}" for k, v in r.attrs.items() if not k.startswith("_"))
        shapes = "; ".join("x".join(map(str, s or ())) or "scalar" for s in r.input_shapes)
        reason = " ".join(r.reason.split())[:300].replace("|", "/")
        lines.append(f"| {r.op} | {r.check} | {n} | {r.outcome} | {verdict}{' / ' if verdict and r.rule else ''}"
                     f"{r.rule or ''} | {r.dtype} | {shapes} | {attrs} | {reason} | {link} | {known} |")
    new = sum(n for known, _, n in rows if known == "NEW")
    cases = sum(n for _, _, n in rows)
    lines += ["", f"{cases} departing (case, check) pairs in {len({r.op for _, r, _ in rows})} ops, in {len(rows)} "
              f"rows; {new} NEW."]
    with open(a.out, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    if a.prune:
        linked = {os.path.splitext(os.path.basename(r.reproducer))[0] for _, r, _ in rows if r.reproducer}
        for name in os.listdir(a.prune):
            if os.path.splitext(name)[0] not in linked:
                os.remove(os.path.join(a.prune, name))
    print(f"wrote {a.out}: {cases} departing pairs in {len(rows)} rows, {new} new" + (f", {written} reproducers written" if written else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
