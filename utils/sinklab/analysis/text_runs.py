"""Chapter 6's text experiments: small LMs trained on text, and fine-tuning a pretrained LM.

1. `TextRecipe` / `run_text`: a small LM on text, with a choice of packing (fixed <bos> or none, causal
   or intra-document masking), context length, learning rate and weight decay; `evaluate_text` gives the
   held-out loss and sink with and without <bos> at inference (Barbero et al. 2025, Table 2, in miniature).
2. `finetune`: continue training a pretrained LM on windows whose first token varies, with or without
   attention dropout, tracking perplexity and the sink (the seed article's experiment, measured).

`lab_text_recipe` gives the recipe chapter 6 uses on a profile. Like `experiments.run_backcopy`, `run_text`
hands back a recorded run of the same recipe when `sinklab.analysis.recorded_runs` has set `experiments.replay`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from sinklab import data, env, prompts, train, variants
from sinklab.analysis import experiments
from sinklab.analysis.experiments import corpus_documents
from sinklab.errors import SinklabError

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
    if experiments.replay is not None:
        recorded = experiments.replay("text", recipe, text_run_options(tokenizer, hidden) | {"tokenizer": tokenizer})
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
