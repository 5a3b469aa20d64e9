"""Checks for Chapter 3 (measuring sinks on real LLMs)'s exercises, in the order the chapter uses them."""

from __future__ import annotations

from collections.abc import Callable

import torch

from sinklab.checks._core import (
    CheckFailed,
    _randn,
    _reject_non_finite,
    _reject_shapes,
    compare,
)


def _lse_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    """Queries and keys [B=2, H=3, T=6, d=16] with a sink-ish key 0 (a shared direction most queries like)."""
    q, k = _randn(2, 3, 6, 16, seed=30), _randn(2, 3, 6, 16, seed=31)
    k[..., 0, :] += 2.0 * q.mean(-2)  # key 0 points where the queries point: a large score for most queries
    return q, k


def _first_mass(q: torch.Tensor, k: torch.Tensor, scale: float, causal: bool = True, reduce: str = "lse") -> torch.Tensor:
    scores = (q @ k.transpose(-2, -1)) * scale
    if causal:
        scores = scores.masked_fill(~torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).tril(), float("-inf"))
    normaliser = scores.amax(-1) if reduce == "max" else torch.logsumexp(scores, dim=-1)
    return torch.exp(scores[..., 0] - normaliser)


def check_first_mass_from_lse(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Exercise 3.2: fn(q [B, H, T, d], k [B, H, T, d]) -> first-token mass exp(s_i0 − LSE_i), causal, [B, H, T]."""
    q, k = _lse_inputs()
    d = q.shape[-1]
    scores = (q @ k.transpose(-2, -1)) / d**0.5
    causal = torch.ones(6, 6, dtype=torch.bool).tril()
    lse = torch.logsumexp(scores.masked_fill(~causal, float("-inf")), dim=-1)
    got = fn(q.clone(), k.clone())
    _reject_shapes("first_mass_from_lse", got, (2, 3, 6), {
        (2, 3, 6, 6): "this is the whole attention matrix; return only the first key's column, exp(s_i0 − LSE_i)",
        (2, 3): "one number per head: keep the query axis, one mass per query",
    })
    _reject_non_finite("first_mass_from_lse", got, "did you subtract an LSE of −inf? Every query sees key 0, so its "
                       "LSE is finite; mask with −inf *before* logsumexp, not after")
    compare("first_mass_from_lse", got, torch.softmax(scores.masked_fill(~causal, float("-inf")), -1)[..., 0], mistakes={
        "missing 1/√d scaling: the scores are q·k / √d, in the LSE and in s_i0": _first_mass(q, k, 1.0),
        "you divided the scores by d; divide by √d": _first_mass(q, k, 1 / d),
        "you used the row maximum instead of the log-sum-exp: exp(s_i0 − max_j s_ij) is not normalised "
        "(use torch.logsumexp)": _first_mass(q, k, d**-0.5, reduce="max"),
        "no causal mask in the LSE: query i may only sum over keys j ≤ i": _first_mass(q, k, d**-0.5, causal=False),
        "you returned the log-probability s_i0 − LSE_i; the mass is its exp": scores[..., 0] - lse,
        "logsumexp over the query axis (dim=-2); sum over the keys (dim=-1)":
            torch.exp(scores[..., 0] - torch.logsumexp(scores.masked_fill(~causal, float("-inf")), dim=-2)),
    })


def check_attention_memory_gib(fn: Callable[[int, int, int, int, int], float]) -> None:
    """Exercise 3.1: fn(n_layers, n_heads, seq_len, batch_size, bytes_per_value) -> GiB that
    `output_attentions=True` keeps: one [batch, heads, T, T] tensor per layer."""
    cases = [(32, 32, 4096, 1, 2), (12, 12, 1024, 8, 4)]  # Llama-3.1-8B at 4k in bf16; GPT-2 small, batch 8, fp32
    for layers, heads, length, batch, size in cases:
        name = f"attention_memory_gib({layers}, {heads}, {length}, {batch}, {size})"
        got = fn(layers, heads, length, batch, size)
        if not isinstance(got, (int, float)) and not (isinstance(got, torch.Tensor) and got.numel() == 1):
            raise CheckFailed(f"{name}: return one number (a float, in GiB), got {type(got).__name__}.")
        elements = layers * heads * length * length * batch
        mistakes = {
            "T instead of T²: every query has a weight for every key, a T × T matrix per head":
                layers * heads * length * batch * size / 2**30,
            "you divided by 10⁹ (GB); a GiB is 2³⁰ bytes": elements * size / 1e9,
            "you counted only the causal half T(T+1)/2; eager keeps the full T × T matrix, zeros included":
                layers * heads * length * (length + 1) / 2 * batch * size / 2**30,
            "you forgot the batch: every row of the batch has its own matrices": elements / batch * size / 2**30,
            "you forgot the layers: output_attentions returns one tensor per layer": elements / layers * size / 2**30,
            "you forgot the bytes per value: that is a number of elements, not of bytes": elements / 2**30,
        }
        compare(name, torch.tensor(float(got), dtype=torch.float64), torch.tensor(elements * size / 2**30, dtype=torch.float64),
                mistakes={m: torch.tensor(float(v), dtype=torch.float64) for m, v in mistakes.items()}, atol=1e-6)


def check_streaming_mask(fn: Callable[[int, int, int], torch.Tensor]) -> None:
    """Exercise 3.3: fn(length, window, n_sink) -> bool [T, T] (queries down): key j is visible to query i
    when j ≤ i and (i − j < window or j < n_sink)."""
    from sinklab import streaming

    for length, window, n_sink in [(10, 3, 2), (7, 2, 0), (6, 1, 4)]:
        name = f"streaming_mask({length}, {window}, {n_sink})"
        got = fn(length, window, n_sink)
        if not isinstance(got, torch.Tensor):
            raise CheckFailed(f"{name}: return a boolean torch.Tensor of shape [T, T], got {type(got).__name__}.")
        q, kv = torch.arange(length)[:, None], torch.arange(length)[None, :]
        in_window, sinks = (q - kv < window), (kv < n_sink)
        compare(name, got.float(), streaming.streaming_mask(length, window, n_sink).float(), mistakes={
            "the sinks are visible to queries before them: the causal mask (j ≤ i) applies to the sinks too":
                ((kv <= q) & in_window | sinks).float(),
            "off by one: the window holds `window` keys, the query itself included, so i − j < window (not ≤)":
                ((kv <= q) & ((q - kv <= window) | sinks)).float(),
            "the initial tokens are missing: keys j < n_sink stay visible (the attention sinks)":
                ((kv <= q) & in_window).float(),
            "your window looks both ways (|i − j| < window); under the causal mask only j ≤ i":
                (((q - kv).abs() < window) | ((kv <= q) & sinks)).float(),
            "transposed: rows are queries and columns keys": streaming.streaming_mask(length, window, n_sink).T.float(),
        })
