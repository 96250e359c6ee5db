import collections
import os
import pathlib

import pytest

pytest_plugins = ["pytester", "reports_guard"]
TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)


def tool(name: str):
    """The module of ``tools/<name>.py`` (the tools are scripts, not a package), loaded afresh."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "tools", f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def _harness_imported():
    """The modules an in-process run of the op suite uses, imported before any test's pytester
    exists (a session fixture is set up first): pytester drops the modules imported after its
    start when its test ends, and a class the next run pickles to its worker must be the one its
    module names, not a copy that an older module object still refers to."""
    import doubles  # noqa: F401
    import harness.backends  # noqa: F401
    import harness.engine  # noqa: F401
    import harness.gpu  # noqa: F401
    import harness.isolate  # noqa: F401
    import harness.plan  # noqa: F401
    import harness.plugin  # noqa: F401
    import harness.profiles  # noqa: F401
    import harness.replay  # noqa: F401
    import harness.suite  # noqa: F401


@pytest.fixture
def harness_run(_harness_imported, pytester):
    """Run the generated op suite in a pytest session of its own, in this process (pytester), with
    a test double optionally installed for that run only; cases still run in the harness's isolated
    worker, forked from this process.  (A child interpreter per run cost ~2 s of start-up each, and
    these tests test no process boundary.)

    Returns (RunResult, records) where records are the results file's record lines."""

    def run(*args, double=None):
        return _run_here(pytester, pytester.path / "out" / "results.jsonl", *args, double=double)

    _here_env(pytester)
    return run


@pytest.fixture
def suite_here(_harness_imported, pytester):
    """doubles.run_suite's twin in this process (pytester), for tests of no process boundary:
    ``run(workdir, *args, double=None)`` -> (exit code, output, records), the results in
    workdir/out/results.jsonl."""

    def run(workdir, *args, double=None):
        res, records = _run_here(pytester, pathlib.Path(workdir) / "out" / "results.jsonl", "-q", *args,
                                 double=double)
        return int(res.ret), "\n".join(res.outlines + res.errlines), records

    _here_env(pytester)
    return run


@pytest.fixture(scope="module")
def suite_here_once(_harness_imported, request, tmp_path_factory):
    """suite_here for a module fixture (one run that several tests read): ``run(workdir, *args)`` ->
    (exit code, output, records), in this process; the pytester it runs in is undone before it
    returns."""

    def run(workdir, *args, double=None):
        ends = []
        mp = pytest.MonkeyPatch()
        try:
            here = pytest.Pytester(_OneRunRequest(request, ends), tmp_path_factory, mp, _ispytest=True)
            _here_env(here)
            res, records = _run_here(here, pathlib.Path(workdir) / "out" / "results.jsonl", "-q", *args,
                                     double=double)
        finally:
            for end in reversed(ends):
                end()
            mp.undo()
        return int(res.ret), "\n".join(res.outlines + res.errlines), records

    return run


class _OneRunRequest:
    """A module fixture's request as a pytester of one run sees it: its clean-ups are the run's."""

    function = None

    def __init__(self, request, ends: list) -> None:
        self.node, self.config, self.addfinalizer = request.node, request.config, ends.append


def _here_env(pytester) -> None:
    pytester._monkeypatch.setenv("TRT_HARNESS_FORCE", "1")
    pytester._monkeypatch.setenv("XDG_CACHE_HOME", shared_cache() or str(pytester.path / ".cache"))
    with open(os.path.join(ROOT, "suites", "ops", "test_ops.py")) as fh:
        pytester.makepyfile(test_ops=fh.read())


def _run_here(pytester, results, *args, double=None):
    import json

    import doubles
    import harness.engine

    mp = pytest.MonkeyPatch()
    try:
        if double:
            doubles.install(double, mp)
        res = pytester.runpytest_inprocess("-p", "no:cacheprovider", f"--trt-results={results}", "--trt-report=",
                                           "test_ops.py", *args)
    finally:
        mp.undo()
        harness.engine.clear()   # a run with --trt-isolate=off kept its cases' artefacts in this process
    records = []
    if os.path.exists(results):
        with open(results) as fh:
            records = [r for r in (json.loads(line) for line in fh if line.strip()) if r.get("kind") == "record"]
    return res, records


