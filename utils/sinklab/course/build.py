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
(`sinklab.course.tracks`). Every build checks each chapter's track tags, exercise budgets, cross-section
dependencies and its "Check your understanding" questions.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from sinklab.course import syllabus, tracks
from sinklab.course.cells import build_chapter
from sinklab.course.readme import render_readme
from sinklab.course.spec import in_track, load_course, repo_root
from sinklab.errors import SinklabError


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
            raise SinklabError(
                "--check compares the committed files; track copies are not committed. "
                "Fix: run `sinklab build --check` and `sinklab build --track …` separately."
            )
        written = build_track(args.track, root, args.out and Path(args.out).resolve())
        folder = written[0].parent.parent if written else args.out
        print(f"Wrote {len(written)} notebooks of the {args.track} track to {folder} (chapters/ and solutions/).")
        return 0
    stale = build(root, check=args.check)
    names = ", ".join(str(p.relative_to(root)) for p in stale)
    if args.check:
        if stale:
            print(
                f"Stale generated files: {names}. Fix: run `sinklab build` and commit the result "
                "(never edit chapters/, solutions/ or course/syllabus.md by hand; edit course/ instead)."
            )
            return 1
        print("All generated notebooks, README's table and the syllabus are up to date.")
        return 0
    print(f"Wrote {len(stale)} file(s){': ' + names if stale else ' (everything was up to date)'}.")
    return 0


def add_arguments(parser) -> None:
    parser.add_argument("--check", action="store_true", help="fail if any generated file is stale; write nothing")
    parser.add_argument(
        "--track",
        choices=[t for t in tracks.TRACKS if t != "self_paced"],
        help="write the cut notebooks of one track instead (self-paced is the normal build)",
    )
    parser.add_argument("--out", help="folder for --track (default: tracks/<track>/, ignored by git)")
