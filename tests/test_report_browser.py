"""The report in headless Chromium: it renders, has a row per table op, drills down, runs no injected script."""
from __future__ import annotations

import json
import os
import random
import shutil

import pytest

from harness import report
from harness.report import report_main
from harness.results import CHECKS, Record

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
XSS = "<script>window.__xss = 1; alert(1)</script>"
XSS_IMG = "<img src=x onerror=\"window.__xss = 2; alert(2)\">"

def _has_playwright() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


pytestmark = [
    pytest.mark.skipif(not _has_playwright(),
                       reason="playwright is not installed (pip install playwright)"),
    pytest.mark.skipif(not (os.path.exists(CHROMIUM) or shutil.which("chromium")),
                       reason="chromium is not installed at /usr/bin/chromium (apt-get install chromium)"),
]


class _Op:
    def __init__(self, name, tvm_op=None, no_equivalent=None):
        self.name, self.tvm_op, self.no_equivalent = name, tvm_op, no_equivalent


FALLBACK_OPS = (_Op("nn.relu", "relax.nn.relu"), _Op("nn.conv2d", "relax.nn.conv2d"),
                _Op("nn.global_max_pool2d", None, "no global max pooling in Relax"), _Op("erf", "relax.erf"))


def _results_file(path, ops, run_id="r1", tvm="0.27") -> str:
    rnd = random.Random(run_id)
    lines = [{"kind": "header", "schema": "tvm-trt-harness.results", "schema_version": 1, "run_id": run_id,
              "created": "2025-01-01T00:00:00+00:00", "resumed": False,
              "env": {"harness_version": "0.1.0", "tvm_version": tvm, "trt_version": "8.6.1", "gpu": "H100"}}]
    for i, entry in enumerate([e for e in ops if not e.no_equivalent][:6]):
        for c in range(3):
            for check in CHECKS:
                outcome = "fail" if (i + c) % 4 == 0 and check == "reference" else "pass"
                attrs = {"axis": XSS if (i, c) == (0, 0) else 1}
                r = Record(op=entry.name, check=check, outcome=outcome, case_id=f"{entry.name}-{c}", attrs=attrs,
                           reason=XSS_IMG if outcome == "fail" else "", input_shapes=[[2, 3]], dtype="float32",
                           max_abs_err=rnd.random() * 1e-4, reproducer=f"repro/{entry.name}-{c}.py",
                           min_tolerance={"atol": 1e-4, "rtol": 0.0},
                           timings={"tensorrt": {"median_s": 1e-4, "iqr_s": 1e-6, "build_s": 1.0},
                                    "cuda": {"median_s": 2e-4, "iqr_s": 1e-6, "build_s": 0.5}, "speedup": 2.0}
                           if check == "tensorrt" else None).to_json()
                r["run_id"] = run_id
                lines.append(r)
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def table():
    ops = report.table_ops()
    return ops if ops is not None else FALLBACK_OPS


@pytest.fixture(scope="module")
def report_url(tmp_path_factory, table):
    d = tmp_path_factory.mktemp("browser")
    base = _results_file(d / "base.jsonl", table, "base", "0.26")
    cur = _results_file(d / "cur.jsonl", table, "cur", "0.27")
    out = d / "index.html"
    real = report.table_ops
    report.table_ops = lambda: table  # the fallback table when harness.table is missing
    try:
        assert report_main([cur, "-o", str(out), "--baseline", base]) == 0
    finally:
        report.table_ops = real
    return out.as_uri()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium"),
                              args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, report_url):
    page = browser.new_page()
    page.dialogs, page.errors = [], []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.goto(report_url)
    yield page
    page.close()


def test_renders_without_errors(page):
    assert page.title() == "tvm-trt-harness report"
    assert page.locator("#gate-status").is_visible()
    assert page.locator("svg").count() == 1
    assert page.errors == []


def test_matrix_has_one_row_per_table_op(page, table):
    names = page.locator("#matrix tr.oprow td.op").all_inner_texts()
    assert names == [e.name for e in table]
    no_eq = [e for e in table if e.no_equivalent]
    assert page.locator("#matrix td.noeq").count() == len(no_eq)


def test_drill_down_opens_on_click(page, table):
    first = next(e for e in table if not e.no_equivalent)
    details = page.locator("details.op").first
    assert not details.evaluate("d => d.open")
    page.locator("#matrix tr.oprow").first.locator("td.c").first.click()
    assert details.evaluate("d => d.open")
    cases = details.locator("table.cases")
    cases.wait_for()
    assert cases.locator("tr").count() == 1 + 3 * 2 * len(CHECKS)  # header + 3 cases x 2 runs x 4 checks
    text = cases.inner_text()
    assert f"{first.name}-0" in text and f"repro/{first.name}-0.py" in text and "atol=0.0001 rtol=0.0" in text


def test_only_failures_filter(page):
    page.locator("details.op summary").first.click()
    cases = page.locator("details.op").first.locator("table.cases")
    cases.wait_for()
    before = cases.locator("tr").count()
    page.locator("#only-bad").check()
    after = page.locator("details.op").first.locator("table.cases tr").count()
    assert 1 < after < before
    assert page.locator("details.op").first.locator("td.o.fail").count() == after - 1


def test_injected_script_in_attr_does_not_run(page):
    page.locator("details.op summary").first.click()
    host = page.locator("details.op").first.locator("table.cases")
    host.wait_for()
    assert XSS in host.inner_text()  # shown as text
    assert XSS_IMG in host.inner_text()
    page.wait_for_timeout(200)
    assert page.evaluate("window.__xss") is None
    assert page.dialogs == [] and page.errors == []
    assert page.locator("details.op img, details.op script").count() == 0
