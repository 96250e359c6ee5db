"""``trt-harness reduce MODEL.onnx -o MIN.onnx``: the smallest model that shows the same departure.

Delta debugging (Zeller's ddmin) over the graph's nodes: a candidate keeps some nodes and is cut
out of the model by :func:`harness.models.subgraph.cut` (cut edges fed with the values the whole
model computes there).  Every candidate is checked by :func:`harness.models.verify.check_model`,
the ``check`` command's own code: the isolated worker (a crash is a departure like any other, never
a lost run) and the build cache.  A candidate is kept when it shows the same departure: the same
check, the same outcome and the same signature (:func:`signature`):

* offload:   the (op, verdict) departure, e.g. ``relax.nn.leaky_relu under-offload``;
* TVM failing (import, partition, build, run) or the worker dying: the error, digits masked;
* preserve / reference, wrong output: the op that makes the first value that differs (in graph
  order) and how (shape, dtype or values); every value is then an output of the candidates
  (``probe``), unless the departure shows only in the whole model as given.

Exit status: 0 written (or nothing to reduce: the model passes), 2 bad input or a departure that
does not reproduce on a second run (nothing written), 3 the harness itself failed.
"""
from __future__ import annotations

import os
import re
import sys
import time

from ..errors import InputError
from .verify import STEPS

EXIT_OK, EXIT_INPUT = 0, 2
DEPARTED = ("fail", "error", "xfail")


class _Stop(Exception):
    """The time budget or the step limit ended the search."""


def _mask(text: str, limit: int = 240) -> str:
    line = " ".join(str(text).split())
    return re.sub(r"\d+", "N", line)[:limit]


def signature(v, check: str, producer: dict) -> tuple | None:
    """The departure ``check`` shows in verdict ``v`` (see the module docstring), or None."""
    from ..pipeline import ORIGINAL, PARTITIONED

    res = v.results.get(check)
    if res is None or res.outcome not in ("fail", "error"):
        return None
    if v.error:
        return (check, res.outcome, "error", _mask(v.error))
    c = v.computed
    for stage in ("build", "partition"):
        if stage in c.failures and (stage == "build" or check != "reference"):
            return (check, res.outcome, "error", _mask(c.failures[stage]))
    if check == "offload" and res.offload is not None:
        deps = frozenset((d.op, verdict) for verdict, items in (("over-offload", res.offload.over),
                                                                ("under-offload", res.offload.under)) for d in items)
        return (check, res.outcome, "offload", deps)
    if check in ("reference", "preserve"):
        got = c.outputs.get((PARTITIONED if check == "preserve" else ORIGINAL, "tvm-llvm"))
        if check == "preserve":
            want = c.outputs.get((ORIGINAL, "tvm-llvm"))
        else:
            cons = v.references.consensus if v.references is not None else None
            want = cons.outputs if cons is not None else None
        for x in (got, want):
            if isinstance(x, str):
                return (check, res.outcome, "error", _mask(x))
        if got is not None and want is not None:
            return (check, res.outcome, "output", _first_difference(got, want, producer))
    return (check, res.outcome, "other", _mask(res.reason, 120))


def _first_difference(got, want, producer: dict) -> tuple:
    import numpy as np

    from .references import compare_outputs

    names = list(producer)
    if len(got) != len(want) or len(got) != len(names):
        return ("outputs", f"{len(got)} outputs, expected {len(want)}")
    diffs = []
    for name, a, e in zip(names, got, want):
        a, e = np.asarray(a), np.asarray(e)
        kind = "shape" if a.shape != e.shape else "dtype" if a.dtype != e.dtype else \
            None if compare_outputs([a], [e]).agree else "values"
        if kind:
            diffs.append((producer[name][0], producer[name][1], kind))
    if not diffs:
        return ("outputs", "no single output differs")
    return min(diffs)[1:]


def shows(target: tuple, sig: tuple | None) -> bool:
    """Whether ``sig`` shows the departure ``target`` (offload: the target's (op, verdict) among its own)."""
    if sig is None or sig[:3] != target[:3]:
        return False
    return target[3] <= sig[3] if target[2] == "offload" else sig == target


def describe(sig: tuple) -> str:
    check, outcome, kind, what = sig
    if kind == "offload":
        what = ", ".join(f"{op} {verdict}" for op, verdict in sorted(what))
    elif kind == "output":
        what = f"the value {what[0]} makes differs ({what[1]})" if what[0] != "outputs" else what[1]
    elif kind == "error":
        what = f"TVM failed: {what}"
    return f"{check} {outcome.upper()}: {what}"


