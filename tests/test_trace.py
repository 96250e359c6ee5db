"""harness.trace: the run's timeline (a real traced run is in test_runner.py)."""
from __future__ import annotations

import json

from harness import trace


def test_nothing_is_written_without_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv(trace.ENV, raising=False)
    with trace.span("unit", op="exp"):
        trace.name("x")
    assert list(tmp_path.iterdir()) == []


def test_spans_and_names_are_one_line_each_and_a_cut_line_is_skipped(tmp_path, monkeypatch):
    path = tmp_path / "t.trace"
    monkeypatch.setenv(trace.ENV, str(path))
    monkeypatch.setattr(trace, "_named", set())
    trace.name("gw0")
    with trace.span("unit", op="exp"):
        pass
    with open(path, "a") as f:
        f.write('{"ph":"X","name":"unit","ts":1')       # a process killed mid-line
    events = trace.read(str(path))
    assert [e["ph"] for e in events] == ["M", "X", "X"]    # the name, its start-up span, the unit
    assert events[1]["name"] == "process start" and events[1]["dur"] >= 0
    assert events[2]["args"] == {"op": "exp"}
    lines = trace.summary(events)
    assert any(line.startswith("gw0") for line in lines)
    assert any(line.startswith("unit ") for line in lines)
    head = lines.index(next(line for line in lines if line.startswith("window s")))
    assert len(lines) - head - 1 == 12                      # the load table: 12 windows of the run
    assert lines[head].endswith("units")
    assert max(float(line.split()[1]) for line in lines[head + 1:]) > 0.9   # "starting": this process's start


def test_the_load_table_adds_up_who_is_busy_in_each_window():
    spans = [{"name": "runner run", "ts": 0.0, "dur": 12e6}, {"name": "compile", "ts": 0.0, "dur": 6e6},
             {"name": "compile", "ts": 0.0, "dur": 6e6}]
    rows = [line.split() for line in trace.load(spans, 0.0, windows=2)[1:]]
    # window 0-6 s: the runner busy all of it, two builders compiling; 6-12 s: the runner alone
    assert [(r[2], r[3]) for r in rows] == [("1.00", "2.00"), ("1.00", "0.00")]


def test_the_command_writes_the_timeline_and_says_a_missing_file_in_one_line(tmp_path, monkeypatch, capsys):
    path = tmp_path / "t.trace"
    monkeypatch.setenv(trace.ENV, str(path))
    with trace.span("compile", backend="tvm-llvm"):
        pass
    assert trace.main([str(path)]) == 0
    with open(f"{path}.json") as f:
        assert [e["name"] for e in json.load(f)["traceEvents"]] == ["compile"]
    assert trace.main([str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read the trace" in err


def test_a_span_takes_figures_from_its_body_and_the_summary_adds_them_up(tmp_path, monkeypatch):
    """A CUPTI flush says how many records it brought: the summary gives records per flush and the
    flush's time per record, which tells whether a flush costs per call or per record."""
    path = tmp_path / "t.trace"
    monkeypatch.setenv(trace.ENV, str(path))
    for n in (100, 300):
        with trace.span("cupti flush") as args:
            args["records"] = n
    events = trace.read(str(path))
    assert [e["args"] for e in events] == [{"records": 100}, {"records": 300}]
    spans = [{"name": "cupti flush", "ts": 0.0, "dur": 2e3, "args": {"records": 100}},
             {"name": "cupti flush", "ts": 5e3, "dur": 6e3, "args": {"records": 300}},
             {"name": "unit", "ts": 0.0, "dur": 1e4, "args": {"op": "exp"}}]
    assert trace.figures(spans) == ["cupti flush: records 400 in 2 spans (200.0 each), 20.0 us of span time per one", ""]
    monkeypatch.delenv(trace.ENV)
    with trace.span("cupti flush") as args:            # no trace: the body may still write its figures
        args["records"] = 1
