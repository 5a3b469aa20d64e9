"""Capture what every attention layer receives: post-RoPE queries, keys and values (chapter 3).

    layers = capture.attention_inputs(model, batch)   # one AttentionInputs per layer
    layers[2].key                                     # [B, Hkv, T, d], after RoPE, as the kernel sees it

The model runs its own eager attention through a registered `AttentionInterface` entry (with the
matching `AttentionMaskInterface` entry, without which the model would get no causal mask), so its
output is unchanged; on the way every layer's inputs are copied to the CPU. That keeps L·3·T·d numbers
per row, never the T × T weights. Use short inputs: this is for looking, `sinklab.measure` for measuring.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import AttentionInterface, AttentionMaskInterface
from transformers.masking_utils import eager_mask

CAPTURE_NAME = "sinklab_capture"
CAPTURE_KWARG = "sinklab_capture_store"


@dataclass
class AttentionInputs:
    """One layer's attention inputs, on the CPU in fp32: query ``[B, H, T, d]``, key and value ``[B, Hkv, T, d]``."""

    query: torch.Tensor
    key: torch.Tensor
    value: torch.Tensor
    scaling: float  # the factor the scores q·k are multiplied by (1/√d for most models)


def attention_inputs(model, inputs) -> list[AttentionInputs]:
    """Every layer's post-RoPE queries, keys and values for `inputs` (a dict with ``input_ids`` or a tensor)."""
    from sinklab.measure import _attention_implementation, model_inputs

    batch = model_inputs(model, inputs) if isinstance(inputs, dict) else {"input_ids": inputs.to(model.device)}
    AttentionInterface.register(CAPTURE_NAME, _capturing_attention)
    AttentionMaskInterface.register(CAPTURE_NAME, eager_mask)
    store: list[AttentionInputs] = []
    with torch.no_grad(), _attention_implementation(model, CAPTURE_NAME):
        model(**batch, **{CAPTURE_KWARG: store})
    return store


def _capturing_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """The model's eager attention, copying its inputs into the store on the way."""
    from sinklab.measure.attention import _model_eager_function

    store = kwargs.pop(CAPTURE_KWARG)
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    store.append(
        AttentionInputs(
            query.detach().float().cpu(), key.detach().float().cpu(), value.detach().float().cpu(), float(scale)
        )
    )
    eager = _model_eager_function(module)
    return eager(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs)
