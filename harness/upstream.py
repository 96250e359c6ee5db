"""Findings ready to file upstream: one Markdown page per root cause (``trt-harness upstream``).

Departures (records that fail, error or are known: xfail) of one or more results files are grouped
by root cause (harness/data/upstream.toml: through the known departure that matched them, or a
pattern for records none covers; the rest by their error, digits masked), across ops and checks.
Each page: a title in TVM's issue style, the TVM version and build (and TensorRT where it ran),
where in TVM's source it comes from (resolved in the installed TVM), how many cases and ops show
it, whether it is new since a baseline run (the last version gated), expected vs actual, and the
smallest standalone reproducer (TVM and NumPy only; it exits 1 while the bug is there), quoted.

Records of a ``--trt-no-expectations`` run (no expectation recorded) are put with the known
departure a normal run would match them with (:func:`known_as`, the judging code of a run).
"""
from __future__ import annotations

import dataclasses
import functools
import os

from .causes import CAUSES_PATH, Cause, cause_of, load_causes

DEPARTED = ("fail", "error", "xfail")
EXPECTED = {
    "offload": "partition_for_tensorrt offloads exactly the calls TensorRT's converters take (the support "
               "table and the converter rules at the targeted TensorRT version)",
    "preserve": "the partitioned program computes what the original program computes (both built by TVM for LLVM)",
    "reference": "TVM's build agrees with an independent reference (NumPy, or ONNX Runtime and onnx's evaluator "
                 "agreeing with each other)",
    "tensorrt": "the system under test (TensorRT, or TVM's CUDA build where TensorRT is absent) agrees with its "
                "reference backend",
}


@dataclasses.dataclass
class Group:
    cause: Cause
    records: list = dataclasses.field(default_factory=list)     # (run, record)

    @property
    def ops(self) -> list[str]:
        return sorted({r.op for _, r in self.records})

    @property
    def cases(self) -> int:
        return len({(r.op, r.case_id) for _, r in self.records})

    @property
    def checks(self) -> list[str]:
        return sorted({r.check for _, r in self.records})


def known_as(rec, env: dict, exps: list, *, recorded: bool = True) -> str:
    """The expectation a normal run would match ``rec`` with, or NEW (a ``--trt-no-expectations``
    run records none; model and fuzz records are judged by their own commands).  ``recorded``:
    trust the id the record names (False: judge again, e.g. an old file's ``#2``)."""
    from . import expectations as E
    from .rejudge import raw_outcome, where_and_what

    if rec.expectation and recorded:
        return rec.expectation
    if rec.op.startswith(("model:", "fuzz:")):
        return "NEW"
    ctx, subject = where_and_what(rec, env)
    raw = raw_outcome(rec, {}) or ("error", "crash")      # a held pair: a known crash never run again
    judged = E.judge(raw[0], rec.reason, subject, ctx, exps, error_kind=raw[1])
    return judged.expectation.id if judged.expectation and judged.outcome == "xfail" else "NEW"


def group(runs, causes: list[Cause]) -> dict[str, Group]:
    """cause id -> its departures, across runs, ops and checks."""
    exps = None
    ids = {e for c in causes for e in c.expectations}
    out: dict[str, Group] = {}
    for run in runs:
        for rec in run.records:
            if rec.outcome not in DEPARTED:
                continue
            known = rec.expectation if rec.expectation in ids or rec.expectation in run.expectations else None
            if known is None and not rec.op.startswith(("model:", "fuzz:")):
                if exps is None:
                    from .expectations import load_default

                    exps = load_default()
                known = known_as(rec, run.env, exps, recorded=False)
            c = cause_of(rec, causes, None if known == "NEW" else known)
            out.setdefault(c.id, Group(c)).records.append((run, rec))
    return out


@functools.lru_cache(maxsize=None)
def _tree(path: str):
    import ast

    with open(path, encoding="utf-8") as fh:
        return ast.parse(fh.read()).body


@functools.lru_cache(maxsize=None)
def resolve(where: str) -> str:
    """``py:MODULE:NAME`` -> ``python/tvm/...py:LINE (NAME)`` in the installed TVM (else as given).
    Read from the source with ``ast``: TVM itself is not imported (seconds of a page run)."""
    if not where.startswith("py:"):
        return where
    import ast
    import importlib.util

    _, module, name = where.split(":", 2)
    top, *parts = module.split(".")
    try:
        base = importlib.util.find_spec(top).submodule_search_locations[0]
        path = os.path.join(base, *parts) + ".py"
        if not os.path.isfile(path):
            path = os.path.join(base, *parts, "__init__.py")
        body = _tree(path)
        node = None
        for part in name.split("."):
            node = next(n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                        and n.name == part)
            body = node.body
        line = min([node.lineno] + [d.lineno for d in node.decorator_list])
    except Exception as exc:   # moved in this TVM: say so, keep the page
        return f"{module}:{name} (not found in the installed TVM: {type(exc).__name__})"
    return f"python/{top}/{os.path.relpath(path, base)}:{line} ({name})"


