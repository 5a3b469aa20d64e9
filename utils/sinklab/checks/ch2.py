"""Checks for Chapter 2 (first look at a real LM)'s exercises, in the order the chapter uses them."""

from __future__ import annotations

from collections.abc import Callable

import torch

from sinklab.checks._core import CheckFailed, compare


def _causal_attention(batch: int, layers: int, heads: int, length: int, seed: int = 0) -> torch.Tensor:
    """Random causal softmax attention [batch, layer, head, T, T] with a sink-ish first column."""
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(batch, layers, heads, length, length, generator=g)
    scores[..., 0] += torch.linspace(-2, 4, heads).view(heads, 1)  # some heads sink, some do not
    causal = torch.ones(length, length, dtype=torch.bool).tril()
    return torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)


def _left_padded(attn: torch.Tensor, n_pad: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention and padding mask for rows with `n_pad[b]` left pad tokens (pads see nothing real)."""
    batch, length = attn.shape[0], attn.shape[-1]
    mask = torch.ones(batch, length, dtype=torch.long)
    out = attn.clone()
    for b, p in enumerate(n_pad):
        mask[b, :p] = 0
        real = length - p
        sub = _causal_attention(1, attn.shape[1], attn.shape[2], real, seed=10 + b)[0]
        out[b] = 0.0
        out[b, ..., p:, p:] = sub
        out[b, ..., :p, :] = 1.0 / length  # eager's uniform garbage rows for pad queries
    return out, mask


def check_first_token_mass_per_head(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Exercise 2.2: fn(attn [layer, head, q, k]) -> mean attention on key 0 over all queries, [layer, head]."""
    from sinklab import metrics

    attn = _causal_attention(1, 3, 4, 12)[0]
    compare(
        "first_token_mass_per_head",
        fn(attn.clone()),
        metrics.first_token_mass(attn).mean(-1),
        mistakes={
            "you averaged what the first *query* attends to (attn[..., 0, :]) instead of the first *key* column (attn[..., :, 0])": attn[
                ..., 0, :
            ].mean(-1),
            "you summed over queries instead of averaging": attn[..., :, 0].sum(-1),
            "you took the last key instead of the first": attn[..., :, -1].mean(-1),
        },
    )


def check_importance_score(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
    """Exercise 2.3: fn(attn [B, L, H, T, T], padding_mask [B, T]) -> Gu's alpha_0 per (row, layer, head)."""
    from sinklab import metrics

    attn, mask = _left_padded(_causal_attention(3, 2, 4, 10, seed=1), n_pad=[0, 3, 5])
    expected = metrics.importance_score(attn, 0, padding_mask=mask)
    n_real = mask.sum(-1).float().view(-1, 1, 1)
    first = metrics.first_token_index(mask)
    column = torch.stack([attn[b, ..., first[b]] for b in range(3)])  # [B, L, H, T]
    real_queries = mask.bool().view(3, 1, 1, -1)
    compare(
        "importance_score",
        fn(attn.clone(), mask.clone()),
        expected,
        mistakes={
            "you ignored the padding: key 0 is a pad token in left-padded rows, and pad queries must not count": attn[
                ..., 0
            ].mean(-1),
            "you used key 0 for every row, but with left padding the first token is each row's first *real* token": metrics.masked_mean(
                attn[..., 0], real_queries.expand_as(attn[..., 0])
            ),
            "wrong denominator: you divided by the full length T (pad queries included), not by the number of real queries": (
                column * real_queries
            ).sum(-1)
            / attn.shape[-1],
            "you averaged over pad queries too: their rows are garbage and must be left out": column.mean(-1),
            "you divided by the number of real queries but summed over pad queries too": column.sum(-1) / n_real,
        },
    )


def check_sink_rate(fn: Callable[[torch.Tensor, float], float]) -> None:
    """Exercise 2.3: fn(importance [B, L, H], eps) -> fraction of (row, layer, head) with importance > eps."""
    importance = torch.tensor([[[0.9, 0.3, 0.1], [0.5, 0.31, 0.05]], [[0.2, 0.3, 0.8], [0.29, 0.7, 0.0]]])
    for eps in (0.3, 0.6):
        expected = (importance > eps).float().mean()
        got = fn(importance.clone(), eps)
        got = torch.as_tensor(float(got))
        mistakes = {
            "you counted heads *equal* to eps as sinks (>=); Gu et al. use a strict > eps": (importance >= eps)
            .float()
            .mean(),
            "you returned a percentage; return a fraction in [0, 1]": 100 * expected,
            "you counted a (layer, head) as a sink if any row exceeds eps; average over rows too": (importance > eps)
            .any(0)
            .float()
            .mean(),
            "you ignored the eps argument (a hard-coded threshold?)": (importance > (0.6 if eps == 0.3 else 0.3))
            .float()
            .mean(),
        }
        compare(f"sink_rate(eps={eps})", got, expected, mistakes=mistakes)


def _toy_tokenizer(adds_bos: bool):
    """A word-level tokenizer with a '<bos>' token that it does or does not prepend by itself."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<bos>": 1, "<eos>": 2, "the": 3, "cat": 4, "sat": 5}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    if adds_bos:
        backend.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<bos>", eos_token="<eos>", unk_token="<unk>")


def check_adds_bos(fn: Callable[[object], bool]) -> None:
    """Exercise 2.1: fn(tokenizer) -> True if tokenizing text puts the BOS token at position 0 by itself."""
    adds, has_but_does_not_add = fn(_toy_tokenizer(True)), fn(_toy_tokenizer(False))
    if not isinstance(adds, bool) or not isinstance(has_but_does_not_add, bool):
        raise CheckFailed(f"adds_bos: return a bool (True/False), got {type(adds).__name__}.")
    if adds and has_but_does_not_add:
        raise CheckFailed(
            "adds_bos: your answer matches a common mistake — you checked whether the tokenizer *has* "
            "a bos_token (GPT-2's has one, '<|endoftext|>'), not whether it *puts* it at position 0. "
            "Tokenize some text and look at the first id."
        )
    if not adds:
        raise CheckFailed(
            "adds_bos: a tokenizer whose output starts with bos_token_id was reported as not adding "
            "one. Compare input_ids[0] with tokenizer.bos_token_id."
        )
    print("✅ adds_bos: correct.")


def check_uniform_importance(fn: Callable[[int], float]) -> None:
    """Exercise 2.5: fn(T) -> alpha_0 of a causal head that attends uniformly to every visible key, H_T / T."""
    from sinklab import metrics

    name = "uniform_importance"
    for length in (4, 10, 64, 1):
        got = fn(length)
        if isinstance(got, torch.Tensor):
            got = got.item() if got.numel() == 1 else float("nan")
        if not isinstance(got, (int, float)):
            raise CheckFailed(f"{name}: return a number (a Python float), got {type(got).__name__}.")
        expected = metrics.uniform_first_token_importance(length).item()
        if abs(got - expected) < 1e-5:
            continue
        harmonic = sum(1 / i for i in range(1, length + 1))
        mistakes = {
            "you returned 1/T, the share of the *last* query only; under the causal mask query i sees i + 1 "
            "keys, so it gives the first token 1/(i + 1) (and query 0 gives it 1)": 1 / length,
            "you left query 0 out: it sees only key 0 and gives it all its attention (attn[0, 0] = 1), and "
            "α₀ averages over every query": (harmonic - 1) / (length - 1) if length > 1 else float("nan"),
            "off by one: query i sees i + 1 keys (itself included), not i": (
                sum(1 / i for i in range(1, length)) / length
            ),
            "you summed the shares (H_T) instead of averaging them over the T queries": harmonic,
        }
        for mistake, wrong in mistakes.items():
            if abs(got - wrong) < 1e-5:
                raise CheckFailed(f"{name}(T={length}): your answer matches a common mistake — {mistake}.")
        raise CheckFailed(f"{name}(T={length}): expected {expected:.4f}, got {got:.4f}. Open the hint below.")
    print(f"✅ {name}: correct.")


def check_importance_per_key(fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """Exercise 2.6: fn(attn [layer, head, T, T]) -> Gu's alpha_k for every key k, [layer, head, T]."""
    from sinklab import metrics

    attn = _causal_attention(1, 2, 3, 9, seed=3)[0]
    length = attn.shape[-1]
    expected = torch.stack([metrics.importance_score(attn, k) for k in range(length)], dim=-1)
    seen_by = torch.arange(length, 0, -1, dtype=attn.dtype)  # key k is seen by T - k queries
    compare(
        "importance_per_key",
        fn(attn.clone()),
        expected,
        mistakes={
            "you divided by T for every key, but key k is seen only by the T − k queries i ≥ k; late keys then "
            "look unimportant for a reason that is only the causal mask": attn.sum(-2) / length,
            "you averaged over the keys (each query's row) instead of over the queries (each key's column)": attn.sum(
                -1
            )
            / seen_by,
            "you divided by the number of queries that *cannot* see key k (k) instead of those that can (T − k)": attn.sum(
                -2
            )
            / torch.arange(length, dtype=attn.dtype).clamp(min=1),
            "you summed over the queries without dividing": attn.sum(-2),
        },
    )


def _toy_cache(n_layers: int, n_kv: int, length: int, seed: int):
    """A stand-in for a transformers cache: `.layers[l].keys` / `.values`, each [1, n_kv, T, d]."""
    from types import SimpleNamespace

    g = torch.Generator().manual_seed(seed)
    layers = [
        SimpleNamespace(
            keys=torch.randn(1, n_kv, length, 4, generator=g), values=torch.randn(1, n_kv, length, 4, generator=g)
        )
        for _ in range(n_layers)
    ]
    return SimpleNamespace(layers=layers)


def check_patch_kv_heads(fn: Callable[[object, object, int, list[list[int]]], None]) -> None:
    """Exercise 2.7: fn(cache, cache_b, position, heads_from_b) copies, in each layer l, the keys and values of
    the key/value heads heads_from_b[l] at `position` from cache_b into cache (in place)."""
    name = "patch_kv_heads"
    position, heads_from_b = 2, [[1], [], [0, 2]]
    cache, cache_b = _toy_cache(3, 3, 5, seed=0), _toy_cache(3, 3, 5, seed=1)
    original = [(layer.keys.clone(), layer.values.clone()) for layer in cache.layers]
    originals_b = [(layer.keys.clone(), layer.values.clone()) for layer in cache_b.layers]
    fn(cache, cache_b, position, heads_from_b)
    for layer_b, (keys_b, values_b) in zip(cache_b.layers, originals_b):
        if not (torch.equal(layer_b.keys, keys_b) and torch.equal(layer_b.values, values_b)):
            raise CheckFailed(f"{name}: you changed cache_b. Copy *from* cache_b *into* cache (the run you continue).")
    problems = []
    for index, (layer, layer_b, heads, (keys, values)) in enumerate(
        zip(cache.layers, cache_b.layers, heads_from_b, original)
    ):
        for kind, got, source, before in (
            ("keys", layer.keys, layer_b.keys, keys),
            ("values", layer.values, layer_b.values, values),
        ):
            expected = before.clone()
            expected[:, heads, position] = source[:, heads, position]
            if torch.equal(got, expected):
                continue
            if heads and torch.equal(got, before):
                problems.append(
                    f"you did not patch the {kind}: a head reads both the key (where to look) and the "
                    "value (what it brings back) of the changed token"
                )
            elif torch.equal(got[:, :, position], source[:, :, position]) and len(heads) < got.shape[1]:
                problems.append("you patched every key/value head of the layer, not only heads_from_b[l]")
            elif heads and torch.equal(got[:, heads], source[:, heads]):
                problems.append(
                    "you patched every position of the chosen heads; only the changed token's position "
                    "differs between the runs, and the rest of cache must stay as it is"
                )
            else:
                problems.append(f"layer {index}'s {kind} differ from the expected patch")
    if problems:
        raise CheckFailed(f"{name}: your answer matches a common mistake — {problems[0]}.")
    print(f"✅ {name}: correct.")
