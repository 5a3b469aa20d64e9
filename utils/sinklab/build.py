"""Build the notebooks from the course sources: `sinklab build [--check]`.

One source per chapter, ``course/NN_slug.py`` (jupytext percent format). The build writes

- ``solutions/NN_slug.ipynb``: every cell, solutions included (nbgrader markers kept, so an
  instructor can grade with nbgrader);
- ``chapters/NN_slug.ipynb``: the student copy, each ``### BEGIN SOLUTION`` … ``### END SOLUTION``
  region replaced by ``raise NotImplementedError("Exercise N.k: …")``;

and, in front of each chapter's own cells, a title cell with Colab badges, an overview cell
(prerequisites, objectives, minutes per track, hardware, models) and the setup cell, all generated
from ``course/course.yml``. It also regenerates the chapter table in README.md and
``course/syllabus.md`` (the same table and each chapter's metadata and sections).
``--check`` writes nothing and fails when any generated file is stale.

``--track lab|workshop [--out DIR]`` writes the cut copies of one track instead (default
``tracks/<track>/``, not committed): the same notebooks with only the sections the track keeps
(`sinklab.tracks`). Every build checks each chapter's track tags, exercise budgets, cross-section
dependencies and its "Check your understanding" questions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import jupytext
import nbformat
import yaml

from sinklab import tracks
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
    try:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "sinklab @ git+https://github.com/{repository}@{branch}"], check=True)
    except subprocess.CalledProcessError:
        raise RuntimeError("Installing sinklab from https://github.com/{repository} ({branch}) failed: pip's "
                           "message is above. Fix: check that the runtime has internet and that the repository "
                           "exists, then rerun this cell; a fork sets its own `repository:` in course/course.yml "
                           "and runs `sinklab build`.") from None
    importlib.invalidate_caches()  # let this running kernel see the package it just installed
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
    roles: list = field(default_factory=list)  # sinklab.models roles the chapter loads (`sinklab prefetch`)

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


# Objectives must name something a learner can be seen doing.
UNOBSERVABLE_VERBS = ("understand", "know", "learn", "appreciate", "grasp", "realise", "realize", "see", "be aware")


def load_course(root: Path) -> dict:
    """course.yml as a dict, with `chapters` turned into `Chapter` objects."""
    meta = yaml.safe_load((root / "course" / "course.yml").read_text())
    meta["chapters"] = sorted((Chapter(**c) for c in meta["chapters"]), key=lambda c: c.number)
    if set(meta["tracks"]) != set(tracks.TRACKS):
        raise SinklabError(f"course.yml `tracks:` must name exactly {', '.join(tracks.TRACKS)}.")
    for chapter in meta["chapters"]:
        for objective in chapter.objectives:
            verb = next((v for v in UNOBSERVABLE_VERBS if objective.lower().startswith(v + " ")), None)
            if verb:
                raise SinklabError(
                    f"course.yml, chapter {chapter.number}: the objective {objective!r} starts with {verb!r}, which "
                    "cannot be observed. Fix: start it with what the learner does (Implement, Measure, Explain, "
                    "Compare, Predict, …)."
                )
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


def overview_cell(meta: dict, chapter: Chapter, track: str = "self_paced", left_out: tuple = ()) -> str:
    names = meta["tracks"]
    lines = ["## Overview", "", "**Prerequisites**", ""]
    lines += [f"- {p}" for p in chapter.prerequisites]
    lines += ["", "**What you'll be able to do**", ""]
    lines += [f"- {o}" for o in chapter.objectives]
    lines += ["", "| " + " | ".join(names.values()) + " | Hardware |", "|" + " --- |" * (len(names) + 1)]
    lines += ["| " + " | ".join(f"{chapter.minutes[t]} min" for t in names) + f" | {meta['hardware_tiers'][chapter.hardware]} |"]
    lines += ["", "**Models:** " + "; ".join(render_models(m) for m in chapter.models)]
    if track != "self_paced":
        lines += ["", f"**This copy: the {names[track]} track, {chapter.minutes[track]} min.** It keeps the "
                      f"{' and '.join(tracks.TRACKS[track])} sections."]
        if left_out:
            lines += ["Left out here (they are in the full notebook): " + "; ".join(left_out) + "."]
        lines += ["The Colab badges above open the full notebook on the repository's default branch."]
    return "\n".join(lines)


MODEL_PICK = re.compile(r"\{(\w+)@(\w+)\}")  # "{causal_lm@cpu}": the model load("causal_lm") picks on cpu


def render_models(text: str) -> str:
    """`text` with every ``{role@profile}`` replaced by the model `sinklab.models.load` picks there.

    The course's sentences about "the model this profile loads" come from the registry, so they cannot drift.
    """
    from sinklab import env, models

    def pick(match: re.Match) -> str:
        role, profile = match.groups()
        if profile not in env.PROFILES or role not in env.PROFILES[profile].roles:
            raise SinklabError(f"course.yml names {match.group(0)}, but profile {profile!r} has no role {role!r}. "
                               f"Fix: use one of {', '.join(sorted(env.PROFILES['cpu'].roles))} @ "
                               f"{', '.join(env.PROFILE_NAMES)}.")
        return f"`{models.pick(role, env.PROFILES[profile]).name}`"

    return MODEL_PICK.sub(pick, text)


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


def chapter_sections(chapter: Chapter, root: Path) -> list[tracks.Section]:
    """A chapter's source cells as tagged sections, after checking the track and question rules."""
    source_path = root / "course" / f"{chapter.stem}.py"
    if not source_path.is_file():
        raise SinklabError(f"course.yml lists chapter {chapter.number} as available but {source_path} is missing.")
    where = f"course/{source_path.name}"
    found = tracks.sections(jupytext.read(source_path, fmt="py:percent").cells, where)
    tracks.check_budget(found, chapter.minutes, where)
    tracks.check_dependencies(found, where)
    check_understanding(found, where)
    return found


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
    return {"grade": True, "solution": True, "locked": False, "points": 1, "task": False,
            "grade_id": f"exercise-{number.replace('.', '-')}", "schema_version": 3}


