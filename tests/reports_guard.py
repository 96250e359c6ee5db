"""A test session must leave the repository's reports/ as it found it: every test writes under its
own tmp_path.  The files a session added there fail the session (exit 1), named in its summary.

Loaded by tests/conftest.py; it watches ``$TRT_TESTS_WATCH`` (default: the repository's reports/),
so tests/test_reports_guard.py can point an inner session at a folder of its own."""
from __future__ import annotations

import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WATCHED = pytest.StashKey[tuple]()
GAINED = pytest.StashKey[list]()


def files_under(folder: str) -> set[str]:
    return {os.path.relpath(os.path.join(d, f), folder) for d, _, files in os.walk(folder) for f in files}


def pytest_configure(config):
    if hasattr(config, "workerinput"):   # xdist: the controller watches for the whole session
        return
    folder = os.environ.get("TRT_TESTS_WATCH") or os.path.join(ROOT, "reports")
    config.stash[WATCHED] = (folder, files_under(folder))


def pytest_sessionfinish(session, exitstatus):
    watched = session.config.stash.get(WATCHED, None)
    if watched is None:
        return
    folder, before = watched
    gained = sorted(files_under(folder) - before)
    session.config.stash[GAINED] = gained
    if gained and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    gained = config.stash.get(GAINED, None)
    if gained:
        folder = config.stash[WATCHED][0]
        terminalreporter.section("files written outside tmp_path", red=True)
        terminalreporter.write_line(f"the tests added {len(gained)} file(s) to {folder} (write under tmp_path):")
        for name in gained[:20]:
            terminalreporter.write_line(f"  {name}")
