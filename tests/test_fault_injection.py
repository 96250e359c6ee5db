"""Fault injection: broken backends and partitioners (tests/doubles.py) must each be caught.

Each fault runs the op suite in a pytest session of its own with one double installed (in this
process, through pytester, the double undone afterwards: a child interpreter per fault cost most of
this test's time); a crash or a hang still happens in the harness's isolated worker, forked from it.
The table of (fault, expected outcome, seen outcome) and the share caught are printed (-s shows it).
"""
from __future__ import annotations

import os
import time

import pytest

import doubles

# fault, double, op, check, extra args, expected (check, outcome, predicate on the caught record)
FAULTS = [
    ("numeric error small (1e-3 rel)", "numeric-small", "exp", "preserve", [],
     ("preserve", "fail"), lambda r: 5e-4 < float(r["max_rel_err"]) < 2e-3),
    ("numeric error large (x2)", "numeric-large", "exp", "preserve", [],
     ("preserve", "fail"), lambda r: float(r["max_rel_err"]) > 0.5),
    ("NaN in output", "nan-output", "exp", "preserve", [],
     ("preserve", "fail"), lambda r: r["nan_inf_agree"] is False and "NaN" in r["reason"]),
    ("Inf in output", "inf-output", "exp", "preserve", [],
     ("preserve", "fail"), lambda r: r["nan_inf_agree"] is False and "Inf" in r["reason"]),
    ("dropped offload", "partition-drops-ops", "nn.relu", "offload", [],
     ("offload", "fail"), lambda r: r["offload"]["verdict"] == "under-offload"),
    ("extra offload", "partition-extra-offload", "nn.leaky_relu", "offload", ["--trt-no-expectations",
                                                                               "--trt-version=5.0.2"],
     ("offload", "fail"), lambda r: r["offload"]["verdict"] == "over-offload"),
    # The crash and the hang: three cases (--trt-cases) of the ci profile's ten, each case a killed
    # worker and a fresh one: three show it as well as ten, the isolation is what is tested.
    ("crash (SIGSEGV in the case)", "crash-in-case", "nn.relu", "offload", ["--trt-timeout=60", "--trt-cases=3"],
     ("offload", "error"), lambda r: r["error_kind"] == "crash" and "SIGSEGV" in r["reason"]),
    # Every request of this run hangs (its partitioner sleeps an hour, in each case and in each
    # reproducer), so no legitimate request can meet the limit, and a tiny one is as sure as a long
    # one: the isolator's wait is event-driven (it returns on the worker's answer or the limit).
    # Each case costs the limit, the bisection of the unit a few times over (at 1 s and ten cases: 55 s).
    ("hang (sleep past --trt-timeout)", "hang-in-case", "nn.relu", "offload", ["--trt-timeout=0.05", "--trt-cases=3"],
     ("offload", "error"), lambda r: r["error_kind"] == "timeout" and "(limit 0.05 s)" in r["reason"]),
]


def _one(pytester, fault):
    import json

    name, double, op, k, extra, (check, outcome), pred = fault
    t0 = time.perf_counter()
    results = pytester.path / double / "results.jsonl"
    mp = pytest.MonkeyPatch()
    doubles.install(double, mp)
    try:
        res = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q", f"--trt-results={results}",
                                           "--trt-report=", f"--trt-ops={op}", f"--trt-checks={k}", *extra)
    finally:
        mp.undo()
    rc, out = int(res.ret), "\n".join(res.outlines[-40:])
    records = []
    if results.exists():
        records = [r for r in (json.loads(line) for line in results.read_text().splitlines() if line.strip())
                   if r.get("kind") == "record"]
    mine = [r for r in records if r["check"] == check]
    caught = [r for r in mine if r["outcome"] == outcome and pred(r)]
    seen = sorted({r["outcome"] + (f"/{r['error_kind']}" if r.get("error_kind") else "") for r in mine}) or ["none"]
    return {"fault": name, "expected": f"{check} {outcome}", "seen": ",".join(seen), "rc": rc,
            "caught": bool(caught) and rc == 1, "secs": time.perf_counter() - t0, "out": out[-1500:]}


def _slowdown(tmp_path):
    """The timing path: a backend 50x slower, in the process's own CPU time, timed by
    harness.timing.measure on the process's CPU clock (so no load on the machine can blur the two:
    a first version timed it on the wall clock, and under two CPU hogs the base's noise hid the
    slowdown from the gate), then gated."""
    from harness import cli, timing
    from harness.records import Record, Stats, Timing
    from harness.results import ResultsWriter, header

    def busy(cpu_seconds):
        def fn(n=1):   # measure calls run(n): n calls, one synchronisation
            end = time.process_time() + cpu_seconds * n
            while time.process_time() < end:
                pass
        return fn

    paths = []
    for label, secs in (("base", 2e-4), ("cur", 1e-2)):
        path = str(tmp_path / f"{label}.jsonl")
        w = ResultsWriter(path, header(suite="ops", env={"gpu": "synthetic"}, with_table=False))
        stats = timing.measure(busy(secs), warmup=1, rounds=15, max_total_s=2.0, clock=time.process_time)
        lat = Stats(**{k: stats[k] for k in Stats.__struct_fields__ if k in stats})
        w.write(Record(op="nn.relu", check="tensorrt", outcome="pass", case_id="nn.relu-synthetic",
                       timings={"tensorrt": Timing(latency=lat, device=lat, method="synthetic (CPU time)",
                                                   exclusive=True)}))
        w.close()
        paths.append(path)
    rc = cli.main(["gate", *paths])
    return {"fault": "slowdown (50x, CPU time)", "expected": "gate performance regression (exit 1)",
            "seen": f"gate exit {rc}", "rc": rc, "caught": rc == 1, "secs": 0.0, "out": ""}


def test_every_injected_fault_is_caught(_harness_imported, pytester, tmp_path, capsys, monkeypatch):
    from conftest import ROOT, shared_cache

    with open(os.path.join(ROOT, "suites", "ops", "test_ops.py")) as fh:
        pytester.makepyfile(test_ops=fh.read())
    monkeypatch.setenv("TRT_HARNESS_FORCE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", shared_cache() or str(tmp_path / ".cache"))
    rows = [_one(pytester, f) for f in FAULTS]
    rows.append(_slowdown(tmp_path))
    caught = sum(r["caught"] for r in rows)
    with capsys.disabled():
        print(f"\nfault injection: {caught}/{len(rows)} caught ({100 * caught / len(rows):.0f}%)")
        print(f"  {'fault':34s} {'expected outcome':38s} {'seen outcome':22s} caught")
        for r in rows:
            print(f"  {r['fault']:34s} {r['expected']:38s} {r['seen']:22s} {'yes' if r['caught'] else 'NO'}"
                  f"  ({r['secs']:.0f}s)")
    missed = [r for r in rows if not r["caught"]]
    assert not missed, "\n\n".join(f"{r['fault']}: rc={r['rc']} seen={r['seen']}\n{r['out']}" for r in missed)
