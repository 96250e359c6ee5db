"""Whole-model suites: one test per (zoo model, check).

Each model of :data:`harness.models.zoo.ZOO` goes once through
:func:`harness.models.check.check_model` (cached per module); every check is then its own test, so
the outcome reads "offload wrong, numerics right":

* ``offload``   expected offload (support table + converter rules of ``--trt-version``) against
                what ``partition_for_tensorrt`` put in TensorRT functions, per op type;
* ``partition`` partitioning neither lost nor duplicated an op call (offloaded + kept == original);
* ``preserve``  partitioned program (built by TVM for LLVM) against the unpartitioned one;
* ``roundtrip`` ``export_library`` / ``load_module`` of the partitioned build: identical outputs;
* ``reference`` TVM's LLVM build against ``onnx.reference.ReferenceEvaluator``;
* ``source``    TVM's LLVM build against the source framework's own output (MXNet ResNet-18).

Departures found (an op TensorRT should take but the partitioner keeps, or the reverse) are
failures with the rule's reason; they are not tuned away.  ResNet-18 needs ``mxnet`` and is
skipped, with the import error, where it does not import.

Run: ``python -m pytest suites/models`` from the repository root (``--benchmark-disable`` to skip
timing; the ResNet-18 benchmark runs one round).
"""
from __future__ import annotations

import importlib
import os

import numpy as np
import onnx
import pytest

from harness.models import check, zoo

# mxnet 1.9.1's ONNX exporter uses onnx.mapping, deprecated in onnx 1.15: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:`mapping.:DeprecationWarning")

CHECKS = ("offload", "partition", "preserve", "roundtrip", "reference", "source")


def _plugin_state(config):
    """The harness plugin's run state, when the plugin is configured for this run."""
    try:
        from harness.plugin import STATE
    except Exception:
        return None
    return config.stash[STATE] if STATE in config.stash else None


def _target(config) -> tuple[str | None, bool | None]:
    """(TensorRT version, implicit batch) of this run: the plugin's settings (--trt-version,
    --trt-implicit-batch) where it is configured, else the harness defaults (None)."""
    state = _plugin_state(config)
    if state is not None:
        s = state.settings
        return ".".join(map(str, s.trt_version)), s.implicit_batch
    return os.environ.get("TRT_HARNESS_VERSION") or None, None


def _missing_requirement(model: zoo.ZooModel) -> str | None:
    for module in model.requires:
        try:
            importlib.import_module(module)
        except Exception as exc:  # ImportError, or a broken install (numpy ABI, ...)
            return (f"{model.name} needs {module} (pip install 'tvm-trt-harness[mxnet]': mxnet==1.9.1, numpy<1.24): "
                    f"import {module} failed: {type(exc).__name__}: {exc}")
    return None


@pytest.fixture(scope="module")
def _cache() -> dict:
    return {}


def _verdict(model: zoo.ZooModel, cache: dict, request) -> check.ModelVerdict:
    why = _missing_requirement(model)
    if why:
        pytest.skip(why)
    version, implicit = _target(request.config)
    key = (model.name, version, implicit)
    if key not in cache:
        try:
            proto, inputs = model.build(0)
            src = model.source_outputs(0) if model.source_outputs else None
            cache[key] = v = check.check_model(
                proto, trt_version=version, implicit_batch=implicit, name=model.name,
                inputs=inputs, source_outputs=src, source=model.source)
        except Exception as exc:  # cached so every check of the model reports the same error
            cache[key] = exc
        else:
            state = _plugin_state(request.config)
            if state is not None:  # the model's records go into the run's results file
                base = request.node.nodeid.rsplit("[", 1)[0]
                for rec in v.records:
                    rec.nodeid = f"{base}[{model.name}-{rec.check}]"
                    state.record(rec)
    result = cache[key]
    if isinstance(result, Exception):
        raise result
    return result


def _cases():
    for m in zoo.ZOO:
        for c in CHECKS:
            if c == "source" and m.source_outputs is None:
                continue
            yield pytest.param(m, c, id=f"{m.name}-{c}")


def _op_table(v: check.ModelVerdict) -> str:
    return check.format_verdict(v)


