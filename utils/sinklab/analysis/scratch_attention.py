"""Reference implementations of attention, built up in chapter 1 ("Attention from scratch").

Each function is the solution of one chapter-1 exercise, written to be read. The checks in
`sinklab.checks` compare the learner's functions with these, and the tests compare these with
`torch.nn.functional.scaled_dot_product_attention` and with a real transformers Llama layer.

Shapes use the course glossary: B batch, H query heads, Hkv key/value heads, T (or Tq, Tk)
positions, d head dimension, D model dimension (= H·d).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def causal_mask(n_queries: int, n_keys: int | None = None) -> torch.Tensor:
    """Which keys each query may see: True where key j ≤ query i. Returns bool [Tq, Tk].

    With fewer queries than keys (decoding with a cache) the queries are the *last* positions.
    Defined in chapter 1, Exercise 1.2.
    """
    n_keys = n_queries if n_keys is None else n_keys
    return torch.ones(n_queries, n_keys, dtype=torch.bool).tril(diagonal=n_keys - n_queries)


def attention_weights(q: torch.Tensor, k: torch.Tensor, causal: bool = False) -> torch.Tensor:
    """softmax(q kᵀ / √d) over the keys. q: [..., Tq, d], k: [..., Tk, d] -> [..., Tq, Tk].

    Defined in chapter 1, Exercises 1.1 and 1.2.
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        scores = scores.masked_fill(~causal_mask(q.shape[-2], k.shape[-2]), float("-inf"))
    return torch.softmax(scores, dim=-1)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False) -> torch.Tensor:
    """Scaled dot-product attention for one head (or a batch of heads).

    q: [..., Tq, d], k: [..., Tk, d], v: [..., Tk, d_v] -> [..., Tq, d_v].
    Defined in chapter 1, Exercises 1.1 (causal=False) and 1.2 (causal=True).
    """
    return attention_weights(q, k, causal) @ v


def split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Cut the last dimension into heads. x: [B, T, H·d] -> [B, H, T, d]. Defined in chapter 1, Exercise 1.3."""
    batch, length, width = x.shape
    return x.view(batch, length, n_heads, width // n_heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """Inverse of `split_heads`. x: [B, H, T, d] -> [B, T, H·d]. Defined in chapter 1, Exercise 1.3."""
    batch, n_heads, length, head_dim = x.shape
    return x.transpose(1, 2).reshape(batch, length, n_heads * head_dim)


def repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """Give each group of `n_rep` query heads its own copy of their shared key/value head.

    x: [B, Hkv, T, d] -> [B, Hkv·n_rep, T, d], heads ordered kv0, kv0, …, kv1, kv1, … (query head h
    reads key/value head h // n_rep). Defined in chapter 1, Exercise 1.4.
    """
    return x.repeat_interleave(n_rep, dim=1)


def rope_cos_sin(positions: torch.Tensor, head_dim: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosines and sines of the rotary angles, in Llama's half-split layout. positions: [T] -> two [T, d].

    Pair i (dimensions i and i + d/2) turns at frequency base^(−2i/d): angle = position · frequency.
    Defined in chapter 1, Exercise 1.6.
    """
    frequencies = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)  # [d/2]
    angles = positions.to(torch.float32)[:, None] * frequencies[None, :]  # [T, d/2]
    angles = torch.cat([angles, angles], dim=-1)  # [T, d]: dimension i and i + d/2 share an angle
    return angles.cos(), angles.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) -> (−x2, x1) on the two halves of the last dimension: a 90° turn of every pair."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each pair (x_i, x_{i+d/2}) by its angle. x: [..., T, d], cos/sin: [T, d] -> [..., T, d].

    Defined in chapter 1, Exercise 1.7.
    """
    return x * cos + rotate_half(x) * sin


def grouped_query_attention(
    x: torch.Tensor,
    q_proj: nn.Module,
    k_proj: nn.Module,
    v_proj: nn.Module,
    o_proj: nn.Module,
    n_heads: int,
    n_kv_heads: int,
    rope: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Causal multi-head attention with `n_kv_heads` shared key/value heads. x: [B, T, D] -> [B, T, D].

    n_kv_heads == n_heads is ordinary multi-head attention. `rope` = (cos, sin), each [T, d], rotates
    queries and keys as Llama does. Defined in chapter 1, Exercises 1.5 and 1.8.
    """
    q = split_heads(q_proj(x), n_heads)  # [B, H, T, d]
    k = split_heads(k_proj(x), n_kv_heads)  # [B, Hkv, T, d]
    v = split_heads(v_proj(x), n_kv_heads)
    if rope is not None:
        q, k = apply_rope(q, *rope), apply_rope(k, *rope)
    n_rep = n_heads // n_kv_heads
    out = attention(q, repeat_kv(k, n_rep), repeat_kv(v, n_rep), causal=True)  # [B, H, T, d]
    return o_proj(merge_heads(out))


