"""The generated cells of every notebook and the student copy of a chapter.

In front of each chapter's own cells: a title cell with Colab badges, an overview cell
(prerequisites, objectives, minutes per track, hardware, models) and the setup cell, all from
``course/course.yml``. The student copy replaces each ``### BEGIN SOLUTION`` … ``### END SOLUTION``
region by ``raise NotImplementedError("Exercise N.k: …")`` and marks the cell for nbgrader.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from sinklab.course import tracks
from sinklab.course.spec import Chapter, chapter_sections, colab_url, render_models
from sinklab.errors import SinklabError

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
EXERCISE_HEADING = re.compile(r"^#+\s*Exercise\s+(\d+\.\d+)\s*[–:-]\s*(.+)$", re.MULTILINE)
SETUP_TEMPLATE = """\
# Setup — the same first cell in every chapter. On Colab it installs sinklab; elsewhere it only imports.
import importlib.util, subprocess, sys
if importlib.util.find_spec("sinklab") is None:
    if "google.colab" not in sys.modules:
        raise ModuleNotFoundError("sinklab is not installed: run `pip install -e .` in the course folder, then restart the kernel.")
    try:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "sinklab @ git+https://github.com/{repository}@{branch}"], check=True)
    except subprocess.CalledProcessError:
        raise RuntimeError("Installing sinklab from https://github.com/{repository} ({branch}) failed: pip's "
                           "message is above. Fix: check that the runtime has internet and that the repository "
                           "exists, then rerun this cell; a fork sets its own `repository:` in course/course.yml "
                           "and runs `sinklab build`.") from None
    importlib.invalidate_caches()  # let this running kernel see the package it just installed
