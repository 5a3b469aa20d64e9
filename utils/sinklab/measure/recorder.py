"""`sink_stats`: measure every forward call of a model inside a ``with`` block, one `SinkReport` per call.

A forward pre-hook on the model opens a `CallCollector` for the call and makes it the active one
(`sinkattention.collecting`, a ContextVar: no forward kwargs, so layers that drop ``**kwargs`` still
see it); a forward hook turns it into a report. The attention modules are enumerated once, when the
block starts (`discovery.attention_sites`), and every statistic is filed under its module's layer
index: a call from an unknown module or from cross-attention is refused, never mixed in.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import torch
from transformers import PreTrainedModel
from transformers.masking_utils import (
    bidirectional_mask_function,
    causal_mask_function,
    sliding_window_causal_mask_function,
)

from sinklab import _compat, metrics
from sinklab.errors import SinklabError
from sinklab.measure.attention import NAME, LayerStats, LazyMask, Options, layer_type, statistics_from_weights
from sinklab.measure.discovery import Site, attention_sites, transformer_blocks
from sinklab.measure.options import resolve_options, variant_of
from sinklab.measure.report import SinkReport, build_report

CHECKED_STATS = ("first_mass", "learned_sink_mass", "topk_mass", "entropy", "received")


class CallCollector:
    """Statistics of one forward call, filed by layer (by the attention function, the hooks or a variant)."""

    def __init__(
        self,
        options: Options,
        padding: torch.Tensor | None,
        sites: Sequence[Site] = (),
        model_name: str = "the model",
        dtype: torch.dtype | None = None,
    ):
        self.options = options
        self.padding = None if padding is None else padding.bool()  # [B, past + T], the call's attention_mask
        self.sites = {id(site.module): site for site in sites}
        self.model_name, self.dtype = model_name, dtype
        self.layers: dict[tuple[str, int], LayerStats] = {}  # (stack, layer) -> statistics
        self.hidden: list[torch.Tensor] = []  # per block: [B, 4] norm first, norm rest, max |h|, median |h|

    def site_of(self, module: torch.nn.Module) -> Site:
        """The enumerated attention module ``module`` is; refuses unknown modules and cross-attention."""
        site = self.sites.get(id(module))
        if site is None:
            raise SinklabError(
                f"An attention call came from a {type(module).__name__} module that is not among the attention "
                f"layers sinklab found in {self.model_name} (from its _can_record_outputs or class names), so "
                "its statistics cannot be attributed to a layer. Fix: measure with method='hooks', or report "
                "the architecture to sinklab."
            )
        if site.kind == "cross":
            raise SinklabError(
                f"{site.path} ({type(module).__name__}) is cross-attention (decoder queries on encoder keys); "
                "sinklab measures self-attention and never mixes the two. Fix: measure the encoder on its "
                "own, e.g. `measure(model.get_encoder(), inputs)`."
            )
        return site

    def layer_of(self, module: torch.nn.Module) -> int:
        """Layer index of ``module`` within its stack (see `site_of`)."""
        return self.site_of(module).layer

    def add_layer(self, stats: LayerStats, module: torch.nn.Module) -> None:
        """File one layer's statistics; refuse a layer measured twice and non-finite statistics."""
        site = self.site_of(module)
        key = (site.stack, site.layer)
        if key in self.layers:
            raise SinklabError(
                f"{site.path} ran more than once in one forward call (a layer shared across depths, or a module "
                "computing several attention maps such as differential attention), so its statistics cannot be "
                f"attributed to one layer of {self.model_name}. Fix: none in sinklab for this architecture."
            )
        for name in CHECKED_STATS:
            value = getattr(stats, name)
            if value is not None and not torch.isfinite(value).all():
                raise SinklabError(
                    f"Layer {site.layer} ({site.path}) gave non-finite attention statistics ({name} holds NaN or "
                    f"inf), so no sink rate can be computed. Likely cause: an overflow in its queries or keys "
                    f"(the model runs in {self.dtype}; float16 overflows above 65504, e.g. in a massive "
                    "activation). Fix: measure in bfloat16 or float32 (`model.to(torch.bfloat16)` or "
                    "`model.float()`), or check the weights for inf/NaN."
                )
        self.layers[key] = stats

    def ordered_layers(self) -> list[LayerStats]:
        """The layers measured in this call, by layer index; one stack only, none missing."""
        if not self.layers:
            raise SinklabError(
                f"No attention layer of {self.model_name} reported statistics during the forward pass: its "
                "attention bypasses transformers' AttentionInterface. Fix: pass method='hooks' (forward hooks "
                "on its eager attention modules)."
            )
        stacks = sorted({stack for stack, _ in self.layers})
        if len(stacks) > 1:
            raise SinklabError(
                f"This forward call ran self-attention in {len(stacks)} separate stacks of {self.model_name} "
                f"({', '.join(s or 'the model' for s in stacks)}), e.g. an encoder and a decoder, which one report "
                "must not mix. Fix: measure one of them on its own, e.g. `measure(model.get_encoder(), inputs)`."
            )
        stack = stacks[0]
        expected = sorted(s.layer for s in self.sites.values() if s.kind == "self" and s.stack == stack)
        missing = [layer for layer in expected if (stack, layer) not in self.layers]
        if missing:
            paths = [s.path for s in self.sites.values() if s.stack == stack and s.layer in missing][:3]
            raise SinklabError(
                f"Attention layers {missing} of {self.model_name} ({', '.join(paths)}) reported no statistics: "
                "their attention bypasses transformers' AttentionInterface, or is not softmax attention (e.g. "
                "linear attention in a hybrid model). Fix: measure with method='hooks' if they are eager softmax "
                "attention; sinklab cannot measure linear attention."
            )
        return [self.layers[(stack, layer)] for layer in expected]

    def layer_paths(self) -> list[str]:
        """Module path of each measured layer, in report order."""
        by_key = {(s.stack, s.layer): s.path for s in self.sites.values() if s.kind == "self"}
        return [by_key[key] for key in sorted(self.layers, key=lambda k: k[1])]

    def query_padding(self, q_length: int) -> torch.Tensor | None:
        """Padding of this call's own tokens (the last ``q_length`` positions), ``[B, q_length]``."""
        return None if self.padding is None else self.padding[:, -q_length:]

    def module_mask(self, module: torch.nn.Module, batch: int, q_length: int, kv_length: int) -> LazyMask:
        """The mask of a layer whose module hides it (the hooks): causal or bidirectional as the module says,
        its sliding window if it has one, and this call's padding."""
        if self.padding is not None and self.padding.shape[-1] != kv_length:
            raise SinklabError(
                f"{type(module).__name__} attends to {kv_length} keys but the input has {self.padding.shape[-1]} "
                "tokens (the model adds prompt or memory tokens of its own), so which key is the first token is "
                "ambiguous and sinklab cannot measure it exactly. Fix: none in sinklab for this architecture."
            )
        padding = None if self.padding is None or bool(self.padding.all()) else self.padding
        if not getattr(module, "is_causal", True):
            return LazyMask(bidirectional_mask_function, padding, batch, q_length, kv_length, 0, 0)
        window = getattr(module, "sliding_window", None)
        rule = sliding_window_causal_mask_function(window) if isinstance(window, int) else causal_mask_function
        return LazyMask(rule, padding, batch, q_length, kv_length, kv_length - q_length, 0)


