"""Whole-model suites: one test per (zoo model, check), through the shared pipeline.

Each model of :data:`harness.models.zoo.ZOO` goes once through
:func:`harness.models.verify.check_model` (cached per module) in the session's worker; every check
is then its own test, judged against the known departures of ``--trt-expectations`` like the op
suites' (``--trt-no-expectations`` shows every departure):

* ``offload``   expected offload (support table + converter rules of ``--trt-version``) against
                what ``partition_for_tensorrt`` put in TensorRT functions, per op type;
* ``partition`` partitioning neither lost nor duplicated an op call (offloaded + kept == original);
* ``preserve``  partitioned program (built by TVM for LLVM) against the unpartitioned one;
* ``reference`` TVM's build against the references' consensus (onnx's evaluator, ONNX Runtime, and
                MXNet itself for the seed's ResNet-18).

The seed's ResNet-18 is read from the model cache; where it is not there, its tests skip naming
``make mxnet-model``.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import onnx
import pytest

from harness.models import zoo
from harness.models.command import records_of
from harness.models.verify import check_model

CHECKS = ("offload", "partition", "preserve", "reference")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def _cache() -> dict:
    return {}


def _verdict(model: zoo.ZooModel, cache: dict, session, nodeid: str):
    why = model.missing()
    if why:
        pytest.skip(why)
    if model.name not in cache:
        proto, inputs = model.build(0)
        from harness.models import onnx_io

        specs = onnx_io.input_specs(proto, given=inputs)
        src = model.source_outputs(0) if model.source_outputs else None
        v = check_model(proto, model.name, name=model.name, specs=specs, inputs=inputs, session_like=session,
                        steps=("offload", "preserve", "reference"), source_outputs=src, source=model.source)
        for rec in records_of(v, case_id=f"{model.name}-seed0"):
            rec.nodeid = f"{nodeid.rsplit('[', 1)[0]}[{model.name}-{rec.check}]"
            session.record(rec)
        cache[model.name] = v
    return cache[model.name]


def _cases():
    for m in zoo.ZOO:
        for c in CHECKS:
            yield pytest.param(m, c, id=f"{m.name}-{c}")


@pytest.mark.parametrize(("model", "check_name"), list(_cases()))
def test_model(model, check_name, _cache, trt_session, request):
    from harness.models.command import format_verdict

    v = _verdict(model, _cache, trt_session, request.node.nodeid)
    if check_name == "partition":
        stats = v.computed.stats if v.computed else {}
        assert stats, v.results["offload"].reason
        after = dict(stats["offloaded_by_op"])
        for op, n in stats["kept_by_op"].items():
            after[op] = after.get(op, 0) + n
        assert after == stats["original_by_op"], (
            f"partitioning changed the op calls: original {stats['original_by_op']}, offloaded+kept {after}")
        return
    j = v.judged[check_name]
    if j.outcome == "xfail":
        pytest.xfail(f"{model.name} {check_name}: {j.reason[:2000]}")
    if j.outcome == "skip":
        pytest.skip(j.reason)
    assert j.outcome == "pass", f"{model.name} {check_name}: {j.outcome}: {j.reason}\n\n{format_verdict(v)}"


# ---------------------------------------------------------------------------------------------
# The zoo itself
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model", [m for m in zoo.ZOO if m.name != "resnet18_v1"], ids=lambda m: m.name)
def test_zoo_model_is_deterministic_and_valid(model):
    a, xa = model.build(0)
    b, xb = model.build(0)
    c, _ = model.build(1)
    onnx.checker.check_model(a, full_check=True)
    assert a.SerializeToString() == b.SerializeToString()
    assert a.SerializeToString() != c.SerializeToString(), "the seed does not reach the weights"
    assert xa.keys() == xb.keys() and all(np.array_equal(xa[k], xb[k]) for k in xa)


def test_resnet18_is_the_seed_model():
    model = zoo.get("resnet18_v1")
    why = model.missing()
    if why:
        pytest.skip(why)
    proto, inputs = model.build(0)
    assert {k: v.shape for k, v in inputs.items()} == {"data": (1, 3, 224, 224)}
    counts: dict[str, int] = {}
    for n in proto.graph.node:
        counts[n.op_type] = counts.get(n.op_type, 0) + 1
    # ResNet-18: 17 convs on the main path + 3 downsample convs, each with a BatchNorm.
    assert counts["Conv"] == 20 and counts["BatchNormalization"] == 20, counts
    (out,) = model.source_outputs(0)
    assert out.shape == (1, 1000) and np.isfinite(out).all()


# ---------------------------------------------------------------------------------------------
# Benchmark: `trt-harness check` on the seed's ResNet-18, end to end in a fresh process
# ---------------------------------------------------------------------------------------------

def test_resnet18_check_benchmark(benchmark, tmp_path):
    model = zoo.get("resnet18_v1")
    why = model.missing()
    if why:
        pytest.skip(why)
    from harness.models import mxnet_resnet

    path = mxnet_resnet.paths(0)["onnx"]
    cache = str(tmp_path / "builds")
    times = {}

    def check(kind):
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "harness.cli", "check", path, "--trt-build-cache", cache,
                               "--known-ok", "--repro-dir", str(tmp_path / "repro")], capture_output=True, text=True,
                              env=dict(os.environ, PYTHONPATH=ROOT), timeout=600)
        times[kind] = time.perf_counter() - t0
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
        return proc

    check("cold")       # builds and fills the build cache
    benchmark.pedantic(lambda: check("warm"), rounds=1, iterations=1, warmup_rounds=0)
    benchmark.extra_info.update({"cold_s": times["cold"], "warm_s": times["warm"]})
    print(f"\ntrt-harness check resnet18_v1: cold {times['cold']:.1f} s, warm {times['warm']:.1f} s")
