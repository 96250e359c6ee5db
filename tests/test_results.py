"""harness.results: the one header builder, the writer (append, resume, tail repair) and the
environment fingerprint.  (Shard merging is tested with the reader, in tests/test_reader.py.)"""
from __future__ import annotations

import json
import os
import re

import pytest

from harness import __version__
from harness import results as res
from harness.records import SCHEMA_NAME, SCHEMA_VERSION, Header, TableOp, decode
from harness.results import ResultsWriter, append_shards, header, worker_shards


@pytest.fixture
def b(build):
    return build


def lines(path) -> list:
    with open(path, "rb") as fh:
        return [decode(line) for line in fh.read().splitlines()]


def test_header_defaults():
    h = header(suite="models", env={"a": 1}, with_table=False)
    assert isinstance(h, Header) and (h.schema, h.schema_version) == (SCHEMA_NAME, SCHEMA_VERSION)
    assert re.fullmatch(r"[0-9a-f]{12}", h.run_id) and h.run_id != header(suite="ops", env={}).run_id
    assert h.suite == "models" and h.env == {"a": 1} and h.ops == [] and h.label is None and h.shard is None
    assert h.placement == {} and not h.resumed and h.created.endswith("+00:00")


def test_header_takes_what_it_is_given():
    placement = {"gw0": "cuda:0"}
    h = header(suite="ops", env={}, run_id="r1", label="L", shard="2/4", placement=placement)
    assert (h.run_id, h.label, h.shard, h.placement) == ("r1", "L", "2/4", {"gw0": "cuda:0"})
    assert h.placement is not placement


def test_header_carries_the_support_table():
    ops = header(suite="ops", env={}).ops
    assert len(ops) == 57 and all(isinstance(o, TableOp) for o in ops)
    by_name = {o.name: o for o in ops}
    assert by_name["nn.relu"] == TableOp(name="nn.relu", tvm_op="relax.nn.relu")
    assert by_name["clip"].min_trt == "5.1.5" and by_name["erf"].min_trt == "7.0.0"
    assert by_name["nn.global_max_pool2d"].tvm_op is None and by_name["nn.global_max_pool2d"].no_equivalent


def test_environment_fingerprint(monkeypatch):
    monkeypatch.setattr(res, "_tvm_facts", lambda: {"tvm_version": "0.27", "python": "from tvm facts"})
    env = res.environment(hypothesis_profile="ci", backend="tvm-llvm")
    assert env["harness_version"] == __version__ and env["hypothesis_profile"] == "ci"
    assert env["tvm_version"] == "0.27" and env["python"] == "from tvm facts"
    for key in ("numpy", "platform", "machine", "hostname"):
        assert isinstance(env[key], str), key
    assert res.environment(python="override")["python"] == "override"
    import hypothesis

    assert env["hypothesis"] == hypothesis.__version__   # its draws differ between versions


def test_gate_notes_a_different_hypothesis_version(tmp_path):
    """Cases drawn by two Hypothesis versions differ: the gate says so beside its verdict."""
    from harness import cli
    from harness.records import Record
    from harness.results import ResultsWriter, header

    paths = []
    for label, version in (("base", "6.168.3"), ("cur", "6.170.17")):
        path = str(tmp_path / f"{label}.jsonl")
        w = ResultsWriter(path, header(suite="ops", env={"hypothesis": version}, with_table=False))
        w.write(Record(op="nn.relu", check="offload", outcome="pass", case_id="nn.relu-1"))
        w.close()
        paths.append(path)
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = cli.main(["gate", *paths])
    assert rc == 0 and "hypothesis: '6.168.3' -> '6.170.17'" in out.getvalue(), out.getvalue()


GPU = {"exist": True, "name": "NVIDIA H200", "compute_version": "9.0",
       "devices": [{"index": 0, "name": "NVIDIA H200", "compute_version": "9.0"}]}


def fake_tvm(monkeypatch, funcs: dict, probe: dict):
    """A stand-in for the tvm package with the global functions ``funcs``, and a GPU probe answer."""
    import sys
    import types

    from harness import gpu

    tvm = types.ModuleType("tvm")
    tvm.__version__ = "0.99.0"
    tvm.get_global_func = lambda name, allow_missing=False: funcs.get(name)
    monkeypatch.setitem(sys.modules, "tvm", tvm)
    monkeypatch.setattr(gpu, "probe", lambda: probe)


