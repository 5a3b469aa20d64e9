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


def _first_mass(
    q: torch.Tensor, k: torch.Tensor, scale: float, causal: bool = True, reduce: str = "lse"
) -> torch.Tensor:
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
    _reject_shapes(
        "first_mass_from_lse",
        got,
        (2, 3, 6),
        {
            (2, 3, 6, 6): "this is the whole attention matrix; return only the first key's column, exp(s_i0 − LSE_i)",
            (2, 3): "one number per head: keep the query axis, one mass per query",
        },
    )
    _reject_non_finite(
        "first_mass_from_lse",
        got,
        "did you subtract an LSE of −inf? Every query sees key 0, so its "
        "LSE is finite; mask with −inf *before* logsumexp, not after",
    )
    expected = torch.softmax(scores.masked_fill(~causal, float("-inf")), -1)[..., 0]
    compare(
        "first_mass_from_lse",
        got,
        expected,
        mistakes={
            "missing 1/√d scaling: the scores are q·k / √d, in the LSE and in s_i0": _first_mass(q, k, 1.0),
            "you divided the scores by d; divide by √d": _first_mass(q, k, 1 / d),
            "you used the row maximum instead of the log-sum-exp: exp(s_i0 − max_j s_ij) is not normalised "
            "(use torch.logsumexp)": _first_mass(q, k, d**-0.5, reduce="max"),
            "no causal mask in the LSE: query i may only sum over keys j ≤ i": _first_mass(q, k, d**-0.5, causal=False),
            "you returned the log-probability s_i0 − LSE_i; the mass is its exp": scores[..., 0] - lse,
            "logsumexp over the query axis (dim=-2); sum over the keys (dim=-1)": torch.exp(
                scores[..., 0] - torch.logsumexp(scores.masked_fill(~causal, float("-inf")), dim=-2)
            ),
        },
    )


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
            "T instead of T²: every query has a weight for every key, a T × T matrix per head": layers
            * heads
            * length
            * batch
            * size
            / 2**30,
            "you divided by 10⁹ (GB); a GiB is 2³⁰ bytes": elements * size / 1e9,
            "you counted only the causal half T(T+1)/2; eager keeps the full T × T matrix, zeros included": layers
            * heads
            * length
            * (length + 1)
            / 2
            * batch
            * size
            / 2**30,
            "you forgot the batch: every row of the batch has its own matrices": elements / batch * size / 2**30,
            "you forgot the layers: output_attentions returns one tensor per layer": elements / layers * size / 2**30,
            "you forgot the bytes per value: that is a number of elements, not of bytes": elements / 2**30,
        }
        expected = torch.tensor(elements * size / 2**30, dtype=torch.float64)
        compare(
            name,
            torch.tensor(float(got), dtype=torch.float64),
            expected,
            mistakes={m: torch.tensor(float(v), dtype=torch.float64) for m, v in mistakes.items()},
            atol=1e-6,
        )


def check_streaming_mask(fn: Callable[[int, int, int], torch.Tensor]) -> None:
    """Exercise 3.3: fn(length, window, n_sink) -> bool [T, T] (queries down): key j is visible to query i
    when j ≤ i and (i − j < window or j < n_sink)."""
    from sinklab.analysis import streaming

    for length, window, n_sink in [(10, 3, 2), (7, 2, 0), (6, 1, 4)]:
        name = f"streaming_mask({length}, {window}, {n_sink})"
        got = fn(length, window, n_sink)
        if not isinstance(got, torch.Tensor):
            raise CheckFailed(f"{name}: return a boolean torch.Tensor of shape [T, T], got {type(got).__name__}.")
        q, kv = torch.arange(length)[:, None], torch.arange(length)[None, :]
        in_window, sinks = (q - kv < window), (kv < n_sink)
        compare(
            name,
            got.float(),
            streaming.streaming_mask(length, window, n_sink).float(),
            mistakes={
                "the sinks are visible to queries before them: the causal mask (j ≤ i) applies to the sinks too": (
                    (kv <= q) & in_window | sinks
                ).float(),
                "off by one: the window holds `window` keys, the query itself included, so i − j < window (not ≤)": (
                    (kv <= q) & ((q - kv <= window) | sinks)
                ).float(),
                "the initial tokens are missing: keys j < n_sink stay visible (the attention sinks)": (
                    (kv <= q) & in_window
                ).float(),
                "your window looks both ways (|i − j| < window); under the causal mask only j ≤ i": (
                    ((q - kv).abs() < window) | ((kv <= q) & sinks)
                ).float(),
                "transposed: rows are queries and columns keys": streaming.streaming_mask(
                    length, window, n_sink
                ).T.float(),
            },
        )


