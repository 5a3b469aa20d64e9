"""sinklab.measure refuses what it cannot measure with a SinklabError naming the fix, and always restores the model."""

import argparse

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM

from sinklab import measure as measure_module
from sinklab import metrics
from sinklab.errors import SinklabError
from sinklab.measure import attention_patterns, measure, sink_stats

from measure_models import VOCAB, padded_batch, tiny_model


@pytest.fixture(scope="module")
def llama():
    return tiny_model("llama")


@pytest.mark.parametrize("eps", [0.0, 1.0, 1.3, -0.2])
def test_eps_outside_open_interval(llama, eps):
    with pytest.raises(SinklabError, match="strictly between 0 and 1"):
        measure(llama, padded_batch(), eps=(0.3, eps))


@pytest.mark.parametrize("inputs", [torch.zeros(1, 0, dtype=torch.long), [], torch.zeros(0, 5, dtype=torch.long)])
def test_empty_inputs(llama, inputs):
    with pytest.raises(SinklabError, match="no tokens"):
        measure(llama, inputs)
    assert llama.config._attn_implementation == "eager"


def test_input_longer_than_the_model_positions():
    model = tiny_model("gpt2", n_positions=16)
    with pytest.raises(SinklabError, match="only 16 positions"):
        measure(model, torch.randint(0, VOCAB, (1, 20)))
    assert model.config._attn_implementation == "eager"


def test_text_instead_of_token_ids(llama):
    with pytest.raises(SinklabError, match="tokenize first"):
        measure(llama, "The cat sat on the mat.")


def test_model_without_attention_layers():
    model = AutoModelForCausalLM.from_config(
        AutoConfig.for_model("mamba", hidden_size=16, num_hidden_layers=1, vocab_size=VOCAB, state_size=4)
    ).eval()
    with pytest.raises(SinklabError, match="no attention"):
        measure(model, torch.randint(0, VOCAB, (1, 6)))
    with pytest.raises(SinklabError, match="no attention modules"):
        measure(model, torch.randint(0, VOCAB, (1, 6)), method="hooks")


def test_unsupported_model_and_arguments(llama):
    with pytest.raises(SinklabError, match="Hugging Face transformers models"):
        measure(torch.nn.Linear(4, 4), torch.ones(1, 4, dtype=torch.long))
    with pytest.raises(SinklabError, match="Unknown statistics"):
        measure(llama, padded_batch(), stats=("first", "perplexity"))
    with pytest.raises(SinklabError, match="Unknown method"):
        measure(llama, padded_batch(), method="magic")
    with pytest.raises(SinklabError, match="chunk_mb"):
        measure(llama, padded_batch(), stats=("topk",), chunk_mb=0)


def test_implementation_restored_after_an_exception(llama):
    with pytest.raises(RuntimeError, match="learner code failed"):
        with sink_stats(llama):
            llama(**padded_batch())
            raise RuntimeError("learner code failed")
    assert llama.config._attn_implementation == "eager"
    assert not llama._forward_pre_hooks and not llama._forward_hooks  # no hook left behind
    with torch.no_grad():
        llama(**padded_batch())  # runs normally again


def test_attention_function_outside_a_measurement(llama):
    llama.set_attn_implementation("sinklab")  # registered by the calls above
    try:
        with pytest.raises(SinklabError, match="runs outside a sinklab measurement"):
            llama(**padded_batch())
    finally:
        llama.set_attn_implementation("eager")


def test_training_mode_with_dropout_is_refused():
    model = tiny_model("llama", attention_dropout=0.1).train()
    with pytest.raises(SinklabError, match="model.eval"):
        measure(model, padded_batch())


def test_attention_patterns_size_limit_and_indices(llama):
    with pytest.raises(SinklabError, match="over max_mib"):
        attention_patterns(llama, padded_batch(), max_mib=0.001)
    with pytest.raises(SinklabError, match="out of range"):
        attention_patterns(llama, padded_batch(), layers=[5])


def test_cli_hub_id_offline_fails_clearly(tmp_path):
    parser = argparse.ArgumentParser()
    measure_module.add_arguments(parser)
    args = parser.parse_args(["someone/model-not-on-this-machine", "--out", str(tmp_path / "x")])
    with pytest.raises(SinklabError):
        measure_module.cli_main(args)


@pytest.mark.parametrize("family", ["stablelm", "nemotron"])
def test_layers_that_drop_kwargs_are_measured(family):
    """Their decoder layers call self_attn without **kwargs: the collector travels in a ContextVar instead."""
    model = tiny_model(family, num_key_value_heads=2, head_dim=8)
    batch = padded_batch()
    with torch.no_grad():
        reference = model(**batch, output_attentions=True)
    report = measure(model, batch)
    assert report.modules == ["model.layers.0.self_attn", "model.layers.1.self_attn"]
    for layer, attn in enumerate(reference.attentions):
        expected = metrics.first_token_mass(attn, batch["attention_mask"])
        assert (report.first_mass[:, layer] - expected).abs().max() <= 1e-5


def tiny_bart(encoder_layers=2, decoder_layers=2):
    config = AutoConfig.for_model(
        "bart",
        d_model=32,
        encoder_layers=encoder_layers,
        decoder_layers=decoder_layers,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        vocab_size=VOCAB,
    )
    return AutoModelForSeq2SeqLM.from_config(config).eval()


@pytest.mark.parametrize("layers", [(2, 2), (3, 1)])
def test_encoder_decoder_never_mixes_self_and_cross_attention(layers):
    model = tiny_bart(*layers)
    with pytest.raises(SinklabError, match="encoder_attn .* is cross-attention.*get_encoder"):
        measure(model, padded_batch())
    encoder = measure(model.get_encoder(), padded_batch())  # what the message suggests works
    assert encoder.layer_types == ["bidirectional"] * layers[0] and encoder.importance.shape == (3, layers[0], 4)
    assert encoder.modules == [f"layers.{i}.self_attn" for i in range(layers[0])]


def test_unknown_attention_module_is_named():
    from sinklab.measure import CallCollector
    from sinklab.measure import attention as sinkattention

    collector = CallCollector(sinkattention.Options(), None, [], "TinyModel")
    with pytest.raises(SinklabError, match="Linear module that is not among the attention layers.*TinyModel"):
        collector.layer_of(torch.nn.Linear(2, 2))


@pytest.mark.parametrize("method", ["interface", "hooks"])
def test_non_finite_statistics_name_the_layer_and_the_cause(llama, method):
    """An inf in a key projection (what an fp16 overflow produces) must not become a sink rate of 0."""

    def overflow(module, args, output):
        return output.index_fill(-1, torch.tensor([0]), float("inf"))

    handle = llama.model.layers[1].self_attn.k_proj.register_forward_hook(overflow)
    try:
        with pytest.raises(SinklabError, match=r"Layer 1 \(model.layers.1.self_attn\).*non-finite.*overflow.*float32"):
            measure(llama, padded_batch(), method=method)
    finally:
        handle.remove()
    assert llama.config._attn_implementation == "eager"
    assert measure(llama, padded_batch()).sink_rate[0.3] >= 0  # measures normally again
