"""Recorded runs of chapter 6 (`sinklab.analysis.recorded_runs`): shipped, in schema, replayed exactly; the live path trains."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from sinklab import env
from sinklab.analysis import experiments, text_runs
from sinklab.analysis import recorded_runs as recorded
from sinklab.errors import SinklabError

CI = env.profile("ci")
TINY = experiments.BackcopyRecipe(
    steps=2, batch_size=4, warmup_steps=1, probe_every=1, probe_size=4, corpus_bytes=20_000, device="cpu"
)


@pytest.fixture(autouse=True)
def no_replay():
    """Every test starts and ends with replay off (the notebook's default is on; tests set what they need)."""
    previous = experiments.replay
    experiments.replay = None
    yield
    experiments.replay = previous


def test_every_ci_lab_run_is_recorded_in_schema():
    runs = recorded.lab_runs(CI)
    assert len(runs) == 13  # 1 softmax + 5 sink-free + RoPE; 1 base text + 1 context + 1 packing + 3 hyper
    for kind, recipe, options in runs:
        path = recorded.find(kind, recipe, options)
        assert path is not None, (
            f"{recorded.run_name(kind, recipe, options)} is not recorded: run "
            "`python -m sinklab.analysis.recorded_runs --profile ci`"
        )
        found = recorded.read(path)
        assert found["name"] == path.stem == recorded.run_name(kind, recipe, options)
        assert found["recipe"] == recorded.run_key(kind, recipe, options)["recipe"]
        assert recorded.recipe_of(found) == replace(recipe, device=None)
        meta = found["meta"]
        assert meta["command"] == "python -m sinklab.analysis.recorded_runs --profile ci" and meta["profile"] == "ci"
        assert meta["seed"] == recipe.seed and meta["wall_seconds"] > 0 and meta["versions"]["torch"]
        history = found["history"]
        assert [h["step"] for h in history] == list(range(1, recipe.steps + 1)), "one entry per step"
        probed = [h for h in history if ("other_mass" if kind == "backcopy" else "max_head_mass") in h]
        assert probed and probed[-1]["step"] == recipe.steps, "the last step is probed"
        if kind == "text" and options["hidden"]:
            assert "first_norm_ratio" in probed[-1]
    assert recorded.summary(CI)["recorded"] == len(runs)


@pytest.mark.slow
def test_a_replayed_run_is_the_recorded_model(capsys):
    """The shipped weights are the run's final weights: a fresh probe of them gives the recorded last probe."""
    recorded.use(True)
    run = experiments.run_backcopy(experiments.backcopy_recipe(CI))
    assert "recorded run: Bigram-Backcopy, softmax" in capsys.readouterr().out
    assert run["recorded"]["command"] == "python -m sinklab.analysis.recorded_runs --profile ci"
    tokens, is_trigger = run["probe"]
    fresh = experiments.backcopy_probe(tokens, is_trigger)(run["model"])
    last = [h for h in run["history"] if "other_mass" in h][-1]
    for key in ("other_mass", "trigger_mass", "copy_accuracy"):
        assert fresh[key] == pytest.approx(last[key], abs=1e-5), key


@pytest.mark.slow
def test_a_replayed_text_run_has_what_the_notebook_uses():
    recorded.use(True)
    tokenizer = recorded.text_tokenizer(CI)
    run = text_runs.run_text(text_runs.lab_text_recipe(CI), tokenizer, hidden=True)
    assert "recorded" in run and run["tokenizer"] is tokenizer
    rows = text_runs.evaluate_text(run)
    assert {r["inference"] for r in rows} == {"<bos> + text", "text only"}
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in rows)


def test_train_yourself_trains_live(capsys):
    recorded.use(False)
    run = experiments.run_backcopy(TINY, progress=False)
    assert "recorded" not in run and [h["step"] for h in run["history"]] == [1, 2]
    assert "other_mass" in run["history"][-1]
    recorded.use(True)  # a recipe nobody recorded trains live too, and says so
    run = experiments.run_backcopy(TINY, progress=False)
    assert "recorded" not in run and "no recorded run of this recipe" in capsys.readouterr().out


def test_save_then_load_round_trip(tmp_path):
    run = experiments.run_backcopy(TINY, progress=False)
    meta = {k: None for k in recorded.META_KEYS} | {
        "wall_seconds": 1.0,
        "command": "test",
        "date": "today",
        "machine": "test",
        "versions": {"torch": torch.__version__},
    }
    path = recorded.save(run, "backcopy", {}, tmp_path / "ci", meta)
    again = recorded.load("backcopy", TINY, {}, root=tmp_path, verbose=False)
    assert again["history"] == json.loads(json.dumps(run["history"]))
    for (name, a), (_, b) in zip(run["model"].state_dict().items(), again["model"].state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    assert recorded.load("backcopy", replace(TINY, seed=1), {}, root=tmp_path, verbose=False) is None
    path.write_text('{"schema": 1}')
    with pytest.raises(SinklabError, match="not in schema"):
        recorded.load("backcopy", TINY, {}, root=tmp_path)


def test_bad_kind_is_refused():
    with pytest.raises(SinklabError, match="kind must be one of"):
        recorded.run_key("finetune", TINY, {})
