"""sinklab.analysis.over_mixing: exact identities of rank collapse and of the over-squashing bound, and the real-model helpers."""

import math

import pytest
import torch

from sinklab.analysis import over_mixing as theory

T, D = 8, 6


@pytest.fixture
def x():
    return theory.toy_tokens(T, D, seed=3) + 0.5  # an offset, so the mean token is not ~0


# ---------------------------------------------------------------- rank collapse


def test_rank_one_distance_is_zero_for_equal_tokens_and_scale_free(x):
    assert theory.rank_one_distance(x[:1].expand(T, D)).item() == pytest.approx(0.0, abs=1e-7)
    torch.testing.assert_close(theory.rank_one_distance(7.0 * x), theory.rank_one_distance(x))
    batch = torch.stack([x, 2 * x, x.flip(0)])
    assert theory.rank_one_distance(batch).shape == (3,)


def test_the_mean_token_is_the_closest_rank_one_matrix_of_the_form_one_x_transpose(x):
    best = theory.rank_one_distance(x) * x.norm()
    for candidate in (x[0], x[-1], x.mean(0) + 0.01 * torch.randn(D)):
        assert (x - candidate).norm() > best


def test_uniform_bidirectional_attention_gives_rank_one_after_one_layer(x):
    hidden = theory.attention_stack(x, [theory.uniform_attention(T, causal=False)])
    assert theory.rank_one_distance(hidden[1]).item() < 1e-6 < theory.rank_one_distance(hidden[0]).item()


def test_residual_uniform_attention_with_a_zero_value_sink_follows_its_closed_form(x):
    """x_{l+1} = x_l + (1 − s)·1x̄_lᵀ keeps the residual r = X − 1x̄ᵀ and multiplies x̄ by (2 − s) per layer."""
    residual_norm, mean = (x - x.mean(0)).norm(), x.mean(0)
    for sink in (0.0, 0.5, 0.9):
        hidden = theory.attention_stack(x, [theory.uniform_attention(T, causal=False)] * 6, residual=True, sink=sink)
        layers = torch.arange(7, dtype=torch.float32)
        closed = residual_norm / (residual_norm**2 + T * (2 - sink) ** (2 * layers) * mean.norm() ** 2).sqrt()
        torch.testing.assert_close(theory.rank_one_distance(hidden), closed)


def test_without_a_residual_stream_a_zero_value_sink_only_rescales(x):
    attns = [theory.random_attention(T, seed=s) for s in range(5)]
    plain = theory.attention_stack(x, attns)
    sunk = theory.attention_stack(x, attns, sink=0.9)
    torch.testing.assert_close(sunk[1:], 0.1 ** torch.arange(1, 6.0)[:, None, None] * plain[1:])
    torch.testing.assert_close(theory.rank_one_distance(sunk), theory.rank_one_distance(plain))


def test_pure_causal_stacks_collapse_onto_the_first_token(x):
    sinky = theory.first_token_attention(theory.random_attention(T), mass=0.9)
    torch.testing.assert_close(sinky.sum(-1), torch.ones(T))
    hidden = theory.attention_stack(x, [sinky] * 12)
    assert torch.equal(hidden[-1][0], x[0])  # query 0 sees only itself
    torch.testing.assert_close(hidden[-1], x[:1].expand(T, D), atol=1e-5, rtol=0)


def test_a_zero_value_sink_slows_rank_collapse_in_the_toy_transformer():
    stack, x = theory.toy_stack(10, seed=4), theory.toy_tokens(24, seed=5)
    final = [theory.rank_one_distance(stack.run(x, sink=s)[0][-1]).item() for s in (0.0, 0.5, 0.9)]
    assert final[0] < final[1] < final[2]


def test_a_sink_that_takes_all_the_attention_makes_every_layer_a_no_op():
    stack, x = theory.toy_stack(4, seed=6), theory.toy_tokens(10, seed=7)
    hidden, _ = stack.run(x, sink=1.0)
    torch.testing.assert_close(hidden, x.expand(5, 10, 16))


def test_toy_attention_is_causal_and_sums_to_one():
    _, attns = theory.toy_stack(3).run(theory.toy_tokens(9))
    torch.testing.assert_close(attns.sum(-1), torch.ones(3, 9))
    assert torch.all(attns.triu(diagonal=1) == 0)


def test_toy_layers_do_not_depend_on_the_depth_of_the_stack():
    short, deep = theory.toy_stack(2, seed=8), theory.toy_stack(5, seed=8)
    for name in ("w_q", "w_k", "w_v"):
        torch.testing.assert_close(getattr(deep, name)[:2], getattr(short, name))
    eye = torch.eye(16).expand(5, 16, 16)
    torch.testing.assert_close(deep.w_v.transpose(-2, -1) @ deep.w_v, eye, atol=1e-5, rtol=0)


