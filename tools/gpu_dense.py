"""Validate the expectations limited to a backend or device by one dense run of their ops.

An expectation limited to where it runs (``backends = ["tvm-cuda"]``, or ``devices``) is seen only
on that machine, so the sweep's few cases per op cannot tell a predicate that fits from one that
happens to match.  This draws N distinct cases of every op those expectations cover
(``--trt-cases N``, default 200), runs them in ONE ``pytest suites/ops`` (all ops together, the
options after ``--`` passed through: ``-n 16``, the backends, ``--trt-timing off``), checks only the
checks those expectations name (``--checks`` to choose others), and writes a Markdown table, one
row per (expectation, op): cases drawn, cases it matched (xfail; ``[NOTRUN]`` siblings of a
confirmed crash apart), XPASS, the unexplained fails and errors of that (op, check), and the
expectation's ``source``; then every red record.  ``--also ID,...`` adds expectations that are not
limited (a CPU expectation touched on the way).

    # on a GPU machine (make gpu-dense), about 1,800 cases:
    python tools/gpu_dense.py --cases 200 --out reports/dense -- -n 16 \\
        --trt-backend tvm-cuda --trt-reference tvm-cuda --trt-timing off
    python tools/gpu_dense.py --table reports/dense/dense.jsonl   # the table again, from the results

Which expectations: those with ``backends`` or ``devices`` whose place the run's backends reach
(``--trt-backend``, ``--trt-reference`` after ``--``, and TVM's LLVM build, which the preserve and
reference checks always run).  Results are read with the harness's own reader (harness/reader.py).
Exit status: 0 when the run has no XPASS of a strict expectation and no fail or error that no
expectation explains (and pytest exited 0), 1 otherwise, 2 when the run wrote no readable results
or the arguments are bad.  An expectation declared ``strict = false`` (a race) may pass: its XPASS
records are counted apart, and its row says when the departure was not seen at all.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from collections import Counter, defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from gpu_sweep import _cell, red_line, run_child, split_passthrough  # noqa: E402

UNEXPLAINED = ("fail", "error")


def _passed(extra: list[str], flag: str, default: str) -> str:
    """The value of ``flag`` among pytest's arguments (``--flag V`` or ``--flag=V``), else ``default``."""
    value = default
    for i, a in enumerate(extra):
        if a == flag and i + 1 < len(extra):
            value = extra[i + 1]
        elif a.startswith(flag + "="):
            value = a.split("=", 1)[1]
    return value


def run_backends(extra: list[str]) -> set[str]:
    """The backends a run with these pytest arguments uses (the harness's defaults where not given)."""
    from harness.options import EXECUTION

    defaults = {o.name: o.kwargs["default"] for o in EXECUTION}
    return {_passed(extra, "--trt-backend", defaults["--trt-backend"]),
            _passed(extra, "--trt-reference", defaults["--trt-reference"]), "tvm-llvm"}


def concerned(exps, backends: set[str], also: set[str] = frozenset()) -> list:
    """The expectations limited to a backend or device that ``backends`` reach, and those named in ``also``."""
    from harness.backends import get_backend

    devices = {get_backend(b).device_kind for b in backends}
    out = []
    for e in exps:
        limited = bool(e.backends or e.devices)
        reached = (not e.backends or set(e.backends) & backends) and (not e.devices or set(e.devices) & devices)
        if e.id in also or (limited and reached):
            out.append(e)
    return out


def ops_of(e, known_ops: list[str]) -> list[str]:
    ops = known_ops if "*" in e.ops else list(e.ops)
    return [o for o in ops if o not in e.except_ops]


