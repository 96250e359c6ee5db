"""`trt-harness run`: its help lists the harness's options, and a bad option value is one line,
exit 2, with the closest valid name suggested, found before pytest, TVM, NumPy or Hypothesis is
imported (a poisoned `tvm` on PYTHONPATH proves TVM is not even looked at)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from harness import options as O
from harness.errors import did_you_mean

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEAVY = ("tvm", "numpy", "hypothesis", "pytest")
IN_PROCESS = ("import sys\nfrom harness.cli import main\nrc = main(sys.argv[1:])\n"
              f"print('imported:', sorted(m for m in {HEAVY!r} if m in sys.modules))\nsys.exit(rc)\n")


@pytest.fixture(scope="module")
def poisoned(tmp_path_factory):
    """An environment whose `import tvm` raises."""
    folder = tmp_path_factory.mktemp("poison")
    (folder / "tvm").mkdir()
    (folder / "tvm" / "__init__.py").write_text('raise RuntimeError("POISON: tvm was imported")\n')
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(folder), ROOT, os.environ.get("PYTHONPATH", "")]))


def _cli(argv, env, cwd):
    return subprocess.run([sys.executable, "-c", IN_PROCESS, *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_run_help_lists_every_harness_option_with_its_help(tmp_path):
    out = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--help"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, env=dict(os.environ, COLUMNS="200"))
    assert out.returncode == 0, out.stderr
    flat = " ".join(out.stdout.split())
    for o in O.ALL:
        assert o.name in flat, o.name
        assert " ".join(o.kwargs["help"].split("%")[0].split()[:6]) in flat, o.name
    assert "go to pytest" in flat


BAD = [
    (["--trt-ops", "nn.rleu,add"], "--trt-ops: unknown op 'nn.rleu' (did you mean 'nn.relu'"),
    (["--trt-ops", "ad,nn.conv2d"], "unknown op 'ad' (did you mean 'add'?)"),
    (["--trt-version", "8.6"], "--trt-version: unknown TensorRT version '8.6' (did you mean 8.6.1?)"),
    (["--trt-version=10"], "(did you mean 10.0.1 or 10.3.0 or 10.7.0?)"),
    (["--trt-profile", "nihgtly"], "argument --trt-profile: unknown value 'nihgtly' (did you mean 'nightly'?)"),
    (["--trt-backend", "tensort"], "--trt-backend: unknown backend 'tensort' (did you mean 'tensorrt'?)"),
    (["--trt-reference=tvm-cdua"], "--trt-reference: unknown backend 'tvm-cdua' (did you mean 'tvm-cuda'"),
    (["--trt-checks", "offload,refrence"], "--trt-checks: unknown check 'refrence' (did you mean 'reference'?)"),
    (["--trt-op", "nn.relu"], "unknown option --trt-op (did you mean --trt-ops"),
    (["--suite", "op"], "no suite 'op' (did you mean 'ops'?)"),
    (["--trt-isolate", "maybe"], "argument --trt-isolate: unknown value 'maybe'; choose from auto, on, off"),
    (["--trt-shard", "4/3"], "--trt-shard: need 1 <= K <= N"),
    (["--trt-timeout", "abc"], "--trt-timeout: expected a number of seconds"),
    (["--trt-chunk", "0"], "--trt-chunk: must be a positive number"),
    (["--trt-cases", "0"], "--trt-cases: must be a positive number of cases per op"),
    (["--trt-cases", "many"], "argument --trt-cases: invalid int value: 'many'"),
]


@pytest.mark.parametrize("argv,message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_a_bad_run_option_is_one_line_with_a_suggestion_before_anything_heavy(argv, message, poisoned, tmp_path):
    p = _cli(["run", *argv], poisoned, tmp_path)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2, (p.returncode, p.stderr[-800:])
    assert len(lines) == 1 and lines[0].startswith("trt-harness: error: "), lines
    assert message in lines[0], lines[0]
    assert "POISON" not in p.stderr and "imported: []" in p.stdout, (p.stdout, p.stderr)
    assert os.listdir(tmp_path) == []       # nothing written: no junit.xml, no results


@pytest.mark.parametrize("command,message", [("rnu", "unknown command 'rnu' (did you mean 'run'?); commands: run, "),
                                             ("--verbose", "unknown option '--verbose'; commands: run, ")])
def test_an_unknown_command_is_one_line_with_a_suggestion(command, message, poisoned, tmp_path):
    p = _cli([command], poisoned, tmp_path)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2 and lines == [lines[0]] and message in lines[0], p.stderr
    assert "imported: []" in p.stdout


def test_pytest_checks_the_options_before_importing_tvm(poisoned, tmp_path):
    """The plugin path (`pytest suites/ops`): pytest's usage error (4), one line, the suggestion."""
    p = subprocess.run([sys.executable, "-m", "pytest", os.path.join(ROOT, "suites", "ops"), "-p", "no:cacheprovider",
                        "--trt-ops", "nn.rleu", f"--trt-results={tmp_path / 'r.jsonl'}"], cwd=tmp_path,
                       env=poisoned, capture_output=True, text=True, timeout=120)
    assert p.returncode == 4, (p.stdout[-500:], p.stderr[-800:])
    assert "POISON" not in p.stdout + p.stderr
    errors = [ln for ln in p.stderr.splitlines() if ln.startswith("ERROR:")]
    assert errors == ["ERROR: --trt-ops: unknown op 'nn.rleu' (did you mean 'nn.relu' or 'nn.leaky_relu'?); the ops "
                      "are harness/table.py's (`trt-harness doctor` counts them)"]


def test_a_bad_plan_file_is_found_before_importing_tvm(poisoned, tmp_path):
    """--trt-plan is read with the options: a file that is no plan is one line, TVM never imported."""
    (tmp_path / "bad.json").write_text("hello\n")
    p = subprocess.run([sys.executable, "-m", "pytest", os.path.join(ROOT, "suites", "ops"), "-p", "no:cacheprovider",
                        f"--trt-plan={tmp_path / 'bad.json'}", f"--trt-results={tmp_path / 'r.jsonl'}"], cwd=tmp_path,
                       env=poisoned, capture_output=True, text=True, timeout=120)
    assert p.returncode == 4, (p.stdout[-500:], p.stderr[-800:])
    assert "POISON" not in p.stdout + p.stderr
    errors = [ln for ln in p.stderr.splitlines() if ln.startswith("ERROR:")]
    assert len(errors) == 1 and errors[0].startswith("ERROR: --trt-plan: ") and "neither a results file nor a plan" \
        in errors[0], p.stderr[-800:]


def test_op_names_checked_early_are_the_tables():
    from harness.seed import seed_operators
    from harness.table import BY_NAME

    assert set(seed_operators()) == set(BY_NAME)


def test_options_forwarded_to_pytest_are_those_given():
    given = {"--trt-ops": "add", "--trt-report": "", "--trt-resume": True, "--trt-seed": 7}
    get = lambda name: given.get(name, next(o for o in O.ALL if o.name == name).kwargs.get("default"))  # noqa: E731
    assert sorted(O.to_argv(get)) == ["--trt-ops=add", "--trt-report=", "--trt-resume", "--trt-seed=7"]


def test_did_you_mean():
    assert did_you_mean("nn.rleu", ["nn.relu", "add"]) == " (did you mean 'nn.relu'?)"
    assert did_you_mean("TENSORRT", ["tensorrt", "tvm-cuda"]) == " (did you mean 'tensorrt'?)"
    assert did_you_mean("zzz", ["tensorrt", "tvm-cuda"]) == ""
