"""harness.reader: typed runs back from results files; every kind of bad input is one InputError line
naming the file and line; cut lines, resumed files, merged shards and schema-1 files."""
from __future__ import annotations

import json
import math
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import reader
from harness.errors import InputError
from harness.reader import Run, default_label, load_many, load_results, merge, summary_line
from harness.records import SCHEMA_NAME, SCHEMA_VERSION, Header, Record, Stats, Timing
from harness.results import append_shards


@pytest.fixture
def b(build):
    return build


def lines_file(path, lines, tail="\n") -> str:
    """A file of the given lines: typed lines are encoded, text and bytes written as they are."""
    out = []
    for line in lines:
        if isinstance(line, (Header, Record)):
            from harness.records import encode

            line = encode(line)
        out.append(line.encode() if isinstance(line, str) else line)
    with open(path, "wb") as fh:
        fh.write(b"\n".join(out) + tail.encode())
    return str(path)


def error_of(path, **kw) -> str:
    with pytest.raises(InputError) as info:
        load_results(path, **kw)
    msg = str(info.value)
    assert "\n" not in msg, msg
    assert msg.startswith(str(path)), msg
    return msg


# -- round trips ------------------------------------------------------------------------------------
def test_writer_output_round_trips(b, tmp_path):
    recs = [b.record(op="nn.conv2d", case_id="k1", max_abs_err=math.nan, tolerance=b.TOL, input_shapes=[[1, 3, 8, 8]],
                     attrs={"a": 1}),
            b.record(op="nn.conv2d", case_id="k1", check="offload", outcome="fail",
                     offload=b.offload("under-offload", {"relax.nn.conv2d": 0}))]
    p = b.write(tmp_path / "r.jsonl", b.header("abc"), recs)
    run = load_results(p)
    assert run.run_id == "abc" and len(run.records) == 2 and run.warnings == [] and run.paths == [p]
    assert math.isnan(run.records[0].max_abs_err) and run.records[0].input_shapes == [[1, 3, 8, 8]]
    assert run.records[1].offload.verdict == "under-offload"
    assert run.label == "tvm0.27 trt8.6.1" and run.env == b.ENV
    assert run.outcomes_by_check() == {"reference": {"pass": 1}, "offload": {"fail": 1}}
    assert run.per_op() == {"nn.conv2d": {"reference": {"pass": 1}, "offload": {"fail": 1}}}
    assert run.ops() == ["nn.conv2d"] and run.n_cases() == 1
    assert set(run.index()) == {("nn.conv2d", "k1", "reference"), ("nn.conv2d", "k1", "offload")}
    assert summary_line(run) == "tvm0.27 trt8.6.1: 1 ops, 1 cases; offload 1 fail; reference 1 pass"


def test_non_finite_timings_round_trip(b, tmp_path):
    t = Timing(latency=Stats(median_s=math.inf, iqr_s=math.nan), device=Stats(median_s=-math.inf))
    run = load_results(b.write(tmp_path / "r.jsonl", b.header(), [b.record(timings={"tensorrt": t}, speedup=math.nan)]))
    got = run.records[0]
    assert got.timings["tensorrt"].latency.median_s == math.inf and math.isnan(got.timings["tensorrt"].latency.iqr_s)
    assert got.timings["tensorrt"].device.median_s == -math.inf and math.isnan(got.speedup)
    with open(tmp_path / "r.jsonl") as fh:
        text = fh.read()
    assert '"median_s":"inf"' in text and '"median_s":"-inf"' in text and "NaN" not in text and "Infinity" not in text


def test_summary_of_an_empty_run(b, tmp_path):
    run = load_results(b.write(tmp_path / "r.jsonl", b.header(label="empty")))
    assert run.records == [] and summary_line(run) == "empty: 0 ops, 0 cases; no records"
    assert run.table == []


def test_table_from_the_header(b, tmp_path):
    from harness.records import TableOp

    h = b.header()
    h.ops = [TableOp(name="nn.relu", tvm_op="relax.nn.relu")]
    run = load_results(b.write(tmp_path / "r.jsonl", h))
    assert run.table == [TableOp(name="nn.relu", tvm_op="relax.nn.relu")]


def test_summary_line_orders_checks_and_outcomes(b):
    run = b.run([b.record(case_id="a", check="tensorrt", outcome="skip"), b.record(case_id="a", outcome="fail"),
                 b.record(case_id="b"), b.record(case_id="a", check="offload", outcome="xfail")], label="L")
    assert summary_line(run) == "L: 1 ops, 2 cases; offload 1 xfail; reference 1 pass, 1 fail; tensorrt 1 skip"


