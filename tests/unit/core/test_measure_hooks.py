"""The hooks path (eager attention modules) agrees with the AttentionInterface path, encoders included."""

import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from sinklab import models
from sinklab.measure import attention_sites, measure

TIER2 = ("first", "topk", "entropy", "received")


@pytest.fixture(scope="module")
def minilm():
    path = models.minilm_path()
    return AutoModel.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


def test_hooks_on_an_encoder_agree_with_the_interface(minilm):
    """Bidirectional attention: causality comes from the module (is_causal=False), not an assumption."""
    model, tokenizer = minilm
    texts = ["The cat sat on the warm windowsill.", "Bees dance.", "In 1905 Einstein published four papers."]
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    interface = measure(model, batch, TIER2)
    hooks = measure(model, batch, TIER2, method="hooks")
    assert (interface.method, hooks.method) == ("interface", "hooks")
    assert hooks.layer_types == interface.layer_types == ["bidirectional"] * 6
    assert hooks.modules == interface.modules
    for name in ("first_mass", "importance", "topk_mass", "entropy", "received"):
        difference = (getattr(hooks, name) - getattr(interface, name)).abs().max().item()
        assert difference <= 1e-5, f"{name}: {difference:.2e}"
    assert torch.equal(hooks.first_visible, interface.first_visible)
    assert hooks.sink_rate == pytest.approx(interface.sink_rate, abs=1e-6)


def test_sites_come_from_the_model_description(minilm):
    model, _ = minilm
    sites = attention_sites(model)
    assert [s.layer for s in sites] == list(range(6)) and {s.kind for s in sites} == {"self"}
    assert {s.source for s in sites} == {"_can_record_outputs"}
    assert sites[0].path == "encoder.layer.0.attention.self"
