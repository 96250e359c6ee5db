"""Results that survive, and runs that split and join: a SIGKILLed run leaves a loadable file and
--trt-resume finishes it without redoing finished (case, check) pairs; xdist shards merge without
loss or duplicates; a run split into CI shards (--trt-shard K/N) and joined with `trt-harness merge`
has exactly the pairs of one unsharded run.

Every wait here is on an event (records appearing in the results file), never on a timer; the
deadlines only fail a test when nothing happened at all."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

import doubles
from harness.reader import load_results

OPS = "--trt-ops=nn.relu,exp,sigmoid,nn.conv2d"
NOTHING_HAPPENED_S = 600     # only a machine that does nothing at all for this long fails the wait


def _pairs(records):
    return [(r.case_id, r.check) for r in records]


def _raw_records(path):
    import json

    with open(path, "rb") as fh:
        out = []
        for line in fh:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if obj.get("kind") == "record":
                out.append((obj["case_id"], obj["check"]))
        return out


@pytest.fixture(scope="module")
def unsharded(tmp_path_factory, suite_here_once):
    """One serial, unsharded run of OPS: the reference that the SIGKILL, xdist and CI-shard tests
    compare with (each drew the same plan and ran it alone before).  In this process: the runs it is
    compared with cross the process boundary, it need not."""
    work = tmp_path_factory.mktemp("unsharded")
    rc, out, records = suite_here_once(work, OPS)    # (its pairs do not depend on the build cache)
    assert rc == 0, out[-2000:]
    return work / "out" / "results.jsonl", records


def _wait_for_records(path, n, proc):
    """Block until ``path`` holds at least ``n`` records (or the process ended)."""
    deadline = time.monotonic() + NOTHING_HAPPENED_S
    while time.monotonic() < deadline:
        if os.path.exists(path) and len(_raw_records(path)) >= n:
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    raise AssertionError(f"no {n} records in {path} after {NOTHING_HAPPENED_S} s: the run made no progress")


def test_sigkill_leaves_loadable_file_and_resume_finishes(tmp_path, capsys, unsharded):
    work = tmp_path / "w"
    # The killed run builds everything (no build cache): it is surely still running when its 20th
    # record appears.  The resume may use the cache: the pairs do not depend on it.
    argv, env, results = doubles.suite_command(work, OPS)
    killed_argv = argv + ["--trt-build-cache=off"]
    want = set(_pairs(load_results(str(unsharded[0])).records))

    proc = subprocess.Popen(killed_argv, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    kill_after = 20           # records: the run is well under way, and far from done
    reached = _wait_for_records(results, kill_after, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert reached, "the run ended before it could be killed"
    killed = load_results(results)            # must not raise
    got = _pairs(killed.records)
    assert len(got) >= kill_after and len(got) == len(set(got))
    assert set(got) <= want
    resumed = subprocess.run(argv + ["--trt-resume"], cwd=work, env=env, capture_output=True, text=True,
                             timeout=900)
    assert resumed.returncode == 0, resumed.stdout[-2000:]
    raw = _raw_records(results)
    final = set(_pairs(load_results(results).records))
    with capsys.disabled():
        print(f"\nSIGKILL after {len(got)} records: {len(got)} of {len(want)} (case, check) pairs survived and load; "
              f"resume added {len(raw) - len(got)}; final {len(final)} pairs, {len(raw) - len(set(raw))} redone")
    # The plan is drawn before anything runs, so the resumed run has exactly the reference's pairs.
    assert final == want
    assert len(raw) == len(set(raw)), "resume redid finished (case, check) pairs"


def test_xdist_shards_merge_like_a_serial_run(tmp_path, capsys, unsharded, suite_here):
    """The ops' cases are drawn op by op, so a run of some of OPS has exactly the serial run's pairs of
    those ops: the xdist run leaves out nn.conv2d, whose builds would only make it slower.  Its
    controller runs in this process (its two workers are processes, as always)."""
    ops = ["nn.relu", "exp", "sigmoid"]
    serial = [r for r in unsharded[1] if r["op"] in ops]
    rc2, out2, par = suite_here(tmp_path / "xdist", "--trt-ops=" + ",".join(ops), "-n", "2")
    assert rc2 == 0, out2[-2000:]
    s, p = [(r["case_id"], r["check"]) for r in serial], [(r["case_id"], r["check"]) for r in par]
    with capsys.disabled():
        print(f"\nxdist -n 2: {len(p)} records merged ({len(set(p))} distinct) vs serial {len(s)}; "
              f"missing {len(set(s) - set(p))}, extra {len(set(p) - set(s))}")
    assert len(p) == len(set(p)), "duplicates after merge"
    assert set(p) == set(s)
    assert not list((tmp_path / "xdist" / "out").glob("results.jsonl.gw*")), "shards left behind"
    run = load_results(str(tmp_path / "xdist" / "out" / "results.jsonl"))
    assert {r.worker for r in run.records} == {"gw0", "gw1"}


def test_ci_shards_merge_into_the_unsharded_run(tmp_path, capsys, unsharded, suite_here):
    n = 3
    whole = unsharded[1]
    parts = []
    for k in range(1, n + 1):   # in this process: the shards' process boundary is not what is tested
        rc, out, recs = suite_here(tmp_path / f"shard{k}", OPS, f"--trt-shard={k}/{n}")
        assert rc == 0, out[-2000:]
        parts.append(str(tmp_path / f"shard{k}" / "out" / "results.jsonl"))
    merged = str(tmp_path / "merged.jsonl")
    cli = subprocess.run([sys.executable, "-m", "harness.cli", "merge", *parts, "-o", merged], capture_output=True,
                         text=True, timeout=120, env=dict(os.environ, PYTHONPATH=doubles.ROOT))
    assert cli.returncode == 0, cli.stderr
    raw = _raw_records(merged)
    want = {(r["case_id"], r["check"]) for r in whole}
    sizes = [len(load_results(p).records) for p in parts]
    with capsys.disabled():
        print(f"\nCI shards {n}: {sizes} records per shard, merged {len(raw)} ({len(set(raw))} distinct) vs unsharded "
              f"{len(want)}; missing {len(want - set(raw))}, extra {len(set(raw) - want)}")
    assert len(raw) == len(set(raw)), "duplicates after merge"
    assert set(raw) == want
    assert all(s > 0 for s in sizes), "a shard ran nothing"
    run = load_results(merged)
    assert sorted(run.env["merged_shards"]) == [f"{k}/{n}" for k in range(1, n + 1)]
