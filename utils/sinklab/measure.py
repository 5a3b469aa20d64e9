"""Sink statistics from any Hugging Face model in one call, without the T x T attention matrix.

    report = measure(model, tokenizer(texts, return_tensors="pt", padding=True))
    report.importance          # [batch, layer, head]: Gu et al.'s alpha_0, mean attention on the first token
    report.sink_rate           # {0.3: ..., 0.8: ...}: fraction of (sample, layer, head) with alpha_0 > eps
    report.mean_first_mass()   # [layer, head], averaged over the batch (for a heatmap)

    with sink_stats(model) as recorder:       # inside your own loops, or around model.generate(...)
        model.generate(**batch, max_new_tokens=5)
    recorder.reports                          # one SinkReport per forward call

How it works (`sinklab.sinkattention`): a function registered in transformers' AttentionInterface
computes each layer's output with a fused kernel that also returns every query's log-sum-exp, so
the first-token mass p_i0 = exp(s_i0 - LSE_i) costs one dot product per query (tier 1, always on).
Top-k mass, entropy and attention received per key come from an opt-in exact pass over blocks of
queries (tier 2). Models whose attention bypasses the interface (BLOOM, Falcon, MPT) are measured by
forward hooks on their eager attention modules, which reduce the weights at once and keep nothing
(``method="hooks"``). Encoders such as BERT are supported: attention is bidirectional, every real
query sees the first token ([CLS]).

"First token" means each row's first real token: with left padding it is not position 0.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from transformers import PreTrainedModel
from transformers.masking_utils import causal_mask_function

from sinklab import metrics
from sinklab.errors import SinklabError
from sinklab.sinkattention import (
    COLLECTOR_KWARG,
    NAME,
    LayerStats,
    LazyMask,
    Options,
    register,
    statistics_from_weights,
)

STATS = ("first", "topk", "entropy", "received", "hidden")
METHODS = ("auto", "interface", "hooks")
DEFAULT_EPS = (0.3, 0.8)


@dataclass
class SinkReport:
    """Sink statistics of one forward pass; small tensors only (never T x T), on the CPU.

    Shapes: B samples, L attention layers, H query heads, Hkv key/value heads, T query tokens of the
    call (the prompt length for `measure`), Tk keys (T plus any cached tokens). Statistics of pad
    queries are 0; use ``query_mask`` or ``first_visible`` to leave them out.
    """

    method: str  # "interface" (AttentionInterface) or "hooks" (eager attention modules)
    kernels: list[str]  # per layer, what gave the LSE: "cpu_flash", "cuda_efficient", "chunked" or "eager_weights"
    layer_types: list[str]  # per layer: "full_attention", "sliding_attention" or "bidirectional"
    windows: list[int | None]  # per layer: sliding window (keys a query sees, itself included) or None
    eps: tuple[float, ...]
    topk: int
    first_index: torch.Tensor  # [B] long: position of each row's first real token, "the first token"
    query_mask: torch.Tensor  # [B, T] bool: real (non-pad) query tokens
    first_visible: torch.Tensor  # [B, L, T] bool: real query that can see the first token (not beyond a window)
    first_mass: torch.Tensor  # [B, L, H, T]: attention each query puts on the first token
    importance: torch.Tensor  # [B, L, H]: Gu et al.'s alpha_0, first_mass averaged over first_visible queries
    sink_rate: dict[float, float]  # eps -> fraction of (sample, layer, head) with importance > eps
    learned_sink_mass: torch.Tensor | None = None  # [B, L, H, T]: mass on gpt-oss's learned sink logit
    key_norm_first: torch.Tensor | None = None  # [B, L, Hkv]: L2 norm of the first token's key
    key_norm_rest: torch.Tensor | None = None  # [B, L, Hkv]: mean key norm of the other real tokens
    value_norm_first: torch.Tensor | None = None  # [B, L, Hkv]
    value_norm_rest: torch.Tensor | None = None  # [B, L, Hkv]
    topk_mass: torch.Tensor | None = None  # [B, L, H, T]: mass on each query's `topk` largest weights (tier 2)
    entropy: torch.Tensor | None = None  # [B, L, H, T]: entropy of each query's attention, nats (tier 2)
    received: torch.Tensor | None = None  # [B, L, H, Tk]: Gu's alpha_k for every key (tier 2)
    hidden_norm_first: torch.Tensor | None = None  # [B, L+1]: residual-stream norm of the first token, per block
    hidden_norm_rest: torch.Tensor | None = None  # [B, L+1]: mean norm of the other real tokens
    hidden_max_abs: torch.Tensor | None = None  # [B, L+1]: largest |activation| (real tokens)
    hidden_median_abs: torch.Tensor | None = None  # [B, L+1]: median |activation| (real tokens)

    def mean_first_mass(self) -> torch.Tensor:
        """``[L, H]``: first-token importance averaged over the batch (the usual layer x head heatmap)."""
        return self.importance.mean(0)

    def first_mass_by_position(self) -> torch.Tensor:
        """``[L, H, T]``: mean first-token mass per query position over the rows where it is visible."""
        visible = self.first_visible[:, :, None, :]
        return metrics.masked_mean(self.first_mass, visible.expand_as(self.first_mass), dim=0)

    def rate(self, eps: float) -> float:
        """Sink rate at any eps (Gu et al.): fraction of (sample, layer, head) with importance > eps."""
        return metrics.sink_rate(self.importance, eps)

    def layer_sink_rate(self, eps: float) -> torch.Tensor:
        """``[L]``: per layer, fraction of (sample, head) with importance > eps."""
        return (self.importance > metrics.validate_eps(eps)).float().mean((0, 2))

    def massive(
        self, magnitude: float = metrics.MASSIVE_MAGNITUDE, ratio: float = metrics.MASSIVE_RATIO
    ) -> torch.Tensor:
        """``[B, L+1]`` bool: the block's residual stream holds a massive activation (Sun et al. 2024)."""
        if self.hidden_max_abs is None:
            raise SinklabError(
                "This report has no hidden-state statistics. Fix: measure with stats=('first', 'hidden')."
            )
        return metrics.is_massive(self.hidden_max_abs, self.hidden_median_abs, magnitude, ratio)

    def to_dict(self) -> dict:
        """Plain JSON-ready data: tensors become {"dtype", "data"} with NaN written as null."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, torch.Tensor):
                out[f.name] = {"dtype": str(value.dtype).removeprefix("torch."), "data": _nan_to_none(value.tolist())}
            elif f.name == "sink_rate":
                out[f.name] = {str(eps): rate for eps, rate in value.items()}
            else:
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> SinkReport:
        """Inverse of `to_dict`."""
        values = {}
        for name, value in data.items():
            if isinstance(value, Mapping) and "dtype" in value:
                values[name] = torch.tensor(_none_to_nan(value["data"]), dtype=getattr(torch, value["dtype"]))
            elif name == "sink_rate":
                values[name] = {float(eps): rate for eps, rate in value.items()}
            elif name == "eps":
                values[name] = tuple(value)
            else:
                values[name] = value
        return cls(**values)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> SinkReport:
        return cls.from_dict(json.loads(text))

    def save(self, path: str | Path) -> Path:
        """Write the report as JSON; returns the path."""
        path = Path(path)
        path.write_text(self.to_json())
        return path

    @classmethod
    def load(cls, path: str | Path) -> SinkReport:
        return cls.from_json(Path(path).read_text())

    @classmethod
    def concat(cls, reports: Sequence[SinkReport]) -> SinkReport:
        """Join reports of batches with the same model and length along the batch axis."""
        first = reports[0]
        values = {}
        for f in fields(cls):
            value = getattr(first, f.name)
            if isinstance(value, torch.Tensor):
                values[f.name] = torch.cat([getattr(r, f.name) for r in reports])
            else:
                values[f.name] = value
        values["sink_rate"] = {eps: metrics.sink_rate(values["importance"], eps) for eps in first.eps}
        return cls(**values)


class CallCollector:
    """Statistics of one forward call, filled layer by layer (by the attention function or the hooks)."""

    def __init__(self, options: Options, padding: torch.Tensor | None):
        self.options = options
        self.padding = None if padding is None else padding.bool()  # [B, past + T], the call's attention_mask
        self.layers: list[LayerStats] = []
        self.hidden: list[torch.Tensor] = []  # per block: [B, 4] norm first, norm rest, max |h|, median |h|

    @property
    def layer_index(self) -> int:
        """Index of the next attention layer of this call."""
        return len(self.layers)

    def add_layer(self, stats: LayerStats) -> None:
        self.layers.append(stats)

    def query_padding(self, q_length: int) -> torch.Tensor | None:
        """Padding of this call's own tokens (the last ``q_length`` positions), ``[B, q_length]``."""
        return None if self.padding is None else self.padding[:, -q_length:]

    def causal_mask(self, batch: int, q_length: int, kv_length: int) -> LazyMask:
        """The causal mask (with this call's padding) of a layer whose module hides its mask: for the hooks."""
        padding = None if self.padding is None or bool(self.padding.all()) else self.padding
        return LazyMask(causal_mask_function, padding, batch, q_length, kv_length, kv_length - q_length, 0)


