"""The arguments `measure` and `sink_stats` share: checked once, with the fix named; method="auto" resolved."""

from __future__ import annotations

from transformers import PreTrainedModel

from sinklab import _compat, metrics
from sinklab.errors import SinklabError
from sinklab.measure.attention import Options, register

STATS = ("first", "topk", "entropy", "received", "hidden")
METHODS = ("auto", "interface", "hooks")
DEFAULT_EPS = (0.3, 0.8)
VARIANT_KEY = "sinklab_attention"  # where sinklab.variants.use records a model's attention variant


def resolve_options(
    model, stats, eps, topk, chunk_mb, exact, method, patterns
) -> tuple[Options, tuple[float, ...], str]:
    """Validate the arguments shared by `measure` and `sink_stats`; resolve method="auto"."""
    check_model(model)
    stats = frozenset(stats) | {"first"}
    unknown = stats - set(STATS)
    if unknown:
        raise SinklabError(f"Unknown statistics {sorted(unknown)}. Fix: choose from {', '.join(STATS)}.")
    if method not in METHODS:
        raise SinklabError(f"Unknown method {method!r}. Fix: use one of {', '.join(METHODS)}.")
    if variant_of(model) != "softmax":
        method = _check_variant(model, method, exact)
    if method == "auto":
        method = "interface" if _compat.uses_attention_interface(model) else "hooks"
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


def check_model(model) -> None:
    if not isinstance(model, PreTrainedModel):
        raise SinklabError(
            f"sinklab measures Hugging Face transformers models, got a {type(model).__name__}. Fix: load the "
            "model with transformers (e.g. sinklab.models.load_model(name) or AutoModelForCausalLM.from_pretrained)."
        )


def variant_of(model) -> str:
    """The attention variant of a model switched by `sinklab.variants.use` ("softmax" for any other model)."""
    return getattr(model.config, VARIANT_KEY, None) or "softmax"


def _check_variant(model, method: str, exact: bool) -> str:
    """A variant model keeps its own attention function, which reports from the weights it computed."""
    variant = variant_of(model)
    if method == "hooks" or exact:
        raise SinklabError(
            f"This model uses the {variant!r} attention variant, measured from the weights its own attention "
            "function computes; method='hooks' and exact=True apply to softmax models only. Fix: call "
            "measure(model, inputs) with the default method and exact=False."
        )
    return "interface"
