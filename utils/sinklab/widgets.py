"""ipywidgets explorers, each a thin wrapper over a pure `compute_*` function that the tests cover.

Which one you get — the rule, in one place (`wants_widget`):

- ``SINKLAB_INTERACTIVE=1`` or ``0``, when set, decides (e.g. a live JupyterLab on the ``ci`` profile);
- else the interactive widget when the code runs in a Jupyter kernel a person can be looking at
  (`env.frontend()` is "jupyter", "colab" or "vscode") and the profile is not ``ci``;
- otherwise a static Altair chart: in CI and nbval (they run with ``SINKLAB_PROFILE=ci``), in
  scripts and in tests. A notebook executed headless therefore stores a picture, which GitHub,
  nbviewer and an offline JupyterLab all show, instead of a widget that shows nothing there.

The same rule makes charts interactive (`plots.enable_rendering`, called by the setup cell).
Pass ``interactive=True`` or ``False`` to override it for one explorer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import altair as alt
import torch

from sinklab import env, plots

SINK_SCORES = torch.linspace(-4, 10, 57)  # the sink-score axis of the explorer's curve
STATIC_VALUE_NORMS = (0.0, 0.5, 1.0, 2.0)  # the curves the static chart shows


def wants_widget(interactive: bool | None = None) -> bool:
    """Show an interactive widget (True) or a static chart (False)? See the module docstring for the rule."""
    if interactive is not None:
        return interactive
    if os.environ.get("SINKLAB_INTERACTIVE") in ("0", "1"):
        return os.environ["SINKLAB_INTERACTIVE"] == "1"
    return env.frontend() in ("jupyter", "colab", "vscode") and env.profile().name != "ci"


# ---------------------------------------------------------------- the sink explorer (chapter 1)


@dataclass(frozen=True)
class ToyHead:
    """A head with nothing to do: similar scores for all content keys.

    scores [n], values [n, d], sink_direction [d] (unit norm: the direction of the sink's value).
    """

    scores: torch.Tensor
    values: torch.Tensor
    sink_direction: torch.Tensor


def toy_head(n_keys: int = 6, head_dim: int = 8, seed: int = 0) -> ToyHead:
    """Scores near 0 for `n_keys` content keys, values of norm ≈ 1, a unit direction for the sink's value."""
    generator = torch.Generator().manual_seed(seed)
    scores = 0.3 * torch.randn(n_keys, generator=generator)
    values = torch.randn(n_keys, head_dim, generator=generator) / head_dim**0.5
    direction = torch.randn(head_dim, generator=generator)
    return ToyHead(scores, values, direction / direction.norm())


@dataclass(frozen=True)
class SinkExplorerState:
    """What one query's attention does with a sink key in front of the content keys."""

    weights: torch.Tensor  # [1 + n]: the sink first, then the content keys; sums to one
    output: torch.Tensor  # [d]: Σ_j weight_j · value_j
    output_norm: float
    sink_weight: float
    no_sink_output_norm: float  # the output norm with the content keys alone


def compute_sink_explorer(sink_score: float, sink_value_norm: float, head: ToyHead | None = None) -> SinkExplorerState:
    """Attention of one query over [sink, content keys]; the sink's value is sink_value_norm · sink_direction.

    Defined in chapter 1, Interactive Demo 1.
    """
    head = head or toy_head()
    scores = torch.cat([torch.tensor([float(sink_score)]), head.scores])  # [1 + n]
    values = torch.cat([sink_value_norm * head.sink_direction[None], head.values])  # [1 + n, d]
    weights = torch.softmax(scores, dim=-1)
    output = weights @ values
    no_sink_output = torch.softmax(head.scores, dim=-1) @ head.values
    return SinkExplorerState(
        weights=weights, output=output, output_norm=output.norm().item(), sink_weight=weights[0].item(),
        no_sink_output_norm=no_sink_output.norm().item(),
    )


def sink_explorer_chart(
    sink_score: float, sink_value_norm: float, curve_norms=None, head: ToyHead | None = None
) -> alt.HConcatChart:
    """Left: the attention weights at (sink_score, sink_value_norm). Right: output norm against sink score,
    one line per sink value norm in `curve_norms` (default: just `sink_value_norm`), the current point marked."""
    import pandas as pd

    head = head or toy_head()
    state = compute_sink_explorer(sink_score, sink_value_norm, head)
    n_keys = len(head.scores)
    keys = ["sink"] + [f"k{j + 1}" for j in range(n_keys)]
    bars = pd.DataFrame({"key": keys, "weight": state.weights.tolist(), "kind": ["sink"] + ["content"] * n_keys})
    curves = pd.DataFrame([
        {"sink_score": s, "output_norm": compute_sink_explorer(s, n, head).output_norm, "value_norm": f"{n:g}"}
        for n in (curve_norms or [sink_value_norm]) for s in SINK_SCORES.tolist()
    ])
    weight_bars = (
        alt.Chart(bars, title=f"Attention weights (sink score {sink_score:g}, sink ‖v‖ {sink_value_norm:g})")
        .mark_bar()
        .encode(
            x=alt.X("key:N", sort=keys, title="key"),
            y=alt.Y("weight:Q", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("kind:N", scale=alt.Scale(domain=["sink", "content"], range=["#d62728", "#1f77b4"]),
                            legend=None),
            tooltip=["key", alt.Tooltip("weight:Q", format=".3f")],
        )
        .properties(width=220, height=220)
    )
    lines = (
        alt.Chart(curves, title="Output norm against sink score (dashed: no sink)")
        .mark_line()
        .encode(
            x=alt.X("sink_score:Q", title="sink score"),
            y=alt.Y("output_norm:Q", title="output norm"),
            color=alt.Color("value_norm:N", sort=None, title="sink ‖v‖"),
        )
    )
    no_sink = (
        alt.Chart(pd.DataFrame({"output_norm": [state.no_sink_output_norm]}))
        .mark_rule(strokeDash=[4, 4])
        .encode(y="output_norm:Q")
    )
    here = (
        alt.Chart(pd.DataFrame({"sink_score": [sink_score], "output_norm": [state.output_norm]}))
        .mark_point(size=80, filled=True, color="black")
        .encode(x="sink_score:Q", y="output_norm:Q")
    )
    curve_panel = (lines + no_sink + here).properties(width=300, height=220)
    return alt.hconcat(weight_bars, curve_panel).resolve_scale(color="independent")


def sink_explorer(interactive: bool | None = None, sink_score: float = 2.0, sink_value_norm: float = 0.1):
    """Sliders for the sink's score and value norm over `sink_explorer_chart`, or the static chart with
    several value norms (which one: see `wants_widget`). Defined in chapter 1, Interactive Demo 1."""
    if not wants_widget(interactive):
        curve_norms = sorted({sink_value_norm, *STATIC_VALUE_NORMS})
        return sink_explorer_chart(sink_score, sink_value_norm, curve_norms=curve_norms)
    import ipywidgets as widgets

    score = widgets.FloatSlider(value=sink_score, min=-4, max=10, step=0.25, description="sink score",
                                continuous_update=False)
    norm = widgets.FloatSlider(value=sink_value_norm, min=0, max=3, step=0.05, description="sink ‖v‖",
                               continuous_update=False)
    readout = widgets.HTML()
    picture = widgets.Image(format="png")

    def redraw(_change=None) -> None:
        state = compute_sink_explorer(score.value, norm.value)
        readout.value = (f"sink weight <b>{state.sink_weight:.2f}</b> · output norm <b>{state.output_norm:.3f}</b> "
                         f"(content keys alone: {state.no_sink_output_norm:.3f})")
        picture.value = plots.to_png(sink_explorer_chart(score.value, norm.value))

    score.observe(redraw, names="value")
    norm.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([score, norm]), readout, picture])


