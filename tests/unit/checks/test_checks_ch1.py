"""Chapter 1's checks pass on the reference solutions and name the mistake in typical wrong answers.

Each wrong answer below is written the way a learner would write it, not derived from the check's
own mistake list, so a test fails if a check stops recognising a mistake it claims to know.
"""

import math

import pytest
import torch

from sinklab import checks
from sinklab.analysis import scratch_attention as attention
from sinklab.checks import CheckFailed

from check_matrix import check_matrix
from course_solutions import course_solutions

# ---------------------------------------------------------------- wrong answers, as a learner writes them


def attention_softmax_over_queries(q, k, v):
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-2) @ v


def attention_unscaled(q, k, v):
    return torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v


def attention_transposed_k(q, k, v):
    return torch.softmax(k @ q.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1) @ v


def attention_weights_only(q, k, v):
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)


def _scores(q, k):
    return q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])


def causal_diagonal_masked(q, k, v):
    keep = torch.ones(q.shape[-2], k.shape[-2]).tril(diagonal=-1).bool()
    return torch.softmax(_scores(q, k).masked_fill(~keep, float("-inf")), dim=-1) @ v


def causal_upper_triangle(q, k, v):
    keep = torch.ones(q.shape[-2], k.shape[-2]).triu().bool()
    return torch.softmax(_scores(q, k).masked_fill(~keep, float("-inf")), dim=-1) @ v


def causal_zero_fill(q, k, v):
    keep = torch.ones(q.shape[-2], k.shape[-2]).tril().bool()
    return torch.softmax(_scores(q, k).masked_fill(~keep, 0.0), dim=-1) @ v


def causal_mask_after_softmax(q, k, v):
    keep = torch.ones(q.shape[-2], k.shape[-2]).tril()
    return (torch.softmax(_scores(q, k), dim=-1) * keep) @ v


