"""Chapter 5's checks pass on the reference solutions and name the mistake in typical wrong answers.

Each wrong answer below is written the way a learner would write it, not derived from the check's
own mistake list, so a test fails if a check stops recognising a mistake it claims to know.
"""

import pytest
import torch

from sinklab import checks
from sinklab.analysis import over_mixing as theory
from sinklab.checks import CheckFailed

from check_matrix import check_matrix

# ---------------------------------------------------------------- wrong answers, as a learner writes them


def rank_one_feature_mean(x):
    return (x - x.mean(dim=-1, keepdim=True)).norm(dim=(-2, -1)) / x.norm(dim=(-2, -1))


def rank_one_first_token(x):
    return (x - x[..., 0, :].unsqueeze(-2)).norm(dim=(-2, -1)) / x.norm(dim=(-2, -1))


def rank_one_not_normalised(x):
    return torch.linalg.matrix_norm(x - x.mean(dim=-2, keepdim=True))


def rank_one_squared(x):
    residual = x - x.mean(dim=-2, keepdim=True)
    return (residual**2).sum(dim=(-2, -1)) / (x**2).sum(dim=(-2, -1))


def rank_one_per_token(x):
    return (x - x.mean(dim=-2, keepdim=True)).norm(dim=-1) / x.norm(dim=-1)


def jacobian_of_summed_features(layers_fn, x, position):
    rows = []
    for layer in range(layers_fn(x).shape[0]):
        inputs = x.clone().requires_grad_(True)
        layers_fn(inputs)[layer, position].sum().backward()
        rows.append(inputs.grad.norm(dim=-1))
    return torch.stack(rows)


def jacobian_wrong_direction(layers_fn, x, position):
    jac = torch.autograd.functional.jacobian(layers_fn, x)  # [L+1, T, D, T, D]
    return jac[..., position, :].norm(dim=(-2, -1))


def jacobian_every_output(layers_fn, x, position):
    jac = torch.autograd.functional.jacobian(layers_fn, x)
    return jac.pow(2).sum(dim=(1, 2, 4)).sqrt()


def jacobian_one_norm_per_layer(layers_fn, x, position):
    jac = torch.autograd.functional.jacobian(lambda z: layers_fn(z)[:, position], x)
    return jac.flatten(1).norm(dim=-1)


def path_products_wrong_order(attns, residual=True):
    product = torch.eye(attns.shape[-1])
    out = [product]
    for attn in attns:
        product = product @ (attn + torch.eye(attns.shape[-1]) if residual else attn)
        out.append(product)
    return torch.stack(out)


def path_products_no_residual(attns, residual=True):
    product = torch.eye(attns.shape[-1])
    out = [product]
    for attn in attns:
        product = attn @ product
        out.append(product)
    return torch.stack(out)


def path_products_transposed(attns, residual=True):
    return theory.path_products(attns.mT, residual)


def path_products_without_the_input(attns, residual=True):
    return theory.path_products(attns, residual)[1:]


def residual_distance_shrinking_by_one_minus_s(x, sink, n_layers):
    mean, residual = x.mean(0), (x - x.mean(0)).norm()
    growth = (1 - sink) ** torch.arange(n_layers + 1)
    return residual / (residual**2 + x.shape[0] * growth**2 * mean.norm() ** 2).sqrt()


def residual_distance_doubling(x, sink, n_layers):
    mean, residual = x.mean(0), (x - x.mean(0)).norm()
    growth = 2.0 ** torch.arange(n_layers + 1)
    return residual / (residual**2 + x.shape[0] * growth**2 * mean.norm() ** 2).sqrt()


def residual_distance_without_t(x, sink, n_layers):
    mean, residual = x.mean(0), (x - x.mean(0)).norm()
    growth = (2 - sink) ** torch.arange(n_layers + 1)
    return residual / (residual**2 + growth**2 * mean.norm() ** 2).sqrt()


def residual_distance_from_layer_one(x, sink, n_layers):
    return theory.uniform_residual_distance(x, sink, n_layers)[1:]


def gap_flipped(prefix, repeated, n):
    p = len(prefix)
    return (prefix.sum(0) - p * repeated) / ((p + n) * (p + n + 1))


def gap_squared_denominator(prefix, repeated, n):
    p = len(prefix)
    return (p * repeated - prefix.sum(0)) / (p + n) ** 2


def gap_forgets_the_prefix_count(prefix, repeated, n):
    return (len(prefix) * repeated - prefix.sum(0)) / (n * (n + 1))


def gap_norm_only(prefix, repeated, n):
    return theory.repeat_gap(prefix, repeated, n).norm()


# ---------------------------------------------------------------- the matrix

SOLUTIONS = [
    (checks.check_rank_one_distance, theory.rank_one_distance),
    (checks.check_jacobian_norm_map, theory.jacobian_norm_map),
    (checks.check_path_products, theory.path_products),
    (checks.check_uniform_residual_distance, theory.uniform_residual_distance),
    (checks.check_repeat_gap, theory.repeat_gap),
]

WRONG_ANSWERS = [
    (checks.check_rank_one_distance, rank_one_feature_mean, "mean over its features"),
    (checks.check_rank_one_distance, rank_one_first_token, "subtracted the first token"),
    (checks.check_rank_one_distance, rank_one_not_normalised, "did not divide by ‖X‖_F"),
    (checks.check_rank_one_distance, rank_one_squared, "no square root"),
    (checks.check_rank_one_distance, rank_one_per_token, "one number per token"),
    (checks.check_jacobian_norm_map, jacobian_of_summed_features, "back-propagated the *sum*"),
    (checks.check_jacobian_norm_map, jacobian_wrong_direction, "how x_position moves every output"),
    (checks.check_jacobian_norm_map, jacobian_every_output, "every position's output"),
    (checks.check_jacobian_norm_map, jacobian_one_norm_per_layer, "one number per layer"),
    (checks.check_path_products, path_products_wrong_order, "wrong order"),
    (checks.check_path_products, path_products_no_residual, "residual path is missing"),
    (checks.check_path_products, path_products_transposed, "transposed the attention matrices"),
    (checks.check_path_products, path_products_without_the_input, "P_0 = I is missing"),
    (
        checks.check_path_products,
        lambda attns, residual=True: theory.path_products(attns, True),
        "added the identity although residual=False",
    ),
    (checks.check_uniform_residual_distance, residual_distance_shrinking_by_one_minus_s, "grows by (1 − s)"),
    (checks.check_uniform_residual_distance, residual_distance_doubling, "grows by 2 per layer"),
    (checks.check_uniform_residual_distance, residual_distance_without_t, "factor T is missing"),
    (checks.check_uniform_residual_distance, residual_distance_from_layer_one, "d_0 (before any layer) is missing"),
    (checks.check_repeat_gap, gap_flipped, "sign is flipped"),
    (checks.check_repeat_gap, gap_squared_denominator, "(p + n)²"),
    (checks.check_repeat_gap, gap_forgets_the_prefix_count, "prefix counts too"),
    (checks.check_repeat_gap, gap_norm_only, "one number"),
]


(
    test_check_passes_on_the_reference_solution,
    test_check_names_the_mistake,
    test_a_stub_stops_the_check_with_its_own_error,
) = check_matrix(SOLUTIONS, WRONG_ANSWERS)


def test_an_unrecognised_wrong_answer_reports_the_largest_difference():
    with pytest.raises(CheckFailed, match="values differ from the reference by up to"):
        checks.check_rank_one_distance(lambda x: theory.rank_one_distance(x) + 0.1)
