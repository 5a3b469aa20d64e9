"""Checks for Chapter 0 (start here)'s exercises, in the order the chapter uses them."""

from __future__ import annotations

from collections.abc import Callable

import torch

from sinklab.checks._core import compare


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
