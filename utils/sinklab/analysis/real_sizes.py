"""Chapter 3's experiments on random-init models of real sizes: time and peak GPU memory per experiment.

Machines without a model hub cannot load real 1B+ weights, but they can build the same architectures
with random weights. `SHAPES` holds each sweep model's shape (layers, heads, widths, vocabulary, window,
softcap) as its config.json states it; `run` builds each one on the device and times the chapter's
calls on it, with the profile's sizes:

- ``sweep``: `sinklab.analysis.sweep.run_sweep` on the four prompt kinds (n_samples x seq_len each);
- ``long context``: `sinklab.measure.measure` on one input of ``long_context`` tokens;
- ``no-op + ablation``: hidden-state statistics and `sinklab.analysis.ablate.massive_ablation` (16 x seq_len);
- ``streaming``: `sinklab.analysis.streaming.compare`, three windows x (0, 1, 4) initial tokens, ``long_context`` tokens.

Random weights have no sinks: the numbers are costs, not results. ``python -m sinklab.analysis.real_sizes --profile t4``
(on a GPU) prints the table; ``--models`` picks some of them.
"""

from __future__ import annotations

import argparse
import time

import torch

from sinklab import env

# Shapes from the models' config.json files (random weights; the tokenizer is the embedded model's byte tokenizer).
SHAPES = {
    "gpt2-medium": ("gpt2", dict(n_embd=1024, n_layer=24, n_head=16, n_positions=1024, vocab_size=50257)),
    "pythia-1.4b": (
        "gpt_neox",
        dict(
            hidden_size=2048,
            num_hidden_layers=24,
            num_attention_heads=16,
            intermediate_size=8192,
            rotary_pct=0.25,
            max_position_embeddings=2048,
            vocab_size=50304,
        ),
    ),
    "qwen2.5-1.5b": (
        "qwen2",
        dict(
            hidden_size=1536,
            num_hidden_layers=28,
            num_attention_heads=12,
            num_key_value_heads=2,
            intermediate_size=8960,
            max_position_embeddings=32768,
            vocab_size=151936,
            tie_word_embeddings=True,
        ),
    ),
    "llama-3.2-1b": (
        "llama",
        dict(
            hidden_size=2048,
            num_hidden_layers=16,
            num_attention_heads=32,
            num_key_value_heads=8,
            intermediate_size=8192,
            head_dim=64,
            max_position_embeddings=131072,
            vocab_size=128256,
            tie_word_embeddings=True,
        ),
    ),
    "gemma-2-2b": (
        "gemma2",
        dict(
            hidden_size=2304,
            num_hidden_layers=26,
            num_attention_heads=8,
            num_key_value_heads=4,
            head_dim=256,
            intermediate_size=9216,
            sliding_window=4096,
            attn_logit_softcapping=50.0,
            final_logit_softcapping=30.0,
            query_pre_attn_scalar=256,
            max_position_embeddings=8192,
            vocab_size=256000,
        ),
    ),
    "llama-3.1-8b": (
        "llama",
        dict(
            hidden_size=4096,
            num_hidden_layers=32,
            num_attention_heads=32,
            num_key_value_heads=8,
            intermediate_size=14336,
            max_position_embeddings=131072,
            vocab_size=128256,
        ),
    ),
    "mistral-7b": (
        "mistral",
        dict(
            hidden_size=4096,
            num_hidden_layers=32,
            num_attention_heads=32,
            num_key_value_heads=8,
            intermediate_size=14336,
            sliding_window=4096,
            max_position_embeddings=32768,
            vocab_size=32000,
        ),
    ),
    "qwen2.5-7b": (
        "qwen2",
        dict(
            hidden_size=3584,
            num_hidden_layers=28,
            num_attention_heads=28,
            num_key_value_heads=4,
            intermediate_size=18944,
            max_position_embeddings=32768,
            vocab_size=152064,
        ),
    ),
}
PROFILE_MODELS = {
    "t4": ("gpt2-medium", "pythia-1.4b", "qwen2.5-1.5b", "llama-3.2-1b", "gemma-2-2b"),
    "a100": ("llama-3.2-1b", "gemma-2-2b", "llama-3.1-8b", "mistral-7b", "qwen2.5-7b"),
}
EXPERIMENTS = ("sweep", "long context", "no-op + ablation", "streaming")


def build(name: str, device: str, dtype, **overrides):
    """(random-init model of SHAPES[name] on `device`, the embedded byte tokenizer); `overrides` change the shape."""
    from transformers import AutoTokenizer

    from sinklab import models
    from sinklab.random_models import random_model

    family, shape = SHAPES[name]
    model = random_model(
        family,
        dtype=dtype,
        device=device,
        **{**shape, **overrides},
        bos_token_id=256,
        eos_token_id=257,
        pad_token_id=258,
    )
    return model, AutoTokenizer.from_pretrained(models.embedded_model_path())


def _experiments(name, model, tokenizer, profile: env.Profile, natural, long_batch, length: int) -> dict:
    """Chapter 3's experiments on one model, each a call to time."""
    from sinklab import measure
    from sinklab.analysis import ablate, streaming, sweep

    def no_op_and_ablation():
        layer = ablate.appearance_layer(measure.measure(model, natural, stats=("first", "hidden")))
        return ablate.massive_ablation(model, natural, layer)

    return {
        "sweep": lambda: sweep.run_sweep(
            [name], n_samples=profile.n_samples, seq_len=profile.seq_len, load=lambda *_, **__: (model, tokenizer)
        ),
        "long context": lambda: measure.measure(model, long_batch),
        "no-op + ablation": no_op_and_ablation,
        "streaming": lambda: streaming.compare(model, long_batch, windows=(length // 16, length // 8, length // 4)),
    }


def run(names, profile: env.Profile, device: str, dtype, **overrides) -> list[dict]:
    """Seconds and peak GPU memory (GiB; None on the CPU) of each experiment on each model."""
    from sinklab import prompts
    from sinklab.analysis import sweep

    rows = []
    for name in names:
        model, tokenizer = build(name, device, dtype, **overrides)
        length = min(profile.long_context, model.config.get_text_config().max_position_embeddings)
        long_batch = prompts.long_prompt(tokenizer, length)
        natural = prompts.prompt_batch(tokenizer, "natural", n=16, seq_len=profile.seq_len)
        experiments = _experiments(name, model, tokenizer, profile, natural, long_batch, length)
        for experiment, call in experiments.items():
            if device == "cuda":
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            start = time.perf_counter()
            call()
            if device == "cuda":
                torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
            rows.append(
                {
                    "model": name,
                    "params (M)": sum(p.numel() for p in model.parameters()) / 1e6,
                    "experiment": experiment,
                    "T": length if experiment in ("long context", "streaming") else profile.seq_len,
                    "seconds": time.perf_counter() - start,
                    "peak GiB": peak,
                }
            )
        del model
        sweep.free_memory()
    return rows


def main(argv=None) -> int:
    import pandas as pd

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--profile", choices=sorted(PROFILE_MODELS), default="t4", help="sizes and models of this profile"
    )
    parser.add_argument("--models", nargs="+", choices=sorted(SHAPES), help="default: the profile's models")
    args = parser.parse_args(argv)
    device = env.device()
    profile = env.profile(args.profile)
    rows = run(args.models or PROFILE_MODELS[args.profile], profile, device, env.dtype())
    print(f"sinklab.analysis.real_sizes: profile {args.profile!r} sizes on {device} ({env.dtype()}), random weights")
    print(pd.DataFrame(rows).round(3).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
