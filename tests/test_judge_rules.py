"""The model judge's rules for references that partly agree (harness/models/references.py), and the
default tolerances pinned.  References here are plain runners returning arrays; the ones that are
wrong on purpose are named ``*_double``.  The rules:

* a strict majority of agreeing references is the consensus; a tie or a split has none;
* with no majority, the model's own stored outputs settle it (the group that agrees with them);
* TVM fails only when it disagrees with every reference of the consensus;
* every verdict names the references it rests on.
"""
from __future__ import annotations

import numpy as np
import pytest

from harness.models import references as R
from harness.models import verify
from harness.records import Tolerance
from harness.table import DEFAULT_TOL, FP16_MODE_TOL

TRUTH = [np.linspace(-1.0, 1.0, 24, dtype=np.float32).reshape(4, 6)]
OFF = [TRUTH[0] + np.float32(0.01)]            # 1e-2 away: beyond 1e-4 x max|e| = 1e-4
OTHER = [TRUTH[0] * np.float32(-1.0)]


def runner(name, outputs):
    def fn(model, inputs):
        return R.Reference(name, "ok", [o.copy() for o in outputs])
    fn.reference_name = name
    return fn


def refs(*named, source=None):
    return R.run_references(None, {}, runners=[runner(n, o) for n, o in named], source=source, enough=None)


def test_majority_is_the_consensus_and_the_outvoted_one_is_reported():
    rs = refs(("a", TRUTH), ("b", TRUTH), ("wrong_double", OFF))
    assert rs.group == ["a", "b"] and rs.consensus.name == "a" and rs.settled_by is None
    j = R.judge(TRUTH, rs, name="tvm")
    assert j.outcome == "pass" and j.rests_on == ["a", "b"]
    assert "wrong_double" in j.reason          # the disagreement is reported beside the verdict


def test_agreeing_only_with_the_outvoted_reference_fails():
    rs = refs(("a", TRUTH), ("b", TRUTH), ("wrong_double", OFF))
    j = R.judge(OFF, rs, name="tvm")
    assert j.outcome == "fail" and j.rests_on == ["a", "b"]
    assert "agrees only with wrong_double" in j.reason


def test_agreeing_with_one_of_a_consensus_is_a_pass_resting_on_that_one():
    # a and b agree within tolerance, tvm is within tolerance of a but not of b
    near = [TRUTH[0] + np.float32(6e-5)]
    far = [TRUTH[0] - np.float32(6e-5)]
    rs = refs(("a", near), ("b", TRUTH))
    assert rs.group == ["a", "b"]
    j = R.judge([near[0] + np.float32(9e-5)], rs, name="tvm")
    assert j.outcome == "pass" and j.rests_on == ["a"]
    assert R.judge(far, rs).outcome == "pass"


@pytest.mark.parametrize("named", [
    (("a", TRUTH), ("wrong_double", OFF)),                                      # one against one
    (("a", TRUTH), ("b", TRUTH), ("wrong_double", OFF), ("other_double", OFF)),  # a tie
    (("a", TRUTH), ("wrong_double", OFF), ("other_double", OTHER)),            # all apart
])
def test_no_majority_is_inconclusive_never_blamed_on_tvm(named):
    rs = refs(*named)
    assert rs.consensus is None and rs.group == []
    j = R.judge(TRUTH, rs, name="tvm")
    assert j.outcome == "inconclusive" and "not blamed on tvm" in j.reason and j.rests_on == []
    assert "tvm agrees with a" in j.reason


def test_stored_outputs_settle_a_disagreement():
    rs = refs(("a", TRUTH), ("wrong_double", OFF), source=("stored outputs", TRUTH))
    assert rs.consensus.name == "stored outputs"        # 2 of 3: a majority already
    assert rs.settled_by is None
    rs = refs(("wrong_double", OFF), ("a", TRUTH), ("other_double", OTHER), source=("stored outputs", TRUTH))
    assert rs.group == ["stored outputs", "a"]          # 2 of 4 is no majority: the stored outputs settle it
    assert rs.settled_by == "stored outputs"
    assert any("settled by the stored outputs" in ln for ln in rs.lines())
    j = R.judge(TRUTH, rs, name="tvm")
    assert j.outcome == "pass" and j.rests_on == ["stored outputs", "a"]
    assert R.judge(OFF, rs, name="tvm").outcome == "fail"   # wrong_double agrees with it, the settled group does not


