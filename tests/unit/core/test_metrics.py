"""sinklab.metrics: the definitions exercises are checked against, on hand-built attention tensors."""

import math

import pytest
import torch

from sinklab import metrics
from sinklab.errors import SinklabError


def causal_attention(*leading, T, window=None, seed=0):
    """Softmax attention [*leading, T, T] with a causal (optionally sliding-window) mask."""
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(*leading, T, T, generator=g) * 2
    q, k = torch.arange(T)[:, None], torch.arange(T)[None, :]
    visible = k <= q
    if window is not None:
        visible &= q - k < window
    return scores.masked_fill(~visible, float("-inf")).softmax(-1)


def left_padded(attn_rows, pads):
    """Embed per-row causal attention [L, H, n, n] into a left-padded batch [B, L, H, T, T] (+ padding mask)."""
    T = max(a.shape[-1] + p for a, p in zip(attn_rows, pads))
    batch = torch.full((len(pads), *attn_rows[0].shape[:-2], T, T), 1.0 / T)  # eager's uniform rows on pad queries
    mask = torch.zeros(len(pads), T, dtype=torch.long)
    for b, (a, p) in enumerate(zip(attn_rows, pads)):
        batch[b, ..., p:, :] = 0.0
        batch[b, ..., p:, p:] = a
        mask[b, p:] = 1
    return batch, mask


def test_importance_matches_gu_et_al_code():
    # Gu et al.'s official code: importance = (A / arange(T, 0, -1)).sum(dim=-2), i.e. divide by T - k.
    attn = causal_attention(2, 3, T=7)
    gu = (attn / torch.arange(7, 0, -1)).sum(-2)
    torch.testing.assert_close(metrics.importance_score(attn, key=None), gu)
    torch.testing.assert_close(metrics.importance_score(attn, key=0), gu[..., 0])
    torch.testing.assert_close(metrics.importance_score(attn, key=3), gu[..., 3])


def test_first_token_importance_is_at_least_one_over_T():
    attn = causal_attention(4, 4, T=10)
    assert (metrics.importance_score(attn) >= 1 / 10 - 1e-7).all()  # attn[0, 0] = 1 counts
    torch.testing.assert_close(metrics.first_token_mass(attn), attn[..., 0])


def test_left_padding_moves_the_first_token():
    rows = [causal_attention(2, 3, T=6, seed=1), causal_attention(2, 3, T=4, seed=2)]
    batch, mask = left_padded(rows, pads=[0, 2])
    importance = metrics.importance_score(batch, padding_mask=mask)  # [B, L, H]
    for b, a in enumerate(rows):
        torch.testing.assert_close(importance[b], metrics.importance_score(a))
    mass = metrics.first_token_mass(batch, mask)
    assert (mass[1, ..., :2] == 0).all()  # pad queries get nothing
    torch.testing.assert_close(mass[1, ..., 2:], rows[1][..., 0])
    received = metrics.importance_score(batch, key=None, padding_mask=mask)
    torch.testing.assert_close(received[1, ..., 2:], metrics.importance_score(rows[1], key=None))
    assert (received[1, ..., :2] == 0).all()  # pad keys: nobody sees them


def test_sliding_window_averages_over_queries_that_see_the_key():
    attn = causal_attention(1, 2, T=9, window=3)
    expected = attn[..., :3, 0].mean(-1)  # only queries 0, 1, 2 see key 0
    torch.testing.assert_close(metrics.importance_score(attn, window=3), expected)
    torch.testing.assert_close(metrics.importance_score(attn, key=None, window=3)[..., 0], expected)


def test_bidirectional_counts_every_query():
    attn = torch.randn(2, 5, 5).softmax(-1)
    torch.testing.assert_close(metrics.importance_score(attn, causal=False), attn[..., 0].mean(-1))


def test_sink_rate_from_attention_or_importance():
    attn = causal_attention(3, 4, 5, T=8)  # [B, L, H, T, T]
    importance = metrics.importance_score(attn)
    rate = metrics.sink_rate(attn, 0.3)
    assert rate == metrics.sink_rate(importance, 0.3) == (importance > 0.3).float().mean().item()
    assert metrics.sink_rate(attn[0], 0.3) == (importance[0] > 0.3).float().mean().item()  # [L, H, T, T]
    assert metrics.sink_rate(torch.tensor([0.9, 0.1]), 0.5) == 0.5


@pytest.mark.parametrize("eps", [0, 1, -0.1, 1.5, float("nan"), "high", None])
def test_eps_outside_open_unit_interval_is_refused(eps):
    with pytest.raises(SinklabError, match="strictly between 0 and 1"):
        metrics.sink_rate(torch.tensor([0.5]), eps)


def test_topk_mass_and_entropy():
    uniform = torch.full((3, 8), 1 / 8)
    torch.testing.assert_close(metrics.entropy(uniform), torch.full((3,), math.log(8)))
    torch.testing.assert_close(metrics.topk_mass(uniform, 2), torch.full((3,), 0.25))
    one_hot = torch.eye(4)
    assert (metrics.entropy(one_hot) == 0).all()
    assert (metrics.topk_mass(one_hot, 1) == 1).all()
    assert torch.allclose(metrics.topk_mass(causal_attention(2, T=5), 10), torch.ones(2, 5))  # k > T: everything


def test_mass_from_lse_is_softmax():
    scores = torch.randn(4, 6)
    lse = scores.logsumexp(-1, keepdim=True)
    torch.testing.assert_close(metrics.mass_from_lse(scores, lse), scores.softmax(-1))
    assert metrics.mass_from_lse(torch.tensor(float("-inf")), torch.tensor(float("-inf"))) == 0


def test_massive_activations_need_both_thresholds():
    hidden = torch.full((1, 4, 8), 0.1)
    hidden[0, 0, 3] = -500.0
    found = metrics.massive_activations(hidden)
    assert found.nonzero().tolist() == [[0, 0, 3]]
    assert not metrics.massive_activations(hidden, magnitude=1000).any()
    assert not metrics.massive_activations(hidden.clamp(min=-50)).any()  # 50 < 100
    assert not metrics.massive_activations(hidden + torch.sign(hidden)).any()  # median 1.1: ratio < 1000


def test_first_and_rest_norms_skip_padding():
    x = torch.ones(2, 4, 3)
    x[:, :, 0] = torch.arange(4.0)  # norms grow with position
    mask = torch.tensor([[1, 1, 1, 1], [0, 0, 1, 1]])
    first, rest = metrics.first_and_rest_norms(x, mask)
    norms = x.norm(dim=-1)
    torch.testing.assert_close(first, torch.stack([norms[0, 0], norms[1, 2]]))
    torch.testing.assert_close(rest, torch.stack([norms[0, 1:].mean(), norms[1, 3]]))


def test_all_padding_row_is_refused():
    with pytest.raises(SinklabError, match="no real token"):
        metrics.first_token_index(torch.tensor([[1, 1], [0, 0]]))


def test_uniform_baseline_is_harmonic_number_over_T():
    T = 17
    causal = torch.tril(torch.ones(T, T))
    uniform = causal / causal.sum(-1, keepdim=True)
    assert torch.isclose(metrics.uniform_first_token_importance(T), metrics.importance_score(uniform), atol=1e-6)
    assert torch.allclose(
        metrics.uniform_first_token_importance(torch.tensor([10, 64])), torch.tensor([0.2929, 0.0741]), atol=1e-4
    )
    with pytest.raises(SinklabError):
        metrics.uniform_first_token_importance(0)