def ddmin(items: list, test) -> list:
    """The smallest sub-list of ``items`` (1-minimal) for which ``test`` holds (it holds for ``items``)."""
    n = 2
    while len(items) >= 2:
        size = -(-len(items) // n)
        chunks = [items[i:i + size] for i in range(0, len(items), size)]
        found = next((c for c in chunks if test(c)), None)
        if found is not None:
            items, n = found, 2
            continue
        if len(chunks) > 2:
            comp = next((x for x in ([y for j, ch in enumerate(chunks) if j != i for y in ch]
                                     for i in range(len(chunks))) if test(x)), None)
            if comp is not None:
                items, n = comp, max(n - 1, 2)
                continue
        if n >= len(items):
            break
        n = min(2 * n, len(items))
    return items


class Search:
    """One reduction: candidates checked, remembered, logged; the smallest that shows it kept."""

    def __init__(self, p, check: str, values: dict, *, budget: float, max_steps: int | None, out=print):
        self.p, self.check, self.values, self.out = p, check, values, out
        self.t0 = time.monotonic()
        self.deadline = self.t0 + budget
        self.max_steps = max_steps
        self.steps = 0
        self.memo: dict = {}
        self.target = None
        self.probe = True
        self.best = list(range(len(p.model.graph.node)))

    def evaluate(self, keep, *, probe: bool | None = None):
        from .subgraph import cut
        from .verify import check_model

        cand = cut(self.p.model, keep, self.values, specs=self.p.specs, probe=self.probe if probe is None else probe)
        if cand is None:
            return None, None
        v = check_model(cand.model, self.p.label, name=self.p.name, specs=cand.specs, inputs=cand.inputs,
                        session_like=self.p.session, steps=(self.check,), reproduce=None)
        return signature(v, self.check, cand.producer), cand

    def test(self, keep) -> bool:
        key = frozenset(keep)
        if key in self.memo:
            return self.memo[key]
        if time.monotonic() >= self.deadline:
            raise _Stop("the time budget")
        if self.max_steps is not None and self.steps >= self.max_steps:
            raise _Stop("the step limit")
        self.steps += 1
        sig, _ = self.evaluate(keep)
        ok = shows(self.target, sig)
        self.memo[key] = ok
        if ok and len(keep) < len(self.best):
            self.best = sorted(keep)
        why = "kept" if ok else "gone" if sig is None else "other: " + describe(sig)[:100]
        self.out(f"step {self.steps:3d}: {len(keep):4d} nodes -> {why}; best {len(self.best)} nodes "
                 f"({time.monotonic() - self.t0:.1f} s)")
        return ok


def reduce_cli(args) -> int:
    """The ``reduce`` subcommand (arguments parsed by harness.cli)."""
    from ..isolate import HarnessBug
    from .command import prepare
    from .subgraph import intermediates
    from .verify import check_model

    if args.check is not None and args.check not in STEPS:
        raise InputError(f"--check: expected one of {', '.join(STEPS)}, got {args.check!r}")
    output = os.path.abspath(args.output)
    if not output.endswith(".onnx"):
        raise InputError(f"-o {args.output}: expected a path ending in .onnx")
    if not os.path.isdir(os.path.dirname(output)):
        raise InputError(f"-o {args.output}: no such directory")
    args.repro_dir = args.repro_dir or os.path.dirname(output)
    t0 = time.monotonic()
    p = prepare(args)
    try:
        steps = (args.check,) if args.check else STEPS
        first = check_model(p.model, p.label, name=p.name, specs=p.specs, inputs=p.inputs, session_like=p.session,
                            steps=steps, reproduce=None)
        order = [c for c in steps if first.judged.get(c) and first.judged[c].unexpected] + \
                [c for c in steps if first.judged.get(c) and first.judged[c].outcome in DEPARTED]
        if not order:
            print(f"nothing to reduce: {p.name} shows no departure ({', '.join(steps)})")
            return EXIT_OK
        check = order[0]
        values = intermediates(p.model, p.inputs)
        search = Search(p, check, values, budget=args.budget, max_steps=args.max_steps)
        everything = search.best
        plain_sig, _ = search.evaluate(everything, probe=False)
        if plain_sig is None or plain_sig[1] != first.results[check].outcome:
            print(f"trt-harness: error: {p.name}: the {check} departure does not reproduce on a second run "
                  f"(first: {first.results[check].outcome}, then: {describe(plain_sig) if plain_sig else 'none'}); flaky or input-dependent, "
                  "nothing written", file=sys.stderr)
            return EXIT_INPUT
        probe_sig, _ = search.evaluate(everything, probe=True) if plain_sig[2] == "output" else (None, None)
        search.probe = probe_sig is not None and probe_sig[:3] == plain_sig[:3]
        target = probe_sig if search.probe else plain_sig
        if target[2] == "offload":      # one root cause at a time: the first (op, verdict)
            target = target[:3] + (frozenset([min(target[3])]),)
        search.target = target
        search.memo[frozenset(everything)] = True
        n0 = len(everything)
        print(f"reduce {p.name}: {n0} nodes; keeping {describe(target)}")
        ended = "1-minimal: no single node can go"
        try:
            ddmin(everything, search.test)
        except _Stop as stop:
            ended = f"{stop} ended it (smallest so far written)"
        final_sig, cand = search.evaluate(search.best)
        _write(cand, output)
        stem = os.path.splitext(os.path.basename(output))[0]
        v = check_model(cand.model, output, name=stem, specs=cand.specs, inputs=cand.inputs, session_like=p.session,
                        steps=(check,), model_path=output, reproduce="all")
        repro = v.reproducers.get(check, "(none)")
    except HarnessBug as exc:
        print(f"trt-harness: internal error (a bug of the harness): {str(exc).strip().splitlines()[-1]}",
              file=sys.stderr)
        return 3
    finally:
        p.session.close()
    kept = "kept" if shows(target, final_sig) else "NOT kept by the final model (report this)"
    print(f"wrote {output} and {output[:-5]}.inputs.npz; reproducer: {repro}")
    print(f"summary: {n0} -> {len(search.best)} nodes ({', '.join(n.op_type for n in cand.model.graph.node)}); "
          f"departure {kept}: {describe(target)}; {search.steps} steps, {time.monotonic() - t0:.1f} s; {ended}")
    return EXIT_OK


def _write(cand, output: str) -> None:
    """MIN.onnx and MIN.inputs.npz (``check --input`` reads it), each written whole, then renamed."""
    import numpy as np

    tmp = output + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(cand.model.SerializeToString())
    os.replace(tmp, output)
    npz = output[:-5] + ".inputs.npz"
    with open(npz + ".tmp", "wb") as fh:
        np.savez(fh, **cand.inputs)
    os.replace(npz + ".tmp", npz)
