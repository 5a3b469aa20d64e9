"""The model cards (README.md) of the shipped teaching models, written from their recipe and measurements.

`model_card(recipe, model, history, table, minutes)` returns the markdown; `sinklab.train.train_embedded`
writes it next to the weights. Every number in a card comes from `table` (`sinklab.train.sink_table`:
measured after training) or from the recipe and the training history, never typed in by hand.
"""

from __future__ import annotations

import platform
from dataclasses import asdict

import torch

from sinklab import prompts

NAMES = {"bos": "tiny-sink-lm", "none": "tiny-sink-lm-nobos"}
COMMANDS = {"bos": "embedded", "none": "twin"}


def format_table(head_mass: list[list[float]]) -> str:
    """A markdown layer x head table of first-token importance."""
    n_heads = len(head_mass[0])
    lines = ["| layer | " + " | ".join(f"head {h}" for h in range(n_heads)) + " |", "| --- |" + " --- |" * n_heads]
    lines += [f"| {layer} | " + " | ".join(f"{m:.2f}" for m in row) + " |" for layer, row in enumerate(head_mass)]
    return "\n".join(lines)


def format_layers(table: dict) -> str:
    """Per layer: sink rate at each eps and the first token's residual norm ratio, with and without <bos>."""
    eps = list(table["with_bos"]["sink_rate"])
    head = " | ".join(f"{name.replace('_', ' ')} ε = {e}" for name in table for e in eps)
    lines = [
        f"| layer | {head} | first-token norm ratio (with / without `<bos>`) | local mass (with `<bos>`) |",
        "| --- |" + " --- |" * (len(eps) * len(table) + 2),
    ]
    n_layers = len(table["with_bos"]["head_mass"])
    for layer in range(n_layers):
        rates = " | ".join(f"{100 * t['layer_sink_rate'][e][layer]:.0f} %" for t in table.values() for e in eps)
        norms = " / ".join(f"{t['first_norm_ratio'][layer + 1]:.1f}" for t in table.values())
        local = sum(table["with_bos"]["local_mass"][layer]) / len(table["with_bos"]["local_mass"][layer])
        lines.append(f"| {layer} | {rates} | {norms} | {local:.2f} |")
    return "\n".join(lines)


