"""``trt-harness check MODEL.onnx`` (harness.models.check.check_main) on models written to tmp.

Exit codes: 0 every check passes, 1 a check failed, 2 bad input (one line on stderr:
``trt-harness: error: <file>: <what>``).  Nothing is mocked: TVM imports, partitions and builds
every model for real.
"""
from __future__ import annotations

import json
import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from harness.errors import InputError
from harness.models.check import check_main, check_model


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
    lines = [json.loads(x) for x in results.read_text().splitlines()]
    assert lines[0]["kind"] == "header" and lines[0]["env"]["trt_version"] == "8.6.1"
    recs = lines[1:]
    assert [(r["op"], r["check"], r["outcome"]) for r in recs] == [
        ("model:conv_relu", "offload", "pass"), ("model:conv_relu", "preserve", "pass"),
        ("model:conv_relu", "reference", "pass")]
    assert recs[0]["attrs"]["trt_subgraphs"] == 1
    assert recs[0]["attrs"]["offloaded_by_op"] == {"relax.nn.conv2d": 1, "relax.nn.relu": 1}
    assert recs[1]["attrs"]["roundtrip"]["outcome"] == "pass"
    assert os.listdir(results.parent) == ["results.jsonl"], "a temp file was left behind"
    reader = pytest.importorskip("harness.reader")
    run = reader.load_results(str(results))
    assert len(run.records) == 3


def test_under_offload_exits_1_with_reason(tmp_path, capfd):
    path = _save(leaky_relu(), tmp_path / "leaky.onnx")
    assert check_main([path, "--trt-version", "8.6.1"]) == 1
    out = capfd.readouterr().out
    assert "relax.nn.leakyrelu" in out and "under-offload" in out
    assert "offload   XFAIL" in out and "expectations #" in out   # known, and named as such
    assert "preserve  PASS" in out and "reference PASS" in out
    assert check_main([path, "--trt-version", "8.6.1", "--known-ok"]) == 0


def test_trt_version_reaches_the_rules(tmp_path, capfd):
    # leaky_relu needs TensorRT 5.1.5: targeting 5.0.2, keeping it on TVM is right.
    path = _save(leaky_relu(), tmp_path / "leaky.onnx")
    assert check_main([path, "--trt-version", "5.0.2"]) == 0
    assert "needs TensorRT 5.1.5" not in capfd.readouterr().err


def test_over_offload_of_int_dtype_exits_1(tmp_path, capfd):
    path = _save(int_add(), tmp_path / "int_add.onnx")
    assert check_main([path, "--trt-version", "8.6.1"]) == 1
    out = capfd.readouterr().out
    assert "over-offload" in out and "int32" in out


def test_dynamic_dims_take_dim_value(tmp_path, capfd):
    path = _save(dynamic_relu(), tmp_path / "dyn.onnx")
    assert check_main([path, "--dim-value", "3"]) == 0
    assert "x (3, 4) float32" in capfd.readouterr().out


def test_check_model_api_on_a_proto():
    v = check_model(conv_relu(), trt_version="8.6.1", name="cr")
    assert v.ok, [(c.check, c.reason) for c in v.failures]
    assert v.stats.trt_subgraphs == 1 and v.stats.kept == {}
    assert v.original_ops == {"relax.nn.conv2d": 1, "relax.nn.relu": 1}
    assert set(v.checks) == {"offload", "preserve", "roundtrip", "reference"}
    assert v.checks["reference"].max_abs_err < 1e-4
    assert [r.check for r in v.records] == ["offload", "preserve", "reference"]
    assert all(r.op == "model:cr" for r in v.records)


def test_source_outputs_that_disagree_fail_the_reference_record():
    m = conv_relu()
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 8, 8)).astype(np.float32)
    wrong = [np.zeros((1, 4, 8, 8), np.float32) + 5.0]
    v = check_model(m, inputs={"x": x}, source_outputs=wrong, source="fake-framework")
    assert v.checks["source"].outcome == "fail"
    ref = [r for r in v.records if r.check == "reference"][0]
    assert ref.outcome == "fail" and "fake-framework" in ref.reason
    assert not v.ok


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


def test_input_without_shape_is_an_input_error_even_past_the_checker():
    from harness.models.check import input_specs

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, None)
    m = _model([helper.make_node("Relu", ["x"], ["y"])], [x],
               [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    with pytest.raises(InputError, match="no fixed shape"):
        input_specs(m, dim_value=1)


def test_dim_value_must_be_positive(tmp_path, capfd):
    path = _save(dynamic_relu(), tmp_path / "dyn.onnx")
    assert check_main([path, "--dim-value", "0"]) == 2
    assert "dim-value" in _one_error_line(capfd, path)


def test_unknown_trt_version(tmp_path, capfd):
    path = _save(conv_relu(), tmp_path / "m.onnx")
    assert check_main([path, "--trt-version", "banana"]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("trt-harness: error: --trt-version")


def test_report_is_written_or_skipped_with_a_reason(tmp_path, capfd):
    path = _save(conv_relu(), tmp_path / "m.onnx")
    report = tmp_path / "rep" / "index.html"
    assert check_main([path, "--trt-version", "8.6.1", "--report", str(report)]) == 0
    out = capfd.readouterr().out
    if report.exists():
        assert "<html" in report.read_text().lower() and f"report: {report}" in out
    else:
        assert "report: skipped" in out


# ---------------------------------------------------------------------------------------------
# The numeric comparison the preserve/reference checks use
# ---------------------------------------------------------------------------------------------

def test_compare_is_normwise_so_tiny_outputs_are_not_waved_through():
    from harness.models.check import compare

    e = np.full((4,), 1e-6, np.float32)
    bad = compare([e * 1.1], [e], check="reference", against="x", rtol=1e-4, atol_scale=1e-4)
    assert bad.outcome == "fail" and bad.max_rel_err == pytest.approx(0.1, rel=1e-3)
    ok = compare([e * (1 + 1e-6)], [e], check="reference", against="x", rtol=1e-4, atol_scale=1e-4)
    assert ok.outcome == "pass"


def test_compare_nan_positions_and_integers_and_shapes():
    from harness.models.check import compare

    kw = dict(check="preserve", against="x", rtol=1e-5, atol_scale=1e-5)
    a = np.array([1.0, np.nan], np.float32)
    assert compare([a], [a.copy()], **kw).outcome == "pass"
    r = compare([np.array([1.0, 2.0], np.float32)], [a], **kw)
    assert r.outcome == "fail" and r.nan_inf_agree is False
    assert compare([np.array([1, 2])], [np.array([1, 3])], **kw).outcome == "fail"
    assert compare([np.zeros(3)], [np.zeros(4)], **kw).outcome == "fail"
    assert compare([np.zeros(3)], [np.zeros(3), np.zeros(3)], **kw).outcome == "fail"
