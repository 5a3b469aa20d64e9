"""Sink statistics from any Hugging Face model in one call, without the T x T attention matrix.

    report = measure(model, tokenizer(texts, return_tensors="pt", padding=True))
    report.importance          # [batch, layer, head]: Gu et al.'s alpha_0, mean attention on the first token
    report.sink_rate           # {0.3: ..., 0.8: ...}: fraction of (sample, layer, head) with alpha_0 > eps
    report.mean_first_mass()   # [layer, head], averaged over the batch (for a heatmap)

    with sink_stats(model) as recorder:       # inside your own loops, or around model.generate(...)
        model.generate(**batch, max_new_tokens=5)
    recorder.reports                          # one SinkReport per forward call

How it works (`sinklab.measure.attention`): a function registered in transformers' AttentionInterface
computes each layer's output with a fused kernel that also returns every query's log-sum-exp, so
the first-token mass p_i0 = exp(s_i0 - LSE_i) costs one dot product per query (tier 1, always on).
Top-k mass, entropy and attention received per key come from an opt-in exact pass over blocks of
queries (tier 2). Models whose attention bypasses the interface (BLOOM, Falcon, MPT) are measured by
forward hooks on their eager attention modules, which reduce the weights at once and keep nothing
(``method="hooks"``). Encoders such as BERT are supported: attention is bidirectional, every real
query sees the first token ([CLS]).

"First token" means each row's first real token: with left padding it is not position 0.

Modules: `api` (measure, attention_patterns), `recorder` (sink_stats, the per-call collector, hooks),
`discovery` (which modules are attention layers), `report` (SinkReport, JSON), `cli` and `page`
(``sinklab measure MODEL``). Every public name is importable from ``sinklab.measure``.
"""

from sinklab.measure.api import attention_patterns, measure, model_inputs
from sinklab.measure.cli import add_arguments, cli_main, format_head_table, sample_texts, tokenize
from sinklab.measure.discovery import Site, attention_modules, attention_sites, transformer_blocks
from sinklab.measure.options import DEFAULT_EPS, METHODS, STATS, resolve_options, variant_of
from sinklab.measure.options import check_model as _check_model  # noqa: F401 (used by sinklab.analysis.streaming)
from sinklab.measure.recorder import (
    CallCollector,
    SinkRecorder,
    all_configs,
    attention_implementation,
    sink_stats,
)
from sinklab.measure.report import SinkReport, build_report

_attention_implementation = attention_implementation  # old private names, used by streaming and circuit
_all_configs = all_configs
_options = resolve_options

__all__ = [
    "DEFAULT_EPS",
    "METHODS",
    "STATS",
    "CallCollector",
    "SinkRecorder",
    "SinkReport",
    "Site",
    "add_arguments",
    "all_configs",
    "attention_implementation",
    "attention_modules",
    "attention_patterns",
    "attention_sites",
    "build_report",
    "cli_main",
    "format_head_table",
    "measure",
    "model_inputs",
    "resolve_options",
    "sample_texts",
    "sink_stats",
    "tokenize",
    "transformer_blocks",
    "variant_of",
]
