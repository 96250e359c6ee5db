"""Exact values for inputs that an op reads as a shape, an axis list, pads, sizes or counts
(Reshape/Expand/Tile shapes, Slice starts/ends/axes/steps, TopK k, Split sizes, ...): chosen from
the data's shape so the op is valid and the model computes the output shape it declares."""
from __future__ import annotations

from typing import Any

import numpy as np

from .onnx_io import Shape

def _broadcasts(data: tuple, target: tuple) -> bool:
    """``data`` broadcasts to exactly ``target`` (numpy rules, as Expand)."""
    if len(data) > len(target):
        return False
    for d, t in zip(reversed(data), reversed(target)):
        if d is None or not (d == t or d == 1):
            return False
    return True


def _unique_along(rng, shape: Shape, axis: int, high: int) -> np.ndarray:
    """Indices of ``shape`` in [0, high), distinct along ``axis`` where ``shape[axis] <= high``."""
    if not shape or high <= 0:
        return np.zeros(shape, np.int64)
    axis %= len(shape)
    if shape[axis] > high:
        return rng.integers(0, high, shape)
    big = list(shape)
    big[axis] = high
    perm = np.argsort(rng.random(big), axis=axis)
    return np.take(perm, np.arange(shape[axis]), axis=axis)


class Params:
    """Exact values for shape-like input slots (Slice starts..steps, Reshape shape, ...),
    computed once per node so that the slots of one node agree with each other."""

    def __init__(self, ctx: Any, seed: int):
        self.ctx, self.seed = ctx, seed
        self.cache: dict[tuple[int, int], np.ndarray | None] = {}

    def get(self, i: int, j: int, shape: Shape) -> np.ndarray | None:
        if (i, j) not in self.cache:
            rng = np.random.default_rng([self.seed, 7919, i, j])
            try:
                v = self._compute(i, j, tuple(shape), rng)
            except Exception:  # a shape we could not make sense of: fall back to the defaults
                v = None
            self.cache[(i, j)] = None if v is None else np.asarray(v)
        return self.cache[(i, j)]

    def _len(self, shape: Shape) -> int:
        return int(shape[0]) if len(shape) == 1 else int(np.prod(shape))

    def _compute(self, i: int, j: int, shape: Shape, rng) -> Any:
        ctx = self.ctx
        node = ctx.nodes[i]
        op = node.op_type
        data = node.input[0] if node.input else ""
        dshape = ctx.shapes.get(data)
        rank = None if dshape is None else len(dshape)
        n = self._len(shape)
        known = dshape is not None and all(d is not None for d in dshape)

        def distinct_axes(k: int, r: int | None) -> list[int] | None:
            if r is None or k > r:
                return None
            return sorted(rng.choice(r, size=k, replace=False).tolist())

        if op == "Slice":
            return self._slice(i, j, n, dshape, rng)
        want = ctx.declared.get(node.output[0]) if node.output else None
        if op == "Reshape":
            if want is not None and len(want) == n and known and \
                    int(np.prod(want)) == int(np.prod(dshape)):
                return list(want)   # the shape the model declares for the result
            if not known:
                return [-1] if n == 1 else [0] * (n - 1) + [-1]
            size = int(np.prod(dshape))
            if n == len(dshape):
                return list(dshape)
            if n > len(dshape):
                return [1] * (n - len(dshape)) + list(dshape)
            if n == 0:
                return None
            lead = int(np.prod(dshape[: len(dshape) - n + 1]))
            out = [lead] + list(dshape[len(dshape) - n + 1:])
            assert int(np.prod(out)) == size
            return out
        if op == "Expand":
            if dshape is None:
                return [1] * n
            if want is not None and len(want) == n and _broadcasts(tuple(dshape), want):
                target = list(want)   # the shape the model declares for the result
            else:
                # every axis where the data has size 1 is really expanded (to 2): a no-op
                # Expand would test nothing
                target = ([2] * max(0, n - len(dshape)) +
                          [2 if d == 1 else (d or 1) for d in dshape])[-n:] if n else []
            # Where the data is larger than 1, a target of 1 means "keep": the same result, and
            # the broadcasting rule is exercised (the first such axis always, others at random).
            off = n - len(dshape)
            keep = [a for a in range(max(off, 0), n) if a - off >= 0 and
                    (dshape[a - off] or 0) > 1 and target[a] == dshape[a - off]]
            for k, a in enumerate(keep):
                if k == 0 or rng.random() < 0.5:
                    target[a] = 1
            return target
        if op == "Tile":
            if want is not None and dshape is not None and len(want) == n == len(dshape) and \
                    all(d and w % d == 0 for d, w in zip(dshape, want)):
                return [w // d for d, w in zip(dshape, want)]
            return rng.integers(1, 3, n)
        if op == "Loop":   # the initial condition: true, so the loop runs
            return np.ones(shape, bool)
        if op.endswith("Window"):
            return np.full(shape, int(rng.integers(4, 11)))
        if op == "TopK":
            axis = int(ctx.attr(node, "axis", -1))
            d = ctx.dim(data, axis)
            return np.full(shape, int(rng.integers(1, d + 1)) if d else 1)
        if op == "ConstantOfShape":
            return rng.integers(1, 4, n)
        if op in ("Split", "SplitToSequence"):
            axis = int(ctx.attr(node, "axis", 0))
            d = ctx.dim(data, axis)
            if d is None:
                return None
            if op == "SplitToSequence" and shape == ():    # one chunk length
                return np.int64(rng.integers(1, d + 1)) if d else None
            if n == 0:
                return []
            cuts = np.sort(rng.choice(np.arange(1, d), size=n - 1, replace=False)) if d >= n else \
                np.sort(rng.integers(0, d + 1, n - 1))
            return np.diff(np.concatenate([[0], cuts, [d]]))
        if op == "Range":
            return {0: 0, 1: int(rng.integers(2, 7)), 2: 1}.get(j, 1)
        if op == "Pad":
            if j == 1:
                return rng.integers(0, 3, n)
            return distinct_axes(n, rank)
        if op in ("Resize", "Upsample"):
            if (op == "Resize" and (j == 2 or ctx.opset < 11)) or op == "Upsample":
                return [1.0 if a < 2 else float(rng.integers(1, 3)) for a in range(n)]
            if not known:
                return None
            return [d if a < 2 else d * int(rng.integers(1, 3)) for a, d in enumerate(dshape)][:n]
        if op == "Squeeze":
            if dshape is None:
                return None
            ones = [a for a, d in enumerate(dshape) if d == 1]
            return ones[:n] if len(ones) >= n else None
        if op == "Unsqueeze":
            return distinct_axes(n, None if rank is None else rank + n)
        if op.startswith("Reduce"):
            return distinct_axes(n, rank)
        if op == "CumSum":
            return np.full(shape, int(rng.integers(0, rank))) if rank else None
        if op == "OneHot":
            return np.full(shape, 4)
        if op in ("ScatterElements", "Scatter"):
            axis = int(ctx.attr(node, "axis", 0))
            d = ctx.dim(data, axis)
            return _unique_along(rng, shape, axis, d or 0)
        if op in ("GatherND", "ScatterND"):
            if dshape is None or not shape:
                return None
            b = int(ctx.attr(node, "batch_dims", 0)) if op == "GatherND" else 0
            k = shape[-1]
            highs = [dshape[b + c] for c in range(k)]
            if any(h is None or h <= 0 for h in highs):
                return None
            m = int(np.prod(shape[:-1]))
            space = int(np.prod(highs))
            if op == "ScatterND" and 0 < m <= space and space <= 1 << 20:
                flat = rng.choice(space, size=m, replace=False)
                cols = np.stack(np.unravel_index(flat, highs), axis=-1)
                return cols.reshape(shape)
            cols = [rng.integers(0, h, shape[:-1]) for h in highs]
            return np.stack(cols, axis=-1) if cols else np.zeros(shape, np.int64)
        return None

    def _slice(self, i: int, j: int, n: int, dshape, rng):
        """starts/ends/axes/steps of one Slice: distinct valid axes, start < end inside the
        dimension, positive steps; slots that are constants keep their values."""
        ctx = self.ctx
        node = ctx.nodes[i]
        key = (i, -1)
        if key not in self.cache:
            rank = None if dshape is None else len(dshape)
            slots = {s: (node.input[s] if len(node.input) > s and node.input[s] else None)
                     for s in range(1, 5)}
            const = {s: np.asarray(ctx.values[t]).reshape(-1).tolist()
                     for s, t in slots.items() if t is not None and t in ctx.values}
            k = n
            for s, v in const.items():
                k = len(v)
            if 3 in const:
                axes = [int(a) for a in const[3]]
            elif slots[3] is not None and rank is not None and k <= rank:
                axes = sorted(rng.choice(rank, size=k, replace=False).tolist())
            else:
                axes = list(range(k))
            steps = [int(s) for s in const[4]] if 4 in const else \
                [int(rng.integers(1, 3)) for _ in range(k)] if slots[4] is not None else [1] * k
            starts, ends = [], []
            for c, a in enumerate(axes):
                d = (dshape[a] if dshape is not None and -len(dshape) <= a < len(dshape) else None)
                d = 1 if d is None else d
                if 1 in const:
                    s0 = int(const[1][c])
                else:
                    s0 = int(rng.integers(0, max(d, 1)))
                    if steps[c] < 0:
                        s0 = d - 1 - s0
                if 2 in const:
                    e0 = int(const[2][c])
                elif steps[c] > 0:
                    e0 = int(rng.integers(min(s0 + 1, d), d + 1))
                else:   # negative step: end below start; -d-1 reaches past index 0
                    e0 = int(rng.integers(0, s0)) if s0 > 0 else -d - 1
                starts.append(s0)
                ends.append(e0)
            self.cache[key] = {1: starts, 2: ends, 3: axes, 4: steps}  # type: ignore[assignment]
        vals = self.cache[key][j]  # type: ignore[index]
        return vals if len(vals) == n else None