def summarise(run, exps, known_ops: list[str], not_strict: frozenset = frozenset()) -> dict:
    """What the table shows, from a results file (harness.reader.Run) and the chosen expectations.
    ``not_strict``: ids of expectations declared ``strict = false`` (a departure that may not show,
    e.g. a race): their XPASS records are counted apart and do not make the verdict NOT OK."""
    from harness.records import is_op_level

    cases: dict = defaultdict(set)                 # (op, check) -> case ids that ran or were held
    by_op_check: dict = defaultdict(Counter)       # (op, check) -> outcomes
    matched: Counter = Counter()                   # (expectation, op) -> xfail records
    notrun: Counter = Counter()
    xpass: Counter = Counter()
    loose_xpass: Counter = Counter()               # XPASS of an expectation that is not strict
    red, skipped, verdicts = [], {}, Counter()
    for r in run.records:
        if is_op_level(r):                         # a check that did not run for the whole op
            skipped[(r.op, r.check)] = r.reason
            continue
        if r.outcome in ("fail", "error", "xpass"):
            red.append(r)                          # listed, the case a failure shrank to included
        if (r.details or {}).get("shrunk_from"):   # the smaller case a failure shrank to: not a drawn case
            continue
        loose = r.outcome == "xpass" and r.expectation in not_strict
        verdicts["loose xpass" if loose else r.outcome] += 1
        cases[(r.op, r.check)].add(r.case_id)
        by_op_check[(r.op, r.check)][r.outcome] += 1
        if r.expectation and r.outcome == "xfail":
            matched[(r.expectation, r.op)] += 1
            notrun[(r.expectation, r.op)] += r.reason.startswith("[NOTRUN]")
        elif r.expectation and r.outcome == "xpass":
            (loose_xpass if loose else xpass)[(r.expectation, r.op)] += 1
    rows = []
    for e in exps:
        for op in ops_of(e, known_ops):
            key = (op, e.check)
            rows.append(dict(id=e.id, op=op, check=e.check, cases=len(cases.get(key, ())),
                             matched=matched[(e.id, op)], notrun=notrun[(e.id, op)], xpass=xpass[(e.id, op)],
                             loose_xpass=loose_xpass[(e.id, op)],
                             unexplained=sum(by_op_check[key][o] for o in UNEXPLAINED),
                             source=e.source or "-", skipped=skipped.get(key)))
    xpasses, unexplained = verdicts["xpass"], sum(verdicts[o] for o in UNEXPLAINED)
    return dict(rows=rows, red=red, by_op_check=by_op_check, cases=cases, skipped=skipped,
                xpass=xpasses, loose_xpass=verdicts["loose xpass"], unexplained=unexplained,
                ok=not xpasses and not unexplained)


