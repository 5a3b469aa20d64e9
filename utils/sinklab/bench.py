"""`sinklab bench`: what measuring sinks costs, next to a plain SDPA forward and eager ``output_attentions``.

Each (mode, length) runs in a fresh Python process, so peak memory is that run's own: peak RSS on
the CPU (``resource.getrusage``), ``torch.cuda.max_memory_allocated`` on a GPU. Modes:

- ``sdpa``: the model's plain forward with PyTorch SDPA (the baseline);
- ``tier1``: `sinklab.measure.measure` with the default statistics (first-token mass from the LSE);
- ``tier2``: plus top-k mass, entropy and attention received (the query-chunked exact pass);
- ``eager_oa``: eager attention with ``output_attentions=True`` (keeps L x H x T x T weights).

The model is the base transformer (no LM head, so the vocabulary does not dominate), random-init:
``toy`` is a Llama-family model with 8 layers, 8 heads, 2 key/value heads, d=512; ``toy-swa`` is the
same shape as a Mistral model with a 256-token sliding window (a masked layer: no plain causal kernel);
``llama-1b`` has Llama-3.2-1B's shape (16 layers, 32 heads, 8 key/value heads, d=2048), meant for GPUs.
``--batch 8`` measures a left-padded batch (row i has i * T / 16 pad tokens), the sweep's normal input.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

MODES = ("sdpa", "tier1", "tier2", "eager_oa")
SHAPES = {
    "toy": dict(
        hidden_size=512,
        num_hidden_layers=8,
        num_attention_heads=8,
        num_key_value_heads=2,
        intermediate_size=1376,
        vocab_size=32000,
    ),
    "llama-1b": dict(
        hidden_size=2048,
        num_hidden_layers=16,
        num_attention_heads=32,
        num_key_value_heads=8,
        intermediate_size=8192,
        vocab_size=128256,
        head_dim=64,
        rope_theta=500000.0,
    ),
}
SHAPES["toy-swa"] = {**SHAPES["toy"], "sliding_window": 256}
FAMILIES = {"toy": "llama", "toy-swa": "mistral", "llama-1b": "llama"}
TIER1_TARGETS = {"time": 1.10, "memory": 1.05}  # tier 1 vs plain SDPA


def build_model(shape: str, attn_implementation: str, device: str, dtype):
    """A random-init Llama-family base model of the given shape (seeded, so every process gets the same one)."""
    from sinklab.random_models import random_model

    return random_model(
        FAMILIES.get(shape, "llama"),
        head="base",
        attn_implementation=attn_implementation,
        dtype=dtype,
        device=device,
        **SHAPES[shape],
        max_position_embeddings=32768,
    )


def inputs(batch: int, length: int, vocab: int, device: str) -> dict:
    """``batch`` rows of ``length`` random ids; with several rows, left padding (row i: i * length // 16 pads)."""
    import torch

    ids = torch.randint(0, vocab, (batch, length), generator=torch.Generator().manual_seed(0))
    mask = torch.ones(batch, length, dtype=torch.long)
    for row in range(batch):
        mask[row, : row * length // 16] = 0
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device)}


def run_one(mode: str, length: int, shape: str, device: str, dtype_name: str, repeats: int, batch: int = 1) -> dict:
    """Time one mode at one length in this process: the best wall time of ``repeats`` runs after one warm-up.

    The best run is the one least disturbed by other load on the machine (a shared CPU), so ratios of
    best times are steadier than ratios of means.
    """
    import torch

    from sinklab.measure import measure

    dtype = getattr(torch, dtype_name)
    model = build_model(shape, "eager" if mode == "eager_oa" else "sdpa", device, dtype)
    ids = inputs(batch, length, model.config.vocab_size, device)
    forward = {
        "sdpa": lambda: model(**ids),
        "tier1": lambda: measure(model, ids),
        "tier2": lambda: measure(model, ids, stats=("first", "topk", "entropy", "received")),
        "eager_oa": lambda: model(**ids, output_attentions=True),
    }[mode]
    times = []
    with torch.no_grad():
        for i in range(repeats + 1):
            _synchronize(device)
            start = time.perf_counter()
            result = forward()
            _synchronize(device)
            if i > 0:
                times.append(time.perf_counter() - start)
            del result
    return {"mode": mode, "length": length, "batch": batch, "seconds": min(times), "peak_mib": _peak_mib(device)}