# ---------------------------------------------------------------- the pattern explorer (chapter 2)

MAX_EXPLORER_TOKENS = 40  # a [T, T] heatmap stays readable (and under Altair's row limit)


@dataclass(frozen=True)
class PatternView:
    """One head's attention pattern on a prompt."""

    tokens: list[str]
    pattern: torch.Tensor  # [T, T]: queries down, keys across
    first_mass: float  # mean attention on token 0 over all queries


def compute_pattern_explorer(model, tokenizer, prompt: str, layer: int, head: int) -> PatternView:
    """The pattern of (layer, head) on `prompt` (cut to MAX_EXPLORER_TOKENS). Defined in chapter 2."""
    from sinklab import measure

    ids = tokenizer(prompt, return_tensors="pt")["input_ids"][:, :MAX_EXPLORER_TOKENS].to(model.device)
    pattern = measure.attention_patterns(model, ids, layers=[layer], heads=[head])[0, 0, 0]
    return PatternView(tokenizer.convert_ids_to_tokens(ids[0]), pattern, pattern[:, 0].mean().item())


def pattern_chart(view: PatternView, layer: int, head: int) -> alt.Chart:
    title = f"layer {layer}, head {head}: mean attention on token 0 = {view.first_mass:.2f}"
    return plots.attention_heatmaps(view.pattern[None], view.tokens, title=title, columns=1)


