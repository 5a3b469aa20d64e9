"""Checks for Chapter 4 (the P0 sink circuit)'s exercises, in the order the chapter uses them."""

from __future__ import annotations

from collections.abc import Callable

import torch

from sinklab.checks._core import CheckFailed, _randn, _reject_shapes, compare


def _two_block_llama():
    """A 2-block random-init Llama (grouped-query attention, fp32), built in code: no download."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=50,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        initializer_range=0.2,
    )
    with torch.random.fork_rng():
        torch.manual_seed(40)
        return LlamaForCausalLM(config).eval()


def check_first_token_states(fn: Callable[[torch.nn.Module, torch.Tensor], torch.Tensor]) -> None:
    """Exercise 4.1: fn(model, ids [B, T]) -> position 0's residual stream entering block 0 and after every
    block, [B, L+1, D]."""
    from sinklab.analysis import over_mixing as theory
    from sinklab.analysis import p0_circuit as circuit

    model = _two_block_llama()
    ids = torch.randint(0, 50, (2, 7), generator=torch.Generator().manual_seed(41))
    with torch.no_grad():
        expected = circuit.first_token_states(model, ids)
        streams = torch.stack([theory.residual_stream(model, row) for row in ids])  # [B, L+1, T, D]
        with_final_norm = torch.stack(model(ids, output_hidden_states=True).hidden_states, dim=1)[:, :, 0]
        got = fn(model, ids.clone())
    _reject_shapes(
        "first_token_states",
        got,
        expected.shape,
        {
            (2, 2, 32): "the embeddings (the stream entering block 0) are missing: return L+1 states, not L",
            (2, 3, 7, 32): "every position: keep only position 0, the first token",
            (2, 32): "one state per row: keep one per block, [B, L+1, D]",
        },
    )
    compare(
        "first_token_states",
        got,
        expected,
        atol=1e-4,
        mistakes={
            "the last entry has the final norm applied (transformers' hidden_states does that): return the raw "
            "residual stream after the last block, e.g. with sinklab.analysis.over_mixing.residual_stream": with_final_norm,
            "you took the last position (-1); the first token is position 0": streams[:, :, -1],
            "you averaged over positions; take position 0 only": streams.mean(2),
        },
    )


def check_first_key_cosine(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Exercise 4.2: fn(query [B, H, T, d], key [B, Hkv, T, d]) -> mean cos(q_i, k_0) over queries 1..T-1, [B, H]."""
    from sinklab.analysis import p0_circuit as circuit

    query, key = _randn(2, 4, 6, 8, seed=42), _randn(2, 2, 6, 8, seed=43)
    key[..., 0, :] += 2 * query[:, ::2, 1:].mean(2)  # the first key leans towards the queries, as in a sink head
    grouped = key.repeat_interleave(2, dim=1)
    cosine = torch.nn.functional.cosine_similarity

    got = fn(query.clone(), key.clone())
    _reject_shapes(
        "first_key_cosine",
        got,
        (2, 4),
        {
            (2, 4, 5): "one number per query: average over the queries 1..T-1",
            (2, 4, 6): "one number per query: average over the queries 1..T-1 (query 0 left out)",
            (2, 2): "one number per key/value head: every *query* head needs its own, [B, H]",
        },
    )
    compare(
        "first_key_cosine",
        got,
        circuit.first_key_cosine(query, key),
        mistakes={
            "key.repeat(1, n_rep, 1, 1) tiles the heads as kv0, kv1, kv0, …; query head h reads key/value head "
            "h // n_rep: use repeat_interleave(n_rep, dim=1)": cosine(
                query[:, :, 1:], key.repeat(1, 2, 1, 1)[:, :, :1], dim=-1
            ).mean(-1),
            "you computed dot products, not cosines: divide by both norms (torch.nn.functional.cosine_similarity)": (
                query[:, :, 1:] * grouped[:, :, :1]
            )
            .sum(-1)
            .mean(-1),
            "you included query 0, which sees only key 0 whatever the cosine: average over queries 1..T-1": cosine(
                query, grouped[:, :, :1], dim=-1
            ).mean(-1),
            "you compared each query with its own key (the diagonal), not with the first key": cosine(
                query[:, :, 1:], grouped[:, :, 1:], dim=-1
            ).mean(-1),
            "you used the last key (-1); the first key is index 0": cosine(
                query[:, :, 1:], grouped[:, :, -1:], dim=-1
            ).mean(-1),
        },
    )


def check_move_bos(fn: Callable[[list, int, int], list]) -> None:
    """Exercise 4.3: fn(ids starting with BOS, position, bos_id) -> the same tokens with BOS moved to `position`."""
    from sinklab.analysis import p0_circuit as circuit

    bos, ids = 9, [9, 5, 6, 7, 8, 4]
    for position in (3, 1):
        name = f"move_bos(position={position})"
        expected = circuit.move_bos(ids, position, bos)
        got = fn(list(ids), position, bos)
        if isinstance(got, torch.Tensor):
            got = got.tolist()
        if not isinstance(got, (list, tuple)):
            raise CheckFailed(f"{name}: return a list of token ids, got {type(got).__name__}.")
        got = [int(t) for t in got]
        if got == expected:
            print(f"✅ {name}: correct.")
            continue
        rest = ids[1:]
        mistakes = {
            "you inserted BOS but left the original at position 0 too: remove it first (one token more)": ids[:position]
            + [bos]
            + ids[position:],
            "off by one: you inserted BOS at `position` of the original list and then dropped position 0, so it "
            "lands at position - 1. Remove it first, then insert": ids[1:position] + [bos] + ids[position:],
            "you swapped BOS with the token at `position`: that token is now first, and the first token is the "
            "one the sink needs. Keep the order of the other tokens": [ids[position]]
            + ids[1:position]
            + [bos]
            + ids[position + 1 :],
            "you overwrote the token at `position` with BOS and lost it (one token fewer): insert, do not replace": rest[
                :position
            ]
            + [bos]
            + rest[position + 1 :],
        }
        for mistake, wrong in mistakes.items():
            if got == wrong:
                raise CheckFailed(f"{name}: your answer matches a common mistake — {mistake}.")
        raise CheckFailed(f"{name}: expected {expected}, got {got}. Open the hint below the exercise.")


