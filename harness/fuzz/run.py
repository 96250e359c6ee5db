"""``trt-harness fuzz``: a time-boxed Hypothesis run over random multi-op programs.

Each program is checked (:func:`harness.fuzz.check.check_spec`) in the shared isolated worker
(:class:`harness.isolate.Isolator`): a crash or hang of the worker is a ``tvm-crash`` finding and
the run goes on.  The first program showing a signature not seen before is shrunk by Hypothesis
(for a capped time), then by :func:`harness.fuzz.minimize.minimize` (drops nodes, cuts chains); every distinct
finding is judged against the known departures, gets a reproducer (:mod:`harness.fuzz.repros`)
and one record in the results file.  The stored findings of the reproducer directory are replayed
first.  Exit status: 0 when every finding is a known departure, 1 on a new one (or a program the
strategy should not have drawn).
"""
from __future__ import annotations

import collections
import datetime as _dt
import hashlib
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

from ..expectations import Judgement
from ..records import Offload, Record
from ..versions import format_version
from . import graphs
from .check import Finding, FuzzResult, crash, judge_finding, record_op, to_record
from .minimize import minimize
from .repros import stored_specs, write_spec

DEFAULT_DB = ".hypothesis-fuzz"
CHUNK = 50                 # examples per Hypothesis run; runs repeat until the budget is spent


class Checker:
    """Checks specs in the shared isolated worker; a crash or hang becomes a tvm-crash finding."""

    def __init__(self, *, trt_version, implicit_batch: bool, timeout: float = 90.0,
                 partition: Callable | str | None = None, isolate: bool = True, isolator=None) -> None:
        """``isolator``: a worker to share (e.g. the pytest session's); default: a new one."""
        from ..isolate import Isolator

        self.trt_version, self.implicit_batch, self.partition = tuple(trt_version), implicit_batch, partition
        self.owns = isolator is None
        self.isolator = Isolator(timeout, "auto" if isolate else None) if isolator is None else isolator
        if self.isolator.method == "fork":
            _warm()

    def _call(self, path: str, *args, **kwargs):
        """The worker's answer, or (None, why) when it raised (a bug of the harness)."""
        from ..isolate import HarnessBug

        try:
            return self.isolator.call(path, *args, **kwargs), None
        except HarnessBug as exc:
            return None, " ".join(str(exc).split())[-400:]
        except Exception as exc:   # in-process: the same bug, raised here
            return None, f"{type(exc).__name__}: {exc}"[:400]

    def check(self, spec: dict, *, preserve: bool = True) -> FuzzResult:
        answer, bug = self._call("harness.fuzz.check:check_spec", spec, trt_version=self.trt_version,
                                 implicit_batch=self.implicit_batch, partition=self.partition, preserve=preserve)
        if bug:
            return FuzzResult(invalid=f"harness bug: {bug}")
        if answer.ok:
            return answer.value
        res = FuzzResult()
        res.add(crash(answer.reason, answer.error_kind))
        return res

    def reproducer(self, directory: str, spec: dict, finding: Finding, judged: Judgement,
                   expected: dict | None) -> str | None:
        answer, bug = self._call("harness.fuzz.repros:write_reproducer", directory, spec, finding,
                                 outcome=judged.outcome, reason=judged.reason, expected_offload=expected)
        return answer.value if answer is not None and answer.ok else None

    def close(self) -> None:
        if self.owns:
            self.isolator.close()


def _warm() -> None:
    """Import what building and partitioning a program imports (about 3 s the first time), here,
    before the worker is forked: a worker restarted after a crash then starts warm."""
    graphs.build({"seed": 0, "inputs": [[[1], "float32"]], "outputs": [1],
                  "nodes": [{"op": "relax.nn.relu", "args": [0], "attrs": {}, "out": [[1], "float32"]}]})
    try:
        import tvm.relax.backend.contrib.tensorrt  # noqa: F401
    except ImportError:   # no partitioner in this TVM: the first check says so
        pass


@dataclass
class Distinct:
    """One distinct finding of the run, on its smallest program."""

    finding: Finding
    spec: dict
    judged: Judgement
    record: Record
    reproducer: str | None = None
    replayed: bool = False


