"""The report's first screen tells the truth: a check that did not run is named with why and what
turns it on, "OK" covers only what ran, counts add up (cases, records per check, checks not run),
a matrix cell counts pass/xfail/fail apart and never reads "0/1" for a skip; the gate's verdict
leads with regressions, then improvements, then expected changes grouped by expectation; and no
checked-in report links a file that does not exist."""
from __future__ import annotations

import os
import re
from urllib.parse import unquote

import pytest

from conftest import tracked_reports
from harness import report
from harness.backends import get_backend
from harness.gate import Gate
from harness.records import KnownDeparture, op_level_id

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpu_run(b, run_id="cpu", **env):
    """Three cases of two ops; the tensorrt check skipped per op with this machine's own reason."""
    reason = get_backend("tensorrt").unavailable_reason() or "backend tensorrt cannot run here: (a GPU machine)"
    recs = []
    for op in ("nn.relu", "add"):
        for i in range(3):
            for check in ("offload", "preserve", "reference"):
                outcome = "xfail" if (op, i, check) == ("add", 0, "offload") else "pass"
                recs.append(b.record(op=op, case_id=f"{op}-{i}", check=check, outcome=outcome,
                                     expectation="offload-dtype" if outcome == "xfail" else None))
        recs.append(b.record(op=op, case_id=op_level_id(op), check="tensorrt", outcome="skip", reason=reason,
                             backend="tensorrt"))
    run = b.run(recs, run_id, **env)
    run.headers[0].expectations = [KnownDeparture(id="offload-dtype", check="offload", ops=["*"], reason="dtypes")]
    return run


def headline(html: str) -> str:
    return re.sub(r"<[^>]+>", "", re.search(r'<h1 id="headline">(.*?)</h1>', html, re.S).group(1))


def test_the_first_screen_says_which_check_did_not_run_and_why(build):
    html = report.render([cpu_run(build)])
    assert '<section id="verdict" class="verdict partial">' in html
    assert headline(html) == ("OK: no new departures in offload, preserve, reference in tvm0.27 trt8.6.1; "
                              "1 known in 1 group; not run here: tensorrt")
    banner = re.search(r'<p class="notrun" id="not-run-tensorrt">(.*?)</p>', html, re.S).group(1)
    assert "The tensorrt check did not run on this machine</b> (2 ops, one skip record each" in banner
    if get_backend("tensorrt").unavailable_reason():    # this machine: TVM without the TensorRT codegen
        assert "USE_TENSORRT_CODEGEN=ON" in banner and "USE_TENSORRT_RUNTIME=ON" in banner
    # counts add up: 6 cases (no op-level record counted as a case), 18 records in 3 checks, 1 check not run
    runs = re.search(r'<ul class="runs">(.*?)</ul>', html, re.S).group(1)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", runs))
    assert "6 cases of 2 ops" in text and "offload 6 (5 pass1 xfail)" in text and "reference 6 (6 pass)" in text
    assert "checks not run: tensorrt (2 ops)" in text and "tensorrt 2" not in text


def test_a_run_where_every_check_ran_is_plainly_ok(build):
    run = cpu_run(build)
    run.records = [r for r in run.records if r.check != "tensorrt"]
    html = report.render([run])
    assert '<section id="verdict" class="verdict ok">' in html and 'class="notrun"' not in html
    assert headline(html) == "OK: no new departures in tvm0.27 trt8.6.1; 1 known in 1 group"


def test_matrix_cells_count_outcomes_apart_and_a_skip_reads_skip(build):
    html = report.render([cpu_run(build)])
    cells = re.findall(r'<td class="c (\w+)" title="([^"]*)" data-row="(\d)">([^<]*)</td>', html)
    by_text = {(row, cls, text) for cls, _, row, text in cells}
    assert ("1", "xfail", "2p 1x") in by_text            # add offload: 2 pass, 1 known departure
    assert ("0", "pass", "3p") in by_text
    assert all(text == "skip" for cls, _, _, text in cells if cls == "skip") and any(c[0] == "skip" for c in cells)
    assert not any(re.fullmatch(r"\d+/\d+", text) for *_, text in cells)


