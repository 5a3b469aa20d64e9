"""Altair chart builders (they return charts, never display them) and the rendering policy.

Rendering policy, one rule applied by the setup cell: `enable_rendering(interactive=widgets.wants_widget())`.

- Every chart carries a PNG made locally by vl-convert. A PNG needs no CDN, no trusted notebook and no
  JavaScript, so GitHub, nbviewer, exported HTML, an offline JupyterLab and CI all show it. Notebooks
  executed headless (nbval, CI: the ``ci`` profile) store only this PNG.
- In a live kernel with a widget frontend (JupyterLab, Colab, VS Code), the chart is also an
  `alt.JupyterChart` in offline mode: vega's JavaScript travels with the widget (vl-convert's bundle),
  never from a CDN, so tooltips work without a network. The frontend shows the widget, a viewer without
  widgets the PNG. Like every ipywidget, it shows "model not found" when a saved, trusted notebook is
  reopened in JupyterLab, until its cell runs again; ``SINKLAB_INTERACTIVE=0`` keeps PNGs only.

Altair's own renderers each fail somewhere: ``html`` (the default) loads vega from a CDN (blank
offline), ``mimetype`` writes a vega-lite v6 output that fails nbformat validation, ``svg`` shows as text
until the notebook is trusted, and ``jupyter`` stores no image.
"""

from __future__ import annotations

import altair as alt

from sinklab.errors import SinklabError

PNG_SCALE = 1.5
MAX_ROWS = 5000  # Altair's own default limit; aggregate before plotting
SPEC_METADATA = "sinklab/vega-lite"  # output metadata key holding the chart's Vega-Lite spec
CHART_TEXT = "<Altair chart: sinklab shows it as a PNG, or as an interactive chart in a live kernel>"


def to_png(chart: alt.TopLevelMixin) -> bytes:
    """The chart as PNG bytes (for saving, or for tests that check a chart really renders)."""
    return _png(chart.to_dict())


def _png(spec: dict) -> bytes:
    import vl_convert as vlc

    return vlc.vegalite_to_png(spec, scale=PNG_SCALE)


def _static_bundle(spec: dict, **_) -> tuple[dict, dict]:
    png = _png(spec)
    width = int.from_bytes(png[16:20], "big")  # from the PNG header; shown at 1/PNG_SCALE: sharp, not bigger
    # The spec rides in the output's metadata (ignored by every viewer): the course site (sinklab.course.site)
    # draws it again as an interactive chart, from the notebook `make test` executed.
    return {"image/png": png, "text/plain": CHART_TEXT}, {
        "image/png": {"width": round(width / PNG_SCALE)},
        SPEC_METADATA: spec,
    }


def _interactive_bundle(spec: dict, **_) -> tuple[dict, dict]:
    alt.JupyterChart.enable_offline()  # once per kernel (~2 s): bundle vega's JavaScript from vl-convert
    widget_data, widget_metadata = alt.JupyterChart(alt.Chart.from_dict(spec))._repr_mimebundle_()
    data, metadata = _static_bundle(spec)
    return {**widget_data, **data}, {**widget_metadata, **metadata}


def enable_rendering(interactive: bool = False) -> str:
    """Show every chart as a PNG, plus an offline interactive chart if `interactive`; returns the renderer's name."""
    alt.renderers.register("sinklab", _interactive_bundle if interactive else _static_bundle)
    alt.renderers.enable("sinklab")
    return "sinklab"


def layer_head_heatmap(values, title: str, value_name: str = "first-token mass") -> alt.Chart:
    """Heatmap of a [layer, head] matrix (e.g. mean first-token mass per head), values in [0, 1]."""
    import pandas as pd

    rows = [
        {"layer": layer, "head": head, value_name: float(v)}
        for layer, row in enumerate(values.tolist())
        for head, v in enumerate(row)
    ]
    return (
        alt.Chart(pd.DataFrame(rows), title=title)
        .mark_rect()
        .encode(
            x=alt.X("head:O", title="head"),
            y=alt.Y("layer:O", title="layer", sort="descending"),
            color=alt.Color(f"{value_name}:Q", scale=alt.Scale(domain=[0, 1], scheme="viridis")),
            tooltip=["layer", "head", alt.Tooltip(f"{value_name}:Q", format=".3f")],
        )
        .properties(width=alt.Step(28), height=alt.Step(28))
    )


