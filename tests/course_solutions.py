"""The solution cells of a chapter source (course/NN_slug.py), importable by tests.

A check's "passes on the reference solution" test must run the code a learner compares with — the
chapter's own solution cells — not a library function that could drift from it. The chapter source
is a jupytext percent file, so it is valid Python (markdown cells are comments): its imports and
top-level function definitions are executed in one namespace, in source order, without running the
chapter's other cells (which load models and plot).
"""

import ast
from pathlib import Path
from types import SimpleNamespace

COURSE = Path(__file__).resolve().parent.parent / "course"


def course_solutions(stem: str) -> SimpleNamespace:
    """The functions defined in course/<stem>.py, e.g. ``course_solutions("01_attention_from_scratch").attention``."""
    path = COURSE / f"{stem}.py"
    tree = ast.parse(path.read_text(), filename=str(path))
    kept = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom | ast.FunctionDef)]
    namespace: dict = {}
    exec(compile(ast.Module(body=kept, type_ignores=[]), str(path), "exec"), namespace)
    return SimpleNamespace(**{k: v for k, v in namespace.items() if isinstance(v, type(course_solutions))})