def run_all(modes, lengths, shape, device, dtype_name, repeats, progress=True, batch: int = 1) -> list[dict]:
    """Every (length, mode) in a fresh subprocess; returns their results with ratios to ``sdpa``."""
    from tqdm.auto import tqdm

    jobs = [(length, mode) for length in lengths for mode in modes]
    results = []
    for length, mode in tqdm(jobs, desc="sinklab bench", disable=not progress):
        job = dict(
            mode=mode, length=length, shape=shape, device=device, dtype_name=dtype_name, repeats=repeats, batch=batch
        )
        done = subprocess.run(
            [sys.executable, "-m", "sinklab.bench", "--worker", json.dumps(job)], capture_output=True, text=True
        )
        if done.returncode != 0:
            results.append({"mode": mode, "length": length, "error": done.stderr.strip().splitlines()[-1]})
        else:
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    _add_ratios(results)
    return results


def format_results(results: list[dict], device: str) -> str:
    """A plain-text table: seconds and peak memory per mode, and their ratios to plain SDPA."""
    memory = "peak RSS" if device == "cpu" else "peak CUDA alloc"
    lines = [f"{'T':>6} {'mode':>9} {'seconds':>9} {'x sdpa':>7} {memory + ' MiB':>18} {'x sdpa':>7}"]
    for r in results:
        if "error" in r:
            lines.append(f"{r['length']:>6} {r['mode']:>9}  failed: {r['error']}")
            continue
        lines.append(
            f"{r['length']:>6} {r['mode']:>9} {r['seconds']:>9.3f} {r.get('time_ratio', float('nan')):>7.2f} "
            f"{r['peak_mib']:>18.0f} {r.get('memory_ratio', float('nan')):>7.2f}"
        )
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lengths", type=int, nargs="+", help="default: 1024 2048 4096, plus 8192 on a GPU")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--shape", choices=sorted(SHAPES), default="toy", help="model shape (random init)")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available")
    parser.add_argument("--dtype", default=None, help="float32 (CPU default) or bfloat16 (GPU default)")
    parser.add_argument("--batch", type=int, default=1, help="rows per forward; above 1 they are left-padded")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per configuration (the best is reported)")
    parser.add_argument("--out", help="also write the results as JSON to this file")


def cli_main(args) -> int:
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype_name = args.dtype or ("float32" if device == "cpu" else "bfloat16")
    lengths = args.lengths or ([1024, 2048, 4096] + ([8192] if device == "cuda" else []))
    results = run_all(args.modes, lengths, args.shape, device, dtype_name, args.repeats, batch=args.batch)
    padding = ", left-padded" if args.batch > 1 else ""
    print(
        f"sinklab bench: {args.shape} model, {device}, {dtype_name}, batch {args.batch}{padding}, "
        f"best of {args.repeats} runs"
    )
    print(format_results(results, device))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(
                {"shape": args.shape, "device": device, "dtype": dtype_name, "batch": args.batch, "results": results},
                f,
                indent=1,
            )
    return 0


def _add_ratios(results: list[dict]) -> None:
    baseline = {r["length"]: r for r in results if r["mode"] == "sdpa" and "error" not in r}
    for r in results:
        base = baseline.get(r["length"])
        if base is not None and "error" not in r:
            r["time_ratio"] = r["seconds"] / base["seconds"]
            r["memory_ratio"] = r["peak_mib"] / base["peak_mib"]


def _synchronize(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def _peak_mib(device: str) -> float:
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    import resource

    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kib * (1 / 2**10 if sys.platform != "darwin" else 1 / 2**20)


if __name__ == "__main__":
    worker = argparse.ArgumentParser(description="one sinklab bench configuration (used by `sinklab bench`)")
    worker.add_argument("--worker", required=True, help="JSON job description")
    job = json.loads(worker.parse_args().worker)
    print(json.dumps(run_one(**job)))