def attention_heatmaps(patterns, tokens: list[str], title: str, columns: int = 4) -> alt.Chart:
    """One heatmap per head of a [head, q, k] attention pattern, queries down, keys across."""
    import pandas as pd

    n_heads, length, _ = patterns.shape
    cells = n_heads * length * (length + 1) // 2  # the causal lower triangle of every head
    if cells > MAX_ROWS:
        raise SinklabError(
            f"{n_heads} heads x {length} tokens make {cells} cells, over Altair's {MAX_ROWS}. "
            "Fix: pass fewer heads or a shorter prompt."
        )
    labels = [f"{i}:{t}" for i, t in enumerate(tokens)]
    rows = [
        {"head": h, "query": labels[q], "key": labels[k], "weight": float(patterns[h, q, k])}
        for h in range(n_heads)
        for q in range(length)
        for k in range(q + 1)
    ]
    return (
        alt.Chart(pd.DataFrame(rows))
        .mark_rect()
        .encode(
            x=alt.X("key:N", sort=labels, title="key (attended to)", axis=alt.Axis(labelAngle=-60)),
            y=alt.Y("query:N", sort=labels, title="query"),
            color=alt.Color("weight:Q", scale=alt.Scale(domain=[0, 1], scheme="viridis")),
            tooltip=["query", "key", alt.Tooltip("weight:Q", format=".3f")],
        )
        .properties(width=alt.Step(12), height=alt.Step(12))
        .facet(facet=alt.Facet("head:O", title=title), columns=columns)
    )


def lines(series: dict[str, list[float]], x_title: str, y_title: str, title: str, log_y: bool = False) -> alt.Chart:
    """Line chart of named series sharing an x axis 0, 1, 2, … (see `step_lines` for other x values)."""
    indexed = {name: (list(range(len(values))), values) for name, values in series.items()}
    return step_lines(indexed, y_title=y_title, title=title, x_title=x_title, log_y=log_y)


def bars(values: dict[str, float], x_title: str, title: str) -> alt.Chart:
    """Horizontal bars, one per named value."""
    import pandas as pd

    frame = pd.DataFrame({"name": list(values), "value": [float(v) for v in values.values()]})
    return (
        alt.Chart(frame, title=title)
        .mark_bar()
        .encode(
            x=alt.X("value:Q", title=x_title),
            y=alt.Y("name:N", title=None, sort=None),
            tooltip=["name", alt.Tooltip("value:Q", format=".3f")],
        )
        .properties(width=360)
    )


# ---------------------------------------------------------------- chapter 3: measuring sinks on real LLMs

_PUBLISHED_FAMILY = {"GPT2": "gpt2", "Mistral": "mistral", "LLaMA": "llama", "Llama": "llama"}


