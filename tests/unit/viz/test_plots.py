"""sinklab.viz.plots: chart builders stay under Altair's row limit and say what to do when they cannot."""

import pytest
import torch

from sinklab.errors import SinklabError
from sinklab.viz import plots


def test_attention_heatmaps_keep_only_the_causal_triangle():
    patterns = torch.softmax(torch.randn(4, 45, 45), -1).tril()
    chart = plots.attention_heatmaps(patterns, [f"t{i}" for i in range(45)], title="4 heads")
    assert len(chart.data) == 4 * 45 * 46 // 2 <= plots.MAX_ROWS


def test_attention_heatmaps_refuse_too_many_cells_with_a_fix():
    with pytest.raises(SinklabError, match="Fix: pass fewer heads or a shorter prompt"):
        plots.attention_heatmaps(torch.rand(8, 40, 40), [str(i) for i in range(40)], title="too big")
