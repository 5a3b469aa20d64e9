"""Chapter 6's training experiments, each a recipe (a dataclass of every number) and a function that runs it.

1. `BackcopyRecipe` / `run_backcopy`: Bigram-Backcopy (Guo et al. 2024). A head that copies after a
   trigger has nothing to do on every other token; with softmax it parks there on <bos> ("dormant"), with
   a sink-free variant it need not. `backcopy_probe` measures both kinds of query separately.
2. Small LMs on text and fine-tuning: `sinklab.analysis.text_runs`.

Everything runs on a CPU at small scale; the papers' settings take GPU-days, so expect directions only.
`backcopy_recipe` (and `text_runs.lab_text_recipe`) give the recipes chapter 6 uses on a profile. `replay` lets
`sinklab.analysis.recorded_runs` hand back a recorded run of exactly the requested recipe instead of training it.

Command line: ``python -m sinklab.analysis.experiments backcopy [--variants ...] [--arch llama]`` prints the
Bigram-Backcopy sink benchmark (softmax vs sink-free variants).
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from sinklab import data, env, train, variants

# A recorded-run lookup, set by `sinklab.analysis.recorded_runs.use`: ``replay(kind, recipe, options)`` returns the
# recorded run of exactly this recipe (same dict as a live run) or None, and then the run trains live.
replay: Callable[[str, object, dict], dict | None] | None = None
# 0. Corpora ---------------------------------------------------------------------------------------------


def corpus_documents(name: str, max_bytes: int) -> list[str]:
    """Documents of a corpus: "docstrings" or "source" (the offline stdlib corpus) or an online dataset's name.

    Remembered per (name, max_bytes): a notebook's many runs read (and parse) the corpus once.
    """
    return list(_corpus(name, max_bytes))


@functools.lru_cache(maxsize=4)
def _corpus(name: str, max_bytes: int) -> tuple[str, ...]:
    if name in ("docstrings", "source"):
        return tuple(data.stdlib_documents(name, max_bytes))
    return tuple(data.online_documents(name, max_bytes))


# 1. Bigram-Backcopy: active on triggers, dormant elsewhere ------------------------------------------------


@dataclass
class BackcopyRecipe:
    """One Bigram-Backcopy run. The defaults are the course's full run (`python -m sinklab.analysis.experiments backcopy`).

    ``arch="gpt2"`` (learned absolute positions) matters: with RoPE (``"llama"``) the head parked only part
    of its attention on <bos> in our runs (0.35 vs 0.91) and much of the rest on the query's own position.
    """

    arch: str = "gpt2"
    variant: str = "softmax"
    hidden_size: int = 128
    n_layers: int = 1
    n_heads: int = 1
    seq_len: int = 64
    batch_size: int = 64
    steps: int = 300
    lr: float = 3e-3
    warmup_steps: int = 50
    weight_decay: float = 0.1
    triggers: tuple[int, ...] = (1, 2, 3)  # control bytes: never in the text, so a trigger is always a copy cue
    trigger_prob: float = 0.1  # share of the bigram chain's probability sent to the triggers
    corpus_bytes: int = 200_000  # stdlib docstrings that the bigram statistics come from
    probe_size: int = 32  # held-out sequences for the probe
    probe_every: int = 25
    skip: int = 8  # probe only queries at positions >= skip (the first ones see few keys anyway)
    seed: int = 0
    device: str | None = None  # None: a GPU when there is one (sinklab.env.device())


def backcopy_recipe(profile: env.Profile) -> BackcopyRecipe:
    """Chapter 6's Bigram-Backcopy recipe on a profile (sections 1–2): its steps and batch, warmup and probes scaled."""
    steps = profile.backcopy_steps
    return BackcopyRecipe(
        steps=steps, batch_size=profile.backcopy_batch, warmup_steps=max(1, steps // 6), probe_every=max(1, steps // 12)
    )


def backcopy_task(recipe: BackcopyRecipe, tokenizer=None):
    """``(next_batch, probe_tokens, probe_is_trigger)`` for a recipe: a training stream and a fixed probe."""
    tokenizer = tokenizer or data.byte_tokenizer(model_max_length=recipe.seq_len)
    stream = data.token_stream(corpus_documents("docstrings", recipe.corpus_bytes), tokenizer)
    bos = tokenizer.bos_token_id
    transitions = data.bigram_transitions(stream, len(tokenizer), bos, recipe.triggers, recipe.trigger_prob)
    generator = torch.Generator().manual_seed(recipe.seed)
    probe, is_trigger = data.backcopy_batch(
        transitions,
        recipe.triggers,
        recipe.probe_size,
        recipe.seq_len,
        bos,
        torch.Generator().manual_seed(10_000 + recipe.seed),
    )

    def next_batch() -> torch.Tensor:
        return data.backcopy_batch(transitions, recipe.triggers, recipe.batch_size, recipe.seq_len, bos, generator)[0]

    return next_batch, probe, is_trigger


def split_first_token_mass(
    first_mass: torch.Tensor, is_trigger: torch.Tensor, skip: int = 8
) -> dict[str, torch.Tensor]:
    """Mean first-token mass per (layer, head) over trigger and over other queries: ``{"trigger", "other"}``, each [L, H].

    ``first_mass`` is a report's ``[B, L, H, T]``; queries before position ``skip`` are left out.
    """
    late = torch.arange(is_trigger.shape[1]) >= skip
    out = {}
    for name, queries in (("trigger", is_trigger & late), ("other", ~is_trigger & late)):
        weights = queries[:, None, None, :].float()
        out[name] = (first_mass * weights).sum((0, -1)) / weights.sum((0, -1)).clamp(min=1)
    return out


def backcopy_probe(tokens: torch.Tensor, is_trigger: torch.Tensor, skip: int = 8, pattern_length: int = 24) -> Callable:
    """A `train` callback for Bigram-Backcopy: where the heads look on trigger vs other queries.

    Entries: ``trigger_mass`` and ``other_mass`` (first-token mass averaged over layers and heads),
    ``head_trigger_mass`` / ``head_other_mass`` ([layer][head]), ``bos_value_ratio`` ([layer][kv head]:
    ‖v_bos‖ / mean ‖v_other‖; small = the sink is a no-op), ``copy_accuracy`` (argmax after triggers) and
    ``pattern``: the last layer's head 0 on the first ``pattern_length`` tokens of probe row 0.
    """
    after = is_trigger[:, :-1].nonzero(as_tuple=True)  # (row, position) of every trigger but a final one

    def probe(model) -> dict:
        report = variants.measure(model, tokens.to(model.device))
        split = split_first_token_mass(report.first_mass, is_trigger, skip)
        with torch.no_grad():
            predicted = model(tokens.to(model.device)).logits.argmax(-1).cpu()
        last_layer = model.config.get_text_config().num_hidden_layers - 1
        pattern = variants.attention_patterns(model, tokens[:1, :pattern_length].to(model.device), [last_layer], [0])
        rows, positions = after
        return {
            "pattern": pattern[0, 0, 0].tolist(),
            "trigger_mass": split["trigger"].mean().item(),
            "other_mass": split["other"].mean().item(),
            "head_trigger_mass": split["trigger"].tolist(),
            "head_other_mass": split["other"].tolist(),
            "bos_value_ratio": (report.value_norm_first / report.value_norm_rest).mean(0).tolist(),
            "copy_accuracy": (predicted[rows, positions] == tokens[rows, positions + 1]).float().mean().item(),
        }

    return probe


def backcopy_text(tokens: torch.Tensor, tokenizer, triggers: tuple[int, ...]) -> str:
    """A Bigram-Backcopy row as readable text: <bos>, triggers as ⟨T⟩, newlines as ⏎."""
    pieces = []
    for token in tokens.tolist():
        if token == tokenizer.bos_token_id:
            pieces.append("<bos>")
        elif token in triggers:
            pieces.append("⟨T⟩")
        else:
            pieces.append(tokenizer.decode([token]).replace("\n", "⏎"))
    return "".join(pieces)


def token_labels(tokens: torch.Tensor, tokenizer, triggers: tuple[int, ...]) -> list[str]:
    """One short label per token (for heatmap axes): <bos>, ⟨T⟩ for a trigger, ␣ for a space, the character otherwise."""
    labels = []
    for token in tokens.tolist():
        if token == tokenizer.bos_token_id:
            labels.append("<bos>")
        elif token in triggers:
            labels.append("⟨T⟩")
        else:
            labels.append(tokenizer.decode([token]).replace(" ", "␣").replace("\n", "⏎") or "?")
    return labels


def head_activity(model, tokens: torch.Tensor, is_trigger: torch.Tensor, skip: int = 8) -> dict[str, dict[str, float]]:
    """How much a head lets through on trigger vs other queries, averaged over layers and heads.

    ``"attention"``: Σ_j w_ij, the weight a query gives to the tokens (1 for softmax; less when it parks on
    softmax1's zero key or the learned logit, or when sigmoid/ReLU weights all go to zero).
    ``"gate"`` (gated variant only): the mean output gate, sigmoid(x W_g + b_g).
    """
    from sinklab import measure

    kinds = {"trigger": is_trigger, "other": ~is_trigger}
    late = torch.arange(tokens.shape[1]) >= skip
    patterns = variants.attention_patterns(model, tokens.to(model.device)).cpu()  # [B, L, H, T, T]
    totals = patterns.sum(-1).mean((1, 2))  # [B, T]
    out = {"attention": {k: totals[q & late].mean().item() for k, q in kinds.items()}}
    if variants.variant_of(model) == "gated":
        gates = []
        hooks = [
            m.sinklab_gate.register_forward_hook(lambda mod, args, output: gates.append(torch.sigmoid(output)))
            for m in measure.attention_modules(model)
        ]
        with torch.no_grad():
            model(tokens.to(model.device))
        for hook in hooks:
            hook.remove()
        gate = torch.stack(gates).mean((0, -1)).cpu()  # [B, T]: mean over layers and features
        out["gate"] = {k: gate[q & late].mean().item() for k, q in kinds.items()}
    return out


def self_mass(model, tokens: torch.Tensor, is_trigger: torch.Tensor, skip: int = 8) -> float:
    """Mean attention that non-trigger queries put on their own position (averaged over layers and heads)."""
    patterns = variants.attention_patterns(model, tokens.to(model.device)).cpu()  # [B, L, H, T, T]
    own = patterns.diagonal(dim1=-2, dim2=-1).mean((1, 2))  # [B, T]
    queries = ~is_trigger & (torch.arange(tokens.shape[1]) >= skip)
    return own[queries].mean().item()


def run_backcopy(recipe: BackcopyRecipe | None = None, progress: bool = True) -> dict:
    """Train one Bigram-Backcopy model; returns ``{"recipe", "model", "history", "probe", "minutes"}``.

    ``probe`` is ``(tokens, is_trigger)``, the held-out batch the callback measured.
    """
    recipe = recipe or BackcopyRecipe()
    if replay is not None and (recorded := replay("backcopy", recipe, {})) is not None:
        return recorded
    start = time.perf_counter()
    tokenizer = data.byte_tokenizer(model_max_length=recipe.seq_len)
    next_batch, tokens, is_trigger = backcopy_task(recipe, tokenizer)
    config = train.model_config(
        tokenizer, recipe.hidden_size, recipe.n_layers, recipe.n_heads, recipe.seq_len, arch=recipe.arch
    )
    model = train.build_model(config, recipe.seed, recipe.variant)
    train_config = train.TrainConfig(
        steps=recipe.steps,
        lr=recipe.lr,
        warmup_steps=recipe.warmup_steps,
        weight_decay=recipe.weight_decay,
        probe_every=recipe.probe_every,
        device=recipe.device or env.device(),
        progress=progress,
    )
    history = train.train(model, next_batch, train_config, (backcopy_probe(tokens, is_trigger, recipe.skip),))
    return {
        "recipe": recipe,
        "model": model,
        "history": history,
        "probe": (tokens, is_trigger),
        "minutes": (time.perf_counter() - start) / 60,
    }


def dormant_step(history: list[dict], other: float = 0.5, trigger: float = 0.1) -> int | None:
    """First probed step where other queries put ≥ `other` on <bos> and trigger queries < `trigger`; None if never."""
    for entry in history:
        if "other_mass" in entry and entry["other_mass"] >= other and entry["trigger_mass"] < trigger:
            return entry["step"]
    return None


def curve(history: list[dict], key: str, max_points: int = 200) -> tuple[list[int], list[float]]:
    """``(steps, values)`` of `key` over the history entries that have it, averaged into at most `max_points`
    consecutive chunks (each at its last step) so that long runs stay small enough to plot."""
    points = [(h["step"], h[key]) for h in history if key in h]
    size = max(1, -(-len(points) // max_points))  # ceil
    chunks = [points[i : i + size] for i in range(0, len(points), size)]
    return [c[-1][0] for c in chunks], [sum(v for _, v in c) / len(c) for c in chunks]


def onset_step(steps: list[int], values: list[float], threshold: float) -> int | None:
    """The first step from which `values` stay ≥ `threshold` to the end (a sustained onset); None if never."""
    onset = None
    for step, value in zip(steps, values):
        if value < threshold:
            onset = None
        elif onset is None:
            onset = step
    return onset


def backcopy_summary(run: dict) -> dict:
    """The last probe of a run, flat: variant, masses, copy accuracy, <bos> value ratio, loss, step and seconds to dormancy."""
    history = run["history"]
    last = [h for h in history if "other_mass" in h][-1]
    step = dormant_step(history)
    return {
        "variant": run["recipe"].variant,
        "arch": run["recipe"].arch,
        "steps": last["step"],
        "loss": sum(h["loss"] for h in history[-20:]) / len(history[-20:]),
        "other_mass": last["other_mass"],
        "trigger_mass": last["trigger_mass"],
        "copy_accuracy": last["copy_accuracy"],
        "bos_value_ratio": sum(sum(row) / len(row) for row in last["bos_value_ratio"]) / len(last["bos_value_ratio"]),
        "dormant_at_step": step,
        "dormant_after_s": None if step is None else history[step - 1]["seconds"],
        "train_seconds": history[-1]["seconds"],
    }


def backcopy_benchmark(names=("softmax", "relu"), recipe: BackcopyRecipe | None = None) -> list[dict]:
    """The must-show run: Bigram-Backcopy (`recipe`, default `BackcopyRecipe()`) with each attention
    variant in `names`; prints one line per run and returns the `backcopy_summary` of each."""
    results = []
    for name in names:
        recipe = replace(recipe or BackcopyRecipe(), variant=name)
        summary = backcopy_summary(run_backcopy(recipe))
        results.append(summary)
        dormant = (
            "never"
            if summary["dormant_at_step"] is None
            else f"step {summary['dormant_at_step']} ({summary['dormant_after_s']:.0f} s)"
        )
        print(
            f"{name:>10} ({recipe.arch}, {summary['steps']} steps, {summary['train_seconds']:.0f} s, "
            f"{torch.get_num_threads()} threads): first-token mass {summary['other_mass']:.3f} on other queries, "
            f"{summary['trigger_mass']:.3f} on triggers; copy accuracy {summary['copy_accuracy']:.3f}; "
            f"‖v_bos‖/‖v_other‖ {summary['bos_value_ratio']:.2f}; loss {summary['loss']:.3f}; "
            f"dormant (≥ 0.5 / < 0.1) at {dormant}",
            flush=True,
        )
    return results


def command_line() -> argparse.ArgumentParser:
    """``python -m sinklab.analysis.experiments backcopy``: the Bigram-Backcopy benchmark, one line per variant.

    (The recorded runs that chapter 6 loads are made by ``python -m sinklab.analysis.recorded_runs --profile NAME``.)
    """
    parser = argparse.ArgumentParser(prog="python -m sinklab.analysis.experiments", description=command_line.__doc__)
    parser.add_argument("what", choices=["backcopy"], help="backcopy: softmax vs sink-free variants on Bigram-Backcopy")
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["softmax", "relu"],
        choices=variants.VARIANTS,
        help="attention variants to train",
    )
    parser.add_argument("--arch", default="gpt2", choices=["gpt2", "llama"], help="model family")
    parser.add_argument("--steps", type=int, help="training steps (default: the recipe's, 300)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `command_line`'s command."""
    args = command_line().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    recipe = BackcopyRecipe(arch=args.arch, seed=args.seed)
    backcopy_benchmark(args.variants, replace(recipe, steps=args.steps or recipe.steps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
