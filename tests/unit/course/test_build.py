"""Notebooks are generated from course/ and the check catches stale or hand-edited copies."""

import re
import shutil

import nbformat
import pytest

from sinklab.course import build, cells, readme, tracks
from sinklab.course import spec as coursespec
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


@pytest.mark.slow
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
    meta = coursespec.load_course(root)
    for chapter in meta["chapters"]:
        if chapter.status != "available":
            continue
        solution, student = cells.build_chapter(meta, chapter, root)
        solved = sum(c.source.count(cells.BEGIN) for c in solution.cells)
        stubs = [c for c in student.cells if 'raise NotImplementedError("Exercise' in c.source]
        assert len(stubs) == sum(1 for c in solution.cells if cells.BEGIN in c.source)
        assert solved >= 1, f"chapter {chapter.number} has no exercise"
        assert all(cells.BEGIN not in c.source for c in student.cells)
        assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")


def test_stub_keeps_indentation_and_label():
    source = "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n\ncheck(f)"
    stub = cells.stub_solutions(source, "Exercise 1.1: do it")
    assert stub == 'def f(x):\n    raise NotImplementedError("Exercise 1.1: do it")\n\ncheck(f)'


@pytest.mark.parametrize(
    "source",
    [
        "### BEGIN SOLUTION\nx = 1",
        "x = 1\n### END SOLUTION",
        "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION",
    ],
)
def test_unbalanced_markers_are_reported(source):
    with pytest.raises(SinklabError):
        cells.stub_solutions(source, "Exercise 1.1: x")


def test_exercise_without_heading_is_reported():
    with pytest.raises(SinklabError, match="no '### Exercise"):
        cells.exercise_label("## Some section", "01_x.py")


def test_setup_cell_is_identical_apart_from_chapter_arguments(root):
    meta = coursespec.load_course(root)
    setups = {cells.setup_cell(meta, c).rsplit("\n", 1)[0] for c in meta["chapters"]}
    assert len(setups) == 1


# ---------------------------------------------------------------- syllabus, questions, metadata


def test_readme_table_and_syllabus_come_from_the_same_metadata(root):
    meta = coursespec.load_course(root)
    table = readme.chapter_table(meta)
    assert table in (root / "README.md").read_text()
    assert table in (root / "course" / "syllabus.md").read_text()


@pytest.mark.slow
def test_check_fails_when_metadata_changes_until_both_are_rebuilt(course_copy):
    course_yml = course_copy / "course" / "course.yml"
    course_yml.write_text(course_yml.read_text().replace('title: "Start here"', 'title: "Begin here"'))
    stale = build.build(course_copy, check=True)
    assert course_copy / "README.md" in stale and course_copy / "course" / "syllabus.md" in stale
    build.build(course_copy)
    assert "Begin here" in (course_copy / "course" / "syllabus.md").read_text()
    assert build.build(course_copy, check=True) == []


def test_check_fails_when_syllabus_is_edited_by_hand(course_copy):
    syllabus = course_copy / "course" / "syllabus.md"
    syllabus.write_text(syllabus.read_text() + "\nhand edit\n")
    assert build.build(course_copy, check=True) == [syllabus]


def test_objectives_must_use_observable_verbs(course_copy):
    course_yml = course_copy / "course" / "course.yml"
    course_yml.write_text(
        course_yml.read_text().replace('"Check whether a tokenizer', '"Understand whether a tokenizer')
    )
    with pytest.raises(SinklabError, match="starts with 'understand', which cannot be observed"):
        coursespec.load_course(course_copy)


def test_chapters_without_roles_still_load(root):
    meta = coursespec.load_course(root)
    by_number = {c.number: c for c in meta["chapters"]}
    assert by_number[1].roles == [] and by_number[2].roles == ["causal_lm"]


def test_roles_match_the_models_each_chapter_loads(root):
    """course.yml's roles (what `sinklab prefetch` downloads) are exactly the roles a chapter loads from:
    those it passes to `models.load()`, plus "sweep" where it runs `sweep.sweep_names`."""
    for chapter in coursespec.load_course(root)["chapters"]:
        if chapter.status == "available":
            source = (root / "course" / f"{chapter.stem}.py").read_text()
            used = set(re.findall(r"models\.load\(\"(\w+)\"", source))
            if "sweep.sweep_names(" in source:
                used.add("sweep")
            assert sorted(used) == sorted(chapter.roles), chapter.stem


def test_every_chapter_ends_with_4_to_6_explained_questions(root):
    meta = coursespec.load_course(root)
    for chapter in (c for c in meta["chapters"] if c.status == "available"):
        found = coursespec.chapter_sections(chapter, root)
        section = next(s for s in found if s.title == coursespec.UNDERSTANDING)
        assert found.index(section) >= len(found) - 2, "the questions come at the end (before Further reading)"
        questions = coursespec.understanding_questions("\n".join(c.source for c in section.cells))
        assert 4 <= len(questions) <= 6, chapter.stem
        for options in questions:
            assert len(options) >= 2 and any(mark == "✅" for _, mark, _ in options)
            assert all(mark in ("✅", "❌") and len(text.split()) >= 2 for _, mark, text in options), options


QUESTION = "**{n}. Why?**\n\n<details><summary>(a) yes</summary>✅ Because.</details>\n<details><summary>(b) no</summary>{b}</details>\n"


@pytest.mark.parametrize(
    "n_questions, b, message",
    [
        (3, "❌ Not so.", "has 3 questions; it needs 4–6"),
        (7, "❌ Not so.", "has 7 questions"),
        (4, "Not so.", "option '(b) no' of question 1 is not marked"),
        (4, "❌ ", "option '(b) no' of question 1 has no explanation"),
        (4, "❌ <em></em>", "has no explanation"),
    ],
)
def test_question_mistakes_are_reported(n_questions, b, message):
    text = "## Check your understanding\n\n" + "\n".join(QUESTION.format(n=n, b=b) for n in range(1, n_questions + 1))
    found = tracks.sections([nbformat.v4.new_markdown_cell(text, metadata={"tags": ["core"]})], "x.py")
    with pytest.raises(SinklabError, match=re.escape(message)):
        coursespec.check_understanding(found, "x.py")


def test_exercise_cells_carry_nbgrader_metadata(root):
    meta = coursespec.load_course(root)
    solution, student = cells.build_chapter(meta, meta["chapters"][0], root)
    graded = [c for c in solution.cells if "nbgrader" in c.metadata]
    assert [c.metadata.nbgrader.grade_id for c in graded] == ["exercise-0-1"]
    assert graded[0].metadata.nbgrader.solution and cells.BEGIN in graded[0].source
    stub = next(c for c in student.cells if "nbgrader" in c.metadata)
    assert stub.metadata.nbgrader == graded[0].metadata.nbgrader
