"""``trt-harness check MODEL.onnx`` (harness/models/command.py) on models written to tmp.

Exit codes: 0 clean (or only known departures with --known-ok), 1 a departure, 2 bad input (one
line on stderr: ``trt-harness: error: <file>: <what>``), 3 the harness itself failed.  Nothing is
mocked: TVM imports, partitions and builds every model for real, in the isolated worker.
"""
from __future__ import annotations

import json
import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from harness.cli import main


def check_main(argv):
    return main(["check", *argv, "--trt-build-cache", "off"])


@pytest.fixture(autouse=True)
def _cwd_is_tmp(tmp_path, monkeypatch):
    """`check` writes reproducers under ./reports/repro unless told otherwise: here that is tmp_path."""
    monkeypatch.chdir(tmp_path)


def _model(nodes, inputs, outputs, inits=(), opset=13) -> onnx.ModelProto:
    g = helper.make_graph(nodes, "t", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def conv_relu() -> onnx.ModelProto:
    """Conv (no bias) + Relu: both in the table, both offloaded -> every check passes."""
    w = np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32)
    return _model([helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
                   helper.make_node("Relu", ["c"], ["y"])],
                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
                  [numpy_helper.from_array(w, "w")])


def leaky_relu() -> onnx.ModelProto:
    """LeakyRelu: in the seed's table from TensorRT 5.1.5, but the partitioner has no pattern."""
    return _model([helper.make_node("LeakyRelu", ["x"], ["y"], alpha=0.1)],
                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])])


def int_add() -> onnx.ModelProto:
    """An int32 Add: the partitioner offloads it, TensorRT's runtime takes only fp32/fp16."""
    return _model([helper.make_node("Add", ["a", "b"], ["y"])],
                  [helper.make_tensor_value_info("a", TensorProto.INT32, [1, 8]),
                   helper.make_tensor_value_info("b", TensorProto.INT32, [1, 8])],
                  [helper.make_tensor_value_info("y", TensorProto.INT32, [1, 8])])


def dynamic_relu() -> onnx.ModelProto:
    return _model([helper.make_node("Relu", ["x"], ["y"])],
                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])])


def _save(model, path) -> str:
    onnx.save(model, str(path))
    return str(path)


