"""Learner-facing exercise checks: recognise typical mistakes by name before comparing numbers.

Every check calls the learner's function on fixed inputs and compares with a reference. If the
answer is wrong, it first compares with the answers that typical mistakes produce (softmax over
the wrong axis, a missing causal mask, …) and names the mistake; otherwise it reports the largest
difference. A stub that still raises NotImplementedError is not caught: the notebook stops there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from sinklab.errors import SinklabError


class CheckFailed(SinklabError):
    """An exercise answer is wrong; the message says how."""


def compare(
    name: str,
    got,
    expected: torch.Tensor,
    mistakes: Mapping[str, torch.Tensor] | None = None,
    atol: float = 1e-5,
) -> None:
    """Pass (print ✅) if `got` matches `expected`; else raise CheckFailed naming the likely mistake."""
    if not isinstance(got, torch.Tensor):
        raise CheckFailed(f"{name}: expected a torch.Tensor, got {type(got).__name__}.")
    if got.shape != expected.shape:
        raise CheckFailed(f"{name}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}. "
                          "Check which dimensions you reduce over or index.")
    got = got.detach().to(expected.dtype)
    if torch.allclose(got, expected, atol=atol, rtol=0):
        print(f"✅ {name}: correct.")
        return
    for mistake, wrong in (mistakes or {}).items():
        if wrong.shape == got.shape and torch.allclose(got, wrong.to(got.dtype), atol=atol, rtol=0):
            raise CheckFailed(f"{name}: your answer matches a common mistake — {mistake}.")
    worst = (got - expected).abs().max().item()
    raise CheckFailed(f"{name}: shape is right but values differ from the reference by up to {worst:.3g}. "
                      "Open the hint below the exercise.")


def check_first_token_share(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Exercise 0.1: fn(scores [q, k]) -> share of each query's attention on key 0, shape [q]."""
    scores = torch.tensor([[2.0, 0.5, -1.0, 0.0], [0.0, 3.0, 1.0, -2.0], [1.0, 1.0, 1.0, 1.0]])
    expected = torch.softmax(scores, dim=-1)[:, 0]
    compare(
        "first_token_share",
        fn(scores.clone()),
        expected,
        mistakes={
            "softmax over the query axis (dim=0) instead of the key axis (dim=-1)": torch.softmax(scores, 0)[:, 0],
            "no softmax: you returned raw scores, which do not sum to one": scores[:, 0],
            "you took the last key (index -1) instead of the first (index 0)": torch.softmax(scores, -1)[:, -1],
        },
    )


# ---------------------------------------------------------------- chapter 2: sink statistics


def _causal_attention(batch: int, layers: int, heads: int, length: int, seed: int = 0) -> torch.Tensor:
    """Random causal softmax attention [batch, layer, head, T, T] with a sink-ish first column."""
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(batch, layers, heads, length, length, generator=g)
    scores[..., 0] += torch.linspace(-2, 4, heads).view(heads, 1)  # some heads sink, some do not
    causal = torch.ones(length, length, dtype=torch.bool).tril()
    return torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)