@pytest.mark.parametrize(("model", "check_name"), list(_cases()))
def test_model(model, check_name, _cache, request):
    v = _verdict(model, _cache, request)
    if check_name == "partition":
        assert v.stats is not None, v.checks["offload"].reason
        after = dict(v.stats.offloaded)
        for op, n in v.stats.kept.items():
            after[op] = after.get(op, 0) + n
        assert after == v.original_ops, (
            f"partitioning changed the op calls: original {v.original_ops}, offloaded+kept {after}")
        return
    result = v.checks[check_name]
    if result.outcome == "xfail":
        pytest.xfail(f"{model.name} {check_name}: {result.reason[:2000]}")
    assert result.outcome in ("pass", "skip"), (
        f"{model.name} {check_name}: {result.outcome}: {result.reason}\n\n{_op_table(v)}")


# ---------------------------------------------------------------------------------------------
# The zoo itself
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model", [m for m in zoo.ZOO if not m.requires], ids=lambda m: m.name)
def test_zoo_model_is_deterministic_and_valid(model):
    a, xa = model.build(0)
    b, xb = model.build(0)
    c, _ = model.build(1)
    onnx.checker.check_model(a, full_check=True)
    assert a.SerializeToString() == b.SerializeToString()
    assert a.SerializeToString() != c.SerializeToString(), "the seed does not reach the weights"
    assert xa.keys() == xb.keys() and all(np.array_equal(xa[k], xb[k]) for k in xa)
    inits = {t.name for t in a.graph.initializer}
    declared = {i.name: i for i in a.graph.input if i.name not in inits}
    assert set(declared) == set(xa)
    for name, vi in declared.items():
        dims = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        assert list(xa[name].shape) == dims, name
        assert xa[name].dtype == onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)


def test_zoo_covers_the_requested_operator_families():
    ops = {}
    for m in zoo.ZOO:
        if m.requires:
            continue
        proto, _ = m.build(0)
        ops[m.name] = {n.op_type for n in proto.graph.node}
    assert {"Conv", "BatchNormalization", "Relu", "Clip", "GlobalAveragePool", "Gemm",
            "Flatten"} <= ops["mobilenet_like"]
    assert any(n.op_type == "Conv" and any(a.name == "group" and a.i > 1 for a in n.attribute)
               for n in zoo.mobilenet_like(0)[0].graph.node), "no depthwise conv"
    assert {"LayerNormalization", "MatMul", "Softmax", "Transpose", "Reshape", "Add",
            "Erf"} <= ops["transformer_block"]
    assert {"Conv", "MaxPool", "AveragePool"} <= ops["cnn3d"]
    assert {"Pad", "Concat", "Split", "Slice", "Resize"} <= ops["pad_split_resize"]


def test_resnet18_is_the_seed_model():
    why = _missing_requirement(zoo.get("resnet18_v1"))
    if why:
        pytest.skip(why)
    proto, inputs = zoo.get("resnet18_v1").build(0)
    assert {k: v.shape for k, v in inputs.items()} == {"data": (1, 3, 224, 224)}
    counts: dict[str, int] = {}
    for n in proto.graph.node:
        counts[n.op_type] = counts.get(n.op_type, 0) + 1
    # ResNet-18: 17 convs on the main path + 3 downsample convs, each with a BatchNorm.
    assert counts["Conv"] == 20 and counts["BatchNormalization"] == 20, counts
    (out,) = zoo.get("resnet18_v1").source_outputs(0)
    assert out.shape == (1, 1000) and np.isfinite(out).all()


# ---------------------------------------------------------------------------------------------
# Benchmark: ResNet-18 ONNX -> imported -> partitioned -> built -> checked, one round
# ---------------------------------------------------------------------------------------------

def test_resnet18_pipeline_benchmark(benchmark, tmp_path, request):
    model = zoo.get("resnet18_v1")
    why = _missing_requirement(model)
    if why:
        pytest.skip(why)
    proto, inputs = model.build(0)
    src = model.source_outputs(0)
    path = tmp_path / "resnet18_v1.onnx"
    onnx.save(proto, str(path))
    version, implicit = _target(request.config)

    def pipeline():
        return check.check_model(path, trt_version=version, implicit_batch=implicit,
                                 name=model.name, inputs=inputs, source_outputs=src,
                                 source=model.source)

    v = benchmark.pedantic(pipeline, rounds=1, iterations=1, warmup_rounds=0)
    benchmark.extra_info.update({f"step_{k}_s": t for k, t in v.timings.items()})
    benchmark.extra_info["trt_subgraphs"] = v.stats.trt_subgraphs if v.stats else None
    assert v.stats is not None and v.stats.trt_subgraphs > 0
