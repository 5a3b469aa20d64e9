"""sinklab.analysis.sweep: the GPU profiles' sweep and checkpoint code paths on random-init models of every family."""

import pytest
import torch

from sinklab import env, metrics, prompts
from sinklab.analysis import published, sweep
from sinklab.errors import SinklabError
from sinklab.viz import plots, widgets

from random_models import FAMILIES, random_loader, random_model, tokenizer

NAMES = [f"random/{family}" for family in FAMILIES]


@pytest.fixture(scope="module")
def result():
    return sweep.run_sweep(NAMES, n_samples=4, seq_len=16, batch_size=3, load=random_loader)


@pytest.mark.slow
def test_the_sweep_measures_every_family_kind_and_eps(result):
    table = result.table
    assert len(table) == len(NAMES) * len(sweep.KINDS) * 2
    assert set(table["model"]) == set(NAMES) and set(table["kind"]) == set(sweep.KINDS)
    assert table["sink_rate"].between(0, 1).all()  # a fraction: the course's one unit
    assert (table["T"] == 16).all() and (table["prompts"] == 4).all()
    assert set(table.loc[table["kind"] == "natural", "first token"]) == {"<bos>"}
    assert "<bos>" not in set(table.loc[table["kind"] == "repeated, no BOS", "first token"])
    for (name, kind), importance in result.importance.items():
        assert importance.shape == (4, 2, 4), (name, kind)
    gpt2 = table[table["model"] == "random/gpt2"].iloc[0]
    assert gpt2["n_layers"] == 2 and gpt2["family"] == "gpt2" and gpt2["params_m"] > 0


def test_the_sweep_rate_equals_eager_output_attentions():
    """The chunked, LSE-based sweep gives Gu et al.'s metric exactly as eager attention weights do."""
    model, tok = random_model("llama", seed=3), tokenizer()
    batch = prompts.prompt_batch(tok, "natural", n=5, seq_len=16)
    report = sweep.measure_batches(model, batch, (0.05, 0.3), batch_size=2)
    model.set_attn_implementation("eager")
    with torch.no_grad():
        attn = torch.stack(model(**batch, output_attentions=True).attentions, dim=1)  # [B, L, H, T, T]
    expected = metrics.importance_score(attn, 0)
    torch.testing.assert_close(report.importance, expected, atol=1e-5, rtol=0)
    assert report.rate(0.05) == metrics.sink_rate(expected, 0.05)


def test_repeated_tokens_without_bos_give_every_position_the_same_hidden_state():
    """Gu et al.'s argument behind Table 1's 0.00: one token at every position gives every value vector the same
    value, so any attention pattern outputs that value: all positions stay identical in every layer of a RoPE
    model. A BOS in front, or GPT-2's learned positions, break the symmetry."""
    tok = tokenizer()

    def spread(family, bos):
        batch = prompts.prompt_batch(tok, "repeated", n=2, seq_len=12, bos=bos)
        with torch.no_grad():
            hidden = random_model(family)(**batch, output_hidden_states=True).hidden_states
        return max((h[:, 1:] - h[:, -1:]).abs().max().item() for h in hidden)

    assert spread("llama", bos=False) < 1e-5
    assert spread("gpt_neox", bos=False) < 1e-5
    assert spread("llama", bos=True) > 1e-3
    assert spread("gpt2", bos=False) > 1e-3


def test_a_model_that_cannot_load_is_skipped_with_its_reason(capsys):
    def load(name, **kwargs):
        if name == "gated/model":
            raise SinklabError("gated/model is a gated model. Fix: accept the licence.")
        return random_loader(name, **kwargs)

    result = sweep.run_sweep(["gated/model", "random/llama"], kinds=("natural",), n_samples=2, seq_len=8, load=load)
    assert list(result.skipped) == ["gated/model"] and "licence" in result.skipped["gated/model"]
    assert set(result.table["model"]) == {"random/llama"}
    assert "skipped gated/model" in capsys.readouterr().out


def test_bad_sweep_arguments_name_the_fix():
    with pytest.raises(SinklabError, match="Unknown prompt kinds"):
        sweep.run_sweep(["random/llama"], kinds=("poetry",), load=random_loader)
    with pytest.raises(SinklabError, match="no models"):
        sweep.run_sweep([], load=random_loader)


def test_sweep_names_on_ci_add_the_encoder_when_there_is_one_causal_lm(monkeypatch):
    monkeypatch.setattr(
        sweep.models,
        "is_local",
        lambda name: name in ("sinklab/tiny-sink-lm", "sentence-transformers/all-MiniLM-L6-v2"),
    )
    assert sweep.sweep_names(env.profile("ci")) == ["sinklab/tiny-sink-lm", "sentence-transformers/all-MiniLM-L6-v2"]
    assert sweep.sweep_names(env.profile("ci"), min_models=1) == ["sinklab/tiny-sink-lm"]


