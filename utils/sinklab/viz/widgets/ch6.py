"""Widgets: the training explorer (chapter 6)."""

from __future__ import annotations

from dataclasses import dataclass

import altair as alt
import torch

from sinklab.viz import plots
from sinklab.viz.widgets._core import wants_widget


@dataclass(frozen=True)
class TrainingView:
    """One probe of a Bigram-Backcopy run (`sinklab.analysis.experiments.backcopy_probe`): where the head looked."""

    step: int
    pattern: torch.Tensor  # [T, T]: the last layer's head 0 on the first probe tokens
    other_mass: float
    trigger_mass: float
    copy_accuracy: float


def compute_training_explorer(history: list[dict], step: int) -> TrainingView:
    """The probe at `step`, or the last one before it. Defined in chapter 6, Interactive Demo."""
    probes = [h for h in history if "pattern" in h]
    entry = ([h for h in probes if h["step"] <= step] or probes[:1])[-1]
    return TrainingView(
        entry["step"],
        torch.tensor(entry["pattern"]),
        entry["other_mass"],
        entry["trigger_mass"],
        entry["copy_accuracy"],
    )


def training_chart(view: TrainingView, labels: list[str], name: str) -> alt.Chart:
    title = (
        f"{name}, step {view.step}: first-token mass {view.other_mass:.2f} (other queries), "
        f"{view.trigger_mass:.2f} (triggers); copy accuracy {view.copy_accuracy:.2f}"
    )
    return plots.attention_heatmaps(view.pattern[None], labels[: view.pattern.shape[0]], title=title, columns=1)


def training_explorer(runs: dict[str, dict], labels: list[str], interactive: bool | None = None):
    """A variant menu and a step slider over `training_chart`, or (static) the first run's pattern at its
    first, middle and last probe (which one: see `wants_widget`). Defined in chapter 6, Interactive Demo."""
    names = list(runs)
    if not wants_widget(interactive):
        history = runs[names[0]]["history"]
        steps = [h["step"] for h in history if "pattern" in h]
        picks = sorted({steps[0], steps[len(steps) // 2], steps[-1]})
        return alt.vconcat(*[training_chart(compute_training_explorer(history, s), labels, names[0]) for s in picks])
    import ipywidgets as widgets

    variant = widgets.Dropdown(options=names, value=names[0], description="variant")
    last = max(h["step"] for h in runs[names[0]]["history"])
    step = widgets.IntSlider(value=last, min=0, max=last, description="step", continuous_update=False)
    picture = widgets.Image(format="png")

    def redraw(_change=None) -> None:
        view = compute_training_explorer(runs[variant.value]["history"], step.value)
        picture.value = plots.to_png(training_chart(view, labels, variant.value))

    variant.observe(redraw, names="value")
    step.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([variant, step]), picture])