def tracked_reports(suffix: str) -> list[str]:
    """The files under reports/ ending in ``suffix`` that the repository tracks (git ls-files), as
    absolute paths, sorted: what `make suites` writes there is ignored by git and must not change
    which tests a working copy collects.  Without git (an unpacked archive): the files of the
    folders under reports/ that .gitignore keeps, the same set."""
    import subprocess

    try:
        out = subprocess.run(["git", "-C", ROOT, "ls-files", "-z", "--", "reports"], capture_output=True,
                             check=True, timeout=60).stdout.decode()
        names = [n for n in out.split("\0") if n]
    except (OSError, subprocess.SubprocessError):
        with open(os.path.join(ROOT, ".gitignore"), encoding="utf-8") as fh:
            kept = [line.strip()[len("!/"):] for line in fh if line.strip().startswith("!/reports/")
                    and line.strip().endswith("/")]
        names = [os.path.relpath(os.path.join(d, f), ROOT) for k in kept
                 for d, _, files in os.walk(os.path.join(ROOT, k)) for f in files]
    return sorted(os.path.join(ROOT, n) for n in names if n.endswith(suffix))


SHARED_CACHE_ENV = "TRT_HARNESS_TEST_CACHE"


def shared_cache() -> str | None:
    """One build and plan cache for the child runs of this test session (keys are the printed
    module, the TVM build and the target, so children with different doubles share it safely;
    writes are atomic).  Every child would otherwise rebuild the same programs."""
    return os.environ.get(SHARED_CACHE_ENV)


def pytest_configure(config):
    import tempfile

    # pytester's in-process runs drop the modules they imported when they end; a C extension
    # (numpy, ml_dtypes, TVM's FFI) imported a second time crashes the process or refuses to
    # register again.  Imported here once, they are part of every snapshot and never dropped.
    # Not in an xdist controller, which runs no test: its workers start ~1.2 s sooner without it.
    if not _xdist_controller(config):
        import numpy  # noqa: F401
        import tvm  # noqa: F401

    if _files_by_size(config):
        config.option.loadscopereorder = False      # the order pytest_collection_modifyitems gives
    if not os.environ.get(SHARED_CACHE_ENV):
        os.environ[SHARED_CACHE_ENV] = tempfile.mkdtemp(prefix="trt-harness-tests-cache-")
        config._trt_test_cache = os.environ[SHARED_CACHE_ENV]
        # The interpreters this session starts (xdist workers, child runs, CLI calls: dozens) share
        # one bytecode cache in it, also where PYTHONDONTWRITEBYTECODE is set: else each compiles
        # the harness again and pytest rewrites the asserts of every harness module (a pytest11
        # plugin's package is rewritten), about 0.6 s of CPU per child.  Nothing is written beside
        # the sources; this process's own setting is read at its start and does not change.
        config._trt_test_bytecode = {k: os.environ.get(k) for k in BYTECODE_ENV}
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["PYTHONPYCACHEPREFIX"] = os.path.join(config._trt_test_cache, "pycache")
        _seed_bytecode(os.environ["PYTHONPYCACHEPREFIX"])


BYTECODE_ENV = ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")


def _xdist_controller(config) -> bool:
    """Whether this process hands the tests to xdist workers (-n N, N > 0) and runs none itself."""
    if os.environ.get("PYTEST_XDIST_WORKER") or not config.pluginmanager.hasplugin("xdist"):
        return False
    n = config.getoption("numprocesses", None)
    return n == "auto" or n == "logical" or bool(n)


def _seed_bytecode(prefix: str) -> None:
    """Hard-link the compiled files of the standard library and the venv (`make` compiles them at
    install) into the prefix, where an interpreter with a prefix looks for them: without them the
    first interpreters (the xdist workers) compile all of TVM, NumPy and pytest again, ~2 s each.
    A file that changes is replaced there, never written through the link."""
    import sysconfig

    site = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    roots = site | {sysconfig.get_paths()["stdlib"]}
    try:
        for root in roots:
            for dirpath, dirnames, filenames in os.walk(root):
                if dirpath == root and root not in site:   # the standard library, not what is installed beside it
                    dirnames[:] = [d for d in dirnames if d != "site-packages"]
                if os.path.basename(dirpath) != "__pycache__":
                    continue
                dest = os.path.join(prefix, os.path.dirname(dirpath).lstrip(os.sep))
                os.makedirs(dest, exist_ok=True)
                for name in filenames:
                    if name.endswith(".pyc") and not os.path.exists(os.path.join(dest, name)):
                        os.link(os.path.join(dirpath, name), os.path.join(dest, name))
    except OSError:   # another file system, no links: the interpreters compile what they miss
        pass


def pytest_unconfigure(config):
    import shutil

    path = getattr(config, "_trt_test_cache", None)
    if path:
        shutil.rmtree(path, ignore_errors=True)
        os.environ.pop(SHARED_CACHE_ENV, None)
        for key, value in config._trt_test_bytecode.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(autouse=True)
