"""The setup cell every notebook starts with, run as Colab would run it (simulated, no network)."""

import dataclasses
import importlib.util
import subprocess
import sys
import types

import pytest

from sinklab import env
from sinklab.course import cells, readme
from sinklab.course import spec as coursespec


@pytest.fixture
def setup_source(root):
    meta = coursespec.load_course(root)
    return cells.setup_cell(meta, meta["chapters"][0])


def _pretend_sinklab_missing(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "sinklab" else real_find_spec(name, *a)
    )


def test_on_colab_it_installs_sinklab_from_the_repository(setup_source, monkeypatch, capsys):
    _pretend_sinklab_missing(monkeypatch)
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, check: calls.append(cmd))
    namespace = {}
    exec(setup_source, namespace)
    assert calls == [
        [sys.executable, "-m", "pip", "install", "-q", "sinklab @ git+https://github.com/sinklab/sinklab@main"]
    ]
    assert namespace["profile"].name == "ci"
    assert "profile 'ci'" in capsys.readouterr().out


def test_outside_colab_a_missing_install_says_what_to_run(setup_source, monkeypatch):
    _pretend_sinklab_missing(monkeypatch)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    with pytest.raises(ModuleNotFoundError, match="pip install -e ."):
        exec(setup_source, {})


def test_after_an_upgrade_it_tells_the_learner_to_restart(setup_source, monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch, "__version__", "1.0.0")
    exec(setup_source, {})
    assert "Restart needed: torch 1.0.0" in capsys.readouterr().out


def _on_colab_without_sinklab(monkeypatch):
    _pretend_sinklab_missing(monkeypatch)
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(subprocess, "run", lambda cmd, check: None)


def test_on_colab_it_says_no_restart_is_needed_after_a_clean_install(setup_source, monkeypatch, capsys):
    _on_colab_without_sinklab(monkeypatch)
    exec(setup_source, {})
    out = capsys.readouterr().out
    assert "No restart needed" in out and "Restart needed" not in out.replace("No restart needed", "")


@pytest.fixture
def gpu_chapter_setup(root):
    meta = coursespec.load_course(root)
    chapter = dataclasses.replace(meta["chapters"][0], hardware="gpu")
    return cells.setup_cell(meta, chapter)


def test_a_gpu_chapter_on_a_cpu_runtime_says_how_to_get_a_gpu(gpu_chapter_setup, monkeypatch, capsys):
    _on_colab_without_sinklab(monkeypatch)
    monkeypatch.setattr(env, "gpu_info", lambda: None)
    exec(gpu_chapter_setup, {})
    assert (
        "written for a GPU and none is visible. On Colab: Runtime → Change runtime type → T4 GPU"
        in capsys.readouterr().out
    )


def test_a_gpu_chapter_on_a_gpu_runtime_names_the_gpu(gpu_chapter_setup, monkeypatch, capsys):
    _on_colab_without_sinklab(monkeypatch)
    monkeypatch.setattr(
        env, "gpu_info", lambda: {"name": "Tesla T4", "total_gib": 15.0, "free_gib": 14.6, "bf16": False}
    )
    exec(gpu_chapter_setup, {})
    out = capsys.readouterr().out
    assert "Tesla T4 (14.6 GiB free)" in out and "none is visible" not in out


def test_a_cpu_chapter_does_not_ask_for_a_gpu(setup_source, monkeypatch, capsys):
    monkeypatch.setattr(env, "gpu_info", lambda: None)
    exec(setup_source, {})
    assert "none is visible" not in capsys.readouterr().out


def test_a_failed_install_says_what_to_do(setup_source, monkeypatch):
    _pretend_sinklab_missing(monkeypatch)
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))

    def failing_pip(cmd, check):
        raise subprocess.CalledProcessError(1, cmd)

    monkeypatch.setattr(subprocess, "run", failing_pip)
    with pytest.raises(RuntimeError, match="Fix: check that the runtime has internet.*`repository:` in course/course"):
        exec(setup_source, {})


def test_the_repository_setting_drives_the_install_line_and_the_badges(root):
    meta = {**coursespec.load_course(root), "repository": "someone/fork", "branch": "dev"}
    chapter = meta["chapters"][0]
    assert "git+https://github.com/someone/fork@dev" in cells.setup_cell(meta, chapter)
    assert "colab.research.google.com/github/someone/fork/blob/dev/" in cells.badges(meta, chapter)
    assert "github/someone/fork/blob/dev/" in readme.chapter_table(meta)
