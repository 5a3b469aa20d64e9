"""`measure`: sink statistics of one forward pass, the one entry point (variants and train wrap it).

`attention_patterns` gives exact full patterns of chosen heads for short inputs; `model_inputs` turns a
tokenizer's output or a tensor of ids into the model's keyword arguments.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from transformers import PreTrainedModel

from sinklab.errors import SinklabError
from sinklab.measure.options import DEFAULT_EPS, METHODS, STATS, VARIANT_KEY, check_model, variant_of
from sinklab.measure.recorder import sink_stats
from sinklab.measure.report import SinkReport

__all__ = [
    "DEFAULT_EPS",
    "METHODS",
    "STATS",
    "VARIANT_KEY",
    "attention_patterns",
    "measure",
    "model_inputs",
    "variant_of",
]


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
        attention modules, for BLOOM/Falcon/MPT) or "auto" (the interface where the model uses it,
        the hooks where its modeling code cannot work with sinklab's lazy mask; ``report.method``
        says which ran).

    Models switched to a sink-free attention variant (`sinklab.variants.use`) keep their attention
    function, which records the statistics from the weights it computes (``report.kernels`` says so).
    """
    batch = model_inputs(model, inputs)
    options = dict(eps=eps, topk=topk, chunk_mb=chunk_mb, exact=exact)
    try:
        return _one_call(model, batch, stats, method, options)
    except (TypeError, AttributeError, IndexError) as e:  # modeling code treating sinklab's lazy mask as a tensor
        if "LazyMask" not in str(e):
            raise
        if method != "auto" or variant_of(model) != "softmax":
            raise SinklabError(
                f"{type(model).__name__}'s modeling code uses the attention mask as a tensor outside the attention "
                f"function ({type(e).__name__}: {e}), which sinklab's lazy mask cannot serve. Fix: measure it with "
                "method='hooks'."
            ) from e
        return _one_call(model, batch, stats, "hooks", options)  # method="auto": the hooks measure it instead


def _one_call(model, batch, stats, method, options) -> SinkReport:
    with torch.no_grad(), sink_stats(model, stats, method=method, **options) as recorder:
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


def model_inputs(model: PreTrainedModel, inputs) -> dict:
    """Keyword arguments for ``model(**...)`` from a tokenizer's output or a tensor of ids, on the model's device."""
    check_model(model)
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


def _batch_shape(batch: dict) -> tuple[int, int]:
    tokens = batch.get("input_ids", batch.get("inputs_embeds"))
    if tokens is None or tokens.ndim < 2:
        raise SinklabError("The inputs hold no tokens. Fix: pass input_ids of shape [batch, T].")
    return tokens.shape[0], tokens.shape[1]


def _check_indices(kind: str, indices: list[int], count: int) -> None:
    bad = [i for i in indices if not 0 <= i < count]
    if bad:
        raise SinklabError(f"{kind} indices {bad} are out of range: the model has {count} {kind}s (0..{count - 1}).")