# -- files that are not results files -----------------------------------------------------------------
def test_missing_file(tmp_path):
    assert error_of(tmp_path / "nope.jsonl") == f"{tmp_path / 'nope.jsonl'}: no such file"


def test_directory(tmp_path):
    assert error_of(tmp_path) == f"{tmp_path}: is a directory, not a results file"


def test_empty_file(tmp_path):
    p = tmp_path / "e.jsonl"
    p.write_bytes(b"")
    assert error_of(p) == f"{p}: empty file (a results file starts with a header line)"


def test_unreadable_file(b, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    p = b.write(tmp_path / "r.jsonl", b.header())
    os.chmod(p, 0)
    assert "cannot read" in error_of(p)


def test_huge_line(b, tmp_path):
    limit = len(b.encoded(b.header())) + 1
    p = lines_file(tmp_path / "huge.jsonl", [b.header(), b.record(reason="x" * limit)])
    assert error_of(p, max_line_bytes=limit) == f"{p}: line 2: longer than the {limit}-byte limit"
    assert len(load_results(p, max_line_bytes=len(b.encoded(b.record(reason="x" * limit))) + 1).records) == 1
    assert reader.MAX_LINE_BYTES == 8 * 1024 * 1024


def test_huge_first_line(tmp_path):
    p = tmp_path / "h.jsonl"
    p.write_bytes(b"x" * 50)
    assert error_of(p, max_line_bytes=10) == f"{p}: line 1: longer than the 10-byte limit"


# -- cut lines ----------------------------------------------------------------------------------------
def test_cut_last_line_is_a_warning(b, tmp_path):
    good = b.encoded(b.record(case_id="c1"))
    p = lines_file(tmp_path / "t.jsonl", [b.header(), good, good.replace("c1", "c2")[:37]], tail="")
    run = load_results(p)
    assert [r.case_id for r in run.records] == ["c1"]
    assert run.warnings == [f"{p}: line 3: incomplete last line ignored (interrupted run?)"]


def test_cut_inside_a_multibyte_character_is_a_warning(b, tmp_path):
    cut = b.encoded(b.record(reason="é")).encode("utf-8")
    cut = cut[: cut.index("é".encode()) + 1]
    p = lines_file(tmp_path / "t.jsonl", [b.header(), cut], tail="")
    run = load_results(p)
    assert run.records == [] and "line 2: incomplete last line" in run.warnings[0]


def test_a_cut_header_alone_is_an_error(b, tmp_path):
    p = lines_file(tmp_path / "t.jsonl", [b.encoded(b.header())[:30]], tail="")
    assert ": line 1: invalid JSON" in error_of(p)


def test_cut_middle_line_is_an_error_naming_the_line(b, tmp_path):
    good = b.encoded(b.record())
    p = lines_file(tmp_path / "m.jsonl", [b.header(), good, good[:30], good])
    assert error_of(p).startswith(f"{p}: line 3: invalid JSON at column ")


def test_cut_last_line_with_its_newline_is_an_error(b, tmp_path):
    p = lines_file(tmp_path / "m.jsonl", [b.header(), b.encoded(b.record())[:30]])
    assert ": line 2: invalid JSON" in error_of(p)


def test_partial_line_before_a_resumed_header_is_a_warning(b, tmp_path):
    """What ResultsWriter._repair_tail leaves after a SIGKILL and --resume."""
    p = tmp_path / "r.jsonl"
    b.write(p, b.header("r1"), [b.record(case_id="c1")])
    with open(p, "ab") as fh:
        fh.write(b.encoded(b.record(case_id="c2")).encode()[:40])          # killed mid-write
    b.write(p, b.header("ignored"), [b.record(case_id="c3")], resume=True)
    run = load_results(p)
    assert [r.case_id for r in run.records] == ["c1", "c3"] and len(run.headers) == 2
    assert run.headers[1].resumed and run.headers[1].run_id == "r1"
    assert run.warnings == [f"{p}: line 3: partial line left by an interrupted run before --resume ignored"]


def test_a_bad_line_before_a_header_that_is_not_resumed_is_an_error(b, tmp_path):
    p = lines_file(tmp_path / "r.jsonl", [b.header(), b.encoded(b.record())[:40], b.header()])
    assert ": line 2: invalid JSON" in error_of(p)


def test_a_bad_line_before_a_record_is_an_error(b, tmp_path):
    p = lines_file(tmp_path / "r.jsonl", [b.header(), "{oops", b.header(resumed=True), "{oops2"])
    assert error_of(p).startswith(f"{p}: line 4: invalid JSON")


# -- malformed lines ----------------------------------------------------------------------------------
def test_non_utf8(b, tmp_path):
    p = lines_file(tmp_path / "b.jsonl", [b.header(), b'{"kind": "record", "op": "\xff\xfe"}'])
    assert error_of(p) == f"{p}: line 2: not UTF-8 (byte 0xff at column 27)"


def test_non_utf8_inside_a_string_of_a_header(b, tmp_path):
    line = b.encoded(b.header(label="x")).encode().replace(b'"label":"x"', b'"label":"\xc3"')
    p = lines_file(tmp_path / "b.jsonl", [line])
    column = line.index(b'"label":"') + len(b'"label":"') + 1
    assert error_of(p) == f"{p}: line 1: not UTF-8 (byte 0xc3 at column {column})"


def test_non_utf8_header(tmp_path):
    p = lines_file(tmp_path / "b.jsonl", [b"\xfe{}"])
    assert error_of(p) == f"{p}: line 1: not UTF-8 (byte 0xfe at column 1)"


def test_invalid_json_first_line(b, tmp_path):
    p = lines_file(tmp_path / "j.jsonl", ["{not json", b.record()])
    assert "line 1: invalid JSON" in error_of(p)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_literals_are_refused(b, tmp_path, literal):
    line = b.encoded(b.record(max_abs_err=1.5)).replace("1.5", literal)
    p = lines_file(tmp_path / "n.jsonl", [b.header(), line])
    assert f"line 2: invalid JSON" in error_of(p)


def test_nan_literal_in_a_header_is_refused(b, tmp_path):
    line = b.encoded(b.header()).replace('"hypothesis_seed":1', '"hypothesis_seed":NaN')
    p = lines_file(tmp_path / "n.jsonl", [line])
    assert error_of(p) == (f"{p}: line 1: invalid JSON: NaN is not valid JSON (non-finite numbers are written as "
                           "strings)")


def test_nan_literal_in_a_v1_record_is_refused(b, tmp_path):
    p = lines_file(tmp_path / "n.jsonl", [b.V1_HEADER, b.V1_RECORDS[1].replace('"nan"', "NaN")])
    assert "line 2: invalid JSON: NaN is not valid JSON" in error_of(p)


def test_first_line_must_be_a_header(b, tmp_path):
    p = lines_file(tmp_path / "h.jsonl", [b.record()])
    assert error_of(p) == f"{p}: line 1: not a results file: the first line must be a header (kind 'header')"


def test_not_an_object(b, tmp_path):
    p = lines_file(tmp_path / "a.jsonl", [b.header(), "[1, 2]"])
    assert error_of(p) == f"{p}: line 2: expected a JSON object, got array"
    p = lines_file(tmp_path / "a.jsonl", ['["header"]'])
    assert error_of(p) == f"{p}: line 1: expected a JSON object, got array"


@pytest.mark.parametrize("blank", ["", "   ", "\t"])
def test_blank_line(b, tmp_path, blank):
    p = lines_file(tmp_path / "b.jsonl", [b.header(), blank, b.record()])
    assert error_of(p) == f"{p}: line 2: empty line"


def test_only_whitespace(tmp_path):
    p = tmp_path / "w.jsonl"
    p.write_text("\n\n")
    assert error_of(p) == f"{p}: line 1: empty line"


@pytest.mark.parametrize("field,value", [
    ("outcome", 42), ("outcome", "passed"), ("check", "speed"), ("max_abs_err", "big"), ("input_shapes", [[1, 2.5]]),
    ("attrs", []), ("tolerance", {"atol": 1}), ("timings", {"t": {"latency": {"median_s": 1, "rounds": -1}}}),
    ("error_kind", "oom"), ("case_id", ""),
])
def test_wrong_types_in_a_record(b, tmp_path, field, value):
    obj = json.loads(b.encoded(b.record()))
    obj[field] = value
    p = lines_file(tmp_path / "w.jsonl", [b.header(), json.dumps(obj)])
    assert error_of(p).startswith(f"{p}: line 2: field {field!r} of a record: ")


@pytest.mark.parametrize("missing", ["op", "check", "outcome", "case_id"])
def test_missing_required_record_field(b, tmp_path, missing):
    obj = json.loads(b.encoded(b.record()))
    del obj[missing]
    assert error_of(lines_file(tmp_path / "w.jsonl", [b.header(), json.dumps(obj)])).endswith(
        f"line 2: missing required field {missing!r} of a record")


def test_unknown_kind(b, tmp_path):
    assert "line 2: field 'kind' must be 'header' or 'record', not 'note'" in error_of(lines_file(tmp_path / "k.jsonl", [
        b.header(), '{"kind": "note"}']))


def test_unknown_fields_are_ignored(b, tmp_path):
    obj = json.loads(b.encoded(b.record()))
    obj["future_field"] = {"x": 1}
    assert load_results(lines_file(tmp_path / "u.jsonl", [b.header(), json.dumps(obj)])).records[0].op == "nn.relu"


def test_wrong_types_in_a_header(b, tmp_path):
    obj = json.loads(b.encoded(b.header()))
    obj["env"] = []
    assert "line 1: field 'env' of a header: " in error_of(lines_file(tmp_path / "h.jsonl", [
        json.dumps(obj)]))


def test_wrong_schema_name(b, tmp_path):
    obj = json.loads(b.encoded(b.header()))
    obj["schema"] = "other"
    assert error_of(lines_file(tmp_path / "s.jsonl", [json.dumps(obj)])).endswith(
        f"line 1: schema is 'other', expected {SCHEMA_NAME!r}")
    del obj["schema"]
    assert "line 1: schema is 'None'" in error_of(lines_file(tmp_path / "s.jsonl", [json.dumps(obj)]))


@pytest.mark.parametrize("version", [0, 3, SCHEMA_VERSION + 1])
def test_unsupported_schema_version_is_refused_with_reason(b, tmp_path, version):
    obj = json.loads(b.encoded(b.header()))
    obj["schema_version"] = version
    assert error_of(lines_file(tmp_path / "v.jsonl", [json.dumps(obj)])).endswith(
        f"line 1: schema_version {version} is not supported: this harness reads versions 1 and {SCHEMA_VERSION}")


@pytest.mark.parametrize("version", [True, "2", 2.0, None])
def test_schema_version_must_be_an_integer(b, tmp_path, version):
    obj = json.loads(b.encoded(b.header()))
    obj["schema_version"] = version
    assert "line 1: schema_version must be an integer, got " in error_of(lines_file(tmp_path / "v.jsonl",
                                                                                     [json.dumps(obj)]))


def test_a_later_header_with_an_unsupported_version(b, tmp_path):
    obj = json.loads(b.encoded(b.header(resumed=True)))
    obj["schema_version"] = 9
    assert "line 3: schema_version 9 is not supported" in error_of(lines_file(tmp_path / "v.jsonl", [
        b.header(), b.record(), json.dumps(obj)]))


def test_record_of_another_run(b, tmp_path):
    p = lines_file(tmp_path / "x.jsonl", [b.header("r1"), b.record(run_id="zz")])
    assert error_of(p) == f"{p}: line 2: record run_id 'zz' does not match its header's 'r1'"


def test_record_after_a_resumed_header_of_another_run(b, tmp_path):
    p = lines_file(tmp_path / "x.jsonl", [b.header("r1"), b.record(run_id="r1"), b.header("r2", resumed=True),
                                          b.record(run_id="r1")])
    assert "line 4: record run_id 'r1' does not match its header's 'r2'" in error_of(p)


def test_deeply_nested_json(b, tmp_path):
    p = lines_file(tmp_path / "d.jsonl", [b.header(), "[" * 100000 + "]" * 100000])
    assert "line 2:" in error_of(p)
    p = lines_file(tmp_path / "d.jsonl", ['{"kind": "header", "x": ' + "[" * 100000 + "]" * 100000 + "}"])
    assert error_of(p) == f"{p}: line 1: nested too deeply"


def test_huge_integer(b, tmp_path):
    p = lines_file(tmp_path / "i.jsonl", [b.header(), '{"kind": "record", "x": ' + "9" * 5000 + "}"])
    assert "line 2: " in error_of(p)


# -- schema 1 -------------------------------------------------------------------------------------
def test_schema_1_golden_file_loads(b, tmp_path):
    run = load_results(lines_file(tmp_path / "v1.jsonl", [b.V1_HEADER, *b.V1_RECORDS]))
    assert run.run_id == "v1run" and run.headers[0].schema_version == SCHEMA_VERSION and run.warnings == []
    assert [(r.op, r.check, r.outcome) for r in run.records] == [
        ("nn.relu", "offload", "fail"), ("nn.relu", "tensorrt", "pass"), ("model:resnet18", "offload", "pass")]
    assert run.records[0].offload.verdict == "over-offload" and run.records[0].weights == [("w", [3])]
    assert run.records[1].timings["tensorrt"].latency.median_s == 0.001 and run.records[1].speedup == 2.0
    assert run.records[2].offload.actual == {"relax.nn.conv2d": 20} and run.records[2].details["nodes"] == 69
    assert run.label == "tvm0.26 trt8.6.1"


def test_schema_1_file_resumed_by_schema_2(b, tmp_path):
    p = tmp_path / "v1.jsonl"
    lines_file(p, [b.V1_HEADER, b.V1_RECORDS[0]])
    b.write(p, b.header(), [b.record(case_id="new")], resume=True)
    run = load_results(p)
    assert [r.case_id for r in run.records] == ["nn.relu-0123456789", "new"]
    assert run.headers[1].run_id == "v1run" and run.headers[1].resumed


def test_a_record_naming_header_is_still_a_record(b, tmp_path):
    p = lines_file(tmp_path / "r.jsonl", [b.header(), b.record(reason='the "header" said so')])
    assert load_results(p).records[0].reason == 'the "header" said so'


# -- one run from several files -------------------------------------------------------------------
def test_resumed_file_dedupes_keeping_the_last(b, tmp_path):
    p = lines_file(tmp_path / "r.jsonl", [b.header(), b.record(outcome="error", error_kind="crash"),
                                          b.header(resumed=True), b.record(outcome="pass"), b.record(case_id="c2")])
    run = load_results(p)
    assert [(r.case_id, r.outcome) for r in run.records] == [("c1", "pass"), ("c2", "pass")]


def test_run_keeps_the_order_of_last_occurrence(b):
    run = b.run([b.record(case_id="a"), b.record(case_id="b"), b.record(case_id="a", outcome="fail")])
    assert [(r.case_id, r.outcome) for r in run.records] == [("b", "pass"), ("a", "fail")]


def test_merge_and_load_many(b, tmp_path):
    a = b.write(tmp_path / "a.jsonl", b.header("r1"), [b.record(case_id="c1", outcome="fail"), b.record(case_id="c2")])
    bb = b.write(tmp_path / "b.jsonl", b.header("r1"), [b.record(case_id="c1", outcome="pass"),
                                                         b.record(case_id="c3")])
    c = b.write(tmp_path / "c.jsonl", b.header("r2"), [b.record(case_id="c1")])
    runs = load_many([a, c, bb])
    assert [r.run_id for r in runs] == ["r1", "r2"]
    assert {r.case_id: r.outcome for r in runs[0].records} == {"c1": "pass", "c2": "pass", "c3": "pass"}
    assert runs[0].paths == [a, bb] and len(runs[0].headers) == 2
    # same versions -> same label -> made unique with the run id
    assert [r.label for r in runs] == ["tvm0.27 trt8.6.1 [r1]", "tvm0.27 trt8.6.1 [r2]"]


def test_load_many_keeps_distinct_labels(b, tmp_path):
    a = b.write(tmp_path / "a.jsonl", b.header("r1", label="old"))
    c = b.write(tmp_path / "c.jsonl", b.header("r2", label="new"))
    assert [r.label for r in load_many([a, c])] == ["old", "new"]


def test_merge_refuses_different_runs(b):
    with pytest.raises(InputError) as info:
        merge([b.run([], "r1"), b.run([], "r2"), b.run([], "r1")])
    assert str(info.value) == "cannot merge different runs: run_ids r1, r2"
    with pytest.raises(InputError, match="nothing to merge"):
        merge([])


def test_merge_warns_when_parts_ran_on_different_gpus(b):
    one, two = b.run([], "r1"), b.run([], "r1", gpu="A100", hostname="ci-2")
    one.paths, two.paths = ["a"], ["b"]
    m = merge([one, two])
    assert m.warnings == ["a, b: parts of run r1 differ in gpu: 'H100' vs 'A100'",
                          "a, b: parts of run r1 differ in hostname: 'ci-1' vs 'ci-2'"]
    assert merge([one, b.run([], "r1", hypothesis_seed=3)]).warnings == []       # not an identity key


def test_a_resumed_part_on_another_machine_is_a_warning(b, tmp_path):
    p = tmp_path / "r.jsonl"
    b.write(p, b.header("r1"), [b.record()])
    b.write(p, b.header("r1", machine="aarch64", tvm_version="0.28"), [], resume=True)
    assert load_results(p).warnings == [f"{p}: parts of run r1 differ in tvm_version: '0.27' vs '0.28'"]


def test_merge_keeps_the_first_label_and_the_last_record(b):
    one = b.run([b.record(outcome="fail")], "r1", label="first")
    two = b.run([b.record(outcome="pass")], "r1", label="second")
    m = merge([one, two])
    assert m.label == "first" and [r.outcome for r in m.records] == ["pass"]


@pytest.mark.parametrize("env,label", [
    ({"tvm_version": "0.27", "trt_version": "8.6.1"}, "tvm0.27 trt8.6.1"),
    ({"tvm_version": "0.27", "tensorrt_version": "10.0.1"}, "tvm0.27 trt10.0.1"),
    ({"tvm_version": "0.27", "trt_version": "8.6.1", "tensorrt_version": "10.0.1"}, "tvm0.27 trt8.6.1"),
    ({"tvm_version": "0.27"}, "tvm0.27 trt?"),
    ({"trt_version": "8.6.1"}, "tvm? trt8.6.1"),
    ({}, "run r1"),
])
def test_default_label(env, label):
    from harness.results import header

    assert default_label(header(suite="ops", env=env, run_id="r1", with_table=False)) == label


def test_label_from_the_header(b):
    assert Run(headers=[b.header(label="nightly")], records=[]).label == "nightly"
    assert Run(headers=[], records=[]).label == "run"
    assert Run(headers=[], records=[], label="given").label == "given" and Run(headers=[], records=[]).env == {}


# -- shards appended by harness.results.append_shards -----------------------------------------------
def shard(b, path, run_id, cases, outcome="pass"):
    return b.write(path, b.header(run_id), [b.record(case_id=c, outcome=outcome) for c in cases])


def test_shards_without_overlap_lose_nothing(b, tmp_path):
    base = b.write(tmp_path / "r.jsonl", b.header("main"), [b.record(case_id="c0")])
    shards = [shard(b, tmp_path / "r.jsonl.gw0", "w0", ["c1", "c2"]), shard(b, tmp_path / "r.jsonl.gw1", "w1", ["c3"])]
    assert append_shards(base, shards) == 3
    run = load_results(base)
    assert [r.case_id for r in run.records] == ["c0", "c1", "c2", "c3"]
    assert {r.run_id for r in run.records} == {"main"} and len(run.headers) == 1
    assert not any(os.path.exists(s) for s in shards)


def test_overlapping_shards_give_no_duplicates(b, tmp_path):
    """A (case, check) already in the file, or in an earlier shard, is kept as it is; the repeat is
    dropped (a killed merge leaves copies of records already appended)."""
    base = b.write(tmp_path / "r.jsonl", b.header("main"), [b.record(case_id="c1", outcome="fail")])
    s0 = shard(b, tmp_path / "r.jsonl.gw0", "w0", ["c1", "c2"])
    s1 = shard(b, tmp_path / "r.jsonl.gw1", "w1", ["c2", "c3"], outcome="error")
    assert append_shards(base, [s0, s1], remove=False) == 2
    with open(base) as fh:
        raw = [json.loads(line) for line in fh if '"kind":"record"' in line]
    assert [(r["case_id"], r["outcome"]) for r in raw] == [("c1", "fail"), ("c2", "pass"), ("c3", "error")]
    assert os.path.exists(s0) and os.path.exists(s1)
    assert append_shards(base, [s0, s1]) == 0              # again: nothing new
    assert len(load_results(base).records) == 3


def test_shards_into_a_missing_file_take_the_first_shards_header(b, tmp_path):
    base = str(tmp_path / "r.jsonl")
    s0 = shard(b, tmp_path / "r.jsonl.gw0", "w0", ["c1"])
    s1 = shard(b, tmp_path / "r.jsonl.gw1", "w1", ["c2"])
    assert append_shards(base, [s0, s1], run_id="joined") == 2
    run = load_results(base)
    assert run.run_id == "joined" and len(run.headers) == 1 and [r.run_id for r in run.records] == ["joined"] * 2
    base2 = str(tmp_path / "r2.jsonl")
    assert append_shards(base2, [shard(b, tmp_path / "x.gw0", "w0", ["c1"])]) == 1
    assert load_results(base2).run_id == "w0"


def test_shards_take_the_given_run_id(b, tmp_path):
    base = b.write(tmp_path / "r.jsonl", b.header("main"))
    append_shards(base, [shard(b, tmp_path / "r.jsonl.gw0", "w0", ["c1"])], run_id="main")
    assert [r.run_id for r in load_results(base).records] == ["main"]


def test_a_partial_shard_line_is_skipped(b, tmp_path):
    base = b.write(tmp_path / "r.jsonl", b.header("main"))
    s0 = shard(b, tmp_path / "r.jsonl.gw0", "w0", ["c1"])
    with open(s0, "ab") as fh:
        fh.write(b.encoded(b.record(case_id="c2")).encode()[:30] + b"\n\n")
    assert append_shards(base, [s0]) == 1
    assert [r.case_id for r in load_results(base).records] == ["c1"]


def test_shards_after_a_cut_last_line(b, tmp_path):
    base = b.write(tmp_path / "r.jsonl", b.header("main"), [b.record(case_id="c0")])
    with open(base, "ab") as fh:
        fh.write(b'{"kind":"rec')
    append_shards(base, [shard(b, tmp_path / "r.jsonl.gw0", "w0", ["c1"])])
    with pytest.raises(InputError, match="line 3: invalid JSON"):     # the cut line is now in the middle
        load_results(base)
    with open(base, "rb") as fh:
        assert fh.read().count(b"\n") == 4


def test_no_shards(b, tmp_path):
    base = b.write(tmp_path / "r.jsonl", b.header("main"))
    assert append_shards(base, []) == 0 and len(load_results(base).headers) == 1


# -- fuzzing: every input is a Run or one InputError line --------------------------------------------
@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    """One file for every fuzzed input, in the session's temporary directory (nothing left in /tmp)."""
    return str(tmp_path_factory.mktemp("reader-fuzz"))


def _load_bytes(fuzz_dir: str, data: bytes):
    p = os.path.join(fuzz_dir, "f.jsonl")
    with open(p, "wb") as fh:
        fh.write(data)
    try:
        return load_results(p)
    except InputError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(p)
        return None


def _header_bytes(b) -> bytes:
    return b.encoded(b.header()).encode() + b"\n"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)
    | st.sampled_from(["nan", "inf", "pass", "fail", "offload", "tensorrt", "crash", "match", "r1", "header",
                       "record"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=200))
