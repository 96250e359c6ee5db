"""Store the carried runner's results into the cosmic-ray sessions (with diffs), for cr-report.
usage: import_results.py RESULTS.json (run in the copy the sessions were made in)"""
import difflib, json, sys
from pathlib import Path
import cosmic_ray.plugins
from cosmic_ray.mutating import mutate_code
from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult

results = json.load(open(sys.argv[1]))
by_session = {}
for r in results:
    by_session.setdefault(r["session"], []).append(r)
for session, rs in by_session.items():
    with use_db(session, WorkDB.Mode.open) as db:
        items = {i.job_id: i for i in db.work_items}
        for r in rs:
            (m,) = items[r["id"]].mutations
            src = Path(m.module_path).read_text(encoding="utf-8")
            op = cosmic_ray.plugins.get_operator(m.operator_name)(**(m.operator_args or {}))
            try:
                code = mutate_code(src, op, m.occurrence)
            except Exception:
                code = None
            diff = "\n".join(difflib.unified_diff(src.splitlines(), (code or src).splitlines(), str(m.module_path),
                                                  str(m.module_path), lineterm="", n=0))
            if r["rc"] == "no-test":
                res = WorkResult(worker_outcome=WorkerOutcome.NO_TEST)
            elif r["rc"] == "error":   # the operator could not build this mutant (cosmic-ray raises)
                res = WorkResult(worker_outcome=WorkerOutcome.EXCEPTION, test_outcome=TestOutcome.INCOMPETENT,
                                 output="cosmic-ray could not apply this mutation")
            else:
                outcome = TestOutcome.SURVIVED if r["rc"] == 0 else TestOutcome.KILLED
                if r["rc"] in (2, 3, 4) and "error" in r["out"].lower() and "collect" in r["out"].lower():
                    outcome = TestOutcome.KILLED    # import/collection error of the mutant: killed
                res = WorkResult(worker_outcome=WorkerOutcome.NORMAL, test_outcome=outcome,
                                 output=f"rc={r['rc']}\n{r['out']}", diff=diff)
            db.set_result(r["id"], res)
    print(session, len(rs))
