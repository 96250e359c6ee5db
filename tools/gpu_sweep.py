"""Run the op suites at several seeds and write one table of their verdicts.

A verdict holds only if it holds at every seed: this runs ``pytest suites/ops`` once per seed
(same profile, same options), keeps each seed's results file, and writes a Markdown table with,
per seed, the cases, the exit code, the outcomes by check and every red record (a failure or
error no expectation covers, and every XPASS), so each gets an answer: a real departure recorded
as an expectation with a reproducer, or a harness mistake fixed with a test.

    python tools/gpu_sweep.py --seeds 0-9 --profile dev --out reports/sweep -- -n 16 \
        --trt-backend tvm-cuda --trt-reference tvm-cuda --trt-timing off

(``make gpu-sweep SEEDS=0-9`` on a GPU machine.)  Everything after ``--`` goes to pytest.
Exit status: 0 when every seed exited 0, 1 otherwise, 2 for bad arguments.

Each seed leaves ``seed-S.jsonl`` (its results), ``seed-S.log`` and ``seed-S.json`` (its exit code,
wall time and command) in ``--out``.  A sweep split over several calls or machines is put back
together from those, without running anything:

    python tools/gpu_sweep.py --table DIR [DIR ...] --out reports/sweep

"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

RED = ("fail", "xpass", "error")


def parse_seeds(text: str) -> list[int]:
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            raise SystemExit(f"gpu_sweep: --seeds: {text!r} is not a list of seeds or ranges such as 0-9,12")
        seeds.extend(range(int(lo), int(hi or lo) + 1))
    if not seeds:
        raise SystemExit("gpu_sweep: --seeds names no seed")
    return seeds


def summarise(path: str) -> tuple[int, dict[str, Counter], list]:
    from harness.reader import load_results

    run = load_results(path)
    by_check = run.outcomes_by_check()
    red = [r for r in run.records if r.outcome in RED]
    return run.n_cases(), by_check, red


def _cell(c: Counter) -> str:
    return " ".join(f"{k} {c[k]}" for k in ("pass", "xfail", "fail", "xpass", "error", "skip") if c.get(k))


def red_line(rec) -> str:
    """One red record as a Markdown list item: op, check, outcome, the case and the reason."""
    reason = " ".join((rec.reason or "").split())[:240].replace("|", "\\|")
    return (f"- `{rec.op}` {rec.check} **{rec.outcome}** {rec.dtype or ''} "
            f"{rec.input_shapes} {rec.attrs} (case {rec.case_id}, seed {rec.seed}): {reason}")


def table(rows: list[dict], argv: list[str]) -> str:
    out = ["# Op-suite sweep", "", f"Command per seed: `pytest suites/ops {' '.join(argv)} --trt-seed S`", ""]
    checks = ("offload", "preserve", "reference", "tensorrt")
    out.append("| seed | cases | exit | wall s | " + " | ".join(checks) + " |")
    out.append("|---|---|---|---|" + "---|" * len(checks))
    for r in rows:
        out.append(f"| {r['seed']} | {r['cases']} | {r['rc']} | {r['wall']:.0f} | "
                   + " | ".join(_cell(r["by_check"].get(c, Counter())) for c in checks) + " |")
    out.append("")
    for r in rows:
        if not r["red"]:
            continue
        out.append(f"## Seed {r['seed']}: {len(r['red'])} red record(s)")
        out.append("")
        out.extend(red_line(rec) for rec in r["red"])
        out.append("")
    return "\n".join(out) + "\n"


def row(seed: int, rc: int, wall: float, results: str) -> dict:
    """One seed's row: its exit and wall time, and what its results file holds."""
    try:
        cases, by_check, red = summarise(results)
    except Exception as exc:  # noqa: BLE001 - a run that wrote no results is a row of its own, not a lost sweep
        cases, by_check, red = 0, {}, []
        print(f"seed {seed}: no readable results ({exc})", file=sys.stderr)
    return dict(seed=seed, rc=rc, wall=wall, cases=cases, by_check=by_check, red=red)


def write_row_facts(out: str, row: dict, args: list[str]) -> None:
    with open(os.path.join(out, f"seed-{row['seed']}.json"), "w") as f:
        json.dump({"seed": row["seed"], "rc": row["rc"], "wall": row["wall"], "args": args}, f)