def _left_padded(attn: torch.Tensor, n_pad: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention and padding mask for rows with `n_pad[b]` left pad tokens (pads see nothing real)."""
    batch, length = attn.shape[0], attn.shape[-1]
    mask = torch.ones(batch, length, dtype=torch.long)
    out = attn.clone()
    for b, p in enumerate(n_pad):
        mask[b, :p] = 0
        real = length - p
        sub = _causal_attention(1, attn.shape[1], attn.shape[2], real, seed=10 + b)[0]
        out[b] = 0.0
        out[b, ..., p:, p:] = sub
        out[b, ..., :p, :] = 1.0 / length  # eager's uniform garbage rows for pad queries
    return out, mask


def check_first_token_mass_per_head(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Exercise 2.2: fn(attn [layer, head, q, k]) -> mean attention on key 0 over all queries, [layer, head]."""
    from sinklab import metrics

    attn = _causal_attention(1, 3, 4, 12)[0]
    compare(
        "first_token_mass_per_head",
        fn(attn.clone()),
        metrics.first_token_mass(attn).mean(-1),
        mistakes={
            "you averaged what the first *query* attends to (attn[..., 0, :]) instead of the first *key* column (attn[..., :, 0])":
                attn[..., 0, :].mean(-1),
            "you summed over queries instead of averaging": attn[..., :, 0].sum(-1),
            "you took the last key instead of the first": attn[..., :, -1].mean(-1),
        },
    )


def check_importance_score(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Exercise 2.3: fn(attn [B, L, H, T, T], padding_mask [B, T]) -> Gu's alpha_0 per (row, layer, head)."""
    from sinklab import metrics

    attn, mask = _left_padded(_causal_attention(3, 2, 4, 10, seed=1), n_pad=[0, 3, 5])
    expected = metrics.importance_score(attn, 0, padding_mask=mask)
    n_real = mask.sum(-1).float().view(-1, 1, 1)
    first = metrics.first_token_index(mask)
    column = torch.stack([attn[b, ..., first[b]] for b in range(3)])  # [B, L, H, T]
    real_queries = mask.bool().view(3, 1, 1, -1)
    compare(
        "importance_score",
        fn(attn.clone(), mask.clone()),
        expected,
        mistakes={
            "you ignored the padding: key 0 is a pad token in left-padded rows, and pad queries must not count":
                attn[..., 0].mean(-1),
            "you used key 0 for every row, but with left padding the first token is each row's first *real* token":
                metrics.masked_mean(attn[..., 0], real_queries.expand_as(attn[..., 0])),
            "wrong denominator: you divided by the full length T (pad queries included), not by the number of real queries":
                (column * real_queries).sum(-1) / attn.shape[-1],
            "you averaged over pad queries too: their rows are garbage and must be left out":
                column.mean(-1),
            "you divided by the number of real queries but summed over pad queries too":
                column.sum(-1) / n_real,
        },
    )


def check_sink_rate(fn: Callable[[torch.Tensor, float], float]) -> None:
    """Exercise 2.3: fn(importance [B, L, H], eps) -> fraction of (row, layer, head) with importance > eps."""
    importance = torch.tensor([[[0.9, 0.3, 0.1], [0.5, 0.31, 0.05]], [[0.2, 0.3, 0.8], [0.29, 0.7, 0.0]]])
    for eps in (0.3, 0.6):
        expected = (importance > eps).float().mean()
        got = fn(importance.clone(), eps)
        got = torch.as_tensor(float(got))
        mistakes = {
            "you counted heads *equal* to eps as sinks (>=); Gu et al. use a strict > eps":
                (importance >= eps).float().mean(),
            "you returned a percentage; return a fraction in [0, 1]": 100 * expected,
            "you counted a (layer, head) as a sink if any row exceeds eps; average over rows too":
                (importance > eps).any(0).float().mean(),
            "you ignored the eps argument (a hard-coded threshold?)":
                (importance > (0.6 if eps == 0.3 else 0.3)).float().mean(),
        }
        compare(f"sink_rate(eps={eps})", got, expected, mistakes=mistakes)


def _toy_tokenizer(adds_bos: bool):
    """A word-level tokenizer with a '<bos>' token that it does or does not prepend by itself."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<bos>": 1, "<eos>": 2, "the": 3, "cat": 4, "sat": 5}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    if adds_bos:
        backend.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<bos>", eos_token="<eos>", unk_token="<unk>")


def check_adds_bos(fn: Callable[[object], bool]) -> None:
    """Exercise 2.1: fn(tokenizer) -> True if tokenizing text puts the BOS token at position 0 by itself."""
    adds, has_but_does_not_add = fn(_toy_tokenizer(True)), fn(_toy_tokenizer(False))
    if not isinstance(adds, bool) or not isinstance(has_but_does_not_add, bool):
        raise CheckFailed(f"adds_bos: return a bool (True/False), got {type(adds).__name__}.")
    if adds and has_but_does_not_add:
        raise CheckFailed("adds_bos: your answer matches a common mistake — you checked whether the tokenizer *has* "
                          "a bos_token (GPT-2's has one, '<|endoftext|>'), not whether it *puts* it at position 0. "
                          "Tokenize some text and look at the first id.")
    if not adds:
        raise CheckFailed("adds_bos: a tokenizer whose output starts with bos_token_id was reported as not adding "
                          "one. Compare input_ids[0] with tokenizer.bos_token_id.")
    print("✅ adds_bos: correct.")


# ---------------------------------------------------------------- chapter 1: attention from scratch


def _randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _reject_shapes(name: str, got, expected_shape: tuple, named_shapes: Mapping[tuple, str]) -> None:
    """Raise CheckFailed with the reason when `got` has one of the typical wrong shapes."""
    if isinstance(got, torch.Tensor) and tuple(got.shape) != tuple(expected_shape):
        reason = named_shapes.get(tuple(got.shape))
        if reason:
            raise CheckFailed(f"{name}: expected shape {tuple(expected_shape)}, got {tuple(got.shape)} — {reason}.")


def _reject_non_finite(name: str, got, reason: str) -> None:
    """Raise CheckFailed when `got` contains NaN or ±inf (compare() cannot name that mistake)."""
    if isinstance(got, torch.Tensor) and not torch.isfinite(got).all():
        raise CheckFailed(f"{name}: your answer contains NaN or inf — {reason}.")


def _softmax_attention(scores: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return torch.softmax(scores, dim=-1) @ v


def check_attention(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Exercise 1.1: fn(q [..., T, d], k [..., T, d], v [..., T, d_v]) -> softmax(q kᵀ/√d) v, [..., T, d_v]."""
    from sinklab import attention

    q, k, v = _randn(2, 5, 4, seed=1), _randn(2, 5, 4, seed=2), _randn(2, 5, 3, seed=3)  # two heads, T=5, d=4
    scores = q @ k.transpose(-2, -1)  # unscaled; √d = 2
    expected = attention.attention(q, k, v)
    got = fn(q.clone(), k.clone(), v.clone())
    _reject_shapes("attention", got, expected.shape, {
        (2, 5, 5): "these are the attention weights [T, T]; multiply them by v to get the output",
    })
    compare("attention", got, expected, mistakes={
        "softmax over the query axis (dim=-2) instead of the key axis (dim=-1)":
            torch.softmax(scores / 2, dim=-2) @ v,
        "missing 1/√d scaling: divide the scores by √d = √(q.shape[-1])": _softmax_attention(scores, v),
        "you divided the scores by d; divide by √d": _softmax_attention(scores / 4, v),
        "transposed K: you computed k qᵀ, so rows are keys and columns queries; compute q kᵀ":
            _softmax_attention(scores.transpose(-2, -1) / 2, v),
    })


def check_causal_attention(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Exercise 1.2: fn(q, k, v) -> causal softmax attention; query i sees keys 0…i. Shapes as in 1.1."""
    from sinklab import attention

    q, k, v = _randn(2, 5, 4, seed=4), _randn(2, 5, 4, seed=5), _randn(2, 5, 3, seed=6)
    scores = q @ k.transpose(-2, -1) / 2
    visible = attention.causal_mask(5)
    expected = attention.attention(q, k, v, causal=True)
    got = fn(q.clone(), k.clone(), v.clone())
    _reject_non_finite("causal_attention", got, "a query whose keys are all masked gets softmax(−inf, …, −inf) = "
                       "NaN. Did you mask the diagonal too? Query i must see keys 0…i, itself included")
    compare("causal_attention", got, expected, mistakes={
        "you masked the diagonal too: query i must also see key i (torch.tril keeps j ≤ i)":
            _softmax_attention(scores.masked_fill(~visible.tril(-1), -1e9), v),
        "you kept the upper triangle (query i sees the future keys i…T−1); keep the lower one, j ≤ i":
            _softmax_attention(scores.masked_fill(~visible.T, float("-inf")), v),
        "you set masked scores to 0 instead of −inf; exp(0) = 1, so masked keys still get weight":
            _softmax_attention(scores.masked_fill(~visible, 0.0), v),
        "you masked after the softmax: the remaining weights no longer sum to one. Mask the scores, then softmax":
            (torch.softmax(scores, dim=-1) * visible) @ v,
        "no causal mask at all: every query sees every key": _softmax_attention(scores, v),
    })


def check_split_heads(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> None:
    """Exercise 1.3: fn(x [B, T, H·d], n_heads) -> [B, H, T, d]; head h owns features h·d … (h+1)·d − 1."""
    from sinklab import attention

    x = _randn(2, 5, 12, seed=7)
    for n_heads in (3, 2):
        name, head_dim = f"split_heads(n_heads={n_heads})", 12 // n_heads
        expected = attention.split_heads(x, n_heads)
        got = fn(x.clone(), n_heads)
        _reject_shapes(name, got, expected.shape, {
            (2, 5, n_heads, head_dim): "heads must come before positions: transpose(1, 2) after the view",
            (2, 5, head_dim, n_heads): "you cut each position into [d, H]; cut it into [H, d], then move heads "
                                       "before positions",
        })
        compare(name, got, expected, mistakes={
            "you viewed x as [B, H, T, d] directly, which mixes positions into heads; view as [B, T, H, d], "
            "then transpose(1, 2)": x.reshape(2, n_heads, 5, head_dim),
            "you cut the features as [d, H], so head h got every H-th feature; head h owns the contiguous "
            "slice h·d … (h+1)·d − 1": x.view(2, 5, head_dim, n_heads).permute(0, 3, 1, 2),
        })


def check_repeat_kv(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> None:
    """Exercise 1.4: fn(x [B, Hkv, T, d], n_rep) -> [B, Hkv·n_rep, T, d], ordered kv0, kv0, …, kv1, kv1, …"""
    from sinklab import attention

    x = _randn(1, 2, 3, 4, seed=8)
    for n_rep in (3, 2):
        name = f"repeat_kv(n_rep={n_rep})"
        expected = attention.repeat_kv(x, n_rep)
        got = fn(x.clone(), n_rep)
        _reject_shapes(name, got, expected.shape, {
            (1, 2, 3 * n_rep, 4): "you repeated along the positions (dim 2); repeat along the heads (dim 1)",
            (1, 2, 3, 4 * n_rep): "you repeated along the head dimension d (dim −1); repeat along the heads (dim 1)",
            (n_rep, 2, 3, 4): "you repeated along the batch (dim 0); repeat along the heads (dim 1)",
        })
        compare(name, got, expected, mistakes={
            "x.repeat(1, n_rep, 1, 1) tiles the heads as kv0, kv1, kv0, kv1, …; query head h must read kv head "
            "h // n_rep, so the copies must sit next to each other: use repeat_interleave(n_rep, dim=1)":
                x.repeat(1, n_rep, 1, 1),
        })


def _projections(d_model: int, n_heads: int, n_kv_heads: int, head_dim: int, seed: int) -> list[torch.nn.Linear]:
    """q, k, v, o projections (no bias) with weights large enough that attention is far from uniform."""
    sizes = [(d_model, n_heads * head_dim), (d_model, n_kv_heads * head_dim),
             (d_model, n_kv_heads * head_dim), (n_heads * head_dim, d_model)]
    layers = []
    for i, (fan_in, fan_out) in enumerate(sizes):
        layer = torch.nn.Linear(fan_in, fan_out, bias=False)
        layer.weight.data = 1.5 * _randn(fan_out, fan_in, seed=seed + i) / fan_in**0.5
        layers.append(layer)
    return layers


GQA_MISTAKES = {
    "split order": "wrong head split: you viewed the projection as [B, H, T, d] directly; view it as [B, T, H, d], "
                   "then transpose(1, 2) (what split_heads does)",
    "tiled kv": "repeat instead of repeat_interleave: query head h must read key/value head h // n_rep "
                "(use repeat_kv)",
    "no causal mask": "no causal mask: use causal_attention, so query i sees keys 0…i only",
    "merge order": "wrong merge: you reshaped [B, H, T, d] to [B, T, H·d] without first moving heads back behind "
                   "positions (transpose(1, 2), as merge_heads does)",
    "no o_proj": "you forgot the output projection o_proj after merging the heads",
}


def _gqa_with_mistake(x, projections, n_heads, n_kv_heads, mistake: str = "", rope=None) -> torch.Tensor:
    """Grouped-query attention as the reference computes it, except for one mistake (a key of GQA_MISTAKES,
    or "rope on v")."""
    from sinklab import attention

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
            mistakes = {message: _gqa_with_mistake(x, projections, 4, n_kv_heads, mistake)
                        for mistake, message in GQA_MISTAKES.items()}
            got = fn(x.clone(), *projections, 4, n_kv_heads)
        compare(name, got, expected, mistakes=mistakes)


def check_rope_cos_sin(fn: Callable[[torch.Tensor, int, float], tuple[torch.Tensor, torch.Tensor]]) -> None:
    """Exercise 1.6: fn(positions [T], head_dim, base) -> (cos, sin), each [T, head_dim], Llama's half-split layout."""
    from sinklab import attention

    positions, head_dim, base = torch.arange(6), 8, 100.0
    got = fn(positions.clone(), head_dim, base)
    if not (isinstance(got, (tuple, list)) and len(got) == 2 and all(isinstance(t, torch.Tensor) for t in got)):
        raise CheckFailed("rope_cos_sin: return a pair of tensors (cos, sin), each of shape [T, head_dim].")
    if got[0].shape != got[1].shape:
        raise CheckFailed(f"rope_cos_sin: cos and sin must have the same shape [T, head_dim]; got "
                          f"{tuple(got[0].shape)} and {tuple(got[1].shape)}.")
    got = torch.stack([got[0].detach().float(), got[1].detach().float()])
    expected = torch.stack(attention.rope_cos_sin(positions, head_dim, base))

    def cos_sin(angles: torch.Tensor) -> torch.Tensor:
        return torch.stack([angles.cos(), angles.sin()])

    pair = torch.arange(0, head_dim, 2, dtype=torch.float32)  # 2i for pair i
    angles = positions[:, None] * base ** (-pair / head_dim)  # [T, d/2]
    _reject_shapes("rope_cos_sin", got, expected.shape, {
        (2, 6, head_dim // 2): "one angle per *pair*: concatenate the [T, d/2] angles with themselves to get [T, d]",
    })
    compare("rope_cos_sin", got, expected, mistakes={
        "adjacent-pair layout (each angle repeated twice in a row: the GPT-J / RoPE-paper convention); Llama's "
        "rotate_half pairs dimension i with i + d/2, so use torch.cat([angles, angles], dim=-1)":
            cos_sin(angles.repeat_interleave(2, dim=-1)),
        "frequency exponent −i/d for i = 0 … d/2 − 1; it is −2i/d: use torch.arange(0, head_dim, 2) / head_dim":
            cos_sin(torch.cat([positions[:, None] * base ** (-pair / 2 / head_dim)] * 2, dim=-1)),
        "you ignored the base argument (10000 is only the default)":
            cos_sin(torch.cat([positions[:, None] * 10000.0 ** (-pair / head_dim)] * 2, dim=-1)),
        "frequencies base^(+2i/d) grow with i; they must shrink: base^(−2i/d)":
            cos_sin(torch.cat([positions[:, None] * base ** (pair / head_dim)] * 2, dim=-1)),
        "cos and sin are swapped: return (cos, sin)": cos_sin(torch.cat([angles, angles], dim=-1)).flip(0),
    })


def check_apply_rope(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Exercise 1.7: fn(x [..., T, d], cos [T, d], sin [T, d]) -> x rotated pairwise (i, i + d/2), [..., T, d]."""
    from sinklab import attention

    x = _randn(2, 3, 6, 8, seed=10)
    cos, sin = attention.rope_cos_sin(torch.arange(6), 8, 100.0)
    expected = attention.apply_rope(x, cos, sin)
    x1, x2 = x.chunk(2, dim=-1)
    rotate_adjacent = torch.stack([-x[..., 1::2], x[..., 0::2]], dim=-1).flatten(-2)  # (x0, x1) -> (−x1, x0)
    compare("apply_rope", fn(x.clone(), cos.clone(), sin.clone()), expected, mistakes={
        "you rotated adjacent pairs (x0, x1), (x2, x3), …; Llama pairs dimension i with i + d/2: "
        "rotate_half(x) = cat(−x2, x1) on the two halves": x * cos + rotate_adjacent * sin,
        "you rotated by −θ: rotate_half(x) is cat(−x2, x1), not cat(x2, −x1)":
            x * cos - attention.rotate_half(x) * sin,
        "rotate_half without the minus sign: it is cat(−x2, x1), not cat(x2, x1)":
            x * cos + torch.cat([x2, x1], dim=-1) * sin,
        "you multiplied x itself by sin; the sine term uses rotate_half(x)": x * cos + x * sin,
    })


def check_llama_attention(fn: Callable[[torch.nn.Module, torch.Tensor, float], torch.Tensor]) -> None:
    """Exercise 1.8: fn(attn, hidden_states [B, T, D], rope_base) reproduces a transformers LlamaAttention layer."""
    from sinklab import attention

    model = attention.tiny_llama(seed=0)
    attn = model.model.layers[0].self_attn
    base = model.config.rope_parameters["rope_theta"]
    hidden_states = _randn(2, 7, model.config.hidden_size, seed=11)
    layer = (hidden_states, [attn.q_proj, attn.k_proj, attn.v_proj, attn.o_proj],
             model.config.num_attention_heads, model.config.num_key_value_heads)
    rope = attention.rope_cos_sin(torch.arange(7), attn.head_dim, base)
    default_rope = attention.rope_cos_sin(torch.arange(7), attn.head_dim, 10000.0)
    with torch.no_grad():
        expected = attention.llama_layer_output(model, hidden_states)  # the transformers module itself
        mistakes = {
            "no RoPE: rotate q and k with apply_rope(…, cos, sin) after splitting the heads":
                _gqa_with_mistake(*layer),
            "wrong RoPE base: this model uses config.rope_parameters['rope_theta'] (passed to you as rope_base), "
            "not 10000": _gqa_with_mistake(*layer, rope=default_rope),
            "you rotated the values too; RoPE rotates only queries and keys":
                _gqa_with_mistake(*layer, mistake="rope on v", rope=rope),
            **{message: _gqa_with_mistake(*layer, mistake, rope=rope) for mistake, message in GQA_MISTAKES.items()},
        }
        got = fn(attn, hidden_states.clone(), base)
    compare("llama_attention", got, expected, mistakes=mistakes, atol=1e-4)


def _softmax_one_mistakes(scores: torch.Tensor) -> dict[str, torch.Tensor]:
    exp, shifted = scores.exp(), (scores - scores.amax(-1, keepdim=True)).exp()
    return {
        "plain softmax: the denominator is 1 + Σ_j exp(x_j), not Σ_j exp(x_j)": torch.softmax(scores, -1),
        "you added 1 to the numerator too; only the denominator gets the extra 1":
            (1 + exp) / (1 + exp.sum(-1, keepdim=True)),
        "you normalised over dim 0 (the queries); normalise over the last axis (the keys)":
            exp / (1 + exp.sum(0, keepdim=True)),
        "you subtracted the max for stability but kept the 1: after shifting by m, the 1 becomes exp(−m)":
            shifted / (1 + shifted.sum(-1, keepdim=True)),
    }


def check_softmax_one(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Exercise 1.9: fn(scores [..., k]) -> exp(x_i) / (1 + Σ_j exp(x_j)) over the last axis, computed stably."""
    from sinklab import attention

    scores = torch.tensor([[1.0, 2.0, 0.5, -1.0], [-6.0, -7.0, -5.0, -8.0], [3.0, 3.0, 3.0, 3.0]])
    compare("softmax_one", fn(scores.clone()), attention.softmax_one(scores), mistakes=_softmax_one_mistakes(scores))
    large = torch.tensor([[100.0, 90.0, 0.0, -5.0], [30.0, 31.0, 29.0, 0.0]])
    got = fn(large.clone())
    _reject_non_finite("softmax_one(large scores)", got, "exp(100) overflows float32 to inf, and inf/inf = NaN. "
                       "Subtract m = max(0, max_j x_j) from every score first; the 1 then becomes exp(−m)")
    compare("softmax_one(large scores)", got, attention.softmax_one(large), mistakes=_softmax_one_mistakes(large))


# ---- chapter 5: over-mixing


def check_rank_one_distance(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Exercise 5.1: fn(x [..., T, D]) -> ‖X − 1 x̄ᵀ‖_F / ‖X‖_F, shape [...] (Dong et al. 2021)."""
    from sinklab import theory

    x = 3.0 + _randn(3, 6, 5, seed=50)  # three sets of six tokens; a common offset makes the mistakes differ
    residual = x - x.mean(dim=-2, keepdim=True)
    got = fn(x.clone())
    _reject_shapes("rank_one_distance", got, (3,), {
        (3, 6): "one number per token: take the Frobenius norm over both the token and the feature axes, dim=(-2, -1)",
        (3, 5): "one number per feature: take the Frobenius norm over both the token and the feature axes, dim=(-2, -1)",
        (): "a single number for the whole batch: keep the leading axes, norm over dim=(-2, -1) only",
    })
    compare("rank_one_distance", got, theory.rank_one_distance(x), mistakes={
        "you subtracted each token's mean over its features (dim=-1); the closest 1·xᵀ subtracts the mean token, "
        "the mean over the token axis (dim=-2)": (x - x.mean(-1, keepdim=True)).norm(dim=(-2, -1)) / x.norm(dim=(-2, -1)),
        "you subtracted the first token: 1·x₀ᵀ has rank one too, but the *closest* such matrix uses the mean token":
            (x - x[..., :1, :]).norm(dim=(-2, -1)) / x.norm(dim=(-2, -1)),
        "you did not divide by ‖X‖_F: the measure must not depend on the scale of X": residual.norm(dim=(-2, -1)),
        "you divided squared norms (no square root): use ‖·‖_F itself":
            residual.pow(2).sum((-2, -1)) / x.pow(2).sum((-2, -1)),
    })
    scaled = fn(10.0 * x.clone())
    compare("rank_one_distance(10·x)", scaled, theory.rank_one_distance(x), mistakes={
        "the distance changed when X was scaled by 10: divide by ‖X‖_F": 10.0 * residual.norm(dim=(-2, -1)),
    })


def _toy_layers(n_layers: int = 2, n_tokens: int = 5, d_model: int = 4):
    """A small ToyStack as a function x [T, D] -> hidden states [L+1, T, D], and an input x."""
    from sinklab import theory

    stack = theory.toy_stack(n_layers, d_model, qk_scale=2.0, seed=51)
    return (lambda x: stack.run(x, sink=0.3)[0]), theory.toy_tokens(n_tokens, d_model, seed=52)


def _grad_of_summed_features(layers_fn: Callable, x: torch.Tensor, layer: int, position: int) -> torch.Tensor:
    """∂(Σ_k h^layer_position,k)/∂x, what one backward pass on the summed features gives: [T, D]."""
    x = x.clone().requires_grad_()
    (grad,) = torch.autograd.grad(layers_fn(x)[layer, position].sum(), x, allow_unused=True)
    return torch.zeros_like(x) if grad is None else grad


def check_jacobian_norm_map(fn: Callable[[Callable, torch.Tensor, int], torch.Tensor]) -> None:
    """Exercise 5.2: fn(layers_fn, x [T, D], position) -> ‖∂h^l_position/∂x_i‖_F, shape [L+1, T]."""
    from sinklab import theory

    layers_fn, x = _toy_layers()
    position, n_states = 3, 3
    jac = torch.autograd.functional.jacobian(layers_fn, x)  # [L+1, T, D, T, D]: every output, every input
    summed = torch.stack([_grad_of_summed_features(layers_fn, x, layer, position) for layer in range(n_states)])
    got = fn(layers_fn, x.clone(), position)
    _reject_shapes("jacobian_norm_map", got, (n_states, 5), {
        (n_states,): "one number per layer: keep the source-token axis, one Frobenius norm per D × D block",
        (5,): "one number per source token: keep the layer axis too, shape [L+1, T]",
        (n_states, 4, 5, 4): "this is the Jacobian block itself; reduce each D × D block to its Frobenius norm",
    })
    compare("jacobian_norm_map", got, theory.jacobian_norm_map(layers_fn, x, position), mistakes={
        "you back-propagated the *sum* of h_position's features (one backward pass): that gives the sum of the "
        "Jacobian's rows, not its norm. Differentiate every feature, e.g. torch.autograd.functional.jacobian":
            summed.norm(dim=-1),
        "you measured how x_position moves every output (∂h_t/∂x_position) instead of how every input x_i moves "
        "h_position (∂h_position/∂x_i)": jac[:, :, :, position, :].norm(dim=(2, 3)),
        "you differentiated every position's output, not only h_position: select the output position first":
            torch.linalg.vector_norm(jac, dim=(1, 2, 4)),
    })


def check_path_products(fn: Callable[[torch.Tensor, bool], torch.Tensor]) -> None:
    """Exercise 5.3: fn(attns [L, T, T], residual) -> P [L+1, T, T], P_0 = I, P_l = (A_l [+ I]) P_{l−1}."""
    from sinklab import theory

    attns = torch.stack([theory.random_attention(5, scale=2.0, seed=53 + layer) for layer in range(3)])
    identity = torch.eye(5)
    for residual in (True, False):
        name = f"path_products(residual={residual})"
        steps = attns + identity if residual else attns
        got = fn(attns.clone(), residual)
        _reject_shapes(name, got, (4, 5, 5), {
            (3, 5, 5): "P_0 = I is missing: the first entry is the input itself, before any layer (L+1 entries)",
            (5, 5): "only the last product: return every P_l, l = 0 … L, stacked into [L+1, T, T]",
        })
        wrong_order = [identity]
        for step in steps:
            wrong_order.append(wrong_order[-1] @ step)
        mistakes = {
            "you multiplied in the wrong order: a later layer acts after an earlier one, so its matrix goes on "
            "the left, P_l = step_l @ P_{l−1}": torch.stack(wrong_order),
            "you transposed the attention matrices: rows are queries (where paths end), columns keys":
                theory.path_products(attns.transpose(-2, -1), residual),
        }
        if residual:
            mistakes["the residual path is missing: with residual=True each layer's step is A_l + I (δ = 1)"] = \
                theory.path_products(attns, residual=False)
        else:
            mistakes["you added the identity although residual=False: without a residual stream the step is A_l"] = \
                theory.path_products(attns, residual=True)
        compare(name, got, theory.path_products(attns, residual), mistakes=mistakes)


# ---- chapter 4: the P0 sink circuit


def _two_block_llama():
    """A 2-block random-init Llama (grouped-query attention, fp32), built in code: no download."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, initializer_range=0.2)
    with torch.random.fork_rng():
        torch.manual_seed(40)
        return LlamaForCausalLM(config).eval()


def check_first_token_states(fn: Callable[[torch.nn.Module, torch.Tensor], torch.Tensor]) -> None:
    """Exercise 4.1: fn(model, ids [B, T]) -> position 0's residual stream entering block 0 and after every block, [B, L+1, D]."""
    from sinklab import circuit, theory

    model = _two_block_llama()
    ids = torch.randint(0, 50, (2, 7), generator=torch.Generator().manual_seed(41))
    with torch.no_grad():
        expected = circuit.first_token_states(model, ids)
        streams = torch.stack([theory.residual_stream(model, row) for row in ids])  # [B, L+1, T, D]
        with_final_norm = torch.stack(model(ids, output_hidden_states=True).hidden_states, dim=1)[:, :, 0]
        got = fn(model, ids.clone())
    _reject_shapes("first_token_states", got, expected.shape, {
        (2, 2, 32): "the embeddings (the stream entering block 0) are missing: return L+1 states, not L",
        (2, 3, 7, 32): "every position: keep only position 0, the first token",
        (2, 32): "one state per row: keep one per block, [B, L+1, D]",
    })
    compare("first_token_states", got, expected, atol=1e-4, mistakes={
        "the last entry has the final norm applied (transformers' hidden_states does that): return the raw "
        "residual stream after the last block, e.g. with sinklab.theory.residual_stream": with_final_norm,
        "you took the last position (-1); the first token is position 0": streams[:, :, -1],
        "you averaged over positions; take position 0 only": streams.mean(2),
    })


def check_first_key_cosine(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Exercise 4.2: fn(query [B, H, T, d], key [B, Hkv, T, d]) -> mean cos(q_i, k_0) over queries 1..T-1, [B, H]."""
    from sinklab import circuit

    query, key = _randn(2, 4, 6, 8, seed=42), _randn(2, 2, 6, 8, seed=43)
    key[..., 0, :] += 2 * query[:, ::2, 1:].mean(2)  # the first key leans towards the queries, as in a sink head
    grouped = key.repeat_interleave(2, dim=1)
    cosine = torch.nn.functional.cosine_similarity

    got = fn(query.clone(), key.clone())
    _reject_shapes("first_key_cosine", got, (2, 4), {
        (2, 4, 5): "one number per query: average over the queries 1..T-1",
        (2, 4, 6): "one number per query: average over the queries 1..T-1 (query 0 left out)",
        (2, 2): "one number per key/value head: every *query* head needs its own, [B, H]",
    })
    compare("first_key_cosine", got, circuit.first_key_cosine(query, key), mistakes={
        "key.repeat(1, n_rep, 1, 1) tiles the heads as kv0, kv1, kv0, …; query head h reads key/value head "
        "h // n_rep: use repeat_interleave(n_rep, dim=1)":
            cosine(query[:, :, 1:], key.repeat(1, 2, 1, 1)[:, :, :1], dim=-1).mean(-1),
        "you computed dot products, not cosines: divide by both norms (torch.nn.functional.cosine_similarity)":
            (query[:, :, 1:] * grouped[:, :, :1]).sum(-1).mean(-1),
        "you included query 0, which sees only key 0 whatever the cosine: average over queries 1..T-1":
            cosine(query, grouped[:, :, :1], dim=-1).mean(-1),
        "you compared each query with its own key (the diagonal), not with the first key":
            cosine(query[:, :, 1:], grouped[:, :, 1:], dim=-1).mean(-1),
        "you used the last key (-1); the first key is index 0":
            cosine(query[:, :, 1:], grouped[:, :, -1:], dim=-1).mean(-1),
    })


def check_move_bos(fn: Callable[[list, int, int], list]) -> None:
    """Exercise 4.3: fn(ids starting with BOS, position, bos_id) -> the same tokens with BOS moved to `position`."""
    from sinklab import circuit

    bos, ids = 9, [9, 5, 6, 7, 8, 4]
    for position in (3, 1):
        name = f"move_bos(position={position})"
        expected = circuit.move_bos(ids, position, bos)
        got = fn(list(ids), position, bos)
        if isinstance(got, torch.Tensor):
            got = got.tolist()
        if not isinstance(got, (list, tuple)):
            raise CheckFailed(f"{name}: return a list of token ids, got {type(got).__name__}.")
        got = [int(t) for t in got]
        if got == expected:
            print(f"✅ {name}: correct.")
            continue
        rest = ids[1:]
        mistakes = {
            "you inserted BOS but left the original at position 0 too: remove it first (one token more)":
                ids[:position] + [bos] + ids[position:],
            "off by one: you inserted BOS at `position` of the original list and then dropped position 0, so it "
            "lands at position - 1. Remove it first, then insert": ids[1:position] + [bos] + ids[position:],
            "you swapped BOS with the token at `position`: that token is now first, and the first token is the "
            "one the sink needs. Keep the order of the other tokens": [ids[position]] + ids[1:position] + [bos] + ids[position + 1:],
            "you overwrote the token at `position` with BOS and lost it (one token fewer): insert, do not replace":
                rest[:position] + [bos] + rest[position + 1:],
        }
        for mistake, wrong in mistakes.items():
            if got == wrong:
                raise CheckFailed(f"{name}: your answer matches a common mistake — {mistake}.")
        raise CheckFailed(f"{name}: expected {expected}, got {got}. Open the hint below the exercise.")


def check_swap_rows(fn: Callable[[torch.Tensor, int, int], None]) -> None:
    """Exercise 4.4: fn(weight [N, D], i, j) swaps rows i and j of the weight in place (a model's parameter)."""
    original = _randn(6, 6, seed=44)
    weight = torch.nn.Parameter(original.clone())
    try:
        fn(weight, 1, 4)
    except RuntimeError as e:
        if "requires grad" not in str(e):
            raise
        raise CheckFailed("swap_rows_: writing into a parameter that requires grad fails outside "
                          "`with torch.no_grad():`. Put the assignment inside that block.") from e
    expected = original.clone()
    expected[[1, 4]] = original[[4, 1]]
    aliased = original.clone()
    aliased[1] = original[4]
    compare("swap_rows_", weight.data, expected, mistakes={
        "the weight is unchanged: you swapped a copy (weight[[i, j]] on the right creates one, and so does "
        "returning a new tensor). Write into `weight` itself: weight[[i, j]] = weight[[j, i]]": original,
        "both rows now hold row j: `w[i], w[j] = w[j], w[i]` swaps *views*, so row i is overwritten before it is "
        "copied into row j. Index with a list, weight[[i, j]] = weight[[j, i]], or clone one row first": aliased,
        "you swapped columns i and j; the embedding of position p is *row* p": original[:, [0, 4, 2, 3, 1, 5]],
    })


def check_make_patch_hook(fn: Callable[[int, torch.Tensor], Callable]) -> None:
    """Exercise 4.5: fn(position, state [D]) -> a forward hook that writes `state` into the block's output at `position`."""
    block_input, output, state = _randn(3, 5, 4, seed=45), _randn(3, 5, 4, seed=46), _randn(4, seed=47)
    hook = fn(2, state.clone())
    if not callable(hook):
        raise CheckFailed(f"make_patch_hook: return the hook function itself, got {type(hook).__name__}.")
    patched_output = output.clone()
    result = hook(torch.nn.Identity(), (block_input.clone(),), patched_output)
    got = patched_output if result is None else result  # a hook may also change the output in place
    expected, every_position, batch_row, patched_input = output.clone(), output.clone(), output.clone(), block_input.clone()
    expected[:, 2] = state
    every_position[:] = state
    batch_row[2] = state
    patched_input[:, 2] = state
    compare("make_patch_hook", got, expected, mistakes={
        "the block's output is unchanged: your hook changed a copy and returned None. Return the patched tensor "
        "(PyTorch then uses it as the block's output)": output,
        "you patched every position; only `position` gets the state: output[:, position]": every_position,
        "you patched row `position` of the *batch* (output[position]); positions are axis 1: output[:, position]": batch_row,
        "you patched the block's *input* (args[0]), i.e. the stream before the block; a forward hook patches "
        "what the block returns (its `output` argument)": patched_input,
    })


# ---------------------------------------------------------------- chapter 3: measuring sinks on real LLMs


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


# ---- chapter 6: training experiments


def _backcopy_probe_data() -> tuple[torch.Tensor, torch.Tensor]:
    """first_mass [B=3, L=2, H=2, T=12] and is_trigger [B, T] with rows holding different numbers of triggers."""
    g = torch.Generator().manual_seed(60)
    first_mass = torch.rand(3, 2, 2, 12, generator=g)
    is_trigger = torch.zeros(3, 12, dtype=torch.bool)
    is_trigger[0, [2, 5, 9]] = True
    is_trigger[1, [7]] = True
    is_trigger[2, [3, 6, 8, 10, 11]] = True
    return first_mass, is_trigger


def _split_by(first_mass, is_trigger, skip, per_row=False, agg="mean"):
    late = torch.arange(is_trigger.shape[1]) >= skip
    out = {}
    for name, queries in (("trigger", is_trigger & late), ("other", ~is_trigger & late)):
        w = queries[:, None, None, :].float()
        if per_row:
            out[name] = ((first_mass * w).sum(-1) / w.sum(-1).clamp(min=1)).mean(0)
        elif agg == "sum":
            out[name] = (first_mass * w).sum((0, -1))
        else:
            out[name] = (first_mass * w).sum((0, -1)) / w.sum((0, -1)).clamp(min=1)
    return out


def check_split_first_token_mass(fn: Callable[[torch.Tensor, torch.Tensor, int], dict]) -> None:
    """Exercise 6.1: fn(first_mass [B, L, H, T], is_trigger [B, T], skip) -> {"trigger": [L, H], "other": [L, H]}."""
    from sinklab import experiments

    first_mass, is_trigger = _backcopy_probe_data()
    skip = 4
    got = fn(first_mass.clone(), is_trigger.clone(), skip)
    if not isinstance(got, Mapping) or set(got) != {"trigger", "other"}:
        raise CheckFailed('split_first_token_mass: return a dict with the keys "trigger" and "other", each [layer, head].')
    expected = experiments.split_first_token_mass(first_mass, is_trigger, skip)
    after = torch.zeros_like(is_trigger)
    after[:, 1:] = is_trigger[:, :-1]  # the query right after each trigger
    swapped = {"trigger": expected["other"], "other": expected["trigger"]}
    variants = {
        "you ignored `skip`: the first queries see only a few keys, so their first-token mass is large for that "
        "reason alone; keep positions ≥ skip": _split_by(first_mass, is_trigger, 0),
        "you averaged each row first and then the rows: a row with one trigger then counts as much as a row with "
        "five. Average over all (row, query) pairs of a kind at once": _split_by(first_mass, is_trigger, skip, per_row=True),
        "you summed the masses; divide by the number of queries of each kind": _split_by(first_mass, is_trigger, skip, agg="sum"),
        "you used the query *after* each trigger; the head copies when the query *is* the trigger":
            _split_by(first_mass, after, skip),
    }
    for kind in ("trigger", "other"):
        _reject_shapes(f'split_first_token_mass["{kind}"]', got[kind], (2, 2), {
            (2,): "one number per layer: keep the head axis, [layer, head]",
            (3, 2, 2): "you kept the batch axis: average over rows and queries, keep [layer, head]",
            (2, 2, 12): "you kept the query axis: average over rows and queries, keep [layer, head]",
        })
        mistakes = {message: wrong[kind] for message, wrong in variants.items()}
        mistakes['you swapped the two: "trigger" must average the trigger queries'] = swapped[kind]
        compare(f'split_first_token_mass["{kind}"]', got[kind], expected[kind], mistakes=mistakes)


def _causal_visible(batch: int, heads: int, length: int) -> torch.Tensor:
    return torch.ones(length, length, dtype=torch.bool).tril().expand(batch, heads, length, length)


def check_unnormalised_weights(fn: Callable[[torch.Tensor, torch.Tensor, str], torch.Tensor]) -> None:
    """Exercise 6.2: fn(scores [B, H, Tq, Tk], visible bool, kind) -> sigmoid(s − log n_i) or relu(s) / n_i on
    visible keys, n_i = the number of keys query i sees."""
    import math

    from sinklab import variants

    scores, visible = 3 * _randn(2, 3, 7, 7, seed=61), _causal_visible(2, 3, 7)
    n_all = scores.shape[-1]
    n = visible.sum(-1, keepdim=True).float()  # keys each query sees
    for kind in ("sigmoid", "relu"):
        name = f"unnormalised_weights(kind={kind!r})"
        expected = variants.variant_weights(scores, visible, kind)
        raw = torch.sigmoid(scores - n.log()) if kind == "sigmoid" else torch.relu(scores) / n
        mistakes = {
            "you forgot the causal mask: future keys get weight too. Multiply by `visible` (or zero the masked keys)": raw,
            "you normalised each row to sum to one: that is exactly softmax's constraint, which these variants drop":
                (raw * visible) / (raw * visible).sum(-1, keepdim=True).clamp(min=1e-12),
            "you used softmax: these variants have no normalisation": torch.softmax(scores.masked_fill(~visible, float("-inf")), -1),
        }
        per_row = "n_i is the number of keys query i sees (visible.sum(-1)), not the row length T: with T, a query's " \
                  "weights would change with tokens that come after it"
        if kind == "sigmoid":
            mistakes["sigmoid without the −log n_i bias: at initialisation every weight is then ≈ 0.5, and a query's "
                     "output is a sum over all its keys"] = torch.sigmoid(scores) * visible
            mistakes[per_row] = torch.sigmoid(scores - math.log(n_all)) * visible
        else:
            mistakes["relu without dividing by n_i: the output then grows with the number of keys"] = torch.relu(scores) * visible
            mistakes[per_row] = torch.relu(scores) / n_all * visible
        compare(name, fn(scores.clone(), visible.clone(), kind), expected, mistakes=mistakes)


def check_sink_logit_weights(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Exercise 6.3: fn(scores [B, H, Tq, Tk], visible, sink_logit [H]) -> weights [B, H, Tq, Tk], rows sum to < 1."""
    from sinklab import variants

    scores, visible = 2 * _randn(2, 3, 5, 5, seed=62), _causal_visible(2, 3, 5)
    sink_logit = torch.tensor([-1.0, 0.5, 2.5])
    expected = variants.variant_weights(scores, visible, "sink_logit", sink_logit)
    masked = scores.masked_fill(~visible, float("-inf"))
    softmax = torch.softmax(masked, -1)
    got = fn(scores.clone(), visible.clone(), sink_logit.clone())
    _reject_shapes("sink_logit_weights", got, expected.shape, {
        (2, 3, 5, 6): "you kept the sink's column: it is a key with value zero, so drop it after the softmax "
                      "(the weights on the real keys then sum to less than one)",
    })
    with_sink_unmasked = torch.softmax(torch.cat([scores, sink_logit.view(1, 3, 1, 1).expand(2, 3, 5, 1)], -1), -1)[..., :-1]
    compare("sink_logit_weights", got, expected, mistakes={
        "your weights are plain softmax (rows sum to one). Either you added the sink logit to every score — a "
        "constant added to all logits changes nothing after a softmax — or you renormalised the weights after "
        "dropping the sink column. Append the logit as one extra column, softmax, drop it, and stop there": softmax,
        "the causal mask is missing: future keys get weight": with_sink_unmasked,
        "each head needs its own logit: sink_logit[h] belongs to head h (shape [1, H, 1, 1])":
            torch.softmax(torch.cat([masked, torch.full((2, 3, 5, 1), sink_logit.mean().item())], -1), -1)[..., :-1],
    })


def check_pack_with_bos(fn: Callable[[torch.Tensor, int, int], torch.Tensor]) -> None:
    """Exercise 6.4: fn(stream [N], seq_len, bos_id) -> windows [N // (seq_len - 1), seq_len], <bos> then seq_len − 1 tokens."""
    from sinklab import data

    stream, seq_len, bos = torch.arange(100, 123), 5, 7
    expected = data.pack(stream, seq_len, "bos", bos)  # 5 windows of <bos> + 4 tokens; 3 tokens left over
    got = fn(stream.clone(), seq_len, bos)
    _reject_shapes("pack_with_bos", got, expected.shape, {
        (5, 6): "each window must be seq_len tokens in all: <bos> plus seq_len − 1 stream tokens",
        (4, 6): "each window must be seq_len tokens in all: <bos> plus seq_len − 1 stream tokens",
        (4, 5): "you cut seq_len stream tokens per window (and replaced one by <bos>, or stepped by seq_len): with "
                "<bos> in front a window holds seq_len − 1 stream tokens, and the next one starts right after them",
        (5, 4): "<bos> is missing: put it in front of each window's seq_len − 1 stream tokens",
        (6, 5): "you kept the incomplete last window (padded or short): drop the tail",
    })
    body = stream[: 5 * (seq_len - 1)]
    bos_column = torch.full((5, 1), bos)
    compare("pack_with_bos", got, expected, atol=0, mistakes={
        "<bos> went at the end of each window; it belongs at position 0": torch.cat([body.view(5, -1), bos_column], 1),
        "you reshaped in the wrong order: each window must hold consecutive stream tokens (view(n, seq_len − 1), "
        "not view(seq_len − 1, n).T)": torch.cat([bos_column, body.view(seq_len - 1, 5).T], 1),
    })


def check_document_position_ids(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> None:
    """Exercise 6.5: fn(windows [n, T], eos_id) -> position ids [n, T] that restart at 0 right *after* every eos_id."""
    from sinklab import data

    eos = 3
    windows = torch.tensor([[5, 6, eos, 7, 8, eos, eos, 9], [eos, 1, 2, 4, 5, 6, 7, 8], [1, 2, 4, 5, 6, 7, 8, 9]])
    expected = data.document_position_ids(windows, eos)
    at_eos = torch.tensor([[0, 1, 0, 1, 2, 0, 0, 1], [0, 1, 2, 3, 4, 5, 6, 7], [0, 1, 2, 3, 4, 5, 6, 7]])
    compare("document_position_ids", fn(windows.clone(), eos), expected, atol=0, mistakes={
        "the position restarts *at* the <eos> token; the <eos> ends its document, so the restart comes right after it":
            at_eos,
        "positions never restart: this is plain causal packing (arange in every row)":
            torch.arange(8).expand(3, 8),
        "you counted documents instead of positions (the document index of each token)":
            torch.tensor([[0, 0, 0, 1, 1, 1, 2, 3], [0, 1, 1, 1, 1, 1, 1, 1], [0] * 8]),
    })


def check_onset_step(fn: Callable[[list, list, float], int | None]) -> None:
    """Exercise 6.6: fn(steps, values, threshold) -> the first step from which values stay ≥ threshold; None if never."""
    from sinklab import experiments

    cases = [
        ([10, 20, 30, 40, 50, 60], [0.1, 0.6, 0.2, 0.5, 0.7, 0.8], 0.5),  # a transient crossing at 20, onset 40
        ([5, 10, 15], [0.1, 0.2, 0.3], 0.5),  # never
        ([1, 2, 3, 4], [0.5, 0.5, 0.9, 0.8], 0.5),  # from the start; equal counts
        ([100, 200, 300], [0.2, 0.9, 0.4], 0.5),  # crosses, then falls back: no onset
    ]
    expected = [experiments.onset_step(*case) for case in cases]

    def first_crossing(steps, values, threshold):
        return next((s for s, v in zip(steps, values) if v >= threshold), None)

    def first_index(steps, values, threshold):
        step = experiments.onset_step(steps, values, threshold)
        return None if step is None else steps.index(step)

    def strict(steps, values, threshold):
        return experiments.onset_step(steps, values, threshold + 1e-9)

    got = [fn(list(s), list(v), t) for s, v, t in cases]
    if got == expected:
        print("✅ onset_step: correct.")
        return
    for message, mistake in (
        ("you returned the first crossing, but a transient spike is not an onset: the values must stay ≥ threshold "
         "from that step to the end", first_crossing),
        ("you returned the index into `steps`; return the step itself (steps[i])", first_index),
        ("you used > threshold; a value equal to the threshold counts (≥)", strict),
    ):
        if got == [mistake(*case) for case in cases]:
            raise CheckFailed(f"onset_step: your answer matches a common mistake — {message}.")
    bad = next(i for i, (g, e) in enumerate(zip(got, expected)) if g != e)
    raise CheckFailed(f"onset_step: for steps={cases[bad][0]}, values={cases[bad][1]}, threshold={cases[bad][2]} "
                      f"you returned {got[bad]!r}, expected {expected[bad]!r}. Open the hint below the exercise.")
