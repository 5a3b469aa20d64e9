"""Widgets: the pattern explorer (chapter 2)."""

from __future__ import annotations

from dataclasses import dataclass

import altair as alt
import torch

from sinklab.viz import plots
from sinklab.viz.widgets._core import wants_widget

MAX_EXPLORER_TOKENS = 40  # a [T, T] heatmap stays readable (and under Altair's row limit)


@dataclass(frozen=True)
class PatternView:
    """One head's attention pattern on a prompt."""

    tokens: list[str]
    pattern: torch.Tensor  # [T, T]: queries down, keys across
    first_mass: float  # mean attention on token 0 over all queries


def compute_pattern_explorer(model, tokenizer, prompt: str, layer: int, head: int) -> PatternView:
    """The pattern of (layer, head) on `prompt` (cut to MAX_EXPLORER_TOKENS). Defined in chapter 2."""
    from sinklab import measure

    ids = tokenizer(prompt, return_tensors="pt")["input_ids"][:, :MAX_EXPLORER_TOKENS].to(model.device)
    pattern = measure.attention_patterns(model, ids, layers=[layer], heads=[head])[0, 0, 0]
    return PatternView(tokenizer.convert_ids_to_tokens(ids[0]), pattern, pattern[:, 0].mean().item())


def pattern_chart(view: PatternView, layer: int, head: int) -> alt.Chart:
    title = f"layer {layer}, head {head}: mean attention on token 0 = {view.first_mass:.2f}"
    return plots.attention_heatmaps(view.pattern[None], view.tokens, title=title, columns=1)


def pattern_explorer(model, tokenizer, prompt: str, interactive: bool | None = None):
    """A text box and layer/head sliders over `pattern_chart`, or the static chart of the last layer's
    first head (which one: see `wants_widget`). Defined in chapter 2, Interactive demo."""
    config = model.config.get_text_config()
    last_layer = config.num_hidden_layers - 1
    if not wants_widget(interactive):
        return pattern_chart(compute_pattern_explorer(model, tokenizer, prompt, last_layer, 0), last_layer, 0)
    import ipywidgets as widgets

    text = widgets.Text(
        value=prompt, description="prompt", continuous_update=False, layout=widgets.Layout(width="600px")
    )
    layer = widgets.IntSlider(value=last_layer, min=0, max=last_layer, description="layer", continuous_update=False)
    head = widgets.IntSlider(
        value=0, min=0, max=config.num_attention_heads - 1, description="head", continuous_update=False
    )
    picture = widgets.Image(format="png")

    def redraw(_change=None) -> None:
        view = compute_pattern_explorer(model, tokenizer, text.value, layer.value, head.value)
        picture.value = plots.to_png(pattern_chart(view, layer.value, head.value))

    for control in (text, layer, head):
        control.observe(redraw, names="value")
    redraw()
    return widgets.VBox([text, widgets.HBox([layer, head]), picture])