def _hypothesis_profile_kept():
    """A test that runs the harness in this process (a pytester in-process run, profiles.use) loads
    the harness's Hypothesis profile (ci: 10 examples) into it; settings made later in this xdist
    worker (the harness's own at run time, any made in a test) would take it as their parent."""
    from hypothesis import settings

    name = settings.get_current_profile_name()
    yield
    if settings.get_current_profile_name() != name:
        settings.load_profile(name)


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run tests marked slow (over about 60 s)")


def _files_by_size(config) -> bool:
    """Whether xdist hands out whole files (--dist loadfile or loadscope) to workers (in a worker:
    what its controller said, pytest_configure_node)."""
    if hasattr(config, "workerinput"):
        return bool(config.workerinput.get("trt_files_by_size"))
    return getattr(config.option, "dist", "no") in ("loadfile", "loadscope") and _xdist_controller(config)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    node.workerinput["trt_files_by_size"] = _files_by_size(node.config)


def pytest_collection_modifyitems(config, items):
    if _files_by_size(config):
        # Files of few tests first: they are the slow ones (each test a whole run of the harness),
        # the files of many small tests last, so that no worker still has a 15 s file to run when
        # the other has nothing left (xdist's own order, most tests first, put those last).  The
        # controller keeps this order (pytest_configure turns xdist's reordering off).
        per_file = collections.Counter(item.nodeid.split("::")[0] for item in items)
        items.sort(key=lambda item: per_file[item.nodeid.split("::")[0]])
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: give --run-slow to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


# -- builders of results headers, records, runs and files (harness.records types) ------------------
# One place for every test that needs results data: tests ask for the `build` fixture.
import types as _types

from harness.records import SCHEMA_NAME, SCHEMA_VERSION, Header, Offload, Record, Stats, Timing, Tolerance  # noqa: E402

ENV = {"harness_version": "0.1.0", "tvm_version": "0.27", "trt_version": "8.6.1", "gpu": "H100",
       "hostname": "ci-1", "hypothesis_profile": "ci", "hypothesis_seed": 1}
TOL = Tolerance(atol=1e-5, rtol=1e-5)


def make_header(run_id: str = "r1", *, env: dict | None = None, label: str | None = None, resumed: bool = False,
                **env_changes) -> Header:
    """A header as every producer writes it (harness.results.header), without the support table."""
    from harness.results import header

    h = header(suite="ops", env={**ENV, **(env if env is not None else {}), **env_changes}, run_id=run_id,
               label=label, with_table=False)
    h.created = "2025-01-01T00:00:00+00:00"
    h.resumed = resumed
    return h


def make_record(op: str = "nn.relu", case_id: str = "c1", check: str = "reference", outcome: str = "pass",
                run_id: str = "r1", **kw) -> Record:
    return Record(op=op, check=check, outcome=outcome, case_id=case_id, run_id=run_id, **kw)


def make_stats(median: float, iqr: float | None = None, **kw) -> Stats:
    return Stats(median_s=median, iqr_s=iqr, **kw)


def make_timing(median: float | None = None, iqr: float | None = None, *, device: float | None = None,
                device_iqr: float | None = None, **kw) -> Timing:
    """One backend's timing: ``median``/``iqr`` the host latency, ``device``/``device_iqr`` CUPTI's."""
    return Timing(latency=make_stats(median, iqr) if median is not None else None,
                  device=make_stats(device, device_iqr) if device is not None else None, build_s=1.0, **kw)


def make_offload(verdict: str = "match", actual: dict | None = None, **kw) -> Offload:
    return Offload(verdict=verdict, actual=dict(actual or {}), **kw)


def make_run(records, run_id: str = "r1", *, label: str | None = None, **env_changes):
    """A harness.reader.Run whose records all carry ``run_id``."""
    from harness.reader import Run

    return Run(headers=[make_header(run_id, label=label, **env_changes)],
               records=[_with_run_id(r, run_id) for r in records])


def _with_run_id(rec: Record, run_id: str) -> Record:
    import msgspec

    return msgspec.structs.replace(rec, run_id=run_id)


def write_results(path, head: Header, records=(), *, resume: bool = False) -> str:
    """Write a results file the way a run does (harness.results.ResultsWriter); returns its path."""
    from harness.results import ResultsWriter

    writer = ResultsWriter(path, head, resume=resume)
    try:
        for rec in records:
            writer.write(rec)
    finally:
        writer.close()
    return str(path)


