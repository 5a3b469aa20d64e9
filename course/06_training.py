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

# %% [markdown]
# So far you have measured sinks in models somebody else trained. Now you train the models yourself and
# watch when, and why, a sink forms. Everything here is real training with `sinklab.train`, a small
# trainer you can read top to bottom (`utils/sinklab/train.py`), on transformers model classes.
#
# | section | you train | you measure |
# | --- | --- | --- |
# | 1️⃣ Sinks from scratch | a 1-layer, 1-head model on Bigram-Backcopy (Guo et al., 2024) | first-token mass on trigger vs other queries, the ⟨bos⟩ value norm |
# | 2️⃣ Remove the need | the same model with five sink-free attention variants | loss, sink, where the attention goes instead |
# | 3️⃣ Small LMs on text | small Llamas on text: context lengths, ⟨bos⟩ packing, weight decay, learning rate | sink rate during training; loss and sink with and without ⟨bos⟩ |
# | 4️⃣ The seed article's experiment | fine-tuning a pretrained LM on text whose first token varies | perplexity, the sink, attention dropout |
# | 5️⃣ A progress signal? | (the runs of sections 1 and 3) | when the sink appears relative to the loss curve |
#
# **What to expect from small scale.** The published settings are GPU-days: Gu et al. (2025) train 60M
# Llamas on 5B tokens and see sinks only after 1–2B tokens; Barbero et al. (2025) train ≈120M models on 5B
# and 30B tokens. We reproduce their *directions* in minutes, and say each time what we could and could
# not see. Bigram-Backcopy is the exception: it grows a sink on a laptop CPU, which is why we start there.
# On the `ci` profile (the test suite) every run is cut to seconds, too short for the directions: those
# cells print what they measure, and quote the full runs, measured with the commands given.
#
# **Recorded runs or train it yourself.** Training every model of this chapter takes about an hour on a
# laptop CPU (`cpu` profile), more than a lab has. So by default the cells *load recorded runs*: the same
# recipes, trained once by the same functions (`python -m sinklab.analysis.recorded_runs --profile cpu`, which also writes
# down the machine, versions, seed and wall time), with their training histories and final weights. Every
# measurement after training is still made here, on the loaded model, and every check runs on it. Each
# loading cell says so: `recorded run: …, made by …`. Set `TRAIN_YOURSELF = True` below to train every
# model live through the same code instead; the cell prints how long the recorded runs took to train.

# %%
from dataclasses import replace

import pandas as pd
import torch

from sinklab import data, env, experiments, plots, recorded, variants
from sinklab.analysis import text_runs

TRAIN_YOURSELF = False  # True: train every model of sections 1–3 here (minutes to an hour, see below)

profile = env.profile()
full_size = profile.name != "ci"  # the ci profile's runs are seconds long: they check the code, not the claims
recorded.use(not TRAIN_YOURSELF)  # experiments.run_backcopy / run_text: load the recording of the same recipe
shipped = recorded.summary(profile)
print(f"profile {profile.name!r}: Bigram-Backcopy for {profile.backcopy_steps} steps; text LMs of hidden size, "
      f"layers, heads {profile.lm_size} for {profile.train_steps} steps")
print(f"{'training live' if TRAIN_YOURSELF else 'loading recorded runs'}: {shipped['recorded']} of the "
      f"{shipped['runs']} runs of sections 1–3 are recorded for this profile; recording them took "
      f"{shipped['seconds'] / 60:.1f} min of training (TRAIN_YOURSELF = True costs about that, more on a slower machine)")

# %% [markdown] tags=["core"]
# ## 1️⃣ Sinks from scratch in minutes: Bigram-Backcopy
#
# > **Learning objectives**
# > - Describe the Bigram-Backcopy task and why one head in it has nothing to do on most tokens
# > - Measure first-token mass separately on trigger and non-trigger queries during training
# > - Watch a head become "active" on triggers and "dormant" — parked on ⟨bos⟩, with a small value — elsewhere
#
# **The task** (Guo et al., 2024, *Active-dormant attention heads*). Tokens follow a bigram chain: each
# token is drawn given only the one before it (our bigram statistics come from Python docstrings, one token
# per byte). A few **trigger** tokens break the chain: right after a trigger, the next token **copies the
# token before the trigger**. So `a T ?` must be completed with `a`.
#
# A one-layer model predicts the bigram part from the current token alone — no attention needed. Only after
# a trigger must it look back one position, which takes an attention head. That head therefore has a job on
# triggers (≈ 1 token in 10) and **nothing to do** on every other query. Chapter 1 showed what a softmax
# head with nothing to do must do: put its attention *somewhere*. Guo et al. find it parks on ⟨bos⟩
# (dormant) and that ⟨bos⟩'s value shrinks ("value-state drain"), so parking adds almost nothing.
#
# One design choice matters and is ours: the model is a GPT-2-style transformer (learned absolute
# position embeddings), like Guo et al.'s. With RoPE, values carry no position; section 2 shows what changes.

# %%
steps = profile.backcopy_steps
recipe = experiments.backcopy_recipe(profile)  # BackcopyRecipe with this profile's steps and batch
tokenizer = data.byte_tokenizer(model_max_length=recipe.seq_len)
next_batch, probe_tokens, probe_is_trigger = experiments.backcopy_task(recipe, tokenizer)
print(experiments.backcopy_text(probe_tokens[0, :70], tokenizer, recipe.triggers))

rows, positions = probe_is_trigger[:, :-1].nonzero(as_tuple=True)
assert torch.equal(probe_tokens[rows, positions + 1], probe_tokens[rows, positions - 1]), "after ⟨T⟩ comes a copy"
print(f"probe: {len(probe_tokens)} sequences of {recipe.seq_len} tokens, {probe_is_trigger.float().mean():.1%} "
      f"of them triggers; recipe: {recipe}")

# %% [markdown]
# Find two or three `⟨T⟩` in the printed row and check that the character after each one repeats the
# character before it. Everything else is docstring-flavoured gibberish: a bigram chain.
#
# ### Exercise 6.1 – Split first-token mass by kind of query
#
# > Difficulty: 🔴🔴⚪⚪⚪ · Importance: 🔵🔵🔵🔵🔵 · ≈ 10 minutes
#
# `first_mass` is a sink report's `[batch, layer, head, T]`: the attention each query puts on the first token
# (⟨bos⟩). `is_trigger` is `[batch, T]`. Return `{"trigger": …, "other": …}`, each `[layer, head]`: the mean
# first-token mass over all (row, query) pairs of that kind, counting only queries at positions `≥ skip`
# (the first few queries see only a handful of keys, so their first-token mass is large for that reason alone).

# %%
def split_first_token_mass(first_mass: torch.Tensor, is_trigger: torch.Tensor, skip: int) -> dict:
    """Mean first-token mass over trigger queries and over the other queries (positions >= skip), each [L, H]."""
    ### BEGIN SOLUTION
    late = torch.arange(is_trigger.shape[1]) >= skip
    out = {}
    for kind, queries in (("trigger", is_trigger & late), ("other", ~is_trigger & late)):
        weights = queries[:, None, None, :].float()  # [B, 1, 1, T]: broadcast over layers and heads
        out[kind] = (first_mass * weights).sum((0, -1)) / weights.sum((0, -1))
    return out
    ### END SOLUTION


from sinklab.checks import check_split_first_token_mass

check_split_first_token_mass(split_first_token_mass)

