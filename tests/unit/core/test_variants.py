"""sinklab.variants: each attention variant against a reference implementation, and the variant-aware probe."""

import pytest
import torch
from torch import nn

from sinklab import data, measure, train, variants
from sinklab.errors import SinklabError

B, H, T, D = 2, 3, 6, 4


@pytest.fixture(scope="module")
def qkv():
    g = torch.Generator().manual_seed(0)
    return [2 * torch.randn(B, H, T, D, generator=g) for _ in range(3)]


def causal(n_queries=T, n_keys=T):
    return torch.ones(n_queries, n_keys, dtype=torch.bool).tril(n_keys - n_queries)


def run_variant(name, q, k, v, module=None):
    module = module or nn.Module().eval()
    return variants.variant_attention(module, q, k, v, None, scaling=D**-0.5, name=name)


def test_softmax_one_equals_a_prepended_zero_key_and_value(qkv):
    q, k, v = qkv
    zero = torch.zeros(B, H, 1, D)
    keys, values = torch.cat([zero, k], 2), torch.cat([zero, v], 2)
    visible = torch.cat([torch.ones(T, 1, dtype=torch.bool), causal()], 1)  # everyone sees the zero key
    scores = (q @ keys.mT * D**-0.5).masked_fill(~visible, float("-inf"))
    reference = torch.softmax(scores, -1)
    output, weights = run_variant("softmax1", q, k, v)
    torch.testing.assert_close(weights, reference[..., 1:])
    torch.testing.assert_close(output, (reference @ values).transpose(1, 2))
    assert (weights.sum(-1) < 1).all()


def test_sink_logit_matches_gpt_oss_eager_attention(qkv):
    from transformers.models.gpt_oss.modeling_gpt_oss import eager_attention_forward

    q, k, v = qkv
    module = nn.Module().eval()
    module.sink_logit = nn.Parameter(torch.tensor([-1.0, 0.5, 3.0]))
    module.sinks, module.num_key_value_groups = module.sink_logit, 1
    additive = torch.zeros(T, T).masked_fill(~causal(), torch.finfo(torch.float32).min)
    expected_output, expected_weights = eager_attention_forward(module, q, k, v, additive, scaling=D**-0.5)
    output, weights = run_variant("sink_logit", q, k, v, module)
    torch.testing.assert_close(weights, expected_weights)
    torch.testing.assert_close(output, expected_output)


@pytest.mark.parametrize(
    "name, weight_fn",
    [
        ("sigmoid", lambda s, n: torch.sigmoid(s - torch.log(n))),
        ("relu", lambda s, n: torch.relu(s) / n),
    ],
)
def test_unnormalised_variants_match_their_formula(qkv, name, weight_fn):
    q, k, v = qkv
    keys_seen = torch.arange(1, T + 1.0)[:, None]  # query i sees keys 0…i
    reference = weight_fn(q @ k.mT * D**-0.5, keys_seen) * causal()
    output, weights = run_variant(name, q, k, v)
    torch.testing.assert_close(weights, reference)
    torch.testing.assert_close(output, (reference @ v).transpose(1, 2))


def test_gated_attention_scales_each_heads_softmax_output_by_its_gate(qkv):
    q, k, v = qkv
    module = nn.Module().eval()
    module.sinklab_gate = nn.Linear(5, H * D)
    x = torch.randn(B, T, 5, generator=torch.Generator().manual_seed(1))
    softmax = torch.softmax((q @ k.mT * D**-0.5).masked_fill(~causal(), float("-inf")), -1)
    gate = torch.sigmoid(module.sinklab_gate(x)).view(B, T, H, D)
    output, weights = variants.variant_attention(
        module, q, k, v, None, scaling=D**-0.5, name="gated", sinklab_gate_input=x
    )
    torch.testing.assert_close(weights, softmax)
    torch.testing.assert_close(output, (softmax @ v).transpose(1, 2) * gate)


