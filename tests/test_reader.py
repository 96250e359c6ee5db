"""harness.reader: every kind of bad input is one InputError line; shards merge; fuzzing."""
from __future__ import annotations

import json
import os
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import reader
from harness.errors import InputError
from harness.reader import Run, load_many, load_results, merge, summary_line
from harness.results import Record, ResultsWriter

ENV = {"harness_version": "0.1.0", "tvm_version": "0.27", "trt_version": "8.6.1", "gpu": "H100"}


def header(run_id="r1", **extra) -> dict:
    return {"kind": "header", "schema": "tvm-trt-harness.results", "schema_version": 1, "run_id": run_id,
            "created": "2025-01-01T00:00:00+00:00", "resumed": False, "env": dict(ENV), **extra}


def record(op="nn.relu", case_id="c1", check="reference", outcome="pass", run_id="r1", **kw) -> dict:
    r = Record(op=op, check=check, outcome=outcome, case_id=case_id, **kw).to_json()
    r["run_id"] = run_id
    return r


def write_lines(path, objs, tail="\n") -> str:
    text = "\n".join(o if isinstance(o, str) else json.dumps(o) for o in objs) + tail
    path.write_text(text, encoding="utf-8")
    return str(path)


def error_of(path) -> str:
    with pytest.raises(InputError) as info:
        load_results(path)
    msg = str(info.value)
    assert "\n" not in msg, msg
    assert msg.startswith(str(path)), msg
    return msg


def test_writer_output_round_trips(tmp_path):
    w = ResultsWriter(tmp_path / "r.jsonl", {"env": dict(ENV), "run_id": "abc"})
    w.write(Record(op="nn.conv2d", check="reference", outcome="pass", case_id="k1", max_abs_err=float("nan"),
                   tolerance={"atol": 1e-5, "rtol": 1e-5}, input_shapes=[(1, 3, 8, 8)], attrs={"a": 1}))
    w.write(Record(op="nn.conv2d", check="offload", outcome="fail", case_id="k1", actual_offload=False))
    w.close()
    run = load_results(tmp_path / "r.jsonl")
    assert run.run_id == "abc" and len(run.records) == 2 and run.warnings == []
    assert run.records[0]["max_abs_err"] == "nan"
    assert run.label == "tvm0.27 trt8.6.1"
    assert run.outcomes_by_check() == {"reference": {"pass": 1}, "offload": {"fail": 1}}
    assert run.per_op()["nn.conv2d"]["offload"]["fail"] == 1
    assert summary_line(run) == "tvm0.27 trt8.6.1: 1 ops, 1 cases; offload 1 fail; reference 1 pass"


def test_missing_file(tmp_path):
    assert "no such file" in error_of(tmp_path / "nope.jsonl")


def test_directory(tmp_path):
    assert "is a directory" in error_of(tmp_path)


def test_empty_file(tmp_path):
    p = tmp_path / "e.jsonl"
    p.write_bytes(b"")
    assert "empty file" in error_of(p)


def test_truncated_last_line_is_a_warning(tmp_path):
    good = json.dumps(record(case_id="c1"))
    p = write_lines(tmp_path / "t.jsonl", [header(), good, good.replace("c1", "c2")[:37]], tail="")
    run = load_results(p)
    assert [r["case_id"] for r in run.records] == ["c1"]
    assert len(run.warnings) == 1 and "line 3: incomplete last line" in run.warnings[0]


def test_truncated_inside_multibyte_char_is_a_warning(tmp_path):
    cut = json.dumps(record(reason="é"), ensure_ascii=False).encode("utf-8")
    cut = cut[: cut.index("é".encode()) + 1]
    p = tmp_path / "t.jsonl"
    p.write_bytes(json.dumps(header()).encode() + b"\n" + cut)
    assert load_results(p).records == [] and "incomplete last line" in load_results(p).warnings[0]


def test_bad_line_in_the_middle_is_an_error(tmp_path):
    good = json.dumps(record())
    p = write_lines(tmp_path / "m.jsonl", [header(), good[:30], good])
    assert ": line 2: invalid JSON" in error_of(p)


def test_bad_last_line_with_newline_is_an_error(tmp_path):
    p = write_lines(tmp_path / "m.jsonl", [header(), json.dumps(record())[:30]])
    assert ": line 2: invalid JSON" in error_of(p)


def test_partial_line_before_resume_header_is_tolerated(tmp_path):
    """What ResultsWriter._repair_tail leaves after a SIGKILL and --resume."""
    good = json.dumps(record())
    p = write_lines(tmp_path / "r.jsonl", [header(), good[:40], header(resumed=True), record(case_id="c2")])
    run = load_results(p)
    assert [r["case_id"] for r in run.records] == ["c2"] and len(run.headers) == 2
    assert "line 2: partial line" in run.warnings[0]


