"""Massive activations (Sun et al., COLM 2024): find the largest ones, then set them to zero or to their mean.

Sun et al. find a few activations of the residual stream, on the first token and in a few fixed
feature dimensions, that are thousands of times larger than the median. Setting them to zero breaks
LLaMA2-7B (perplexity 5.47 → ∞); setting them to their mean over many inputs changes nothing: they act
as fixed biases. `massive_ablation` runs that experiment on any causal LM with a forward hook on one
transformer block (`set_activations`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from sinklab import metrics
from sinklab.errors import SinklabError


@dataclass
class Activations:
    """The ``k`` largest features of one token in the residual stream after one block."""

    layer: int  # the block whose output holds them
    position: int  # the token
    dims: list[int]  # feature dimensions, largest mean |activation| first
    values: torch.Tensor  # [n_inputs, k]: their values on every input
    median_abs: float  # median |activation| of that block's output (all tokens, all features)

    @property
    def mean(self) -> torch.Tensor:
        """``[k]``: each feature's mean over the inputs (what mean-ablation writes)."""
        return self.values.mean(0)

    @property
    def ratio(self) -> float:
        """Largest mean |activation| over the median |activation| (Sun et al.: massive at ≈ 1,000×)."""
        return self.values.abs().mean(0).max().item() / max(self.median_abs, 1e-12)

    def is_massive(self) -> bool:
        """Sun et al.'s criterion on the largest one: |value| > 100 and ≥ 1,000× the median."""
        largest = self.values.abs().mean(0).max()
        return bool(metrics.is_massive(largest, torch.tensor(self.median_abs)))


def block_output(model, inputs, layer: int) -> torch.Tensor:
    """The residual stream after transformer block `layer`, ``[B, T, D]`` (before any final norm)."""
    from sinklab.measure import model_inputs, transformer_blocks

    blocks = transformer_blocks(model)
    if not 0 <= layer < len(blocks):
        raise SinklabError(f"layer {layer} is out of range: the model has {len(blocks)} blocks (0..{len(blocks) - 1}).")
    captured = []
    handle = blocks[layer].register_forward_hook(lambda m, a, out: captured.append(_hidden(out).detach()))
    try:
        with torch.no_grad():
            model(**model_inputs(model, inputs))
    finally:
        handle.remove()
    return captured[0]


def largest_activations(model, inputs, layer: int, k: int = 2, position: int = 0) -> Activations:
    """The `k` features of token `position` with the largest mean |activation| after block `layer`.

    inputs: rows without padding (e.g. `sinklab.prompts.prompt_batch`), so `position` is the same token
    kind in every row.
    """
    hidden = block_output(model, inputs, layer).float()
    token = hidden[:, position]  # [B, D]
    dims = token.abs().mean(0).topk(k).indices.tolist()
    return Activations(layer, position, dims, token[:, dims].cpu(), hidden.abs().median().item())


@contextmanager
def set_activations(model, layer: int, position: int, dims: Sequence[int], values) -> Iterator[None]:
    """Inside the block, block `layer`'s output has ``hidden[:, position, dims] = values`` (a number or ``[len(dims)]``)."""
    from sinklab.measure import transformer_blocks

    dims = list(dims)

    def overwrite(module, args, output):
        hidden = _hidden(output).clone()
        hidden[:, position, dims] = torch.as_tensor(values, dtype=hidden.dtype, device=hidden.device)
        return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

    handle = transformer_blocks(model)[layer].register_forward_hook(overwrite)
    try:
        yield
    finally:
        handle.remove()


def massive_ablation(
    model, inputs, layer: int, k: int = 2, position: int = 0, seed: int = 0
) -> tuple[Activations, dict[str, float]]:
    """Sun et al.'s intervention: perplexity with the `k` largest activations of token `position` after
    block `layer` left alone, set to their mean over the inputs, set to zero, and, as a control, with `k`
    random other features of that token set to zero. Returns the activations and the four perplexities.
    """
    from sinklab.evaluate import perplexity

    found = largest_activations(model, inputs, layer, k, position)
    hidden_size = model.config.get_text_config().hidden_size
    others = [
        d
        for d in torch.randperm(hidden_size, generator=torch.Generator().manual_seed(seed)).tolist()
        if d not in found.dims
    ][:k]
    settings = {
        "original": None,
        "mean-ablated": (found.dims, found.mean),
        "zero-ablated": (found.dims, 0.0),
        f"control: {k} random features zeroed": (others, 0.0),
    }
    result = {}
    for name, change in settings.items():
        if change is None:
            result[name] = perplexity(model, inputs)
            continue
        with set_activations(model, layer, position, *change):
            result[name] = perplexity(model, inputs)
    return found, result


def _hidden(output) -> torch.Tensor:
    return output[0] if isinstance(output, tuple) else output


def appearance_layer(report) -> int:
    """The first block whose output's largest |activation| / median reaches half its peak over the blocks.

    report: a `sinklab.measure.SinkReport` measured with ``stats=("first", "hidden")``. Sun et al. see
    massive activations appear abruptly after an early block and stay: this is where to intervene.
    """
    if report.hidden_max_abs is None:
        raise SinklabError("The report has no hidden-state statistics. Fix: measure with stats=('first', 'hidden').")
    ratio = (report.hidden_max_abs / report.hidden_median_abs).mean(0)[1:]  # block outputs, not the embeddings
    return int((ratio >= ratio.max() / 2).nonzero()[0])
