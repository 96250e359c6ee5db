"""The named case predicates of harness/predicates.py that tests/test_expectations.py leaves out,
written for the mutants of predicates.py that survived it (docs/mutation-testing.md)."""
from __future__ import annotations

import pytest

from harness.case import Case
from harness.predicates import PREDICATES


def _pool(shape, **attrs):
    return Case("nn.adaptive_avg_pool2d", "float32", (shape,), {"output_size": None, "layout": "NCHW", **attrs})


@pytest.mark.parametrize("case,uneven", [
    (_pool((1, 3, 4, 4), output_size=[2, 2]), False),
    (_pool((1, 5, 4, 4), output_size=[2, 2]), False),             # the channels are no window
    (_pool((1, 3, 5, 4), output_size=[2, 2]), True),              # H: windows of 2 and 3
    (_pool((1, 3, 4, 6), output_size=[2, 4]), True),              # W only
    (_pool((1, 3, 4, 6), output_size=None), False),               # None keeps the input size: windows of 1
    (_pool((1, 3, 4, 6)), False),
    (_pool((1, 4, 6, 3), output_size=[2, 3], layout="NHWC"), False),
    (_pool((1, 4, 6, 3), output_size=[3, 3], layout="NHWC"), True),
    (_pool((1, 4, 6, 4), output_size=[2, 4], layout="NHWC"), True),   # read as NCHW it would divide
])
def test_dlight_leaves_adaptive_pooling_unscheduled_exactly_where_its_windows_have_two_sizes(case, uneven):
    """The cause (no dlight rule schedules the PrimFunc: host code on a GPU) against the geometry
    seen on the H100 (an output size that does not divide the input size crashes)."""
    assert PREDICATES["cuda-unscheduled-runs-on-host"](case) is uneven


def _mean(shape, **attrs):
    return Case("mean", "float32", (shape,), attrs)


@pytest.mark.parametrize("case,scalar", [
    (_mean((2, 3), axis=None), True),
    (_mean((2, 3), axis=None, keepdims=False), True),
    (_mean((2, 3), axis=None, keepdims=True), False),
    (_mean((2, 3), axis=[0, 1]), True),
    (_mean((2, 3), axis=[-1, 0]), True),                 # negative axes name the same axes
    (_mean((2, 3), axis=[0]), False),
    (_mean((2, 3), axis=[1, -1]), False),                # two names of one axis: one axis left
    (_mean((2, 3), axis=[0, -2]), False),
    (_mean((2, 0), axis=None), False),                   # no element at all
    (_mean((2,), axis=[0]), True),
    (_mean((1,), axis=None), False),                     # one element: the scalar is no reduction
    (_mean((1, 1), axis=[0, 1]), False),
    (_mean((2, 1), axis=[0, 1]), True),
])
def test_reduce_to_scalar(case, scalar):
    assert PREDICATES["reduce-to-scalar"](case) is scalar


@pytest.mark.parametrize("shape,axes,several", [((2, 0), [1], False), ((2, 3), [0, 1], True)])
def test_normalizes_over_several_with_an_empty_axis(shape, axes, several):
    case = Case("nn.layer_norm", "float32", (shape,), {"axes": axes, "scale": False})
    assert PREDICATES["normalizes-over-several"](case) is several


GEMV = ("cuda-gemv-normalize-no-reduction", "cuda-gemv-inner-reduction-tile", "cuda-reduction-cross-thread")


