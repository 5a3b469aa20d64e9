"""Chapter 4 end to end on the `cpu` profile of an offline lab machine: TinyStories-656K from a pre-filled cache."""

import os

import nbclient
import nbformat
import pytest

pytestmark = pytest.mark.notebook  # executes a notebook: `make test-fast` leaves it out


def test_the_solution_notebook_runs_on_the_cpu_profile_from_an_offline_cache(hf_cache, root):
    nb = nbformat.read(root / "solutions" / "04_p0_circuit.ipynb", as_version=4)
    kernel_env = {
        **os.environ,
        "SINKLAB_PROFILE": "cpu",
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_CACHE": str(hf_cache),
        "SINKLAB_INTERACTIVE": "0",
    }
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(root)}}
    )
    client.execute(env=kernel_env)  # raises on the first failing cell, assertions included
    printed = "".join(o.get("text", "") for cell in nb.cells for o in cell.get("outputs", []))
    assert "profile 'cpu'" in printed
    assert "raincandy-u/TinyStories-656K: 2 layers × 8 heads" in printed  # the offline fallback of the cpu profile
    assert "TinyStories-656K, first token moved: the sink vanishes — you predicted:" in printed
    assert "reference: vanishes (measured on the cpu profile with the offline cache)" in printed
    assert "all-MiniLM-L6-v2, position embeddings swapped: the sink moves with it" in printed
