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
# cell: **Hint 1** (the idea), **Hint 2** (the code, still not the answer) and **What you should see**
# (numbers or a picture to compare with yours). Open them in that order, and only when stuck.
#
# **Where numbers come from.** A number in the text is either printed by a cell of the notebook —
# measured here, on the model your profile loaded — or cited with its source (paper and table, e.g.
# "Gu et al. 2025, Table 3"). Some cited numbers are tagged as only *reported* rather than reproduced by
# the course; a claim with neither a cell nor a source is an anecdote, and the course says so.
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
# <details><summary>Hint 1 (the idea)</summary>
#
# Softmax each row, i.e. normalise over the axis that holds the keys, then keep the first key's column.
# </details>
#
# <details><summary>Hint 2 (the code)</summary>
#
# `torch.softmax(scores, dim=...)` — which dimension holds the keys, 0 or −1? Then index column 0 for every row.
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
# One call measures how much attention every head of a real model puts on the first token. Which
# model you get depends on the profile: `models.load("causal_lm")` asks for the model of one **role**
# (here: a causal language model) and the profile decides which one fills it; the cell prints its
# name. On `ci` it is a 6-layer teaching model shipped inside the package, trained with a recipe that
# *deliberately induces* a sink (see its model card, `sinklab/assets/tiny-sink-lm/README.md`): its sink
# is not evidence that sinks arise by themselves. `measure` does not build the T×T attention matrix: it
# gets each query's first-token weight from the log-sum-exp of its scores (chapter 3 explains the trick).

# %%
from sinklab import measure, metrics, models, plots

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
# Each square is one head: its **importance score** α₀, the attention the first token receives,
# averaged over all queries of a prompt (Gu et al., 2025; chapter 2 implements it). Bright squares put
# most of their attention on token 0. What would a head with **no** preference score? Not 1/T: under
# the causal mask query *i* sees only *i* + 1 keys, so a head that spreads its attention evenly gives
# token 0 the share 1/(*i* + 1) — query 0, which sees only token 0, gives it all of its attention
# (attn[0, 0] = 1). Averaged over T queries that is
#
# $$\alpha_0^{\text{uniform}} = \frac{1}{T}\sum_{i=1}^{T}\frac{1}{i} = \frac{H_T}{T},$$
#
# with H_T the T-th harmonic number: 0.29 for T = 10, 0.21 for T = 17, 0.055 for T = 90, always far
# above 1/T. This **null baseline** is what a measured α₀ must beat, computed per prompt from its real
# length (`sinklab.metrics.uniform_first_token_importance`).

# %%
# A real, falsifiable statement about the model you just measured: some head puts far more attention on
# the first token than a head with no preference would, on the same prompts (same lengths, pads left out).
lengths = batch["attention_mask"].sum(-1)  # real tokens per prompt
uniform = metrics.uniform_first_token_importance(lengths)  # H_T / T per prompt
strongest = per_head.max().item()
print(f"prompt lengths {lengths.tolist()} tokens; a uniform head would score α₀ = "
      f"{[round(u, 3) for u in uniform.tolist()]} (1/T would wrongly say {[round(1 / n, 3) for n in lengths.tolist()]})")
print(f"strongest head: α₀ = {strongest:.2f}, {strongest / uniform.mean().item():.1f}× the uniform baseline")
if getattr(model.config, "sinklab_stand_in", False):
    print("stand-in weights: claim not tested")
else:
    assert strongest > 3 * uniform.max().item(), "expected at least one head far above the uniform baseline H_T/T"

# %% [markdown]
# <details><summary>What you should see</summary>
#
# The printed prompt lengths, the uniform baseline for each (on `ci`, where one token is one byte,
# prompts are about 90 tokens long and the baseline is about 0.055) and the strongest head's α₀, several
# times above it. Compare the two numbers the cell prints, not the colours: a head at 0.2 is a sink on a
# 90-token prompt but no better than uniform on a 17-token one.
# </details>

# %% [markdown] tags=["core"]
# ## Summary
#
# - Chapters come in two copies: exercises (`chapters/`) and solutions (`solutions/`).
# - Checks under each exercise name typical mistakes; hints and expected results follow.
# - `SINKLAB_PROFILE` scales every notebook to your hardware; `sinklab doctor` tells you which one you have.
# - `sinklab.measure.measure(model, batch)` measures first-token attention per layer, head and query.
# - Compare an importance score α₀ with the uniform causal head's H_T/T (`metrics.uniform_first_token_importance`),
#   not with 1/T: query 0 always gives token 0 all of its attention.

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
# **4. A causal head attends uniformly to all it can see, on a 20-token prompt. What is its α₀?**
#
# (α₀: the first token's attention averaged over all 20 queries.)
#
# <details><summary>(a) 1/20 = 0.05</summary>❌ That is only the last query's share. Query i sees i + 1
# keys and gives token 0 the share 1/(i + 1); query 0 gives it 1.</details>
# <details><summary>(b) H₂₀/20 ≈ 0.18</summary>✅ The average of 1, 1/2, …, 1/20. A head must beat this
# null baseline, not 1/T, before you call it a sink.</details>
# <details><summary>(c) 0.5</summary>❌ That is what a strong sink looks like, not a uniform head.</details>

# %% [markdown] tags=["core"]
# ## Further reading
#
# - Xiao et al. (2024), *Efficient Streaming Language Models with Attention Sinks* — where the name comes from.
# - Gu et al. (2025), *When Attention Sink Emerges in Language Models: An Empirical View* — the sink-rate metric.
# - Barbero et al. (2025), *Why do LLMs attend to the first token?* — the theory behind chapter 5.
