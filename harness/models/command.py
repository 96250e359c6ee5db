"""``trt-harness check MODEL.onnx``: the command around :func:`harness.models.verify.check_model`.

Exit status:

* 0 - PASS: every check passed (or KNOWN with ``--known-ok``: every departure is a known one);
* 1 - FAIL: a new departure (TVM crashing counts), or KNOWN without ``--known-ok``;
* 2 - bad input (the model, an op TVM cannot import, an input or ``--expected`` file, an option):
  one line on stderr;
* 3 - the harness itself failed (one line, the traceback in a file);
* 4 - INCONCLUSIVE: no new departure, but the reference check has no verdict (the references
  disagree and no stored outputs settle it, none could run, or fewer than ``--min-references``
  agree).

The output ends with one closing line that says which of these it is (:func:`closing`).
"""
from __future__ import annotations

import os
import sys

from ..errors import InputError
from ..records import Record
from .verify import STEPS, ModelVerdict, check_model, model_name, require_onnx

EXIT_OK, EXIT_FOUND, EXIT_BUG, EXIT_INCONCLUSIVE = 0, 1, 3, 4


def records_of(v: ModelVerdict, *, case_id: str) -> list[Record]:
    """One record per check of the model (op ``model:<name>``), as the op suites write them."""
    from ..versions import format_version

    out = []
    shapes = [list(spec[0]) for spec in v.specs.values()]
    dtypes = ",".join(sorted({str(spec[1]) for spec in v.specs.values()}))
    for check in [c for c in STEPS if c in v.results]:
        res, j = v.results[check], v.judged[check]
        cmp = res.comparison
        has = cmp is not None
        out.append(Record(
            op=f"model:{v.name}", check=check, outcome=j.outcome, case_id=case_id, suite="models", reason=j.reason,
            error_kind=res.error_kind if j.outcome == "error" else None, dtype=dtypes, input_shapes=shapes,
            trt_version=format_version(v.trt_version), expectation=j.expectation.id if j.expectation else None,
            offload=res.offload, max_abs_err=cmp.max_abs_err if has else None,
            max_rel_err=cmp.max_rel_err if has else None, tolerance=cmp.tolerance if has else None,
            min_tolerance=cmp.min_tolerance if has else None, nan_inf_agree=cmp.nan_inf_agree if has else None,
            backend=res.backend, reference=res.reference, reproducer=v.reproducers.get(check),
            duration_s=v.timings.get("total_s"),
            details={**res.details, "source": v.source, "stage_timings_s": dict(v.timings)}))
    return out


def format_verdict(v: ModelVerdict) -> str:
    lines = [f"model {v.name} ({v.source}); TensorRT {'.'.join(map(str, v.trt_version))}, "
             f"{'implicit' if v.implicit_batch else 'explicit'} batch",
             "inputs: " + ", ".join(f"{k} {tuple(s)} {d}" for k, (s, d) in v.specs.items())]
    c = v.computed
    if c is not None and c.stats:
        st = c.stats
        lines.append(f"partition: {st['trt_subgraphs']} TensorRT subgraph(s), {st['ops_offloaded']} op call(s) "
                     f"offloaded, {st['ops_kept']} kept on TVM")
    if c is not None and c.offload is not None:
        off = c.offload
        ops = sorted(off.total)
        if ops:
            w = max(len(o) for o in ops)
            lines.append(f"  {'op'.ljust(w)}  total expected offloaded  verdict")
            for o in ops:
                why = [f"{kind}: {d.reason}" for kind, items in (("over", off.over), ("under", off.under))
                       for d in items if d.op == o]
                verdict = "match" if not why else why[0].split(":")[0] + "-offload"
                lines.append(f"  {o.ljust(w)}  {off.total.get(o, 0):5d} {off.expected.get(o, 0):8d} "
                             f"{off.actual.get(o, 0):9d}  {verdict}{'  (' + why[0].split(': ', 1)[1] + ')' if why else ''}")
    from .symbolic import line

    if c is not None and line(c.symbolic):
        lines.append(line(c.symbolic))
    if v.references is not None:
        lines.append("references: " + "; ".join(v.references.lines()))
    for check in STEPS:
        if check not in v.judged:
            continue
        j, res = v.judged[check], v.results[check]
        err = f" max_abs_err={res.comparison.max_abs_err:.3g}" if res.comparison is not None else ""
        reason = j.reason if len(j.reason) <= 700 else j.reason[:700] + " ... (full reason in --results)"
        lines.append(f"{check:9s} {j.outcome.upper():5s}{err}  {reason}")
        if check in v.reproducers:
            lines.append(f"          reproducer: {v.reproducers[check]}")
    lines.append("timings (s): " + ", ".join(f"{k[:-2]}={t:.2f}" for k, t in v.timings.items()))
    return "\n".join(lines)


