"""Chapter 6's training experiments, each a recipe (a dataclass of every number) and a function that runs it.

1. `BackcopyRecipe` / `run_backcopy`: Bigram-Backcopy (Guo et al. 2024). A head that copies after a
   trigger has nothing to do on every other token; with softmax it parks there on <bos> ("dormant"), with
   a sink-free variant it need not. `backcopy_probe` measures both kinds of query separately.
2. `TextRecipe` / `run_text`: a small LM on text, with a choice of packing (fixed <bos> or none, causal
   or intra-document masking), context length, learning rate and weight decay; `evaluate_text` gives the
   held-out loss and sink with and without <bos> at inference (Barbero et al. 2025, Table 2, in miniature).
3. `finetune`: continue training a pretrained LM on windows whose first token varies, with or without
   attention dropout, tracking perplexity and the sink (the seed article's experiment, measured).

Everything runs on a CPU at small scale; the papers' settings take GPU-days, so expect directions only.
`backcopy_recipe` / `lab_text_recipe` give the recipes chapter 6 uses on a profile. `replay` lets
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

from sinklab import data, env, prompts, train, variants
from sinklab.errors import SinklabError

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


# 2. Small LMs on text ------------------------------------------------------------------------------------


@dataclass
class TextRecipe:
    """One small LM trained on text. ``packing``: "bos" (fixed <bos> at position 0) or "none";
    ``masking``: "causal" or "document" (intra-document: attention and positions restart after <eos>)."""

    arch: str = "llama"
    variant: str = "softmax"
    hidden_size: int = 128
    n_layers: int = 4
    n_heads: int = 4
    seq_len: int = 128
    batch_size: int = 16
    steps: int = 300
    lr: float = 3e-3
    warmup_steps: int = 30
    weight_decay: float = 0.1
    packing: str = "bos"
    masking: str = "causal"
    corpus: str = "docstrings"  # "docstrings" or "source" (the stdlib, offline) or "tinystories" (online)
    corpus_bytes: int = 1_000_000
    eval_windows: int = 32  # held-out windows (the last ones of the stream) for `evaluate_text`
    probe_every: int = 25
    seed: int = 0
    device: str | None = None  # None: a GPU when there is one (sinklab.env.device())

    def __post_init__(self):
        if self.packing not in ("bos", "none"):
            raise SinklabError(f"packing must be 'bos' or 'none', got {self.packing!r}.")
        if self.masking not in ("causal", "document"):
            raise SinklabError(f"masking must be 'causal' or 'document', got {self.masking!r}.")


def lab_text_recipe(profile: env.Profile) -> TextRecipe:
    """Chapter 6's base text LM on a profile (section 3's first run): size, context, batch and steps from it."""
    hidden_size, n_layers, n_heads = profile.lm_size
    return TextRecipe(
        hidden_size=hidden_size,
        n_layers=n_layers,
        n_heads=n_heads,
        seq_len=profile.lm_seq_len,
        batch_size=profile.lm_batch,
        steps=profile.train_steps,
        warmup_steps=max(1, profile.train_steps // 10),
        probe_every=max(1, profile.train_steps // 12),
        corpus=profile.lm_corpus,
        corpus_bytes=profile.corpus_bytes,
    )


def text_windows(recipe: TextRecipe, tokenizer) -> tuple[dict, dict]:
    """Training and held-out inputs for a recipe: two dicts of ``input_ids`` (and ``position_ids`` for "document")."""
    documents = corpus_documents(recipe.corpus, recipe.corpus_bytes)
    document_bos = recipe.packing == "bos" and recipe.masking == "document"  # then every document starts with <bos>
    stream = data.token_stream(documents, tokenizer, bos_each=document_bos)
    windows = data.pack(stream, recipe.seq_len, recipe.packing, tokenizer.bos_token_id)
    if len(windows) <= recipe.eval_windows:
        raise SinklabError(
            f"The corpus gives only {len(windows)} windows of {recipe.seq_len} tokens. "
            "Fix: raise corpus_bytes or lower seq_len / eval_windows."
        )
    inputs = {"input_ids": windows}
    if recipe.masking == "document":
        inputs["position_ids"] = data.document_position_ids(windows, tokenizer.eos_token_id)
    held_out = {k: v[-recipe.eval_windows :] for k, v in inputs.items()}
    return {k: v[: -recipe.eval_windows] for k, v in inputs.items()}, held_out


def natural_prompts(tokenizer, length: int, with_bos: bool = True) -> torch.Tensor:
    """The course's natural paragraphs as ``[16, length]`` token ids (with or without a leading <bos>)."""
    body = length - 1 if with_bos else length
    if natural_prompt_tokens(tokenizer) < body:
        raise SinklabError(
            f"The natural prompts are shorter than {body} tokens for this tokenizer. Fix: probe with "
            f"length ≤ natural_prompt_tokens(tokenizer) (= {natural_prompt_tokens(tokenizer)})."
        )
    ids = tokenizer(list(prompts.NATURAL), add_special_tokens=False, verbose=False)["input_ids"]
    rows = [([tokenizer.bos_token_id] if with_bos else []) + i[:body] for i in ids]
    return torch.tensor(rows)


