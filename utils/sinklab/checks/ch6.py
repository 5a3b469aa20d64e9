"""Checks for Chapter 6 (training experiments)'s exercises, in the order the chapter uses them."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from sinklab.checks._core import CheckFailed, _randn, _reject_shapes, compare


def _backcopy_probe_data() -> tuple[torch.Tensor, torch.Tensor]:
    """first_mass [B=3, L=2, H=2, T=12] and is_trigger [B, T] with rows holding different numbers of triggers."""
    g = torch.Generator().manual_seed(60)
    first_mass = torch.rand(3, 2, 2, 12, generator=g)
    is_trigger = torch.zeros(3, 12, dtype=torch.bool)
    is_trigger[0, [2, 5, 9]] = True
    is_trigger[1, [7]] = True
    is_trigger[2, [3, 6, 8, 10, 11]] = True
    return first_mass, is_trigger


def _split_by(first_mass, is_trigger, skip, per_row=False, agg="mean"):
    late = torch.arange(is_trigger.shape[1]) >= skip
    out = {}
    for name, queries in (("trigger", is_trigger & late), ("other", ~is_trigger & late)):
        w = queries[:, None, None, :].float()
        if per_row:
            out[name] = ((first_mass * w).sum(-1) / w.sum(-1).clamp(min=1)).mean(0)
        elif agg == "sum":
            out[name] = (first_mass * w).sum((0, -1))
        else:
            out[name] = (first_mass * w).sum((0, -1)) / w.sum((0, -1)).clamp(min=1)
    return out


def check_split_first_token_mass(fn: Callable[[torch.Tensor, torch.Tensor, int], dict]) -> None:
    """Exercise 6.1: fn(first_mass [B, L, H, T], is_trigger [B, T], skip) -> {"trigger": [L, H], "other": [L, H]}."""
    from sinklab.analysis import experiments

    first_mass, is_trigger = _backcopy_probe_data()
    skip = 4
    got = fn(first_mass.clone(), is_trigger.clone(), skip)
    if not isinstance(got, Mapping) or set(got) != {"trigger", "other"}:
        raise CheckFailed(
            'split_first_token_mass: return a dict with the keys "trigger" and "other", each [layer, head].'
        )
    expected = experiments.split_first_token_mass(first_mass, is_trigger, skip)
    after = torch.zeros_like(is_trigger)
    after[:, 1:] = is_trigger[:, :-1]  # the query right after each trigger
    swapped = {"trigger": expected["other"], "other": expected["trigger"]}
    variants = {
        "you ignored `skip`: the first queries see only a few keys, so their first-token mass is large for that "
        "reason alone; keep positions ≥ skip": _split_by(first_mass, is_trigger, 0),
        "you averaged each row first and then the rows: a row with one trigger then counts as much as a row with "
        "five. Average over all (row, query) pairs of a kind at once": _split_by(
            first_mass, is_trigger, skip, per_row=True
        ),
        "you summed the masses; divide by the number of queries of each kind": _split_by(
            first_mass, is_trigger, skip, agg="sum"
        ),
        "you used the query *after* each trigger; the head copies when the query *is* the trigger": _split_by(
            first_mass, after, skip
        ),
    }
    for kind in ("trigger", "other"):
        _reject_shapes(
            f'split_first_token_mass["{kind}"]',
            got[kind],
            (2, 2),
            {
                (2,): "one number per layer: keep the head axis, [layer, head]",
                (3, 2, 2): "you kept the batch axis: average over rows and queries, keep [layer, head]",
                (2, 2, 12): "you kept the query axis: average over rows and queries, keep [layer, head]",
            },
        )
        mistakes = {message: wrong[kind] for message, wrong in variants.items()}
        mistakes['you swapped the two: "trigger" must average the trigger queries'] = swapped[kind]
        compare(f'split_first_token_mass["{kind}"]', got[kind], expected[kind], mistakes=mistakes)


def _causal_visible(batch: int, heads: int, length: int) -> torch.Tensor:
    return torch.ones(length, length, dtype=torch.bool).tril().expand(batch, heads, length, length)


def check_unnormalised_weights(fn: Callable[[torch.Tensor, torch.Tensor, str], torch.Tensor]) -> None:
    """Exercise 6.2: fn(scores [B, H, Tq, Tk], visible bool, kind) -> sigmoid(s − log n_i) or relu(s) / n_i on
    visible keys, n_i = the number of keys query i sees."""
    import math

    from sinklab import variants

    scores, visible = 3 * _randn(2, 3, 7, 7, seed=61), _causal_visible(2, 3, 7)
    n_all = scores.shape[-1]
    n = visible.sum(-1, keepdim=True).float()  # keys each query sees
    for kind in ("sigmoid", "relu"):
        name = f"unnormalised_weights(kind={kind!r})"
        expected = variants.variant_weights(scores, visible, kind)
        raw = torch.sigmoid(scores - n.log()) if kind == "sigmoid" else torch.relu(scores) / n
        mistakes = {
            "you forgot the causal mask: future keys get weight too. Multiply by `visible` (or zero the masked keys)": raw,
            "you normalised each row to sum to one: that is exactly softmax's constraint, which these variants drop": (
                raw * visible
            )
            / (raw * visible).sum(-1, keepdim=True).clamp(min=1e-12),
            "you used softmax: these variants have no normalisation": torch.softmax(
                scores.masked_fill(~visible, float("-inf")), -1
            ),
        }
        per_row = (
            "n_i is the number of keys query i sees (visible.sum(-1)), not the row length T: with T, a query's "
            "weights would change with tokens that come after it"
        )
        if kind == "sigmoid":
            mistakes[
                "sigmoid without the −log n_i bias: at initialisation every weight is then ≈ 0.5, and a query's "
                "output is a sum over all its keys"
            ] = torch.sigmoid(scores) * visible
            mistakes[per_row] = torch.sigmoid(scores - math.log(n_all)) * visible
        else:
            mistakes["relu without dividing by n_i: the output then grows with the number of keys"] = (
                torch.relu(scores) * visible
            )
            mistakes[per_row] = torch.relu(scores) / n_all * visible
        compare(name, fn(scores.clone(), visible.clone(), kind), expected, mistakes=mistakes)


def check_sink_logit_weights(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Exercise 6.3: fn(scores [B, H, Tq, Tk], visible, sink_logit [H]) -> weights [B, H, Tq, Tk], rows sum to < 1."""
    from sinklab import variants

    scores, visible = 2 * _randn(2, 3, 5, 5, seed=62), _causal_visible(2, 3, 5)
    sink_logit = torch.tensor([-1.0, 0.5, 2.5])
    expected = variants.variant_weights(scores, visible, "sink_logit", sink_logit)
    masked = scores.masked_fill(~visible, float("-inf"))
    softmax = torch.softmax(masked, -1)
    got = fn(scores.clone(), visible.clone(), sink_logit.clone())
    _reject_shapes(
        "sink_logit_weights",
        got,
        expected.shape,
        {
            (2, 3, 5, 6): "you kept the sink's column: it is a key with value zero, so drop it after the softmax "
            "(the weights on the real keys then sum to less than one)",
        },
    )
    with_sink_unmasked = torch.softmax(torch.cat([scores, sink_logit.view(1, 3, 1, 1).expand(2, 3, 5, 1)], -1), -1)[
        ..., :-1
    ]
    compare(
        "sink_logit_weights",
        got,
        expected,
        mistakes={
            "your weights are plain softmax (rows sum to one). Either you added the sink logit to every score — a "
            "constant added to all logits changes nothing after a softmax — or you renormalised the weights after "
            "dropping the sink column. Append the logit as one extra column, softmax, drop it, and stop there": softmax,
            "the causal mask is missing: future keys get weight": with_sink_unmasked,
            "each head needs its own logit: sink_logit[h] belongs to head h (shape [1, H, 1, 1])": torch.softmax(
                torch.cat([masked, torch.full((2, 3, 5, 1), sink_logit.mean().item())], -1), -1
            )[..., :-1],
        },
    )


