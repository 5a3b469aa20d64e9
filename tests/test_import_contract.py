"""The library's import rule (ARCHITECTURE.md): no import cycles, and the core never imports the course side.

Imports are read from the source (top-level and lazy ones alike), so a cycle hidden inside a function
counts too. A new module must be listed in CORE or COURSE, so that its side is a decision, not an accident.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "utils" / "sinklab"

# Reusable by researchers, no chapter knowledge.
CORE = {
    "sinklab",
    "sinklab.errors",
    "sinklab.env",
    "sinklab.models",
    "sinklab.metrics",
    "sinklab.measure",
    "sinklab.sinkattention",
    "sinklab.variants",
    "sinklab.train",
    "sinklab.data",
    "sinklab.prompts",
    "sinklab.evaluate",
    "sinklab.bench",
    "sinklab._compat",
    "sinklab.random_models",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def in_core(name: str) -> bool:
    """A module is core if it or a package above it is listed in CORE (sinklab itself only as itself)."""
    parts = name.split(".")
    return any(".".join(parts[:i]) in CORE for i in range(2, len(parts) + 1)) or name in CORE


def imports_of(name: str) -> set[str]:
    """The sinklab modules `name` imports, resolved to modules that exist (a package or a module in it)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        found |= {t for t in targets if t in MODULES and t != name and not name.startswith(t + ".")}
    found.discard("sinklab")  # `from sinklab import x` is resolved to sinklab.x above
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def test_every_module_has_a_side():
    course = {m for m in MODULES if not in_core(m)}
    assert course, "no course-side modules found: is PACKAGE right?"
    assert all(m in MODULES for m in CORE), f"CORE lists modules that do not exist: {sorted(CORE - set(MODULES))}"


@pytest.mark.parametrize("name", sorted(m for m in MODULES if in_core(m)))
def test_core_never_imports_the_course_side(name):
    course_imports = sorted(dep for dep in GRAPH[name] if not in_core(dep))
    assert not course_imports, f"core module {name} imports course-side {course_imports}"


def test_no_import_cycles():
    # Tarjan's strongly connected components: any component with more than one module is a cycle.
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_the_checker_sees_a_cycle():
    """The cycle test can fail: a graph with a two-module cycle is reported."""
    saved = dict(GRAPH)
    try:
        GRAPH["sinklab.errors"] = {"sinklab.env"}
        GRAPH["sinklab.env"] = {"sinklab.errors"}
        with pytest.raises(AssertionError, match="import cycles"):
            test_no_import_cycles()
    finally:
        GRAPH.clear()
        GRAPH.update(saved)
