"""Published numbers that chapter 3 measures again, each with its setting and provenance.

Every value is copied from the course's reference notes (``shared/reference/paper-notes.md``), which
say where it was read. Provenance tags, as there:

- ``[P]``: read in a full-text copy of the paper;
- ``[S2]``: taken from third-party readings, the same number in at least two independent ones;
- ``[S]``: one third-party reading;
- ``UNVERIFIED`` is added where the notes could not check the number or its setting against the paper.

The full text of Barbero et al. (2025) was not available to the notes, so all its numbers are [S2] at best.

`row` and `table` build the chapter's measured-vs-published table: one row per measured number,
next to the published one, each with its ε, T and prompts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sinklab.errors import SinklabError


@dataclass(frozen=True)
class Published:
    """One published number and the setting it was measured in."""

    quantity: str  # what was measured, in the course's words
    model: str
    value: float  # sink rates as fractions in [0, 1]; math.inf for "diverges"; math.nan for a direction only
    setting: str  # epsilon, T and prompts (or the equivalent) as the source states them
    source: str  # paper and table or figure
    provenance: str  # [P], [S2], [S]; "UNVERIFIED" where the notes say so
    direction: str = ""  # the claim in words, for rows where the number alone says little
    params_b: float | None = None  # nominal size in billions of parameters (sink-rate points only)
    n_layers: int | None = None
    eps: float | None = None
    kind: str | None = None  # prompt kind of a sink-rate point: "natural", "random" or "repeated"


_GU = "Gu et al. (ICLR 2025), Table 1"
_GU_SETTING = (
    "ε = 0.3, T = 64, {kind}; each model's tokenizer defaults (Llama/Mistral start with <s>, GPT-2 with the first word)"
)
_BARBERO = "Barbero et al. (COLM 2025), Table 1"
_BARBERO_SETTING = "ε = 0.8, T = 64, 170 prompts (prompt count and T: single source, UNVERIFIED)"


def _gu(model: str, params_b: float, n_layers: int, kind: str, percent: float) -> Published:
    return Published(
        f"sink rate, {kind} tokens",
        model,
        percent / 100,
        _GU_SETTING.format(kind=kind),
        _GU,
        "[P]",
        params_b=params_b,
        n_layers=n_layers,
        eps=0.3,
        kind=kind,
    )


def _barbero(model: str, params_b: float, n_layers: int, percent: float) -> Published:
    return Published(
        "sink rate, natural tokens",
        model,
        percent / 100,
        _BARBERO_SETTING,
        _BARBERO,
        "[S2]",
        params_b=params_b,
        n_layers=n_layers,
        eps=0.8,
        kind="natural",
    )


PUBLISHED: dict[str, Published] = {
    # Sink rate, Gu et al. Table 1, typed in % as printed and stored as a fraction (the course's unit);
    # nominal sizes, layers from the model cards
    "gu_gpt2xl_natural": _gu("GPT2-XL", 1.5, 48, "natural", 77.00),
    "gu_gpt2xl_random": _gu("GPT2-XL", 1.5, 48, "random", 70.29),
    "gu_gpt2xl_repeated": _gu("GPT2-XL", 1.5, 48, "repeated", 62.28),
    "gu_mistral7b_natural": _gu("Mistral-7B", 7.2, 32, "natural", 97.49),
    "gu_mistral7b_random": _gu("Mistral-7B", 7.2, 32, "random", 75.21),
    "gu_mistral7b_repeated": _gu("Mistral-7B", 7.2, 32, "repeated", 0.00),
    "gu_llama2_7b_natural": _gu("LLaMA2-7B", 6.7, 32, "natural", 92.47),
    "gu_llama2_7b_random": _gu("LLaMA2-7B", 6.7, 32, "random", 90.13),
    "gu_llama2_7b_repeated": _gu("LLaMA2-7B", 6.7, 32, "repeated", 0.00),
    "gu_llama3_8b_natural": _gu("LLaMA3-8B", 8.0, 32, "natural", 99.02),
    "gu_llama3_8b_random": _gu("LLaMA3-8B", 8.0, 32, "random", 91.23),
    "gu_llama3_8b_repeated": _gu("LLaMA3-8B", 8.0, 32, "repeated", 0.00),
    # Sink rate, Barbero et al. Table 1, Llama 3.1 across scales (typed in %, stored as a fraction)
    "barbero_llama31_8b": _barbero("Llama 3.1 8B", 8.0, 32, 45.97),
    "barbero_llama31_70b": _barbero("Llama 3.1 70B", 70.0, 80, 73.49),
    "barbero_llama31_405b": _barbero("Llama 3.1 405B", 405.0, 126, 78.29),
    # Long context (StreamingLLM, Xiao et al. ICLR 2024, App. F)
    "xiao_last_query_mass": Published(
        "first-token mass of the last query, layers ≥ 2",
        "Llama-2-7B",
        0.5,
        "4096th token of 256 sequences of 4096 tokens",
        "Xiao et al. (ICLR 2024), App. F, Fig. 12",
        "[P]",
        direction="'very high (often > 0.5)' in every layer except 0–1",
    ),
    # The approximate no-op and massive activations
    "gu_hidden_norm_ratio": Published(
        "hidden-state norm, first token / other tokens (largest over layers)",
        "LLaMA2-7B",
        5.0,
        "natural text; read off a figure (≈1000 vs ≈200)",
        "Gu et al. (ICLR 2025), §3.1, Fig. 11",
        "[P] (figure read)",
        direction="the first token's hidden state is much larger from the early layers on",
    ),
    "gu_value_norm_ratio": Published(
        "value norm, first token / other tokens",
        "LLaMA3-8B",
        math.nan,
        "natural text",
        "Gu et al. (ICLR 2025), §3.1, Fig. 2",
        "[P]",
        direction="smaller than 1: the sink's key and value norms are smaller than the other tokens'",
    ),
    "sun_massive_ratio": Published(
        "largest |activation| / median |activation|",
        "LLaMA2-7B",
        10_000.0,
        "dims 1415 and 2533 of the starting token, ≈2,000 vs median ≈0.2; no BOS in their main runs",
        "Sun et al. (COLM 2024)",
        "[S2]",
        direction="massive activations: > 100 and ≈ 1,000× the median, on the first token",
    ),
    "sun_mean_ablation": Published(
        "perplexity, massive activations set to their mean / original",
        "LLaMA2-7B",
        1.0,
        "WikiText; original PPL 5.47 → 5.47",
        "Sun et al. (COLM 2024), Table 3",
        "[S2]",
        direction="setting them to their mean changes nothing",
    ),
    "sun_zero_ablation": Published(
        "perplexity, massive activations set to zero / original",
        "LLaMA2-7B",
        math.inf,
        "WikiText; original PPL 5.47 → ∞",
        "Sun et al. (COLM 2024), Table 3",
        "[S2]",
        direction="setting them to zero breaks the model",
    ),
    # StreamingLLM perplexities (Xiao et al. ICLR 2024)
    "xiao_window_only": Published(
        "perplexity, window only / window + 4 initial tokens",
        "Llama-2-13B",
        5158.07 / 5.40,
        "first PG19 test book (65K tokens); cache 0+1024: PPL 5158.07, cache 4+1020: PPL 5.40",
        "Xiao et al. (ICLR 2024), Table 1",
        "[P]",
        direction="window attention collapses once the first tokens leave the window",
    ),
    "xiao_one_sink": Published(
        "perplexity, window + 1 initial token / window only",
        "Pythia-12B",
        11.95 / 21.62,
        "400K tokens of PG19; cache 1+2047: PPL 11.95, cache 0+2048: PPL 21.62",
        "Xiao et al. (ICLR 2024), Table 2",
        "[P]",
        direction="one initial token recovers most of it",
    ),
    "xiao_four_sinks": Published(
        "perplexity, window + 4 initial tokens / window only",
        "Pythia-12B",
        12.09 / 21.62,
        "400K tokens of PG19; cache 4+2044: PPL 12.09, cache 0+2048: PPL 21.62",
        "Xiao et al. (ICLR 2024), Table 2",
        "[P]",
        direction="four initial tokens do as well as one for Pythia; Llama-2 needs four",
    ),
    # Emergence during pre-training
    "queipo_emergence_step": Published(
        "training step where the sink rate surges",
        "Pythia-410M",
        1000.0,
        "public Pythia checkpoints; BOS norm, entropy drop and sink rate appear together",
        "Queipo-de-Llano et al. (2025, arXiv 2510.06477)",
        "[S] (single reading)",
        direction="around step 1k (≈2B tokens)",
    ),
}


def sink_rate_points() -> list[Published]:
    """The published sink rates (Gu et al. Table 1 at ε = 0.3, Barbero et al. Table 1 at ε = 0.8), for charts."""
    return [p for p in PUBLISHED.values() if p.eps is not None]


def gu_key(family: str, kind: str) -> str:
    """The Gu et al. Table 1 entry closest to a model family: GPT2-XL for GPT-2 (learned absolute positions),
    Mistral-7B for Mistral, LLaMA3-8B for every other RoPE family."""
    model = {"gpt2": "gpt2xl", "mistral": "mistral7b"}.get(family, "llama3_8b")
    return f"gu_{model}_{'repeated' if kind.startswith('repeated') else kind}"


def row(key: str, measured: float, *, model: str, eps: float | None, seq_len: int | None, prompts: str) -> dict:
    """One line of the measured-vs-published table: a number you measured next to ``PUBLISHED[key]``.

    eps and seq_len are your setting (None where they do not apply); prompts says what the input was.
    """
    if key not in PUBLISHED:
        raise SinklabError(f"No published number {key!r}. Fix: use one of {', '.join(PUBLISHED)}.")
    published = PUBLISHED[key]
    return {
        "quantity": published.quantity,
        "measured": measured,
        "measured on": model,
        "ε": "–" if eps is None else f"{eps:g}",
        "T": "–" if seq_len is None else str(seq_len),
        "prompts": prompts,
        "published": published.value,
        "published model": published.model,
        "published setting": published.setting,
        "claim": published.direction,
        "source": f"{published.source} {published.provenance}",
    }


def table(rows: list[dict]):
    """The measured-vs-published rows as a pandas DataFrame (numbers rounded for reading)."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    for column in ("measured", "published"):
        if column in frame:
            frame[column] = frame[column].map(_readable)
    return frame


def _readable(value: float) -> str:
    if math.isnan(value):
        return "direction only"
    if math.isinf(value):
        return "∞"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