def check_pack_with_bos(fn: Callable[[torch.Tensor, int, int], torch.Tensor]) -> None:
    """Exercise 6.4: fn(stream [N], seq_len, bos_id) -> windows [N // (seq_len - 1), seq_len], <bos> then seq_len − 1 tokens."""
    from sinklab import data

    stream, seq_len, bos = torch.arange(100, 123), 5, 7
    expected = data.pack(stream, seq_len, "bos", bos)  # 5 windows of <bos> + 4 tokens; 3 tokens left over
    got = fn(stream.clone(), seq_len, bos)
    _reject_shapes(
        "pack_with_bos",
        got,
        expected.shape,
        {
            (5, 6): "each window must be seq_len tokens in all: <bos> plus seq_len − 1 stream tokens",
            (4, 6): "each window must be seq_len tokens in all: <bos> plus seq_len − 1 stream tokens",
            (4, 5): "you cut seq_len stream tokens per window (and replaced one by <bos>, or stepped by seq_len): with "
            "<bos> in front a window holds seq_len − 1 stream tokens, and the next one starts right after them",
            (5, 4): "<bos> is missing: put it in front of each window's seq_len − 1 stream tokens",
            (6, 5): "you kept the incomplete last window (padded or short): drop the tail",
        },
    )
    body = stream[: 5 * (seq_len - 1)]
    bos_column = torch.full((5, 1), bos)
    compare(
        "pack_with_bos",
        got,
        expected,
        atol=0,
        mistakes={
            "<bos> went at the end of each window; it belongs at position 0": torch.cat(
                [body.view(5, -1), bos_column], 1
            ),
            "you reshaped in the wrong order: each window must hold consecutive stream tokens (view(n, seq_len − 1), "
            "not view(seq_len − 1, n).T)": torch.cat([bos_column, body.view(seq_len - 1, 5).T], 1),
        },
    )


