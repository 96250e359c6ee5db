"""Judge results files again against the expectations as they are now (harness/rejudge.py).

    python tools/rejudge.py reports/sweep/seed-*.jsonl [--expectations FILE]

Prints, per file, how many pairs were judged and held, every verdict that changes, and every record
that would fail the run today.  Exit status: 0 when no file has such a record, 1 otherwise, 2 for a
file or expectations file that cannot be read (one line).
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv: list[str] | None = None) -> int:
    from harness import expectations as E
    from harness.errors import HarnessError
    from harness.rejudge import rejudge
    from harness.table import BY_NAME

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", nargs="+")
    p.add_argument("--expectations", default=E.DEFAULT_PATH)
    p.add_argument("-v", "--verbose", action="store_true", help="also list xfails now matched by another entry")
    a = p.parse_args(argv)
    try:
        exps = E.load(a.expectations, set(BY_NAME))
        done = [rejudge(path, exps) for path in a.results]
    except HarnessError as exc:
        print(f"rejudge: {exc}", file=sys.stderr)
        return 2
    for got in done:
        moved = ", ".join(f"{old} -> {new} {n}" for (old, new), n in sorted(got.counts().items())) or "none"
        print(f"{got.path}: {got.judged} pairs judged again, {got.held} held ([NOTRUN]); changed: {moved}; "
              f"red today: {len(got.red)}")
        for rec, j in got.changed:
            if rec.outcome == j.outcome and not a.verbose:
                continue
            mark = "RED " if j.unexpected else ""
            print(f"  {mark}{rec.op} {rec.check} {rec.case_id}: {rec.outcome} ({rec.expectation or '-'}) -> "
                  f"{j.outcome} ({j.expectation.id if j.expectation else '-'})")
    red = sum(len(g.red) for g in done)
    print(f"{sum(g.judged for g in done)} pairs in {len(done)} file(s): "
          + ("every verdict holds under these expectations" if not red else f"{red} would fail the run today"))
    return 1 if red else 0


if __name__ == "__main__":
    sys.exit(main())
