"""Altair chart builders (they return charts, never display them) and the rendering policy.

Rendering policy, applied by the setup cell through `enable_rendering()`: every chart is shown as a
PNG made locally by vl-convert. A PNG needs no CDN, no trusted notebook and no JavaScript, so the
same output shows in live JupyterLab, Colab, VS Code, an offline lab machine, a stored notebook on
GitHub or nbviewer, and in CI.
"""

from __future__ import annotations

import altair as alt

PNG_SCALE = 1.5
MAX_ROWS = 5000  # Altair's own default limit; aggregate before plotting


def _png_renderer(spec: dict, **_) -> dict:
    import vl_convert as vlc

    png = vlc.vegalite_to_png(spec, scale=PNG_SCALE)
    return {"image/png": png, "text/plain": "<Altair chart rendered as PNG by sinklab>"}


def enable_rendering() -> str:
    """Register and enable sinklab's offline PNG renderer; returns its name."""
    alt.renderers.register("sinklab", _png_renderer)
    alt.renderers.enable("sinklab")
    return "sinklab"


def to_png(chart: alt.TopLevelMixin) -> bytes:
    """The chart as PNG bytes (for saving, or for tests that check a chart really renders)."""
    import vl_convert as vlc

    return vlc.vegalite_to_png(chart.to_dict(), scale=PNG_SCALE)


def layer_head_heatmap(values, title: str, value_name: str = "first-token mass") -> alt.Chart:
    """Heatmap of a [layer, head] matrix (e.g. mean first-token mass per head), values in [0, 1]."""
    import pandas as pd

    rows = [
        {"layer": layer, "head": head, value_name: float(v)}
        for layer, row in enumerate(values.tolist())
        for head, v in enumerate(row)
    ]
    return (
        alt.Chart(pd.DataFrame(rows), title=title)
        .mark_rect()
        .encode(
            x=alt.X("head:O", title="head"),
            y=alt.Y("layer:O", title="layer", sort="descending"),
            color=alt.Color(f"{value_name}:Q", scale=alt.Scale(domain=[0, 1], scheme="viridis")),
            tooltip=["layer", "head", alt.Tooltip(f"{value_name}:Q", format=".3f")],
        )
        .properties(width=alt.Step(28), height=alt.Step(28))
    )
