"""The library's import rule (ARCHITECTURE.md): no import cycles, and the core never imports the course side.

Imports are read from the source (top-level and lazy ones alike), so a cycle hidden inside a function
counts too. A module is on the course side when it sits in one of the COURSE packages; anything else is core.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "utils" / "sinklab"

# The course side: these four packages (ARCHITECTURE.md). Everything else in sinklab is the core.
COURSE = {"sinklab.analysis", "sinklab.checks", "sinklab.viz", "sinklab.course"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def in_core(name: str) -> bool:
    """A module is core unless it is one of the COURSE packages or inside one."""
    return not any(name == c or name.startswith(c + ".") for c in COURSE)


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


def test_both_sides_exist():
    assert all(c in MODULES for c in COURSE), f"missing course-side packages: {sorted(COURSE - set(MODULES))}"
    assert {"sinklab.measure", "sinklab.models", "sinklab.train"} <= {m for m in MODULES if in_core(m)}


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
