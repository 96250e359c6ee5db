"""A harness session: the settings of a run and its state (results file, worker, counts).

The pytest plugin (:mod:`harness.plugin`) is a thin face in front of it, as pytest-benchmark's
plugin is in front of its ``BenchmarkSession``: it parses options into :class:`Settings`, creates
the :class:`Session`, hands it the units of work, and asks it to finish.
"""
from __future__ import annotations

import collections
import datetime as _dt
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

from . import options as O
from .errors import HarnessError, InputError
from .expectations import Context
from .records import CHECKS, Record, is_op_level
from .results import ResultsWriter, append_shards, environment, header, worker_shards
from .versions import format_version, loose_version


@dataclass(frozen=True)
class Settings:
    target: O.Target
    profile: str = "ci"
    seed: int | None = 0
    cases: int | None = None                              # --trt-cases: distinct cases per op, not the profile's
    ops: frozenset = frozenset()
    checks: tuple = CHECKS
    shard: tuple | None = None
    chunk: int | None = None
    backend: str = "tensorrt"
    reference: str = "tvm-cuda"
    results_path: str = O.DEFAULT_RESULTS
    report_path: str = O.DEFAULT_REPORT
    repro_dir: str = os.path.join("reports", "repro")
    resume: bool = False
    isolate: bool = True
    timeout: float = 120.0
    build_cache: str | None = None
    timing: str = "auto"
    plan_path: str | None = None                          # --trt-plan: run exactly these cases
    runner: str = "auto"                                  # --trt-runner (harness.runner)

    @property
    def trt_version(self) -> tuple:
        return self.target.trt_version

    @property
    def implicit_batch(self) -> bool:
        return self.target.implicit_batch

    @property
    def expectations(self) -> tuple:
        return self.target.expectations


def settings_from(get: Callable[[str], object]) -> Settings:
    """Settings from parsed options (``get("--trt-version")``); InputError on a bad one."""
    from .builds import DEFAULT_CACHE_DIR

    sel = O.selection(get)     # first: the cheap checks, with suggestions
    target = O.target(get)
    results = get("--trt-results")
    if not results or os.path.isdir(results):
        raise InputError(f"--trt-results: {results!r} is not a file path")
    cache = get("--trt-build-cache") or "auto"
    cache_dir = None if cache == "off" else DEFAULT_CACHE_DIR if cache == "auto" else cache
    seed = get("--trt-seed")
    profile = get("--trt-profile") or "ci"
    if seed is None and profile == "ci":
        seed = 0   # ci is deterministic: the same cases on every run and machine
    elif seed is None:
        # dev/nightly draw fresh cases each run; the seed is chosen here so the header records it
        # and `--trt-seed N` replays the run.
        import random

        seed = random.SystemRandom().randrange(2**32)
    return Settings(
        target=target, profile=profile, seed=seed, cases=sel.cases, ops=sel.ops, checks=sel.checks, shard=sel.shard,
        chunk=sel.chunk, backend=sel.backend, reference=sel.reference, results_path=results,
        report_path=get("--trt-report") if get("--trt-report") is not None else O.DEFAULT_REPORT,
        repro_dir=get("--trt-repro-dir") or os.path.join(os.path.dirname(results) or ".", "repro"),
        resume=bool(get("--trt-resume")), isolate=get("--trt-isolate") != "off", timeout=sel.timeout,
        build_cache=cache_dir, timing=get("--trt-timing") or "auto", plan_path=get("--trt-plan") or None,
        runner=get("--trt-runner") or "auto")


def context_for(check: str, *, backend: str, reference: str, cuda_reference: bool, tvm, trt) -> Context:
    """Where ``check`` runs (its backends and their devices), for the expectations' limits."""
    from .backends import get_backend

    names: set = set()
    if check in ("preserve", "reference"):
        names.add("tvm-llvm")
    if check == "reference" and cuda_reference:
        names.add("tvm-cuda")
    if check == "tensorrt":
        names |= {backend, reference}
    devices = {get_backend(n).device_kind for n in names} or {"cpu"}
    return Context(backends=frozenset(names), devices=frozenset(devices), tvm=tvm, trt=trt)


