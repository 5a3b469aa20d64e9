"""The chapter-1 reference implementations agree with torch and with a real transformers Llama layer."""

import pytest
import torch
import torch.nn.functional as F

from sinklab.analysis import scratch_attention as attention


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def llama():
    return attention.tiny_llama(seed=0)


# ---------------------------------------------------------------- one head, causal mask


@pytest.mark.parametrize("causal", [False, True])
def test_attention_matches_torch_sdpa(causal):
    q, k, v = randn(2, 3, 7, 8, seed=1), randn(2, 3, 7, 8, seed=2), randn(2, 3, 7, 5, seed=3)
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    torch.testing.assert_close(attention.attention(q, k, v, causal=causal), expected)


def test_attention_weights_rows_sum_to_one_and_respect_the_mask():
    weights = attention.attention_weights(randn(4, 8, seed=4), randn(4, 8, seed=5), causal=True)
    torch.testing.assert_close(weights.sum(-1), torch.ones(4))
    assert (weights.triu(diagonal=1) == 0).all()


def test_causal_mask_lines_queries_up_with_the_last_keys():
    assert attention.causal_mask(3).tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    assert attention.causal_mask(2, 4).tolist() == [[True, True, True, False], [True, True, True, True]]


# ---------------------------------------------------------------- heads


def test_split_and_merge_heads_are_inverse_and_keep_head_slices_contiguous():
    x = randn(2, 5, 12, seed=6)
    heads = attention.split_heads(x, 3)
    assert heads.shape == (2, 3, 5, 4)
    torch.testing.assert_close(heads[:, 1], x[..., 4:8])
    torch.testing.assert_close(attention.merge_heads(heads), x)


def test_repeat_kv_matches_transformers():
    from transformers.models.llama.modeling_llama import repeat_kv

    x = randn(2, 3, 4, 5, seed=7)
    torch.testing.assert_close(attention.repeat_kv(x, 2), repeat_kv(x, 2))


def _linear(fan_in, fan_out, seed):
    layer = torch.nn.Linear(fan_in, fan_out, bias=False)
    layer.weight.data = randn(fan_out, fan_in, seed=seed) / fan_in**0.5
    return layer


def test_multi_head_attention_matches_torch_multihead_attention():
    d_model, n_heads, length = 16, 4, 6
    q_proj, k_proj, v_proj, o_proj = (_linear(d_model, d_model, seed) for seed in range(4))
    torch_mha = torch.nn.MultiheadAttention(d_model, n_heads, bias=False, batch_first=True)
    torch_mha.in_proj_weight.data = torch.cat([q_proj.weight, k_proj.weight, v_proj.weight])
    torch_mha.out_proj.weight.data = o_proj.weight.data.clone()
    x = randn(2, length, d_model, seed=8)
    with torch.no_grad():
        mine = attention.grouped_query_attention(x, q_proj, k_proj, v_proj, o_proj, n_heads, n_heads)
        theirs, _ = torch_mha(x, x, x, attn_mask=~attention.causal_mask(length), need_weights=False)
    torch.testing.assert_close(mine, theirs)


def test_grouped_query_attention_matches_torch_sdpa_with_enable_gqa():
    d_model, n_heads, n_kv_heads, head_dim = 16, 4, 2, 4
    q_proj, o_proj = _linear(d_model, d_model, 10), _linear(d_model, d_model, 11)
    k_proj, v_proj = _linear(d_model, n_kv_heads * head_dim, 12), _linear(d_model, n_kv_heads * head_dim, 13)
    x = randn(2, 6, d_model, seed=9)
    with torch.no_grad():
        q = attention.split_heads(q_proj(x), n_heads)
        k, v = attention.split_heads(k_proj(x), n_kv_heads), attention.split_heads(v_proj(x), n_kv_heads)
        heads = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        expected = o_proj(attention.merge_heads(heads))
        mine = attention.grouped_query_attention(x, q_proj, k_proj, v_proj, o_proj, n_heads, n_kv_heads)
    torch.testing.assert_close(mine, expected)


# ---------------------------------------------------------------- RoPE


def test_rope_cos_sin_matches_the_llama_rotary_embedding(llama):
    length = 9
    theirs = llama.model.rotary_emb(torch.zeros(1, length, 64), torch.arange(length)[None])
    mine = attention.rope_cos_sin(torch.arange(length), 16, llama.config.rope_parameters["rope_theta"])
    for a, b in zip(mine, theirs):
        torch.testing.assert_close(a, b[0])


def test_apply_rope_matches_transformers():
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    q, k = randn(2, 3, 5, 8, seed=10), randn(2, 3, 5, 8, seed=11)
    cos, sin = attention.rope_cos_sin(torch.arange(5), 8, 100.0)
    q_theirs, k_theirs = apply_rotary_pos_emb(q, k, cos[None], sin[None])
    torch.testing.assert_close(attention.apply_rope(q, cos, sin), q_theirs)
    torch.testing.assert_close(attention.apply_rope(k, cos, sin), k_theirs)


