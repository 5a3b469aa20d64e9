"""Attention variants that remove a head's need for a sink, selectable by name, for any transformers model.

    model = variants.use(model, "sigmoid")     # switch every attention layer of the model
    report = variants.measure(model, ids)      # first-token mass from the variant's *actual* weights

A softmax head must spend all of its attention somewhere, so a head with nothing to do parks it on the
first token (chapter 1). Each variant gives the head another way out:

| name | weights of query i on key j (s_ij = q_i·k_j · scale, visible keys only) | the head can do nothing by |
| --- | --- | --- |
| ``softmax`` | exp(s_ij) / Σ_j exp(s_ij) (the default; transformers' SDPA) | parking on a sink token |
| ``softmax1`` | exp(s_ij) / (1 + Σ_j exp(s_ij)): softmax-off-by-one (Miller 2023) = a zero key and value | scores far below 0 |
| ``sink_logit`` | exp(s_ij) / (exp(a_h) + Σ_j exp(s_ij)), a learned logit a_h per head (gpt-oss's "sinks") | a large a_h |
| ``sigmoid`` | sigmoid(s_ij − log n_i), no normalisation (Gu et al. 2025) | scores far below 0 |
| ``relu`` | relu(s_ij) / n_i, no normalisation (Guo et al. 2024) | scores ≤ 0 |
| ``gated`` | softmax, then the head's output times sigmoid(x_i W_g + b_g) per feature (Qiu et al. 2025) | a gate near 0 |

n_i is the number of keys query i sees (i + 1 under a causal mask), so a query's weights do not depend on
tokens after it, nor on other documents packed into the same row.

Each name except ``softmax`` is a function registered in transformers' ``AttentionInterface`` as
``"sinklab_<name>"``, with sinklab's lazy mask in ``AttentionMaskInterface`` (without a mask entry
transformers would silently drop the causal mask). The functions compute the weights explicitly (eager
style: fine for the course's small models) and return them, so the first-token mass is read from the
weights the layer really used. `sinklab.measure.measure` cannot be used on these models: its log-sum-exp
trick assumes softmax, and it swaps the attention function for its own. `measure` here dispatches.

``use`` adds the parameters a variant needs (``sink_logit``: one logit per head, initialised to 0;
``gated``: a linear gate per layer, initialised to pass everything, sigmoid(3) ≈ 0.95) and records the
name in ``model.config.sinklab_attention``, so ``load`` rebuilds a checkpoint with its variant.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn
from transformers import AttentionInterface, AttentionMaskInterface

from sinklab import measure as sink_measure
from sinklab import metrics
from sinklab.errors import SinklabError
from sinklab.measure.attention import LazyMask, active_collector, lazy_mask, statistics_from_weights

VARIANTS = ("softmax", "softmax1", "sink_logit", "sigmoid", "relu", "gated")
SINK_FREE = ("softmax1", "sink_logit", "sigmoid", "relu", "gated")
CONFIG_KEY = "sinklab_attention"  # where use() records the variant in the model's config
GATE_INPUT = "sinklab_gate_input"  # the forward kwarg that carries the attention layer's input to the gate
GATE_BIAS_INIT = 3.0  # sigmoid(3) ≈ 0.95: a new gate starts almost open


# 1. Attention weights of each variant --------------------------------------------------------------------


def variant_weights(scores: torch.Tensor, visible: torch.Tensor, name: str, sink_logit: torch.Tensor | None = None):
    """Attention weights ``[B, H, Tq, Tk]`` of variant `name` from scaled scores and a bool visibility mask.

    Masked keys get weight 0. ``sink_logit`` ``[H]`` is the learned per-head logit of ``"sink_logit"``.
    Rows sum to 1 for ``softmax`` and ``gated`` (the gate acts on the output), to less than 1 for the others.
    """
    if name in ("softmax", "gated"):
        return torch.softmax(scores.masked_fill(~visible, float("-inf")), dim=-1).nan_to_num(0.0)
    if name in ("softmax1", "sink_logit"):
        extra = torch.zeros(scores.shape[1]) if name == "softmax1" else sink_logit.float()
        extra = extra.to(scores.device).view(1, -1, 1, 1).expand(*scores.shape[:-1], 1)
        logits = torch.cat([scores.masked_fill(~visible, float("-inf")), extra.to(scores.dtype)], dim=-1)
        return torch.softmax(logits, dim=-1)[..., :-1]  # the extra column is a key with value 0: drop it
    n_keys = visible.sum(-1, keepdim=True).clamp(min=1)  # keys each query sees: its weights ignore later tokens
    if name == "sigmoid":
        return torch.sigmoid(scores - n_keys.log()) * visible
    if name == "relu":
        return torch.relu(scores) / n_keys * visible
    raise SinklabError(f"Unknown attention variant {name!r}. Fix: use one of {', '.join(VARIANTS)}.")


def variant_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, *, name: str, **kwargs):
    """The function registered for each variant: ``(output [B, Tq, H, Dv], weights [B, H, Tq, Tk])``.

    Same contract as transformers' eager attention. Inside a measurement (`sinklab.measure.measure` or
    `sink_stats`: an active collector), it also records first-token mass and key/value norms from the
    weights it used.
    """
    collector = active_collector()
    gate_input = kwargs.pop(GATE_INPUT, None)
    scaling = query.shape[-1] ** -0.5 if scaling is None else scaling
    mask = (
        attention_mask
        if isinstance(attention_mask, LazyMask)
        else lazy_mask(query.shape[0], query.shape[2], key.shape[2], q_offset=key.shape[2] - query.shape[2])
    )
    groups = query.shape[1] // key.shape[1]  # grouped-query attention: each key head serves `groups` query heads
    keys, values = key.repeat_interleave(groups, 1), value.repeat_interleave(groups, 1)
    scores = torch.matmul(query, keys.transpose(-1, -2)) * scaling
    visible = mask.block(0, query.shape[2], query.device)
    weights = variant_weights(scores, visible, name, getattr(module, "sink_logit", None)).to(value.dtype)
    used = nn.functional.dropout(weights, p=dropout, training=module.training)
    output = torch.matmul(used, values)  # [B, H, Tq, Dv]
    if name == "gated":
        if gate_input is None:
            raise SinklabError(
                "The gated variant got no gate input. Fix: switch the model with variants.use(model, 'gated')."
            )
        gate = torch.sigmoid(module.sinklab_gate(gate_input))  # [B, Tq, H * Dv]
        output = output * gate.view(*gate.shape[:2], -1, output.shape[-1]).transpose(1, 2)
    if collector is not None:
        with torch.no_grad():
            stats = statistics_from_weights(weights, mask, collector.options, collector.layer_of(module))
            padding = (
                None if mask.padding is None else mask.padding[:, mask.kv_offset : mask.kv_offset + mask.kv_length]
            )
            stats.key_norms = metrics.first_and_rest_norms(key.detach(), padding)
            stats.value_norms = metrics.first_and_rest_norms(value.detach(), padding)
            stats.kernel = f"sinklab_{name}"
            if name in ("softmax1", "sink_logit"):  # the mass on the zero key / the learned logit
                stats.learned_sink_mass = (1 - weights.float().sum(-1)) * mask.real_queries(query.device)[:, None, :]
        collector.add_layer(stats, module)
    return output.transpose(1, 2).contiguous(), weights


def _registered(name: str):
    def attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
        return variant_attention(module, query, key, value, attention_mask, scaling, dropout, name=name, **kwargs)

    attention.__name__ = f"sinklab_{name}_attention"
    return attention


def register() -> None:
    """Register every sink-free variant as ``"sinklab_<name>"`` in both transformers registries (idempotent)."""
    for name in SINK_FREE:
        AttentionInterface.register(f"sinklab_{name}", _registered(name))
        AttentionMaskInterface.register(f"sinklab_{name}", lazy_mask)


# 2. Switching a model to a variant -----------------------------------------------------------------------


def use(model, name: str):
    """Switch every attention layer of `model` to variant `name` (in place; returns the model).

    Adds the variant's parameters to each attention module and records the name in
    ``model.config.sinklab_attention``. Call it on a fresh model, before training.
    """
    if name not in VARIANTS:
        raise SinklabError(f"Unknown attention variant {name!r}. Fix: use one of {', '.join(VARIANTS)}.")
    current = variant_of(model)
    if current != "softmax" and current != name:
        raise SinklabError(f"This model already uses the {current!r} variant. Fix: build a fresh model for {name!r}.")
    modules = sink_measure.attention_modules(model)
    config = model.config.get_text_config()
    n_heads = config.num_attention_heads
    for module in modules:
        if name == "sink_logit" and not hasattr(module, "sink_logit"):
            module.sink_logit = nn.Parameter(torch.zeros(n_heads, device=model.device))
        if name == "gated" and not hasattr(module, "sinklab_gate"):
            head_dim = getattr(module, "head_dim", config.hidden_size // n_heads)
            module.sinklab_gate = nn.Linear(config.hidden_size, n_heads * head_dim, device=model.device)
            nn.init.zeros_(module.sinklab_gate.weight)
            nn.init.constant_(module.sinklab_gate.bias, GATE_BIAS_INIT)
        if name == "gated" and not getattr(module, "_sinklab_gate_hook", False):
            module.register_forward_pre_hook(_pass_gate_input, with_kwargs=True)
            module._sinklab_gate_hook = True
    setattr(model.config, CONFIG_KEY, name)
    if name == "softmax":
        model.set_attn_implementation("sdpa")
    else:
        register()
        model.set_attn_implementation(f"sinklab_{name}")
    return model


def _pass_gate_input(module, args, kwargs):
    """Forward pre-hook: hand the attention layer's input (the normed hidden state) to the gate, as a kwarg."""
    hidden = args[0] if args else kwargs["hidden_states"]
    return args, {**kwargs, GATE_INPUT: hidden}


