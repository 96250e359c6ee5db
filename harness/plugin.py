"""The pytest plugin: a thin face in front of :class:`harness.session.Session`.

Registered through the ``pytest11`` entry point.  It adds the ``--trt-*`` options
(:mod:`harness.options`), creates the session, parametrizes the op suite with the run's units of
work (:mod:`harness.plan`), and asks the session to finish.  Under pytest-xdist each worker is
pinned to a GPU, writes its own results shard, and the controller merges the shards at the end.
"""
from __future__ import annotations

import contextlib
import os

import pytest

from . import options as O
from .errors import HarnessError
from .session import Session, settings_from

STATE = pytest.StashKey[Session]()


def pytest_addoption(parser):
    g = parser.getgroup("tvm-trt-harness", "TVM TensorRT conformance harness")
    O.add(g.addoption, O.TARGET + O.EXECUTION + O.RUN)


def _worker_id(config) -> str | None:
    return getattr(config, "workerinput", {}).get("workerid")


def _xdist_workers(config) -> list[str]:
    """The worker ids the xdist controller will start (none when xdist is off)."""
    try:
        n = config.getoption("numprocesses", None)
        dist = config.getoption("dist", "no")
    except ValueError:
        return []
    if not n or dist == "no":
        return []
    if n in ("auto", "logical"):
        n = os.cpu_count() or 1
    return [f"gw{i}" for i in range(int(n))]


def _wants_harness(config) -> bool:
    """Only runs that collect harness suites need TVM, a plan and a results file."""
    return any("suites" in str(a) for a in config.args) or bool(config.getoption("--trt-ops")) or bool(
        os.environ.get("TRT_HARNESS_FORCE"))


def pytest_configure(config):
    config.addinivalue_line("markers", "trt_op(name): a generated operator suite test")
    if not _wants_harness(config):
        return
    try:   # options first: a misspelt op or a bad --trt-plan file fails in a second, before TVM is imported
        settings = settings_from(config.getoption)
        given = _given_plan(settings)
    except HarnessError as exc:
        raise pytest.UsageError(str(exc)) from None
    from . import trace

    worker = _worker_id(config)
    trace.name(worker or "pytest controller")
    drawing = None
    if not worker and given is None:   # the plan's cases drawn by children while TVM is imported here
        drawing = _start_drawing(settings)
    if not worker and _xdist_workers(config) and not config.getoption("collectonly"):
        # xdist starts its workers after this hook: they start while this process does its part
        from . import gpu, handoff

        gpu.start_probe()
        handoff.announce()
        config.stash[_PENDING] = (settings, given, drawing)
        return
    _setup(config, settings, given, drawing)


_PENDING = pytest.StashKey[tuple]()


@pytest.hookimpl(wrapper=True)
def pytest_sessionstart(session):
    """The xdist controller's part of the configuration, after xdist's own ``pytest_sessionstart``
    has started the workers (harness.handoff): they start their pytest while this one imports TVM."""
    result = yield
    config = session.config
    if _PENDING in config.stash:
        from . import handoff

        try:
            _setup(config, *config.stash[_PENDING])
        except pytest.UsageError as exc:
            handoff.publish(error=str(exc))
            raise
        except BaseException:
            handoff.publish(error="the pytest controller failed while configuring the run (its traceback says why)")
            raise
        handoff.publish()
    return result


def _import_tvm() -> None:
    from . import trace

    try:
        with trace.span("import tvm"):
            from .tvmcompat import import_tvm

            import_tvm()
    except Exception as exc:
        raise pytest.UsageError(f"TVM is not importable ({type(exc).__name__}: {exc}); "
                                "install it with: pip install apache-tvm") from None


def _setup(config, settings, given, drawing) -> None:
    """TVM, the GPU, the plan, the results file, the runners: the run's session in ``config.stash``."""
    from . import gpu, handoff, trace

    worker = _worker_id(config)
    if worker:      # TVM first, then what the controller hands over (it is usually ready by then)
        _import_tvm()
        try:
            with trace.span("handoff"):
                handoff.receive()
        except HarnessError as exc:
            raise pytest.UsageError(str(exc)) from None
    gpu.start_probe()      # a GPU machine's probe (TVM and CUDA in a child) beside TVM's import and the plan
    if not worker:
        _import_tvm()
    from . import profiles
    workers = _xdist_workers(config)
    from .runner import spec as runner_spec

    if worker and not runner_spec():   # with runners the workers only build: no GPU of their own
        gpu.pin(worker)
    profiles.use(settings.profile, cases=settings.cases)
    session = Session(settings, worker)
    session.run_token = getattr(config, "workerinput", {}).get("testrunuid")
    with trace.span("gpu probe"):
        session.device = gpu.describe()
    session.parallel = bool(worker or workers)
    try:
        with trace.span("plan"):
            _units(session, given, drawing)     # the plan first: the header carries its hash
        if config.getoption("collectonly"):   # a look at the plan writes nothing and starts nothing
            config.stash[STATE] = session
            return
        session.open(placement=gpu.placement(workers) if workers else {})
    except HarnessError as exc:
        raise pytest.UsageError(str(exc)) from None
    if not worker:      # the controller starts the runners before its workers ask for them
        gpu.share_probe()
        try:
            with trace.span("start runners"):
                session.start_runners()
        except HarnessError as exc:
            raise pytest.UsageError(str(exc)) from None
    if not workers:     # the xdist controller runs no tests: it needs no case worker
        with trace.span("start case worker"):
            session.start_worker()
    config.stash[STATE] = session
    if not worker:
        _stop_on_sigterm(config)