def _reproducers(g: Group, root: str) -> list[str]:
    paths = []
    for run, r in g.records:
        for p in (r.reproducer, run.expectations[r.expectation].reproducer if r.expectation in run.expectations
                  else None):
            if p and p.endswith(".py"):
                full = p if os.path.isabs(p) else os.path.join(root, p)
                if os.path.isfile(full) and full not in paths:
                    paths.append(full)
    return sorted(paths, key=lambda p: (_size(p), p))


def _size(script: str) -> int:
    """How big the reproducer's program is: its TVMScript's length, else (an ONNX model) 10**6 + the
    model file's size, so that a TVMScript reproducer comes first."""
    src, model = _program(script)
    return len(src) if src else 10**6 + model if model is not None else 10**9


def _program(script: str) -> tuple[str | None, int | None]:
    """(the TVMScript SOURCE, the size of the MODEL file) of a reproducer written by harness/repro.py."""
    import ast

    src = model = None
    try:
        tree = ast.parse(open(script, encoding="utf-8").read())
    except (OSError, SyntaxError):
        return None, None
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and \
                isinstance(node.value, ast.Constant):
            if node.targets[0].id == "SOURCE":
                src = node.value.value
            elif node.targets[0].id == "MODEL" and node.value.value:
                path = os.path.join(os.path.dirname(script), node.value.value)
                model = os.path.getsize(path) if os.path.isfile(path) else None
    return src, model


