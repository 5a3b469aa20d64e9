"""Tracks: one chapter source, three cuts (`sinklab build --track lab|workshop`).

Every markdown cell that opens a ``## `` section carries exactly one tag, ``core``, ``optional``
or ``bonus`` (jupytext: ``# %% [markdown] tags=["core"]``); the section's other cells inherit it,
and cells before the first section are core. A track keeps the sections whose tag it lists in
`TRACKS`. The rules checked here, for every chapter at every build:

- tags: each section has exactly one known tag, and a ``## `` heading opens its own cell;
- budget: the "≈ M minutes" of the exercises a track keeps add up to at most the chapter's
  minutes for that track in course.yml (reading and running time come on top);
- dependencies: no kept cell uses a name that only dropped cells define (the cut notebooks are
  also executed on the ``ci`` profile in tests/unit/course/test_tracks.py).
"""

from __future__ import annotations

import functools
import re
import symtable
from dataclasses import dataclass

from sinklab.errors import SinklabError

TAGS = ("core", "optional", "bonus")
TRACKS = {"self_paced": TAGS, "lab": ("core", "optional"), "workshop": ("core",)}
SECTION_HEADING = re.compile(r"^## (?=\S)")
EXERCISE = re.compile(r"^#+\s*Exercise\s+(\d+\.\d+)\b")
MINUTES = re.compile(r"≈\s*(\d+)\s*minutes")


@dataclass(frozen=True)
class Section:
    """The cells of one ``## `` section (title None: the cells before the first section)."""

    title: str | None
    tag: str
    cells: tuple

    def exercises(self, where: str) -> list[tuple[str, int]]:
        """(number, minutes) of every exercise in this section."""
        found = []
        for cell in self.cells:
            if cell.cell_type != "markdown":
                continue
            for number, block in _exercise_blocks(cell.source):
                minutes = MINUTES.search(block)
                if minutes is None:
                    raise SinklabError(
                        f"{where}: Exercise {number} has no '≈ M minutes' line. Fix: add "
                        "'> Difficulty: … · Importance: … · ≈ M minutes' under its heading."
                    )
                found.append((number, int(minutes.group(1))))
        return found


def _exercise_blocks(markdown: str) -> list[tuple[str, str]]:
    """(number, text up to the next heading) for every exercise heading of a markdown cell."""
    blocks, current = [], None
    for line in markdown.splitlines():
        if line.startswith("#"):
            match = EXERCISE.match(line)
            current = [match.group(1), ""] if match else None
            if current:
                blocks.append(current)
        elif current:
            current[1] += line + "\n"
    return [tuple(b) for b in blocks]


def _headings(markdown: str) -> list[tuple[int, str]]:
    """(line number, title) of the ``## `` headings of a markdown cell, fenced code excluded."""
    found, fenced = [], False
    for i, line in enumerate(markdown.splitlines()):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and SECTION_HEADING.match(line):
            found.append((i, line[3:].strip()))
    return found


def sections(cells: list, where: str) -> list[Section]:
    """Split a chapter's source cells into tagged sections, checking the tag rules."""
    result, title, tag, current = [], None, "core", []
    for cell in cells:
        tags = list(cell.metadata.get("tags", []))
        headings = _headings(cell.source) if cell.cell_type == "markdown" else []
        if not headings:
            stray = [t for t in tags if t in TAGS]
            if stray:
                raise SinklabError(
                    f"{where}: the cell starting {cell.source[:50]!r} has the track tag {stray[0]!r} but opens no "
                    "'## ' section. Fix: tag only the markdown cell that opens a section; its cells inherit the tag."
                )
            current.append(cell)
            continue
        if len(headings) > 1 or headings[0][0] != 0:
            raise SinklabError(
                f"{where}: the section '## {headings[-1][1]}' does not open its own markdown cell. Fix: split the "
                "cell so that each '## ' heading is the first line of a cell, with its own tag."
            )
        heading = headings[0][1]
        known = [t for t in tags if t in TAGS]
        if len(known) != 1 or len(tags) != 1:
            unknown = [t for t in tags if t not in TAGS]
            problem = (
                f"unknown tag {unknown[0]!r}"
                if unknown
                else "no track tag"
                if not known
                else f"{len(known)} track tags"
            )
            raise SinklabError(
                f"{where}: section '## {heading}' has {problem}. Fix: give it exactly one of {', '.join(TAGS)}, "
                f'e.g. `# %% [markdown] tags=["core"]`.'
            )
        if current or title is not None:
            result.append(Section(title, tag, tuple(current)))
        title, tag, current = heading, known[0], [cell]
    result.append(Section(title, tag, tuple(current)))
    return result


def kept(chapter_sections: list[Section], track: str) -> list[Section]:
    """The sections a track keeps."""
    if track not in TRACKS:
        raise SinklabError(f"Unknown track {track!r}. Fix: use one of {', '.join(TRACKS)}.")
    return [s for s in chapter_sections if s.tag in TRACKS[track]]


def check_budget(chapter_sections: list[Section], minutes: dict, where: str) -> None:
    """Fail when a track's kept exercises need more minutes than course.yml gives it."""
    for track in TRACKS:
        exercises = [e for s in kept(chapter_sections, track) for e in s.exercises(where)]
        total = sum(m for _, m in exercises)
        if track not in minutes:
            raise SinklabError(
                f"{where}: course.yml gives no minutes for the {track!r} track. Fix: add it to `minutes:`."
            )
        if total > minutes[track]:
            listing = ", ".join(f"{n}: {m}" for n, m in exercises)
            raise SinklabError(
                f"{where}, track {track!r}: the kept exercises add up to {total} minutes ({listing}), more than the "
                f"{minutes[track]} minutes course.yml gives this track. Fix: tag sections optional or bonus, or "
                f"raise minutes.{track} in course/course.yml."
            )


@functools.cache
def _names(source: str) -> tuple[frozenset[str], frozenset[str]]:
    """(names a code cell defines at top level, global names it uses without defining them)."""
    from IPython.core.inputtransformer2 import TransformerManager

    python = TransformerManager().transform_cell(source)  # IPython magics become plain calls
    table = symtable.symtable(python, "cell", "exec")
    defined = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
    used, stack = set(), [table]
    while stack:
        scope = stack.pop()
        stack.extend(scope.get_children())
        top = scope is table
        used |= {s.get_name() for s in scope.get_symbols() if s.is_referenced() and (top or s.is_global())}
    return frozenset(defined), frozenset(used - defined)


def check_dependencies(chapter_sections: list[Section], where: str) -> None:
    """Fail when a track keeps a cell that uses a name only its dropped sections define."""
    for track in TRACKS:
        keep = kept(chapter_sections, track)
        dropped = [s for s in chapter_sections if s not in keep]

        def defined_in(group):
            return {n for s in group for c in s.cells if c.cell_type == "code" for n in _names(c.source)[0]}

        only_dropped = defined_in(dropped) - defined_in(keep)
        for section in keep:
            for cell in section.cells:
                if cell.cell_type != "code":
                    continue
                missing = sorted(_names(cell.source)[1] & only_dropped)
                if missing:
                    owner = next(
                        s.title
                        for s in dropped
                        for c in s.cells
                        if c.cell_type == "code" and missing[0] in _names(c.source)[0]
                    )
                    raise SinklabError(
                        f"{where}, track {track!r}: section '## {section.title}' ({section.tag}) uses "
                        f"{', '.join(missing)}, defined only in '## {owner}', which this track drops. Fix: move the "
                        "definition into a kept section, or tag the sections so that the track keeps both."
                    )