def test_non_utf8(tmp_path):
    p = tmp_path / "b.jsonl"
    p.write_bytes(json.dumps(header()).encode() + b"\n" + b'{"kind": "record", "op": "\xff\xfe"}\n')
    msg = error_of(p)
    assert "line 2: not UTF-8 (byte 0xff" in msg


def test_invalid_json_first_line(tmp_path):
    p = write_lines(tmp_path / "j.jsonl", ["{not json", json.dumps(record())])
    assert "line 1: invalid JSON" in error_of(p)


def test_nan_literal_is_refused(tmp_path):
    p = write_lines(tmp_path / "n.jsonl", [header(), json.dumps(record()).replace('"max_abs_err": null', '"max_abs_err": NaN')])
    assert "line 2: invalid JSON: NaN" in error_of(p)


def test_first_line_must_be_header(tmp_path):
    p = write_lines(tmp_path / "h.jsonl", [record()])
    assert "line 1: not a results file" in error_of(p)


def test_not_an_object(tmp_path):
    p = write_lines(tmp_path / "a.jsonl", [header(), [1, 2]])
    assert "line 2: expected a JSON object, got list" in error_of(p)


def test_blank_line(tmp_path):
    p = write_lines(tmp_path / "b.jsonl", [header(), "", record()])
    assert "line 2: empty line" in error_of(p)


@pytest.mark.parametrize("field,value,expect", [
    ("outcome", 42, "field outcome: 42 is not one of"),
    ("outcome", "passed", "field outcome: \"passed\" is not one of"),
    ("check", "speed", "field check"),
    ("max_abs_err", "big", "field max_abs_err"),
    ("max_abs_err", True, "field max_abs_err"),
    ("input_shapes", "1x3", "field input_shapes: \"1x3\" is not of type array"),
    ("input_shapes", [[1, 2.5]], "field input_shapes/0/1"),
    ("attrs", [], "field attrs: an array is not of type object"),
    ("tolerance", {"atol": 1}, "field tolerance: 'rtol' is required"),
    ("timings", {"tensorrt": {"build_s": 1.0}}, "field timings/tensorrt: 'median_s' is required"),
    ("timings", {"tensorrt": {"median_s": 1.0, "rounds": -1}}, "field timings/tensorrt/rounds"),
    ("error_kind", "oom", "field error_kind"),
    ("case_id", "", "field case_id: is too short"),
])
def test_wrong_types_in_record(tmp_path, field, value, expect):
    rec = record()
    rec[field] = value
    p = write_lines(tmp_path / "w.jsonl", [header(), rec])
    msg = error_of(p)
    assert f": line 2: {expect}" in msg, msg


@pytest.mark.parametrize("missing", ["op", "check", "outcome", "case_id", "run_id"])
def test_missing_required_record_field(tmp_path, missing):
    rec = record()
    del rec[missing]
    assert f"line 2: '{missing}' is required" in error_of(write_lines(tmp_path / "w.jsonl", [header(), rec]))


def test_wrong_types_in_header(tmp_path):
    h = header()
    h["env"]["gpu"] = 3
    assert "line 1: field env/gpu: 3 is not of type string or null" in error_of(write_lines(tmp_path / "h.jsonl", [h]))


def test_unknown_kind(tmp_path):
    assert "line 2: field kind" in error_of(write_lines(tmp_path / "k.jsonl", [header(), {"kind": "note"}]))


def test_wrong_schema_name(tmp_path):
    assert "line 1: schema is 'other'" in error_of(write_lines(tmp_path / "s.jsonl", [header(schema="other")]))


def test_wrong_schema_version_is_refused_with_reason(tmp_path):
    msg = error_of(write_lines(tmp_path / "v.jsonl", [header(schema_version=2), record()]))
    assert "line 1: schema_version 2 is not supported: this harness reads version 1 and has no converter" in msg


def test_schema_version_not_an_integer(tmp_path):
    assert "schema_version must be an integer" in error_of(write_lines(tmp_path / "v.jsonl", [header(schema_version=True)]))


def test_schema_version_converted_when_a_converter_exists(tmp_path, monkeypatch):
    def from_v0(line: dict) -> dict:
        line = dict(line, schema_version=1) if line["kind"] == "header" else dict(line)
        if "result" in line:
            line["outcome"] = line.pop("result")
        return line

    monkeypatch.setitem(reader.CONVERTERS, 0, from_v0)
    old = record()
    old["result"] = old.pop("outcome")
    run = load_results(write_lines(tmp_path / "v0.jsonl", [header(schema_version=0), old]))
    assert run.records[0]["outcome"] == "pass"


def test_record_of_another_run(tmp_path):
    assert "does not match its header" in error_of(write_lines(tmp_path / "x.jsonl", [header(), record(run_id="zz")]))


def test_huge_line(tmp_path):
    rec = record(reason="x" * (reader.MAX_LINE_BYTES + 10))
    assert "line 2: longer than the" in error_of(write_lines(tmp_path / "huge.jsonl", [header(), rec]))


