"""The harness's options, defined once for the pytest plugin and the CLI.

Each option is declared here with its argparse keywords; :func:`add` registers a group of them
with pytest's ``parser.addoption`` or argparse's ``add_argument`` (the same spelling in both, as
pytest-benchmark shares ``add_global_options`` between its plugin and CLI).  :func:`target` turns
the parsed target options into values, raising :class:`~harness.errors.InputError` with one line.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Callable

from .errors import InputError, did_you_mean

DEFAULT_RESULTS = os.path.join("reports", "results.jsonl")
DEFAULT_REPORT = os.path.join("reports", "index.html")


@dataclass(frozen=True)
class Option:
    name: str
    kwargs: dict


def _o(name, **kwargs) -> Option:
    if "choices" in kwargs:   # a misspelt value gets the closest choice suggested
        kwargs["type"] = one_of(name, kwargs["choices"])
    return Option(name, kwargs)


def one_of(name: str, choices: tuple) -> Callable[[str], str]:
    """An argparse ``type``: the value if it is one of ``choices``, else an error naming the closest."""
    def check(text: str) -> str:
        if text in choices:
            return text
        raise argparse.ArgumentTypeError(f"unknown value {text!r}{did_you_mean(text, choices)}; choose from "
                                         f"{', '.join(choices)}")

    check.__name__ = name.lstrip("-")
    return check


#: What the run targets and which departures are known: shared by the op suites, models, fuzz, check.
TARGET = (
    _o("--trt-version", metavar="VERSION", default=None,
       help="TensorRT version to target for the expected offload (default 10.0.1; known versions are listed "
            "on error)"),
    _o("--trt-implicit-batch", choices=("auto", "on", "off"), default="auto",
       help="judge offload under implicit batch mode (auto: on below TensorRT 10, as the seed's default "
            "use_implicit_batch=True; TensorRT 10 removed it)"),
    _o("--trt-expectations", metavar="TOML", default=None,
       help="known departures (TOML), turned into strict xfails [harness/data/expectations.toml]"),
    _o("--trt-no-expectations", action="store_true", default=False,
       help="ignore the expectations file: every departure fails"),
)

#: Where programs run: the system under test and its reference backend, isolation.
EXECUTION = (
    _o("--trt-backend", metavar="NAME", default="tensorrt",
       help="system under test of the tensorrt check [%(default)s]"),
    _o("--trt-reference", metavar="NAME", default="tvm-cuda",
       help="reference backend of the tensorrt check [%(default)s]"),
    _o("--trt-isolate", choices=("auto", "on", "off"), default="auto",
       help="run cases in a child process, so a crash (SIGSEGV, abort, OOM kill) or a hang becomes an 'error' "
            "record and the run goes on (auto: on)"),
    _o("--trt-runner", choices=("auto", "all", "off"), default="auto",
       help="a runner process per GPU does every GPU run and timing, the workers only build (auto: where a "
            "GPU is visible; all: CPU runs too, through one CPU runner; off: each worker runs on the GPU "
            "itself, under a per-GPU lock)"),
    _o("--trt-timeout", metavar="SECONDS", default="120",
       help="seconds one case may take before its worker is killed and it is recorded as a timeout "
            "[%(default)s]"),
    _o("--trt-build-cache", metavar="DIR", default="auto",
       help="directory of compiled libraries kept between runs ('off' for none; auto: "
            "~/.cache/tvm-trt-harness/builds)"),
)

#: The op suites' run: profile, seed, selection, sharding, results.
RUN = (
    _o("--trt-profile", choices=("ci", "dev", "nightly"), default="ci",
       help="Hypothesis profile: ci (10 cases per op, fixed seed 0), dev (25), nightly (200)"),
    _o("--trt-cases", metavar="N", type=int, default=None,
       help="N distinct cases per op instead of the profile's count (Hypothesis draws more examples where it "
            "repeats one; an op whose strategy holds fewer gets them all); seed and replay as the profile's"),
    _o("--trt-seed", metavar="N", type=int, default=None,
       help="Hypothesis seed (ci: 0; dev/nightly: drawn at random and recorded in the results header)"),
    _o("--trt-ops", metavar="OPS", default="", help="comma-separated seed op names to run (default: all)"),
    _o("--trt-checks", metavar="CHECKS", default="",
       help="comma-separated checks to run (default: offload,preserve,reference,tensorrt)"),
    _o("--trt-shard", metavar="K/N", default=None,
       help="run the K-th of N deterministic parts (one per CI job); join the parts with `trt-harness merge`"),
    _o("--trt-chunk", metavar="N", type=int, default=None,
       help="cases per unit of work (one batched build per backend); default 10, 5 under xdist"),
    _o("--trt-results", metavar="JSONL", default=DEFAULT_RESULTS,
       help="results file (JSON Lines) [%(default)s]"),
    _o("--trt-report", metavar="HTML", default=DEFAULT_REPORT,
       help="HTML report written at the end of the run ('' for none) [%(default)s]"),
    _o("--trt-plan", default=None, metavar="FILE",
       help="run exactly the cases FILE lists (a results file, or a plan file of `trt-harness plan`), rebuilt from "
            "their records, whatever Hypothesis version is installed; composes with --trt-ops, --trt-shard and "
            "--trt-resume"),
    _o("--trt-resume", action="store_true", default=False,
       help="append to an existing results file and skip (case, check) pairs already recorded"),
    _o("--trt-repro-dir", metavar="DIR", default=None,
       help="where reproducers go (default: beside the results)"),
    _o("--trt-timing", choices=("auto", "on", "off"), default="auto",
       help="time the tensorrt check's builds (auto: on where the backends run on a GPU)"),
)

ALL = TARGET + EXECUTION + RUN


def add(addoption: Callable, options) -> None:
    """Register ``options`` with pytest's ``addoption`` or argparse's ``add_argument``."""
    for o in options:
        addoption(o.name, **o.kwargs)


def dest(name: str) -> str:
    return name.lstrip("-").replace("-", "_")


def to_argv(get: Callable[[str], object], options=ALL) -> list[str]:
    """The options whose value differs from the default, spelled for pytest (``--trt-ops=add``)."""
    out = []
    for o in options:
        value = get(o.name)
        if o.kwargs.get("action") == "store_true":
            out += [o.name] if value else []
        elif value != o.kwargs.get("default"):
            out.append(f"{o.name}={value}")
    return out


def unknown_option(args: list[str]) -> str | None:
    """The first ``--trt-*`` argument that is no harness option (with the closest one), else None."""
    names = [o.name for o in ALL]
    for a in args:
        name = a.split("=", 1)[0]
        if name.startswith("--trt-") and name not in names:
            return f"unknown option {name}{did_you_mean(name, names, quote=False)}"
    return None


@dataclass(frozen=True)
class Selection:
    """The run's options whose valid values are known without TVM, NumPy or Hypothesis."""

    ops: frozenset
    checks: tuple
    backend: str
    reference: str
    trt_version: tuple
    shard: tuple | None
    timeout: float
    chunk: int | None
    cases: int | None = None