def natural_prompt_tokens(tokenizer) -> int:
    """Length in tokens of the shortest natural paragraph (about 190 bytes: ≈ 40 tokens for GPT-2's tokenizer)."""
    return min(len(i) for i in tokenizer(list(prompts.NATURAL), add_special_tokens=False, verbose=False)["input_ids"])


def run_text(recipe: TextRecipe | None = None, tokenizer=None, progress: bool = True, hidden: bool = False) -> dict:
    """Train one small LM on text; returns ``{"recipe", "model", "tokenizer", "history", "held_out", "minutes"}``.

    The probe measures the sink every ``probe_every`` steps on the natural prompts (64 tokens or the
    context length if shorter), with <bos> when the recipe packs with <bos>. ``hidden=True`` adds the
    residual-stream norms of the first token per block (the P0 circuit's signature).
    """
    recipe = recipe or TextRecipe()
    start = time.perf_counter()
    tokenizer = tokenizer or data.byte_tokenizer(model_max_length=recipe.seq_len)
    if replay is not None:
        recorded = replay("text", recipe, text_run_options(tokenizer, hidden) | {"tokenizer": tokenizer})
        if recorded is not None:
            return recorded
    windows, held_out = text_windows(recipe, tokenizer)
    generator = torch.Generator().manual_seed(recipe.seed)

    def next_batch() -> dict:
        rows = torch.randint(len(windows["input_ids"]), (recipe.batch_size,), generator=generator)
        return {k: v[rows] for k, v in windows.items()}

    config = train.model_config(
        tokenizer, recipe.hidden_size, recipe.n_layers, recipe.n_heads, recipe.seq_len, arch=recipe.arch
    )
    model = train.build_model(config, recipe.seed, recipe.variant)
    probe_ids = natural_prompts(tokenizer, min(64, recipe.seq_len), with_bos=recipe.packing == "bos")
    callbacks = [train.sink_probe(probe_ids)]
    if hidden:
        callbacks.append(first_token_norm_probe(probe_ids))
    train_config = train.TrainConfig(
        steps=recipe.steps,
        lr=recipe.lr,
        warmup_steps=recipe.warmup_steps,
        weight_decay=recipe.weight_decay,
        probe_every=recipe.probe_every,
        device=recipe.device or env.device(),
        progress=progress,
    )
    history = train.train(model, next_batch, train_config, tuple(callbacks))
    return {
        "recipe": recipe,
        "model": model,
        "tokenizer": tokenizer,
        "history": history,
        "held_out": held_out,
        "minutes": (time.perf_counter() - start) / 60,
    }


def text_run_options(tokenizer, hidden: bool) -> dict:
    """What besides the recipe decides a `run_text` run: the probe set (``hidden``) and the tokenizer's vocabulary."""
    return {
        "hidden": hidden,
        "vocab": len(tokenizer),
        "special": [tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id],
    }


def first_token_norm_probe(input_ids: torch.Tensor) -> Callable:
    """A `train` callback: residual-stream norm of the first token over the others' mean, per block.

    Entry ``first_norm_ratio``: ``[L+1]`` (0 = the embeddings). The P0 sink circuit (Peng et al. 2026)
    gives position 0 a large, input-independent residual within the first two blocks.
    """
    from sinklab import measure

    def probe(model) -> dict:
        report = measure.measure(model, input_ids.to(model.device), stats=("first", "hidden"))
        return {"first_norm_ratio": (report.hidden_norm_first / report.hidden_norm_rest).mean(0).tolist()}

    return probe


