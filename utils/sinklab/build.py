"""Build the notebooks from the course sources: `sinklab build [--check]`.

One source per chapter, ``course/NN_slug.py`` (jupytext percent format). The build writes

- ``solutions/NN_slug.ipynb``: every cell, solutions included (nbgrader markers kept, so an
  instructor can grade with nbgrader);
- ``chapters/NN_slug.ipynb``: the student copy, each ``### BEGIN SOLUTION`` … ``### END SOLUTION``
  region replaced by ``raise NotImplementedError("Exercise N.k: …")``;

and, in front of each chapter's own cells, a title cell with Colab badges, an overview cell
(prerequisites, objectives, minutes per track, hardware, models) and the setup cell, all generated
from ``course/course.yml``. It also regenerates the chapter table in README.md.
``--check`` writes nothing and fails when any generated file is stale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat
import yaml

from sinklab.errors import SinklabError

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
EXERCISE_HEADING = re.compile(r"^#+\s*Exercise\s+(\d+\.\d+)\s*[–:-]\s*(.+)$", re.MULTILINE)
TABLE_START, TABLE_END = "<!-- chapter-table:start -->", "<!-- chapter-table:end -->"
SETUP_TEMPLATE = '''\
# Setup — the same first cell in every chapter. On Colab it installs sinklab; elsewhere it only imports.
import importlib.util, subprocess, sys
if importlib.util.find_spec("sinklab") is None:
    if "google.colab" not in sys.modules:
        raise ModuleNotFoundError("sinklab is not installed: run `pip install -e .` in the course folder, then restart the kernel.")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "sinklab @ git+https://github.com/{repository}@{branch}"], check=True)
from sinklab.setup import start
profile = start(chapter={number}, needs_gpu={needs_gpu})'''


@dataclass(frozen=True)
class Chapter:
    """One chapter's metadata from course.yml."""

    number: int
    slug: str
    title: str
    status: str
    hardware: str
    minutes: dict
    prerequisites: list
    objectives: list
    models: list
    key_result: str

    @property
    def stem(self) -> str:
        return f"{self.number:02d}_{self.slug}"


def repo_root() -> Path:
    """The course checkout: the folder holding course/ (found from the current directory upwards)."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "course" / "course.yml").is_file():
            return folder
    raise SinklabError(
        "Could not find course/course.yml above the current folder. Fix: run `sinklab build` from inside "
        "the sinklab checkout (the folder that holds course/, chapters/ and solutions/)."
    )


def load_course(root: Path) -> dict:
    """course.yml as a dict, with `chapters` turned into `Chapter` objects."""
    meta = yaml.safe_load((root / "course" / "course.yml").read_text())
    meta["chapters"] = sorted((Chapter(**c) for c in meta["chapters"]), key=lambda c: c.number)
    return meta


# ---------------------------------------------------------------- generated cells


def colab_url(meta: dict, folder: str, chapter: Chapter) -> str:
    return (
        f"https://colab.research.google.com/github/{meta['repository']}/blob/{meta['branch']}/"
        f"{folder}/{chapter.stem}.ipynb"
    )


def badges(meta: dict, chapter: Chapter) -> str:
    badge = "https://colab.research.google.com/assets/colab-badge.svg"
    return (
        f"[![Open in Colab (exercises)]({badge})]({colab_url(meta, 'chapters', chapter)}) "
        f"[![Open in Colab (solutions)]({badge})]({colab_url(meta, 'solutions', chapter)})"
    )


def title_cell(meta: dict, chapter: Chapter) -> str:
    lines = [f"# [{chapter.number}] {chapter.title}", "", badges(meta, chapter)]
    if chapter.hardware == "gpu":
        lines += ["", "> **Select a GPU runtime** (Colab: Runtime → Change runtime type → T4 GPU). "
                  "Without one, the chapter runs a reduced CPU version."]
    return "\n".join(lines)


def overview_cell(meta: dict, chapter: Chapter) -> str:
    tracks = meta["tracks"]
    lines = ["## Overview", "", "**Prerequisites**", ""]
    lines += [f"- {p}" for p in chapter.prerequisites]
    lines += ["", "**What you'll be able to do**", ""]
    lines += [f"- {o}" for o in chapter.objectives]
    lines += ["", "| " + " | ".join(tracks.values()) + " | Hardware |", "|" + " --- |" * (len(tracks) + 1)]
    lines += ["| " + " | ".join(f"{chapter.minutes[t]} min" for t in tracks) + f" | {meta['hardware_tiers'][chapter.hardware]} |"]
    lines += ["", "**Models:** " + "; ".join(chapter.models)]
    return "\n".join(lines)


def setup_cell(meta: dict, chapter: Chapter) -> str:
    return SETUP_TEMPLATE.format(
        repository=meta["repository"], branch=meta["branch"],
        number=chapter.number, needs_gpu=chapter.hardware == "gpu",
    )


def chapter_table(meta: dict) -> str:
    """README's chapter table (markdown), generated from course.yml."""
    tracks = meta["tracks"]
    head = "| # | Chapter | You will | " + " | ".join(tracks.values()) + " | Hardware | Open |"
    rows = [head, "|" + " --- |" * (len(tracks) + 5)]
    for c in meta["chapters"]:
        minutes = " | ".join(f"{c.minutes[t]} min" for t in tracks)
        hardware = "GPU" if c.hardware == "gpu" else "CPU"
        if c.status == "available":
            badge = "https://colab.research.google.com/assets/colab-badge.svg"
            link = f"[![Colab]({badge})]({colab_url(meta, 'chapters', c)})"
        else:
            link = "planned"
        rows.append(f"| {c.number} | {c.title} | {'; '.join(c.objectives)} | {minutes} | {hardware} | {link} |")
    return "\n".join(rows)


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


