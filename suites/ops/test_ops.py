"""Operator suites, generated from the support table: one test per (operator, check).

Each test runs Hypothesis over the operator's cases; see harness/suite.py for outcomes.
"""
import pytest

from harness.results import CHECKS
from harness.suite import run_op_check
from harness.table import OPS


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("entry", [pytest.param(e, id=e.name, marks=pytest.mark.trt_op(e.name)) for e in OPS])
def test_op(entry, check, trt_state, request):
    run_op_check(trt_state, entry, check, request.node.nodeid)
