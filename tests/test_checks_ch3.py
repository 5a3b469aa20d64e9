"""Chapter 3's checks pass on the reference solutions and name the mistake in typical wrong answers.

As in test_checks_ch1.py, each wrong answer is written the way a learner would write it.
"""

import torch

from sinklab import checks

from check_matrix import check_matrix

# ---------------------------------------------------------------- reference solutions


def first_mass_from_lse(q, k):
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
    length = scores.shape[-1]
    causal = torch.ones(length, length, dtype=torch.bool).tril()
    lse = torch.logsumexp(scores.masked_fill(~causal, float("-inf")), dim=-1)
    return torch.exp(scores[..., 0] - lse)


def attention_memory_gib(n_layers, n_heads, seq_len, batch_size, bytes_per_value):
    return n_layers * batch_size * n_heads * seq_len**2 * bytes_per_value / 2**30


def streaming_mask(length, window, n_sink):
    q = torch.arange(length)[:, None]
    k = torch.arange(length)[None, :]
    return (k <= q) & ((q - k < window) | (k < n_sink))


# ---------------------------------------------------------------- wrong answers, as a learner writes them


def lse_unscaled(q, k):
    scores = q @ k.transpose(-2, -1)
    causal = torch.ones(scores.shape[-1], scores.shape[-1], dtype=torch.bool).tril()
    return torch.exp(scores[..., 0] - torch.logsumexp(scores.masked_fill(~causal, float("-inf")), dim=-1))


def lse_with_max(q, k):
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
    causal = torch.ones(scores.shape[-1], scores.shape[-1], dtype=torch.bool).tril()
    return torch.exp(scores[..., 0] - scores.masked_fill(~causal, float("-inf")).max(dim=-1).values)


def lse_without_causal_mask(q, k):
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
    return torch.exp(scores[..., 0] - torch.logsumexp(scores, dim=-1))


def lse_log_probability(q, k):
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
    causal = torch.ones(scores.shape[-1], scores.shape[-1], dtype=torch.bool).tril()
    return scores[..., 0] - torch.logsumexp(scores.masked_fill(~causal, float("-inf")), dim=-1)


def lse_whole_matrix(q, k):
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
    causal = torch.ones(scores.shape[-1], scores.shape[-1], dtype=torch.bool).tril()
    return torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)


def memory_linear_in_length(n_layers, n_heads, seq_len, batch_size, bytes_per_value):
    return n_layers * batch_size * n_heads * seq_len * bytes_per_value / 2**30


def memory_in_gigabytes(n_layers, n_heads, seq_len, batch_size, bytes_per_value):
    return n_layers * batch_size * n_heads * seq_len**2 * bytes_per_value / 1e9


def memory_without_batch(n_layers, n_heads, seq_len, batch_size, bytes_per_value):
    return n_layers * n_heads * seq_len**2 * bytes_per_value / 2**30


def memory_causal_half(n_layers, n_heads, seq_len, batch_size, bytes_per_value):
    return n_layers * batch_size * n_heads * seq_len * (seq_len + 1) / 2 * bytes_per_value / 2**30


def mask_sinks_not_causal(length, window, n_sink):
    q, k = torch.arange(length)[:, None], torch.arange(length)[None, :]
    return ((k <= q) & (q - k < window)) | (k < n_sink)


def mask_window_off_by_one(length, window, n_sink):
    q, k = torch.arange(length)[:, None], torch.arange(length)[None, :]
    return (k <= q) & ((q - k <= window) | (k < n_sink))


def mask_without_sinks(length, window, n_sink):
    return torch.ones(length, length, dtype=torch.bool).tril() & ~torch.ones(length, length, dtype=torch.bool).tril(-window)


SOLUTIONS = [
    (checks.check_first_mass_from_lse, first_mass_from_lse),
    (checks.check_attention_memory_gib, attention_memory_gib),
    (checks.check_streaming_mask, streaming_mask),
]

WRONG_ANSWERS = [
    (checks.check_first_mass_from_lse, lse_unscaled, "missing 1/√d scaling"),
    (checks.check_first_mass_from_lse, lse_with_max, "row maximum instead of the log-sum-exp"),
    (checks.check_first_mass_from_lse, lse_without_causal_mask, "no causal mask"),
    (checks.check_first_mass_from_lse, lse_log_probability, "log-probability"),
    (checks.check_first_mass_from_lse, lse_whole_matrix, "whole attention matrix"),
    (checks.check_attention_memory_gib, memory_linear_in_length, "T instead of T²"),
    (checks.check_attention_memory_gib, memory_in_gigabytes, "2³⁰"),
    (checks.check_attention_memory_gib, memory_without_batch, "forgot the batch"),
    (checks.check_attention_memory_gib, memory_causal_half, "causal half"),
    (checks.check_streaming_mask, mask_sinks_not_causal, "causal mask (j ≤ i) applies to the sinks"),
    (checks.check_streaming_mask, mask_window_off_by_one, "off by one"),
    (checks.check_streaming_mask, mask_without_sinks, "initial tokens are missing"),
]


test_check_passes_on_the_reference_solution, test_check_names_the_mistake, test_a_stub_stops_the_check_with_its_own_error = (
    check_matrix(SOLUTIONS, WRONG_ANSWERS))