@dataclass
class Summary:
    programs: int = 0
    ops: int = 0
    regions: int = 0
    replayed: int = 0
    invalid: list = field(default_factory=list)                   # (spec, reason)
    findings: dict = field(default_factory=dict)                  # sig -> Distinct
    counts: collections.Counter = field(default_factory=collections.Counter)   # sig -> programs showing it

    @property
    def new(self) -> list:
        return [d for d in self.findings.values() if d.judged.unexpected]


# -- the run -------------------------------------------------------------------------------------------
class _NewFailure(AssertionError):
    pass


class _Stop(BaseException):
    """Ends a Hypothesis run at once (not a failure: Hypothesis lets it through, unshrunk)."""


class Run:
    """One fuzzing run: replay, then Hypothesis chunks until ``budget_s`` is spent."""

    def __init__(self, checker: Checker, *, expectations=(), repro_dir: str, db_dir: str = DEFAULT_DB,
                 max_ops: int = 15, seed: int | None = None, shrink_s: float | None = None, log=print,
                 on_finding: Callable[[Distinct], None] | None = None) -> None:
        self.checker, self.expectations, self.repro_dir, self.db_dir = checker, tuple(expectations), repro_dir, db_dir
        self.max_ops, self.seed, self.shrink_s, self.log, self.on_finding = max_ops, seed, shrink_s, log, on_finding
        self.summary = Summary()
        self.pending: dict = {}        # sig -> (spec, result): seen, not yet recorded

    def evaluate(self, spec: dict, *, preserve: bool = True) -> FuzzResult:
        res = self.checker.check(spec, preserve=preserve)
        s = self.summary
        s.programs += 1
        s.ops += len(spec["nodes"])
        s.regions += res.stats.get("regions", 0)
        if res.skip:
            from ..errors import EnvironmentProblem

            raise EnvironmentProblem(f"cannot fuzz here: {res.skip}")
        if res.invalid:
            s.invalid.append((spec, res.invalid))
            self.log(f"INVALID program (a bug of the harness): {res.invalid} | {graphs.describe(spec)}")
        for f in res.findings:
            s.counts[f.sig] += 1
            if f.sig not in s.findings and f.sig not in self.pending:
                self.pending[f.sig] = (spec, res)
        return res

    def finalize(self, sig: str, spec: dict, res: FuzzResult, *, replayed=False, blob=None, shrunk=False) -> None:
        """Judge, reproduce and record one distinct finding."""
        self.pending.pop(sig, None)
        f = next(x for x in res.findings if x.sig == sig)
        tv, ib = self.checker.trt_version, self.checker.implicit_batch
        judged = judge_finding(f, trt_version=tv, expectations=self.expectations)
        off: Offload | None = res.offload
        expected = {op: n for op, n in off.expected.items() if n} if off is not None else None
        path = self.checker.reproducer(self.repro_dir, spec, f, judged, expected)
        write_spec(self.repro_dir, spec, f, trt_version=tv, implicit_batch=ib, op=record_op(f),
                   outcome=judged.outcome, expectation=judged.expectation.id if judged.expectation else None,
                   blob=blob)
        rec = to_record(f, judged, spec=spec, trt_version=tv, reproducer=path, offload=off,
                        details={"seen": self.summary.counts[sig], "replayed": replayed, "shrunk": shrunk,
                                 "implicit_batch": ib})
        d = Distinct(f, spec, judged, rec, path, replayed)
        self.summary.findings[sig] = d
        word = "NEW" if judged.unexpected else judged.outcome.upper()
        self.log(f"[{self.summary.programs} programs] {word} {sig}: {len(spec['nodes'])} ops: "
                 f"{graphs.describe(spec)} -> {path}")
        if self.on_finding is not None:
            self.on_finding(d)

    def replay(self) -> None:
        """The stored findings first, whatever the budget: each stored spec re-checked; a finding it
        still shows is recorded with that spec (a stored finding's own spec wins over another's)."""
        stored = stored_specs(self.repro_dir)
        own = {s["sig"] for s in stored}
        for old in stored:
            res = self.evaluate(old["spec"])
            self.summary.replayed += 1
            for f in res.findings:
                if f.sig in self.summary.findings or (f.sig in own and f.sig != old["sig"]):
                    continue
                self.finalize(f.sig, old["spec"], res, replayed=True)

    def _chunk(self, index: int, t_end: float, shrink_s: float, grace: float, db) -> None:
        from hypothesis import HealthCheck, Phase, Verbosity, given, settings
        from hypothesis import seed as with_seed
        from hypothesis.errors import Flaky

        state = {"target": None, "spec": None, "res": None, "deadline": None, "end": None, "preserve": True}

        @settings(max_examples=CHUNK, deadline=None, database=db, print_blob=True, derandomize=False,
                  report_multiple_bugs=False, phases=(Phase.reuse, Phase.generate, Phase.shrink),
                  verbosity=Verbosity.quiet,   # the run reports its findings itself; the blob is in the notes
                  suppress_health_check=list(HealthCheck))
        @given(spec=graphs.programs(max_ops=self.max_ops))
        def fuzz_graphs(spec):
            now = time.monotonic()
            if now > (t_end if state["target"] is None else state["deadline"]):
                raise _Stop()               # out of time (shrinking: the smallest so far is kept)
            known = set(self.summary.findings)   # a pending one (seen while shrinking another) may be a target
            res = self.evaluate(spec, preserve=state["preserve"])
            if state["target"] is None:
                new = [f for f in res.findings if f.sig not in known]
                if new:
                    # shrinking an offload finding needs no build: its candidates are checked up to partitioning
                    state["target"], state["preserve"] = new[0].sig, new[0].check == "preserve"
                    t = time.monotonic()   # Hypothesis shrinks for 2/3 of the finding's window, minimize() the rest
                    state["end"] = min(t + shrink_s, t_end + grace)
                    state["deadline"] = t + (state["end"] - t) * 2 / 3
            if state["target"] in {f.sig for f in res.findings}:
                state["spec"], state["res"] = spec, res
                raise _NewFailure(state["target"])

        if self.seed is not None:
            fuzz_graphs = with_seed(self.seed + index)(fuzz_graphs)
        exc = None
        try:
            fuzz_graphs()
        except (_NewFailure, Flaky) as err:
            exc = err
        except _Stop:
            pass
        if state["target"] is None or state["spec"] is None:
            return
        blob = next((n.strip().splitlines()[-1] for n in getattr(exc, "__notes__", None) or []
                     if "reproduce_failure" in n), None)
        self._minimize_and_finalize(state["target"], state["spec"], state["res"], state["end"], blob=blob)

    def _minimize_and_finalize(self, sig: str, spec: dict, res: FuzzResult, deadline: float, *, blob=None) -> None:
        f = next(x for x in res.findings if x.sig == sig)
        last = {}          # the result of the last candidate kept: minimize() returns that candidate

        def shows(cand):   # an offload finding needs no build to show (see check_spec's preserve)
            got = self.evaluate(cand, preserve=f.check == "preserve")
            if sig in {x.sig for x in got.findings}:
                last["res"] = got
                return True
            return False

        small = minimize(spec, shows, deadline)
        if small is not spec:
            spec, res, blob = small, last["res"], None
        self.finalize(sig, spec, res, blob=blob, shrunk=True)

    def fuzz(self, budget_s: float) -> Summary:
        """Replay, then fuzz for ``budget_s`` seconds; every distinct finding is recorded."""
        from hypothesis.database import DirectoryBasedExampleDatabase

        t_end = time.monotonic() + budget_s
        shrink_s = self.shrink_s if self.shrink_s is not None else min(60.0, max(10.0, budget_s / 4))
        grace = min(shrink_s / 3, budget_s / 2)     # how far shrinking may run past the budget
        self.replay()
        db = DirectoryBasedExampleDatabase(self.db_dir)
        index = 0
        while time.monotonic() < t_end:
            self._chunk(index, t_end, shrink_s, grace, db)
            index += 1
        while self.pending:   # seen while another one was shrunk, or at the end: minimized briefly
            sig, (spec, res) = next(iter(self.pending.items()))
            self._minimize_and_finalize(sig, spec, res, time.monotonic() + min(5.0, shrink_s / 3))
        return self.summary