class SinkRecorder:
    """What `sink_stats` yields: one `SinkReport` per forward call of the model, in call order."""

    def __init__(self, options: Options, eps: tuple[float, ...], method: str):
        self.options, self.eps, self.method = options, eps, method
        self.reports: list[SinkReport] = []
        self.patterns: list[dict[int, torch.Tensor]] = []  # per call: layer -> [B, heads, T, Tk]
        self.active: CallCollector | None = None  # the call in progress

    @property
    def last(self) -> SinkReport:
        if not self.reports:
            raise SinklabError(
                "No forward call was measured yet. Fix: run the model inside the `with sink_stats(model)` block."
            )
        return self.reports[-1]

    def start_call(self, model, args, kwargs):
        """Forward pre-hook: check the inputs, open a collector, hand it to the attention layers as a kwarg."""
        _check_inputs(model, args, kwargs)
        self.active = CallCollector(self.options, kwargs.get("attention_mask"))
        if self.method == "interface":
            kwargs = {**kwargs, COLLECTOR_KWARG: self.active}
        return args, kwargs

    def end_call(self, model, args, kwargs, output) -> None:
        """Forward hook: turn the call's collector into a report."""
        collector, self.active = self.active, None
        self.reports.append(build_report(collector, self.method, self.eps))
        kept = {i: layer.pattern.cpu() for i, layer in enumerate(collector.layers) if layer.pattern is not None}
        self.patterns.append(kept)