class SinkRecorder:
    """What `sink_stats` yields: one `SinkReport` per forward call of the model, in call order."""

    def __init__(self, options: Options, eps: tuple[float, ...], method: str, model: torch.nn.Module | None = None):
        self.options, self.eps, self.method = options, eps, method
        self.sites = attention_sites(model) if model is not None else []
        self.model_name = type(model).__name__ if model is not None else "the model"
        self.dtype = getattr(model, "dtype", None)
        self.reports: list[SinkReport] = []
        self.patterns: list[dict[int, torch.Tensor]] = []  # per call: layer -> [B, heads, T, Tk]
        self.active: CallCollector | None = None  # the call in progress
        self._context = None

    @property
    def last(self) -> SinkReport:
        if not self.reports:
            raise SinklabError(
                "No forward call was measured yet. Fix: run the model inside the `with sink_stats(model)` block."
            )
        return self.reports[-1]

    def start_call(self, model, args, kwargs):
        """Forward pre-hook: check the inputs, open a collector and make it the active one."""
        from sinklab.measure.attention import collecting

        _check_inputs(model, args, kwargs)
        self.close()  # a previous call that raised leaves its collector open
        self.active = CallCollector(self.options, kwargs.get("attention_mask"), self.sites, self.model_name, self.dtype)
        self._context = collecting(self.active)
        self._context.__enter__()
        if self.method == "hooks":  # older attention modules return their weights only when asked
            kwargs = {**kwargs, "output_attentions": True}
        return args, kwargs

    def end_call(self, model, args, kwargs, output) -> None:
        """Forward hook: turn the call's collector into a report."""
        collector = self.active
        self.close()
        self.reports.append(build_report(collector, self.method, self.eps))
        kept = {layer: s.pattern.cpu() for (_, layer), s in collector.layers.items() if s.pattern is not None}
        self.patterns.append(kept)

    def close(self) -> None:
        """Deactivate the call's collector (also after a forward call that raised)."""
        if self._context is not None:
            self._context.__exit__(None, None, None)
        self._context, self.active = None, None


