"""The course model: `course/course.yml` and the chapter sources, read and checked.

`load_course` gives course.yml as a dict with `Chapter` objects; `chapter_sections` reads one
chapter's jupytext source (``course/NN_slug.py``) into its tagged sections (`sinklab.course.tracks`) and
checks its track budgets, cross-section dependencies and "Check your understanding" questions.
Everything that renders the course (`sinklab.course.cells`, `sinklab.course.readme`, `sinklab.course.syllabus`,
`sinklab.course.build`) starts from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import jupytext
import yaml

from sinklab.course import tracks
from sinklab.errors import SinklabError


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


def in_track(chapter: Chapter, track: str) -> bool:
    """An available chapter belongs to a track unless course.yml gives it 0 minutes there."""
    return chapter.status == "available" and chapter.minutes[track] > 0


MODEL_PICK = re.compile(r"\{(\w+)@(\w+)\}")  # "{causal_lm@cpu}": the model load("causal_lm") picks on cpu


def render_models(text: str) -> str:
    """`text` with every ``{role@profile}`` replaced by the model `sinklab.models.load` picks there.

    The course's sentences about "the model this profile loads" come from the registry, so they cannot drift.
    """
    from sinklab import env, models

    def pick(match: re.Match) -> str:
        role, profile = match.groups()
        if profile not in env.PROFILES or role not in env.PROFILES[profile].roles:
            raise SinklabError(
                f"course.yml names {match.group(0)}, but profile {profile!r} has no role {role!r}. "
                f"Fix: use one of {', '.join(sorted(env.PROFILES['cpu'].roles))} @ "
                f"{', '.join(env.PROFILE_NAMES)}."
            )
        return f"`{models.pick(role, env.PROFILES[profile]).name}`"

    return MODEL_PICK.sub(pick, text)


def colab_url(meta: dict, folder: str, chapter: Chapter) -> str:
    return (
        f"https://colab.research.google.com/github/{meta['repository']}/blob/{meta['branch']}/"
        f"{folder}/{chapter.stem}.ipynb"
    )


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
            explanation = re.sub(r"<[^>]+>", "", body[len(mark) :]).strip()
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
        raise SinklabError(
            f"{where}: '## {UNDERSTANDING}' has {len(questions)} questions; it needs 4–6 "
            "(each written **N. question** with its options below)."
        )
    for number, options in enumerate(questions, 1):
        problems = [f"question {number} has fewer than two options"] if len(options) < 2 else []
        problems += [f"question {number} has no ✅ option"] if not any(m == "✅" for _, m, _ in options) else []
        problems += [
            f"option {label!r} of question {number} is not marked ✅ or ❌" for label, mark, _ in options if not mark
        ]
        problems += [
            f"option {label!r} of question {number} has no explanation after its mark"
            for label, mark, text in options
            if mark and not text
        ]
        if problems:
            raise SinklabError(
                f"{where}: {problems[0]}. Fix: write each option as <details><summary>(a) …</summary>✅ or ❌ "
                "then why</details>."
            )
