"""``trt-harness``: run the suites, gate two runs, render a report, check a model, diagnose."""
from __future__ import annotations

import argparse
import json
import os
import sys

from .errors import HarnessError

SUITES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "suites")


def _run(argv: list[str]) -> int:
    import pytest

    p = argparse.ArgumentParser(prog="trt-harness run", description="Run the op suites (and any pytest args).")
    p.add_argument("--suite", default="ops", help="suite folder under suites/ (ops, runtime, models) [%(default)s]")
    p.add_argument("--junitxml", default=os.path.join("reports", "junit.xml"))
    args, rest = p.parse_known_args(argv)
    target = os.path.join(SUITES, args.suite) if os.path.isdir(os.path.join(SUITES, args.suite)) else args.suite
    if not os.path.isdir(target):
        raise HarnessError(f"no suite {args.suite!r} (looked in {SUITES})")
    os.makedirs(os.path.dirname(args.junitxml) or ".", exist_ok=True)
    return int(pytest.main([target, f"--junitxml={args.junitxml}", "-o", "junit_family=xunit2", *rest]))


def _doctor(argv: list[str]) -> int:
    argparse.ArgumentParser(prog="trt-harness doctor", description="What this machine can run, and why not.").parse_args(argv)
    from .backends import available_backends, get_backend
    from .results import environment

    print(json.dumps(environment(), indent=2, sort_keys=True))
    for name in sorted(available_backends()):
        reason = get_backend(name).unavailable_reason()
        print(f"backend {name:10s} {'can run' if reason is None else 'cannot run: ' + reason}")
    from .table import OPS

    mapped = [e for e in OPS if e.runnable]
    print(f"support table: {len(OPS)} ops, {len(mapped)} map to the installed TVM, "
          f"{len(OPS) - len(mapped)} have no equivalent")
    return 0


def _delegate(module: str, func: str):
    def call(argv):
        import importlib

        return importlib.import_module(f"harness.{module}").__dict__[func](argv)
    return call


COMMANDS = {
    "run": _run,
    "gate": _delegate("gate", "gate_main"),
    "report": _delegate("report", "report_main"),
    "check": _delegate("models.check", "check_main"),
    "fuzz": _delegate("fuzz", "fuzz_main"),
    "benchjson": _delegate("benchjson", "benchjson_main"),
    "doctor": _doctor,
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print("usage: trt-harness {" + ",".join(COMMANDS) + "} ...", file=sys.stderr if argv else sys.stdout)
        if argv and argv[0] not in ("-h", "--help"):
            print(f"trt-harness: error: unknown command {argv[0]!r}", file=sys.stderr)
            return 2
        return 0
    try:
        return int(COMMANDS[argv[0]](argv[1:]) or 0)
    except HarnessError as exc:
        print(f"trt-harness: error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        if exc.name == "tvm":
            print("trt-harness: error: TVM is not installed (pip install apache-tvm)", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
