"""The pytest plugin: ``--trt-*`` options, Hypothesis profiles, result recording, summary, report.

Registered through the ``pytest11`` entry point, so ``pytest suites/ops`` picks it up once the
package is installed.  Shared state lives on ``config.stash``; on xdist workers each worker writes
its own results file, which the controller merges when the session ends.
"""
from __future__ import annotations

import collections
import datetime as _dt
import os
import shutil
import sys
import time
from dataclasses import dataclass, field

import pytest

from . import profiles
from .errors import HarnessError
from .results import CHECKS, Record, ResultsWriter, environment

DEFAULT_RESULTS = os.path.join("reports", "results.jsonl")
DEFAULT_REPORT = os.path.join("reports", "index.html")
DEFAULT_EXPECTATIONS = os.path.join(os.path.dirname(__file__), "data", "expectations.toml")


def pytest_addoption(parser):
    g = parser.getgroup("tvm-trt-harness", "TVM TensorRT conformance harness")
    g.addoption("--trt-version", default=None,
                help="TensorRT version to target for expected offload (default 10.0.1; known versions are listed "
                     "on error)")
    g.addoption("--trt-implicit-batch", choices=("auto", "on", "off"), default="auto",
                help="judge offload under implicit batch mode (auto: on below TensorRT 10, as the seed's default "
                     "use_implicit_batch=True; TensorRT 10 removed it)")
    g.addoption("--trt-profile", choices=tuple(profiles.PROFILES), default="ci",
                help="Hypothesis profile: ci (fast, deterministic), dev, nightly (many examples)")
    g.addoption("--trt-seed", type=int, default=None,
                help="Hypothesis seed (ci: 0; dev/nightly: drawn at random and recorded in the results header)")
    g.addoption("--trt-results", default=DEFAULT_RESULTS, help="results file (JSON Lines) [%(default)s]")
    g.addoption("--trt-report", default=DEFAULT_REPORT,
                help="HTML report written at the end of the run ('' for none) [%(default)s]")
    g.addoption("--trt-resume", action="store_true",
                help="append to an existing results file and skip (case, check) pairs already recorded")
    g.addoption("--trt-expectations", default=DEFAULT_EXPECTATIONS,
                help="known departures (TOML), turned into strict xfails [%(default)s]")
    g.addoption("--trt-no-expectations", action="store_true",
                help="ignore the expectations file: every departure fails")
    g.addoption("--trt-ops", default="", help="comma-separated seed op names to run (default: all)")
    g.addoption("--trt-backend", default="tensorrt", help="system under test for the tensorrt check")
    g.addoption("--trt-reference", default=None,
                help="reference backend for the tensorrt check (default tvm-cuda)")
    g.addoption("--trt-repro-dir", default=None, help="where reproducers go (default: beside the results)")
    g.addoption("--trt-isolate", choices=("auto", "on", "off"), default="auto",
                help="compute each case's checks in a child process, so a crash (SIGSEGV, abort, OOM kill) or a "
                     "hang becomes an 'error' record and the run goes on (auto: on)")
    g.addoption("--trt-timeout", default="120",
                help="seconds a case's check computation may take before it is killed and recorded as a "
                     "timeout (isolation on) [%(default)s]")


@dataclass
class Settings:
    trt_version: tuple
    implicit_batch: bool
    profile: str
    seed: int | None
    ops: set
    expectations: list
    backend: str
    reference: str
    repro_dir: str
    results_path: str
    report_path: str
    isolate: bool = True
    timeout: float = 120.0


@dataclass
class RunState:
    settings: Settings
    writer: ResultsWriter | None = None
    done: set = field(default_factory=set)
    counts: collections.Counter = field(default_factory=collections.Counter)
    cases: set = field(default_factory=set)
    ops: set = field(default_factory=set)
    cache: "collections.OrderedDict" = field(default_factory=collections.OrderedDict)
    started: float = field(default_factory=time.time)
    rotated: str | None = None
    isolator: object | None = None

    def record(self, rec: Record) -> None:
        if self.writer is not None:
            self.writer.write(rec)
        self.counts[(rec.check, rec.outcome)] += 1
        self.cases.add(rec.case_id)
        self.ops.add(rec.op)


STATE = pytest.StashKey[RunState]()


def _worker_id(config) -> str | None:
    return getattr(config, "workerinput", {}).get("workerid")


