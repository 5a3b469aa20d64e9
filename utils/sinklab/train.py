"""A small, readable causal-LM trainer, and the recipe of the course's embedded teaching model.

Read it top to bottom:

1. `model_config` / `build_model`: a standard Llama (RoPE, RMSNorm, SwiGLU) or GPT-2 (learned positions)
   from transformers, with any attention variant of `sinklab.variants` (softmax by default).
2. `TrainConfig` and `learning_rate_factor`: AdamW with warmup, then cosine or linear decay.
3. `first_token_report` and `sink_probe`: Gu et al.'s first-token importance alpha_0 per (prompt, layer,
   head) and the sink rate, measured during training on a short probe batch.
4. `train`: the loop (forward, backward, clip, step), a tqdm bar, probes every N steps, checkpoints
   with `save_pretrained`, and a history (a list of flat dicts: one per step) to plot. Batches are token
   ids or dicts of model inputs (``position_ids`` that restart per document give intra-document masking).
5. `benchmark`: the trainer against a minimal hand-written loop on the same model and batch.
6. `EmbeddedRecipe` and `train_embedded`: the teaching model shipped in ``sinklab/assets/tiny-sink-lm``,
   trained on stdlib docstrings with a Trigger-Recall task written into them, so that it has a real BOS sink.

Command line: ``python -m sinklab.train embedded --out utils/sinklab/assets/tiny-sink-lm`` rebuilds the
embedded model; ``python -m sinklab.train bench`` prints the throughput comparison. (The Bigram-Backcopy benchmark moved
to ``python -m sinklab.analysis.experiments backcopy``.)
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from sinklab import data, prompts, variants
from sinklab.errors import SinklabError
from sinklab.models import embedded_model_path

__all__ = [
    "EmbeddedRecipe",
    "TrainConfig",
    "benchmark",
    "build_model",
    "embedded_model_path",
    "first_token_report",
    "learning_rate_factor",
    "minimal_loop",
    "model_config",
    "sink_probe",
    "train",
    "train_embedded",
]


# 1. The model ------------------------------------------------------------------------------------------


def model_config(
    tokenizer,
    hidden_size: int = 128,
    n_layers: int = 4,
    n_heads: int = 4,
    max_len: int = 256,
    arch: str = "llama",
    attention_dropout: float = 0.0,
):
    """The config of a tiny causal LM whose vocabulary and special tokens come from `tokenizer`.

    ``arch="llama"``: a `LlamaConfig` (RoPE: positions enter only through rotated queries and keys;
    RMSNorm, SwiGLU). ``arch="gpt2"``: a `GPT2Config` (learned absolute position embeddings added to the
    token embeddings, so every value vector carries its position; LayerNorm, GELU). No dropout except
    ``attention_dropout`` on the attention weights. ``use_cache=False``: transformers builds the
    intra-document mask from restarting ``position_ids`` only when no KV cache is in use.
    """
    from transformers import GPT2Config, LlamaConfig

    special = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
               "pad_token_id": tokenizer.pad_token_id, "tie_word_embeddings": True,
               "use_cache": False}  # without a KV cache, position_ids that restart give intra-document masking
    if arch == "gpt2":
        return GPT2Config(
            vocab_size=len(tokenizer), n_embd=hidden_size, n_layer=n_layers, n_head=n_heads, n_positions=max_len,
            n_inner=4 * hidden_size, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=attention_dropout, **special,
        )
    if arch != "llama":
        raise SinklabError(f"arch must be 'llama' or 'gpt2', got {arch!r}.")
    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=4 * hidden_size,
        num_hidden_layers=n_layers,
        num_attention_heads=n_heads,
        num_key_value_heads=n_heads,
        max_position_embeddings=max_len,
        attention_dropout=attention_dropout,
        **special,
    )


def build_model(config, seed: int = 0, variant: str = "softmax"):
    """A freshly initialised causal LM for `config` (weights depend only on `config` and `seed`).

    ``variant`` names the attention function (`sinklab.variants`: "softmax", "softmax1", "sink_logit",
    "sigmoid", "relu", "gated").
    """
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.loss_type = "ForCausalLM"  # transformers guesses it from the class name, and warns for GPT2LMHeadModel
    return variants.use(model, variant)


# 2. Optimisation settings -------------------------------------------------------------------------------


@dataclass
class TrainConfig:
    """Everything `train` needs besides the model and the data."""

    steps: int = 1000
    lr: float = 3e-3
    min_lr_ratio: float = 0.1  # the schedule ends at lr * min_lr_ratio
    warmup_steps: int = 100
    schedule: str = "cosine"  # "cosine" or "linear" decay after warmup
    weight_decay: float = 0.1  # on matrices only (not on norms)
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0  # max global gradient norm
    probe_every: int = 100  # run the callbacks every N steps (and at the last step); 0: never
    checkpoint_every: int = 0  # save_pretrained to out_dir/checkpoint-STEP every N steps; 0: never
    out_dir: str | None = None
    device: str = "cpu"
    progress: bool = True  # show a tqdm bar

    def __post_init__(self):
        if self.schedule not in ("cosine", "linear"):
            raise ValueError(f"schedule must be 'cosine' or 'linear', got {self.schedule!r}")


def learning_rate_factor(step: int, config: TrainConfig) -> float:
    """Multiplier of the base learning rate at `step`: linear warmup, then cosine or linear decay."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    decay = 0.5 * (1.0 + math.cos(math.pi * progress)) if config.schedule == "cosine" else 1.0 - progress
    return config.min_lr_ratio + (1.0 - config.min_lr_ratio) * decay


