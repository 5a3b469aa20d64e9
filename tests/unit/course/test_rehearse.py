"""sinklab.course.rehearse: stand-in facts, the hub-layout cache, tokenizer conventions, gated ids, bad input."""

import json
import subprocess
import sys

import pytest

from sinklab import env, models
from sinklab.course import rehearse
from sinklab.course import spec as coursespec
from sinklab.errors import SinklabError

CONFIG_KEYS = {
    "gpt2": ("n_embd", "n_layer", "n_head"),
    "gpt_neox": ("hidden_size", "rotary_pct"),
    "llama": ("num_key_value_heads",),
    "qwen2": ("num_key_value_heads",),
    "mistral": ("sliding_window",),
    "gemma2": ("attn_logit_softcapping", "final_logit_softcapping", "sliding_window", "head_dim"),
}


def test_every_model_a_profile_can_load_has_stand_in_facts_that_agree_with_the_registry():
    facts = rehearse.facts()
    for name in ("cpu", "t4", "a100"):
        for model in rehearse.needed(env.PROFILES[name]):
            if model == "raincandy-u/TinyStories-656K":  # genuine weights, linked from a pre-filled cache
                continue
            fact, spec = facts["models"][model], models.REGISTRY[model]
            assert fact["family"] == spec.family and bool(fact.get("gated")) == spec.gated, model
            assert fact["config"][fact["depth_key"]] == spec.n_layers, model
            assert all(k in fact["config"] for k in CONFIG_KEYS[spec.family]), model
            assert fact["tokenizer"] in facts["tokenizers"], model


def test_needed_covers_roles_checkpoints_and_direct_loads():
    t4 = rehearse.needed(env.PROFILES["t4"])
    assert "step1000" in t4["EleutherAI/pythia-410m"]  # chapter 3's checkpoint sweep
    assert "meta-llama/Llama-3.2-1B" in t4 and "gpt2" in t4  # chapter 4's direct loads
    assert "meta-llama/Llama-3.1-8B" not in t4  # above the t4 size cap
    assert models.EMBEDDED_NAME not in t4  # shipped: needs no cache


@pytest.fixture(scope="module")
def stand_in_cache(tmp_path_factory):
    """A one-layer Pythia-70M stand-in (main and step64) and a one-layer Llama-3.2-1B (gated)."""
    cache = tmp_path_factory.mktemp("stand-ins")
    for name, revision in (
        ("EleutherAI/pythia-70m", "main"),
        ("EleutherAI/pythia-70m", "step64"),
        ("meta-llama/Llama-3.2-1B", "main"),
    ):
        assert rehearse.build_one(cache, name, revision, layers=1)
    return cache


