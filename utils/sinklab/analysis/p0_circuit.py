"""The P0 sink circuit (chapter 4): where the first-token sink forms, and ablations that move or break it.

Under the causal mask, position 0 attends only to itself, so its residual stream after every block is
the same function of one token in every context (`first_token_states`). Peng et al. (2026, the "P0 sink
circuit") describe how models turn that into a sink within two blocks; Gu et al. (2025) show that the
sink comes from queries aligned with the first key (`query_key_cosines`), not from a large key norm.

- Where it forms: `layer_profile`, one row per layer (first-token norm, query/first-key cosine, sink rate).
- Where the sink sits: `sink_rate_at`, Gu et al.'s Sink_t for any key position t.
- Ablations: `move_bos` (BOS at a later position), `swapped_position_embeddings` (GPT-2's learned
  positions of 0 and t exchanged), `patched_residual` (write one position's residual stream into another).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from transformers import AttentionInterface, AttentionMaskInterface
from transformers.masking_utils import eager_mask

from sinklab import metrics
from sinklab.analysis import over_mixing as theory
from sinklab.errors import SinklabError
from sinklab.measure import SinkReport, _attention_implementation, measure, model_inputs, transformer_blocks
from sinklab.measure.attention import _model_eager_function

QK_NAME = "sinklab_qk"  # the attention implementation that records query/key cosines
QK_KWARG = "sinklab_qk_recorder"

# ---------------------------------------------------------------- position 0 sees only itself


def first_token_states(model, inputs) -> torch.Tensor:
    """Residual stream of position 0 entering block 0 and after every block, ``[B, L+1, D]`` (no final norm).

    Defined in chapter 4, Exercise 4.1. Under the causal mask it depends on the first token only.
    """
    ids = _unpadded_ids(model, inputs)
    return torch.stack([theory.residual_stream(model, row)[:, 0] for row in ids])


# ---------------------------------------------------------------- queries aligned with the first key


def first_key_cosine(query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """Mean cosine of each query 1..T-1 with the first key, per head: ``[B, H, T, d]``, ``[B, Hkv, T, d]`` ->
    ``[B, H]``.

    Query head h reads key/value head ``h // (H / Hkv)`` (grouped-query attention). Query 0 is left out:
    it sees only key 0, whatever the cosine. Defined in chapter 4, Exercise 4.2.
    """
    key = key.repeat_interleave(query.shape[1] // key.shape[1], dim=1)
    cosine = torch.nn.functional.cosine_similarity(query[:, :, 1:].float(), key[:, :, :1].float(), dim=-1)
    return cosine.mean(-1)


def other_key_cosine(query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """Mean cosine between each query i >= 1 and the keys 1..i (the first key left out; windows ignored): ``[B, H]``."""
    key = key.repeat_interleave(query.shape[1] // key.shape[1], dim=1).float()
    q = torch.nn.functional.normalize(query[:, :, 1:].float(), dim=-1)
    k = torch.nn.functional.normalize(key[:, :, 1:], dim=-1)
    cosine = q @ k.mT  # [B, H, T-1, T-1]: query i+1 against key j+1
    seen = torch.ones(cosine.shape[-2:], dtype=torch.bool, device=cosine.device).tril()
    return (cosine * seen).sum(-1).div(seen.sum(-1)).mean(-1)


@dataclass
class QKCosines:
    """Per layer and head, ``[B, L, H]``: how well queries align with the first key and with the other keys."""

    first: torch.Tensor
    other: torch.Tensor


def query_key_cosines(model, inputs) -> QKCosines:
    """Cosine of the (post-RoPE) queries with the first key and with the other keys, every layer and head.

    Gu et al. (2025, §3.1) find that the sink comes from this alignment, while the first key's *norm* is
    small. Inputs without padding (e.g. `prompts.prompt_batch`). The layers run the model's own eager
    attention, so the output is unchanged.
    """
    batch = {"input_ids": _unpadded_ids(model, inputs)}
    AttentionInterface.register(QK_NAME, _recording_attention)
    AttentionMaskInterface.register(QK_NAME, eager_mask)
    firsts, others = [], []
    with torch.no_grad(), _attention_implementation(model, QK_NAME):
        model(**batch, **{QK_KWARG: (firsts, others)})
    return QKCosines(torch.stack(firsts, 1).cpu(), torch.stack(others, 1).cpu())


def _recording_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """The model's eager attention, recording the query/key cosines of the layer on the way."""
    firsts, others = kwargs.pop(QK_KWARG)
    firsts.append(first_key_cosine(query, key))
    others.append(other_key_cosine(query, key))
    eager = _model_eager_function(module)
    return eager(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs)


# ---------------------------------------------------------------- where the sink forms


