"""One self-contained HTML report of one or more runs, verdict first.

:func:`render` turns loaded runs (:class:`harness.reader.Run`, typed records) into one HTML string;
:func:`write` loads results files, compares two runs with the gate, and writes the page atomically.
The command line (``trt-harness report``) lives in :mod:`harness.cli` and calls :func:`write`.

Safety: every value reaches the page through Jinja2 autoescaping, through :mod:`markupsafe`
escaping in the SVG builders, or through one JSON block whose ``<``, ``>`` and ``&`` are
\\u-escaped; the page's one script builds the per-case tables with ``textContent``.  The Content
Security Policy allows no network at all and only that script (by its SHA-256), so even markup
that escaped escaping could run nothing.
"""
from __future__ import annotations

import base64
import datetime as _dt
import functools
import hashlib
import json
import os
import tempfile
from typing import Any, Sequence

from markupsafe import Markup

from ..errors import InputError
from ..reader import Run, load_many
from ..records import CHECKS
from . import banner, plot, timings, view

__all__ = ["render", "write"]

TEMPLATES = os.path.join(os.path.dirname(__file__), "templates")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))   # docs/findings/ is here
DEFAULT_TITLE = "tvm-trt-harness report"


@functools.lru_cache(maxsize=1)
def _jinja():
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True,
                              lstrip_blocks=True, undefined=jinja2.StrictUndefined)


@functools.lru_cache(maxsize=1)
def _script() -> tuple[Markup, str]:
    """The page's script and its CSP source ('sha256-...')."""
    with open(os.path.join(TEMPLATES, "report.js"), encoding="utf-8") as fh:
        js = fh.read()
    if "</" in js:
        raise RuntimeError("harness/report/templates/report.js must not contain '</'")
    digest = base64.b64encode(hashlib.sha256(js.encode("utf-8")).digest()).decode("ascii")
    return Markup(js), f"'sha256-{digest}'"


