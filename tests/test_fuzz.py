"""Fast tests of harness.fuzz: the strategy builds valid programs, wrong partitioners are caught,
a crash is a finding and the run goes on, ``trt-harness fuzz`` writes a readable results file,
and findings are judged like the op suites' results (known departures xfail, new ones fail)."""
import json
import os

import numpy as np
from hypothesis import HealthCheck, given, settings

from harness import cli, expectations, families, table
from harness.fuzz import check, graphs, repros, run
from harness.fuzz.minimize import minimize
from harness.reader import load_results
from harness.tvmcompat import is_tuple, type_of

TRT = (10, 0, 1)
EXPECTATIONS = expectations.load_default()
FAST = settings(max_examples=20, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


def _spec(*nodes, inputs=([1, 4, 4, 4],)):
    """A spec by hand: nodes are (op, args, attrs, out shape, out dtype)."""
    return {"seed": 1, "inputs": [[list(s), "float32"] for s in inputs],
            "nodes": [{"op": op, "args": list(args), "attrs": attrs, "out": [list(shape), dtype]}
                      for op, args, attrs, shape, dtype in nodes],
            "outputs": [len(inputs) + len(nodes) - 1]}


S = [1, 4, 4, 4]
GELU_BETWEEN = _spec(("relax.nn.relu", [0], {}, S, "float32"), ("relax.nn.gelu", [1], {}, S, "float32"),
                     ("relax.sigmoid", [2], {}, S, "float32"))
INT_ADD = _spec(("relax.astype", [0], {"dtype": "int32"}, S, "int32"),
                ("relax.add", [1], {"const": [4], "const_first": False}, S, "int32"))


# -- doubles: each is wrong on purpose, and named for it -------------------------------------------
def partition_everything_wrong_on_purpose(mod):
    """Puts the whole of main (gelu included) into one TensorRT function."""
    from tvm import relax

    main = mod["main"]
    bb = relax.BlockBuilder()
    gv = bb.add_func(main.with_attr("Codegen", "tensorrt").with_attr("global_symbol", "everything_tensorrt"),
                     "everything_tensorrt")
    params = [relax.Var(f"p{i}", type_of(p)) for i, p in enumerate(main.params)]
    with bb.function("main", params):
        with bb.dataflow():
            out = bb.emit_output(bb.emit(relax.Call(gv, params)))
        bb.emit_func_output(out)
    return bb.get()


def partition_then_corrupt_wrong_on_purpose(mod):
    """Partitions, then makes every TensorRT function compute x + 1 instead of x."""
    import tvm
    from tvm import relax

    from harness import program

    funcs = {}
    for gv, func in program.partition(mod).functions.items():
        if isinstance(func, relax.Function) and func.attrs is not None and "Codegen" in func.attrs:
            one = relax.const(np.ones((), dtype=str(type_of(func.body).dtype)))
            body = relax.SeqExpr(func.body.blocks, relax.op.add(func.body.body, one))
            func = relax.Function(func.params, body, type_of(func.body), func.is_pure, func.attrs)
        funcs[gv] = func
    return tvm.IRModule(funcs)


def partition_segfaults_on_unary_ops_wrong_on_purpose(mod):
    """Kills its process (as a native bug in a converter would) on a program with a unary table op."""
    import signal

    from harness.offload import all_calls, op_name

    if any(op_name(c) in graphs.UNARY for c in all_calls(mod)):
        os.kill(os.getpid(), signal.SIGSEGV)
    from harness import program

    return program.partition(mod)


# -- the strategy ----------------------------------------------------------------------------------
def test_op_lists_come_from_the_table():
    unary = [e.tvm_op for e in table.OPS if isinstance(e.family, families.Unary) and "float32" in e.dtypes]
    assert graphs.UNARY == list(dict.fromkeys(unary))
    assert "relax.power" in graphs.BINARY and "relax.divide" not in graphs.BINARY_INT
    assert graphs.REDUCE == ["relax.sum", "relax.prod", "relax.max", "relax.min", "relax.mean"]
    assert not any(table.entries_for_tvm_op(op) for op in graphs.NOT_IN_TABLE)


@FAST
@given(spec=graphs.programs())
def test_strategy_builds_valid_programs(spec):
    assert 2 <= len(spec["nodes"]) <= 15
    assert json.loads(json.dumps(spec)) == spec              # plain data: stored for @example replay
    prog = graphs.build(spec)
    main = prog.mod["main"]
    assert len(main.params) == len(prog.inputs)               # weights bound as constants in mod
    assert len(prog.source["main"].params) == len(prog.inputs) + len(prog.weights)
    ret = type_of(prog.source["main"].body)                   # what the generators promised is what Relax infers
    got = [(list(t.shape.values), str(t.dtype)) for t in (ret.fields if is_tuple(ret) else [ret])]
    want = [(spec["nodes"][o - len(spec["inputs"])]["out"][0], spec["nodes"][o - len(spec["inputs"])]["out"][1])
            for o in spec["outputs"]]
    assert [(list(map(int, s)), d) for s, d in got] == want
    for s, _ in want:
        assert len(s) <= graphs.MAX_RANK and all(1 <= d <= graphs.MAX_SIDE for d in s)


@settings(max_examples=3, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(spec=graphs.programs(max_ops=6))
def test_programs_compile_and_run(spec):
    res = check.check_spec(spec, trt_version=TRT)
    assert res.invalid is None and res.skip is None
    assert not [f for f in res.findings if f.kind in ("preserve", "tvm-crash")], res.findings
    assert {"compile", "run"} <= set(res.stats["stage_s"])


# -- the checks --------------------------------------------------------------------------------------
def test_clean_program_has_no_findings():
    res = check.check_spec(GELU_BETWEEN, trt_version=TRT)
    assert res.invalid is None and res.findings == []
    assert res.stats["regions"] == 2                          # relu | gelu on TVM | sigmoid


def test_wrong_partitioner_is_caught_as_over_offload_and_fails():
    res = check.check_spec(GELU_BETWEEN, trt_version=TRT, partition=partition_everything_wrong_on_purpose)
    found = {f.sig: f for f in res.findings}
    assert "over-offload|relax.nn.gelu|not-in-table" in found, found
    f = found["over-offload|relax.nn.gelu|not-in-table"]
    assert check.record_op(f) == "fuzz:relax.nn.gelu" and f.check == "offload"
    judged = check.judge_finding(f, trt_version=TRT, expectations=EXPECTATIONS)
    assert judged.outcome == "fail" and judged.unexpected                # a new departure fails


def test_corrupting_partitioner_is_caught_by_preserve():
    res = check.check_spec(GELU_BETWEEN, trt_version=TRT, partition=partition_then_corrupt_wrong_on_purpose)
    (f,) = [f for f in res.findings if f.kind == "preserve"]
    assert f.check == "preserve" and f.max_abs_err >= 0.9
    assert check.judge_finding(f, trt_version=TRT, expectations=EXPECTATIONS).outcome == "fail"


def test_known_departures_are_xfail():
    res = check.check_spec(INT_ADD, trt_version=TRT)
    found = {f.sig: f for f in res.findings}
    assert set(found) == {"over-offload|relax.add|dtype", "boundary|io-dtype|int32"}
    for f in found.values():
        judged = check.judge_finding(f, trt_version=TRT, expectations=EXPECTATIONS)
        assert judged.outcome == "xfail" and judged.expectation.rule == "dtype", judged
        rec = check.to_record(f, judged, spec=INT_ADD, trt_version=TRT, offload=res.offload)
        assert (rec.op, rec.suite, rec.outcome, rec.dtype) == ("add", "fuzz", "xfail", "int32")
    # without the expectations file the same findings fail
    assert check.judge_finding(found["over-offload|relax.add|dtype"], trt_version=TRT,
                               expectations=()).outcome == "fail"


# -- crashes and the run -------------------------------------------------------------------------------
def test_a_crash_is_a_finding_and_the_worker_comes_back():
    checker = run.Checker(trt_version=TRT, implicit_batch=False, timeout=60,
                          partition=partition_segfaults_on_unary_ops_wrong_on_purpose)
    try:
        crashed = checker.check(GELU_BETWEEN)
        (f,) = crashed.findings
        assert (f.kind, f.error_kind, f.check) == ("tvm-crash", "crash", "preserve") and "SIGSEGV" in f.detail
        judged = check.judge_finding(f, trt_version=TRT, expectations=EXPECTATIONS)
        assert judged.outcome == "error" and judged.unexpected
        after = checker.check(INT_ADD)                         # no unary op: a fresh worker checks it
        assert {g.sig for g in after.findings} == {"over-offload|relax.add|dtype", "boundary|io-dtype|int32"}
    finally:
        checker.close()


def test_run_records_a_crash_goes_on_and_replays_it(tmp_path):
    checker = run.Checker(trt_version=TRT, implicit_batch=False, timeout=60,
                          partition=partition_segfaults_on_unary_ops_wrong_on_purpose)
    recorded = []
    try:
        fuzz = run.Run(checker, expectations=EXPECTATIONS, repro_dir=str(tmp_path / "repros"),
                       db_dir=str(tmp_path / "db"), max_ops=4, seed=0, shrink_s=3, log=lambda *a: None,
                       on_finding=recorded.append)
        summary = fuzz.fuzz(4)
        d = summary.findings.get("tvm-crash|crash")
        assert d is not None, summary.findings
        assert summary.programs > summary.counts["tvm-crash|crash"]      # programs after the crash were checked
        assert d.judged.unexpected and d in recorded and d.record.error_kind == "crash"
        stem = check.sig_id("tvm-crash|crash")
        assert d.reproducer == str(tmp_path / "repros" / f"{stem}.py") and os.path.exists(d.reproducer)
        with np.load(str(tmp_path / "repros" / f"{stem}.npz"), allow_pickle=False) as data:
            assert any(k.startswith("input_") for k in data.files)
        stored = {s["sig"]: s for s in repros.stored_specs(str(tmp_path / "repros"))}
        assert set(stored) == set(summary.findings) and stored["tvm-crash|crash"]["spec"] == d.spec
        again = run.Run(checker, expectations=EXPECTATIONS, repro_dir=str(tmp_path / "repros"),
                        db_dir=str(tmp_path / "db"), log=lambda *a: None)
        replayed = again.fuzz(0)                                          # budget 0: replay only
        assert replayed.findings["tvm-crash|crash"].replayed
    finally:
        checker.close()


def test_minimize_drops_nodes_and_cuts_chains():
    # relu -> gelu -> sigmoid, and a relu beside: the sigmoid alone is wanted
    spec = _spec(("relax.nn.relu", [0], {}, S, "float32"), ("relax.nn.gelu", [1], {}, S, "float32"),
                 ("relax.sigmoid", [2], {}, S, "float32"), ("relax.nn.relu", [0], {}, S, "float32"))
    spec["outputs"] = [3, 4]
    small = minimize(spec, lambda s: any(n["op"] == "relax.sigmoid" for n in s["nodes"]), float("inf"))
    assert small["nodes"] == [{"op": "relax.sigmoid", "args": [0], "attrs": {}, "out": [S, "float32"]}]
    assert small["inputs"] == [[S, "float32"]] and small["outputs"] == [1]
    graphs.build(small)                                        # still a valid program
    assert minimize(small, lambda s: False, float("inf")) is small


# -- the command ---------------------------------------------------------------------------------------
def test_cli_tiny_budget_writes_a_results_file(tmp_path, capsys):
    results = tmp_path / "fuzz.jsonl"
    # a stored finding (a known departure) is replayed whatever the budget: the file surely holds a
    # record, however few programs the second of fuzzing draws on a busy machine
    matmul_rank = _spec(("relax.matmul", [0], {"weight": [4, 1]}, [1, 3, 1], "float32"), inputs=([1, 3, 4],))
    (tmp_path / "repros").mkdir()
    (tmp_path / "repros" / "stored.json").write_text(json.dumps({"sig": "over-offload|relax.matmul|rank",
                                                                  "spec": matmul_rank}))
    rc = cli.main(["fuzz", "--budget", "1", "--results", str(results), "--repro-dir", str(tmp_path / "repros"),
                   "--db", str(tmp_path / "db"), "--max-ops", "5", "--seed", "0", "--timeout", "60"])
    out = capsys.readouterr().out
    assert rc in (0, 1), out
    first = json.loads(results.read_text().splitlines()[0])
    assert first["kind"] == "header" and "env" in first and "environment" not in first
    loaded = load_results(str(results))
    head = loaded.headers[0]
    assert head.suite == "fuzz" and head.env["trt_version"] == "10.0.1" and head.env["implicit_batch"] is False
    assert all(r.suite == "fuzz" and r.check in ("offload", "preserve") for r in loaded.records)
    assert [r.outcome for r in loaded.records if r.case_id.startswith("fuzz-over-offload-matmul-rank-")] == ["xfail"]
    assert rc == (1 if any(r.outcome in ("fail", "error") for r in loaded.records) else 0)
    assert "programs" in out and "known departures" in out and "1 replayed" in out


def test_cli_rejects_unknown_trt_version(capsys):
    assert cli.main(["fuzz", "--budget", "1", "--trt-version", "9.9.9"]) == 2
    assert "unknown TensorRT version" in capsys.readouterr().err
