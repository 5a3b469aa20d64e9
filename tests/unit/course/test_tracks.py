"""Tracks: the cutter's rules on small sources, and the lab and workshop cuts of every chapter executed.

A cut whose code cells are exactly those of a notebook that `make test` already executes (solutions/ under
nbval, or a student notebook up to its first stub in tests/notebooks/test_notebooks.py) is not executed twice: the
test says so and skips.
"""

from pathlib import Path

import nbclient
import nbformat
import pytest

from sinklab.course import build, cells, tracks
from sinklab.course import spec as coursespec
from sinklab.errors import SinklabError

ROOT = Path(__file__).resolve().parents[3]
CHAPTERS = [c.stem for c in coursespec.load_course(ROOT)["chapters"] if c.status == "available"]
CUT_TRACKS = ("lab", "workshop")
STUB = 'raise NotImplementedError("Exercise'


def md(source, *tags):
    return nbformat.v4.new_markdown_cell(source, metadata={"tags": list(tags)} if tags else {})


def code(source):
    return nbformat.v4.new_code_cell(source)


def exercise(number, minutes):
    return md(f"### Exercise {number} – do it\n\n> Difficulty: 🔴⚪⚪⚪⚪ · ≈ {minutes} minutes\n\nText.")


SOURCE = [
    md("Intro before any section."),
    code("import math\nbase = 1"),
    md("## 1️⃣ First", "core"),
    exercise("1.1", 5),
    code("def f(x):\n    return math.sqrt(x) + base"),
    md("## 2️⃣ Second", "optional"),
    exercise("1.2", 10),
    code("extra = f(4)"),
    md("## 3️⃣ Third", "bonus"),
    exercise("1.3", 20),
    code("print(extra)"),
    md("## Summary", "core"),
]


def test_sections_inherit_their_heading_tag_and_the_intro_is_core():
    found = tracks.sections(SOURCE, "x.py")
    assert [(s.title, s.tag, len(s.cells)) for s in found] == [
        (None, "core", 2),
        ("1️⃣ First", "core", 3),
        ("2️⃣ Second", "optional", 3),
        ("3️⃣ Third", "bonus", 3),
        ("Summary", "core", 1),
    ]


@pytest.mark.parametrize(
    "track, titles",
    [
        ("self_paced", [None, "1️⃣ First", "2️⃣ Second", "3️⃣ Third", "Summary"]),
        ("lab", [None, "1️⃣ First", "2️⃣ Second", "Summary"]),
        ("workshop", [None, "1️⃣ First", "Summary"]),
    ],
)
def test_each_track_keeps_its_tags(track, titles):
    assert [s.title for s in tracks.kept(tracks.sections(SOURCE, "x.py"), track)] == titles


def test_exercise_minutes_add_up_per_track_within_budget():
    found = tracks.sections(SOURCE, "x.py")
    tracks.check_budget(found, {"self_paced": 35, "lab": 15, "workshop": 5}, "x.py")
    with pytest.raises(
        SinklabError,
        match=r"x.py, track 'lab': the kept exercises add up to 15 minutes "
        r"\(1.1: 5, 1.2: 10\), more than the 14 minutes",
    ):
        tracks.check_budget(found, {"self_paced": 35, "lab": 14, "workshop": 5}, "x.py")


def test_exercise_without_minutes_is_reported():
    found = tracks.sections([md("## A", "core"), md("### Exercise 2.1 – x\n\nno estimate")], "x.py")
    with pytest.raises(SinklabError, match="Exercise 2.1 has no '≈ M minutes' line"):
        tracks.check_budget(found, {"self_paced": 9, "lab": 9, "workshop": 9}, "x.py")


@pytest.mark.parametrize(
    "cells, message",
    [
        ([md("## A")], "section '## A' has no track tag"),
        ([md("## A", "cor")], "section '## A' has unknown tag 'cor'"),
        ([md("## A", "core", "optional")], "section '## A' has 2 track tags"),
        ([md("## A", "core"), md("Text\n\n## B", "core")], "'## B' does not open its own markdown cell"),
        ([md("## A\n\ntext\n\n## B", "core")], "'## B' does not open its own markdown cell"),
        ([md("## A", "core"), code("x = 1")], None),
        ([md("## A", "core"), md("more text", "optional")], "opens no '## ' section"),
    ],
)
def test_tag_mistakes_are_reported(cells, message):
    if message is None:
        assert tracks.sections(cells, "x.py")[-1].tag == "core"
        return
    with pytest.raises(SinklabError, match=message.replace("(", r"\(")):
        tracks.sections(cells, "x.py")


def test_headings_in_fenced_code_do_not_open_sections():
    found = tracks.sections([md("## A", "core"), md("```\n## not a heading\n```")], "x.py")
    assert [(s.title, len(s.cells)) for s in found] == [("A", 2)]


def test_a_core_cell_that_uses_an_optional_name_is_reported():
    cells = SOURCE[:-1] + [md("## Summary", "core"), code("print(extra)")]
    with pytest.raises(
        SinklabError,
        match=r"track 'workshop': section '## Summary' \(core\) uses extra, defined only "
        r"in '## 2️⃣ Second'",
    ):
        tracks.check_dependencies(tracks.sections(cells, "x.py"), "x.py")


