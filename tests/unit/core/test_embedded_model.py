"""The teaching model shipped inside the package: a standard HF folder, small, offline, with a real BOS sink."""

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from sinklab import measure, models, prompts

PATH = models.embedded_model_path()


@pytest.fixture(scope="module")
def model_and_tokenizer():
    return AutoModelForCausalLM.from_pretrained(PATH).eval(), AutoTokenizer.from_pretrained(PATH)


def test_it_is_a_small_standard_model_folder_with_an_honest_card():
    names = {p.name for p in PATH.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "README.md"} <= names
    assert sum(p.stat().st_size for p in PATH.iterdir()) < 20 * 2**20
    card = (PATH / "README.md").read_text()
    assert "not a real language model" in card and "python -m sinklab.train embedded" in card


def test_auto_classes_load_it_offline_and_the_tokenizer_prepends_bos(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    ids = tokenizer("Hi")["input_ids"]
    assert ids == [tokenizer.bos_token_id, *b"Hi"]
    assert model.config.model_type == "llama"


def test_it_has_a_bos_sink_on_natural_text_that_needs_the_bos(model_and_tokenizer):
    """Gu et al.'s setting (64-token natural prompts, eps = 0.3); then the same prompts with <bos> cut off."""
    model, tokenizer = model_and_tokenizer
    batch = prompts.prompt_batch(tokenizer, "natural", n=16, seq_len=64)
    assert (batch["input_ids"][:, 0] == tokenizer.bos_token_id).all()
    with_bos = measure.measure(model, batch, eps=(0.3,)).sink_rate[0.3]
    without_bos = measure.measure(model, batch["input_ids"][:, 1:], eps=(0.3,)).sink_rate[0.3]
    assert with_bos >= 0.1, f"expected >= 10% sink heads with <bos>, measured {with_bos:.3f}"
    assert without_bos < with_bos / 2, (with_bos, without_bos)


def test_the_card_reports_the_sink_it_measures(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    shipped = json.loads((PATH / "sink_table.json").read_text())["with_bos"]["head_mass"]
    batch = tokenizer(prompts.NATURAL, padding=True, return_tensors="pt")
    measured = measure.measure(model, batch).importance.mean(0)
    torch.testing.assert_close(measured, torch.tensor(shipped), atol=1e-4, rtol=0)