# ---------------------------------------------------------------- over-squashing


def test_jacobian_norm_map_of_a_linear_mixing_is_the_attention_weight_times_sqrt_d(x):
    attn = theory.random_attention(T, seed=9)
    norms = theory.jacobian_norm_map(lambda z: torch.stack([z, attn @ z]), x, position=5)
    assert norms.shape == (2, T)
    torch.testing.assert_close(norms[0], math.sqrt(D) * torch.eye(T)[5])
    torch.testing.assert_close(norms[1], math.sqrt(D) * attn[5])


def test_path_products_start_at_the_identity_and_stay_causal():
    attns = torch.stack([theory.random_attention(T, seed=s) for s in range(4)])
    products = theory.path_products(attns)
    torch.testing.assert_close(products[0], torch.eye(T))
    assert torch.all(products.triu(diagonal=1) == 0)
    # Rows of A + I sum to 2, so every row of P_l sums to 2^l; without the residual P_l stays row-stochastic.
    torch.testing.assert_close(products.sum(-1), (2.0 ** torch.arange(5.0))[:, None].expand(5, T))
    torch.testing.assert_close(theory.path_products(attns, residual=False).sum(-1), torch.ones(5, T))


@pytest.mark.parametrize("sink", [0.0, 0.7])
def test_the_path_product_bound_holds_for_frozen_attention(sink):
    """The theorem: with fixed attention and ‖W_V‖₂ = 1, ‖∂h^l_n/∂x_i‖_F ≤ √D · P_l[n, i] for every l, n, i."""
    stack, x = theory.toy_stack(5, seed=10), theory.toy_tokens(12, seed=11)
    _, attns = stack.run(x, sink=sink)
    bound = math.sqrt(16) * theory.path_products((1 - sink) * attns)
    for position in (0, 6, 11):
        frozen = theory.jacobian_norm_map(
            lambda z: theory.attention_stack(z, attns, residual=True, sink=sink, w_v=stack.w_v), x, position
        )
        assert torch.all(frozen <= bound[:, position] + 1e-5)
        assert torch.all(frozen[:, position + 1 :] == 0)  # causal: no path from the future


def test_the_bound_is_an_equality_when_values_are_the_identity(x):
    attns = torch.stack([theory.random_attention(T, seed=s) for s in range(3)])
    norms = theory.jacobian_norm_map(lambda z: theory.attention_stack(z, attns, residual=True), x, position=T - 1)
    torch.testing.assert_close(norms, math.sqrt(D) * theory.path_products(attns)[:, T - 1])


def test_a_sink_shrinks_the_bound_on_every_other_token():
    attns = torch.stack([theory.random_attention(T, seed=s) for s in range(3)])
    weak, strong = theory.path_products(0.5 * attns)[-1], theory.path_products(0.1 * attns)[-1]
    off_diagonal = torch.ones(T, T).tril(diagonal=-1).bool()
    assert torch.all(strong[off_diagonal] < weak[off_diagonal])


# ---------------------------------------------------------------- real-model helpers


def tiny_model(family: str, n_heads: int = 4):
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    if family == "gpt2":
        return GPT2LMHeadModel(GPT2Config(vocab_size=50, n_positions=32, n_embd=32, n_layer=2, n_head=n_heads)).eval()
    config = LlamaConfig(
        vocab_size=50,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=n_heads,
        num_key_value_heads=n_heads,
        max_position_embeddings=32,
    )
    return LlamaForCausalLM(config).eval()


IDS = [3, 14, 15, 9, 26, 5, 35, 8]


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_residual_stream_is_the_raw_stream_before_the_final_norm(family):
    model = tiny_model(family)
    stream = theory.residual_stream(model, IDS)
    assert stream.shape == (3, len(IDS), 32)
    final_norm = model.model.norm if family == "llama" else model.transformer.ln_f
    with torch.no_grad():
        last = model(torch.tensor([IDS]), output_hidden_states=True).hidden_states[-1][0]
    torch.testing.assert_close(final_norm(stream[-1]), last)


@pytest.mark.slow
def test_residual_stream_is_differentiable_through_inputs_embeds():
    model = tiny_model("llama")
    embeds = model.get_input_embeddings()(torch.tensor(IDS)).detach()
    norms = theory.jacobian_norm_map(lambda e: theory.residual_stream(model, inputs_embeds=e), embeds, position=4)
    assert norms.shape == (3, len(IDS))
    torch.testing.assert_close(norms[0], math.sqrt(32) * torch.eye(len(IDS))[4])
    assert torch.all(norms[:, 5:] == 0) and torch.all(norms[1:, :5] > 0)