def pattern_explorer(model, tokenizer, prompt: str, interactive: bool | None = None):
    """A text box and layer/head sliders over `pattern_chart`, or the static chart of the last layer's
    first head (which one: see `wants_widget`). Defined in chapter 2, Interactive demo."""
    config = model.config.get_text_config()
    last_layer = config.num_hidden_layers - 1
    if not wants_widget(interactive):
        return pattern_chart(compute_pattern_explorer(model, tokenizer, prompt, last_layer, 0), last_layer, 0)
    import ipywidgets as widgets

    text = widgets.Text(value=prompt, description="prompt", continuous_update=False,
                        layout=widgets.Layout(width="600px"))
    layer = widgets.IntSlider(value=last_layer, min=0, max=last_layer, description="layer", continuous_update=False)
    head = widgets.IntSlider(value=0, min=0, max=config.num_attention_heads - 1, description="head",
                             continuous_update=False)
    picture = widgets.Image(format="png")

    def redraw(_change=None) -> None:
        view = compute_pattern_explorer(model, tokenizer, text.value, layer.value, head.value)
        picture.value = plots.to_png(pattern_chart(view, layer.value, head.value))

    for control in (text, layer, head):
        control.observe(redraw, names="value")
    redraw()
    return widgets.VBox([text, widgets.HBox([layer, head]), picture])


# ---------------------------------------------------------------- the over-mixing explorer (chapter 5)

STATIC_SINKS = (0.0, 0.5, 0.9)  # the sink strengths the static over-mixing chart compares


@dataclass(frozen=True)
class OverMixingState:
    """The chapter-5 toy stack (`theory.ToyStack`, residual stream on) at one depth, length and sink strength."""

    rank_one: torch.Tensor  # [depth + 1]: distance of the tokens to rank one, before and after each layer
    sensitivity: torch.Tensor  # [T]: ‖∂h_last / ∂x_i‖_F after the last layer, per source token i
    bound: torch.Tensor  # [T]: the path-product bound √D · P[last, i] with the attention frozen
    mixing: float  # share of the last token's sensitivity that comes from the other tokens


def compute_over_mixing(depth: int, n_tokens: int, sink: float, seed: int = 0) -> OverMixingState:
    """Run the toy stack with a zero-value sink of mass `sink`; measure mixing and sensitivity of the last token.

    Defined in chapter 5, Interactive Demo.
    """
    from sinklab import theory

    stack = theory.toy_stack(depth, seed=seed)
    x = theory.toy_tokens(n_tokens, seed=seed + 1)
    hidden, attns = stack.run(x, sink=sink)
    sensitivity = theory.jacobian_norm_map(lambda tokens: stack.run(tokens, sink=sink)[0], x, n_tokens - 1)[-1]
    bound = x.shape[-1] ** 0.5 * theory.path_products((1 - sink) * attns)[-1, -1]
    return OverMixingState(
        rank_one=theory.rank_one_distance(hidden), sensitivity=sensitivity, bound=bound,
        mixing=(sensitivity[:-1].sum() / sensitivity.sum()).item(),
    )


