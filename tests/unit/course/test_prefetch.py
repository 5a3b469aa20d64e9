"""`sinklab prefetch`: which models a track needs on a profile, and how they are downloaded (no network:
snapshot_download is replaced, except for one real offline run against the pre-filled cache)."""

import dataclasses
from pathlib import Path

import pytest

from sinklab import cli, env, models
from sinklab.course import prefetch
from sinklab.course import spec as coursespec
from sinklab.errors import SinklabError

CPU_CAUSAL_LM = ["gpt2", "raincandy-u/TinyStories-656K"]


@pytest.fixture
def meta(root):
    return coursespec.load_course(root)


def _chapters_using(meta, name, profile, track):
    """Chapters of `track` with a role that may pick `name` on `profile`."""
    return [
        c.number
        for c in meta["chapters"]
        if c.status == "available" and c.minutes[track] > 0 and any(name in profile.roles[role] for role in c.roles)
    ]


def test_plan_lists_every_model_the_roles_may_pick_with_the_chapters_that_need_them(meta):
    cpu = env.profile("cpu")
    needed = prefetch.plan(meta, "workshop", cpu)
    roles = {role for c in meta["chapters"] if c.minutes["workshop"] > 0 for role in c.roles}
    assert sorted(needed) == sorted({name for role in roles for name in cpu.roles[role]})
    assert set(CPU_CAUSAL_LM) <= set(needed)
    assert all(chapters == _chapters_using(meta, name, cpu, "workshop") for name, chapters in needed.items())
    assert all(1 not in chapters for chapters in needed.values()), "chapter 1 builds its model in code"


def test_plan_respects_the_profile_size_cap_and_ci_needs_only_shipped_models(meta):
    t4 = prefetch.plan(meta, "lab", env.profile("t4"))
    assert "meta-llama/Llama-3.2-1B" in t4 and all(models.REGISTRY[n].params_m <= 2700 for n in t4)
    assert sorted(prefetch.plan(meta, "lab", env.profile("ci"))) == sorted(env.profile("ci").roles["sweep"])


def test_a_chapter_with_no_minutes_in_a_track_is_not_prefetched_for_it(meta):
    meta["chapters"] = [
        dataclasses.replace(c, minutes={**c.minutes, "workshop": 0}) if c.number == 2 else c for c in meta["chapters"]
    ]
    needed = prefetch.plan(meta, "workshop", env.profile("cpu"))
    assert all(2 not in chapters for chapters in needed.values())
    lab = prefetch.plan(meta, "lab", env.profile("cpu"))
    assert all(2 in lab[name] for name in CPU_CAUSAL_LM)


def test_an_unknown_role_names_the_profiles_roles(meta):
    meta["chapters"] = [dataclasses.replace(meta["chapters"][0], roles=["causal"])]
    with pytest.raises(SinklabError, match="Unknown role 'causal'.*causal_lm"):
        prefetch.plan(meta, "lab", env.profile("cpu"))


@pytest.fixture
def fake_hub(monkeypatch, tmp_path):
    """snapshot_download that records its calls and 'downloads' safetensors unless the repo is in `pickles`."""
    import huggingface_hub

    calls, pickles = [], set()

    def snapshot_download(repo_id, allow_patterns):
        calls.append((repo_id, tuple(allow_patterns)))
        folder = tmp_path / repo_id.replace("/", "--")
        folder.mkdir(parents=True, exist_ok=True)
        weights = "pytorch_model.bin" if repo_id in pickles else "model.safetensors"
        if any(p.endswith(weights.rsplit(".", 1)[1]) for p in allow_patterns):
            (folder / weights).write_bytes(b"")
        return str(folder)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setattr(models, "is_local", lambda name: False)
    return calls, pickles


def test_prefetch_downloads_each_model_once_with_only_the_files_from_pretrained_reads(fake_hub, meta, capsys):
    calls, _ = fake_hub
    assert cli.main(["prefetch", "--track", "workshop", "--profile", "cpu"]) == 0
    assert sorted(repo for repo, _ in calls) == sorted(prefetch.plan(meta, "workshop", env.profile("cpu")))
    assert all(patterns == tuple(prefetch.FILES + prefetch.SAFETENSORS) for _, patterns in calls)
    assert "HF_HUB_OFFLINE=1 SINKLAB_PROFILE=cpu" in capsys.readouterr().out


def test_a_repository_without_safetensors_gets_its_pytorch_weights(fake_hub):
    calls, pickles = fake_hub
    pickles.add("gpt2")
    folder = prefetch.download("gpt2")
    assert [patterns for _, patterns in calls] == [
        tuple(prefetch.FILES + prefetch.SAFETENSORS),
        tuple(prefetch.FILES + prefetch.PYTORCH_BIN),
    ]
    assert (folder / "pytorch_model.bin").is_file()


def test_dry_run_lists_models_and_downloads_nothing(fake_hub, capsys):
    calls, _ = fake_hub
    assert cli.main(["prefetch", "--track", "lab", "--profile", "t4", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert calls == [] and "Dry run: nothing downloaded." in out
    assert "meta-llama/Llama-3.2-1B" in out and "gated: needs an accepted licence" in out


def test_a_gated_model_fails_with_the_fix_and_the_others_still_download(fake_hub, meta, monkeypatch, capsys):
    import huggingface_hub

    calls, _ = fake_hub
    real = huggingface_hub.snapshot_download

    def gated(repo_id, allow_patterns):
        if repo_id == "meta-llama/Llama-3.2-1B":
            raise OSError("You are trying to access a gated repo. Make sure to have access to it.")
        return real(repo_id, allow_patterns)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", gated)
    assert cli.main(["prefetch", "--track", "workshop", "--profile", "t4"]) == 1
    out = capsys.readouterr().out
    assert "meta-llama/Llama-3.2-1B is a gated model" in out and "hf auth login" in out
    n_models = len(prefetch.plan(meta, "workshop", env.profile("t4")))
    assert f"1 of {n_models} models failed: meta-llama/Llama-3.2-1B" in out
    assert len(calls) == n_models - 1


def test_prefetch_reads_the_offline_pre_filled_cache(hf_cache):
    """Real snapshot_download, offline: a model already in HF_HUB_CACHE resolves to its snapshot there."""
    folder = prefetch.download("raincandy-u/TinyStories-656K")
    assert Path(folder).resolve().is_relative_to(hf_cache.resolve()) and (Path(folder) / "config.json").is_file()
    with pytest.raises(SinklabError, match="not on this machine and the Hugging Face hub cannot be reached"):
        prefetch.download("gpt2")
