"""harness.records: one JSON line per header or record, non-finite floats as strings, schema-1
conversion, and the JSON Schema file kept equal to the types."""
from __future__ import annotations

import functools
from typing import Literal
import json
import math
import os

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import records as R
from harness.records import (SCHEMA_NAME, SCHEMA_VERSION, Decision, Departure, Header, LineError, Offload, Record,
                             Stats, Timing, Tolerance, convert, decode, encode)
from harness.records_v1 import from_v1
from harness import record_schema as RS
from harness.record_schema import json_schema

SCHEMA_FILE = os.path.join(os.path.dirname(R.__file__), "schema", "results.schema.json")


def rec(**kw) -> Record:
    kw.setdefault("op", "nn.relu")
    kw.setdefault("check", "reference")
    kw.setdefault("outcome", "pass")
    kw.setdefault("case_id", "c1")
    return Record(**kw)


# -- encode / decode ------------------------------------------------------------------------------
def test_encode_is_one_sorted_compact_line_without_defaults():
    assert encode(rec(run_id="r1")) == (b'{"case_id":"c1","check":"reference","kind":"record","op":"nn.relu",'
                                        b'"outcome":"pass","run_id":"r1"}')


def test_header_round_trips(build):
    h = build.header("r9", label="nightly")
    line = encode(h)
    assert b"\n" not in line and json.loads(line)["kind"] == "header"
    back = decode(line)
    assert isinstance(back, Header) and back == h
    assert (back.schema, back.schema_version) == (SCHEMA_NAME, SCHEMA_VERSION)


def test_full_record_round_trips(build):
    r = rec(run_id="r1", tvm_op="relax.nn.relu", reason="why", error_kind="crash", outcome="error", dtype="float16",
            input_shapes=[[1, 3], ["n", 2], None], attrs={"axis": 1, "layout": "NCHW"}, weights=[("w", [3, 3])],
            trt_version="8.6.1", rule="dtype", expectation="e1",
            offload=Offload(verdict="over-offload", expected={"relax.add": 0}, actual={"relax.add": 1},
                            total={"relax.add": 1}, regions=1,
                            decisions=[Decision(op="relax.add", offload=False, rule="dtype", reason="int32",
                                                source="builder.cc", count=2)],
                            over=[Departure(op="relax.add", reason="int32", rule="dtype", count=1)]),
            max_abs_err=1e-3, max_rel_err=2e-3, tolerance=build.TOL,
            min_tolerance=Tolerance(atol=1e-3, rtol=0.0, mode="normwise"), nan_inf_agree=True, backend="tensorrt",
            reference="tvm-cuda", speedup=2.0, reproducer="reports/repro/x.py", duration_s=0.5, nodeid="t::x",
            worker="gw0", device="cuda:0", time="2025-01-01T00:00:00+00:00", details={"k": [1, 2]},
            timings={"tensorrt": build.timing(1e-3, 1e-5, device=5e-4, device_iqr=1e-6, exclusive=True, gpu="H100",
                                              method="cupti+latency", kernels_per_call=2.0, waited_s=0.1)})
    back = decode(encode(r))
    assert back == r and back.offload.offloaded


@pytest.mark.parametrize("value,text", [(math.nan, '"nan"'), (math.inf, '"inf"'), (-math.inf, '"-inf"')])
def test_non_finite_floats_are_written_as_strings_and_read_back(value, text):
    line = encode(rec(max_abs_err=value, timings={"t": Timing(latency=Stats(median_s=value))}, attrs={"v": value}))
    assert f'"max_abs_err":{text}' in line.decode() and f'"median_s":{text}' in line.decode()
    back = decode(line)
    for got in (back.max_abs_err, back.timings["t"].latency.median_s):
        assert math.isnan(got) if math.isnan(value) else got == value
    assert back.attrs == {"v": json.loads(text)}          # free-form values stay the strings written


def test_finite_floats_are_untouched():
    assert decode(encode(rec(max_abs_err=0.1, speedup=-2.5))).max_abs_err == 0.1


def test_numpy_values_are_written_as_python_values():
    line = encode(rec(attrs={"f": np.float32(1.5), "i": np.int64(3), "b": np.bool_(True), "a": np.array([[1, 2]]),
                             "n": np.array([np.nan, 1.0]), "s": np.array(2.0), "t": (1, 2), "k": {3: "x"}}))
    assert json.loads(line)["attrs"] == {"f": 1.5, "i": 3, "b": True, "a": [[1, 2]], "n": ["nan", 1.0], "s": 2.0,
                                         "t": [1, 2], "k": {"3": "x"}}


def test_what_cannot_be_written_is_refused():
    with pytest.raises(NotImplementedError, match="cannot write object into a results file"):
        encode(rec(attrs={"x": object()}))


