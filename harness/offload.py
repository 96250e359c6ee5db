"""Actual offload: which op calls the installed partitioner put into TensorRT functions, and the
comparison of that with the expected offload of :mod:`harness.rules`."""
from __future__ import annotations

from collections import Counter

from . import rules
from .records import Decision, Departure, Offload


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


def compare_offload(original_mod, partitioned_mod, *, trt_version, implicit_batch=None) -> Offload:
    """Expected against actual offload per op type (a model may hold many calls of one op).

    Calls are matched by signature (op, input types, attributes), so two calls of one op that the
    rules judge differently are told apart.  Each distinct decision is listed once with its count."""
    expected, total, decided = Counter(), Counter(), {}
    for call in all_calls(original_mod):
        d = rules.decide(call, trt_version=trt_version, implicit_batch=implicit_batch)
        sig = rules.signature(call)
        total[sig] += 1
        decided[sig] = d
        if d.offload:
            expected[sig] += 1
    actual = Counter(rules.signature(c) for c in trt_calls(partitioned_mod))
    out = Offload(verdict="match", regions=len(trt_functions(partitioned_mod)))
    decisions: Counter = Counter()
    over: Counter = Counter()
    under: Counter = Counter()
    for sig in sorted(set(total) | set(actual), key=repr):
        name = sig[0]
        exp, act, tot = expected.get(sig, 0), actual.get(sig, 0), total.get(sig, actual.get(sig, 0))
        out.expected[name] = out.expected.get(name, 0) + exp
        out.actual[name] = out.actual.get(name, 0) + act
        out.total[name] = out.total.get(name, 0) + tot
        d = decided.get(sig)
        if d is not None:
            decisions[(name, d.offload, d.rule, d.reason, d.source)] += total[sig]
        why, rule = (d.reason, d.rule) if d else ("not in the original program", "not-in-original")
        if act > exp:
            over[(name, why, rule)] += act - exp
        elif exp > act:
            under[(name, why, rule)] += exp - act
    out.decisions = [Decision(op=o, offload=f, rule=r, reason=w, source=s, count=n)
                     for (o, f, r, w, s), n in decisions.items()]
    out.over = [Departure(op=o, reason=w, rule=r, count=n) for (o, w, r), n in over.items()]
    out.under = [Departure(op=o, reason=w, rule=r, count=n) for (o, w, r), n in under.items()]
    out.verdict = "over-offload" if out.over else "under-offload" if out.under else "match"
    return out
