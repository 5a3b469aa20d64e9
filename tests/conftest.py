"""Shared test setup: offline `ci` profile, repository paths, the optional pre-filled HF cache."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("SINKLAB_PROFILE", "ci")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
SHARED_HF_CACHE = Path(os.environ.get("SINKLAB_TEST_HF_CACHE", ROOT.parent / "shared" / "hf-cache"))


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def hf_cache(monkeypatch) -> Path:
    """The pre-filled Hugging Face cache (../shared/hf-cache), used offline like a lab machine's."""
    if not (SHARED_HF_CACHE / "models--raincandy-u--TinyStories-656K").is_dir():
        pytest.skip(f"no pre-filled Hugging Face cache at {SHARED_HF_CACHE} (set SINKLAB_TEST_HF_CACHE to one)")
    monkeypatch.setenv("HF_HUB_CACHE", str(SHARED_HF_CACHE))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(SHARED_HF_CACHE))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    return SHARED_HF_CACHE


def pytest_collection_modifyitems(items):
    """nbval's items (one per notebook cell) carry the `notebook` marker, so `-m "not notebook"` leaves them out."""
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.notebook)