@pytest.mark.parametrize("probe", [GPU, {"exist": False, "error": "no CUDA driver"}, {"exist": False}])
def test_tvm_facts_without_tensorrt(monkeypatch, probe):
    fake_tvm(monkeypatch, {}, probe)
    facts = res._tvm_facts()
    assert facts["tvm_version"] == "0.99.0" and facts["tensorrt_version"] is None
    assert facts["tvm_has_tensorrt_codegen"] is False and facts["tvm_has_tensorrt_runtime"] is False
    assert facts["tensorrt_absent_reason"] == ("TVM was built without the TensorRT runtime "
                                               "(no runtime.tensorrt_runtime_create)")
    assert facts["cuda_available"] is probe["exist"]
    if probe["exist"]:
        assert (facts["gpu"], facts["gpu_compute_version"], facts["gpus"]) == ("NVIDIA H200", "9.0",
                                                                              probe["devices"])
        assert "cuda_error" not in facts
    else:
        assert "gpu" not in facts and "gpus" not in facts and facts.get("cuda_error") == probe.get("error")


def test_tvm_facts_with_tensorrt(monkeypatch):
    fake_tvm(monkeypatch, {"relax.ext.tensorrt": object(), "runtime.tensorrt_runtime_create": object(),
                           "relax.get_tensorrt_version": lambda: (8, 6, 1)}, {"exist": True, "name": "A100"})
    facts = res._tvm_facts()
    assert facts["tensorrt_version"] == "8.6.1" and facts["tvm_has_tensorrt_runtime"] is True
    assert facts["tvm_has_tensorrt_codegen"] is True and "tensorrt_absent_reason" not in facts
    assert facts["gpu"] == "A100" and facts["gpus"] == [] and facts["gpu_compute_version"] is None


def test_writer_starts_a_file_with_the_header(b, tmp_path):
    p = tmp_path / "deep" / "dir" / "r.jsonl"
    w = ResultsWriter(p, b.header("r1"))
    assert w.run_id == "r1" and w.path == str(p)
    rec = b.record(run_id="other")
    w.write(rec)
    w.close()
    w.close()                                             # twice is fine
    head, got = lines(p)
    assert head == b.header("r1") and got.run_id == "r1" and rec.run_id == "r1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", got.time)


def test_writer_keeps_a_given_time(b, tmp_path):
    w = ResultsWriter(tmp_path / "r.jsonl", b.header())
    w.write(b.record(time="2020-01-01T00:00:00+00:00"))
    w.close()
    assert lines(tmp_path / "r.jsonl")[1].time == "2020-01-01T00:00:00+00:00"


def test_writer_writes_each_line_at_once(b, tmp_path):
    p = tmp_path / "r.jsonl"
    w = ResultsWriter(p, b.header())
    w.write(b.record())
    with open(p, "rb") as fh:                              # visible before close
        assert fh.read().count(b"\n") == 2
    w.close()


def test_writer_refuses_to_overwrite(b, tmp_path):
    p = b.write(tmp_path / "r.jsonl", b.header())
    with pytest.raises(FileExistsError):
        ResultsWriter(p, b.header())


def test_writer_starts_over_an_empty_file(b, tmp_path):
    p = tmp_path / "r.jsonl"
    p.write_bytes(b"")
    b.write(p, b.header("r1"))
    (head,) = lines(p)
    assert not head.resumed and head.run_id == "r1"
    q = tmp_path / "q.jsonl"
    q.write_bytes(b"")
    b.write(q, b.header("r2"), resume=True)
    assert not lines(q)[0].resumed


def test_resume_appends_under_the_first_run_id(b, tmp_path):
    p = tmp_path / "r.jsonl"
    b.write(p, b.header("first"), [b.record(case_id="c1")])
    b.write(p, b.header("second"), [b.record(case_id="c2")], resume=True)
    h1, r1, h2, r2 = lines(p)
    assert (h1.run_id, h1.resumed) == ("first", False)
    assert (h2.run_id, h2.resumed) == ("first", True) and r2.run_id == "first" and r2.case_id == "c2"


