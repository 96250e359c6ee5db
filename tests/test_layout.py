"""The architecture's own rules, checked on the source: no harness module over 400 lines, no import
cycle between harness modules (imports inside functions count: a lazy import hides a cycle, it
does not remove it), and the entry points a user starts from (the pytest plugin, the CLI, the gate,
the report) import neither TVM nor NumPy nor Hypothesis until a job needs them."""
from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "harness"
MAX_LINES = 400


def _modules() -> dict[str, pathlib.Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def import_graph(modules: dict[str, pathlib.Path]) -> dict[str, set[str]]:
    """module -> harness modules it imports anywhere in its source."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                graph[mod].update(a.name for a in node.names if a.name in modules)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    if f"{target}.{alias.name}" in modules:
                        graph[mod].add(f"{target}.{alias.name}")
                    elif target in modules:
                        graph[mod].add(target)
        graph[mod].discard(mod)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_cycle_finder_finds_a_cycle_and_accepts_a_tree():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_graph_resolves_relative_and_lazy_imports(tmp_path):
    mods = {"harness": tmp_path / "__init__.py", "harness.x": tmp_path / "x.py",
            "harness.sub": tmp_path / "sub" / "__init__.py", "harness.sub.y": tmp_path / "sub" / "y.py"}
    (tmp_path / "sub").mkdir()
    mods["harness"].write_text("")
    mods["harness.x"].write_text("def f():\n    from .sub import y\n")
    mods["harness.sub"].write_text("from . import y\n")
    mods["harness.sub.y"].write_text("from ..x import f\nimport harness.sub\n")
    graph = import_graph(mods)
    assert graph["harness.x"] == {"harness.sub.y"} and graph["harness.sub"] == {"harness.sub.y"}
    assert graph["harness.sub.y"] == {"harness.x", "harness.sub"}
    assert cycles(graph) == [["harness.sub", "harness.sub.y", "harness.x"]]


def test_no_import_cycles_between_harness_modules():
    assert cycles(import_graph(_modules())) == []


def test_no_module_is_longer_than_400_lines():
    long = {m: n for m, p in _modules().items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}, f"split these modules: {long}"


@pytest.mark.parametrize("module", ["harness.plugin", "harness.cli", "harness.gate", "harness.report"])
def test_entry_points_import_no_heavy_dependency(module):
    code = (f"import sys, {module}\n"
            "print(sorted(m for m in ('tvm', 'numpy', 'hypothesis') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"importing {module} loads {out.stdout.strip()}"