def _one_error_line(capfd, path) -> str:
    err = [ln for ln in capfd.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1, err
    assert err[0].startswith(f"trt-harness: error: {path}: "), err[0]
    return err[0]


# ---------------------------------------------------------------------------------------------
# exit 0 / 1
# ---------------------------------------------------------------------------------------------

def test_good_model_exits_0_and_writes_results(tmp_path, capfd):
    path = _save(conv_relu(), tmp_path / "conv_relu.onnx")
    results = tmp_path / "out" / "results.jsonl"
    assert check_main([path, "--trt-version", "8.6.1", "--results", str(results)]) == 0
    out = capfd.readouterr().out
    assert "1 TensorRT subgraph(s), 2 op call(s) offloaded, 0 kept on TVM" in out
    assert "relax.nn.conv2d" in out and "match" in out
    assert "onnxruntime" in out and "onnx-reference" in out      # the references are named
    from harness.reader import load_results

    run = load_results(str(results))
    assert run.env["trt_version"] == "8.6.1"
    assert [(r.op, r.check, r.outcome) for r in run.records][:3] == [
        ("model:conv_relu", "offload", "pass"), ("model:conv_relu", "preserve", "pass"),
        ("model:conv_relu", "reference", "pass")]
    from harness.backends import get_backend

    why = get_backend("tensorrt").unavailable_reason()
    if why:    # what the machine cannot run is a skip with the exact reason, never a failure
        assert run.records[3].check == "tensorrt" and run.records[3].outcome == "skip" and why in run.records[3].reason
    off = run.records[0]
    assert off.details["trt_subgraphs"] == 1
    assert off.offload.actual == {"relax.nn.conv2d": 1, "relax.nn.relu": 1}
    ref = run.records[2]
    assert ref.reference and ("onnxruntime" in ref.reference or "onnx-reference" in ref.reference)
    assert ref.max_abs_err is not None and ref.max_abs_err < 1e-4


def test_under_offload_known_exits_1_unless_known_ok(tmp_path, capfd):
    path = _save(leaky_relu(), tmp_path / "leaky.onnx")
    assert check_main([path, "--trt-version", "8.6.1"]) == 1
    out = capfd.readouterr().out
    assert "relax.nn.leakyrelu" in out and "under-offload" in out
    assert "offload   XFAIL" in out and "expectations " in out   # known, and named as such
    assert "preserve  PASS" in out and "reference PASS" in out
    assert check_main([path, "--trt-version", "8.6.1", "--known-ok"]) == 0
    assert check_main([path, "--trt-version", "8.6.1", "--known-ok", "--trt-no-expectations"]) == 1
    assert (tmp_path / "reports" / "repro" / "model-leaky-offload.py").is_file()   # the default place, under cwd


def test_trt_version_reaches_the_rules(tmp_path, capfd):
    # leaky_relu needs TensorRT 5.1.5: targeting 5.0.2, keeping it on TVM is right.
    path = _save(leaky_relu(), tmp_path / "leaky.onnx")
    assert check_main([path, "--trt-version", "5.0.2"]) == 0


def test_over_offload_of_int_dtype_is_known(tmp_path, capfd):
    path = _save(int_add(), tmp_path / "int_add.onnx")
    assert check_main([path, "--trt-version", "8.6.1", "--known-ok"]) == 0
    out = capfd.readouterr().out
    assert "over-offload" in out and "int32" in out


def test_dims_by_name_and_dim_value(tmp_path, capfd):
    two = _model([helper.make_node("Add", ["a", "b"], ["y"])],
                 [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", "seq"]),
                  helper.make_tensor_value_info("b", TensorProto.FLOAT, ["batch", "seq"])],
                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq"])])
    path = _save(two, tmp_path / "two.onnx")
    # (the offload of the symbolic module is tests/test_check_verdicts.py's)
    assert check_main([path, "--dim", "batch=2", "--dim", "seq=5", "--steps", "preserve,reference"]) == 0
    assert "a (2, 5) float32" in capfd.readouterr().out
    path = _save(dynamic_relu(), tmp_path / "dyn.onnx")
    assert check_main([path, "--dim-value", "3", "--steps", "preserve,reference"]) == 0
    assert "x (3, 4) float32" in capfd.readouterr().out


def test_rank0_input_stays_rank0_and_user_inputs_are_used(tmp_path, capfd):
    m = _model([helper.make_node("Mul", ["x", "s"], ["y"])],
               [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4]),
                helper.make_tensor_value_info("s", TensorProto.FLOAT, [])],
               [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])])
    path = _save(m, tmp_path / "scale.onnx")
    data = tmp_path / "in.npz"
    np.savez(data, x=np.arange(4, dtype=np.float32), s=np.float32(2.0))
    assert check_main([path, "--input", str(data)]) == 0
    out = capfd.readouterr().out
    assert "s () float32" in out and "reference PASS" in out


def test_integer_division_inputs_respect_the_domain(tmp_path, capfd):
    m = _model([helper.make_node("Div", ["a", "b"], ["y"])],
               [helper.make_tensor_value_info("a", TensorProto.INT32, [64]),
                helper.make_tensor_value_info("b", TensorProto.INT32, [64])],
               [helper.make_tensor_value_info("y", TensorProto.INT32, [64])])
    path = _save(m, tmp_path / "idiv.onnx")
    rc = check_main([path, "--known-ok"])        # a divisor of zero would kill TVM with SIGFPE
    out = capfd.readouterr().out
    assert rc == 0, out
    assert "reference PASS" in out


def test_partitioner_crash_is_a_finding_with_a_reproducer(tmp_path, capfd):
    """An Expand whose shape is a runtime tensor: TVM's import leaves a MatchCast that
    partition_for_tensorrt cannot take (TypeError: Invalid type: relax.expr.MatchCast)."""
    m = _model([helper.make_node("Expand", ["x", "shape"], ["y"])],
               [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 1]),
                helper.make_tensor_value_info("shape", TensorProto.INT64, [2])],
               [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 4])])
    path = _save(m, tmp_path / "expand.onnx")
    data = tmp_path / "in.npz"
    np.savez(data, x=np.ones((3, 1), np.float32), shape=np.array([3, 4], np.int64))
    rc = check_main([path, "--input", str(data), "--repro-dir", str(tmp_path / "repro"), "--steps", "offload"])
    cap = capfd.readouterr()
    assert "Traceback" not in cap.out + cap.err
    if "partition_for_tensorrt" not in cap.out:
        pytest.skip(f"this TVM partitions the model (rc {rc}): the crash is fixed")
    assert rc == 1 and "offload   FAIL" in cap.out
    script = next(p for p in (tmp_path / "repro").iterdir() if p.suffix == ".py")
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout[-1000:] + proc.stderr[-1000:]   # the departure is still there


