"""Keep the notebooks that nbval executes: `make test` runs each solution notebook once, and the site reuses it.

nbval runs a notebook cell by cell and keeps each cell's outputs on its test item (`test_outputs`); it
never writes them anywhere. This plugin (a conftest.py at the repository root, so it sees the
notebooks in solutions/ as well as tests/) puts those outputs back into a copy of the notebook and
writes it, when the notebook's last cell is done, to artifacts/executed/<path of the notebook>
(e.g. artifacts/executed/solutions/02_first_look.ipynb). Its metadata records the profile, when it
ran, how long it took, and which cells failed or were skipped. `make site` builds from these copies
(utils/sinklab/site.py); nothing runs a notebook a second time. tests/test_site.py, which builds and
opens the site, is moved after the notebooks so that one `pytest tests solutions` does it all in order.
"""

import copy
import datetime
import os
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
EXECUTED = ROOT / "artifacts" / "executed"

_runs: dict = {}  # nbval's notebook collector -> {"outputs": {cell number: outputs}, "failed": [...], ...}


def pytest_collection_modifyitems(items):
    """Run the site's tests last: they read the notebooks this run executes."""
    last = [item for item in items if item.path.name == "test_site.py"]
    if last:
        items[:] = [item for item in items if item.path.name != "test_site.py"] + last


def _is_nbval_cell(item) -> bool:
    return hasattr(item, "test_outputs") and hasattr(item, "cell_num") and hasattr(item.parent, "nb")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if call.when != "call" or not _is_nbval_cell(item):
        return
    report = outcome.get_result()
    run = _runs.setdefault(item.parent, {"outputs": {}, "failed": [], "skipped": [], "start": time.monotonic()})
    if item.test_outputs is not None:
        run["outputs"][item.cell_num] = item.test_outputs
    if report.failed:
        run["failed"].append(item.cell_num)
    elif report.skipped:
        run["skipped"].append(item.cell_num)


def pytest_runtest_teardown(item, nextitem):
    if not _is_nbval_cell(item) or (nextitem is not None and nextitem.parent is item.parent):
        return
    run = _runs.pop(item.parent, None)
    if run is not None:
        write_executed(item.parent, run)


def write_executed(collector, run: dict) -> Path:
    """The collector's notebook with the outputs nbval recorded, written under artifacts/executed/."""
    import nbformat

    notebook = copy.deepcopy(collector.nb)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    for number, cell in enumerate(code_cells):
        cell.outputs = run["outputs"].get(number, [])
        cell.execution_count = number + 1 if number in run["outputs"] else None
        for output in cell.outputs:
            if output.output_type == "execute_result":
                output.execution_count = cell.execution_count
    notebook.metadata["sinklab_executed"] = {
        "by": "pytest --nbval-lax (make test)",
        "profile": os.environ.get("SINKLAB_PROFILE", "(unset: chosen from the hardware)"),
        "interactive": os.environ.get("SINKLAB_INTERACTIVE", "(unset)"),
        "finished_utc": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "seconds": round(time.monotonic() - run["start"], 1),
        "code_cells": len(code_cells),
        "failed_cells": run["failed"],
        "skipped_cells": run["skipped"],
    }
    path = Path(str(collector.path)).resolve()
    try:
        relative = path.relative_to(ROOT)
    except ValueError:  # a notebook outside the checkout (a test's tmp_path): keep it by name
        relative = Path("elsewhere") / path.name
    out = EXECUTED / relative
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, out)
    return out
