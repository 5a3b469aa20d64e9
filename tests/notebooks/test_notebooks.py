"""Student notebooks run up to their first exercise and stop there with the intended error.

The solution notebooks are executed by nbval (`pytest solutions --nbval-lax`, see the Makefile).
"""

from pathlib import Path

import nbclient
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.notebook  # executes a notebook: `make test-fast` leaves it out
STUDENT_NOTEBOOKS = sorted((ROOT / "chapters").glob("*.ipynb"))


@pytest.mark.parametrize("path", STUDENT_NOTEBOOKS, ids=lambda p: p.stem)
def test_student_notebook_stops_at_its_first_exercise(path):
    nb = nbformat.read(path, as_version=4)
    first_stub = next(i for i, c in enumerate(nb.cells) if 'raise NotImplementedError("Exercise' in c.source)
    nb.cells = nb.cells[: first_stub + 1]
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    with pytest.raises(nbclient.exceptions.CellExecutionError) as info:
        client.execute()
    assert info.value.ename == "NotImplementedError"
    assert info.value.evalue.startswith("Exercise "), info.value.evalue
    failed = [i for i, c in enumerate(nb.cells) if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert failed == [first_stub], "only the first exercise cell may fail"
