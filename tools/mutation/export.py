"""Write the mutants of cosmic-ray sessions as one job file for the carried runner.
usage: export.py OUT.json.xz SESSION.sqlite=TESTS ... (run in the copy the sessions were made in)"""
import json, lzma, sys
from pathlib import Path
import cosmic_ray.plugins
from cosmic_ray.mutating import mutate_code
from cosmic_ray.work_db import WorkDB, use_db

out, *specs = sys.argv[1:]
jobs = []
only = None
for spec in specs:
    session, tests = spec.split("=", 1)
    if ":" in tests:   # TESTS:JOBIDS-FILE restricts to listed job ids
        tests, ids = tests.split(":", 1)
        only = set(Path(ids).read_text().split())
    else:
        only = None
    with use_db(session, WorkDB.Mode.open) as db:
        for item in db.pending_work_items if only is None else db.work_items:
            if only is not None and item.job_id not in only:
                continue
            (m,) = item.mutations
            op = cosmic_ray.plugins.get_operator(m.operator_name)(**(m.operator_args or {}))
            try:
                code = mutate_code(Path(m.module_path).read_text(encoding="utf-8"), op, m.occurrence)
            except Exception as exc:   # cosmic-ray's operator cannot make this mutant
                print("cannot mutate", item.job_id, m.operator_name, type(exc).__name__, file=sys.stderr)
                code = "#error"
            jobs.append({"id": item.job_id, "session": session, "module": str(m.module_path), "code": code,
                         "tests": tests.split()})
with lzma.open(out, "wt") as fh:
    json.dump(jobs, fh)
print(len(jobs), "jobs")