def over_mixing_chart(depth: int, n_tokens: int, sinks=STATIC_SINKS) -> alt.HConcatChart:
    """Left: distance to rank one against depth. Right: the last token's sensitivity to each source token
    (solid) and the path-product bound (dashed), log scale. One colour per sink strength in `sinks`."""
    import pandas as pd

    states = {sink: compute_over_mixing(depth, n_tokens, sink) for sink in sinks}
    collapse = pd.DataFrame([{"layer": layer, "distance": d, "sink": f"{sink:g}"}
                             for sink, state in states.items() for layer, d in enumerate(state.rank_one.tolist())])
    sensitivity = pd.DataFrame([
        {"source": i, "norm": value, "sink": f"{sink:g}", "curve": curve}
        for sink, state in states.items()
        for curve, values in (("measured", state.sensitivity), ("bound", state.bound))
        for i, value in enumerate(values.tolist())
    ])
    color = alt.Color("sink:N", sort=None, title="sink mass")
    left = (
        alt.Chart(collapse, title="Distance to rank one (residual stream on)")
        .mark_line(point=True)
        .encode(x=alt.X("layer:Q", title="layer"), y=alt.Y("distance:Q", title="‖X − 1x̄ᵀ‖ / ‖X‖"), color=color,
                tooltip=["sink", "layer", alt.Tooltip("distance:Q", format=".3f")])
        .properties(width=260, height=220)
    )
    right = (
        alt.Chart(sensitivity, title=f"Sensitivity of token {n_tokens - 1} after {depth} layers")
        .mark_line()
        .encode(
            x=alt.X("source:Q", title="source position i", scale=alt.Scale(domain=[0, n_tokens - 1], nice=False)),
            y=alt.Y("norm:Q", title="‖∂h_last / ∂x_i‖ (dashed: bound)", scale=alt.Scale(type="log")),
            color=color, strokeDash=alt.StrokeDash("curve:N", sort=["measured", "bound"], legend=None),
            tooltip=["sink", "curve", "source", alt.Tooltip("norm:Q", format=".3g")],
        )
        .properties(width=300, height=220)
    )
    return alt.hconcat(left, right)


def over_mixing_explorer(interactive: bool | None = None, depth: int = 6, n_tokens: int = 32, sink: float = 0.9):
    """Sliders for depth, context length and sink strength over `over_mixing_chart` (always compared with no
    sink), or the static chart for STATIC_SINKS (which one: see `wants_widget`). Defined in chapter 5."""
    if not wants_widget(interactive):
        return over_mixing_chart(depth, n_tokens, sorted({*STATIC_SINKS, sink}))
    import ipywidgets as widgets

    depth_slider = widgets.IntSlider(value=depth, min=1, max=12, description="depth", continuous_update=False)
    length_slider = widgets.IntSlider(value=n_tokens, min=4, max=64, step=4, description="context",
                                      continuous_update=False)
    sink_slider = widgets.FloatSlider(value=sink, min=0, max=0.99, step=0.01, description="sink mass",
                                      continuous_update=False)
    readout = widgets.HTML()
    picture = widgets.Image(format="png")

    def redraw(_change=None) -> None:
        state = compute_over_mixing(depth_slider.value, length_slider.value, sink_slider.value)
        readout.value = (f"share of the last token's sensitivity from other tokens: <b>{state.mixing:.2f}</b> · "
                         f"distance to rank one after the last layer: <b>{state.rank_one[-1].item():.3f}</b>")
        picture.value = plots.to_png(over_mixing_chart(depth_slider.value, length_slider.value,
                                                       sorted({0.0, sink_slider.value})))

    for control in (depth_slider, length_slider, sink_slider):
        control.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([depth_slider, length_slider, sink_slider]), readout, picture])


# ---------------------------------------------------------------- the circuit explorer (chapter 4)

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


def compute_circuit_ablation(model, tokenizer, ablation: str, position: int, block: int = 0, n: int = 4,
                             seq_len: int = 64, seed: int = 0) -> CircuitAblation:
    """Apply one of ABLATIONS to `n` natural prompts and measure Gu et al.'s Sink_0 and Sink_t per layer.

    "first token's state written into t" writes the first token's residual stream after `block` into
    position t of the prompts without their first token. Defined in chapter 4, Interactive demo.
    """
    from sinklab import circuit, measure, prompts
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
    return CircuitAblation(ablation, position, circuit.sink_rate_at(report, 0).tolist(),
                           circuit.sink_rate_at(report, position).tolist())