def variant_of(model) -> str:
    """The attention variant `model` uses ("softmax" unless `use` switched it)."""
    return getattr(model.config, CONFIG_KEY, None) or "softmax"


def load(folder: str | Path, device: str | None = None):
    """Load a checkpoint written by ``save_pretrained`` from a model switched with `use`, variant included."""
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForCausalLM

    folder = Path(folder)
    config = AutoConfig.from_pretrained(folder)
    name = getattr(config, CONFIG_KEY, None) or "softmax"
    model = use(AutoModelForCausalLM.from_config(config), name)
    state = load_file(folder / "model.safetensors")
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = {k for k in missing if "lm_head" in k and getattr(config.get_text_config(), "tie_word_embeddings", False)}
    if set(missing) - tied or unexpected:
        raise SinklabError(
            f"{folder} does not match its config (missing {sorted(set(missing) - tied)[:3]}, "
            f"unexpected {sorted(unexpected)[:3]}). Fix: load the folder the trainer wrote."
        )
    model.tie_weights()
    return model.to(device or "cpu").eval()


# 3. Measuring the sink of any variant --------------------------------------------------------------------


@contextmanager
def sink_stats(
    model, eps: Sequence[float] = sink_measure.DEFAULT_EPS, patterns: dict[int, Sequence[int]] | None = None
):
    """Like `sinklab.measure.sink_stats`, but the model keeps its own attention function (a variant).

    Every forward call inside the block adds a `SinkReport` to ``recorder.reports`` (and the full weights
    of the ``patterns`` {layer: heads} to ``recorder.patterns``), measured from the weights the variant computed.
    """
    if variant_of(model) == "softmax":
        raise SinklabError("This model uses plain softmax. Fix: use sinklab.measure.sink_stats (or variants.measure).")
    with sink_measure.sink_stats(model, eps=eps, patterns=patterns) as recorder:
        yield recorder