def _settings(config) -> Settings:
    from . import expectations as exp_mod
    from . import versions
    from .table import BY_NAME

    opt = config.getoption
    try:
        version = versions.parse_version(opt("--trt-version") or versions.format_version(versions.DEFAULT_TRT_VERSION))
    except HarnessError as exc:
        raise pytest.UsageError(f"--trt-version: {exc}") from None
    ib = opt("--trt-implicit-batch")
    implicit = versions.implicit_batch_default(version) if ib == "auto" else ib == "on"
    ops = {o.strip() for o in (opt("--trt-ops") or "").split(",") if o.strip()}
    unknown = sorted(ops - set(BY_NAME))
    if unknown:
        raise pytest.UsageError(f"--trt-ops: unknown ops {unknown}; see harness/table.py")
    expectations = []
    if not opt("--trt-no-expectations"):
        try:
            expectations = exp_mod.load(opt("--trt-expectations"), set(BY_NAME))
        except HarnessError as exc:
            raise pytest.UsageError(str(exc)) from None
    from .backends import available_backends

    known = available_backends()
    backend, reference = opt("--trt-backend"), opt("--trt-reference") or "tvm-cuda"
    for flag, name in (("--trt-backend", backend), ("--trt-reference", reference)):
        if name not in known:
            raise pytest.UsageError(f"{flag}: unknown backend {name!r}; known: {', '.join(sorted(known))}")
    results = opt("--trt-results")
    if not results or os.path.isdir(results):
        raise pytest.UsageError(f"--trt-results: {results!r} is not a file path")
    raw_timeout = opt("--trt-timeout")
    try:
        timeout = float(raw_timeout)
    except (TypeError, ValueError):
        raise pytest.UsageError(f"--trt-timeout: expected a number of seconds, got {raw_timeout!r}") from None
    if not (timeout > 0) or timeout == float("inf"):
        raise pytest.UsageError(f"--trt-timeout: must be a positive, finite number of seconds, got {raw_timeout!r}")
    isolate = opt("--trt-isolate") != "off"
    seed = opt("--trt-seed")
    if seed is None and opt("--trt-profile") == "ci":
        seed = 0   # ci is deterministic: the same cases on every run and machine
    elif seed is None:
        # dev/nightly draw fresh examples each run; the seed is chosen here so the header records it
        # and `--trt-seed N` replays the run.  (ci is derandomized: its examples never change.)
        import random

        seed = random.SystemRandom().randrange(2**32)
    return Settings(version, implicit, opt("--trt-profile"), seed, ops, expectations, backend,
                    reference, opt("--trt-repro-dir") or os.path.join(os.path.dirname(results) or ".", "repro"),
                    results, opt("--trt-report"), isolate, timeout)


def _header(config, s: Settings) -> dict:
    from . import versions

    return {"env": environment(
        hypothesis_profile=s.profile, hypothesis_seed=s.seed, trt_version=versions.format_version(s.trt_version),
        implicit_batch=s.implicit_batch, backend=s.backend, reference=s.reference, isolate=s.isolate,
        worker=_worker_id(config), argv=sys.argv[1:],
    )}


def pytest_configure(config):
    config.addinivalue_line("markers", "trt_op(name): a generated operator suite test")
    if not _wants_harness(config):
        return
    try:
        import tvm  # noqa: F401
    except Exception as exc:
        raise pytest.UsageError(f"TVM is not importable ({type(exc).__name__}: {exc}); "
                                "install it with: pip install apache-tvm") from None
    s = _settings(config)
    profiles.use(s.profile)
    state = RunState(settings=s)
    path = s.results_path
    worker = _worker_id(config)
    if worker:
        path = f"{path}.{worker}"
    if not worker:
        _merge_stale_shards(s.results_path)
    if config.getoption("--trt-resume") and os.path.exists(s.results_path):
        state.done = _done_pairs(s.results_path)   # workers too: each resumes into its own shard
    elif os.path.exists(path) and os.path.getsize(path) > 0 and not worker:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        rotated = f"{os.path.splitext(path)[0]}-{stamp}.jsonl"
        shutil.move(path, rotated)
        state.rotated = rotated
    header = _header(config, s)
    if worker and os.path.exists(path):
        os.remove(path)
    state.writer = ResultsWriter(path, header, resume=config.getoption("--trt-resume") and not worker)
    if s.isolate and not _is_xdist_controller(config):
        from .isolate import Isolator

        state.isolator = Isolator(state, s.timeout)
    config.stash[STATE] = state


def _is_xdist_controller(config) -> bool:
    """The xdist controller runs no tests: it needs no case worker."""
    try:
        return not _worker_id(config) and bool(config.getoption("numprocesses", None)) and \
            config.getoption("dist", "no") != "no"
    except ValueError:
        return False


def _merge_stale_shards(base: str) -> None:
    """Shards a killed xdist run left behind hold finished records: append the ones the main
    file lacks to it (before a resume reads it, or a fresh run rotates it), then drop them."""
    import glob
    import json

    shards = sorted(glob.glob(glob.escape(base) + ".gw*"))
    if not shards:
        return
    have = set()
    if os.path.exists(base):
        with open(base, "rb") as fh:
            for raw in fh:
                try:
                    obj = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(obj, dict) and obj.get("kind") == "record":
                    have.add((obj.get("case_id"), obj.get("check")))
    lines = []
    header_needed = not os.path.exists(base) or os.path.getsize(base) == 0
    for shard in shards:
        with open(shard, "rb") as fh:
            for raw in fh:
                try:
                    obj = json.loads(raw)
                except ValueError:
                    continue    # the partial line of a worker killed mid-write
                if not isinstance(obj, dict):
                    continue
                if obj.get("kind") == "header":
                    if header_needed:
                        lines.append(json.dumps(obj, sort_keys=True))
                        header_needed = False
                    continue
                key = (obj.get("case_id"), obj.get("check"))
                if obj.get("kind") == "record" and key not in have:
                    have.add(key)
                    lines.append(json.dumps(obj, sort_keys=True))
    if lines:
        with open(base, "ab") as out:
            out.seek(0, os.SEEK_END)
            if out.tell():
                with open(base, "rb") as fh:
                    fh.seek(-1, os.SEEK_END)
                    if fh.read(1) != b"\n":
                        out.write(b"\n")
            out.write(("\n".join(lines) + "\n").encode("utf-8"))
            out.flush()
            os.fsync(out.fileno())
    for shard in shards:
        os.remove(shard)