@dataclass
class Session:
    """The state of one run, in one process (the xdist controller or a worker)."""

    settings: Settings
    worker: str | None = None
    writer: ResultsWriter | None = None
    done: set = field(default_factory=set)
    counts: collections.Counter = field(default_factory=collections.Counter)
    cases: set = field(default_factory=set)
    ops: set = field(default_factory=set)
    started: float = field(default_factory=time.time)
    rotated: str | None = None
    isolator: object | None = None
    confirmed: dict = field(default_factory=dict)        # known-crash expectation id -> case that confirmed it
    refuted: set = field(default_factory=set)            # known-crash expectation ids that did not crash
    report_written: str | None = None
    report_error: str | None = None
    device: str | None = None
    units: list | None = None                             # the plan (harness.plan), drawn when first needed
    plan_facts: dict = field(default_factory=dict)        # plan hash and source, for the header
    skipped: dict = field(default_factory=dict)           # check -> (ops, reason) of checks that did not run
    reproduced: set = field(default_factory=set)          # expectations without a reproducer that got one
    run_token: str | None = None                          # one for all of an xdist run's workers (harness.confirm)
    interrupted: bool = False
    not_run: list = field(default_factory=list)           # ops of a replayed plan that the table lacks
    parallel: bool = False
    gpu_use_error: str | None = None
    supervisor: object | None = None                      # the runners (harness.runner), controller only
    gpu_use: list = field(default_factory=list)           # their accounting, at the end
    stranded: str | None = None                           # a device kind left without a runner: which cards, why

    # -- life cycle -------------------------------------------------------------------------
    def open(self, *, placement: dict | None = None, argv: list | None = None, suite: str = "ops") -> None:
        """Open the results file (the worker's own shard under xdist) and start the case worker."""
        s = self.settings
        path = f"{s.results_path}.{self.worker}" if self.worker else s.results_path
        if not self.worker:
            stale = worker_shards(s.results_path)
            if stale:   # a killed xdist run left finished records behind: keep them
                append_shards(s.results_path, stale)
        if s.resume and os.path.exists(s.results_path):
            self.done = done_pairs(s.results_path, self.plan_facts.get("plan"))
        elif os.path.exists(path) and os.path.getsize(path) > 0 and not self.worker:
            stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
            self.rotated = f"{os.path.splitext(path)[0]}-{stamp}.jsonl"
            shutil.move(path, self.rotated)
        if self.worker and os.path.exists(path):
            os.remove(path)
        head = header(suite=suite, env=environment(
            hypothesis_profile=s.profile, hypothesis_seed=s.seed, trt_version=format_version(s.trt_version),
            implicit_batch=s.implicit_batch, backend=s.backend, reference=s.reference, isolate=s.isolate,
            worker=self.worker, argv=list(argv if argv is not None else sys.argv[1:]),
            expectations=s.target.expectations_path, build_cache=s.build_cache, chunk=s.chunk, **self.plan_facts,
            **({"hypothesis_cases": s.cases} if s.cases else {})),
            shard=f"{s.shard[0]}/{s.shard[1]}" if s.shard else None, placement=placement,
            expectations=s.expectations)
        self.writer = ResultsWriter(path, head, resume=s.resume and not self.worker)

    def start_runners(self) -> None:
        """Controller only: one runner per GPU (harness.runner), before its xdist workers ask for them (harness.handoff)."""
        from . import gpu
        from .runner import supervisor as S

        s = self.settings
        if not ({"reference", "tensorrt"} & set(s.checks)):
            return
        kinds = S.plan(s.runner, gpu_info=gpu.probe())
        if kinds:
            self.supervisor = S.Supervisor(kinds, timeout=s.timeout, standby=S.standbys(kinds))
            self.supervisor.start()

    def stop_runners(self) -> None:
        if self.supervisor is None:
            return
        try:
            self.stranded = self.supervisor.stranded()
            self.gpu_use = self.supervisor.stats()
        finally:
            self.supervisor.stop()
            self.supervisor = None

    def start_worker(self) -> None:
        from .isolate import Isolator

        self.isolator = Isolator(self.settings.timeout, "auto" if self.settings.isolate else None)

    def close(self) -> None:
        if self.isolator is not None:
            self.isolator.close()
        if self.writer is not None:
            self.writer.close()

    def finish(self) -> None:
        """Controller only: merge the workers' shards, prune the build cache, write the report."""
        s = self.settings
        self.stop_runners()
        shards = worker_shards(s.results_path)
        if shards:
            append_shards(s.results_path, shards, run_id=self.writer.run_id if self.writer else None)
            from .confirm import forget_run

            forget_run(s.repro_dir)
        if self.gpu_use:
            from .results import note_gpu_use

            why = note_gpu_use(s.results_path, self.gpu_use)
            if why:
                self.gpu_use_error = f"the GPU accounting could not be written into the header: {why}"
        if shards or s.resume:     # the summary counts the whole file, earlier parts included
            self._recount()
        if s.build_cache:
            from .builds import BuildCache

            BuildCache(s.build_cache).prune()
        if s.report_path:
            try:
                from . import report

                report.write([s.results_path], s.report_path)
                self.report_written = s.report_path
            except Exception as exc:  # the report must never cost the results
                self.report_error = f"{type(exc).__name__}: {exc}"

    def _recount(self) -> None:
        from .reader import load_results

        run = load_results(self.settings.results_path)
        self.counts.clear()
        self.cases.clear()
        self.ops.clear()
        self.skipped.clear()
        for r in run.records:
            self._count(r)

    # -- records ----------------------------------------------------------------------------
    def record(self, rec: Record) -> None:
        if self.writer is not None:
            self.writer.write(rec)
        self._count(rec)

    def _count(self, rec: Record) -> None:
        self.ops.add(rec.op)
        if is_op_level(rec):     # a check that did not run for the whole op: not a case
            ops, _ = self.skipped.setdefault(rec.check, (set(), rec.reason))
            ops.add(rec.op)
            return
        self.counts[(rec.check, rec.outcome)] += 1
        self.cases.add(rec.case_id)

    # -- where checks run -------------------------------------------------------------------
    def context(self, check: str, cuda_reference: bool) -> Context:
        """Where ``check`` runs in this session, for the expectations' limits."""
        s = self.settings
        return context_for(check, backend=s.backend, reference=s.reference, cuda_reference=cuda_reference,
                           tvm=tvm_version(), trt=tuple(s.trt_version))

    def summary_lines(self) -> list[str]:
        s = self.settings
        by_check: dict = collections.defaultdict(collections.Counter)
        for (check, outcome), n in self.counts.items():
            by_check[check][outcome] += n
        parts = [check + " " + " ".join(f"{o}={n}" for o, n in sorted(by_check[check].items()))
                 for check in CHECKS if by_check.get(check)]
        lines = [f"targeted TensorRT {format_version(s.trt_version)} (implicit batch "
                 f"{'on' if s.implicit_batch else 'off'}), Hypothesis profile {s.profile} seed {s.seed}"
                 + (f", {s.cases} cases per op" if s.cases else "")
                 + (f", shard {s.shard[0]}/{s.shard[1]}" if s.shard else ""),
                 f"plan {self.plan_facts.get('plan', '?')}: {self.plan_facts.get('plan_cases', '?')} cases, "
                 f"{self.plan_facts.get('plan_source', '')}",
                 f"ops: {len(self.ops)}  cases: {len(self.cases)}  records per check: " + (" | ".join(parts) or "none"),
                 *(f"check not run: {check} ({len(ops)} op{'s' if len(ops) != 1 else ''}): {why}"
                   for check, (ops, why) in sorted(self.skipped.items())),
                 *(f"not run: {op}: the plan names it, but the support table has no such op" for op in self.not_run),
                 f"results: {s.results_path}"]
        lines += [gpu_use_line(u) for u in self.gpu_use]
        if self.gpu_use_error:
            lines.append(self.gpu_use_error)
        if s.resume:
            lines.append("counts are of the whole results file (its earlier parts included)")
        if self.rotated:
            lines.append(f"previous results kept as: {self.rotated}")
        if self.report_written:
            lines.append(f"report: {self.report_written}")
        elif self.report_error:
            lines.append(f"report not written: {self.report_error}")
        return lines