# ---------------------------------------------------------------- check your understanding

QUESTION = re.compile(r"^\*\*(\d+)\.\s.+\*\*\s*$", re.MULTILINE)
OPTION = re.compile(r"<details><summary>(.*?)</summary>(.*?)</details>", re.DOTALL)
UNDERSTANDING = "Check your understanding"


def understanding_questions(markdown: str) -> list[list[tuple[str, str, str]]]:
    """The questions of a "Check your understanding" section: per question, its options as
    (label, mark ✅/❌ or "", explanation)."""
    questions = []
    starts = [m.start() for m in QUESTION.finditer(markdown)] + [len(markdown)]
    for begin, end in zip(starts, starts[1:]):
        options = []
        for label, body in OPTION.findall(markdown[begin:end]):
            body = body.strip()
            mark = body[0] if body[:1] in ("✅", "❌") else ""
            explanation = re.sub(r"<[^>]+>", "", body[len(mark):]).strip()
            options.append((label.strip(), mark, explanation))
        questions.append(options)
    return questions


def check_understanding(chapter_sections: list[tracks.Section], where: str) -> None:
    """Fail unless the chapter has a "Check your understanding" section with 4–6 questions whose every
    option is marked ✅ or ❌ and explained, with at least one ✅ per question."""
    section = next((s for s in chapter_sections if s.title == UNDERSTANDING), None)
    if section is None:
        raise SinklabError(f"{where}: no '## {UNDERSTANDING}' section. Fix: end the chapter with 4–6 questions.")
    questions = understanding_questions("\n".join(c.source for c in section.cells if c.cell_type == "markdown"))
    if not 4 <= len(questions) <= 6:
        raise SinklabError(f"{where}: '## {UNDERSTANDING}' has {len(questions)} questions; it needs 4–6 "
                           "(each written **N. question** with its options below).")
    for number, options in enumerate(questions, 1):
        problems = [f"question {number} has fewer than two options"] if len(options) < 2 else []
        problems += [f"question {number} has no ✅ option"] if not any(m == "✅" for _, m, _ in options) else []
        problems += [f"option {label!r} of question {number} is not marked ✅ or ❌"
                     for label, mark, _ in options if not mark]
        problems += [f"option {label!r} of question {number} has no explanation after its mark"
                     for label, mark, text in options if mark and not text]
        if problems:
            raise SinklabError(
                f"{where}: {problems[0]}. Fix: write each option as <details><summary>(a) …</summary>✅ or ❌ "
                "then why</details>."
            )