@contextmanager
def sink_stats(
    model: PreTrainedModel,
    stats: Sequence[str] = ("first",),
    *,
    eps: Sequence[float] = DEFAULT_EPS,
    topk: int = 4,
    chunk_mb: float = 64.0,
    exact: bool = False,
    method: str = "auto",
    patterns: Mapping[int, Sequence[int]] | None = None,
) -> Iterator[SinkRecorder]:
    """Measure every forward call of ``model`` inside the block; yields a `SinkRecorder`.

    Works around your own loops and ``model.generate`` (one report per call: the prompt, then each
    new token). See `measure` for the arguments. The model's attention implementation is switched
    for the block and restored afterwards, also when the block raises.
    """
    options, eps, method = _options(model, stats, eps, topk, chunk_mb, exact, method, patterns)
    recorder = SinkRecorder(options, eps, method)
    handles = [
        model.register_forward_pre_hook(recorder.start_call, with_kwargs=True),
        model.register_forward_hook(recorder.end_call, with_kwargs=True),
    ]
    try:
        if method == "hooks":
            handles += _attention_hooks(model, recorder)
        if "hidden" in options.stats:
            handles += _hidden_state_hooks(model, recorder)
        with _attention_implementation(model, NAME if method == "interface" else "eager"):
            yield recorder
    finally:
        for handle in handles:
            handle.remove()