def held_out_loss(model, inputs: dict, first_target: int = 1, batch_size: int = 16) -> float:
    """Mean next-token loss (nats) on held-out inputs (``input_ids``, optional ``position_ids``), over the
    targets at positions ``first_target`` and later."""
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(inputs["input_ids"]), batch_size):
            batch = {k: v[start : start + batch_size].to(model.device) for k, v in inputs.items()}
            logits = model(**batch).logits[:, first_target - 1 : -1]
            targets = batch["input_ids"][:, first_target:]
            total += torch.nn.functional.cross_entropy(
                logits.flatten(0, 1).float(), targets.flatten(), reduction="sum"
            ).item()
            count += targets.numel()
    return total / count


def evaluate_text(run: dict, eps: float = 0.3) -> list[dict]:
    """Held-out loss and sink of a text run, with <bos> at position 0 and with text only (Barbero et al., Table 2).

    Loss: on the held-out windows, with their <bos> and with it dropped (a model packed with "none" sees
    windows that start mid-text, so there "<bos> + text" prepends one). Both rows score the same
    predictions: the text's tokens from its second one on. Sink rate at ``eps`` and mean first-token
    mass: on the natural prompts, whose first token is then <bos> or the first letter.
    """
    model, tokenizer, recipe = run["model"], run["tokenizer"], run["recipe"]
    ids = run["held_out"]["input_ids"]
    text = ids[:, 1:] if recipe.packing == "bos" else ids[:, :-1]  # the same length in both rows
    rows = []
    for with_bos in (True, False):
        window = torch.cat([torch.full((len(text), 1), tokenizer.bos_token_id), text], 1) if with_bos else text
        inputs = {"input_ids": window}
        if recipe.masking == "document":
            inputs["position_ids"] = data.document_position_ids(window, tokenizer.eos_token_id)
        report = variants.measure(model, natural_prompts(tokenizer, min(64, recipe.seq_len), with_bos), eps=(eps,))
        rows.append(
            {
                "packing": recipe.packing,
                "masking": recipe.masking,
                "inference": "<bos> + text" if with_bos else "text only",
                "loss": held_out_loss(model, inputs, first_target=2 if with_bos else 1),
                f"sink_rate@{eps}": report.sink_rate[eps],
                "first_token_mass": report.importance.mean().item(),
            }
        )
    return rows


def text_table(runs: list[dict], eps: float = 0.3) -> list[dict]:
    """`evaluate_text` for several runs, one list of rows (for a DataFrame)."""
    return [row for run in runs for row in evaluate_text(run, eps)]


# 3. Fine-tuning on text whose first token varies (the seed article's experiment) --------------------------


@dataclass
class FinetuneRecipe:
    """Continue training a pretrained LM on windows cut at random places in a text stream.

    ``first_token="varies"``: the window starts wherever the cut falls (no <bos>), so the first token
    is a different one every time; ``"bos"``: the model's <bos> token, then the text.
    ``attention_dropout``: dropout on the attention weights during fine-tuning (the seed's claim).
    """

    first_token: str = "varies"
    attention_dropout: float = 0.0
    steps: int = 200
    lr: float = 1e-4
    warmup_steps: int = 10
    batch_size: int = 8
    seq_len: int = 128
    corpus: str = "docstrings"
    corpus_bytes: int = 1_000_000
    eval_windows: int = 32
    probe_every: int = 20
    seed: int = 0

    def __post_init__(self):
        if self.first_token not in ("varies", "bos"):
            raise SinklabError(f"first_token must be 'varies' or 'bos', got {self.first_token!r}.")


def set_attention_dropout(model, p: float) -> None:
    """Dropout probability ``p`` on the attention weights of every layer (Llama-, GPT-2- and NeoX-style models)."""
    from sinklab import measure

    for module in measure.attention_modules(model):
        if hasattr(module, "attention_dropout"):
            module.attention_dropout = p  # Llama, Qwen, Mistral, ...
        elif isinstance(getattr(module, "attn_dropout", None), torch.nn.Dropout):
            module.attn_dropout.p = p  # GPT-2
        else:
            raise SinklabError(
                f"Don't know where {type(module).__name__} keeps its attention dropout. "
                "Fix: fine-tune a Llama- or GPT-2-style model."
            )


