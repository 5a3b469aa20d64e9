"""The training explorer (chapter 6): its pure function, its chart, the widget; and the step-line chart."""

import altair as alt
import ipywidgets
import pytest
import torch

from sinklab.analysis import experiments
from sinklab.errors import SinklabError
from sinklab.viz import plots, widgets


def fake_history():
    history = []
    for step in range(1, 31):
        entry = {"step": step, "loss": 3.0 - step / 30}
        if step % 10 == 0:
            pattern = torch.eye(4) if step < 30 else torch.zeros(4, 4).index_fill_(1, torch.tensor([0]), 1.0)
            entry.update(pattern=pattern.tolist(), other_mass=step / 30, trigger_mass=0.0, copy_accuracy=0.5)
        history.append(entry)
    return history


def test_the_explorer_shows_the_last_probe_at_or_before_the_step():
    history = fake_history()
    assert widgets.compute_training_explorer(history, 25).step == 20
    assert widgets.compute_training_explorer(history, 0).step == 10  # before the first probe: the first one
    last = widgets.compute_training_explorer(history, 30)
    assert last.other_mass == 1.0 and torch.equal(last.pattern[:, 0], torch.ones(4))


def test_static_and_interactive_explorers():
    runs = {"softmax": {"history": fake_history()}, "relu": {"history": fake_history()}}
    labels = ["<bos>", "a", "T", "a"]
    static = widgets.training_explorer(runs, labels, interactive=False)
    assert isinstance(static, alt.VConcatChart) and len(static.vconcat) == 3
    assert plots.to_png(static)[:4] == b"\x89PNG"
    live = widgets.training_explorer(runs, labels, interactive=True)
    assert isinstance(live, ipywidgets.VBox)


def test_step_lines_take_series_with_their_own_steps_and_refuse_too_many_points():
    history = fake_history()
    chart = plots.step_lines(
        {"loss": experiments.curve(history, "loss"), "mass": experiments.curve(history, "other_mass")},
        y_title="value",
        title="t",
    )
    assert len(chart.data) == 30 + 3
    with pytest.raises(SinklabError, match="max_points"):
        plots.step_lines({"long": (list(range(6000)), [0.0] * 6000)}, y_title="v", title="t")


def test_curve_averages_long_histories_into_chunks():
    history = [{"step": s, "loss": float(s)} for s in range(1, 101)]
    steps, values = experiments.curve(history, "loss", max_points=10)
    assert steps == list(range(10, 101, 10)) and values[0] == pytest.approx(5.5)