def measure(
    model: PreTrainedModel,
    inputs,
    stats: Sequence[str] = ("first",),
    *,
    eps: Sequence[float] = DEFAULT_EPS,
    topk: int = 4,
    chunk_mb: float = 64.0,
    exact: bool = False,
    method: str = "auto",
) -> SinkReport:
    """Measure attention-sink statistics of one forward pass; returns a `SinkReport`.

    inputs: a tokenizer's output (``input_ids``, ``attention_mask``, ...) or a tensor of token ids
        ``[T]`` or ``[B, T]``. Left or right padding both work; the first token of a row is its
        first real token.
    stats: "first" (tier 1, always on: first-token mass, importance, sink rate, learned-sink mass,
        key/value norms) plus any of "topk", "entropy", "received" (tier 2, an exact pass over
        blocks of queries: memory O(chunk_mb), compute like eager) and "hidden" (residual-stream
        norms and the largest activation per block, for massive activations).
    eps: sink thresholds for ``report.sink_rate``, each in (0, 1).
    topk: k of the top-k mass.
    chunk_mb: size of one fp32 block of scores in the chunked passes.
    exact: take each layer's output from the model's own eager attention (bit-for-bit the eager
        forward; for validation). Otherwise fused kernels compute it (equal to rounding).
    method: "interface" (transformers' AttentionInterface), "hooks" (forward hooks on eager
        attention modules, for BLOOM/Falcon/MPT) or "auto" (the interface where the model uses it).
    """
    batch = model_inputs(model, inputs)
    with torch.no_grad(), sink_stats(
        model, stats, eps=eps, topk=topk, chunk_mb=chunk_mb, exact=exact, method=method
    ) as recorder:
        model(**batch)
    return recorder.last


def attention_patterns(
    model: PreTrainedModel,
    inputs,
    layers: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
    *,
    max_mib: float = 256.0,
    method: str = "auto",
) -> torch.Tensor:
    """Exact full attention patterns of the requested layers and heads: ``[B, len(layers), len(heads), T, T]``.

    For heatmaps of short inputs. Computed block by block (or from eager weights with the hooks),
    keeping only what you ask for; refuses results larger than ``max_mib``.
    """
    config = model.config.get_text_config()
    layers = list(range(config.num_hidden_layers)) if layers is None else list(layers)
    heads = list(range(config.num_attention_heads)) if heads is None else list(heads)
    _check_indices("layer", layers, config.num_hidden_layers)
    _check_indices("head", heads, config.num_attention_heads)
    batch = model_inputs(model, inputs)
    n_rows, length = _batch_shape(batch)
    size_mib = n_rows * len(layers) * len(heads) * length**2 * 4 / 2**20
    if size_mib > max_mib:
        raise SinklabError(
            f"The requested patterns take {size_mib:.0f} MiB (batch {n_rows} x {len(layers)} layers x "
            f"{len(heads)} heads x {length}^2 floats), over max_mib={max_mib:g}. Fix: ask for fewer layers or "
            "heads, shorten the input, or use measure() for statistics that need no T x T matrix."
        )
    wanted = {layer: tuple(heads) for layer in layers}
    with torch.no_grad(), sink_stats(model, ("first",), method=method, patterns=wanted) as recorder:
        model(**batch)
    found = recorder.patterns[-1]
    return torch.stack([found[layer] for layer in layers], dim=1)


