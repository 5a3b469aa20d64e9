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
# This is the heart of the course: you measure, on real models, the results the papers report. Each
# experiment is one `sinklab` call and one chart, and every number ends up in a table next to the
# published one, with the threshold ε, the length T and the prompts it was measured with.
#
# | section | you measure | published reference |
# | --- | --- | --- |
# | 1️⃣ The log-sum-exp trick | what `output_attentions` costs, and first-token mass without the T × T matrix | — |
# | 2️⃣ Families and sizes | the sink rate of every model in your profile's sweep, ε = 0.3 and 0.8 | Gu et al. (2025) Table 1; Barbero et al. (2025) Table 1 |
# | 3️⃣ Natural, random, repeated | the sink rate on three kinds of input | Gu et al. (2025) Table 1 |
# | 4️⃣ Long context | first-token mass against the query position | Xiao et al. (2024) App. F |
# | 5️⃣ The approximate no-op | key, value and hidden-state norms; zeroing vs averaging the massive activations | Gu et al. (2025) §3.1; Sun et al. (2024) Table 3 |
# | 6️⃣ StreamingLLM | perplexity with window attention, with and without the first tokens | Xiao et al. (2024) Tables 1–2 |
# | 7️⃣ Emergence | the sink rate across Pythia's training checkpoints | Queipo-de-Llano et al. (2025) |
#
# **What your profile can show.** The papers measure pretrained models from Pythia-14M (Gu et al. find
# sinks there already) through GPT2-XL and 7–8B Llama and Mistral models to Llama 3.1 405B, and train
# 60M (Gu et al.) and 160M (Xiao et al.) models from scratch. The `t4` and `a100` profiles load real LLMs
# up to 2.6B and 8B; the `cpu` profile loads GPT-2 and Pythia; the offline `ci` profile has only
# `sinklab/tiny-sink-lm` (a 1M-parameter teaching model whose `<bos>` sink was induced on purpose by a
# synthetic task, see its model card), small models from a pre-filled cache, and the encoder
# all-MiniLM-L6-v2. The code is the same on every profile. **Claims of the papers about pretrained LLMs
# are asserted only for pretrained LLMs** (the `cpu`, `t4` and `a100` models, and never on stand-in
# weights); on the teaching models they are printed and labelled, and the notebook asserts what holds
# for them and the exact identities. Every chart that has a published counterpart shows the papers'
# numbers as separately labelled marks, so you see what a GPU run is compared with; everything else on
# the chart was measured by this notebook on this machine.
#
# <details><summary>For instructors: planning a GPU lab, and the provenance tags</summary>
#
# Preparing a GPU lab without hub access: `python -m sinklab.analysis.real_sizes --profile t4` times every
# experiment of this chapter on random-init models of the sweep's real sizes.
#
# Where the numbers come from: the course's reference notes (`sinklab.analysis.published` copies them with their
# provenance). [P] means read in the paper, [S2] in two independent readings, [S] in one;
# **UNVERIFIED** marks what the notes could not check. Barbero et al.'s full text was not available to
# the notes: all its numbers are [S2] at best.
# </details>
#
# **One unit.** Sink rates are fractions in [0, 1] everywhere in the course (chapter 2's `sink_rate`,
# `sweep`'s tables, the published rows); charts and printed sentences show them as percentages.

# %%
import pandas as pd
import torch

from sinklab import capture, env, experiments, measure, metrics, models, plots, prompts, published, sweep

profile = env.profile()
results = []  # the measured-vs-published table (section 8️⃣), filled section by section


STAND_INS = set()  # models loaded with stand-in (random) weights: "stand-in weights: claim not tested"


def pretrained_llm(name: str) -> bool:
    """A pretrained causal LM of 50M+ parameters with its real weights (the cpu, t4 and a100 models, not their
    stand-ins): the papers' claims are asserted for it."""
    spec = models.spec(name)
    return spec is not None and spec.causal and spec.params_m >= 50 and not claim_untested(name)


def claim_untested(name: str) -> bool:
    """True (and says so) when `name` runs on stand-in weights, where a pretrained-weight claim cannot be tested."""
    untested = name in STAND_INS or models.is_stand_in(name)
    if untested:
        print(f"{name}: {models.STAND_IN_NOTE}")
    return untested


model, tokenizer = models.load("causal_lm")
config = model.config.get_text_config()
n_layers, n_heads = config.num_hidden_layers, config.num_attention_heads
model_name = models.EMBEDDED_NAME if model.name_or_path == str(models.embedded_model_path()) else model.name_or_path
if getattr(model.config, "sinklab_stand_in", False):
    STAND_INS.add(model_name)
print(f"profile {profile.name!r}: {model_name} ({config.model_type}, {n_layers} layers × {n_heads} heads, "
      f"{sum(p.numel() for p in model.parameters()) / 1e6:,.1f}M parameters, {model.dtype}); "
      f"the papers' claims are {'asserted' if pretrained_llm(model_name) else 'printed, not asserted'} for it")

# %% [markdown] tags=["core"]
# ## 1️⃣ Why `output_attentions` does not scale, and the log-sum-exp trick
#
# > **Learning objectives**
# > - Compute the memory that `output_attentions=True` needs, for any model and length
# > - Derive a query's attention on the first token from its log-sum-exp, and implement it
# > - Verify that sinklab's LSE-based measurement equals eager attention on a short input
#
# Chapter 2 measured sinks from the full attention weights. transformers returns them with
# `output_attentions=True`, which works only with eager attention (fused kernels never build the
# weights) and keeps, for every layer, a `[batch, heads, T, T]` tensor. That grows as T².
#
# ### Exercise 3.1 – What does `output_attentions` cost?
#
# > Difficulty: 🔴⚪⚪⚪⚪ · Importance: 🔵🔵🔵⚪⚪ · ≈ 10 minutes
#
# Return the memory, in GiB (2³⁰ bytes), of the attention weights `output_attentions=True` returns for
# a model with `n_layers` layers of `n_heads` heads, on `batch_size` sequences of `seq_len` tokens,
# with `bytes_per_value` bytes per number (2 in bf16/fp16, 4 in fp32).

# %%
def attention_memory_gib(n_layers: int, n_heads: int, seq_len: int, batch_size: int, bytes_per_value: int) -> float:
    """GiB of the attention weights output_attentions=True keeps: one [batch, heads, T, T] tensor per layer."""
    ### BEGIN SOLUTION
    return n_layers * batch_size * n_heads * seq_len**2 * bytes_per_value / 2**30
    ### END SOLUTION


from sinklab.checks import check_attention_memory_gib

check_attention_memory_gib(attention_memory_gib)

