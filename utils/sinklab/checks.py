"""Learner-facing exercise checks: recognise typical mistakes by name before comparing numbers.

Every check calls the learner's function on fixed inputs and compares with a reference. If the
answer is wrong, it first compares with the answers that typical mistakes produce (softmax over
the wrong axis, a missing causal mask, …) and names the mistake; otherwise it reports the largest
difference. A stub that still raises NotImplementedError is not caught: the notebook stops there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

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
        raise CheckFailed(f"{name}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}. "
                          "Check which dimensions you reduce over or index.")
    got = got.detach().to(expected.dtype)
    if torch.allclose(got, expected, atol=atol, rtol=0):
        print(f"✅ {name}: correct.")
        return
    for mistake, wrong in (mistakes or {}).items():
        if wrong.shape == got.shape and torch.allclose(got, wrong.to(got.dtype), atol=atol, rtol=0):
            raise CheckFailed(f"{name}: your answer matches a common mistake — {mistake}.")
    worst = (got - expected).abs().max().item()
    raise CheckFailed(f"{name}: shape is right but values differ from the reference by up to {worst:.3g}. "
                      "Open the hint below the exercise.")


def check_first_token_share(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Exercise 0.1: fn(scores [q, k]) -> share of each query's attention on key 0, shape [q]."""
    scores = torch.tensor([[2.0, 0.5, -1.0, 0.0], [0.0, 3.0, 1.0, -2.0], [1.0, 1.0, 1.0, 1.0]])
    expected = torch.softmax(scores, dim=-1)[:, 0]
    compare(
        "first_token_share",
        fn(scores.clone()),
        expected,
        mistakes={
            "softmax over the query axis (dim=0) instead of the key axis (dim=-1)": torch.softmax(scores, 0)[:, 0],
            "no softmax: you returned raw scores, which do not sum to one": scores[:, 0],
            "you took the last key (index -1) instead of the first (index 0)": torch.softmax(scores, -1)[:, -1],
        },
    )
