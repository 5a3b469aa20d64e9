"""sinklab.analysis.experiments: the chapter-6 recipes run end to end at toy size, and their metrics mean what they say."""

import pytest
import torch

from sinklab import data, train, variants
from sinklab.analysis import experiments, text_runs
from sinklab.errors import SinklabError

TOY_BACKCOPY = dict(
    hidden_size=32, seq_len=32, batch_size=8, steps=6, warmup_steps=2, probe_every=3, corpus_bytes=20_000, probe_size=6
)
TOY_TEXT = dict(
    hidden_size=32,
    n_layers=2,
    n_heads=2,
    seq_len=64,
    batch_size=4,
    steps=6,
    warmup_steps=2,
    probe_every=3,
    corpus_bytes=40_000,
    eval_windows=4,
)


def test_split_first_token_mass_averages_each_kind_of_query_separately():
    first_mass = torch.zeros(2, 1, 2, 10)  # [B, L, H, T]
    first_mass[..., 0, :] = torch.arange(10.0)  # head 0: mass = position
    first_mass[..., 1, :] = 0.5
    is_trigger = torch.zeros(2, 10, dtype=torch.bool)
    is_trigger[0, [3, 8]] = True
    is_trigger[1, 9] = True
    split = experiments.split_first_token_mass(first_mass, is_trigger, skip=5)
    assert split["trigger"].tolist() == [[8.5, 0.5]]  # positions 8 and 9; position 3 is before `skip`
    assert split["other"][0, 0].item() == pytest.approx((5 + 6 + 7 + 9 + 5 + 6 + 7 + 8) / 8)


def test_a_backcopy_run_records_the_probe_and_summarises_it():
    run = experiments.run_backcopy(experiments.BackcopyRecipe(**TOY_BACKCOPY), progress=False)
    probed = [h for h in run["history"] if "other_mass" in h]
    assert [h["step"] for h in probed] == [3, 6]
    assert 0 <= probed[-1]["trigger_mass"] <= 1 and 0 <= probed[-1]["copy_accuracy"] <= 1
    assert len(probed[-1]["pattern"]) == 24 and len(probed[-1]["head_other_mass"]) == 1
    summary = experiments.backcopy_summary(run)
    assert summary["variant"] == "softmax" and summary["steps"] == 6 and summary["bos_value_ratio"] > 0
    tokens, is_trigger = run["probe"]
    assert tokens.shape == is_trigger.shape == (6, 32)


def test_self_mass_reads_the_diagonal():
    run = experiments.run_backcopy(experiments.BackcopyRecipe(**TOY_BACKCOPY, arch="llama"), progress=False)
    tokens, is_trigger = run["probe"]
    patterns = variants.attention_patterns(run["model"], tokens)[:, 0, 0]
    queries = ~is_trigger & (torch.arange(32) >= 8)
    expected = patterns.diagonal(dim1=-2, dim2=-1)[queries].mean().item()
    assert experiments.self_mass(run["model"], tokens, is_trigger) == pytest.approx(expected)


def test_dormant_step_needs_both_conditions():
    history = [
        {"step": 1, "other_mass": 0.9, "trigger_mass": 0.9, "seconds": 1.0},
        {"step": 2, "other_mass": 0.4, "trigger_mass": 0.0, "seconds": 2.0},
        {"step": 3, "other_mass": 0.6, "trigger_mass": 0.05, "seconds": 3.0},
    ]
    assert experiments.dormant_step(history) == 3
    assert experiments.dormant_step(history[:2]) is None


def test_backcopy_benchmark_prints_one_line_per_variant(capsys):
    results = experiments.backcopy_benchmark(["softmax", "relu"], experiments.BackcopyRecipe(**TOY_BACKCOPY))
    assert [r["variant"] for r in results] == ["softmax", "relu"]
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "first-token mass" in lines[1] and "relu" in lines[1]


def test_text_recipes_refuse_unknown_packing():
    with pytest.raises(SinklabError, match="packing"):
        text_runs.TextRecipe(packing="eos")
    with pytest.raises(SinklabError, match="masking"):
        text_runs.TextRecipe(masking="sliding")


@pytest.mark.slow
@pytest.mark.parametrize("packing, masking", [("bos", "causal"), ("none", "document"), ("bos", "document")])
def test_text_runs_train_and_evaluate_with_and_without_bos(packing, masking):
    recipe = text_runs.TextRecipe(**TOY_TEXT, packing=packing, masking=masking)
    run = text_runs.run_text(recipe, progress=False, hidden=True)
    last = run["history"][-1]
    assert {"first_token_mass", "sink_rate@0.3", "first_norm_ratio"} <= last.keys()
    assert len(last["first_norm_ratio"]) == 3  # embeddings + 2 blocks
    assert set(run["held_out"]) == ({"input_ids", "position_ids"} if masking == "document" else {"input_ids"})
    rows = text_runs.evaluate_text(run)
    assert [r["inference"] for r in rows] == ["<bos> + text", "text only"]
    assert all(r["loss"] > 0 and 0 <= r["sink_rate@0.3"] <= 1 for r in rows)