def test_relative_change_is_scale_free_and_shows_bf16_rounding():
    a = torch.randn(4, 16)
    assert theory.relative_change(a, a).abs().max() == 0
    torch.testing.assert_close(theory.relative_change(3 * a, 3 * (a + 0.1)), theory.relative_change(a, a + 0.1))
    ones = torch.ones(16)
    assert theory.relative_change(ones.bfloat16(), (ones * (1 + 1e-3)).bfloat16()).item() == 0.0  # below bf16's 2^-8


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_head_update_norms_of_a_single_head_equal_the_attention_output(family):
    model = tiny_model(family, n_heads=1)
    outputs = []
    attention_module = model.model.layers[0].self_attn if family == "llama" else model.transformer.h[0].attn
    handle = attention_module.register_forward_hook(lambda _m, _a, out: outputs.append(out[0]))
    norms = theory.head_update_norms(model, IDS)
    handle.remove()
    assert norms.shape == (2, 1, len(IDS))
    bias = 0 if family == "llama" else attention_module.c_proj.bias
    torch.testing.assert_close(norms[0, 0], (outputs[0][0] - bias).norm(dim=-1))


def test_a_head_whose_output_projection_is_zero_writes_nothing():
    model = tiny_model("llama")
    with torch.no_grad():
        model.model.layers[1].self_attn.o_proj.weight[:, 8:16] = 0  # head 1 of layer 1 (head_dim 8)
    norms = theory.head_update_norms(model, IDS)
    assert norms.shape == (2, 4, len(IDS))
    assert torch.all(norms[1, 1] == 0) and torch.all(norms[1, [0, 2, 3]] > 0)


def test_rank_correlation_sees_only_the_order():
    a = torch.tensor([0.1, 3.0, 2.0, 5.0])
    assert theory.rank_correlation(a, a.exp()) == pytest.approx(1.0)
    assert theory.rank_correlation(a, -a) == pytest.approx(-1.0)


def test_sink_key_attention_gives_each_query_its_own_share():
    scores = torch.randn(6, 6, generator=torch.Generator().manual_seed(0))
    weights = theory.sink_key_attention(scores, 1.0)
    share = 1 - weights.sum(-1)
    causal = scores.masked_fill(~torch.ones(6, 6, dtype=torch.bool).tril(), float("-inf"))
    expected = torch.e / (torch.e + causal.exp().sum(-1))
    torch.testing.assert_close(share, expected)
    assert share.max() - share.min() > 0.05
    assert torch.all(weights.triu(1) == 0)


def test_toy_stack_refuses_two_kinds_of_sink_at_once():
    from sinklab.errors import SinklabError

    with pytest.raises(SinklabError, match="not both"):
        theory.toy_stack(1).run(theory.toy_tokens(3), sink=0.5, sink_logit=1.0)


def test_path_product_rows_sum_to_two_to_the_l():
    _, attns = theory.toy_stack(5).run(theory.toy_tokens(9))
    torch.testing.assert_close(theory.path_products(attns)[-1].sum(-1), torch.full((9,), 32.0))


def test_closed_forms_match_the_simulations():
    x = theory.toy_tokens(6, 4)
    stack = theory.attention_stack(x, [theory.uniform_attention(6, causal=False)] * 3, residual=True, sink=0.4)
    torch.testing.assert_close(theory.rank_one_distance(stack), theory.uniform_residual_distance(x, 0.4, 3))
    prefix, t = theory.toy_tokens(3, 4, seed=5).double(), theory.toy_tokens(1, 4, seed=6)[0].double()

    def last(n):
        seq = torch.cat([prefix, t.expand(n, 4)])
        return (theory.uniform_attention(len(seq)).double() @ seq)[-1]

    torch.testing.assert_close(last(8) - last(7), theory.repeat_gap(prefix, t, 7))


@pytest.mark.slow
def test_jacobian_norm_estimate_converges_to_the_exact_map():
    stack, x = theory.toy_stack(2, 8), theory.toy_tokens(6, 8)

    def layers_fn(t):
        return stack.run(t, sink_logit=1.0)[0]

    exact = theory.jacobian_norm_map(layers_fn, x, 5)
    estimate = theory.jacobian_norm_estimate(layers_fn, x, 5, n_probes=4096)
    torch.testing.assert_close(estimate, exact, rtol=0.06, atol=1e-6)
    with pytest.raises(theory.SinklabError, match="n_probes"):
        theory.jacobian_norm_estimate(layers_fn, x, 5, n_probes=0)