# %% [markdown]
# <details><summary>Hint 1 (the idea)</summary>
#
# Count numbers first, bytes second. How many weights does one head keep for one sequence of T tokens, and
# how many heads, layers and sequences are there?
# </details>
#
# <details><summary>Hint 2 (the code)</summary>
#
# One head's weights for one sequence are a T × T matrix (eager keeps the masked zeros too). Multiply by
# heads, layers and batch, then by the bytes per number, and divide by 2³⁰ (not 10⁹).
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ attention_memory_gib(32, 32, 4096, 1, 2): correct.` — that is Llama-3.1-8B at 4k tokens in bf16:
# **32 GiB** of attention weights, twice a whole T4 — and a second ✅ for GPT-2 small on a batch of 8 in
# fp32 (4.5 GiB).
# </details>
#
# Now the arithmetic for models of the course and for your machine. A GPU also holds the weights and
# the activations, so the weights alone must stay well under its memory.

# %%
gpu = env.gpu_info()
bytes_per_value = torch.finfo(env.dtype()).bits // 8
lengths = (1024, 4096, 8192, 32768)
rows = []
for name in ("gpt2", "meta-llama/Llama-3.2-1B", "meta-llama/Llama-3.1-8B"):
    spec = models.spec(name)
    rows.append({"model": name, **{f"T = {t}": attention_memory_gib(spec.n_layers, spec.n_heads, t, 1, bytes_per_value)
                                   for t in lengths}})
rows.append({"model": f"{model_name} (yours)",
             **{f"T = {t}": attention_memory_gib(n_layers, n_heads, t, 1, bytes_per_value) for t in lengths}})
memory_table = pd.DataFrame(rows).set_index("model")
where = f"{gpu['name']}, {gpu['total_gib']:.0f} GiB" if gpu else "no GPU: this machine computes in fp32 on its CPU"
print(f"GiB of attention weights for one sequence, {bytes_per_value} bytes per value ({where}); a T4 has 15 GiB, an A100 40 or 80")
memory_table.round(2)

# %% [markdown]
# **The log-sum-exp trick.** Query i's attention on key j is a softmax over the keys it sees,
# `p_ij = exp(s_ij) / Σ_k exp(s_ik)` with scores `s_ij = q_i·k_j / √d`. Write the denominator as
# `exp(LSE_i)`, where `LSE_i = log Σ_k exp(s_ik)` is the row's **log-sum-exp**. Then
#
# $$p_{i0} = \exp(s_{i0} - \mathrm{LSE}_i).$$
#
# Fused attention kernels (FlashAttention, PyTorch's memory-efficient and CPU flash kernels) compute
# `LSE_i` anyway — it is how they normalise block by block without storing the matrix — and return it.
# With it, the first-token mass costs **one dot product per query**, `q_i·k_0`, and `L·H·T` numbers of
# memory instead of `L·H·T²`. That is what `sinklab.measure` does in every layer (`sinklab.measure.attention`).
#
# ### Exercise 3.2 – First-token mass from the log-sum-exp
#
# > Difficulty: 🔴🔴⚪⚪⚪ · Importance: 🔵🔵🔵🔵🔵 · ≈ 15 minutes
#
# `q` and `k` are one layer's queries and keys, `[batch, heads, T, d]`, after RoPE. Compute each query's
# causal log-sum-exp yourself (here you still build the scores; a fused kernel would hand you `LSE_i`),
# then return `p_i0 = exp(s_i0 − LSE_i)` for every query, `[batch, heads, T]`.

# %%
def first_mass_from_lse(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Causal first-token attention exp(s_i0 − LSE_i) with s = q kᵀ / √d: [B, H, T, d] x2 -> [B, H, T]."""
    ### BEGIN SOLUTION
    scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5  # [B, H, T, T]
    length = scores.shape[-1]
    causal = torch.ones(length, length, dtype=torch.bool, device=q.device).tril()
    lse = torch.logsumexp(scores.masked_fill(~causal, float("-inf")), dim=-1)  # [B, H, T]
    return torch.exp(scores[..., 0] - lse)
    ### END SOLUTION


from sinklab.checks import check_first_mass_from_lse

check_first_mass_from_lse(first_mass_from_lse)

# %% [markdown]
# <details><summary>Hint 1 (the idea)</summary>
#
# The softmax denominator of query i is a sum over the keys it may see; its log is the LSE. Build the scaled
# scores, hide the future keys, take the LSE over the keys, and subtract it from the first key's score.
# </details>
#
# <details><summary>Hint 2 (the code)</summary>
#
# Scores: `q @ k.transpose(-2, -1) / √d`. Mask the keys after each query with `−inf` **before**
# `torch.logsumexp(…, dim=-1)` (the keys' axis). The first key's score of every query is `scores[..., 0]`
# (every query sees key 0). The maximum is not the log-sum-exp: `exp(s − max)` is not normalised.
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ first_mass_from_lse: correct.` Otherwise the check names the mistake: no 1/√d, the max instead of
# the log-sum-exp, no causal mask, the log-probability instead of the probability, or the wrong axis.
# </details>
#
# Now the real model. `measure.measure` computes the first-token mass of every layer and head from the
# kernel's LSE; `measure.attention_patterns` runs eager attention and returns the full weights. On a short
# input both fit in memory, so we can compare them.

# %%
short = tokenizer("The quick brown fox jumps over the lazy dog.", return_tensors="pt")
report = measure.measure(model, short)  # LSE-based: [batch, layer, head, T] first-token mass, never T x T
eager = measure.attention_patterns(model, short)[..., 0]  # eager weights, key 0: [batch, layer, head, T]
gap = (report.first_mass - eager).abs().max().item()
tolerance = 1e-4 if model.dtype == torch.float32 else 2e-2  # bf16/fp16 kernels round differently
print(f"{model_name}: largest gap between the LSE-based and the eager first-token mass over "
      f"{n_layers * n_heads} heads × {short['input_ids'].shape[1]} queries: {gap:.1e} (kernels: {set(report.kernels)})")
assert gap < tolerance, "the log-sum-exp trick gives the eager attention's first-token mass"
plots.layer_head_heatmap(report.mean_first_mass(), title=f"{model_name}: mean attention on the first token (LSE-based)")

# %% [markdown]
# *Interpret it:* the heatmap is chapter 2's picture, computed without the T × T matrix. What does
# `measure` keep per layer, and how does that grow with T?
#
# <details><summary>Answer</summary>One number per (head, query): `[batch, heads, T]` per layer, linear in
# T. At 8k tokens on Llama-3.1-8B that is 32 × 32 × 8192 × 4 bytes = 32 MiB, against 128 GiB of bf16
# weights for `output_attentions`. The time is that of a fused forward pass (`sinklab bench` measures it on
# your machine).</details>

# %% [markdown] tags=["core"]
# ## 2️⃣ Sink rate across families and sizes
#
# > **Learning objectives**
# > - Measure Gu et al.'s sink rate at ε = 0.3 and ε = 0.8 on every model of your profile's sweep, on the same prompts
# > - Plot it against parameters and depth next to the published points, and read what the comparison can and cannot say
#
# Gu et al. (2025) define the **sink rate** as the share of (layer, head) pairs whose importance
# score α₀ — the mean attention the first token receives — exceeds ε (chapter 2). They use ε = 0.3 and
# T = 64; Barbero et al. (2025) use ε = 0.8 for Llama 3.1 8B, 70B and 405B. `sweep.run_sweep` loads
# each model of your profile's sweep in turn, measures it on the same prompts of each kind (section 3
# uses the other kinds), and releases it before loading the next.

# %%
names = sweep.sweep_names(profile)
print(f"profile {profile.name!r} sweeps {len(names)} model(s) on this machine: {', '.join(names)}")
for other in ("t4", "a100"):
    if other != profile.name:
        print(f"  the {other!r} profile sweeps: {', '.join(env.profile(other).roles['sweep'])}")
result = sweep.run_sweep(names)  # one row per (model, prompt kind, ε); sink_rate is a fraction
STAND_INS |= set(result.table.loc[result.table["stand_in"], "model"])
natural = result.table[result.table["kind"] == "natural"]
natural.pivot_table(index=["model", "family", "params_m", "n_layers", "first token"], columns="eps",
                    values="sink_rate").style.format("{:.1%}")  # fractions, shown as %

# %%
published_points = [p for p in published.sink_rate_points() if p.kind == "natural"]
plots.sink_rate_chart(natural, published_points, x="params")

# %%
plots.sink_rate_chart(natural, published_points, x="layers")

# %% [markdown]
# The legend's "source" says which marks this machine measured ("measured on this machine": T = the
# profile's `seq_len`, the course's natural paragraphs) and which are published, with their provenance tag
# (Gu et al.: ε = 0.3, T = 64, their natural text [P]; Barbero et al.: ε = 0.8, Llama 3.1, prompt set
# UNVERIFIED [S2]). On `ci` the published marks are what a GPU run would be compared with; they were not
# produced here. Read the chart with three cautions:
#
# - **The first token differs.** Llama, Gemma and Mistral tokenizers put a BOS token first; GPT-2,
#   Pythia and Qwen2.5 start with the first word (the table's "first token" column).
# - **ε changes everything.** ε = 0.8 asks that a head put 80 % of its attention on the first token, on
#   average over all queries; most sink heads do not go that far. Compare points at the same ε only.
# - **Scale is confounded.** Across families, size, depth, data and training differ at once. Barbero et
#   al.'s three Llama 3.1 points are one family at three sizes: a correlation, not an intervention.

# %%
causal = natural[~natural["family"].str.endswith("(encoder)")]
largest = causal.sort_values("params_m").iloc[-1]
main = causal[causal["model"] == largest["model"]]
for eps, key in ((0.3, published.gu_key(largest["family"], "natural")), (0.8, "barbero_llama31_8b")):
    rate = main.loc[main["eps"] == eps, "sink_rate"].item()
    results.append(published.row(key, rate, model=largest["model"], eps=eps, seq_len=int(largest["T"]),
                                 prompts=f"{int(largest['prompts'])} × natural (sinklab.prompts.NATURAL, cycled)"))