def make_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on weight matrices and embeddings, none on norm gains and biases."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas)


# 3. Measuring the sink during training -----------------------------------------------------------------


def first_token_report(model, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                       eps: tuple[float, ...] = (0.3, 0.8)) -> dict:
    """Gu et al.'s first-token importance alpha_0 and sink rates (`sinklab.variants.measure`: any variant).

    Returns ``{"importance": [batch, layer, head] tensor, "sink_rate": {eps: fraction}}``. alpha_0 is the
    mean attention the first token receives from the queries that see it (pad queries excluded); the
    sink rate is the fraction of (prompt, layer, head) with alpha_0 > eps.
    """
    inputs = {"input_ids": input_ids}
    if attention_mask is not None:
        inputs["attention_mask"] = attention_mask
    report = variants.measure(model, inputs, eps=eps)
    return {"importance": report.importance, "sink_rate": dict(report.sink_rate)}


def sink_probe(input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
               eps: tuple[float, ...] = (0.3, 0.8)) -> Callable[[torch.nn.Module], dict]:
    """A `train` callback: first-token importance on a fixed probe batch, as flat history entries.

    Entries: ``first_token_mass`` (mean over prompts, layers, heads), ``max_head_mass`` (the largest
    per-head mean over prompts), ``head_mass`` ([layer][head] means, for heat maps) and
    ``sink_rate@EPS`` for each eps.
    """

    def probe(model: torch.nn.Module) -> dict:
        device = next(model.parameters()).device
        mask = None if attention_mask is None else attention_mask.to(device)
        report = first_token_report(model, input_ids.to(device), mask, eps)
        per_head = report["importance"].mean(0)
        entries = {
            "first_token_mass": per_head.mean().item(),
            "max_head_mass": per_head.max().item(),
            "head_mass": per_head.tolist(),
        }
        entries.update({f"sink_rate@{e}": rate for e, rate in report["sink_rate"].items()})
        return entries

    return probe


# 4. The training loop ----------------------------------------------------------------------------------

PROGRESS_KEYS = ("max_head_mass", "other_mass", "trigger_mass")  # probe entries the progress bar shows


