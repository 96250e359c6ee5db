"""Nightly fuzz suite: multi-op programs at the TensorRT partition boundaries (harness/fuzz.py).

* ``test_known_finding`` replays every stored minimal reproducer (docs/fuzz-repros/*.json): it
  xfails while the finding is still there and passes (strict=False) once it is fixed.
* ``test_random_graphs`` draws programs with the ``nightly`` Hypothesis profile, replaying the
  stored specs first (``@example``) and Hypothesis' database in ``.hypothesis-fuzz/``; it fails on
  any finding that is not a known (stored) one, and Hypothesis shrinks it.

Run: ``trt-harness run --suite fuzz`` or ``pytest suites/fuzz``; ``trt-harness fuzz --budget S``
is the time-boxed variant that stores new reproducers.
"""
import os

import pytest
from hypothesis import example, given, settings
from hypothesis.database import DirectoryBasedExampleDatabase

from harness import fuzz, profiles, versions

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REPROS = os.path.join(ROOT, "docs", "fuzz-repros")
STORED = fuzz.stored_specs(REPROS)
KNOWN = {s["sig"] for s in STORED}
TRT_VERSION = versions.parse_version(os.environ.get("TRT_HARNESS_FUZZ_TRT_VERSION", "10.0.1"))

profiles.use("nightly")          # registers and loads trt-nightly (200 examples, print_blob)
NIGHTLY = settings(settings.get_profile("trt-nightly"),
                   database=DirectoryBasedExampleDatabase(os.path.join(ROOT, fuzz.DEFAULT_DB)))


@pytest.mark.parametrize("stored", STORED, ids=[fuzz.sig_id(s["sig"]) for s in STORED])
def test_known_finding(stored):
    res = fuzz.check_spec(stored["spec"], trt_version=TRT_VERSION)
    assert res["invalid"] is None, res["invalid"]
    if stored["sig"] in {f["sig"] for f in res["findings"]}:
        pytest.xfail(f"{stored['sig']}: {stored['detail']} (program: {stored['program']})")


def _with_stored_examples(test):
    for s in STORED:
        test = example(spec=s["spec"])(test)
    return test


@NIGHTLY
@given(spec=fuzz.programs())
@_with_stored_examples
def test_random_graphs(spec):
    res = fuzz.check_spec(spec, trt_version=TRT_VERSION)
    assert res["invalid"] is None, f"the strategy drew an invalid program: {res['invalid']}"
    new = [f for f in res["findings"] if f["sig"] not in KNOWN]
    assert not new, "; ".join(f"{f['sig']}: {f['detail']}" for f in new) + f" | program: {fuzz.describe(spec)}"
