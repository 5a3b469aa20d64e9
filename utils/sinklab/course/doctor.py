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
    if name in (models.EMBEDDED_NAME, models.MINILM_NAME):
        return "shipped (offline)" if models.is_local(name) else "missing"
    return "in local HF cache" if models.is_local(name) else "download on first use"


def embedded_sink_summary() -> str:
    """Load the embedded model offline and measure its first-token sink on a few prompts."""
    from sinklab import measure

    model, tokenizer = models.load_model(models.EMBEDDED_NAME, device="cpu")
    prompts = [
        "The cat sat on the mat because it was tired of walking around the garden all day.",
        "def add(a, b):\n    \"\"\"Return the sum of two numbers.\"\"\"\n    return a + b\n",
    ]
    batch = tokenizer(prompts, return_tensors="pt", padding=True)
    report = measure.measure(model, batch, eps=(0.3, 0.8))
    rates = ", ".join(f"ε={e}: {100 * r:.1f}%" for e, r in report.sink_rate.items())
    return f"loads offline; sink rate {rates} of (prompt, layer, head)"


def report() -> list[tuple[str, str]]:
    """(item, finding) rows; findings that need action start with 'FIX:'."""
    rows = [("frontend", env.frontend()), ("python", platform.python_version())]
    rows += [(p, _version(p)) for p in PACKAGES]
    gpu = env.gpu_info()
    rows.append(("gpu", f"{gpu['name']}, {gpu['free_gib']:.1f}/{gpu['total_gib']:.1f} GiB free" if gpu
                 else "none (CPU only) — fine for chapters 0–2, 4–6; chapter 3 runs a reduced version"))
    try:
        profile = env.profile()
    except Exception as e:  # an invalid SINKLAB_PROFILE is reported, not raised
        return rows + [("profile", f"FIX: {e}")]
    chosen = "from SINKLAB_PROFILE" if os.environ.get("SINKLAB_PROFILE") else "chosen from your hardware"
    rows.append(("profile", f"{profile.name} ({chosen}): {profile.description}"))
    for role, names in profile.roles.items():
        rows.append((f"role {role}", "; ".join(f"{n} [{model_availability(n)}]" for n in names)))
    rows.append(("hf cache", f"HF_HUB_CACHE={os.environ.get('HF_HUB_CACHE', '(default)')}, "
                             f"HF_HUB_OFFLINE={os.environ.get('HF_HUB_OFFLINE', '0')}"))
    try:
        from sinklab.viz import plots

        plots.to_png(_tiny_chart())
        rows.append(("charts", "Altair renders offline (PNG via vl-convert)"))
    except Exception as e:
        rows.append(("charts", f"FIX: charts cannot render ({e}); `pip install -U vl-convert-python altair`"))
    rows.append(("widgets", f"ipywidgets {_version('ipywidgets')}; explorers fall back to static charts "
                            "where no widget frontend is present"))
    try:
        rows.append(("embedded model", embedded_sink_summary()))
    except Exception as e:
        rows.append(("embedded model", f"FIX: {e}"))
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