def build_report(collector: CallCollector, method: str, eps: tuple[float, ...]) -> SinkReport:
    """Stack the per-layer statistics of one call into a `SinkReport` (layers on axis 1)."""
    layers = collector.layers
    if not layers:
        raise SinklabError(
            "No attention layer reported statistics during the forward pass: the model has no attention "
            "layers (e.g. a state-space model such as Mamba), or its attention bypasses transformers' "
            "AttentionInterface. Fix: measure a transformer, or pass method='hooks' for models with eager "
            "attention modules that return their weights."
        )
    first_mass = _stack(layers, "first_mass")
    first_visible = _stack(layers, "first_visible")
    importance = metrics.masked_mean(first_mass, first_visible[:, :, None, :])
    n_rows, length = first_mass.shape[0], first_mass.shape[-1]
    query_mask = collector.query_padding(length)
    report = SinkReport(
        method=method,
        kernels=[layer.kernel for layer in layers],
        layer_types=[layer.layer_type for layer in layers],
        windows=[layer.window for layer in layers],
        eps=eps,
        topk=collector.options.topk,
        first_index=(
            torch.zeros(n_rows, dtype=torch.long) if collector.padding is None
            else metrics.first_token_index(collector.padding).long().cpu()
        ),
        query_mask=torch.ones(n_rows, length, dtype=torch.bool) if query_mask is None else query_mask.cpu(),
        first_visible=first_visible,
        first_mass=first_mass,
        importance=importance,
        sink_rate={e: metrics.sink_rate(importance, e) for e in eps},
        learned_sink_mass=_stack(layers, "learned_sink_mass"),
        topk_mass=_stack(layers, "topk_mass"),
        entropy=_stack(layers, "entropy"),
        received=_stack(layers, "received"),
    )
    if layers[0].key_norms is not None:
        report.key_norm_first, report.key_norm_rest = _stack_pairs([layer.key_norms for layer in layers])
        report.value_norm_first, report.value_norm_rest = _stack_pairs([layer.value_norms for layer in layers])
    if collector.hidden:
        hidden = torch.stack(collector.hidden, dim=1).cpu()  # [B, L+1, 4]
        report.hidden_norm_first, report.hidden_norm_rest = hidden[..., 0], hidden[..., 1]
        report.hidden_max_abs, report.hidden_median_abs = hidden[..., 2], hidden[..., 3]
    return report


