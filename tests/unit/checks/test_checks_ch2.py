"""Chapters 0 and 2's checks pass on the reference solutions and name the mistake in typical wrong answers.

As in test_checks_ch1.py, each wrong answer is written the way a learner would write it.
"""

import torch

from sinklab import checks, metrics

from check_matrix import check_matrix

# ---------------------------------------------------------------- reference solutions


def first_token_share(scores):
    return torch.softmax(scores, dim=-1)[:, 0]


def first_token_mass_per_head(attn):
    return attn[..., :, 0].mean(dim=-1)


def importance_score(attn, padding_mask):
    return metrics.importance_score(attn, 0, padding_mask=padding_mask)


def sink_rate(importance, eps):
    return (importance > eps).float().mean().item()


def adds_bos(tokenizer):
    ids = tokenizer("hello world")["input_ids"]
    return tokenizer.bos_token_id is not None and ids[0] == tokenizer.bos_token_id


# ---------------------------------------------------------------- wrong answers, as a learner writes them


def share_softmax_over_queries(scores):
    return torch.softmax(scores, dim=0)[:, 0]


def share_raw_scores(scores):
    return scores[:, 0]


def mass_first_query_row(attn):
    return attn[..., 0, :].mean(dim=-1)


def mass_summed(attn):
    return attn[..., 0].sum(dim=-1)


def importance_ignores_padding(attn, padding_mask):
    return attn[..., :, 0].mean(dim=-1)


def importance_divides_by_length(attn, padding_mask):
    first = padding_mask.argmax(dim=-1)
    column = torch.stack([attn[b, ..., first[b]] for b in range(attn.shape[0])])
    return (column * padding_mask[:, None, None, :]).sum(-1) / attn.shape[-1]


def importance_key_zero_for_every_row(attn, padding_mask):
    real = padding_mask.bool()[:, None, None, :]
    return (attn[..., 0] * real).sum(-1) / real.sum(-1)


def sink_rate_inclusive(importance, eps):
    return (importance >= eps).float().mean().item()


def sink_rate_percent(importance, eps):
    return 100 * (importance > eps).float().mean().item()


def sink_rate_fixed_threshold(importance, eps):
    return (importance > 0.3).float().mean().item()


def adds_bos_has_token(tokenizer):
    return tokenizer.bos_token is not None


def adds_bos_never(tokenizer):
    return False


def uniform_importance(length):
    return sum(1 / i for i in range(1, length + 1)) / length


def importance_per_key(attn):
    length = attn.shape[-1]
    return attn.sum(-2) / torch.arange(length, 0, -1, dtype=attn.dtype)


def uniform_one_over_t(length):
    return 1 / length


def uniform_without_query_zero(length):
    return sum(1 / i for i in range(2, length + 1)) / max(length - 1, 1)


def uniform_off_by_one(length):
    return sum(1 / i for i in range(1, length)) / length


def per_key_divides_by_length(attn):
    return attn.mean(-2)


def per_key_over_rows(attn):
    length = attn.shape[-1]
    return attn.sum(-1) / torch.arange(length, 0, -1, dtype=attn.dtype)


def patch_kv_heads(cache, cache_b, position, heads_from_b):
    for layer, layer_b, heads in zip(cache.layers, cache_b.layers, heads_from_b):
        layer.keys[:, heads, position] = layer_b.keys[:, heads, position]
        layer.values[:, heads, position] = layer_b.values[:, heads, position]


def patch_keys_only(cache, cache_b, position, heads_from_b):
    for layer, layer_b, heads in zip(cache.layers, cache_b.layers, heads_from_b):
        layer.keys[:, heads, position] = layer_b.keys[:, heads, position]


def patch_every_head(cache, cache_b, position, heads_from_b):
    for layer, layer_b in zip(cache.layers, cache_b.layers):
        layer.keys[:, :, position] = layer_b.keys[:, :, position]
        layer.values[:, :, position] = layer_b.values[:, :, position]


def patch_every_position(cache, cache_b, position, heads_from_b):
    for layer, layer_b, heads in zip(cache.layers, cache_b.layers, heads_from_b):
        layer.keys[:, heads] = layer_b.keys[:, heads]
        layer.values[:, heads] = layer_b.values[:, heads]


def patch_the_wrong_way(cache, cache_b, position, heads_from_b):
    patch_kv_heads(cache_b, cache, position, heads_from_b)


SOLUTIONS = [
    (checks.check_first_token_share, first_token_share),
    (checks.check_first_token_mass_per_head, first_token_mass_per_head),
    (checks.check_importance_score, importance_score),
    (checks.check_sink_rate, sink_rate),
    (checks.check_adds_bos, adds_bos),
    (checks.check_uniform_importance, uniform_importance),
    (checks.check_importance_per_key, importance_per_key),
    (checks.check_patch_kv_heads, patch_kv_heads),
]

WRONG_ANSWERS = [
    (checks.check_first_token_share, share_softmax_over_queries, "softmax over the query axis"),
    (checks.check_first_token_share, share_raw_scores, "no softmax"),
    (checks.check_first_token_mass_per_head, mass_first_query_row, "first *query*"),
    (checks.check_first_token_mass_per_head, mass_summed, "summed over queries"),
    (checks.check_importance_score, importance_ignores_padding, "ignored the padding"),
    (checks.check_importance_score, importance_divides_by_length, "wrong denominator"),
    (checks.check_importance_score, importance_key_zero_for_every_row, "first *real* token"),
    (checks.check_sink_rate, sink_rate_inclusive, "strict > eps"),
    (checks.check_sink_rate, sink_rate_percent, "percentage"),
    (checks.check_sink_rate, sink_rate_fixed_threshold, "ignored the eps argument"),
    (checks.check_adds_bos, adds_bos_has_token, "*has* a bos_token"),
    (checks.check_adds_bos, adds_bos_never, "reported as not adding"),
    (checks.check_uniform_importance, uniform_one_over_t, "returned 1/T"),
    (checks.check_uniform_importance, uniform_without_query_zero, "left query 0 out"),
    (checks.check_uniform_importance, uniform_off_by_one, "off by one"),
    (checks.check_importance_per_key, per_key_divides_by_length, "divided by T for every key"),
    (checks.check_importance_per_key, per_key_over_rows, "averaged over the keys"),
    (checks.check_patch_kv_heads, patch_keys_only, "did not patch the values"),
    (checks.check_patch_kv_heads, patch_every_head, "every key/value head"),
    (checks.check_patch_kv_heads, patch_every_position, "every position"),
    (checks.check_patch_kv_heads, patch_the_wrong_way, "changed cache_b"),
]


(
    test_check_passes_on_the_reference_solution,
    test_check_names_the_mistake,
    test_a_stub_stops_the_check_with_its_own_error,
) = check_matrix(SOLUTIONS, WRONG_ANSWERS)
