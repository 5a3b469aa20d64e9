"""Sink metrics as pure tensor functions: no model code, so exercises can be checked against them.

Conventions
-----------
- An attention tensor ``attn`` holds softmax probabilities with queries on the second-to-last axis and
  keys on the last: ``[..., q, k]``, e.g. ``[layer, head, q, k]``, ``[batch, head, q, k]`` (one entry of
  Hugging Face's ``outputs.attentions``) or ``[batch, layer, head, q, k]``. It is square (q = k = T,
  one forward pass from position 0), and causal unless you say ``causal=False``.
- ``padding_mask`` is a tokenizer's ``attention_mask``: ``[T]`` or ``[batch, T]``, 1 for real tokens.
  Its batch axis lines up with the first axis of ``attn``. With padding, the *first token* of a row is
  its first real token (left padding moves it right), and pad queries are left out of every average.
- ``window`` is a sliding window as in transformers: a query sees itself and the ``window - 1`` keys
  before it.
"""

from __future__ import annotations

import torch

from sinklab.errors import SinklabError

MASSIVE_MAGNITUDE = 100.0  # Sun et al. 2024: |activation| > 100 ...
MASSIVE_RATIO = 1000.0  # ... and about 1000x the median magnitude of its hidden state


def validate_eps(eps: float) -> float:
    """Return ``eps`` as a float if it is a valid sink threshold, strictly between 0 and 1."""
    try:
        value = float(eps)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 < value < 1.0:
        raise SinklabError(
            f"The sink threshold eps must be a number strictly between 0 and 1, got {eps!r}. An attention "
            "weight is a probability, so eps <= 0 counts every head as a sink and eps >= 1 counts none. Fix: "
            "use eps=0.3 (Gu et al. 2025) or eps=0.8 (Barbero et al. 2025)."
        )
    return value


def first_token_index(padding_mask: torch.Tensor) -> torch.Tensor:
    """Position of each row's first real token, ``[batch]`` (or a scalar tensor for a ``[T]`` mask).

    With left padding this is the number of pad tokens; with right padding or none it is 0.
    """
    mask = padding_mask.bool()
    if not mask.any(-1).all():
        raise SinklabError("A row of padding_mask has no real token (all zeros). Fix: drop empty rows from the batch.")
    return mask.int().argmax(-1)


