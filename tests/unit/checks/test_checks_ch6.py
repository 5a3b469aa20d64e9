"""Chapter 6's checks pass on the reference solutions and name the mistake in typical wrong answers.

Each wrong answer below is written the way a learner would write it, not derived from the check's
own mistake list, so a test fails if a check stops recognising a mistake it claims to know.
"""

import math

import pytest
import torch

from sinklab import checks, data, variants
from sinklab.analysis import experiments
from sinklab.checks import CheckFailed

from check_matrix import check_matrix

# ---------------------------------------------------------------- reference solutions, as the chapter writes them


def unnormalised_weights(scores, visible, kind):
    n = visible.sum(-1, keepdim=True)
    weights = torch.sigmoid(scores - n.log()) if kind == "sigmoid" else torch.relu(scores) / n
    return weights * visible


def sink_logit_weights(scores, visible, sink_logit):
    extra = sink_logit.view(1, -1, 1, 1).expand(*scores.shape[:-1], 1)
    logits = torch.cat([scores.masked_fill(~visible, float("-inf")), extra], dim=-1)
    return torch.softmax(logits, dim=-1)[..., :-1]


# ---------------------------------------------------------------- wrong answers, as a learner writes them


def split_without_skip(first_mass, is_trigger, skip):
    out = {}
    for name, queries in (("trigger", is_trigger), ("other", ~is_trigger)):
        out[name] = first_mass.permute(1, 2, 0, 3)[:, :, queries].mean(-1)
    return out


def split_row_by_row(first_mass, is_trigger, skip):
    late = torch.arange(is_trigger.shape[1]) >= skip
    out = {}
    for name, queries in (("trigger", is_trigger & late), ("other", ~is_trigger & late)):
        rows = [first_mass[b][..., queries[b]].mean(-1) for b in range(len(first_mass))]
        out[name] = torch.stack(rows).mean(0)
    return out


def split_swapped(first_mass, is_trigger, skip):
    right = experiments.split_first_token_mass(first_mass, is_trigger, skip)
    return {"trigger": right["other"], "other": right["trigger"]}


def split_after_the_trigger(first_mass, is_trigger, skip):
    shifted = torch.roll(is_trigger, 1, dims=1)
    shifted[:, 0] = False
    return experiments.split_first_token_mass(first_mass, shifted, skip)


def split_per_layer(first_mass, is_trigger, skip):
    right = experiments.split_first_token_mass(first_mass, is_trigger, skip)
    return {k: v.mean(-1) for k, v in right.items()}


def sigmoid_without_bias(scores, visible, kind):
    return (
        torch.sigmoid(scores) if kind == "sigmoid" else torch.relu(scores) / visible.sum(-1, keepdim=True)
    ) * visible


def unmasked(scores, visible, kind):
    n = visible.sum(-1, keepdim=True)
    return torch.sigmoid(scores - n.log()) if kind == "sigmoid" else torch.relu(scores) / n


def renormalised(scores, visible, kind):
    weights = unnormalised_weights(scores, visible, kind)
    return weights / weights.sum(-1, keepdim=True)


def row_length_n(scores, visible, kind):
    n = scores.shape[-1]
    return (torch.sigmoid(scores - math.log(n)) if kind == "sigmoid" else torch.relu(scores) / n) * visible


def sink_added_to_scores(scores, visible, sink_logit):
    return torch.softmax((scores + sink_logit.view(1, -1, 1, 1)).masked_fill(~visible, float("-inf")), -1)


def sink_column_kept(scores, visible, sink_logit):
    extra = sink_logit.view(1, -1, 1, 1).expand(*scores.shape[:-1], 1)
    return torch.softmax(torch.cat([scores.masked_fill(~visible, float("-inf")), extra], -1), -1)


def sink_renormalised(scores, visible, sink_logit):
    weights = sink_logit_weights(scores, visible, sink_logit)
    return weights / weights.sum(-1, keepdim=True)


def sink_without_mask(scores, visible, sink_logit):
    return sink_logit_weights(scores, torch.ones_like(visible), sink_logit)


def pack_overwriting_the_first_token(stream, seq_len, bos_id):
    n = len(stream) // seq_len
    windows = stream[: n * seq_len].view(n, seq_len).clone()
    windows[:, 0] = bos_id
    return windows


def pack_bos_last(stream, seq_len, bos_id):
    n = len(stream) // (seq_len - 1)
    body = stream[: n * (seq_len - 1)].view(n, seq_len - 1)
    return torch.cat([body, torch.full((n, 1), bos_id)], 1)