# %% [markdown]
# <details><summary>Hint</summary>
#
# Build a boolean mask of the queries you want, `is_trigger & (torch.arange(T) >= skip)` (or `~is_trigger`
# for the others), give it axes for layer and head (`[:, None, None, :]`), and divide the sum of
# `first_mass * mask` over batch and queries by the sum of the mask over the same axes.
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ split_first_token_mass["trigger"]: correct.` and the same for `"other"`. If not, the check names the
# mistake: `skip` ignored, rows averaged one by one, the query after the trigger, or the two kinds swapped.
# </details>
#
# ### Train it
#
# `experiments.run_backcopy` builds the model (`train.model_config(..., arch="gpt2")`), trains it with
# `train.train` and, every few steps, calls `experiments.backcopy_probe` on the held-out probe batch: it
# measures each query's first-token mass with `sinklab.variants.measure` (which is `sinklab.measure` for
# softmax models) and splits it with the same function you just wrote. On the `cpu` profile training it
# takes about four minutes on two cores; by default the cell loads the recorded run of this recipe.

# %%
softmax_run = experiments.run_backcopy(recipe)
history = softmax_run["history"]
plots.step_lines({
    "first-token mass, other queries": experiments.curve(history, "other_mass"),
    "first-token mass, trigger queries": experiments.curve(history, "trigger_mass"),
    "copy accuracy after triggers": experiments.curve(history, "copy_accuracy"),
}, y_title="mass / accuracy", title="Bigram-Backcopy, softmax: where the head looks")

# %%
value_ratio = [(h["step"], h["bos_value_ratio"][0][0]) for h in history if "bos_value_ratio" in h]
plots.step_lines({"‖v_bos‖ / mean ‖v_other‖": tuple(zip(*value_ratio))}, y_title="ratio",
                 title="The value of ⟨bos⟩ shrinks as the head parks on it (value-state drain)")

# %% [markdown]
# Now measure the trained model once more and split with your function.

# %%
model = softmax_run["model"]
report = variants.measure(model, probe_tokens)
split = split_first_token_mass(report.first_mass, probe_is_trigger, recipe.skip)
other, trigger = split["other"][0, 0].item(), split["trigger"][0, 0].item()  # one layer, one head
bos_value = (report.value_norm_first / report.value_norm_rest)[:, 0, 0].mean().item()
last_probe = [h for h in history if "other_mass" in h][-1]
print(f"after {steps} steps: first-token mass {other:.3f} on other queries, {trigger:.3f} on trigger queries; "
      f"copy accuracy {last_probe['copy_accuracy']:.3f}; ‖v_bos‖ / ‖v_other‖ = {bos_value:.2f}")
assert abs(other - last_probe["other_mass"]) < 1e-5 and abs(trigger - last_probe["trigger_mass"]) < 1e-5, \
    "your split of a fresh measurement agrees with the trainer's probe"
if full_size:
    assert other >= 0.5 and trigger < 0.1, "active on triggers, dormant (parked on <bos>) elsewhere"
else:
    print(f"ci: only {steps} steps, the start of training. The full run (`python -m sinklab.analysis.experiments backcopy`, 300 "
          "steps, cpu profile) measured 0.909 on other queries and 0.000 on triggers, copy accuracy 0.960, ratio 0.14.")

# %% [markdown]
# The full run, measured on 2 CPU threads shared with other jobs (`python -m sinklab.analysis.experiments backcopy`): the
# head first parks on ⟨bos⟩ on **every** query (it has nothing useful to do yet), then learns the copy and
# leaves ⟨bos⟩ on triggers only. After 200 steps (217 s) it put ≥ 0.5 of its attention on ⟨bos⟩ on
# non-trigger queries and < 0.1 on triggers; after 300 steps: **0.909** vs **0.000**, copy accuracy 0.96,
# and ⟨bos⟩'s value norm down to **0.14×** the other tokens'. That is Guo et al.'s active–dormant head with
# its value-state drain, from scratch.
#
# Here is the head itself on the start of one probe sequence (queries down, keys across; `⟨T⟩` marks a trigger).

# %%
labels = experiments.token_labels(probe_tokens[0, :24], tokenizer, recipe.triggers)
pattern = variants.attention_patterns(model, probe_tokens[:1, :24])[0, 0]  # [heads, T, T] of layer 0
plots.attention_heatmaps(pattern, labels, title="the trained head (layer 0, head 0)", columns=1)

# %% [markdown]
# *Interpret it:* in a well-trained run, the rows of trigger queries light up one cell left of the diagonal
# (the token before the trigger) and every other row lights up the ⟨bos⟩ column. Why does the head not simply
# attend to the previous token on *every* query, and let the layers after it ignore the result?
#
# <details><summary>Answer</summary>Its output would be the previous token's value, which is noise for the
# bigram prediction: the next token depends only on the current one. Undoing that noise costs the rest of the
# model capacity. Parking on ⟨bos⟩ — a fixed token at a fixed position, so a constant value that training
# can shrink — makes the head an approximate no-op on those queries (chapter 5, section 4).</details>

# %% [markdown] tags=["core"]
# ## 2️⃣ Remove the need: attention variants without a sink
#
# > **Learning objectives**
# > - Implement sigmoid and ReLU attention without normalisation, and a learned per-head sink logit
# > - Train the same model with each sink-free variant and compare loss, sink and value norms
# > - Say where a head that does not need a sink puts its "nothing"
#
# A softmax head needs a sink because its weights must sum to one. Each variant below removes that
# constraint in a different way (`sinklab.variants`; `train.build_model(config, variant=name)`):
#
# | variant | weight of query i on key j (s_ij = q_i·k_j/√d) | "do nothing" by |
# | --- | --- | --- |
# | `softmax` | exp(s_ij) / Σ_j exp(s_ij) | parking on a sink token |
# | `softmax1` | exp(s_ij) / (1 + Σ_j exp(s_ij)) — Miller (2023); = a zero key and value (chapter 1) | all scores ≪ 0 |
# | `sink_logit` | exp(s_ij) / (exp(a_h) + Σ_j exp(s_ij)), a learned a_h per head (gpt-oss) | a large a_h |
# | `sigmoid` | sigmoid(s_ij − log n_i), no normalisation (Gu et al., 2025) | all scores ≪ 0 |
# | `relu` | relu(s_ij) / n_i, no normalisation (Guo et al., 2024) | all scores ≤ 0 |
# | `gated` | softmax, then the head's output × sigmoid(x_i W_g + b_g) (Qiu et al., 2025) | a closed gate |
#
# n_i is the number of keys query i sees (i + 1 under the causal mask).
#
# Measuring these models needs care: `sinklab.measure` gets the first-token mass from each query's
# log-sum-exp, p_i0 = exp(s_i0 − LSE_i), which is only true for softmax (and it would swap in its own
# softmax attention function). `sinklab.variants.measure` instead reads the weights each layer really used,
# and `sinklab.measure.measure` refuses a variant model with a message that says so.
#
# ### Exercise 6.2 – Attention weights that need not sum to one
#
# > Difficulty: 🔴🔴⚪⚪⚪ · Importance: 🔵🔵🔵🔵⚪ · ≈ 10 minutes
#
# `scores` `[B, H, Tq, Tk]` are already scaled, `visible` is a boolean mask of the same shape. Return the
# weights of `kind="sigmoid"`, sigmoid(s − log n_i), or `kind="relu"`, relu(s) / n_i, where n_i is the number
# of keys query i sees, with weight 0 on masked keys.

# %%
def unnormalised_weights(scores: torch.Tensor, visible: torch.Tensor, kind: str) -> torch.Tensor:
    """Sigmoid (bias −log n_i) or ReLU (divided by n_i) attention weights, 0 on masked keys, rows not normalised."""
    ### BEGIN SOLUTION
    n = visible.sum(-1, keepdim=True)  # [B, H, Tq, 1]: keys each query sees
    weights = torch.sigmoid(scores - n.log()) if kind == "sigmoid" else torch.relu(scores) / n
    return weights * visible
    ### END SOLUTION


from sinklab.checks import check_unnormalised_weights

check_unnormalised_weights(unnormalised_weights)

# %% [markdown]
# <details><summary>Hint</summary>
#
# `n = visible.sum(-1, keepdim=True)` counts each query's keys (keep the last axis so it broadcasts).
# Compute the weights elementwise, then multiply by `visible`. Do not divide by the row sum: that would
# bring softmax's constraint back. And not by the row length `T`: then a query's weights would change with
# the tokens *after* it (and a document's with whatever is packed next to it).
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ unnormalised_weights(kind='sigmoid'): correct.` and the same for `'relu'`. The −log n bias (Ramapuram
# et al., 2024, recommend it for sigmoid attention) makes every weight start near 1/n_i, like softmax's.
# </details>
#
# ### Exercise 6.3 – A learned sink logit per head
#
# > Difficulty: 🔴🔴🔴⚪⚪ · Importance: 🔵🔵🔵🔵⚪ · ≈ 10 minutes
#
# gpt-oss gives every head a learned logit a_h that competes in the softmax but has no value: append it as
# one extra key column, take the softmax over keys, and drop that column. `sink_logit` has shape `[H]`.
# Return the weights on the real keys, `[B, H, Tq, Tk]`; their rows sum to less than one.

# %%
def sink_logit_weights(scores: torch.Tensor, visible: torch.Tensor, sink_logit: torch.Tensor) -> torch.Tensor:
    """Softmax over [the visible keys, one extra key with logit sink_logit[h]], the extra column dropped."""
    ### BEGIN SOLUTION
    extra = sink_logit.view(1, -1, 1, 1).expand(*scores.shape[:-1], 1)  # [B, H, Tq, 1]: head h's logit
    logits = torch.cat([scores.masked_fill(~visible, float("-inf")), extra], dim=-1)
    return torch.softmax(logits, dim=-1)[..., :-1]
    ### END SOLUTION


from sinklab.checks import check_sink_logit_weights

check_sink_logit_weights(sink_logit_weights)

# %% [markdown]
# <details><summary>Hint</summary>
#
# `sink_logit.view(1, -1, 1, 1)` puts head h's logit on the head axis; `.expand(B, H, Tq, 1)` makes it a
# column; `torch.cat([masked_scores, column], dim=-1)`, softmax over the last axis, then `[..., :-1]`.
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ sink_logit_weights: correct.` This is exactly what transformers' gpt-oss eager attention computes
# (`tests/unit/core/test_variants.py` checks sinklab's version against it). With a_h = 0 it is softmax-off-by-one.
# </details>
#
# Your two functions are the trainer's own:

# %%
scores = torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(0))
visible = torch.ones(6, 6, dtype=torch.bool).tril().expand(2, 3, 6, 6)
for kind in ("sigmoid", "relu"):
    torch.testing.assert_close(unnormalised_weights(scores, visible, kind), variants.variant_weights(scores, visible, kind))
logit = torch.tensor([-1.0, 0.0, 2.0])
torch.testing.assert_close(sink_logit_weights(scores, visible, logit),
                           variants.variant_weights(scores, visible, "sink_logit", logit))
print("your weights = sinklab.variants.variant_weights, which the trainer's attention layers use")

# %% [markdown]
# ### The same run with every variant
#
# Same data, same seed, same steps; only the attention function changes. For each run: the loss (last 20
# steps), where the head puts its attention on the two kinds of query, the copy accuracy, ⟨bos⟩'s value
# norm, and **how much the head lets through**: Σ_j w_ij (1 for softmax; lower when the head parks on the
# zero key or the learned logit, or turns all its sigmoid/ReLU weights down) and, for `gated`, the gate.

# %%
runs = {"softmax": softmax_run}
for name in variants.SINK_FREE:
    runs[name] = experiments.run_backcopy(replace(recipe, variant=name))

rows = []
for name, run in runs.items():
    summary = experiments.backcopy_summary(run)
    activity = experiments.head_activity(run["model"], probe_tokens, probe_is_trigger, recipe.skip)
    rows.append({
        "variant": name, "loss": summary["loss"], "first-token mass, other": summary["other_mass"],
        "first-token mass, trigger": summary["trigger_mass"], "copy accuracy": summary["copy_accuracy"],
        "‖v_bos‖/‖v_other‖": summary["bos_value_ratio"],
        "Σ weights, other": activity["attention"]["other"], "Σ weights, trigger": activity["attention"]["trigger"],
        "gate, other": activity.get("gate", {}).get("other"), "gate, trigger": activity.get("gate", {}).get("trigger"),
    })
variant_table = pd.DataFrame(rows).set_index("variant")
variant_table.round(3)

# %%
plots.step_lines({name: experiments.curve(run["history"], "other_mass") for name, run in runs.items()},
                 y_title="first-token mass, other queries", title="Bigram-Backcopy: the sink, variant by variant")

# %% [markdown]
# Two checks that hold at any scale: each variant's probe reads the weights the layer really used, and for
# `softmax1` and `sink_logit` the attention a query does not give to tokens is exactly what the zero key or
# the learned logit takes.

# %%
for name, run in runs.items():
    report = variants.measure(run["model"], probe_tokens[:4])
    weights = variants.attention_patterns(run["model"], probe_tokens[:4])
    torch.testing.assert_close(report.first_mass, weights[..., 0])
    if name in ("softmax1", "sink_logit"):
        torch.testing.assert_close(report.learned_sink_mass + weights.sum(-1), torch.ones_like(report.learned_sink_mass))
print("the probe of every variant reads its own weights; softmax1 / sink_logit: tokens + sink = 1")

# "No sink" means something only for a head that learned the task: a head that never copies has no reason
# to park, so its missing sink says nothing. Every claim below is gated on copy accuracy.
learned = variant_table["copy accuracy"] >= 0.9
for name in variant_table.index[~learned]:
    print(f"{name}: copy accuracy {variant_table.loc[name, 'copy accuracy']:.2f} < 0.9 — it did not learn the "
          "copy task, so its first-token mass is no evidence about sinks")
if full_size:
    assert learned["softmax"] and variant_table.loc["softmax", "first-token mass, other"] >= 0.5, "softmax: parked"
    for name in ("softmax1", "sink_logit", "sigmoid", "relu"):
        if learned[name]:
            assert variant_table.loc[name, "first-token mass, other"] < 0.1, f"{name}: no <bos> sink"

# %% [markdown]
# The full runs: the `cpu` profile's recordings (`python -m sinklab.analysis.recorded_runs --profile cpu`, 300 steps each,
# 1 CPU thread shared with other jobs; `python -m sinklab.analysis.experiments backcopy --variants softmax relu sigmoid
# softmax1 sink_logit gated` trains the same recipe):
#
# | variant | first-token mass, other | first-token mass, trigger | copy accuracy | ‖v_bos‖/‖v_other‖ | loss |
# | --- | --- | --- | --- | --- | --- |
# | softmax | **0.909** | 0.000 | 0.960 | 0.14 | 2.546 |
# | softmax1 | 0.000 | 0.000 | 1.000 | 0.64 | 2.510 |
# | sink_logit | 0.000 | 0.000 | 1.000 | 0.60 | 2.510 |
# | sigmoid | 0.002 | 0.000 | 0.210 ⚠ | 0.73 | 2.799 |
# | relu | 0.000 | 0.000 | 1.000 | 0.54 | 2.517 |
# | gated | 0.472 | 0.000 | 0.926 | 0.24 | 2.521 |
#
# ⚠ The sigmoid run never learned the copy (accuracy 0.21, no better than before training): its "no sink"
# is **not a result** — a head with nothing to do and nothing it must avoid doing has no reason to park.
# The cell above gates every "no sink" claim on copy accuracy ≥ 0.9; a sigmoid run that learns the task
# needs more steps or a larger learning rate (Gu et al. train far longer), which we have not run.

# %% [markdown]
# *Interpret it:* read the table row by row. Where does each sink-free variant put the attention that
# softmax parks on ⟨bos⟩? Does removing the sink cost loss or copy accuracy here?
#
# <details><summary>Answer</summary>`softmax1` and `sink_logit` send it to the zero key / learned logit (Σ
# weights well below 1 on other queries, near 1 on triggers); `sigmoid` and `relu` turn every weight down on
# other queries (for `sigmoid` this says nothing: it did not learn the copy). `gated` can close its gate, but its softmax must still sum to one: in the full run it kept
# about half of that attention on ⟨bos⟩ (0.47) — the gate removes the *need* to park, not the habit. In the
# full runs removing the sink cost nothing for `softmax1`, `sink_logit` and `relu` (loss 2.51–2.52 against
# softmax's 2.55, perfect copies), while `sigmoid` had not yet learned the copy after 300 steps (accuracy
# 0.21, no better than in the first steps, before any copying): with weights starting near 1/n_i, a sharp
# look-back takes longer. Gu et al. (2025) report sigmoid
# attention without normalisation at the same loss as softmax at 60M and 1B parameters (sink rate 0.44 %
# vs 18.18 % at 60M), after far longer training.</details>
#
# ### Another way out: positions without a value (RoPE)
#
# Our model has learned absolute positions, added to the token embedding, so every value vector carries its
# position. Swap in a Llama (RoPE: positions rotate only queries and keys) and train the same recipe.

# %%
rope_run = experiments.run_backcopy(replace(recipe, arch="llama"))
for name, run in (("learned positions (GPT-2)", softmax_run), ("RoPE (Llama)", rope_run)):
    summary = experiments.backcopy_summary(run)
    own = experiments.self_mass(run["model"], probe_tokens, probe_is_trigger, recipe.skip)
    print(f"{name}: other queries put {summary['other_mass']:.3f} on <bos> and {own:.3f} on their own position; "
          f"triggers {summary['trigger_mass']:.3f} on <bos>; copy accuracy {summary['copy_accuracy']:.3f}")

# %% [markdown]
# The full runs (300 steps each; `python -m sinklab.analysis.experiments backcopy --arch llama`): the RoPE model learned the
# copy (accuracy 0.994) but its non-trigger queries put only **0.35** on ⟨bos⟩ and **0.33** on their own
# position, against 0.909 and 0.006 for the learned-position model. Attending to yourself is a harmless
# default here — the value depends on the current token only, which the bigram prediction uses anyway — and
# RoPE makes "relative position 0" easy to find. (Why the learned-position model does not use it we did not
# test.) Whether, and how strongly, a sink forms depends on the alternatives a head has.

# %% [markdown] tags=["optional"]
# ## 3️⃣ Small LMs on text
#
# > **Learning objectives**
# > - Track the sink rate of a small LM during training on text
# > - Pack training windows with a fixed ⟨bos⟩ and with intra-document masking
# > - Run Barbero et al.'s context-length and ⟨bos⟩-packing experiments in miniature, and Gu et al.'s weight
# >   decay and learning-rate ones, and read the results against the papers'
#
# Now a small Llama (RoPE, RMSNorm, SwiGLU) on natural text: the standard library's docstrings, one token
# per byte, offline (`lm_corpus` of the profile; GPU profiles use TinyStories from the hub). Every window
# starts with ⟨bos⟩ ("fixed ⟨bos⟩" packing). The probe measures Gu et al.'s α₀ and sink rate on the course's
# 16 natural paragraphs, with ⟨bos⟩ in front.

# %%
hidden_size, n_layers, n_heads = profile.lm_size
text_recipe = text_runs.TextRecipe(
    hidden_size=hidden_size, n_layers=n_layers, n_heads=n_heads, seq_len=profile.lm_seq_len,
    batch_size=profile.lm_batch, steps=profile.train_steps, warmup_steps=max(1, profile.train_steps // 10),
    probe_every=max(1, profile.train_steps // 12), corpus=profile.lm_corpus, corpus_bytes=profile.corpus_bytes,
)
text_tokenizer = data.byte_tokenizer(model_max_length=max(profile.lm_contexts + (profile.lm_seq_len,)))
text_run = text_runs.run_text(text_recipe, text_tokenizer, hidden=True)
text_history = text_run["history"]
plots.step_lines({"training loss": experiments.curve(text_history, "loss", max_points=60)},
                 y_title="nats / token", title=f"{n_layers}-layer LM on {profile.lm_corpus}: loss")

# %%
plots.step_lines({
    "sink rate (ε = 0.3)": experiments.curve(text_history, "sink_rate@0.3"),
    "largest head α₀": experiments.curve(text_history, "max_head_mass"),
    "mean α₀": experiments.curve(text_history, "first_token_mass"),
}, y_title="first-token mass", title="The sink during training (natural paragraphs, with <bos>)")

# %%
losses = [h["loss"] for h in text_history]
tenth = max(1, len(losses) // 10)
print(f"loss {sum(losses[:tenth]) / tenth:.2f} → {sum(losses[-tenth:]) / tenth:.2f}; final sink rate "
      f"{text_history[-1]['sink_rate@0.3']:.1%}, largest head α₀ {text_history[-1]['max_head_mass']:.2f}")
assert sum(losses[-tenth:]) < sum(losses[:tenth]), "the model learns"
plots.layer_head_heatmap(torch.tensor(text_history[-1]["head_mass"]), title="α₀ per head after training")
trained_tokens = text_recipe.steps * text_recipe.batch_size * text_recipe.seq_len
print(f"profile {profile.name!r}: {text_recipe.steps} steps × {text_recipe.batch_size} windows × {text_recipe.seq_len} "
      f"tokens = {trained_tokens / 1e6:.2f}M training tokens, {1e9 / trained_tokens:,.0f}× below Gu et al.'s ≈1B")

# %% [markdown]
# **What this budget can show.** The cell below prints this profile's training budget: steps × batch ×
# context (on `cpu`, 600 × 16 × 128 = 1.23M tokens). Gu et al. (2025; `reference/paper-notes.md`) saw no
# sinks in LLaMA-style models trained on 50M–100M tokens and saw them emerge only after ≈1–2B tokens (1k–2k
# steps of ≈1M tokens). Every text run in this section is three orders of magnitude below that, so **expect
# no sink, and do not read a direction** into the sweeps below: they compare *settings* at a budget where
# the papers' effects have not started, and one seed per setting cannot separate a small effect from noise.
# What they can show: that the pipelines (packing, masking, probes) work, and what an LM at this budget does.
#
# ### Exercise 6.4 – Pack a token stream with a fixed ⟨bos⟩
#
# > Difficulty: 🔴⚪⚪⚪⚪ · Importance: 🔵🔵🔵🔵⚪ · ≈ 10 minutes
#
# Cut a 1-D token stream into consecutive, non-overlapping windows of `seq_len` tokens, each one ⟨bos⟩
# followed by the next `seq_len − 1` stream tokens. Drop the incomplete tail.

# %%
def pack_with_bos(stream: torch.Tensor, seq_len: int, bos_id: int) -> torch.Tensor:
    """[N] -> [N // (seq_len - 1), seq_len]: <bos> then seq_len - 1 consecutive stream tokens per window."""
    ### BEGIN SOLUTION
    body = seq_len - 1
    n_windows = len(stream) // body
    windows = stream[: n_windows * body].view(n_windows, body)
    return torch.cat([torch.full((n_windows, 1), bos_id, dtype=stream.dtype), windows], dim=1)
    ### END SOLUTION


from sinklab.checks import check_pack_with_bos

check_pack_with_bos(pack_with_bos)

# %% [markdown]
# <details><summary>Hint</summary>
#
# `n = len(stream) // (seq_len − 1)` windows; `stream[: n * (seq_len − 1)].view(n, seq_len − 1)`; then
# `torch.cat` a column of `bos_id` in front.
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ pack_with_bos: correct.` `sinklab.data.pack(stream, seq_len, "bos", bos_id)` is the trainer's version.
# </details>
#
# ### Exercise 6.5 – Positions for intra-document masking
#
# > Difficulty: 🔴🔴⚪⚪⚪ · Importance: 🔵🔵🔵⚪⚪ · ≈ 10 minutes
#
# Packed windows hold several documents, separated by ⟨eos⟩. With *intra-document masking* a token may only
# attend to its own document. transformers does this for you when you pass `position_ids` that restart at 0
# at every document start (and no attention mask, no KV cache): it turns them into a block-diagonal causal
# mask. Return those positions: 0 at the start of each window and right **after** every `eos_id`.

# %%
def document_position_ids(windows: torch.Tensor, eos_id: int) -> torch.Tensor:
    """[n, T] -> positions that count up from 0 and restart right after every eos_id."""
    ### BEGIN SOLUTION
    starts = torch.zeros_like(windows, dtype=torch.bool)
    starts[:, 0] = True
    starts[:, 1:] = windows[:, :-1] == eos_id  # a document starts right after an <eos>
    index = torch.arange(windows.shape[1]).expand_as(windows)
    last_start = torch.where(starts, index, 0).cummax(dim=1).values  # position of the latest document start
    return index - last_start
    ### END SOLUTION


from sinklab.checks import check_document_position_ids

check_document_position_ids(document_position_ids)

# %% [markdown]
# <details><summary>Hint</summary>
#
# Mark document starts (`True` at column 0 and where the *previous* token is `eos_id`). For every position,
# the latest start at or before it is a running maximum: `torch.where(starts, index, 0).cummax(1).values`.
# Subtract it from the index. (A Python loop over the tokens is fine too.)
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ document_position_ids: correct.` `tests/unit/core/test_train.py` checks that with these positions a packed row
# gives the same logits as running each document on its own.
# </details>
#
# ### Context length at equal token budget (Barbero et al., 2025, §4.1)
#
# Barbero et al. trained ≈120M models on 5B tokens with contexts 128 … 2048, keeping the tokens per step
# equal, and found sinks nearly absent at 128 and growing with context length (their Fig. 5, known to us
# from secondary readings, no exact numbers; one 5B-token run takes up to a day on an H100). We keep
# `batch × context` fixed too, and measure every model on the same prompts (the natural paragraphs cut to
# the shortest context of the sweep).
#
# **What this sweep can and cannot show.** It can show that the equal-budget recipe runs and what each
# model's loss and α₀ are. It cannot show the paper's direction: at ≈1M tokens no model here has a sink
# to grow (see above), so differences between rows are noise-sized, and we assert none. A miniature of
# this figure needs models that *do* form sinks at a small budget, trained at several context lengths; we
# have not built those, so the direction is the paper's, not ours. (For the ⟨bos⟩-packing table below we
# did build such a pair.)

# %%
tokens_per_step = text_recipe.batch_size * text_recipe.seq_len
probe_length = min(profile.lm_contexts)
sweep_rows = []
for length in profile.lm_contexts:
    recipe_at_length = replace(text_recipe, seq_len=length, batch_size=max(1, tokens_per_step // length))
    run = text_run if recipe_at_length == text_recipe else text_runs.run_text(recipe_at_length, text_tokenizer)
    report = variants.measure(run["model"], text_runs.natural_prompts(text_tokenizer, probe_length))
    tail = [h["loss"] for h in run["history"][-max(1, len(run["history"]) // 10):]]
    sweep_rows.append({"context": length, "batch": recipe_at_length.batch_size, "final training loss": sum(tail) / len(tail),
                       "sink rate (ε = 0.3)": report.sink_rate[0.3], "mean α₀": report.importance.mean().item(),
                       "largest head α₀": report.importance.mean(0).max().item()})
context_table = pd.DataFrame(sweep_rows).set_index("context")
print(f"every model measured on the 16 natural paragraphs, {probe_length} tokens with <bos>")
context_table.round(3)

# %% [markdown]
# ### Fixed ⟨bos⟩ or not, then ⟨bos⟩ removed at inference (Barbero et al., 2025, Table 2)
#
# Their ≈120M models (30B tokens): with ⟨bos⟩ fixed at position 0 during training, the sink lives on ⟨bos⟩
# (sink metric 90.84 %) and **removing ⟨bos⟩ at inference breaks the model** (sink 0.05 %, loss 2.69 → 7.56);
# without a fixed ⟨bos⟩ the sink forms on whatever token comes first (65 %) and removing ⟨bos⟩ changes little.
# Intra-document masking (fixed ⟨bos⟩: 90.56 %, loss 2.67 → 7.78 without ⟨bos⟩) behaves like causal masking.
# Below, the same table for our models: loss on held-out windows (both rows score the same tokens), sink
# rate and α₀ on the natural paragraphs with and without ⟨bos⟩. GPU profiles add the intra-document rows.

# %%
packings = [("none", "causal")] + ([("bos", "document"), ("none", "document")] if profile.name in ("t4", "a100") else [])
packing_runs = [text_run] + [text_runs.run_text(replace(text_recipe, packing=p, masking=m), text_tokenizer)
                             for p, m in packings]
packing_table = pd.DataFrame(text_runs.text_table(packing_runs)).set_index(["masking", "packing", "inference"])
packing_table.round(3)

# %%
fixed = packing_table.loc[("causal", "bos")]
loss_jump = fixed.loc["text only", "loss"] - fixed.loc["<bos> + text", "loss"]
print(f"trained with a fixed <bos>: removing it at inference changes the held-out loss by {loss_jump:+.3f} nats")

# %% [markdown]
# *Interpret it:* does your fixed-⟨bos⟩ model depend on ⟨bos⟩ the way Barbero et al.'s does? What besides the
# sink changes when you remove a token the model always saw at position 0?
#
# <details><summary>Answer</summary>Removing ⟨bos⟩ also moves every token one position left and puts a text
# token where the model has only ever seen ⟨bos⟩: a distribution shift, whatever the sink does. Barbero et
# al. name this caveat. The sink columns separate the two effects only partly: they show whether the heads
# that parked on ⟨bos⟩ find another place to park.</details>
#
# ### The Table-2 miniature on the shipped pair
#
# The runs above have no sink to lose. The course ships two teaching models that do: `sinklab/tiny-sink-lm`,
# trained with ⟨bos⟩ fixed at position 0, and its twin `sinklab/tiny-sink-lm-nobos`, the same recipe, data,
# budget and seed with plain windows cut anywhere in the packed text (⟨bos⟩ opens each document, wherever it
# falls). Both learned a Trigger-Recall task on top of docstrings, which makes dormant heads (their model cards
# give the recipe). Here we measure the 2 × 2 table ourselves: Gu et al.'s protocol (natural text, T = 64) with
# and without ⟨bos⟩, and the loss on held-out docstrings (the same target tokens in both rows).

# %%
from sinklab import measure, models, prompts, train

pair_recipe = train.EmbeddedRecipe()  # the held-out split both models were trained without
heldout = train.heldout_batch(pair_recipe, data.byte_tokenizer())  # both models share the byte tokenizer
pair_rows = []
for pair_name in models.SHIPPED_TEACHING:
    pair_model, pair_tokenizer = models.load_model(pair_name, device="cpu")
    for bos in (True, False):
        pair_report = measure.measure(pair_model, prompts.prompt_batch(pair_tokenizer, "natural", n=16, seq_len=64, bos=bos))
        pair_rows.append({"model": pair_name.split("/")[1], "inference": "<bos> + text" if bos else "text only",
                          "sink rate (ε = 0.3)": pair_report.rate(0.3), "sink rate (ε = 0.8)": pair_report.rate(0.8),
                          "held-out loss": train.heldout_loss(pair_model, heldout, pair_tokenizer.bos_token_id if bos else None)})
pair_table = pd.DataFrame(pair_rows).set_index(["model", "inference"])
pair_table.round(3)

# %%
fixed_pair, free_pair = pair_table.loc["tiny-sink-lm"], pair_table.loc["tiny-sink-lm-nobos"]
for label, rows in (("fixed <bos>", fixed_pair), ("no fixed <bos>", free_pair)):
    print(f"{label}: sink rate {rows.loc['<bos> + text', 'sink rate (ε = 0.3)']:.1%} → "
          f"{rows.loc['text only', 'sink rate (ε = 0.3)']:.1%} without <bos>; held-out loss "
          f"{rows.loc['<bos> + text', 'held-out loss']:.3f} → {rows.loc['text only', 'held-out loss']:.3f}")
print("Barbero et al. (≈120M, 30B tokens): fixed <bos> 90.84 % → 0.05 %, loss 2.69 → 7.56; "
      "no fixed <bos> 65.10 % → 65.15 %, loss 2.69 → 2.70")
assert fixed_pair.loc["text only", "sink rate (ε = 0.3)"] < fixed_pair.loc["<bos> + text", "sink rate (ε = 0.3)"] / 2, \
    "trained with a fixed <bos>, the sink needs the <bos>"
assert fixed_pair.loc["text only", "held-out loss"] > fixed_pair.loc["<bos> + text", "held-out loss"], \
    "trained with a fixed <bos>, removing it costs loss"

# %% [markdown]
# *Interpret it:* which row of Barbero et al.'s table does each of our four rows correspond to, and which of
# their two findings does our pair reproduce? Where the twin's numbers differ from theirs, what in our setup
# (a synthetic task that makes the sink, ≈ 2M training tokens instead of 30B, byte tokens) could explain it?
#
# <details><summary>Answer</summary>The fixed-⟨bos⟩ model is their "causal, fixed ⟨bos⟩" pair of rows: its
# sink and its loss depend on ⟨bos⟩. The twin is their "causal, no fixed ⟨bos⟩" pair: if the sink forms on
# whatever comes first, its two sink rates are close and removing ⟨bos⟩ costs little. Read the twin's numbers
# as measured, not as a confirmation: our sink is induced by a task, and the model sees ⟨bos⟩ inside windows
# (at document starts), so ⟨bos⟩ at position 0 is not new to it. In the pair the course ships (their model
# cards), the twin grew almost no sink with or without ⟨bos⟩: it reproduces the loss half of Barbero et al.'s
# finding (⟨bos⟩ does not matter to it), not the "sink on whatever comes first" half.</details>
#
# ### Weight decay and learning rate (Gu et al., 2025, Tables 2 and 9)
#
# Gu et al.'s 60M model (5B tokens, 20k steps): sink rate 15.20 % at weight decay 0, 18.18 % at 0.1 and
# 41.08 % at 0.5 (with 5.0 it collapses along with training); with learning rate 1e-4 instead of 4e-4,
# 2.90 % instead of 18.18 %. Smaller learning rates delay *and* weaken sinks. Our runs, same budget each:

# %%
hyper_rows = []
for label, change in [("weight decay 0", {"weight_decay": 0.0}), ("weight decay 0.1 (base)", {}),
                      ("weight decay 0.5", {"weight_decay": 0.5}), ("learning rate ÷ 4", {"lr": text_recipe.lr / 4})]:
    run = text_run if not change else text_runs.run_text(replace(text_recipe, **change), text_tokenizer)
    last = run["history"][-1]
    tail = [h["loss"] for h in run["history"][-max(1, len(run["history"]) // 10):]]
    hyper_rows.append({"setting": label, "final training loss": sum(tail) / len(tail),
                       "sink rate (ε = 0.3)": last["sink_rate@0.3"], "largest head α₀": last["max_head_mass"]})
pd.DataFrame(hyper_rows).set_index("setting").round(3)

# %% [markdown]
# We report these tables rather than assert them: at a few million tokens a sink may not have formed at all,
# and a single seed per setting cannot separate a small effect from noise. On the `t4` and `a100` profiles
# (larger models, TinyStories, 3,000–10,000 steps) the papers' directions are what to expect; we could not
# run those profiles while writing this chapter (no GPU), so their numbers are yours to measure.

# %% [markdown] tags=["bonus"]
# ## 4️⃣ The seed article's fine-tuning experiment, done properly
#
# > **Learning objectives**
# > - Turn an anecdote into a measured comparison with a control and a noise level
# > - Fine-tune a pretrained LM on text whose first token varies, tracking perplexity and the sink
# > - Test whether attention dropout changes "first-token handling", and say what the data support
#
# The blog post this course started from suggests: *"Fine-tune a small LLM on a dataset where you
# deliberately vary the first token … Track metrics like perplexity; in one of my sessions, altering the
# first token reduced accuracy by 15%"*, and *"I once boosted a model's first-token handling by tweaking the
# attention dropout"*. Neither says what was measured. Here is a version you can check:
#
# - **Model:** the profile's `finetune` model (printed when it loads below; on `ci` the embedded
#   `tiny-sink-lm`, trained with ⟨bos⟩ first).
# - **Data:** windows cut at random places in a text stream. "First token varies": the window starts wherever
#   the cut falls. "⟨bos⟩ first": the model's ⟨bos⟩, then the text.
# - **Measured every few steps:** held-out perplexity with ⟨bos⟩ first and without (same predicted tokens),
#   and mean first-token mass α₀ on the natural paragraphs, first token ⟨bos⟩ or the first word.
# - **Comparison:** attention dropout 0 vs 0.1, plus the same run with another data seed, to know how big a
#   difference noise alone makes; and the ⟨bos⟩-first run as a control.

# %%
from sinklab import models

ft_model, ft_tokenizer = models.load("finetune")
ft_name = models.EMBEDDED_NAME if ft_model.name_or_path == str(models.embedded_model_path()) else ft_model.name_or_path
n_params = sum(p.numel() for p in ft_model.parameters())
ft_recipe = text_runs.FinetuneRecipe(
    steps=profile.finetune_steps, lr=1e-3 if n_params < 1e7 else 1e-4, warmup_steps=max(1, profile.finetune_steps // 10),
    probe_every=max(1, profile.finetune_steps // 4), corpus=profile.lm_corpus,
)
ft_stream = data.token_stream(experiments.corpus_documents(profile.lm_corpus, profile.corpus_bytes), ft_tokenizer)
settings = {
    "first token varies": ft_recipe,
    "first token varies, attention dropout 0.1": replace(ft_recipe, attention_dropout=0.1),
    "first token varies, another data seed": replace(ft_recipe, seed=1),
    "<bos> first (control)": replace(ft_recipe, first_token="bos"),
}
ft_runs = {label: text_runs.finetune(ft_model, ft_tokenizer, r, stream=ft_stream) for label, r in settings.items()}
print(f"{ft_name}: {n_params / 1e6:.1f}M parameters, {ft_recipe.steps} steps of {ft_recipe.batch_size} × "
      f"{ft_recipe.seq_len} tokens at learning rate {ft_recipe.lr:g}")

# %%
before = ft_runs["first token varies"]["history"][0]
ft_rows = [{"run": "before fine-tuning", **{k: before[k] for k in ("ppl_bos", "ppl_varies", "sink_bos", "sink_varies")}}]
ft_rows += [{"run": label, **{k: run["history"][-1][k] for k in ("ppl_bos", "ppl_varies", "sink_bos", "sink_varies")}}
            for label, run in ft_runs.items()]
ft_table = pd.DataFrame(ft_rows).set_index("run").rename(columns={
    "ppl_bos": "perplexity, <bos> first", "ppl_varies": "perplexity, first token varies",
    "sink_bos": "α₀, <bos> first", "sink_varies": "α₀, first word first"})
ft_table.round(3)

# %%
plots.step_lines({label: experiments.curve(run["history"], "ppl_varies") for label, run in ft_runs.items()},
                 y_title="held-out perplexity", title=f"{ft_name}: perplexity when the first token varies", log_y=True)

# %%
table = ft_table
dropout_effect = table.loc["first token varies, attention dropout 0.1", "perplexity, first token varies"] - \
    table.loc["first token varies", "perplexity, first token varies"]
seed_effect = table.loc["first token varies, another data seed", "perplexity, first token varies"] - \
    table.loc["first token varies", "perplexity, first token varies"]
print(f"attention dropout 0.1 changes the perplexity (first token varies) by {dropout_effect:+.3f}; "
      f"another data seed alone by {seed_effect:+.3f}")
if ft_name == models.EMBEDDED_NAME:  # checked on the embedded model, which was trained with <bos> first
    assert before["ppl_varies"] > before["ppl_bos"], "a model trained with <bos> first does worse without it"
    assert table.loc["first token varies", "perplexity, first token varies"] < before["ppl_varies"], \
        "fine-tuning on varying first tokens repairs it"

# %% [markdown]
# *Interpret it:* what does the first row (before fine-tuning) say about the seed's "altering the first token
# reduced accuracy"? Is the dropout effect larger than the seed effect? What would you need before claiming
# that dropout "boosts first-token handling"?
#
# <details><summary>Answer</summary>For a model trained with ⟨bos⟩ first, removing it hurts — that much of
# the anecdote is real, and it is Barbero et al.'s Table 2 again; fine-tuning on windows that start anywhere
# quickly teaches the model to cope. A dropout effect smaller than the seed-to-seed difference is no effect.
# To claim one you need a definition of "first-token handling" (here: perplexity without ⟨bos⟩, and α₀),
# several seeds per setting, and a difference that survives them.</details>

# %% [markdown] tags=["optional"]
# ## 5️⃣ The sink as a training-progress signal
#
# > **Learning objectives**
# > - Define the onset of a metric during training so that a transient spike does not count
# > - Place the sink's onset on the loss curve, for the synthetic task and for text
# > - Weigh the P0-circuit paper's proposal to use the sink as a convergence signal
#
# Peng et al. (2026, *How attention sinks emerge … the P0 sink circuit*; the course's second seed) find
# that the circuit that recognises position 0 emerges **early** in pre-training of a 30B-A3B MoE model and
# concentrates in the first two layers, and suggest it "could serve as a signal for tracking pre-training
# convergence". We have two training histories to try it on. Chapter 4 measures where the circuit forms and
# how it concentrates in the first blocks during training; this section only places the sink's **onset**
# on the loss curve (Exercise 6.6) and shows the first-block norm signature alongside, without repeating
# chapter 4's analysis.
#
# ### Exercise 6.6 – When does a metric come to stay?
#
# > Difficulty: 🔴🔴⚪⚪⚪ · Importance: 🔵🔵🔵⚪⚪ · ≈ 8 minutes
#
# Given the probed `steps` and a metric's `values`, return the first step from which the values stay
# `≥ threshold` until the end; `None` if there is none.

# %%
def onset_step(steps: list, values: list, threshold: float):
    """The first step from which values stay >= threshold to the end; None if never."""
    ### BEGIN SOLUTION
    onset = None
    for step, value in zip(steps, values):
        if value < threshold:
            onset = None  # fell back below: any earlier crossing was transient
        elif onset is None:
            onset = step
    return onset
    ### END SOLUTION


from sinklab.checks import check_onset_step

check_onset_step(onset_step)

# %% [markdown]
# <details><summary>Hint</summary>
#
# Walk through the pairs keeping a candidate onset: reset it to `None` whenever a value drops below the
# threshold, set it to the current step when you are above and have no candidate.
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ onset_step: correct.`
# </details>
#
# **Bigram-Backcopy.** The sink on other queries against the copy (the loss's second drop).

# %%
def loss_settled(history, share=0.9):
    """The first step where the running loss has made `share` of its total drop (a simple 'converged' mark)."""
    steps, losses = experiments.curve(history, "loss", max_points=50)
    target = losses[0] - share * (losses[0] - min(losses))
    return next(s for s, value in zip(steps, losses) if value <= target)


def step_text(step) -> str:
    return "never" if step is None else f"step {step}"


sink_onset = onset_step(*experiments.curve(history, "other_mass"), 0.5)
copy_onset = onset_step(*experiments.curve(history, "copy_accuracy"), 0.9)
print(f"Bigram-Backcopy ({steps} steps): sink on other queries (≥ 0.5) from {step_text(sink_onset)}; copy accuracy "
      f"≥ 0.9 from {step_text(copy_onset)}; loss at 90 % of its drop at step {loss_settled(history)}")

# %% [markdown]
# **Text.** The sink rate and the first token's residual norm in the first two blocks (the P0 circuit's
# signature: position 0 gets a large, input-independent residual), against the loss.

# %%
norm_steps = [h["step"] for h in text_history if "first_norm_ratio" in h]
norm_ratio = [h["first_norm_ratio"] for h in text_history if "first_norm_ratio" in h]
series = {f"‖h_first‖ / ‖h_other‖ after block {b}": (norm_steps, [r[b] for r in norm_ratio])
          for b in range(1, min(3, len(norm_ratio[0])))}
plots.step_lines(series, y_title="norm ratio", title="The first token's residual norm during training")

# %%
text_sink_onset = onset_step(*experiments.curve(text_history, "max_head_mass"), 0.3)
print(f"text LM ({profile.train_steps} steps): largest head α₀ ≥ 0.3 from {step_text(text_sink_onset)}; "
      f"loss at 90 % of its drop at step {loss_settled(text_history)}")

# %% [markdown]
# *Interpret it:* in which order did the sink and the loss milestones come in each run? Would you stop a
# training run because the sink has appeared?
#
# <details><summary>Answer</summary>In the synthetic task the head parks on ⟨bos⟩ while the copy is still
# being learned: the sink marks that the head has a job only on some tokens, not that training is done. In
# our short text runs the sink may not appear at all. A signal for *convergence* would have to come late and
# reliably; Peng et al. report the circuit early and then concentrating, which makes it a signal of
# *progress* through a phase, one of several to watch, not a stopping rule.</details>

# %% [markdown] tags=["optional"]
# ## Interactive Demo 6 – Watch the head learn
#
# The Bigram-Backcopy runs of section 2, probe by probe: the head's attention on the first 24 tokens of a
# probe sequence (`⟨T⟩` marks a trigger) and the probe's numbers.
#
# 1. In the softmax run, drag the step from the start to the end. When does the ⟨bos⟩ column light up, and
#    when do the trigger rows move one cell left of the diagonal?
# 2. Switch to `softmax1` or `sink_logit`. Where is the ⟨bos⟩ column now, and what do the rows of non-trigger
#    queries look like? (Their weights need not sum to one.)
# 3. Switch to `gated`. Does a gate that can close make the sink go away?
#
# In a live notebook you get a menu and a slider. In CI, in stored notebooks and under the `ci` profile you
# get a static picture of the softmax run at three steps (`training_explorer(runs, labels, interactive=True)`
# forces the controls).

# %%
from sinklab.viz.widgets import compute_training_explorer, training_explorer

training_explorer(runs, labels)

# %%
first, final = compute_training_explorer(history, 0), compute_training_explorer(history, steps)
assert first.step < final.step and final.pattern.shape == (24, 24)
torch.testing.assert_close(final.pattern.sum(-1), torch.ones(24))  # a softmax head: every row sums to one
print(f"softmax run: first-token mass on other queries {first.other_mass:.2f} at step {first.step}, "
      f"{final.other_mass:.2f} at step {final.step}")

# %% [markdown] tags=["core"]
# ## Summary
#
# - A head that has a job on some tokens and nothing to do on the others parks its softmax attention on
#   ⟨bos⟩ there, and ⟨bos⟩'s value shrinks so that parking adds (almost) nothing: Guo et al.'s active–dormant
#   head, grown from scratch on a CPU in a few minutes (the full run: 0.909 first-token mass on non-trigger
#   queries, 0.000 on triggers, ‖v_bos‖ 0.14× the others').
# - Give the head another way to do nothing — a zero key, a learned logit, unnormalised sigmoid/ReLU
#   weights, an output gate — and it need not park. Measure such models from their own weights: the
#   log-sum-exp trick is a softmax identity.
# - How strong a sink grows depends on the alternatives: with RoPE our Bigram-Backcopy head parked only
#   0.35 of its attention on ⟨bos⟩ and 0.33 on its own position.
# - On text, sinks need scale: Gu et al. and Barbero et al. report them after billions of tokens, stronger
#   with longer contexts, more weight decay and larger learning rates; a fixed ⟨bos⟩ decides where the sink
#   lives, and removing it afterwards hurts. Our small runs report what a few million tokens show.
# - Anecdotes become experiments with a definition, a control and a noise level.

# %% [markdown] tags=["core"]
# ## Check your understanding
#
# **1. In Bigram-Backcopy, why does the copy head park on ⟨bos⟩ rather than on the previous token on non-trigger queries?**
#
# <details><summary>(a) ⟨bos⟩ has the largest key norm</summary>❌ Sinks come from the direction of keys
# and queries; and ⟨bos⟩'s *value* is what training shrinks.</details>
# <details><summary>(b) ⟨bos⟩'s value is the same on every sequence, so parking there adds a constant that training can shrink to almost nothing</summary>✅
# The previous token's value would be noise for the bigram prediction.</details>
# <details><summary>(c) The causal mask forces it</summary>❌ The mask only says which keys a query may see.</details>
#
# **2. Softmax-off-by-one is attention with an extra key whose…**
#
# <details><summary>(a) key and value are zero</summary>✅ Its score is 0 for every query, so it adds 1 = e⁰
# to the denominator and nothing to the output.</details>
# <details><summary>(b) key is learned and value is zero</summary>❌ That is the learned sink logit (or Gu et
# al.'s key bias with v = 0).</details>
# <details><summary>(c) key is zero and value is learned</summary>❌ Then the head would add a constant vector.</details>
#
# **3. You train a sigmoid-attention model and call `sinklab.measure.measure` on it. What happens, and why?**
#
# <details><summary>(a) You get its first-token mass</summary>❌ The log-sum-exp trick p = exp(s − LSE)
# assumes softmax; sigmoid weights are not normalised.</details>
# <details><summary>(b) It refuses and points to `sinklab.variants.measure`</summary>✅ Which reads the
# weights the layers really used.</details>
#
# **4. A model trained with ⟨bos⟩ at position 0 of every window loses much of its quality when ⟨bos⟩ is removed. Does that prove the sink was doing the work?**
#
# <details><summary>(a) Yes</summary>❌ Removing ⟨bos⟩ is also a distribution shift: every position
# changes, and a text token sits where only ⟨bos⟩ ever was.</details>
# <details><summary>(b) No, the two effects act together</summary>✅ Barbero et al. note the same caveat.</details>
#
# **5. Your fine-tuning run with attention dropout 0.1 ends 0.02 lower in perplexity than without. Another data seed changes it by 0.05. Conclusion?**
#
# <details><summary>(a) Dropout helps first-token handling</summary>❌ The difference is inside the noise.</details>
# <details><summary>(b) No measurable effect at this budget</summary>✅ Run several seeds per setting
# before claiming one.</details>

# %% [markdown] tags=["core"]
# ## Further reading
#
# - Guo, Pai, Bai, Jiao, Jordan & Mei (2024), *Active-dormant attention heads: mechanistically demystifying
#   extreme-token phenomena in LLMs* — Bigram-Backcopy, dormant heads, value-state drain; ReLU attention
#   removes them.
# - Gu et al. (2025), *When attention sink emerges in language models: an empirical view* (ICLR 2025) — sinks
#   from scratch: data, learning rate, weight decay, positional encodings, sigmoid attention.
# - Barbero et al. (2025), *Why do LLMs attend to the first token?* (COLM 2025) — context length and ⟨bos⟩
#   packing (their Table 2), over-mixing.
# - Xiao et al. (2024), *Efficient streaming language models with attention sinks* (ICLR 2024) — softmax-off
#   -by-one as "zero sink" and a learnable sink token in pre-training.
# - Miller (2023), *Attention is off by one* (blog) — softmax₁.
# - Qiu et al. (2025), *Gated attention for large language models: non-linearity, sparsity, and
#   attention-sink-free* — the output gate that removes the sink in Qwen models.
# - OpenAI (2025), gpt-oss model card — one learned sink logit per head.
# - Peng et al. (2026), *How attention sinks emerge in large language models: an interpretability
#   perspective* — the P0 sink circuit and its emergence during training.
