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
# ## 1️⃣ How this course works
#
# Large language models pour a surprising share of their attention onto the **first token** of
# the input — an *attention sink*. This course measures that on real models, explains why it
# happens (the over-mixing argument of Barbero et al., 2025) and lets you train small models
# that grow a sink in minutes.
#
# **Two copies of every chapter.** `chapters/NN_*.ipynb` has exercise stubs that raise
# `NotImplementedError("Exercise N.k: …")`; `solutions/NN_*.ipynb` is the same notebook with
# the answers. Work in `chapters/`; compare with `solutions/` when you are done or stuck.
#
# **Every exercise has the same shape:** a heading `Exercise N.k – what to do` with difficulty and
# a time estimate, a code cell with a typed signature and a stub, and a **check** on its last line.
# The check runs your function on fixed inputs; when the answer is wrong it tells you *which*
# typical mistake it looks like (softmax over the wrong axis, a missing causal mask, …). Below the
# cell: a **Hint**, then **What you should see**. Open them in that order.
#
# **One switch scales everything:** the profile, `SINKLAB_PROFILE` = `ci` | `cpu` | `t4` | `a100`.
# Unset, sinklab picks one from your hardware. It fixes which models each chapter loads, how long
# the prompts are, and how long training runs.

# %% [markdown] tags=["core"]
# ## 2️⃣ Check your environment
#
# The doctor reports your frontend, library versions, GPU, the profile and the models it implies
# (and whether they are on this machine already), whether charts render, and what to fix.

# %%
from sinklab import doctor

print(doctor.format_report(doctor.report()))

# %% [markdown]
# Lines that start with `FIX:` need your attention; everything else is information. The same
# report is on the command line: `sinklab doctor`.

# %% [markdown] tags=["core"]
# ## 3️⃣ Your first exercise
#
# Attention turns a row of scores (one query against every key) into weights with a softmax over
# the **keys**, so each query's weights sum to one. The share a query puts on the first key is the
# first entry of that row — the quantity this whole course is about.
#
# ### Exercise 0.1 – Compute each query's share of attention on the first key
#
# > Difficulty: 🔴⚪⚪⚪⚪ · Importance: 🔵🔵🔵⚪⚪ · ≈ 3 minutes
#
# `scores` has shape `[q, k]`: one row per query, one column per key. Return a tensor of shape
# `[q]` with the attention weight each query puts on key 0.

# %%
import torch


def first_token_share(scores: torch.Tensor) -> torch.Tensor:
    """Softmax attention weight on key 0 for every query. scores: [q, k] -> [q]."""
    ### BEGIN SOLUTION
    return torch.softmax(scores, dim=-1)[:, 0]
    ### END SOLUTION


from sinklab.checks import check_first_token_share

check_first_token_share(first_token_share)

# %% [markdown]
# <details><summary>Hint</summary>
#
# `torch.softmax(scores, dim=...)` — which dimension holds the keys? Then index the first key.
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ first_token_share: correct.` For the last test row, where all scores are equal, the share is
# exactly 1/4: with nothing to prefer, attention spreads uniformly.
# </details>

# %% [markdown] tags=["core"]
# ## 4️⃣ A first measurement
#
# One call measures how much attention every head of a real model puts on the first token. On the
# `ci` profile the model is `sinklab/tiny-sink-lm`, a 4-layer teaching model shipped inside the
# package (it loads with no network); on `cpu` it is GPT-2 small, on GPU profiles a larger LM.
# `measure` does not build the T×T attention matrix: it gets each query's first-token weight from
# the log-sum-exp of its scores (chapter 3 explains the trick).

# %%
from sinklab import measure, models, plots

model, tokenizer = models.load("causal_lm")
prompts = [
    "The cat sat on the mat because it was tired of walking around the garden all day long.",
    "In 1905 Albert Einstein published four papers that changed the way physicists think about light.",
]
batch = tokenizer(prompts, return_tensors="pt", padding=True).to(model.device)
report = measure.measure(model, batch, eps=(0.3, 0.8))
per_head = report.mean_first_mass()  # [layer, head], averaged over prompts and queries
print(f"{model.name_or_path}: sink rate at ε=0.3: {100 * report.sink_rate[0.3]:.1f}% of (prompt, layer, head)")
plots.layer_head_heatmap(per_head, title="Mean attention on the first token, per head")

# %% [markdown]
# Each square is one head; bright squares put most of their attention on token 0. If attention
# were spread evenly over these ~20-token prompts, every square would be near 1/20 ≈ 0.05.

# %%
# A real, falsifiable statement about the model you just measured: some head puts far more than
# an even share of its attention on the first token.
uniform_share = (1 / batch["attention_mask"].sum(-1).float()).mean().item()
strongest = per_head.max().item()
print(f"strongest head: {strongest:.2f} of its attention on token 0 (an even spread would give {uniform_share:.2f})")
assert strongest > 5 * uniform_share, "expected at least one head with a first-token sink"

# %% [markdown] tags=["core"]
# ## Summary
#
# - Chapters come in two copies: exercises (`chapters/`) and solutions (`solutions/`).
# - Checks under each exercise name typical mistakes; hints and expected results follow.
# - `SINKLAB_PROFILE` scales every notebook to your hardware; `sinklab doctor` tells you which one you have.
# - `sinklab.measure.measure(model, batch)` measures first-token attention per layer, head and query.

# %% [markdown] tags=["core"]
# ## Check your understanding
#
# **1. A query's attention weights over the keys…**
#
# <details><summary>(a) sum to one</summary>✅ Yes: the softmax normalises over the keys, so a head
# must put its weight <em>somewhere</em> even when nothing is relevant.</details>
# <details><summary>(b) sum to the number of keys</summary>❌ That would be unnormalised scores.</details>
# <details><summary>(c) can all be zero</summary>❌ Not with softmax; chapter 6 trains variants (e.g.
# softmax-off-by-one) where they can.</details>
#
# **2. Which copy of a chapter should you work in?**
#
# <details><summary>(a) chapters/</summary>✅ It has the stubs and the checks.</details>
# <details><summary>(b) solutions/</summary>❌ Use it to compare once you have an answer.</details>
#
# **3. Your laptop has no GPU. What does sinklab do?**
#
# <details><summary>(a) refuses to run</summary>❌ Every chapter runs on CPU.</details>
# <details><summary>(b) picks the cpu profile and smaller models</summary>✅ GPU chapters run a reduced
# version and tell you so in the setup cell.</details>
#
# **4. If attention were uniform over 20 tokens, what share would token 0 get?**
#
# <details><summary>(a) 0.05</summary>✅ 1/20. Sink heads give it 0.5 or more.</details>
# <details><summary>(b) 0.5</summary>❌ That is what a strong sink looks like, not a uniform head.</details>

# %% [markdown] tags=["core"]
# ## Further reading
#
# - Xiao et al. (2024), *Efficient Streaming Language Models with Attention Sinks* — where the name comes from.
# - Gu et al. (2025), *When Attention Sink Emerges in Language Models: An Empirical View* — the sink-rate metric.
# - Barbero et al. (2025), *Why do LLMs attend to the first token?* — the theory behind chapter 5.