def frontend_cannot_import(model) -> list[str]:
    """ONNX op types the installed TVM's frontend has no converter for (the model is out of scope:
    bad input, not a departure)."""
    try:
        from tvm.relax.frontend.onnx.onnx_frontend import _get_convert_map
    except Exception:  # pragma: no cover - another frontend layout: let the import itself say
        return []
    known = set(_get_convert_map())
    return sorted({n.op_type if n.domain in ("", "ai.onnx") else f"{n.op_type} (domain {n.domain})"
                   for n in model.graph.node if n.op_type not in known})


def dynamic_notes(model, specs: dict, given: dict, chosen=()) -> list[str]:
    """``N: dynamic, set to 1; choose with --dim N=8`` for each dynamic dimension the generated
    inputs fix (named ones once, unnamed ones as INPUT:AXIS)."""
    from .onnx_io import declared_inputs

    out: dict[str, str] = {}
    for name, d in declared_inputs(model).items():
        if name in given or not d.dims or name not in specs:
            continue
        for axis, dd in enumerate(d.dims):
            if isinstance(dd, int):
                continue
            key = dd if isinstance(dd, str) else f"{name}:{axis}"
            if key in chosen or f"{name}:{axis}" in chosen:
                continue
            value = specs[name][0][axis]
            out.setdefault(key, f"{key}: dynamic, set to {value}; choose with --dim {key}={max(8, value * 2)}")
    return list(out.values())


def closing(v: ModelVerdict, known_ok: bool) -> tuple[str, int]:
    """The closing verdict line and the exit code (see the module docstring)."""
    bug = [c for c, r in v.results.items() if r.error_kind == "harness"]
    new = v.new
    inconclusive = [c for c, r in v.results.items() if r.details.get("inconclusive")]
    known = v.known
    if bug:
        return f"verdict: ERROR  the harness itself failed in {', '.join(bug)} (exit 3)", EXIT_BUG
    if new:
        return (f"verdict: FAIL  new departure(s) in {', '.join(new)} (exit 1: a departure nobody "
                "expected; see the reproducer)"), EXIT_FOUND
    if inconclusive:
        r = v.results[inconclusive[0]]
        return (f"verdict: INCONCLUSIVE  {', '.join(inconclusive)} could not be judged: "
                f"{r.reason.split(';')[0][:200]} (exit 4: no new departure, no verdict either)"), EXIT_INCONCLUSIVE
    if known:
        ids = sorted({j.expectation.id for j in v.judged.values() if j.outcome == "xfail" and j.expectation})
        code = EXIT_OK if known_ok else EXIT_FOUND
        tail = "exit 0: --known-ok accepts them" if known_ok else "exit 1; --known-ok would accept them and exit 0"
        return f"verdict: KNOWN  only known departures in {', '.join(known)} ({', '.join(ids)}) ({tail})", code
    return "verdict: PASS  every check that ran passed (exit 0)", EXIT_OK


def _dims(items) -> dict:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InputError(f"--dim expects NAME=VALUE, got {item!r}")
        try:
            out[name] = int(value)
        except ValueError:
            raise InputError(f"--dim {name}: expected an integer, got {value!r}") from None
    return out


