"""docs/compatibility.md is current: every architecture transformers ships is exact or refused clearly, never wrong.

Rebuilds the whole matrix (`sinklab.measure.compatibility`, about 200 tiny random-init models: ~1 min of
CPU time) and compares each row's status and method with the committed table. A transformers upgrade that
adds an architecture, or a change that breaks one, fails here. Regenerate with
``python -m sinklab.measure.compatibility --out docs/compatibility.md``.
"""

import logging
import warnings
from pathlib import Path

import pytest

from sinklab.measure import compatibility

TABLE = Path(__file__).resolve().parents[3] / "docs" / "compatibility.md"
FIX = "Regenerate it: python -m sinklab.measure.compatibility --out docs/compatibility.md"


def committed() -> dict[str, tuple[str, str]]:
    rows = {}
    for line in TABLE.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) >= 3 and cells[1] in compatibility.STATUSES:
            rows[cells[0]] = (cells[1], cells[2])
    return rows


def test_the_table_lists_every_architecture_of_this_transformers():
    assert set(committed()) == set(compatibility.architectures()), FIX


@pytest.mark.slow
def test_the_table_is_current_and_nothing_is_wrong():
    warnings.filterwarnings("ignore")
    logging.getLogger("transformers").setLevel(logging.ERROR)
    rows = compatibility.run(progress=False)
    bad = [(r.model_type, r.status, r.detail) for r in rows if r.status in ("MISMATCH", "crash")]
    assert not bad, f"wrong numbers or raw exceptions: {bad}"
    table = committed()
    changed = [
        (r.model_type, table.get(r.model_type), (r.status, r.method))
        for r in rows
        if table.get(r.model_type) != (r.status, r.method)
    ]
    assert not changed, f"{changed}. {FIX}"
    assert sum(r.status == "exact" for r in rows) >= 100  # the families the course relies on among them


def test_a_wrong_number_is_reported_as_a_mismatch(monkeypatch):
    """The matrix can fail: a measurement off by 1e-3 is a MISMATCH, not exact."""
    from sinklab.measure import api

    real = api.measure

    def off(*args, **kwargs):
        report = real(*args, **kwargs)
        report.first_mass = report.first_mass + 1e-3
        return report

    monkeypatch.setattr(api, "measure", off)
    assert compatibility.check("llama").status == "MISMATCH"
    monkeypatch.setattr(api, "measure", real)
    assert compatibility.check("llama").status == "exact"
