"""Which modules of a model are its attention layers, found before measuring, so every call is attributed.

The model describes itself: each ``PreTrainedModel`` class lists in ``_can_record_outputs`` the module
classes whose outputs are its "attentions" (self-attention) and "cross_attentions" (an
encoder–decoder's decoder attending to the encoder), optionally narrowed by the submodule name
(``OutputRecorder(BartAttention, layer_name="encoder_attn")``). Nested ``PreTrainedModel``s (an
encoder and a decoder, a vision tower and a language model) use their own lists, as transformers'
output capturing does. Classes without the list fall back to a name rule: innermost modules whose
class name ends in "Attention", cross-attention when the attribute name says so.

Each self-attention module gets its layer index (its position among the self-attention modules of its
"stack", the ``PreTrainedModel`` that owns it), so a measurement never depends on call order.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import PreTrainedModel

from sinklab import _compat
from sinklab.errors import SinklabError

CROSS_NAMES = ("encoder_attn", "crossattention", "cross_attn", "cross_attention", "enc_dec_attention")


@dataclass(frozen=True)
class Site:
    """One attention module: its path in the model, "self" or "cross", its stack and its layer index."""

    module: torch.nn.Module
    path: str  # e.g. "model.layers.3.self_attn"
    kind: str  # "self" or "cross"
    stack: str  # path of the PreTrainedModel that owns it ("" for the model itself), e.g. "model.encoder"
    layer: int  # index among the self-attention modules of its stack (-1 for cross-attention)
    source: str  # "_can_record_outputs" or "class name"


def attention_sites(model: torch.nn.Module) -> list[Site]:
    """Every self- and cross-attention module of ``model``, in module order, with layer indices per stack."""
    found: list[tuple[torch.nn.Module, str, str, str, str]] = []  # module, path, kind, stack, source
    _visit(model, "", _recording_specs(model), "", found)
    if not any(kind == "self" for _, _, kind, _, _ in found):
        found = [(m, path, _kind_by_name(path), "", "class name") for path, m in _innermost_attention(model)]
    sites, counters = [], {}
    for module, path, kind, stack, source in found:
        layer = -1
        if kind == "self":
            layer = counters.get(stack, 0)
            counters[stack] = layer + 1
        sites.append(Site(module, path, kind, stack, layer, source))
    return sites


def attention_modules(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The innermost modules whose class name ends in "Attention" (e.g. BloomAttention): the name rule alone."""
    return [module for _, module in _innermost_attention(model)]


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


def _recording_specs(model) -> list[tuple[str, object]]:
    """``[(kind, OutputRecorder-like spec)]`` from a PreTrainedModel's ``_can_record_outputs``."""
    if not isinstance(model, PreTrainedModel):
        return []
    recorder = _compat.output_recorder_class()
    specs = []
    for key, kind in (("attentions", "self"), ("cross_attentions", "cross")):
        values = _compat.can_record_outputs(model).get(key)
        for value in values if isinstance(values, (list, tuple)) else [values]:
            if value is None:
                continue
            if not isinstance(value, recorder):
                value = recorder(
                    target_class=None if isinstance(value, str) else value,
                    index=1,
                    class_name=value if isinstance(value, str) else None,
                )
            specs.append((kind, value))
    return specs


def _visit(module, path, specs, stack, found) -> None:
    """Pre-order walk; a nested PreTrainedModel with its own specs starts a new stack."""
    for kind, spec in specs:
        if _matches(spec, module, path):
            found.append((module, path, kind, stack, "_can_record_outputs"))
            return  # an attention module's own children are not attention layers
    for name, child in module.named_children():
        child_path = f"{path}.{name}" if path else name
        child_specs = _recording_specs(child) if isinstance(child, PreTrainedModel) else None
        if child_specs:
            _visit(child, child_path, child_specs, child_path, found)
        else:
            _visit(child, child_path, specs, stack, found)


def _matches(spec, module, path: str) -> bool:
    by_class = spec.target_class is not None and isinstance(module, spec.target_class)
    by_name = spec.class_name is not None and path.endswith(spec.class_name)
    if not (by_class or by_name):
        return False
    if spec.layer_name is not None:
        return f".{spec.layer_name.strip('.')}." in f".{path}."
    return True


def _innermost_attention(model) -> list[tuple[str, torch.nn.Module]]:
    def is_attention(module):
        return type(module).__name__.endswith("Attention")

    return [
        (path, m)
        for path, m in model.named_modules()
        if is_attention(m) and not any(is_attention(child) for child in m.modules() if child is not m)
    ]


def _kind_by_name(path: str) -> str:
    return "cross" if any(name in path.lower() for name in CROSS_NAMES) else "self"