class _Scalar:
    def item(self):
        return 7


def test_objects_with_item_are_written_as_their_value():
    assert json.loads(encode(rec(attrs={"x": _Scalar()})))["attrs"] == {"x": 7}


def test_clean():
    assert R._clean({1: [math.nan, (math.inf,), None, "s", True]}) == {"1": ["nan", ["inf"], None, "s", True]}
    assert R._clean(np.float64(-np.inf)) == "-inf" and R._clean(np.int32(4)) == 4
    assert R._clean(np.array([1, 2])) == "[1 2]"       # not a scalar: its text
    assert R._clean(b"x") == "b'x'" and R._clean(2.5) == 2.5


@pytest.mark.parametrize("raw,message", [
    (b'{"kind":"record","op":"a","check":"reference","outcome":"passed","case_id":"c"}',
     "field 'outcome' of a record: "),
    (b'{"kind":"record","op":"a","check":"reference","outcome":"pass"}', "missing required field 'case_id' of a record"),
    (b'{"kind":"note"}', "field 'kind' must be 'header' or 'record', not 'note'"),
    (b'{"op":"a"}', "missing required field 'kind'"),
    (b'{"kind":"record",', "invalid JSON at column 18"),
    (b'[1]', "expected a JSON object, got array"),
    (b'{"kind":"header","schema":"other","schema_version":2,"run_id":"r","created":"x"}',
     "field 'schema' of a header: "),
    (b'{"kind":"record","op":"a","check":"offload","outcome":"pass","case_id":"c","max_abs_err":NaN}',
     "invalid JSON: NaN is not valid JSON (non-finite numbers are written as strings)"),
])
def test_decode_errors_are_one_short_line_in_the_harness_words(raw, message):
    """The harness names the field or the column itself: a library's text may follow, never lead."""
    with pytest.raises(LineError) as info:
        decode(raw)
    text = str(info.value)
    assert text.startswith(message) and "\n" not in text and len(text) <= 200


def test_long_errors_are_cut():
    with pytest.raises(LineError) as info:
        decode(b'{"kind":"record","op":"a","check":"reference","outcome":"' + b"x" * 500 + b'","case_id":"c"}')
    msg = str(info.value)
    assert len(msg) == 200 and msg.endswith("...") and "\n" not in msg
    assert R._short(ValueError("a\n  b")) == "a b" and R._short(ValueError("x" * 200)) == "x" * 200


def test_convert():
    assert convert({"kind": "record", "op": "a", "check": "offload", "outcome": "pass", "case_id": "c",
                    "max_abs_err": "nan"}).check == "offload"
    with pytest.raises(LineError, match="^field 'op' of a record: "):
        convert({"kind": "record", "op": 1, "check": "offload", "outcome": "pass", "case_id": "c"})


def test_constants_follow_the_types():
    assert R.CHECKS == ("offload", "preserve", "reference", "tensorrt")
    assert R.OUTCOMES == ("pass", "fail", "xfail", "xpass", "skip", "error")
    assert R.OFFLOAD_VERDICTS == ("match", "over-offload", "under-offload")
    assert "crash" in R.ERROR_KINDS and SCHEMA_NAME == "tvm-trt-harness.results" and SCHEMA_VERSION == 2


def test_now_iso_is_utc_seconds():
    assert R.now_iso().endswith("+00:00") and len(R.now_iso()) == 25


# -- typed helpers ----------------------------------------------------------------------------------
def test_timing_figure():
    both = Timing(latency=Stats(median_s=2.0), device=Stats(median_s=1.0))
    assert both.figure() == both.figure("device") == 1.0 and both.figure("latency") == 2.0
    latency_only = Timing(latency=Stats(median_s=2.0))
    assert latency_only.figure() == 2.0 and latency_only.figure("latency") == 2.0
    assert Timing().figure() is None and Timing(device=Stats(median_s=1.0)).figure("latency") is None


def test_offloaded():
    assert Offload(verdict="match", actual={"a": 0, "b": 2}).offloaded
    assert not Offload(verdict="match", actual={"a": 0}).offloaded and not Offload(verdict="match").offloaded


# -- schema 1 -------------------------------------------------------------------------------------
def test_v1_header_becomes_schema_2(build):
    h = convert(from_v1(json.loads(build.V1_HEADER)))
    assert isinstance(h, Header) and h.schema_version == SCHEMA_VERSION and h.run_id == "v1run"
    assert h.env["tvm_version"] == "0.26"


