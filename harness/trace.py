"""Where a run's time goes: a timeline of every process of the run, when ``TRT_HARNESS_TRACE`` names a file.

    TRT_HARNESS_TRACE=/tmp/run.trace pytest suites/ops -n 16 ...
    python -m harness.trace /tmp/run.trace          # the summary; writes /tmp/run.trace.json

Every process of the run (pytest's controller, the xdist workers, their case workers, the GPU
runners, the GPU probe) appends Chrome trace events, one JSON object per line, to that file: one
``write`` of one line on a file opened for appending, so processes never interleave within a line.
Each process also gets a span from its creation (the kernel's start time) to its first event: the
interpreter's start and its imports.  Times are the host's wall clock (``time.time``), so the
processes share one axis.  The ``.json`` file opens in Perfetto (ui.perfetto.dev) or
chrome://tracing.  Without the variable nothing is written and a span costs one dictionary lookup.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time

ENV = "TRT_HARNESS_TRACE"
_named: set[int] = set()


def enabled() -> bool:
    return bool(os.environ.get(ENV))


def _emit(event: dict) -> None:
    path = os.environ.get(ENV)
    if not path:
        return
    line = (json.dumps(event, separators=(",", ":"), default=str) + "\n").encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except OSError:       # a trace that cannot be written never fails the run
        pass


def _started_at() -> float | None:
    """This process's creation, on the wall clock (Linux: /proc), or None."""
    try:
        with open(f"/proc/{os.getpid()}/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime"))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def name(label: str) -> None:
    """Name this process in the timeline, and add its start-up span (creation -> now) once."""
    if not enabled():
        return
    pid = os.getpid()
    _emit({"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": f"{label} ({pid})"}})
    if pid not in _named:
        _named.add(pid)
        born, now = _started_at(), time.time()
        if born is not None and born <= now:
            _emit({"ph": "X", "name": "process start", "cat": "start", "pid": pid, "tid": 0,
                   "ts": born * 1e6, "dur": (now - born) * 1e6, "args": {"argv0": os.path.basename(sys.argv[0])}})


@contextlib.contextmanager
def span(what: str, **args):
    """A timed span of this process (nothing at all without the variable).  It yields its ``args``,
    a dict the body may add figures to (``with span("flush") as a: ...; a["records"] = n``)."""
    if not enabled():
        yield {}
        return
    t0 = time.time()
    try:
        yield args
    finally:
        _emit({"ph": "X", "name": what, "pid": os.getpid(), "tid": threading.get_ident() % 100000,
               "ts": t0 * 1e6, "dur": (time.time() - t0) * 1e6, **({"args": args} if args else {})})


def read(path: str) -> list[dict]:
    events = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                events.append(json.loads(line))
            except ValueError:        # a line cut by a killed process
                continue
    return events


def summary(events: list[dict]) -> list[str]:
    """Per process: when it was created, its first and last span; per span name: count, total,
    longest; all relative to the first event of the run, in seconds."""
    spans = [e for e in events if e.get("ph") == "X"]
    if not spans:
        return ["no spans in the trace"]
    t0 = min(e["ts"] for e in spans)
    names = {e["pid"]: e["args"]["name"] for e in events if e.get("ph") == "M"}
    lines = ["process                          created  first unit  last end   (s from the run's first event)"]
    by_pid: dict[int, list[dict]] = {}
    for e in spans:
        by_pid.setdefault(e["pid"], []).append(e)
    for pid, es in sorted(by_pid.items(), key=lambda kv: min(e["ts"] for e in kv[1])):
        units = [e for e in es if e["name"] == "unit"]
        first = f"{(min(e['ts'] for e in units) - t0) / 1e6:9.2f}" if units else "        -"
        lines.append(f"{names.get(pid, str(pid))[:32]:32} {(min(e['ts'] for e in es) - t0) / 1e6:7.2f}  {first}  "
                     f"{(max(e['ts'] + e['dur'] for e in es) - t0) / 1e6:8.2f}")
    lines.append("")
    lines.append("span                                      count   total s   longest s   first start s")
    totals: dict[str, list] = {}
    for e in spans:
        key = e["name"]
        t = totals.setdefault(key, [0, 0.0, 0.0, e["ts"]])
        t[0] += 1
        t[1] += e["dur"] / 1e6
        t[2] = max(t[2], e["dur"] / 1e6)
        t[3] = min(t[3], e["ts"])
    for key, (n, total, longest, first) in sorted(totals.items(), key=lambda kv: -kv[1][1]):
        lines.append(f"{key[:40]:40} {n:6d} {total:9.2f} {longest:10.2f} {(first - t0) / 1e6:12.2f}")
    return lines + [""] + figures(spans) + load(spans, t0)


def figures(spans: list[dict]) -> list[str]:
    """Per span name, the figures its spans added to their args (e.g. a CUPTI flush's records):
    the total, per span, and the span's seconds per unit of it (is a flush's cost per record?)."""
    sums: dict[tuple[str, str], list] = {}
    for e in spans:
        for k, v in (e.get("args") or {}).items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                t = sums.setdefault((e["name"], k), [0, 0.0, 0.0])
                t[0] += 1
                t[1] += v
                t[2] += e["dur"] / 1e6
    lines = []
    for (name, k), (n, total, secs) in sorted(sums.items()):
        per = f", {secs / total * 1e6:.1f} us of span time per one" if total else ""
        lines.append(f"{name}: {k} {total:g} in {n} spans ({total / n:.1f} each){per}")
    return lines + [""] if lines else []


#: The span names whose overlap with a window the load table adds up: who is busy when.
LOAD = (("starting", ("process start", "import tvm", "runner open")), ("runner busy", ("runner run", "runner time")), ("compiling", ("compile",)),
        ("waiting on runs", ("runs",)), ("timing", ("timing",)), ("units", ("unit",)))


def load(spans: list[dict], t0: float, windows: int = 12) -> list[str]:
    """Per window of the run: how many processes were in each kind of span, on average (the runner
    at 1.00 is busy all the window; 16 builders compiling at once give 16.00)."""
    end = max(e["ts"] + e["dur"] for e in spans)
    width = max((end - t0) / windows, 1.0)
    lines = ["window s      " + "".join(f"{label:>16}" for label, _ in LOAD)]
    for w in range(windows):
        a, b = t0 + w * width, t0 + (w + 1) * width
        row = []
        for _, names in LOAD:
            busy = sum(max(0.0, min(b, e["ts"] + e["dur"]) - max(a, e["ts"])) for e in spans if e["name"] in names)
            row.append(f"{busy / width:16.2f}")
        lines.append(f"{(a - t0) / 1e6:6.1f}-{(b - t0) / 1e6:<6.1f} " + "".join(row))
    return lines


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m harness.trace TRACE_FILE  (written by a run with TRT_HARNESS_TRACE=TRACE_FILE)",
              file=sys.stderr)
        return 2
    try:
        events = read(argv[0])
    except OSError as exc:
        print(f"cannot read the trace: {exc}", file=sys.stderr)
        return 2
    print("\n".join(summary(events)))
    with open(argv[0] + ".json", "w", encoding="utf-8") as f:
        json.dump({"traceEvents": events, "displayTimeUnit": "ms"}, f)
    print(f"timeline for Perfetto / chrome://tracing: {argv[0]}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
