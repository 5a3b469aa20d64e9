"""The circuit explorer (chapter 4): its pure function, its chart, and the widget."""

import altair as alt
import ipywidgets
import pytest

from sinklab import models
from sinklab.errors import SinklabError
from sinklab.viz import plots, widgets


@pytest.fixture(scope="module")
def embedded():
    return models.load_model(models.EMBEDDED_NAME)


@pytest.fixture(scope="module")
def results(embedded):
    model, tokenizer = embedded
    return {a: widgets.compute_circuit_ablation(model, tokenizer, a, position=16) for a in widgets.ABLATIONS}


@pytest.mark.slow
def test_one_sink_rate_per_layer_for_key_zero_and_key_t(results, embedded):
    n_layers = embedded[0].config.num_hidden_layers
    for result in results.values():
        assert len(result.sink_first) == len(result.sink_at) == n_layers
        assert all(0 <= v <= 1 for v in result.sink_first + result.sink_at)


def test_the_embedded_models_sink_follows_its_bos_state(results):
    """Measured on the embedded model: its strongest sink layer (2: 0.47 of the heads × prompts) sinks on <bos>;
    without it, or with a random first token, nothing; moved or written into t, most of it follows (0.41)."""
    layer = max(range(len(results["none"].sink_first)), key=results["none"].sink_first.__getitem__)
    strongest = results["none"].sink_first[layer]
    assert layer == 2 and strongest >= 0.4 and results["none"].sink_at[layer] == 0
    assert max(results["first token removed"].sink_first) == 0
    assert max(results["first token replaced by a random token"].sink_first) == 0
    moved = results["first token moved to t"]
    assert moved.sink_at[layer] >= 0.75 * strongest and max(moved.sink_first) == 0
    assert results["first token's state written into t"].sink_at[layer] >= 0.75 * strongest


def test_bad_ablations_and_positions_say_what_to_do(embedded):
    model, tokenizer = embedded
    with pytest.raises(SinklabError, match="Unknown ablation"):
        widgets.compute_circuit_ablation(model, tokenizer, "shuffle", 16)
    with pytest.raises(SinklabError, match="between 1 and 62"):
        widgets.compute_circuit_ablation(model, tokenizer, "none", 63)


@pytest.mark.slow
def test_the_chart_renders_and_the_widget_has_its_controls(embedded, results):
    chart = widgets.circuit_chart(list(results.values()), "tiny")
    assert isinstance(chart, alt.HConcatChart)
    assert plots.to_png(chart).startswith(b"\x89PNG")
    model, tokenizer = embedded
    assert isinstance(widgets.circuit_explorer(model, tokenizer, interactive=False), alt.HConcatChart)
    box = widgets.circuit_explorer(model, tokenizer, interactive=True)
    assert isinstance(box, ipywidgets.VBox) and bytes(box.children[-1].value).startswith(b"\x89PNG")
