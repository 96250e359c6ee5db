"""harness.report: verdict first (new, then known departures by root cause), the matrix from each
run's own table, the plots (roofline, device time vs latency), the bench table, escaping, atomic
writes, schema 1, and the render time of 57 ops x 100 cases x 3 runs as a benchmark figure.

The builders here (typed records written with harness.results) are shared with
tests/test_report_browser.py."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import re

import pytest

from harness import report
from harness.errors import InputError
from harness.gate import Gate
from harness.reader import load_many, load_results
from harness.records import (CHECKS, Departure, Offload, Record, Roofline, Stats, TableOp, Timing,
                             Tolerance)
from harness.results import ResultsWriter, header
from harness.timing.peaks import UNKNOWN_CARD

H200 = "NVIDIA H200"
H200_BW, H200_FP32, H200_FP16_TC = 4.8e12, 67e12, 989.5e12
XSS = "<script>window.__xss = 1; alert(1)</script>"
TABLE = [TableOp(name="nn.relu", tvm_op="relax.nn.relu"), TableOp(name="add", tvm_op="relax.add"),
         TableOp(name="nn.conv2d", tvm_op="relax.nn.conv2d"),
         TableOp(name="nn.global_max_pool2d", no_equivalent="Relax has no global max pooling"),
         TableOp(name="split", tvm_op="relax.split", min_trt="5.1.5")]
CONV_LAYERS = ("resnet50.conv1", "resnet50.layer1.0.conv2")
EXP = {  # expectation id -> (check, rule, reason)
    "#1": ("offload", "dtype", "patterns check no dtype: int32/float64 ops are offloaded"),
    "#2": ("offload", "layout", "patterns check no layout: NHWC convolutions are offloaded"),
    "split-empty-piece-cuda": ("reference", None, "the CUDA build aborts on an empty split piece"),
}


# -- builders (typed records, written with harness.results) -----------------------------------------
def make_header(run_id: str, *, tvm: str = "0.27", gpu: str | None = H200, table=TABLE, label=None, suite="ops"):
    h = header(suite=suite, run_id=run_id, label=label, with_table=False,
               env={"harness_version": "0.2.0", "tvm_version": tvm, "trt_version": "10.0.1", "gpu": gpu,
                    "hypothesis_profile": "ci", "hypothesis_seed": 0, "python": "3.11.7"})
    h.ops = list(table)
    return h


def write_run(path, head, records) -> str:
    w = ResultsWriter(path, head)
    for r in records:
        w.write(r)
    w.close()
    return str(path)


def known(op: str, case_id: str, eid: str, detail: str, **kw) -> Record:
    check, rule, why = EXP[eid]
    off = None
    if check == "offload":
        off = Offload(verdict="over-offload", expected={f"relax.{op}": 0}, actual={f"relax.{op}": 1},
                      total={f"relax.{op}": 1}, regions=1,
                      over=[Departure(op=f"relax.{op}", reason=detail, rule=rule)])
    return Record(op=op, check=check, outcome="xfail", case_id=case_id, expectation=eid, rule=rule, offload=off,
                  reason=f"known departure (expectations {eid}): {why} | over-offload: relax.{op} offloaded though "
                         f"{detail}", dtype=kw.pop("dtype", "float32"), input_shapes=[[1, 3, 8, 8]], **kw)


def timing(device_s: float | None, latency_s: float, *, roofline: Roofline | None = None, exclusive=True):
    return Timing(build_s=0.8, latency=Stats(median_s=latency_s, iqr_s=latency_s * 0.02, rounds=30),
                  device=Stats(median_s=device_s, iqr_s=device_s * 0.01) if device_s else None,
                  method="cupti+latency" if device_s else "latency (CUPTI unavailable: no libcupti)",
                  exclusive=exclusive, gpu=H200, roofline=roofline)


def roofline(flops: float, nbytes: float, device_s: float, dtype: str, op: str, *, card_known=True) -> Roofline:
    ai = flops / nbytes
    rf = Roofline(flops=flops, bytes=nbytes, intensity=ai, achieved_flop_s=flops / device_s,
                  achieved_byte_s=nbytes / device_s)
    if not card_known:
        rf.note = UNKNOWN_CARD
        return rf
    peak = H200_FP16_TC if (dtype == "float16" and op == "nn.conv2d") else H200_FP32
    roof = "compute" if ai >= peak / H200_BW else "memory"
    rf.roof, rf.peak_flop_s, rf.peak_byte_s, rf.peak_source = roof, peak, H200_BW, "h200-datasheet"
    rf.fraction = (rf.achieved_flop_s / peak) if roof == "compute" else (rf.achieved_byte_s / H200_BW)
    return rf


def bench_records(*, card_known=True, seed=0) -> list[Record]:
    """The two resnet50 conv layers in both dtypes, timed on tensorrt and tvm-cuda, with rooflines."""
    rnd = random.Random(seed)
    out = []
    for layer, (flops, nbytes) in zip(CONV_LAYERS, ((236e6, 1.2e6), (231e6, 0.6e6))):
        for dtype in ("float32", "float16"):
            scale = 0.5 if dtype == "float16" else 1.0
            t = {}
            for backend, slow in (("tensorrt", 1.0), ("tvm-cuda", 2.5)):
                dev = 2e-5 * slow * scale * rnd.uniform(0.9, 1.1)
                t[backend] = timing(dev, dev + 9e-6, roofline=roofline(flops, nbytes * scale, dev, dtype, "nn.conv2d",
                                                                       card_known=card_known))
            out.append(Record(op="nn.conv2d", check="tensorrt", outcome="pass", case_id=f"{layer}-{dtype}",
                              suite="bench", dtype=dtype, input_shapes=[[1, 64, 56, 56]], backend="tensorrt",
                              reference="tvm-cuda", timings=t, speedup=t["tvm-cuda"].device.median_s
                              / t["tensorrt"].device.median_s))
    return out


def departures_run(run_id="cur", *, tvm="0.27", card_known=True) -> tuple:
    """A run with every kind of outcome: new (fail, error, xpass), known (3 expectations), timings."""
    recs = []
    for op in ("nn.relu", "add"):
        for c in range(3):
            recs.append(Record(op=op, check="reference", outcome="pass", case_id=f"{op}-{c}", dtype="float32",
                               input_shapes=[[2, 3]], max_abs_err=1e-7, tolerance=Tolerance(atol=1e-5, rtol=1e-5),
                               timings=None))
            recs.append(Record(op=op, check="tensorrt", outcome="pass", case_id=f"{op}-{c}", dtype="float32",
                               input_shapes=[[2, 3]], timings={"tensorrt": timing(3e-6 * (c + 1), 2.4e-5),
                                                               "tvm-cuda": timing(5e-6 * (c + 1), 3.1e-5)}))
        recs += [known(op, f"{op}-i{c}", "#1", "dtype int32: the runtime takes float16/float32", dtype="int32")
                 for c in range(2 if op == "add" else 3)]
    recs += [known("nn.conv2d", f"nn.conv2d-n{c}", "#2", "layout NHWC/OHWI") for c in range(4)]
    recs.append(known("split", "split-e0", "split-empty-piece-cuda", "empty piece",
                      reproducer="docs/findings/split_empty.py"))
    recs.append(Record(op="nn.conv2d", check="reference", outcome="fail", case_id="nn.conv2d-bad",
                       reason="max_abs_err 0.25 > atol 1e-05 + rtol 1e-05 * |expected| at index (0, 1, 2, 2)",
                       reproducer="reports/repro/nn.conv2d-bad-reference.py", dtype="float16",
                       input_shapes=[[1, 3, 8, 8]], max_abs_err=0.25, tolerance=Tolerance(atol=1e-5, rtol=1e-5)))
    recs.append(Record(op="split", check="reference", outcome="error", error_kind="crash", case_id="split-crash",
                       reason="the case's worker died: SIGABRT", reproducer="reports/repro/split-crash-reference.py"))
    recs.append(Record(op="add", check="offload", outcome="xpass", case_id="add-x", expectation="#1", rule="dtype",
                       reason="XPASS(strict) known departure (expectations #1) no longer departs"))
    recs += bench_records(card_known=card_known)
    return make_header(run_id, tvm=tvm, gpu=H200 if card_known else "Mystery GPU 9000"), recs


def baseline_run(run_id="base"):
    """The same cases a version earlier: what fails or crashes now passed, what XPASSes now was known."""
    head, recs = departures_run(run_id, tvm="0.26")
    for r in recs:
        if r.outcome in ("fail", "error"):
            r.outcome, r.reason, r.error_kind, r.reproducer = "pass", "", None, None
        elif r.outcome == "xpass":
            r.outcome, r.reason = "xfail", f"known departure (expectations #1): {EXP['#1'][2]} | dtype int32"
    return head, recs


@pytest.fixture(scope="module")
def two_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("two")
    return [write_run(d / "base.jsonl", *baseline_run()), write_run(d / "cur.jsonl", *departures_run())]


@pytest.fixture(scope="module")
def two_html(two_files, tmp_path_factory):
    """The report written where a run writes it: reports/index.html, reproducers under reports/repro/
    (relative to the working directory, as the suites record them)."""
    root = tmp_path_factory.mktemp("out")
    for made in ("reports/repro/nn.conv2d-bad-reference.py", "docs/findings/split_empty.py"):   # a run wrote them
        os.makedirs(root / os.path.dirname(made), exist_ok=True)
        (root / made).write_text("# reproducer\n")
    here = os.getcwd()
    os.chdir(root)
    try:
        assert report.write(two_files, os.path.join("reports", "index.html")) == os.path.join("reports", "index.html")
    finally:
        os.chdir(here)
    return (root / "reports" / "index.html").read_text(encoding="utf-8")


def section(html: str, sid: str) -> str:
    start = html.index(f'id="{sid}"')
    end = html.find("<section", start)
    return html[start:] if end < 0 else html[start:end]


def matrix_rows(html: str) -> list[str]:
    return re.findall(r'<tr class="oprow[^"]*" data-row="\d+"><td class="op[^"]*"[^>]*>([^<]*)</td>', html)


def case_data(html: str):
    return json.loads(re.search(r'<script type="application/json" id="case-data">(.*?)</script>', html, re.S).group(1))


# -- the verdict first ----------------------------------------------------------------------------
def test_verdict_first_then_new_then_known(two_html):
    body = two_html[two_html.index("<body>") + len("<body>"):].lstrip()
    assert body.startswith('<section id="verdict" class="verdict bad">')
    order = [two_html.index(f'id="{s}"') for s in ("verdict", "gate-status", "new", "known", "matrix-section",
                                                    "cases", "timings", "environment")]
    assert order == sorted(order)
    head = re.search(r'<h1 id="headline">(.*?)</h1>', two_html, re.S).group(1)
    assert "REGRESSION" in head and "2 regressions against the baseline" in head
    assert "3 new departures (error 1, fail 1, xpass 1)" in head and "10 known in 3 groups" in head
    assert "Gate: REGRESSION" in two_html  # pass -> fail of a matched case


def test_new_departures_with_reasons_and_reproducers(two_html):
    new = section(two_html, "new")
    groups = re.findall(r'<tbody class="newgroup">(.*?)</tbody>', new, re.S)
    outcomes = [re.search(r'class="o (\w+)"', g).group(1) for g in groups]
    assert outcomes == ["error", "fail", "xpass"]          # the worst first
    assert "(crash)" in groups[0] and "SIGABRT" in groups[0]
    assert "max_abs_err 0.25 &gt; atol" in groups[1]
    assert 'href="./repro/nn.conv2d-bad-reference.py"' in groups[1]   # relative to reports/index.html
    assert "reports/repro/nn.conv2d-bad-reference.py</a>" in groups[1]
    assert "none recorded" in groups[2]
    assert "xfail" not in "".join(re.findall(r'class="o (\w+)"', new))   # known ones are not new


def test_known_departures_grouped_by_root_cause_with_counts(two_html):
    known_html = section(two_html, "known")
    rows = re.findall(r'<tr class="kgroup">(.*?)</tr>', known_html, re.S)
    ids = [re.search(r'<td class="mono">([^<]*)</td>', r).group(1) for r in rows]
    assert ids == ["#1", "#2", "split-empty-piece-cuda"]   # largest group first
    dtype, layout, split = rows
    assert "<td>dtype</td>" in dtype and '<td class="num">6 / 5</td>' in dtype   # baseline / current
    assert re.search(r"nn\.relu</a> &middot; offload <b>3 / 3</b>", dtype)
    assert re.search(r"add</a> &middot; offload <b>3 / 2</b>", dtype)   # add-x: known then, XPASS now
    assert "patterns check no dtype: int32/float64 ops are offloaded" in dtype
    assert "6&times;</span> relax.nn.relu: dtype int32" in dtype       # case-level reasons, over both runs
    assert "<td>layout</td>" in layout and re.search(r"nn\.conv2d</a> &middot; offload <b>4 / 4</b>", layout)
    assert "<td></td>" in split and "reference <b>1 / 1</b>" in split
    assert "docs/findings/split_empty.py" in split and "none recorded" in dtype


def test_known_groups_of_one_run():
    from harness.reader import Run

    html = report.render([Run(headers=[departures_run()[0]], records=departures_run()[1])])
    rows = re.findall(r'<tr class="kgroup">(.*?)</tr>', section(html, "known"), re.S)
    assert '<td class="num">5</td>' in rows[0] and re.search(r"nn\.relu</a> &middot; offload <b>3</b>", rows[0])
    assert 'id="gate-status"' not in html


def test_matrix_rows_come_from_the_header_table(two_html, tmp_path):
    assert matrix_rows(two_html) == ["nn.relu", "add", "nn.conv2d", "nn.global_max_pool2d", "split"]
    assert "no TVM equivalent: Relax has no global max pooling" in two_html
    assert 'title="TensorRT 5.1.5 or later"' in two_html
    # an older file drawn against its own (smaller) table; an op it does not list is marked
    head, recs = departures_run("old")
    head.ops = TABLE[:2]
    html = report.render(load_many([write_run(tmp_path / "old.jsonl", head, recs)]))
    assert matrix_rows(html) == ["nn.relu", "add", "nn.conv2d (not in table)", "split (not in table)"]


def test_environment_last_and_folded(two_html):
    env_at = two_html.index('<details id="environment"')
    assert re.match(r'<details id="environment" class="env">\s*<summary>Environment', two_html[env_at:])
    tail = two_html[env_at:]
    assert "<section" not in tail and "<h2" not in tail
    assert '<td class="mono diff">0.26</td><td class="mono diff">0.27</td>' in tail


# -- timings ---------------------------------------------------------------------------------------
def test_roofline_with_a_known_card(two_html):
    svg = re.search(r'<svg[^>]*class="plot roofline".*?</svg>', section(two_html, "timings"), re.S).group(0)
    assert svg.count('class="roof"') == 3          # the memory roof and two compute roofs (fp32, fp16 tensor)
    assert "memory 4.8 TB/s" in svg and "67 TFLOP/s (float32)" in svg and "990 TFLOP/s (float16)" in svg
    assert svg.count('<use href="#mk-circle"') == 8 + 2   # 2 layers x 2 dtypes x 2 backends, + legend
    assert ">resnet50.conv1<" in svg and "arithmetic intensity (FLOP/byte)" in svg
    assert "of the compute roof" in svg or "of the memory roof" in svg


def test_roofline_with_an_unknown_card(tmp_path):
    html = report.render(load_many([write_run(tmp_path / "u.jsonl", *departures_run(card_known=False))]))
    timings = section(html, "timings")
    assert f"{UNKNOWN_CARD}" in timings and "no roofs are drawn" in timings
    svg = re.search(r'<svg[^>]*class="plot roofline".*?</svg>', timings, re.S).group(0)
    assert 'class="roof"' not in svg and svg.count('<use href="#mk-circle"') >= 8


def test_device_time_against_latency_per_op(two_html):
    figs = re.findall(r'<figure class="devlat" data-op="([^"]+)">(.*?)</figure>', two_html, re.S)
    assert [op for op, _ in figs] == ["nn.relu", "add", "nn.conv2d"]   # table order
    relu = figs[0][1]
    assert relu.count('class="diag"') == 1
    assert relu.count("<use href=\"#mk-") == 2 * 3 * 2       # 2 runs x 3 cases x 2 backends
    assert "12 points; median host overhead" in relu
    assert "#mk-square" in relu                               # the second run's marker


def test_backends_side_by_side_for_the_bench_set(two_html):
    tables = re.findall(r'<table class="bench">(.*?)</table>', two_html, re.S)
    assert len(tables) == 2                                   # one per run
    t = tables[1]
    assert re.findall(r'<th colspan="3" class="run">([^<]+)</th>', t) == ["tensorrt", "tvm-cuda"]
    rows = re.findall(r"<tr><td class=\"mono\" title=\"nn.conv2d\">([^<]+)</td><td>([^<]+)</td>", t)
    assert rows == [(layer, dt) for layer in CONV_LAYERS for dt in ("float16", "float32")]
    assert t.count("µs") >= 16 and re.search(r">\d[\d.]*% (compute|memory)<", t)


def test_no_timings():
    from harness.reader import Run
    html = report.render([Run(headers=[make_header("x")], records=[])])
    assert "No timings in these runs" in html and "None: every departure" in html


# -- inputs, files, safety ---------------------------------------------------------------------------
def test_a_schema_1_file_still_renders(tmp_path):
    lines = [{"kind": "header", "schema": "tvm-trt-harness.results", "schema_version": 1, "run_id": "v1",
              "created": "2025-01-01T00:00:00+00:00", "env": {"tvm_version": "0.25", "trt_version": "8.6.1"}}]
    for c, outcome in enumerate(["pass", "fail", "xfail"]):
        lines.append({"kind": "record", "run_id": "v1", "op": "nn.relu", "check": "tensorrt", "outcome": outcome,
                      "case_id": f"nn.relu-{c}", "reason": "old reason" if outcome != "pass" else "",
                      "timings": {"tensorrt": {"median_s": 1e-4, "iqr_s": 1e-6}, "speedup": 2.0},
                      "attrs": {"_weights": [["w", [3]]]}})
    path = tmp_path / "v1.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    out = report.write([str(path)], str(tmp_path / "v1.html"))
    html = open(out, encoding="utf-8").read()
    assert matrix_rows(html) == ["nn.relu"] and "carry no support table" in html
    assert "1 new departure (fail 1)" in html and "latency (schema 1" in html


def test_write_refuses_bad_input_and_leaves_nothing(tmp_path, two_files):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"\xff\n")
    out = tmp_path / "r" / "index.html"
    for paths, target, msg in (([str(bad)], out, f"{bad}: line 1: not UTF-8"), ([], out, "no results files"),
                               ([str(tmp_path / "nope.jsonl")], out, "no such file"),
                               (two_files, tmp_path, "is a directory")):
        with pytest.raises(InputError, match=re.escape(msg)) as exc:
            report.write(paths, str(target))
        assert "\n" not in str(exc.value)
    assert not out.exists() and not any(p.name.endswith(".tmp") for p in tmp_path.rglob("*"))


def test_write_replaces_atomically_and_gates_only_two_runs(tmp_path, two_files):
    out = tmp_path / "index.html"
    out.write_text("OLD")
    report.write(two_files, str(out), title="nightly")
    html = out.read_text(encoding="utf-8")
    assert "<title>nightly</title>" in html and 'id="gate-status"' in html
    assert [p.name for p in tmp_path.iterdir()] == ["index.html"]
    third = write_run(tmp_path / "third.jsonl", *departures_run("third", tvm="0.28"))
    assert 'id="gate-status"' not in open(report.write([*two_files, third], str(out)), encoding="utf-8").read()
    assert 'id="gate-status"' not in open(report.write(two_files[:1], str(out)), encoding="utf-8").read()
    loose = Gate(max_slowdown=0.5)
    assert 'id="gate-status"' in open(report.write(two_files, str(out), gate=loose), encoding="utf-8").read()


def test_injected_markup_in_every_field_is_escaped(tmp_path):
    head, recs = departures_run("<i>id</i>")
    head.label, head.env["gpu"] = XSS, XSS
    head.ops = [TableOp(name=XSS, tvm_op=XSS, min_trt=XSS), *TABLE]
    for r in recs:
        r.reason = r.reason + XSS if r.reason else XSS
        r.reproducer = "javascript:alert(1)//" + XSS
        if r.outcome == "xfail":
            r.expectation, r.rule = XSS, XSS
        if r.timings:
            r.case_id = CONV_LAYERS[0] + XSS if r.suite == "bench" else r.case_id + XSS
    recs.append(Record(op=XSS, check="tensorrt", outcome="fail", case_id=XSS, dtype=XSS, attrs={XSS: XSS},
                       timings={XSS: timing(1e-5, 2e-5)}))
    out = report.write([write_run(tmp_path / "x.jsonl", head, recs)], str(tmp_path / "x.html"))
    html = open(out, encoding="utf-8").read()
    assert XSS not in html and "<i>id" not in html and "javascript:" not in html.split("href=")[1][:20]
    assert not re.search(r'href="javascript:', html)
    assert html.count("<script") == 2 and html.count("</script>") == 2
    assert "&lt;script&gt;window.__xss" in html and "\\u003cscript\\u003ewindow.__xss" in html
    data = case_data(html)
    assert XSS in data["s"]   # the value itself survives, as data


def test_csp_allows_only_the_page_script_and_no_network(two_html):
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', two_html).group(1)
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    script = re.search(r"<script>(.*?)</script>", two_html, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp
    assert not re.search(r'(src|href)="(https?:)?//', two_html) and "@import" not in two_html
    assert "url(" not in two_html


def test_render_api_is_keyword_only(two_files):
    runs = load_many(two_files)
    with pytest.raises(TypeError):
        report.render(runs, Gate().compare(*runs))  # type: ignore[misc]
    with pytest.raises(InputError, match="no runs"):
        report.render([])
    html = report.render(runs, verdict=Gate().compare(*runs), title="t")
    assert "<title>t</title>" in html and 'id="gate-status"' in html


def test_modules_stay_small():
    here = os.path.dirname(report.__file__)
    for name in os.listdir(here):
        if name.endswith(".py"):
            with open(os.path.join(here, name), encoding="utf-8") as fh:
                assert sum(1 for _ in fh) <= 400, name


def test_drill_down_data(two_html):
    data = case_data(two_html)
    assert data["runs"] == ["tvm0.26 trt10.0.1", "tvm0.27 trt10.0.1"]
    conv = data["ops"][2]
    s = data["s"]
    bad = next(c for c in conv if s[c[1]] == "nn.conv2d-bad" and c[0] == 1)   # the current run
    check = bad[5][0]
    assert data["outcomes"][check[1]] == "fail" and s[check[8]] == "reports/repro/nn.conv2d-bad-reference.py"
    timed = next(c for c in conv if s[c[1]] == "resnet50.conv1-float32")
    assert "tensorrt: device" in s[timed[5][0][10]] and "of the" in s[timed[5][0][10]]


# -- the render-time figure ---------------------------------------------------------------------------
def big_run(run_id: str, n_ops: int, n_cases: int, seed: int):
    rnd = random.Random(seed)
    table = [TableOp(name=f"op{o}", tvm_op=f"relax.op{o}") for o in range(n_ops)]
    recs = []
    for o in range(n_ops):
        for c in range(n_cases):
            for check in CHECKS:
                outcome = rnd.choices(["pass", "fail", "xfail", "skip", "error"], [90, 2, 5, 2, 1])[0]
                kw: dict = {}
                if outcome == "xfail":
                    eid = rnd.choice(list(EXP))
                    kw = dict(expectation=eid, rule=EXP[eid][1] if check == "offload" else None,
                              reason=f"known departure (expectations {eid}): {EXP[eid][2]} | detail {c % 7}")
                elif outcome in ("fail", "error"):
                    kw = dict(reason=f"mismatch at index {rnd.randint(0, 999)}", reproducer=f"repro/op{o}-{c}.py",
                              error_kind="crash" if outcome == "error" else None)
                if check == "tensorrt" and outcome == "pass":
                    d = 1e-5 * (1 + o / 10) * rnd.uniform(0.9, 1.1)
                    kw["timings"] = {"tensorrt": timing(d, d + 1e-5), "tvm-cuda": timing(2 * d, 2 * d + 1e-5)}
                recs.append(Record(op=f"op{o}", check=check, outcome=outcome, case_id=f"op{o}-{c:03d}", dtype="float32",
                                   input_shapes=[[1, 16, 56, 56]], attrs={"strides": [1, 1], "layout": "NCHW"}, **kw))
    return make_header(run_id, tvm=f"0.{25 + seed}", table=table), recs


@pytest.mark.benchmark(group="report")
def test_render_57_ops_100_cases_3_runs(benchmark):
    """57 ops x 100 cases (x 4 checks) x 3 runs: the render time is a benchmark figure, not asserted."""
    from harness.reader import Run

    runs = [Run(headers=[h], records=recs) for h, recs in (big_run(f"big{i}", 57, 100, i) for i in range(3))]
    assert sum(len(r.records) for r in runs) == 57 * 100 * 4 * 3
    html = benchmark.pedantic(report.render, args=(runs,), rounds=3, iterations=1)
    size = len(html.encode("utf-8"))
    benchmark.extra_info["size_mb"] = round(size / 1e6, 2)
    assert len(case_data(html)["runs"]) == 3 and len(matrix_rows(html)) == 57
    print(f"report of 57 ops x 100 cases x 3 runs: {size / 1e6:.2f} MB")


def test_a_results_file_round_trips_through_the_builders(two_files):
    run = load_results(two_files[1])
    assert {r.outcome for r in run.records} == {"pass", "fail", "error", "xfail", "xpass"}
    assert any(t.roofline is not None for r in run.records for t in (r.timings or {}).values())
