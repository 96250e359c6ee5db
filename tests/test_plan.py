"""The plan: which cases an op-suite run draws depends only on the strategies, Hypothesis, the
profile and the seed, never on which other modules the process has imported."""
from __future__ import annotations

import importlib
import sys

from harness import plan, profiles
from harness.table import BY_NAME

OPS = ("squeeze", "nn.pad", "layout_transform", "nn.avg_pool3d")


def _draw():
    profiles.use("ci")
    return {op: [c.case_id for c in plan.draw_cases(BY_NAME[op], seed=0)] for op in OPS}


def test_an_imported_module_full_of_literals_changes_no_draw(tmp_path, monkeypatch):
    """Hypothesis mixes literals of imported local modules into its draws; a pytest process (with
    conftest and test modules) drew other cases than a plain one. The plan shuts them out."""
    before = _draw()
    ints = ", ".join(str(v) for v in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 13, 17, 31, 64, 127, 255, -1, -2, -3])
    (tmp_path / "literal_heavy_module.py").write_text(
        f"INTS = [{ints}]\nFLOATS = [0.5, 1.5, -0.25, 3.75, 1e-3, 65504.0]\nNAMES = ['NCHW', 'NHWC', 'edge', 'reflect']\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    import literal_heavy_module  # noqa: F401
    try:
        assert _draw() == before
    finally:
        sys.modules.pop("literal_heavy_module", None)


def test_the_plan_key_changes_with_the_seed():
    class S:
        seed = 0
        build_cache = None

    class T(S):
        seed = 1

    profiles.use("ci")
    e = BY_NAME["squeeze"]
    assert plan._plan_key(e, S) != plan._plan_key(e, T)


def test_trt_cases_draws_exactly_that_many_distinct_cases():
    """Hypothesis repeats examples (split, dev, seed 0: 200 examples are 188 distinct cases);
    --trt-cases N draws again with more examples until N are distinct, and keeps the first N."""
    class S:
        seed = 0
        build_cache = None
        cases = 60

    profiles.use("dev", cases=S.cases)
    e = BY_NAME["split"]
    plain = plan.draw_cases(e, seed=0)
    exact = plan.draw_cases(e, seed=0, exactly=S.cases)
    assert len(plain) < S.cases, "Hypothesis drew no repeat here: choose an op or seed that shows one"
    assert len(exact) == len(set(exact)) == S.cases
    assert plan.draw_cases(e, seed=0, exactly=S.cases) == exact          # the same seed, the same cases
    assert plan.cached_cases([e], S)["split"] == exact                   # what a run with --trt-cases plans
    assert plan._plan_key(e, S) != plan._plan_key(e, type("P", (S,), {"cases": None}))
    profiles.use("ci")



def test_collect_only_lists_the_plan_and_writes_nothing(harness_run, pytester):
    """``pytest suites/ops --collect-only`` shows the units a run would take; it neither moves the
    last run's results aside nor writes a results file or a report of nothing."""
    out = pytester.path / "out"
    out.mkdir()
    kept = out / "results.jsonl"
    kept.write_text('{"kind": "header", "run_id": "earlier"}\n')
    report = out / "index.html"
    res, _ = harness_run("--collect-only", "-q", "--trt-ops", "nn.relu", f"--trt-report={report}")
    assert res.ret == 0, res.stdout.str()
    units = [line for line in res.outlines if "nn.relu" in line and "::" in line]
    assert units == ["test_ops.py::test_op[nn.relu]"], res.stdout.str()   # ci, one process: 10 cases, one unit
    assert sorted(p.name for p in out.iterdir()) == ["results.jsonl"]
    assert kept.read_text() == '{"kind": "header", "run_id": "earlier"}\n'
    assert "tvm-trt-harness" not in res.stdout.str()


def test_a_plan_drawn_in_parallel_processes_is_the_plan_drawn_here(monkeypatch):
    """A large plan is drawn by fresh interpreters, a share of the ops each (plan._draw_all); each
    op's cases are the ones this process draws, in the same order."""
    from types import SimpleNamespace

    profiles.use("dev")
    entries = [BY_NAME[op] for op in OPS]
    here = {e.name: [c.case_id for c in plan.draw_cases(e, seed=7)] for e in entries}

    def not_here(*args, **kwargs):
        raise AssertionError("drawn in this process, not in the pool")

    monkeypatch.setattr(plan, "PARALLEL_DRAW_MIN", 1)
    monkeypatch.setattr("os.cpu_count", lambda: 2)                      # two processes here too
    monkeypatch.setattr(plan, "draw_cases", not_here)      # this process's only: the children import their own
    got = plan._draw_all(entries, SimpleNamespace(seed=7, profile="dev", cases=None))
    assert {name: [c.case_id for c in cs] for name, cs in got.items()} == here
    assert all(len(ids) > 10 for ids in here.values())


def test_where_the_children_fail_this_process_draws(monkeypatch):
    from types import SimpleNamespace

    profiles.use("dev")
    entries = [BY_NAME[op] for op in OPS]
    here = {e.name: [c.case_id for c in plan.draw_cases(e, seed=3)] for e in entries}
    monkeypatch.setattr(plan, "PARALLEL_DRAW_MIN", 1)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    monkeypatch.setattr("sys.executable", "/bin/false")                  # every child exits 1 at once
    got = plan._draw_all(entries, SimpleNamespace(seed=3, profile="dev", cases=None))
    assert {name: [c.case_id for c in cs] for name, cs in got.items()} == here


def test_the_controllers_early_drawing_fills_the_plan_cache(monkeypatch, tmp_path):
    """What the controller starts before importing TVM (plan.start_drawing) is what cached_cases
    keeps; once kept, nothing is started again."""
    from types import SimpleNamespace

    profiles.use("ci")
    entries = [BY_NAME[op] for op in OPS]
    here = {e.name: [c.case_id for c in plan.draw_cases(e, seed=0)] for e in entries}
    settings = SimpleNamespace(seed=0, profile="ci", cases=None, build_cache=str(tmp_path / "builds"))
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    monkeypatch.setattr(plan, "EARLY_DRAW_MIN", 1)                     # four ops: 40 examples
    started = plan.start_drawing(entries, settings)
    assert started is not None and len(started.procs) == 2

    def not_here(*args, **kwargs):
        raise AssertionError("drawn in this process, not by the children")

    monkeypatch.setattr(plan, "draw_cases", not_here)
    got = plan.cached_cases(entries, settings, drawing=started)
    assert {name: [c.case_id for c in cs] for name, cs in got.items()} == here
    assert len(list((tmp_path / "plans").iterdir())) == len(OPS)
    assert plan.start_drawing(entries, settings) is None
    assert plan.cached_cases(entries, settings) == got
