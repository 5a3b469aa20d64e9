"""The course site (`make site`) in headless Chromium, opened from disk with no network.

The site is built from the notebooks that this test run executed (kept by the root conftest.py in
artifacts/executed/solutions/, which also runs these tests after the notebooks); it is rebuilt
here when it is missing or older than them. For the landing page and every chapter page: no console
error, no failed or blocked request, every image decoded; on a chapter page, as many charts drawn by
the local vega-embed (SVG marks) as the executed notebook has Altair chart outputs, each with its PNG
fallback, maths typeset, the provenance note and the Colab badges. A page whose vega bundle is
blocked must fail the chart count (the check is not blind). Search works offline.

Screenshots in artifacts/site/<page>.png. Skipped only when Chromium is missing (`make chromium`).
"""

import json
import os
import time
from pathlib import Path

import nbformat
import pytest
from test_browser import CHROMIUM, CHROMIUM_FLAGS, browser  # noqa: F401  (the shared Chromium fixture)

from sinklab import env
from sinklab.course import site as course_site
from sinklab.course import spec as coursespec
from sinklab.viz import plots

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "_site"
EXECUTED = ROOT / course_site.EXECUTED
ARTIFACTS = ROOT / "artifacts" / "site"
CHAPTERS = [c for c in coursespec.load_course(ROOT)["chapters"] if c.status == "available"]
CHARTS_DRAWN_S = 30

pytestmark = [
    pytest.mark.browser,
    pytest.mark.executed,
    pytest.mark.skipif(
        CHROMIUM is None, reason="Chromium is not installed (`apt-get install chromium`; `make test` does it as root)"
    ),
]

PAGE_REPORT_JS = """() => {
  const charts = [...document.querySelectorAll('.sinklab-chart')];
  const images = [...document.querySelectorAll('img')];
  return {
    charts: charts.length,
    interactive: charts.filter((c) => c.querySelector('.sinklab-vega svg .role-mark > *')).length,
    fallbacks: charts.filter((c) => { const img = c.querySelector('img.sinklab-png');
                                      return img && img.complete && img.naturalWidth > 0; }).length,
    broken_images: images.filter((img) => !(img.complete && img.naturalWidth > 0)).map((img) => img.src.slice(0, 120)),
    maths: document.querySelectorAll('.math').length,
    typeset: document.querySelectorAll('.MathJax, .MathJax_Display').length,
    math_errors: document.querySelectorAll('.merror, merror, .MathJax_Error').length,
    explorer_notes: [...document.querySelectorAll('.sinklab-note')]
      .filter((n) => /explorer/.test(n.textContent)).length,
    note: (document.querySelector('.admonition.note') || {}).innerText || '',
    colab: [...document.querySelectorAll('a[href*="colab.research.google.com/github/"]')].map((a) => a.href),
  };
}"""


def expected_charts(stem: str) -> int:
    """Altair chart outputs in the executed notebook (counted here, not by the code under test)."""
    notebook = nbformat.read(EXECUTED / f"{stem}.ipynb", as_version=4)
    return sum(
        "".join(o.get("data", {}).get("text/plain", "")) in (plots.CHART_TEXT,)
        or "".join(o.get("data", {}).get("text/plain", "")).startswith("alt.")
        for cell in notebook.cells
        for o in cell.get("outputs", [])
    )


def _stale() -> bool:
    stamp = SITE / "charts.json"
    if not stamp.is_file():
        return True
    inputs = [*EXECUTED.glob("*.ipynb"), Path(course_site.__file__), *(ROOT / "course").glob("*.md")]
    return any(p.stat().st_mtime > stamp.stat().st_mtime for p in inputs)


@pytest.fixture(scope="module")
def site() -> Path:
    """The built site (built now if missing or older than the executed notebooks)."""
    if _stale():
        start = time.monotonic()
        course_site.build_site(ROOT)
        print(f"\nsite built in {time.monotonic() - start:.1f} s")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return SITE


