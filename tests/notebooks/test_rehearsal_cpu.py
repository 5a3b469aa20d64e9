"""CI's `cpu` rehearsal: every chapter's solution notebook, offline, on stand-ins, at a reduced, printed scale.

`make rehearse PROFILE=cpu` runs the full scale (real depth, the profile's samples and steps). Here the stand-ins
have at most 2 layers and samples, steps and corpora are a quarter of the cpu profile's, so every cpu-profile
code path runs in minutes; the stand-in cache is built once into ~/.cache/sinklab/stand-ins and reused.
"""

import time

import pytest

from conftest import SHARED_HF_CACHE
from sinklab.course import rehearse

LAYERS, SCALE = 2, 0.25


@pytest.mark.rehearsal  # tens of minutes on 2 cores: `make rehearse-ci`, not `make test`
@pytest.mark.slow
@pytest.mark.notebook
def test_every_chapter_runs_on_the_cpu_profile_with_stand_ins():
    print(f"cpu rehearsal at CI scale: stand-ins of ≤ {LAYERS} layers, samples/steps/corpora × {SCALE}")
    start = time.perf_counter()
    records = rehearse.rehearse("cpu", layers=LAYERS, scale=SCALE, genuine=[SHARED_HF_CACHE], timeout=1200)
    print(f"cpu rehearsal: {time.perf_counter() - start:.0f} s in all")
    failed = [rehearse.format_line(r) for r in records if not r["ok"]]
    assert not failed, "chapters failing on the cpu profile:\n" + "\n".join(failed)