def check_document_position_ids(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> None:
    """Exercise 6.5: fn(windows [n, T], eos_id) -> position ids [n, T] that restart at 0 right *after* every eos_id."""
    from sinklab import data

    eos = 3
    windows = torch.tensor([[5, 6, eos, 7, 8, eos, eos, 9], [eos, 1, 2, 4, 5, 6, 7, 8], [1, 2, 4, 5, 6, 7, 8, 9]])
    expected = data.document_position_ids(windows, eos)
    at_eos = torch.tensor([[0, 1, 0, 1, 2, 0, 0, 1], [0, 1, 2, 3, 4, 5, 6, 7], [0, 1, 2, 3, 4, 5, 6, 7]])
    compare(
        "document_position_ids",
        fn(windows.clone(), eos),
        expected,
        atol=0,
        mistakes={
            "the position restarts *at* the <eos> token; the <eos> ends its document, so the restart comes right after it": at_eos,
            "positions never restart: this is plain causal packing (arange in every row)": torch.arange(8).expand(3, 8),
            "you counted documents instead of positions (the document index of each token)": torch.tensor(
                [[0, 0, 0, 1, 1, 1, 2, 3], [0, 1, 1, 1, 1, 1, 1, 1], [0] * 8]
            ),
        },
    )


def check_onset_step(fn: Callable[[list, list, float], int | None]) -> None:
    """Exercise 6.6: fn(steps, values, threshold) -> the first step from which values stay ≥ threshold; None if never."""
    from sinklab.analysis import experiments

    cases = [
        ([10, 20, 30, 40, 50, 60], [0.1, 0.6, 0.2, 0.5, 0.7, 0.8], 0.5),  # a transient crossing at 20, onset 40
        ([5, 10, 15], [0.1, 0.2, 0.3], 0.5),  # never
        ([1, 2, 3, 4], [0.5, 0.5, 0.9, 0.8], 0.5),  # from the start; equal counts
        ([100, 200, 300], [0.2, 0.9, 0.4], 0.5),  # crosses, then falls back: no onset
    ]
    expected = [experiments.onset_step(*case) for case in cases]

    def first_crossing(steps, values, threshold):
        return next((s for s, v in zip(steps, values) if v >= threshold), None)

    def first_index(steps, values, threshold):
        step = experiments.onset_step(steps, values, threshold)
        return None if step is None else steps.index(step)

    def strict(steps, values, threshold):
        return experiments.onset_step(steps, values, threshold + 1e-9)

    got = [fn(list(s), list(v), t) for s, v, t in cases]
    if got == expected:
        print("✅ onset_step: correct.")
        return
    for message, mistake in (
        (
            "you returned the first crossing, but a transient spike is not an onset: the values must stay ≥ threshold "
            "from that step to the end",
            first_crossing,
        ),
        ("you returned the index into `steps`; return the step itself (steps[i])", first_index),
        ("you used > threshold; a value equal to the threshold counts (≥)", strict),
    ):
        if got == [mistake(*case) for case in cases]:
            raise CheckFailed(f"onset_step: your answer matches a common mistake — {message}.")
    bad = next(i for i, (g, e) in enumerate(zip(got, expected)) if g != e)
    raise CheckFailed(
        f"onset_step: for steps={cases[bad][0]}, values={cases[bad][1]}, threshold={cases[bad][2]} "
        f"you returned {got[bad]!r}, expected {expected[bad]!r}. Open the hint below the exercise."
    )
