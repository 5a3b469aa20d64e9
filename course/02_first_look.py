# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown] tags=["core"]
# ## 1️⃣ Load a real language model and look at its attention
#
# > **Learning objectives**
# > - Load the profile's causal LM with `sinklab.models.load`
# > - Capture full attention patterns for a short prompt and draw one heatmap per head
# > - Spot the first-token column in those heatmaps
#
# On the `cpu` profile the model is GPT-2 small; on `ci` (offline) it is `sinklab/tiny-sink-lm`,
# the teaching model shipped with sinklab; GPU profiles pick a larger LM. Everything below works
# for any of them — read the model's name in the output before you read the numbers.

# %%
import torch

from sinklab import measure, models, plots, prompts

model, tokenizer = models.load("causal_lm")
config = model.config.get_text_config()
n_layers, n_heads = config.num_hidden_layers, config.num_attention_heads
print(f"{model.name_or_path}: {config.model_type}, {n_layers} layers x {n_heads} heads, "
      f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters")

# %% [markdown]
# `measure.attention_patterns` returns the exact softmax weights for the layers and heads you ask
# for, shape `[batch, layer, head, query, key]`. It refuses long inputs: a full pattern grows as T²
# (chapter 3 measures sinks without ever building it).

# %%
text = "The quick brown fox jumps over the lazy dog."
batch = tokenizer(text, return_tensors="pt").to(model.device)
tokens = tokenizer.convert_ids_to_tokens(batch["input_ids"][0])
attn = measure.attention_patterns(model, batch)[0]  # [layer, head, query, key]
print("tokens:", tokens)
print("attn shape [layer, head, query, key]:", tuple(attn.shape))
heads_shown = list(range(min(n_heads, 8)))
plots.attention_heatmaps(attn[n_layers - 1, heads_shown], tokens, title=f"last layer ({n_layers - 1}), one panel per head")

# %% [markdown]
# Each panel is one head; each row one query (a position that reads), each column one key (a
# position that is read). Causal masking leaves the upper triangle empty. Look at the **leftmost
# column**: in many heads it is the brightest cell of almost every row. That is the attention sink.
#
# *Interpret it:* why is the top-left cell of every panel exactly 1?
#
# <details><summary>Answer</summary>Query 0 can only see key 0 (causal mask), and its weights must
# sum to one.</details>

# %% [markdown] tags=["core"]
# ## 2️⃣ Does your tokenizer add a BOS token?
#
# > **Learning objectives**
# > - Check what a tokenizer puts at position 0
# > - Explain why "the first token" means different things in different model families
#
# Llama, Mistral and Gemma tokenizers prepend a beginning-of-sequence token (`<s>`, `<bos>`,
# `<|begin_of_text|>`); GPT-2 and Pythia prepend nothing, so their first token is the first word.
# Gu et al. (2025) measure every model with its tokenizer's defaults, so "the first token" is a BOS
# token for some models and an ordinary word for others. Always check.
#
# ### Exercise 2.1 – Find out whether a tokenizer adds a BOS token
#
# > Difficulty: 🔴⚪⚪⚪⚪ · Importance: 🔵🔵🔵⚪⚪ · ≈ 5 minutes
#
# Return `True` if tokenizing ordinary text puts `tokenizer.bos_token_id` at position 0 without
# you asking for it, else `False`.

# %%
def adds_bos(tokenizer) -> bool:
    """Does `tokenizer(text)` start with the BOS token by itself?"""
    ### BEGIN SOLUTION
    ids = tokenizer("hello world")["input_ids"]
    return tokenizer.bos_token_id is not None and ids[0] == tokenizer.bos_token_id
    ### END SOLUTION


from sinklab.checks import check_adds_bos

check_adds_bos(adds_bos)
print(f"{model.name_or_path} adds a BOS token: {adds_bos(tokenizer)}; first token here: {tokens[0]!r}")

# %% [markdown]
# <details><summary>Hint</summary>
#
# Having a `bos_token` is not the same as adding it: GPT-2's tokenizer has one (`<|endoftext|>`)
# but never prepends it. Tokenize a string and compare `input_ids[0]` with `tokenizer.bos_token_id`.
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ adds_bos: correct.` Then `True` for the `ci` model and Llama-family models, `False` for GPT-2.
# </details>

# %% [markdown] tags=["core"]
# ## 3️⃣ Measure the sink: first-token mass, importance score, sink rate
#
# > **Learning objectives**
# > - Compute the mean attention each head puts on the first token
# > - Implement Gu et al.'s importance score α₀ with padding handled correctly
# > - Compute the sink rate at ε = 0.3 and compare with sinklab's LSE-based measurement
#
# ### Exercise 2.2 – Measure each head's mean attention on the first token
#
# > Difficulty: 🔴🔴⚪⚪⚪ · Importance: 🔵🔵🔵🔵⚪ · ≈ 5 minutes
#
# `attn` has shape `[layer, head, query, key]` for one prompt without padding. Return a
# `[layer, head]` tensor: the attention each head puts on key 0, averaged over all queries.

# %%
def first_token_mass_per_head(attn: torch.Tensor) -> torch.Tensor:
    """attn: [layer, head, q, k] -> mean over queries of attn[..., q, 0], shape [layer, head]."""
    ### BEGIN SOLUTION
    return attn[..., :, 0].mean(dim=-1)
    ### END SOLUTION


from sinklab.checks import check_first_token_mass_per_head

check_first_token_mass_per_head(first_token_mass_per_head)
plots.layer_head_heatmap(first_token_mass_per_head(attn), title=f"{model.name_or_path}: mean attention on the first token")

# %% [markdown]
# <details><summary>Hint</summary>
#
# Keys are the last axis. The column of key 0 is `attn[..., :, 0]` (one value per query).
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ first_token_mass_per_head: correct.` and a layer × head map in which some heads are bright
# (most of their attention on token 0). In GPT-2 small nearly every head after layer 1 is bright.
# </details>

# %% [markdown]
# Gu et al. (2025) turn this into a number per head, the **importance score** of key k,
# α_k = (1 / #queries that see k) · Σ_i attn[i, k], and call a head a sink when α₀ > ε. In a batch
# of prompts of different lengths, tokenizers pad. With **left padding** (used for generation) the
# first *real* token of a row is not at position 0, and pad queries hold garbage that must not count.
#
# ### Exercise 2.3 – Implement the importance score α₀ with padding
#
# > Difficulty: 🔴🔴🔴⚪⚪ · Importance: 🔵🔵🔵🔵⚪ · ≈ 15 minutes
#
# `attn`: `[batch, layer, head, T, T]`; `padding_mask`: `[batch, T]` (1 = real token, 0 = pad;
# pads are on the left). Return α₀ per (row, layer, head), shape `[batch, layer, head]`: the mean
# attention on each row's first real token, averaged over that row's real queries only.

# %%
def importance_score(attn: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
    """Gu et al.'s alpha_0: [batch, layer, head, T, T], [batch, T] -> [batch, layer, head]."""
    ### BEGIN SOLUTION
    first = padding_mask.int().argmax(dim=-1)  # [batch]: position of each row's first real token
    column = torch.stack([attn[b, ..., first[b]] for b in range(attn.shape[0])])  # [batch, layer, head, T]
    real = padding_mask.bool()[:, None, None, :]  # real queries only
    return (column * real).sum(-1) / real.sum(-1)
    ### END SOLUTION


from sinklab.checks import check_importance_score

check_importance_score(importance_score)

# %% [markdown]
# <details><summary>Hint</summary>
#
# The first real token of row b sits at `padding_mask[b].argmax()` (the first 1). Take that key's
# column for row b, zero out pad queries, and divide by the number of real queries — not by T.
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ importance_score: correct.` If it names a mistake, the message says which one.
# </details>
#
# ### Exercise 2.4 – Compute the sink rate
#
# > Difficulty: 🔴⚪⚪⚪⚪ · Importance: 🔵🔵🔵🔵⚪ · ≈ 5 minutes
#
# The sink rate at threshold ε is the fraction of (row, layer, head) triples whose importance score
# is **strictly greater** than ε. Return a Python float in [0, 1].

# %%
def sink_rate(importance: torch.Tensor, eps: float) -> float:
    """Fraction of entries of importance [batch, layer, head] that exceed eps."""
    ### BEGIN SOLUTION
    return (importance > eps).float().mean().item()
    ### END SOLUTION


from sinklab.checks import check_sink_rate

check_sink_rate(sink_rate)

# %% [markdown]
# <details><summary>Hint</summary>
#
# A boolean tensor becomes 0/1 with `.float()`; its mean is the fraction of `True`s.
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ sink_rate(eps=0.3): correct.` and `✅ sink_rate(eps=0.6): correct.`
# </details>

# %% [markdown]
# Now use your functions on the real model, on a batch of prompts of **different lengths** (so the
# tokenizer pads), and compare with `sinklab.measure`, which computes the same statistic from each
# query's log-sum-exp without building the T × T matrix.

# %%
tokenizer.padding_side = "left"
if tokenizer.pad_token is None:
    tokenizer.pad_token = tokenizer.eos_token
texts = [p[: 60 + 25 * i] for i, p in enumerate(prompts.NATURAL[:4])]
padded = tokenizer(texts, return_tensors="pt", padding=True).to(model.device)
full = measure.attention_patterns(model, padded)  # [batch, layer, head, T, T]
mine = importance_score(full, padded["attention_mask"])
report = measure.measure(model, padded, eps=(0.3, 0.8))
gap = (mine - report.importance).abs().max().item()
print(f"rows have {padded['attention_mask'].sum(-1).tolist()} real tokens; largest gap to sinklab: {gap:.1e}")
print(f"sink rate at eps=0.3 — yours: {sink_rate(mine, 0.3):.3f}, sinklab: {report.sink_rate[0.3]:.3f}")
assert gap < 1e-4, "your importance scores should match sinklab's LSE-based measurement"

# %% [markdown]
# Two different computations — yours from the full matrix, sinklab's from log-sum-exps — agree to
# floating-point precision. From here on we use `measure.measure`, which scales to long inputs.

# %% [markdown] tags=["optional"]
# ## 4️⃣ The seed article's experiments, measured
#
# > **Learning objectives**
# > - Measure how much the next-token distributions change when only the first token changes (KL by position)
# > - Compare the sink with and without a BOS token, and with numeric or symbolic openers
# > - Report each number with the model it was measured on
#
# A popular article on this topic (in `shared/seeds`) suggests experiments and reports anecdotes:
# "swap *The* for *Suddenly* and the whole response shifts", "a numeric opener like `[123]` makes
# outputs feel disjointed". Here we measure instead. The yardstick is the KL divergence between the
# model's next-token distributions on two inputs that share the same suffix, position by position.

# %%
import torch.nn.functional as F


def next_token_logprobs(model, ids: list[int]) -> torch.Tensor:
    """Log-probabilities of the next token at every position, [T, vocab]."""
    with torch.no_grad():
        logits = model(torch.tensor([ids], device=model.device)).logits[0]
    return F.log_softmax(logits.float(), dim=-1)


def kl_on_shared_suffix(model, ids_a: list[int], ids_b: list[int], n_suffix: int) -> torch.Tensor:
    """KL(P_a || P_b) of next-token predictions over the last `n_suffix` positions, [n_suffix]."""
    logp_a = next_token_logprobs(model, ids_a)[-n_suffix:]
    logp_b = next_token_logprobs(model, ids_b)[-n_suffix:]
    return (logp_a.exp() * (logp_a - logp_b)).sum(-1)


def encode(text: str, bos: bool) -> list[int]:
    """Token ids of `text`, with the model's BOS token at position 0 if `bos` (and the model has one)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    bos_id = tokenizer.bos_token_id
    return [bos_id] + ids if bos and bos_id is not None else ids


uses_bos = adds_bos(tokenizer)
story = " quick brown fox jumps over the lazy dog and runs into the forest to find its friends."
suffix = tokenizer(story, add_special_tokens=False)["input_ids"]
openers = {"The": "The", "Suddenly": "Suddenly", "[123]": "[123] The", "###": "### The", "2023-10-01:": "2023-10-01: The"}
variants = {name: encode(opener + story, bos=uses_bos) for name, opener in openers.items()}
kl = {name: kl_on_shared_suffix(model, variants["The"], ids, len(suffix)).tolist() for name, ids in variants.items() if name != "The"}
plots.lines(kl, x_title="position in the shared suffix", y_title="KL(original ‖ variant), nats",
            title=f"{model.name_or_path}: how far a changed opener reaches", log_y=True)

# %%
mean_kl = {name: sum(v) / len(v) for name, v in kl.items()}
late_kl = {name: sum(v[-5:]) / 5 for name, v in kl.items()}
for name in kl:
    print(f"opener {name!r:14}: mean KL {mean_kl[name]:.3f} nats over the suffix, {late_kl[name]:.3f} over its last 5 tokens")

# %% [markdown]
# Changing the opener changes predictions most right after it, and the effect fades along the
# suffix — but it does not vanish. Compare the numbers across openers before you believe any
# claim that numeric or symbolic openers are special.
#
# Next: what happens to the **sink** itself? For every opener, measure the mean attention on
# position 0 and the sink rate, with and without a BOS token.

# %%
rows = []
for name, opener in openers.items():
    for bos in (True, False):
        if bos and tokenizer.bos_token_id is None:
            continue
        ids = torch.tensor([encode(opener + story, bos=bos)], device=model.device)
        r = measure.measure(model, ids, eps=(0.3,))
        rows.append({"opener": name, "BOS": bos, "first token": tokenizer.convert_ids_to_tokens(ids[0, :1])[0],
                     "mean first-token mass": r.importance.mean().item(), "sink rate ε=0.3": r.sink_rate[0.3]})
import pandas as pd

sink_table = pd.DataFrame(rows)
sink_table.round(3)

# %%
with_bos = sink_table[sink_table["BOS"]]["sink rate ε=0.3"].mean() if uses_bos else float("nan")
without_bos = sink_table[~sink_table["BOS"]]["sink rate ε=0.3"].mean()
print(f"{model.name_or_path}: mean sink rate with BOS {with_bos:.3f}, without BOS {without_bos:.3f}")
if uses_bos:
    # Models trained with a BOS token park attention on it; without it they must park elsewhere.
    assert with_bos > without_bos, "expected a stronger sink with the BOS token this model was trained with"

# %% [markdown]
# *Interpret it:* for a model trained with BOS, the sink lives on the BOS token. Remove BOS and the
# first word has to play the role — which it does only partly. For GPT-2, trained without BOS, the
# first word *is* the sink, whatever it is. Chapter 4 shows that the sink is not semantic: even a
# random first token becomes one.
#
# Finally, the generation anecdote: greedy continuations with the original and a changed opener.

# %%
def continue_text(ids: list[int], n_new: int = 12) -> str:
    out = model.generate(torch.tensor([ids], device=model.device), max_new_tokens=n_new, do_sample=False,
                         pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(out[0, len(ids):])


for name in ("The", "[123]", "Suddenly"):
    print(f"{name!r:11} → {continue_text(variants[name])!r}")

# %% [markdown]
# ### Which heads carry the change of the first word?
#
# A token reaches later positions only through attention: in every layer, later queries read its
# key and value. So we can route a change head by head. Take two inputs that differ in **one**
# token, the first word. Run the shared prefix once for each and build a key/value cache in which
# chosen heads read the variant's word and all other heads read the original's; then run the shared
# suffix on that cache. If every head reads the variant we get the variant's predictions exactly; if
# none does, the original's. In between, the KL to the original says how much of the change those
# heads carry. We compare the **sink heads** (α₀ > 0.3) with all the others.
#
# For a model with a BOS token the first word sits at position 1, and the sink (position 0) is the
# same in both inputs: it cannot carry the change at all. For GPT-2 the first word *is* the sink.

# %%
def first_word_pair(candidates=(("The", "A"), ("The", "She"), ("The", "One"))) -> tuple[list[int], list[int], int]:
    """Token ids of two openers + `story` that differ at exactly one position, and that position."""
    for a, b in candidates:
        ids_a, ids_b = encode(a + story, bos=uses_bos), encode(b + story, bos=uses_bos)
        differ = [i for i, (x, y) in enumerate(zip(ids_a, ids_b)) if x != y]
        if len(ids_a) == len(ids_b) and len(differ) == 1:
            return ids_a, ids_b, differ[0]
    raise ValueError(f"{model.name_or_path}'s tokenizer splits every candidate opener pair differently")


def routed_logprobs(ids_a: list[int], ids_b: list[int], position: int, heads_from_b: list[list[int]]) -> torch.Tensor:
    """Next-token log-probs after `position` when, in layer l, only key/value heads `heads_from_b[l]`
    read input b's token at `position` (all other heads read input a's), [T - position - 1, vocab]."""
    with torch.no_grad():
        _, cache = models.forward_with_cache(model, torch.tensor([ids_a[: position + 1]], device=model.device))
        _, cache_b = models.forward_with_cache(model, torch.tensor([ids_b[: position + 1]], device=model.device))
        for layer, layer_b, heads in zip(cache.layers, cache_b.layers, heads_from_b):
            layer.keys[:, heads, position] = layer_b.keys[:, heads, position]
            layer.values[:, heads, position] = layer_b.values[:, heads, position]
        suffix_ids = torch.tensor([ids_a[position + 1:]], device=model.device)
        logits, _ = models.forward_with_cache(model, suffix_ids, cache)
    return F.log_softmax(logits.float(), dim=-1)


def kl(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    return (logp.exp() * (logp - logq)).sum(-1)


ids_a, ids_b, word = first_word_pair()
n_kv = getattr(config, "num_key_value_heads", None) or n_heads
alpha0 = measure.measure(model, torch.tensor([ids_a], device=model.device)).importance[0]  # [layer, head]
is_sink = alpha0.view(n_layers, n_kv, -1).mean(-1) > 0.3  # per key/value head
routes = {
    "every head": [list(range(n_kv))] * n_layers,
    "sink heads": [torch.nonzero(row).flatten().tolist() for row in is_sink],
    "other heads": [torch.nonzero(~row).flatten().tolist() for row in is_sink],
    "no head": [[]] * n_layers,
}
original = next_token_logprobs(model, ids_a)[word + 1:]
variant = next_token_logprobs(model, ids_b)[word + 1:]
routed = {name: routed_logprobs(ids_a, ids_b, word, heads) for name, heads in routes.items()}

# The routing is exact: all heads give the variant, no head gives the original.
tolerance = 1e-4 if model.dtype == torch.float32 else 5e-2
assert (routed["every head"] - variant).abs().max() < tolerance, "routing every head should reproduce the variant"
assert (routed["no head"] - original).abs().max() < tolerance, "routing no head should reproduce the original"

total = kl(original, variant).mean().item()
carried = pd.DataFrame([{"heads that read the variant": name, "heads": sum(map(len, routes[name])),
                         "mean KL (nats)": kl(original, logp).mean().item(),
                         "share of the change": kl(original, logp).mean().item() / total}
                        for name, logp in routed.items()])
print(f"{model.name_or_path}: first word {tokenizer.decode(ids_a[word])!r} → {tokenizer.decode(ids_b[word])!r} "
      f"at position {word}; {int(is_sink.sum())} of {n_layers * n_kv} key/value heads are sink heads")
carried.round(3)

# %%
plots.bars({row["heads that read the variant"]: row["share of the change"] for _, row in carried.iterrows()},
           x_title="share of the change (KL of routed / KL of variant)",
           title=f"{model.name_or_path}: which heads carry the first word's change")

# %% [markdown]
# *Interpret it:* the sink heads put most of their attention on position 0 — yet compare their
# share of the change with the other heads'. With BOS, the sink heads look at a token that is the
# same in both inputs, so whatever they carry of the first word comes from their small remaining
# attention to it. (Measured on `ci` with `sinklab/tiny-sink-lm`: 3 sink heads of 16 carry about 2 %
# of the change, the other 13 about 80 %.) Shares need not add up to one: the heads interact through
# later layers. On GPT-2 (`cpu` profile) the first word *is* the sink: run it and see whether the sink
# heads carry more there. Chapter 5 returns to this: a sink head is close to a **no-op**, it mixes in
# little information.

# %% [markdown] tags=["optional"]
# ## Interactive demo – any prompt, any head
#
# Type a prompt, pick a layer and a head, and see the pattern and the share of attention on token 0.
# In a live notebook the controls update the chart; in a stored copy you see the default view.

# %%
from sinklab import widgets

widgets.pattern_explorer(model, tokenizer, "The quick brown fox jumps over the lazy dog.")

# %% [markdown] tags=["core"]
# ## Summary
#
# - The first-token column dominates many heads' attention patterns in real LMs.
# - Whether "the first token" is a BOS token or a word depends on the tokenizer: check it.
# - Gu et al.'s importance score α₀ and sink rate turn the picture into numbers; padding must be handled.
# - Changing only the first token changes predictions along the whole input, measurably (KL by position).

# %% [markdown] tags=["core"]
# ## Check your understanding
#
# **1. GPT-2's tokenizer has `bos_token = "<|endoftext|>"`. Does `tokenizer("Hi")` start with it?**
#
# <details><summary>(a) Yes</summary>❌ It has the token but does not prepend it.</details>
# <details><summary>(b) No</summary>✅ GPT-2's first token is the first word — the sink forms there anyway.</details>
#
# **2. With left padding, which key is "the first token" of a row?**
#
# <details><summary>(a) position 0</summary>❌ That is a pad token in padded rows.</details>
# <details><summary>(b) the row's first real token</summary>✅ Its position is the number of pad tokens.</details>
#
# **3. A head has α₀ = 0.3 exactly. At ε = 0.3, is it a sink head?**
#
# <details><summary>(a) Yes</summary>❌ The definition uses a strict inequality.</details>
# <details><summary>(b) No</summary>✅ α₀ must exceed ε.</details>
#
# **4. Why does the top-left cell of every causal attention pattern equal 1?**
#
# <details><summary>(a) The model learned it</summary>❌ No learning needed.</details>
# <details><summary>(b) Query 0 sees only key 0 and weights sum to one</summary>✅ It is forced by the mask and the softmax.</details>
#
# **5. You change only the first word and the KL is large at the next position but small 20 tokens later. Does the first token stop mattering?**
#
# <details><summary>(a) Yes</summary>❌ Small is not zero; and the sink heads still attend to it.</details>
# <details><summary>(b) No</summary>✅ Its content matters less with distance, but its role as a sink persists.</details>

# %% [markdown] tags=["core"]
# ## Further reading
#
# - Gu et al. (2025), *When Attention Sink Emerges in Language Models* — §3 and Table 1 define α₀ and the sink rate.
# - Xiao et al. (2024), *StreamingLLM* — Fig. 2 shows first-token attention across layers of Llama-2.
# - Clark et al. (2019), *What Does BERT Look At?* — sinks on [CLS] and [SEP] in an encoder.