def check_sink_rate_at_key(fn: Callable[[torch.Tensor, int, float], torch.Tensor]) -> None:
    """Exercise 4.3: fn(attn [B, L, H, T, T], key, eps) -> per layer, the fraction of (row, head) whose mean
    attention on `key` over the queries that see it (key … T−1) exceeds eps, [L]."""
    from sinklab.analysis import p0_circuit as circuit

    g = torch.Generator().manual_seed(48)
    scores = torch.randn(3, 2, 4, 9, 9, generator=g)
    scores[..., 3] += torch.linspace(-1.0, 3.0, 4).view(4, 1)  # some heads sink on key 3, some do not
    scores[..., 0] -= 0.5  # and the first key is a weaker sink here (the sink moved)
    causal = torch.ones(9, 9, dtype=torch.bool).tril()
    attn = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)
    key, eps = 3, 0.3
    got = fn(attn.clone(), key, eps)
    _reject_shapes(
        "sink_rate_at_key",
        got,
        (2,),
        {
            (3, 2, 4): "one number per (row, layer, head): that is α_key; count the fraction above ε, per layer",
            (3, 2): "one number per (row, layer): average over rows *and* heads, keep the layers",
            (2, 4): "one number per (layer, head): average over rows and heads, keep the layers",
            (): "one number: keep the layer axis, [L]",
        },
    )
    rate = lambda alpha: (alpha > eps).float().mean((0, 2))  # noqa: E731
    compare(
        "sink_rate_at_key",
        got,
        circuit.sink_rate_at_key(attn, key, eps),
        mistakes={
            "you averaged over all T queries; the queries before the key cannot see it (their weight is 0): average "
            "over queries key … T−1": rate(attn[..., :, key].mean(-1)),
            "you measured key 0 (the first token); this exercise asks for key `key`, where the sink moved to": rate(
                attn[..., :, 0].mean(-1)
            ),
            "you read the query row (attn[..., key, :]) instead of the key column (attn[..., :, key])": rate(
                attn[..., key, :].mean(-1)
            ),
            "you returned a percentage; return a fraction in [0, 1] (the course's unit)": 100
            * circuit.sink_rate_at_key(attn, key, eps),
            "you returned the mean α over heads, not the fraction of heads above ε": attn[..., key:, key]
            .mean(-1)
            .mean((0, 2)),
        },
    )


def check_swap_rows(fn: Callable[[torch.Tensor, int, int], None]) -> None:
    """Exercise 4.4: fn(weight [N, D], i, j) swaps rows i and j of the weight in place (a model's parameter)."""
    original = _randn(6, 6, seed=44)
    weight = torch.nn.Parameter(original.clone())
    try:
        fn(weight, 1, 4)
    except RuntimeError as e:
        if "requires grad" not in str(e):
            raise
        raise CheckFailed(
            "swap_rows_: writing into a parameter that requires grad fails outside "
            "`with torch.no_grad():`. Put the assignment inside that block."
        ) from e
    expected = original.clone()
    expected[[1, 4]] = original[[4, 1]]
    aliased = original.clone()
    aliased[1] = original[4]
    compare(
        "swap_rows_",
        weight.data,
        expected,
        mistakes={
            "the weight is unchanged: you swapped a copy (weight[[i, j]] on the right creates one, and so does "
            "returning a new tensor). Write into `weight` itself: weight[[i, j]] = weight[[j, i]]": original,
            "both rows now hold row j: `w[i], w[j] = w[j], w[i]` swaps *views*, so row i is overwritten before it is "
            "copied into row j. Index with a list, weight[[i, j]] = weight[[j, i]], or clone one row first": aliased,
            "you swapped columns i and j; the embedding of position p is *row* p": original[:, [0, 4, 2, 3, 1, 5]],
        },
    )


def check_make_patch_hook(fn: Callable[[int, torch.Tensor], Callable]) -> None:
    """Exercise 4.5: fn(position, state [D]) -> a forward hook that writes `state` into the block's output at
    `position`."""
    block_input, output, state = _randn(3, 5, 4, seed=45), _randn(3, 5, 4, seed=46), _randn(4, seed=47)
    hook = fn(2, state.clone())
    if not callable(hook):
        raise CheckFailed(f"make_patch_hook: return the hook function itself, got {type(hook).__name__}.")
    patched_output = output.clone()
    result = hook(torch.nn.Identity(), (block_input.clone(),), patched_output)
    got = patched_output if result is None else result  # a hook may also change the output in place
    expected, every_position, batch_row = output.clone(), output.clone(), output.clone()
    patched_input = block_input.clone()
    expected[:, 2] = state
    every_position[:] = state
    batch_row[2] = state
    patched_input[:, 2] = state
    compare(
        "make_patch_hook",
        got,
        expected,
        mistakes={
            "the block's output is unchanged: your hook changed a copy and returned None. Return the patched tensor "
            "(PyTorch then uses it as the block's output)": output,
            "you patched every position; only `position` gets the state: output[:, position]": every_position,
            "you patched row `position` of the *batch* (output[position]); positions are axis 1: "
            "output[:, position]": batch_row,
            "you patched the block's *input* (args[0]), i.e. the stream before the block; a forward hook patches "
            "what the block returns (its `output` argument)": patched_input,
        },
    )