def tabulate(dirs: list[str], out: str) -> int:
    """sweep.md from the seeds that earlier sweeps left in ``dirs`` (one row per seed, the last
    directory naming a seed wins).  Exit status as a sweep's; 2 when no seed is there."""
    found: dict[int, tuple[dict, str]] = {}
    for d in dirs:
        for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            if name.startswith("seed-") and name.endswith(".json"):
                with open(os.path.join(d, name)) as f:
                    facts = json.load(f)
                found[int(facts["seed"])] = (facts, os.path.join(d, name[:-len(".json")] + ".jsonl"))
    if not found:
        print(f"gpu_sweep: no seed-S.json in {', '.join(dirs)}: nothing to put in a table", file=sys.stderr)
        return 2
    rows, args = [], []
    for seed in sorted(found):
        facts, results = found[seed]
        args = facts.get("args", args)
        rows.append(row(seed, facts["rc"], facts["wall"], results))
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "sweep.md"), "w") as f:
        f.write(table(rows, args))
    print(f"table: {os.path.join(out, 'sweep.md')} ({len(rows)} seeds)")
    return 0 if all(r["rc"] == 0 for r in rows) else 1


def run_child(cmd: list[str], log) -> tuple[int, bool]:
    """Run one pytest as a child in a session of its own; a SIGTERM or SIGINT to this tool (a
    ``timeout``, a Ctrl-C) is passed on to it once and waited for, so the harness keeps its records
    and prints its resume command, and no run outlives the tool to share the card with the next
    one; a second signal kills the child's whole process group.  (exit status, whether stopped)"""
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    got: list[int] = []

    def forward(signum, frame):
        got.append(signum)
        try:
            if len(got) == 1:
                proc.send_signal(signum)
            else:
                os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    old = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        rc = proc.wait()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    return rc, bool(got)


def split_passthrough(argv: list[str]) -> tuple[list[str], list[str]]:
    """(the tool's own arguments, those after ``--`` that go to pytest)."""
    argv = list(argv)
    if "--" not in argv:
        return argv, []
    i = argv.index("--")
    return argv[:i], argv[i + 1:]


def main(argv: list[str] | None = None) -> int:
    argv, extra = split_passthrough(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="0-9")
    p.add_argument("--profile", default="dev", choices=("ci", "dev", "nightly"))
    p.add_argument("--out", default=os.path.join("reports", "sweep"))
    p.add_argument("--table", nargs="+", metavar="DIR", help="no run: the table of the seeds these sweeps left")
    a = p.parse_args(argv)
    if a.table:
        return tabulate(a.table, a.out)
    seeds = parse_seeds(a.seeds)
    os.makedirs(a.out, exist_ok=True)
    args = ["--trt-profile", a.profile, *extra]
    rows = []
    for seed in seeds:
        results = os.path.join(a.out, f"seed-{seed}.jsonl")
        if os.path.exists(results):
            os.remove(results)
        cmd = [sys.executable, "-m", "pytest", os.path.join(ROOT, "suites", "ops"), "-q", "-p", "no:cacheprovider",
               *args,
               "--trt-seed", str(seed), "--trt-results", results, "--trt-report=",
               "--trt-repro-dir", os.path.join(a.out, f"repro-{seed}")]
        t0 = time.monotonic()
        with open(os.path.join(a.out, f"seed-{seed}.log"), "wb") as log:
            rc, stopped = run_child(cmd, log)
        wall = time.monotonic() - t0
        rows.append(row(seed, rc, wall, results))
        write_row_facts(a.out, rows[-1], args)
        print(f"seed {seed}: exit {rc}, {rows[-1]['cases']} cases, {len(rows[-1]['red'])} red, {wall:.0f} s",
              flush=True)
        with open(os.path.join(a.out, "sweep.md"), "w") as f:    # after every seed: a cut sweep keeps its rows
            f.write(table(rows, args))
        if stopped:
            print(f"stopped during seed {seed}: its records so far are in {results} (finish it with "
                  f"--trt-resume, as its log says); the seeds after it did not run", flush=True)
            return 130
    print(f"table: {os.path.join(a.out, 'sweep.md')}")
    return 0 if all(r["rc"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