def test_fuzz_arbitrary_bytes(build, fuzz_dir, data):
    _load_bytes(fuzz_dir, data)
    _load_bytes(fuzz_dir, _header_bytes(build) + data)


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(values=st.lists(json_values | st.fixed_dictionaries({"kind": st.sampled_from(["record", "header"])},
                                                            optional={"op": json_values, "check": json_values,
                                                                      "run_id": json_values}), max_size=4),
       newline=st.booleans())
def test_fuzz_arbitrary_json_lines(build, fuzz_dir, values, newline):
    text = _header_bytes(build) + "\n".join(json.dumps(v) for v in values).encode() + (b"\n" if newline else b"")
    _load_bytes(fuzz_dir, text)


# -- edges that mutation testing showed unguarded ----------------------------------------------------
def test_a_run_is_named_by_its_first_header(b):
    first, second = b.header("r1", label="first"), b.header("r2", label="second", gpu="A100")
    run = Run(headers=[first, second], records=[])
    assert (run.run_id, run.label, run.env["gpu"]) == ("r1", "first", "H100")


def test_an_odd_line_limit(tmp_path):
    p = tmp_path / "h.jsonl"
    p.write_bytes(b"x" * 50)
    assert error_of(p, max_line_bytes=9) == f"{p}: line 1: longer than the 9-byte limit"