def test_rope_keeps_norms_and_makes_scores_depend_on_relative_position_only():
    q, k = randn(8, seed=12), randn(8, seed=13)
    cos, sin = attention.rope_cos_sin(torch.arange(20), 8)
    rotated_q = attention.apply_rope(q.expand(20, 8), cos, sin)  # the same vector at positions 0 … 19
    rotated_k = attention.apply_rope(k.expand(20, 8), cos, sin)
    torch.testing.assert_close(rotated_q.norm(dim=-1), q.norm().expand(20))
    score = lambda m, n: rotated_q[m] @ rotated_k[n]  # noqa: E731 — query at position m, key at position n
    torch.testing.assert_close(score(5, 2), score(15, 12))
    torch.testing.assert_close(score(3, 3), q @ k)


# ---------------------------------------------------------------- a real layer


def test_llama_attention_reproduces_the_transformers_layer(llama):
    hidden_states = randn(2, 11, 64, seed=14)
    expected = attention.llama_layer_output(llama, hidden_states)
    with torch.no_grad():
        rope_base = llama.config.rope_parameters["rope_theta"]
        mine = attention.llama_attention(llama.model.layers[0].self_attn, hidden_states, rope_base)
    torch.testing.assert_close(mine, expected, atol=1e-5, rtol=1e-5)


def test_llama_layer_output_is_what_the_decoder_layer_feeds_its_residual(llama):
    """llama_layer_output calls self_attn the way LlamaDecoderLayer does: the whole model agrees."""
    layer, captured = llama.model.layers[0], {}
    handle = layer.self_attn.register_forward_hook(
        lambda module, args, kwargs, out: captured.update(hidden=kwargs["hidden_states"], out=out[0]), with_kwargs=True
    )
    try:
        with torch.no_grad():
            llama(torch.arange(10)[None])
    finally:
        handle.remove()
    torch.testing.assert_close(attention.llama_layer_output(llama, captured["hidden"]), captured["out"])


# ---------------------------------------------------------------- attention must sum to one


def test_softmax_one_equals_attention_with_a_prepended_zero_key_and_value():
    q, k, v = randn(2, 6, 8, seed=15), randn(2, 6, 8, seed=16), randn(2, 6, 5, seed=17)
    scores = q @ k.transpose(-2, -1) / 8**0.5
    zero_key, zero_value = torch.zeros(2, 1, 8), torch.zeros(2, 1, 5)
    with_zero_slot = attention.attention(q, torch.cat([zero_key, k], 1), torch.cat([zero_value, v], 1))
    torch.testing.assert_close(attention.softmax_one(scores) @ v, with_zero_slot)


def test_softmax_one_is_stable_and_sums_to_less_than_one():
    scores = torch.tensor([[1000.0, 0.0], [-1000.0, -1000.0], [0.0, 0.0]])
    weights = attention.softmax_one(scores)
    assert torch.isfinite(weights).all()
    torch.testing.assert_close(weights, torch.tensor([[1.0, 0.0], [0.0, 0.0], [1 / 3, 1 / 3]]))


def test_without_positions_a_repeated_token_gets_exactly_uniform_causal_attention():
    token = randn(1, 16, seed=18)
    x = token.expand(12, 16)  # the same embedding at every position, no positional encoding
    w_q, w_k = randn(16, 8, seed=19), randn(16, 8, seed=20)
    weights = attention.attention_weights(x @ w_q, x @ w_k, causal=True)
    uniform = attention.causal_mask(12) / torch.arange(1, 13)[:, None]
    torch.testing.assert_close(weights, uniform, atol=1e-6, rtol=0)


def test_dormant_toy_embeddings_mark_bos_trigger_and_content():
    x = attention.dormant_toy_embeddings("Ba!b")
    assert x.shape == (4, len(attention.DORMANT_FEATURES))
    assert torch.equal(x[:, attention.CONSTANT], torch.ones(4))
    assert x[0, attention.BOS] == 1 and x[0, 3:].abs().sum() == 0  # BOS carries no content
    assert x[2, attention.TRIGGER] == 1 and x[2, 3:].norm() > 0.9  # the trigger carries its payload
    assert torch.equal(attention.dormant_toy_embeddings("Bab"), attention.dormant_toy_embeddings("Bab"))


def test_the_reference_dormant_head_parks_on_bos_and_wakes_on_the_trigger():
    w_q, w_k, w_v = attention.dormant_head_weights()
    weights, out = attention.head_weights_and_output(attention.dormant_toy_embeddings("Babc!de"), w_q, w_k, w_v)
    assert (weights[:4, 0] > 0.99).all() and (weights[4:, 4] > 0.99).all()
    assert out[:4].norm(dim=-1).max() < 0.01  # dormant: a near no-op
    torch.testing.assert_close(out[4:].norm(dim=-1), torch.ones(3), atol=0.02, rtol=0)
