"""The environment doctor (`sinklab doctor`, chapter 0): what you have, what the course will use, what to fix."""

from __future__ import annotations

import importlib.metadata
import os
import platform

from sinklab import env, models

PACKAGES = ("torch", "transformers", "altair", "vl-convert-python", "ipywidgets", "jupyterlab", "jupytext")


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def model_availability(name: str) -> str:
    """'shipped (offline)', 'in local HF cache', or 'download on first use'."""
    if name in (*models.SHIPPED_TEACHING, models.MINILM_NAME):
        return "shipped (offline)" if models.is_local(name) else "missing"
    return "in local HF cache" if models.is_local(name) else "download on first use"


def teaching_model_summary(name: str = models.EMBEDDED_NAME) -> str:
    """Load a shipped teaching model offline; report the sink rates its card measured (sink_table.json).

    Those were measured after training with Gu et al.'s protocol (natural text, T = 64; `sinklab.train.sink_table`);
    ``tests/test_embedded_model.py`` re-measures them independently.
    """
    import json

    models.load_model(name, device="cpu")  # raises a SinklabError with the fix when it does not load
    table = json.loads((models.embedded_model_path(name) / "sink_table.json").read_text())
    parts = []
    for setting, label in (("with_bos", "with <bos>"), ("without_bos", "without")):
        rates = table[setting]["sink_rate"]
        parts.append(f"{label} " + "/".join(f"{100 * rates[e]:.0f}%" for e in ("0.3", "0.8")))
    return "loads offline; sink rate at ε = 0.3/0.8 (natural text, T = 64): " + "; ".join(parts)


embedded_sink_summary = teaching_model_summary  # the name chapter 0 used before the twin existed


def report() -> list[tuple[str, str]]:
    """(item, finding) rows; findings that need action start with 'FIX:'."""
    rows = [("frontend", env.frontend()), ("python", platform.python_version())]
    rows += [(p, _version(p)) for p in PACKAGES]
    gpu = env.gpu_info()
    rows.append(
        (
            "gpu",
            f"{gpu['name']}, {gpu['free_gib']:.1f}/{gpu['total_gib']:.1f} GiB free"
            if gpu
            else "none (CPU only) — fine for chapters 0–2, 4–6; chapter 3 runs a reduced version",
        )
    )
    try:
        profile = env.profile()
    except Exception as e:  # an invalid SINKLAB_PROFILE is reported, not raised
        return rows + [("profile", f"FIX: {e}")]
    chosen = "from SINKLAB_PROFILE" if os.environ.get("SINKLAB_PROFILE") else "chosen from your hardware"
    rows.append(("profile", f"{profile.name} ({chosen}): {profile.description}"))
    for role, names in profile.roles.items():
        rows.append((f"role {role}", "; ".join(f"{n} [{model_availability(n)}]" for n in names)))
    rows.append(
        (
            "hf cache",
            f"HF_HUB_CACHE={os.environ.get('HF_HUB_CACHE', '(default)')}, "
            f"HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE', '0')}",
        )
    )
    try:
        from sinklab.viz import plots

        plots.to_png(_tiny_chart())
        rows.append(("charts", "Altair renders offline (PNG via vl-convert)"))
    except Exception as e:
        rows.append(("charts", f"FIX: charts cannot render ({e}); `pip install -U vl-convert-python altair`"))
    rows.append(
        (
            "widgets",
            f"ipywidgets {_version('ipywidgets')}; explorers fall back to static charts "
            "where no widget frontend is present",
        )
    )
    for name in models.SHIPPED_TEACHING:
        try:
            rows.append((name, teaching_model_summary(name)))
        except Exception as e:
            rows.append((name, f"FIX: {e}"))
    return rows


def _tiny_chart():
    import altair as alt
    import pandas as pd

    return alt.Chart(pd.DataFrame({"x": [0, 1], "y": [1, 0]})).mark_line().encode(x="x", y="y")


def format_report(rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    lines = [f"{k.ljust(width)}  {v}" for k, v in rows]
    fixes = [v for _, v in rows if v.startswith("FIX:")]
    lines.append("")
    lines.append("Nothing to fix." if not fixes else f"{len(fixes)} thing(s) to fix: see the FIX: lines above.")
    return "\n".join(lines)


def cli_main(args) -> int:
    print(format_report(report()))
    return 0
