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


def attention_heatmaps(patterns, tokens: list[str], title: str, columns: int = 4) -> alt.Chart:
    """One heatmap per head of a [head, q, k] attention pattern, queries down, keys across."""
    import pandas as pd

    n_heads, length, _ = patterns.shape
    if n_heads * length * length > MAX_ROWS:
        raise ValueError(f"{n_heads} heads x {length}^2 cells is over {MAX_ROWS}: pass fewer heads or tokens")
    labels = [f"{i}:{t}" for i, t in enumerate(tokens)]
    rows = [
        {"head": h, "query": labels[q], "key": labels[k], "weight": float(patterns[h, q, k])}
        for h in range(n_heads)
        for q in range(length)
        for k in range(q + 1)
    ]
    return (
        alt.Chart(pd.DataFrame(rows))
        .mark_rect()
        .encode(
            x=alt.X("key:N", sort=labels, title="key (attended to)", axis=alt.Axis(labelAngle=-60)),
            y=alt.Y("query:N", sort=labels, title="query"),
            color=alt.Color("weight:Q", scale=alt.Scale(domain=[0, 1], scheme="viridis")),
            tooltip=["query", "key", alt.Tooltip("weight:Q", format=".3f")],
        )
        .properties(width=alt.Step(12), height=alt.Step(12))
        .facet(facet=alt.Facet("head:O", title=title), columns=columns)
    )


def lines(series: dict[str, list[float]], x_title: str, y_title: str, title: str, log_y: bool = False) -> alt.Chart:
    """Line chart of named series sharing an x axis 0, 1, 2, …"""
    import pandas as pd

    rows = [{"x": i, "series": name, "y": float(v)} for name, values in series.items() for i, v in enumerate(values)]
    scale = alt.Scale(type="symlog") if log_y else alt.Scale()
    return (
        alt.Chart(pd.DataFrame(rows), title=title)
        .mark_line(point=True)
        .encode(
            x=alt.X("x:Q", title=x_title),
            y=alt.Y("y:Q", title=y_title, scale=scale),
            color=alt.Color("series:N", title=None),
            tooltip=["series", "x", alt.Tooltip("y:Q", format=".3f")],
        )
        .properties(width=420, height=220)
    )


def bars(values: dict[str, float], x_title: str, title: str) -> alt.Chart:
    """Horizontal bars, one per named value."""
    import pandas as pd

    frame = pd.DataFrame({"name": list(values), "value": [float(v) for v in values.values()]})
    return (
        alt.Chart(frame, title=title)
        .mark_bar()
        .encode(x=alt.X("value:Q", title=x_title), y=alt.Y("name:N", title=None, sort=None),
                tooltip=["name", alt.Tooltip("value:Q", format=".3f")])
        .properties(width=360)
    )
