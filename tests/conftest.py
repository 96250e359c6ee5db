import os

import pytest

pytest_plugins = ["pytester"]
TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)


@pytest.fixture
def harness_run(pytester):
    """Run the generated op suite in a subprocess pytest, optionally with a test double installed.

    Returns (RunResult, records) where records are the results file's record lines."""
    import json

    def run(*args, double=None):
        pytester.makeconftest(f"""
import importlib.metadata as _md
import sys
sys.path.insert(0, {TESTS!r})
sys.path.insert(0, {ROOT!r})
if not any(ep.value.startswith("harness.plugin") for ep in _md.entry_points(group="pytest11")):
    pytest_plugins = ["harness.plugin"]

import pytest

@pytest.hookimpl(tryfirst=True)   # before the harness plugin reads its options
def pytest_configure(config):
    double = {double!r}
    if double:
        import doubles
        from _pytest.monkeypatch import MonkeyPatch
        doubles.install(double, MonkeyPatch())
""")
        with open(os.path.join(ROOT, "suites", "ops", "test_ops.py")) as fh:
            pytester.makepyfile(test_ops=fh.read())
        results = str(pytester.path / "out" / "results.jsonl")
        res = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--trt-results={results}", "--trt-report=",
                                            *args)
        records = []
        if os.path.exists(results):
            with open(results) as fh:
                records = [json.loads(line) for line in fh if '"kind": "record"' in line]
        return res, records

    pytester._monkeypatch.setenv("TRT_HARNESS_FORCE", "1")
    pytester._monkeypatch.setenv("PYTHONPATH", ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return run


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run tests marked slow (over about 60 s)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: give --run-slow to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