def pack_too_long(stream, seq_len, bos_id):
    n = len(stream) // seq_len
    return torch.cat([torch.full((n, 1), bos_id), stream[: n * seq_len].view(n, seq_len)], 1)


def positions_restart_at_eos(windows, eos_id):
    out = torch.zeros_like(windows)
    for r, row in enumerate(windows):
        count = 0
        for t, token in enumerate(row):
            count = 0 if token == eos_id or t == 0 else count + 1
            out[r, t] = count
    return out


def positions_never_restart(windows, eos_id):
    return torch.arange(windows.shape[1]).expand_as(windows)


def onset_first_crossing(steps, values, threshold):
    for step, value in zip(steps, values):
        if value >= threshold:
            return step
    return None


def onset_index(steps, values, threshold):
    for i in range(len(values)):
        if all(v >= threshold for v in values[i:]):
            return i
    return None


def onset_strict(steps, values, threshold):
    for i in range(len(values)):
        if all(v > threshold for v in values[i:]):
            return steps[i]
    return None


# ---------------------------------------------------------------- the matrix

SOLUTIONS = [
    (checks.check_split_first_token_mass, experiments.split_first_token_mass),
    (checks.check_unnormalised_weights, unnormalised_weights),
    (checks.check_sink_logit_weights, sink_logit_weights),
    (checks.check_pack_with_bos, lambda stream, seq_len, bos_id: data.pack(stream, seq_len, "bos", bos_id)),
    (checks.check_document_position_ids, data.document_position_ids),
    (checks.check_onset_step, experiments.onset_step),
]

WRONG_ANSWERS = [
    (checks.check_split_first_token_mass, split_without_skip, "you ignored `skip`"),
    (checks.check_split_first_token_mass, split_row_by_row, "averaged each row first"),
    (checks.check_split_first_token_mass, split_swapped, "you swapped the two"),
    (checks.check_split_first_token_mass, split_after_the_trigger, "the query *after* each trigger"),
    (checks.check_split_first_token_mass, split_per_layer, "one number per layer"),
    (checks.check_unnormalised_weights, sigmoid_without_bias, "without the −log n_i bias"),
    (checks.check_unnormalised_weights, unmasked, "forgot the causal mask"),
    (checks.check_unnormalised_weights, renormalised, "normalised each row"),
    (checks.check_unnormalised_weights, row_length_n, "not the row length T"),
    (checks.check_sink_logit_weights, sink_added_to_scores, "a constant added to all logits changes nothing"),
    (checks.check_sink_logit_weights, sink_column_kept, "you kept the sink's column"),
    (checks.check_sink_logit_weights, sink_renormalised, "renormalised the weights after"),
    (checks.check_sink_logit_weights, sink_without_mask, "causal mask is missing"),
    (checks.check_pack_with_bos, pack_overwriting_the_first_token, "replaced one by <bos>"),
    (checks.check_pack_with_bos, pack_bos_last, "belongs at position 0"),
    (checks.check_pack_with_bos, pack_too_long, "seq_len tokens in all"),
    (
        checks.check_pack_with_bos,
        lambda stream, seq_len, bos_id: data.pack(stream, seq_len - 1, "none"),
        "<bos> is missing",
    ),
    (checks.check_document_position_ids, positions_restart_at_eos, "restarts *at* the <eos> token"),
    (checks.check_document_position_ids, positions_never_restart, "positions never restart"),
    (checks.check_onset_step, onset_first_crossing, "a transient spike is not an onset"),
    (checks.check_onset_step, onset_index, "you returned the index"),
    (checks.check_onset_step, onset_strict, "you used > threshold"),
]


(
    test_check_passes_on_the_reference_solution,
    test_check_names_the_mistake,
    test_a_stub_stops_the_check_with_its_own_error,
) = check_matrix(SOLUTIONS, WRONG_ANSWERS)


def test_the_reference_weights_are_the_trainers_own():
    scores, visible = torch.randn(1, 2, 4, 4), torch.ones(4, 4, dtype=torch.bool).tril().expand(1, 2, 4, 4)
    for kind in ("sigmoid", "relu"):
        torch.testing.assert_close(
            unnormalised_weights(scores, visible, kind), variants.variant_weights(scores, visible, kind)
        )
    logit = torch.tensor([0.3, -2.0])
    torch.testing.assert_close(
        sink_logit_weights(scores, visible, logit), variants.variant_weights(scores, visible, "sink_logit", logit)
    )


def test_an_unrecognised_onset_answer_names_the_failing_case():
    with pytest.raises(CheckFailed, match="expected 40"):
        checks.check_onset_step(lambda steps, values, threshold: steps[-1])