from sinklab.course.notebook_setup import start
profile = start(chapter={number}, needs_gpu={needs_gpu})"""


def badges(meta: dict, chapter: Chapter) -> str:
    badge = "https://colab.research.google.com/assets/colab-badge.svg"
    return (
        f"[![Open in Colab (exercises)]({badge})]({colab_url(meta, 'chapters', chapter)}) "
        f"[![Open in Colab (solutions)]({badge})]({colab_url(meta, 'solutions', chapter)})"
    )


def title_cell(meta: dict, chapter: Chapter) -> str:
    lines = [f"# [{chapter.number}] {chapter.title}", "", badges(meta, chapter)]
    if chapter.hardware == "gpu":
        lines += [
            "",
            "> **Select a GPU runtime** (Colab: Runtime → Change runtime type → T4 GPU). "
            "Without one, the chapter runs a reduced CPU version.",
        ]
    return "\n".join(lines)


def overview_cell(meta: dict, chapter: Chapter, track: str = "self_paced", left_out: tuple = ()) -> str:
    names = meta["tracks"]
    lines = ["## Overview", "", "**Prerequisites**", ""]
    lines += [f"- {p}" for p in chapter.prerequisites]
    lines += ["", "**What you'll be able to do**", ""]
    lines += [f"- {o}" for o in chapter.objectives]
    lines += ["", "| " + " | ".join(names.values()) + " | Hardware |", "|" + " --- |" * (len(names) + 1)]
    lines += [
        "| "
        + " | ".join(f"{chapter.minutes[t]} min" for t in names)
        + f" | {meta['hardware_tiers'][chapter.hardware]} |"
    ]
    lines += ["", "**Models:** " + "; ".join(render_models(m) for m in chapter.models)]
    if track != "self_paced":
        lines += [
            "",
            f"**This copy: the {names[track]} track, {chapter.minutes[track]} min.** It keeps the "
            f"{' and '.join(tracks.TRACKS[track])} sections.",
        ]
        if left_out:
            lines += ["Left out here (they are in the full notebook): " + "; ".join(left_out) + "."]
        lines += ["The Colab badges above open the full notebook on the repository's default branch."]
    return "\n".join(lines)


def setup_cell(meta: dict, chapter: Chapter) -> str:
    return SETUP_TEMPLATE.format(
        repository=meta["repository"],
        branch=meta["branch"],
        number=chapter.number,
        needs_gpu=chapter.hardware == "gpu",
    )


# ---------------------------------------------------------------- solution regions


def stub_solutions(source: str, label: str) -> str:
    """Replace each BEGIN/END SOLUTION region of a code cell by a NotImplementedError stub."""
    out, inside = [], False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise SinklabError(f"Nested '{BEGIN}' in the cell for {label}.")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f'{indent}raise NotImplementedError("{label}")')
        elif stripped == END:
            if not inside:
                raise SinklabError(f"'{END}' without '{BEGIN}' in the cell for {label}.")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise SinklabError(f"'{BEGIN}' without '{END}' in the cell for {label}.")
    return "\n".join(out)


def exercise_label(markdown_before: str, where: str) -> str:
    """'Exercise N.k: title' from the last exercise heading above a solution cell."""
    found = EXERCISE_HEADING.findall(markdown_before)
    if not found:
        raise SinklabError(
            f"A solution region in {where} has no '### Exercise N.k – title' heading above it. "
            "Fix: put the exercise's heading in a markdown cell before its code cell."
        )
    number, title = found[-1]
    return f"Exercise {number}: {title.strip()}"


# ---------------------------------------------------------------- notebooks


def _notebook(cells: list) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for i, cell in enumerate(cells):
        cell["id"] = f"c{i:03d}"
    nb.cells = cells
    return nb


def build_chapter(
    meta: dict, chapter: Chapter, root: Path, track: str = "self_paced"
) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    """(solution notebook, student notebook) for one chapter, cut to the sections `track` keeps."""
    found = chapter_sections(chapter, root)
    keep = tracks.kept(found, track)
    left_out = tuple(s.title for s in found if s not in keep)
    head = [
        nbformat.v4.new_markdown_cell(title_cell(meta, chapter)),
        nbformat.v4.new_markdown_cell(overview_cell(meta, chapter, track, left_out)),
        nbformat.v4.new_code_cell(setup_cell(meta, chapter)),
    ]
    solution_cells, student_cells, markdown_so_far = [], [], ""
    for cell in (c for section in keep for c in section.cells):
        tags = list(cell.metadata.get("tags", []))
        if cell.cell_type == "markdown":
            markdown_so_far += "\n" + cell.source
            solution_cells.append(nbformat.v4.new_markdown_cell(cell.source, metadata=_meta(tags)))
            student_cells.append(nbformat.v4.new_markdown_cell(cell.source, metadata=_meta(tags)))
            continue
        metadata, student_source = _meta(tags), cell.source
        if BEGIN in cell.source:
            label = exercise_label(markdown_so_far, f"{chapter.stem}.py")
            student_source = stub_solutions(cell.source, label)
            metadata["nbgrader"] = nbgrader_metadata(label)
        solution_cells.append(nbformat.v4.new_code_cell(cell.source, metadata=metadata))
        student_cells.append(nbformat.v4.new_code_cell(student_source, metadata=metadata))
    solution = _notebook([*head, *solution_cells])
    student = _notebook([nbformat.from_dict(c) for c in head] + student_cells)
    return solution, student


def _meta(tags: list) -> dict:
    return {"tags": tags} if tags else {}


def nbgrader_metadata(label: str) -> dict:
    """nbgrader's cell metadata for an exercise cell: a graded answer cell ("Manually graded answer" in
    its toolbar) with 1 point, so `nbgrader generate_assignment` accepts the solution markers and
    `nbgrader autograde` executes it (see course/instructor_guide.md)."""
    number = label.split(":")[0].split()[-1]
    return {
        "grade": True,
        "solution": True,
        "locked": False,
        "points": 1,
        "task": False,
        "grade_id": f"exercise-{number.replace('.', '-')}",
        "schema_version": 3,
    }