@pytest.fixture
def page(browser):  # noqa: F811
    """A fresh page that may load file:// URLs only; `page.problems` collects errors, failures and blocked URLs."""
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    page = context.new_page()
    page.problems = []
    page.on("console", lambda m: m.type == "error" and page.problems.append(f"console error: {m.text}"))
    page.on("pageerror", lambda e: page.problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: page.problems.append(f"failed request: {r.url} ({r.failure})"))

    def only_files(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            page.problems.append(f"blocked request to the network: {route.request.url}")
            route.abort()

    context.route("**/*", only_files)
    yield page
    context.close()


def open_page(page, path: Path, charts: int = 0) -> dict:
    """Open a page from disk; its report once `charts` charts are drawn or CHARTS_DRAWN_S has passed."""
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    deadline = time.monotonic() + CHARTS_DRAWN_S
    while True:
        report = page.evaluate(PAGE_REPORT_JS)
        typeset = report["typeset"] >= report["maths"]
        if (report["interactive"] >= charts and typeset) or time.monotonic() > deadline:
            return report
        page.wait_for_timeout(300)


def test_landing_page_links_every_chapter_and_the_teaching_material(page, site):
    report = open_page(page, site / "index.html")
    page.screenshot(path=ARTIFACTS / "index.png")
    links = page.evaluate("() => [...document.querySelectorAll('article a')].map((a) => a.getAttribute('href'))")
    for chapter in CHAPTERS:
        assert f"chapters/{chapter.stem}.html" in links, f"the landing page does not link chapter {chapter.stem}"
    for name in ("syllabus", "instructor_guide", "workshop"):
        assert f"{name}.html" in links and (site / f"{name}.html").is_file()
    assert len(report["colab"]) == len(CHAPTERS)
    assert not report["broken_images"], report["broken_images"]
    assert page.problems == [], "\n".join(page.problems)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_chapter_page_draws_every_chart_of_its_notebook(page, site, chapter):
    expected = expected_charts(chapter.stem)
    start = time.monotonic()
    report = open_page(page, site / "chapters" / f"{chapter.stem}.html", charts=expected)
    page.screenshot(path=ARTIFACTS / f"{chapter.stem}.png")
    print(
        f"\n{chapter.stem}: {report['interactive']}/{expected} charts drawn, {report['typeset']} maths, "
        f"{time.monotonic() - start:.1f} s"
    )
    assert report["charts"] == expected, f"{report['charts']} chart boxes on the page, {expected} in the notebook"
    assert report["interactive"] == expected, f"{report['interactive']} of {expected} charts drawn by vega-embed"
    assert report["fallbacks"] == expected, f"{report['fallbacks']} of {expected} charts have a decodable PNG"
    assert not report["broken_images"], report["broken_images"]
    if report["maths"]:
        assert report["typeset"] >= report["maths"] and report["math_errors"] == 0, report
    note = report["note"]  # the provenance note: the profile and the models that produced the outputs
    assert "Where the outputs on this page come from" in note and "offline teaching profile" in note, note
    plain = note.replace("\u2019", "'")  # Sphinx curls apostrophes; course.yml has straight ones
    assert all(model.replace("`", "") in plain for model in chapter.models), note
    profile = env.PROFILES["ci"]
    assert all(profile.roles[role][0] in note for role in chapter.roles), note
    repository = coursespec.load_course(ROOT)["repository"]
    for folder in ("chapters", "solutions"):
        url = f"https://colab.research.google.com/github/{repository}/blob/"
        assert any(u.startswith(url) and u.endswith(f"/{folder}/{chapter.stem}.ipynb") for u in report["colab"])
    source = (ROOT / "course" / f"{chapter.stem}.py").read_text()
    if course_site.EXPLORER_CALL.search(source):
        assert report["explorer_notes"] >= 1, "an explorer's chart without the note saying what it does live"
    assert page.problems == [], "\n".join(page.problems)


def test_the_chart_count_fails_when_vega_cannot_load(page, site):
    """Block the local vega bundle: the PNGs still show, and the check sees that no chart was drawn by vega."""
    chapter = next(c for c in CHAPTERS if expected_charts(c.stem) > 0)
    page.route("**/sinklab-vega.js*", lambda route: route.abort())
    report = open_page(page, site / "chapters" / f"{chapter.stem}.html")
    assert report["charts"] > 0 and report["interactive"] == 0, report
    assert report["fallbacks"] == report["charts"], "without vega, each chart must still show its PNG"


def test_search_works_offline(page, site):
    open_page(page, site / "search.html")
    page.goto((site / "search.html").as_uri() + "?q=sink")
    page.wait_for_function("document.querySelectorAll('#search-results li').length > 0", timeout=20_000)
    assert page.problems == [], "\n".join(page.problems)


def test_no_page_references_a_script_or_style_on_the_network(site):
    offenders = []
    for path in site.rglob("*.html"):
        text = path.read_text()
        for marker in ('<script src="http', "<script src='http", 'rel="stylesheet" href="http'):
            if marker in text:
                offenders.append(f"{path.relative_to(site)}: {marker}")
    assert offenders == [], offenders
    counts = json.loads((site / "charts.json").read_text())
    assert set(counts) == {c.stem for c in CHAPTERS}
    assert os.path.isfile(site / "_static" / "sinklab-vega.js")