# ---------------------------------------------------------------- generated files


def render_readme(readme: str, meta: dict) -> str:
    """README.md with its chapter-table block regenerated."""
    if TABLE_START not in readme or TABLE_END not in readme:
        raise SinklabError(f"README.md must contain the markers {TABLE_START} and {TABLE_END}.")
    before, rest = readme.split(TABLE_START, 1)
    _, after = rest.split(TABLE_END, 1)
    return f"{before}{TABLE_START}\n{chapter_table(meta)}\n{TABLE_END}{after}"


def in_track(chapter: Chapter, track: str) -> bool:
    """An available chapter belongs to a track unless course.yml gives it 0 minutes there."""
    return chapter.status == "available" and chapter.minutes[track] > 0


def notebooks(root: Path, track: str = "self_paced", out: Path | None = None) -> dict[Path, str]:
    """The solution and student notebooks of a track, under `out` (default: the repository)."""
    meta, out = load_course(root), out or root
    files = {}
    for chapter in meta["chapters"]:
        if not in_track(chapter, track):
            continue
        solution, student = build_chapter(meta, chapter, root, track)
        files[out / "solutions" / f"{chapter.stem}.ipynb"] = nbformat.writes(solution) + "\n"
        files[out / "chapters" / f"{chapter.stem}.ipynb"] = nbformat.writes(student) + "\n"
    return files


def outputs(root: Path) -> dict[Path, str]:
    """Every committed generated file and its content."""
    from sinklab import syllabus

    meta = load_course(root)
    files = notebooks(root)
    readme = root / "README.md"
    files[readme] = render_readme(readme.read_text(), meta)
    files[root / "course" / "syllabus.md"] = syllabus.render(meta, root)
    return files


def _write(files: dict[Path, str], check: bool) -> list[Path]:
    stale = []
    for path, content in files.items():
        if not path.is_file() or path.read_text() != content:
            stale.append(path)
            if not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(content)
    return stale


def build(root: Path | None = None, check: bool = False) -> list[Path]:
    """Write the generated files (or, with check=True, return those that are stale)."""
    root = root or repo_root()
    return _write(outputs(root), check)


def build_track(track: str, root: Path | None = None, out: Path | None = None) -> list[Path]:
    """Write a track's cut notebooks into `out` (default tracks/<track>/); returns every path written."""
    if track == "self_paced":
        raise SinklabError("The self-paced track is the normal build: run `sinklab build` (chapters/ and solutions/).")
    root = root or repo_root()
    files = notebooks(root, track, out or root / "tracks" / track)
    _write(files, check=False)
    return list(files)


def cli_main(args) -> int:
    root = repo_root()
    if args.track:
        if args.check:
            raise SinklabError("--check compares the committed files; track copies are not committed. "
                               "Fix: run `sinklab build --check` and `sinklab build --track …` separately.")
        written = build_track(args.track, root, args.out and Path(args.out).resolve())
        folder = written[0].parent.parent if written else args.out
        print(f"Wrote {len(written)} notebooks of the {args.track} track to {folder} (chapters/ and solutions/).")
        return 0
    stale = build(root, check=args.check)
    names = ", ".join(str(p.relative_to(root)) for p in stale)
    if args.check:
        if stale:
            print(f"Stale generated files: {names}. Fix: run `sinklab build` and commit the result "
                  "(never edit chapters/, solutions/ or course/syllabus.md by hand; edit course/ instead).")
            return 1
        print("All generated notebooks, README's table and the syllabus are up to date.")
        return 0
    print(f"Wrote {len(stale)} file(s){': ' + names if stale else ' (everything was up to date)'}.")
    return 0


def add_arguments(parser) -> None:
    parser.add_argument("--check", action="store_true", help="fail if any generated file is stale; write nothing")
    parser.add_argument("--track", choices=[t for t in tracks.TRACKS if t != "self_paced"],
                        help="write the cut notebooks of one track instead (self-paced is the normal build)")
    parser.add_argument("--out", help="folder for --track (default: tracks/<track>/, ignored by git)")