def _json_for_script(data: Any) -> Markup:
    text = json.dumps(data, separators=(",", ":"), allow_nan=False, default=str, ensure_ascii=False)
    text = (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
    return Markup(text)


def _href(path: str | None, base_dir: str | None) -> str:
    """A relative link from the page's folder to a reproducer (one a run wrote is recorded relative
    to its working directory, taken to be the current one; an expectation's, from docs/findings/,
    relative to the harness's repository); '' where there is nothing to link, or the file is not
    there (a page never links a file that does not exist).
    Every path segment is percent-encoded, so a recorded value can never become a ``javascript:`` URL."""
    if not path or base_dir is None or path.startswith("(") or "\n" in path:
        return ""
    found = next((p for p in (path, os.path.join(REPO, path)) if os.path.isfile(p)), None)
    if found is None:
        return ""
    from urllib.parse import quote

    try:
        rel = os.path.relpath(os.path.abspath(found), base_dir)
    except ValueError:   # another drive (Windows)
        return ""
    url = "/".join(quote(p, safe="") for p in rel.replace(os.sep, "/").split("/"))
    return url if url.startswith("../") else "./" + url


def _timings(runs: Sequence[Run], rows: list[dict]) -> dict:
    backends = timings.backends_of(runs)
    roof = []
    for run in runs:
        if not timings.has_roofline(run):
            continue
        points, notes, unplaced = timings.roofline_points(run)
        roof.append({"label": run.label, "n": len(points), "notes": notes, "unplaced": unplaced,
                     "roofs": any(p.peak_flop_s or p.peak_byte_s for p in points),
                     "svg": plot.roofline_svg(points, backends, f"roofline: {run.label}") if points else None})
    per_op = timings.device_latency_points(runs)
    order = [r["name"] for r in rows] + sorted(set(per_op) - {r["name"] for r in rows})
    labels = [r.label for r in runs]
    devlat = plot.device_latency_svgs(per_op, order, backends, labels)
    gpu_use = [{"label": run.label, "uses": [u for h in run.headers for u in h.gpu_use]} for run in runs]
    return {"any": bool(backends), "backends": backends, "roofline": roof, "devlat": devlat,
            "gpu_use": [g for g in gpu_use if g["uses"]],
            "legend": plot.legend_items(backends, labels, {p.run for pts in per_op.values() for p in pts})
            if devlat else None,
            "latency_only": sorted(timings.latency_only(runs).items()),
            "bench": [t for t in (timings.bench_table(run) for run in runs) if t is not None]}


def _render(runs: Sequence[Run], verdict, title: str | None, base_dir: str | None) -> str:
    runs = list(runs)
    if not runs:
        raise InputError("no runs to report (give at least one results file)")
    for run in runs:
        if not isinstance(run, Run) or not run.headers:
            raise InputError(f"not a loaded run: {type(run).__name__} (load it with harness.reader.load_many)")
    rows, table_note = view.table_rows(runs)
    row_of = {r["name"]: r["i"] for r in rows}
    checks = [c for c in CHECKS if any(r.check == c for run in runs for r in run.records)] or list(CHECKS)
    known = view.known_departures(runs, row_of)
    new = view.new_departures(runs, row_of)
    n_new = sum(g["n"] for g in new)
    new_hidden = new[view.MAX_NEW_GROUPS:]
    new = new[:view.MAX_NEW_GROUPS]
    statuses = [banner.run_status(run) for run in runs]
    groups_current = sum(1 for g in known if g["totals"][-1])
    from types import SimpleNamespace

    from ..causes import page_for

    for g in [*new, *known]:
        g["href"] = _href(g["reproducer"], base_dir)
        g["absent"] = bool(base_dir and g["reproducer"] and not g["href"])   # recorded, but not found here
        for c in g.get("cases", ()):
            c["href"] = _href(c["reproducer"], base_dir)
    for g in new:
        first = SimpleNamespace(op=g["op"], check=g["check"], reason=g["reason"], expectation=None)
        g["upstream"] = _href(page_for(record=first), base_dir)
    for g in known:
        g["upstream"] = _href(page_for(g["id"]), base_dir)     # its root cause's page, ready to file
    script, script_src = _script()
    csp = Markup(f"default-src 'none'; script-src {script_src}; style-src 'unsafe-inline'; img-src data:; "
                 "base-uri 'none'; form-action 'none'")   # constants and a base64 digest: nothing to escape
    return _jinja().get_template("report.html.j2").render(
        title=title or DEFAULT_TITLE, csp=csp, script=script, runs=runs, statuses=statuses,
        headline=banner.headline(statuses, verdict, groups_current), gate=banner.gate_view(verdict), new=new,
        n_new=n_new, new_hidden={"groups": len(new_hidden), "cases": sum(g["n"] for g in new_hidden)}, known=known, rows=rows, table_note=table_note, checks=checks,
        matrix=view.matrix(runs, rows, checks), facts=[view.run_facts(r) for r in runs],
        env_rows=view.env_table(runs), timings=_timings(runs, rows), defs=plot.defs(),
        data=_json_for_script(view.case_data(runs, rows)),
        generated=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        warnings=[w for run in runs for w in run.warnings])


def render(runs: list[Run], *, verdict=None, title: str | None = None) -> str:
    """The report of ``runs`` (loaded with :func:`harness.reader.load_many`) as one HTML string;
    ``verdict`` is :meth:`harness.gate.Gate.compare`'s, shown first when given."""
    return _render(runs, verdict, title, None)


def write(results_paths: list[str], out: str, *, title: str | None = None, gate=None) -> str:
    """Load ``results_paths`` (shards of one run are merged), compare the two runs with ``gate``
    (default ``Gate()``) when there are exactly two, and write the report to ``out`` atomically: a
    complete page or nothing.  Returns ``out``.  Bad input raises :class:`InputError`."""
    from ..gate import Gate

    paths = [os.fspath(p) for p in (results_paths or [])]
    if not paths:
        raise InputError("no results files given")
    out = os.fspath(out)
    if os.path.isdir(out):
        raise InputError(f"{out}: is a directory; give the HTML file to write")
    runs = load_many(paths)
    import dataclasses

    gate = dataclasses.replace(gate or Gate(), allow_different_cases=True)   # the page lists other cases apart
    verdict = gate.compare(runs[0], runs[1]) if len(runs) == 2 else None
    out_dir = os.path.dirname(os.path.abspath(out))
    html = _render(runs, verdict, title, out_dir)
    tmp = None
    try:
        os.makedirs(out_dir, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=".html.tmp", dir=out_dir)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(html)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
        tmp = None
    except OSError as exc:
        raise InputError(f"{out}: cannot write: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            try:
                os.remove(tmp)
            except OSError:
                pass
    return out