def _wants_harness(config) -> bool:
    """Only runs that collect harness suites need TVM and a results file."""
    args = [a for a in config.args]
    return any("suites" in a for a in args) or config.getoption("--trt-ops") != "" or bool(
        os.environ.get("TRT_HARNESS_FORCE"))


def _done_pairs(path: str) -> set:
    from . import reader

    try:
        run = reader.load_results(path)
    except HarnessError as exc:
        raise pytest.UsageError(f"--trt-resume: {exc}") from None
    return {(r["case_id"], r["check"]) for r in run.records}


def state_of(config) -> RunState:
    if STATE not in config.stash:
        raise pytest.UsageError("the tvm-trt-harness plugin is not configured for this run "
                                "(run the suites under suites/, or set TRT_HARNESS_FORCE=1)")
    return config.stash[STATE]


@pytest.fixture
def trt_state(request) -> RunState:
    return state_of(request.config)


def pytest_collection_modifyitems(session, config, items):
    """Run each op's checks together (op-major order) so a case's builds are shared while cached."""
    from .table import OPS

    order = {e.name: i for i, e in enumerate(OPS)}

    def key(item):
        marker = item.get_closest_marker("trt_op")
        if marker is None:
            return (0, 0, 0)
        check = item.callspec.params.get("check") if hasattr(item, "callspec") else None
        return (1, order.get(marker.args[0], 0), CHECKS.index(check) if check in CHECKS else 0)

    if STATE in config.stash:
        wanted = config.stash[STATE].settings.ops
        if wanted:
            keep = [i for i in items if (m := i.get_closest_marker("trt_op")) is None or m.args[0] in wanted]
            config.hook.pytest_deselected(items=[i for i in items if i not in keep])
            items[:] = keep
    items.sort(key=key)


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if STATE not in config.stash:
        return
    state = config.stash[STATE]
    if state.isolator is not None:
        state.isolator.close()
    if state.writer is not None:
        state.writer.close()
    if _worker_id(config):
        return
    _merge_worker_shards(state)
    report = state.settings.report_path
    state.report_written = None
    if report:
        try:
            from . import report as report_mod

            report_mod.report_main([state.settings.results_path, "-o", report, "--quiet"])
            state.report_written = report
        except Exception as exc:  # the report must never cost the results
            state.report_error = f"{type(exc).__name__}: {exc}"


def _merge_worker_shards(state: RunState) -> None:
    """Append the records of per-worker shards (results.jsonl.gwN) to the main file, then drop them."""
    import glob
    import json

    base = state.settings.results_path
    shards = sorted(glob.glob(base + ".gw*"))
    if not shards:
        return
    seen = set()
    with open(base, "a", encoding="utf-8") as out:
        for shard in shards:
            with open(shard, encoding="utf-8") as fh:
                for line in fh:
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        continue   # a worker killed mid-write leaves at most one partial line
                    if obj.get("kind") != "record":
                        continue
                    key = (obj.get("case_id"), obj.get("check"))
                    if key in seen:
                        continue
                    seen.add(key)
                    obj["run_id"] = state.writer.run_id
                    state.counts[(obj["check"], obj["outcome"])] += 1
                    state.cases.add(obj["case_id"])
                    state.ops.add(obj["op"])
                    out.write(json.dumps(obj, sort_keys=True) + "\n")
            os.remove(shard)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if STATE not in config.stash or _worker_id(config):
        return
    state = config.stash[STATE]
    by_check = collections.defaultdict(collections.Counter)
    for (check, outcome), n in state.counts.items():
        by_check[check][outcome] += n
    parts = []
    for check in CHECKS:
        if by_check.get(check):
            parts.append(check + " " + " ".join(f"{o}={n}" for o, n in sorted(by_check[check].items())))
    tr = terminalreporter
    tr.section("tvm-trt-harness")
    from . import versions

    s = state.settings
    tr.write_line(f"targeted TensorRT {versions.format_version(s.trt_version)} "
                  f"(implicit batch {'on' if s.implicit_batch else 'off'}), Hypothesis profile {s.profile}")
    tr.write_line(f"ops: {len(state.ops)}  cases: {len(state.cases)}  " + " | ".join(parts))
    tr.write_line(f"results: {s.results_path}")
    if state.rotated:
        tr.write_line(f"previous results kept as: {state.rotated}")
    if getattr(state, "report_written", None):
        tr.write_line(f"report: {state.report_written}")
    elif getattr(state, "report_error", None):
        tr.write_line(f"report not written: {state.report_error}")
