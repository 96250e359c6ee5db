"""harness.compare: the one comparator (tolerance edges, modes, NaN/Inf, kinds, min_tolerance)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from harness.compare import Comparison, compare
from harness.records import Tolerance

NAN, INF = float("nan"), float("inf")


def tol(atol, rtol=0.0, mode="elementwise"):
    return Tolerance(atol=atol, rtol=rtol, mode=mode)


def f64(*values):
    return np.array(values, dtype=np.float64)


# -- the tolerance's edge ------------------------------------------------------------------------
def test_exactly_at_atol_plus_rtol_times_expected_passes():
    # 0.5 + 0.25 * |2.0| = 1.0 (all exact in binary): |3.0 - 2.0| = 1.0 is on the edge
    c = compare([f64(3.0)], [f64(2.0)], tol(0.5, 0.25))
    assert c.ok and bool(c) and c.problems == []
    assert c.reason == "within atol=0.5 rtol=0.25"
    assert (c.max_abs_err, c.max_rel_err) == (1.0, 0.5)


def test_just_beyond_the_edge_fails():
    c = compare([f64(np.nextafter(3.0, 4.0))], [f64(2.0)], tol(0.5, 0.25))
    assert not c.ok and not bool(c)
    assert len(c.problems) == 1 and c.reason == c.problems[0]
    assert c.problems[0].startswith("output 0: 1/1 elements beyond atol=0.5 rtol=0.25")


def test_negative_expected_uses_its_magnitude():
    assert compare([f64(-3.0)], [f64(-2.0)], tol(0.5, 0.25)).ok
    assert not compare([f64(np.nextafter(-3.0, -4.0))], [f64(-2.0)], tol(0.5, 0.25)).ok


def test_atol_alone_and_rtol_alone():
    assert compare([f64(1.5)], [f64(1.0)], tol(0.5)).ok
    assert not compare([f64(1.5)], [f64(1.0)], tol(0.49)).ok
    assert compare([f64(12.0)], [f64(8.0)], tol(0.0, 0.5)).ok
    assert not compare([f64(12.5)], [f64(8.0)], tol(0.0, 0.5)).ok


def test_counts_the_elements_beyond():
    c = compare([f64(1.0, 2.5, 3.0, 9.0)], [f64(1.0, 2.0, 3.0, 4.0)], tol(0.1))
    assert "2/4 elements beyond" in c.reason and "max abs error 5" in c.reason


def test_not_symmetric_where_rtol_uses_the_expected_magnitude():
    t = tol(0.0, 0.5)
    assert compare([f64(1.0)], [f64(2.0)], t).ok          # |1 - 2| = 1 <= 0.5 * |2|
    assert not compare([f64(2.0)], [f64(1.0)], t).ok      # |2 - 1| = 1 >  0.5 * |1|


# -- elementwise vs normwise -------------------------------------------------------------------------
def test_normwise_scales_atol_by_the_largest_expected_magnitude():
    a, e = [f64(1000.0, 1.5)], [f64(1000.0, 1.0)]
    assert not compare(a, e, tol(1e-3)).ok                        # 0.5 > 1e-3
    c = compare(a, e, tol(1e-3, mode="normwise"))                  # 0.5 <= 1e-3 * 1000
    assert c.ok and c.reason == "within atol=0.001 rtol=0 (normwise)"
    assert c.max_rel_err == pytest.approx(0.5 / 1000)              # relative to max|e|, not to 1.0
    assert c.min_tolerance == Tolerance(atol=0.5 / 1000, rtol=0.0, mode="normwise")
    assert compare([f64(1000.0, 2.5)], e, tol(1e-3, mode="normwise")).problems[0].startswith(
        "output 0: 1/2 elements beyond atol=1 rtol=0")


def test_elementwise_relative_error_is_per_element():
    c = compare([f64(1000.0, 1.5)], [f64(1000.0, 1.0)], tol(1.0))
    assert c.ok and c.max_rel_err == 0.5 and c.max_abs_err == 0.5
    assert c.tolerance == tol(1.0) and c.nan_inf_agree is True


def test_normwise_each_output_has_its_own_scale():
    a = [f64(1000.0, 1.5), f64(1.0, 1.5)]
    e = [f64(1000.0, 1.0), f64(1.0, 1.0)]
    c = compare(a, e, tol(1e-3, mode="normwise"))
    assert not c.ok and [p[:8] for p in c.problems] == ["output 1"]


def test_normwise_with_all_zero_expected_keeps_atol_unscaled():
    assert compare([f64(0.0, 0.0)], [f64(0.0, 0.0)], tol(1e-5, mode="normwise")).ok
    c = compare([f64(1e-6, 0.0)], [f64(0.0, 0.0)], tol(1e-5, mode="normwise"))
    assert c.ok and c.max_rel_err == math.inf and c.max_abs_err == 1e-6
    assert not compare([f64(1e-4, 0.0)], [f64(0.0, 0.0)], tol(1e-5, mode="normwise")).ok


def test_elementwise_relative_error_with_zero_expected():
    c = compare([f64(1e-6, 0.0)], [f64(0.0, 0.0)], tol(1e-5))
    assert c.ok and c.max_rel_err > 1e300                  # divided by the smallest normal, not by 0
    assert compare([f64(0.0)], [f64(0.0)], tol(0.0)).max_rel_err == 0.0


# -- NaN and Inf ---------------------------------------------------------------------------------
def test_nan_and_inf_in_the_same_places_pass():
    c = compare([f64(NAN, INF, -INF, 1.0)], [f64(NAN, INF, -INF, 1.0)], tol(0.0))
    assert c.ok and c.nan_inf_agree and c.max_abs_err == 0.0


def test_all_nan_outputs_agreeing_pass():
    c = compare([f64(NAN, NAN)], [f64(NAN, NAN)], tol(0.0))
    assert c.ok and c.nan_inf_agree and c.max_abs_err == 0.0


@pytest.mark.parametrize("a,e", [
    ((NAN, 1.0), (1.0, 1.0)),          # NaN where a number is expected
    ((1.0, 1.0), (1.0, NAN)),          # a number where NaN is expected
    ((INF, 1.0), (1.0, 1.0)),
    ((INF, 1.0), (-INF, 1.0)),         # the sign of an infinity
    ((NAN, 1.0), (INF, 1.0)),          # NaN is not Inf
    ((1.0, NAN), (NAN, 1.0)),          # same count, other places
])
def test_nan_inf_disagreement_fails(a, e):
    c = compare([f64(*a)], [f64(*e)], tol(1e9, 1e9))
    assert not c.ok and c.nan_inf_agree is False
    assert c.problems[0].startswith("output 0: NaN/Inf positions differ")


def test_nan_inf_problem_counts_both_sides():
    c = compare([f64(NAN, INF, 1.0)], [f64(1.0, 1.0, NAN)], tol(1.0))
    assert "(1 NaN/1 Inf vs 1/0)" in c.reason


def test_finite_elements_still_compared_beside_agreeing_infinities():
    c = compare([f64(INF, 5.0)], [f64(INF, 1.0)], tol(0.1))
    assert not c.ok and c.nan_inf_agree and c.max_abs_err == 4.0


# -- kinds, shapes, counts -----------------------------------------------------------------------
def test_shape_mismatch_fails():
    c = compare([np.zeros((2, 3))], [np.zeros((3, 2))], tol(1.0))
    assert not c.ok and c.reason == "output 0: shape (2, 3), expected (3, 2)"
    assert c.max_abs_err == c.max_rel_err == math.inf and c.min_tolerance is None and c.nan_inf_agree is False
    assert c.problems == [c.reason] and c.tolerance == tol(1.0)


def test_shape_mismatch_of_a_later_output_names_it():
    c = compare([np.zeros(2), np.zeros(2)], [np.zeros(2), np.zeros(3)], tol(1.0))
    assert c.reason == "output 1: shape (2,), expected (3,)"


@pytest.mark.parametrize("adt,edt", [("int32", "float32"), ("float32", "int64"), ("bool", "float16"),
                                     ("uint8", "float64")])
def test_dtype_kind_mismatch_fails(adt, edt):
    c = compare([np.ones(3, adt)], [np.ones(3, edt)], tol(1.0, 1.0))
    assert not c.ok and c.reason == f"output 0: dtype {adt}, expected {edt}" and c.min_tolerance is None


def test_float_widths_and_integer_widths_compare():
    assert compare([np.ones(3, "float16")], [np.ones(3, "float64")], tol(0.0)).ok
    assert compare([np.ones(3, "int8")], [np.ones(3, "int64")], tol(0.0)).ok
    assert compare([np.ones(3, bool)], [np.ones(3, "int32")], tol(0.0)).ok


def test_integer_outputs_must_be_equal_whatever_the_tolerance():
    c = compare([np.array([1, 2, 4], "int32")], [np.array([1, 2, 3], "int32")], tol(10.0, 10.0))
    assert not c.ok
    assert c.problems == ["output 0 (int32): 1/3 elements differ (max abs error 1)"]
    assert (c.max_abs_err, c.max_rel_err) == (1.0, pytest.approx(1 / 3))
    assert c.min_tolerance.atol == 1.0


def test_integer_relative_error_divides_by_at_least_one():
    c = compare([np.array([0, 1], "int64")], [np.array([0, 0], "int64")], tol(0.0))
    assert c.max_rel_err == 1.0 and not c.ok


def test_equal_integers_pass_with_zero_error():
    c = compare([np.array([1, 2, 3])], [np.array([1, 2, 3])], tol(0.0))
    assert c.ok and c.max_abs_err == 0.0 and c.min_tolerance == Tolerance(atol=0.0, rtol=0.0)


def test_booleans_must_be_equal():
    assert not compare([np.array([True, False])], [np.array([True, True])], tol(1.0)).ok


def test_empty_outputs_pass():
    c = compare([], [], tol(0.0))
    assert c.ok and c.max_abs_err == 0.0 and c.min_tolerance == Tolerance(atol=0.0, rtol=0.0)
    assert compare([np.zeros((0, 3))], [np.zeros((0, 3))], tol(0.0)).ok


def test_empty_output_does_not_hide_the_next_one():
    c = compare([np.zeros(0), f64(2.0)], [np.zeros(0), f64(1.0)], tol(0.5))
    assert not c.ok and c.problems[0].startswith("output 1:")


@pytest.mark.parametrize("na,ne", [(1, 2), (2, 1), (0, 1)])
def test_different_number_of_outputs_fails(na, ne):
    c = compare([f64(1.0)] * na, [f64(1.0)] * ne, tol(1.0))
    assert not c.ok and c.reason == f"{na} outputs, expected {ne}" and c.min_tolerance is None


def test_errors_are_the_maximum_over_outputs():
    c = compare([f64(1.0, 1.25), f64(3.0)], [f64(1.0, 1.0), f64(2.0)], tol(2.0))
    assert c.ok and c.max_abs_err == 1.0 and c.max_rel_err == 0.5


def test_accepts_lists_and_scalars():
    assert compare([[1.0, 2.0]], [[1.0, 2.0]], tol(0.0)).ok
    assert compare([1.0], [np.float32(1.0)], tol(0.0)).ok


def test_comparison_is_falsy_when_not_ok():
    c = Comparison(False, 0.0, 0.0, tol(0.0), None, True)
    assert not c and Comparison(True, 0.0, 0.0, tol(0.0), None, True)


# -- min_tolerance ---------------------------------------------------------------------------------
def test_min_tolerance_reports_atol_at_the_given_rtol_and_rtol_at_the_given_atol():
    c = compare([f64(3.0, 10.0)], [f64(2.0, 8.0)], tol(0.5, 0.125))
    # atol needed at rtol 0.125: max(1 - 0.25, 2 - 1) = 1; rtol needed at atol 0.5: max(0.25, 0.1875)
    assert c.min_tolerance == Tolerance(atol=1.0, rtol=0.25)
    assert not c.ok


def test_min_tolerance_is_zero_when_within_atol():
    c = compare([f64(1.25)], [f64(1.0)], tol(0.5, 0.5))
    assert c.min_tolerance == Tolerance(atol=0.0, rtol=0.0)


def test_min_rtol_is_infinite_where_only_atol_could_pass():
    c = compare([f64(1.0)], [f64(0.0)], tol(0.5, 0.5))
    assert not c.ok and c.min_tolerance.rtol == math.inf and c.min_tolerance.atol == 1.0


finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=64)


@st.composite
def pairs(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=2, max_side=5))
    e = draw(hnp.arrays(np.float64, shape, elements=finite))
    noise = draw(hnp.arrays(np.float64, shape, elements=st.floats(-10, 10, allow_subnormal=False)))
    scale = draw(st.sampled_from([0.0, 1e-6, 1e-3, 1.0]))
    return e + noise * scale, e


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(pairs(), st.sampled_from([0.0, 1e-5, 1e-3, 0.5]), st.sampled_from([0.0, 1e-5, 1e-3, 0.5]),
       st.sampled_from(["elementwise", "normwise"]))
def test_min_tolerance_is_the_smallest_that_passes(pair, atol, rtol, mode):
    a, e = pair
    with np.errstate(over="ignore"):     # probing with a huge rtol may overflow rtol * |e|: that passes
        _check_min_tolerance(a, e, atol, rtol, mode)


def _check_min_tolerance(a, e, atol, rtol, mode):
    c = compare([a], [e], tol(atol, rtol, mode))
    need = c.min_tolerance
    assert need.mode == mode and need.atol >= 0 and need.rtol >= 0
    assert c.ok == (need.atol <= atol)                       # it passed iff it needed no more atol
    assert compare([a], [e], tol(need.atol, rtol, mode)).ok   # the reported atol passes at the same rtol
    if need.atol > 0:                                         # ...and no smaller one does
        assert not compare([a], [e], tol(np.nextafter(need.atol, 0.0) * (1 - 1e-9), rtol, mode)).ok
    if math.isfinite(need.rtol):
        assert compare([a], [e], tol(atol, need.rtol, mode)).ok
    if need.rtol > 0 and math.isfinite(need.rtol):
        assert not compare([a], [e], tol(atol, need.rtol * (1 - 1e-9), mode)).ok


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(pairs())
def test_identical_outputs_always_pass(pair):
    _, e = pair
    c = compare([e], [e.copy()], tol(0.0))
    assert c.ok and c.max_abs_err == 0.0 and c.max_rel_err == 0.0


# -- edges that mutation testing showed unguarded ----------------------------------------------------
def test_many_outputs():
    outs = [f64(float(i)) for i in range(300)]
    assert compare(outs, [o.copy() for o in outs], tol(0.0)).ok


def test_shape_mismatch_either_way():
    assert compare([np.zeros((3, 2))], [np.zeros((2, 3))], tol(1.0)).reason == "output 0: shape (3, 2), expected (2, 3)"


def test_empty_integer_outputs_pass():
    c = compare([np.zeros(0, "int32"), np.zeros((2, 0), "int64")], [np.zeros(0, "int32"), np.zeros((2, 0), "int64")],
                tol(0.0))
    assert c.ok and c.max_abs_err == 0.0


def test_every_output_is_compared_after_an_integer_or_all_nan_one():
    ints = np.array([1, 2])
    assert not compare([ints, f64(2.0)], [ints, f64(1.0)], tol(0.5)).ok
    nans = f64(NAN, NAN)
    assert not compare([nans, f64(2.0)], [nans, f64(1.0)], tol(0.5)).ok


def test_only_elements_finite_on_both_sides_give_the_errors():
    c = compare([f64(NAN, 1.0, INF)], [f64(1.0, 1.25, 1.0)], tol(1.0))
    assert (c.max_abs_err, c.max_rel_err) == (0.25, 0.2) and not c.ok
    assert c.min_tolerance == Tolerance(atol=0.25, rtol=0.0)


def test_mode_given_as_any_equal_string():
    normwise = "".join(["norm", "wise"])               # not the interned literal
    c = compare([f64(1000.0, 1.5)], [f64(1000.0, 1.0)], tol(1e-3, mode=normwise))
    assert c.ok and c.reason.endswith("(normwise)")


def test_normwise_below_unit_scale():
    # max|e| = 0.5: atol 1e-3 becomes 5e-4
    e = [f64(0.5, 0.25)]
    c = compare([f64(0.5, 0.25 + 7e-4)], e, tol(1e-3, mode="normwise"))
    assert not c.ok and c.max_rel_err == pytest.approx(7e-4 / 0.5)
    assert c.min_tolerance.atol == pytest.approx(7e-4 / 0.5)
    assert compare([f64(0.5, 0.25 + 4e-4)], e, tol(1e-3, mode="normwise")).ok


def test_normwise_all_zero_expected_edges():
    zero = [f64(0.0, 0.0)]
    same = compare([f64(0.0, 0.0)], zero, tol(1e-5, mode="normwise"))
    assert same.ok and same.max_rel_err == 0.0 and same.min_tolerance == Tolerance(atol=0.0, rtol=0.0, mode="normwise")
    c = compare([f64(1.5e-5, 0.0)], zero, tol(1e-5, mode="normwise"))
    assert not c.ok and c.min_tolerance.atol == 1.5e-5 and c.max_rel_err == math.inf


def test_min_rtol_at_exactly_atol_with_zero_expected():
    c = compare([f64(0.5, 3.0)], [f64(0.0, 2.0)], tol(0.5, 0.25))
    assert c.ok and c.min_tolerance == Tolerance(atol=0.5, rtol=0.25)


def test_min_tolerance_survives_rounding():
    """Cases where atol/rtol computed by division fall an ulp short of passing."""
    a, e = [f64(1.5735435922131704, 9.72967000450234)], [f64(1.5727637211017294, 9.729025256847255)]
    need = compare(a, e, tol(0.0, mode="normwise")).min_tolerance
    assert compare(a, e, tol(need.atol, mode="normwise")).ok
    need = compare([f64(0.0, 1.001)], [f64(0.0, 1.0)], tol(1e-5)).min_tolerance
    assert compare([f64(0.0, 1.001)], [f64(0.0, 1.0)], tol(1e-5, need.rtol)).ok


def test_normwise_relative_error_with_a_mode_built_at_run_time():
    c = compare([f64(1000.0, 1.5)], [f64(1000.0, 1.0)], tol(1e-3, mode="".join(["norm", "wise"])))
    assert c.max_rel_err == pytest.approx(0.5 / 1000)


# -- the rounding a long sum is allowed ------------------------------------------------------------
def test_accumulation_is_lambda_sqrt_terms_unit_roundoff():
    from harness.compare import ACC_LAMBDA, accumulation

    assert accumulation(13824, "float16") == pytest.approx(ACC_LAMBDA * math.sqrt(13824) * 2.0 ** -11)
    assert accumulation(4, "float32") == ACC_LAMBDA * 2 * 2.0 ** -24
    assert accumulation(4096, "float16") > 100 * accumulation(4096, "float32")
    for terms, dtype in ((None, "float32"), (1, "float16"), (0, "float16"), (1000, "int32"), (1000, "bool")):
        assert accumulation(terms, dtype) == 0.0


def test_for_sum_adds_the_allowance_and_keeps_the_rest():
    from harness.compare import accumulation, for_sum

    base = Tolerance(atol=1e-2, rtol=2e-2, mode="normwise")
    t = for_sum(base, 768, "float16")
    assert (t.atol, t.rtol, t.mode, t.acc) == (1e-2, 2e-2, "normwise", accumulation(768, "float16"))
    assert for_sum(base, None, "float16") is base and for_sum(base, 768, "int32") is base


def test_the_sum_allowance_scales_with_the_largest_expected():
    e = f64(100.0, 0.5, -3.0)
    t = Tolerance(atol=0.0, rtol=0.0, acc=1e-3)                  # 0.1 for every element
    assert compare([e + f64(0.0, 0.099, -0.099)], [e], t).ok
    bad = compare([e + f64(0.0, 0.101, 0.0)], [e], t)
    assert not bad.ok and "1/3 elements beyond" in bad.reason and "for rounding in the sum (acc=0.001)" in bad.reason
    assert bad.min_tolerance.acc == 1e-3 and bad.min_tolerance.atol == pytest.approx(0.001, rel=1e-6)
    # without the allowance the same output fails on 2 elements
    assert "2/3 elements beyond" in compare([e + f64(0.0, 0.099, -0.099)], [e], Tolerance(atol=0.0, rtol=0.0)).reason


def test_the_sum_allowance_adds_to_atol_and_rtol():
    e = f64(10.0, 1.0)
    t = Tolerance(atol=0.01, rtol=0.01, acc=1e-3)                # element 1: 0.01 + 0.01 + 0.01
    assert compare([e + f64(0.0, 0.0299)], [e], t).ok
    assert not compare([e + f64(0.0, 0.0301)], [e], t).ok
    n = Tolerance(atol=0.01, rtol=0.0, mode="normwise", acc=1e-3)  # (0.01 + 0.001) * 10
    assert compare([e + f64(0.109, 0.0)], [e], n).ok and not compare([e + f64(0.111, 0.0)], [e], n).ok


def test_a_wrong_result_is_still_caught_with_the_allowance_of_a_long_float16_sum():
    """13,824 terms in float16 allow 11 % of the largest output: a wrong element (here one output
    off by a quarter of the largest) still fails."""
    from harness.compare import accumulation

    rng = np.random.default_rng(0)
    e = rng.normal(0.0, 100.0, 1000)
    a = e.copy()
    a[7] += 0.25 * np.abs(e).max()
    t = Tolerance(atol=0.03, rtol=0.03, acc=accumulation(13824, "float16"))
    assert compare([e + 0.05 * np.abs(e).max() * rng.uniform(-1, 1, 1000)], [e], t).ok
    assert not compare([a], [e], t).ok