def test_held_out_loss_scores_the_targets_it_says():
    tokenizer = data.byte_tokenizer(model_max_length=16)
    model = train.build_model(train.model_config(tokenizer, 32, 1, 2, 16)).eval()
    ids = torch.randint(0, 256, (3, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = model(input_ids=ids, labels=ids).loss.item()
        logits = model(input_ids=ids).logits
    later = torch.nn.functional.cross_entropy(logits[:, 2:-1].flatten(0, 1), ids[:, 3:].flatten()).item()
    assert text_runs.held_out_loss(model, {"input_ids": ids}) == pytest.approx(full, rel=1e-5)
    assert text_runs.held_out_loss(model, {"input_ids": ids}, first_target=3) == pytest.approx(later, rel=1e-5)


def test_natural_prompts_have_the_asked_length_with_or_without_bos():
    tokenizer = data.byte_tokenizer()
    with_bos = text_runs.natural_prompts(tokenizer, 32)
    without = text_runs.natural_prompts(tokenizer, 32, with_bos=False)
    assert with_bos.shape == without.shape == (16, 32)
    assert (with_bos[:, 0] == tokenizer.bos_token_id).all() and torch.equal(with_bos[:, 1:], without[:, :-1])


@pytest.mark.slow
def test_finetune_trains_a_copy_and_probes_before_and_during():
    tokenizer = data.byte_tokenizer(model_max_length=64)
    model = train.build_model(train.model_config(tokenizer, 32, 2, 2, 64)).eval()
    before = [p.clone() for p in model.parameters()]
    stream = data.token_stream(experiments.corpus_documents("docstrings", 30_000), tokenizer)
    recipe = text_runs.FinetuneRecipe(
        steps=4, lr=1e-2, warmup_steps=1, batch_size=4, seq_len=64, eval_windows=4, probe_every=2, attention_dropout=0.2
    )
    run = text_runs.finetune(model, tokenizer, recipe, stream=stream, progress=False)
    assert [h["step"] for h in run["history"] if "ppl_bos" in h] == [0, 2, 4]
    assert all(h["ppl_varies"] > 1 and 0 < h["sink_bos"] <= 1 for h in run["history"] if "ppl_bos" in h)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters())), "the original is untouched"
    assert not all(torch.equal(a, b) for a, b in zip(before, run["model"].parameters()))
    assert all(m.attention_dropout == 0.0 for m in measure_modules(run["model"])), "dropout is off after fine-tuning"
    with pytest.raises(SinklabError, match="first_token"):
        text_runs.FinetuneRecipe(first_token="eos")


def measure_modules(model):
    from sinklab import measure

    return measure.attention_modules(model)


def test_attention_dropout_reaches_llama_and_gpt2_layers():
    tokenizer = data.byte_tokenizer(model_max_length=16)
    for arch in ("llama", "gpt2"):
        model = train.build_model(train.model_config(tokenizer, 32, 2, 2, 16, arch=arch))
        text_runs.set_attention_dropout(model, 0.3)
        for module in measure_modules(model):
            assert getattr(module, "attention_dropout", None) == 0.3 or module.attn_dropout.p == 0.3
        ids = torch.randint(0, 256, (2, 16))
        model.train()
        assert not torch.equal(model(ids).logits, model(ids).logits), "attention dropout is random in training"


def test_first_token_helpers():
    windows = torch.arange(12).view(2, 6)
    assert text_runs.with_first_token(windows, 99).tolist() == [[99, 0, 1, 2, 3, 4], [99, 6, 7, 8, 9, 10]]
    assert text_runs.with_first_token(windows, None) is windows
    out = text_runs.random_windows(torch.arange(100), 5, 8, torch.Generator().manual_seed(0))
    assert out.shape == (5, 8) and ((out[:, 1:] - out[:, :-1]) == 1).all()
    tokenizer = data.byte_tokenizer()
    text = experiments.backcopy_text(torch.tensor([tokenizer.bos_token_id, 97, 1, 97, 10]), tokenizer, (1,))
    assert text == "<bos>a⟨T⟩a⏎"
    assert experiments.token_labels(torch.tensor([tokenizer.bos_token_id, 32, 2]), tokenizer, (2,)) == [
        "<bos>",
        "␣",
        "⟨T⟩",
    ]


def test_natural_prompts_refuse_a_length_the_paragraphs_do_not_have():
    tokenizer = data.byte_tokenizer()
    shortest = text_runs.natural_prompt_tokens(tokenizer)
    assert text_runs.natural_prompts(tokenizer, shortest, with_bos=False).shape == (16, shortest)
    with pytest.raises(SinklabError, match="natural_prompt_tokens"):
        text_runs.natural_prompts(tokenizer, shortest + 2)


def test_text_runs_take_a_subword_tokenizer(hf_cache):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained("raincandy-u/TinyStories-656K")
    run = text_runs.run_text(text_runs.TextRecipe(**{**TOY_TEXT, "seq_len": 32}), tokenizer, progress=False)
    assert run["model"].config.vocab_size == len(tokenizer)
    assert all(r["loss"] > 0 for r in text_runs.evaluate_text(run))