def measure(model, inputs, eps: Sequence[float] = sink_measure.DEFAULT_EPS) -> sink_measure.SinkReport:
    """First-token statistics of one forward pass (a `SinkReport`), for a model of any variant.

    A thin wrapper of `sinklab.measure.measure`, which handles every variant: plain softmax models get
    the log-sum-exp trick, variant models are measured from their own weights (``report.kernels`` says which).
    """
    return sink_measure.measure(model, inputs, eps=eps)


def attention_patterns(
    model, inputs, layers: Sequence[int] | None = None, heads: Sequence[int] | None = None
) -> torch.Tensor:
    """Full attention weights ``[B, len(layers), len(heads), T, T]`` of a model of any variant (short inputs only)."""
    if variant_of(model) == "softmax":
        return sink_measure.attention_patterns(model, inputs, layers, heads)
    config = model.config.get_text_config()
    layers = list(range(config.num_hidden_layers)) if layers is None else list(layers)
    heads = list(range(config.num_attention_heads)) if heads is None else list(heads)
    batch = sink_measure.model_inputs(model, inputs)
    with torch.no_grad(), sink_stats(model, patterns={layer: heads for layer in layers}) as recorder:
        model(**batch)
    return torch.stack([recorder.patterns[-1][layer] for layer in layers], dim=1)