def test_v1_op_offload_record(build):
    r = convert(from_v1(json.loads(build.V1_RECORDS[0])))
    assert isinstance(r, Record) and r.weights == [("w", [3])] and r.attrs == {}
    assert r.offload == Offload(verdict="over-offload", expected={}, actual={"relax.nn.relu": 1},
                                total={"relax.nn.relu": 1}, regions=1,
                                decisions=[Decision(op="relax.nn.relu", offload=False, rule="dtype", reason="int32",
                                                    source="builder.cc")])
    assert r.input_shapes == [[2, 3]] and r.dtype == "int32" and r.time == "2025-01-01T00:00:01+00:00"


def test_v1_timing_record(build):
    r = convert(from_v1(json.loads(build.V1_RECORDS[1])))
    assert r.speedup == 2.0 and set(r.timings) == {"tensorrt", "tvm-cuda"}
    t = r.timings["tensorrt"]
    assert t.latency == Stats(median_s=0.001, iqr_s=1e-5, rounds=30) and t.build_s == 2.5 and t.device is None
    assert t.method.startswith("latency (schema 1") and r.timings["tvm-cuda"].build_s is None
    assert math.isnan(r.max_abs_err) and r.tolerance == Tolerance(atol=1e-5, rtol=1e-5)
    assert r.min_tolerance == Tolerance(atol=0.0, rtol=0.0) and r.offload is None


def test_v1_model_record(build):
    r = convert(from_v1(json.loads(build.V1_RECORDS[2])))
    assert r.details == {"trt_subgraphs": 3, "nodes": 69} and r.attrs == {}
    assert r.offload == Offload(verdict="match", expected={"relax.nn.conv2d": 20}, actual={"relax.nn.conv2d": 20},
                                regions=3)


def test_v1_conversion_details():
    base = {"kind": "record", "op": "nn.relu", "check": "offload", "outcome": "pass", "case_id": "c"}
    # decisions counted per op, expected only where offloaded; no verdict -> match
    out = from_v1({**base, "expected_offload": [
        {"op": "relax.add", "offload": True, "rule": "supported", "reason": "ok", "source": "s", "extra": 1},
        {"op": "relax.add", "offload": False, "rule": "dtype", "reason": "int", "source": "s"}, "junk"]})
    assert out["offload"]["verdict"] == "match"
    assert out["offload"]["total"] == {"relax.add": 2} and out["offload"]["expected"] == {"relax.add": 1}
    assert out["offload"]["decisions"][0] == {"op": "relax.add", "offload": True, "rule": "supported",
                                              "reason": "ok", "source": "s"}
    # actual offload as op -> count takes its regions from the model's trt_subgraphs (0 when absent)
    out = from_v1({**base, "actual_offload": {"relax.add": 2.0}, "offload_verdict": "under-offload"})
    assert out["offload"] == {"verdict": "under-offload", "actual": {"relax.add": 2}, "regions": 0}
    out = from_v1({**base, "actual_offload": {"ops": ["a", "b", "a"], "regions": None}})
    assert out["offload"]["actual"] == {"a": 2, "b": 1} and out["offload"]["regions"] == 0
    # nothing about offload: no offload; other kinds and headers pass through
    assert "offload" not in from_v1(base) and from_v1({"kind": "other"}) == {"kind": "other"}
    assert from_v1({"kind": "header", "schema_version": 1})["schema_version"] == SCHEMA_VERSION
    assert from_v1({**base, "attrs": None})["attrs"] == {}
    # tolerances lose anything but atol/rtol; timings that are not dicts are dropped
    out = from_v1({**base, "tolerance": {"atol": 1, "rtol": 2, "mode": "x"}, "min_tolerance": {"atol": 1},
                   "timings": {"a": 3, "speedup": None}})
    assert out["tolerance"] == {"atol": 1, "rtol": 2} and out["min_tolerance"] == {"atol": 1}
    assert out["timings"] == {} and out["speedup"] is None
    t = from_v1({**base, "timings": {"a": {"build_s": 1}}})["timings"]["a"]
    assert t["latency"] is None and t["build_s"] == 1


def test_v1_input_is_not_changed():
    line = {"kind": "record", "attrs": {"_weights": [["w", [1]]]}, "offload_verdict": "match"}
    before = json.dumps(line)
    from_v1(line)
    assert json.dumps(line) == before


# -- the JSON Schema ------------------------------------------------------------------------------
def test_the_checked_in_schema_describes_the_current_record_types():
    """Fails only when the record types changed and the file was not regenerated: the file carries the
    fingerprint of the types it was generated from (not msgspec's or Python's rendering of them)."""
    with open(SCHEMA_FILE, encoding="utf-8") as fh:
        on_disk = json.load(fh)
    assert on_disk.get(RS.FINGERPRINT_KEY) == RS.types_fingerprint(), (
        "harness/records.py's types changed: regenerate with "
        "python -m harness.record_schema > harness/schema/results.schema.json")
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(on_disk)


