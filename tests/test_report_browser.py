"""The report in headless Chromium: the verdict is the first thing on the page, the known-departure
groups, the drill-down and the plots are there, and markup injected into any record field runs nothing.

Needs Playwright and Debian's Chromium at /usr/bin/chromium (CI: apt-get install -y chromium);
skips with the exact reason otherwise."""
from __future__ import annotations

import os

import pytest

from harness import report
from harness.records import Record, TableOp
from test_report import (CONV_LAYERS, TABLE, XSS, baseline_run, departures_run, timing, write_run)

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
XSS_IMG = "<img src=x onerror=\"window.__xss = 2; alert(2)\">"
XSS_SVG = "</text><script>window.__xss = 3</script><text>"


def _playwright_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (.venv/bin/pip install playwright)"
    return None


pytestmark = [
    pytest.mark.skipif(_playwright_missing() is not None, reason=str(_playwright_missing())),
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason=f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"),
]


def _hostile(head, recs):
    """Markup in every field a record or header can carry, each reaching a different section."""
    head.label = "current " + XSS
    head.env["gpu"] = XSS_IMG
    head.ops = [*TABLE, TableOp(name="nn.x" + XSS, tvm_op=XSS_IMG, min_trt=XSS)]
    for r in recs:
        if r.outcome == "fail":
            r.reason += XSS_IMG
            r.reproducer = "javascript:window.__xss=4//" + XSS
        if r.outcome == "xfail" and r.expectation == "#2":
            r.reason = r.reason.replace("NHWC", XSS)
            r.offload.over[0] = type(r.offload.over[0])(op=r.offload.over[0].op, reason=XSS_IMG, rule="layout")
        if r.check == "reference" and r.op == "nn.relu":
            r.attrs = {"axis": XSS, XSS: XSS_IMG}
        if r.suite == "bench" and r.case_id.startswith(CONV_LAYERS[0]):
            r.case_id = r.case_id + XSS_SVG
    recs.append(Record(op="nn.x" + XSS, check="tensorrt", outcome="error", error_kind="crash", case_id=XSS_SVG,
                       reason=XSS, dtype=XSS_IMG, timings={"tensorrt": timing(2e-6, 1.5e-5)}))
    return head, recs


@pytest.fixture(scope="module")
def report_url(tmp_path_factory):
    d = tmp_path_factory.mktemp("browser")
    base = write_run(d / "base.jsonl", *baseline_run())
    cur = write_run(d / "cur.jsonl", *_hostile(*departures_run()))
    return report.write([base, cur], str(d / "reports" / "index.html")).replace(os.sep, "/")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, report_url):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.dialogs, page.errors = [], []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
    page.goto("file://" + report_url)
    yield page
    page.close()


def test_renders_without_errors(page):
    assert page.title() == "tvm-trt-harness report"
    assert page.locator("#case-data").count() == 1
    assert page.errors == [] and page.dialogs == []


def test_the_verdict_is_the_first_thing_on_the_page(page):
    first = page.evaluate("document.body.firstElementChild.id")
    assert first == "verdict"
    box = page.locator("#headline").bounding_box()
    assert box["y"] < 40 and box["height"] > 0
    headline = page.locator("#headline").inner_text()
    assert headline.startswith("REGRESSION:") and "new departures" in headline
    assert page.locator("#gate-status").is_visible()
    # the new departures follow on the first screen: the worst first, with the reproducer
    new = page.locator("#new tbody.newgroup")
    assert new.count() == 4 and new.first.locator("td.o").inner_text().startswith("error")
    assert page.locator("#new").bounding_box()["y"] < 800


def test_known_departure_groups(page):
    groups = page.locator("#known tr.kgroup")
    assert groups.count() == 3
    ids = [groups.nth(i).locator("td").first.inner_text() for i in range(3)]
    assert ids == ["#1", "#2", "split-empty-piece-cuda"]
    assert "nn.relu · offload 3 / 3" in groups.first.inner_text()
    groups.nth(1).locator("details.variants summary").click()
    layout = groups.nth(1).inner_text()
    assert XSS_IMG in layout                            # a case-level reason, shown as text


def test_drill_down_opens_from_the_matrix_and_from_the_lists(page):
    details = page.locator("#op-0")
    assert not details.evaluate("d => d.open")
    page.locator("#matrix tr.oprow").first.locator("td.c").first.click()
    assert details.evaluate("d => d.open")
    cases = details.locator("table.cases")
    cases.wait_for()
    assert "nn.relu-0" in cases.inner_text() and XSS in cases.inner_text()
    link = page.locator("#new a.to-op", has_text="nn.conv2d").first
    link.click()
    conv = page.locator("#op-2")
    assert conv.evaluate("d => d.open")
    text = conv.locator("table.cases").inner_text()
    assert "nn.conv2d-bad" in text and "max_abs_err 0.25" in text


def test_only_bad_filter(page):
    page.locator("#op-2 summary").click()
    page.locator("#op-2 table.cases").wait_for()
    before = page.locator("#op-2 table.cases tr").count()
    page.locator("#only-bad").check()
    after = page.locator("#op-2 table.cases tr").count()
    assert 1 < after < before
    assert page.locator("#op-2 td.o.fail").count() == after - 1


def test_the_plots_are_drawn(page):
    roof = page.locator("svg.roofline")
    assert roof.count() == 2                                      # one per run
    assert roof.last.bounding_box()["width"] > 500
    assert roof.last.locator("line.roof").count() == 3
    devlat = page.locator("figure.devlat svg")
    assert devlat.count() == 4 and devlat.first.locator("line.diag").count() == 1
    assert page.locator("table.bench").count() == 2
    assert page.locator("table.bench").last.locator("tbody tr").count() == 4


def test_environment_is_last_and_folded(page):
    assert page.evaluate("document.querySelector('#environment').open") is False
    last = page.evaluate("[...document.body.children].filter(e => !['SCRIPT', 'svg', 'STYLE'].includes(e.tagName))"
                         ".pop().id")
    assert last == "environment"


def test_injected_markup_runs_nothing(page):
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    page.locator("#op-0 table.cases").wait_for()
    page.wait_for_load_state("load")     # an event: every resource's onload/onerror has had its turn
    assert page.evaluate("window.__xss") is None
    # and nothing is left that could run later: no inline handler on any element
    assert page.evaluate("[...document.querySelectorAll('*')].flatMap(e => [...e.attributes])"
                         ".filter(a => a.name.startsWith('on')).map(a => a.name)") == []
    assert page.dialogs == [] and page.errors == []
    assert page.locator("script").count() == 2
    assert page.locator("img").count() == 0
    assert page.locator("a[href^='javascript']").count() == 0
    assert XSS in page.locator("#matrix").inner_text()              # an op name, as text
    assert XSS_IMG in page.locator("#environment").inner_text()     # the env, as text
    titles = page.evaluate("[...document.querySelectorAll('svg.roofline title')].map(t => t.textContent)")
    assert any(XSS_SVG in t for t in titles)                        # a bench layer in a plot, as text
