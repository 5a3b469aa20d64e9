"""README.md's chapter table, generated from course.yml (the syllabus shows the same table)."""

from __future__ import annotations

from sinklab.course.spec import colab_url
from sinklab.errors import SinklabError

TABLE_START, TABLE_END = "<!-- chapter-table:start -->", "<!-- chapter-table:end -->"


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


def render_readme(readme: str, meta: dict) -> str:
    """README.md with its chapter-table block regenerated."""
    if TABLE_START not in readme or TABLE_END not in readme:
        raise SinklabError(f"README.md must contain the markers {TABLE_START} and {TABLE_END}.")
    before, rest = readme.split(TABLE_START, 1)
    _, after = rest.split(TABLE_END, 1)
    return f"{before}{TABLE_START}\n{chapter_table(meta)}\n{TABLE_END}{after}"
