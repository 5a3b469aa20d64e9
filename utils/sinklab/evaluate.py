"""Language-model quality in one number: perplexity over real (non-pad) next-token targets."""

from __future__ import annotations

import torch

from sinklab.measure import model_inputs


def perplexity(model, inputs) -> float:
    """exp of the mean next-token negative log-likelihood over real, non-pad targets.

    inputs: a tokenizer's output (``input_ids``, ``attention_mask``) or a tensor of ids ``[T]`` or ``[B, T]``.
    Position t predicts token t+1; a target counts when both it and its context token are real.
    """
    batch = model_inputs(model, inputs)
    ids = batch["input_ids"]
    mask = batch.get("attention_mask")
    mask = torch.ones_like(ids, dtype=torch.bool) if mask is None else mask.bool()
    with torch.no_grad():
        logits = model(**batch).logits[:, :-1].float()
    nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
    real = mask[:, 1:] & mask[:, :-1]
    return torch.exp(nll[real].mean()).item()
