"""Nightly fuzz suite: multi-op programs at the TensorRT partition boundaries (harness/fuzz/).

The targeted TensorRT version, implicit batch mode and known departures are the session's
(``--trt-version``, ``--trt-implicit-batch``, ``--trt-expectations``: see harness/options.py), and
each finding is judged as the op suites' results are (:func:`harness.expectations.judge`).
Programs are checked in the session's isolated worker, so a crash is a finding, not the end.

* ``test_stored_finding`` replays every stored reproducer (docs/fuzz-repros/*.json): it xfails
  while the finding is still there and is a known departure, fails when it is not known, and
  passes once the finding is gone.
* ``test_random_graphs`` draws 200 programs (the ``nightly`` Hypothesis profile), the stored specs
  first (``@example``), with Hypothesis' database in ``.hypothesis-fuzz/``; it fails on any
  finding that is not a known departure, and Hypothesis shrinks it.

Run: ``trt-harness run --suite fuzz`` or ``pytest suites/fuzz``; ``trt-harness fuzz --budget S``
is the time-boxed variant that stores new reproducers.
"""
import os

import pytest
from hypothesis import example, given, settings
from hypothesis.database import DirectoryBasedExampleDatabase

from harness import profiles  # noqa: F401  (registers the trt-* Hypothesis profiles)
from harness.fuzz import check, graphs, repros, run

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REPROS = os.path.join(ROOT, "docs", "fuzz-repros")
STORED = repros.stored_specs(REPROS)
_PROFILE = settings.get_profile("trt-nightly")   # not loaded: the op suites' profile stays the session's
NIGHTLY = settings(_PROFILE, database=DirectoryBasedExampleDatabase(os.path.join(ROOT, run.DEFAULT_DB)),
                   max_examples=int(os.environ.get("TRT_HARNESS_MAX_EXAMPLES") or _PROFILE.max_examples))


def _judged(trt_session, spec):
    """Check ``spec`` in the session's worker; each finding with its judgement."""
    s = trt_session.settings
    checker = run.Checker(trt_version=s.trt_version, implicit_batch=s.implicit_batch, timeout=s.timeout,
                          isolate=s.isolate, isolator=trt_session.isolator)
    try:
        res = checker.check(spec)
    finally:
        checker.close()
    assert res.skip is None, res.skip
    assert res.invalid is None, f"the strategy drew an invalid program: {res.invalid} | {graphs.describe(spec)}"
    return [(f, check.judge_finding(f, trt_version=s.trt_version, expectations=s.expectations))
            for f in res.findings]


@pytest.mark.parametrize("stored", STORED, ids=[check.sig_id(s["sig"]) for s in STORED])
def test_stored_finding(stored, trt_session):
    found = {f.sig: j for f, j in _judged(trt_session, stored["spec"])}
    judged = found.get(stored["sig"])
    if judged is None:
        return   # gone (fixed in TVM, or no departure for the targeted TensorRT version)
    if judged.unexpected:
        pytest.fail(f"{stored['sig']}: {judged.outcome}: {judged.reason} (program: {stored['program']})")
    pytest.xfail(f"{stored['sig']}: {judged.reason} (program: {stored['program']})")


def _with_stored_examples(test):
    for s in STORED:
        test = example(spec=s["spec"])(test)
    return test


@NIGHTLY
@given(spec=graphs.programs())
@_with_stored_examples
def test_random_graphs(spec, trt_session):
    new = [(f, j) for f, j in _judged(trt_session, spec) if j.unexpected]
    assert not new, "; ".join(f"{f.sig}: {j.outcome}: {j.reason}" for f, j in new) + \
        f" | program: {graphs.describe(spec)}"