def test_resume_repairs_a_cut_last_line(b, tmp_path):
    p = tmp_path / "r.jsonl"
    b.write(p, b.header("r1"), [b.record(case_id="c1")])
    with open(p, "ab") as fh:
        fh.write(b'{"kind":"rec')
    b.write(p, b.header("r1"), [b.record(case_id="c2")], resume=True)
    with open(p, "rb") as fh:
        raw = fh.read().split(b"\n")
    assert raw[2] == b'{"kind":"rec' and decode(raw[3]).resumed and raw[-1] == b""


def test_resume_of_a_file_without_a_header_keeps_its_own_run_id(b, tmp_path):
    p = tmp_path / "r.jsonl"
    p.write_bytes(b"garbage\n")
    b.write(p, b.header("mine"), resume=True)
    with open(p, "rb") as fh:
        raw = fh.read().splitlines()
    assert raw[0] == b"garbage" and decode(raw[1]).run_id == "mine" and decode(raw[1]).resumed
    q = tmp_path / "q.jsonl"
    q.write_text(b.encoded(b.record()) + "\n")
    b.write(q, b.header("mine"), resume=True)
    assert lines(q)[1].run_id == "mine"


def test_first_header(b, tmp_path):
    p = b.write(tmp_path / "r.jsonl", b.header("r1"))
    assert res._first_header(p).run_id == "r1"
    (tmp_path / "bad").write_text("{")
    assert res._first_header(str(tmp_path / "bad")) is None


def test_worker_shards(tmp_path):
    base = tmp_path / "r[1].jsonl"
    for name in ("r[1].jsonl.gw1", "r[1].jsonl.gw0", "r[1].jsonl.other", "r1.jsonl.gw2"):
        (tmp_path / name).write_text("")
    assert worker_shards(str(base)) == [str(tmp_path / "r[1].jsonl.gw0"), str(tmp_path / "r[1].jsonl.gw1")]


def test_append_shards_counts_records_only(b, tmp_path):
    base = str(tmp_path / "r.jsonl")
    s = b.write(tmp_path / "s", b.header("w", label='"kind":"record"'), [b.record()])
    assert append_shards(base, [s]) == 1
    assert [type(x).__name__ for x in lines(base)] == ["Header", "Record"]


def test_append_shards_of_headers_only(b, tmp_path):
    base = b.write(tmp_path / "r.jsonl", b.header("main"))
    s = b.write(tmp_path / "s", b.header("w"))
    before = open(base, "rb").read()
    assert append_shards(base, [s]) == 0 and open(base, "rb").read() == before and not os.path.exists(s)


def test_append_shards_into_an_empty_base_file(b, tmp_path):
    base = tmp_path / "r.jsonl"
    base.write_bytes(b"")
    s = b.write(tmp_path / "s", b.header("w"), [b.record()])
    assert append_shards(str(base), [s]) == 1
    head, rec = lines(base)
    assert head.run_id == rec.run_id == "w"


def test_append_shards_writes_whole_lines(b, tmp_path):
    base = b.write(tmp_path / "r.jsonl", b.header("main"))
    with open(base, "ab") as fh:
        fh.write(b'{"cut":')
    append_shards(base, [b.write(tmp_path / "s", b.header("w"), [b.record()])])
    with open(base, "rb") as fh:
        raw = fh.read()
    assert raw.endswith(b"\n") and raw.split(b"\n")[1] == b'{"cut":'
    assert json.loads(raw.split(b"\n")[2])["run_id"] == "main"