def test_dependency_check_sees_names_inside_functions_and_ignores_local_ones():
    tracks.check_dependencies(tracks.sections(SOURCE, "x.py"), "x.py")  # bonus uses optional: fine
    uses_in_function = SOURCE[:-1] + [md("## Summary", "core"), code("def g(extra=None):\n    return h()")]
    tracks.check_dependencies(tracks.sections(uses_in_function, "x.py"), "x.py")  # a parameter is not a use
    bonus_helper = [
        md("## A", "core"),
        code("def g():\n    return helper()"),
        md("## B", "bonus"),
        code("def helper(): pass"),
    ]
    with pytest.raises(SinklabError, match="uses helper, defined only in '## B'"):
        tracks.check_dependencies(tracks.sections(bonus_helper, "x.py"), "x.py")


def test_names_defined_in_both_kept_and_dropped_sections_are_fine():
    cells = [
        md("## A", "core"),
        code("model = 1"),
        md("## B", "optional"),
        code("model = 2"),
        md("## C", "core"),
        code("%time print(model)"),
    ]  # IPython magics are understood too
    tracks.check_dependencies(tracks.sections(cells, "x.py"), "x.py")


# ---------------------------------------------------------------- the real chapters


@pytest.fixture(scope="module")
def track_builds(tmp_path_factory):
    out = tmp_path_factory.mktemp("tracks")
    return {track: build.build_track(track, ROOT, out / track) and out / track for track in CUT_TRACKS}


def _read(path):
    return nbformat.read(path, as_version=4)


def _code(cells):
    return [c.source for c in cells if c.cell_type == "code"]


@pytest.mark.slow
def test_track_builds_write_every_chapter_with_the_track_in_the_overview(track_builds):
    meta = coursespec.load_course(ROOT)
    for track, folder in track_builds.items():
        for chapter in (c for c in meta["chapters"] if c.status == "available"):
            for kind in ("chapters", "solutions"):
                nb = _read(folder / kind / f"{chapter.stem}.ipynb")
                assert nb.cells[0].source == cells.title_cell(meta, chapter)  # same badges as the full notebook
                assert nb.cells[2].source == cells.setup_cell(meta, chapter)  # uploaded to Colab, it installs sinklab
                overview = nb.cells[1].source
                assert f"**This copy: the {meta['tracks'][track]} track, {chapter.minutes[track]} min.**" in overview
                full = coursespec.chapter_sections(chapter, ROOT)
                dropped = [s.title for s in full if s.tag not in tracks.TRACKS[track]]
                headings = [c.source.splitlines()[0] for c in nb.cells if c.cell_type == "markdown"]
                assert all(f"## {title}" not in headings for title in dropped)
                assert all(title in overview for title in dropped)


@pytest.mark.slow
def test_workshop_cuts_are_shorter_than_the_full_notebooks(track_builds):
    shorter = [
        stem
        for stem in CHAPTERS
        if len(_read(track_builds["workshop"] / "solutions" / f"{stem}.ipynb").cells)
        < len(_read(ROOT / "solutions" / f"{stem}.ipynb").cells)
    ]
    assert len(shorter) >= 3, "the workshop track should drop sections from most chapters"


def _execute(nb):
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()


@pytest.mark.parametrize("stem", CHAPTERS)
@pytest.mark.parametrize("track", CUT_TRACKS)
@pytest.mark.notebook
def test_cut_solution_notebook_executes(track, stem, track_builds):
    cut = _read(track_builds[track] / "solutions" / f"{stem}.ipynb")
    if _code(cut.cells) == _code(_read(ROOT / "solutions" / f"{stem}.ipynb").cells):
        pytest.skip(f"same code as solutions/{stem}.ipynb, which `make test` executes under nbval")
    _execute(cut)


@pytest.mark.parametrize("stem", CHAPTERS)
@pytest.mark.notebook
@pytest.mark.parametrize("track", CUT_TRACKS)
def test_cut_student_notebook_stops_at_its_first_exercise(track, stem, track_builds):
    cut = _read(track_builds[track] / "chapters" / f"{stem}.ipynb")
    stubs = [i for i, c in enumerate(cut.cells) if STUB in c.source]
    if not stubs:
        assert _code(cut.cells) == _code(_read(track_builds[track] / "solutions" / f"{stem}.ipynb").cells)
        pytest.skip("no exercise in this cut: it is its solution notebook, executed above")
    cut.cells = cut.cells[: stubs[0] + 1]
    full = _read(ROOT / "chapters" / f"{stem}.ipynb")
    full_first = next(i for i, c in enumerate(full.cells) if STUB in c.source)
    if _code(cut.cells) == _code(full.cells[: full_first + 1]):
        pytest.skip(f"same code up to the first exercise as chapters/{stem}.ipynb (tests/notebooks/test_notebooks.py)")
    with pytest.raises(nbclient.exceptions.CellExecutionError) as info:
        _execute(cut)
    assert info.value.ename == "NotImplementedError" and info.value.evalue.startswith("Exercise ")
    failed = [i for i, c in enumerate(cut.cells) if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert failed == [stubs[0]], "only the first exercise cell may fail"


def test_track_build_refuses_self_paced_and_check():
    with pytest.raises(SinklabError, match="normal build"):
        build.build_track("self_paced", ROOT)
    args = type("Args", (), {"track": "lab", "check": True, "out": None})()
    with pytest.raises(SinklabError, match="track copies are not committed"):
        build.cli_main(args)