for _, row in causal[causal["eps"] == 0.3].iterrows():
    if pretrained_llm(row["model"]):
        # Gu et al. (2025) find sinks in every family they measure, Pythia-14M included [P].
        assert row["sink_rate"] > 0, f"{row['model']}: a pretrained LLM without a single sink head at ε = 0.3"
    elif not claim_untested(row["model"]):
        print(f"{row['model']} is a teaching model: {row['sink_rate']:.1%} sink heads at ε = 0.3 "
              "(the papers' claims about pretrained LLMs are not asserted for it)")
if "sinklab/tiny-sink-lm" in names:
    tiny = natural[(natural["model"] == "sinklab/tiny-sink-lm") & (natural["eps"] == 0.3)]["sink_rate"].item()
    assert tiny >= 0.10, "tiny-sink-lm's <bos> sink: its model card measures 17 % sink heads at ε = 0.3, T = 64"

# %% [markdown]
# ### The sink rate depends on T: one model, one threshold, several lengths
#
# A sink rate is a number *at a prompt length T*. The teaching model's card reports its rate at T = 64 (Gu
# et al.'s protocol; the previous teaching model's card used 186–205-token paragraphs and reported a third of
# its T = 64 rate); the same model on shorter or longer prompts gives other numbers. Nothing is wrong with
# any of them: α₀ averages a key's attention over the queries that see it, and query 0 always gives key 0
# its full weight 1. A head that attends uniformly gives key 0 the share 1/(i + 1) at query i, so its α₀ is
# H_T/T (chapter 2's uniform baseline, `metrics.uniform_first_token_importance`): 0.52 at T = 4, 0.22 at
# T = 16, 0.074 at T = 64. At small T even a uniform head counts as a "sink" at ε = 0.3; as T grows, a head
# must really concentrate on the first token to count. Gu et al. fix T = 64 for this reason.
#
# **Predict first:** on the same prompts cut to T = 4, 8, …, will the sink rate rise or fall with T? Where
# will it cross the uniform head's line?

# %%
by_length = sweep.length_sweep(model, tokenizer, [t for t in (4, 8, 16, 32, 64, 128, 256)
                                                 if t <= config.max_position_embeddings], eps=0.3)
lengths = by_length["T"].tolist()
same_t = by_length[by_length["T"] == profile.seq_len]
if len(same_t):  # the same prompts at the profile's T: the sweep's number again
    swept = natural[(natural["model"] == model_name) & (natural["eps"] == 0.3)]["sink_rate"]
    if len(swept):
        assert abs(same_t["sink_rate"].item() - swept.item()) < 1e-6, "same model, prompts, T and ε: same sink rate"
series = {"sink rate at ε = 0.3": (lengths, by_length["sink_rate"].tolist()),
          "mean α₀ of all heads": (lengths, by_length["mean α₀"].tolist()),
          "uniform head: α₀ = H_T/T": (lengths, by_length["uniform α₀ = H_T/T"].tolist()),
          "threshold ε = 0.3": (lengths, [0.3] * len(lengths))}
gu_point = published.PUBLISHED[published.gu_key(config.model_type, "natural")]
series[f"published: {gu_point.model}, T = 64 {gu_point.provenance}"] = ([64], [gu_point.value])  # Gu et al., Table 1
display(plots.step_lines(series, y_title="fraction", x_title="T (prompt length, tokens)",
                         title=f"{model_name}: sink rate and α₀ against the prompt length"))
card = models.embedded_model_path() / "sink_table.json"
if model_name == models.EMBEDDED_NAME and card.exists():
    import json

    card_rate = json.loads(card.read_text())["with_bos"]["sink_rate"]["0.3"]
    print(f"the model card's sink rate (16 paragraphs, T = 64, ε = 0.3): {card_rate:.1%}")
by_length.style.format({"sink_rate": "{:.1%}", "mean α₀": "{:.3f}", "largest α₀": "{:.3f}", "uniform α₀ = H_T/T": "{:.3f}"})

# %% [markdown]
# <details><summary>What you should see</summary>
#
# At the smallest T the uniform line lies above ε = 0.3, so any head that spreads its attention evenly is
# counted; the sink rate there says little. As T grows the uniform line falls like (ln T)/T, and the sink rate
# settles on the heads that concentrate on the first token. On `ci` the sink rate changes severalfold
# between T = 4 and T = 256, the row at the profile's T is the sweep's number above (asserted); compare the
# T = 64 row with the card's number printed under the table. The single
# published mark is Gu et al.'s T = 64 value for the closest large model: compare only at T = 64, and only the
# direction. Always report T with a sink rate.
# </details>

# %% [markdown]
# *Interpret it:* Barbero et al. report 46 % → 73 % → 78 % sink heads from Llama 3.1 8B to 405B and
# connect it to depth and context length (their over-mixing argument, chapter 5). Within your sweep, does
# the sink rate rise with size inside one family? Across families?
#
# <details><summary>Answer</summary>Gu et al. (2025, Fig. 4) see a clear rise with size only within
# Pythia; across families the differences in data and training dominate (OPT has stronger sinks than
# Pythia of the same size). Check the `t4` or `a100` sweep for Pythia 160M → 1.4B and Qwen2.5 0.5B → 1.5B
# (→ 7B). On `ci` there is one causal LM: no trend can be read, which is the honest answer.</details>

# %% [markdown] tags=["optional"]
# ## 3️⃣ Natural, random and repeated tokens
#
# > **Learning objectives**
# > - Compare the sink rate on natural text, random tokens and one token repeated (Gu et al., Table 1)
# > - Explain why a repeated token kills the sink in RoPE models but not in GPT-2, and what a BOS token changes
#
# **Predict first.** Before you run the cells: for your model, write down the sink rate you expect on
# random tokens and on one token repeated, with and without BOS, relative to natural text (higher, about
# the same, lower, zero?). Then read on.
#
# Gu et al. (2025, Table 1, ε = 0.3, T = 64) find sinks on **random tokens** almost as often as on
# natural text (LLaMA3-8B 99.02 → 91.23 %), so the sink does not need meaning. On **one token repeated**
# the RoPE models drop to 0.00 % while GPT2-XL keeps 62.28 %. Two statements explain it, and only the first
# is exact:
#
# 1. **An identity (exact).** If every position holds the same token and no position is marked, every value
#    vector is the same, so any attention pattern outputs that same vector, and all positions stay identical
#    in every layer — no token can carry anything the others lack. GPT-2 adds a learned embedding per
#    position, which breaks the symmetry. So does a BOS token in front: the sweep measures "repeated" (the
#    tokenizer's BOS kept) and "repeated, no BOS" (the token at every position, Gu et al.'s setting).
# 2. **A bound, not a zero.** Identical hidden states do not make attention uniform under RoPE: the score of
#    query t and key j still depends on the distance t − j. Gu et al. (2025, App. C, Prop. 4 [P]) bound it
#    instead. If every score of a head satisfies |s_tj| ≤ ξ, query t, which sees t + 1 keys, gives any one key
#    at most
#
#    $$p_{t0} \le \frac{e^{\xi}}{e^{\xi} + t\,e^{-\xi}} = \frac{e^{2\xi}}{e^{2\xi} + t}$$
#
#    (positions counted from 0 here; the paper counts from 1 and writes t − 1). With identical hidden states
#    ξ = max‖q‖ · max‖k‖ / √d is one number per head for every position (RoPE rotates, it does not stretch), so
#    the bound falls like 1/t: on a long enough repeated input no head can keep α₀ above ε. The 0.00 % at
#    T = 64 is a measurement; the bound says when it *must* happen, and for a large ξ that can be much later.
# %%
at_03 = result.table[result.table["eps"] == 0.3]
first_tokens = at_03.pivot_table(index="model", columns="kind", values="first token", aggfunc="first", sort=False)
print("first token of each kind of input:\n" + first_tokens.to_string())
at_03.pivot_table(index="model", columns="kind", values="sink_rate", sort=False).style.format("{:.1%}")

