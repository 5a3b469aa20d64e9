"""What every check shares: the failure type, the comparison that names mistakes, small input helpers."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from sinklab.errors import SinklabError


class CheckFailed(SinklabError):
    """An exercise answer is wrong; the message says how."""


def compare(
    name: str,
    got,
    expected: torch.Tensor,
    mistakes: Mapping[str, torch.Tensor] | None = None,
    atol: float = 1e-5,
) -> None:
    """Pass (print ✅) if `got` matches `expected`; else raise CheckFailed naming the likely mistake."""
    if not isinstance(got, torch.Tensor):
        raise CheckFailed(f"{name}: expected a torch.Tensor, got {type(got).__name__}.")
    if got.shape != expected.shape:
        raise CheckFailed(
            f"{name}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}. "
            "Check which dimensions you reduce over or index."
        )
    got = got.detach().to(expected.dtype)
    if torch.allclose(got, expected, atol=atol, rtol=0):
        print(f"✅ {name}: correct.")
        return
    for mistake, wrong in (mistakes or {}).items():
        if wrong.shape == got.shape and torch.allclose(got, wrong.to(got.dtype), atol=atol, rtol=0):
            raise CheckFailed(f"{name}: your answer matches a common mistake — {mistake}.")
    worst = (got - expected).abs().max().item()
    raise CheckFailed(
        f"{name}: shape is right but values differ from the reference by up to {worst:.3g}. "
        "Open the hint below the exercise."
    )


def _randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _reject_shapes(name: str, got, expected_shape: tuple, named_shapes: Mapping[tuple, str]) -> None:
    """Raise CheckFailed with the reason when `got` has one of the typical wrong shapes."""
    if isinstance(got, torch.Tensor) and tuple(got.shape) != tuple(expected_shape):
        reason = named_shapes.get(tuple(got.shape))
        if reason:
            raise CheckFailed(f"{name}: expected shape {tuple(expected_shape)}, got {tuple(got.shape)} — {reason}.")


def _reject_non_finite(name: str, got, reason: str) -> None:
    """Raise CheckFailed when `got` contains NaN or ±inf (compare() cannot name that mistake)."""
    if isinstance(got, torch.Tensor) and not torch.isfinite(got).all():
        raise CheckFailed(f"{name}: your answer contains NaN or inf — {reason}.")
