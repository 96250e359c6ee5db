"""Operator suites, generated from the support table (harness/table.py).

One test per unit of work: a chunk of one operator's Hypothesis-drawn cases (harness/plan.py),
each case checked for offload, preserve, reference and tensorrt; one record per (case, check).
"""
import pytest

from harness.suite import run_unit


def test_op(trt_unit, trt_session, request):
    report = run_unit(trt_session, trt_unit, request.node.nodeid)
    if report.lost:     # no runner left for its runs (harness.runner): the run stops, no record for its pairs
        request.session.shouldstop = report.lost
        pytest.skip(f"not run: {report.lost}")
    if report.unexpected:
        pytest.fail(f"{trt_unit.id}: {len(report.unexpected)} unexpected result(s) (recorded, with reproducers):\n  "
                    + "\n  ".join(report.unexpected[:20]), pytrace=False)
    if report.skipped and not report.ran and not report.done_before:   # finished before a resume: not skipped
        pytest.skip(report.skipped)
