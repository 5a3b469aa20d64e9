"""ipywidgets explorers, each a thin wrapper over a pure `compute_*` function that the tests cover.

Whether an explorer is an interactive widget or a static chart follows one rule, `wants_widget`
(see `sinklab.viz.widgets._core`). Pass ``interactive=True`` or ``False`` to override it for one explorer.
"""

from sinklab import env  # noqa: F401  (tests patch widgets.env.frontend)
from sinklab.viz.widgets._core import wants_widget
from sinklab.viz.widgets.ch1 import (
    SINK_SCORES,
    STATIC_VALUE_NORMS,
    SinkExplorerState,
    ToyHead,
    compute_sink_explorer,
    sink_explorer,
    sink_explorer_chart,
    toy_head,
)
from sinklab.viz.widgets.ch2 import (
    MAX_EXPLORER_TOKENS,
    PatternView,
    compute_pattern_explorer,
    pattern_chart,
    pattern_explorer,
)
from sinklab.viz.widgets.ch3 import (
    EPS_GRID,
    PUBLISHED_EPS,
    compute_sink_rates,
    sink_rate_curves_chart,
    sink_rate_explorer,
)
from sinklab.viz.widgets.ch4 import (
    ABLATIONS,
    CircuitAblation,
    circuit_chart,
    circuit_explorer,
    compute_circuit_ablation,
)
from sinklab.viz.widgets.ch5 import (
    STATIC_SINKS,
    OverMixingState,
    compute_over_mixing,
    over_mixing_chart,
    over_mixing_explorer,
)
from sinklab.viz.widgets.ch6 import (
    TrainingView,
    compute_training_explorer,
    training_chart,
    training_explorer,
)

__all__ = [
    "wants_widget",
    "ToyHead",
    "toy_head",
    "SinkExplorerState",
    "compute_sink_explorer",
    "sink_explorer_chart",
    "sink_explorer",
    "SINK_SCORES",
    "STATIC_VALUE_NORMS",
    "PatternView",
    "compute_pattern_explorer",
    "pattern_chart",
    "pattern_explorer",
    "MAX_EXPLORER_TOKENS",
    "compute_sink_rates",
    "sink_rate_curves_chart",
    "sink_rate_explorer",
    "EPS_GRID",
    "PUBLISHED_EPS",
    "CircuitAblation",
    "compute_circuit_ablation",
    "circuit_chart",
    "circuit_explorer",
    "ABLATIONS",
    "OverMixingState",
    "compute_over_mixing",
    "over_mixing_chart",
    "over_mixing_explorer",
    "STATIC_SINKS",
    "TrainingView",
    "compute_training_explorer",
    "training_chart",
    "training_explorer",
]