def _onnx_text(script: str) -> str | None:
    import ast

    for node in ast.parse(open(script, encoding="utf-8").read()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "MODEL" and \
                isinstance(node.value, ast.Constant) and node.value.value:
            try:
                import onnx
                import onnx.printer

                g = onnx.load(os.path.join(os.path.dirname(script), node.value.value)).graph
                weights = [f"{t.name} {list(t.dims)}" for t in g.initializer]
                del g.initializer[:]          # their values stay in the .onnx file
                return (f"# weights (values in the .onnx file): {', '.join(weights)}\n" if weights else "") + \
                    onnx.printer.to_text(g)
            except Exception:
                return None
    return None


def _build(env: dict) -> str:
    parts = [f"{env.get('tvm_version') or '?'}"]
    parts.append("with the TensorRT codegen and runtime" if env.get("tvm_has_tensorrt_codegen") and
                 env.get("tvm_has_tensorrt_runtime") else "built without the TensorRT codegen/runtime")
    if env.get("cuda_available"):
        parts.append(f"CUDA on {env.get('gpu') or 'a GPU'}")
    else:
        parts.append("CPU only (LLVM)")
    return ", ".join(parts) + f"; Python {env.get('python', '?')}, NumPy {env.get('numpy', '?')}"


def _trt(env: dict) -> str:
    if env.get("tensorrt_version"):
        return f"TensorRT {env['tensorrt_version']} ran (targeted {env.get('trt_version')})"
    why = env.get("tensorrt_absent_reason") or "not present"
    return f"did not run ({why}); rules judged for TensorRT {env.get('trt_version') or '?'}"


def render(g: Group, *, root: str, out_dir: str, baseline_causes: set | None, baseline_label: str = "") -> str:
    cause = g.cause
    run0, rec0 = g.records[0]
    repros = _reproducers(g, root)
    if baseline_causes is None:
        new = "not compared (no baseline run given)"
    elif cause.id in baseline_causes:
        new = f"no: the baseline ({baseline_label}) shows it too"
    else:
        new = f"**yes**: the baseline ({baseline_label}) does not show it"
    exps = sorted({r.expectation for _, r in g.records if r.expectation})
    ops = g.ops
    lines = [f"# {cause.title}", "",
             "| | |", "|---|---|",
             f"| TVM | {'; '.join(dict.fromkeys(_build(run.env) for run, _ in g.records))} |",
             f"| TensorRT | {'; '.join(dict.fromkeys(_trt(run.env) for run, _ in g.records))} |",
             f"| Seen in | {g.cases} case(s) of {len(ops)} op(s) / model(s): {', '.join(f'`{o}`' for o in ops[:12])}"
             f"{' ...' if len(ops) > 12 else ''}; checks: {', '.join(g.checks)} |",
             f"| Comes from | {'; '.join(f'`{resolve(w)}`' for w in cause.where) or 'not located yet'}"
             f"{' (where it fails: the first suspect)' if cause.suspect else ''} |",
             f"| New since the last version gated | {new} |",
             f"| Known departure | {', '.join(f'`{e}`' for e in exps) or 'none: a new departure'} |", ""]
    lines += ["## What happens", ""]
    said = []
    for e in exps:
        k = run0.expectations.get(e) or next((r.expectations.get(e) for r, _ in g.records if e in r.expectations),
                                             None)
        if k is not None and k.reason not in said:
            said.append(k.reason)
    lines += [f"- {s}" for s in said] or [f"- {rec0.reason[:600]}"]
    lines += ["", "## Expected vs actual", ""]
    for check in g.checks:
        rec = next(r for _, r in g.records if r.check == check)
        actual = rec.reason.rsplit(" | ", 1)[-1] if rec.reason.startswith("known departure") else rec.reason
        lines += [f"- **{check}**, expected: {EXPECTED.get(check, check)}.",
                  f"  Actual (`{rec.op}`, case `{rec.case_id}`): {' '.join(actual.split())[:500]}"]
    lines += ["", "## Reproducer", ""]
    if repros:
        script = repros[0]
        rel = os.path.relpath(script, out_dir)
        src, _ = _program(script)
        needs = "TVM and NumPy only" if src else "TVM, NumPy and onnx (to read the model)"
        lines += [f"[`{os.path.relpath(script, root)}`]({rel}) ({needs}; `python {os.path.basename(script)}` "
                  "exits 1 while the bug is there, 0 once it is fixed). The program:", ""]
        if src:
            lines += ["```python", src.rstrip(), "```"]
        else:
            text = _onnx_text(script)
            lines += ["```", (text or "(the ONNX model beside the script)").rstrip(), "```"]
    else:
        lines += ["No reproducer file in these results; `trt-harness reduce` (a model) or a `--trt-no-expectations` "
                  "run (an op) writes one."]
    lines += ["", "## Cases", "", "| op / model | check | case | outcome |", "|---|---|---|---|"]
    seen = set()
    for _, r in g.records:
        if (r.op, r.check) in seen:
            continue
        seen.add((r.op, r.check))
        lines.append(f"| `{r.op}` | {r.check} | `{r.case_id}` | {r.outcome} |")
        if len(seen) >= 15:
            lines.append(f"| ... | | | ({len(g.records) - 15} more records) |")
            break
    lines += ["", f"Results: {', '.join(sorted({p for run, _ in g.records for p in run.paths}))}. "
              "Written by `trt-harness upstream` (harness/upstream.py); causes: harness/data/upstream.toml.", ""]
    return "\n".join(lines)


def write_pages(results: list[str], out_dir: str, *, baseline: str | None = None, root: str = ".",
                causes_path: str = CAUSES_PATH) -> list[tuple[str, Group]]:
    """Write one page per root cause and an index (README.md) into ``out_dir``; returns (path, group)."""
    from .reader import load_many, load_results

    causes = load_causes(causes_path)
    runs = load_many(results)
    groups = group(runs, causes)
    base = None
    label = ""
    if baseline:
        b = load_results(baseline)
        base = set(group([b], causes))
        label = f"{os.path.basename(baseline)}, TVM {b.env.get('tvm_version', '?')}"
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for cid in sorted(groups, key=lambda c: (-groups[c].cases, c)):
        path = os.path.join(out_dir, f"{cid}.md")
        text = render(groups[cid], root=root, out_dir=out_dir, baseline_causes=base, baseline_label=label)
        with open(path + ".tmp", "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(path + ".tmp", path)
        written.append((path, groups[cid]))
    index = ["# Findings ready to file upstream", "",
             f"One page per root cause, from {', '.join(results)} (`trt-harness upstream`).", ""]
    for path, g in written:
        index.append(f"- [{g.cause.title}]({os.path.basename(path)}): {g.cases} case(s), {len(g.ops)} op(s)/model(s), "
                     f"{', '.join(g.checks)}")
    with open(os.path.join(out_dir, "README.md"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(index) + "\n")
    return written


def upstream_cli(args) -> int:
    written = write_pages(args.results, args.output, baseline=args.baseline, root=args.root)
    for path, g in written:
        print(f"{path}: {g.cause.title} ({g.cases} cases, {len(g.ops)} ops)")
    print(f"wrote {len(written)} page(s) and {os.path.join(args.output, 'README.md')}")
    return 0
