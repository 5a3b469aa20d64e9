"""sinklab.train: schedule, sink probe, training loop, checkpoints, benchmark."""

import pytest
import torch

from sinklab import data, train
from sinklab.errors import SinklabError


@pytest.fixture(scope="module")
def tokenizer():
    return data.byte_tokenizer(model_max_length=32)


@pytest.fixture
def tiny_config(tokenizer):
    return train.model_config(tokenizer, hidden_size=32, n_layers=2, n_heads=2, max_len=32)


def test_learning_rate_warms_up_then_decays_to_the_floor():
    for schedule in ("cosine", "linear"):
        config = train.TrainConfig(steps=100, warmup_steps=10, min_lr_ratio=0.1, schedule=schedule)
        factors = [train.learning_rate_factor(s, config) for s in range(100)]
        assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
        assert all(a >= b for a, b in zip(factors[9:], factors[10:]))
        assert train.learning_rate_factor(100, config) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="cosine"):
        train.learning_rate_factor(50, train.TrainConfig(schedule="step"))


def test_optimizer_decays_matrices_but_not_norms(tiny_config):
    groups = train.make_optimizer(train.build_model(tiny_config), train.TrainConfig(weight_decay=0.3)).param_groups
    assert groups[0]["weight_decay"] == 0.3 and all(p.ndim == 2 for p in groups[0]["params"])
    assert groups[1]["weight_decay"] == 0.0 and all(p.ndim == 1 for p in groups[1]["params"])


def test_build_model_is_deterministic(tiny_config):
    a, b = train.build_model(tiny_config, seed=1), train.build_model(tiny_config, seed=1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_first_token_report_matches_the_attention_column(tiny_config):
    model = train.build_model(tiny_config)
    ids = torch.randint(0, 256, (3, 12), generator=torch.Generator().manual_seed(0))
    report = train.first_token_report(model, ids, eps=(0.3,))
    model.set_attn_implementation("eager")
    attn = torch.stack(model(ids, output_attentions=True).attentions, 1)
    model.set_attn_implementation("sdpa")
    assert report["importance"].shape == (3, 2, 2)
    torch.testing.assert_close(report["importance"], attn[..., 0].mean(-1))
    assert report["sink_rate"][0.3] == (attn[..., 0].mean(-1) > 0.3).float().mean().item()
    assert model.config._attn_implementation == "sdpa"


def test_first_token_report_ignores_padding(tiny_config, tokenizer):
    model = train.build_model(tiny_config)
    batch = tokenizer(["a short one", "a somewhat longer prompt"], padding=True, return_tensors="pt")
    padded = train.first_token_report(model, batch["input_ids"], batch["attention_mask"])["importance"][0]
    alone = tokenizer("a short one", return_tensors="pt")["input_ids"]
    torch.testing.assert_close(padded, train.first_token_report(model, alone)["importance"][0])


@pytest.mark.slow
def test_training_lowers_the_loss_and_records_probes(tiny_config, tokenizer, tmp_path):
    from transformers import AutoModelForCausalLM

    model = train.build_model(tiny_config)
    windows = data.pack(
        data.token_stream(["the cat sat on the mat. " * 20], tokenizer), 32, "bos", tokenizer.bos_token_id
    )
    probe = tokenizer(["the cat sat on the mat."], return_tensors="pt")
    config = train.TrainConfig(
        steps=30, lr=1e-2, warmup_steps=5, probe_every=10, checkpoint_every=15, out_dir=str(tmp_path), progress=False
    )
    history = train.train(model, lambda: windows[:4], config, (train.sink_probe(probe["input_ids"]),), tokenizer)
    assert [h["step"] for h in history] == list(range(1, 31))
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    probed = [h for h in history if "first_token_mass" in h]
    assert [h["step"] for h in probed] == [10, 20, 30]
    assert {"max_head_mass", "head_mass", "sink_rate@0.3", "sink_rate@0.8"} <= probed[0].keys()
    assert len(probed[0]["head_mass"]) == 2 and len(probed[0]["head_mass"][0]) == 2
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "checkpoint-30")
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), reloaded.parameters()))
    assert (tmp_path / "checkpoint-15" / "tokenizer.json").is_file()
    assert (tmp_path / "checkpoint-15" / "training_history.json").is_file()


def test_benchmark_reports_both_loops(capsys):
    result = train.benchmark(steps=2, batch_size=2, seq_len=16, warmup=1)
    assert result["minimal_tokens_per_s"] > 0 and result["trainer_tokens_per_s"] > 0
    assert "ratio" in capsys.readouterr().out


