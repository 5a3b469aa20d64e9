"""Widgets: the sink explorer (chapter 1)."""

from __future__ import annotations

from dataclasses import dataclass

import altair as alt
import torch

from sinklab.viz import plots
from sinklab.viz.widgets._core import wants_widget

SINK_SCORES = torch.linspace(-4, 10, 57)  # the sink-score axis of the explorer's curve
STATIC_VALUE_NORMS = (0.0, 0.5, 1.0, 2.0)  # the curves the static chart shows


@dataclass(frozen=True)
class ToyHead:
    """A head with nothing to do: similar scores for all content keys.

    scores [n], values [n, d], sink_direction [d] (unit norm: the direction of the sink's value).
    """

    scores: torch.Tensor
    values: torch.Tensor
    sink_direction: torch.Tensor


def toy_head(n_keys: int = 6, head_dim: int = 8, seed: int = 0) -> ToyHead:
    """Scores near 0 for `n_keys` content keys, values of norm ≈ 1, a unit direction for the sink's value."""
    generator = torch.Generator().manual_seed(seed)
    scores = 0.3 * torch.randn(n_keys, generator=generator)
    values = torch.randn(n_keys, head_dim, generator=generator) / head_dim**0.5
    direction = torch.randn(head_dim, generator=generator)
    return ToyHead(scores, values, direction / direction.norm())


@dataclass(frozen=True)
class SinkExplorerState:
    """What one query's attention does with a sink key in front of the content keys."""

    weights: torch.Tensor  # [1 + n]: the sink first, then the content keys; sums to one
    output: torch.Tensor  # [d]: Σ_j weight_j · value_j
    output_norm: float
    sink_weight: float
    no_sink_output_norm: float  # the output norm with the content keys alone


def compute_sink_explorer(sink_score: float, sink_value_norm: float, head: ToyHead | None = None) -> SinkExplorerState:
    """Attention of one query over [sink, content keys]; the sink's value is sink_value_norm · sink_direction.

    Defined in chapter 1, Interactive Demo 1.
    """
    head = head or toy_head()
    scores = torch.cat([torch.tensor([float(sink_score)]), head.scores])  # [1 + n]
    values = torch.cat([sink_value_norm * head.sink_direction[None], head.values])  # [1 + n, d]
    weights = torch.softmax(scores, dim=-1)
    output = weights @ values
    no_sink_output = torch.softmax(head.scores, dim=-1) @ head.values
    return SinkExplorerState(
        weights=weights,
        output=output,
        output_norm=output.norm().item(),
        sink_weight=weights[0].item(),
        no_sink_output_norm=no_sink_output.norm().item(),
    )


def sink_explorer_chart(
    sink_score: float, sink_value_norm: float, curve_norms=None, head: ToyHead | None = None
) -> alt.HConcatChart:
    """Left: the attention weights at (sink_score, sink_value_norm). Right: output norm against sink score,
    one line per sink value norm in `curve_norms` (default: just `sink_value_norm`), the current point marked."""
    import pandas as pd

    head = head or toy_head()
    state = compute_sink_explorer(sink_score, sink_value_norm, head)
    n_keys = len(head.scores)
    keys = ["sink"] + [f"k{j + 1}" for j in range(n_keys)]
    bars = pd.DataFrame({"key": keys, "weight": state.weights.tolist(), "kind": ["sink"] + ["content"] * n_keys})
    curves = pd.DataFrame(
        [
            {"sink_score": s, "output_norm": compute_sink_explorer(s, n, head).output_norm, "value_norm": f"{n:g}"}
            for n in (curve_norms or [sink_value_norm])
            for s in SINK_SCORES.tolist()
        ]
    )
    weight_bars = (
        alt.Chart(bars, title=f"Attention weights (sink score {sink_score:g}, sink ‖v‖ {sink_value_norm:g})")
        .mark_bar()
        .encode(
            x=alt.X("key:N", sort=keys, title="key"),
            y=alt.Y("weight:Q", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color(
                "kind:N", scale=alt.Scale(domain=["sink", "content"], range=["#d62728", "#1f77b4"]), legend=None
            ),
            tooltip=["key", alt.Tooltip("weight:Q", format=".3f")],
        )
        .properties(width=220, height=220)
    )
    lines = (
        alt.Chart(curves, title="Output norm against sink score (dashed: no sink)")
        .mark_line()
        .encode(
            x=alt.X("sink_score:Q", title="sink score"),
            y=alt.Y("output_norm:Q", title="output norm"),
            color=alt.Color("value_norm:N", sort=None, title="sink ‖v‖"),
        )
    )
    no_sink = (
        alt.Chart(pd.DataFrame({"output_norm": [state.no_sink_output_norm]}))
        .mark_rule(strokeDash=[4, 4])
        .encode(y="output_norm:Q")
    )
    here = (
        alt.Chart(pd.DataFrame({"sink_score": [sink_score], "output_norm": [state.output_norm]}))
        .mark_point(size=80, filled=True, color="black")
        .encode(x="sink_score:Q", y="output_norm:Q")
    )
    curve_panel = (lines + no_sink + here).properties(width=300, height=220)
    return alt.hconcat(weight_bars, curve_panel).resolve_scale(color="independent")


def sink_explorer(interactive: bool | None = None, sink_score: float = 2.0, sink_value_norm: float = 0.1):
    """Sliders for the sink's score and value norm over `sink_explorer_chart`, or the static chart with
    several value norms (which one: see `wants_widget`). Defined in chapter 1, Interactive Demo 1."""
    if not wants_widget(interactive):
        curve_norms = sorted({sink_value_norm, *STATIC_VALUE_NORMS})
        return sink_explorer_chart(sink_score, sink_value_norm, curve_norms=curve_norms)
    import ipywidgets as widgets

    score = widgets.FloatSlider(
        value=sink_score, min=-4, max=10, step=0.25, description="sink score", continuous_update=False
    )
    norm = widgets.FloatSlider(
        value=sink_value_norm, min=0, max=3, step=0.05, description="sink ‖v‖", continuous_update=False
    )
    readout = widgets.HTML()
    picture = widgets.Image(format="png")

    def redraw(_change=None) -> None:
        state = compute_sink_explorer(score.value, norm.value)
        readout.value = (
            f"sink weight <b>{state.sink_weight:.2f}</b> · output norm <b>{state.output_norm:.3f}</b> "
            f"(content keys alone: {state.no_sink_output_norm:.3f})"
        )
        picture.value = plots.to_png(sink_explorer_chart(score.value, norm.value))

    score.observe(redraw, names="value")
    norm.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([score, norm]), readout, picture])
