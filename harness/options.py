"""The harness's options, defined once for the pytest plugin and the CLI.

Each option is declared here with its argparse keywords; :func:`add` registers a group of them
with pytest's ``parser.addoption`` or argparse's ``add_argument`` (the same spelling in both, as
pytest-benchmark shares ``add_global_options`` between its plugin and CLI).  :func:`target` turns
the parsed target options into values, raising :class:`~harness.errors.InputError` with one line.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

from .errors import InputError

DEFAULT_RESULTS = os.path.join("reports", "results.jsonl")
DEFAULT_REPORT = os.path.join("reports", "index.html")


@dataclass(frozen=True)
class Option:
    name: str
    kwargs: dict


def _o(name, **kwargs) -> Option:
    return Option(name, kwargs)


#: What the run targets and which departures are known: shared by the op suites, models, fuzz, check.
TARGET = (
    _o("--trt-version", default=None,
       help="TensorRT version to target for the expected offload (default 10.0.1; known versions are listed "
            "on error)"),
    _o("--trt-implicit-batch", choices=("auto", "on", "off"), default="auto",
       help="judge offload under implicit batch mode (auto: on below TensorRT 10, as the seed's default "
            "use_implicit_batch=True; TensorRT 10 removed it)"),
    _o("--trt-expectations", default=None,
       help="known departures (TOML), turned into strict xfails [harness/data/expectations.toml]"),
    _o("--trt-no-expectations", action="store_true", default=False,
       help="ignore the expectations file: every departure fails"),
)

#: Where programs run: the system under test and its reference backend, isolation.
EXECUTION = (
    _o("--trt-backend", default="tensorrt", help="system under test of the tensorrt check [%(default)s]"),
    _o("--trt-reference", default="tvm-cuda", help="reference backend of the tensorrt check [%(default)s]"),
    _o("--trt-isolate", choices=("auto", "on", "off"), default="auto",
       help="run cases in a child process, so a crash (SIGSEGV, abort, OOM kill) or a hang becomes an 'error' "
            "record and the run goes on (auto: on)"),
    _o("--trt-timeout", default="120",
       help="seconds one case may take before its worker is killed and it is recorded as a timeout "
            "[%(default)s]"),
    _o("--trt-build-cache", default="auto",
       help="directory of compiled libraries kept between runs ('off' for none; auto: "
            "~/.cache/tvm-trt-harness/builds)"),
)

#: The op suites' run: profile, seed, selection, sharding, results.
RUN = (
    _o("--trt-profile", choices=("ci", "dev", "nightly"), default="ci",
       help="Hypothesis profile: ci (10 cases per op, fixed seed 0), dev (25), nightly (200)"),
    _o("--trt-seed", type=int, default=None,
       help="Hypothesis seed (ci: 0; dev/nightly: drawn at random and recorded in the results header)"),
    _o("--trt-ops", default="", help="comma-separated seed op names to run (default: all)"),
    _o("--trt-checks", default="", help="comma-separated checks to run (default: offload,preserve,reference,"
                                        "tensorrt)"),
    _o("--trt-shard", default=None, help="K/N: run the K-th of N deterministic parts (one per CI job); join the "
                                         "parts with `trt-harness merge`"),
    _o("--trt-chunk", type=int, default=None,
       help="cases per unit of work (one batched build per backend); default 10, 5 under xdist"),
    _o("--trt-results", default=DEFAULT_RESULTS, help="results file (JSON Lines) [%(default)s]"),
    _o("--trt-report", default=DEFAULT_REPORT,
       help="HTML report written at the end of the run ('' for none) [%(default)s]"),
    _o("--trt-plan", default=None, metavar="FILE",
       help="run exactly the cases FILE lists (a results file, or a plan file of `trt-harness plan`), rebuilt from "
            "their records, whatever Hypothesis version is installed; composes with --trt-ops, --trt-shard and "
            "--trt-resume"),
    _o("--trt-resume", action="store_true", default=False,
       help="append to an existing results file and skip (case, check) pairs already recorded"),
    _o("--trt-repro-dir", default=None, help="where reproducers go (default: beside the results)"),
    _o("--trt-timing", choices=("auto", "on", "off"), default="auto",
       help="time the tensorrt check's builds (auto: on where the backends run on a GPU)"),
)


def add(addoption: Callable, options) -> None:
    """Register ``options`` with pytest's ``addoption`` or argparse's ``add_argument``."""
    for o in options:
        addoption(o.name, **o.kwargs)


def dest(name: str) -> str:
    return name.lstrip("-").replace("-", "_")


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
