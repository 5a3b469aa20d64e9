"""sinklab.bench: one configuration runs in-process, and the table reports ratios to plain SDPA."""

import pytest
import torch

from sinklab import bench


def test_run_one_and_ratios(monkeypatch):
    monkeypatch.setitem(
        bench.SHAPES,
        "tiny",
        dict(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            intermediate_size=64,
            vocab_size=97,
        ),
    )
    results = [bench.run_one(mode, 16, "tiny", "cpu", "float32", repeats=1) for mode in bench.MODES]
    assert [r["mode"] for r in results] == list(bench.MODES)
    assert all(r["seconds"] > 0 and r["peak_mib"] > 0 for r in results)
    bench._add_ratios(results)
    assert results[0]["time_ratio"] == results[0]["memory_ratio"] == 1.0
    table = bench.format_results(results, "cpu")
    assert "tier1" in table and "peak RSS" in table


@pytest.mark.slow
def test_bench_model_is_the_same_in_every_process():
    a = bench.build_model("toy", "sdpa", "cpu", torch.float32)
    b = bench.build_model("toy", "eager", "cpu", torch.float32)
    assert a.config.num_key_value_heads == 2 and a.config.hidden_size == 512
    assert torch.equal(a.layers[0].self_attn.q_proj.weight, b.layers[0].self_attn.q_proj.weight)


def test_padded_batch_and_sliding_window_model(monkeypatch):
    monkeypatch.setitem(
        bench.SHAPES,
        "tiny-swa",
        dict(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            intermediate_size=64,
            vocab_size=97,
            sliding_window=8,
        ),
    )
    monkeypatch.setitem(bench.FAMILIES, "tiny-swa", "mistral")
    batch = bench.inputs(8, 32, 97, "cpu")
    assert batch["attention_mask"].sum(1).tolist() == [32 - 2 * i for i in range(8)]  # left padding, row i: 2i pads
    results = [bench.run_one(mode, 32, "tiny-swa", "cpu", "float32", repeats=1, batch=8) for mode in ("sdpa", "tier1")]
    assert all(r["batch"] == 8 and r["seconds"] > 0 for r in results)
    assert bench.build_model("tiny-swa", "sdpa", "cpu", torch.float32).config.sliding_window == 8
