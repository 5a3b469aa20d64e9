"""Notebooks are generated from course/ and the check catches stale or hand-edited copies."""

import shutil

import nbformat
import pytest

from sinklab import build
from sinklab.errors import SinklabError


def test_generated_files_are_up_to_date(root):
    stale = build.build(root, check=True)
    assert stale == [], f"run `sinklab build`: stale {stale}"


@pytest.fixture
def course_copy(root, tmp_path):
    for name in ("course", "chapters", "solutions"):
        shutil.copytree(root / name, tmp_path / name)
    shutil.copy(root / "README.md", tmp_path / "README.md")
    return tmp_path


def test_check_fails_after_hand_edit_and_build_repairs_it(course_copy):
    student = course_copy / "chapters" / "00_start_here.ipynb"
    nb = nbformat.read(student, as_version=4)
    nb.cells[-1].source += "\nhand edit"
    nbformat.write(nb, student)
    assert build.build(course_copy, check=True) == [student]
    build.build(course_copy)
    assert build.build(course_copy, check=True) == []


def test_check_fails_when_readme_table_drifts(course_copy):
    readme = course_copy / "README.md"
    readme.write_text(readme.read_text().replace("| 0 | Start here", "| 0 | Start HERE"))
    assert build.build(course_copy, check=True) == [readme]


def test_every_solution_region_becomes_a_named_stub(root):
    meta = build.load_course(root)
    for chapter in meta["chapters"]:
        if chapter.status != "available":
            continue
        solution, student = build.build_chapter(meta, chapter, root)
        solved = sum(c.source.count(build.BEGIN) for c in solution.cells)
        stubs = [c for c in student.cells if 'raise NotImplementedError("Exercise' in c.source]
        assert len(stubs) == sum(1 for c in solution.cells if build.BEGIN in c.source)
        assert solved >= 1, f"chapter {chapter.number} has no exercise"
        assert all(build.BEGIN not in c.source for c in student.cells)
        assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")


def test_stub_keeps_indentation_and_label():
    source = "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n\ncheck(f)"
    stub = build.stub_solutions(source, "Exercise 1.1: do it")
    assert stub == 'def f(x):\n    raise NotImplementedError("Exercise 1.1: do it")\n\ncheck(f)'


@pytest.mark.parametrize(
    "source",
    ["### BEGIN SOLUTION\nx = 1", "x = 1\n### END SOLUTION", "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION"],
)
def test_unbalanced_markers_are_reported(source):
    with pytest.raises(SinklabError):
        build.stub_solutions(source, "Exercise 1.1: x")


def test_exercise_without_heading_is_reported():
    with pytest.raises(SinklabError, match="no '### Exercise"):
        build.exercise_label("## Some section", "01_x.py")


def test_setup_cell_is_identical_apart_from_chapter_arguments(root):
    meta = build.load_course(root)
    cells = {build.setup_cell(meta, c).rsplit("\n", 1)[0] for c in meta["chapters"]}
    assert len(cells) == 1