@contextmanager
def sink_stats(
    model: PreTrainedModel,
    stats: Sequence[str] = ("first",),
    *,
    eps: Sequence[float] = (0.3, 0.8),
    topk: int = 4,
    chunk_mb: float = 64.0,
    exact: bool = False,
    method: str = "auto",
    patterns: Mapping[int, Sequence[int]] | None = None,
) -> Iterator[SinkRecorder]:
    """Measure every forward call of ``model`` inside the block; yields a `SinkRecorder`.

    Works around your own loops and ``model.generate`` (one report per call: the prompt, then each
    new token). See `sinklab.measure.measure` for the arguments. The model's attention implementation
    is switched for the block and restored afterwards, also when the block raises.
    """
    options, eps, method = resolve_options(model, stats, eps, topk, chunk_mb, exact, method, patterns)
    implementation = NAME if method == "interface" else "eager"
    if variant_of(model) != "softmax":  # a sinklab.variants model keeps its attention function: it reports itself
        implementation = _compat.get_attn_implementation(model.config)
    recorder = SinkRecorder(options, eps, method, model)
    if not any(site.kind == "self" for site in recorder.sites):
        raise SinklabError(
            f"{type(model).__name__} has no attention modules to measure (none in its _can_record_outputs, no "
            "class named *Attention). Fix: measure a transformer; state-space models such as Mamba have no attention."
        )
    handles = [
        model.register_forward_pre_hook(recorder.start_call, with_kwargs=True),
        model.register_forward_hook(recorder.end_call, with_kwargs=True),
    ]
    try:
        if method == "hooks":
            handles += _attention_hooks(recorder)
        if "hidden" in options.stats:
            handles += _hidden_state_hooks(model, recorder)
        with attention_implementation(model, implementation):
            yield recorder
    finally:
        recorder.close()
        for handle in handles:
            handle.remove()


@contextmanager
def attention_implementation(model: PreTrainedModel, name: str) -> Iterator[None]:
    """Switch every config of the model to attention implementation ``name``; restore each one afterwards."""
    configs = all_configs(model)
    previous = [(config, _compat.get_attn_implementation(config)) for config in configs]
    for config in configs:
        _compat.set_attn_implementation(config, name)
    try:
        yield
    finally:
        for config, implementation in previous:
            _compat.set_attn_implementation(config, implementation)


def all_configs(model: PreTrainedModel) -> list:
    """The model's config, its sub-configs, and those of nested models."""
    found, todo = {}, [m.config for m in model.modules() if isinstance(m, PreTrainedModel)]
    while todo:
        config = todo.pop()
        if id(config) not in found:
            found[id(config)] = config
            todo += [getattr(config, key) for key in config.sub_configs if getattr(config, key, None) is not None]
    return list(found.values())


def _attention_hooks(recorder: SinkRecorder) -> list:
    """Forward hooks that reduce each eager attention module's weights to statistics and drop them."""

    def reduce_weights(module, args, output):
        collector = recorder.active
        if collector is None:
            return None
        site = collector.site_of(module)
        weights = output[1] if isinstance(output, (tuple, list)) and len(output) > 1 else None
        if not isinstance(weights, torch.Tensor) or weights.ndim != 4:
            raise SinklabError(
                f"{site.path} ({type(module).__name__}) returned no [batch, heads, T, T] attention weights even "
                "with eager attention and output_attentions=True, so the hooks cannot measure it (it may not be "
                "softmax attention, e.g. RWKV or linear attention). Fix: use method='interface' if the model "
                "supports it; otherwise sinklab cannot measure this architecture."
            )
        mask = collector.module_mask(module, weights.shape[0], weights.shape[2], weights.shape[3])
        stats = statistics_from_weights(weights, mask, collector.options, site.layer)
        window = getattr(module, "sliding_window", None)
        stats.window = window if isinstance(window, int) else None
        stats.layer_type = layer_type(module, stats.window)
        collector.add_layer(stats, module)
        return type(output)([output[0], None, *output[2:]])  # drop the weights: nothing is kept

    return [site.module.register_forward_hook(reduce_weights) for site in recorder.sites]


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


def _hidden_summary(hidden: torch.Tensor, padding: torch.Tensor | None) -> torch.Tensor:
    """``[B, 4]``: first-token norm, mean norm of the other real tokens, max |h| and median |h| over real tokens."""
    norm_first, norm_rest = metrics.first_and_rest_norms(hidden, padding)
    magnitude = hidden.float().abs()
    if padding is not None:
        magnitude = magnitude.masked_fill(~padding.to(hidden.device)[..., None], float("nan"))
    flat = magnitude.flatten(1)
    return torch.stack([norm_first, norm_rest, flat.nan_to_num(0.0).amax(-1), flat.nanmedian(-1).values], dim=-1)


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
        if isinstance(value, int) and value > 0:  # XLNet says -1: no limit
            return value
    return None
