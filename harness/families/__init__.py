"""Operator families: what differs between kinds of operators, and nothing else.

The support table (:mod:`harness.table`) is the only list of operators.  Each :class:`OpEntry`
says everything about its op: the Relax op, the reference function (``ref``), the dtypes its
cases take, the input domain, the tolerances.  Its family supplies only how cases of that kind
look and how the op is called:

``sample(draw) -> Sample``
    shapes, attributes and constant weights of one case (the harness draws the dtype from
    ``entry.dtypes`` and the data seed itself).  Cases TensorRT must reject are drawn on purpose:
    other layouts, dtypes, edge attributes.
``late(draw, sample) -> Sample``
    what is drawn after the dtype (a few families draw a shape or an attribute there; kept so a
    fixed seed gives the same cases as before the families were split).
``data(entry, case) -> (xs, ws)``
    seeded input data in ``entry.domain`` and weights (default: uniform, see :class:`Domain`).
``body(entry, case, xs, ws) -> relax.Expr``
    the Relax call (default: ``op(*xs, **case.attrs)``).
``oracle(entry, case, xs, ws)``
    the expected output, by calling ``entry.ref`` (NumPy, float64) the way this kind needs.

Families are split by kind: elementwise, norm, conv, pool, reduce, shape.  TVM is imported
lazily, so the table loads without it.
"""
from .base import Domain, Family, Sample, relax_op
from .conv import BatchMatmul, Conv, Dense
from .elementwise import BiasAdd, Binary, Clip, LeakyRelu, Softmax, Unary
from .norm import BatchNorm, LayerNorm
from .pool import AdaptiveAvgPool, Pool
from .reduce import Reduce
from .shape import (BatchFlatten, Concat, ExpandDims, LayoutTransform, Pad, Reshape, Split,
                    Squeeze, StridedSlice, Transpose)

__all__ = ["Family", "Sample", "Domain", "relax_op", "Unary", "Binary", "BiasAdd", "LeakyRelu", "Clip", "Softmax",
           "LayerNorm", "BatchNorm", "Conv", "Dense", "BatchMatmul", "Pool", "AdaptiveAvgPool", "Reduce",
           "BatchFlatten", "ExpandDims", "Squeeze", "Concat", "Transpose", "LayoutTransform", "Reshape", "Pad",
           "Split", "StridedSlice"]