def test_a_complete_last_line_without_newline_loads(b, tmp_path):
    p = lines_file(tmp_path / "r.jsonl", [b.header(), b.record()], tail="")
    run = load_results(p)
    assert len(run.records) == 1 and run.warnings == []


def test_cannot_read(b, tmp_path, monkeypatch):
    p = b.write(tmp_path / "r.jsonl", b.header())

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(reader, "open", refuse, raising=False)
    assert error_of(p) == f"{p}: cannot read: Permission denied"


def test_long_values_are_cut_in_messages(b, tmp_path):
    obj = json.loads(b.encoded(b.header()))
    obj["schema"] = "s" * 100
    p = lines_file(tmp_path / "s.jsonl", [json.dumps(obj)])
    assert error_of(p).endswith(f"schema is {'s' * 80!r}, expected {SCHEMA_NAME!r}")
    obj = json.loads(b.encoded(b.header()))
    obj["schema_version"] = "9" * 50
    p = lines_file(tmp_path / "v.jsonl", [json.dumps(obj)])
    assert error_of(p).endswith(f"schema_version must be an integer, got {'9' * 40!r}")
    p = lines_file(tmp_path / "x.jsonl", [b.header("r1"), b.record(run_id="z" * 50)])
    assert error_of(p) == f"{p}: line 2: record run_id {'z' * 40!r} does not match its header's 'r1'"


