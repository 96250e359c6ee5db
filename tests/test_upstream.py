"""Findings ready to file upstream (harness/upstream.py, harness/causes.py, ``trt-harness upstream``).

The pages are generated from real results files: the H200 run in reports/gpu/, the CPU example
run, and a results file ``trt-harness check`` writes here for a model TVM mishandles.
"""
from __future__ import annotations

import os
import re

import onnx
import pytest

from harness import causes, report, upstream
from harness.cli import main
from harness.errors import InputError

from reduce_models import buried_cnn, expand_shape_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GPU = os.path.join(ROOT, "reports", "gpu", "ci-h200-16workers.jsonl")
CPU = os.path.join(ROOT, "reports", "example", "results.jsonl")


@pytest.fixture(scope="module")
def gpu_pages(tmp_path_factory):
    out = tmp_path_factory.mktemp("upstream")
    return {os.path.basename(p): (open(p, encoding="utf-8").read(), g)
            for p, g in upstream.write_pages([GPU], str(out), baseline=CPU, root=ROOT)}, out


def test_one_page_per_root_cause_across_ops_and_checks(gpu_pages):
    pages, out = gpu_pages
    text, g = pages["tensorrt-patterns-unchecked.md"]
    assert len(g.ops) >= 10 and g.checks == ["offload"]            # one cause, many ops
    text, g = pages["cuda-split-empty-piece.md"]
    assert g.checks == ["reference", "tensorrt"]                    # one cause, two checks
    index = open(out / "README.md", encoding="utf-8").read().splitlines()
    assert sum(line.startswith("- [") for line in index) == len(pages)


def test_a_page_says_what_to_file(gpu_pages):
    text, g = gpu_pages[0]["cuda-mean-to-scalar.md"]
    assert text.startswith("# [Bug][Relax][CUDA] mean to a rank-0 result")
    assert "| TVM | 0.27.0.post1, built without the TensorRT codegen/runtime, CUDA on NVIDIA H200" in text
    assert "| TensorRT | did not run (" in text
    assert re.search(r"`python/tvm/relax/transform/legalize_ops/statistical\.py:\d+ \(_mean\)`", text)
    assert "R.mean(x0, axis=None, keepdims=False)" in text           # the reproducer's program, quoted
    assert "docs/findings/gpu/mean-cf5f816fee-reference.py" in text
    assert "- **reference**, expected: " in text and "- **tensorrt**, expected: " in text
    assert "New since the last version gated | **yes**" in text      # the CPU baseline has no CUDA run


def test_a_cause_the_baseline_shows_too_is_not_new(tmp_path):
    written = dict((os.path.basename(p), open(p, encoding="utf-8").read())
                   for p, _ in upstream.write_pages([CPU], str(tmp_path), baseline=CPU, root=ROOT))
    assert written and all("| New since the last version gated | no: the baseline" in t for t in written.values())


def test_every_source_location_resolves_in_the_installed_tvm():
    wheres = [w for c in causes.load_causes() for w in c.where if w.startswith("py:")]
    assert wheres
    for w in wheres:
        got = upstream.resolve(w)
        assert re.match(r"python/tvm/.+\.py:\d+ \(", got), (w, got)


def test_a_model_departure_gets_its_page_with_the_onnx_reproducer(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "cnn.onnx"
    onnx.save(buried_cnn("expand"), path)
    results = tmp_path / "r.jsonl"
    assert main(["check", str(path), "--input", expand_shape_file(tmp_path / "s.npy"), "--steps", "offload",
                 "--results", str(results), "--trt-build-cache", "off"]) == 1
    assert main(["upstream", str(results), "-o", str(tmp_path / "pages"), "--root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "merge-composite-matchcast.md: [Bug][Relax] MergeCompositeFunctions raises TypeError" in out
    text = open(tmp_path / "pages" / "merge-composite-matchcast.md", encoding="utf-8").read()
    assert "`model:cnn`" in text and "= Expand (m, shape)" in text and "merge_composite_functions.cc" in text
    upstream.write_pages([str(results)], causes.PAGES_DIR, root=str(tmp_path))     # where the report looks
    html = open(report.write([str(results)], str(tmp_path / "index.html")), encoding="utf-8").read()
    assert 'href="./docs/findings/upstream/merge-composite-matchcast.md">upstream page</a>' in html   # a new one


def test_the_report_links_each_known_group_to_its_page(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    upstream.write_pages([GPU], causes.PAGES_DIR, root=ROOT)
    assert causes.page_for("offload-dtype") == f"{causes.PAGES_DIR}/tensorrt-patterns-unchecked.md"
    assert causes.page_for("no-such-expectation") is None
    html = open(report.write([GPU], str(tmp_path / "index.html")), encoding="utf-8").read()
    assert 'href="./docs/findings/upstream/tensorrt-patterns-unchecked.md">upstream page</a>' in html


def test_a_malformed_causes_file_is_one_error(tmp_path):
    bad = tmp_path / "u.toml"
    bad.write_text('[[cause]]\nid = "x"\ntitle = "t"\nwhere_ = ["y"]\n')
    with pytest.raises(InputError, match="unknown keys"):
        causes.load_causes(str(bad))


def test_a_missing_results_file_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["upstream", str(tmp_path / "none.jsonl"), "-o", str(tmp_path / "p")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1 and not (tmp_path / "p").exists()
