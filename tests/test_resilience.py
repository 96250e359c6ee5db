"""Results that survive: a SIGKILLed run leaves a loadable file; --trt-resume finishes it without
redoing finished (case, check) pairs; xdist shards merge without loss or duplicates."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time

import doubles
from harness.reader import load_results

OPS = "--trt-ops=nn.relu,exp,sigmoid,nn.conv2d"


def _pairs(records):
    return [(r["case_id"], r["check"]) for r in records]


def test_sigkill_leaves_loadable_file_and_resume_finishes(tmp_path, capsys):
    work = tmp_path / "w"
    argv, env, results = doubles.suite_command(work, OPS)
    # a complete reference run, serial (ci profile: derandomized, so the same cases)
    ref = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert ref.returncode == 0, ref.stdout[-2000:]
    want = set(_pairs(load_results(results).records))
    os.rename(results, str(tmp_path / "reference.jsonl"))

    rng = random.Random()
    delay = rng.uniform(3.0, 9.0)
    proc = subprocess.Popen(argv, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    time.sleep(delay)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = load_results(results)            # must not raise
    got = _pairs(killed.records)
    assert len(got) == len(set(got))
    assert set(got) <= want
    resumed = subprocess.run(argv + ["--trt-resume"], cwd=work, env=env, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stdout[-2000:]
    final = _pairs(load_results(results).records)
    with open(results) as fh:
        raw = [json.loads(line) for line in fh if line.strip().startswith("{") and '"record"' in line]
    raw_pairs = [(r["case_id"], r["check"]) for r in raw]
    with capsys.disabled():
        print(f"\nSIGKILL after {delay:.1f}s: {len(got)} of {len(want)} (case, check) records survived and load; "
              f"resume added {len(raw_pairs) - len(got)}; final {len(set(final))} pairs, "
              f"{len(raw_pairs) - len(set(raw_pairs))} redone")
    # Nothing the killed run wrote is lost, nothing is redone, and every (op, check) ends with at
    # least as many cases as the uninterrupted run.  Which cases: Hypothesis' generation, though
    # derandomized, is not promised to repeat exactly once earlier examples return at once (seen
    # in CI: the resumed run drew one conv2d case the reference run did not, and not another).
    import collections

    assert set(got) <= set(final)
    assert len(raw_pairs) == len(set(raw_pairs)), "resume redid finished (case, check) pairs"
    per_test = lambda pairs: collections.Counter((c.rsplit("-", 1)[0], k) for c, k in pairs)  # noqa: E731
    done, ref = per_test(set(final)), per_test(want)
    assert set(done) == set(ref) and all(done[k] >= ref[k] for k in ref), (done, ref)


def test_xdist_shards_merge_like_a_serial_run(tmp_path, capsys):
    rc1, out1, serial = doubles.run_suite(tmp_path / "serial", OPS)
    rc2, out2, par = doubles.run_suite(tmp_path / "xdist", OPS, "-n", "2")
    assert rc1 == 0, out1[-2000:]
    assert rc2 == 0, out2[-2000:]
    s, p = _pairs(serial), _pairs(par)
    with capsys.disabled():
        print(f"\nxdist -n 2: {len(p)} records merged ({len(set(p))} distinct) vs serial {len(s)}; "
              f"missing {len(set(s) - set(p))}, extra {len(set(p) - set(s))}")
    assert len(p) == len(set(p)), "duplicates after merge"
    assert set(p) == set(s)
    assert not list((tmp_path / "xdist" / "out").glob("results.jsonl.gw*")), "shards left behind"
    load_results(str(tmp_path / "xdist" / "out" / "results.jsonl"))