# %%
gu_family = published.gu_key(largest["family"], "natural").rsplit("_", 1)[0]  # the closest model of Gu's Table 1
gu_rows = [{"model": f"published: {point.model} ({point.source} {point.provenance})", "kind": kind,
            "sink_rate": point.value, "first token": "(their tokenizer's)"}
           for kind, key in (("natural", "natural"), ("random", "random"), ("repeated, no BOS", "repeated"))
           for point in [published.PUBLISHED[f"{gu_family}_{key}"]]]
plots.kind_bars(pd.concat([at_03, pd.DataFrame(gu_rows)], ignore_index=True),
                title="Sink rate at ε = 0.3 by kind of input (measured here, except the panel marked 'published')")

# %% [markdown]
# The symmetry argument is exact, so we can check it on your causal LM: with one token at every position
# (no BOS), every position's hidden state is the same in every layer — unless the model adds learned
# absolute positions (GPT-2).

# %%
repeated = prompts.prompt_batch(tokenizer, "repeated", n=2, seq_len=profile.seq_len, bos=False)
with torch.no_grad():
    hidden = model(**measure.model_inputs(model, repeated), output_hidden_states=True).hidden_states
spread = max(((h[:, 1:] - h[:, :1]).norm(dim=-1) / h[:, :1].norm(dim=-1)).max().item() for h in hidden[:-1])
absolute_positions = getattr(config, "rope_parameters", None) is None  # GPT-2: learned positions
print(f"{model_name}: largest relative difference between positions, one token repeated: {spread:.1e} "
      f"({'learned absolute positions' if absolute_positions else 'no absolute position embedding'})")
if not absolute_positions:
    assert spread < (1e-4 if model.dtype == torch.float32 else 5e-2), "identical tokens, identical hidden states"

# %% [markdown]
# Now Gu et al.'s bound, checked numerically on the same repeated input. `capture.attention_inputs` hands back
# every layer's post-RoPE queries and keys (the model's own eager attention runs unchanged); from them ξ per
# head, the bound for every query position, and, averaged over the queries, a bound on α₀ itself. The measured
# first-token mass comes from `measure` (the LSE trick), independently.

# %%
if absolute_positions:
    print(f"{model_name} has learned absolute positions: the hidden states differ by position, Prop. 4 does not apply")
else:
    layers_qkv = capture.attention_inputs(model, repeated)
    mass = measure.measure(model, repeated).first_mass.float().cpu()  # [B, L, H, T]
    t = torch.arange(mass.shape[-1], dtype=torch.float64)
    bound_rows = []
    for layer, x in enumerate(layers_qkv):
        group = x.query.shape[1] // x.key.shape[1]
        xi = (x.query.norm(dim=-1).amax(-1) * x.key.norm(dim=-1).amax(-1).repeat_interleave(group, 1)) * x.scaling
        xi = xi.double()[..., None]  # [B, H, 1]: one ξ per row and head
        bound = 1 / (1 + t * torch.exp(-2 * xi))  # [B, H, T]: e^(2ξ)/(e^(2ξ) + t), written so it cannot overflow
        excess = (mass[:, layer].double() - bound).max().item()
        assert excess <= (1e-5 if model.dtype == torch.float32 else 2e-2), \
            f"layer {layer}: a first-token mass above Gu et al.'s bound (by {excess:.1e})"
        bound_rows.append({"layer": layer, "largest ξ": xi.max().item(),
                           "bound on α₀ (mean over queries)": bound.mean(-1).max().item(),
                           "measured α₀ (largest head)": mass[:, layer].mean(-1).max().item(),
                           "uniform α₀ = H_T/T": metrics.uniform_first_token_importance(mass.shape[-1]).item(),
                           "t where the bound falls below ε = 0.3": torch.exp(2 * xi.max()).item() * (1 / 0.3 - 1)})
    bound_table = pd.DataFrame(bound_rows).set_index("layer")
    print(f"{model_name}, one token repeated at {mass.shape[-1]} positions, no BOS: every measured p_t0 is below "
          "e^(2ξ)/(e^(2ξ) + t) (asserted)")
    display(bound_table.style.format("{:.3g}"))

# %% [markdown]
# <details><summary>What you should see</summary>
#
# Every layer passes the assert: the bound is a theorem, it holds for any weights. Then read ξ. For the trained
# `ci` model ξ is large (on the order of 5–20), so the bound on α₀ stays near 1 at this T and only falls below
# ε after an astronomically long input: the bound is true but *vacuous* here, and the measured α₀ on the
# repeated input is far below it, close to the uniform head's H_T/T. The near-zero sink rate on a repeated token is therefore something the model
# does, not something the theorem forces at T = 64. For a head with small scores (ξ ≲ 1, e.g. at random
# initialisation) the bound is within a small factor of uniform attention, 1/(t + 1).
# </details>

# %%
rates = at_03.set_index(["model", "kind"])["sink_rate"]
for name in at_03["model"].unique():
    family = at_03.loc[at_03["model"] == name, "family"].iloc[0]
    if pretrained_llm(name) and family in ("llama", "mistral"):
        assert rates[(name, "repeated, no BOS")] < 0.01, f"{name}: Gu et al. measure 0.00 % for Llama and Mistral"
    if pretrained_llm(name) and family == "gpt2":
        assert rates[(name, "repeated, no BOS")] > 0, f"{name}: Gu et al. measure 62.28 % for GPT2-XL"
if "sinklab/tiny-sink-lm" in names:
    assert rates[("sinklab/tiny-sink-lm", "repeated, no BOS")] < rates[("sinklab/tiny-sink-lm", "repeated")], \
        "tiny-sink-lm's sink lives on <bos>: without it, a repeated token leaves no sink"
for kind in ("random", "repeated, no BOS"):
    key = published.gu_key(largest["family"], kind)
    results.append(published.row(key, rates[(largest["model"], kind)], model=largest["model"], eps=0.3,
                                 seq_len=int(largest["T"]), prompts=f"{int(largest['prompts'])} × {kind} tokens"))

# %% [markdown]
# *Interpret it:* why is "repeated" with BOS different from "repeated, no BOS" for a Llama-family model?
#
# <details><summary>Answer</summary>With BOS, position 0 holds a different token: the symmetry is broken,
# and position 0 can become a sink again. In Gu et al.'s repeated-token setting every position, the first
# included, holds the same token. Always say whether your input had a BOS.</details>

# %% [markdown] tags=["core"]
# ## 4️⃣ First-token mass across a long context
#
# > **Learning objectives**
# > - Measure the first-token mass of every query up to the longest context your profile and model allow
# > - Find the layers where the sink lives and how it changes with the distance from the first token
#
# StreamingLLM (Xiao et al., 2024, App. F) reports that the 4,096th token of Llama-2-7B puts "very high"
# attention on the first token — often above 0.5 — in every layer except the first two. Here is the same
# measurement on your causal LM, for every query position up to the profile's `long_context` (capped at
# the model's trained length). With the LSE trick the cost is a plain forward pass.

# %%
length = min(profile.long_context, config.max_position_embeddings)
long_batch = prompts.long_prompt(tokenizer, length)
long_report = measure.measure(model, long_batch)
by_position = long_report.first_mass_by_position().mean(1)  # [layer, T]: heads averaged
print(f"{model_name}, one text of {length} tokens (first token {tokenizer.convert_ids_to_tokens(long_batch['input_ids'][0, :1])[0]!r}); "
      f"kept: {long_report.first_mass.numel():,} numbers, against {n_layers * n_heads * length**2:,} for output_attentions")
xiao = published.PUBLISHED["xiao_last_query_mass"]
plots.first_mass_by_position(by_position, title=f"{model_name}: attention on the first token by query position",
                             reference={f"published: {xiao.model}, 4096th token, 'often > 0.5' {xiao.provenance}": (4095, xiao.value)})

# %%
last_query = by_position[:, -1]
deep, deep_layers = (last_query[2:], "layers ≥ 2") if n_layers > 2 else (last_query, f"all {n_layers} layers")
pd.DataFrame({"layer": range(n_layers), "last query's first-token mass": last_query.tolist(),
              "mean over all queries": by_position[:, 1:].mean(-1).tolist()}).round(3).set_index("layer").T

# %%
results.append(published.row("xiao_last_query_mass", deep.mean().item(), model=model_name, eps=None, seq_len=length,
                             prompts=f"1 text (prompts.long_prompt), {deep_layers}"))