def test_grouped_query_heads_share_their_key_head(qkv):
    q, k, v = qkv
    q6 = torch.cat([q, q.flip(1)], 1)  # 6 query heads over 3 key/value heads
    output, weights = run_variant("sigmoid", q6, k, v)
    keys_seen = torch.arange(1, T + 1.0)[:, None]
    reference = torch.sigmoid(q6 @ k.repeat_interleave(2, 1).mT * D**-0.5 - keys_seen.log()) * causal()
    torch.testing.assert_close(weights, reference)


def tiny_model(arch, name, n_layers=2):
    tokenizer = data.byte_tokenizer()
    model = train.build_model(train.model_config(tokenizer, 32, n_layers, 2, 32, arch=arch), seed=0)
    return variants.use(model, name)


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
@pytest.mark.parametrize("name", variants.SINK_FREE)
def test_the_probe_reads_the_weights_each_layer_really_used(arch, name):
    model = tiny_model(arch, name).eval()
    captured = []
    hooks = [
        m.register_forward_hook(lambda mod, args, out: captured.append(out[1]))
        for m in measure.attention_modules(model)
    ]
    ids = torch.randint(0, 256, (3, 10), generator=torch.Generator().manual_seed(2))
    report = variants.measure(model, ids)
    for hook in hooks:
        hook.remove()
    weights = torch.stack(captured, 1)  # [B, L, H, T, T]
    assert report.kernels == [f"sinklab_{name}"] * 2
    torch.testing.assert_close(report.first_mass, weights[..., 0])
    torch.testing.assert_close(report.importance, weights[..., 0].mean(-1))
    assert report.value_norm_first.shape == (3, 2, 2)
    if name in ("softmax1", "sink_logit"):
        torch.testing.assert_close(report.learned_sink_mass, 1 - weights.sum(-1))


def test_sinklab_measure_is_the_one_entry_point_for_variant_models():
    model = tiny_model("llama", "sigmoid").eval()
    ids = torch.randint(0, 256, (2, 8))
    report = measure.measure(model, ids)
    assert report.kernels == ["sinklab_sigmoid"] * 2  # read from the variant's own weights
    torch.testing.assert_close(report.importance, variants.measure(model, ids).importance)
    assert model.config._attn_implementation == "sinklab_sigmoid"  # the variant is kept
    with pytest.raises(SinklabError, match="sigmoid.*exact=True apply to softmax models only"):
        measure.measure(model, ids, exact=True)


def test_softmax_models_are_measured_by_sinklab_measure():
    model = tiny_model("llama", "softmax").eval()
    ids = torch.randint(0, 256, (2, 8))
    torch.testing.assert_close(variants.measure(model, ids).importance, measure.measure(model, ids).importance)
    assert model.config._attn_implementation == "sdpa"


@pytest.mark.slow
def test_variant_models_train_and_their_checkpoints_round_trip(tmp_path):
    for name in ("sink_logit", "gated"):
        model = tiny_model("gpt2", name, n_layers=1)
        ids = torch.randint(0, 256, (4, 16), generator=torch.Generator().manual_seed(3))
        config = train.TrainConfig(steps=3, lr=1e-2, warmup_steps=1, probe_every=0, progress=False)
        train.train(model, lambda: ids, config)  # noqa: B023 (called in this iteration)
        assert any(
            p.abs().sum() > 0 for n, p in model.named_parameters() if "sinklab_gate.weight" in n or "sink_logit" in n
        )
        model.save_pretrained(tmp_path / name)
        reloaded = variants.load(tmp_path / name)
        assert variants.variant_of(reloaded) == name
        torch.testing.assert_close(reloaded(ids).logits, model(ids).logits)


def test_bad_variant_names_and_switching_twice_are_refused():
    with pytest.raises(SinklabError, match="softmax1"):
        tiny_model("llama", "softmax2")
    model = tiny_model("llama", "relu")
    with pytest.raises(SinklabError, match="fresh model"):
        variants.use(model, "sigmoid")
