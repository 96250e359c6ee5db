"""Per session: mutants, killed, survived; survivors whose mutant differs from the original only in
annotations (never evaluated: `from __future__ import annotations`) are counted as equivalent.
usage: classify.py SESSION.sqlite [--list] [--ids FILE]   (--ids: the other survivors' job ids, one a line,
for export.py's second pass)"""
import ast, sys
from pathlib import Path
import cosmic_ray.plugins
from cosmic_ray.mutating import mutate_code
from cosmic_ray.work_db import WorkDB, use_db
from cosmic_ray.work_item import TestOutcome, WorkerOutcome


class Strip(ast.NodeTransformer):
    def visit_arg(self, node):
        node.annotation = None
        return node

    def visit_FunctionDef(self, node):
        node.returns = None
        self.generic_visit(node)
        return node

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_AnnAssign(self, node):
        node.annotation = ast.Constant(None)
        self.generic_visit(node)
        return node


def key(code):
    return ast.dump(Strip().visit(ast.parse(code)))


def classify(session, listing=False, src_root=".", ids_file=None):
    out = {"total": 0, "killed": 0, "survived": 0, "equivalent-annotation": 0, "incompetent": 0, "pending": 0}
    survivors, ids = [], []
    with use_db(session, WorkDB.Mode.open) as db:
        items = {i.job_id: i for i in db.work_items}
        results = dict(db.results)
        base = {}
        for job_id, item in items.items():
            out["total"] += 1
            r = results.get(job_id)
            m = item.mutations[0]
            if r is None:
                out["pending"] += 1
                continue
            if r.worker_outcome in (WorkerOutcome.EXCEPTION, WorkerOutcome.NO_TEST) or r.test_outcome == TestOutcome.INCOMPETENT:
                out["incompetent"] += 1
                continue
            if r.test_outcome == TestOutcome.KILLED:
                out["killed"] += 1
                continue
            path = Path(src_root) / m.module_path
            src = base.setdefault(path, path.read_text(encoding="utf-8"))
            op = cosmic_ray.plugins.get_operator(m.operator_name)(**(m.operator_args or {}))
            code = mutate_code(src, op, m.occurrence)
            try:
                same = key(code) == key(src)
            except SyntaxError:
                same = False
            if same:
                out["equivalent-annotation"] += 1
            else:
                out["survived"] += 1
                d = [l for l in (r.diff or "").splitlines() if l.startswith(("-", "+")) and not l.startswith(("---", "+++"))]
                ids.append(job_id)
                survivors.append(f"{job_id[:8]} L{m.start_pos[0]} {m.operator_name.split('/')[-1]}: " + " => ".join(x.strip() for x in d)[:230])
    judged = out["total"] - out["incompetent"] - out["equivalent-annotation"] - out["pending"]
    out["kill_rate"] = f"{100 * out['killed'] / judged:.1f}%" if judged else "n/a"
    print(Path(session).name, out)
    if ids_file:
        Path(ids_file).write_text("".join(f"{i}\n" for i in ids))
    if listing:
        for s in sorted(survivors, key=lambda s: int(s.split()[1][1:])):
            print("  ", s)
    return out


if __name__ == "__main__":
    args = sys.argv[1:]
    classify(args[0], "--list" in args, ids_file=args[args.index("--ids") + 1] if "--ids" in args else None)
