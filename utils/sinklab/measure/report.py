"""`SinkReport`: the statistics of one forward pass (small tensors, never T x T), JSON in and out."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import torch

from sinklab import metrics
from sinklab.errors import SinklabError
from sinklab.measure.attention import LayerStats


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
    modules: list[str] | None = None  # per layer: the attention module's path, e.g. "model.layers.0.self_attn"

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


def build_report(collector, method: str, eps: tuple[float, ...]) -> SinkReport:
    """Stack the per-layer statistics of one call (a `CallCollector`) into a `SinkReport` (layers on axis 1)."""
    layers = collector.ordered_layers()
    first_mass = _stack(layers, "first_mass")
    first_visible = _stack(layers, "first_visible")
    importance = metrics.masked_mean(first_mass, first_visible[:, :, None, :])
    if not torch.isfinite(importance).all():  # add_layer checks each layer; this guards the sink rate itself
        raise SinklabError(
            "The first-token importance holds NaN or inf, so no sink rate can be computed from it. "
            "Fix: measure in float32 (model.float())."
        )
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
            torch.zeros(n_rows, dtype=torch.long)
            if collector.padding is None
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
        modules=collector.layer_paths(),
    )
    if layers[0].key_norms is not None:
        report.key_norm_first, report.key_norm_rest = _stack_pairs([layer.key_norms for layer in layers])
        report.value_norm_first, report.value_norm_rest = _stack_pairs([layer.value_norms for layer in layers])
    if collector.hidden:
        hidden = torch.stack(collector.hidden, dim=1).cpu()  # [B, L+1, 4]
        report.hidden_norm_first, report.hidden_norm_rest = hidden[..., 0], hidden[..., 1]
        report.hidden_max_abs, report.hidden_median_abs = hidden[..., 2], hidden[..., 3]
    return report


def _stack(layers: list[LayerStats], name: str) -> torch.Tensor | None:
    """One statistic of every layer, stacked on axis 1 (after the batch), on the CPU; None if not measured."""
    values = [getattr(layer, name) for layer in layers]
    if values[0] is None:
        return None
    shapes = sorted({tuple(v.shape) for v in values})
    if len(shapes) > 1:
        raise SinklabError(
            f"The attention layers of this model have different shapes ({name}: {shapes}), e.g. a different "
            "number of heads per layer, which a SinkReport's [batch, layer, head, ...] tensors cannot hold. "
            "Fix: measure a model whose layers all have the same number of query heads."
        )
    return torch.stack(values, dim=1).cpu()


def _stack_pairs(pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-layer (first, rest) pairs ``[B, Hkv]`` -> two tensors ``[B, L, Hkv]`` on the CPU."""
    firsts, rests = zip(*pairs)
    shapes = sorted({tuple(f.shape) for f in firsts})
    if len(shapes) > 1:
        raise SinklabError(
            f"The attention layers of this model have different numbers of key/value heads ({shapes}), which a "
            "SinkReport's [batch, layer, head] tensors cannot hold. Fix: measure a model whose layers all have "
            "the same number of key/value heads."
        )
    return torch.stack(firsts, 1).cpu(), torch.stack(rests, 1).cpu()


def _nan_to_none(value):
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    return None if isinstance(value, float) and math.isnan(value) else value


def _none_to_nan(value):
    if isinstance(value, list):
        return [_none_to_nan(v) for v in value]
    return float("nan") if value is None else value