def _esc(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def table(summary: dict, env: dict, *, command: str = "", wall: float | None = None, rc: int | None = None) -> str:
    asked = env.get("hypothesis_cases")
    out = ["# Dense run of the expectations limited to a backend or device", ""]
    if command:
        out += [f"Command: `{command}`", ""]
    facts = [f"TVM {env.get('tvm_version')}", f"Hypothesis profile {env.get('hypothesis_profile')} seed "
             f"{env.get('hypothesis_seed')}", f"{asked} cases asked per op" if asked else "the profile's cases",
             f"backend {env.get('backend')}, reference {env.get('reference')}"]
    gpus = ", ".join(str(g.get("name")) for g in env.get("gpus") or ())
    facts += [f"on {gpus or env.get('platform')}"] + ([f"{wall:.0f} s"] if wall is not None else []) + (
        [f"pytest exit {rc}"] if rc is not None else [])
    out += ["; ".join(facts) + ".", "",
            f"**Verdict: {'OK' if summary['ok'] else 'NOT OK'}**: {summary['xpass']} XPASS, "
            f"{summary['unexplained']} unexplained fail/error record(s)"
            + (f"; {summary['loose_xpass']} XPASS of expectations that are not strict (their departure may "
               "not show: counted apart, see the rows)" if summary["loose_xpass"] else "") + ".", "",
            "One row per (expectation, op). *Cases*: distinct cases of the op that the expectation's check "
            "ran (or held as `[NOTRUN]`); *matched*: xfail records of the expectation; *unexplained*: fail and "
            "error records of that (op, check) that no expectation explains (the same figure on every row of "
            "the op and check).", "",
            "| expectation | op | check | cases | matched (xfail) | XPASS | unexplained fail/error | source | note |",
            "|---|---|---|---:|---:|---:|---:|---|---|"]
    absent = [r for r in summary["rows"] if not r["cases"] and not r["skipped"]]   # the op and check never ran
    for r in summary["rows"]:
        if r in absent:
            continue
        notes = []
        if r["skipped"]:
            notes.append(f"check not run: {_esc(r['skipped'])[:160]}")
        elif not r["matched"] and not r["xpass"] and not r["loose_xpass"]:
            notes.append("no case matched: not exercised by this run")
        elif not r["matched"] and r["loose_xpass"]:
            notes.append(f"departure not seen: the {r['loose_xpass']} matched case(s) passed (the expectation is "
                         "not strict); only its reproducer shows it")
        if r["notrun"]:
            notes.append(f"{r['notrun']} of the matched held as [NOTRUN] (a crash confirmed once)")
        if asked and not r["skipped"] and r["cases"] < int(asked):
            notes.append(f"fewer cases than asked ({asked}): the strategy holds no more, or the run was cut")
        xp = f"{r['xpass']}" + (f" (+{r['loose_xpass']} not strict)" if r["loose_xpass"] else "")
        out.append(f"| `{r['id']}` | {r['op']} | {r['check']} | {r['cases']} | {r['matched']} | {xp} | "
                   f"{r['unexplained']} | {_esc(r['source'])} | {'; '.join(notes)} |")
    if absent:
        out += ["", f"Not in this run (no case of the op ran that check), so not validated by it: "
                + ", ".join(f"`{r['id']}` ({r['op']})" for r in absent) + "."]
    out += ["", "## Outcomes per op and check", "", "| op | check | cases | outcomes |", "|---|---|---:|---|"]
    for (op, check), c in sorted(summary["by_op_check"].items()):
        out.append(f"| {op} | {check} | {len(summary['cases'][(op, check)])} | {_cell(c)} |")
    if summary["red"]:
        out += ["", f"## {len(summary['red'])} red record(s)", ""]
        out.extend(red_line(r) for r in summary["red"])
    return "\n".join(out) + "\n"


def tabulate(results: str, exps_path: str | None, also: set[str], out_md: str, *,
             command: str = "", wall: float | None = None, rc: int | None = None, again: bool = False) -> dict:
    """Read ``results`` with the harness's reader, write the table to ``out_md``; the summary.
    ``again``: the records judged again against the expectations (harness.rejudge), not as recorded."""
    from harness import expectations as E
    from harness.reader import load_results
    from harness.seed import seed_operators

    run = load_results(results)
    known = list(seed_operators())
    path = exps_path or run.env.get("expectations") or E.DEFAULT_PATH
    backends = {run.env.get("backend"), run.env.get("reference"), "tvm-llvm"} - {None}   # the run's, as recorded
    loaded = E.load(path, set(known))
    if again:
        from harness.rejudge import as_today

        run.records = as_today(run, loaded)
    exps = concerned(loaded, backends, also)
    summary = summarise(run, exps, known, frozenset(e.id for e in loaded if not e.strict))
    with open(out_md, "w", encoding="utf-8") as fh:
        fh.write(table(summary, run.env, command=command, wall=wall, rc=rc))
    return summary


def main(argv: list[str] | None = None) -> int:
    argv, extra = split_passthrough(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=200, help="distinct cases per op [%(default)s]")
    p.add_argument("--seed", type=int, default=None, help="Hypothesis seed (default: drawn, recorded)")
    p.add_argument("--profile", default="dev", choices=("ci", "dev", "nightly"))
    p.add_argument("--expectations", default=None, help="expectations file [harness/data/expectations.toml]")
    p.add_argument("--also", default="", help="ids of other expectations to validate too (comma-separated)")
    p.add_argument("--checks", default="", help="checks to run, or 'all' (default: those the expectations name)")
    p.add_argument("--out", default=os.path.join("reports", "dense"))
    p.add_argument("--table", default=None, metavar="RESULTS", help="only write the table of this results file")
    p.add_argument("--rejudge", action="store_true", help="with --table: judge its records again against the "
                   "expectations as they are now (harness/rejudge.py) instead of as recorded")
    a = p.parse_args(argv)
    also = {x.strip() for x in a.also.split(",") if x.strip()}
    from harness import expectations as E
    from harness.errors import HarnessError
    from harness.seed import seed_operators

    os.makedirs(a.out, exist_ok=True)
    out_md = os.path.join(a.out, "dense.md")
    try:
        if a.table:
            s = tabulate(a.table, a.expectations, also, out_md, again=a.rejudge)
            print(f"table: {out_md}: {'OK' if s['ok'] else 'NOT OK'} ({s['xpass']} XPASS, "
                  f"{s['unexplained']} unexplained)")
            return 0 if s["ok"] else 1
        if a.cases < 1:
            raise HarnessError(f"--cases: must be a positive number, got {a.cases}")
        known = list(seed_operators())
        exps = E.load(a.expectations or E.DEFAULT_PATH, set(known))
        unknown = sorted(also - {e.id for e in exps})
        if unknown:
            raise HarnessError(f"--also: no expectation {', '.join(unknown)}")
        chosen = concerned(exps, run_backends(extra), also)
    except HarnessError as exc:
        print(f"gpu_dense: {exc}", file=sys.stderr)
        return 2
    if not chosen:
        print("gpu_dense: no expectation is limited to the backends of this run", file=sys.stderr)
        return 2
    ops = sorted({op for e in chosen for op in ops_of(e, known)})
    every = ("offload", "preserve", "reference", "tensorrt")
    checks = ",".join(every) if a.checks == "all" else a.checks or ",".join(
        c for c in every if c in {e.check for e in chosen})
    results = os.path.join(a.out, "dense.jsonl")
    if os.path.exists(results):
        os.remove(results)
    cmd = [sys.executable, "-m", "pytest", os.path.join(ROOT, "suites", "ops"), "-q", "-p", "no:cacheprovider",
           "--trt-profile", a.profile, "--trt-cases", str(a.cases), "--trt-ops", ",".join(ops), "--trt-checks",
           checks, "--trt-results", results, "--trt-report=", "--trt-repro-dir", os.path.join(a.out, "repro"),
           *(["--trt-seed", str(a.seed)] if a.seed is not None else []),
           *(["--trt-expectations", a.expectations] if a.expectations else []), *extra]
    print(f"{len(chosen)} expectations, {len(ops)} ops ({', '.join(ops)}), checks {checks}, {a.cases} cases per op",
          flush=True)
    t0 = time.monotonic()
    with open(os.path.join(a.out, "dense.log"), "wb") as log:
        rc, stopped = run_child(cmd, log)   # a signal stops the run cleanly; its table covers what ran
    wall = time.monotonic() - t0
    try:
        s = tabulate(results, a.expectations, also, out_md, command=shlex.join(["python", *cmd[1:]]), wall=wall, rc=rc)
    except (HarnessError, OSError) as exc:
        print(f"gpu_dense: pytest exited {rc} and left no readable results ({exc}); see "
              f"{os.path.join(a.out, 'dense.log')}", file=sys.stderr)
        return 2
    print(f"pytest exit {rc}, {wall:.0f} s; table: {out_md}: {'OK' if s['ok'] else 'NOT OK'} "
          f"({s['xpass']} XPASS, {s['unexplained']} unexplained)")
    if stopped:
        print("gpu_dense: stopped by a signal; the table covers the cases that ran", file=sys.stderr)
        return 130
    return 0 if s["ok"] and rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