def selection(get: Callable[[str], object]) -> Selection:
    """Check op names, checks, backends, TensorRT version, shard, timeout and chunk before anything
    heavy is imported or drawn; InputError (one line, the closest valid name suggested) on a bad one.

    Op names are the seed's (harness/seed.py): harness/table.py holds one entry for each and refuses
    to load otherwise, so they are the table's names, read without importing the table."""
    from .backends import available_backends
    from .plan import parse_shard
    from .records import CHECKS
    from .seed import seed_operators
    from .versions import DEFAULT_TRT_VERSION, format_version, parse_version

    def bad(flag: str, what: str, names: list, known) -> InputError:
        shown = ", ".join(f"{n!r}{did_you_mean(n, known)}" for n in names)
        return InputError(f"{flag}: unknown {what}{'s' if len(names) > 1 else ''} {shown}")

    known_ops = list(seed_operators())
    ops = frozenset(o.strip() for o in (get("--trt-ops") or "").split(",") if o.strip())
    unknown = sorted(ops - set(known_ops))
    if unknown:
        raise InputError(f"{bad('--trt-ops', 'op', unknown, known_ops)}; the ops are harness/table.py's "
                         f"(`trt-harness doctor` counts them)")
    checks = tuple(c.strip() for c in (get("--trt-checks") or "").split(",") if c.strip()) or CHECKS
    unknown = [c for c in checks if c not in CHECKS]
    if unknown:
        raise InputError(f"{bad('--trt-checks', 'check', unknown, CHECKS)}; known: {', '.join(CHECKS)}")
    backends = sorted(available_backends())
    for flag in ("--trt-backend", "--trt-reference"):
        if get(flag) not in backends:
            raise InputError(f"{bad(flag, 'backend', [get(flag)], backends)}; known: {', '.join(backends)}")
    try:
        version = parse_version(get("--trt-version") or format_version(DEFAULT_TRT_VERSION))
    except InputError as exc:
        raise InputError(f"--trt-version: {exc}") from None
    raw = get("--trt-timeout")
    try:
        timeout = float(raw)
    except (TypeError, ValueError):
        raise InputError(f"--trt-timeout: expected a number of seconds, got {raw!r}") from None
    if not (timeout > 0) or timeout == float("inf"):
        raise InputError(f"--trt-timeout: must be a positive, finite number of seconds, got {raw!r}")
    chunk = get("--trt-chunk")
    if chunk is not None and chunk < 1:
        raise InputError(f"--trt-chunk: must be a positive number of cases, got {chunk}")
    cases = get("--trt-cases")
    if cases is not None and cases < 1:
        raise InputError(f"--trt-cases: must be a positive number of cases per op, got {cases}")
    return Selection(ops=ops, checks=checks, backend=get("--trt-backend"), reference=get("--trt-reference"),
                     trt_version=version, shard=parse_shard(get("--trt-shard")), timeout=timeout, chunk=chunk,
                     cases=cases)


@dataclass(frozen=True)
class Target:
    trt_version: tuple
    implicit_batch: bool
    expectations: tuple
    expectations_path: str | None


def target(get: Callable[[str], object]) -> Target:
    """Target options (read with ``get(option name)``) as values; InputError on a bad one."""
    from . import expectations as E
    from .backends import available_backends
    from .table import BY_NAME
    from .versions import DEFAULT_TRT_VERSION, format_version, implicit_batch_default, parse_version

    try:
        version = parse_version(get("--trt-version") or format_version(DEFAULT_TRT_VERSION))
    except InputError as exc:
        raise InputError(f"--trt-version: {exc}") from None
    ib = get("--trt-implicit-batch") or "auto"
    implicit = implicit_batch_default(version) if ib == "auto" else ib == "on"
    path = None
    exps: tuple = ()
    if not get("--trt-no-expectations"):
        path = get("--trt-expectations") or E.DEFAULT_PATH
        exps = tuple(E.load(path, set(BY_NAME), set(available_backends())))
    return Target(version, implicit, exps, path)
