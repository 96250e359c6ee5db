"""``trt-harness``: run the suites, gate two runs, render a report, merge shards, check a model,
fuzz, export timings, diagnose the machine.

Every subcommand's arguments are defined here; the shared ``--trt-*`` options come from
:mod:`harness.options`, spelled as in the pytest plugin.  One error path: a
:class:`~harness.errors.HarnessError` (bad input, missing file, unknown version...) is one line
on stderr and exit 2; anything else is a bug of the harness: one line, the traceback in a file,
exit 3.  Commands that judge something exit 0 (clean) or 1 (a regression or new departure).
``run`` passes pytest's status through, except that pytest's usage error (4: a bad option or
expectations file) and "no tests collected" (5) become 2, an interrupted run (Ctrl-C, SIGTERM)
exits 130, and a run stopped because every card of a kind was lost exits 75 (as pytest does:
:data:`harness.runner.LOST_EXIT`).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import traceback

from . import options as O
from .errors import HarnessError, InputError, did_you_mean

SUITES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "suites")
EXIT_OK, EXIT_FOUND, EXIT_INPUT, EXIT_BUG, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, through the one error path
        raise InputError(f"{self.prog}: {message}")


def parse_fraction(text: str) -> float:
    """'10%' -> 0.10; '0.1' -> 0.1; a bare number above 1 is ambiguous and refused."""
    s = text.strip()
    try:
        value = float(s[:-1]) / 100 if s.endswith("%") else float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a percentage: {text!r} (write e.g. 10% or 0.10)") from None
    if not s.endswith("%") and value > 1:
        raise argparse.ArgumentTypeError(f"ambiguous fraction {text!r}: write {s}% or {value / 100:g}")
    if value < 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a non-negative percentage: {text!r}")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a non-negative number: {text!r}")
    return value


# -- subcommands -----------------------------------------------------------------------------------
def _run(args, rest: list[str]) -> int:
    get = lambda name: getattr(args, O.dest(name))  # noqa: E731
    O.selection(get)             # before pytest, TVM or a case is imported or drawn
    unknown = O.unknown_option(rest)
    if unknown:
        raise InputError(unknown)
    target = os.path.join(SUITES, args.suite) if os.path.isdir(os.path.join(SUITES, args.suite)) else args.suite
    if not os.path.isdir(target):
        suites = sorted(d for d in os.listdir(SUITES) if os.path.isdir(os.path.join(SUITES, d)))
        raise InputError(f"no suite {args.suite!r}{did_you_mean(args.suite, suites)} (suites: {', '.join(suites)}; "
                         "or a folder of tests)")
    import pytest

    os.makedirs(os.path.dirname(args.junitxml) or ".", exist_ok=True)
    code = int(pytest.main([target, f"--junitxml={args.junitxml}", "-o", "junit_family=xunit2", *rest,
                            *O.to_argv(get)]))
    if code == pytest.ExitCode.INTERRUPTED:    # Ctrl-C or SIGTERM: its last line says how to finish it
        return EXIT_INTERRUPTED
    return EXIT_INPUT if code in (pytest.ExitCode.USAGE_ERROR, pytest.ExitCode.NO_TESTS_COLLECTED) else code


def _gate(args, rest) -> int:
    from .gate import Gate
    from .reader import load_results

    gate = Gate(args.max_slowdown, args.noise_k, args.acc_factor, args.acc_budget, args.max_rate_drop, args.timing,
                allow_different_cases=args.allow_different_cases)
    baseline, current = load_results(args.baseline), load_results(args.current)
    for w in baseline.warnings + current.warnings:
        print(f"trt-harness: warning: {w}", file=sys.stderr)
    verdict = gate.compare(baseline, current)
    print(verdict.to_text(limit=None if args.all else 50))
    if args.json:
        text = json.dumps(verdict.to_json(), indent=2, sort_keys=True, default=str)
        if args.json == "-":
            print(text)
        else:
            _write_text(args.json, text + "\n")
    return EXIT_FOUND if verdict.regressed else EXIT_OK


def _report(args, rest) -> int:
    from . import report

    paths = ([args.baseline] if args.baseline else []) + list(args.results)
    out = report.write(paths, args.output, title=args.title)
    if not args.quiet:
        print(f"wrote {out} ({os.path.getsize(out) / 1e6:.2f} MB)")
    return EXIT_OK


def _merge(args, rest) -> int:
    from .results import merge_files

    n, warnings = merge_files(args.results, args.output, label=args.label)
    for w in warnings:
        print(f"trt-harness: warning: {w}", file=sys.stderr)
    print(f"wrote {args.output}: {n} records from {len(args.results)} file(s)")
    return EXIT_OK


def _benchjson(args, rest) -> int:
    from . import benchjson

    n, notes = benchjson.write(args.results, args.output)
    print(f"wrote {args.output}: {n} benchmarks" + "".join(f"; {note}" for note in notes))
    return EXIT_OK


def _plan(args, rest) -> int:
    """Write a plan file: the cases of a results file, or those Hypothesis draws for a profile and seed."""
    from . import replay

    if args.results:
        plan = replay.load(args.results)
        if args.ops:
            plan.cases = {op: cs for op, cs in plan.cases.items() if op in set(args.ops.split(","))}
    else:
        from types import SimpleNamespace

        from . import plan as plans
        from . import profiles
        from .table import BY_NAME, OPS

        ops = {o.strip() for o in (args.ops or "").split(",") if o.strip()}
        if ops - set(BY_NAME):
            raise InputError(f"--ops: unknown ops {sorted(ops - set(BY_NAME))}; see harness/table.py")
        profiles.use(args.profile)
        seed = args.seed if args.seed is not None else 0
        entries = [e for e in OPS if e.runnable and (not ops or e.name in ops)]
        plan = replay.Plan(plans.cached_cases(entries, SimpleNamespace(seed=seed, build_cache=None, profile=args.profile)),
                           f"drawn: profile {args.profile}, seed {seed}")
    replay.write(plan, args.output)
    print(f"wrote {args.output}: plan {plan.hash}, {plan.n_cases()} cases of {len(plan.cases)} ops")
    return EXIT_OK


def _check(args, rest) -> int:
    from .models import command

    return command.check_cli(args)


def _reduce(args, rest) -> int:
    from .models import reduce

    return reduce.reduce_cli(args)


def _upstream(args, rest) -> int:
    from . import upstream

    return upstream.upstream_cli(args)


def _fuzz(args, rest) -> int:
    from .fuzz import run

    return run.fuzz_cli(args)


def _doctor(args, rest) -> int:
    from .backends import available_backends, get_backend
    from .results import environment
    from .table import OPS

    print(json.dumps(environment(), indent=2, sort_keys=True))
    for name in sorted(available_backends()):
        reason = get_backend(name).unavailable_reason()
        print(f"backend {name:10s} {'can run' if reason is None else 'cannot run: ' + reason}")
    try:
        import cupti  # noqa: F401

        print("CUPTI (cupti-python): importable; device times come from the GPU")
    except Exception as exc:
        print(f"CUPTI (cupti-python): not importable ({type(exc).__name__}: {exc}); timings are latency only")
    mapped = [e for e in OPS if e.runnable]
    print(f"support table: {len(OPS)} ops, {len(mapped)} map to the installed TVM, {len(OPS) - len(mapped)} have "
          "no equivalent")
    return EXIT_OK


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="trt-harness", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    p.commands = sub.choices     # name -> subparser, filled below

    s = sub.add_parser("run", help="run a suite (ops, runtime, models, fuzz, bench) with pytest; extra args go to pytest",
                       allow_abbrev=False, description="Run a suite with pytest.  Arguments not listed here go to "
                       "pytest (`pytest --help`), e.g. -n 4 (xdist workers) or -k EXPR.  Exit codes: pytest's "
                       "(0 clean or only known departures, 1 a new departure), 2 bad input, 75 stopped: every card "
                       "of a kind lost (the last line says how to finish it), 130 interrupted.")
    s.add_argument("--suite", default="ops", help="suite folder under suites/, or a path [%(default)s]")
    s.add_argument("--junitxml", default=os.path.join("reports", "junit.xml"), help="JUnit XML [%(default)s]")
    for title, group in (("what is targeted", O.TARGET), ("where programs run", O.EXECUTION),
                         ("the run: profile, selection, shards, results", O.RUN)):
        O.add(s.add_argument_group(f"harness options: {title}").add_argument, group)
    s.set_defaults(fn=_run, passthrough=True)

    s = sub.add_parser("gate", help="compare CURRENT against BASELINE; exit 1 on regression")
    s.add_argument("baseline", metavar="BASELINE")
    s.add_argument("current", metavar="CURRENT")
    s.add_argument("--json", metavar="OUT", help="also write the verdict as JSON to OUT ('-' for stdout)")
    s.add_argument("--max-slowdown", type=parse_fraction, default=0.10, metavar="PCT",
                   help="minimum slowdown of a median that counts (default 10%%)")
    s.add_argument("--noise-k", type=_non_negative, default=3.0, metavar="K",
                   help="a slowdown must also exceed K x the combined IQR/stddev of both runs (default 3)")
    s.add_argument("--acc-factor", type=_non_negative, default=2.0, metavar="F",
                   help="max_abs_err must grow by this factor to count (default 2)")
    s.add_argument("--acc-budget", type=_non_negative, default=0.5, metavar="B",
                   help="...and by more than B x (atol + rtol) (default 0.5)")
    s.add_argument("--max-rate-drop", type=parse_fraction, default=0.05, metavar="PCT",
                   help="per-op pass-rate drop flagged when case ids differ (default 5%%)")
    s.add_argument("--timing", choices=("device", "latency"), default="device",
                   help="which time to compare: device (GPU kernels, CUPTI; default) or latency (host-inclusive)")
    s.add_argument("--allow-different-cases", action="store_true",
                   help="compare runs of different case lists (plans): the (case, check) pairs only one has are "
                        "listed apart (default: exit 2)")
    s.add_argument("--all", action="store_true", help="show every row (default: the first 50 of each kind)")
    s.set_defaults(fn=_gate)

    s = sub.add_parser("report", help="write one self-contained HTML report of results files")
    s.add_argument("results", nargs="+", metavar="RESULTS", help="results files (parts of one run are merged)")
    s.add_argument("-o", "--output", default=O.DEFAULT_REPORT, metavar="HTML")
    s.add_argument("--baseline", metavar="FILE", help="baseline results file: shown first, with the gate's verdict")
    s.add_argument("--title", default=None)
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(fn=_report)

    s = sub.add_parser("merge", help="join the results files of the N jobs of a sharded run (--trt-shard K/N)")
    s.add_argument("results", nargs="+", metavar="RESULTS")
    s.add_argument("-o", "--output", required=True, metavar="OUT")
    s.add_argument("--label", default=None)
    s.set_defaults(fn=_merge)

    s = sub.add_parser("plan", help="write a plan file (the exact cases of a run) for --trt-plan")
    s.add_argument("results", nargs="?", metavar="RESULTS", help="take the cases of this results file (default: "
                                                                 "draw them with Hypothesis)")
    s.add_argument("-o", "--output", required=True, metavar="PLAN.json")
    s.add_argument("--profile", choices=("ci", "dev", "nightly"), default="ci")
    s.add_argument("--seed", type=int, default=None, help="Hypothesis seed (default 0)")
    s.add_argument("--ops", default="", help="comma-separated ops (default: all)")
    s.set_defaults(fn=_plan)

    s = sub.add_parser("check", help="check TVM's TensorRT partitioning of your ONNX model")
    s.add_argument("model", metavar="MODEL.onnx")
    O.add(s.add_argument, O.TARGET)
    s.add_argument("--dim", action="append", default=[], metavar="NAME=VALUE",
                   help="value of a named dynamic dimension (repeatable), e.g. --dim batch=2 --dim seq=128")
    s.add_argument("--dim-value", type=int, default=1, metavar="N", help="value of every other dynamic dimension")
    s.add_argument("--input", action="append", default=[], metavar="NAME=FILE|FILE.npz",
                   help="input data: NAME=file.npy, or a .npz keyed by input name (repeatable)")
    s.add_argument("--seed", type=int, default=0, help="seed of the generated inputs")
    s.add_argument("--expected", action="append", default=[], metavar="[NAME=]FILE|FILE.npz",
                   help="the model's stored outputs for the --input data (repeatable, in output order): they join the "
                        "references and settle a disagreement between them")
    s.add_argument("--min-references", type=int, default=1, metavar="N",
                   help="a reference verdict resting on fewer than N agreeing references is inconclusive (exit 4)")
    s.add_argument("--steps", default="offload,preserve,reference,tensorrt",
                   help="checks to run (comma-separated) [%(default)s]")
    s.add_argument("--results", help="write a results file (JSON Lines) here")
    s.add_argument("--report", help="write an HTML report here")
    s.add_argument("--repro-dir", default=None, help="where reproducers of departures go (default: beside --results,"
                                                     " else reports/repro)")
    s.add_argument("--known-ok", action="store_true", help="exit 0 when every departure found is a known one")
    O.add(s.add_argument, [o for o in O.EXECUTION if o.name in ("--trt-backend", "--trt-reference", "--trt-timeout",
                                                                "--trt-build-cache")])
    s.set_defaults(fn=_check)

    s = sub.add_parser("reduce", help="cut a model down to the fewest nodes that still show its departure")
    s.add_argument("model", metavar="MODEL.onnx")
    s.add_argument("-o", "--output", required=True, metavar="MIN.onnx")
    s.add_argument("--check", default=None, help="the check whose departure to keep (default: the first that "
                                                 "departs, new ones first)")
    O.add(s.add_argument, O.TARGET)
    s.add_argument("--dim", action="append", default=[], metavar="NAME=VALUE", help="as in check")
    s.add_argument("--dim-value", type=int, default=1, metavar="N", help="as in check")
    s.add_argument("--input", action="append", default=[], metavar="NAME=FILE|FILE.npz", help="as in check")
    s.add_argument("--seed", type=int, default=0, help="seed of the generated inputs")
    s.add_argument("--budget", type=_non_negative, default=600.0, metavar="S", help="seconds [%(default)s]")
    s.add_argument("--steps", type=int, default=None, dest="max_steps", metavar="N",
                   help="at most N candidates checked")
    s.add_argument("--repro-dir", default=None, help="where the reproducer goes (default: beside MIN.onnx)")
    O.add(s.add_argument, [o for o in O.EXECUTION if o.name in ("--trt-backend", "--trt-reference", "--trt-timeout",
                                                                "--trt-build-cache")])
    s.set_defaults(fn=_reduce)

    s = sub.add_parser("fuzz", help="fuzz multi-op Relax programs at the TensorRT partition boundaries")
    s.add_argument("--budget", type=_non_negative, default=60.0, metavar="S", help="seconds to fuzz [%(default)s]")
    O.add(s.add_argument, O.TARGET)
    s.add_argument("--db", default=".hypothesis-fuzz", help="Hypothesis example database [%(default)s]")
    s.add_argument("--repro-dir", default=os.path.join("reports", "fuzz-repros"))
    s.add_argument("--results", default=os.path.join("reports", "fuzz.jsonl"))
    s.add_argument("--timeout", type=_non_negative, default=90.0, help="seconds per program [%(default)s]")
    s.add_argument("--max-ops", type=int, default=15)
    s.add_argument("--seed", type=int, default=None)
    s.set_defaults(fn=_fuzz)

    s = sub.add_parser("upstream", help="one Markdown page per root cause of the departures in results files, "
                                        "ready to file in TVM's issue tracker")
    s.add_argument("results", nargs="+", metavar="RESULTS")
    s.add_argument("-o", "--output", default=os.path.join("docs", "findings", "upstream"), metavar="DIR")
    s.add_argument("--baseline", metavar="FILE", help="results of the last version gated: says which causes are new")
    s.add_argument("--root", default=".", help="the folder reproducer paths in the results are relative to [.]")
    s.set_defaults(fn=_upstream)

    s = sub.add_parser("benchjson", help="write a results file's timings as pytest-benchmark JSON")
    s.add_argument("results")
    s.add_argument("-o", "--output", required=True)
    s.set_defaults(fn=_benchjson)

    s = sub.add_parser("doctor", help="what this machine can run, and why not")
    s.set_defaults(fn=_doctor)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = parser()
    try:
        if not argv or argv[0] in ("-h", "--help"):
            p.print_help()
            return EXIT_OK
        if argv[0] not in p.commands:
            what = "option" if argv[0].startswith("-") else "command"
            raise InputError(f"unknown {what} {argv[0]!r}{did_you_mean(argv[0], p.commands)}; commands: "
                             f"{', '.join(p.commands)}")
        if argv[0] == "run":   # everything it does not know goes to pytest
            args, rest = p.parse_known_args(argv)
        else:
            args, rest = p.parse_args(argv), []
        return int(args.fn(args, rest) or 0)
    except HarnessError as exc:
        print(f"trt-harness: error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except SystemExit as exc:   # --help of a subcommand
        return int(exc.code or 0)
    except KeyboardInterrupt:
        print("trt-harness: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:   # `trt-harness gate ... | head`: the reader left, nothing to report
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_OK
    except Exception as exc:  # a bug of the harness: one line here, the traceback in a file
        fd, path = tempfile.mkstemp(prefix="trt-harness-bug-", suffix=".txt")
        with os.fdopen(fd, "w") as fh:
            traceback.print_exc(file=fh)
        print(f"trt-harness: internal error (a bug of the harness, please report it): {type(exc).__name__}: "
              f"{str(exc).splitlines()[0][:300] if str(exc) else ''} (traceback: {path})", file=sys.stderr)
        return EXIT_BUG


def _write_text(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror or exc}") from None


if __name__ == "__main__":
    sys.exit(main())