def build_chapter(meta: dict, chapter: Chapter, root: Path) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    """(solution notebook, student notebook) for one chapter."""
    source_path = root / "course" / f"{chapter.stem}.py"
    if not source_path.is_file():
        raise SinklabError(f"course.yml lists chapter {chapter.number} as available but {source_path} is missing.")
    source_nb = jupytext.read(source_path, fmt="py:percent")

    head = [
        nbformat.v4.new_markdown_cell(title_cell(meta, chapter)),
        nbformat.v4.new_markdown_cell(overview_cell(meta, chapter)),
        nbformat.v4.new_code_cell(setup_cell(meta, chapter)),
    ]
    solution_cells, student_cells, markdown_so_far = [], [], ""
    for cell in source_nb.cells:
        tags = list(cell.metadata.get("tags", []))
        if cell.cell_type == "markdown":
            markdown_so_far += "\n" + cell.source
            solution_cells.append(nbformat.v4.new_markdown_cell(cell.source, metadata=_meta(tags)))
            student_cells.append(nbformat.v4.new_markdown_cell(cell.source, metadata=_meta(tags)))
            continue
        solution_cells.append(nbformat.v4.new_code_cell(cell.source, metadata=_meta(tags)))
        student_source = cell.source
        if BEGIN in cell.source:
            label = exercise_label(markdown_so_far, source_path.name)
            student_source = stub_solutions(cell.source, label)
        student_cells.append(nbformat.v4.new_code_cell(student_source, metadata=_meta(tags)))
    solution = _notebook([*head, *solution_cells])
    student = _notebook([nbformat.from_dict(c) for c in head] + student_cells)
    return solution, student


def _meta(tags: list) -> dict:
    return {"tags": tags} if tags else {}


def render_readme(readme: str, meta: dict) -> str:
    """README.md with its chapter-table block regenerated."""
    if TABLE_START not in readme or TABLE_END not in readme:
        raise SinklabError(f"README.md must contain the markers {TABLE_START} and {TABLE_END}.")
    before, rest = readme.split(TABLE_START, 1)
    _, after = rest.split(TABLE_END, 1)
    return f"{before}{TABLE_START}\n{chapter_table(meta)}\n{TABLE_END}{after}"


def outputs(root: Path) -> dict[Path, str]:
    """Every generated file and its content."""
    meta = load_course(root)
    files = {}
    for chapter in meta["chapters"]:
        if chapter.status != "available":
            continue
        solution, student = build_chapter(meta, chapter, root)
        files[root / "solutions" / f"{chapter.stem}.ipynb"] = nbformat.writes(solution) + "\n"
        files[root / "chapters" / f"{chapter.stem}.ipynb"] = nbformat.writes(student) + "\n"
    readme = root / "README.md"
    files[readme] = render_readme(readme.read_text(), meta)
    return files


def build(root: Path | None = None, check: bool = False) -> list[Path]:
    """Write the generated files (or, with check=True, return those that are stale)."""
    root = root or repo_root()
    stale = []
    for path, content in outputs(root).items():
        if not path.is_file() or path.read_text() != content:
            stale.append(path)
            if not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(content)
    return stale


def cli_main(args) -> int:
    root = repo_root()
    stale = build(root, check=args.check)
    names = ", ".join(str(p.relative_to(root)) for p in stale)
    if args.check:
        if stale:
            print(f"Stale generated files: {names}. Fix: run `sinklab build` and commit the result "
                  "(never edit chapters/ or solutions/ by hand; edit course/ instead).")
            return 1
        print("All generated notebooks and README are up to date.")
        return 0
    print(f"Wrote {len(stale)} file(s){': ' + names if stale else ' (everything was up to date)'}.")
    return 0


def add_arguments(parser) -> None:
    parser.add_argument("--check", action="store_true", help="fail if any generated file is stale; write nothing")
