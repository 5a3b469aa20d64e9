"""Chapter 4's checks pass on the reference solutions and name the mistake in typical wrong answers.

Each wrong answer below is written the way a learner would write it, not derived from the check's
own mistake list, so a test fails if a check stops recognising a mistake it claims to know.
"""

import pytest
import torch
import torch.nn.functional as F

from sinklab import checks
from sinklab.analysis import over_mixing as theory
from sinklab.analysis import p0_circuit as circuit
from sinklab.checks import CheckFailed

from check_matrix import check_matrix

# ---------------------------------------------------------------- wrong answers, as a learner writes them


def states_from_hidden_states(model, ids):
    with torch.no_grad():
        hidden = model(ids, output_hidden_states=True).hidden_states
    return torch.stack([h[:, 0] for h in hidden], dim=1)


def states_of_the_last_position(model, ids):
    return torch.stack([theory.residual_stream(model, row)[:, -1] for row in ids])


def states_without_embeddings(model, ids):
    return torch.stack([theory.residual_stream(model, row)[1:, 0] for row in ids])


def cosine_tiled(query, key):
    key = key.repeat(1, query.shape[1] // key.shape[1], 1, 1)
    return F.cosine_similarity(query[:, :, 1:], key[:, :, :1], dim=-1).mean(-1)


def cosine_as_dot_product(query, key):
    key = key.repeat_interleave(query.shape[1] // key.shape[1], dim=1)
    return (query[:, :, 1:] @ key[:, :, 0, :, None]).squeeze(-1).mean(-1)


def cosine_with_query_zero(query, key):
    key = key.repeat_interleave(query.shape[1] // key.shape[1], dim=1)
    return F.cosine_similarity(query, key[:, :, :1], dim=-1).mean(-1)


def cosine_per_query(query, key):
    key = key.repeat_interleave(query.shape[1] // key.shape[1], dim=1)
    return F.cosine_similarity(query[:, :, 1:], key[:, :, :1], dim=-1)


def move_bos_without_removing(ids, position, bos_id):
    ids = list(ids)
    ids.insert(position, bos_id)
    return ids


def move_bos_insert_then_pop(ids, position, bos_id):
    ids = list(ids)
    ids.insert(position, bos_id)
    ids.pop(0)
    return ids


def move_bos_by_swapping(ids, position, bos_id):
    ids = list(ids)
    ids[0], ids[position] = ids[position], ids[0]
    return ids


def move_bos_by_overwriting(ids, position, bos_id):
    rest = list(ids[1:])
    rest[position] = bos_id
    return rest


def swap_views(weight, i, j):
    with torch.no_grad():
        weight[i], weight[j] = weight[j], weight[i]


def swap_without_no_grad(weight, i, j):
    weight[[i, j]] = weight[[j, i]]


def swap_a_copy(weight, i, j):
    weight = weight[[j if k == i else i if k == j else k for k in range(len(weight))]]
    return weight


def swap_columns(weight, i, j):
    with torch.no_grad():
        weight[:, [i, j]] = weight[:, [j, i]]


def hook_on_a_copy(position, state):
    def hook(module, args, output):
        patched = output.clone()
        patched[:, position] = state

    return hook


def hook_every_position(position, state):
    def hook(module, args, output):
        return torch.ones_like(output) * state

    return hook


def hook_batch_axis(position, state):
    def hook(module, args, output):
        output = output.clone()
        output[position] = state
        return output

    return hook


def hook_on_the_input(position, state):
    def hook(module, args, output):
        patched = args[0].clone()
        patched[:, position] = state
        return patched

    return hook


def hook_in_place(position, state):
    def hook(module, args, output):
        output[:, position] = state  # changing the output in place is a valid hook too

    return hook


def reference_patch_hook(position, state):
    def hook(module, args, output):
        output = output.clone()
        output[:, position] = state
        return output

    return hook


def sink_rate_at_key(attn, key, eps):
    alpha = attn[..., key:, key].mean(-1)
    return (alpha > eps).float().mean((0, 2))


def sink_rate_over_all_queries(attn, key, eps):
    return (attn[..., key].mean(-1) > eps).float().mean((0, 2))


def sink_rate_of_the_first_key(attn, key, eps):
    return (
        (attn[..., key:, 0].mean(-1) > eps).float().mean((0, 2))
        if key == 0
        else ((attn[..., :, 0].mean(-1) > eps).float().mean((0, 2)))
    )


def sink_rate_of_the_query_row(attn, key, eps):
    return (attn[..., key, :].mean(-1) > eps).float().mean((0, 2))


def sink_rate_in_percent(attn, key, eps):
    return 100 * (attn[..., key:, key].mean(-1) > eps).float().mean((0, 2))


def sink_rate_per_head(attn, key, eps):
    return attn[..., key:, key].mean(-1) > eps


def mean_alpha_not_rate(attn, key, eps):
    return attn[..., key:, key].mean(-1).mean((0, 2))


# ---------------------------------------------------------------- the matrix

SOLUTIONS = [
    (checks.check_first_token_states, circuit.first_token_states),
    (checks.check_first_key_cosine, circuit.first_key_cosine),
    (checks.check_move_bos, circuit.move_bos),
    (checks.check_sink_rate_at_key, sink_rate_at_key),
    (checks.check_sink_rate_at_key, circuit.sink_rate_at_key),
    (checks.check_swap_rows, circuit.swap_rows_),
    (checks.check_make_patch_hook, reference_patch_hook),
]

WRONG_ANSWERS = [
    (checks.check_first_token_states, states_from_hidden_states, "final norm applied"),
    (checks.check_first_token_states, states_of_the_last_position, "last position"),
    (
        checks.check_first_token_states,
        states_without_embeddings,
        "embeddings (the stream entering block 0) are missing",
    ),
    (checks.check_first_key_cosine, cosine_tiled, "repeat_interleave"),
    (checks.check_first_key_cosine, cosine_as_dot_product, "dot products, not cosines"),
    (checks.check_first_key_cosine, cosine_with_query_zero, "included query 0"),
    (checks.check_first_key_cosine, cosine_per_query, "one number per query"),
    (checks.check_move_bos, move_bos_without_removing, "left the original at position 0"),
    (checks.check_move_bos, move_bos_insert_then_pop, "off by one"),
    (checks.check_move_bos, move_bos_by_swapping, "swapped BOS with the token"),
    (checks.check_move_bos, move_bos_by_overwriting, "overwrote the token"),
    (checks.check_sink_rate_at_key, sink_rate_over_all_queries, "averaged over all T queries"),
    (checks.check_sink_rate_at_key, sink_rate_of_the_first_key, "you measured key 0"),
    (checks.check_sink_rate_at_key, sink_rate_of_the_query_row, "query row"),
    (checks.check_sink_rate_at_key, sink_rate_in_percent, "percentage"),
    (checks.check_sink_rate_at_key, sink_rate_per_head, "one number per (row, layer, head)"),
    (checks.check_sink_rate_at_key, mean_alpha_not_rate, "mean α over heads"),
    (checks.check_swap_rows, swap_views, "swaps *views*"),
    (checks.check_swap_rows, swap_without_no_grad, "torch.no_grad()"),
    (checks.check_swap_rows, swap_a_copy, "weight is unchanged"),
    (checks.check_swap_rows, swap_columns, "swapped columns"),
    (checks.check_make_patch_hook, hook_on_a_copy, "changed a copy and returned None"),
    (checks.check_make_patch_hook, hook_every_position, "patched every position"),
    (checks.check_make_patch_hook, hook_batch_axis, "of the *batch*"),
    (checks.check_make_patch_hook, hook_on_the_input, "block's *input*"),
]


(
    test_check_passes_on_the_reference_solution,
    test_check_names_the_mistake,
    test_a_stub_stops_the_check_with_its_own_error,
) = check_matrix(SOLUTIONS, WRONG_ANSWERS)


def test_a_hook_that_patches_the_output_in_place_passes(capsys):
    checks.check_make_patch_hook(hook_in_place)
    assert "✅" in capsys.readouterr().out


def test_an_unrecognised_wrong_answer_reports_the_largest_difference():
    with pytest.raises(CheckFailed, match="values differ from the reference by up to"):
        checks.check_first_key_cosine(lambda q, k: circuit.first_key_cosine(q, k) + 0.1)
    with pytest.raises(CheckFailed, match="expected"):
        checks.check_move_bos(lambda ids, position, bos_id: list(reversed(ids)))