def test_the_fingerprint_follows_the_types(monkeypatch):
    before = RS.types_fingerprint()
    monkeypatch.setattr(R.Tolerance, "__annotations__", {**R.Tolerance.__annotations__, "atol": "float | None"})
    assert RS.types_fingerprint() != before
    monkeypatch.undo()
    monkeypatch.setitem(RS._ALIASES, "Outcome", Literal["pass", "fail"])
    assert RS.types_fingerprint() != before


def test_schema_main_writes_a_schema_with_the_fingerprint():
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(R.__file__))
    out = subprocess.run([sys.executable, "-m", "harness.record_schema"], cwd=root, capture_output=True, text=True,
                         check=True).stdout
    assert json.loads(out)[RS.FINGERPRINT_KEY] == RS.types_fingerprint()


def test_schema_describes_non_finite_strings():
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA_NAME in schema["description"] and f"schema_version {SCHEMA_VERSION}" in schema["description"]
    assert schema["$defs"]["Stats"]["properties"]["median_s"] == {
        "anyOf": [{"type": "number"}, {"enum": ["nan", "inf", "-inf"]}]}
    assert RS._nonfinite_as_strings([{"type": "number", "minimum": 0}, 3]) == [
        {"anyOf": [{"type": "number", "minimum": 0}, {"enum": ["nan", "inf", "-inf"]}]}, 3]


finite_or_not = st.floats(allow_nan=True, allow_infinity=True) | st.none()
records = st.builds(
    rec, outcome=st.sampled_from(R.OUTCOMES), check=st.sampled_from(R.CHECKS), max_abs_err=finite_or_not,
    speedup=finite_or_not, attrs=st.dictionaries(st.text(max_size=4), st.integers() | st.text(max_size=4) |
                                                  st.floats(), max_size=3),
    input_shapes=st.lists(st.lists(st.integers(0, 9), max_size=3), max_size=2),
    timings=st.none() | st.dictionaries(st.sampled_from(["tensorrt", "tvm-cuda"]), st.builds(
        Timing, latency=st.none() | st.builds(Stats, median_s=st.floats(), iqr_s=finite_or_not)), max_size=2))


@functools.lru_cache(maxsize=1)
def validator():
    """The checked-in schema file, the one outsiders read, not a freshly generated one."""
    jsonschema = pytest.importorskip("jsonschema")
    with open(SCHEMA_FILE, encoding="utf-8") as fh:
        return jsonschema.Draft202012Validator(json.load(fh))


@settings(max_examples=50, deadline=None, derandomize=True, database=None)
@given(records)
def test_every_written_record_is_valid_under_the_schema_and_reads_back(r):
    line = encode(r)
    assert validator().is_valid(json.loads(line))
    back = decode(line)
    assert msgspec.json.encode(back) == msgspec.json.encode(decode(encode(back)))     # stable after one trip
    assert (back.op, back.check, back.outcome, back.input_shapes) == (r.op, r.check, r.outcome, r.input_shapes)


# -- edges that mutation testing showed unguarded ----------------------------------------------------
def test_fields_are_keyword_only_and_small_types_frozen():
    with pytest.raises(TypeError):
        Header(SCHEMA_NAME, SCHEMA_VERSION, "r", "now")
    for obj in (Tolerance(atol=1.0, rtol=0.0), Decision(op="a", offload=True, rule="r", reason="w", source="s"),
                Departure(op="a", reason="w", rule="r"), R.TableOp(name="x")):
        hash(obj)
        with pytest.raises(AttributeError):
            obj.op = "changed"


def test_figure_kind_is_compared_by_value():
    t = Timing(latency=Stats(median_s=2.0), device=Stats(median_s=1.0))
    assert t.figure("".join(["dev", "ice"])) == 1.0


def test_v1_other_kinds_pass_through():
    for kind in ("abc", "zzz", None):
        assert from_v1({"kind": kind, "x": 1}) == {"kind": kind, "x": 1}


def test_v1_expected_counts_per_op():
    d = {"op": "relax.add", "offload": True, "rule": "supported", "reason": "ok", "source": "s"}
    out = from_v1({"kind": "record", "op": "add", "check": "offload", "outcome": "pass", "case_id": "c",
                   "expected_offload": [d, d, d]})
    assert out["offload"]["expected"] == {"relax.add": 3} and out["offload"]["total"] == {"relax.add": 3}


def test_numbers_are_found_by_value():
    assert RS._nonfinite_as_strings({"type": "".join(["num", "ber"])}) == {
        "anyOf": [{"type": "number"}, {"enum": ["nan", "inf", "-inf"]}]}


def test_importing_prints_nothing():
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(R.__file__))
    out = subprocess.run([sys.executable, "-c", "import harness.records"], cwd=root, capture_output=True, text=True,
                         check=True)
    assert out.stdout == ""
