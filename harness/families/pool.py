"""Pooling: max/avg pool 2D/3D in both layouts, adaptive average pooling (and global, as 1x1)."""
from __future__ import annotations

from hypothesis import assume
from hypothesis import strategies as st

from .. import oracle as O
from .. import strategies as S
from .base import Family, Sample, canonical, f64, relax_op, to_layout


class Pool(Family):
    """``nsp`` spatial dims, ``kind`` "max" or "avg"."""

    def sample(self, draw):
        nsp, kind = self.params["nsp"], self.params["kind"]
        sp = draw(S.spatial_params(nsp=nsp, max_kernel=3, max_stride=3, max_pad=1))
        layout = draw(st.sampled_from(("NCHW", "NHWC") if nsp == 2 else ("NCDHW", "NDHWC")))
        before, after = O.split_padding(sp["padding"], nsp)
        # Relax requires padding smaller than the window it pads.
        for i in range(nsp):
            assume(before[i] < sp["kernel"][i] and after[i] < sp["kernel"][i])
        min_side = max(d * (k - 1) + 1 for d, k in zip(sp["dilation"], sp["kernel"]))
        sides = draw(st.lists(st.integers(min_side, min_side + 4), min_size=nsp, max_size=nsp))
        cf = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), *sides)
        attrs = {"pool_size": sp["kernel"], "strides": sp["strides"], "padding": sp["padding"],
                 "dilation": sp["dilation"], "ceil_mode": draw(st.booleans()), "layout": layout}
        if kind == "avg":
            attrs["count_include_pad"] = draw(st.booleans())
        return Sample((to_layout(cf, layout, canonical(nsp, "data")),), attrs)

    def oracle(self, entry, case, xs, ws):
        a = dict(case.attrs)
        x, order = O.to_channels_first(f64(xs[0]), a.pop("layout"))
        a.setdefault("count_include_pad", False)
        return O.from_channels_first(entry.ref(x, **a), order)


class AdaptiveAvgPool(Family):
    """adaptive_avg_pool2d; with ``global_=True`` the output is 1x1 (nn.global_avg_pool2d).  The
    output size is sometimes None: the input's own size (the converter pools to 1x1 regardless)."""

    def sample(self, draw):
        layout = draw(st.sampled_from(("NCHW", "NHWC")))
        h, w = draw(st.integers(1, 8)), draw(st.integers(1, 8))
        cf = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), h, w)
        if self.params.get("global_"):
            out = [1, 1]
        elif draw(st.integers(0, 4)) == 0:
            out = None
        else:
            out = [draw(st.integers(1, h)), draw(st.integers(1, w))]
        return Sample((to_layout(cf, layout, "NCHW"),), {"output_size": out, "layout": layout})

    def body(self, entry, case, xs, ws):
        return relax_op(entry.tvm_op)(xs[0], output_size=case.attrs["output_size"], layout=case.attrs["layout"])

    def oracle(self, entry, case, xs, ws):
        x, order = O.to_channels_first(f64(xs[0]), case.attrs["layout"])
        out = case.attrs["output_size"] or list(x.shape[2:])
        return O.from_channels_first(entry.ref(x, out), order)
