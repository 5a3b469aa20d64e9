"""Widgets: the circuit explorer (chapter 4)."""

from __future__ import annotations

from dataclasses import dataclass

import altair as alt
import torch

from sinklab.viz import plots
from sinklab.viz.widgets._core import wants_widget

ABLATIONS = (
    "none",
    "first token removed",
    "first token replaced by a random token",
    "first token moved to t",
    "first token's state written into t",
)


@dataclass(frozen=True)
class CircuitAblation:
    """Per layer, the sink rate (ε = 0.3) on key 0 and on key t after one ablation of the first token."""

    ablation: str
    position: int  # t
    sink_first: list[float]  # [L]: Sink_0 per layer
    sink_at: list[float]  # [L]: Sink_t per layer


def compute_circuit_ablation(
    model, tokenizer, ablation: str, position: int, block: int = 0, n: int = 4, seq_len: int = 64, seed: int = 0
) -> CircuitAblation:
    """Apply one of ABLATIONS to `n` natural prompts and measure Gu et al.'s Sink_0 and Sink_t per layer.

    "first token's state written into t" writes the first token's residual stream after `block` into
    position t of the prompts without their first token. Defined in chapter 4, Interactive demo.
    """
    from sinklab import measure, prompts
    from sinklab.analysis import p0_circuit as circuit
    from sinklab.errors import SinklabError

    ids = prompts.prompt_batch(tokenizer, n=n, seq_len=seq_len)["input_ids"].to(model.device)
    if not 0 < position < seq_len - 1:
        raise SinklabError(f"position t must be between 1 and {seq_len - 2}, got {position}.")
    patch = None
    if ablation == "first token removed":
        ids = ids[:, 1:]
    elif ablation == "first token replaced by a random token":
        pool = ids[:, 1:].unique()
        ids = ids.clone()
        ids[:, 0] = pool[torch.randint(len(pool), (n,), generator=torch.Generator().manual_seed(seed)).to(pool.device)]
    elif ablation == "first token moved to t":
        ids = torch.tensor([circuit.move_bos(row, position, row[0]) for row in ids.tolist()], device=model.device)
    elif ablation == "first token's state written into t":
        patch = circuit.first_token_states(model, ids[:1])[0, block + 1]
        ids = ids[:, 1:]
    elif ablation != "none":
        raise SinklabError(f"Unknown ablation {ablation!r}. Fix: choose one of {', '.join(ABLATIONS)}.")
    if patch is None:
        report = measure.measure(model, ids, stats=("first", "received"))
    else:
        with circuit.patched_residual(model, block, position, patch):
            report = measure.measure(model, ids, stats=("first", "received"))
    return CircuitAblation(
        ablation, position, circuit.sink_rate_at(report, 0).tolist(), circuit.sink_rate_at(report, position).tolist()
    )


def circuit_chart(results: list[CircuitAblation], title: str) -> alt.HConcatChart:
    """Two panels, Sink_0 and Sink_t per layer, one line per ablation."""
    import pandas as pd

    rows = [
        {"layer": layer, "ablation": r.ablation, "key": key, "sink rate": value}
        for r in results
        for key, values in (("position 0", r.sink_first), (f"position t = {r.position}", r.sink_at))
        for layer, value in enumerate(values)
    ]
    frame = pd.DataFrame(rows)
    panels = [
        alt.Chart(frame[frame["key"] == key], title=f"{title}: sink rate on {key}")
        .mark_line(point=True)
        .encode(
            x=alt.X("layer:O", title="layer"),
            y=alt.Y("sink rate:Q", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("ablation:N", sort=list(ABLATIONS), legend=alt.Legend(labelLimit=320)),
            tooltip=["ablation", "layer", alt.Tooltip("sink rate:Q", format=".2f")],
        )
        .properties(width=240, height=200)
        for key in frame["key"].unique()
    ]
    return alt.hconcat(*panels)


def circuit_explorer(model, tokenizer, position: int = 16, block: int = 0, interactive: bool | None = None):
    """A menu of ablations and sliders for t and the patched block over `circuit_chart`, or the static chart of
    every ablation at `position` (which one: see `wants_widget`). Defined in chapter 4, Interactive demo."""
    name = model.name_or_path
    if not wants_widget(interactive):
        return circuit_chart([compute_circuit_ablation(model, tokenizer, a, position, block) for a in ABLATIONS], name)
    import ipywidgets as widgets

    n_layers = model.config.get_text_config().num_hidden_layers
    menu = widgets.Dropdown(
        options=ABLATIONS,
        value="first token's state written into t",
        description="ablation",
        layout=widgets.Layout(width="420px"),
    )
    t = widgets.IntSlider(value=position, min=1, max=62, description="t", continuous_update=False)
    after = widgets.IntSlider(value=block, min=0, max=n_layers - 1, description="after block", continuous_update=False)
    picture = widgets.Image(format="png")

    def redraw(_change=None) -> None:
        shown = dict.fromkeys(("none", menu.value))  # the ablation next to the unablated prompts
        results = [compute_circuit_ablation(model, tokenizer, a, t.value, after.value) for a in shown]
        picture.value = plots.to_png(circuit_chart(results, name))

    for control in (menu, t, after):
        control.observe(redraw, names="value")
    redraw()
    return widgets.VBox([menu, widgets.HBox([t, after]), picture])