# -- the command ------------------------------------------------------------------------------------------
def _rotate(path: str) -> str | None:
    """Keep an earlier results file beside the new one (as the op suites do)."""
    if not (os.path.exists(path) and os.path.getsize(path) > 0):
        return None
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    kept = f"{os.path.splitext(path)[0]}-{stamp}.jsonl"
    shutil.move(path, kept)
    return kept


def invalid_record(spec: dict, reason: str, trt_version) -> Record:
    """A program the strategy should not have drawn (TVM cannot build or run it, or the harness failed)."""
    digest = hashlib.sha1(reason.encode()).hexdigest()[:8]
    return Record(op="fuzz:program", check="preserve", outcome="error", error_kind="harness", suite="fuzz",
                  case_id=f"fuzz-invalid-{digest}", reason=f"{reason} | program: {graphs.describe(spec)}"[:2000],
                  trt_version=format_version(trt_version), details={"kind": "invalid", "spec": spec})


def report_lines(s: Summary, elapsed: float) -> list[str]:
    kinds = collections.Counter(d.finding.kind for d in s.findings.values())
    known = sum(1 for d in s.findings.values() if not d.judged.unexpected)
    lines = [f"fuzz: {s.programs} programs ({s.ops} ops, {s.regions} TensorRT regions; {s.replayed} replayed) in "
             f"{elapsed:.0f} s; {len(s.findings)} distinct findings"
             + (" (" + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) + ")" if kinds else "")
             + f": {known} known departures, {len(s.new)} new; {len(s.invalid)} invalid programs"]
    for sig, d in sorted(s.findings.items()):
        tag = "NEW  " if d.judged.unexpected else d.judged.outcome.upper().ljust(5)
        why = f" [{d.judged.expectation.id}]" if d.judged.expectation else ""
        lines.append(f"  {tag} {sig}{why}  seen {s.counts.get(sig, 0)}x  minimal: {graphs.describe(d.spec)}"
                     f"  -> {d.reproducer}")
    return lines