# -- edges that mutation testing showed unguarded ----------------------------------------------------
def test_tvm_facts_without_tvm(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tvm", None)          # import tvm raises ImportError
    facts = res._tvm_facts()
    assert facts == {"tvm_version": None, "tvm_import_error": "ModuleNotFoundError: import of tvm halted; None in sys.modules"}


def test_tvm_facts_asks_for_functions_that_may_be_missing(monkeypatch):
    import sys
    import types

    from harness import gpu

    def get_global_func(name, allow_missing=False):
        if not allow_missing:
            raise ValueError(f"{name} is not registered")
        return None

    tvm = types.ModuleType("tvm")
    tvm.__version__ = "0.99.0"
    tvm.get_global_func = get_global_func
    monkeypatch.setitem(sys.modules, "tvm", tvm)
    monkeypatch.setattr(gpu, "probe", lambda: {"exist": False})
    facts = res._tvm_facts()
    assert facts["tvm_has_tensorrt_codegen"] is False and facts["tensorrt_version"] is None


def test_keyword_calls(b, tmp_path):
    w = ResultsWriter(path=tmp_path / "r.jsonl", head=b.header(), resume=False)
    w.close()
    assert append_shards(base=str(tmp_path / "r.jsonl"), shards=[], run_id=None, remove=True) == 0
    assert res.merge_files(paths=[str(tmp_path / "r.jsonl")], out=str(tmp_path / "m.jsonl"), label=None)[0] == 0


def test_a_one_byte_file_is_a_file(b, tmp_path):
    p = tmp_path / "r.jsonl"
    p.write_bytes(b"x")
    with pytest.raises(FileExistsError):
        ResultsWriter(p, b.header())
    b.write(p, b.header("r1"), resume=True)
    with open(p, "rb") as fh:
        raw = fh.read().split(b"\n")
    assert raw[0] == b"x" and decode(raw[1]).resumed


def test_resume_ends_a_last_line_whatever_its_last_byte(b, tmp_path):
    p = tmp_path / "r.jsonl"
    p.write_bytes(b"garbage\t")
    b.write(p, b.header("r1"), resume=True)
    with open(p, "rb") as fh:
        raw = fh.read().split(b"\n")
    assert raw[0] == b"garbage\t" and decode(raw[1]).resumed


def test_close_closes(b, tmp_path):
    w = ResultsWriter(tmp_path / "r.jsonl", b.header())
    w.close()
    assert w._fh.closed


def test_every_shard_line_is_read(b, tmp_path):
    base = b.write(tmp_path / "r.jsonl", b.header("main"))
    s = tmp_path / "s"
    s.write_text("\n".join([b.encoded(b.header("w")), b.encoded(b.record(case_id="c1")), "", "{cut",
                            b.encoded(b.record(case_id="c2"))]) + "\n")
    assert append_shards(base, [str(s)]) == 2


def test_shards_after_a_last_byte_below_newline(b, tmp_path):
    base = b.write(tmp_path / "r.jsonl", b.header("main"))
    with open(base, "ab") as fh:
        fh.write(b"\t")
    append_shards(base, [b.write(tmp_path / "s", b.header("w"), [b.record()])])
    with open(base, "rb") as fh:
        assert fh.read().split(b"\n")[1] == b"\t"


# -- merge_files: the N jobs of one sharded run ---------------------------------------------------
def part(b, tmp_path, name, run_id, cases, shard=None, **env):
    h = b.header(run_id, label=f"label-{name}", **env)
    h.shard, h.placement, h.suite = shard, {"gw0": f"cuda:{name}"}, "ops"
    h.ops = [TableOp(name=f"op-{name}")]
    return b.write(tmp_path / f"{name}.jsonl", h, [b.record(case_id=c) for c in cases])


def test_merge_files(b, tmp_path):
    from harness.reader import load_results

    p1 = part(b, tmp_path, "1", "j1", ["a", "b"], shard="2/2")
    p0 = part(b, tmp_path, "0", "j0", ["c"], shard="1/2")
    out = tmp_path / "new" / "dir" / "merged.jsonl"
    n, warnings = res.merge_files([p1, p0], str(out))
    assert (n, warnings) == (3, [])
    run = load_results(out)
    assert [r.case_id for r in run.records] == ["a", "b", "c"] and len(run.headers) == 1
    head = run.headers[0]
    assert head.run_id not in ("j0", "j1") and {r.run_id for r in run.records} == {head.run_id}
    assert head.env["merged_from"] == [os.path.abspath(p1), os.path.abspath(p0)]
    assert head.env["merged_shards"] == ["1/2", "2/2"] and head.env["gpu"] == "H100"
    assert head.label == "label-1" and head.placement == {"gw0": "cuda:1"} and head.ops == [TableOp(name="op-1")]
    assert [p.name for p in out.parent.iterdir()] == ["merged.jsonl"]          # no temporary file left
    assert res.merge_files([p0], str(tmp_path / "m2.jsonl"), label="given")[0] == 1
    assert load_results(tmp_path / "m2.jsonl").label == "given"


def test_merge_files_keeps_the_last_of_a_pair_and_says_so(b, tmp_path):
    from harness.reader import load_results

    p0 = part(b, tmp_path, "0", "j0", ["a", "b"])
    p1 = b.write(tmp_path / "1.jsonl", b.header("j1"), [b.record(case_id="a", outcome="fail")])
    n, warnings = res.merge_files([p0, p1], str(tmp_path / "m.jsonl"))
    assert n == 2 and warnings == [f"{p1}: nn.relu a reference also in {p0}; kept this one"]
    assert {r.case_id: r.outcome for r in load_results(tmp_path / "m.jsonl").records} == {"a": "fail", "b": "pass"}


def test_merge_files_takes_the_same_skip_of_two_shards_without_a_warning(b, tmp_path):
    """Each shard records the op-level skip of a tensorrt check that cannot run here."""
    skip = dict(op="nn.relu", case_id="nn.relu-*", check="tensorrt", outcome="skip", reason="no GPU")
    p0 = b.write(tmp_path / "0.jsonl", b.header("j0"), [b.record(**skip)])
    p1 = b.write(tmp_path / "1.jsonl", b.header("j1"), [b.record(**skip)])
    assert res.merge_files([p0, p1], str(tmp_path / "m.jsonl")) == (1, [])
    p2 = b.write(tmp_path / "2.jsonl", b.header("j2"), [b.record(**{**skip, "reason": "other"})])
    assert res.merge_files([p0, p2], str(tmp_path / "m.jsonl"))[1] == [
        f"{p2}: nn.relu nn.relu-* tensorrt also in {p0}; kept this one"]


def test_merge_files_carries_the_parts_warnings(b, tmp_path):
    p0 = part(b, tmp_path, "0", "j0", ["a"])
    with open(p0, "ab") as fh:
        fh.write(b'{"cut')
    assert "incomplete last line" in res.merge_files([p0], str(tmp_path / "m.jsonl"))[1][0]


def test_merge_files_into_the_current_directory(b, tmp_path, monkeypatch):
    p0 = part(b, tmp_path, "0", "j0", ["a"])
    monkeypatch.chdir(tmp_path)
    assert res.merge_files([p0], "m.jsonl")[0] == 1 and (tmp_path / "m.jsonl").exists()


@pytest.mark.parametrize("key", ["hypothesis_seed", "trt_version", "tvm_version", "harness_version"])
def test_merge_files_refuses_parts_of_other_runs(b, tmp_path, key):
    from harness.errors import InputError

    p0 = part(b, tmp_path, "0", "j0", ["a"])
    p1 = part(b, tmp_path, "1", "j1", ["b"])
    p2 = part(b, tmp_path, "2", "j2", ["c"], **{key: "other"})
    with pytest.raises(InputError) as info:
        res.merge_files([p0, p1, p2], str(tmp_path / "m.jsonl"))
    assert str(info.value) == (f"{p2}: cannot merge: {key} is 'other', but {p0} has {b.ENV[key]!r} "
                               "(not parts of one run)")
    assert not (tmp_path / "m.jsonl").exists()


def test_merge_files_of_nothing(tmp_path):
    from harness.errors import InputError

    with pytest.raises(InputError, match="merge: no results files given"):
        res.merge_files([], str(tmp_path / "m.jsonl"))


def test_merge_files_reads_the_first_header_of_the_first_part(b, tmp_path):
    from harness.reader import load_results

    p0 = part(b, tmp_path, "0", "j0", ["a"], shard="1/2")
    later = b.header("ignored", label="resumed")
    later.shard, later.placement, later.suite, later.ops = "1/2", {"gw0": "cuda:9"}, "models", [TableOp(name="late")]
    b.write(p0, later, [b.record(case_id="b")], resume=True)
    p1 = part(b, tmp_path, "1", "j1", ["c"], shard="2/2")
    other = b.header("j1", label="other")
    other.suite = "fuzz"
    p2 = b.write(tmp_path / "2.jsonl", other, [b.record(case_id="d")])
    res.merge_files([p0, p1, p2], str(tmp_path / "m.jsonl"))
    head = load_results(tmp_path / "m.jsonl").headers[0]
    assert head.env["merged_shards"] == ["1/2", "2/2"]
    assert (head.suite, head.label, head.placement, head.ops) == ("ops", "label-0", {"gw0": "cuda:0"},
                                                                  [TableOp(name="op-0")])
