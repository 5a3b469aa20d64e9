"""Chapter 3 runs end to end on the `cpu` profile of an offline lab machine: a pre-filled Hugging Face cache
(HF_HUB_CACHE + HF_HUB_OFFLINE=1) holding TinyStories-656K, the fallback `sinklab.models.load` picks there."""

from pathlib import Path

import nbclient
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.notebook  # executes a notebook: `make test-fast` leaves it out


def test_the_solution_notebook_runs_on_the_cpu_profile_from_an_offline_cache(hf_cache, monkeypatch):
    monkeypatch.setenv("SINKLAB_PROFILE", "cpu")
    monkeypatch.setenv("SINKLAB_INTERACTIVE", "0")  # the kernel inherits the environment
    nb = nbformat.read(ROOT / "solutions" / "03_measuring_sinks.ipynb", as_version=4)
    nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "profile 'cpu': raincandy-u/TinyStories-656K" in printed
    assert (
        "sweeps 2 model(s) on this machine: raincandy-u/TinyStories-656K, sentence-transformers/all-MiniLM-L6-v2"
        in printed
    )
    assert "Skipped on this machine: the hub is offline (HF_HUB_OFFLINE=1)" in printed  # no Pythia checkpoints cached
    count = int(printed.split(" measured numbers on the 'cpu' profile")[0].rsplit("\n", 1)[-1])
    assert count >= 8, f"the measured-vs-published table has {count} rows"