def test_what_follows_a_bad_line_decides(b, tmp_path):
    # the next line is not JSON: the bad line is the error
    p = lines_file(tmp_path / "a.jsonl", [b.header(), "{oops", "{oops2", b.record()])
    assert error_of(p).startswith(f"{p}: line 2: invalid JSON")
    # the next line is a record (even one that says resumed): the bad line is the error
    obj = json.loads(b.encoded(b.record()))
    obj["resumed"] = True
    p = lines_file(tmp_path / "b.jsonl", [b.header(), "{oops", json.dumps(obj)])
    assert error_of(p).startswith(f"{p}: line 2: invalid JSON")
    # the next header is not marked resumed (true, not 1)
    obj = json.loads(b.encoded(b.header(resumed=True)))
    obj["resumed"] = 1
    p = lines_file(tmp_path / "c.jsonl", [b.header(), "{oops", json.dumps(obj)])
    assert error_of(p).startswith(f"{p}: line 2: invalid JSON")


def test_a_bad_first_line_is_never_a_partial_one(b, tmp_path):
    p = lines_file(tmp_path / "a.jsonl", ["{oops", b.header(resumed=True)])
    assert error_of(p).startswith(f"{p}: line 1: invalid JSON")


def test_partial_lines_anywhere_before_a_resumed_header(b, tmp_path):
    cut = b.encoded(b.record(case_id="cut"))[:40]
    p = lines_file(tmp_path / "a.jsonl", [b.header(), b.record(case_id="a"), b.record(case_id="b"), cut,
                                          b.header(resumed=True)])
    run = load_results(p)
    assert [r.case_id for r in run.records] == ["a", "b"] and "line 4: partial line" in run.warnings[0]