def model_inputs(model: PreTrainedModel, inputs) -> dict:
    """Keyword arguments for ``model(**...)`` from a tokenizer's output or a tensor of ids, on the model's device."""
    _check_model(model)
    if isinstance(inputs, str) or (isinstance(inputs, Sequence) and inputs and isinstance(inputs[0], str)):
        raise SinklabError(
            "measure() takes token ids, not text. Fix: tokenize first, e.g. "
            "`batch = tokenizer(texts, return_tensors='pt', padding=True)` and pass `batch`."
        )
    if isinstance(inputs, Mapping):
        batch = dict(inputs)
    else:
        ids = torch.as_tensor(inputs, dtype=torch.long)
        batch = {"input_ids": ids[None] if ids.ndim == 1 else ids}
    return {k: v.to(model.device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def add_arguments(parser) -> None:
    """Arguments of `sinklab measure MODEL`."""
    parser.add_argument("model", help="hub id, local folder, or a name from sinklab.models.REGISTRY")
    parser.add_argument("--prompts", help="text file, one prompt per line (default: the course's natural paragraphs)")
    parser.add_argument("--seq-len", type=int, default=64, help="tokens per sample (Gu et al. use 64)")
    parser.add_argument("--samples", type=int, default=16, help="number of samples")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--eps", type=float, nargs="+", default=list(DEFAULT_EPS), help="sink thresholds in (0, 1)")
    parser.add_argument("--stats", nargs="+", default=["first"], choices=STATS, help="statistics to measure")
    parser.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--out", default="sinklab-measure", help="writes OUT.json (the report) and OUT.html (heatmap)")


def cli_main(args) -> int:
    """`sinklab measure MODEL`: layer x head table of first-token importance, sink rates, JSON and HTML chart."""
    from tqdm.auto import tqdm

    from sinklab import models, plots

    for e in args.eps:
        metrics.validate_eps(e)
    model, tokenizer = models.load_model(args.model, device=args.device)
    texts = sample_texts(_read_prompts(args.prompts), args.samples)
    reports = []
    for start in tqdm(range(0, len(texts), args.batch_size), desc=f"measuring {args.model}", unit="batch"):
        batch = tokenize(tokenizer, texts[start : start + args.batch_size], args.seq_len)
        reports.append(measure(model, batch, args.stats, eps=args.eps))
    report = SinkReport.concat(reports)
    print(format_head_table(report))
    for eps, rate in report.sink_rate.items():
        print(f"sink rate at eps={eps:g}: {100 * rate:.1f}% of (sample, layer, head)")
    json_path = report.save(f"{args.out}.json")
    chart = plots.layer_head_heatmap(report.mean_first_mass(), title=f"{args.model}: mean attention on the first token")
    chart.save(f"{args.out}.html", inline=True)
    print(f"wrote {json_path} and {args.out}.html")
    return 0


def sample_texts(prompts: Sequence[str], samples: int) -> list[str]:
    """``samples`` texts, each four consecutive prompts (cycling), so every sample is long enough to truncate."""
    if not prompts:
        raise SinklabError("The prompt set is empty. Fix: give a file with one prompt per line.")
    return [" ".join(prompts[(i + j) % len(prompts)] for j in range(4)) for i in range(samples)]


def tokenize(tokenizer, texts: Sequence[str], seq_len: int) -> dict:
    """Texts as a batch of exactly ``seq_len`` tokens, truncated or padded (BOS kept where the tokenizer adds one)."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer(
        list(texts), truncation=True, max_length=seq_len, padding="max_length", return_tensors="pt"
    )


def format_head_table(report: SinkReport) -> str:
    """Plain-text layer x head table of mean first-token importance (alpha_0)."""
    values = report.mean_first_mass()
    header = "layer " + " ".join(f"h{h:<4d}" for h in range(values.shape[1]))
    rows = [f"{layer:>5d} " + " ".join(f"{v:5.2f}" for v in row) for layer, row in enumerate(values.tolist())]
    return "\n".join(["mean attention on the first token (Gu et al.'s alpha_0), per layer and head:", header, *rows])


def _read_prompts(path: str | None) -> list[str]:
    if path is None:
        from sinklab.prompts import NATURAL

        return list(NATURAL)
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as e:
        raise SinklabError(f"Cannot read the prompt file {path}: {e.strerror}. Fix: check the path.") from e
    return [line.strip() for line in lines if line.strip()]


def _options(model, stats, eps, topk, chunk_mb, exact, method, patterns) -> tuple[Options, tuple[float, ...], str]:
    """Validate the arguments shared by `measure` and `sink_stats`; resolve method="auto"."""
    _check_model(model)
    _check_softmax(model)
    stats = frozenset(stats) | {"first"}
    unknown = stats - set(STATS)
    if unknown:
        raise SinklabError(f"Unknown statistics {sorted(unknown)}. Fix: choose from {', '.join(STATS)}.")
    if method not in METHODS:
        raise SinklabError(f"Unknown method {method!r}. Fix: use one of {', '.join(METHODS)}.")
    if method == "auto":
        method = "interface" if type(model)._can_set_attn_implementation() else "hooks"
    if method == "hooks" and exact:
        raise SinklabError(
            "exact=True applies to method='interface'; the hooks already run the model's eager attention."
        )
    if int(topk) < 1:
        raise SinklabError(f"topk must be a positive integer, got {topk}. Fix: use e.g. topk=4.")
    eps = tuple(metrics.validate_eps(e) for e in ([eps] if isinstance(eps, (int, float)) else eps))
    register()
    options = Options(
        stats=stats,
        topk=int(topk),
        chunk_mb=float(chunk_mb),
        exact=exact,
        patterns={int(k): tuple(v) for k, v in (patterns or {}).items()},
    )
    return options, eps, method


def _check_model(model) -> None:
    if not isinstance(model, PreTrainedModel):
        raise SinklabError(
            f"sinklab measures Hugging Face transformers models, got a {type(model).__name__}. Fix: load the "
            "model with transformers (e.g. sinklab.models.load_model(name) or AutoModelForCausalLM.from_pretrained)."
        )


def _check_inputs(model, args, kwargs) -> None:
    """Refuse empty inputs and inputs longer than the model's positions, naming the fix."""
    tokens = kwargs.get("input_ids", args[0] if args else None)
    if tokens is None:
        tokens = kwargs.get("inputs_embeds")
    if tokens is None or tokens.ndim < 2 or tokens.shape[0] == 0 or tokens.shape[1] == 0:
        raise SinklabError(
            "The inputs hold no tokens. Fix: pass at least one token per row, e.g. "
            "`tokenizer(['some text'], return_tensors='pt')` or a [batch, T] tensor of ids."
        )
    mask = kwargs.get("attention_mask")
    length = mask.shape[-1] if mask is not None else tokens.shape[1]
    limit = _max_positions(model.config)
    if limit is not None and length > limit:
        raise SinklabError(
            f"The input has {length} tokens but {type(model).__name__} has only {limit} positions "
            "(config.max_position_embeddings). Fix: truncate, e.g. "
            f"`tokenizer(texts, truncation=True, max_length={limit}, return_tensors='pt')`."
        )
    if mask is not None and not mask.bool().any(-1).all():
        raise SinklabError(
            "A row of attention_mask has no real token (all zeros). Fix: drop empty rows from the batch."
        )


def _max_positions(config) -> int | None:
    text_config = config.get_text_config()
    for name in ("max_position_embeddings", "n_positions"):
        value = getattr(text_config, name, None)
        if isinstance(value, int):
            return value
    return None


@contextmanager
def _attention_implementation(model: PreTrainedModel, name: str) -> Iterator[None]:
    """Switch every config of the model to attention implementation ``name``; restore each one afterwards."""
    configs = _all_configs(model)
    previous = [(config, config._attn_implementation_internal) for config in configs]
    for config in configs:
        config._attn_implementation_internal = name
    try:
        yield
    finally:
        for config, implementation in previous:
            config._attn_implementation_internal = implementation


def _all_configs(model: PreTrainedModel) -> list:
    """The model's config, its sub-configs, and those of nested models."""
    found, todo = {}, [m.config for m in model.modules() if isinstance(m, PreTrainedModel)]
    while todo:
        config = todo.pop()
        if id(config) not in found:
            found[id(config)] = config
            todo += [getattr(config, key) for key in config.sub_configs if getattr(config, key, None) is not None]
    return list(found.values())


def attention_modules(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The innermost modules whose class name ends in "Attention" (e.g. BloomAttention)."""

    def is_attention(module):
        return type(module).__name__.endswith("Attention")

    return [
        m for m in model.modules()
        if is_attention(m) and not any(is_attention(child) for child in m.modules() if child is not m)
    ]


def _attention_hooks(model, recorder: SinkRecorder) -> list:
    """Forward hooks that reduce each eager attention module's weights to statistics and drop them."""
    modules = attention_modules(model)
    if not modules:
        raise SinklabError(
            f"{type(model).__name__} has no attention modules to hook (no class named *Attention). Fix: "
            "measure a transformer model; state-space models such as Mamba have no attention."
        )

    def reduce_weights(module, args, output):
        collector = recorder.active
        if collector is None:
            return None
        weights = output[1] if isinstance(output, tuple) and len(output) > 1 else None
        if not isinstance(weights, torch.Tensor) or weights.ndim != 4:
            raise SinklabError(
                f"{type(module).__name__} returned no attention weights, so the hooks cannot measure it. Fix: "
                "load the model with attn_implementation='eager', or use method='interface' if it supports it."
            )
        mask = collector.causal_mask(weights.shape[0], weights.shape[2], weights.shape[3])
        collector.add_layer(statistics_from_weights(weights, mask, collector.options, collector.layer_index))
        return (output[0], None, *output[2:])

    return [m.register_forward_hook(reduce_weights) for m in modules]


def _hidden_state_hooks(model, recorder: SinkRecorder) -> list:
    """Hooks summarising the residual stream entering block 0 and leaving every block."""
    blocks = transformer_blocks(model)

    def summarize(hidden):
        collector = recorder.active
        if collector is not None:
            collector.hidden.append(_hidden_summary(hidden.detach(), collector.query_padding(hidden.shape[1])))

    def on_input(module, args, kwargs):
        summarize(args[0] if args else kwargs["hidden_states"])

    def on_output(module, args, output):
        summarize(output[0] if isinstance(output, tuple) else output)

    handles = [blocks[0].register_forward_pre_hook(on_input, with_kwargs=True)]
    return handles + [block.register_forward_hook(on_output) for block in blocks]


def transformer_blocks(model) -> torch.nn.ModuleList:
    """The model's list of transformer blocks: the ModuleList with config.num_hidden_layers entries."""
    n_layers = model.config.get_text_config().num_hidden_layers
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == n_layers:
            return module
    raise SinklabError(
        f"Could not find the list of {n_layers} blocks in {type(model).__name__}, so hidden states cannot be "
        "summarised. Fix: measure without 'hidden' and use output_hidden_states=True on a short input."
    )


def _hidden_summary(hidden: torch.Tensor, padding: torch.Tensor | None) -> torch.Tensor:
    """``[B, 4]``: first-token norm, mean norm of the other real tokens, max |h| and median |h| over real tokens."""
    norm_first, norm_rest = metrics.first_and_rest_norms(hidden, padding)
    magnitude = hidden.float().abs()
    if padding is not None:
        magnitude = magnitude.masked_fill(~padding.to(hidden.device)[..., None], float("nan"))
    flat = magnitude.flatten(1)
    return torch.stack([norm_first, norm_rest, flat.nan_to_num(0.0).amax(-1), flat.nanmedian(-1).values], dim=-1)


def _stack(layers: list[LayerStats], name: str) -> torch.Tensor | None:
    """One statistic of every layer, stacked on axis 1 (after the batch), on the CPU; None if not measured."""
    values = [getattr(layer, name) for layer in layers]
    return None if values[0] is None else torch.stack(values, dim=1).cpu()


def _stack_pairs(pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-layer (first, rest) pairs ``[B, Hkv]`` -> two tensors ``[B, L, Hkv]`` on the CPU."""
    firsts, rests = zip(*pairs)
    return torch.stack(firsts, 1).cpu(), torch.stack(rests, 1).cpu()


def _batch_shape(batch: dict) -> tuple[int, int]:
    tokens = batch.get("input_ids", batch.get("inputs_embeds"))
    if tokens is None or tokens.ndim < 2:
        raise SinklabError("The inputs hold no tokens. Fix: pass input_ids of shape [batch, T].")
    return tokens.shape[0], tokens.shape[1]


def _check_indices(kind: str, indices: list[int], count: int) -> None:
    bad = [i for i in indices if not 0 <= i < count]
    if bad:
        raise SinklabError(f"{kind} indices {bad} are out of range: the model has {count} {kind}s (0..{count - 1}).")


def _nan_to_none(value):
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return None if isinstance(value, float) and math.isnan(value) else value


def _none_to_nan(value):
    if isinstance(value, list):
        return [_none_to_nan(v) for v in value]
    return float("nan") if value is None else value


# ---------------------------------------------------------------- chapter 6: models with a sink-free attention variant


def _check_softmax(model) -> None:
    """Refuse models switched to a `sinklab.variants` attention function: the LSE trick assumes softmax."""
    variant = getattr(model.config, "sinklab_attention", None) or "softmax"
    if variant != "softmax":
        raise SinklabError(
            f"This model uses the {variant!r} attention variant; sinklab.measure assumes softmax and would replace "
            "its attention function. Fix: measure it with sinklab.variants.measure(model, inputs)."
        )
