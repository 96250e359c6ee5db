"""harness.benchjson as a contract with pytest-benchmark: no statistic is ever null, a timing without
a figure `pytest-benchmark compare` shows is left out with a note, and `pytest-benchmark compare`
reads the output of every checked-in results file."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import tracked_reports
from harness import benchjson
from harness.cli import main
from harness.records import Stats

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPARE = os.path.join(os.path.dirname(sys.executable), "pytest-benchmark")


def checked_in_results() -> list[str]:
    """Every checked-in results file under reports/ (a tracked file whose first line is a results
    header; not what `make suites` writes there)."""
    out = []
    for path in tracked_reports(".jsonl"):
        with open(path, "rb") as fh:
            first = fh.readline()
        if b'"schema":"tvm-trt-harness.results"' in first and b'"kind":"header"' in first:
            out.append(path)
    return out


def nulls(obj, where="") -> list[str]:
    if obj is None:
        return [where]
    if isinstance(obj, dict):
        return [n for k, v in obj.items() for n in nulls(v, f"{where}.{k}")]
    if isinstance(obj, list):
        return [n for i, v in enumerate(obj) for n in nulls(v, f"{where}[{i}]")]
    return []


def test_there_are_checked_in_results_files():
    names = {os.path.relpath(p, ROOT) for p in checked_in_results()}
    assert {"reports/example/results.jsonl", "reports/example/synthetic-gpu.jsonl"} <= names and len(names) >= 5


@pytest.mark.parametrize("path", checked_in_results(), ids=lambda p: os.path.relpath(p, ROOT))
def test_pytest_benchmark_compare_reads_the_benchjson_of_every_checked_in_results_file(path, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["benchjson", path, "-o", str(out)]) == 0
    data = json.loads(out.read_text())
    assert [n for b in data["benchmarks"] for n in nulls(b["stats"], b["name"])] == []
    proc = subprocess.run([COMPARE, "compare", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    for b in data["benchmarks"][:3]:      # what it read, it shows
        assert b["name"] in proc.stdout


def test_a_timing_without_a_figure_is_left_out_with_a_note(build):
    full = dict(min_s=1e-3, max_s=2e-3, mean_s=1.5e-3, stddev_s=1e-4, rounds=5, iterations=10)
    whole = build.timing()
    whole.latency = Stats(median_s=1.5e-3, iqr_s=1e-4, **full)
    partial = build.timing()
    partial.latency = Stats(median_s=1.5e-3, iqr_s=1e-4, **{**full, "min_s": None, "stddev_s": None})
    run = build.run([build.record(case_id="a", check="tensorrt", timings={"tensorrt": whole}),
                     build.record(case_id="b", check="tensorrt", timings={"tensorrt": partial})])
    data = benchjson.to_benchmark_json(run)
    assert [b["params"]["case_id"] for b in data["benchmarks"]] == ["a"]
    assert data["machine_info"]["harness_notes"] == ["1 timing(s) left out: no min, stddev recorded"]
    stats = data["benchmarks"][0]["stats"]
    assert stats["min"] == 1e-3 and stats["iterations"] == 10 and "q1" not in stats and nulls(stats) == []


def test_a_run_without_timings_writes_an_empty_benchmark_file_that_says_why(build, tmp_path):
    data = benchjson.to_benchmark_json(build.run([build.record()]))
    assert data["benchmarks"] == [] and data["machine_info"]["harness_notes"] == [
        "no timings in this run (timings come from a GPU run)"]
