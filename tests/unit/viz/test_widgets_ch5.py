"""The over-mixing explorer (chapter 5): its pure function, its chart, and the widget."""

import altair as alt
import ipywidgets
import pytest
import torch

from sinklab.analysis import over_mixing as theory
from sinklab.viz import plots, widgets


@pytest.fixture(scope="module")
def states():
    return {sink: widgets.compute_over_mixing(depth=4, n_tokens=12, sink=sink) for sink in (0.0, 0.5, 0.9)}


def test_shapes_and_the_first_entry_is_the_input(states):
    state = states[0.0]
    assert state.rank_one.shape == (5,) and state.sensitivity.shape == (12,) and state.bound.shape == (12,)
    x = theory.toy_tokens(12, seed=1)
    assert state.rank_one[0].item() == pytest.approx(theory.rank_one_distance(x).item())
    assert 0 < state.mixing < 1


def test_a_stronger_sink_mixes_less_and_collapses_slower(states):
    mixing = [states[s].mixing for s in (0.0, 0.5, 0.9)]
    final = [states[s].rank_one[-1].item() for s in (0.0, 0.5, 0.9)]
    assert mixing[0] > mixing[1] > mixing[2]
    assert final[0] < final[1] < final[2]


def test_sensitivity_to_other_tokens_grows_with_depth():
    other = [widgets.compute_over_mixing(depth, 12, 0.0).sensitivity[:-1].sum().item() for depth in (1, 3, 6)]
    assert other[0] < other[1] < other[2]


def test_the_bound_is_the_path_product_of_the_toy_stack(states):
    stack, x = theory.toy_stack(4), theory.toy_tokens(12, seed=1)
    _, attns = stack.run(x, sink=0.5)
    torch.testing.assert_close(states[0.5].bound, 4.0 * theory.path_products(0.5 * attns)[-1, -1])


def test_static_chart_renders_under_the_row_limit_with_one_colour_per_sink():
    chart = widgets.over_mixing_explorer(interactive=False, depth=3, n_tokens=8, sink=0.7)
    assert isinstance(chart, alt.HConcatChart)
    data = chart.to_dict()["datasets"].values()
    assert sum(len(rows) for rows in data) < plots.MAX_ROWS
    assert {row["sink"] for rows in data for row in rows} == {"0", "0.5", "0.7", "0.9"}
    assert plots.to_png(chart).startswith(b"\x89PNG")


def test_under_pytest_the_explorer_is_the_static_chart():
    assert isinstance(widgets.over_mixing_explorer(depth=2, n_tokens=6), alt.HConcatChart)


@pytest.mark.slow
def test_interactive_widget_redraws_when_a_slider_moves():
    box = widgets.over_mixing_explorer(interactive=True, depth=2, n_tokens=8, sink=0.0)
    assert isinstance(box, ipywidgets.VBox)
    (_depth, _length, sink), readout, picture = box.children[0].children, box.children[1], box.children[2]
    assert bytes(picture.value).startswith(b"\x89PNG")
    before = readout.value
    sink.value = 0.9
    assert readout.value != before
    assert f"{widgets.compute_over_mixing(2, 8, 0.9).mixing:.2f}" in readout.value
