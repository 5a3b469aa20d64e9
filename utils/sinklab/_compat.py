"""Every private transformers / torch API sinklab uses, in one place (each one has a test in tests/unit/core/test_compat.py).

A transformers or torch upgrade that renames one of these fails here, in an obvious place, instead of
deep inside a measurement. Public APIs (``AttentionInterface``, ``masking_utils`` mask functions) are
imported where they are used.

| symbol | what sinklab does with it |
| --- | --- |
| ``PretrainedConfig._attn_implementation_internal`` | switch each (sub-)config's attention function, then restore |
| ``PreTrainedModel._can_set_attn_implementation`` | does the model route attention through AttentionInterface? |
| ``PreTrainedModel._can_record_outputs`` / ``OutputRecorder`` | which modules are self- and cross-attention |
| ``<modeling module>.eager_attention_forward`` | the model's own eager attention (exact=True, streaming, circuit) |
| ``aten._scaled_dot_product_flash_attention_for_cpu`` | fused CPU attention that returns the log-sum-exp |
| ``aten._scaled_dot_product_efficient_attention`` | fused CUDA attention that returns the log-sum-exp |
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import torch

from sinklab.errors import SinklabError


def get_attn_implementation(config) -> str | None:
    """The attention implementation a config asks for (None: not chosen yet)."""
    return config._attn_implementation_internal


def set_attn_implementation(config, name: str | None) -> None:
    """Set a config's attention implementation without the checks of ``model.set_attn_implementation``.

    The public method validates and re-dispatches the whole model, and refuses names for sub-configs
    of composite models; a measurement needs a switch it can undo exactly, config by config.
    """
    config._attn_implementation_internal = name


def uses_attention_interface(model) -> bool:
    """Whether the model's attention modules call transformers' ``ALL_ATTENTION_FUNCTIONS`` (a source heuristic)."""
    return bool(type(model)._can_set_attn_implementation())


def can_record_outputs(model) -> dict:
    """The model class's ``_can_record_outputs`` (which module classes produce "attentions", "cross_attentions")."""
    return dict(getattr(type(model), "_can_record_outputs", None) or {})


def output_recorder_class():
    """transformers' ``OutputRecorder`` dataclass (target_class, index, layer_name, class_name)."""
    from transformers.utils.output_capturing import OutputRecorder

    return OutputRecorder


def model_eager_function(module: torch.nn.Module) -> Callable:
    """The ``eager_attention_forward`` of the file that defines ``module`` (softcap, sinks, dtypes included)."""
    eager = getattr(sys.modules[type(module).__module__], "eager_attention_forward", None)
    if eager is None:
        raise SinklabError(
            f"exact=True takes each layer's output from the model's own eager attention, but "
            f"{type(module).__module__} defines no eager_attention_forward. Fix: measure with exact=False."
        )
    return eager


def cpu_flash_attention() -> Callable:
    """``aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, dropout, is_causal, attn_mask=, scale=)``.

    Returns ``(output, logsumexp)``."""
    return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu


def cuda_efficient_attention() -> Callable:
    """``aten._scaled_dot_product_efficient_attention(q, k, v, bias, compute_log_sumexp, dropout, is_causal, scale=)``.

    Returns ``(output, logsumexp padded to a multiple of 32 rows, seed, offset)``."""
    return torch.ops.aten._scaled_dot_product_efficient_attention