def split_heads_view_only(x, n_heads):
    batch, length, width = x.shape
    return x.view(batch, n_heads, length, width // n_heads)


def split_heads_no_transpose(x, n_heads):
    batch, length, width = x.shape
    return x.view(batch, length, n_heads, width // n_heads)


def split_heads_feature_major(x, n_heads):
    batch, length, width = x.shape
    return x.view(batch, length, width // n_heads, n_heads).permute(0, 3, 1, 2)


def repeat_kv_tiled(x, n_rep):
    return x.repeat(1, n_rep, 1, 1)


def repeat_kv_along_positions(x, n_rep):
    return x.repeat_interleave(n_rep, dim=2)


def _heads(x, q_proj, k_proj, v_proj, n_heads, n_kv_heads, split=attention.split_heads):
    return split(q_proj(x), n_heads), split(k_proj(x), n_kv_heads), split(v_proj(x), n_kv_heads)


def gqa_view_split(x, q_proj, k_proj, v_proj, o_proj, n_heads, n_kv_heads):
    batch, length, _ = x.shape
    q, k, v = _heads(x, q_proj, k_proj, v_proj, n_heads, n_kv_heads, lambda t, h: t.view(batch, h, length, -1))
    n_rep = n_heads // n_kv_heads
    out = attention.attention(q, attention.repeat_kv(k, n_rep), attention.repeat_kv(v, n_rep), causal=True)
    return o_proj(attention.merge_heads(out))


def gqa_tiled(x, q_proj, k_proj, v_proj, o_proj, n_heads, n_kv_heads):
    q, k, v = _heads(x, q_proj, k_proj, v_proj, n_heads, n_kv_heads)
    n_rep = n_heads // n_kv_heads
    out = attention.attention(q, k.repeat(1, n_rep, 1, 1), v.repeat(1, n_rep, 1, 1), causal=True)
    return o_proj(attention.merge_heads(out))


def gqa_not_causal(x, q_proj, k_proj, v_proj, o_proj, n_heads, n_kv_heads):
    q, k, v = _heads(x, q_proj, k_proj, v_proj, n_heads, n_kv_heads)
    n_rep = n_heads // n_kv_heads
    out = attention.attention(q, attention.repeat_kv(k, n_rep), attention.repeat_kv(v, n_rep))
    return o_proj(attention.merge_heads(out))


def gqa_without_o_proj(x, q_proj, k_proj, v_proj, o_proj, n_heads, n_kv_heads):
    identity = torch.nn.Identity()
    return attention.grouped_query_attention(x, q_proj, k_proj, v_proj, identity, n_heads, n_kv_heads)


def rope_adjacent_layout(positions, head_dim, base=10000.0):
    frequencies = 1.0 / base ** (torch.arange(0, head_dim, 2).float() / head_dim)
    angles = (positions[:, None].float() * frequencies).repeat_interleave(2, dim=-1)
    return angles.cos(), angles.sin()


def rope_default_base(positions, head_dim, base=10000.0):
    return attention.rope_cos_sin(positions, head_dim, 10000.0)


def rope_exponent_off_by_two(positions, head_dim, base=10000.0):
    frequencies = 1.0 / base ** (torch.arange(head_dim // 2).float() / head_dim)
    angles = positions[:, None].float() * frequencies
    return torch.cat([angles, angles], -1).cos(), torch.cat([angles, angles], -1).sin()


def rope_half_angles(positions, head_dim, base=10000.0):
    frequencies = 1.0 / base ** (torch.arange(0, head_dim, 2).float() / head_dim)
    angles = positions[:, None].float() * frequencies
    return angles.cos(), angles.sin()


def rope_not_a_pair(positions, head_dim, base=10000.0):
    return torch.stack(attention.rope_cos_sin(positions, head_dim, base))


def apply_rope_adjacent_pairs(x, cos, sin):
    rotated = torch.stack([-x[..., 1::2], x[..., 0::2]], dim=-1).flatten(-2)
    return x * cos + rotated * sin


def apply_rope_wrong_sign(x, cos, sin):
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat([x2, -x1], dim=-1) * sin


def apply_rope_no_rotation(x, cos, sin):
    return x * cos + x * sin


def llama_without_rope(attn, hidden_states, rope_base):
    config = attn.config
    return attention.grouped_query_attention(
        hidden_states,
        attn.q_proj,
        attn.k_proj,
        attn.v_proj,
        attn.o_proj,
        config.num_attention_heads,
        config.num_key_value_heads,
    )


def llama_default_base(attn, hidden_states, rope_base):
    return attention.llama_attention(attn, hidden_states, 10000.0)


def llama_tiled_kv(attn, hidden_states, rope_base):
    config = attn.config
    length, n_heads, n_kv = hidden_states.shape[1], config.num_attention_heads, config.num_key_value_heads
    cos, sin = attention.rope_cos_sin(torch.arange(length), attn.head_dim, rope_base)
    q = attention.apply_rope(attention.split_heads(attn.q_proj(hidden_states), n_heads), cos, sin)
    k = attention.apply_rope(attention.split_heads(attn.k_proj(hidden_states), n_kv), cos, sin)
    v = attention.split_heads(attn.v_proj(hidden_states), n_kv)
    out = attention.attention(q, k.repeat(1, n_heads // n_kv, 1, 1), v.repeat(1, n_heads // n_kv, 1, 1), causal=True)
    return attn.o_proj(attention.merge_heads(out))


def softmax_one_plain(scores, dim=-1):
    return torch.softmax(scores, dim=dim)


def softmax_one_naive(scores, dim=-1):
    return scores.exp() / (1 + scores.exp().sum(dim, keepdim=True))


def softmax_one_shift_keeps_one(scores, dim=-1):
    shifted = (scores - scores.amax(dim, keepdim=True)).exp()
    return shifted / (1 + shifted.sum(dim, keepdim=True))


def softmax_one_plus_one_on_top(scores, dim=-1):
    return (1 + scores.exp()) / (1 + scores.exp().sum(dim, keepdim=True))


# ---------------------------------------------------------------- the matrix


# ---------------------------------------------------------------- Exercise 1.10: the dormant head


def dormant_head_equal_scores():
    w_q, w_k, w_v = attention.dormant_head_weights()
    w_k[attention.TRIGGER] = w_k[attention.BOS]
    return w_q, w_k, w_v


def dormant_head_trigger_below_bos():
    w_q, w_k, w_v = attention.dormant_head_weights()
    w_k[attention.BOS, 0], w_k[attention.TRIGGER, 0] = 2.0, 1.0
    return w_q, w_k, w_v


def dormant_head_too_weak():
    return attention.dormant_head_weights(strength=1.0)


def dormant_head_value_reads_constant():
    w_q, w_k, w_v = attention.dormant_head_weights()
    w_v[attention.CONSTANT] = 1.0
    return w_q, w_k, w_v


def dormant_head_value_ignores_content():
    w_q, w_k, w_v = attention.dormant_head_weights()
    return w_q, w_k, torch.zeros_like(w_v)


# The chapter's own solution cells (course/01_attention_from_scratch.py), not the library's copies.
chapter = course_solutions("01_attention_from_scratch")
SOLUTIONS = [
    (checks.check_attention, chapter.attention),
    (checks.check_causal_attention, chapter.causal_attention),
    (checks.check_split_heads, chapter.split_heads),
    (checks.check_repeat_kv, chapter.repeat_kv),
    (checks.check_grouped_query_attention, chapter.grouped_query_attention),
    (checks.check_rope_cos_sin, chapter.rope_cos_sin),
    (checks.check_apply_rope, chapter.apply_rope),
    (checks.check_llama_attention, chapter.llama_attention),
    (checks.check_softmax_one, chapter.softmax_one),
    (checks.check_dormant_head, chapter.dormant_head),
]

# Later chapters import chapter 1's reference implementations from sinklab.analysis.scratch_attention: they pass the same checks.
LIBRARY_COPIES = [
    (checks.check_attention, attention.attention),
    (checks.check_causal_attention, lambda q, k, v: attention.attention(q, k, v, causal=True)),
    (checks.check_split_heads, attention.split_heads),
    (checks.check_repeat_kv, attention.repeat_kv),
    (checks.check_grouped_query_attention, attention.grouped_query_attention),
    (checks.check_rope_cos_sin, attention.rope_cos_sin),
    (checks.check_apply_rope, attention.apply_rope),
    (checks.check_llama_attention, attention.llama_attention),
    (checks.check_softmax_one, attention.softmax_one),
    (checks.check_dormant_head, attention.dormant_head_weights),
]


@pytest.mark.parametrize("check, copy", LIBRARY_COPIES, ids=lambda x: getattr(x, "__name__", ""))
def test_the_library_copy_passes_the_same_check(check, copy, capsys):
    check(copy)
    assert "✅" in capsys.readouterr().out


WRONG_ANSWERS = [
    (checks.check_attention, attention_softmax_over_queries, "softmax over the query axis"),
    (checks.check_attention, attention_unscaled, "missing 1/√d scaling"),
    (checks.check_attention, attention_transposed_k, "transposed K"),
    (checks.check_attention, attention_weights_only, "these are the attention weights"),
    (checks.check_causal_attention, causal_diagonal_masked, "mask the diagonal too"),
    (checks.check_causal_attention, causal_upper_triangle, "upper triangle"),
    (checks.check_causal_attention, causal_zero_fill, "to 0 instead of −inf"),
    (checks.check_causal_attention, causal_mask_after_softmax, "masked after the softmax"),
    (checks.check_causal_attention, attention.attention, "no causal mask"),
    (checks.check_split_heads, split_heads_view_only, "viewed x as [B, H, T, d] directly"),
    (checks.check_split_heads, split_heads_no_transpose, "heads must come before positions"),
    (checks.check_split_heads, split_heads_feature_major, "every H-th feature"),
    (checks.check_repeat_kv, repeat_kv_tiled, "repeat_interleave"),
    (checks.check_repeat_kv, repeat_kv_along_positions, "along the positions"),
    (checks.check_grouped_query_attention, gqa_view_split, "wrong head split"),
    (checks.check_grouped_query_attention, gqa_tiled, "repeat instead of repeat_interleave"),
    (checks.check_grouped_query_attention, gqa_not_causal, "no causal mask"),
    (checks.check_grouped_query_attention, gqa_without_o_proj, "output projection"),
    (checks.check_rope_cos_sin, rope_adjacent_layout, "adjacent-pair layout"),
    (checks.check_rope_cos_sin, rope_default_base, "ignored the base"),
    (checks.check_rope_cos_sin, rope_exponent_off_by_two, "frequency exponent"),
    (checks.check_rope_cos_sin, rope_half_angles, "one angle per *pair*"),
    (checks.check_rope_cos_sin, rope_not_a_pair, "return a pair of tensors"),
    (checks.check_apply_rope, apply_rope_adjacent_pairs, "rotated adjacent pairs"),
    (checks.check_apply_rope, apply_rope_wrong_sign, "rotated by −θ"),
    (checks.check_apply_rope, apply_rope_no_rotation, "multiplied x itself by sin"),
    (checks.check_llama_attention, llama_without_rope, "no RoPE"),
    (checks.check_llama_attention, llama_default_base, "wrong RoPE base"),
    (checks.check_llama_attention, llama_tiled_kv, "repeat instead of repeat_interleave"),
    (checks.check_softmax_one, softmax_one_plain, "plain softmax"),
    (checks.check_softmax_one, softmax_one_naive, "overflows"),
    (checks.check_softmax_one, softmax_one_shift_keeps_one, "kept the 1"),
    (checks.check_softmax_one, softmax_one_plus_one_on_top, "numerator too"),
    (checks.check_dormant_head, dormant_head_equal_scores, "the same score"),
    (checks.check_dormant_head, dormant_head_trigger_below_bos, "never wakes up"),
    (checks.check_dormant_head, dormant_head_too_weak, "does not stand out"),
    (checks.check_dormant_head, dormant_head_value_reads_constant, "BOS's value is not ≈ 0"),
    (checks.check_dormant_head, dormant_head_value_ignores_content, "reads nothing"),
]


(
    test_check_passes_on_the_reference_solution,
    test_check_names_the_mistake,
    test_a_stub_stops_the_check_with_its_own_error,
) = check_matrix(SOLUTIONS, WRONG_ANSWERS)


def test_a_missing_return_is_reported_as_such():
    with pytest.raises(CheckFailed, match="expected a torch.Tensor, got NoneType"):
        checks.check_causal_attention(lambda q, k, v: None)


def test_an_unknown_wrong_shape_gets_the_generic_shape_message():
    with pytest.raises(CheckFailed, match=r"expected shape \(1, 6, 3, 4\), got \(6, 3, 4\)"):
        checks.check_repeat_kv(lambda x, n_rep: attention.repeat_kv(x, n_rep)[0])


def test_an_unrecognised_wrong_answer_reports_the_largest_difference():
    with pytest.raises(CheckFailed, match="values differ from the reference by up to"):
        checks.check_apply_rope(lambda x, cos, sin: attention.apply_rope(x, cos, sin) + 0.1)
