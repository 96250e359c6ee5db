#!/usr/bin/env python3
"""Run a command several times back to back while CPU-bound processes run beside it.

    python tools/stress_test.py --runs 5 --hogs 2 -- make test

Each hog is a Python busy loop pinned to nothing (the scheduler shares the cores); they start
before the first run and are killed after the last.  For each run the wall time, exit status and
pytest's summary line are printed, and all of it is written as JSON to --out.  Exit status: 0
when every run passed, 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import re
import subprocess
import sys
import time


def _hog() -> None:   # pragma: no cover - runs in a child until killed
    x = 0
    while True:
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--hogs", type=int, default=2)
    p.add_argument("--out", default="reports/stress-test.json")
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    cmd = [c for c in args.command if c != "--"] or ["make", "test"]
    hogs = [multiprocessing.Process(target=_hog, daemon=True) for _ in range(args.hogs)]
    for h in hogs:
        h.start()
    rows = []
    try:
        for i in range(1, args.runs + 1):
            t0 = time.monotonic()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            wall = time.monotonic() - t0
            tail = (proc.stdout + proc.stderr).strip().splitlines()
            summary = next((ln.strip("= ") for ln in reversed(tail) if re.search(r"\d+ (passed|failed)", ln)), "")
            rows.append({"run": i, "wall_s": round(wall, 1), "rc": proc.returncode, "summary": summary})
            print(f"run {i}: {wall:7.1f} s  exit {proc.returncode}  {summary}", flush=True)
            if proc.returncode:
                print("\n".join(tail[-40:]), flush=True)
    finally:
        for h in hogs:
            h.kill()
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump({"command": cmd, "hogs": args.hogs, "runs": rows}, fh, indent=1)
    green = sum(r["rc"] == 0 for r in rows)
    print(f"{green}/{len(rows)} runs green with {args.hogs} CPU-bound processes beside them; {args.out}")
    return 0 if green == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
