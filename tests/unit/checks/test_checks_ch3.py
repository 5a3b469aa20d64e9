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


def first_and_rest_norms(x):
    norms = x.norm(dim=-1)
    return norms[..., 0], norms[..., 1:].mean(-1)


def make_ablation_hook(position, dims, values):
    def hook(module, args, output):
        hidden = (output[0] if isinstance(output, tuple) else output).clone()
        hidden[:, position, dims] = values.to(hidden.dtype)
        return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

    return hook


# ---------------------------------------------------------------- wrong answers, as a learner writes them


def norms_rest_includes_first(x):
    norms = x.norm(dim=-1)
    return norms[..., 0], norms.mean(-1)


def norms_of_the_mean_vector(x):
    return x[..., 0, :].norm(dim=-1), x[..., 1:, :].mean(-2).norm(dim=-1)


def norms_squared(x):
    squared = (x**2).sum(-1)
    return squared[..., 0], squared[..., 1:].mean(-1)


def norms_over_positions(x):
    return x[..., 0, :], x[..., 1:, :].mean(-2)


def hook_patches_a_copy(position, dims, values):
    def hook(module, args, output):
        hidden = (output[0] if isinstance(output, tuple) else output).clone()
        hidden[:, position, dims] = values

    return hook


def hook_every_position(position, dims, values):
    def hook(module, args, output):
        hidden = (output[0] if isinstance(output, tuple) else output).clone()
        hidden[:, :, dims] = values
        return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

    return hook


def hook_batch_axis(position, dims, values):
    def hook(module, args, output):
        hidden = (output[0] if isinstance(output, tuple) else output).clone()
        hidden[position, :, dims] = values
        return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

    return hook


def hook_ignores_tuples(position, dims, values):
    def hook(module, args, output):
        hidden = output.clone()
        hidden[:, position, dims] = values
        return hidden

    return hook


def hook_drops_the_tuple(position, dims, values):
    def hook(module, args, output):
        hidden = (output[0] if isinstance(output, tuple) else output).clone()
        hidden[:, position, dims] = values
        return hidden

    return hook


def hook_writes_zeros(position, dims, values):
    def hook(module, args, output):
        hidden = (output[0] if isinstance(output, tuple) else output).clone()
        hidden[:, position, dims] = 0.0
        return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

    return hook


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
    ones = torch.ones(length, length, dtype=torch.bool)
    return ones.tril() & ~ones.tril(-window)


SOLUTIONS = [
    (checks.check_first_mass_from_lse, first_mass_from_lse),
    (checks.check_attention_memory_gib, attention_memory_gib),
    (checks.check_streaming_mask, streaming_mask),
    (checks.check_first_and_rest_norms, first_and_rest_norms),
    (checks.check_make_ablation_hook, make_ablation_hook),
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
    (checks.check_first_and_rest_norms, norms_rest_includes_first, "includes position 0"),
    (checks.check_first_and_rest_norms, norms_of_the_mean_vector, "norm of the mean vector"),
    (checks.check_first_and_rest_norms, norms_squared, "squared norm"),
    (checks.check_first_and_rest_norms, norms_over_positions, "kept the feature axis"),
    (checks.check_make_ablation_hook, hook_patches_a_copy, "changed a copy and returned None"),
    (checks.check_make_ablation_hook, hook_every_position, "every position"),
    (checks.check_make_ablation_hook, hook_batch_axis, "batch axis"),
    (checks.check_make_ablation_hook, hook_ignores_tuples, "take output[0] when it is a tuple"),
    (checks.check_make_ablation_hook, hook_drops_the_tuple, "return one too"),
    (checks.check_make_ablation_hook, hook_writes_zeros, "wrote zeros"),
]


(
    test_check_passes_on_the_reference_solution,
    test_check_names_the_mistake,
    test_a_stub_stops_the_check_with_its_own_error,
) = check_matrix(SOLUTIONS, WRONG_ANSWERS)