@pytest.mark.parametrize("case,which", [
    (Case("nn.batch_matmul", "float32", ((2, 1, 1), (2, 1, 2))), 0),          # AssertionError in normalize
    (Case("nn.dense", "float64", ((8, 3, 5),), {"units": 1}, (("weight_t", (5, 1)),)), 1),   # AssertionError
    (Case("nn.batch_matmul", "int32", ((3, 6, 4), (3, 4, 1))), 1),           # AttributeError, both in GEMV.apply
    (Case("nn.conv1d", "float16", ((2, 3, 6),), {"strides": [2], "padding": [0], "dilation": [2], "groups": 3,
                                                 "data_layout": "NWC", "kernel_layout": "WIO"},
          (("weight", (2, 2, 6)),)), 2),                                   # ValueError: cross-thread reduction
])
def test_each_gemv_failure_is_one_predicate_only(case, which):
    """Where the CUDA build stops decides which expectation a case is: the three predicates never
    overlap (a predicate matching another's failure would credit it with that one's cases)."""
    pytest.importorskip("tvm")
    assert [PREDICATES[name](case) for name in GEMV] == [i == which for i in range(3)]


def test_the_predicate_build_stops_before_cuda_code_and_leaves_tvm_as_it_was():
    """cuda_build_error runs TVM's passes but never its CUDA code generator (on a GPU host that is
    NVRTC, paid case by case in the pytest process between units); a case that raises in
    a pass is still found, and afterwards TVM's own generator is registered again."""
    pytest.importorskip("tvm")
    import tvm
    import tvm_ffi

    from harness.predicates import CUDA_TARGET, _CUDA_BUILDS, cuda_build_error, json_key
    from harness.program import build_case
    from harness.table import BY_NAME

    name = "target.build.cuda"
    real = tvm.get_global_func(name)
    calls = []

    def counting(mod, target):
        calls.append(target)
        return real(mod, target)

    fine = Case("add", "float32", ((2, 3), (2, 3)))
    raises = Case("nn.batch_matmul", "float32", ((2, 1, 1), (2, 1, 2)))     # AssertionError in a dlight rule
    tvm_ffi.register_global_func(name, counting, override=True)
    try:
        for case in (fine, raises):
            _CUDA_BUILDS.pop((case.case_id, json_key(case)), None)
        assert cuda_build_error(fine) is None
        assert cuda_build_error(raises)[0] == "AssertionError"
        assert calls == []                                    # never reached the code generator
        with tvm.target.Target(CUDA_TARGET) as target:        # which is back: a real build reaches it
            tvm.compile(build_case(BY_NAME["add"], fine).mod, target=target)
        assert len(calls) == 1
    finally:
        tvm_ffi.register_global_func(name, real, override=True)


def _convt(dtype, shape, weight, **attrs):
    base = {"strides": [1, 1], "padding": [0, 0, 0, 0], "output_padding": [0, 0], "dilation": [1, 1], "groups": 1,
            "data_layout": "NCHW", "kernel_layout": "IOHW"}
    return Case("nn.conv2d_transpose", dtype, (shape,), {**base, **attrs}, (("weight", weight),))


@pytest.mark.parametrize("case,unguarded", [
    # the H200 reproducer: 9 output columns tiled 5 threads x 2; rows 1-3 of column 0 came back 0
    (_convt("float64", (1, 1, 5, 5), (1, 1, 2, 1), strides=[1, 2], padding=[2, 0, 1, 0], dilation=[2, 2]), True),
    (_convt("float32", (1, 1, 5, 5), (1, 1, 2, 1), strides=[1, 2], padding=[2, 0, 1, 0], dilation=[2, 2]), True),
    (_convt("float32", (1, 1, 5, 5), (1, 1, 2, 2)), False),          # 6 columns: no overhang to guard
    # softmax over 5 elements on 256 threads: the guard is on the reduction's own loop, which the
    # write-back does not run; rightly left behind
    (Case("nn.softmax", "float32", ((5,),), {"axis": 0}), False),
])
def test_a_cross_thread_write_back_that_lost_its_guard(case, unguarded):
    """The cause, replayed on CPU: LowerCrossThreadReduction's write-back block without the T.where of
    the block it came from (the float32 twin of the H200 case has it too: it failed the same way)."""
    assert PREDICATES["cuda-write-back-unguarded"](case) is unguarded