def prepare(args):
    """What ``check`` and ``reduce`` share: the model, its inputs (given, stored beside it or
    generated) and a started :class:`~harness.session.Session`.  InputError on bad input."""
    from types import SimpleNamespace

    from .. import options as O
    from ..builds import DEFAULT_CACHE_DIR
    from ..session import Session, Settings
    from . import onnx_io
    from .domains import generate_inputs
    from .input_files import load_inputs

    require_onnx()
    target = O.target(lambda name: getattr(args, O.dest(name), None))
    model, label = onnx_io.load_model(args.model)
    unsupported = frontend_cannot_import(model)
    if unsupported:
        raise InputError(f"{label}: not importable: TVM's ONNX frontend cannot import op(s): {', '.join(unsupported)}")
    min_refs = getattr(args, "min_references", 1)
    if min_refs < 1:
        raise InputError(f"--min-references must be at least 1, got {min_refs}")
    given = load_inputs(args.input, model) if args.input else {}
    stored = None
    expected = getattr(args, "expected", None) or []
    if expected:
        from .onnx_io import declared_inputs
        from .stored import load_expected

        if set(declared_inputs(model)) - set(given):
            raise InputError(f"{label}: --expected needs the inputs its outputs were computed from: give every input "
                             f"with --input ({', '.join(sorted(set(declared_inputs(model)) - set(given)))} missing)")
        stored = ("stored outputs (--expected)", given, load_expected(expected, model))
        print("references: the stored outputs given with --expected join the references (and settle a disagreement)")
    elif not given and not args.dim and os.path.isfile(os.fspath(args.model)):
        from .mxnet_resnet import stored_io
        from .stored import ONNX_TEST_DATA, onnx_test_data

        stored = stored_io(args.model)    # an exported model: the framework's own input and output
        if stored:
            print(f"inputs: stored beside the model with {stored[0]}'s outputs, which join the references")
        else:
            data = onnx_test_data(args.model, model)
            if data:
                stored = (f"stored outputs ({ONNX_TEST_DATA})", *data)
                print(f"inputs: onnx's {ONNX_TEST_DATA} beside the model, whose outputs join the references")
        if stored:
            given = stored[1]
    try:
        specs = onnx_io.input_specs(model, dims=_dims(args.dim), dim_value=args.dim_value, given=given)
        inputs = {**generate_inputs(model, specs, seed=args.seed, given=given), **given}
    except InputError as exc:
        raise InputError(f"{label}: {exc}") from None
    notes = dynamic_notes(model, specs, given)
    for note in dynamic_notes(model, specs, given, _dims(args.dim)):
        print(f"inputs: {note}")
    cache = getattr(args, "trt_build_cache", "auto") or "auto"
    results = getattr(args, "results", None)
    repro_dir = args.repro_dir or os.path.join(os.path.dirname(os.path.abspath(results)) if results
                                               else "reports", "repro")
    settings = Settings(target=target, backend=args.trt_backend, reference=args.trt_reference,
                        timeout=float(args.trt_timeout), repro_dir=repro_dir,
                        build_cache=None if cache == "off" else DEFAULT_CACHE_DIR if cache == "auto" else cache)
    session = Session(settings)
    session.start_worker()
    return SimpleNamespace(model=model, label=label, specs=specs, inputs=inputs, stored=stored, session=session,
                           repro_dir=repro_dir, name=model_name(label, model), min_refs=min_refs, notes=notes)


def check_cli(args) -> int:
    """The ``check`` subcommand (arguments parsed by harness.cli)."""
    from ..isolate import HarnessBug
    from ..results import ResultsWriter, environment, header

    steps = tuple(x.strip() for x in args.steps.split(",") if x.strip())
    if not steps or set(steps) - set(STEPS):
        raise InputError(f"--steps: expected some of {', '.join(STEPS)}, got {args.steps!r}")
    p = prepare(args)
    model, label, specs, inputs, stored, session = p.model, p.label, p.specs, p.inputs, p.stored, p.session
    repro_dir, target = p.repro_dir, session.settings.target
    name = model_name(label, model)
    try:
        v = check_model(model, label, name=name, specs=specs, inputs=inputs, session_like=session, steps=steps,
                        model_path=os.fspath(args.model), source=stored[0] if stored else None,
                        source_outputs=stored[2] if stored else None, min_references=p.min_refs,
                        dynamic=bool(p.notes))
    except HarnessBug as exc:
        print(f"trt-harness: internal error (a bug of the harness): {str(exc).strip().splitlines()[-1]}",
              file=sys.stderr)
        return EXIT_BUG
    finally:
        session.close()
    print(format_verdict(v))
    case_id = f"{name}-seed{args.seed}"
    if args.results or args.report:
        path = args.results or os.path.join(repro_dir, f"{name}.jsonl")
        if os.path.exists(path):
            os.remove(path)
        w = ResultsWriter(path, header(suite="models", env=environment(trt_version=".".join(map(str, v.trt_version))),
                                       label=f"check {name}", expectations=target.expectations))
        for rec in records_of(v, case_id=case_id):
            w.write(rec)
        w.close()
        print(f"results: {path}")
        if args.report:
            from .. import report

            print(f"report: {report.write([path], args.report, title=f'trt-harness check {name}')}")
    line, code = closing(v, args.known_ok)
    print(line)
    return code