def test_harness_failure_exits_3(tmp_path, capfd, monkeypatch):
    from harness.models import verify

    def broken_compute_double(req):
        """WRONG ON PURPOSE: the harness's own code raising."""
        raise RuntimeError("a bug of the harness")

    monkeypatch.setattr(verify, "compute", broken_compute_double)
    path = _save(conv_relu(), tmp_path / "m.onnx")
    assert check_main([path]) == 3
    err = capfd.readouterr().err
    assert "internal error" in err and "Traceback" not in err


def test_model_onnx_is_named_after_its_folder(tmp_path, capfd):
    (tmp_path / "test_conv").mkdir()
    path = _save(conv_relu(), tmp_path / "test_conv" / "model.onnx")
    assert check_main([path]) == 0
    assert capfd.readouterr().out.startswith("model test_conv ")


# ---------------------------------------------------------------------------------------------
# exit 2: bad input
# ---------------------------------------------------------------------------------------------

def test_missing_file(tmp_path, capfd):
    path = str(tmp_path / "nope.onnx")
    assert check_main([path]) == 2
    assert "no such file" in _one_error_line(capfd, path)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_truncated_file(tmp_path, capfd, fraction):
    blob = conv_relu().SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(blob[: int(len(blob) * fraction)])
    results = tmp_path / "r.jsonl"
    assert check_main([str(path), "--results", str(results)]) == 2
    _one_error_line(capfd, str(path))
    assert not results.exists() and os.listdir(tmp_path) == ["cut.onnx"]


@pytest.mark.parametrize("content", [b"", b"not an onnx model\n", b"\x00\xff" * 64])
def test_garbage_file(tmp_path, capfd, content):
    path = tmp_path / "bad.onnx"
    path.write_bytes(content)
    assert check_main([str(path)]) == 2
    _one_error_line(capfd, str(path))


def test_directory(tmp_path, capfd):
    assert check_main([str(tmp_path)]) == 2
    assert "directory" in _one_error_line(capfd, str(tmp_path))


def test_invalid_graph(tmp_path, capfd):
    m = _model([helper.make_node("Relu", ["undefined"], ["y"])],
               [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
               [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    path = _save(m, tmp_path / "invalid.onnx")
    assert check_main([path]) == 2
    assert "invalid ONNX model" in _one_error_line(capfd, path)


def test_op_the_frontend_cannot_import(tmp_path, capfd):
    m = _model([helper.make_node("Det", ["x"], ["y"])],
               [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 3])],
               [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])])
    path = _save(m, tmp_path / "det.onnx")
    assert check_main([path]) == 2
    assert "Det" in _one_error_line(capfd, path)


def test_input_without_any_shape(tmp_path, capfd):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, None)
    m = _model([helper.make_node("Relu", ["x"], ["y"])], [x],
               [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    path = _save(m, tmp_path / "noshape.onnx")
    assert check_main([path]) == 2
    _one_error_line(capfd, path)


def test_dim_value_must_be_positive(tmp_path, capfd):
    path = _save(dynamic_relu(), tmp_path / "dyn.onnx")
    assert check_main([path, "--dim-value", "0"]) == 2
    assert "dim-value" in _one_error_line(capfd, path)


def test_unknown_trt_version(tmp_path, capfd):
    path = _save(conv_relu(), tmp_path / "m.onnx")
    assert check_main([path, "--trt-version", "banana"]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("trt-harness: error: --trt-version")


def test_report_is_written(tmp_path, capfd):
    path = _save(conv_relu(), tmp_path / "m.onnx")
    report = tmp_path / "rep" / "index.html"
    assert check_main([path, "--trt-version", "8.6.1", "--report", str(report)]) == 0
    out = capfd.readouterr().out
    assert "<html" in report.read_text().lower() and f"report: {report}" in out
    assert f"results: {os.path.join('reports', 'repro', 'm.jsonl')}" in out    # no --results: beside the reproducers