def encoded(line) -> str:
    """One results line as text (harness.records.encode)."""
    from harness.records import encode

    return encode(line).decode()


# Golden schema-1 lines, written by the schema-1 harness (harness/results.py at 1564c36, Record.to_json
# and ResultsWriter; only run_id and time fixed).  Kept verbatim: they prove that old files still load
# through harness.records_v1.from_v1.
V1_HEADER = ('{"kind": "header", "schema": "tvm-trt-harness.results", "schema_version": 1, "run_id": "v1run", '
             '"created": "2025-01-01T00:00:00+00:00", "resumed": false, "env": {"harness_version": "0.1.0", '
             '"tvm_version": "0.26", "trt_version": "8.6.1", "gpu": "H100"}}')
V1_RECORDS = (
    # op-suite offload record: one expected decision per call, actual offload as ops + regions, weights in attrs
    '{"kind": "record", "op": "nn.relu", "check": "offload", "outcome": "fail", "case_id": "nn.relu-0123456789", '
    '"tvm_op": null, "reason": "", "error_kind": null, "dtype": "int32", "input_shapes": [[2, 3]], "attrs": '
    '{"_weights": [["w", [3]]]}, "trt_version": null, "expected_offload": [{"op": "relax.nn.relu", "offload": '
    'false, "rule": "dtype", "reason": "int32", "source": "builder.cc"}], "actual_offload": {"ops": '
    '["relax.nn.relu"], "regions": 1}, "offload_verdict": "over-offload", "max_abs_err": null, "max_rel_err": '
    'null, "tolerance": null, "min_tolerance": null, "nan_inf_agree": null, "backend": null, "reference": null, '
    '"timings": null, "reproducer": null, "duration_s": null, "nodeid": null, "time": "2025-01-01T00:00:01+00:00", '
    '"run_id": "v1run"}',
    # tensorrt record: host-clock timings per backend with the speedup beside them; NaN written as text
    '{"kind": "record", "op": "nn.relu", "check": "tensorrt", "outcome": "pass", "case_id": "nn.relu-0123456789", '
    '"tvm_op": null, "reason": "", "error_kind": null, "dtype": "float32", "input_shapes": [], "attrs": {}, '
    '"trt_version": null, "expected_offload": null, "actual_offload": null, "offload_verdict": null, '
    '"max_abs_err": "nan", "max_rel_err": null, "tolerance": {"atol": 1e-05, "rtol": 1e-05}, "min_tolerance": '
    '{"atol": 0.0, "rtol": 0.0}, "nan_inf_agree": null, "backend": null, "reference": null, "timings": '
    '{"tensorrt": {"median_s": 0.001, "iqr_s": 1e-05, "rounds": 30, "build_s": 2.5}, "tvm-cuda": {"median_s": '
    '0.002, "iqr_s": 2e-05}, "speedup": 2.0}, "reproducer": null, "duration_s": null, "nodeid": null, "time": '
    '"2025-01-01T00:00:01+00:00", "run_id": "v1run"}',
    # model record: op -> count offload, the model's statistics in attrs
    '{"kind": "record", "op": "model:resnet18", "check": "offload", "outcome": "pass", "case_id": "resnet18", '
    '"tvm_op": null, "reason": "", "error_kind": null, "dtype": null, "input_shapes": [], "attrs": '
    '{"trt_subgraphs": 3, "nodes": 69}, "trt_version": null, "expected_offload": {"relax.nn.conv2d": 20}, '
    '"actual_offload": {"relax.nn.conv2d": 20}, "offload_verdict": "match", "max_abs_err": null, "max_rel_err": '
    'null, "tolerance": null, "min_tolerance": null, "nan_inf_agree": null, "backend": null, "reference": null, '
    '"timings": null, "reproducer": null, "duration_s": null, "nodeid": null, "time": "2025-01-01T00:00:01+00:00", '
    '"run_id": "v1run"}',
)


@pytest.fixture(scope="session")
def build():
    """Builders of results data: header, record, stats, timing, offload, run, write, encoded, V1 lines,
    ENV, TOL and the schema constants (so no test spells them out)."""
    return _types.SimpleNamespace(
        header=make_header, record=make_record, stats=make_stats, timing=make_timing, offload=make_offload,
        run=make_run, write=write_results, encoded=encoded, ENV=ENV, TOL=TOL, V1_HEADER=V1_HEADER,
        V1_RECORDS=V1_RECORDS, SCHEMA_NAME=SCHEMA_NAME, SCHEMA_VERSION=SCHEMA_VERSION)
