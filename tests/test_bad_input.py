"""Bad input corpus (tests/data/bad/): every bad file or option is met by one clear line and exit
code 2 (CLI) or a pytest usage error (exit 4), and nothing that existed before is overwritten."""
from __future__ import annotations

import concurrent.futures as cf
import os
import subprocess
import sys

import pytest

import doubles

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
BAD = os.path.join(TESTS, "data", "bad")
RESULTS = sorted(os.listdir(os.path.join(BAD, "results")))
EXPECTATIONS = sorted(os.listdir(os.path.join(BAD, "expectations")))
ONNX = sorted(os.listdir(os.path.join(BAD, "onnx")))
BAD_OPTIONS = [["--trt-timeout=abc"], ["--trt-timeout=-1"], ["--trt-timeout=inf"], ["--trt-isolate=maybe"],
               ["--trt-ops=no.such.op"], ["--trt-version=banana"], ["--trt-profile=nope"],
               ["--trt-backend=nope"]]


def _cli(*args, cwd):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, errors="replace", timeout=120)


def _cli_in_process(*args, cwd):
    """``trt-harness ARGS`` through the same ``cli.main`` in this process (its exit code, stdout and
    stderr), without a new interpreter's start-up per call."""
    import contextlib
    import io

    from harness import cli

    out, err, here = io.StringIO(), io.StringIO(), os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = cli.main(list(args))
    finally:
        os.chdir(here)
    return subprocess.CompletedProcess(list(args), rc, out.getvalue(), err.getvalue())


def _good_results(path):
    from harness.records import Record
    from harness.results import ResultsWriter, header

    w = ResultsWriter(path, header(suite="ops", env={}, with_table=False))
    w.write(Record(op="nn.relu", check="offload", outcome="pass", case_id="nn.relu-0000000000"))
    w.close()


def _snapshot(paths):
    return {p: (os.stat(p).st_mtime_ns, open(p, "rb").read()) for p in paths}


def _one_line(stderr):
    lines = [line for line in stderr.splitlines() if line.strip() and "warning:" not in line]
    return lines


@pytest.fixture(scope="module")
def huge_results(tmp_path_factory):
    """A 'huge' results file: a 64 MiB single line (generated, not committed)."""
    path = tmp_path_factory.mktemp("huge") / "huge.jsonl"
    with open(path, "wb") as fh:
        fh.write(b'{"kind": "header", "x": "' + b"a" * (64 << 20) + b'"}\n')
    return str(path)


def test_bad_files_via_cli(tmp_path, huge_results, capsys):
    good = str(tmp_path / "good.jsonl")
    _good_results(good)
    html = tmp_path / "report.html"
    html.write_text("PRE-EXISTING")
    jsonout = tmp_path / "verdict.json"
    jsonout.write_text("PRE-EXISTING")
    guarded = [good, str(html), str(jsonout)]
    before = _snapshot(guarded)
    jobs = []
    for name in RESULTS:
        bad = os.path.join(BAD, "results", name)
        jobs += [(f"results/{name} as gate baseline", ["gate", bad, good, "--json", str(jsonout)]),
                 (f"results/{name} as gate current", ["gate", good, bad]),
                 (f"results/{name} to report", ["report", bad, "-o", str(html)])]
    jobs += [("results/huge (64 MiB line) to gate", ["gate", huge_results, good]),
             ("missing file to gate", ["gate", good, str(tmp_path / "nope.jsonl")]),
             ("directory to report", ["report", str(tmp_path), "-o", str(html)])]
    for name in ONNX:
        jobs.append((f"onnx/{name} to check", ["check", os.path.join(BAD, "onnx", name)]))
    # The first call of each command runs as a real process (its exit status and stderr as a shell
    # sees them); the rest go through the same cli.main in this process.
    first = {}
    for i, (_, argv) in enumerate(jobs):
        first.setdefault(argv[0], i)
    with cf.ThreadPoolExecutor(4) as ex:
        procs = {i: ex.submit(_cli, *jobs[i][1], cwd=str(tmp_path)) for i in first.values()}
        outs = [(what, procs[i].result() if i in procs else _cli_in_process(*argv, cwd=str(tmp_path)))
                for i, (what, argv) in enumerate(jobs)]
    bad_rows = []
    with capsys.disabled():
        print(f"\nbad input corpus (CLI): {len(RESULTS)} results files + huge + missing + directory, "
              f"{len(ONNX)} ONNX files -> {len(jobs)} invocations")
        for what, p in outs:
            lines = _one_line(p.stderr)
            ok = p.returncode == 2 and len(lines) == 1 and lines[0].startswith("trt-harness")
            print(f"  {'ok ' if ok else 'BAD'} exit {p.returncode}  {what:52s} {(lines or [''])[0][:110]}")
            if not ok:
                bad_rows.append((what, p.returncode, p.stdout[-500:], p.stderr[-1500:]))
    assert _snapshot(guarded) == before, "a pre-existing file was overwritten"
    assert not bad_rows, bad_rows