def _in_subprocess(cache, code: str, token: bool = False) -> dict:
    """Run `code` (it prints one JSON line) against the stand-in cache, offline, like a learner's kernel."""
    run = rehearse.rehearsal_env("cpu", cache, token=token, scale=None)
    done = subprocess.run([sys.executable, "-c", code], env=run, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_the_cache_has_the_hub_layout_and_a_rebuild_is_skipped(stand_in_cache):
    repo = rehearse.repo_dir(stand_in_cache, "EleutherAI/pythia-70m")
    commit = (repo / "refs" / "step64").read_text()
    snapshot = repo / "snapshots" / commit
    assert (snapshot / "config.json").is_symlink()
    assert (snapshot / "model.safetensors").resolve().parent == repo / "blobs"
    assert (repo / "refs" / "main").read_text() != commit  # each revision is its own snapshot
    assert not rehearse.build_one(stand_in_cache, "EleutherAI/pythia-70m", "step64", layers=1)  # reused


@pytest.mark.slow
def test_an_interrupted_build_is_redone(stand_in_cache):
    repo = rehearse.repo_dir(stand_in_cache, "EleutherAI/pythia-70m")
    (repo / "refs" / "main").unlink()  # killed before its ref was written
    assert rehearse.build_one(stand_in_cache, "EleutherAI/pythia-70m", "main", layers=1)
    assert (repo / "refs" / "main").is_file()


@pytest.mark.slow
def test_a_stand_in_loads_offline_with_the_real_conventions(stand_in_cache):
    got = _in_subprocess(
        stand_in_cache,
        """
import json
from sinklab import models
m, t = models.load_model("EleutherAI/pythia-70m", revision="step64")
ids = t("Hello world")["input_ids"]
batch = t(["a", "a longer prompt"], padding=True)
print(json.dumps({"stand_in": models.is_stand_in(m), "by_name": models.is_stand_in("EleutherAI/pythia-70m"),
                  "layers": m.config.num_hidden_layers, "hidden": m.config.hidden_size, "vocab": len(t),
                  "bos_first": ids[0] == t.bos_token_id, "pad": t.pad_token, "side": t.padding_side,
                  "eos": t.eos_token_id, "lengths": [sum(r) for r in batch["attention_mask"]]}))
""",
    )
    assert got["stand_in"] and got["by_name"] and got["layers"] == 1 and got["hidden"] == 512
    assert got["vocab"] == 50277 and got["eos"] == 0 and not got["bos_first"]  # Pythia adds no BOS
    assert got["pad"] == "<|endoftext|>" and got["side"] == "right"  # no pad token of its own: EOS pads
    assert got["lengths"][0] < got["lengths"][1]


@pytest.mark.slow
def test_a_gated_stand_in_needs_a_token_and_load_first_falls_back(stand_in_cache):
    code = """
import json, warnings
from sinklab import models
try:
    models.load_model("meta-llama/Llama-3.2-1B"); gated = False
except Exception as e:
    gated = bool(getattr(e, "gated", False))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    m, t = models.load_first(["meta-llama/Llama-3.2-1B", "EleutherAI/pythia-70m"])
print(json.dumps({"gated": gated, "used": m.name_or_path, "warned": any("gated" in str(w.message) for w in caught),
                  "bos_first": t("Hi")["input_ids"][0] == t.bos_token_id}))
"""
    without = _in_subprocess(stand_in_cache, code)
    assert without == {"gated": True, "used": "EleutherAI/pythia-70m", "warned": True, "bos_first": False}
    with_token = _in_subprocess(stand_in_cache, code, token=True)
    assert with_token["used"] == "meta-llama/Llama-3.2-1B" and with_token["bos_first"]  # Llama 3 prepends BOS


def test_bad_input_gets_a_clear_message(tmp_path):
    with pytest.raises(SinklabError, match="Unknown profile 'gpu'"):
        rehearse.rehearse("gpu")
    with pytest.raises(SinklabError, match="needs no stand-ins"):
        rehearse.build_cache(env.PROFILES["ci"], root=tmp_path)
    with pytest.raises(SinklabError, match="--layers must be at least 1"):
        rehearse.build_cache(env.PROFILES["cpu"], layers=0, root=tmp_path)
    with pytest.raises(SinklabError, match="No chapter"):
        rehearse.chapter_notebooks([42])
    with pytest.raises(SinklabError, match="No stand-in facts"):
        rehearse.build_one(tmp_path, "someone/unknown", "main", layers=1)
    with pytest.raises(SinklabError, match="No solution notebooks"):
        rehearse.chapter_notebooks(None, folder=tmp_path)


def test_the_cli_lists_rehearse_and_reports_a_bad_profile(capsys):
    from sinklab import cli

    assert cli.main(["rehearse", "--profile", "nope", "--build-only"]) == 2
    assert "Unknown profile 'nope'" in capsys.readouterr().err


def test_course_text_names_each_profiles_model_through_the_registry(root):
    meta = coursespec.load_course(root)
    for chapter in meta["chapters"]:
        for line in chapter.models:
            profile = line.split(":", 1)[0]
            if profile in ("cpu", "t4", "a100") and "causal LM" not in line:
                assert "{causal_lm@" + profile + "}" in line, f"ch. {chapter.number}: {line!r} names a model by hand"
    assert (
        coursespec.render_models("cpu: {causal_lm@cpu}")
        == f"cpu: `{models.pick('causal_lm', env.PROFILES['cpu']).name}`"
    )
    with pytest.raises(SinklabError, match="has no role 'nope'"):
        coursespec.render_models("{nope@cpu}")


def test_gemma_is_never_loaded_in_fp16():
    assert "float16" in models.REGISTRY["google/gemma-2-2b"].unsafe_dtypes
