"""Altair chart builders (they return charts, never display them) and the rendering policy.

Rendering policy, one rule applied by the setup cell: `enable_rendering(interactive=widgets.wants_widget())`.

- Every chart carries a PNG made locally by vl-convert. A PNG needs no CDN, no trusted notebook and no
  JavaScript, so GitHub, nbviewer, exported HTML, an offline JupyterLab and CI all show it. Notebooks
  executed headless (nbval, CI: the ``ci`` profile) store only this PNG.
- In a live kernel with a widget frontend (JupyterLab, Colab, VS Code), the chart is also an
  `alt.JupyterChart` in offline mode: vega's JavaScript travels with the widget (vl-convert's bundle),
  never from a CDN, so tooltips work without a network. The frontend shows the widget, a viewer without
  widgets the PNG. Like every ipywidget, it shows "model not found" when a saved, trusted notebook is
  reopened in JupyterLab, until its cell runs again; ``SINKLAB_INTERACTIVE=0`` keeps PNGs only.

Altair's own renderers each fail somewhere: ``html`` (the default) loads vega from a CDN (blank
offline), ``mimetype`` writes a vega-lite v6 output that fails nbformat validation, ``svg`` shows as text
until the notebook is trusted, and ``jupyter`` stores no image.
"""

from __future__ import annotations

import altair as alt

from sinklab.errors import SinklabError

PNG_SCALE = 1.5
MAX_ROWS = 5000  # Altair's own default limit; aggregate before plotting
CHART_TEXT = "<Altair chart: sinklab shows it as a PNG, or as an interactive chart in a live kernel>"


def to_png(chart: alt.TopLevelMixin) -> bytes:
    """The chart as PNG bytes (for saving, or for tests that check a chart really renders)."""
    return _png(chart.to_dict())


def _png(spec: dict) -> bytes:
    import vl_convert as vlc

    return vlc.vegalite_to_png(spec, scale=PNG_SCALE)


def _static_bundle(spec: dict, **_) -> tuple[dict, dict]:
    png = _png(spec)
    width = int.from_bytes(png[16:20], "big")  # from the PNG header; shown at 1/PNG_SCALE: sharp, not bigger
    return {"image/png": png, "text/plain": CHART_TEXT}, {"image/png": {"width": round(width / PNG_SCALE)}}


def _interactive_bundle(spec: dict, **_) -> tuple[dict, dict]:
    alt.JupyterChart.enable_offline()  # once per kernel (~2 s): bundle vega's JavaScript from vl-convert
    widget_data, widget_metadata = alt.JupyterChart(alt.Chart.from_dict(spec))._repr_mimebundle_()
    data, metadata = _static_bundle(spec)
    return {**widget_data, **data}, {**widget_metadata, **metadata}


def enable_rendering(interactive: bool = False) -> str:
    """Show every chart as a PNG, plus an offline interactive chart if `interactive`; returns the renderer's name."""
    alt.renderers.register("sinklab", _interactive_bundle if interactive else _static_bundle)
    alt.renderers.enable("sinklab")
    return "sinklab"


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
    cells = n_heads * length * (length + 1) // 2  # the causal lower triangle of every head
    if cells > MAX_ROWS:
        raise SinklabError(f"{n_heads} heads x {length} tokens make {cells} cells, over Altair's {MAX_ROWS}. "
                           "Fix: pass fewer heads or a shorter prompt.")
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


# ---------------------------------------------------------------- chapter 6: training curves


def step_lines(series: dict[str, tuple[list[float], list[float]]], y_title: str, title: str,
               x_title: str = "training step", log_y: bool = False) -> alt.Chart:
    """Line chart of named ``(steps, values)`` series whose x values may differ (e.g. probes every N steps)."""
    import pandas as pd

    rows = [{"step": float(x), "series": name, "y": float(y)}
            for name, (xs, ys) in series.items() for x, y in zip(xs, ys)]
    if len(rows) > MAX_ROWS:
        raise SinklabError(f"{len(rows)} points are over Altair's {MAX_ROWS}. Fix: average the series into fewer "
                           "points first (e.g. sinklab.experiments.curve(history, key, max_points=200)).")
    scale = alt.Scale(type="log") if log_y else alt.Scale(zero=False)
    return (
        alt.Chart(pd.DataFrame(rows), title=title)
        .mark_line(point=True)
        .encode(
            x=alt.X("step:Q", title=x_title),
            y=alt.Y("y:Q", title=y_title, scale=scale),
            color=alt.Color("series:N", title=None, sort=list(series)),
            tooltip=["series", alt.Tooltip("step:Q", format=".0f"), alt.Tooltip("y:Q", format=".3f")],
        )
        .properties(width=420, height=220)
    )