def test_command_line_parses_the_embedded_recipe_and_the_backcopy_benchmark():
    import argparse

    from sinklab.analysis import experiments

    parser = argparse.ArgumentParser()
    train.add_arguments(parser)
    args = parser.parse_args(["embedded", "--out", "somewhere", "--steps", "7"])
    assert (args.what, args.out, args.steps) == ("embedded", "somewhere", 7)
    assert parser.parse_args(["bench"]).out is None  # 'embedded' / 'twin' then write the shipped asset
    assert parser.parse_args(["twin", "--steps", "3"]).what == "twin"
    with pytest.raises(SystemExit):  # moved to `python -m sinklab.analysis.experiments backcopy`
        parser.parse_args(["backcopy"])
    args = experiments.command_line().parse_args(["backcopy", "--variants", "softmax", "sigmoid", "--threads", "2"])
    assert (args.what, args.variants, args.arch, args.threads) == ("backcopy", ["softmax", "sigmoid"], "gpt2", 2)


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
@pytest.mark.parametrize("variant", ["softmax", "sigmoid"])
def test_intra_document_masking_equals_running_each_document_alone(tokenizer, arch, variant):
    config = train.model_config(tokenizer, hidden_size=32, n_layers=2, n_heads=2, max_len=32, arch=arch)
    model = train.build_model(config, seed=3, variant=variant).eval()
    documents = ["one doc", "the second", "third!"]
    row = data.token_stream(documents, tokenizer)[None, :24]  # three documents, the last one cut
    positions = data.document_position_ids(row, tokenizer.eos_token_id)
    with torch.no_grad():
        packed = model(input_ids=row, position_ids=positions).logits[0]
        ends = (row[0] == tokenizer.eos_token_id).nonzero().flatten().tolist()
        for start, end in zip([0] + [e + 1 for e in ends], ends + [row.shape[1] - 1]):
            alone = model(input_ids=row[:, start : end + 1]).logits[0]
            torch.testing.assert_close(packed[start : end + 1], alone, atol=1e-4, rtol=1e-4)
        causal = model(input_ids=row).logits[0]
    assert not torch.allclose(
        causal[ends[0] + 1 :], packed[ends[0] + 1 :], atol=1e-3
    )  # the mask really changed something


@pytest.mark.slow
def test_training_accepts_dict_batches_and_learned_positions(tokenizer):
    config = train.model_config(
        tokenizer, hidden_size=32, n_layers=1, n_heads=2, max_len=32, arch="gpt2", attention_dropout=0.1
    )
    model = train.build_model(config)
    assert type(model).__name__ == "GPT2LMHeadModel" and config.attn_pdrop == 0.1
    windows = data.pack(data.token_stream(["a b c d e f. " * 30], tokenizer), 32, "none")
    batch = {"input_ids": windows[:4], "position_ids": data.document_position_ids(windows[:4], tokenizer.eos_token_id)}
    history = train.train(
        model, lambda: batch, train.TrainConfig(steps=20, lr=1e-2, warmup_steps=2, probe_every=0, progress=False)
    )
    assert history[-1]["loss"] < history[0]["loss"] and history[-1]["tokens"] == 20 * 4 * 32
    with pytest.raises(SinklabError, match="arch"):
        train.model_config(tokenizer, arch="mamba")


def test_the_twin_recipe_has_no_fixed_bos_and_the_same_budget(tokenizer):
    fixed = train.EmbeddedRecipe(steps=1, batch_size=4)
    twin = train.EmbeddedRecipe(steps=1, batch_size=4, packing="none")
    fixed_batch = train.embedded_batches(fixed, tokenizer)[0]()
    twin_batch = train.embedded_batches(twin, tokenizer)[0]()
    assert fixed_batch.shape == twin_batch.shape
    assert (fixed_batch[:, 0] == tokenizer.bos_token_id).all()
    assert (twin_batch[:, 0] != tokenizer.bos_token_id).any()  # position 0 is wherever the cut falls
    assert (twin_batch[:, 1:] == tokenizer.bos_token_id).any()  # <bos> opens documents, wherever they start
    with pytest.raises(SinklabError, match="packing"):
        train.EmbeddedRecipe(packing="eos")


def test_heldout_loss_scores_the_same_targets_with_and_without_bos(tiny_config, tokenizer):
    model = train.build_model(tiny_config)
    text = torch.randint(0, 256, (2, 15))
    with_bos = train.heldout_loss(model, text, tokenizer.bos_token_id)
    without = train.heldout_loss(model, text, None)
    assert with_bos > 0 and without > 0 and with_bos != without
    train_docs, heldout = train.embedded_corpus(train.EmbeddedRecipe(corpus_bytes=50_000))
    assert heldout and not set(heldout) & set(train_docs)


def test_head_dropout_drops_whole_heads_only_in_training(tiny_config):
    model = train.build_model(tiny_config).train()
    ids = torch.randint(0, 256, (4, 12))
    plain = model(input_ids=ids).logits
    handles = train.drop_heads(model, 0.5)
    torch.manual_seed(1)
    assert not torch.allclose(model(input_ids=ids).logits, plain)
    model.eval()
    torch.testing.assert_close(model(input_ids=ids).logits, plain)
    for handle in handles:
        handle.remove()
