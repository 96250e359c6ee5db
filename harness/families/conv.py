"""Convolutions (1-3D, transposed, grouped, any layout), dense and batch matmul."""
from __future__ import annotations

import math

from hypothesis import assume
from hypothesis import strategies as st

from .. import oracle as O
from .. import strategies as S
from .base import Family, Sample, canonical, f64, relax_op, to_layout

LAYOUTS = {
    1: (("NCW", "OIW"), ("NWC", "WIO")),
    2: (("NCHW", "OIHW"), ("NHWC", "OHWI"), ("NHWC", "HWIO")),
    3: (("NCDHW", "OIDHW"), ("NDHWC", "DHWIO")),
}
T_LAYOUTS = {
    2: (("NCHW", "IOHW"), ("NHWC", "IOHW"), ("NCHW", "OIHW")),
    3: (("NCDHW", "IODHW"), ("NDHWC", "IODHW")),
}


class Conv(Family):
    """conv1d/2d/3d and conv2d/3d_transpose (``nsp`` spatial dims, ``transpose``), with layouts,
    strides, padding (symmetric or before/after), dilation and groups; the weight is a constant."""

    def sample(self, draw):
        nsp, transpose = self.params["nsp"], self.params.get("transpose", False)
        sp = draw(S.spatial_params(nsp=nsp, max_kernel=3, max_pad=2))
        groups = draw(st.sampled_from([1, 1, 2, 3]))
        cin = groups * draw(st.integers(1, 2))
        cout = groups * draw(st.integers(1, 2))
        n = draw(st.integers(1, 2))
        min_side = max(d * (k - 1) + 1 for d, k in zip(sp["dilation"], sp["kernel"]))
        sides = draw(st.lists(st.integers(min_side, min_side + 4), min_size=nsp, max_size=nsp))
        layouts = draw(st.sampled_from((T_LAYOUTS if transpose else LAYOUTS)[nsp]))
        attrs = {"strides": sp["strides"], "padding": sp["padding"], "dilation": sp["dilation"],
                 "groups": groups, "data_layout": layouts[0], "kernel_layout": layouts[1]}
        before, after = O.split_padding(sp["padding"], nsp)
        if transpose:
            attrs["output_padding"] = [draw(st.integers(0, max(0, min(s, d) - 1)))
                                       for s, d in zip(sp["strides"], sp["dilation"])]
            # Relax requires the transposed output to be non-empty.
            for i in range(nsp):
                full = (sides[i] - 1) * sp["strides"][i] + sp["dilation"][i] * (sp["kernel"][i] - 1) + 1
                assume(full + attrs["output_padding"][i] - before[i] - after[i] > 0)
            wcf, wcanon = (cin, cout // groups, *sp["kernel"]), canonical(nsp, "tkernel")
        else:
            for i in range(nsp):
                assume(sides[i] + before[i] + after[i] >= sp["dilation"][i] * (sp["kernel"][i] - 1) + 1)
            wcf, wcanon = (cout, cin // groups, *sp["kernel"]), canonical(nsp, "kernel")
        dshape = to_layout((n, cin, *sides), layouts[0], canonical(nsp, "data"))
        return Sample((dshape,), attrs, (("weight", to_layout(wcf, layouts[1], wcanon)),))

    def oracle(self, entry, case, xs, ws):
        nsp, a = self.params["nsp"], dict(case.attrs)
        transpose = self.params.get("transpose", False)
        x, order = O.to_channels_first(f64(xs[0]), a.pop("data_layout"))
        klayout = a.pop("kernel_layout")
        canon = canonical(nsp, "tkernel" if transpose else "kernel")
        import numpy as np

        w = np.transpose(f64(ws["weight"]), [klayout.index(ch) for ch in canon])
        return O.from_channels_first(entry.ref(x, w, **a), order)

    def terms(self, entry, case):
        """(input channels / groups) x kernel taps: the canonical weight is O, I/g, taps for a
        convolution and I, O/g, taps for a transposed one."""
        transpose = self.params.get("transpose", False)
        canon = canonical(self.params["nsp"], "tkernel" if transpose else "kernel")
        layout, shape = case.attrs["kernel_layout"], dict(case.weights)["weight"]
        w = [shape[layout.index(ch)] for ch in canon]
        return (w[0] // case.attrs.get("groups", 1) if transpose else w[1]) * math.prod(w[2:])


class Dense(Family):
    """nn.dense (y = x W^T with a constant weight): in Relax, matmul by the transposed constant."""

    def sample(self, draw):
        shape = draw(S.shapes(min_rank=1, max_rank=3, max_side=8))
        units = draw(st.integers(1, 8))
        return Sample((shape,), {"units": units}, (("weight_t", (shape[-1], units)),))

    def body(self, entry, case, xs, ws):
        return relax_op(entry.tvm_op)(xs[0], ws["weight_t"])

    def oracle(self, entry, case, xs, ws):
        return entry.ref(f64(xs[0]), f64(ws["weight_t"]))

    def terms(self, entry, case):
        return case.shapes[0][-1]


class BatchMatmul(Family):
    """nn.batch_matmul: two runtime tensors, batch dims broadcast (Relax matmul)."""

    def sample(self, draw):
        m, k, n = (draw(st.integers(1, 6)) for _ in range(3))
        batch = draw(st.sampled_from([(), (1,), (2,), (3,), (2, 2)]))
        rhs_batch = draw(st.sampled_from([batch, batch[1:], tuple(1 for _ in batch)]))
        return Sample(((*batch, m, k), (*rhs_batch, k, n)))

    def terms(self, entry, case):
        return case.shapes[0][-1]
