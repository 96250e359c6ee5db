"""Inline SVG plots, built in Python (no JavaScript library, nothing fetched): the roofline of a run
and device time against latency per op.  Every piece of text goes through :func:`markupsafe.escape`;
the result is :class:`markupsafe.Markup` the templates insert as is.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

from markupsafe import Markup, escape

from .timings import RoofPoint, TimePoint
from .view import fmt_pct, fmt_s, fmt_si

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
MARKERS = ("mk-circle", "mk-square", "mk-triangle", "mk-diamond")
MAX_TITLED = 4000        # points beyond this many get no hover title (keeps the page small)


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def defs() -> Markup:
    """Marker shapes shared by every plot of the page (one hidden SVG)."""
    css = " ".join(f"svg.plot .b{i} {{ fill: {c}; }}" for i, c in enumerate(PALETTE))
    return Markup(
        f'<style>{css}</style>'
        '<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>'
        '<symbol id="mk-circle" overflow="visible"><circle r="3"/></symbol>'
        '<symbol id="mk-square" overflow="visible"><rect x="-2.8" y="-2.8" width="5.6" height="5.6"/></symbol>'
        '<symbol id="mk-triangle" overflow="visible"><path d="M0,-3.6L3.3,2.4H-3.3Z"/></symbol>'
        '<symbol id="mk-diamond" overflow="visible"><path d="M0,-3.8L3.8,0L0,3.8L-3.8,0Z"/></symbol>'
        '</defs></svg>')


class LogAxis:
    """A log10 axis over whole decades, mapped onto [p0, p1] pixels."""

    def __init__(self, values: Iterable[float], p0: float, p1: float, pad: float = 0.0) -> None:
        vals = [v for v in values if v > 0 and math.isfinite(v)] or [1.0]
        self.lo = math.floor(math.log10(min(vals)) - pad)
        self.hi = max(math.ceil(math.log10(max(vals)) + pad), self.lo + 1)
        self.p0, self.p1 = p0, p1

    def __call__(self, v: float) -> float:
        return round(self.p0 + (math.log10(v) - self.lo) / (self.hi - self.lo) * (self.p1 - self.p0), 1)

    def ticks(self) -> list[float]:
        return [10.0 ** d for d in range(self.lo, self.hi + 1)]

    @property
    def vmin(self) -> float:
        return 10.0 ** self.lo

    @property
    def vmax(self) -> float:
        return 10.0 ** self.hi


def _text(x, y, s, *, anchor="start", cls="", extra="") -> str:
    c = f' class="{cls}"' if cls else ""
    return f'<text x="{x}" y="{y}" text-anchor="{anchor}"{c}{extra}>{escape(s)}</text>'


def _axes(xa: LogAxis, ya: LogAxis, xfmt, yfmt, xlabel: str, ylabel: str) -> list[str]:
    out = [f'<rect x="{xa.p0}" y="{ya.p1}" width="{xa.p1 - xa.p0}" height="{ya.p0 - ya.p1}" class="frame"/>']
    for t in xa.ticks():
        x = xa(t)
        out.append(f'<line x1="{x}" x2="{x}" y1="{ya.p1}" y2="{ya.p0}" class="grid"/>')
        out.append(_text(x, ya.p0 + 13, xfmt(t), anchor="middle"))
    for t in ya.ticks():
        y = ya(t)
        out.append(f'<line x1="{xa.p0}" x2="{xa.p1}" y1="{y}" y2="{y}" class="grid"/>')
        out.append(_text(xa.p0 - 4, y + 3, yfmt(t), anchor="end"))
    out.append(_text((xa.p0 + xa.p1) / 2, ya.p0 + 28, xlabel, anchor="middle", cls="axis"))
    ymid = (ya.p0 + ya.p1) / 2
    out.append(_text(12, ymid, ylabel, anchor="middle", cls="axis", extra=f' transform="rotate(-90 12 {ymid})"'))
    return out


def _num_tick(v: float) -> str:
    return f"{v:g}"


def _svg(width: int, height: int, label: str, body: list[str], cls: str) -> Markup:
    return Markup(f'<svg xmlns="http://www.w3.org/2000/svg" class="{cls}" width="{width}" height="{height}" '
                  f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">'
                  + "".join(body) + "</svg>")


class _Labels:
    """Places point labels where they overlap no earlier label (the rest keep their hover title)."""

    def __init__(self) -> None:
        self.boxes: list[tuple[float, float, float, float]] = []

    def place(self, x: float, y: float, text: str, right: float) -> tuple[float, float, str] | None:
        w, h = 5.4 * len(text), 10
        if x + 5 + w > right:
            x0, anchor = x - 5 - w, "end"
        else:
            x0, anchor = x + 5, "start"
        box = (x0, y - 13, x0 + w, y - 13 + h)
        if any(not (box[2] < b[0] or b[2] < box[0] or box[3] < b[1] or b[3] < box[1]) for b in self.boxes):
            return None
        self.boxes.append(box)
        return (x0 + w if anchor == "end" else x0), y - 4, anchor


def roofline_svg(points: Sequence[RoofPoint], backends: list[str], title: str) -> Markup:
    """Log-log: arithmetic intensity (FLOP/byte) against achieved FLOP/s; the memory roof (bandwidth x
    intensity) and each compute roof of the card where the points carry them."""
    W, H, left, right, top, bottom = 720, 440, 64, 560, 28, 392
    mem = sorted({p.peak_byte_s for p in points if p.peak_byte_s})
    comp: dict[float, set] = {}
    for p in points:
        if p.peak_flop_s:
            comp.setdefault(p.peak_flop_s, set()).add(p.dtype)
    ridges = [c / b for c in comp for b in mem]
    xa = LogAxis([p.intensity for p in points] + ridges, left, right, pad=0.3)
    ya = LogAxis([p.flop_s for p in points] + list(comp), bottom, top, pad=0.3)
    body = [_text(left, 16, title, cls="ptitle")]
    body += _axes(xa, ya, _num_tick, lambda v: fmt_si(v, "").strip(),
                  "arithmetic intensity (FLOP/byte)", "achieved FLOP/s")
    top_c = max(comp) if comp else None
    for b in mem:      # the memory roof: FLOP/s = bandwidth x intensity, up to the highest compute roof
        x0 = max(xa.vmin, ya.vmin / b)
        x1 = min(xa.vmax, (top_c / b) if top_c else xa.vmax, ya.vmax / b)
        if x1 > x0:
            body.append(f'<line x1="{xa(x0)}" y1="{ya(b * x0)}" x2="{xa(x1)}" y2="{ya(b * x1)}" class="roof"/>')
            lx = xa(x0 * (x1 / x0) ** 0.35)
            ly = ya(b * x0 * (x1 / x0) ** 0.35)
            ang = math.degrees(math.atan2(ya(b * x1) - ya(b * x0), xa(x1) - xa(x0)))
            body.append(_text(lx, ly - 5, f"memory {fmt_si(b, 'B/s')}", cls="rooflabel",
                              extra=f' transform="rotate({ang:.1f} {lx} {ly - 5})"'))
    for c, dtypes in sorted(comp.items()):
        x0 = max(xa.vmin, c / max(mem)) if mem else xa.vmin
        y = ya(c)
        body.append(f'<line x1="{xa(x0)}" y1="{y}" x2="{right}" y2="{y}" class="roof"/>')
        body.append(_text(right + 4, y + 3, f"{fmt_si(c, 'FLOP/s')} ({', '.join(sorted(dtypes))})", cls="rooflabel"))
    labels = _Labels()
    for p in points:      # labels go where they hide no point
        x, y = xa(p.intensity), ya(p.flop_s)
        labels.boxes.append((x - 3, y - 3, x + 3, y + 3))
    titled = len(points) <= MAX_TITLED
    labelled: set[str] = set()
    for p in sorted(points, key=lambda p: -p.flop_s):
        x, y = xa(p.intensity), ya(p.flop_s)
        bi = backends.index(p.backend) if p.backend in backends else 0
        tip = (f"{p.label} | {p.backend} | {p.dtype} | {p.intensity:.3g} FLOP/B | {fmt_si(p.flop_s, 'FLOP/s')}"
               + (f" | {fmt_pct(p.fraction)} of the {p.roof} roof" if p.fraction is not None else "")
               + f" | {p.case_id}")
        t = f"<title>{escape(tip)}</title>" if titled else ""
        body.append(f'<g class="pt"><use href="#mk-circle" x="{x}" y="{y}" fill="{color(bi)}"/>{t}</g>')
        placed = None if p.label in labelled else labels.place(x, y, p.label, W - 4)
        if placed:
            labelled.add(p.label)
            body.append(_text(placed[0], placed[1], p.label, anchor="end" if placed[2] == "end" else "start",
                              cls="plabel"))
    body += _legend([(b, color(i), "mk-circle") for i, b in enumerate(backends)
                     if any(p.backend == b for p in points)], left + 6, top + 12)
    return _svg(W, H, title, body, "plot roofline")


def _legend(items: list[tuple[str, str, str]], x: float, y: float) -> list[str]:
    out = []
    for i, (name, col, marker) in enumerate(items):
        yy = y + 13 * i
        out.append(f'<use href="#{marker}" x="{x + 4}" y="{yy - 3}" fill="{col}"/>')
        out.append(_text(x + 12, yy, name, cls="legend"))
    return out


def device_latency_svgs(per_op: dict[str, list[TimePoint]], ops: list[str], backends: list[str],
                        runs: list[str]) -> list[dict]:
    """One small plot per op: device time (x) against latency (y), one point per timed case and
    backend, the diagonal latency = device time; points far above it are host overhead."""
    allv = [v for pts in per_op.values() for p in pts for v in (p.device_s, p.latency_s)]
    W, H, left, right, top, bottom = 272, 230, 52, 250, 24, 192
    titled = sum(len(v) for v in per_op.values()) <= MAX_TITLED
    out = []
    xa = LogAxis(allv, left, right)
    ya = LogAxis(allv, bottom, top)
    for op in ops:
        pts = per_op.get(op)
        if not pts:
            continue
        overhead = sorted(p.latency_s - p.device_s for p in pts)
        med = overhead[len(overhead) // 2]
        body = [_text(left, 14, op, cls="ptitle")]
        body += _axes(xa, ya, fmt_s, fmt_s, "device time per call", "latency per call")
        body.append(f'<line x1="{xa(xa.vmin)}" y1="{ya(ya.vmin)}" x2="{xa(xa.vmax)}" y2="{ya(ya.vmax)}" '
                    'class="diag"><title>latency = device time (no host overhead)</title></line>')
        drawn = set()
        for p in pts:
            bi = backends.index(p.backend) if p.backend in backends else 0
            x, y, mk = xa(p.device_s), ya(p.latency_s), MARKERS[min(p.run, len(MARKERS) - 1)]
            if titled:
                tip = (f"{p.case_id} | {runs[p.run]} | {p.backend}: device {fmt_s(p.device_s)}, latency "
                       f"{fmt_s(p.latency_s)}, host overhead {fmt_s(p.latency_s - p.device_s)}")
                body.append(f'<use href="#{mk}" x="{x}" y="{y}" class="b{bi % len(PALETTE)}">'
                            f'<title>{escape(tip)}</title></use>')
                continue
            key = (round(x), round(y), mk, bi)   # untitled: a point on top of an identical one adds nothing
            if key not in drawn:
                drawn.add(key)
                body.append(f'<use href="#{mk}" x="{x}" y="{y}" class="b{bi % len(PALETTE)}"/>')
        out.append({"op": op, "n": len(pts), "overhead": fmt_s(med),
                    "svg": _svg(W, H, f"device time against latency: {op}", body, "plot devlat")})
    return out


def legend_items(backends: list[str], runs: list[str], used_runs: set[int]) -> Markup:
    """Legend of the device-vs-latency plots: colour = backend, marker = run (where several runs have points)."""
    items = [(b, color(i), "mk-circle") for i, b in enumerate(backends)]
    if len(runs) > 1:
        for i, r in enumerate(runs):
            used = i in used_runs
            items.append((r if used else f"{r} (no device times)", "#555" if used else "#ccc",
                          MARKERS[min(i, len(MARKERS) - 1)]))
    body = _legend(items, 2, 12)
    return _svg(420, 13 * len(items) + 6, "legend", body, "plot legendbox")
