"""The setup cell every notebook starts with, run as Colab would run it (simulated, no network)."""

import importlib.util
import subprocess
import sys
import types

import pytest

from sinklab import build


@pytest.fixture
def setup_source(root):
    meta = build.load_course(root)
    return build.setup_cell(meta, meta["chapters"][0])


def _pretend_sinklab_missing(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "sinklab" else real_find_spec(name, *a))


def test_on_colab_it_installs_sinklab_from_the_repository(setup_source, monkeypatch, capsys):
    _pretend_sinklab_missing(monkeypatch)
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, check: calls.append(cmd))
    namespace = {}
    exec(setup_source, namespace)
    assert calls == [[sys.executable, "-m", "pip", "install", "-q", "sinklab @ git+https://github.com/sinklab/sinklab@main"]]
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