def llama_attention(attn: nn.Module, hidden_states: torch.Tensor, rope_base: float) -> torch.Tensor:
    """A transformers `LlamaAttention` module's output, rebuilt from its projections. [B, T, D] -> [B, T, D].

    Positions are 0 … T−1 and attention is causal. Defined in chapter 1, Exercise 1.8.
    """
    positions = torch.arange(hidden_states.shape[1])
    rope = rope_cos_sin(positions, attn.head_dim, rope_base)
    config = attn.config
    return grouped_query_attention(
        hidden_states,
        attn.q_proj,
        attn.k_proj,
        attn.v_proj,
        attn.o_proj,
        config.num_attention_heads,
        config.num_key_value_heads,
        rope=rope,
    )


def softmax_one(scores: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax-off-by-one: exp(x_i) / (1 + Σ_j exp(x_j)); the weights may sum to less than one.

    Computed stably: with m = max(0, max_j x_j), it is exp(x_i − m) / (exp(−m) + Σ_j exp(x_j − m)).
    Same shape as `scores`. Defined in chapter 1, Exercise 1.9.
    """
    shift = scores.amax(dim=dim, keepdim=True).clamp(min=0)
    numerators = torch.exp(scores - shift)
    return numerators / (torch.exp(-shift) + numerators.sum(dim=dim, keepdim=True))


def tiny_llama(seed: int = 0, rope_base: float = 500000.0):
    """A 1-layer random-init Llama (D=64, 4 query heads sharing 2 key/value heads, d=16), built in code.

    Weights are drawn with std 0.2 (not Llama's 0.02) so that attention is far from uniform and every
    mistake in a re-implementation shows in the output. No download. Defined in chapter 1, section 4.
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=64,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        rope_parameters={"rope_type": "default", "rope_theta": rope_base},
        initializer_range=0.2,
        attn_implementation="eager",
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).eval()


def llama_layer_output(model, hidden_states: torch.Tensor) -> torch.Tensor:
    """What `model.model.layers[0].self_attn` returns for positions 0 … T−1 under a causal mask.

    Called the way `LlamaDecoderLayer` calls it: keyword arguments hidden_states, position_embeddings
    (cos, sin from the model's rotary embedding) and an additive attention mask (0 or −inf),
    [1, 1, T, T]. hidden_states: [B, T, D] -> [B, T, D].
    """
    length = hidden_states.shape[1]
    position_ids = torch.arange(length)[None]
    cos, sin = model.model.rotary_emb(hidden_states, position_ids)
    additive_mask = torch.zeros(length, length).masked_fill(~causal_mask(length), float("-inf"))
    with torch.no_grad():
        out, _ = model.model.layers[0].self_attn(
            hidden_states=hidden_states,
            position_embeddings=(cos, sin),
            attention_mask=additive_mask[None, None],
        )
    return out


# ---------------------------------------------------------------- a hand-built dormant head (Exercise 1.10)

DORMANT_FEATURES = ("is_bos", "is_trigger", "constant", "content_0", "content_1", "content_2", "content_3")
BOS, TRIGGER, CONSTANT = 0, 1, 2  # feature indices of the toy embeddings
N_CONTENT = len(DORMANT_FEATURES) - 3


def dormant_toy_embeddings(tokens: str, seed: int = 0) -> torch.Tensor:
    """Toy embeddings [T, 7] for a string of tokens: "B" is BOS, "!" the trigger, any other letter a word.

    Every token has the constant feature 1; BOS has is_bos = 1 and no content; the trigger has
    is_trigger = 1 and a fixed content vector (its payload); a word has a random content vector of norm ≈ 1.
    """
    generator = torch.Generator().manual_seed(seed)
    x = torch.zeros(len(tokens), len(DORMANT_FEATURES))
    x[:, CONSTANT] = 1.0
    for i, token in enumerate(tokens):
        if token == "B":
            x[i, BOS] = 1.0
        elif token == "!":
            x[i, TRIGGER] = 1.0
            x[i, 3:] = torch.tensor([1.0, -1.0, 1.0, -1.0]) / 2
        else:
            x[i, 3:] = torch.randn(N_CONTENT, generator=generator) / N_CONTENT**0.5
    return x


def dormant_head_weights(strength: float = 10.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Reference W_q, W_k, W_v [7, 2], [7, 2], [7, 4] of a head that attends to the trigger, else to BOS.

    The query is constant (it reads the constant feature); the key scores the trigger above BOS and BOS
    far above words; the value copies the content features, which BOS does not have (v_BOS = 0).
    """
    w_q = torch.zeros(len(DORMANT_FEATURES), 2)
    w_q[CONSTANT, 0] = strength
    w_k = torch.zeros(len(DORMANT_FEATURES), 2)
    w_k[BOS, 0], w_k[TRIGGER, 0] = 1.0, 2.0
    w_v = torch.zeros(len(DORMANT_FEATURES), N_CONTENT)
    w_v[3:, :] = torch.eye(N_CONTENT)
    return w_q, w_k, w_v


def head_weights_and_output(
    x: torch.Tensor, w_q: torch.Tensor, w_k: torch.Tensor, w_v: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Causal attention weights [T, T] and outputs [T, d_v] of one head with these projections."""
    weights = attention_weights(x @ w_q, x @ w_k, causal=True)
    return weights, weights @ (x @ w_v)