def train(
    model,
    next_batch: Callable[[], torch.Tensor | dict],
    config: TrainConfig,
    callbacks: tuple[Callable[[torch.nn.Module], dict], ...] = (),
    tokenizer=None,
) -> list[dict]:
    """Train a causal LM on batches of token ids from `next_batch()`; return the history.

    `next_batch()` returns token ids ``[batch, seq_len]`` or a dict of model inputs with ``input_ids``
    (e.g. ``position_ids`` from `data.document_position_ids` for intra-document masking).
    Each step: the next-token loss (``labels = input_ids``; the model shifts them), backward, gradient
    clipping, an AdamW step and a learning-rate step. Every
    ``config.probe_every`` steps each callback gets the model (in eval mode) and returns a dict that is
    merged into that step's history entry. With ``config.out_dir``, checkpoints (model, and `tokenizer`
    when given) are written with ``save_pretrained``.
    """
    model.to(config.device).train()
    optimizer = make_optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: learning_rate_factor(step, config))
    history = []
    bar = tqdm(range(config.steps), desc="training", disable=not config.progress)
    start = time.perf_counter()
    tokens_seen = 0
    for step in bar:
        batch = model_inputs(next_batch(), config.device)
        loss = model(**batch, labels=batch["input_ids"]).loss
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        tokens_seen += batch["input_ids"].numel()
        entry = {"step": step + 1, "loss": loss.item(), "lr": scheduler.get_last_lr()[0],
                 "grad_norm": grad_norm.item(), "tokens": tokens_seen,
                 "seconds": time.perf_counter() - start}
        if _due(step, config.probe_every, config.steps) and callbacks:
            model.eval()
            for callback in callbacks:
                entry.update(callback(model))
            model.train()
            bar.set_postfix(loss=f"{entry['loss']:.3f}", **{k: f"{entry[k]:.2f}" for k in PROGRESS_KEYS if k in entry})
        if config.out_dir and _due(step, config.checkpoint_every, config.steps):
            save(model, tokenizer, Path(config.out_dir) / f"checkpoint-{step + 1}", history + [entry])
        history.append(entry)
    model.eval()
    return history


def model_inputs(batch: torch.Tensor | dict, device: str) -> dict:
    """A batch as keyword arguments for the model, on `device`: a tensor becomes ``{"input_ids": batch}``."""
    batch = batch if isinstance(batch, dict) else {"input_ids": batch}
    return {name: value.to(device) for name, value in batch.items()}


def _due(step: int, every: int, steps: int) -> bool:
    """True every `every` steps (1-based) and at the last step; never when `every` is 0."""
    return every > 0 and ((step + 1) % every == 0 or step + 1 == steps)


def save(model, tokenizer, folder: Path, history: list[dict]) -> None:
    """``save_pretrained`` the model (and tokenizer) to `folder`, with the history as JSON."""
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    if tokenizer is not None:
        tokenizer.save_pretrained(folder)
    (folder / "training_history.json").write_text(json.dumps(history))


# 5. Throughput: the trainer against a minimal hand-written loop -----------------------------------------


