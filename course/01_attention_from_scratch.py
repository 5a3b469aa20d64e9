# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# You will build the attention layer of a modern LLM from `torch` operations, one piece at a time, check
# every piece against PyTorch and against a real transformers Llama layer, and then look at the one
# constraint behind attention sinks: **each query's attention weights sum to one**.
#
# | section | you build | checked against |
# | --- | --- | --- |
# | 1️⃣ One head | scaled dot-product attention, the causal mask | `torch.nn.functional.scaled_dot_product_attention` |
# | 2️⃣ Many heads | head split, `repeat_kv`, grouped-query attention | `torch.nn.MultiheadAttention`, SDPA with `enable_gqa` |
# | 3️⃣ Positions | rotary position embeddings (RoPE) | the relative-position property |
# | 4️⃣ A real layer | a Llama attention layer from its weights | `model.model.layers[0].self_attn` |
# | 5️⃣ Sum to one | softmax-off-by-one, the sink explorer | a zero key/value; exact uniform attention |
#
# Shapes follow one glossary: `B` batch, `H` query heads, `Hkv` key/value heads, `T` positions, `d` head
# dimension, `D` model dimension (= `H·d`).

# %%
import math

import torch
import torch.nn.functional as F

# %% [markdown] tags=["core"]
# ## 1️⃣ One head: scaled dot-product attention
#
# > **Learning objectives**
# > - Compute attention scores `q kᵀ / √d` and turn them into weights with a softmax over the **keys**
# > - Implement a causal mask with `−inf` so that query *i* sees keys 0 … *i* only
# > - Verify both against `torch.nn.functional.scaled_dot_product_attention`
#
# Every position emits a **query** *q* (what it is looking for), a **key** *k* (what it offers) and a
# **value** *v* (what it passes on). Query *i* scores every key *j* with a dot product, scaled by √d so
# the scores do not grow with the head dimension; a softmax over the keys turns one row of scores into
# weights that are positive and **sum to one**; the output is the weighted average of the values:
#
# $$\text{attention}(q, k, v) = \text{softmax}\!\left(\frac{q k^\top}{\sqrt{d}}\right) v .$$
#
# ### Exercise 1.1 – Compute scaled dot-product attention for one head
#
# > Difficulty: 🔴⚪⚪⚪⚪ · Importance: 🔵🔵🔵🔵🔵 · ≈ 5 minutes
#
# `q` has shape `[..., Tq, d]`, `k` `[..., Tk, d]` and `v` `[..., Tk, d_v]`; the leading `...` dimensions
# (batch, heads) are carried along unchanged. Return the output, shape `[..., Tq, d_v]`. No mask yet.

