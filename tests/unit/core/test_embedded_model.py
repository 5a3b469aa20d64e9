"""The teaching models shipped inside the package: standard HF folders, small, offline, with a real first-token sink.

The sink is re-measured here independently of `sinklab.measure`: eager attention with
``output_attentions=True``, Gu et al.'s protocol (natural text, T = 64, the first token's mean attention
over all queries, sink rate = fraction of (prompt, layer, head) above eps).
"""

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from sinklab import measure, models, prompts

PATH = models.embedded_model_path()
TWIN = models.embedded_model_path(models.TWIN_NAME)


def load(path):
    model = AutoModelForCausalLM.from_pretrained(path, attn_implementation="eager").eval()
    return model, AutoTokenizer.from_pretrained(path)


@pytest.fixture(scope="module")
def model_and_tokenizer():
    return load(PATH)


@pytest.fixture(scope="module")
def twin_and_tokenizer():
    return load(TWIN)


def eager_importance(model, input_ids: torch.Tensor) -> torch.Tensor:
    """[prompt, layer, head] mean attention on position 0 over all queries, from eager attention weights."""
    with torch.no_grad():
        attentions = model(input_ids=input_ids, output_attentions=True).attentions
    return torch.stack([a[:, :, :, 0].mean(-1) for a in attentions], dim=1)


def natural(tokenizer, bos: bool) -> torch.Tensor:
    return prompts.prompt_batch(tokenizer, "natural", n=16, seq_len=64, bos=bos)["input_ids"]


@pytest.mark.parametrize("path", [PATH, TWIN], ids=["tiny-sink-lm", "tiny-sink-lm-nobos"])
def test_it_is_a_small_standard_model_folder_with_an_honest_card(path):
    names = {p.name for p in path.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "README.md",
        "sink_table.json",
        "recipe.json",
    } <= names
    assert sum(p.stat().st_size for p in path.iterdir()) < 10 * 2**20
    card = (path / "README.md").read_text()
    command = "embedded" if path == PATH else "twin"
    assert "not a real language model" in card and f"python -m sinklab.train {command}" in card
    assert "Table 2 in miniature" in card  # the 2 x 2 table of the pair


def test_auto_classes_load_it_offline_and_the_tokenizer_prepends_bos(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    ids = tokenizer("Hi")["input_ids"]
    assert ids == [tokenizer.bos_token_id, *b"Hi"]
    assert model.config.model_type == "llama"


def test_its_sink_needs_the_bos_and_so_does_its_loss(model_and_tokenizer):
    """Met by the shipped model: the sink is on <bos> (<= 5 % at eps = 0.3 without it) and removing <bos> costs loss."""
    from sinklab import train

    model, tokenizer = model_and_tokenizer
    with_bos = (eager_importance(model, natural(tokenizer, True)) > 0.3).float().mean().item()
    without = (eager_importance(model, natural(tokenizer, False)) > 0.3).float().mean().item()
    assert without <= 0.05 and with_bos > 4 * without, (with_bos, without)
    text = train.heldout_batch(train.EmbeddedRecipe(), tokenizer, n=16)
    assert train.heldout_loss(model, text, None) > train.heldout_loss(model, text, tokenizer.bos_token_id) + 0.2


NOT_YET = (
    "issue 17's LLM-like targets are not met by the shipped model (measured at T = 64: 17.2 % at eps = 0.3, "
    "0.3 % at 0.8, largest first-token norm ratio 2.2, sink-head value ratio 0.92; see its model card)"
)


@pytest.mark.xfail(strict=True, reason=NOT_YET)
def test_it_has_an_llm_like_bos_sink_on_natural_text_that_needs_the_bos(model_and_tokenizer):
    """Issue 17's thresholds: >= 50 % at eps = 0.3 and >= 15 % at eps = 0.8 with <bos>; <= 5 % at 0.3 without."""
    model, tokenizer = model_and_tokenizer
    with_bos = eager_importance(model, natural(tokenizer, True))
    without_bos = eager_importance(model, natural(tokenizer, False))
    rate = {eps: (with_bos > eps).float().mean().item() for eps in (0.3, 0.8)}
    assert rate[0.3] >= 0.5, f"expected >= 50 % sink heads at eps = 0.3 with <bos>, measured {rate[0.3]:.3f}"
    assert rate[0.8] >= 0.15, f"expected >= 15 % sink heads at eps = 0.8 with <bos>, measured {rate[0.8]:.3f}"
    without = (without_bos > 0.3).float().mean().item()
    assert without <= 0.05, f"expected <= 5 % sink heads without <bos>, measured {without:.3f}"


def test_the_cards_report_the_sink_that_eager_attention_measures(model_and_tokenizer, twin_and_tokenizer):
    for model, tokenizer in (model_and_tokenizer, twin_and_tokenizer):
        table = json.loads((models.embedded_model_path(_name(model)) / "sink_table.json").read_text())
        for setting, bos in (("with_bos", True), ("without_bos", False)):
            importance = eager_importance(model, natural(tokenizer, bos))
            shipped = torch.tensor(table[setting]["head_mass"])
            torch.testing.assert_close(importance.mean(0), shipped, atol=1e-4, rtol=0)
            for eps in ("0.3", "0.8"):
                rate = (importance > float(eps)).float().mean().item()
                assert rate == pytest.approx(table[setting]["sink_rate"][eps])


@pytest.mark.xfail(strict=True, reason=NOT_YET)
def test_the_sink_mechanism_massive_bos_activation_and_small_bos_values(model_and_tokenizer):
    """The BOS residual stream is massive by layer 2 (norm ratio >= 10) and sink heads read a small BOS value."""
    model, tokenizer = model_and_tokenizer
    report = measure.measure(model, natural(tokenizer, True), ("first", "hidden"))
    ratio = (report.hidden_norm_first / report.hidden_norm_rest).mean(0)  # [L + 1]: embeddings, then each block
    assert ratio[1:4].max() >= 10, ratio
    sink = report.importance.mean(0) > 0.3
    value_ratio = (report.value_norm_first / report.value_norm_rest).mean(0)
    assert value_ratio[sink].median() < 0.5, value_ratio[sink]


def _name(model) -> str:
    return models.TWIN_NAME if "nobos" in str(model.name_or_path) else models.EMBEDDED_NAME