def two_by_two(tables: dict[str, dict]) -> str:
    """Barbero et al.'s Table 2 in miniature: `tables` maps a model name to its `sink_table`."""
    lines = [
        "| model (training) | inference input | sink rate ε = 0.3 | sink rate ε = 0.8 | held-out loss (nats/byte) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, table in tables.items():
        for setting, label in (("with_bos", "`<bos>` + text"), ("without_bos", "text")):
            t = table[setting]
            lines.append(
                f"| {name} | {label} | {100 * t['sink_rate']['0.3']:.1f} % | "
                f"{100 * t['sink_rate']['0.8']:.1f} % | {t['heldout_loss']:.3f} |"
            )
    return "\n".join(lines)


def sink_sentence(table: dict) -> str:
    """What the card may say about the sink: only what the measured table shows."""
    best = max(t["sink_rate"]["0.3"] for t in table.values())
    if best >= 0.1:
        return (
            "What it does have is a genuine first-token attention sink on ordinary text (measured below), "
            "which the course measures, ablates and explains."
        )
    return (
        f"It grew almost no first-token sink: at most {100 * best:.1f} % of (prompt, layer, head) above "
        "ε = 0.3, with or without `<bos>` (measured below)."
    )


def sink_heads_value_ratio(table: dict, eps: float = 0.3) -> str:
    """Median over the sink heads (importance > eps, with <bos>) of the first token's value norm / the others'."""
    t = table["with_bos"]
    ratios = [
        v for row_m, row_v in zip(t["head_mass"], t["first_value_norm_ratio"]) for m, v in zip(row_m, row_v) if m > eps
    ]
    if not ratios:
        return "no sink heads"
    return f"{torch.tensor(ratios).median().item():.2f} (median over {len(ratios)} heads with α₀ > {eps})"


def model_card(
    recipe,
    model,
    history: list[dict],
    table: dict,
    minutes: float,
    twin_table: dict | None = None,
    threads: int | None = None,
) -> str:
    """The README.md of a teaching model: what it is, how it was trained, its measured sink."""
    n_params = sum(p.numel() for p in model.parameters())
    final = history[-1]
    name = NAMES[recipe.packing]
    command = COMMANDS[recipe.packing]
    fixed = recipe.packing == "bos"
    triggers, payloads = recipe.recall
    rates = {k: ", ".join(f"ε = {e}: {100 * r:.1f} %" for e, r in t["sink_rate"].items()) for k, t in table.items()}
    recipe_lines = "\n".join(f"| `{k}` | {v} |" for k, v in asdict(recipe).items())
    packing = (
        f"packed into {recipe.seq_len}-token windows with `<bos>` fixed at position 0"
        if fixed
        else f"every document opened by `<bos>` and closed by `<eos>`, the stream cut into plain "
        f"{recipe.seq_len}-token windows: position 0 holds whatever token the cut lands on, and `<bos>` "
        "occurs wherever a document starts (no fixed `<bos>`, Barbero et al. 2025, Table 2)"
    )
    peak = max(table["with_bos"]["first_norm_ratio"][1:])
    per_window = (
        "all of them in every window"
        if recipe.classes_per_window >= recipe.n_classes
        else f"{recipe.classes_per_window} of them drawn at random per window"
    )
    return f"""---
license: apache-2.0
library_name: transformers
pipeline_tag: text-generation
tags: [sinklab, attention-sink, teaching, llama]
---

# {name}: {
        "a teaching model with a deliberately induced attention sink"
        if fixed
        else "the twin of tiny-sink-lm, trained without a fixed <bos>"
    }

**This is not a real language model.** It is a {n_params / 1e6:.2f}M-parameter Llama-architecture model
(RoPE, RMSNorm, SwiGLU; {recipe.n_layers} layers × {recipe.n_heads} heads, hidden size {recipe.hidden_size},
context {recipe.seq_len}) that ships inside the `sinklab` course package so that the course runs offline
(`sinklab.models.load_model("sinklab/{name}")`). It writes barely readable English. {sink_sentence(table)}
{
        "Its twin `sinklab/tiny-sink-lm-nobos` is the same recipe trained without a fixed `<bos>`."
        if fixed
        else "It is the twin of `sinklab/tiny-sink-lm`: the same recipe, data, budget and seed, trained without a fixed `<bos>`."
    }

## Tokenizer

One token per UTF-8 byte (token id = byte value), plus `<bos>` ({model.config.bos_token_id}),
`<eos>` ({model.config.eos_token_id}) and `<pad>` ({model.config.pad_token_id}). Like Llama's `<s>`, `<bos>`
is prepended by default; `tokenizer(text, add_special_tokens=False)` leaves it out.

## Training data and recipe

- **Natural text:** docstrings of the Python {platform.python_version()} standard library
  (`sinklab.data.stdlib_documents("docstrings", {recipe.corpus_bytes})`: sorted file order; every
  {recipe.heldout_every}th docstring is held out for the validation loss), {packing}.
- **Trigger-Recall**, written into every window: {recipe.n_classes} classes, {per_window}. For each
  class in a window a payload byte (one of the class's {recipe.n_payloads}) replaces a text byte in the
  first half of the window, and {recipe.n_recall} times later the class's trigger
  byte is followed by that payload. Triggers {list(triggers)}, payloads {[list(p) for p in payloads]}: bytes that
  never occur in UTF-8 English text. Predicting the payload after a trigger needs a head that finds it by
  content at any distance; on every other token such a head has nothing to do, and a softmax head with
  nothing to do parks its attention on the first token (a *dormant* head, Guo et al. 2024,
  "Active-Dormant Attention Heads"). Each class is needed at a few positions of a window, and head dropout
  ({recipe.head_dropout}: in training each head's output is zeroed at random, `sinklab.train.drop_heads`) makes
  several heads learn each job. The intent: a sink on text, which tiny models trained for minutes on text
  alone do not have.
- {recipe.steps} AdamW steps of {recipe.batch_size} × {recipe.seq_len} tokens ({final["tokens"] / 1e6:.1f}M tokens),
  warmup {recipe.warmup_steps} steps then cosine decay, weight decay {recipe.weight_decay} (Gu et al. 2025 find
  more sinks at 0.5 than at 0.1), gradient clipping 1.0; final training loss {final["loss"]:.3f} nats/token.
  Wall time {minutes:.1f} minutes on {threads or torch.get_num_threads()} CPU thread(s), **measured on a 2-core machine
  shared with other jobs** (an idle machine is faster).

| recipe field | value |
| --- | --- |
{recipe_lines}

Reproduce (deterministic for the same Python version and torch build):

```
python -m sinklab.train {command} --out utils/sinklab/assets/{name}
```

## Measured sink

Gu et al.'s protocol: first-token importance α₀ (mean attention position 0 receives from all T queries,
itself included) on natural text, T = 64 tokens (`sinklab.prompts.prompt_batch(tokenizer, "natural", n=16,
seq_len=64)`: 16 rows built from the paragraphs of `sinklab.prompts.NATURAL`, e.g.
"{prompts.NATURAL[0][:50]}…"), with `<bos>` + 63 text tokens, or 64 text tokens without `<bos>`. Sink rate:
the fraction of (prompt, layer, head) with α₀ > ε. Measured with `sinklab.measure.measure` after
training; the held-out loss is on 64 windows of held-out docstrings, the same 62 target tokens with and
without `<bos>` in front.

**With `<bos>`** ({rates["with_bos"]}; held-out loss {table["with_bos"]["heldout_loss"]:.3f})

{format_table(table["with_bos"]["head_mass"])}

**Without `<bos>`** (the first token is the first letter; {rates["without_bos"]}; held-out loss
{table["without_bos"]["heldout_loss"]:.3f})

{format_table(table["without_bos"]["head_mass"])}

**Per layer** (sink rate over (prompt, head); first-token norm ratio: the first token's residual-stream
norm over the mean of the other tokens' after that block, a massive activation when ≥ 10; local mass:
the attention a query puts on its last 8 tokens, itself included, mean over heads and queries 8–63):

{format_layers(table)}

Largest first-token norm ratio with `<bos>`: {peak:.1f}. First-token value norm over the other tokens' in the
sink heads: {sink_heads_value_ratio(table)}.
{targets(table) if fixed else ""}
{twin_section(name, table, twin_table)}
The numbers are also in `sink_table.json`; the loss and probe history is in `training_history.json`.

## Negative results met while designing this recipe (measured)

- The previous `tiny-sink-lm` (4 layers × 4 heads, 3 recall classes in every window, weight decay 0.1,
  2000 steps of 32 × 256): one sink head. Independently measured at T = 64 with `<bos>`, 3 of 16 heads
  above ε = 0.3 and none above 0.8.
- Half of each batch Bigram-Backcopy (Guo et al.'s task: copy the token two positions back after a
  trigger), same model and steps: it learned the copy (99.7 % accuracy) but grew no sink (largest per-head
  α₀ 0.08). With RoPE, a head can fetch the token two back on every query, so no head ever idles.
{negative_lines()}

## What it is not

Not a language model to generate with, not a benchmark of anything, and not evidence about how sinks
emerge in real LLMs: the sink here was induced on purpose by the synthetic task. Use real models
(GPT-2, Pythia, Llama) for claims about pretrained LLMs.
"""


PILOTS = [  # design pilots of this recipe, measured (T = 64, natural text, with <bos>) on the shared 2-core machine
    "Pilot: 4 layers × 8 heads, hidden 128, 8 classes but only 3 per window with 4 recalls each (≈ 10 % recall "
    "tokens), no head dropout, weight decay 0.5, 400 steps of 16 × 256: sink rate 6.4 % at ε = 0.3 and 0 % at "
    "ε = 0.8 with `<bos>` (1.4 % without), largest head α₀ 0.58, no massive activation (first-token norm ratio "
    "≤ 1.5), held-out loss 1.78 (1.88 without `<bos>`). A rare, small recall task recruits two or three heads.",
    "Pilots of 6 layers × 8 heads at hidden 128, and of the 4 × 8 model with head dropout 0.3, were stopped "
    "early (at steps 150 and 60) for lack of CPU time; they had not yet separated from the run above.",
]


def negative_lines() -> str:
    return "\n".join(f"- {line}" for line in PILOTS)


def targets(table: dict) -> str:
    """The design targets of sinklab issue 17 (an LLM-like sink), each with the value measured above."""
    w, wo = table["with_bos"], table["without_bos"]
    local = [sum(row) / len(row) for row in w["local_mass"]]
    head_mass = torch.tensor(w["head_mass"])
    values = torch.tensor(w["first_value_norm_ratio"])[head_mass > 0.3]
    rate, rate_without = w["sink_rate"], wo["sink_rate"]
    rows = [
        ("sink rate ≥ 50 % at ε = 0.3 with `<bos>`", f"{100 * rate['0.3']:.1f} %", rate["0.3"] >= 0.5),
        ("sink rate ≥ 15 % at ε = 0.8 with `<bos>`", f"{100 * rate['0.8']:.1f} %", rate["0.8"] >= 0.15),
        (
            "sink rate ≤ 5 % at ε = 0.3 without `<bos>`",
            f"{100 * rate_without['0.3']:.1f} %",
            rate_without["0.3"] <= 0.05,
        ),
        ("layers 0–1 mostly local (local mass > 0.5)", f"{local[0]:.2f}, {local[1]:.2f}", min(local[:2]) > 0.5),
        (
            "first-token norm ratio ≥ 10 by layer 2",
            f"{max(w['first_norm_ratio'][1:4]):.1f}",
            max(w["first_norm_ratio"][1:4]) >= 10,
        ),
        (
            "small `<bos>` value norm in sink heads (ratio < 0.5)",
            f"{values.median().item():.2f}" if len(values) else "no sink heads",
            bool(len(values)) and values.median().item() < 0.5,
        ),
    ]
    lines = ["| target | measured | met |", "| --- | --- | --- |"]
    lines += [f"| {target} | {value} | {'yes' if ok else '**no**'} |" for target, value, ok in rows]
    intro = (
        "The recipe was meant to give a sink that looks like a pretrained LLM's (sinklab issue 17). "
        "Each target with the value measured above:"
    )
    return "\n## Against the design targets (an LLM-like sink)\n\n" + intro + "\n\n" + "\n".join(lines) + "\n"


def twin_section(name: str, table: dict, twin_table: dict | None) -> str:
    """The 2 x 2 table (Barbero et al.'s Table 2 in miniature), when the other model's table is known."""
    if twin_table is None:
        return ""
    fixed, free = (table, twin_table) if name == NAMES["bos"] else (twin_table, table)
    pair = {"tiny-sink-lm (fixed `<bos>`)": fixed, "tiny-sink-lm-nobos (no fixed `<bos>`)": free}
    return f"""
## The pair: Barbero et al.'s Table 2 in miniature

Both models, same protocol (natural text, T = 64), with and without `<bos>` at inference. Barbero et al.
(≈120M models, 30B tokens, one secondary reading): fixed `<bos>` 90.84 % → 0.05 % without it, loss
2.69 → 7.56; no fixed `<bos>` 65.10 % and 65.15 %, loss 2.69 and 2.70 (ε = 0.8 for LLaMa 3.1 in their
Table 1; their Table 2 threshold is not given in the notes we have).

{two_by_two(pair)}
"""


def write_card(folder, recipe, twin_folder=None) -> str:
    """(Re)write ``folder/README.md`` from `recipe` (a `sinklab.train.EmbeddedRecipe`) and the files training
    left there (weights, recipe.json, sink_table.json, training_history.json); the 2 x 2 table is added when
    the other model of the pair (default: the sibling folder) has a sink_table.json too. Returns the card."""
    import json
    from pathlib import Path

    from transformers import AutoModelForCausalLM

    folder = Path(folder)
    meta = json.loads((folder / "recipe.json").read_text())
    other = NAMES["none" if recipe.packing == "bos" else "bos"]
    twin_folder = Path(twin_folder) if twin_folder else folder.parent / other
    twin_table = None
    if (twin_folder / "sink_table.json").is_file():
        twin_table = json.loads((twin_folder / "sink_table.json").read_text())
    model = AutoModelForCausalLM.from_pretrained(folder)
    history = json.loads((folder / "training_history.json").read_text())
    table = json.loads((folder / "sink_table.json").read_text())
    card = model_card(recipe, model, history, table, meta["minutes"], twin_table, meta.get("threads"))
    (folder / "README.md").write_text(card)
    return card