def test_deeply_nested_json(tmp_path):
    p = write_lines(tmp_path / "d.jsonl", [header(), "[" * 100000 + "]" * 100000])
    assert "line 2:" in error_of(p)


def test_huge_integer(tmp_path):
    p = write_lines(tmp_path / "i.jsonl", [header(), '{"kind": "record", "x": ' + "9" * 5000 + "}"])
    assert "line 2: invalid JSON" in error_of(p)


def test_resumed_file_dedupes_keeping_last(tmp_path):
    p = write_lines(tmp_path / "r.jsonl", [header(), record(outcome="error"), header(resumed=True),
                                           record(outcome="pass"), record(case_id="c2")])
    run = load_results(p)
    assert [(r["case_id"], r["outcome"]) for r in run.records] == [("c1", "pass"), ("c2", "pass")]


def test_merge_shards_and_load_many(tmp_path):
    a = write_lines(tmp_path / "a.jsonl", [header(), record(case_id="c1", outcome="fail"), record(case_id="c2")])
    b = write_lines(tmp_path / "b.jsonl", [header(), record(case_id="c1", outcome="pass"), record(case_id="c3")])
    c = write_lines(tmp_path / "c.jsonl", [header("r2"), record(case_id="c1", run_id="r2")])
    runs = load_many([a, c, b])
    assert [r.run_id for r in runs] == ["r1", "r2"]
    assert {r["case_id"]: r["outcome"] for r in runs[0].records} == {"c1": "pass", "c2": "pass", "c3": "pass"}
    assert runs[0].paths == [a, b]
    # same versions -> same label -> made unique with the run id
    assert runs[0].label != runs[1].label and runs[0].label.startswith("tvm0.27 trt8.6.1")


def test_merge_refuses_different_runs(tmp_path):
    a = load_results(write_lines(tmp_path / "a.jsonl", [header("r1")]))
    b = load_results(write_lines(tmp_path / "b.jsonl", [header("r2")]))
    with pytest.raises(InputError, match="cannot merge different runs"):
        merge([a, b])


def test_merge_warns_when_shards_ran_on_different_gpus(tmp_path):
    h2 = header()
    h2["env"]["gpu"] = "A100"
    a = load_results(write_lines(tmp_path / "a.jsonl", [header()]))
    b = load_results(write_lines(tmp_path / "b.jsonl", [h2]))
    assert any("differ in gpu" in w for w in merge([a, b]).warnings)


def test_label_from_header():
    assert Run(headers=[header(label="nightly")], records=[]).label == "nightly"


def test_schema_file_is_valid_and_agrees_with_jsonschema():
    jsonschema = pytest.importorskip("jsonschema")
    schema = reader.load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    v = jsonschema.Draft202012Validator(schema)
    samples = [header(), record(), record(max_abs_err="inf", tolerance={"atol": 1, "rtol": 0}),
               dict(record(), outcome=1), dict(record(), timings={"speedup": None, "cuda": {"median_s": "nan"}}),
               dict(record(), timings={"cuda": {"median_s": 1, "rounds": 1.5}}), dict(header(), schema_version=True)]
    for s in samples:
        assert v.is_valid(s) == (reader.schema_error(s) is None), s


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)
    | st.sampled_from(["nan", "inf", "pass", "fail", "offload", "tensorrt", "crash", "match", "r1"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
FIELDS = list(record().keys())


@st.composite
def mutated_record(draw):
    rec = record(timings={"tensorrt": {"median_s": 1.0, "iqr_s": 0.1}, "speedup": 2.0},
                 tolerance={"atol": 1e-5, "rtol": 1e-5})
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(FIELDS + ["extra"]))
        if draw(st.booleans()):
            rec[key] = draw(json_values)
        else:
            rec.pop(key, None)
    return rec


def _load_bytes(data: bytes):
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "f.jsonl")
        with open(p, "wb") as fh:
            fh.write(data)
        try:
            return load_results(p)
        except InputError as exc:
            assert "\n" not in str(exc)
            return None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes(data):
    _load_bytes(data)
    _load_bytes(json.dumps(header()).encode() + b"\n" + data)


@settings(max_examples=300, deadline=None)
@given(st.lists(json_values, max_size=4), st.booleans())
def test_fuzz_arbitrary_json_lines(values, newline):
    text = "\n".join([json.dumps(header())] + [json.dumps(v) for v in values]) + ("\n" if newline else "")
    _load_bytes(text.encode())


@settings(max_examples=300, deadline=None)
@given(mutated_record())
def test_fuzz_mutated_records_agree_with_jsonschema(rec):
    run = _load_bytes((json.dumps(header()) + "\n" + json.dumps(rec) + "\n").encode())
    jsonschema = pytest.importorskip("jsonschema")
    valid = jsonschema.Draft202012Validator(reader.load_schema()).is_valid(rec) and rec.get("run_id") == "r1"
    assert (run is not None) == valid, rec
