"""Checks for Chapter 1 (attention from scratch)'s exercises, in the order the chapter uses them."""

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


def _softmax_attention(scores: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return torch.softmax(scores, dim=-1) @ v


def check_attention(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Exercise 1.1: fn(q [..., T, d], k [..., T, d], v [..., T, d_v]) -> softmax(q kᵀ/√d) v, [..., T, d_v]."""
    from sinklab.analysis import scratch_attention as attention

    q, k, v = _randn(2, 5, 4, seed=1), _randn(2, 5, 4, seed=2), _randn(2, 5, 3, seed=3)  # two heads, T=5, d=4
    scores = q @ k.transpose(-2, -1)  # unscaled; √d = 2
    expected = attention.attention(q, k, v)
    got = fn(q.clone(), k.clone(), v.clone())
    _reject_shapes(
        "attention",
        got,
        expected.shape,
        {
            (2, 5, 5): "these are the attention weights [T, T]; multiply them by v to get the output",
        },
    )
    compare(
        "attention",
        got,
        expected,
        mistakes={
            "softmax over the query axis (dim=-2) instead of the key axis (dim=-1)": torch.softmax(scores / 2, dim=-2)
            @ v,
            "missing 1/√d scaling: divide the scores by √d = √(q.shape[-1])": _softmax_attention(scores, v),
            "you divided the scores by d; divide by √d": _softmax_attention(scores / 4, v),
            "transposed K: you computed k qᵀ, so rows are keys and columns queries; compute q kᵀ": _softmax_attention(
                scores.transpose(-2, -1) / 2, v
            ),
        },
    )


def check_causal_attention(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Exercise 1.2: fn(q, k, v) -> causal softmax attention; query i sees keys 0…i. Shapes as in 1.1."""
    from sinklab.analysis import scratch_attention as attention

    q, k, v = _randn(2, 5, 4, seed=4), _randn(2, 5, 4, seed=5), _randn(2, 5, 3, seed=6)
    scores = q @ k.transpose(-2, -1) / 2
    visible = attention.causal_mask(5)
    expected = attention.attention(q, k, v, causal=True)
    got = fn(q.clone(), k.clone(), v.clone())
    _reject_non_finite(
        "causal_attention",
        got,
        "a query whose keys are all masked gets softmax(−inf, …, −inf) = "
        "NaN. Did you mask the diagonal too? Query i must see keys 0…i, itself included",
    )
    compare(
        "causal_attention",
        got,
        expected,
        mistakes={
            "you masked the diagonal too: query i must also see key i (torch.tril keeps j ≤ i)": _softmax_attention(
                scores.masked_fill(~visible.tril(-1), -1e9), v
            ),
            "you kept the upper triangle (query i sees the future keys i…T−1); keep the lower one, j ≤ i": _softmax_attention(
                scores.masked_fill(~visible.T, float("-inf")), v
            ),
            "you set masked scores to 0 instead of −inf; exp(0) = 1, so masked keys still get weight": _softmax_attention(
                scores.masked_fill(~visible, 0.0), v
            ),
            "you masked after the softmax: the remaining weights no longer sum to one. Mask the scores, then softmax": (
                torch.softmax(scores, dim=-1) * visible
            )
            @ v,
            "no causal mask at all: every query sees every key": _softmax_attention(scores, v),
        },
    )


def check_split_heads(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> None:
    """Exercise 1.3: fn(x [B, T, H·d], n_heads) -> [B, H, T, d]; head h owns features h·d … (h+1)·d − 1."""
    from sinklab.analysis import scratch_attention as attention

    x = _randn(2, 5, 12, seed=7)
    for n_heads in (3, 2):
        name, head_dim = f"split_heads(n_heads={n_heads})", 12 // n_heads
        expected = attention.split_heads(x, n_heads)
        got = fn(x.clone(), n_heads)
        _reject_shapes(
            name,
            got,
            expected.shape,
            {
                (2, 5, n_heads, head_dim): "heads must come before positions: transpose(1, 2) after the view",
                (2, 5, head_dim, n_heads): "you cut each position into [d, H]; cut it into [H, d], then move heads "
                "before positions",
            },
        )
        compare(
            name,
            got,
            expected,
            mistakes={
                "you viewed x as [B, H, T, d] directly, which mixes positions into heads; view as [B, T, H, d], "
                "then transpose(1, 2)": x.reshape(2, n_heads, 5, head_dim),
                "you cut the features as [d, H], so head h got every H-th feature; head h owns the contiguous "
                "slice h·d … (h+1)·d − 1": x.view(2, 5, head_dim, n_heads).permute(0, 3, 1, 2),
            },
        )


def check_repeat_kv(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> None:
    """Exercise 1.4: fn(x [B, Hkv, T, d], n_rep) -> [B, Hkv·n_rep, T, d], ordered kv0, kv0, …, kv1, kv1, …"""
    from sinklab.analysis import scratch_attention as attention

    x = _randn(1, 2, 3, 4, seed=8)
    for n_rep in (3, 2):
        name = f"repeat_kv(n_rep={n_rep})"
        expected = attention.repeat_kv(x, n_rep)
        got = fn(x.clone(), n_rep)
        _reject_shapes(
            name,
            got,
            expected.shape,
            {
                (1, 2, 3 * n_rep, 4): "you repeated along the positions (dim 2); repeat along the heads (dim 1)",
                (
                    1,
                    2,
                    3,
                    4 * n_rep,
                ): "you repeated along the head dimension d (dim −1); repeat along the heads (dim 1)",
                (n_rep, 2, 3, 4): "you repeated along the batch (dim 0); repeat along the heads (dim 1)",
            },
        )
        compare(
            name,
            got,
            expected,
            mistakes={
                "x.repeat(1, n_rep, 1, 1) tiles the heads as kv0, kv1, kv0, kv1, …; query head h must read kv head "
                "h // n_rep, so the copies must sit next to each other: use repeat_interleave(n_rep, dim=1)": x.repeat(
                    1, n_rep, 1, 1
                ),
            },
        )


def _projections(d_model: int, n_heads: int, n_kv_heads: int, head_dim: int, seed: int) -> list[torch.nn.Linear]:
    """q, k, v, o projections (no bias) with weights large enough that attention is far from uniform."""
    sizes = [
        (d_model, n_heads * head_dim),
        (d_model, n_kv_heads * head_dim),
        (d_model, n_kv_heads * head_dim),
        (n_heads * head_dim, d_model),
    ]
    layers = []
    for i, (fan_in, fan_out) in enumerate(sizes):
        layer = torch.nn.Linear(fan_in, fan_out, bias=False)
        layer.weight.data = 1.5 * _randn(fan_out, fan_in, seed=seed + i) / fan_in**0.5
        layers.append(layer)
    return layers


GQA_MISTAKES = {
    "split order": "wrong head split: you viewed the projection as [B, H, T, d] directly; view it as [B, T, H, d], "
    "then transpose(1, 2) (what split_heads does)",
    "tiled kv": "repeat instead of repeat_interleave: query head h must read key/value head h // n_rep (use repeat_kv)",
    "no causal mask": "no causal mask: use causal_attention, so query i sees keys 0…i only",
    "merge order": "wrong merge: you reshaped [B, H, T, d] to [B, T, H·d] without first moving heads back behind "
    "positions (transpose(1, 2), as merge_heads does)",
    "no o_proj": "you forgot the output projection o_proj after merging the heads",
}


def _gqa_with_mistake(x, projections, n_heads, n_kv_heads, mistake: str = "", rope=None) -> torch.Tensor:
    """Grouped-query attention as the reference computes it, except for one mistake (a key of GQA_MISTAKES,
    or "rope on v")."""
    from sinklab.analysis import scratch_attention as attention

    q_proj, k_proj, v_proj, o_proj = projections
    batch, length, _ = x.shape

    def split(t: torch.Tensor, heads: int) -> torch.Tensor:
        if mistake == "split order":
            return t.reshape(batch, heads, length, -1)
        return attention.split_heads(t, heads)

    q, k, v = split(q_proj(x), n_heads), split(k_proj(x), n_kv_heads), split(v_proj(x), n_kv_heads)
    if rope is not None:
        q, k = attention.apply_rope(q, *rope), attention.apply_rope(k, *rope)
        if mistake == "rope on v":
            v = attention.apply_rope(v, *rope)
    n_rep = n_heads // n_kv_heads
    if mistake == "tiled kv":
        k, v = k.repeat(1, n_rep, 1, 1), v.repeat(1, n_rep, 1, 1)
    else:
        k, v = attention.repeat_kv(k, n_rep), attention.repeat_kv(v, n_rep)
    out = attention.attention(q, k, v, causal=mistake != "no causal mask")
    merged = out.reshape(batch, length, -1) if mistake == "merge order" else attention.merge_heads(out)
    return merged if mistake == "no o_proj" else o_proj(merged)


def check_grouped_query_attention(fn: Callable[..., torch.Tensor]) -> None:
    """Exercise 1.5: fn(x [B, T, D], q_proj, k_proj, v_proj, o_proj, n_heads, n_kv_heads) -> [B, T, D]."""
    x = _randn(2, 6, 16, seed=9)
    for n_kv_heads in (4, 2):  # multi-head attention (one k/v head per query head), then GQA
        name = f"grouped_query_attention(n_heads=4, n_kv_heads={n_kv_heads})"
        projections = _projections(16, 4, n_kv_heads, 4, seed=20 + n_kv_heads)
        with torch.no_grad():
            expected = _gqa_with_mistake(x, projections, 4, n_kv_heads)
            mistakes = {
                message: _gqa_with_mistake(x, projections, 4, n_kv_heads, mistake)
                for mistake, message in GQA_MISTAKES.items()
            }
            got = fn(x.clone(), *projections, 4, n_kv_heads)
        compare(name, got, expected, mistakes=mistakes)


def check_rope_cos_sin(fn: Callable[[torch.Tensor, int, float], tuple[torch.Tensor, torch.Tensor]]) -> None:
    """Exercise 1.6: fn(positions [T], head_dim, base) -> (cos, sin), each [T, head_dim], Llama's half-split layout."""
    from sinklab.analysis import scratch_attention as attention

    positions, head_dim, base = torch.arange(6), 8, 100.0
    got = fn(positions.clone(), head_dim, base)
    if not (isinstance(got, (tuple, list)) and len(got) == 2 and all(isinstance(t, torch.Tensor) for t in got)):
        raise CheckFailed("rope_cos_sin: return a pair of tensors (cos, sin), each of shape [T, head_dim].")
    if got[0].shape != got[1].shape:
        raise CheckFailed(
            f"rope_cos_sin: cos and sin must have the same shape [T, head_dim]; got "
            f"{tuple(got[0].shape)} and {tuple(got[1].shape)}."
        )
    got = torch.stack([got[0].detach().float(), got[1].detach().float()])
    expected = torch.stack(attention.rope_cos_sin(positions, head_dim, base))

    def cos_sin(angles: torch.Tensor) -> torch.Tensor:
        return torch.stack([angles.cos(), angles.sin()])

    pair = torch.arange(0, head_dim, 2, dtype=torch.float32)  # 2i for pair i
    angles = positions[:, None] * base ** (-pair / head_dim)  # [T, d/2]
    _reject_shapes(
        "rope_cos_sin",
        got,
        expected.shape,
        {
            (
                2,
                6,
                head_dim // 2,
            ): "one angle per *pair*: concatenate the [T, d/2] angles with themselves to get [T, d]",
        },
    )
    compare(
        "rope_cos_sin",
        got,
        expected,
        mistakes={
            "adjacent-pair layout (each angle repeated twice in a row: the GPT-J / RoPE-paper convention); Llama's "
            "rotate_half pairs dimension i with i + d/2, so use torch.cat([angles, angles], dim=-1)": cos_sin(
                angles.repeat_interleave(2, dim=-1)
            ),
            "frequency exponent −i/d for i = 0 … d/2 − 1; it is −2i/d: use torch.arange(0, head_dim, 2) / head_dim": cos_sin(
                torch.cat([positions[:, None] * base ** (-pair / 2 / head_dim)] * 2, dim=-1)
            ),
            "you ignored the base argument (10000 is only the default)": cos_sin(
                torch.cat([positions[:, None] * 10000.0 ** (-pair / head_dim)] * 2, dim=-1)
            ),
            "frequencies base^(+2i/d) grow with i; they must shrink: base^(−2i/d)": cos_sin(
                torch.cat([positions[:, None] * base ** (pair / head_dim)] * 2, dim=-1)
            ),
            "cos and sin are swapped: return (cos, sin)": cos_sin(torch.cat([angles, angles], dim=-1)).flip(0),
        },
    )


def check_apply_rope(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Exercise 1.7: fn(x [..., T, d], cos [T, d], sin [T, d]) -> x rotated pairwise (i, i + d/2), [..., T, d]."""
    from sinklab.analysis import scratch_attention as attention

    x = _randn(2, 3, 6, 8, seed=10)
    cos, sin = attention.rope_cos_sin(torch.arange(6), 8, 100.0)
    expected = attention.apply_rope(x, cos, sin)
    x1, x2 = x.chunk(2, dim=-1)
    rotate_adjacent = torch.stack([-x[..., 1::2], x[..., 0::2]], dim=-1).flatten(-2)  # (x0, x1) -> (−x1, x0)
    compare(
        "apply_rope",
        fn(x.clone(), cos.clone(), sin.clone()),
        expected,
        mistakes={
            "you rotated adjacent pairs (x0, x1), (x2, x3), …; Llama pairs dimension i with i + d/2: "
            "rotate_half(x) = cat(−x2, x1) on the two halves": x * cos + rotate_adjacent * sin,
            "you rotated by −θ: rotate_half(x) is cat(−x2, x1), not cat(x2, −x1)": x * cos
            - attention.rotate_half(x) * sin,
            "rotate_half without the minus sign: it is cat(−x2, x1), not cat(x2, x1)": x * cos
            + torch.cat([x2, x1], dim=-1) * sin,
            "you multiplied x itself by sin; the sine term uses rotate_half(x)": x * cos + x * sin,
        },
    )


def check_llama_attention(fn: Callable[[torch.nn.Module, torch.Tensor, float], torch.Tensor]) -> None:
    """Exercise 1.8: fn(attn, hidden_states [B, T, D], rope_base) reproduces a transformers LlamaAttention layer."""
    from sinklab.analysis import scratch_attention as attention

    model = attention.tiny_llama(seed=0)
    attn = model.model.layers[0].self_attn
    base = model.config.rope_parameters["rope_theta"]
    hidden_states = _randn(2, 7, model.config.hidden_size, seed=11)
    layer = (
        hidden_states,
        [attn.q_proj, attn.k_proj, attn.v_proj, attn.o_proj],
        model.config.num_attention_heads,
        model.config.num_key_value_heads,
    )
    rope = attention.rope_cos_sin(torch.arange(7), attn.head_dim, base)
    default_rope = attention.rope_cos_sin(torch.arange(7), attn.head_dim, 10000.0)
    with torch.no_grad():
        expected = attention.llama_layer_output(model, hidden_states)  # the transformers module itself
        mistakes = {
            "no RoPE: rotate q and k with apply_rope(…, cos, sin) after splitting the heads": _gqa_with_mistake(*layer),
            "wrong RoPE base: this model uses config.rope_parameters['rope_theta'] (passed to you as rope_base), "
            "not 10000": _gqa_with_mistake(*layer, rope=default_rope),
            "you rotated the values too; RoPE rotates only queries and keys": _gqa_with_mistake(
                *layer, mistake="rope on v", rope=rope
            ),
            **{message: _gqa_with_mistake(*layer, mistake, rope=rope) for mistake, message in GQA_MISTAKES.items()},
        }
        got = fn(attn, hidden_states.clone(), base)
    compare("llama_attention", got, expected, mistakes=mistakes, atol=1e-4)


def _softmax_one_mistakes(scores: torch.Tensor) -> dict[str, torch.Tensor]:
    exp, shifted = scores.exp(), (scores - scores.amax(-1, keepdim=True)).exp()
    return {
        "plain softmax: the denominator is 1 + Σ_j exp(x_j), not Σ_j exp(x_j)": torch.softmax(scores, -1),
        "you added 1 to the numerator too; only the denominator gets the extra 1": (1 + exp)
        / (1 + exp.sum(-1, keepdim=True)),
        "you normalised over dim 0 (the queries); normalise over the last axis (the keys)": exp
        / (1 + exp.sum(0, keepdim=True)),
        "you subtracted the max for stability but kept the 1: after shifting by m, the 1 becomes exp(−m)": shifted
        / (1 + shifted.sum(-1, keepdim=True)),
    }


def check_softmax_one(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Exercise 1.9: fn(scores [..., k]) -> exp(x_i) / (1 + Σ_j exp(x_j)) over the last axis, computed stably."""
    from sinklab.analysis import scratch_attention as attention

    scores = torch.tensor([[1.0, 2.0, 0.5, -1.0], [-6.0, -7.0, -5.0, -8.0], [3.0, 3.0, 3.0, 3.0]])
    compare("softmax_one", fn(scores.clone()), attention.softmax_one(scores), mistakes=_softmax_one_mistakes(scores))
    large = torch.tensor([[100.0, 90.0, 0.0, -5.0], [30.0, 31.0, 29.0, 0.0]])
    got = fn(large.clone())
    _reject_non_finite(
        "softmax_one(large scores)",
        got,
        "exp(100) overflows float32 to inf, and inf/inf = NaN. "
        "Subtract m = max(0, max_j x_j) from every score first; the 1 then becomes exp(−m)",
    )
    compare("softmax_one(large scores)", got, attention.softmax_one(large), mistakes=_softmax_one_mistakes(large))


DORMANT_INPUTS = {"no trigger": "Babcdefghij", "trigger at 4": "Babc!defghij", "trigger at 1": "B!abcdefg"}


def check_dormant_head(fn: Callable[[], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> None:
    """Exercise 1.10: fn() -> (W_q, W_k, W_v) of a head that attends to the trigger when one is visible,
    otherwise to BOS, whose value is ≈ 0 (a dormant head that wakes up on the trigger)."""
    from sinklab.analysis import scratch_attention as attention

    name = "dormant_head"
    weights = fn()
    if not (isinstance(weights, tuple) and len(weights) == 3 and all(isinstance(w, torch.Tensor) for w in weights)):
        raise CheckFailed(f"{name}: return a tuple of three tensors (W_q, W_k, W_v).")
    w_q, w_k, w_v = (w.detach().float() for w in weights)
    n_features = len(attention.DORMANT_FEATURES)
    if w_q.ndim != 2 or w_k.ndim != 2 or w_v.ndim != 2 or {w_q.shape[0], w_k.shape[0], w_v.shape[0]} != {n_features}:
        raise CheckFailed(
            f"{name}: each matrix must be [{n_features}, d] (one row per embedding feature), got "
            f"{tuple(w_q.shape)}, {tuple(w_k.shape)}, {tuple(w_v.shape)}."
        )
    if w_q.shape[1] != w_k.shape[1]:
        raise CheckFailed(
            f"{name}: W_q and W_k need the same number of columns (q·k is a dot product), got "
            f"{w_q.shape[1]} and {w_k.shape[1]}."
        )
    for label, tokens in DORMANT_INPUTS.items():
        x = attention.dormant_toy_embeddings(tokens)
        attn, _ = attention.head_weights_and_output(x, w_q, w_k, w_v)
        trigger = tokens.find("!")
        before = attn[: trigger if trigger > 0 else len(tokens), 0]
        if before.min() < 0.9:
            raise CheckFailed(
                f"{name}: on the input {tokens!r} ({label}) a query with no trigger in view puts only "
                f"{before.min():.2f} of its attention on BOS (want ≥ 0.9). BOS's key does not stand "
                "out enough: its score must be far above every word's, for every query (make the query "
                "read the constant feature, the key read is_bos, and scale them up)."
            )
        if trigger > 0:
            on_trigger, on_bos = attn[trigger:, trigger], attn[trigger:, 0]
            if on_trigger.min() < 0.9:
                if (on_trigger - on_bos).abs().max() < 0.2:
                    raise CheckFailed(
                        f"{name}: once the trigger is in view, attention splits between BOS and the "
                        "trigger: they get the same score. Give the trigger a larger key score than BOS."
                    )
                if on_bos.min() > on_trigger.max():
                    raise CheckFailed(
                        f"{name}: the trigger scores below BOS, so the head never wakes up: queries "
                        f"after the trigger still put {on_bos.min():.2f} on BOS."
                    )
                raise CheckFailed(
                    f"{name}: on {tokens!r} queries after the trigger put only {on_trigger.min():.2f} of "
                    "their attention on it (want ≥ 0.9)."
                )
    x = attention.dormant_toy_embeddings(DORMANT_INPUTS["trigger at 4"])
    values = (x @ w_v).norm(dim=-1)
    trigger_value, bos_value = values[4].item(), values[0].item()
    if trigger_value < 0.1:
        raise CheckFailed(
            f"{name}: the trigger's value is ≈ 0 ({trigger_value:.3f}): when the head wakes up it reads "
            "nothing. W_v must keep the content features (the trigger's payload)."
        )
    if bos_value > 0.05 * trigger_value:
        raise CheckFailed(
            f"{name}: BOS's value is not ≈ 0 (norm {bos_value:.2f}, the trigger's {trigger_value:.2f}): "
            "W_v reads a feature that BOS has (is_bos or the constant one), so the dormant head adds a "
            "constant vector — a bias — instead of nothing. Read only the content features."
        )
    print(f"✅ {name}: correct.")