_OLD_SIGTERM = pytest.StashKey[object]()


def _stop_on_sigterm(config) -> None:
    """SIGTERM ends the run as Ctrl-C does: records kept, the summary and the resume command printed."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    config.stash[_OLD_SIGTERM] = signal.signal(signal.SIGTERM, stop)


def _given_plan(settings):
    """The --trt-plan file's plan (read before TVM is imported: a bad file is one line), or None."""
    if not settings.plan_path:
        return None
    from . import replay

    return replay.load_for_run(settings.plan_path)


def _units(session: Session, given=None, drawing=None) -> list:
    if session.units is None:
        session.units, session.plan_facts, session.not_run = _plan(session.settings, parallel=session.parallel,
                                                                    given=given, drawing=drawing)
    return session.units


def _selected(settings) -> list:
    from .table import OPS

    return [e for e in OPS if not settings.ops or e.name in settings.ops]


def _start_drawing(settings):
    from . import plan, profiles

    with contextlib.suppress(ValueError):      # a bad profile is said where the plan is made
        profiles.use(settings.profile, cases=settings.cases)
        return plan.start_drawing([e for e in _selected(settings) if e.runnable], settings)
    return None


def _plan(settings, *, parallel: bool, given=None, drawing=None):
    """(units, the plan's facts for the header, ops of a replayed plan that the table lacks);
    ``given``: the --trt-plan file's plan, if already read."""
    import hypothesis

    from . import plan, replay
    from .table import BY_NAME, OPS

    gone: list[str] = []
    if settings.plan_path:       # exactly the cases of an earlier run (or plan file)
        given = given or replay.load_for_run(settings.plan_path)
        wanted = {op: cs for op, cs in given.cases.items() if not settings.ops or op in settings.ops}
        gone = [op for op in wanted if op not in BY_NAME]
        entries = [e for e in OPS if e.name in wanted]
        cases_of = {op: cs for op, cs in wanted.items() if op in BY_NAME}
        source = f"replayed from {settings.plan_path}"
    else:                        # drawn by Hypothesis
        entries = _selected(settings)
        cases_of = plan.cached_cases([e for e in entries if e.runnable], settings, drawing=drawing)
        source = f"drawn by Hypothesis {hypothesis.__version__}, profile {settings.profile}, seed {settings.seed}"
    chunk = settings.chunk or (5 if parallel else 10)
    units = plan.make_units(entries, cases_of, chunk=chunk, shard=settings.shard)
    units += [plan.Unit(e.name, 0, 1, ()) for e in entries if not e.runnable and not settings.plan_path]
    units += [plan.Unit(op, 0, 1, (), skip=f"{op}: not run: the plan names it but the support table has no such op "
                                          "(harness/table.py)") for op in gone]
    facts = {"plan": replay.hash_of(cases_of), "plan_cases": sum(len(cs) for cs in cases_of.values()),
             "plan_source": source}
    return units, facts, gone


def session_of(config) -> Session:
    if STATE not in config.stash:
        raise pytest.UsageError("the tvm-trt-harness plugin is not configured for this run "
                                "(run the suites under suites/, or set TRT_HARNESS_FORCE=1)")
    return config.stash[STATE]


@pytest.fixture
def trt_session(request) -> Session:
    return session_of(request.config)


def pytest_generate_tests(metafunc):
    if "trt_unit" in metafunc.fixturenames:
        units = _units(session_of(metafunc.config))
        metafunc.parametrize("trt_unit", [pytest.param(u, id=u.id, marks=pytest.mark.trt_op(u.op)) for u in units])


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if STATE not in config.stash:
        return
    state = config.stash[STATE]
    if state.writer is None:   # --collect-only: no results file was opened, none is closed or reported
        return
    state.interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
    state.close()
    if not _worker_id(config):
        state.finish()
        if state.stranded:     # a device kind lost all its cards: the run is unfinished (harness.runner)
            from .runner import LOST_EXIT

            session.exitstatus = LOST_EXIT


def pytest_unconfigure(config):
    """An interrupted run, or one stopped by lost cards, ends with one line: the pairs done or left,
    and the exact command that finishes it (:mod:`harness.stopped`)."""
    import signal

    if _OLD_SIGTERM in config.stash:
        signal.signal(signal.SIGTERM, config.stash[_OLD_SIGTERM])
    if STATE in config.stash:
        config.stash[STATE].stop_runners()     # a run that ended before its finish: no orphan runner
    if _PENDING in config.stash:
        from . import handoff

        handoff.forget()
    state = config.stash[STATE] if STATE in config.stash and not _worker_id(config) else None
    if state is not None and (state.stranded or state.interrupted):
        from .stopped import card_lost_line, resume_line

        print(card_lost_line(state) if state.stranded else resume_line(state), flush=True)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if STATE not in config.stash or _worker_id(config) or config.stash[STATE].writer is None:
        return
    terminalreporter.section("tvm-trt-harness")
    for line in config.stash[STATE].summary_lines():
        terminalreporter.write_line(line)
