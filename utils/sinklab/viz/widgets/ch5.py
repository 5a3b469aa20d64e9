"""Widgets: the over-mixing explorer (chapter 5)."""

from __future__ import annotations

from dataclasses import dataclass

import altair as alt
import torch

from sinklab.viz import plots
from sinklab.viz.widgets._core import wants_widget

STATIC_SINKS = (0.0, 0.5, 0.9)  # the sink strengths the static over-mixing chart compares


@dataclass(frozen=True)
class OverMixingState:
    """The chapter-5 toy stack (`theory.ToyStack`, residual stream on) at one depth, length and sink strength."""

    rank_one: torch.Tensor  # [depth + 1]: distance of the tokens to rank one, before and after each layer
    sensitivity: torch.Tensor  # [T]: ‖∂h_last / ∂x_i‖_F after the last layer, per source token i
    bound: torch.Tensor  # [T]: the path-product bound √D · P[last, i] with the attention frozen
    mixing: float  # share of the last token's sensitivity that comes from the other tokens


def compute_over_mixing(depth: int, n_tokens: int, sink: float, seed: int = 0) -> OverMixingState:
    """Run the toy stack with a zero-value sink of mass `sink`; measure mixing and sensitivity of the last token.

    Defined in chapter 5, Interactive Demo.
    """
    from sinklab.analysis import over_mixing as theory

    stack = theory.toy_stack(depth, seed=seed)
    x = theory.toy_tokens(n_tokens, seed=seed + 1)
    hidden, attns = stack.run(x, sink=sink)
    sensitivity = theory.jacobian_norm_map(lambda tokens: stack.run(tokens, sink=sink)[0], x, n_tokens - 1)[-1]
    bound = x.shape[-1] ** 0.5 * theory.path_products((1 - sink) * attns)[-1, -1]
    return OverMixingState(
        rank_one=theory.rank_one_distance(hidden),
        sensitivity=sensitivity,
        bound=bound,
        mixing=(sensitivity[:-1].sum() / sensitivity.sum()).item(),
    )


def over_mixing_chart(depth: int, n_tokens: int, sinks=STATIC_SINKS) -> alt.HConcatChart:
    """Left: distance to rank one against depth. Right: the last token's sensitivity to each source token
    (solid) and the path-product bound (dashed), log scale. One colour per sink strength in `sinks`."""
    import pandas as pd

    states = {sink: compute_over_mixing(depth, n_tokens, sink) for sink in sinks}
    collapse = pd.DataFrame(
        [
            {"layer": layer, "distance": d, "sink": f"{sink:g}"}
            for sink, state in states.items()
            for layer, d in enumerate(state.rank_one.tolist())
        ]
    )
    sensitivity = pd.DataFrame(
        [
            {"source": i, "norm": value, "sink": f"{sink:g}", "curve": curve}
            for sink, state in states.items()
            for curve, values in (("measured", state.sensitivity), ("bound", state.bound))
            for i, value in enumerate(values.tolist())
        ]
    )
    color = alt.Color("sink:N", sort=None, title="sink mass")
    left = (
        alt.Chart(collapse, title="Distance to rank one (residual stream on)")
        .mark_line(point=True)
        .encode(
            x=alt.X("layer:Q", title="layer"),
            y=alt.Y("distance:Q", title="‖X − 1x̄ᵀ‖ / ‖X‖"),
            color=color,
            tooltip=["sink", "layer", alt.Tooltip("distance:Q", format=".3f")],
        )
        .properties(width=260, height=220)
    )
    right = (
        alt.Chart(sensitivity, title=f"Sensitivity of token {n_tokens - 1} after {depth} layers")
        .mark_line()
        .encode(
            x=alt.X("source:Q", title="source position i", scale=alt.Scale(domain=[0, n_tokens - 1], nice=False)),
            y=alt.Y("norm:Q", title="‖∂h_last / ∂x_i‖ (dashed: bound)", scale=alt.Scale(type="log")),
            color=color,
            strokeDash=alt.StrokeDash("curve:N", sort=["measured", "bound"], legend=None),
            tooltip=["sink", "curve", "source", alt.Tooltip("norm:Q", format=".3g")],
        )
        .properties(width=300, height=220)
    )
    return alt.hconcat(left, right)


def over_mixing_explorer(interactive: bool | None = None, depth: int = 6, n_tokens: int = 32, sink: float = 0.9):
    """Sliders for depth, context length and sink strength over `over_mixing_chart` (always compared with no
    sink), or the static chart for STATIC_SINKS (which one: see `wants_widget`). Defined in chapter 5."""
    if not wants_widget(interactive):
        return over_mixing_chart(depth, n_tokens, sorted({*STATIC_SINKS, sink}))
    import ipywidgets as widgets

    depth_slider = widgets.IntSlider(value=depth, min=1, max=12, description="depth", continuous_update=False)
    length_slider = widgets.IntSlider(
        value=n_tokens, min=4, max=64, step=4, description="context", continuous_update=False
    )
    sink_slider = widgets.FloatSlider(
        value=sink, min=0, max=0.99, step=0.01, description="sink mass", continuous_update=False
    )
    readout = widgets.HTML()
    picture = widgets.Image(format="png")

    def redraw(_change=None) -> None:
        state = compute_over_mixing(depth_slider.value, length_slider.value, sink_slider.value)
        readout.value = (
            f"share of the last token's sensitivity from other tokens: <b>{state.mixing:.2f}</b> · "
            f"distance to rank one after the last layer: <b>{state.rank_one[-1].item():.3f}</b>"
        )
        picture.value = plots.to_png(
            over_mixing_chart(depth_slider.value, length_slider.value, sorted({0.0, sink_slider.value}))
        )

    for control in (depth_slider, length_slider, sink_slider):
        control.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([depth_slider, length_slider, sink_slider]), readout, picture])
