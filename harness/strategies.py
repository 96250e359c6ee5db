"""Small, composable Hypothesis strategies.  Keyword-only, and they validate their arguments."""
from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

# Float dtypes TensorRT takes come first, so shrinking heads for the supported case; the rest
# are dtypes TVM accepts and TensorRT's runtime rejects (tensorrt_runtime.cc: FP16/FP32 only).
FLOAT_DTYPES = ("float32", "float16")
OTHER_DTYPES = ("int32", "float64")


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ValueError(msg)


def dtypes(*, ints: bool = True, float64: bool = True) -> st.SearchStrategy[str]:
    options = list(FLOAT_DTYPES)
    if ints:
        options.append("int32")
    if float64:
        options.append("float64")
    return st.sampled_from(options)


def shapes(*, min_rank: int = 1, max_rank: int = 4, min_side: int = 1, max_side: int = 6):
    _check(0 <= min_rank <= max_rank <= 8, f"need 0 <= min_rank <= max_rank <= 8, got {min_rank}, {max_rank}")
    _check(1 <= min_side <= max_side, f"need 1 <= min_side <= max_side, got {min_side}, {max_side}")
    return hnp.array_shapes(min_dims=min_rank, max_dims=max_rank, min_side=min_side, max_side=max_side)


def broadcast_pair(*, max_rank: int = 4, max_side: int = 5):
    _check(1 <= max_rank <= 8, f"max_rank must be in 1..8, got {max_rank}")
    return hnp.mutually_broadcastable_shapes(
        num_shapes=2, min_dims=1, max_dims=max_rank, min_side=1, max_side=max_side
    ).map(lambda bs: tuple(bs.input_shapes))


def axis_subset(rank: int, *, min_size: int = 1):
    _check(rank >= 1, f"rank must be >= 1, got {rank}")
    return st.lists(st.integers(0, rank - 1), min_size=min_size, max_size=rank, unique=True).map(sorted)


def signed_axis(rank: int):
    """An axis in [-rank, rank): negative axes are an edge case worth reaching."""
    _check(rank >= 1, f"rank must be >= 1, got {rank}")
    return st.integers(-rank, rank - 1)


def seeds():
    return st.integers(0, 2**31 - 1)


def spatial_params(*, nsp: int, max_kernel: int = 3, max_stride: int = 2, max_dilation: int = 2,
                   max_pad: int = 2):
    """Kernel, strides, dilation and padding (symmetric or before/after) for nsp spatial dims."""
    _check(1 <= nsp <= 3, f"nsp must be 1..3, got {nsp}")
    vec = lambda lo, hi: st.lists(st.integers(lo, hi), min_size=nsp, max_size=nsp)  # noqa: E731
    padding = st.one_of(vec(0, max_pad), st.lists(st.integers(0, max_pad), min_size=2 * nsp, max_size=2 * nsp))
    return st.fixed_dictionaries({
        "kernel": vec(1, max_kernel),
        "strides": vec(1, max_stride),
        "dilation": vec(1, max_dilation),
        "padding": padding,
    })
