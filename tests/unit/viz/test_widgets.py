"""The sink explorer: its pure function, its chart, and the widget-or-static-chart rule."""

import altair as alt
import ipywidgets
import pytest
import torch

from sinklab.viz import plots, widgets


def test_weights_sum_to_one_and_put_the_sink_first():
    state = widgets.compute_sink_explorer(sink_score=2.0, sink_value_norm=0.5)
    assert state.weights.shape == (1 + len(widgets.toy_head().scores),)
    torch.testing.assert_close(state.weights.sum(), torch.tensor(1.0))
    assert state.sink_weight == pytest.approx(state.weights[0].item())
    assert state.sink_weight == pytest.approx(state.weights.max().item())


def test_output_is_the_weighted_sum_of_the_values():
    head = widgets.toy_head()
    state = widgets.compute_sink_explorer(1.0, 2.0, head)
    values = torch.cat([2.0 * head.sink_direction[None], head.values])
    torch.testing.assert_close(state.output, state.weights @ values)
    assert state.output_norm == pytest.approx(state.output.norm().item())


def test_a_sink_with_a_zero_value_turns_the_head_off():
    """All weight on a zero-value sink: the head adds (almost) nothing — the approximate no-op."""
    state = widgets.compute_sink_explorer(sink_score=20.0, sink_value_norm=0.0)
    assert state.sink_weight > 0.999_999
    assert state.output_norm < 1e-6 < state.no_sink_output_norm


def test_a_sink_with_a_large_value_is_not_a_no_op():
    state = widgets.compute_sink_explorer(sink_score=20.0, sink_value_norm=3.0)
    assert state.output_norm == pytest.approx(3.0, rel=1e-5)


def test_a_very_negative_sink_score_gives_back_the_head_without_a_sink():
    state = widgets.compute_sink_explorer(sink_score=-100.0, sink_value_norm=3.0)
    assert state.sink_weight < 1e-30
    assert state.output_norm == pytest.approx(state.no_sink_output_norm)


def test_output_norm_falls_monotonically_as_a_zero_value_sink_takes_over():
    norms = [widgets.compute_sink_explorer(s, 0.0).output_norm for s in widgets.SINK_SCORES.tolist()]
    assert all(a >= b for a, b in zip(norms, norms[1:]))


def test_static_chart_renders_under_the_row_limit():
    chart = widgets.sink_explorer(interactive=False)
    assert isinstance(chart, alt.HConcatChart)
    rows = sum(len(data) for data in chart.to_dict()["datasets"].values())
    assert rows < plots.MAX_ROWS
    assert plots.to_png(chart).startswith(b"\x89PNG")


def test_static_chart_has_one_curve_per_value_norm_including_the_chosen_one():
    spec = widgets.sink_explorer(interactive=False, sink_value_norm=0.7).to_dict()
    curve_data = next(d for d in spec["datasets"].values() if "value_norm" in d[0])
    assert {row["value_norm"] for row in curve_data} == {"0", "0.5", "0.7", "1", "2"}


def test_interactive_widget_redraws_when_a_slider_moves():
    box = widgets.sink_explorer(interactive=True)
    assert isinstance(box, ipywidgets.VBox)
    (score, _norm), readout, picture = box.children[0].children, box.children[1], box.children[2]
    assert bytes(picture.value).startswith(b"\x89PNG")
    before = readout.value
    score.value = 8.0
    assert readout.value != before and "sink weight <b>1.00</b>" in readout.value


@pytest.mark.parametrize(
    "frontend, profile, expected",
    [
        ("jupyter", "cpu", True),
        ("colab", "t4", True),
        ("vscode", "cpu", True),
        ("jupyter", "ci", False),
        ("ci", "cpu", False),
        ("script", "cpu", False),
    ],
)
def test_the_rule_shows_a_widget_only_in_a_live_kernel_outside_the_ci_profile(monkeypatch, frontend, profile, expected):
    monkeypatch.setattr(widgets.env, "frontend", lambda: frontend)
    monkeypatch.setenv("SINKLAB_PROFILE", profile)
    monkeypatch.delenv("SINKLAB_INTERACTIVE", raising=False)
    assert widgets.wants_widget() is expected
    assert widgets.wants_widget(interactive=not expected) is (not expected)


@pytest.mark.parametrize("setting, frontend, profile", [("1", "script", "ci"), ("0", "jupyter", "cpu")])
def test_sinklab_interactive_overrides_the_rule_when_set(monkeypatch, setting, frontend, profile):
    """E.g. the browser test's live JupyterLab on the offline ci profile (1), or PNG-only charts (0)."""
    monkeypatch.setattr(widgets.env, "frontend", lambda: frontend)
    monkeypatch.setenv("SINKLAB_PROFILE", profile)
    monkeypatch.setenv("SINKLAB_INTERACTIVE", setting)
    assert widgets.wants_widget() is (setting == "1")


def test_under_pytest_the_explorer_is_the_static_chart():
    assert isinstance(widgets.sink_explorer(), alt.HConcatChart)


def test_pattern_explorer_shows_one_heads_pattern(hf_cache):
    from sinklab import models
    from sinklab.viz import plots
    from sinklab.viz.widgets import compute_pattern_explorer, pattern_explorer

    model, tokenizer = models.load_model("raincandy-u/TinyStories-656K")
    view = compute_pattern_explorer(model, tokenizer, "Once upon a time there was a cat.", layer=1, head=3)
    n = len(view.tokens)
    assert view.pattern.shape == (n, n)
    assert torch.allclose(view.pattern.sum(-1), torch.ones(n), atol=1e-5)
    assert view.first_mass == pytest.approx(view.pattern[:, 0].mean().item())
    assert plots.to_png(pattern_explorer(model, tokenizer, "A dog.", interactive=False))[:4] == b"\x89PNG"
    assert type(pattern_explorer(model, tokenizer, "A dog.", interactive=True)).__name__ == "VBox"
