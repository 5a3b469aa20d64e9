"""The HTML page of `sinklab measure`: charts of a `SinkReport`, vega inlined so it opens offline.

Built with Altair directly (the core does not import the course's `sinklab.viz.plots`).
"""

from __future__ import annotations

from pathlib import Path

from sinklab.measure.report import SinkReport


def head_heatmap(report: SinkReport, title: str):
    """Layer x head heatmap of mean first-token importance (alpha_0), values in [0, 1]."""
    import altair as alt
    import pandas as pd

    rows = [
        {"layer": layer, "head": head, "first-token mass": float(v)}
        for layer, row in enumerate(report.mean_first_mass().tolist())
        for head, v in enumerate(row)
    ]
    return (
        alt.Chart(pd.DataFrame(rows), title=title)
        .mark_rect()
        .encode(
            x=alt.X("head:O", title="head"),
            y=alt.Y("layer:O", title="layer", sort="descending"),
            color=alt.Color("first-token mass:Q", scale=alt.Scale(domain=[0, 1], scheme="viridis")),
            tooltip=["layer", "head", alt.Tooltip("first-token mass:Q", format=".3f")],
        )
        .properties(width=alt.Step(28), height=alt.Step(28))
    )


def write_page(report: SinkReport, path: str | Path, title: str) -> Path:
    """Write the report's charts as one self-contained HTML file; returns the path."""
    path = Path(path)
    head_heatmap(report, title).save(str(path), inline=True)
    return path