# %%
def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(q kᵀ / √d) v. q: [..., Tq, d], k: [..., Tk, d], v: [..., Tk, d_v] -> [..., Tq, d_v]."""
    ### BEGIN SOLUTION
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # [..., Tq, Tk]
    weights = torch.softmax(scores, dim=-1)  # each row (one query) sums to one over the keys
    return weights @ v
    ### END SOLUTION


from sinklab.checks import check_attention

check_attention(attention)

# %% [markdown]
# <details><summary>Hint 1 (the idea)</summary>
#
# Scores compare every query with every key, scaled by √d; the softmax turns each query's row of scores
# into weights over the **keys**; the output mixes the values with those weights.
# </details>
#
# <details><summary>Hint 2 (the code)</summary>
#
# Transpose only the last two axes of `k` (`transpose(-2, -1)`; `.T` reverses *all* axes of a batched
# tensor). Which `dim` of the scores indexes the keys?
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ attention: correct.` If not, the check names the mistake: softmax over the query axis, a missing or
# wrong √d, `k qᵀ` instead of `q kᵀ`, or the weights returned instead of the output.
# </details>
#
# PyTorch ships the same computation as one fused call. Yours should agree to float precision:

# %%
q, k, v = torch.randn(2, 4, 7, 16), torch.randn(2, 4, 7, 16), torch.randn(2, 4, 7, 16)  # [B, H, T, d]
torch.testing.assert_close(attention(q, k, v), F.scaled_dot_product_attention(q, k, v))
print("attention matches torch's scaled_dot_product_attention")

# %% [markdown]
# ### The causal mask
#
# A language model predicts token *t + 1* from tokens 0 … *t*, so query *i* may only look at keys
# *j ≤ i*. Set the forbidden scores to `−inf` **before** the softmax: `exp(−inf) = 0`, so masked keys get
# exactly zero weight and the remaining weights still sum to one. The mask is lower-triangular:
#
# ```
#          key 0  key 1  key 2
# query 0    ✓      ✗      ✗
# query 1    ✓      ✓      ✗
# query 2    ✓      ✓      ✓
# ```
#
# Note who sees what: query 0 sees **only** key 0, and key 0 is the one key that **every** query sees.
# Keep that in mind for the rest of the course.
#
# ### Exercise 1.2 – Add the causal mask
#
# > Difficulty: 🔴🔴⚪⚪⚪ · Importance: 🔵🔵🔵🔵🔵 · ≈ 8 minutes
#
# Same inputs and output as `attention` (with `Tq == Tk == T`), but query *i* attends to keys 0 … *i*
# only: a future key must get weight exactly 0, and every query must still see itself.

# %%
def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Causal softmax(q kᵀ / √d) v: query i sees keys 0 … i. q, k: [..., T, d], v: [..., T, d_v] -> [..., T, d_v]."""
    ### BEGIN SOLUTION
    length = q.shape[-2]
    visible = torch.ones(length, length, dtype=torch.bool).tril()  # True where key j ≤ query i
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(~visible, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v
    ### END SOLUTION


from sinklab.checks import check_causal_attention

check_causal_attention(causal_attention)

# %% [markdown]
# <details><summary>Hint 1 (the idea)</summary>
#
# Mask the *scores*, not the weights: give every future key the score −∞ before the softmax, so that
# exp(−∞) = 0 and the visible weights still sum to one. Which entries (i, j) are visible? j ≤ i.
# </details>
#
# <details><summary>Hint 2 (the code)</summary>
#
# A lower-triangular boolean matrix marks the visible pairs: `torch.ones(T, T, dtype=torch.bool).tril()`
# (it keeps the diagonal). `Tensor.masked_fill(mask, value)` writes `value` where `mask` is True.
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ causal_attention: correct.` A `NaN` in the output means some query had every key masked: the
# diagonal was masked too. Below, the first query's output is exactly `v[..., 0, :]`: its only key gets
# weight 1.
# </details>

# %%
causal_out = causal_attention(q, k, v)
torch.testing.assert_close(causal_out, F.scaled_dot_product_attention(q, k, v, is_causal=True))
assert torch.equal(causal_out[..., 0, :], v[..., 0, :]), "query 0 sees only key 0, so its output is v[0] exactly"
print("causal_attention matches SDPA(is_causal=True); query 0's output is v[0] exactly")

# %% [markdown] tags=["optional"]
# ## 2️⃣ Many heads: multi-head and grouped-query attention
#
# > **Learning objectives**
# > - Split a `[B, T, H·d]` projection into `[B, H, T, d]` heads and merge them back
# > - Implement grouped-query attention (GQA), where groups of query heads share one key/value head
# > - Verify multi-head attention against `torch.nn.MultiheadAttention` and GQA against SDPA
#
# A layer runs `H` heads side by side. Each head owns a contiguous slice of `d` features of the query,
# key and value projections; the heads run in parallel as an extra batch dimension, and `o_proj` mixes
# their concatenated outputs. **Grouped-query attention** (Ainslie et al., 2023; used by Llama 2 70B,
# Llama 3, Mistral, Qwen 2) keeps `H` query heads but only `Hkv < H` key/value heads: query head `h`
# uses key/value head `h // (H / Hkv)`. This shrinks the KV cache by `H / Hkv`.
#
# ### Exercise 1.3 – Split a projection into heads
#
# > Difficulty: 🔴🔴⚪⚪⚪ · Importance: 🔵🔵🔵🔵⚪ · ≈ 5 minutes
#
# `x` has shape `[B, T, H·d]`; head `h` owns features `h·d … (h+1)·d − 1`. Return `[B, H, T, d]`.
# `merge_heads`, its inverse, is written for you under the solution.

# %%
def split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """[B, T, H·d] -> [B, H, T, d]; head h owns the features h·d … (h+1)·d − 1."""
    ### BEGIN SOLUTION
    batch, length, width = x.shape
    return x.view(batch, length, n_heads, width // n_heads).transpose(1, 2)
    ### END SOLUTION


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """The inverse of split_heads: [B, H, T, d] -> [B, T, H·d]."""
    batch, n_heads, length, head_dim = x.shape
    return x.transpose(1, 2).reshape(batch, length, n_heads * head_dim)


from sinklab.checks import check_split_heads

check_split_heads(split_heads)

# %% [markdown]
# <details><summary>Hint 1 (the idea)</summary>
#
# `view` only regroups numbers in memory order, and the features of one position are contiguous: cut
# each position's features into heads first, then move the head axis in front of the positions.
# </details>
#
# <details><summary>Hint 2 (the code)</summary>
#
# Viewing directly as `[B, H, T, d]` compiles but mixes positions into heads. Go through `[B, T, H, d]`,
# then swap two axes with `transpose`.
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ split_heads(n_heads=3): correct.` and `✅ split_heads(n_heads=2): correct.`
# </details>
#
# ### Exercise 1.4 – Share key/value heads between query heads with repeat_kv
#
# > Difficulty: 🔴⚪⚪⚪⚪ · Importance: 🔵🔵🔵⚪⚪ · ≈ 4 minutes
#
# `x` has shape `[B, Hkv, T, d]`. Return `[B, Hkv·n_rep, T, d]` where query head `h` finds its key/value
# head `h // n_rep` at position `h`: the copies of one head sit next to each other (`kv0, kv0, kv1, kv1`).

# %%
def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """[B, Hkv, T, d] -> [B, Hkv·n_rep, T, d], ordered kv0 ×n_rep, kv1 ×n_rep, …"""
    ### BEGIN SOLUTION
    return x.repeat_interleave(n_rep, dim=1)
    ### END SOLUTION


from sinklab.checks import check_repeat_kv

check_repeat_kv(repeat_kv)

# %% [markdown]
# <details><summary>Hint 1 (the idea)</summary>
#
# Query heads come in consecutive groups of `n_rep`, and each group shares one key/value head: the
# key/value heads must appear in the order kv0, kv0, kv1, kv1, …, not kv0, kv1, kv0, kv1, ….
# </details>
#
# <details><summary>Hint 2 (the code)</summary>
#
# `x.repeat(...)` tiles (kv0, kv1, kv0, kv1); `torch.repeat_interleave(...)` repeats each element in
# place. Which axis holds the heads?
# </details>
#
# <details><summary>What you should see</summary>
#
# Two ✅ lines, for `n_rep=3` and `n_rep=2`.
# </details>
#
# ### Exercise 1.5 – Assemble causal grouped-query attention
#
# > Difficulty: 🔴🔴🔴⚪⚪ · Importance: 🔵🔵🔵🔵🔵 · ≈ 10 minutes
#
# `x` has shape `[B, T, D]`. `q_proj` maps `D → H·d`, `k_proj` and `v_proj` map `D → Hkv·d`, `o_proj` maps
# `H·d → D` (all `nn.Linear`). Project, split into heads, repeat the key/value heads, run your
# `causal_attention` on all heads at once, merge the heads and apply `o_proj`. Return `[B, T, D]`.
# Ordinary multi-head attention is the case `n_kv_heads == n_heads`.

# %%
def grouped_query_attention(
    x: torch.Tensor,
    q_proj: torch.nn.Module,
    k_proj: torch.nn.Module,
    v_proj: torch.nn.Module,
    o_proj: torch.nn.Module,
    n_heads: int,
    n_kv_heads: int,
) -> torch.Tensor:
    """Causal attention with n_heads query heads sharing n_kv_heads key/value heads. x: [B, T, D] -> [B, T, D]."""
    ### BEGIN SOLUTION
    q = split_heads(q_proj(x), n_heads)  # [B, H, T, d]
    k = split_heads(k_proj(x), n_kv_heads)  # [B, Hkv, T, d]
    v = split_heads(v_proj(x), n_kv_heads)
    n_rep = n_heads // n_kv_heads
    out = causal_attention(q, repeat_kv(k, n_rep), repeat_kv(v, n_rep))  # [B, H, T, d]
    return o_proj(merge_heads(out))
    ### END SOLUTION


from sinklab.checks import check_grouped_query_attention

check_grouped_query_attention(grouped_query_attention)

# %% [markdown]
# <details><summary>Hint 1 (the idea)</summary>
#
# Follow the shapes: `[B, T, D]` → three projections → heads `[B, H, T, d]` (queries) and `[B, Hkv, T, d]`
# (keys, values) → make the key/value heads as many as the query heads → attention → back to `[B, T, H·d]`
# → output projection. Every step is a function you already wrote.
# </details>
#
# <details><summary>Hint 2 (the code)</summary>
#
# `split_heads(q_proj(x), n_heads)` for queries, `n_kv_heads` for keys and values; each query head group
# has `n_heads // n_kv_heads` members, the `n_rep` of `repeat_kv`; `merge_heads` undoes `split_heads`.
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ grouped_query_attention(n_heads=4, n_kv_heads=4): correct.` (multi-head attention), then the same
# for `n_kv_heads=2` (grouped-query attention).
# </details>
#
# PyTorch's own multi-head attention module packs the three input projections into one matrix. Load
# the same weights into it and compare. Careful: its `attn_mask` uses True for **blocked** positions, the
# opposite of our `visible`.

# %%
d_model, n_heads, seq_len = 32, 4, 10
q_proj, k_proj, v_proj, o_proj = (torch.nn.Linear(d_model, d_model, bias=False) for _ in range(4))
torch_mha = torch.nn.MultiheadAttention(d_model, n_heads, bias=False, batch_first=True)
torch_mha.in_proj_weight.data = torch.cat([q_proj.weight, k_proj.weight, v_proj.weight])
torch_mha.out_proj.weight.data = o_proj.weight.data.clone()

x = torch.randn(2, seq_len, d_model)
blocked = torch.ones(seq_len, seq_len, dtype=torch.bool).triu(diagonal=1)
with torch.no_grad():
    ours = grouped_query_attention(x, q_proj, k_proj, v_proj, o_proj, n_heads, n_kv_heads=n_heads)
    theirs, _ = torch_mha(x, x, x, attn_mask=blocked, need_weights=False)
torch.testing.assert_close(ours, theirs)
print("multi-head attention matches torch.nn.MultiheadAttention")

# %% [markdown]
# For GQA, SDPA accepts fewer key/value heads than query heads with `enable_gqa=True` and does the
# sharing itself:

# %%
n_kv_heads, head_dim = 2, d_model // n_heads
k_proj, v_proj = (torch.nn.Linear(d_model, n_kv_heads * head_dim, bias=False) for _ in range(2))
with torch.no_grad():
    ours = grouped_query_attention(x, q_proj, k_proj, v_proj, o_proj, n_heads, n_kv_heads)
    q, k, v = split_heads(q_proj(x), n_heads), split_heads(k_proj(x), n_kv_heads), split_heads(v_proj(x), n_kv_heads)
    theirs = o_proj(merge_heads(F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)))
torch.testing.assert_close(ours, theirs)
print(f"GQA with {n_heads} query heads and {n_kv_heads} key/value heads matches SDPA(enable_gqa=True)")

# %% [markdown] tags=["core"]
# ## 3️⃣ Positions: rotary position embeddings (RoPE)
#
# > **Learning objectives**
# > - Compute RoPE's cosines and sines for every position and frequency, in Llama's layout
# > - Rotate queries and keys with `rotate_half` and explain why the score then depends only on the
# >   *relative* position
# > - Distinguish the half-split convention (Llama, GPT-NeoX) from the adjacent-pair one (GPT-J, the paper)
#
# Attention *without* a mask is blind to order: permute the keys and values together and each query's
# output is unchanged. The causal mask already breaks that symmetry, and it is what makes position 0
# special: query 0 sees only itself, so in every layer the first token's state is computed from the first
# token alone — unmixed, the same whatever follows it — while it is the one key every later query sees.
# Chapter 4 calls this the **P0 mechanism**. It needs no positional encoding at all: Gu et al. (2025,
# Table 3) train small causal LMs with no positional encoding (NoPE) and they grow sinks much like RoPE
# models (sink rate 20.35 % with NoPE, 18.18 % with RoPE). So the claim of a popular blog post that
# positional encoding "gives the first token a unique weight" does not hold up; that post cites no source
# for it, nor for the figures it quotes (a 15 % drop in accuracy, a 20 % drop in user frustration).
#
# **RoPE** (Su et al., 2021) injects position by *rotating* queries and keys. The `d`
# features form `d/2` pairs; pair `i` at position `m` is turned by the angle `m·θᵢ` with
# `θᵢ = base^(−2i/d)`, so early pairs spin fast and late pairs slowly. A rotation keeps lengths, and
# rotating `q` by `m·θ` and `k` by `n·θ` changes their dot product only through `m − n`.
#
# Which features form a pair is a convention. The RoPE paper and GPT-J pair **adjacent** features
# `(0, 1), (2, 3), …`. Llama in transformers (like GPT-NeoX) pairs feature `i` with `i + d/2` and writes
# the rotation with `rotate_half(x) = cat(−x₂, x₁)` on the two halves `x₁, x₂`:
#
# $$\text{rope}(x) = x \cdot \cos + \text{rotate\_half}(x) \cdot \sin,$$
#
# where `cos` and `sin` repeat each pair's angle in both halves: `[θ₀ … θ_{d/2−1}, θ₀ … θ_{d/2−1}]·m`.
#
# ### Exercise 1.6 – Compute the rotary angles' cosines and sines
#
# > Difficulty: 🔴🔴⚪⚪⚪ · Importance: 🔵🔵🔵⚪⚪ · ≈ 8 minutes
#
# `positions` is an integer tensor `[T]`. Return `(cos, sin)`, each `[T, head_dim]` in Llama's layout:
# column `i` and column `i + head_dim/2` hold the same angle `position · base^(−2i/head_dim)`.

# %%
def rope_cos_sin(positions: torch.Tensor, head_dim: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of the rotary angles, each [T, head_dim] (Llama's half-split layout). positions: [T]."""
    ### BEGIN SOLUTION
    frequencies = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)  # [d/2]
    angles = positions.float()[:, None] * frequencies[None, :]  # [T, d/2]
    angles = torch.cat([angles, angles], dim=-1)  # [T, d]: features i and i + d/2 share an angle
    return angles.cos(), angles.sin()
    ### END SOLUTION


from sinklab.checks import check_rope_cos_sin

check_rope_cos_sin(rope_cos_sin)

# %% [markdown]
# <details><summary>Hint 1 (the idea)</summary>
#
# One frequency per feature pair (`head_dim/2` of them), one angle per (position, frequency), then lay
# the angles out so that feature i and feature i + d/2 share one.
# </details>
#
# <details><summary>Hint 2 (the code)</summary>
#
# `torch.arange(0, head_dim, 2)` gives the exponents 2i; an outer product (`[:, None] * [None, :]`)
# gives `[T, d/2]` angles. Joining two copies side by side is the half-split layout (interleaving them
# would be the adjacent-pair one).
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ rope_cos_sin: correct.` Then the cell below prints the RoPE scores of one query/key pair: the
# numbers on each diagonal (same offset m − n) are equal. Position 0 has angle 0 (`cos = 1`, `sin = 0`),
# so its vectors are not rotated — but that is a **convention**, not a cause: the score depends only on
# m − n, and starting the positions at 100 would change no score at all (the cell checks this).
# </details>
#
# ### Exercise 1.7 – Rotate queries and keys
#
# > Difficulty: 🔴🔴⚪⚪⚪ · Importance: 🔵🔵🔵🔵⚪ · ≈ 6 minutes
#
# `x` has shape `[..., T, d]` (for example `[B, H, T, d]`), `cos` and `sin` `[T, d]` from `rope_cos_sin`.
# Return `x * cos + rotate_half(x) * sin`, shape `[..., T, d]`.

# %%
def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each pair (x_i, x_{i+d/2}) by its angle. x: [..., T, d], cos, sin: [T, d] -> [..., T, d]."""
    ### BEGIN SOLUTION
    x1, x2 = x.chunk(2, dim=-1)
    rotated_half = torch.cat([-x2, x1], dim=-1)  # each pair (a, b) -> (−b, a): a quarter turn
    return x * cos + rotated_half * sin
    ### END SOLUTION


from sinklab.checks import check_apply_rope

check_apply_rope(apply_rope)

# %% [markdown]
# <details><summary>Hint 1 (the idea)</summary>
#
# In 2-D, rotating `(a, b)` by θ gives `(a cos θ − b sin θ, b cos θ + a sin θ)`. Here `a` lives in the
# first half of the features and `b` in the second.
# </details>
#
# <details><summary>Hint 2 (the code)</summary>
#
# Split `x` into its two halves with `chunk(2, dim=-1)`; the vector that multiplies `sin` is the halves
# swapped, with one sign flipped.
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ apply_rope: correct.` Below: rotated vectors keep their length, and the score of a query at position
# 15 with a key at 12 equals that of the same query at 5 with the same key at 2.
# </details>

# %%
head_dim = 16
cos, sin = rope_cos_sin(torch.arange(64), head_dim)
query, key = torch.randn(head_dim), torch.randn(head_dim)
queries = apply_rope(query.expand(64, head_dim), cos, sin)  # the same query vector at positions 0 … 63
keys = apply_rope(key.expand(64, head_dim), cos, sin)
torch.testing.assert_close(queries.norm(dim=-1), query.norm().expand(64))  # rotations keep lengths
scores = queries @ keys.T  # [query position, key position]
for offset in (0, 3, 10):
    diagonal = scores.diagonal(-offset)  # every (m, m − offset) pair
    torch.testing.assert_close(diagonal, diagonal[0].expand_as(diagonal), atol=1e-4, rtol=1e-4)
print("RoPE keeps norms; the score depends only on the offset m − n, e.g.",
      [f"{scores.diagonal(-o)[0].item():.3f}" for o in (0, 3, 10)])

# Shift every position by 100: no position is "unrotated" any more, and yet no score changes.
cos_shifted, sin_shifted = rope_cos_sin(torch.arange(100, 164), head_dim)
shifted = apply_rope(query.expand(64, head_dim), cos_shifted, sin_shifted) @ apply_rope(
    key.expand(64, head_dim), cos_shifted, sin_shifted).T
print(f"positions 100 … 163 instead of 0 … 63: largest score change {(shifted - scores).abs().max().item():.1e}")
torch.testing.assert_close(shifted, scores, atol=1e-3, rtol=1e-3)

# %% [markdown] tags=["optional"]
# ## 4️⃣ Reproduce a real Llama attention layer
#
# > **Learning objectives**
# > - Build a tiny random-init Llama from a `LlamaConfig` (no download) and call one attention layer
# >   the way the model does
# > - Reproduce that layer's output from its `q_proj`, `k_proj`, `v_proj`, `o_proj`, RoPE and GQA
#
# Everything so far is what transformers' `LlamaAttention` does. The model below has one layer with
# 4 query heads sharing 2 key/value heads (`d = 16`) and RoPE base 500 000 (Llama 3's value); its weights
# are random, drawn larger than usual so that every mistake shows in the output. `LlamaDecoderLayer` calls
# the attention module with keyword arguments: `hidden_states`, `position_embeddings=(cos, sin)` computed
# once by the model's rotary embedding, and an additive `attention_mask` (0 where visible, `−inf` where
# masked).

# %%
from sinklab.analysis.scratch_attention import tiny_llama

model = tiny_llama()
config = model.config
attn = model.model.layers[0].self_attn
rope_base = config.rope_parameters["rope_theta"]
print(f"{config.num_attention_heads} query heads, {config.num_key_value_heads} key/value heads, head_dim "
      f"{attn.head_dim}, D = {config.hidden_size}, RoPE base {rope_base:g}")

seq_len = 12
hidden_states = torch.randn(2, seq_len, config.hidden_size)
position_ids = torch.arange(seq_len)[None]
llama_cos, llama_sin = model.model.rotary_emb(hidden_states, position_ids)  # [1, T, d] each
visible = torch.ones(seq_len, seq_len, dtype=torch.bool).tril()
additive_mask = torch.zeros(seq_len, seq_len).masked_fill(~visible, float("-inf"))[None, None]  # [1, 1, T, T]
with torch.no_grad():
    llama_out, _ = attn(hidden_states=hidden_states, position_embeddings=(llama_cos, llama_sin),
                        attention_mask=additive_mask)
print("the layer's output:", tuple(llama_out.shape))

# %% [markdown]
# ### Exercise 1.8 – Rebuild the Llama layer's output from its weights
#
# > Difficulty: 🔴🔴🔴⚪⚪ · Importance: 🔵🔵🔵🔵⚪ · ≈ 10 minutes
#
# `attn` is a `LlamaAttention` module: use `attn.q_proj`, `attn.k_proj`, `attn.v_proj`, `attn.o_proj`,
# `attn.head_dim` and `attn.config.num_attention_heads` / `num_key_value_heads`. `hidden_states` is
# `[B, T, D]` at positions 0 … T−1. Compute the RoPE tables with **your** `rope_cos_sin` and `rope_base`,
# rotate queries and keys (not values), and reuse your functions from sections 1–3. Return `[B, T, D]`.

# %%
def llama_attention(attn: torch.nn.Module, hidden_states: torch.Tensor, rope_base: float) -> torch.Tensor:
    """The output of a transformers LlamaAttention layer, rebuilt from its weights. [B, T, D] -> [B, T, D]."""
    ### BEGIN SOLUTION
    n_heads, n_kv_heads = attn.config.num_attention_heads, attn.config.num_key_value_heads
    cos, sin = rope_cos_sin(torch.arange(hidden_states.shape[1]), attn.head_dim, rope_base)
    q = apply_rope(split_heads(attn.q_proj(hidden_states), n_heads), cos, sin)
    k = apply_rope(split_heads(attn.k_proj(hidden_states), n_kv_heads), cos, sin)
    v = split_heads(attn.v_proj(hidden_states), n_kv_heads)
    n_rep = n_heads // n_kv_heads
    out = causal_attention(q, repeat_kv(k, n_rep), repeat_kv(v, n_rep))
    return attn.o_proj(merge_heads(out))
    ### END SOLUTION


from sinklab.checks import check_llama_attention

check_llama_attention(llama_attention)

# %% [markdown]
# <details><summary>Hint 1 (the idea)</summary>
#
# Start from what `grouped_query_attention` does. Where does RoPE enter? Only queries and keys carry
# position; values do not. And the model's RoPE base is not your function's default.
# </details>
#
# <details><summary>Hint 2 (the code)</summary>
#
# The tables: `rope_cos_sin(torch.arange(T), attn.head_dim, rope_base)`. Apply `apply_rope` to the split
# query and key heads, before `repeat_kv`.
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ llama_attention: correct.` The check names forgotten RoPE, a wrong base, rotated values, tiled
# key/value heads, a missing mask or a missing `o_proj`. Below, your layer matches the module's output to
# ~1e-6 on the example above.
# </details>

# %%
with torch.no_grad():
    ours = llama_attention(attn, hidden_states, rope_base)
torch.testing.assert_close(ours, llama_out, atol=1e-4, rtol=1e-4)
print(f"largest difference from transformers' LlamaAttention: {(ours - llama_out).abs().max().item():.1e}")

# %% [markdown] tags=["core"]
# ## 5️⃣ Attention must sum to one
#
# > **Learning objectives**
# > - Explain why a head that has nothing to do must still put its attention *somewhere*
# > - Show that with no positional encoding and a repeated token causal attention is exactly uniform (1/t)
# > - Implement softmax-off-by-one and show it equals attention with a prepended zero key and value
# > - Use the sink explorer to predict when a sink key turns a head into an approximate no-op
# > - Hand-build a dormant head that parks on BOS until a trigger appears
#
# A softmax row is positive and sums to one, whatever the scores. A head whose pattern is irrelevant to
# the current token (no previous-token to copy, no bracket to match) cannot output "nothing": it outputs
# a weighted average of values. Lowering every score does not help either, because the softmax ignores a
# shift of the whole row:

# %%
values = torch.randn(8, 16)  # eight keys' values
rows = {"all 0": torch.zeros(8), "all −100": torch.full((8,), -100.0), "random": torch.randn(8)}
for name, scores in rows.items():
    weights = torch.softmax(scores, dim=-1)
    torch.testing.assert_close(weights.sum(), torch.tensor(1.0))
    output_norm = (weights @ values).norm().item()
    print(f"scores {name:>8}: weights sum to {weights.sum().item():.3f}, output norm {output_norm:.2f}")
torch.testing.assert_close(torch.softmax(torch.full((8,), -100.0), -1), torch.softmax(torch.zeros(8), -1))

# %% [markdown]
# The only way for such a head to add (almost) nothing is to put its weight on a key whose value, once
# the output projection has mapped it into the residual stream, is **close to zero**: what matters is
# ‖W_O v‖ (chapter 3 measures value norms, a proxy), and that it is the same whatever the context. A sink
# value that is large but constant is not "mixing" either: it adds the same vector to every token, a
# **bias**, which the next layers can absorb (Sun et al. 2024, Table 3, find that massive activations act
# as such biases).
#
# A key that soaks up attention without contributing is an *attention sink*, and the
# first token is the natural candidate: it is the only key every query can see. (ARENA's chapter 1.2
# describes BOS as the place heads "rest"; Gu et al., 2025, find that the first token's keys and values
# have *small* norms in LLaMA, Mistral, GPT-2 and Pythia.)
#
# ### Without positions, a repeated token gets exactly uniform attention
#
# Feed one token repeated `T` times through an attention layer with **no positional encoding**. Every
# query is the same vector and every key is the same vector, so every score in a row is the same and the
# causal softmax is exactly uniform: query `t` (counting from 1) gives `1/t` to each of its keys. There is
# nothing to make the first token special. (Gu et al., 2025, prove this for NoPE models and measure 0 %
# sink heads on repeated tokens for LLaMA 2/3 and Mistral.) A trick to read the weights off your own
# function: with `v` = the identity matrix, the output rows *are* the attention weights.

# %%
seq_len, d_model, head_dim = 16, 32, 8
token = torch.randn(d_model)
x = token.expand(seq_len, d_model)  # the same embedding at every position, no positional encoding
w_q, w_k = torch.randn(d_model, head_dim), torch.randn(d_model, head_dim)
weights = causal_attention(x @ w_q, x @ w_k, torch.eye(seq_len))  # v = I: output row i = query i's weights
uniform = torch.ones(seq_len, seq_len).tril() / torch.arange(1, seq_len + 1)[:, None]
torch.testing.assert_close(weights, uniform, atol=1e-6, rtol=0)
print("query 4's weights:", [f"{w:.3f}" for w in weights[3, :6].tolist()], "→ exactly 1/4 each")

# With RoPE the same repeated token is no longer uniform: the rotation tells positions apart.
cos, sin = rope_cos_sin(torch.arange(seq_len), head_dim)
rotated = causal_attention(apply_rope(x @ w_q, cos, sin), apply_rope(x @ w_k, cos, sin), torch.eye(seq_len))
assert (rotated - uniform).abs().max() > 0.05, "RoPE should break the tie between identical tokens"
print(f"with RoPE, largest deviation from uniform: {(rotated - uniform).abs().max().item():.2f}")

# But RoPE rotates queries and keys, never values: every value is still the same vector, so every output is
# a weighted average of identical vectors, i.e. that vector. The weights change, the outputs do not.
w_v = torch.randn(d_model, head_dim)
outputs = causal_attention(apply_rope(x @ w_q, cos, sin), apply_rope(x @ w_k, cos, sin), x @ w_v)
torch.testing.assert_close(outputs, (x @ w_v)[:1].expand_as(outputs), atol=1e-5, rtol=1e-5)
print("with RoPE and identical values, every output is the same vector: the next layer sees identical tokens again")

# %% [markdown]
# ### Exercise 1.9 – Implement softmax-off-by-one
#
# > Difficulty: 🔴🔴⚪⚪⚪ · Importance: 🔵🔵🔵🔵⚪ · ≈ 8 minutes
#
# Evan Miller ("Attention Is Off By One", 2023) proposed adding 1 to the softmax denominator so a head
# can put (almost) no weight anywhere:
#
# $$\text{softmax}_1(x)_i = \frac{e^{x_i}}{1 + \sum_j e^{x_j}} .$$
#
# `scores` has shape `[..., k]`; normalise over the last axis and return the same shape. It must not
# overflow for scores like 100 (`exp(100)` is `inf` in float32), nor lose the 1 for very negative rows.

# %%
def softmax_one(scores: torch.Tensor) -> torch.Tensor:
    """exp(x_i) / (1 + Σ_j exp(x_j)) over the last axis, without overflow. [..., k] -> [..., k]."""
    ### BEGIN SOLUTION
    shift = scores.amax(dim=-1, keepdim=True).clamp(min=0)  # m = max(0, max_j x_j)
    numerators = torch.exp(scores - shift)
    return numerators / (torch.exp(-shift) + numerators.sum(dim=-1, keepdim=True))
    ### END SOLUTION


from sinklab.checks import check_softmax_one

check_softmax_one(softmax_one)

# %% [markdown]
# <details><summary>Hint 1 (the idea)</summary>
#
# Multiply numerator and denominator by the same `exp(−m)` for a shift `m` chosen so that no exponent is
# positive. What does the 1 in the denominator become?
# </details>
#
# <details><summary>Hint 2 (the code)</summary>
#
# With `m = max(0, max_j x_j)` (`amax(dim=-1, keepdim=True)`, then `clamp(min=0)`) every `exp(x_i − m)` is
# at most 1 and the 1 becomes `exp(−m)`. Why clamp at 0? Try a row of very negative scores.
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ softmax_one: correct.` then `✅ softmax_one(large scores): correct.` Below, the weights of a row sum
# to less than one, and softmax-off-by-one attention equals ordinary attention with one extra key/value
# of zeros.
# </details>
#
# Why is this "a zero key and value"? Prepend a key of zeros: its score is `q·0 = 0`, so it contributes
# `e⁰ = 1` to the denominator, the extra 1. Its value of zeros adds nothing to the output. PyTorch has
# long offered exactly this as `nn.MultiheadAttention(add_zero_attn=True)`. Check the identity with your
# own functions:

# %%
q, k, v = torch.randn(6, 16), torch.randn(6, 16), torch.randn(6, 5)
scores = q @ k.T / math.sqrt(16)
off_by_one = softmax_one(scores) @ v
zero_key, zero_value = torch.zeros(1, 16), torch.zeros(1, 5)
with_zero_slot = attention(q, torch.cat([zero_key, k]), torch.cat([zero_value, v]))
torch.testing.assert_close(off_by_one, with_zero_slot)
row_sums = softmax_one(scores).sum(-1)
assert (row_sums < 1).all()
print("softmax_1(q kᵀ/√d) v == attention with a zero key/value prepended; row sums:",
      [f"{s:.2f}" for s in row_sums.tolist()])

# %% [markdown] tags=["optional"]
# ## Interactive demo – Vary a sink key's score and the norm of its value
#
# One query attends over six content keys with similar scores (a head with nothing to do) plus a
# **sink** key in front. You choose the sink's score and the norm `‖v‖` of its value. Left: the weights.
# Right: the norm of the head's output against the sink score, with the output without a sink dashed.
#
# 1. With the sink score at −4, how much weight does the sink get, and how far is the output norm from
#    the dashed line?
# 2. Set `‖v‖ = 0` and raise the sink score. What happens to the output norm? In what sense is the head
#    now "switched off"?
# 3. Keep the score high and raise `‖v‖` to 2. Is the head still switched off? What does this say about
#    the value a trained model should learn for its sink token?
# 4. Score 0 and `‖v‖ = 0` is exactly softmax-off-by-one. How much weight does the "1" take here?
#
# In a live notebook you get sliders. In CI, in stored notebooks and under the `ci` profile you get a
# static chart with one curve per value norm instead (the rule is in `sinklab.viz.widgets.wants_widget`;
# `sink_explorer(interactive=True)` forces the sliders).

# %%
from sinklab.viz.widgets import compute_sink_explorer, sink_explorer, toy_head

sink_explorer()

# %% [markdown]
# The same numbers from the explorer's pure function, as claims you can test:

# %%
content_only = compute_sink_explorer(sink_score=-30.0, sink_value_norm=0.0)
quiet_sink = compute_sink_explorer(sink_score=8.0, sink_value_norm=0.0)
loud_sink = compute_sink_explorer(sink_score=8.0, sink_value_norm=2.0)
zero_slot = compute_sink_explorer(sink_score=0.0, sink_value_norm=0.0)
assert abs(content_only.output_norm - content_only.no_sink_output_norm) < 1e-6  # no weight on the sink: no change
assert quiet_sink.sink_weight > 0.99 and quiet_sink.output_norm < 0.01 * quiet_sink.no_sink_output_norm
assert loud_sink.output_norm > 1.5 > loud_sink.no_sink_output_norm  # a sink with a big value is no no-op
extra_one_weight = 1 - softmax_one(toy_head().scores).sum()  # the weight softmax_1's "1" takes
assert abs(zero_slot.sink_weight - extra_one_weight) < 1e-6
print(f"no sink: output norm {content_only.output_norm:.3f} · quiet sink (‖v‖=0): {quiet_sink.output_norm:.4f} · "
      f"loud sink (‖v‖=2): {loud_sink.output_norm:.3f} · the zero slot takes {zero_slot.sink_weight:.2f}")

# %% [markdown]
# **Interpret it.** A sink turns a head off only if its value is small; the weight it absorbs is then
# spent on nothing. Gu et al. (2025) test this directly: a learnable key bias whose value is fixed at
# zero takes over the sink's role (the first token then gets none), and forcing a large value onto that
# slot pushes the sink back to the first token.

# %% [markdown]
# ### Exercise 1.10 – Hand-build a dormant head that wakes up on a trigger
#
# > Difficulty: 🔴🔴🔴⚪⚪ · Importance: 🔵🔵🔵🔵⚪ · ≈ 15 minutes
#
# Many sink heads are **dormant**: they have one job that applies to few tokens, and on every other token
# they park their attention on BOS, whose value is ≈ 0. Guo et al. (2024, "Active-Dormant Attention
# Heads") describe such heads, Barbero et al. (2025) find one in Gemma that wakes up on apostrophes, and
# the teaching model of chapters 0, 2 and 4 was trained with a task that needs one (its model card,
# `sinklab/assets/tiny-sink-lm/README.md`). Build one by hand.
#
# The toy embeddings have 7 features, in this order: `is_bos`, `is_trigger`, `constant` (1 for every
# token), and 4 `content` features (BOS has none, the trigger carries a fixed payload, words random
# ones). `sinklab.analysis.scratch_attention.dormant_toy_embeddings("Babc!de")` builds them: `B` is BOS, `!` the trigger.
# Return `(W_q, W_k, W_v)`, shapes `[7, d]`, `[7, d]`, `[7, d_v]` (you choose `d` and `d_v`), such that
# in causal attention with `q = x W_q`, `k = x W_k`, `v = x W_v`:
#
# - a query with no trigger in view puts ≥ 0.9 of its attention on BOS;
# - a query with the trigger in view puts ≥ 0.9 on the trigger;
# - BOS's value is ≈ 0, and the trigger's value carries its payload.

# %%
def dormant_head() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """W_q [7, d], W_k [7, d], W_v [7, d_v] of a head that attends to the trigger if visible, else to BOS."""
    ### BEGIN SOLUTION
    w_q = torch.zeros(7, 1)
    w_q[2, 0] = 10.0  # every query is the same: it reads the constant feature
    w_k = torch.zeros(7, 1)
    w_k[0, 0], w_k[1, 0] = 1.0, 2.0  # the trigger's key scores above BOS's, BOS's above every word's (0)
    w_v = torch.zeros(7, 4)
    w_v[3:, :] = torch.eye(4)  # the value copies the content features, which BOS does not have
    return w_q, w_k, w_v
    ### END SOLUTION


from sinklab.checks import check_dormant_head

check_dormant_head(dormant_head)

# %% [markdown]
# <details><summary>Hint 1 (the idea)</summary>
#
# The query need not depend on the token at all: every query asks the same question. Let the *key*
# carry the preference: a high score for the trigger, a somewhat lower one for BOS, none for words. The
# value must ignore every feature that BOS has.
# </details>
#
# <details><summary>Hint 2 (the code)</summary>
#
# With `d = 1`: put a large number in the `constant` row of `W_q`; in `W_k`, one number in the `is_bos`
# row and a larger one in the `is_trigger` row; let `W_v` copy rows 3 … 6 (e.g. an identity block) and
# keep rows 0 … 2 at zero. The softmax divides scores by √d, so make them large.
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ dormant_head: correct.` Then the cell below prints, for an input without and with a trigger, the
# attention on BOS and the head's output norm: near 1 and near 0 while dormant, and after the trigger
# an output near the payload's norm (1.0). The sink explorer, given your head's BOS score margin and
# BOS value norm, predicts the same near-zero output.
# </details>

# %%
from sinklab.analysis.scratch_attention import dormant_toy_embeddings, head_weights_and_output

w_q, w_k, w_v = dormant_head()
for tokens in ("Babcdefghij", "Babc!defghij"):
    head_attn, head_out = head_weights_and_output(dormant_toy_embeddings(tokens), w_q, w_k, w_v)
    print(f"{tokens!r}: attention on BOS per query {[round(a, 2) for a in head_attn[:, 0].tolist()]}")
    print(f"{'':14} output norm per query {[round(n, 2) for n in head_out.norm(dim=-1).tolist()]}")

# The explorer's prediction for the dormant case: the sink's score margin over the words, and its value norm.
x = dormant_toy_embeddings("Babcdefghij")
scores_last = (x @ w_q)[-1] @ (x @ w_k).T / math.sqrt(w_q.shape[1])  # the last query's scores
margin = (scores_last[0] - scores_last[1:].mean()).item()
bos_value_norm = (x @ w_v)[0].norm().item()
predicted = compute_sink_explorer(sink_score=margin, sink_value_norm=bos_value_norm)
print(f"explorer with sink score {margin:.1f} and ‖v‖ = {bos_value_norm:.2f}: sink weight {predicted.sink_weight:.3f}, "
      f"output norm {predicted.output_norm:.4f} (without the sink {predicted.no_sink_output_norm:.3f})")
assert predicted.output_norm < 0.05 * predicted.no_sink_output_norm, "a dormant head should be a near no-op"

# %% [markdown] tags=["core"]
# ## Summary
#
# - Attention is `softmax(q kᵀ/√d) v`, softmax over the keys; a causal mask sets future scores to `−inf`
#   before the softmax, so query 0 sees only key 0 and key 0 is seen by every query.
# - Heads are contiguous feature slices (`view` as `[B, T, H, d]`, then `transpose`); in GQA, query head
#   `h` reads key/value head `h // n_rep` (`repeat_interleave`, not `repeat`).
# - RoPE rotates pairs `(i, i + d/2)` (Llama's `rotate_half`) by `position · base^(−2i/d)`; scores then
#   depend on relative positions only. Your functions reproduce SDPA, `nn.MultiheadAttention` and a
#   transformers Llama attention layer.
# - Each softmax row sums to one, so an idle head must still put its weight somewhere; without position
#   information a repeated token gets exactly uniform attention.
# - Softmax-off-by-one equals a prepended zero key/value; a sink makes a head an approximate no-op only
#   when its value after W_O is small (a large constant value is a bias, not nothing).
# - The causal mask, not positional encoding, makes position 0 special: query 0 sees only itself. RoPE's
#   "unrotated" position 0 is a convention; scores depend on m − n only.
# - A dormant head parks on BOS (value ≈ 0) until its trigger appears: you built one by hand.

# %% [markdown] tags=["core"]
# ## Check your understanding
#
# **1. A query's scores are all −100. Its attention weights are…**
#
# <details><summary>(a) all close to zero</summary>❌ The softmax ignores a shift of the whole row: the
# weights are the same as for scores of 0, uniform and summing to one.</details>
# <details><summary>(b) uniform, summing to one</summary>✅ Only differences between scores matter.
# </details>
# <details><summary>(c) NaN</summary>❌ Only when every score is −inf (every key masked).</details>
#
# **2. You mask with `torch.triu(ones, diagonal=0)` as the *blocked* positions. What happens?**
#
# <details><summary>(a) nothing, it is the usual causal mask</summary>❌ It blocks the diagonal too.
# </details>
# <details><summary>(b) query 0 has no visible key and its output is NaN</summary>✅ softmax(−inf, …, −inf)
# = 0/0. The blocked set is `triu(diagonal=1)`.</details>
#
# **3. A model has 32 query heads and 8 key/value heads. Which key/value head does query head 13 use?**
#
# <details><summary>(a) 13 // 4 = 3</summary>✅ Groups of n_rep = 4 consecutive query heads share one
# key/value head, which is the order `repeat_interleave` produces.</details>
# <details><summary>(b) 13 % 8 = 5</summary>❌ That is the pairing `repeat` (tiling) produces.</details>
#
# **4. RoPE leaves position 0 unrotated (angle 0 · θ = 0). Is that why the first token becomes a sink?**
#
# <details><summary>(a) Yes: the first token keeps its original query and key</summary>❌ That is a
# convention: scores depend only on m − n, so numbering positions from 100 changes no score (section 3
# checks it). And models without any positional encoding grow sinks too (Gu et al. 2025, Table 3).</details>
# <details><summary>(b) No: the causal mask makes position 0 special</summary>✅ Query 0 sees only itself,
# so the first token's state is unmixed and context-free, and every query can see it.</details>
#
# **5. Softmax-off-by-one is the same as…**
#
# <details><summary>(a) prepending a key and a value of zeros</summary>✅ The zero key scores 0, adding
# e⁰ = 1 to the denominator; the zero value adds nothing.</details>
# <details><summary>(b) subtracting 1 from every score</summary>❌ A shift of the whole row does not change
# a softmax.</details>
# <details><summary>(c) a learned sink token</summary>❌ Close, but a learned sink has a learned key
# (score) and value; softmax-off-by-one fixes both at zero.</details>
#
# **6. A head puts 99 % of its attention on a sink key. It is an approximate no-op when…**
#
# <details><summary>(a) the sink's value, after W_O, has a small norm</summary>✅ The output is then ≈ 0.99 ·
# W_O v_sink ≈ 0, as the explorer shows.</details>
# <details><summary>(b) always</summary>❌ With a large value the output is ≈ W_O v_sink: the head writes
# a constant vector — a bias, not information from the context, but not nothing either.</details>

# %% [markdown] tags=["core"]
# ## Further reading
#
# - Vaswani et al. (2017), *Attention Is All You Need* — scaled dot-product and multi-head attention.
# - Su et al. (2021), *RoFormer: Enhanced Transformer with Rotary Position Embedding* — RoPE.
# - Ainslie et al. (2023), *GQA: Training Generalized Multi-Query Transformer Models from Multi-Head
#   Checkpoints* — grouped-query attention.
# - Evan Miller (2023), *Attention Is Off By One* (blog post) — softmax₁.
# - Xiao et al. (2024), *Efficient Streaming Language Models with Attention Sinks* — a "zero sink"
#   (softmax₁) helps only partly; a learnable sink token works.
# - Gu et al. (2025), *When Attention Sink Emerges in Language Models: An Empirical View* — repeated
#   tokens, key biases with zero value, softmax normalisation as the root cause (chapter 6 trains these).
# - transformers' `models/llama/modeling_llama.py` — `rotate_half`, `repeat_kv` and
#   `eager_attention_forward`, the code you just reproduced.
