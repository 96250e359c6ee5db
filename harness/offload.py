"""Actual offload: which op calls the installed partitioner put into TensorRT functions, and the
comparison of that with the expected offload of :mod:`harness.rules`."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from . import rules


def _is_trt(func) -> bool:
    return func.attrs is not None and "Codegen" in func.attrs and str(func.attrs["Codegen"]) == "tensorrt"


def _calls(expr) -> list:
    from tvm import relax
    from tvm.ir import Op

    found = []

    def visit(node):
        if isinstance(node, relax.Call) and isinstance(node.op, Op):
            found.append(node)

    relax.analysis.post_order_visit(expr, visit)
    return found


def trt_functions(partitioned_mod) -> list:
    from tvm import relax

    return [f for _, f in partitioned_mod.functions.items() if isinstance(f, relax.Function) and _is_trt(f)]


def trt_calls(partitioned_mod, func_name: str = "main") -> list:
    """Op calls that run in TensorRT, counted once per call site.

    MergeCompositeFunctions binds a composite function once inside a region and calls it wherever
    an identical op occurs, and a region function may be called from several places: each call
    counts the ops of the body it calls again."""
    from tvm import relax
    from tvm.ir import GlobalVar, Op

    def body_calls(expr, local):
        found = []

        def visit(node):
            if isinstance(node, relax.Call):
                if isinstance(node.op, Op):
                    found.append(node)
                elif node.op in local:
                    found.extend(body_calls(local[node.op].body, local))

        relax.analysis.post_order_visit(expr, visit)
        return found

    sites = []
    relax.analysis.post_order_visit(
        partitioned_mod[func_name].body,
        lambda n: sites.append(n.op) if isinstance(n, relax.Call) and isinstance(n.op, GlobalVar) else None)
    calls = []
    for gv in sites:
        func = partitioned_mod[gv]
        if not (isinstance(func, relax.Function) and _is_trt(func)):
            continue
        local = {}
        for block in getattr(func.body, "blocks", []):
            for binding in block.bindings:
                if isinstance(binding.value, relax.Function):
                    local[binding.var] = binding.value
        # Walk only the region's own bindings (local function bodies are entered per call).
        for block in getattr(func.body, "blocks", []):
            for binding in block.bindings:
                if not isinstance(binding.value, relax.Function):
                    calls.extend(body_calls(binding.value, local))
        if not getattr(func.body, "blocks", None):
            calls.extend(body_calls(func.body, local))
    return calls


def all_calls(mod, func_name: str = "main") -> list:
    """Op calls of a module's entry function, nested functions included."""
    return _calls(mod[func_name].body)


def op_name(call) -> str:
    return str(call.op.name)


@dataclass
class OffloadComparison:
    over: list = field(default_factory=list)     # (op, reason): offloaded, though rules reject it
    under: list = field(default_factory=list)    # (op, reason): supported, but kept on TVM
    by_op: dict = field(default_factory=dict)    # op -> {"expected", "offloaded", "kept"}
    regions: int = 0
    rules: dict = field(default_factory=dict)    # (op, reason) -> rule id of the decision

    @property
    def verdict(self) -> str:
        if self.over:
            return "over-offload"
        if self.under:
            return "under-offload"
        return "match"


def compare(original_mod, partitioned_mod, *, trt_version, implicit_batch=None) -> OffloadComparison:
    """Compare expected and actual offload per op type (a model may hold many calls of one op).

    Calls are matched by signature (op, input types, attributes), so two calls of one op that the
    rules judge differently are told apart."""
    expected = Counter()
    reasons = {}
    total = Counter()
    for call in all_calls(original_mod):
        d = rules.decide(call, trt_version=trt_version, implicit_batch=implicit_batch)
        sig = rules.signature(call)
        total[sig] += 1
        reasons[sig] = d
        if d.offload:
            expected[sig] += 1
    actual = Counter(rules.signature(c) for c in trt_calls(partitioned_mod))
    result = OffloadComparison(regions=len(trt_functions(partitioned_mod)))
    for sig in set(total) | set(actual):
        name = sig[0]
        exp, act = expected.get(sig, 0), actual.get(sig, 0)
        slot = result.by_op.setdefault(name, {"expected": 0, "offloaded": 0, "kept": 0, "total": 0})
        slot["expected"] += exp
        slot["offloaded"] += act
        slot["total"] += total.get(sig, act)
        slot["kept"] += max(total.get(sig, act) - act, 0)
        d = reasons.get(sig)
        why = d.reason if d else "not in the original program"
        result.rules[(name, why)] = d.rule if d else "not-in-original"
        if act > exp:
            result.over.extend([(name, why)] * (act - exp))
        elif exp > act:
            result.under.extend([(name, why)] * (exp - act))
    return result