def layer_profile(model, inputs, eps: float = 0.3):
    """One row per layer l: what the first token looks like entering block l, and the sink in layer l.

    Columns: the first token's residual-stream norm relative to the other tokens' entering the block,
    the mean query/first-key and query/other-key cosines, the first key's norm relative to the other
    keys', the mean α₀ and the sink rate at ``eps``.
    """
    import pandas as pd

    report = measure(model, {"input_ids": _unpadded_ids(model, inputs)}, stats=("first", "hidden"), eps=(eps,))
    cosines = query_key_cosines(model, inputs)
    norm_ratio = (report.hidden_norm_first / report.hidden_norm_rest).mean(0)  # [L+1]: entering block l
    return pd.DataFrame(
        {
            "‖h₀‖ / ‖h_other‖ entering": norm_ratio[:-1].tolist(),
            "cos(q, k₀)": cosines.first.mean((0, 2)).tolist(),
            "cos(q, k_other)": cosines.other.mean((0, 2)).tolist(),
            "‖k₀‖ / ‖k_other‖": (report.key_norm_first / report.key_norm_rest).mean((0, 2)).tolist(),
            "mean α₀": report.importance.mean((0, 2)).tolist(),
            f"sink rate ε={eps:g}": report.layer_sink_rate(eps).tolist(),
        },
        index=pd.Index(range(len(report.layer_types)), name="layer"),
    )


def sink_rate_at(report: SinkReport, position: int, eps: float = 0.3) -> torch.Tensor:
    """``[L]``: per layer, the fraction of (sample, head) whose mean attention on key `position` exceeds eps.

    Gu et al.'s Sink_t (their Table 7 moves the sink to t); needs ``measure(..., stats=("received",))``.
    """
    if report.received is None:
        raise SinklabError(
            "This report has no attention received per key. Fix: measure with stats=('first', 'received')."
        )
    if not 0 <= position < report.received.shape[-1]:
        raise SinklabError(f"position {position} is outside the {report.received.shape[-1]} keys of the report.")
    return (report.received[..., position] > metrics.validate_eps(eps)).float().mean((0, 2))


# ---------------------------------------------------------------- ablations


def sink_rate_at_key(attn: torch.Tensor, key: int, eps: float = 0.3) -> torch.Tensor:
    """``[L]``: Gu et al.'s Sink_key per layer from full causal weights ``[B, L, H, T, T]``: the fraction of
    (row, head) whose mean attention on `key`, over the queries that see it (key … T−1), exceeds eps.

    The same number as `sink_rate_at` on a `measure(..., stats=("received",))` report. Chapter 4, Exercise 4.3.
    """
    if not 0 <= key < attn.shape[-1]:
        raise SinklabError(f"key {key} is outside the {attn.shape[-1]} keys of the attention weights.")
    alpha = attn[..., key:, key].float().mean(-1)  # [B, L, H]: queries key..T-1 see key
    return (alpha > metrics.validate_eps(eps)).float().mean((0, 2))


def move_bos(ids: Sequence[int], position: int, bos_id: int) -> list[int]:
    """`ids` that start with BOS, with that BOS taken from position 0 and inserted at `position` (same length)."""
    ids = list(ids)
    if not ids or ids[0] != bos_id:
        raise SinklabError(
            "move_bos needs ids that start with the BOS token. Fix: tokenize with the BOS (the default)."
        )
    if not 0 <= position < len(ids):
        raise SinklabError(f"position {position} is outside the {len(ids)} tokens.")
    rest = ids[1:]
    return rest[:position] + [bos_id] + rest[position:]


def position_embedding(model) -> torch.nn.Embedding:
    """The learned absolute position embedding (GPT-2's ``wpe``, BERT's ``position_embeddings``)."""
    for name, module in model.named_modules():
        if name.split(".")[-1] in ("wpe", "position_embeddings") and isinstance(module, torch.nn.Embedding):
            return module
    raise SinklabError(
        f"{type(model).__name__} has no learned absolute position embedding (wpe): models with RoPE (Llama, "
        "Qwen, Pythia, Mistral, Gemma) encode positions inside attention. Fix: use GPT-2 for this ablation."
    )


def swap_rows_(weight: torch.Tensor, i: int, j: int) -> None:
    """Exchange rows i and j of `weight` in place (chapter 4, section 6)."""
    with torch.no_grad():
        weight[[i, j]] = weight[[j, i]]


@contextmanager
def swapped_position_embeddings(model, i: int, j: int) -> Iterator[None]:
    """Inside the block, position i gets position j's learned embedding and vice versa (Gu et al., Table 7)."""
    weight = position_embedding(model).weight
    if not (0 <= i < len(weight) and 0 <= j < len(weight)):
        raise SinklabError(f"positions {i} and {j} must be below the model's {len(weight)} positions.")
    swap_rows_(weight, i, j)
    try:
        yield
    finally:
        swap_rows_(weight, i, j)