def test_bad_expectations_and_options_are_usage_errors(pytester, capsys):
    """Each bad expectations file, option and resumed results file, through pytest and the plugin
    (in this process: the same configure path as a child pytest without its start-up cost; the
    child-process path is covered by test_trt_harness_run_maps_a_usage_error_to_exit_2)."""
    with open(os.path.join(ROOT, "suites", "ops", "test_ops.py")) as fh:
        pytester.makepyfile(test_ops=fh.read())
    jobs = [(f"expectations/{n}", [f"--trt-expectations={os.path.join(BAD, 'expectations', n)}"])
            for n in EXPECTATIONS]
    jobs += [(" ".join(o), o) for o in BAD_OPTIONS]
    jobs += [(f"--trt-resume on results/{n}", ["--trt-resume"], os.path.join(BAD, "results", n))
             for n in ("not-json.jsonl", "wrong-type-outcome.jsonl", "non-utf8.jsonl")]
    outs = []
    for i, job in enumerate(jobs):
        what, args = job[0], job[1]
        results = str(pytester.path / f"out{i}" / "results.jsonl")
        os.makedirs(os.path.dirname(results))
        if len(job) > 2:
            with open(job[2], "rb") as src, open(results, "wb") as dst:
                dst.write(src.read())
        else:
            _good_results(results)
        before = _snapshot([results])
        res = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q", f"--trt-results={results}", "--trt-report=",
                                           "--trt-ops=nn.relu", "--trt-checks=offload", *args)
        untouched = _snapshot([results]) == before and os.listdir(os.path.dirname(results)) == ["results.jsonl"]
        outs.append((what, res, untouched))
    bad_rows = []
    with capsys.disabled():
        print(f"\nbad input corpus (pytest): {len(EXPECTATIONS)} expectations files, {len(BAD_OPTIONS)} bad options, "
              f"3 bad results files under --trt-resume -> {len(jobs)} runs")
        for what, res, untouched in outs:
            lines = [line for line in res.errlines if line.strip()]
            argparse_error = [line for line in lines if "error: argument" in line]
            if argparse_error:   # pytest's own argparse: usage lines, then the one error line
                lines = argparse_error
            ok = res.ret == 4 and len(lines) == 1 and untouched
            print(f"  {'ok ' if ok else 'BAD'} exit {int(res.ret)}  {what:48s} {(lines or [''])[0][:110]}")
            if not ok:
                bad_rows.append((what, res.ret, untouched, res.outlines[-10:], res.errlines[-10:]))
    assert not bad_rows, bad_rows


def test_trt_harness_run_maps_a_usage_error_to_exit_2(tmp_path):
    """`trt-harness run` keeps the CLI's codes: an expectations file naming an unknown predicate is
    one line and exit 2 (pytest itself says 4), and the results file is not created."""
    argv, env, results = doubles.suite_command(tmp_path, "--trt-ops=nn.relu", "--trt-checks=offload")
    bad = os.path.join(BAD, "expectations", "unknown-predicate.toml")
    p = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--suite", str(tmp_path),
                        "--junitxml", str(tmp_path / "junit.xml"), "-p", "no:cacheprovider", f"--rootdir={tmp_path}",
                        f"--trt-results={results}", "--trt-report=", f"--trt-expectations={bad}"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, errors="replace", timeout=120)
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert p.returncode == 2, (p.returncode, p.stdout[-500:], p.stderr[-800:])
    assert len(lines) == 1 and "split-has-no-such-predicate" in lines[0], lines
    assert not os.path.exists(results)


def test_no_unsafe_deserialisation_in_the_package():
    import re

    hits = []
    for dirpath, _, files in os.walk(os.path.join(ROOT, "harness")):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(dirpath, f)
                for i, line in enumerate(open(path, encoding="utf-8"), 1):
                    code = line.split("#")[0]
                    if re.search(r"\bpickle\.loads?\(|\beval\(|\bexec\(|allow_pickle\s*=\s*True|yaml\.load\(", code):
                        hits.append(f"{os.path.relpath(path, ROOT)}:{i}: {line.strip()}")
    assert not hits, hits


@pytest.mark.parametrize("extra", ["", "\x00"], ids=["quotes-backslashes-triples", "nul-byte"])
def test_reproducer_quotes_hostile_text(tmp_path, extra):
    import numpy as np

    from harness import repro
    from harness.case import Case
    from harness.program import build_case
    from harness.records import Tolerance
    from harness.table import BY_NAME

    hostile = 'he said "hi" \'there\' \\ back\\slash """triple""" \'\'\'single\'\'\' \n newline end' + extra
    entry = BY_NAME["nn.relu"]
    case = Case(op="nn.relu", dtype="float32", shapes=((2, 3),), attrs={})
    prog = build_case(entry, case)
    path = repro.write(str(tmp_path), stem=case.case_id + "-reference", check="reference", outcome="fail",
                       reason=hostile, program=prog, oracle=[np.maximum(prog.inputs[0], 0)],
                       tolerance=Tolerance(atol=1e-5, rtol=1e-5), expected_offload={hostile: 1})
    text = open(path, encoding="utf-8").read()
    compile(text, path, "exec")