def sink_rate_chart(measured, published, x: str = "params") -> alt.FacetChart:
    """Sink rate (fractions, shown as %) against parameters (log scale) or depth, one panel per ε: measured points and
    published ones (labelled with their source and provenance).

    measured: the sweep's table (`sinklab.analysis.sweep.run_sweep(...).table`, one prompt kind); published: a list of
    `sinklab.analysis.published.Published` sink-rate points. x: "params" or "layers".
    """
    import pandas as pd

    if x not in ("params", "layers"):
        raise SinklabError(f"x must be 'params' or 'layers', got {x!r}.")
    rows = [
        {
            "model": r["model"].split("/")[-1],
            "family": r["family"],
            "params (M)": r["params_m"],
            "layers": r["n_layers"],
            "ε": f"ε = {r['eps']:g}",
            "sink rate": r["sink_rate"],
            "source": "measured on this machine",
        }
        for _, r in measured.iterrows()
    ]
    for p in published:
        family = next((f for prefix, f in _PUBLISHED_FAMILY.items() if p.model.startswith(prefix)), p.model)
        rows.append(
            {
                "model": p.model,
                "family": family,
                "params (M)": 1000 * p.params_b,
                "layers": p.n_layers,
                "ε": f"ε = {p.eps:g}",
                "sink rate": p.value,
                "source": f"published: {p.source} {p.provenance}",
            }
        )
    frame = pd.DataFrame(rows)
    x_encoding = (
        alt.X("params (M):Q", scale=alt.Scale(type="log"), title="parameters (millions, log scale)")
        if x == "params"
        else alt.X("layers:Q", title="layers")
    )
    base = alt.Chart(frame).encode(
        x=x_encoding,
        y=alt.Y("sink rate:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
        color=alt.Color("family:N"),
        tooltip=[
            "model",
            "family",
            "source",
            alt.Tooltip("params (M):Q", format=",.0f"),
            "layers",
            alt.Tooltip("sink rate:Q", format=".1%"),
        ],
    )
    points = base.mark_point(size=90, filled=True).encode(
        shape=alt.Shape("source:N", legend=alt.Legend(orient="bottom", direction="vertical", labelLimit=500))
    )
    labels = base.mark_text(align="left", dx=7, dy=-6, fontSize=9).encode(text="model:N")
    return (
        alt.layer(points, labels, data=frame)
        .properties(width=300, height=240)
        .facet(column=alt.Column("ε:N", title=None))
    )


def position_bins(length: int, per_octave: int = 4) -> list[tuple[int, int]]:
    """Query positions 1 … length − 1 cut into bins of geometric width (``per_octave`` bins per doubling)."""
    import math

    edges = sorted({round(2 ** (i / per_octave)) for i in range(int(per_octave * math.log2(length)) + 1)} | {length})
    return [(lo, hi) for lo, hi in zip(edges, edges[1:]) if lo < hi]


def _reference_marks(reference: dict, x: str, y: str) -> alt.LayerChart:
    """Published points ``{label: (x, y)}`` as black diamonds with their label: an overlay on a measured chart."""
    import pandas as pd

    frame = pd.DataFrame([{x: float(px), y: float(py), "published": label} for label, (px, py) in reference.items()])
    base = alt.Chart(frame).encode(x=f"{x}:Q", y=f"{y}:Q", tooltip=["published", f"{y}:Q"])
    return alt.layer(
        base.mark_point(shape="diamond", size=120, filled=True, color="black"),
        base.mark_text(align="right", dx=-8, dy=-8, fontSize=9, color="black").encode(text="published:N"),
    )


def first_mass_by_position(mass, title: str, reference: dict | None = None) -> alt.Chart:
    """Mean first-token mass against query position (log scale), one line per layer.

    mass: ``[layer, T]`` (e.g. ``report.first_mass_by_position().mean(1)``: heads averaged). Positions are
    averaged in geometric bins so that long contexts stay under Altair's row limit; position 0 (whose
    mass is 1 by the causal mask) is left out. reference: published points ``{label: (position, mass)}``,
    drawn as labelled black diamonds.
    """
    import pandas as pd

    rows = [
        {"layer": layer, "position": (lo + hi - 1) / 2, "first-token mass": float(row[lo:hi].mean())}
        for layer, row in enumerate(mass)
        for lo, hi in position_bins(mass.shape[-1])
    ]
    chart = _first_mass_lines(pd.DataFrame(rows), title)
    return alt.layer(chart, _reference_marks(reference, "position", "first-token mass")) if reference else chart


def _first_mass_lines(frame, title: str) -> alt.Chart:
    return (
        alt.Chart(frame, title=title)
        .mark_line()
        .encode(
            x=alt.X("position:Q", scale=alt.Scale(type="log"), title="query position (log scale)"),
            y=alt.Y("first-token mass:Q", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("layer:Q", scale=alt.Scale(scheme="viridis"), legend=alt.Legend(format="d")),
            detail="layer:N",
            tooltip=["layer", alt.Tooltip("position:Q", format=".0f"), alt.Tooltip("first-token mass:Q", format=".3f")],
        )
        .properties(width=420, height=240)
    )


def streaming_chart(table, title: str, published: str = "") -> alt.LayerChart:
    """StreamingLLM perplexity against the window size, one line per number of initial tokens kept, and
    full attention as a dashed rule. table: `sinklab.analysis.streaming.compare`'s DataFrame. published: a line
    with the paper's numbers, shown under the title (their perplexities are on another model and text)."""
    full = table[table["initial tokens kept"] == "full attention"]
    windows = table[table["initial tokens kept"] != "full attention"]
    subtitle = ["dashed: full attention (measured on this machine)"] + ([published] if published else [])
    lines = (
        alt.Chart(windows, title=alt.TitleParams(title, subtitle=subtitle))
        .mark_line(point=True)
        .encode(
            x=alt.X(
                "window:Q",
                scale=alt.Scale(type="log", base=2),
                title="window (tokens, log scale)",
                axis=alt.Axis(values=sorted(windows["window"].unique().tolist())),
            ),
            y=alt.Y("perplexity:Q", scale=alt.Scale(type="log", nice=False), title="perplexity (log scale)"),
            color=alt.Color("initial tokens kept:N"),
            tooltip=["window", "initial tokens kept", alt.Tooltip("perplexity:Q", format=".2f")],
        )
    )
    rule = (
        alt.Chart(full)
        .mark_rule(strokeDash=[4, 4], color="gray")
        .encode(y="perplexity:Q", tooltip=[alt.Tooltip("perplexity:Q", format=".2f", title="full attention")])
    )
    return alt.layer(lines, rule).properties(width=420, height=240)


def checkpoint_chart(table, title: str, reference: tuple[str, float] | None = None) -> alt.Chart:
    """Sink rate (a fraction, shown as %) against the training step (symlog scale), one line per ε. table:
    `sweep.checkpoint_sweep`'s. reference: ``(label, step)`` of a published onset, drawn as a labelled rule."""
    frame = table.assign(ε=table["eps"].map(lambda e: f"ε = {e:g}"))
    chart = _checkpoint_lines(frame, title)
    if reference is None:
        return chart
    import pandas as pd

    mark = pd.DataFrame({"step": [reference[1]], "published": [reference[0]]})
    rule = alt.Chart(mark).mark_rule(color="black", strokeDash=[2, 2]).encode(x="step:Q", tooltip=["published"])
    label = alt.Chart(mark).mark_text(align="left", dx=4, y=8, fontSize=9).encode(x="step:Q", text="published:N")
    return alt.layer(chart, rule, label)


def _checkpoint_lines(frame, title: str) -> alt.Chart:
    return (
        alt.Chart(frame, title=title)
        .mark_line(point=True)
        .encode(
            x=alt.X("step:Q", scale=alt.Scale(type="symlog"), title="training step (symlog scale)"),
            y=alt.Y("sink_rate:Q", title="sink rate", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
            color="ε:N",
            tooltip=["step", alt.Tooltip("tokens seen:Q", format=".3s"), "ε", alt.Tooltip("sink_rate:Q", format=".1%")],
        )
        .properties(width=420, height=240)
    )


def kind_bars(table, title: str) -> alt.FacetChart:
    """Sink rate (a fraction, shown as %) per prompt kind, one panel per model.

    table: rows of the sweep's table at one ε (rows labelled "published: …" may be added as another panel)."""
    frame = table.assign(model=table["model"].map(lambda name: name.split("/")[-1]))
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("sink_rate:Q", title="sink rate", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
            y=alt.Y("kind:N", title=None, sort=None),
            color=alt.Color("kind:N", legend=None),
            tooltip=["model", "kind", "first token", alt.Tooltip("sink_rate:Q", format=".1%")],
        )
        .properties(width=260, height=alt.Step(16))
        .facet(facet=alt.Facet("model:N", title=title), columns=3)
    )


# ---------------------------------------------------------------- line charts (training curves, per-layer series)


def step_lines(
    series: dict[str, tuple[list[float], list[float]]],
    y_title: str,
    title: str,
    x_title: str = "training step",
    log_y: bool = False,
) -> alt.Chart:
    """Line chart of named ``(steps, values)`` series whose x values may differ (e.g. probes every N steps).

    log_y: a symmetric-log y axis (log-like for large values; zeros and negatives still drawable)."""
    import pandas as pd

    rows = [
        {"step": float(x), "series": name, "y": float(y)} for name, (xs, ys) in series.items() for x, y in zip(xs, ys)
    ]
    if len(rows) > MAX_ROWS:
        raise SinklabError(
            f"{len(rows)} points are over Altair's {MAX_ROWS}. Fix: average the series into fewer "
            "points first (e.g. sinklab.analysis.experiments.curve(history, key, max_points=200))."
        )
    scale = alt.Scale(type="symlog") if log_y else alt.Scale(zero=False)  # symlog: zeros stay drawable
    return (
        alt.Chart(pd.DataFrame(rows), title=title)
        .mark_line(point=True)
        .encode(
            x=alt.X("step:Q", title=x_title),
            y=alt.Y("y:Q", title=y_title, scale=scale),
            color=alt.Color("series:N", title=None, sort=list(series)),
            tooltip=["series", alt.Tooltip("step:Q", format=".0f", title=x_title), alt.Tooltip("y:Q", format=".3f")],
        )
        .properties(width=420, height=220)
    )