def test_sweep_names_on_gpu_profiles_are_their_sweep_smallest_first(monkeypatch):
    monkeypatch.setattr(env, "gpu_info", lambda: None)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    names = sweep.sweep_names(env.profile("a100"))
    assert names[0] == "gpt2" and names[-1] == "meta-llama/Llama-3.1-8B" and len(names) == 12


@pytest.mark.slow
def test_checkpoint_sweep_loads_each_revision_in_fp32():
    random_loader.calls.clear()
    table = sweep.checkpoint_sweep(
        "random/gpt_neox", steps=(0, 512, 1000), eps=(0.3,), n_samples=2, seq_len=8, load=random_loader
    )
    assert [kwargs["revision"] for _, kwargs in random_loader.calls] == ["step0", "step512", "step1000"]
    assert all(kwargs["dtype"] == torch.float32 for _, kwargs in random_loader.calls)
    assert list(table["step"]) == [0, 512, 1000]
    assert list(table["tokens seen"]) == [0, 512 * 2_097_152, 1000 * 2_097_152]
    plots.to_png(plots.checkpoint_chart(table, "checkpoints"))


def test_checkpoint_layers_give_a_row_per_step_and_layer():
    random_loader.calls.clear()
    table = sweep.checkpoint_layers("random/gpt_neox", steps=(0, 1000), n_samples=2, seq_len=8, load=random_loader)
    assert [kwargs["revision"] for _, kwargs in random_loader.calls] == ["step0", "step1000"]
    assert list(table["step"]) == [0, 0, 1000, 1000] and list(table["layer"]) == [0, 1, 0, 1]
    assert table["sink_rate"].between(0, 1).all() and (table["norm ratio entering"] > 0).all()


def test_length_sweep_puts_the_uniform_baseline_next_to_each_length():
    model, tok = random_model("llama", seed=3), tokenizer()
    table = sweep.length_sweep(model, tok, lengths=(4, 16), n_samples=2)
    assert list(table["T"]) == [4, 16]
    assert table["uniform α₀ = H_T/T"].tolist() == pytest.approx(
        [(1 + 1 / 2 + 1 / 3 + 1 / 4) / 4, metrics.uniform_first_token_importance(16).item()]
    )
    assert list(table["uniform head counts as a sink"]) == [True, False]
    assert table["sink_rate"].between(0, 1).all()


def test_checkpoint_plan_says_why_it_cannot_run(monkeypatch):
    assert "offline by design" in sweep.checkpoint_plan(env.profile("ci"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    reason = sweep.checkpoint_plan(env.profile("cpu"))
    assert isinstance(reason, str) and "HF_HUB_OFFLINE" in reason and "step0" in reason
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert sweep.checkpoint_plan(env.profile("t4")) == sweep.CHECKPOINTS["t4"]


@pytest.mark.slow
def test_sink_rate_chart_and_threshold_explorer_render(result):
    natural = result.table[result.table["kind"] == "natural"]
    for x in ("params", "layers"):
        assert plots.to_png(plots.sink_rate_chart(natural, published.sink_rate_points(), x=x)).startswith(b"\x89PNG")
    with pytest.raises(SinklabError, match="params"):
        plots.sink_rate_chart(natural, [], x="width")
    importance = {name: result.importance[(name, "natural")] for name in NAMES[:2]}
    rates = widgets.compute_sink_rates(importance, 0.3)
    assert rates == {name: metrics.sink_rate(values, 0.3) for name, values in importance.items()}
    plots.to_png(widgets.sink_rate_explorer(importance, 0.3, interactive=False))
    assert type(widgets.sink_rate_explorer(importance, 0.3, interactive=True)).__name__ == "VBox"


def test_published_rows_carry_their_setting():
    row = published.row("gu_gpt2xl_natural", 12.5, model="gpt2", eps=0.3, seq_len=64, prompts="8 natural")
    assert row["published"] == 0.77 and row["ε"] == "0.3" and row["T"] == "64" and "[P]" in row["source"]
    assert "UNVERIFIED" in published.PUBLISHED["barbero_llama31_8b"].setting
    frame = published.table(
        [row, published.row("sun_zero_ablation", 2.0, model="m", eps=None, seq_len=None, prompts="p")]
    )
    assert list(frame["published"]) == ["0.77", "∞"] and frame["T"].iloc[1] == "–"
    with pytest.raises(SinklabError, match="No published number"):
        published.row("nope", 1.0, model="m", eps=None, seq_len=None, prompts="p")


def test_first_mass_by_position_stays_under_altairs_row_limit_at_8k_tokens():
    mass = torch.rand(32, 8192)  # Llama-3.1-8B's 32 layers at the a100 profile's long context
    chart = plots.first_mass_by_position(mass, "8k")
    assert len(chart.data) < plots.MAX_ROWS
    bins = plots.position_bins(8192)
    assert bins[0] == (1, 2) and bins[-1][1] == 8192 and all(lo < hi for lo, hi in bins)
    plots.to_png(chart)
