"""Checks for Chapter 5 (over-mixing theory)'s exercises, in the order the chapter uses them."""

from __future__ import annotations

from collections.abc import Callable

import torch

from sinklab.checks._core import _randn, _reject_shapes, compare


def check_rank_one_distance(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Exercise 5.1: fn(x [..., T, D]) -> ‖X − 1 x̄ᵀ‖_F / ‖X‖_F, shape [...] (Dong et al. 2021)."""
    from sinklab.analysis import over_mixing as theory

    x = 3.0 + _randn(3, 6, 5, seed=50)  # three sets of six tokens; a common offset makes the mistakes differ
    residual = x - x.mean(dim=-2, keepdim=True)
    got = fn(x.clone())
    _reject_shapes(
        "rank_one_distance",
        got,
        (3,),
        {
            (
                3,
                6,
            ): "one number per token: take the Frobenius norm over both the token and the feature axes, dim=(-2, -1)",
            (
                3,
                5,
            ): "one number per feature: take the Frobenius norm over both the token and the feature axes, dim=(-2, -1)",
            (): "a single number for the whole batch: keep the leading axes, norm over dim=(-2, -1) only",
        },
    )
    compare(
        "rank_one_distance",
        got,
        theory.rank_one_distance(x),
        mistakes={
            "you subtracted each token's mean over its features (dim=-1); the closest 1·xᵀ subtracts the mean token, "
            "the mean over the token axis (dim=-2)": (x - x.mean(-1, keepdim=True)).norm(dim=(-2, -1))
            / x.norm(dim=(-2, -1)),
            "you subtracted the first token: 1·x₀ᵀ has rank one too, but the *closest* such matrix uses the mean token": (
                x - x[..., :1, :]
            ).norm(dim=(-2, -1))
            / x.norm(dim=(-2, -1)),
            "you did not divide by ‖X‖_F: the measure must not depend on the scale of X": residual.norm(dim=(-2, -1)),
            "you divided squared norms (no square root): use ‖·‖_F itself": residual.pow(2).sum((-2, -1))
            / x.pow(2).sum((-2, -1)),
        },
    )
    scaled = fn(10.0 * x.clone())
    compare(
        "rank_one_distance(10·x)",
        scaled,
        theory.rank_one_distance(x),
        mistakes={
            "the distance changed when X was scaled by 10: divide by ‖X‖_F": 10.0 * residual.norm(dim=(-2, -1)),
        },
    )


def _toy_layers(n_layers: int = 2, n_tokens: int = 5, d_model: int = 4):
    """A small ToyStack as a function x [T, D] -> hidden states [L+1, T, D], and an input x."""
    from sinklab.analysis import over_mixing as theory

    stack = theory.toy_stack(n_layers, d_model, qk_scale=2.0, seed=51)
    return (lambda x: stack.run(x, sink=0.3)[0]), theory.toy_tokens(n_tokens, d_model, seed=52)


def _grad_of_summed_features(layers_fn: Callable, x: torch.Tensor, layer: int, position: int) -> torch.Tensor:
    """∂(Σ_k h^layer_position,k)/∂x, what one backward pass on the summed features gives: [T, D]."""
    x = x.clone().requires_grad_()
    (grad,) = torch.autograd.grad(layers_fn(x)[layer, position].sum(), x, allow_unused=True)
    return torch.zeros_like(x) if grad is None else grad


def check_jacobian_norm_map(fn: Callable[[Callable, torch.Tensor, int], torch.Tensor]) -> None:
    """Exercise 5.2: fn(layers_fn, x [T, D], position) -> ‖∂h^l_position/∂x_i‖_F, shape [L+1, T]."""
    from sinklab.analysis import over_mixing as theory

    layers_fn, x = _toy_layers()
    position, n_states = 3, 3
    jac = torch.autograd.functional.jacobian(layers_fn, x)  # [L+1, T, D, T, D]: every output, every input
    summed = torch.stack([_grad_of_summed_features(layers_fn, x, layer, position) for layer in range(n_states)])
    got = fn(layers_fn, x.clone(), position)
    _reject_shapes(
        "jacobian_norm_map",
        got,
        (n_states, 5),
        {
            (n_states,): "one number per layer: keep the source-token axis, one Frobenius norm per D × D block",
            (5,): "one number per source token: keep the layer axis too, shape [L+1, T]",
            (n_states, 4, 5, 4): "this is the Jacobian block itself; reduce each D × D block to its Frobenius norm",
        },
    )
    compare(
        "jacobian_norm_map",
        got,
        theory.jacobian_norm_map(layers_fn, x, position),
        mistakes={
            "you back-propagated the *sum* of h_position's features (one backward pass): that gives the sum of the "
            "Jacobian's rows, not its norm. Differentiate every feature, e.g. torch.autograd.functional.jacobian": summed.norm(
                dim=-1
            ),
            "you measured how x_position moves every output (∂h_t/∂x_position) instead of how every input x_i moves "
            "h_position (∂h_position/∂x_i)": jac[:, :, :, position, :].norm(dim=(2, 3)),
            "you differentiated every position's output, not only h_position: select the output position first": torch.linalg.vector_norm(
                jac, dim=(1, 2, 4)
            ),
        },
    )


def check_path_products(fn: Callable[[torch.Tensor, bool], torch.Tensor]) -> None:
    """Exercise 5.3: fn(attns [L, T, T], residual) -> P [L+1, T, T], P_0 = I, P_l = (A_l [+ I]) P_{l−1}."""
    from sinklab.analysis import over_mixing as theory

    attns = torch.stack([theory.random_attention(5, scale=2.0, seed=53 + layer) for layer in range(3)])
    identity = torch.eye(5)
    for residual in (True, False):
        name = f"path_products(residual={residual})"
        steps = attns + identity if residual else attns
        got = fn(attns.clone(), residual)
        _reject_shapes(
            name,
            got,
            (4, 5, 5),
            {
                (3, 5, 5): "P_0 = I is missing: the first entry is the input itself, before any layer (L+1 entries)",
                (5, 5): "only the last product: return every P_l, l = 0 … L, stacked into [L+1, T, T]",
            },
        )
        wrong_order = [identity]
        for step in steps:
            wrong_order.append(wrong_order[-1] @ step)
        mistakes = {
            "you multiplied in the wrong order: a later layer acts after an earlier one, so its matrix goes on "
            "the left, P_l = step_l @ P_{l−1}": torch.stack(wrong_order),
            "you transposed the attention matrices: rows are queries (where paths end), columns keys": theory.path_products(
                attns.transpose(-2, -1), residual
            ),
        }
        if residual:
            mistakes["the residual path is missing: with residual=True each layer's step is A_l + I (δ = 1)"] = (
                theory.path_products(attns, residual=False)
            )
        else:
            mistakes["you added the identity although residual=False: without a residual stream the step is A_l"] = (
                theory.path_products(attns, residual=True)
            )
        compare(name, got, theory.path_products(attns, residual), mistakes=mistakes)


def check_uniform_residual_distance(fn: Callable[[torch.Tensor, float, int], torch.Tensor]) -> None:
    """Exercise 5.4: fn(x [T, D], sink, n_layers) -> the closed form of d(X_l), l = 0 … n_layers, shape [L+1]."""
    from sinklab.analysis import over_mixing as theory

    x, sink, n_layers = 0.5 + _randn(6, 4, seed=54), 0.3, 5
    mean, residual = x.mean(0), (x - x.mean(0)).norm()
    layers = torch.arange(n_layers + 1, dtype=x.dtype)

    def with_growth(factor: float, n_tokens: int = x.shape[0]) -> torch.Tensor:
        return residual / (residual**2 + n_tokens * factor ** (2 * layers) * mean.norm() ** 2).sqrt()

    got = fn(x.clone(), sink, n_layers)
    _reject_shapes(
        "uniform_residual_distance",
        got,
        (n_layers + 1,),
        {
            (n_layers,): "d_0 (before any layer) is missing: return l = 0 … n_layers, n_layers + 1 values",
            (): "one number: return d_l for every l = 0 … n_layers",
        },
    )
    compare(
        "uniform_residual_distance",
        got,
        theory.uniform_residual_distance(x, sink, n_layers),
        mistakes={
            "the mean grows by (1 − s) per layer in your formula: the layer *adds* (1 − s)·x̄ to x̄, so it grows by "
            "(2 − s)": with_growth(1 - sink),
            "your mean grows by 2 per layer: the sink takes s of the attention, so the update is (1 − s)·x̄ and the "
            "factor is 2 − s": with_growth(2.0),
            "the factor T is missing: ‖1 x̄ᵀ‖_F² = T ‖x̄‖² (T rows, each x̄)": with_growth(2 - sink, n_tokens=1),
        },
    )


def check_repeat_gap(fn: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]) -> None:
    """Exercise 5.5: fn(prefix [p, D], repeated [D], n) -> o_{n+1} − o_n of one uniform causal layer, shape [D]."""
    from sinklab.analysis import over_mixing as theory

    prefix, repeated, n = _randn(3, 4, seed=55), _randn(4, seed=56), 5
    p, prefix_sum = prefix.shape[0], prefix.sum(0)
    expected = theory.repeat_gap(prefix, repeated, n)
    got = fn(prefix.clone(), repeated.clone(), n)
    _reject_shapes(
        "repeat_gap",
        got,
        (4,),
        {
            (): "one number (a norm?): return the vector o_{n+1} − o_n, shape [D]",
        },
    )
    compare(
        "repeat_gap",
        got,
        expected,
        mistakes={
            "the sign is flipped: return o_{n+1} − o_n, whose numerator is p·t − S": -expected,
            "your denominator is (p + n)²: the two outputs average p + n and p + n + 1 tokens": (
                p * repeated - prefix_sum
            )
            / (p + n) ** 2,
            "you used n where the layer averages p + n tokens (the prefix counts too)": (p * repeated - prefix_sum)
            / (n * (n + 1)),
        },
    )