def circuit_chart(results: list[CircuitAblation], title: str) -> alt.HConcatChart:
    """Two panels, Sink_0 and Sink_t per layer, one line per ablation."""
    import pandas as pd

    rows = [{"layer": layer, "ablation": r.ablation, "key": key, "sink rate": value}
            for r in results
            for key, values in (("position 0", r.sink_first), (f"position t = {r.position}", r.sink_at))
            for layer, value in enumerate(values)]
    frame = pd.DataFrame(rows)
    panels = [
        alt.Chart(frame[frame["key"] == key], title=f"{title}: sink rate on {key}")
        .mark_line(point=True)
        .encode(x=alt.X("layer:O", title="layer"), y=alt.Y("sink rate:Q", scale=alt.Scale(domain=[0, 1])),
                color=alt.Color("ablation:N", sort=list(ABLATIONS), legend=alt.Legend(labelLimit=320)),
                tooltip=["ablation", "layer", alt.Tooltip("sink rate:Q", format=".2f")])
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
    menu = widgets.Dropdown(options=ABLATIONS, value="first token's state written into t", description="ablation",
                            layout=widgets.Layout(width="420px"))
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


# ---------------------------------------------------------------- the threshold explorer (chapter 3)

EPS_GRID = torch.linspace(0.05, 0.95, 19)  # the eps axis of the threshold explorer's curves
PUBLISHED_EPS = (0.3, 0.8)  # Gu et al. and Barbero et al.


def compute_sink_rates(importance: dict[str, torch.Tensor], eps: float) -> dict[str, float]:
    """Sink rate (%) at `eps` of every measured set of importance scores ``{label: [n, layer, head]}``."""
    from sinklab import metrics

    return {label: 100 * metrics.sink_rate(values, eps) for label, values in importance.items()}


def sink_rate_curves_chart(importance: dict[str, torch.Tensor], eps: float) -> alt.LayerChart:
    """Sink rate (%) against eps, one curve per label, with rules at the published thresholds and at `eps`."""
    import pandas as pd

    rows = [{"ε": e, "series": label, "sink rate (%)": rate}
            for e in EPS_GRID.tolist() for label, rate in compute_sink_rates(importance, e).items()]
    curves = (
        alt.Chart(pd.DataFrame(rows), title=f"Sink rate against the threshold (rule: ε = {eps:g})")
        .mark_line(point=True)
        .encode(x=alt.X("ε:Q", scale=alt.Scale(domain=[0, 1])), y=alt.Y("sink rate (%):Q", scale=alt.Scale(domain=[0, 100])),
                color=alt.Color("series:N", title=None, legend=alt.Legend(orient="bottom", columns=2)),
                tooltip=["series", alt.Tooltip("ε:Q", format=".2f"), alt.Tooltip("sink rate (%):Q", format=".1f")])
    )
    marks = pd.DataFrame({"ε": [*PUBLISHED_EPS, eps], "rule": ["published", "published", "yours"]})
    rules = alt.Chart(marks).mark_rule().encode(
        x="ε:Q", strokeDash=alt.StrokeDash("rule:N", legend=None), color=alt.value("gray"))
    return alt.layer(curves, rules).properties(width=420, height=260)


def sink_rate_explorer(importance: dict[str, torch.Tensor], eps: float = 0.3, interactive: bool | None = None):
    """An eps slider over `sink_rate_curves_chart` with a readout of every sink rate, or the static chart
    (which one: see `wants_widget`). Defined in chapter 3, Interactive demo."""
    if not wants_widget(interactive):
        return sink_rate_curves_chart(importance, eps)
    import ipywidgets as widgets

    slider = widgets.FloatSlider(value=eps, min=0.05, max=0.95, step=0.05, description="ε", continuous_update=False)
    readout = widgets.HTML()
    picture = widgets.Image(format="png")

    def redraw(_change=None) -> None:
        rates = compute_sink_rates(importance, slider.value)
        readout.value = " · ".join(f"{label}: <b>{rate:.1f} %</b>" for label, rate in rates.items())
        picture.value = plots.to_png(sink_rate_curves_chart(importance, slider.value))

    slider.observe(redraw, names="value")
    redraw()
    return widgets.VBox([slider, readout, picture])


# ---------------------------------------------------------------- the training explorer (chapter 6)


@dataclass(frozen=True)
class TrainingView:
    """One probe of a Bigram-Backcopy run (`sinklab.experiments.backcopy_probe`): where the head looked."""

    step: int
    pattern: torch.Tensor  # [T, T]: the last layer's head 0 on the first probe tokens
    other_mass: float
    trigger_mass: float
    copy_accuracy: float


def compute_training_explorer(history: list[dict], step: int) -> TrainingView:
    """The probe at `step`, or the last one before it. Defined in chapter 6, Interactive Demo."""
    probes = [h for h in history if "pattern" in h]
    entry = ([h for h in probes if h["step"] <= step] or probes[:1])[-1]
    return TrainingView(entry["step"], torch.tensor(entry["pattern"]), entry["other_mass"], entry["trigger_mass"],
                        entry["copy_accuracy"])


def training_chart(view: TrainingView, labels: list[str], name: str) -> alt.Chart:
    title = (f"{name}, step {view.step}: first-token mass {view.other_mass:.2f} (other queries), "
             f"{view.trigger_mass:.2f} (triggers); copy accuracy {view.copy_accuracy:.2f}")
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
