"""sinklab.analysis.real_sizes: the chapter-3 experiments run on random-init models built from real shapes (scaled down here)."""

import pytest
import torch

from sinklab import env, models
from sinklab.analysis import real_sizes as realsize

SMALL = dict(
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    intermediate_size=64,
    vocab_size=300,
)


@pytest.mark.slow
def test_every_experiment_runs_and_is_timed_on_each_family():
    rows = realsize.run(["llama-3.2-1b", "gemma-2-2b", "qwen2.5-7b"], env.profile("ci"), "cpu", torch.float32, **SMALL)
    assert [(r["model"], r["experiment"]) for r in rows] == [
        (name, experiment)
        for name in ("llama-3.2-1b", "gemma-2-2b", "qwen2.5-7b")
        for experiment in realsize.EXPERIMENTS
    ]
    assert all(r["seconds"] > 0 and r["peak GiB"] is None for r in rows)
    assert {r["T"] for r in rows if r["experiment"] == "streaming"} == {256}


HUB_NAMES = {
    "gpt2-medium": "gpt2-medium",
    "pythia-1.4b": "EleutherAI/pythia-1.4b",
    "qwen2.5-1.5b": "Qwen/Qwen2.5-1.5B",
    "llama-3.2-1b": "meta-llama/Llama-3.2-1B",
    "gemma-2-2b": "google/gemma-2-2b",
    "llama-3.1-8b": "meta-llama/Llama-3.1-8B",
    "mistral-7b": "mistralai/Mistral-7B-v0.1",
    "qwen2.5-7b": "Qwen/Qwen2.5-7B",
}


def test_shapes_have_the_real_models_parameter_counts():
    """Built on the meta device (no memory), each shape has its model's parameter count (sinklab.models.REGISTRY)."""
    assert set(HUB_NAMES) == set(realsize.SHAPES)
    for name, hub_name in HUB_NAMES.items():
        model, _ = realsize.build(name, "meta", torch.bfloat16)
        params_m = sum(p.numel() for p in model.parameters()) / 1e6
        assert abs(params_m - models.REGISTRY[hub_name].params_m) < 1, (name, params_m)
    gemma = realsize.build("gemma-2-2b", "meta", torch.bfloat16)[0].config
    assert gemma.attn_logit_softcapping == 50.0 and gemma.sliding_window == 4096 and gemma.head_dim == 256
    assert set(realsize.PROFILE_MODELS["t4"]) | set(realsize.PROFILE_MODELS["a100"]) <= set(realsize.SHAPES)
