"""A file of another kind given where a results file is read (gate, report, merge, benchjson) is named
for what it is, in one line with exit 2, instead of "invalid JSON".  The files are made by their
real producers: pytest-benchmark, pytest's JUnit XML, the harness's report, gate and benchjson."""
from __future__ import annotations

import gzip
import json
import os
import shutil
import zipfile

import pytest

from harness.cli import main
from harness.reader import READS, file_kind, load_results

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_TEST = """
def test_sum(benchmark):
    assert benchmark(sum, range(10)) == 45
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory, pytestconfig):
    """kind -> path of a file of that kind (and 'results': a good results file)."""
    from conftest import make_header, make_record, make_timing, write_results

    d = tmp_path_factory.mktemp("kinds")
    results = write_results(d / "results.jsonl", make_header("r1"), [
        make_record(check="tensorrt", timings={"tensorrt": make_timing(0.001, 1e-5), "tvm-cuda": make_timing(0.002)})])
    out = {"results": results}
    assert main(["report", results, "-o", str(d / "report.html"), "--quiet"]) == 0
    out["html"] = str(d / "report.html")
    assert main(["gate", results, results, "--json", str(d / "verdict.json")]) == 0
    out["verdict"] = str(d / "verdict.json")
    assert main(["benchjson", results, "-o", str(d / "harness-bench.json")]) == 0
    out["harness-bench"] = str(d / "harness-bench.json")
    with open(results, "rb") as src, gzip.open(d / "results.jsonl.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    out["gzip"] = str(d / "results.jsonl.gz")
    with zipfile.ZipFile(d / "artifact.zip", "w") as z:
        z.write(results, "results.jsonl")
    out["zip"] = str(d / "artifact.zip")
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    np.save(d / "x.npy", np.zeros(3, np.float32))
    out["npy"] = str(d / "x.npy")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    onnx.save(helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x],
                                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])),
              str(d / "relu.onnx"))
    out["onnx"] = str(d / "relu.onnx")
    out["expectations"] = os.path.join(ROOT, "harness", "data", "expectations.toml")
    out["schema"] = os.path.join(ROOT, "harness", "schema", "results.schema.json")
    with open(results) as fh:
        head = json.loads(fh.readline())
    (d / "pretty.jsonl").write_text(json.dumps(head, indent=2))
    out["pretty"] = str(d / "pretty.jsonl")
    return out


@pytest.fixture(scope="module")
def pytest_files(tmp_path_factory):
    """A pytest-benchmark JSON file (pretty-printed, as pytest-benchmark writes it) and a JUnit XML
    file, from a real pytest run in a child process (without the harness's plugin, which would
    import TVM for nothing: these are pytest's and pytest-benchmark's files)."""
    import subprocess
    import sys

    d = tmp_path_factory.mktemp("pytest-files")
    (d / "test_bench.py").write_text(BENCH_TEST)
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:tvm_trt_harness",
                        str(d / "test_bench.py"),
                        f"--rootdir={d}", f"--benchmark-json={d / 'bench.json'}", f"--junitxml={d / 'junit.xml'}"],
                       cwd=d, capture_output=True, text=True, timeout=300,
                       env={k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")})  # not an xdist worker
    assert p.returncode == 0, p.stdout[-1000:]
    assert (d / "bench.json").read_text().startswith("{\n")       # pretty-printed: "invalid JSON" line by line
    return {"pytest-benchmark": str(d / "bench.json"), "junit": str(d / "junit.xml")}


KINDS = {
    "pytest-benchmark": "a pytest-benchmark file",
    "harness-bench": "a pytest-benchmark file",
    "junit": "a JUnit XML file",
    "html": "an HTML page",
    "verdict": "the gate's verdict (`trt-harness gate --json`)",
    "gzip": "a gzip-compressed file",
    "zip": "a zip archive",
    "npy": "a NumPy .npy array",
    "onnx": "an ONNX model (`trt-harness check MODEL.onnx` checks models)",
    "expectations": "an expectations file",
    "schema": "a JSON Schema",
    "pretty": "one JSON document over",
}


@pytest.mark.parametrize("command", ["gate-baseline", "gate-current", "report", "merge"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_file_of_another_kind_is_named(kind, command, files, pytest_files, tmp_path, capsys):
    path = {**files, **pytest_files}[kind]
    argv = {"gate-baseline": ["gate", path, files["results"]], "gate-current": ["gate", files["results"], path],
            "report": ["report", path, "-o", str(tmp_path / "r.html")],
            "merge": ["merge", path, "-o", str(tmp_path / "m.jsonl")]}[command]
    assert main(argv) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1, err
    assert err[0].startswith(f"trt-harness: error: {path}: not a results file: this is {KINDS[kind]}"), err[0]
    assert err[0].endswith(READS)
    assert os.listdir(tmp_path) == []


def test_results_files_and_unknown_files_are_not_named(files, tmp_path):
    assert file_kind(files["results"]) is None and len(load_results(files["results"]).records) == 1
    (tmp_path / "x.jsonl").write_text("this is not json\n")
    assert file_kind(str(tmp_path / "x.jsonl")) is None
    (tmp_path / "one.jsonl").write_text('{"kind": "record"}\n')        # one line: the reader says what is wrong
    assert file_kind(str(tmp_path / "one.jsonl")) is None