def tvm_version() -> tuple | None:
    try:
        import tvm

        return loose_version(tvm.__version__)
    except Exception:
        return None


def done_pairs(path: str, plan: str | None = None) -> set:
    """(case_id, check) pairs already in ``path``; refuses a file of another plan."""
    from .reader import load_results

    try:
        run = load_results(path)
    except HarnessError as exc:
        raise InputError(f"--trt-resume: {exc}") from None
    theirs = run.env.get("plan")
    if plan and theirs and theirs != plan:
        raise InputError(f"--trt-resume: {path} holds a run of plan {theirs}, this run's plan is {plan} (other cases);"
                         " resume with the same options, or replay its cases with --trt-plan " + path)
    return {(r.case_id, r.check) for r in run.records}


def gpu_use_line(u: dict) -> str:
    """One line of a runner's accounting, for the terminal summary."""
    if u.get("error"):
        return f"runner {u.get('device')}: {u['error']}"
    req = u.get("requests") or {}
    work = f"{req.get('run', 0)} runs, {req.get('time', 0)} timing requests, {u.get('restarts', 0)} restarts"
    if u.get("lost"):
        return f"{u['lost']}: no runner for it after that; {work} before"
    if u.get("busy_s") is None:
        return (f"runner {u['device']}: busy time unknown ({u.get('busy_unavailable')}); runner {u['runner_s']:.1f} s, "
                f"idle {u['idle_s']:.1f} s of {u['wall_s']:.1f} s; {work}")
    return (f"GPU {u['device']}: busy {u['busy_s']:.1f} s of {u['wall_s']:.1f} s ({u['busy_share']:.0%}; "
            f"{u['busy_traced_s']:.1f} s traced by CUPTI + {u['busy_estimated_s']:.1f} s estimated for the untraced "
            f"latency passes); runner {u['runner_s']:.1f} s, idle {u['idle_s']:.1f} s; {work}")
