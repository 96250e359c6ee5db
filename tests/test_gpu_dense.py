"""tools/gpu_dense.py: the dense run of the expectations limited to a backend or device.

The table and its exit status are checked on results files written the way a run writes them
(harness.results.ResultsWriter, read back by harness.reader); one real run on TVM's LLVM build
checks the whole command, with expectations limited to ``tvm-llvm`` standing in for the GPU ones."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import ROOT, shared_cache, tool
from harness import expectations as E
from harness.case import Case
from harness.predicates import PREDICATES
from harness.reader import load_results
from harness.seed import seed_operators

TOOL = os.path.join(ROOT, "tools", "gpu_dense.py")
G = tool("gpu_dense")

EXPECTATIONS = '''
[[expect]]
id = "cuda-split"
ops = ["split"]
check = "reference"
backends = ["tvm-cuda"]
source = "topi/transform.h:split"
reason = "split departs on CUDA"

[[expect]]
id = "cuda-split-tensorrt"
ops = ["split"]
check = "tensorrt"
backends = ["tvm-cuda"]
outcome = "crash"
source = "NOT SETTLED"
reason = "split crashes on CUDA"

[[expect]]
id = "cuda-devices-only"
ops = ["mean"]
check = "reference"
devices = ["cuda"]
source = "dlight reduction"
reason = "mean departs on a GPU"

[[expect]]
id = "cpu-everywhere"
ops = ["nn.pad"]
check = "reference"
reason = "not limited"
'''


@pytest.fixture
def exps(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text(EXPECTATIONS)
    return str(path), E.load(str(path), set(seed_operators()))


def test_the_limited_expectations_that_the_run_reaches(exps):
    _, loaded = exps
    gpu = G.run_backends(["-n", "16", "--trt-backend", "tvm-cuda", "--trt-reference=tvm-cuda"])
    assert gpu == {"tvm-cuda", "tvm-llvm"}
    assert [e.id for e in G.concerned(loaded, gpu)] == ["cuda-split", "cuda-split-tensorrt", "cuda-devices-only"]
    cpu = G.run_backends(["--trt-backend", "tvm-llvm", "--trt-reference", "tvm-llvm"])
    assert G.concerned(loaded, cpu) == []                     # on a CPU no GPU expectation is validated
    assert [e.id for e in G.concerned(loaded, cpu, {"cpu-everywhere"})] == ["cpu-everywhere"]
    assert G.run_backends([]) == {"tensorrt", "tvm-cuda", "tvm-llvm"}   # the harness's defaults


def _results(tmp_path, build, records, exps_path, name="r.jsonl"):
    head = build.header(env={"backend": "tvm-cuda", "reference": "tvm-cuda", "expectations": exps_path,
                             "hypothesis_cases": 3, "hypothesis_profile": "dev", "hypothesis_seed": 7})
    return build.write(tmp_path / name, head, records)


def _table(tmp_path, path, exps_path):
    out = tmp_path / "out"
    rc = G.main(["--table", path, "--expectations", exps_path, "--out", str(out)])
    return rc, (out / "dense.md").read_text()


def _row(text, eid, op):
    for line in text.splitlines():
        if line.startswith(f"| `{eid}` | {op} |"):
            return [c.strip() for c in line.strip("|").split("|")]
    raise AssertionError(f"no row for {eid} {op}:\n{text}")


def test_table_counts_matches_xpass_and_unexplained(tmp_path, build, exps):
    path, _ = exps
    r = build.record
    records = [
        r("split", "s1", "reference", "xfail", expectation="cuda-split", reason="known departure"),
        r("split", "s2", "reference", "xfail", expectation="cuda-split", reason="known departure"),
        r("split", "s3", "reference", "xpass", expectation="cuda-split", reason="expected to fail but passed"),
        r("split", "s1", "tensorrt", "xfail", expectation="cuda-split-tensorrt", reason="known departure: crash"),
        r("split", "s2", "tensorrt", "xfail", expectation="cuda-split-tensorrt", reason="[NOTRUN] known to crash"),
        r("split", "s3", "tensorrt", "fail", reason="TVM failed: something new"),
        r("split", "s0", "tensorrt", "fail", reason="shrunk", details={"shrunk_from": "s3"}),
        r("mean", "mean-*", "reference", "skip", reason="backend tvm-cuda cannot run here"),
    ]
    rc, text = _table(tmp_path, _results(tmp_path, build, records, path), path)
    assert rc == 1
    assert "**Verdict: NOT OK**: 1 XPASS, 1 unexplained" in text      # the shrunk case is listed, not counted
    #          id, op, check, cases, matched, XPASS, unexplained, source, note
    assert _row(text, "cuda-split", "split")[3:8] == ["3", "2", "1", "0", "topi/transform.h:split"]
    row = _row(text, "cuda-split-tensorrt", "split")
    assert row[3:7] == ["3", "2", "0", "1"]                    # the shrunk case is no drawn case
    assert "1 of the matched held as [NOTRUN]" in row[8]
    assert "check not run: backend tvm-cuda cannot run here" in _row(text, "cuda-devices-only", "mean")[8]
    assert "| split | tensorrt | 3 | xfail 2 fail 1 |" in text
    assert "## 3 red record(s)" in text and "(case s0, seed None): shrunk" in text
    assert "- `split` tensorrt **fail**" in text and "- `split` reference **xpass**" in text
    assert "cpu-everywhere" not in text


def test_table_of_a_clean_run_exits_0_and_says_what_was_not_exercised(tmp_path, build, exps):
    path, _ = exps
    r = build.record
    records = [r("split", f"s{i}", "reference", "xfail", expectation="cuda-split", reason="known") for i in range(2)]
    records += [r("split", "s2", "reference", "pass"), r("split", "s0", "tensorrt", "pass"),
                r("mean", "m0", "reference", "pass")]
    rc, text = _table(tmp_path, _results(tmp_path, build, records, path), path)
    assert rc == 0 and "**Verdict: OK**: 0 XPASS, 0 unexplained" in text
    assert _row(text, "cuda-split", "split")[3:7] == ["3", "2", "0", "0"]
    assert "fewer cases than asked (3)" in _row(text, "cuda-split-tensorrt", "split")[8]
    assert "not exercised" in _row(text, "cuda-devices-only", "mean")[8]


def test_a_run_that_left_no_results_exits_2(tmp_path, exps):
    path, _ = exps
    assert G.main(["--table", str(tmp_path / "missing.jsonl"), "--expectations", path, "--out",
                   str(tmp_path / "o")]) == 2
    assert G.main(["--also", "no-such-id", "--expectations", path, "--out", str(tmp_path / "o")]) == 2


def test_dense_run_on_llvm(tmp_path):
    """One op, 3 cases, its reference check: an expectation that describes edge padding (a real
    departure of TVM's LLVM build) and a wrong one that describes the other pad modes (they pass):
    the table counts each from the records, and the run exits 1 for the XPASS."""
    (tmp_path / "exp.toml").write_text('''
[[expect]]
id = "llvm-pad-edge-limited"
ops = ["nn.pad"]
check = "reference"
when = ["pad-edge-nonzero"]
backends = ["tvm-llvm"]
source = "relax.nn.pad edge mode, LLVM"
reason = "pads with zeros"

[[expect]]
id = "llvm-pad-others-wrong"
ops = ["nn.pad"]
check = "reference"
attrs = { pad_mode = ["constant", "reflect"] }
backends = ["tvm-llvm"]
source = "nothing departs"
reason = "a wrong expectation"
''')
    env = {**os.environ, "XDG_CACHE_HOME": shared_cache() or str(tmp_path / "cache"),
           "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, TOOL, "--cases", "3", "--seed", "3", "--expectations", "exp.toml",
                           "--out", "out", "--", "--trt-backend", "tvm-llvm", "--trt-reference", "tvm-llvm",
                           "--trt-timing", "off", "--trt-isolate", "off"],      # no case worker: 10 s, not 20
                          cwd=tmp_path, env=env, capture_output=True, text=True)
    run = load_results(tmp_path / "out" / "dense.jsonl")
    recs = [r for r in run.records if not (r.details or {}).get("shrunk_from")]
    assert {r.check for r in recs} == {"reference"} and len({r.case_id for r in recs}) == 3, proc.stdout
    edge = sum(PREDICATES["pad-edge-nonzero"](Case.from_record(r)) for r in recs)
    others = sum(r.attrs.get("pad_mode") in ("constant", "reflect") for r in recs)
    assert others >= 1        # Hypothesis draws the simplest case first: constant mode, zero widths
    text = (tmp_path / "out" / "dense.md").read_text()
    assert _row(text, "llvm-pad-edge-limited", "nn.pad")[3:7] == ["3", str(edge), "0", "0"]
    assert _row(text, "llvm-pad-others-wrong", "nn.pad")[3:7] == ["3", "0", str(others), "0"]
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"NOT OK ({others} XPASS, 0 unexplained)" in proc.stdout
    assert run.env["hypothesis_cases"] == 3 and "--trt-cases 3" in text


def test_a_signal_to_the_sweep_reaches_its_run_and_is_waited_for(tmp_path):
    """A `timeout` around `make gpu-sweep` once left seed 9's pytest running after the tool had gone
    (it shared the card with the next run).  The tool passes the signal on and waits for the child."""
    import signal
    import threading

    from gpu_sweep import run_child

    ready, got = tmp_path / "ready", tmp_path / "got-term"
    child = (f"import signal, sys, pathlib\n"
             f"def stop(s, f):\n    pathlib.Path({str(got)!r}).write_text(str(s)); sys.exit(143)\n"
             f"signal.signal(signal.SIGTERM, stop)\n"
             f"pathlib.Path({str(ready)!r}).write_text('1')\n"
             f"while True:\n    signal.pause()\n")
    sent = threading.Event()

    def stop_the_tool():        # once the child is up (an event: its file), signal this process
        while not ready.exists():
            threading.Event().wait(0.01)
        os.kill(os.getpid(), signal.SIGTERM)
        sent.set()

    before = signal.getsignal(signal.SIGTERM)
    threading.Thread(target=stop_the_tool, daemon=True).start()
    with open(tmp_path / "log", "wb") as log:
        rc, stopped = run_child([sys.executable, "-c", child], log)
    assert sent.is_set() and stopped and rc == 143
    assert got.read_text() == str(int(signal.SIGTERM))
    assert signal.getsignal(signal.SIGTERM) == before        # the tool's own handler is back


def test_a_sweep_split_over_two_calls_is_put_back_together(tmp_path, build):
    """tools/gpu_sweep.py --table: the seeds two calls left in two folders make one table, one row per
    seed in seed order, each with its exit code and its red records; a folder with no seed exits 2."""
    import json

    S = tool("gpu_sweep")
    r = build.record
    head = build.header(env={"backend": "tvm-cuda", "reference": "tvm-cuda"})
    seeds = {3: ("a", 1, [r("split", "s1", "reference", "pass"), r("split", "s2", "reference", "xpass",
                                                                       reason="expected to fail but passed")]),
             1: ("b", 0, [r("mean", "m1", "reference", "pass"), r("mean", "m2", "reference", "xfail")])}
    for seed, (d, rc, recs) in seeds.items():
        os.makedirs(tmp_path / d, exist_ok=True)
        build.write(tmp_path / d / f"seed-{seed}.jsonl", head, recs)
        (tmp_path / d / f"seed-{seed}.json").write_text(json.dumps(
            {"seed": seed, "rc": rc, "wall": 61.4, "args": ["--trt-profile", "dev"]}))
    assert S.main(["--table", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "out")]) == 1
    text = (tmp_path / "out" / "sweep.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [row.split("|")[1:4] for row in rows] == [[" 1 ", " 2 ", " 0 "], [" 3 ", " 2 ", " 1 "]]
    assert "## Seed 3: 1 red record(s)" in text and "`split` reference **xpass**" in text
    assert "## Seed 1" not in text and "--trt-profile dev --trt-seed S" in text
    os.makedirs(tmp_path / "empty")
    assert S.main(["--table", str(tmp_path / "empty"), "--out", str(tmp_path / "o2")]) == 2


def test_table_of_records_judged_again(tmp_path, build, exps):
    """--rejudge: a failure recorded before its expectation was written counts as that expectation's
    match (and a case it now describes that passed, as its XPASS); without it, as recorded."""
    path, _ = exps
    r = build.record
    records = [r("split", "s1", "reference", "fail", reason="TVM CUDA vs numpy-oracle: wrong"),
               r("split", "s2", "reference", "pass")]
    head = build.header(env={"backend": "tvm-cuda", "reference": "tvm-cuda", "expectations": path,
                             "cuda_available": True})       # the reference check ran TVM's CUDA build too
    results = build.write(tmp_path / "r.jsonl", head, records)
    out = tmp_path / "out"
    assert G.main(["--table", results, "--expectations", path, "--out", str(out)]) == 1
    assert _row((out / "dense.md").read_text(), "cuda-split", "split")[3:7] == ["2", "0", "0", "1"]
    assert G.main(["--table", results, "--expectations", path, "--out", str(out), "--rejudge"]) == 1
    assert _row((out / "dense.md").read_text(), "cuda-split", "split")[3:7] == ["2", "1", "1", "0"]


def test_a_sweep_of_one_seed_runs_and_leaves_its_row(tmp_path):
    """tools/gpu_sweep.py end to end, one seed of one op on TVM's LLVM build: the seed's line, its
    seed-S.json and its row in sweep.md.  (A leftover name in the line after each seed once ended a
    GPU sweep with a NameError after its first seed's run.)"""
    import json

    env = {**os.environ, "XDG_CACHE_HOME": shared_cache() or str(tmp_path / "cache"),
           "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "gpu_sweep.py"), "--seeds", "3", "--profile",
                           "ci", "--out", "out", "--", "--trt-ops", "nn.relu", "--trt-cases", "2", "--trt-backend",
                           "tvm-llvm", "--trt-reference", "tvm-llvm", "--trt-timing", "off", "--trt-isolate", "off"],
                          cwd=tmp_path, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "seed 3: exit 0, 2 cases, 0 red" in proc.stdout, proc.stdout + proc.stderr
    facts = json.loads((tmp_path / "out" / "seed-3.json").read_text())
    assert facts["seed"] == 3 and facts["rc"] == 0 and "--trt-ops" in facts["args"]
    rows = [line for line in (tmp_path / "out" / "sweep.md").read_text().splitlines() if line.startswith("| 3 |")]
    assert len(rows) == 1 and rows[0].split("|")[2:4] == [" 2 ", " 0 "], rows


def test_an_expectation_that_is_not_strict_may_pass_but_the_table_says_it_was_not_seen(tmp_path, build):
    """A departure declared not strict (a race between thread blocks) may pass in every matched case:
    its XPASS records are counted apart, the verdict stays OK, and its row says the departure was not
    seen in this run.  The same XPASS of a strict expectation makes the verdict NOT OK.  An
    expectation of an op the run never drew is named once under the table, not given a row."""
    r = build.record
    for strict, rc_wanted in (("false", 0), ("true", 1)):
        exp = tmp_path / f"exp-{strict}.toml"
        exp.write_text(f'''
[[expect]]
id = "cuda-race"
ops = ["nn.conv2d_transpose"]
check = "reference"
backends = ["tvm-cuda"]
source = "a race"
reason = "a store that may land last"
strict = {strict}

[[expect]]
id = "cuda-split-elsewhere"
ops = ["split"]
check = "reference"
backends = ["tvm-cuda"]
source = "not in this run"
reason = "an op the run did not draw"
''')
        records = [r("nn.conv2d_transpose", f"c{i}", "reference", "xpass", expectation="cuda-race",
                     reason="expected to fail but passed") for i in range(2)]
        records.append(r("nn.conv2d_transpose", "c2", "reference", "pass"))
        rc, text = _table(tmp_path, _results(tmp_path, build, records, str(exp), name=f"r-{strict}.jsonl"), str(exp))
        row = _row(text, "cuda-race", "nn.conv2d_transpose")
        assert rc == rc_wanted, text
        if strict == "false":
            assert "**Verdict: OK**: 0 XPASS, 0 unexplained" in text and "2 XPASS of expectations that are not" in text
            assert row[3:7] == ["3", "0", "0 (+2 not strict)", "0"]
            assert "departure not seen: the 2 matched case(s) passed" in row[8]
        else:
            assert "**Verdict: NOT OK**: 2 XPASS" in text and row[3:7] == ["3", "0", "2", "0"]
        # an expectation of an op the run never drew: one line under the table, not a row of zeros
        assert "Not in this run (no case of the op ran that check), so not validated by it: " \
               "`cuda-split-elsewhere` (split)." in text
        with pytest.raises(AssertionError, match="no row"):
            _row(text, "cuda-split-elsewhere", "split")