@contextmanager
def patched_residual(model, block: int, position: int, state: torch.Tensor) -> Iterator[None]:
    """Inside the block, the residual stream after `block` at `position` is replaced by `state` ``[D]`` (every row).

    Blocks after `block` then read the patched state; earlier positions are unaffected (causal mask).
    """
    blocks = transformer_blocks(model)
    if not 0 <= block < len(blocks):
        raise SinklabError(f"block {block} does not exist: the model has blocks 0..{len(blocks) - 1}.")

    def patch(_module, _args, output):
        hidden = output[0] if isinstance(output, tuple) else output
        if not -hidden.shape[1] <= position < hidden.shape[1]:
            raise SinklabError(f"position {position} is outside the {hidden.shape[1]} tokens of the input.")
        hidden = hidden.clone()
        hidden[:, position] = state.to(hidden.dtype)
        return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

    handle = blocks[block].register_forward_hook(patch)
    try:
        yield
    finally:
        handle.remove()


def _unpadded_ids(model, inputs) -> torch.Tensor:
    """``input_ids`` ``[B, T]`` on the model's device; refuses padded batches (their first token moves)."""
    batch = model_inputs(model, inputs)
    mask = batch.get("attention_mask")
    if mask is not None and not bool(mask.bool().all()):
        raise SinklabError(
            "This function needs rows of equal length without padding. Fix: use prompts.prompt_batch(tokenizer, "
            "seq_len=...) or cut every row to the same number of tokens."
        )
    return batch["input_ids"]


# ---------------------------------------------------------------- what each ablation should do (chapter 4)

# For each ablation of chapter 4's sections 3–7, what a model does and where we know it from: our own
# measurement (the ci models, and the cached TinyStories model of an offline cpu machine) or a paper. The
# chapter asks for the learner's prediction first and reveals these, one ablation at a time, after measuring.
# Words: the sink "persists" (at least half of it is left), "weakens" or "collapses" (less than a quarter);
# a moved first token takes the sink "moves with it", leaves it "stays at position 0", or it "vanishes".
EMBEDDED, TINYSTORIES, GPT2, MINILM = (
    "sinklab/tiny-sink-lm",
    "raincandy-u/TinyStories-656K",
    "gpt2",
    "sentence-transformers/all-MiniLM-L6-v2",
)
PREDICTIONS: dict[str, dict[str, str]] = {
    EMBEDDED: {
        "source": "measured on the ci profile",
        "random first token": "collapses",
        "random text after the first token": "persists",
        "BOS removed": "collapses",
        "first token moved": "moves with it",
        "its state written into t": "persists",
    },
    TINYSTORIES: {
        "source": "measured on the cpu profile with the offline cache",
        "random first token": "collapses",
        "random text after the first token": "persists",
        "BOS removed": "collapses",
        "first token moved": "vanishes",
        "its state written into t": "persists",
    },
    "gpt2-xl": {
        "source": "Gu et al. (2025), measured on GPT2-XL: it sinks on any first token; their Table 7 moves "
        "the sink with the position embedding",
        "random first token": "persists",
        "first token moved": "stays at position 0",
        "position embeddings swapped": "moves with it",
    },
    MINILM: {"source": "measured on the ci profile", "position embeddings swapped": "moves with it"},
    **{
        name: {
            "source": "Peng et al. (2026, v2; third-party reading [S2]): Llama-3 models rebuild the sink after two "
            "blocks without BOS",
            "BOS removed": "persists",
        }
        for name in ("meta-llama/Llama-3.2-1B", "meta-llama/Llama-3.1-8B")
    },
    "mistralai/Mistral-7B-v0.1": {
        "source": "Peng et al. (2026, v2; third-party reading [S2]): BOS is the sole driver, ≈87 % → ≈2 %",
        "BOS removed": "collapses",
    },
}


RELATED = {GPT2: "gpt2-xl"}  # a prediction published for a larger sibling is shown, never asserted


def reveal(name: str, ablation: str, observed: str, yours: dict | None = None) -> None:
    """Print what happened, the learner's prediction and the reference one; assert the reference where there is one
    (never for a sibling's published number, never on stand-in weights)."""
    from sinklab import models

    expected = PREDICTIONS.get(name, {}).get(ablation)
    sibling = RELATED.get(name)
    sibling_expected = PREDICTIONS.get(sibling, {}).get(ablation)
    guess = (yours or {}).get(ablation) or "(none written)"
    note = (
        f"reference: {expected} ({PREDICTIONS[name]['source']})"
        if expected
        else f"reported only; for {sibling}: {sibling_expected} ({PREDICTIONS[sibling]['source']})"
        if sibling_expected
        else "no reference: reported only"
    )
    print(f"{name}, {ablation}: the sink {observed} — you predicted: {guess}; {note}")
    if expected is not None and models.is_stand_in(name):
        print(models.STAND_IN_NOTE)
        return
    if expected is not None and observed != expected:
        raise SinklabError(
            f"{name}: expected the sink to be '{expected}' after '{ablation}', measured '{observed}'. "
            "If the teaching model was retrained, re-measure and update circuit.PREDICTIONS."
        )
