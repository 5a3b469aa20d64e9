"""Profiles, device/dtype choice, seeding, frontend detection and the doctor."""

import json

import pytest
import torch

from sinklab import env, models
from sinklab.course import doctor
from sinklab.course import notebook_setup as setup
from sinklab.errors import SinklabError


def test_profile_from_environment_variable(monkeypatch):
    monkeypatch.setenv("SINKLAB_PROFILE", "t4")
    assert env.profile().name == "t4"


def test_auto_profile_without_gpu_is_cpu(monkeypatch):
    monkeypatch.delenv("SINKLAB_PROFILE", raising=False)
    monkeypatch.setattr(env, "hub_reachable", lambda: True)
    monkeypatch.setattr(env, "gpu_info", lambda: None)
    assert env.profile().name == "cpu"


def test_auto_profile_picks_by_gpu_memory(monkeypatch):
    monkeypatch.delenv("SINKLAB_PROFILE", raising=False)
    monkeypatch.setattr(env, "hub_reachable", lambda: True)
    monkeypatch.setattr(env, "gpu_info", lambda: {"name": "T4", "total_gib": 15.0, "free_gib": 14.0, "bf16": False})
    assert env.profile().name == "t4"
    assert env.dtype() == torch.float16  # no bf16 on a T4
    monkeypatch.setattr(env, "gpu_info", lambda: {"name": "A100", "total_gib": 80.0, "free_gib": 79.0, "bf16": True})
    assert env.profile().name == "a100"
    assert env.dtype() == torch.bfloat16


def test_profiles_grow_with_hardware():
    sizes = [env.PROFILES[n].max_params_m for n in env.PROFILE_NAMES]
    assert sizes == sorted(sizes)
    assert env.PROFILES["ci"].offline and not env.PROFILES["cpu"].offline


def test_seed_everything_repeats_random_numbers():
    env.seed_everything(3)
    a = torch.rand(3)
    env.seed_everything(3)
    assert torch.equal(a, torch.rand(3))


def test_frontend_detection(monkeypatch):
    monkeypatch.setenv("VSCODE_PID", "1")
    assert env.frontend() == "vscode"
    monkeypatch.delenv("VSCODE_PID")
    monkeypatch.delenv("VSCODE_CWD", raising=False)
    monkeypatch.setenv("CI", "true")
    assert env.frontend() == "ci"


def test_start_warns_when_a_gpu_chapter_has_no_gpu(capsys, monkeypatch):
    monkeypatch.setattr(env, "gpu_info", lambda: None)
    profile = setup.start(chapter=3, needs_gpu=True)
    out = capsys.readouterr().out
    assert profile.name == "ci"
    assert "profile 'ci'" in out and "written for a GPU" in out


def test_stale_imports_detects_an_upgrade_while_imported(monkeypatch):
    import transformers

    assert setup.stale_imports() == []
    monkeypatch.setattr(transformers, "__version__", "0.0.1")
    assert setup.stale_imports() == [
        f"transformers 0.0.1 → {__import__('importlib.metadata').metadata.version('transformers')}"
    ]


def test_doctor_reports_profile_models_and_embedded_sink():
    rows = dict(doctor.report())
    assert rows["profile"].startswith("ci")
    assert "sinklab/tiny-sink-lm [shipped (offline)]" in rows["role causal_lm"]
    assert "renders offline" in rows["charts"]
    for name in models.SHIPPED_TEACHING:  # the rates each asset's sink_table.json holds
        table = json.loads((models.embedded_model_path(name) / "sink_table.json").read_text())
        assert f"with <bos> {100 * table['with_bos']['sink_rate']['0.3']:.0f}%" in rows[name], rows[name]
    assert "Nothing to fix." in doctor.format_report(list(rows.items()))


def _fake_network(monkeypatch, works: bool) -> list:
    """Replace the socket connection hub_reachable makes; returns the list of (host, port) it was asked for."""
    import socket

    asked = []

    def connect(address, timeout):
        asked.append(address)
        if not works:
            raise OSError("no route to host")
        return socket.socket()

    monkeypatch.setattr(socket, "create_connection", connect)
    monkeypatch.setattr(env, "_HUB_REACHABLE", {})
    monkeypatch.setattr(env, "_NOTICE_SHOWN", [])
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return asked


def test_unset_profile_without_a_reachable_hub_falls_back_to_ci_with_one_notice(monkeypatch, capsys):
    monkeypatch.delenv("SINKLAB_PROFILE", raising=False)
    monkeypatch.setattr(env, "gpu_info", lambda: None)
    asked = _fake_network(monkeypatch, works=False)
    assert env.profile().name == "ci" and env.profile().name == "ci"
    assert asked == [("huggingface.co", 443)], "asked once, then cached for the kernel"
    notice = capsys.readouterr().err
    assert notice.count("cannot be reached") == 1 and "SINKLAB_PROFILE=cpu" in notice


def test_unset_profile_with_a_reachable_hub_follows_the_hardware(monkeypatch):
    monkeypatch.delenv("SINKLAB_PROFILE", raising=False)
    monkeypatch.setattr(env, "gpu_info", lambda: None)
    _fake_network(monkeypatch, works=True)
    assert env.profile().name == "cpu"


def test_explicit_profile_is_obeyed_without_asking_the_network(monkeypatch):
    asked = _fake_network(monkeypatch, works=False)
    monkeypatch.setenv("SINKLAB_PROFILE", "t4")
    assert env.profile().name == "t4" and asked == []


def test_hf_hub_offline_means_unreachable_without_a_connection(monkeypatch):
    asked = _fake_network(monkeypatch, works=True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert not env.hub_reachable() and asked == []


def test_rehearsal_scale_shrinks_budgets_and_says_so(monkeypatch):
    monkeypatch.setenv(env.SCALE_VARIABLE, "0.25")
    p = env.profile("cpu")
    assert p.n_samples == 8 and p.train_steps == 150 and "rehearsal scale 0.25" in p.description
    assert p.seq_len == env.PROFILES["cpu"].seq_len and p.roles == env.PROFILES["cpu"].roles
    monkeypatch.setenv(env.SCALE_VARIABLE, "2")
    with pytest.raises(SinklabError, match="must be a number in"):
        env.profile("cpu")