def fuzz_cli(args) -> int:
    """``trt-harness fuzz`` (arguments: harness/cli.py's fuzz subcommand)."""
    from .. import options as O
    from ..errors import InputError
    from ..results import ResultsWriter, environment, header

    target = O.target(lambda name: getattr(args, O.dest(name), None))
    if not args.timeout > 0:
        raise InputError(f"fuzz: --timeout must be a positive number of seconds, got {args.timeout:g}")
    if args.max_ops < 2:
        raise InputError(f"fuzz: --max-ops must be at least 2, got {args.max_ops}")
    tv = format_version(target.trt_version)
    env = environment(trt_version=tv, implicit_batch=target.implicit_batch, expectations=target.expectations_path,
                      budget_s=args.budget, max_ops=args.max_ops, hypothesis_seed=args.seed, timeout=args.timeout,
                      db=args.db, repro_dir=args.repro_dir, argv=list(sys.argv[1:]))
    rotated = _rotate(args.results)
    writer = ResultsWriter(args.results, header(suite="fuzz", env=env))
    checker = Checker(trt_version=target.trt_version, implicit_batch=target.implicit_batch, timeout=args.timeout)
    run = Run(checker, expectations=target.expectations, repro_dir=args.repro_dir, db_dir=args.db,
              max_ops=args.max_ops, seed=args.seed, on_finding=lambda d: writer.write(d.record))
    t0 = time.monotonic()
    try:
        summary = run.fuzz(args.budget)
        seen = set()
        for spec, reason in summary.invalid:
            if reason not in seen:
                seen.add(reason)
                writer.write(invalid_record(spec, reason, target.trt_version))
    finally:
        checker.close()
        writer.close()
    for line in report_lines(summary, time.monotonic() - t0):
        print(line)
    print(f"results: {args.results}" + (f" (previous results kept as {rotated})" if rotated else ""))
    return 1 if summary.new or summary.invalid else 0
