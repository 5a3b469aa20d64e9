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
6. `EmbeddedRecipe` and `train_embedded`: the teaching models shipped in ``sinklab/assets/tiny-sink-lm``
   (fixed <bos>) and ``tiny-sink-lm-nobos`` (its twin, no fixed <bos>), trained on stdlib docstrings with
   a Trigger-Recall task written into them, so that they have a real first-token sink; `sink_table`
   measures them (Gu et al.'s protocol, T = 64) for the model cards (`sinklab.modelcard`).

Command line: ``python -m sinklab.train embedded --out utils/sinklab/assets/tiny-sink-lm`` rebuilds the
embedded model; ``python -m sinklab.train twin --out utils/sinklab/assets/tiny-sink-lm-nobos`` its twin
trained without a fixed <bos>; ``python -m sinklab.train bench`` prints the throughput comparison. (The
Bigram-Backcopy benchmark is ``python -m sinklab.analysis.experiments backcopy``.)
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

    special = {
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "tie_word_embeddings": True,
        "use_cache": False,
    }  # without a KV cache, position_ids that restart give intra-document masking
    if arch == "gpt2":
        return GPT2Config(
            vocab_size=len(tokenizer),
            n_embd=hidden_size,
            n_layer=n_layers,
            n_head=n_heads,
            n_positions=max_len,
            n_inner=4 * hidden_size,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=attention_dropout,
            **special,
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


def first_token_report(
    model, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, eps: tuple[float, ...] = (0.3, 0.8)
) -> dict:
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


def sink_probe(
    input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, eps: tuple[float, ...] = (0.3, 0.8)
) -> Callable[[torch.nn.Module], dict]:
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
        entry = {
            "step": step + 1,
            "loss": loss.item(),
            "lr": scheduler.get_last_lr()[0],
            "grad_norm": grad_norm.item(),
            "tokens": tokens_seen,
            "seconds": time.perf_counter() - start,
        }
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
        for name, run in (
            ("minimal", lambda: minimal_loop(minimal_model, batch, per_round)),
            ("trainer", lambda: run_trainer(per_round)),
        ):
            start = time.perf_counter()
            run()
            seconds[name] += time.perf_counter() - start
    tokens = rounds * per_round * batch.numel()
    minimal, trainer = tokens / seconds["minimal"], tokens / seconds["trainer"]
    result = {"minimal_tokens_per_s": minimal, "trainer_tokens_per_s": trainer, "ratio": trainer / minimal}
    print(
        f"minimal loop {minimal:,.0f} tokens/s | sinklab.train {trainer:,.0f} tokens/s | "
        f"ratio {result['ratio']:.2f} ({batch_size} x {seq_len} tokens, {rounds} alternating rounds of "
        f"{per_round} steps each, {torch.get_num_threads()} threads)"
    )
    return result


# 6. The embedded teaching model -------------------------------------------------------------------------


@dataclass
class EmbeddedRecipe:
    """How the shipped teaching models are trained (every number here is in their model cards).

    ``packing="bos"``: ``sinklab/tiny-sink-lm``, every window starts with a fixed ``<bos>``.
    ``packing="none"``: its twin ``sinklab/tiny-sink-lm-nobos``, same recipe and budget, but windows are
    plain slices of the packed text (``<bos>`` opens each document, wherever it falls), so position 0
    holds whatever token the cut lands on (Barbero et al. 2025, Table 2).
    """

    hidden_size: int = 96
    n_layers: int = 6
    n_heads: int = 8  # head_dim 12
    seq_len: int = 256
    corpus_bytes: int = 2_000_000  # stdlib docstrings (all of them, for Python 3.11: about 1.8 MB)
    heldout_every: int = 20  # every 20th docstring is held out for the validation loss
    n_classes: int = 8  # Trigger-Recall classes (`data.recall_classes`)
    n_payloads: int = 3  # payload bytes per class
    classes_per_window: int = 8  # classes written into each window (drawn at random)
    n_recall: int = 6  # trigger + payload pairs per class and window
    packing: str = "bos"  # "bos": fixed <bos> at position 0; "none": the twin
    head_dropout: float = 0.3  # in training, each head's output is dropped with this probability (`drop_heads`)
    batch_size: int = 16
    steps: int = 500
    lr: float = 3e-3
    warmup_steps: int = 50
    weight_decay: float = 0.5
    seed: int = 0

    def __post_init__(self):
        if self.packing not in ("bos", "none"):
            raise SinklabError(f"packing must be 'bos' or 'none', got {self.packing!r}.")

    @property
    def recall(self) -> tuple[tuple[int, ...], tuple[tuple[int, ...], ...]]:
        """``(triggers, payloads)`` of the Trigger-Recall classes."""
        return data.recall_classes(self.n_classes, self.n_payloads)


def drop_heads(model, p: float) -> list:
    """In training mode, zero each attention head's output with probability `p` (per sequence), rescaled by 1/(1-p).

    A forward pre-hook on every layer's ``o_proj`` (the heads' outputs, concatenated, enter it). A job that
    one head could do alone is then learned by several, so a rarely needed job makes several dormant heads.
    Returns the hook handles (``handle.remove()`` undoes it). Uses torch's global RNG (seeded by `build_model`).
    """
    n_heads, head_dim = model.config.num_attention_heads, model.config.head_dim

    def hook(module, args):
        if not module.training or p == 0:
            return None
        (x,) = args
        keep = (torch.rand(x.shape[0], 1, n_heads, 1, device=x.device) >= p).to(x.dtype) / (1 - p)
        return ((x.view(*x.shape[:2], n_heads, head_dim) * keep).view_as(x),)

    return [layer.self_attn.o_proj.register_forward_pre_hook(hook) for layer in model.model.layers]


def embedded_corpus(recipe: EmbeddedRecipe) -> tuple[list[str], list[str]]:
    """``(train, heldout)`` docstrings: every ``heldout_every``-th document is held out."""
    documents = data.stdlib_documents("docstrings", recipe.corpus_bytes)
    heldout = documents[:: recipe.heldout_every]
    train = [d for i, d in enumerate(documents) if i % recipe.heldout_every]
    return train, heldout


def embedded_batches(recipe: EmbeddedRecipe, tokenizer) -> tuple[Callable[[], torch.Tensor], torch.Tensor]:
    """The teaching model's data: ``(next_batch, text_windows)``.

    Every batch is windows of stdlib docstrings (fixed ``<bos>`` at position 0, or none: `EmbeddedRecipe`)
    with Trigger-Recall written into them (`data.insert_recall`). Trigger and payload bytes never occur in
    the text, so on ordinary text the recall heads have nothing to do — and learn to park their attention
    on the first token.
    """
    generator = torch.Generator().manual_seed(recipe.seed)
    documents, _ = embedded_corpus(recipe)
    fixed_bos = recipe.packing == "bos"
    stream = data.token_stream(documents, tokenizer, bos_each=not fixed_bos)
    windows = data.pack(stream, recipe.seq_len, recipe.packing, tokenizer.bos_token_id)
    triggers, payloads = recipe.recall

    def next_batch() -> torch.Tensor:
        rows = windows[torch.randint(len(windows), (recipe.batch_size,), generator=generator)]
        return data.insert_recall(rows, triggers, payloads, recipe.n_recall, generator, recipe.classes_per_window)

    return next_batch, windows


def natural_probe(tokenizer, with_bos: bool = True, seq_len: int = 64) -> dict:
    """Gu et al.'s probe: 16 natural prompts (`prompts.NATURAL`) of exactly `seq_len` tokens, with or without <bos>."""
    return prompts.prompt_batch(tokenizer, "natural", n=16, seq_len=seq_len, bos=with_bos)


def heldout_batch(recipe: EmbeddedRecipe, tokenizer, n: int = 64, seq_len: int = 64) -> torch.Tensor:
    """`n` held-out text windows of ``seq_len - 1`` tokens, no special tokens (for the validation loss)."""
    _, documents = embedded_corpus(recipe)
    stream = data.token_stream(documents, tokenizer)
    return data.pack(stream, seq_len - 1, "none")[:n]


def heldout_loss(model, text: torch.Tensor, bos_id: int | None) -> float:
    """Mean next-token loss on `text` windows, with `bos_id` prepended or not; the same targets either way.

    Targets are the text tokens from the second on (the first text token has no text before it), so the
    two numbers differ only by what the model sees at position 0.
    """
    if bos_id is not None:
        text = torch.cat([torch.full((len(text), 1), bos_id), text], dim=1)
    labels = text.clone()
    labels[:, : 1 + (bos_id is not None)] = -100
    with torch.no_grad():
        return model(input_ids=text, labels=labels).loss.item()


def local_mass(patterns: torch.Tensor, window: int = 8) -> torch.Tensor:
    """``[layer, head]``: mean attention each query puts on its last `window` tokens (itself included).

    `patterns` ``[B, L, H, T, T]`` (`sinklab.measure.attention_patterns`); only queries at ``i >= window``
    count, so that the window never reaches position 0.
    """
    length = patterns.shape[-1]
    index = torch.arange(length)
    near = (index[None, :] <= index[:, None]) & (index[None, :] > index[:, None] - window)
    mass = (patterns * near).sum(-1)[..., window:]  # [B, L, H, T - window]
    return mass.mean((0, -1))


def sink_table(model, tokenizer, recipe: EmbeddedRecipe | None = None, eps: tuple[float, ...] = (0.3, 0.8)) -> dict:
    """The model card's measurements, with and without <bos> (Gu et al.'s protocol: natural text, T = 64).

    Per setting: first-token importance per (layer, head), sink rates overall and per layer, the first
    token's residual-stream norm over the other tokens' per block (massive activation), its value norm over
    the others' per (layer, head), the local mass per (layer, head) (`local_mass`), and the held-out loss.
    """
    from sinklab import measure

    recipe = recipe or EmbeddedRecipe()
    text = heldout_batch(recipe, tokenizer)
    table = {}
    for name, with_bos in (("with_bos", True), ("without_bos", False)):
        probe = natural_probe(tokenizer, with_bos)
        report = measure.measure(model, probe, ("first", "hidden"), eps=eps)
        hidden_ratio = (report.hidden_norm_first / report.hidden_norm_rest).mean(0)
        value_ratio = (report.value_norm_first / report.value_norm_rest).mean(0)
        table[name] = {
            "head_mass": report.importance.mean(0).tolist(),
            "sink_rate": {str(e): report.rate(e) for e in eps},
            "layer_sink_rate": {str(e): report.layer_sink_rate(e).tolist() for e in eps},
            "first_norm_ratio": hidden_ratio.tolist(),
            "first_value_norm_ratio": value_ratio.tolist(),
            "local_mass": local_mass(measure.attention_patterns(model, probe)).tolist(),
            "heldout_loss": heldout_loss(model, text, tokenizer.bos_token_id if with_bos else None),
        }
    return table


def train_embedded(out_dir: str | Path, recipe: EmbeddedRecipe | None = None, progress: bool = True) -> dict:
    """Train a teaching model from scratch and write it, with its model card, to `out_dir`.

    Returns ``{"history": ..., "sink_table": ..., "minutes": ...}``. Deterministic for a fixed recipe,
    Python version (the corpus is the stdlib) and torch build.
    """
    from sinklab import modelcard

    recipe = recipe or EmbeddedRecipe()
    start = time.perf_counter()
    tokenizer = data.byte_tokenizer(model_max_length=recipe.seq_len)
    next_batch, _ = embedded_batches(recipe, tokenizer)
    config = model_config(tokenizer, recipe.hidden_size, recipe.n_layers, recipe.n_heads, recipe.seq_len)
    model = build_model(config, recipe.seed)
    hooks = drop_heads(model, recipe.head_dropout) if recipe.head_dropout else []
    probe = natural_probe(tokenizer, with_bos=recipe.packing == "bos")
    train_config = TrainConfig(
        steps=recipe.steps,
        lr=recipe.lr,
        warmup_steps=recipe.warmup_steps,
        weight_decay=recipe.weight_decay,
        probe_every=max(1, recipe.steps // 20),
        progress=progress,
    )
    history = train(model, next_batch, train_config, (sink_probe(probe["input_ids"], probe["attention_mask"]),))
    for handle in hooks:
        handle.remove()
    minutes = (time.perf_counter() - start) / 60
    table = sink_table(model, tokenizer, recipe)
    out_dir = Path(out_dir)
    save(model, tokenizer, out_dir, history)
    model.generation_config.save_pretrained(out_dir)
    (out_dir / "sink_table.json").write_text(json.dumps(table, indent=1))
    (out_dir / "recipe.json").write_text(
        json.dumps({"recipe": asdict(recipe), "minutes": minutes, "threads": torch.get_num_threads()}, indent=1)
    )
    modelcard.write_card(out_dir, recipe)
    return {"history": history, "sink_table": table, "minutes": minutes}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`sinklab train` / `python -m sinklab.train`: ``embedded --out DIR``, ``twin --out DIR`` or ``bench``.

    (The Bigram-Backcopy benchmark is ``python -m sinklab.analysis.experiments backcopy``.)
    """
    parser.add_argument(
        "what",
        choices=["embedded", "twin", "bench"],
        help="embedded: rebuild the shipped teaching model (fixed <bos>); twin: its twin trained "
        "without a fixed <bos>; bench: trainer vs minimal loop",
    )
    parser.add_argument("--out", help="output folder for 'embedded' / 'twin' (default: the shipped asset)")
    parser.add_argument("--steps", type=int, help="training steps (default: the recipe's)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")


def cli_main(args: argparse.Namespace) -> int:
    """Run the command parsed by `add_arguments`."""
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.what == "bench":
        benchmark()
        return 0
    from sinklab import modelcard
    from sinklab.models import EMBEDDED_NAME, TWIN_NAME

    twin = args.what == "twin"
    out = args.out or str(embedded_model_path(TWIN_NAME if twin else EMBEDDED_NAME))
    recipe = EmbeddedRecipe(packing="none" if twin else "bos", steps=args.steps or EmbeddedRecipe.steps)
    result = train_embedded(out, recipe)
    for name, t in result["sink_table"].items():
        print(
            f"{name}: sink rate {t['sink_rate']}, held-out loss {t['heldout_loss']:.3f}\n"
            f"{modelcard.format_table(t['head_mass'])}"
        )
    print(f"wrote {out} in {result['minutes']:.1f} minutes")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        prog="python -m sinklab.train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    sys.exit(cli_main(parser.parse_args()))
