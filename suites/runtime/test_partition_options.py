"""The partition options the seed documents, set against what the installed TVM accepts.

The seed (Relay era) documents ``partition_for_tensorrt(mod, params, version=..., use_implicit_batch=...,
remove_no_mac_subgraphs=..., max_workspace_size=...)`` returning ``(mod, config)``.  Each option
the installed TVM no longer takes is a finding: recorded as a strict xfail, so a TVM that brings
it back shows up as XPASS.
"""
import inspect

import pytest

SEED_OPTIONS = ("params", "version", "use_implicit_batch", "remove_no_mac_subgraphs", "max_workspace_size")


def _signature():
    from tvm.relax.backend.contrib.tensorrt import partition_for_tensorrt

    return inspect.signature(partition_for_tensorrt)


@pytest.mark.parametrize("option", SEED_OPTIONS)
def test_seed_partition_option_is_accepted(option):
    params = _signature().parameters
    if option not in params:
        pytest.xfail(f"finding: the installed partition_for_tensorrt{_signature()} has no '{option}' "
                     "parameter, which the seed documents")
    assert option in params


def test_partition_returns_module_and_config_as_the_seed_documents():
    from conftest import conv_module
    from tvm.ir import IRModule

    from harness.program import partition

    mod, _ = conv_module()
    out = partition(mod)
    if isinstance(out, IRModule):
        pytest.xfail("finding: the installed partition_for_tensorrt returns only the module, not the seed's "
                     "(mod, config) pair; options go through PassContext 'relax.ext.tensorrt.options'")
    assert isinstance(out, tuple) and len(out) == 2


def test_remove_no_mac_subgraphs_heuristic():
    """The seed: subgraphs without multiply-accumulate ops may be left to TVM.  The installed
    partitioner has no such option: a lone relu is always offloaded."""
    from tvm import relax

    from harness import offload
    from harness.program import partition

    bb = relax.BlockBuilder()
    x = relax.Var("x", relax.TensorType((1, 4), "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            gv = bb.emit_output(bb.emit(relax.op.nn.relu(x)))
        bb.emit_func_output(gv)
    regions = offload.trt_functions(partition(bb.get()))
    assert len(regions) == 1, "a lone relu should still be offloaded by the installed partitioner"

