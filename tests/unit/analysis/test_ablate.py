"""sinklab.analysis.ablate: find the largest activations and set them to zero or their mean, on every family in the sweeps."""

import pytest
import torch

from sinklab import evaluate, measure, prompts
from sinklab.analysis import ablate
from sinklab.errors import SinklabError

from random_models import FAMILIES, random_model, tokenizer


@pytest.fixture(scope="module")
def batch():
    return prompts.prompt_batch(tokenizer(), "natural", n=3, seq_len=16)


def planted(family="llama", dim=7, value=1000.0):
    """A random-init model whose <bos> embedding has one massive feature (Sun et al.'s kind of activation)."""
    model = random_model(family)
    with torch.no_grad():
        model.get_input_embeddings().weight[tokenizer().bos_token_id, dim] = value
    return model


@pytest.mark.parametrize("family", list(FAMILIES))
def test_zero_ablation_of_nothing_changes_nothing(family, batch):
    model = random_model(family)
    with torch.no_grad():
        before = model(**batch).logits
        with ablate.set_activations(model, 0, 0, [], 0.0):
            after = model(**batch).logits
    assert torch.equal(before, after)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_set_activations_writes_exactly_the_values(family, batch):
    model = random_model(family)
    with ablate.set_activations(model, 1, 2, [3, 5], torch.tensor([4.0, -2.0])):
        hidden = ablate.block_output(model, batch, 1)
    assert hidden[:, 2, 3].eq(4.0).all() and hidden[:, 2, 5].eq(-2.0).all()
    assert not hidden[:, 2, 4].eq(0.0).all()
    found, perplexities = ablate.massive_ablation(model, batch, layer=1, k=2)
    assert len(found.dims) == 2 and found.values.shape == (3, 2) and len(perplexities) == 4


def test_block_output_is_the_residual_stream_after_the_block(batch):
    model = random_model("llama")
    with torch.no_grad():
        hidden_states = model(**batch, output_hidden_states=True).hidden_states
    torch.testing.assert_close(ablate.block_output(model, batch, 0), hidden_states[1])


def test_a_planted_massive_activation_is_found_and_zeroing_it_hurts(batch):
    model = planted()
    found = ablate.largest_activations(model, batch, layer=0, k=1)
    assert found.dims == [7] and found.is_massive() and found.ratio > 1000
    _, perplexity = ablate.massive_ablation(model, batch, layer=0, k=1)
    # <bos> is the first token of every row and position 0 sees only itself: its activations are the same
    # on every input, so their mean is their value and mean-ablation is exactly a no-op.
    assert perplexity["mean-ablated"] == perplexity["original"] == evaluate.perplexity(model, batch)
    assert perplexity["zero-ablated"] != perplexity["original"]
    report = measure.measure(model, batch, stats=("first", "hidden"))
    assert ablate.appearance_layer(report) == 0


def test_bad_arguments_name_the_fix(batch):
    model = random_model("llama")
    with pytest.raises(SinklabError, match="out of range"):
        ablate.block_output(model, batch, 5)
    with pytest.raises(SinklabError, match="hidden"):
        ablate.appearance_layer(measure.measure(model, batch))
