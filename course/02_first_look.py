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
# `models.load("causal_lm")` asks for the model of one **role** (a causal LM); your **profile**
# (`SINKLAB_PROFILE`, chapter 0) decides which model fills it. On `ci` (offline) it is the teaching model
# shipped with sinklab, whose sink was *induced on purpose* by its training recipe (see its model card,
# `sinklab/assets/tiny-sink-lm/README.md`); other profiles load pretrained LMs. Everything below works
# for any of them — read the model's name in the output before you read the numbers.

# %%
import pandas as pd
import torch

from sinklab import measure, metrics, models, plots, prompts

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
heads_shown = list(range(min(n_heads, 8, max(1, plots.MAX_ROWS // len(tokens) ** 2))))  # Altair keeps ≤ 5000 cells
plots.attention_heatmaps(attn[n_layers - 1, heads_shown], tokens, title=f"last layer ({n_layers - 1}), one panel per head")

# %% [markdown]
# Each panel is one head; each row one query (a position that reads), each column one key (a
# position that is read). Causal masking leaves the upper triangle empty. Look at the **leftmost
# column**: in some heads it is bright in most rows. Before calling that a sink, ask what a head with
# *no* sink would show on a prompt of this length. Two such heads:
#
# - a **uniform** head spreads each query's attention over all it can see: query *i* gives key 0 the
#   share 1/(*i* + 1), and its average over the T queries is H_T/T (chapter 0) — 0.29 at T = 10;
# - a **previous-token** head puts each query on the token before it: only queries 0 and 1 touch key 0,
#   so the first column averages 2/T — 0.20 at T = 10.
#
# Both count query 0, which sees only key 0: attn[0, 0] = 1 in every head. On a 10-token prompt either
# null head comes close to Gu et al.'s threshold ε = 0.3, so "bright first column" is partly a length
# effect. The cell below measures, per head of the last layer, how often key 0 is the brightest key of a
# row (queries 1 onward) and compares each head's first-column average with the two null heads.

# %%
last_layer = attn[n_layers - 1].float()  # [head, query, key]
length = last_layer.shape[-1]
first_brightest = (last_layer[:, 1:].argmax(-1) == 0).float().mean(-1)  # per head, queries 1 … T−1
first_column = last_layer[..., 0].mean(-1)  # per head: the average the heatmap's first column shows
uniform_null = metrics.uniform_first_token_importance(length).item()
print(f"T = {length} tokens; a uniform head would average {uniform_null:.3f} on key 0, a previous-token head "
      f"{2 / length:.3f}")
for head in range(n_heads):
    print(f"  head {head}: key 0 is the brightest key in {first_brightest[head]:.0%} of rows; first-column "
          f"average {first_column[head]:.3f} = {first_column[head] / uniform_null:.1f}× uniform")

# %% [markdown]
# <details><summary>What you should see</summary>
#
# The prompt's length T, the two null values (on `ci`, where one token is one byte, T is about 45 and the
# uniform value about 0.1), then one line per head. Compare each head's first-column average with the
# uniform value: a head several times above it is a sink; a head near it is not, however bright its
# top-left cell. The count of rows where key 0 is brightest tells the same story row by row.
# </details>
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
# <details><summary>Hint 1 (the idea)</summary>
#
# Having a `bos_token` is not the same as adding it: GPT-2's tokenizer has one (`<|endoftext|>`) but
# never prepends it. Look at what the tokenizer actually produces.
# </details>
#
# <details><summary>Hint 2 (the code)</summary>
#
# Tokenize any short string and compare its first id with `tokenizer.bos_token_id` (which may be `None`).
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
# <details><summary>Hint 1 (the idea)</summary>
#
# Attention *on* the first token is a column of each pattern (one value per query), not a row.
# </details>
#
# <details><summary>Hint 2 (the code)</summary>
#
# Keys are the last axis: index key 0 there, then average over the axis that is left for the queries.
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ first_token_mass_per_head: correct.`, a layer × head map, and below it the number of heads whose
# mean first-token attention exceeds twice the uniform value H_T/T of this prompt. That printed count,
# not the colour of the map, is the measurement: compare it with the total number of heads.
# </details>

# %%
mass = first_token_mass_per_head(attn).float()
print(f"{model.name_or_path}, T = {length}: {int((mass > 2 * uniform_null).sum())} of {mass.numel()} heads put more "
      f"than 2 × H_T/T = {2 * uniform_null:.3f} on the first token; the largest is {mass.max():.3f}")

# %% [markdown]
# Gu et al. (2025) turn this into a number per head, the **importance score** of key k: the mean
# attention key k receives from the queries that can see it, α_k = (1 / #queries that see k) · Σ_i
# attn[i, k]. They call a head a sink when α₀ > ε. For key 0 every query counts, query 0 included, whose
# attn[0, 0] is 1 by construction — which is why a uniform head scores H_T/T, not 1/T. In a batch
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
# <details><summary>Hint 1 (the idea)</summary>
#
# Two things move with left padding: which key is "first" (it shifts right by the number of pads) and
# which queries count (pad queries are garbage). Handle each row's first real token, and average only
# over real queries.
# </details>
#
# <details><summary>Hint 2 (the code)</summary>
#
# The first real token of row b sits at `padding_mask[b].argmax()` (the first 1). Gather that key's
# column per row, multiply by the padding mask over queries, and divide by the mask's sum.
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ importance_score: correct.` If it names a mistake, the message says which one. Below, on the real
# model, the printed gap to sinklab's measurement is at the level of float rounding (well under 1e-4).
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
# <details><summary>Hint 1 (the idea)</summary>
#
# Count the (row, layer, head) entries strictly above ε and divide by how many there are.
# </details>
#
# <details><summary>Hint 2 (the code)</summary>
#
# A comparison gives a boolean tensor; `.float()` makes it 0/1, and its mean is the fraction of `True`s.
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

# The null hypothesis, per row: each row's uniform baseline H_T/T from its own number of real tokens.
baseline = metrics.uniform_first_token_importance(padded["attention_mask"].sum(-1))  # [batch]
strongest = mine.float().flatten(1).amax(-1)  # [batch]: each row's strongest head
print("uniform baseline per row:", [round(b, 3) for b in baseline.tolist()],
      "· strongest head per row:", [round(m, 3) for m in strongest.tolist()])
if getattr(model.config, "sinklab_stand_in", False):
    print("stand-in weights: claim not tested")
else:
    assert (strongest > 3 * baseline).all(), "expected a head far above the uniform baseline in every row"

# %% [markdown]
# Two different computations — yours from the full matrix, sinklab's from log-sum-exps — agree to
# floating-point precision. From here on we use `measure.measure`, which scales to long inputs.

# ### Exercise 2.5 – The null baseline: α₀ of a head with no preference
#
# > Difficulty: 🔴🔴⚪⚪⚪ · Importance: 🔵🔵🔵🔵🔵 · ≈ 8 minutes
#
# A causal head attends **uniformly** to every key it can see, on a prompt of T tokens. Return its
# importance score α₀ (the first token's attention averaged over all T queries) as a Python float. Every
# α₀ you measure should be compared with this number for the same T.

# %%
def uniform_importance(length: int) -> float:
    """alpha_0 of a causal head that spreads each query's attention evenly over the keys it sees."""
    ### BEGIN SOLUTION
    return sum(1 / (i + 1) for i in range(length)) / length  # query i sees i + 1 keys
    ### END SOLUTION


from sinklab.checks import check_uniform_importance

check_uniform_importance(uniform_importance)

# %% [markdown]
# <details><summary>Hint 1 (the idea)</summary>
#
# Write down, query by query, the share of key 0: query 0 sees one key, query 1 two keys, … Then average
# these T shares.
# </details>
#
# <details><summary>Hint 2 (the code)</summary>
#
# Query i (counting from 0) gives key 0 the share `1 / (i + 1)`. A `sum(...)` over `range(length)`,
# divided by `length`.
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ uniform_importance: correct.` Then a chart of α₀ against the prompt length T: the uniform head's
# curve falls from 1 (T = 1) through 0.29 (T = 10) towards 0; the printed table adds the real model's mean
# and strongest head at the same lengths. Compare them row by row: which heads stay above the uniform
# curve at every T, and at which T does the uniform head itself drop below ε = 0.3?
# </details>
#
# Thanks to the causal mask, the first T positions of a longer prompt see exactly what a T-token prompt
# would, so one forward pass gives α₀ at every length: average each query's first-token mass over the
# first T queries only.

# %%
lengths_t = [4, 8, 16, 32, 64, 128]
long_batch = prompts.prompt_batch(tokenizer, "natural", n=4, seq_len=max(lengths_t))
long_batch = {name: value.to(model.device) for name, value in long_batch.items()}
by_length = measure.measure(model, long_batch, eps=(0.3,))
rows_t = []
for t in lengths_t:
    alpha0_t = by_length.first_mass[..., :t].float().mean(-1)  # [batch, layer, head]: α₀ of the first t tokens
    rows_t.append({"T": t, "uniform head α₀": uniform_importance(t), "model: mean α₀": alpha0_t.mean().item(),
                   "model: strongest head α₀": alpha0_t.amax((1, 2)).mean().item(),
                   "uniform head is a sink (ε=0.3)": uniform_importance(t) > 0.3,
                   "model: sink rate ε=0.3": (alpha0_t > 0.3).float().mean().item()})
length_table = pd.DataFrame(rows_t)
print(length_table.round(3).to_string(index=False))
plots.step_lines({column: (lengths_t, length_table[column].tolist())
                  for column in ("uniform head α₀", "model: mean α₀", "model: strongest head α₀")},
                 y_title="α₀", x_title="prompt length T (tokens)", title=f"{model.name_or_path}: α₀ against T")

# %% [markdown]
# *Interpret it:* at T ≤ 9 the uniform head alone passes ε = 0.3, so a sink rate measured on very short
# prompts counts heads that have no sink at all. Gu et al. measure at T = 64, where the uniform head scores
# 0.074. A head is a sink when it stays far above the uniform curve as T grows.

# %% [markdown] tags=["optional"]
# ## 4️⃣ Beyond the first token: secondary sinks, and when a sink head wakes up
#
# > **Learning objectives**
# > - Compute the importance score of every key and compare it with a uniform head's, key by key
# > - Find where a sink head stops attending to the first token, query by query
#
# ### Exercise 2.6 – Importance of every key: secondary sinks
#
# > Difficulty: 🔴🔴🔴⚪⚪ · Importance: 🔵🔵🔵⚪⚪ · ≈ 10 minutes
#
# The first token is not the only key that can soak up attention: punctuation and newlines often become
# **secondary sinks**. `attn` has shape `[layer, head, T, T]` (one prompt, no padding). Return α_k for
# every key k, shape `[layer, head, T]`: the mean attention key k receives from the queries that can see it.

# %%
def importance_per_key(attn: torch.Tensor) -> torch.Tensor:
    """Gu's alpha_k for every key: [layer, head, T, T] -> [layer, head, T]."""
    ### BEGIN SOLUTION
    length = attn.shape[-1]
    seen_by = torch.arange(length, 0, -1, dtype=attn.dtype, device=attn.device)  # key k: queries k … T−1
    return attn.sum(dim=-2) / seen_by
    ### END SOLUTION


from sinklab.checks import check_importance_per_key

check_importance_per_key(importance_per_key)

# %% [markdown]
# <details><summary>Hint 1 (the idea)</summary>
#
# Sum each key's column over the queries. Then divide by how many queries can see that key: under the
# causal mask, key k is visible to queries k, k + 1, …, T − 1.
# </details>
#
# <details><summary>Hint 2 (the code)</summary>
#
# The column sums are `attn.sum(dim=-2)`. The counts T, T − 1, …, 1 are `torch.arange(T, 0, -1)`.
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ importance_per_key: correct.` Then the gap between your α_k and sinklab's `stats=("received",)`
# measurement (float rounding), and, on a longer prompt, the five keys after position 0 whose strongest
# head gives them the most attention relative to a uniform head, with their tokens. Compare their ratios
# with the first token's: are they spaces, punctuation, newlines — and are they anywhere near as strong?
# </details>

# %%
alpha_k = importance_per_key(attn.float())  # [layer, head, T] from the §1 prompt
received = measure.measure(model, batch, stats=("received",)).received[0].float()  # [layer, head, T]
print(f"largest gap to sinklab's received statistic: {(alpha_k - received).abs().max().item():.1e}")
assert (alpha_k - received).abs().max() < 1e-4

# Secondary sinks need a longer prompt with several sentences; sinklab measures α_k without the T×T matrix.
long_one = {name: value.to(model.device) for name, value in prompts.long_prompt(tokenizer, 160).items()}
long_tokens = tokenizer.convert_ids_to_tokens(long_one["input_ids"][0])
alpha_long = measure.measure(model, long_one, stats=("received",)).received[0].float()  # [layer, head, T]
n_long = alpha_long.shape[-1]
# The null baseline for key k: a uniform head's query i gives it 1/(i + 1), averaged over queries k … T−1.
shares = 1 / torch.arange(1, n_long + 1, dtype=torch.float32)
uniform_k = torch.stack([shares[k:].mean() for k in range(n_long)]).to(alpha_long.device)  # [T]
ratio = (alpha_long / uniform_k).amax((0, 1))  # per key: its strongest head, relative to a uniform head
candidates = torch.arange(1, n_long - 32)  # keys seen by at least 32 queries (later ones are noisy)
top = candidates[ratio[candidates].argsort(descending=True)[:5]]
print(f"T = {n_long}; first token: {ratio[0]:.1f}× uniform in its strongest head; the next strongest keys:")
for k in top.tolist():
    print(f"  position {k:3d} {long_tokens[k]!r:12}: strongest head's α_k = {alpha_long[..., k].max():.3f}, "
          f"{ratio[k]:.1f}× uniform")

# %% [markdown]
# ### When does a sink head wake up?
#
# A dormant head (chapter 1, Exercise 1.10) parks on the first token until something it cares about
# appears. Take the strongest sink head and look at its first-token mass **query by query**: where does
# it drop, and on which tokens?

# %%
per_query = measure.measure(model, long_one).first_mass[0].float()  # [layer, head, T]
sink_layer, sink_head = divmod(int(per_query.mean(-1).argmax()), n_heads)
mass_curve = per_query[sink_layer, sink_head]
lowest = mass_curve.argsort()[:8].sort().values.tolist()  # the 8 queries where the head looks elsewhere most
print(f"layer {sink_layer} head {sink_head}: first-token mass per query, median {mass_curve.median():.2f}, "
      f"min {mass_curve.min():.2f}; {int((mass_curve < 0.5).sum())} of {n_long} queries below 0.5")
print("its 8 lowest queries:", [(q, long_tokens[q], round(mass_curve[q].item(), 2)) for q in lowest])
plots.lines({f"layer {sink_layer} head {sink_head}": mass_curve.tolist()}, x_title="query position",
            y_title="attention on the first token", title=f"{model.name_or_path}: one sink head, query by query")

# %% [markdown]
# <details><summary>What you should see</summary>
#
# The head's median mass (high), how many queries fall below 0.5, and its eight lowest queries with their
# tokens. If the head is dormant-with-a-job, the drops sit on a few tokens of one kind; if they are spread
# evenly, the head is just weaker in places. Compare with another sink head by changing `sink_head`.
# </details>

# %% [markdown] tags=["optional"]
# ## 5️⃣ A blog post's claims, measured
#
# > **Learning objectives**
# > - Measure how much the next-token distributions change when only the first token changes (KL by position)
# > - Compare the sink with and without a BOS token, and with numeric or symbolic openers
# > - Report each number with the model it was measured on
#
# A popular blog post on this topic suggests experiments and reports anecdotes: "swap *The* for
# *Suddenly* and the whole response shifts", "a numeric opener like `[123]` makes outputs feel
# disjointed". It cites no sources, and neither do its numbers (altering the first token "reduced accuracy
# by 15 %", a first word "reduced user frustration by 20 %"); its explanation, that positional encoding
# gives the first token its weight, is refuted in chapter 1 (NoPE models grow sinks too). Here we measure
# instead. The yardstick is the **KL divergence** between the model's next-token distributions P_a and
# P_b on two inputs: KL(P_a ‖ P_b) = Σ_x P_a(x) log(P_a(x)/P_b(x)), in nats, zero exactly when the two
# distributions agree and larger the more P_b misses what P_a predicts. We compute it position by
# position on the part the two inputs share.

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
# Changing the opener changes predictions most right after it, and the effect fades along the suffix.
# But two things confound this comparison: "[123] The" *adds* tokens, so every suffix token sits at a
# different absolute position, while "Suddenly" *replaces* "The"; and any change anywhere has effects
# downstream. Is the first position special? The control below changes one word **in the middle** by a
# word of the same token length and measures the KL at the same distances after the change as for a
# length-matched change of the first word.

# %%
def kl_after_change(ids_a: list[int], ids_b: list[int]) -> tuple[int, torch.Tensor]:
    """For two equally long inputs: the first position where they differ, and the KL of next-token
    predictions at distance 1, 2, … after it (the predictions made at and after the last changed token)."""
    if len(ids_a) != len(ids_b):
        raise ValueError("kl_after_change needs length-matched inputs")
    differ = [i for i, (x, y) in enumerate(zip(ids_a, ids_b)) if x != y]
    start, end = differ[0], differ[-1]
    logp_a, logp_b = next_token_logprobs(model, ids_a)[end:], next_token_logprobs(model, ids_b)[end:]
    return start, (logp_a.exp() * (logp_a - logp_b)).sum(-1)


def same_length_pair(text: str, old: str, candidates: tuple[str, ...]) -> tuple[list[int], list[int]]:
    """`text` and `text` with `old` replaced (first occurrence) by the first candidate of the same token length."""
    ids_a = encode(text, bos=uses_bos)
    for new in candidates:
        ids_b = encode(text.replace(old, new, 1), bos=uses_bos)
        if len(ids_b) == len(ids_a):
            return ids_a, ids_b
    raise ValueError(f"no candidate for {old!r} has the same token length in {model.name_or_path}'s tokenizer")


original_text = "The" + story
first_a, first_b = same_length_pair(original_text, "The", ("One", "Her", "His", "Our", "Its"))
middle_a, middle_b = same_length_pair(original_text, "lazy", ("busy", "tiny", "cold", "sick", "wild"))
first_at, first_kl = kl_after_change(first_a, first_b)
middle_at, middle_kl = kl_after_change(middle_a, middle_b)
distance = min(len(first_kl), len(middle_kl))  # compare at the same distances after the change
first_mean, middle_mean = first_kl[:distance].mean().item(), middle_kl[:distance].mean().item()
print(f"first word changed at position {first_at}, a middle word at {middle_at}; over the {distance} positions "
      f"after each change: mean KL {first_mean:.3f} (first word) vs {middle_mean:.3f} (middle word) nats")
print(f"at distance {distance}: {first_kl[distance - 1]:.4f} vs {middle_kl[distance - 1]:.4f} nats")

# %% [markdown]
# <details><summary>What you should see</summary>
#
# The two change positions, then the mean KL over the same distances after each change, for the first
# word and for the middle word, and the two KLs at the largest shared distance. Compare them: a ratio
# near 1 means the first position is no more influential than any other; a large ratio means it is.
# Either way, neither curve is exactly zero (floating point alone sees to that), so "does not vanish"
# is not a finding — the comparison with the control is.
# </details>
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
sink_table = pd.DataFrame(rows)
sink_table.round(3)

# %%
with_bos = sink_table[sink_table["BOS"]]["sink rate ε=0.3"].mean() if uses_bos else float("nan")
without_bos = sink_table[~sink_table["BOS"]]["sink rate ε=0.3"].mean()
print(f"{model.name_or_path}: mean sink rate with BOS {with_bos:.3f}, without BOS {without_bos:.3f}")
if getattr(model.config, "sinklab_stand_in", False):
    print("stand-in weights: claim not tested")
elif uses_bos:
    # Models trained with a BOS token park attention on it; without it they must park elsewhere.
    assert with_bos > without_bos, "expected a stronger sink with the BOS token this model was trained with"

# %% [markdown]
# *Interpret it:* for a model trained with BOS, the sink lives on the BOS token. Remove BOS and the
# first word has to play the role — which it does only partly. For GPT-2, trained without BOS, the
# first word *is* the sink, whatever it is: Gu et al. (2025, Table 1) find sinks in GPT-2, LLaMA and
# Mistral even on random token sequences. That need not hold for every model: chapter 4 measures a random
# first token on the `ci` model, trained with `<bos>` always at position 0, and its sink collapses.
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
#
# This is **activation patching**, a core tool of interpretability: run two inputs, splice part of one
# run's internal state into the other, and measure what changes. Write the splice.
#
# ### Exercise 2.7 – Patch chosen key/value heads of a cache
#
# > Difficulty: 🔴🔴🔴⚪⚪ · Importance: 🔵🔵🔵🔵⚪ · ≈ 12 minutes
#
# `cache` and `cache_b` are the key/value caches of the two runs over the shared prefix (up to and
# including the changed token). `cache.layers[l].keys` and `.values` have shape `[batch, kv_head, T, d]`.
# In every layer l, make the key/value heads listed in `heads_from_b[l]` read input b's token at
# `position`, and leave everything else of `cache` as it is. Change `cache` in place; return nothing.

# %%
def patch_kv_heads(cache, cache_b, position: int, heads_from_b: list[list[int]]) -> None:
    """In layer l, copy heads `heads_from_b[l]` of cache_b's keys and values at `position` into cache."""
    ### BEGIN SOLUTION
    for layer, layer_b, heads in zip(cache.layers, cache_b.layers, heads_from_b):
        layer.keys[:, heads, position] = layer_b.keys[:, heads, position]
        layer.values[:, heads, position] = layer_b.values[:, heads, position]
    ### END SOLUTION


from sinklab.checks import check_patch_kv_heads

check_patch_kv_heads(patch_kv_heads)

# %% [markdown]
# <details><summary>Hint 1 (the idea)</summary>
#
# A head reads a token through two tensors: its key (how much attention the token gets) and its value
# (what the token sends). Only one position differs between the runs, and only some heads should see b.
# </details>
#
# <details><summary>Hint 2 (the code)</summary>
#
# Walk `zip(cache.layers, cache_b.layers, heads_from_b)`; index `[:, heads, position]` on both sides
# (a list of head indices selects those heads; an empty list selects none).
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ patch_kv_heads: correct.` Below, two exact checks pass (every head patched gives the variant's
# predictions, none gives the original's), then a table of how much of the change each group of heads
# carries. Compare the sink heads' share with the other heads'.
# </details>

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
        patch_kv_heads(cache, cache_b, position, heads_from_b)
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
# attention to it. (Measured on `ci` with `sinklab/tiny-sink-lm`: 6 sink heads of 48 carry about 0.2 %
# of the change, the other 42 about 96 %.) Shares need not add up to one: the heads interact through
# later layers. On GPT-2 (`cpu` profile) the first word *is* the sink: run it and see whether the sink
# heads carry more there. Note what this does *not* show: that a sink head is a no-op. With BOS, a sink
# head attends to a token that is identical in both inputs, so it cannot carry the change whatever its
# value adds. Whether it adds little is a question about its value after W_O (chapter 1, chapter 3's
# value norms) and about what happens when you remove it (chapter 5).

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
# - A uniform causal head already scores α₀ = H_T/T (0.29 at T = 10): compare with it, not with 1/T.
# - Changing the first token changes predictions along the input (KL by position); compare it with a
#   length-matched change of a middle word before calling the first position special.

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
# <details><summary>(b) No, but compare with a control</summary>✅ Its content matters less with distance,
# while its role as a sink persists. Whether the first token matters *more* than another is a comparison
# with a middle-word change at the same distance, as in section 4.</details>

# %% [markdown] tags=["core"]
# ## Further reading
#
# - Gu et al. (2025), *When Attention Sink Emerges in Language Models* — §3 and Table 1 define α₀ and the sink rate.
# - Xiao et al. (2024), *StreamingLLM* — Fig. 2 shows first-token attention across layers of Llama-2.
# - Clark et al. (2019), *What Does BERT Look At?* — sinks on [CLS] and [SEP] in an encoder.
