"""Language-model evaluation: perplexity."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from sinklab.errors import SinklabError


def perplexity(model, inputs) -> float:
    """exp of the mean next-token negative log-likelihood over real (non-pad) targets.

    inputs: a tokenizer's output or a tensor of token ids ``[T]`` or ``[B, T]``. A target counts when
    it and the token before it are real, so left and right padding both work.
    """
    from sinklab.measure import model_inputs

    batch = model_inputs(model, inputs)
    ids = batch["input_ids"]
    real = batch.get("attention_mask", torch.ones_like(ids)).bool()
    targets = real[:, 1:] & real[:, :-1]
    if not targets.any():
        raise SinklabError("Perplexity needs at least two real tokens in a row. Fix: pass longer inputs.")
    with torch.no_grad():
        logits = model(**batch).logits[:, :-1].float()
    nll = F.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
    return math.exp(nll[targets].mean().item())