sink_layer = int(by_position[:, 1:].mean(-1).argmax())
print(f"{model_name}: the last query (position {length - 1}) puts {deep.mean():.2f} of its attention on the first "
      f"token, averaged over heads and {deep_layers} (uniform attention: {1 / length:.4f}); the strongest sink "
      f"layer is {sink_layer}")
if pretrained_llm(model_name) and profile.name in ("t4", "a100"):
    assert deep.mean() > 0.3, "Xiao et al.: a Llama model's late queries put most of their attention on the first token"
if model_name == "sinklab/tiny-sink-lm":  # measured on ci: mean mass per layer 0.05/0.07/0.10/0.13/0.09/0.02
    assert sink_layer == 3, "on this 256-token text, tiny-sink-lm's strongest sink layer is layer 3"
    # (its sink fades with distance: at the last query, layer 2 puts 0.002 on <bos>, less than layer 0's 0.011)

# %% [markdown]
# *Interpret it:* for a query far from the start, the first token is one key among thousands. Uniform
# attention would give it 1/T. How many times more does your sink layer give it at the last position?
# What does that say about the first token's role as the context grows?
#
# <details><summary>Answer</summary>Divide the last query's mass by 1/T: in a sink layer the ratio is in the
# hundreds or thousands at long context. The first token is not competing on content; it is where a head
# parks what it does not need to spend — which is why evicting it breaks window attention (section 6).</details>

# %% [markdown] tags=["optional"]
# ## 5️⃣ The approximate no-op: small values, huge hidden states
#
# > **Learning objectives**
# > - Capture every layer's keys and values and compare the first token's norms with the other tokens'
# > - Find where the first key's large score comes from: its length or its angle with the queries
# > - Write the forward hook that sets the first token's largest activations to zero or to their mean, and
# >   measure the perplexity with BOS (a trivial case) and without (Sun et al.'s case)
#
# Three published observations fit together. Gu et al. (2025, §3.1) find the first token's **key and
# value norms smaller** than the other tokens', while its **hidden state is much larger** (LLaMA2-7B:
# ≈1000 vs ≈200, read off a figure). A small value makes attention on the sink an approximate no-op
# (chapter 5). Sun et al. (2024) find the large hidden state concentrated in a few **massive
# activations** — LLaMA2-7B: ≈2,000 against a median of ≈0.2 — and show they act as fixed biases: set to
# zero, the model breaks (perplexity 5.47 → ∞); set to their mean over inputs, nothing changes.
# One `measure` call with `stats=("first", "hidden")` gives the norms; first you compute them yourself.
#
# ### Exercise 3.4 – The first token's key and value norms
#
# > Difficulty: 🔴⚪⚪⚪⚪ · Importance: 🔵🔵🔵⚪⚪ · ≈ 8 minutes
#
# `x` is one layer's keys (or values) as the attention function receives them, `[B, H, T, d]`. Return two
# `[B, H]` tensors: the L2 norm of the first token's vector, and the mean L2 norm of the other tokens'.

