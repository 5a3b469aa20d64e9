"""What the setup cell of every chapter calls: `start(chapter, needs_gpu)`.

It seeds everything, turns on the offline chart renderer (the policy: `sinklab.viz.plots`), makes
`SinklabError` show as a short message instead of a traceback, prints one line about the environment,
tells the learner when a GPU runtime is needed and missing, and when a freshly installed package needs
a runtime restart.
"""

from __future__ import annotations

import importlib.metadata
import sys

from sinklab import __version__, env
from sinklab.errors import SinklabError
from sinklab.viz import plots, widgets

RESTART_SENSITIVE = ("torch", "transformers", "numpy", "altair")


def stale_imports() -> list[str]:
    """Packages already imported whose installed version changed since (restart needed)."""
    stale = []
    for name in RESTART_SENSITIVE:
        module = sys.modules.get(name)
        if module is None or not hasattr(module, "__version__"):
            continue
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        if installed.split("+")[0] != str(module.__version__).split("+")[0]:
            stale.append(f"{name} {module.__version__} → {installed}")
    return stale


def _show_sinklab_errors_as_messages() -> None:
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return

    def handler(shell, etype, value, tb, tb_offset=None):
        print(f"⚠️  {value}", file=sys.stderr)

    shell.set_custom_exc((SinklabError,), handler)


def start(chapter: int, needs_gpu: bool = False, seed: int = 0) -> env.Profile:
    """Prepare a chapter's kernel; returns the active profile."""
    stale = stale_imports()
    if stale:
        print(
            "🔁 Restart needed: " + ", ".join(stale) + " were upgraded while imported. "
            "Restart the runtime (Colab: Runtime → Restart session), then run this cell again."
        )
    elif env.frontend() == "colab":
        print("✅ No restart needed: no package the course uses changed while it was imported.")
    profile = env.profile()
    env.seed_everything(seed)
    plots.enable_rendering(interactive=widgets.wants_widget())
    _show_sinklab_errors_as_messages()
    import torch
    import transformers

    gpu = env.gpu_info()
    where = f"{gpu['name']} ({gpu['free_gib']:.1f} GiB free)" if gpu else "CPU"
    print(
        f"sinklab {__version__} · chapter {chapter} · profile '{profile.name}' ({profile.description}) · "
        f"{where} · torch {torch.__version__} · transformers {transformers.__version__}"
    )
    if needs_gpu and gpu is None:
        print(
            "ℹ️  This chapter is written for a GPU and none is visible. On Colab: Runtime → Change runtime "
            "type → T4 GPU, then rerun. Continuing with the reduced CPU version."
        )
    return profile