def test_the_gate_leads_with_regressions_then_improvements_then_expected_changes(build):
    base = cpu_run(build, "base")
    cur = cpu_run(build, "cur")
    for r in cur.records:
        if (r.case_id, r.check) == ("nn.relu-0", "preserve"):
            r.outcome, r.reason = "fail", "injected"
        if (r.case_id, r.check) == ("nn.relu-1", "offload"):
            r.outcome, r.expectation = "xfail", "offload-dtype"
    for r in base.records:
        if (r.case_id, r.check) == ("add-1", "reference"):
            r.outcome = "fail"
    html = report.render([base, cur], verdict=Gate().compare(base, cur))
    gate = html[html.index('id="gate"'):html.index("</section>")]
    order = [gate.index(s) for s in ("Regressions (1)", "Improvements (1)", "Expected changes (1, in 1 group")]
    assert order == sorted(order)
    row = re.search(r'<tr class="egroup">(.*?)</tr>', gate, re.S).group(1)
    assert "offload-dtype" in row and "pass -&gt; xfail" in row and "nn.relu &middot; offload <b>1</b>" in row
    assert "dtypes" in row                                # the expectation's reason
    assert "1 regression against the baseline (1 expected change)" in headline(html)


@pytest.mark.parametrize("page", tracked_reports(".html"),
                         ids=lambda p: os.path.relpath(p, ROOT))
def test_no_checked_in_report_links_a_file_that_does_not_exist(page):
    with open(page, encoding="utf-8") as fh:
        html = fh.read()
    links = set(re.findall(r'href="([^"#][^"]*)"', html))
    local = [u for u in links if not re.match(r"[a-z]+:", u)]
    dead = [u for u in local if not os.path.exists(os.path.join(os.path.dirname(page), unquote(u)))]
    assert dead == []


def test_the_example_report_links_a_reproducer_for_every_known_group():
    page = os.path.join(ROOT, "reports", "example", "index.html")
    with open(page, encoding="utf-8") as fh:
        html = fh.read()
    known = html[html.index('id="known"'):html.index('id="matrix-section"')]
    rows = re.findall(r'<tr class="kgroup">(.*?)</tr>', known, re.S)
    assert rows and all(re.search(r'<td class="mono"><a href="[^"]+\.py">', r) for r in rows)


def test_a_known_departure_without_a_reproducer_gets_one_from_the_run(tmp_path, suite_here):
    """An expectation that names no reproducer: the run writes one for its first case, the report
    links it, and it shows the departure (exits 1)."""
    import subprocess
    import sys

    from harness.reader import load_results

    mine = tmp_path / "mine.toml"
    mine.write_text('[[expect]]\nid = "relu-dtype-no-repro"\nops = ["nn.relu"]\ncheck = "offload"\nrule = "dtype"\n'
                    'verdict = "over-offload"\nreason = "int32/float64 relu is offloaded"\n')
    rc, out, _ = suite_here(tmp_path, "--trt-ops=nn.relu", f"--trt-expectations={mine}")
    assert rc == 0, out[-3000:]
    results = tmp_path / "out" / "results.jsonl"
    known = [r for r in load_results(results).records if r.expectation == "relu-dtype-no-repro"]
    written = [r.reproducer for r in known if r.reproducer]
    assert len(known) > 1 and len(written) == 1        # one per group, not one per case
    script = tmp_path / written[0] if not os.path.isabs(written[0]) else written[0]
    assert os.path.isfile(script)
    shown = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert shown.returncode == 1, shown.stdout[-2000:] + shown.stderr[-2000:]
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        html = open(report.write([str(results)], "page/index.html"), encoding="utf-8").read()
    finally:
        os.chdir(here)
    row = re.search(r'<tr class="kgroup"><td class="mono">relu-dtype-no-repro</td>(.*?)</tr>', html, re.S).group(1)
    href = re.search(r'<a href="([^"]+\.py)">', row).group(1)
    assert os.path.isfile(os.path.join(tmp_path, "page", unquote(href)))