def random_windows(stream: torch.Tensor, batch_size: int, length: int, generator: torch.Generator) -> torch.Tensor:
    """``[batch_size, length]`` windows of a 1-D token stream, each starting at a random position."""
    starts = torch.randint(len(stream) - length, (batch_size,), generator=generator)
    return stream[starts[:, None] + torch.arange(length)]


def with_first_token(windows: torch.Tensor, bos_id: int | None) -> torch.Tensor:
    """The windows with `bos_id` written in front (the last token dropped to keep the length); unchanged if None."""
    if bos_id is None:
        return windows
    return torch.cat([torch.full((len(windows), 1), bos_id), windows[:, :-1]], 1)


def finetune_probe(tokenizer, held_out: torch.Tensor, probe_length: int = 64) -> Callable:
    """A `train` callback: held-out perplexity and first-token mass, each with <bos> in front and without.

    Entries ``ppl_bos`` / ``ppl_varies`` (perplexity on the held-out windows with and without <bos>, over
    the same targets: the text from its second token on) and ``sink_bos`` / ``sink_varies`` (mean
    first-token mass over layers and heads on the natural prompts, cut to `probe_length` tokens or the
    shortest paragraph, first token <bos> or the first word).
    """
    import math

    bos = tokenizer.bos_token_id
    probe_length = min(probe_length, natural_prompt_tokens(tokenizer))
    prompts_bos = natural_prompts(tokenizer, probe_length, with_bos=True)
    prompts_text = natural_prompts(tokenizer, probe_length, with_bos=False)
    text = held_out[:, :-1]

    def probe(model) -> dict:
        return {
            "ppl_bos": math.exp(held_out_loss(model, {"input_ids": with_first_token(held_out, bos)}, first_target=2)),
            "ppl_varies": math.exp(held_out_loss(model, {"input_ids": text}, first_target=1)),
            "sink_bos": variants.measure(model, prompts_bos).importance.mean().item(),
            "sink_varies": variants.measure(model, prompts_text).importance.mean().item(),
        }

    return probe


def finetune(
    model, tokenizer, recipe: FinetuneRecipe | None = None, stream: torch.Tensor | None = None, progress: bool = True
) -> dict:
    """Fine-tune a *copy* of `model` with `recipe`; returns ``{"recipe", "model", "history", "minutes"}``.

    `stream`: the corpus as one token stream (`data.token_stream`); default: the recipe's corpus. The
    history starts with a probe of the untouched model at step 0. Training windows come from the first
    90 % of the stream, the held-out windows from the rest.
    """
    import copy

    recipe = recipe or FinetuneRecipe()
    if tokenizer.bos_token_id is None:
        raise SinklabError(
            "This tokenizer has no BOS token to put first. Fix: fine-tune a model whose tokenizer has one."
        )
    start = time.perf_counter()
    if stream is None:
        stream = data.token_stream(corpus_documents(recipe.corpus, recipe.corpus_bytes), tokenizer)
    cut = int(0.9 * len(stream))
    train_stream, eval_stream = stream[:cut], stream[cut:]
    held_out = random_windows(eval_stream, recipe.eval_windows, recipe.seq_len, torch.Generator().manual_seed(1))
    generator = torch.Generator().manual_seed(recipe.seed)
    first = tokenizer.bos_token_id if recipe.first_token == "bos" else None

    def next_batch() -> torch.Tensor:
        return with_first_token(random_windows(train_stream, recipe.batch_size, recipe.seq_len, generator), first)

    tuned = copy.deepcopy(model).float()
    set_attention_dropout(tuned, recipe.attention_dropout)
    probe = finetune_probe(tokenizer, held_out.to(tuned.device))
    history = [{"step": 0, **probe(tuned.eval())}]
    train_config = train.TrainConfig(
        steps=recipe.steps,
        lr=recipe.lr,
        warmup_steps=recipe.warmup_steps,
        weight_decay=0.0,
        probe_every=recipe.probe_every,
        progress=progress,
        device=str(tuned.device),
    )
    history += train.train(tuned, next_batch, train_config, (probe,))
    set_attention_dropout(tuned, 0.0)
    return {"recipe": recipe, "model": tuned, "history": history, "minutes": (time.perf_counter() - start) / 60}


# 4. Command line ------------------------------------------------------------------------------------------


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
