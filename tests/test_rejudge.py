"""harness/rejudge.py and tools/rejudge.py: a results file judged again against other expectations."""
from __future__ import annotations

import pytest

from conftest import tool
from harness import expectations as E
from harness.records import KnownDeparture
from harness.rejudge import rejudge
from harness.table import BY_NAME

TOOL = tool("rejudge")

WRONG = '''
[[expect]]
id = "relu-cuda-wrong"
ops = ["nn.relu"]
check = "reference"
backends = ["tvm-cuda"]
reason = "wrong on CUDA"
'''
CRASH = '''
[[expect]]
id = "relu-crash"
ops = ["nn.relu"]
check = "tensorrt"
outcome = "crash"
backends = ["tvm-cuda"]
reason = "crashes on CUDA"
'''


@pytest.fixture
def results(tmp_path, build):
    """A GPU run judged with only the crash entry: a wrong result nobody expected, passes, the crash
    (one confirmed and kept as such, one from a file written before the kind was kept, one held)."""
    r = build.record
    head = build.header(env={"backend": "tvm-cuda", "reference": "tvm-cuda", "cuda_available": True})
    head.expectations = [KnownDeparture(id="relu-crash", check="tensorrt", ops=["nn.relu"], outcome="crash")]
    records = [
        r(case_id="c1", check="reference", outcome="fail", reason="TVM CUDA vs numpy-oracle: 3/4 elements beyond"),
        r(case_id="c2", check="reference", outcome="pass"),
        r(case_id="c1", check="tensorrt", outcome="xfail", expectation="relu-crash", error_kind="crash",
          reason="known departure (expectations relu-crash): crashes | the runner died (SIGSEGV)"),
        r(case_id="c2", check="tensorrt", outcome="xfail", expectation="relu-crash",
          reason="known departure (expectations relu-crash): crashes | the runner died (SIGSEGV)"),
        r(case_id="c3", check="tensorrt", outcome="xfail", expectation="relu-crash",
          reason="[NOTRUN] known to crash (expectations relu-crash: crashes); confirmed on c1 in this run"),
        r(case_id="c1", check="offload", outcome="fail", reason="not judged again: rules"),
    ]
    return build.write(tmp_path / "r.jsonl", head, records)


def _exps(tmp_path, text):
    path = tmp_path / "exp.toml"
    path.write_text(text)
    return str(path), E.load(str(path), set(BY_NAME))


def test_a_new_entry_turns_the_fail_into_an_xfail_and_the_pass_into_a_strict_xpass(tmp_path, results):
    _, exps = _exps(tmp_path, WRONG + CRASH)
    got = rejudge(results, exps)
    assert (got.judged, got.held) == (4, 1)                     # the offload record and the held pair are not
    assert dict(got.counts()) == {("fail", "xfail"): 1, ("pass", "xpass"): 1}
    assert [(r.case_id, j.outcome) for r, j in got.red] == [("c2", "xpass")]


def test_the_crashes_stay_known_crashes(tmp_path, results):
    """Read as wrong results, the two crash xfails would be new failures under the crash entry."""
    _, exps = _exps(tmp_path, CRASH)
    got = rejudge(results, exps)
    assert [(r.case_id, r.check, j.outcome) for r, j in got.red] == [("c1", "reference", "fail")]
    assert not got.changed


def test_the_tool_exits_1_on_red_0_without_and_2_on_a_bad_file(tmp_path, results, capsys):
    exp, _ = _exps(tmp_path, WRONG + CRASH)
    assert TOOL.main([results, "--expectations", exp]) == 1
    out = capsys.readouterr().out
    assert "4 pairs judged again, 1 held ([NOTRUN]); changed: fail -> xfail 1, pass -> xpass 1; red today: 1" in out
    assert "RED nn.relu reference c2: pass (-) -> xpass (relu-cuda-wrong)" in out
    (tmp_path / "e2.toml").write_text(CRASH.replace('"tvm-cuda"', '"tvm-llvm"'))    # limited elsewhere: no entry
    assert TOOL.main([results, "--expectations", str(tmp_path / "e2.toml")]) == 1   # the fail, and the crashes
    assert "3 would fail the run today" in capsys.readouterr().out
    (tmp_path / "bad.jsonl").write_text("not json\n")
    assert TOOL.main([str(tmp_path / "bad.jsonl"), "--expectations", exp]) == 2
    assert capsys.readouterr().err.startswith("rejudge: ")