def test_long_files(b, tmp_path):
    recs = [b.record(case_id=f"c{i}") for i in range(300)]
    p = lines_file(tmp_path / "cut.jsonl", [b.header(), *recs, b.encoded(b.record(case_id="x"))[:30]], tail="")
    run = load_results(p)
    assert len(run.records) == 300 and "line 302: incomplete last line" in run.warnings[0]
    p = lines_file(tmp_path / "bad.jsonl", [b.header(), *recs, b.encoded(b.record(case_id="x"))[:30]])
    assert error_of(p).startswith(f"{p}: line 302: invalid JSON")


def test_first_line_of_another_kind(tmp_path):
    p = lines_file(tmp_path / "k.jsonl", ['{"kind": "abc", "schema": "tvm-trt-harness.results"}'])
    assert error_of(p) == f"{p}: line 1: not a results file: the first line must be a header (kind 'header')"


def test_a_record_holding_the_word_header(b, tmp_path):
    p = lines_file(tmp_path / "r.jsonl", [b.header(), b.record(tvm_op="header")])
    assert load_results(p).records[0].tvm_op == "header"


def test_non_utf8_at_an_odd_column(b, tmp_path):
    p = lines_file(tmp_path / "b.jsonl", [b.header(), b'{"kind": "record", "op": "a\xff"}'])
    assert error_of(p) == f"{p}: line 2: not UTF-8 (byte 0xff at column 28)"


def test_conflicts_name_the_first_run_id(b, tmp_path):
    p = tmp_path / "r.jsonl"
    lines_file(p, [b.header("r1"), b.header("r2", resumed=True, gpu="A100")])
    assert load_results(p).warnings == [f"{p}: parts of run r1 differ in gpu: 'H100' vs 'A100'"]


def test_labels_made_unique_take_eight_characters_of_the_run_id(b, tmp_path):
    a = b.write(tmp_path / "a.jsonl", b.header("0123456789ab"))
    c = b.write(tmp_path / "c.jsonl", b.header("abcdefghijkl"))
    assert [r.label for r in load_many([a, c])] == ["tvm0.27 trt8.6.1 [01234567]", "tvm0.27 trt8.6.1 [abcdefgh]"]


def test_load_results_takes_keywords(b, tmp_path):
    p = b.write(tmp_path / "r.jsonl", b.header())
    assert load_results(path=p, max_line_bytes=10_000).run_id == "r1"
