"""Test doubles for testing the harness itself: each is wrong on purpose, and named for it.

A harness that reports these as passing is broken.  Installed into a pytester run by
``install(name)`` from that run's conftest.
"""
from __future__ import annotations

import numpy as np

import harness.families as F
import harness.program as program
import harness.rules as rules
from harness.table import BY_NAME


class WrongOracleUnary(F.Unary):
    """An oracle off by 0.5: the reference check must fail."""

    def oracle(self, case, xs, ws):
        return super().oracle(case, xs, ws) + 0.5


def _partition_dropping_everything(mod):
    """A partitioner that offloads nothing: the offload check must report under-offload."""
    return mod


def _partition_then_corrupt(mod):
    """Partition, then change the TensorRT function's computation (x -> x + 1): preserve must fail."""
    import tvm
    from tvm import relax

    part = program.partition(mod)
    funcs = {}
    for gv, func in part.functions.items():
        if isinstance(func, relax.Function) and func.attrs is not None and "Codegen" in func.attrs:
            body = func.body
            one = relax.const(np.ones((), dtype=str(func.ret_ty.dtype)))
            func = relax.Function(func.params, relax.op.add(body, one) if not hasattr(body, "blocks")
                                  else _add_one(body, one), func.ret_ty, func.is_pure, func.attrs)
        funcs[gv] = func
    return tvm.IRModule(funcs)


def _add_one(seq_expr, one):
    from tvm import relax

    return relax.SeqExpr(seq_expr.blocks, relax.op.add(seq_expr.body, one))


def _decide_never(call, *, trt_version, implicit_batch=None):
    """A wrong expected rule: 'TensorRT takes nothing'.  Offload must report over-offload."""
    return rules.Decision(False, "wrong-rule-double", "test double: rules say nothing offloads", "tests/doubles.py")


def install(name: str, monkeypatch) -> None:
    if name == "wrong-oracle":
        entry = BY_NAME["nn.relu"]   # frozen: replaced for this (subprocess) run only
        object.__setattr__(entry, "family", WrongOracleUnary(entry.tvm_op, **entry.family.params))
    elif name == "partition-drops-ops":
        monkeypatch.setattr(program, "partition", _partition_dropping_everything)
    elif name == "partition-corrupts-region":
        original = program.partition
        monkeypatch.setattr(program, "partition", lambda mod: _partition_then_corrupt_with(original, mod))
    elif name == "wrong-expected-rule":
        monkeypatch.setattr(rules, "decide", _decide_never)
    else:
        raise ValueError(name)


def _partition_then_corrupt_with(partition, mod):
    global_partition = program.partition
    program.partition = partition
    try:
        return _partition_then_corrupt(mod)
    finally:
        program.partition = global_partition