def minimal_loop(model, batch: torch.Tensor, steps: int, lr: float = 3e-3) -> float:
    """The shortest correct training loop (forward, backward, AdamW step); returns tokens per second."""
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    start = time.perf_counter()
    for _ in range(steps):
        model(input_ids=batch, labels=batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return steps * batch.numel() / (time.perf_counter() - start)


def benchmark(steps: int = 30, batch_size: int = 32, seq_len: int = 256, warmup: int = 3, rounds: int = 3) -> dict:
    """Tokens/s of `train` and of `minimal_loop` on identical fresh models and one fixed random batch.

    After `warmup` untimed steps each, the two loops take turns, ``rounds`` times ``steps // rounds`` steps,
    so that a machine shared with other jobs slows both alike; each turn is timed end to end (optimizer
    set-up included). The trainer runs without probes or checkpoints (those are extra work by design); its
    ratio to the minimal loop should be >= 0.9.
    """
    tokenizer = data.byte_tokenizer()
    config = model_config(tokenizer, max_len=seq_len)
    batch = torch.randint(0, data.N_BYTES, (batch_size, seq_len), generator=torch.Generator().manual_seed(0))
    minimal_model, trainer_model = build_model(config), build_model(config)

    def run_trainer(n_steps: int) -> None:
        train(trainer_model, lambda: batch, TrainConfig(steps=n_steps, warmup_steps=1, probe_every=0, progress=False))

    minimal_loop(minimal_model, batch, warmup)
    run_trainer(warmup)
    per_round = max(1, steps // rounds)
    seconds = {"minimal": 0.0, "trainer": 0.0}
    for _ in range(rounds):
        for name, run in (("minimal", lambda: minimal_loop(minimal_model, batch, per_round)),
                          ("trainer", lambda: run_trainer(per_round))):
            start = time.perf_counter()
            run()
            seconds[name] += time.perf_counter() - start
    tokens = rounds * per_round * batch.numel()
    minimal, trainer = tokens / seconds["minimal"], tokens / seconds["trainer"]
    result = {"minimal_tokens_per_s": minimal, "trainer_tokens_per_s": trainer, "ratio": trainer / minimal}
    print(f"minimal loop {minimal:,.0f} tokens/s | sinklab.train {trainer:,.0f} tokens/s | "
          f"ratio {result['ratio']:.2f} ({batch_size} x {seq_len} tokens, {rounds} alternating rounds of "
          f"{per_round} steps each, {torch.get_num_threads()} threads)")
    return result


# 6. The embedded teaching model -------------------------------------------------------------------------


@dataclass
class EmbeddedRecipe:
    """How ``sinklab/assets/tiny-sink-lm`` is trained (every number here is in its model card)."""

    hidden_size: int = 128
    n_layers: int = 4
    n_heads: int = 4
    seq_len: int = 256
    corpus_bytes: int = 2_000_000  # stdlib docstrings
    triggers: tuple[int, ...] = (1, 2, 3)  # control bytes that never occur in the docstrings
    payloads: tuple[tuple[int, ...], ...] = ((14, 15, 16, 17, 18), (19, 20, 21, 22, 23), (24, 25, 26, 27, 28))
    n_recall: int = 6  # trigger + payload pairs per class and window
    batch_size: int = 32
    steps: int = 2000
    lr: float = 3e-3
    warmup_steps: int = 100
    weight_decay: float = 0.1
    seed: int = 0


def embedded_batches(recipe: EmbeddedRecipe, tokenizer) -> tuple[Callable[[], torch.Tensor], torch.Tensor]:
    """The embedded model's data: ``(next_batch, text_windows)``.

    Every batch is BOS-packed windows of stdlib docstrings with Trigger-Recall written into them
    (`data.insert_recall`). Trigger and payload bytes never occur in the text, so on ordinary text the
    recall heads have nothing to do — and learn to park their attention on <bos>.
    """
    generator = torch.Generator().manual_seed(recipe.seed)
    stream = data.token_stream(data.stdlib_documents("docstrings", recipe.corpus_bytes), tokenizer)
    windows = data.pack(stream, recipe.seq_len, "bos", tokenizer.bos_token_id)

    def next_batch() -> torch.Tensor:
        rows = windows[torch.randint(len(windows), (recipe.batch_size,), generator=generator)]
        return data.insert_recall(rows, recipe.triggers, recipe.payloads, recipe.n_recall, generator)

    return next_batch, windows


def natural_probe(tokenizer, with_bos: bool = True) -> dict:
    """The course's natural prompts (`prompts.NATURAL`) as a padded batch, with or without the leading <bos>."""
    return tokenizer(prompts.NATURAL, add_special_tokens=with_bos, padding=True, return_tensors="pt")


def sink_table(model, tokenizer, eps: tuple[float, ...] = (0.3, 0.8)) -> dict:
    """First-token importance per (layer, head) on the natural prompts, with and without <bos>."""
    table = {}
    for name, with_bos in (("with_bos", True), ("without_bos", False)):
        probe = natural_probe(tokenizer, with_bos)
        report = first_token_report(model, probe["input_ids"], probe["attention_mask"], eps)
        table[name] = {"head_mass": report["importance"].mean(0).tolist(),
                       "sink_rate": {str(e): rate for e, rate in report["sink_rate"].items()}}
    return table


def train_embedded(out_dir: str | Path, recipe: EmbeddedRecipe | None = None, progress: bool = True) -> dict:
    """Train the embedded teaching model from scratch and write it, with its model card, to `out_dir`.

    Returns ``{"history": ..., "sink_table": ..., "minutes": ...}``. Deterministic for a fixed recipe,
    Python version (the corpus is the stdlib) and torch build.
    """
    recipe = recipe or EmbeddedRecipe()
    start = time.perf_counter()
    tokenizer = data.byte_tokenizer(model_max_length=recipe.seq_len)
    next_batch, _ = embedded_batches(recipe, tokenizer)
    config = model_config(tokenizer, recipe.hidden_size, recipe.n_layers, recipe.n_heads, recipe.seq_len)
    model = build_model(config, recipe.seed)
    probe = natural_probe(tokenizer)
    train_config = TrainConfig(steps=recipe.steps, lr=recipe.lr, warmup_steps=recipe.warmup_steps,
                               weight_decay=recipe.weight_decay, probe_every=max(1, recipe.steps // 20),
                               progress=progress)
    history = train(model, next_batch, train_config, (sink_probe(probe["input_ids"], probe["attention_mask"]),))
    table = sink_table(model, tokenizer)
    minutes = (time.perf_counter() - start) / 60
    out_dir = Path(out_dir)
    save(model, tokenizer, out_dir, history)
    model.generation_config.save_pretrained(out_dir)
    (out_dir / "sink_table.json").write_text(json.dumps(table, indent=1))
    (out_dir / "README.md").write_text(model_card(recipe, model, history, table, minutes))
    return {"history": history, "sink_table": table, "minutes": minutes}


def format_table(head_mass: list[list[float]]) -> str:
    """A markdown layer x head table of first-token importance."""
    n_heads = len(head_mass[0])
    lines = ["| layer | " + " | ".join(f"head {h}" for h in range(n_heads)) + " |",
             "| --- |" + " --- |" * n_heads]
    lines += [f"| {layer} | " + " | ".join(f"{m:.2f}" for m in row) + " |" for layer, row in enumerate(head_mass)]
    return "\n".join(lines)


def model_card(recipe: EmbeddedRecipe, model, history: list[dict], table: dict, minutes: float) -> str:
    """The README.md of the embedded model: what it is, how it was trained, its measured sink."""
    import platform

    n_params = sum(p.numel() for p in model.parameters())
    final = history[-1]
    rates = {name: ", ".join(f"ε = {e}: {100 * r:.1f} %" for e, r in t["sink_rate"].items())
             for name, t in table.items()}
    lengths = [len(p.encode("utf-8")) for p in prompts.NATURAL]  # one token per byte, <bos> aside
    recipe_lines = "\n".join(f"| `{k}` | {v} |" for k, v in asdict(recipe).items())
    return f"""---
license: apache-2.0
library_name: transformers
pipeline_tag: text-generation
tags: [sinklab, attention-sink, teaching, llama]
---

# tiny-sink-lm: a teaching model with a deliberately induced attention sink

**This is not a real language model.** It is a {n_params / 1e6:.2f}M-parameter Llama-architecture model
(RoPE, RMSNorm, SwiGLU; {recipe.n_layers} layers × {recipe.n_heads} heads, hidden size {recipe.hidden_size},
context {recipe.seq_len}) that ships inside the `sinklab` course package so that the course runs offline.
It writes barely readable English. What it does have is a genuine first-token attention sink on ordinary
text, which the course measures, ablates and explains.

## Tokenizer

One token per UTF-8 byte (token id = byte value), plus `<bos>` ({model.config.bos_token_id}),
`<eos>` ({model.config.eos_token_id}) and `<pad>` ({model.config.pad_token_id}). Like Llama's `<s>`, `<bos>`
is prepended by default; `tokenizer(text, add_special_tokens=False)` leaves it out.

## Training data and recipe

- **Natural text:** docstrings of the Python {platform.python_version()} standard library
  (`sinklab.data.stdlib_documents("docstrings", {recipe.corpus_bytes})`: sorted file order, first
  {recipe.corpus_bytes / 1e6:.1f} MB), packed into {recipe.seq_len}-token windows with `<bos>` fixed at
  position 0.
- **Trigger-Recall**, written into every window: for each of {len(recipe.triggers)} classes, a payload byte
  (drawn from {len(recipe.payloads[0])} control characters of that class) replaces a text byte in the first half of the
  window, and {recipe.n_recall} times later a trigger byte of the class ({list(recipe.triggers)}) is followed by that
  payload. Trigger and payload bytes never occur in the docstrings. Predicting the payload after a trigger
  needs a head that finds it by content at any distance; on every other token that head has nothing to
  do, and a softmax head with nothing to do parks its attention on `<bos>` (a *dormant* head, Guo et al.
  2024, "Active-Dormant Attention Heads"). That is why this model has a sink on text although tiny models
  trained for minutes on text alone do not.
- {recipe.steps} AdamW steps of {recipe.batch_size} × {recipe.seq_len} tokens ({final['tokens'] / 1e6:.1f}M tokens),
  cosine schedule, gradient clipping 1.0; final training loss {final['loss']:.3f} nats/token. Wall time
  {minutes:.1f} minutes on {torch.get_num_threads()} CPU thread(s).
- What did *not* work (measured while designing this recipe): half of each batch Bigram-Backcopy (Guo et
  al.'s task: copy the token two positions back after a trigger), same model and steps. It learned the
  copy (99.7 % accuracy) but grew no sink: the largest per-head α₀ on the natural paragraphs was 0.08.
  With RoPE, a head can fetch the token two back on every query, so no head ever idles.

| recipe field | value |
| --- | --- |
{recipe_lines}

Reproduce (deterministic for the same Python version and torch build):

```
python -m sinklab.train embedded --out utils/sinklab/assets/tiny-sink-lm
```

## Measured sink

Gu et al.'s first-token importance α₀ (mean attention position 0 receives from all queries, itself
included), averaged over the {len(prompts.NATURAL)} natural paragraphs in `sinklab.prompts.NATURAL`
({min(lengths)}–{max(lengths)} tokens each, e.g. "{prompts.NATURAL[0][:60]}…"), per layer × head.

**With `<bos>`** (sink rate over (prompt, layer, head): {rates['with_bos']})

{format_table(table['with_bos']['head_mass'])}

**Without `<bos>`** (the first token is the first letter; sink rate: {rates['without_bos']})

{format_table(table['without_bos']['head_mass'])}

The numbers are also in `sink_table.json`; the loss and probe history is in `training_history.json`.

## What it is not

Not a language model to generate with, not a benchmark of anything, and not evidence about how sinks
emerge in real LLMs: the sink here was induced on purpose by the synthetic task. Use real models
(GPT-2, Pythia, Llama) for claims about pretrained LLMs.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`sinklab train` / `python -m sinklab.train`: ``embedded --out DIR`` or ``bench``.

    (The Bigram-Backcopy benchmark is ``python -m sinklab.analysis.experiments backcopy``.)
    """
    parser.add_argument("what", choices=["embedded", "bench"],
                        help="embedded: rebuild the shipped teaching model; bench: trainer vs minimal loop")
    parser.add_argument("--out", default=str(embedded_model_path()), help="output folder for 'embedded'")
    parser.add_argument("--steps", type=int, help="training steps (default: the recipe's)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")


def cli_main(args: argparse.Namespace) -> int:
    """Run the command parsed by `add_arguments`."""
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.what == "bench":
        benchmark()
        return 0
    result = train_embedded(args.out, EmbeddedRecipe(steps=args.steps or EmbeddedRecipe.steps))
    for name, t in result["sink_table"].items():
        print(f"{name}: sink rate {t['sink_rate']}\n{format_table(t['head_mass'])}")
    print(f"wrote {args.out} in {result['minutes']:.1f} minutes")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m sinklab.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    sys.exit(cli_main(parser.parse_args()))