def masked_mean(values: torch.Tensor, mask: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Mean of ``values`` over ``dim`` counting only entries where ``mask`` is True (0 where none are)."""
    mask = mask.to(values.dtype)
    return (values * mask).sum(dim) / mask.sum(dim).clamp(min=1)


def mass_from_lse(score: torch.Tensor, lse: torch.Tensor) -> torch.Tensor:
    """Attention probability from a score and its row's log-sum-exp: ``p = exp(score - LSE)``.

    This is the "LSE trick" behind tier-1 measurement: a fused attention kernel returns each query's
    LSE_i = log sum_j exp(s_ij), so the mass on key 0 is exp(s_i0 - LSE_i) without the T x T matrix.
    Rows whose LSE is -inf (queries that see no key) get 0.
    """
    finite = torch.isfinite(lse)
    return torch.where(finite, torch.exp(score - torch.where(finite, lse, 0.0)), 0.0)


def first_token_mass(attn: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Attention each query puts on the first token, ``[..., q]`` (Xiao et al. 2024, StreamingLLM).

    The first token is position 0, or each row's first real token when ``padding_mask`` is given;
    pad queries get 0.
    """
    column = _key_column(attn, _key_index(attn, 0, padding_mask))
    if padding_mask is None:
        return column
    return column * _align(padding_mask.bool(), column.ndim)


def importance_score(
    attn: torch.Tensor,
    key: int | None = 0,
    *,
    padding_mask: torch.Tensor | None = None,
    causal: bool = True,
    window: int | None = None,
) -> torch.Tensor:
    """Gu et al. (ICLR 2025) importance score: mean attention key ``key`` receives from the queries that see it.

    alpha_k = sum_{i sees k} attn[i, k] / #{i sees k}. Under causal masking the queries that see key k
    are i = k..T-1, so the denominator is T - k (0-indexed); for k = 0 it is T and alpha_0 includes
    attn[0, 0] = 1. With a sliding window only queries within the window count; with padding only
    real queries count, and ``key`` counts from the row's first real token.

    ``key=None`` returns alpha for every (absolute) key, ``[..., k]``; keys nobody sees get 0.
    Otherwise returns ``[...]`` (the leading axes of ``attn``).
    """
    if key is None:
        visible = _visibility(attn, padding_mask, causal, window)
        return masked_mean(attn, visible, dim=-2)
    key_index = _key_index(attn, key, padding_mask)
    column = _key_column(attn, key_index)
    visible = _queries_seeing(column, key_index, padding_mask, causal, window)
    return masked_mean(column, visible)


def uniform_first_token_importance(length: int | torch.Tensor) -> torch.Tensor:
    """The null baseline of ``importance_score(attn, 0)``: alpha_0 of a head that attends uniformly.

    Under causal masking query i sees i + 1 keys, so a uniform head gives key 0 the share 1/(i + 1), and
    alpha_0 = (1/T) * sum_{i=1..T} 1/i = H_T / T (H_T the T-th harmonic number; query 0 contributes 1).
    That is 0.29 at T = 10, 0.21 at T = 17 and 0.074 at T = 64, far above 1/T: compare a measured
    alpha_0 with this, not with 1/T. ``length`` may be a tensor of per-row lengths (e.g. the row sums
    of an ``attention_mask``); the result has its shape.
    """
    lengths = torch.as_tensor(length)
    if (lengths < 1).any():
        raise SinklabError(f"uniform_first_token_importance: lengths must be >= 1, got {lengths.tolist()}.")
    top = int(lengths.max())
    harmonic = torch.cumsum(1.0 / torch.arange(1, top + 1, dtype=torch.float64), 0)
    return (harmonic[lengths.long() - 1] / lengths.double()).float()


def sink_rate(
    attn_or_importance: torch.Tensor,
    eps: float = 0.3,
    *,
    padding_mask: torch.Tensor | None = None,
    causal: bool = True,
    window: int | None = None,
) -> float:
    """Gu et al. (ICLR 2025) sink rate: fraction of (sample, layer, head) whose first-token importance exceeds eps.

    Accepts either importance scores (any shape with fewer than 4 axes, e.g. ``[batch, layer, head]``)
    or a full attention tensor (4 or 5 axes), from which alpha_0 is computed first. Gu et al. use
    eps = 0.3 with T = 64; Barbero et al. (COLM 2025) use eps = 0.8.
    """
    eps = validate_eps(eps)
    x = attn_or_importance
    if x.ndim >= 4:
        x = importance_score(x, 0, padding_mask=padding_mask, causal=causal, window=window)
    return (x > eps).float().mean().item()


def topk_mass(attn: torch.Tensor, k: int = 4) -> torch.Tensor:
    """Attention mass on each query's k most-attended keys, ``[..., q]``: how concentrated a head is.

    A concentration measure without a single source paper; k = 1 relates to Kaul et al. (2024), who
    count how often the argmax key is the first token.
    """
    return attn.topk(min(k, attn.shape[-1]), dim=-1).values.sum(-1)


def entropy(attn: torch.Tensor, log_attn: torch.Tensor | None = None) -> torch.Tensor:
    """Shannon entropy of each query's attention row in nats, ``[..., q]``; 0 * log 0 counts as 0.

    Queipo-de-Llano et al. (2025) see attention entropy drop as the sink forms during pre-training.
    Pass ``log_attn`` (e.g. s - LSE, finite everywhere) when you already have it, to skip the logarithm.
    """
    if log_attn is None:
        return -torch.special.xlogy(attn, attn).sum(-1)
    return -(attn * log_attn).sum(-1)


def is_massive(
    value: torch.Tensor,
    median: torch.Tensor,
    magnitude: float = MASSIVE_MAGNITUDE,
    ratio: float = MASSIVE_RATIO,
) -> torch.Tensor:
    """Sun et al. (COLM 2024) criterion: |value| > magnitude and |value| >= ratio * median magnitude."""
    value = value.abs()
    return (value > magnitude) & (value >= ratio * median.abs())


def massive_activations(
    hidden: torch.Tensor, magnitude: float = MASSIVE_MAGNITUDE, ratio: float = MASSIVE_RATIO
) -> torch.Tensor:
    """Boolean mask of massive activations (Sun et al., COLM 2024) in hidden states ``[..., T, D]``.

    An activation is massive when its magnitude exceeds ``magnitude`` and is at least ``ratio`` times
    the median magnitude of its hidden state (all tokens and dimensions of that layer and sequence).
    Use ``mask.nonzero()`` to list (token, dimension) pairs; they usually sit on the first token.
    """
    flat = hidden.abs().flatten(-2)
    median = flat.median(-1).values[..., None, None]
    return is_massive(hidden, median, magnitude, ratio)


def first_and_rest_norms(
    x: torch.Tensor, padding_mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """L2 norm of the first token's vector and mean L2 norm of the other real tokens' vectors.

    ``x`` is ``[..., T, D]`` (hidden states ``[batch, T, D]`` or keys ``[batch, head, T, D]``); returns two
    tensors shaped like ``x.shape[:-2]``. A small value norm on a sink token makes the sink an
    approximate no-op (Clark et al. 2019; Barbero et al. 2025).
    """
    norms = x.float().norm(dim=-1)
    key_index = _key_index(norms[..., None, :], 0, padding_mask)
    first = norms.gather(-1, key_index.expand(*norms.shape[:-1], 1)).squeeze(-1)
    positions = torch.arange(norms.shape[-1], device=norms.device)
    rest = positions != key_index
    if padding_mask is not None:
        rest = rest & _align(padding_mask.bool(), norms.ndim)
    return first, masked_mean(norms, rest)


def _align(mask: torch.Tensor, ndim: int) -> torch.Tensor:
    """View a ``[T]`` or ``[batch, T]`` mask so it broadcasts against a tensor with ``ndim`` axes (batch first)."""
    if mask.ndim == 1:
        return mask
    return mask.reshape(mask.shape[0], *([1] * (ndim - 2)), mask.shape[-1])


def _key_index(attn: torch.Tensor, key: int, padding_mask: torch.Tensor | None) -> torch.Tensor:
    """Absolute key position, shaped ``[..., 1]`` to broadcast over ``attn[..., q, :]`` rows."""
    if padding_mask is None:
        return torch.full((1,), key, dtype=torch.long, device=attn.device)
    first = first_token_index(padding_mask).to(attn.device).long() + key
    return _align(first[..., None], attn.ndim - 1)


def _key_column(attn: torch.Tensor, key_index: torch.Tensor) -> torch.Tensor:
    """``attn[..., :, key]`` for a key index that may differ per batch row; ``[..., q]``."""
    index = key_index[..., None].expand(*attn.shape[:-1], 1)
    return attn.gather(-1, index).squeeze(-1)


def _queries_seeing(
    column: torch.Tensor,
    key_index: torch.Tensor,
    padding_mask: torch.Tensor | None,
    causal: bool,
    window: int | None,
) -> torch.Tensor:
    """Which queries can see the key: real queries, at or after it (causal), within the window."""
    queries = torch.arange(column.shape[-1], device=column.device)
    visible = torch.ones_like(column, dtype=torch.bool)
    if causal:
        visible = visible & (queries >= key_index)
    if window is not None:
        visible = visible & ((queries - key_index).abs() < window)
    if padding_mask is not None:
        visible = visible & _align(padding_mask.bool().to(column.device), column.ndim)
    return visible


def _visibility(
    attn: torch.Tensor, padding_mask: torch.Tensor | None, causal: bool, window: int | None
) -> torch.Tensor:
    """Which (query, key) pairs the model's mask allows, ``[..., q, k]`` (broadcastable)."""
    n = attn.shape[-1]
    queries = torch.arange(n, device=attn.device)[:, None]
    keys = torch.arange(n, device=attn.device)[None, :]
    visible = torch.ones(n, n, dtype=torch.bool, device=attn.device)
    if causal:
        visible = visible & (keys <= queries)
    if window is not None:
        visible = visible & ((queries - keys).abs() < window)
    if padding_mask is not None:
        real = _align(padding_mask.bool().to(attn.device), attn.ndim - 1)
        visible = visible & real[..., :, None] & real[..., None, :]
    return visible
