"""The session guard of tests/reports_guard.py: a test that writes into the watched reports/ folder
fails the session and is named; one that writes under tmp_path does not."""
from __future__ import annotations

import pytest

WRITES = """
import os

def test_writes(tmp_path):
    target = os.environ["TRT_TESTS_WATCH"] if {outside} else str(tmp_path)
    os.makedirs(os.path.join(target, "repro"), exist_ok=True)
    with open(os.path.join(target, "repro", "x.py"), "w") as fh:
        fh.write("print(1)")
"""


@pytest.mark.parametrize("outside", [True, False], ids=["into-reports", "into-tmp_path"])
def test_a_session_that_writes_into_reports_fails(pytester, monkeypatch, outside):
    watched = pytester.mkdir("reports")
    (watched / "kept.md").write_text("there before")
    monkeypatch.setenv("TRT_TESTS_WATCH", str(watched))
    pytester.makepyfile(test_w=WRITES.format(outside=outside))
    res = pytester.runpytest_inprocess("-p", "reports_guard", "-p", "no:cacheprovider")
    res.assert_outcomes(passed=1)
    if outside:
        assert res.ret == pytest.ExitCode.TESTS_FAILED
        res.stdout.fnmatch_lines(["*files written outside tmp_path*", f"*added 1 file(s) to {watched}*",
                                  "  repro/x.py"])
    else:
        assert res.ret == pytest.ExitCode.OK
        assert "files written outside tmp_path" not in res.stdout.str()
