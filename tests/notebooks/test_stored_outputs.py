"""What a notebook stores: every chart as a PNG, no script from a CDN, valid nbformat.

A solution notebook executed headless (nbclient, the ``ci`` profile, as nbval and CI run it) is
written to disk and read back; GitHub, nbviewer, exported HTML and an offline JupyterLab show its
image/png outputs without JavaScript, a network or a trusted notebook. The renderers themselves are
checked too: the live one adds an offline interactive chart and keeps the PNG.
"""

import base64
import re
from pathlib import Path

import altair as alt
import nbclient
import nbformat
import pytest

from sinklab.viz import plots

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = "02_first_look"  # the chapter with the most kinds of chart (heatmaps, facets, lines, explorer)
NETWORK_SCRIPT = re.compile(r"<script[^>]*\bsrc=[\"']?(https?:)?//|cdn\.jsdelivr|unpkg\.com|esm\.sh", re.I)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chart():
    import pandas as pd

    return alt.Chart(pd.DataFrame({"x": [0, 1], "y": [1, 0]})).mark_line().encode(x="x", y="y")


def _is_chart(output) -> bool:
    text = "".join(output.get("data", {}).get("text/plain", ""))
    return text == plots.CHART_TEXT or text.startswith("alt.")


# Reads the notebook this test run executed (the root conftest.py keeps what nbval runs), so `make test`
# executes 02_first_look once; run alone, without a kept copy, the fixture executes it itself.
pytestmark = pytest.mark.executed
KEPT = ROOT / "artifacts" / "executed" / "solutions" / f"{NOTEBOOK}.ipynb"


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The solution notebook executed headless, saved and read back (reading validates it)."""
    source = ROOT / "solutions" / f"{NOTEBOOK}.ipynb"
    if KEPT.is_file() and KEPT.stat().st_mtime > source.stat().st_mtime:
        print(f"reading {KEPT.relative_to(ROOT)}, kept from this run's nbval execution")
        return nbformat.read(KEPT, as_version=4)
    nb = nbformat.read(source, as_version=4)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SINKLAB_PROFILE", "ci")
        env.delenv("SINKLAB_INTERACTIVE", raising=False)
        nbclient.NotebookClient(
            nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
        ).execute()
    path = tmp_path_factory.mktemp("stored") / f"{NOTEBOOK}.ipynb"
    nbformat.write(nb, path)
    return nbformat.read(path, as_version=4)


def test_the_stored_notebook_is_valid_nbformat(executed):
    nbformat.validate(executed)  # Altair's `mimetype` renderer fails here (a dict under a non-JSON mimetype)


def test_every_stored_chart_is_a_png_and_nothing_else(executed):
    charts = [o for cell in executed.cells for o in cell.get("outputs", []) if _is_chart(o)]
    assert len(charts) >= 4, f"expected the chapter's charts, found {len(charts)}"
    for chart in charts:
        assert set(chart["data"]) == {"image/png", "text/plain"}, set(chart["data"])
        assert base64.b64decode(chart["data"]["image/png"]).startswith(PNG_SIGNATURE)
        assert chart["metadata"]["image/png"]["width"] > 0


def test_no_stored_output_loads_a_script_from_the_network(executed):
    for i, cell in enumerate(executed.cells):
        for output in cell.get("outputs", []):
            for mime, value in output.get("data", {}).items():
                if mime.startswith("text/"):
                    assert not NETWORK_SCRIPT.search("".join(value)), f"cell {i}, {mime}: loads a script from the web"


def test_exported_html_shows_the_charts_as_images(executed):
    from nbconvert import HTMLExporter

    html, _ = HTMLExporter().from_notebook_node(executed)
    charts = sum(_is_chart(o) for cell in executed.cells for o in cell.get("outputs", []))
    assert html.count('src="data:image/png;base64,') >= charts


def test_the_static_renderer_gives_a_png_shown_at_the_chart_size():
    plots.enable_rendering(interactive=False)
    data, metadata = _chart()._repr_mimebundle_()
    assert set(data) == {"image/png", "text/plain"} and data["image/png"].startswith(PNG_SIGNATURE)
    pixels_wide = int.from_bytes(data["image/png"][16:20], "big")
    assert metadata["image/png"]["width"] == round(pixels_wide / plots.PNG_SCALE)


def test_the_live_renderer_adds_an_offline_interactive_chart_and_keeps_the_png():
    plots.enable_rendering(interactive=True)
    try:
        data, _ = _chart()._repr_mimebundle_()
    finally:
        plots.enable_rendering(interactive=False)
    assert {"image/png", "application/vnd.jupyter.widget-view+json"} <= set(data)
    assert "esm.sh" not in alt.JupyterChart._esm, "the chart widget would import vega from a CDN"