# %%
def first_and_rest_norms(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(‖x_0‖, mean over t ≥ 1 of ‖x_t‖) per row and head: [B, H, T, d] -> ([B, H], [B, H])."""
    ### BEGIN SOLUTION
    norms = x.norm(dim=-1)  # [B, H, T]
    return norms[..., 0], norms[..., 1:].mean(-1)
    ### END SOLUTION


from sinklab.checks import check_first_and_rest_norms

check_first_and_rest_norms(first_and_rest_norms)

# %% [markdown]
# <details><summary>Hint 1 (the idea)</summary>
#
# One norm per vector: reduce the feature axis only. "The other tokens" are positions 1 … T−1, and you
# average their norms, not their vectors.
# </details>
#
# <details><summary>Hint 2 (the code)</summary>
#
# `x.norm(dim=-1)` gives `[B, H, T]`; index position 0 for the first, slice `1:` and `.mean(-1)` for the rest.
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ first_and_rest_norms (first): correct.` and the same for `(rest)`. Otherwise the check names the mistake:
# position 0 inside the mean, the norm of the mean vector, a squared norm, or the feature axis kept.
# </details>
#
# Now capture the real model's keys and values (`capture.attention_inputs`, the post-RoPE tensors of every
# layer; RoPE rotates, so the norms are those of the projections) and apply your function. `measure` computes
# the same statistics inside its attention function; the two must agree.

# %%
no_op_batch = prompts.prompt_batch(tokenizer, "natural", n=len(prompts.NATURAL), seq_len=profile.seq_len)
norms = measure.measure(model, no_op_batch, stats=("first", "hidden"))
captured = capture.attention_inputs(model, no_op_batch)
key_ratio = torch.stack([torch.div(*first_and_rest_norms(x.key)).mean() for x in captured])  # [layer]
value_ratio = torch.stack([torch.div(*first_and_rest_norms(x.value)).mean() for x in captured])
sinklab_ratio = (norms.key_norm_first / norms.key_norm_rest).float().cpu().mean((0, 2))
assert torch.allclose(key_ratio, sinklab_ratio, rtol=1e-3 if model.dtype == torch.float32 else 5e-2), \
    "your norms from the captured keys agree with measure's"
hidden_ratio = (norms.hidden_norm_first / norms.hidden_norm_rest).mean(0)  # [block + 1]: embeddings, then each block
plots.lines({"value norm, first / rest": value_ratio.tolist(), "key norm, first / rest": key_ratio.tolist()},
            x_title="layer", y_title="ratio", title=f"{model_name}: the first token's keys and values")

# %%
plots.lines({"first token": norms.hidden_norm_first.mean(0).tolist(), "other tokens (mean)": norms.hidden_norm_rest.mean(0).tolist(),
             "largest |activation|": norms.hidden_max_abs.mean(0).tolist()},
            x_title="residual stream after block (0 = embeddings)", y_title="norm (symlog)",
            title=f"{model_name}: hidden-state norms", log_y=True)

# %% [markdown]
# **Predict first:** if the first key is no longer than the others (a ratio near or below 1 in the sink
# layers), where can its large attention score `q·k₀/√d` come from? Gu et al.'s answer (§3.1) is the
# **angle**: queries point towards the first key. Measure the mean `cos(q_i, k₀)` against the mean cosine
# with the other keys, per layer (chapter 4, Exercise 4.2, writes this function).

# %%
from sinklab import circuit

cosines = circuit.query_key_cosines(model, no_op_batch)
cos_first, cos_other = cosines.first.mean((0, 2)), cosines.other.mean((0, 2))  # [layer]
layer_alpha = norms.importance.float().cpu().mean((0, 2))  # [layer]: mean α₀
display(plots.lines({"cos(q, k₀)": cos_first.tolist(), "cos(q, k_other)": cos_other.tolist(),
                     "key norm, first / rest": key_ratio.tolist(), "mean α₀": layer_alpha.tolist()},
                    x_title="layer", y_title="value", title=f"{model_name}: angle and length of the first key"))
strongest_layer = int(layer_alpha.argmax())
print(f"{model_name}, strongest sink layer {strongest_layer}: cos(q, k₀) = {cos_first[strongest_layer]:.2f} vs "
      f"{cos_other[strongest_layer]:.2f} for the other keys; ‖k₀‖ / ‖k_other‖ = {key_ratio[strongest_layer]:.2f}")
if not claim_untested(model_name):
    assert cos_first[strongest_layer] > cos_other[strongest_layer], \
        "in the strongest sink layer, queries align with the first key more than with the others (Gu et al. §3.1)"

# %% [markdown]
# <details><summary>What you should see</summary>
#
# In the strongest sink layer the queries' cosine with the first key is well above their cosine with the
# other keys (asserted), while the first key's length is close to the others'. In Gu et al.'s LLMs the first
# key is even *shorter*: the score comes from the angle. In the 1M-parameter `ci` model the first key is
# somewhat longer in its sink layer too (ratio printed above), so both help; the cosine gap is the larger
# effect. Chapter 4 §2 follows the same columns layer by layer.
# </details>
#
# Now the intervention. `ablate.appearance_layer` picks the block where the largest activations appear;
# `ablate.largest_activations` finds the first token's two largest features there. Setting them is a
# forward hook on that block: you write it.
#
# ### Exercise 3.5 – The ablation hook
#
# > Difficulty: 🔴🔴⚪⚪⚪ · Importance: 🔵🔵🔵🔵⚪ · ≈ 12 minutes
#
# Return a forward hook for a transformer block. PyTorch calls it as `hook(module, args, output)` after the
# block ran. `output` is the block's output: the hidden states `[B, T, D]`, or, in many models, a tuple whose
# first element they are (the rest: caches, weights). The hook must return the output with
# `hidden[:, position, dims] = values` (`values` has one number per feature in `dims`), in the same form.

# %%
def make_ablation_hook(position: int, dims: list[int], values: torch.Tensor):
    """A forward hook that sets features `dims` of token `position` in a block's output to `values`."""
    ### BEGIN SOLUTION
    def hook(module, args, output):
        hidden = (output[0] if isinstance(output, tuple) else output).clone()
        hidden[:, position, dims] = values.to(hidden.dtype)
        return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

    return hook
    ### END SOLUTION


from sinklab.checks import check_make_ablation_hook

check_make_ablation_hook(make_ablation_hook)

# %% [markdown]
# <details><summary>Hint 1 (the idea)</summary>
#
# A forward hook that returns something replaces the block's output; one that returns `None` keeps it. So
# either change the tensor in place or return a changed copy, and hand back the same kind of object the
# block produced.
# </details>
#
# <details><summary>Hint 2 (the code)</summary>
#
# Pick the hidden states with `output[0] if isinstance(output, tuple) else output`, clone them, index
# `[:, position, dims]` (positions are axis 1), and return `(hidden, *output[1:])` for a tuple.
# </details>
#
# <details><summary>What you should see</summary>
#
# Two ✅ (a tensor and a tuple as the block's output). Otherwise the check names the mistake: a patched copy
# not returned, every position changed, the batch axis, zeros instead of `values`, or a tuple not handled.
# </details>
#
# Your hook in use: the perplexity with the largest features left alone, set to their mean over the prompts,
# set to zero, and — as a control — two random features of the same token set to zero. `ablate.massive_ablation`
# runs the same four settings with sinklab's hook; both must agree.

# %%
from sinklab import ablate, evaluate


def perplexity_with(batch, hook, layer) -> float:
    """The perplexity on `batch` with `hook` on block `layer` (removed afterwards, whatever happens)."""
    handle = measure.transformer_blocks(model)[layer].register_forward_hook(hook)
    try:
        return evaluate.perplexity(model, batch)
    finally:
        handle.remove()


ablation_layer = ablate.appearance_layer(norms)
found, perplexity = ablate.massive_ablation(model, no_op_batch, ablation_layer, k=2)
yours = {"mean-ablated": perplexity_with(no_op_batch, make_ablation_hook(0, found.dims, found.mean), ablation_layer),
         "zero-ablated": perplexity_with(no_op_batch, make_ablation_hook(0, found.dims, torch.zeros(2)), ablation_layer)}
for setting, value in yours.items():
    assert abs(value - perplexity[setting]) <= 1e-4 * perplexity[setting], f"{setting}: your hook gives sinklab's perplexity"
print(f"{model_name}, block {ablation_layer}: features {found.dims} of the first token, mean values "
      f"{[round(v, 1) for v in found.mean.tolist()]}, {found.ratio:,.0f}× the median |activation| "
      f"(massive by Sun et al.'s criterion: {found.is_massive()})")
plots.bars(perplexity, x_title="perplexity", title=f"{model_name}, with BOS: zeroing vs averaging the largest activations")

# %%
starts_with_bos = tokenizer.bos_token_id is not None and bool((no_op_batch["input_ids"][:, 0] == tokenizer.bos_token_id).all())  # Qwen has no BOS
if starts_with_bos:
    # Position 0 sees only itself, so with <bos> first its activations are the same vector on every input, and
    # the mean over n prompts is that vector up to the rounding of a float sum of n equal numbers: exact when n
    # is a power of two (16 prompts), within a few units in the last place otherwise. Hence a tolerance of 1e-5
    # relative (fp32; bf16/fp16 kernels may also round rows of a batch differently: 1e-3).
    tolerance = 1e-5 if model.dtype == torch.float32 else 1e-3
    assert abs(perplexity["mean-ablated"] - perplexity["original"]) <= tolerance * perplexity["original"], \
        "with <bos> first, mean-ablation writes back the value that is already there"
if not claim_untested(model_name):
    assert perplexity["zero-ablated"] > perplexity[next(k for k in perplexity if k.startswith("control"))], \
        "zeroing the largest features of the first token hurts more than zeroing random ones"
if pretrained_llm(model_name) and profile.name in ("t4", "a100"):
    assert found.is_massive(), "Sun et al.: pretrained LLMs carry massive activations on the first token"
    assert perplexity["zero-ablated"] > 2 * perplexity["mean-ablated"], "Sun et al.: zeroing them breaks the model"
elif not claim_untested(model_name):
    print(f"GPU-profile claims (Sun et al.), printed here: massive activation present: {found.is_massive()}; "
          f"zero-ablation raises the perplexity {perplexity['zero-ablated'] / perplexity['original']:.2f}×, "
          f"mean-ablation {perplexity['mean-ablated'] / perplexity['original']:.2f}×")

# %% [markdown]
# *Interpret it:* mean-ablation is an exact no-op when every input starts with the same BOS token. Why?
# And what makes Sun et al.'s result non-trivial?
#
# <details><summary>Answer</summary>Under the causal mask position 0 attends only to itself, so its hidden
# state is a function of the token at position 0 alone: with a BOS it is the same vector on every input, and
# its mean is itself. Sun et al. ran LLaMA2-7B without BOS, so the first token varied, and its massive
# activations were still nearly constant — a fixed bias the model computes from any first token. The next
# cell runs that case.</details>
#
# **Sun et al.'s case: no BOS.** The same paragraphs without the BOS token, so the first token is an ordinary
# word (or byte) that differs between prompts. Mean-ablation now writes a value that is *not* already there.

# %%
no_bos_batch = prompts.prompt_batch(tokenizer, "natural", n=len(prompts.NATURAL), seq_len=profile.seq_len, bos=False)
first_tokens_differ = no_bos_batch["input_ids"][:, 0].unique().numel() > 1
no_bos_norms = measure.measure(model, no_bos_batch, stats=("first", "hidden"))
no_bos_layer = ablate.appearance_layer(no_bos_norms)
found_no_bos, perplexity_no_bos = ablate.massive_ablation(model, no_bos_batch, no_bos_layer, k=2)
spread = (found_no_bos.values.std(0) / found_no_bos.values.abs().mean(0).clamp_min(1e-12)).max().item()
print(f"{model_name}, no BOS ({no_bos_batch['input_ids'][:, 0].unique().numel()} different first tokens), block "
      f"{no_bos_layer}: features {found_no_bos.dims}, {found_no_bos.ratio:,.0f}× the median |activation|, relative "
      f"spread across prompts {spread:.2f}; perplexity × {perplexity_no_bos['mean-ablated'] / perplexity_no_bos['original']:.3f} "
      f"(mean-ablated), × {perplexity_no_bos['zero-ablated'] / perplexity_no_bos['original']:.3f} (zero-ablated)")
if not first_tokens_differ:  # e.g. a SentencePiece tokenizer whose first token is "▁" for every text
    first = tokenizer.convert_ids_to_tokens(no_bos_batch["input_ids"][:1, 0])[0]
    print(f"without BOS every prompt still starts with the same token ({first!r}) on this tokenizer: mean-ablation "
          "is trivial here too, so Sun et al.'s non-trivial case is not tested on this model")
elif pretrained_llm(model_name) and profile.name in ("t4", "a100"):
    assert perplexity_no_bos["mean-ablated"] < 1.1 * perplexity_no_bos["original"], \
        "Sun et al. (no BOS): their mean changes the perplexity little — a fixed bias computed from any first token"
    assert perplexity_no_bos["zero-ablated"] > 2 * perplexity_no_bos["mean-ablated"], "Sun et al.: zero breaks it"
elif not claim_untested(model_name):
    print("Sun et al.'s no-BOS claim is about pretrained LLMs: printed here, asserted on the t4 and a100 profiles")
setting = dict(model=model_name, eps=None, seq_len=profile.seq_len, prompts=f"{len(prompts.NATURAL)} × natural")
no_bos_setting = {**setting, "prompts": f"{len(prompts.NATURAL)} × natural, no BOS (Sun et al.'s setting)"}
results += [
    published.row("gu_value_norm_ratio", value_ratio[1:].mean().item(), **setting),
    published.row("gu_hidden_norm_ratio", hidden_ratio.max().item(), **setting),
    published.row("sun_massive_ratio", found_no_bos.ratio, **no_bos_setting),
    published.row("sun_mean_ablation", perplexity_no_bos["mean-ablated"] / perplexity_no_bos["original"], **no_bos_setting),
    published.row("sun_zero_ablation", perplexity_no_bos["zero-ablated"] / perplexity_no_bos["original"], **no_bos_setting),
]
plots.bars(perplexity_no_bos, x_title="perplexity", title=f"{model_name}, no BOS: zeroing vs averaging")

# %% [markdown]
# <details><summary>What you should see</summary>
#
# Several different first tokens (a tokenizer that starts every text with the same piece, such as
# SentencePiece's "▁", makes this case trivial again, and the cell says so). On `ci` the teaching model was always trained with `<bos>` first, has no
# sink without it (chapter 4) and no massive activation, so its largest features vary across prompts and the
# ratios are near 1 either way: nothing to reproduce, and the notebook says so. On the `t4`/`a100` profiles
# the pretrained models carry a massive, nearly constant activation on the first token even without BOS:
# mean-ablation stays within 10 % of the original perplexity while zero-ablation at least doubles it (both
# asserted). That is Sun et al.'s fixed bias.
# </details>

# %% [markdown] tags=["core"]
# ## 6️⃣ StreamingLLM: window attention needs the first tokens
#
# > **Learning objectives**
# > - Build the attention mask of window attention with `n` initial tokens kept
# > - Measure the perplexity of window attention alone and with 1 or 4 initial tokens, on a RoPE model
# > - Explain, with sections 2–4, why evicting the first token breaks the model
#
# **Predict first.** A window of 1/16 of the text keeps every query's 16 nearest tokens, but not the first
# one. Will its perplexity be close to full attention's, a little worse, or much worse? And how much will
# keeping one more token — the first — change it?
#
# A model that streams a long text keeps a cache of keys and values. **Window attention** keeps the last
# `w` tokens. Xiao et al. (2024) show that it collapses as soon as the first tokens leave the window
# (Llama-2-13B: perplexity 5158.07 with a 1,024-token window) and that keeping **4 initial tokens** fixes it
# (5.40) — even when they are four newlines: it is their position, not their meaning. That is StreamingLLM.
#
# ### Exercise 3.3 – The window-plus-sinks mask
#
# > Difficulty: 🔴🔴⚪⚪⚪ · Importance: 🔵🔵🔵⚪⚪ · ≈ 10 minutes
#
# Return the boolean `[T, T]` mask (rows are queries, columns keys): query `i` sees key `j` when `j ≤ i`
# and either `j` is among the last `window` positions up to `i` (itself included) or `j < n_sink`.

# %%
def streaming_mask(length: int, window: int, n_sink: int) -> torch.Tensor:
    """[T, T] bool: causal, and within the last `window` positions or among the first `n_sink`."""
    ### BEGIN SOLUTION
    q = torch.arange(length)[:, None]
    k = torch.arange(length)[None, :]
    return (k <= q) & ((q - k < window) | (k < n_sink))
    ### END SOLUTION


from sinklab.checks import check_streaming_mask

check_streaming_mask(streaming_mask)
print(streaming_mask(8, 3, 2).int())

# %% [markdown]
# <details><summary>Hint 1 (the idea)</summary>
#
# A key is visible when it is not in the future *and* it is either recent or one of the first `n_sink`. Write
# each condition as a comparison of positions.
# </details>
#
# <details><summary>Hint 2 (the code)</summary>
#
# Build a column of query positions and a row of key positions with `torch.arange`, and combine three
# comparisons: `k <= q` (causal), `q - k < window`, `k < n_sink`. The causal condition applies to the
# sinks too.
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅` for three settings, and a staircase band of width 3 plus two bright columns on the left.
# </details>
#
# `sinklab.analysis.streaming` applies exactly this mask inside the model: it registers it in transformers'
# `AttentionMaskInterface` (added to the model's own mask), so one forward pass gives every position's
# prediction with the keys and values a streaming cache would hold. One difference from Xiao et al.: their
# cache **re-assigns positions** (entries get positions 0 … cache size − 1, so a stream can outrun the
# trained length); here every token keeps its absolute position. With RoPE the distances inside the
# window are the same; the sinks sit at their true distance. We stay within the trained length.

# %%
from sinklab import streaming

uses_rope = getattr(config, "rope_parameters", None) is not None
windows = (length // 16, length // 8, length // 4)
window_table = streaming.compare(model, long_batch, windows=windows, sinks=(0, 1, 4))
if not uses_rope:
    print(f"{model_name} has learned absolute positions, not RoPE: Xiao et al.'s setting is a RoPE model")
plots.streaming_chart(window_table, title=f"{model_name}, {length} tokens: window attention with and without initial tokens",
                      published="published (Xiao et al. 2024, Table 2 [P], Pythia-12B, PG19, cache 2048): 21.62 window only, "
                                "11.95 with 1 initial token, 12.09 with 4; Llama-2-7B 3359.95 → 11.88 → 9.59")

# %%
ppl = window_table.set_index(["window", "initial tokens kept"])["perplexity"]
w = windows[0]
window_only, one_sink, four_sinks = ppl[(w, "0")], ppl[(w, "1")], ppl[(w, "4")]
print(f"{model_name}, window {w} of {length} tokens: perplexity {window_only:.2f} (window only), {one_sink:.2f} "
      f"(+1 initial token), {four_sinks:.2f} (+4); full attention {ppl[(length, 'full attention')]:.2f}")
if models.is_stand_in(model):
    print(models.STAND_IN_NOTE)
else:
    assert one_sink < window_only, "keeping the first token improves window attention (Xiao et al.)"
assert streaming.streaming_mask(length, w, 4).equal(streaming_mask(length, w, 4)), "your mask is the one sinklab.analysis.streaming applies"
setting = dict(model=model_name, eps=None, seq_len=length, prompts=f"1 text of {length} tokens, window {w}")
results += [
    published.row("xiao_window_only", window_only / four_sinks, **setting),
    published.row("xiao_one_sink", one_sink / window_only, **setting),
    published.row("xiao_four_sinks", four_sinks / window_only, **setting),
]

# %% [markdown]
# *Interpret it:* with window attention alone, what happens to the heads that parked their attention on
# the first token once it is gone? Why does one kept token already help so much?
#
# <details><summary>Answer</summary>Their softmax still sums to one, so the mass they parked on the first
# token spreads over the tokens in the window — a large, unintended change of every layer's output.
# Kept, the first token takes that mass again, and its small value keeps the head a near no-op (section 5).
# Xiao et al. need 4 initial tokens for Llama-2-7B (3359.95 → 11.88 with one, 9.59 with four) but one is
# enough for Pythia-12B (21.62 → 11.95).</details>

# %% [markdown] tags=["bonus"]
# ## 7️⃣ When do sinks appear? Pythia's training checkpoints
#
# > **Learning objectives**
# > - Load public training checkpoints with `revision=` and measure the sink rate at each
# > - Locate the step where the sink appears and compare with Queipo-de-Llano et al. (2025)
#
# EleutherAI published 154 checkpoints of every Pythia model (steps 0, 1, 2, 4, …, 512, then every
# 1,000 up to 143,000; 2,097,152 tokens per step). Queipo-de-Llano et al. (2025, one reading, [S]) see
# the BOS massive norm, an entropy drop and a surge of the sink rate appear together around step 1,000 in
# Pythia-410M. Loading a checkpoint is `models.load_model(name, revision="step1000")`; the sweep below
# does it for the profile's steps, in fp32 (early checkpoints are reported to underflow in fp16).

# %%
plan = sweep.checkpoint_plan(profile)
if isinstance(plan, str):
    print(f"Skipped on this machine: {plan}.")
    for profile_name, (checkpoint_model, steps) in sweep.CHECKPOINTS.items():
        print(f"  profile {profile_name!r}: {checkpoint_model} at steps {', '.join(map(str, steps))}")
else:
    checkpoint_model, steps = plan
    checkpoints = sweep.checkpoint_sweep(checkpoint_model, steps)
    by_step = checkpoints[checkpoints["eps"] == 0.3].set_index("step")["sink_rate"]
    # the first step from which the sink rate *stays* at or above half its final value (chapter 6, Exercise 6.6)
    onset = experiments.onset_step(by_step.index.tolist(), by_step.tolist(), by_step.iloc[-1] / 2)
    print(f"{checkpoint_model}: sink rate at ε = 0.3 stays at or above half its final value ({by_step.iloc[-1]:.1%}) "
          f"from step {onset}")
    if onset is not None:
        results.append(published.row("queipo_emergence_step", onset, model=checkpoint_model, eps=0.3,
                                     seq_len=profile.seq_len, prompts=f"{profile.n_samples} × natural"))
    queipo = published.PUBLISHED["queipo_emergence_step"]
    display(plots.checkpoint_chart(checkpoints, title=f"{checkpoint_model}: sink rate during pre-training",
                                   reference=(f"published: {queipo.model}, ≈ step 1k {queipo.provenance}", queipo.value)))

# %% [markdown]
# *Interpret it:* Gu et al. (2025) train 60M models from scratch and see sinks appear between 1k and 2k
# steps of 1M tokens, i.e. after 1–2B tokens. How many tokens has Pythia seen at step 1,000?
#
# <details><summary>Answer</summary>1,000 × 2,097,152 ≈ 2.1B tokens: the same order, in a different model
# family and data pipeline — consistent with "sinks emerge after effective optimisation on enough
# data".</details>

# %% [markdown] tags=["optional"]
# ## Interactive demo – the threshold ε
#
# The sink rate is a count above a threshold, so it depends on ε as much as on the model. Move ε and watch
# each model's sink rate on natural text; the grey rules mark Gu et al.'s 0.3 and Barbero et al.'s 0.8.
#
# 1. At which ε do your models' curves cross? What would a table at ε = 0.8 say that one at ε = 0.3 does not?
# 2. Barbero et al. report 45.97 % for Llama 3.1 8B at ε = 0.8. Gu et al. report 99.02 % for LLaMA3-8B at
#    ε = 0.3. Do these two numbers contradict each other?
#
# <details><summary>Answer to 2</summary>No. A head with α₀ = 0.5 counts at 0.3 and not at 0.8; the
# curves fall steeply between the two thresholds. Compare sink rates only at the same ε (and T).</details>
#
# In a live notebook you get a slider; in CI and stored notebooks a static chart.

# %%
from sinklab import widgets

widgets.sink_rate_explorer({name.split("/")[-1]: result.importance[(name, "natural")] for name in natural["model"].unique()})

# %% [markdown] tags=["core"]
# ## 8️⃣ Measured next to published
#
# Every number this notebook measured, next to the published one. Read the setting columns before the
# numbers: ε, T, the prompts and above all the model differ, so a row is a comparison of **direction and
# order of magnitude**, not a reproduction. Ratios stand in for perplexities (models differ too much for
# absolute values to compare). "direction only" marks claims published without a number.

# %%
table = published.table(results)
assert all(table[column].astype(str).str.len().gt(0).all() for column in ("ε", "T", "prompts")), \
    "every measured number states its ε, T and prompts"
print(f"{len(table)} measured numbers on the {profile.name!r} profile")
table

# %% [markdown] tags=["core"]
# ## Summary
#
# - `output_attentions` keeps L·H·T² numbers; the log-sum-exp trick gives the first-token mass from
#   `exp(s_i0 − LSE_i)` with L·H·T, at the cost of a fused forward pass.
# - The sink rate depends on ε, T, the prompts and whether the input starts with a BOS token. State all
#   four with every number.
# - Sinks appear on random tokens too; a repeated token removes them in RoPE models, exactly, because
#   every position becomes the same — unless a BOS or absolute positions break the symmetry.
# - The first token's keys and values are small and its hidden state large; the largest activations act
#   as a fixed bias (zeroing them hurts, averaging them does not).
# - Window attention needs the first tokens: keep one to four of them and the perplexity recovers.
#
# On the `ci` profile these results come from a teaching model; the published rows in the table say
# what the papers measured at scale, and the GPU profiles assert the papers' claims on real LLMs.

# %% [markdown] tags=["core"]
# ## Check your understanding
#
# **1. How much memory do the attention weights of a 16-layer, 32-head model take at T = 8192, batch 1, bf16?**
#
# <details><summary>(a) 64 GiB</summary>✅ 16 × 32 × 8192² × 2 bytes = 2³⁶ bytes = 64 GiB.</details>
# <details><summary>(b) 8 MiB</summary>❌ That is L·H·T·2 bytes, what the LSE trick keeps — T, not T².</details>
# <details><summary>(c) 32 GiB</summary>❌ Only if you count the causal half; eager keeps the full matrix.</details>
#
# **2. Why can a fused kernel give you the first-token mass without the attention matrix?**
#
# <details><summary>(a) It returns each row's log-sum-exp, and p_i0 = exp(s_i0 − LSE_i) needs only q_i·k_0 more</summary>✅
# One dot product per query.</details>
# <details><summary>(b) It returns the row maximum</summary>❌ exp(s_i0 − max) is not normalised; you need the LSE.</details>
# <details><summary>(c) It stores the matrix in a compressed form</summary>❌ It never stores it at all.</details>
#
# **3. A paper reports 46 % sink heads at ε = 0.8, another 99 % at ε = 0.3, for similar 8B Llama models. What do you conclude?**
#
# <details><summary>(a) The papers disagree</summary>❌ The thresholds differ; every head counted at 0.8 is counted at 0.3.</details>
# <details><summary>(b) Nothing about disagreement: compare only at the same ε and T</summary>✅ The threshold explorer shows how steeply the rate falls with ε.</details>
#
# **4. A Llama-family model sees "the the the … the" without BOS. Its sink rate is ≈ 0. Why?**
#
# <details><summary>(a) Every position holds the same vector in every layer, so no token can stand out</summary>✅
# Identical values make any attention output the same vector; RoPE adds no absolute position.</details>
# <details><summary>(b) "the" is a stop word</summary>❌ Any repeated token does it; random tokens keep the sink.</details>
# <details><summary>(c) The sink moves to the last token</summary>❌ There is no token to move to: all are identical.</details>
#
# **5. Why does mean-ablating the first token's largest activations change nothing, exactly, when every input starts with BOS?**
#
# <details><summary>(a) Position 0 sees only itself, so its activations are the same on every input</summary>✅
# The mean equals the value; Sun et al.'s non-trivial result is without BOS.</details>
# <details><summary>(b) The activations are small</summary>❌ They are the largest of the residual stream.</details>
#
# **6. Window attention with a 1,024-token window fails on long texts, even though every query still sees 1,024 tokens. Why?**
#
# <details><summary>(a) The first token, where sink heads park their attention, has left the window</summary>✅
# The parked mass spreads over the window; keeping 1–4 initial tokens restores it.</details>
# <details><summary>(b) 1,024 tokens are too few to predict the next one</summary>❌ Keeping 4 more (initial) tokens fixes it.</details>

# %% [markdown] tags=["core"]
# ## Further reading
#
# - Gu, Pang, Du, Liu, Zhang, Du, Wang & Lin (2025), *When attention sink emerges in language models: an
#   empirical view* (ICLR 2025) — the sink rate, Table 1 (natural, random, repeated), key/value norms, and
#   when sinks emerge in training. Code: `sail-sg/Attention-Sink`.
# - Barbero, Arroyo, Gu, Perivolaropoulos, Bronstein, Veličković & Pascanu (2025), *Why do LLMs attend to
#   the first token?* (COLM 2025) — Llama 3.1 8B/70B/405B at ε = 0.8 and the over-mixing argument (chapter 5).
# - Xiao, Tian, Chen, Han & Lewis (2024), *Efficient streaming language models with attention sinks*
#   (ICLR 2024) — window attention, StreamingLLM, and the sink token in pre-training.
# - Sun, Chen, Kolter & Liu (2024), *Massive activations in large language models* (COLM 2024).
# - Queipo-de-Llano et al. (2025), arXiv 2510.06477 — sinks, massive norms and entropy during Pythia's training.
# - Biderman et al. (2023), *Pythia: a suite for analyzing large language models across training and scaling*.