def test_stored_outputs_settle_against_a_pair_that_agrees_with_each_other_only():
    # two pairs agree among themselves (no unique largest group, no majority), neither with the stored
    # outputs: the stored outputs stand alone, never a pair that contradicts them
    rs = refs(("wrong_double", OFF), ("wrong_too_double", OFF), ("other_double", OTHER),
              ("other_too_double", OTHER), source=("stored outputs", TRUTH))
    assert rs.group == ["stored outputs"] and rs.settled_by == "stored outputs"
    assert R.judge(OFF, rs).outcome == "fail"


def test_stored_outputs_alone_against_one_reference():
    rs = refs(("wrong_double", OFF), source=("stored outputs", TRUTH))
    assert rs.group == ["stored outputs"] and rs.settled_by == "stored outputs"
    assert R.judge(TRUTH, rs).outcome == "pass"
    assert R.judge(OFF, rs).outcome == "fail"


def test_a_computed_source_outvoted_by_two_references_does_not_win():
    rs = refs(("a", TRUTH), ("b", TRUTH), source=("stored outputs", OFF))
    assert rs.group == ["a", "b"] and rs.settled_by is None
    assert R.judge(TRUTH, rs).outcome == "pass"


def test_one_reference_is_its_own_consensus_and_says_so():
    rs = refs(("a", TRUTH))
    j = R.judge(TRUTH, rs)
    assert j.outcome == "pass" and j.rests_on == ["a"]
    assert R.judge(OFF, rs).outcome == "fail"


def test_no_reference_is_a_skip():
    rs = R.run_references(None, {}, runners=[lambda m, i: (_ for _ in ()).throw(RuntimeError("x"))])
    j = R.judge(TRUTH, rs)
    assert j.outcome == "skip" and j.rests_on == []


# -- the comparison's edges and the default tolerances, pinned -------------------------------------------
def test_reference_tolerance_is_normwise_1e_4_of_the_largest_expected():
    assert R.REFERENCE_TOL == {"rtol": 1e-4, "atol_scale": 1e-4}
    big = [np.full(8, 1000.0, np.float32)]
    # normwise: atol scales with max|expected| (1000 -> 0.1), rtol 1e-4 of each element: 0.1 + 0.1
    assert R.compare_outputs([big[0] + np.float32(0.19)], big).agree
    assert not R.compare_outputs([big[0] + np.float32(0.25)], big).agree
    small = [np.full(8, 1e-3, np.float32)]
    assert R.compare_outputs([small[0] * np.float32(1 + 1.5e-4)], small).agree
    assert not R.compare_outputs([small[0] * np.float32(1 + 3e-4)], small).agree


def test_model_check_tolerances_are_pinned():
    assert verify.PRESERVE_TOL == Tolerance(atol=1e-5, rtol=1e-5, mode="normwise")
    assert verify.REFERENCE_TOL == Tolerance(atol=1e-4, rtol=1e-4, mode="normwise")


def test_table_default_tolerances_are_pinned():
    assert dict(DEFAULT_TOL) == {
        "float32": Tolerance(atol=1e-5, rtol=1e-5), "float16": Tolerance(atol=2e-3, rtol=2e-3),
        "float64": Tolerance(atol=1e-10, rtol=1e-10), "int32": Tolerance(atol=0.0, rtol=0.0)}
    assert FP16_MODE_TOL == Tolerance(atol=5e-2, rtol=5e-2)


@pytest.mark.parametrize("dtype,ok,bad", [("float32", 9e-6, 3e-5), ("float16", 1e-3, 8e-3),
                                          ("float64", 5e-11, 5e-10)])
def test_default_tolerances_accept_rounding_and_refuse_a_real_error(dtype, ok, bad):
    from harness.compare import compare

    tol = DEFAULT_TOL[dtype]
    x = np.full(4, 0.5, dtype)
    assert compare([x + np.asarray(ok, dtype)], [x], tol).ok
    assert not compare([x + np.asarray(bad, dtype)], [x], tol).ok


def test_int32_must_be_exact():
    from harness.compare import compare

    x = np.arange(6, dtype=np.int32)
    assert compare([x.copy()], [x], DEFAULT_TOL["int32"]).ok
    assert not compare([x + np.int32(1)], [x], DEFAULT_TOL["int32"]).ok