def check_first_and_rest_norms(fn: Callable[[torch.Tensor], tuple]) -> None:
    """Exercise 3.4: fn(x [B, H, T, d]) -> (‖x_0‖ [B, H], mean over t ≥ 1 of ‖x_t‖ [B, H]): the first token's
    key (or value) norm and the other tokens' mean norm, per row and head."""
    x = _randn(2, 3, 7, 5, seed=34)
    x[..., 0, :] *= 0.3  # a small first key/value, as in a sink head
    norms = x.norm(dim=-1)  # [B, H, T]
    got = fn(x.clone())
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise CheckFailed("first_and_rest_norms: return two tensors, (first, rest), each [B, H].")
    first, rest = got
    _reject_shapes(
        "first_and_rest_norms (first)",
        first,
        (2, 3),
        {
            (2, 3, 5): "you kept the feature axis: take the L2 norm over the last axis (d), x.norm(dim=-1)",
            (2, 3, 7): "one norm per position: keep position 0 only for `first`",
        },
    )
    compare(
        "first_and_rest_norms (first)",
        first,
        norms[..., 0],
        mistakes={
            "the squared norm (x·x); take the L2 norm, its square root": norms[..., 0] ** 2,
            "the last position (-1); the first token is position 0": norms[..., -1],
        },
    )
    _reject_shapes(
        "first_and_rest_norms (rest)",
        rest,
        (2, 3),
        {
            (2, 3, 5): "you averaged the vectors, not their norms, and kept the feature axis: norm first, then mean",
            (2, 3, 6): "one norm per position: average the norms of positions 1 … T−1",
        },
    )
    compare(
        "first_and_rest_norms (rest)",
        rest,
        norms[..., 1:].mean(-1),
        mistakes={
            "your mean includes position 0: the other tokens are positions 1 … T−1 (x[..., 1:, :])": norms.mean(-1),
            "you took the norm of the mean vector; average the norms (the vectors point different ways, so the "
            "mean vector is shorter)": x[..., 1:, :].mean(-2).norm(dim=-1),
            "the squared norms; take the L2 norm": (norms[..., 1:] ** 2).mean(-1),
        },
    )


def _block_output(seed: int, as_tuple: bool):
    hidden = _randn(3, 5, 6, seed=seed)
    return (hidden, "cache") if as_tuple else hidden


def check_make_ablation_hook(fn: Callable[[int, list, torch.Tensor], Callable]) -> None:
    """Exercise 3.5: fn(position, dims, values [len(dims)]) -> a forward hook for a transformer block that sets
    ``hidden[:, position, dims] = values`` in the block's output, which is a tensor or a tuple whose first
    element is the hidden states."""
    position, dims, values = 0, [4, 1], torch.tensor([7.0, -3.0])
    hook = fn(position, list(dims), values.clone())
    if not callable(hook):
        raise CheckFailed(f"make_ablation_hook: return the hook function itself, got {type(hook).__name__}.")
    for as_tuple in (False, True):
        name = f"make_ablation_hook ({'a tuple' if as_tuple else 'a tensor'} as the block's output)"
        output = _block_output(50, as_tuple)
        hidden = output[0] if as_tuple else output
        original = hidden.clone()
        block_input = _randn(3, 5, 6, seed=51)
        try:
            result = hook(torch.nn.Identity(), (block_input,), output)
        except (TypeError, IndexError, AttributeError) as e:
            raise CheckFailed(
                f"{name}: your hook failed with {type(e).__name__}: {e}. Many blocks return a tuple "
                "(hidden states, then caches or weights): take output[0] when it is a tuple, and "
                "return a tuple of the same form"
            ) from e
        if result is None:
            got = output[0] if as_tuple else output
        elif as_tuple:
            if not isinstance(result, tuple):
                raise CheckFailed(
                    f"{name}: the block returned a tuple; return one too, (patched, *output[1:]), "
                    "or the next block receives the wrong thing."
                )
            if len(result) != len(output) or result[1:] != output[1:]:
                raise CheckFailed(f"{name}: keep the tuple's other elements: return (patched, *output[1:]).")
            got = result[0]
        else:
            got = result
        expected, every_position, batch_row, zeroed = (original.clone() for _ in range(4))
        expected[:, position, dims] = values
        every_position[:, :, dims] = values
        batch_row[position, :, dims] = values
        zeroed[:, position, dims] = 0.0
        compare(
            name,
            got,
            expected,
            mistakes={
                "the block's output is unchanged: your hook changed a copy and returned None. Return the patched "
                "output (PyTorch then uses it as the block's output)": original,
                "you set the features at every position; only the first token's (position `position`)": every_position,
                "you indexed the batch axis (hidden[position]); positions are axis 1: hidden[:, position, dims]": batch_row,
                "you wrote zeros whatever `values` holds: write `values` (the mean for mean-ablation)": zeroed,
            },
        )
