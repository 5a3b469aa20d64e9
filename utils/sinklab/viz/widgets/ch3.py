"""Widgets: the threshold explorer (chapter 3)."""

from __future__ import annotations

import altair as alt
import torch

from sinklab.viz import plots
from sinklab.viz.widgets._core import wants_widget

EPS_GRID = torch.linspace(0.05, 0.95, 19)  # the eps axis of the threshold explorer's curves
PUBLISHED_EPS = (0.3, 0.8)  # Gu et al. and Barbero et al.


def compute_sink_rates(importance: dict[str, torch.Tensor], eps: float) -> dict[str, float]:
    """Sink rate (a fraction in [0, 1]) at `eps` of every set of importance scores ``{label: [n, layer, head]}``."""
    from sinklab import metrics

    return {label: metrics.sink_rate(values, eps) for label, values in importance.items()}


def sink_rate_curves_chart(importance: dict[str, torch.Tensor], eps: float) -> alt.LayerChart:
    """Sink rate against eps (fractions, shown as %), one curve per label, with rules at the published
    thresholds and at `eps`."""
    import pandas as pd

    rows = [
        {"ε": e, "series": label, "sink rate": rate}
        for e in EPS_GRID.tolist()
        for label, rate in compute_sink_rates(importance, e).items()
    ]
    curves = (
        alt.Chart(pd.DataFrame(rows), title=f"Sink rate against the threshold (rule: ε = {eps:g})")
        .mark_line(point=True)
        .encode(
            x=alt.X("ε:Q", scale=alt.Scale(domain=[0, 1])),
            y=alt.Y("sink rate:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
            color=alt.Color("series:N", title=None, legend=alt.Legend(orient="bottom", columns=2)),
            tooltip=["series", alt.Tooltip("ε:Q", format=".2f"), alt.Tooltip("sink rate:Q", format=".1%")],
        )
    )
    marks = pd.DataFrame({"ε": [*PUBLISHED_EPS, eps], "rule": ["published", "published", "yours"]})
    rules = (
        alt.Chart(marks)
        .mark_rule()
        .encode(x="ε:Q", strokeDash=alt.StrokeDash("rule:N", legend=None), color=alt.value("gray"))
    )
    return alt.layer(curves, rules).properties(width=420, height=260)


def sink_rate_explorer(importance: dict[str, torch.Tensor], eps: float = 0.3, interactive: bool | None = None):
    """An eps slider over `sink_rate_curves_chart` with a readout of every sink rate, or the static chart
    (which one: see `wants_widget`). Defined in chapter 3, Interactive demo."""
    if not wants_widget(interactive):
        return sink_rate_curves_chart(importance, eps)
    import ipywidgets as widgets

    slider = widgets.FloatSlider(value=eps, min=0.05, max=0.95, step=0.05, description="ε", continuous_update=False)
    readout = widgets.HTML()
    picture = widgets.Image(format="png")

    def redraw(_change=None) -> None:
        rates = compute_sink_rates(importance, slider.value)
        readout.value = " · ".join(f"{label}: <b>{rate:.1%}</b>" for label, rate in rates.items())
        picture.value = plots.to_png(sink_rate_curves_chart(importance, slider.value))

    slider.observe(redraw, names="value")
    redraw()
    return widgets.VBox([slider, readout, picture])
