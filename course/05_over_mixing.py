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
# Barbero et al. (2025), *Why do LLMs attend to the first token?*, answer their title with one idea:
# attention **mixes** tokens, too much mixing destroys information, and a sink is how a head mixes
# **less**. You will make that argument runnable: measure three kinds of over-mixing on a toy model
# where every claim can be checked exactly, then look for the same effects in the profile's real LM.
#
# | section | you measure | on |
# | --- | --- | --- |
# | 1️⃣ Rank collapse | the distance of the tokens to rank one, layer by layer | toy attention stacks |
# | 2️⃣ Over-squashing | the Jacobian ‖∂h_n/∂x_i‖ and the path-product bound | the toy model and the real LM |
# | 3️⃣ Representational collapse | how close "1 × n" and "1 × (n+1)" end up, in fp32 and bf16 | the real LM |
# | 4️⃣ Sinks as no-ops | each head's write to the residual stream against its first-token mass | the real LM |
# | 5️⃣ Perturbation spread | how far a changed word travels, with and without BOS | the real LM |
#
# What is a theorem and what is a claim. Dong et al. (2021) and Barbero et al. (2024) prove their
# statements; we state them as the papers do, derive the simple cases, and test them numerically. Barbero
# et al. (2025, Theorem 3.2) extend the over-squashing bound to many heads. We have that theorem only from
# secondary readings (reviews and notebooks built on the paper, not the PDF): it bounds
# `‖∂v_j^(L)/∂v_i^(0)‖` by `C_max^L` times a sum over causal paths of products of per-layer,
# head-aggregated weights `ᾱ^(ℓ)`. How `ᾱ` combines the heads and the residual, and what `C_max` contains,
# we could not see, so we do not teach its exact form. What the paper *draws* from it — deeper models and
# longer training contexts should have stronger sinks — is a prediction tested by experiments, not part of
# the theorem. Toy results below are asserted; real-model results are reported with the model's name and
# asserted only where they hold for it.

# %%
import math

import torch

from sinklab import plots, theory

# %% [markdown] tags=["core"]
# ## 1️⃣ Rank collapse: pure attention makes every token the same
#
# > **Learning objectives**
# > - Compute the distance of a set of token vectors to rank one (Dong et al., 2021)
# > - Compare how fast stacks of uniform, random and first-token-dominated attention collapse
# > - Show that a residual stream plus a zero-value sink slows the collapse, and derive the rate for uniform attention
#
# A layer of attention replaces every token by a weighted **average** of tokens. Averages of averages
# become more and more alike: Dong, Cordonnier & Loukas (2021, *Attention is not all you need: pure
# attention loses rank doubly exponentially with depth*) prove that stacks of self-attention layers
# without skip connections or MLPs drive the tokens towards a matrix of rank one, every row the same
# vector, and that skip connections counteract it. Their measure is the residual `X − 1xᵀ` to the closest
# such matrix. We use its Frobenius version, relative to the size of `X`:
#
# $$d(X) = \frac{\min_x \lVert X - \mathbf 1 x^\top \rVert_F}{\lVert X \rVert_F} = \frac{\lVert X - \mathbf 1 \bar x^\top \rVert_F}{\lVert X \rVert_F},$$
#
# where the minimising `x` is the **mean token** `x̄` (set the gradient `−2 Σ_t (x_t − x)` to zero).
# `d = 0` means every token is the same vector; `d` does not change if you scale `X`.
#
# ### Exercise 5.1 – Measure the distance to rank one
#
# > Difficulty: 🔴🔴⚪⚪⚪ · Importance: 🔵🔵🔵🔵⚪ · ≈ 8 minutes
#
# `x` has shape `[..., T, D]`: `T` token vectors of `D` features, with any leading (batch) axes. Return
# `d(X)` for each of them, shape `[...]`.

# %%
def rank_one_distance(x: torch.Tensor) -> torch.Tensor:
    """‖X − 1 x̄ᵀ‖_F / ‖X‖_F for x [..., T, D] -> [...], x̄ the mean token."""
    ### BEGIN SOLUTION
    residual = x - x.mean(dim=-2, keepdim=True)  # subtract the mean token from every token
    return residual.norm(dim=(-2, -1)) / x.norm(dim=(-2, -1))
    ### END SOLUTION


from sinklab.checks import check_rank_one_distance

check_rank_one_distance(rank_one_distance)

# %% [markdown]
# <details><summary>Hint</summary>
#
# The mean token is `x.mean(dim=-2, keepdim=True)` (the token axis is −2). Subtract it, then take the
# Frobenius norm over the last two axes, `.norm(dim=(-2, -1))`, and divide by the same norm of `x`.
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ rank_one_distance: correct.` and `✅ rank_one_distance(10·x): correct.` If not, the check names the
# mistake: the mean over the wrong axis, the first token instead of the mean, no normalisation, squared
# norms, or one number per token.
# </details>
#
# ### Pure attention stacks
#
# Take 16 random tokens and apply the same causal attention matrix `A` twelve times, with values equal to
# the tokens (`W_V = I`): `X ← A X`. Three kinds of `A`: **uniform** (query `t` gives `1/(t+1)` to each key
# it sees), **random** (a softmax of Gaussian scores), and **first-token-dominated** (the random one with
# 90 % of every row moved onto key 0, like a sink head). `theory.attention_stack` runs the layers and
# returns the tokens before and after each one, `[L+1, T, D]`.

# %%
n_tokens, d_model, depth = 16, 16, 12
x = theory.toy_tokens(n_tokens, d_model)
random_attn = theory.random_attention(n_tokens, scale=1.0)
kinds = {
    "uniform": theory.uniform_attention(n_tokens),
    "random": random_attn,
    "90% on the first token": theory.first_token_attention(random_attn, mass=0.9),
}
pure = {name: theory.attention_stack(x, [attn] * depth) for name, attn in kinds.items()}
pure_distance = {name: rank_one_distance(hidden) for name, hidden in pure.items()}
plots.lines({name: d.log10().tolist() for name, d in pure_distance.items()}, x_title="layer",
            y_title="log₁₀ distance to rank one", title="Pure causal attention stacks (X ← A X)")

# %%
for name, d in pure_distance.items():
    print(f"{name:>24}: distance after 1, 4 and 12 layers = {d[1]:.3f}, {d[4]:.1e}, {d[12]:.1e}")
    assert d[12] < 0.01 * d[0], "every pure attention stack collapses towards rank one"
    assert torch.equal(pure[name][-1, 0], x[0]), "query 0 sees only itself: the first token never moves"
first = pure_distance["90% on the first token"]
assert first[3] < min(pure_distance["uniform"][3], pure_distance["random"][3]), "a sink on a real token mixes fastest"
torch.testing.assert_close(pure["90% on the first token"][-1], x[:1].expand(n_tokens, d_model), atol=1e-5, rtol=0)

bidirectional = theory.attention_stack(x, [theory.uniform_attention(n_tokens, causal=False)])
assert rank_one_distance(bidirectional[1]) < 1e-6
print("uniform attention without the causal mask: rank one after a single layer, d =",
      f"{rank_one_distance(bidirectional[1]).item():.1e}")

# %% [markdown]
# Three things to notice.
#
# - Every stack collapses, and without a causal mask uniform attention does it in **one** layer (every
#   output row is the same mean). Dong et al.'s "doubly exponential" rate is for self-attention, where `A`
#   itself becomes more uniform as the tokens become alike; the fixed matrices here collapse geometrically.
# - Under the causal mask the tokens collapse onto the **first token**: query 0 sees only itself, so
#   `x_0` never moves, and every other row keeps averaging it in. (Barbero et al., 2024, Proposition B.8,
#   make the same point for deep causal stacks: in the limit the output depends only on the first token.)
# - The first-token-dominated stack is the fastest. A head that parks its attention on the first token
#   **copies the first token's value** into every position: on its own, that is the most mixing possible.
#
# So a sink cannot help by itself. It helps with two more ingredients: a **residual stream** (a layer adds
# its update to the token, `X ← X + A X W_V`) and a sink whose **value is close to zero** (then the
# attention spent on it adds nothing). In `theory`, `sink=s` sends a **fixed** share `s` of every query's
# attention to such a zero-value slot, so the update becomes `(1 − s)·A X W_V`. A fixed share is a device
# for deriving closed forms; in section 2 the sink is a zero-value **key inside the softmax**, whose share
# each query sets through its own scores, as in a trained model.
#
# ### Exercise 5.4 – Derive the rate for uniform attention with a residual stream and a sink
#
# > Difficulty: 🔴🔴🔴⚪⚪ · Importance: 🔵🔵🔵⚪⚪ · ≈ 10 minutes
#
# Take bidirectional uniform attention, `A X = 1 x̄ᵀ`, a residual stream and a zero-value sink of mass `s`:
# `X ← X + (1 − s)·1x̄ᵀ`. Work out on paper what happens to the residual `R = X − 1x̄ᵀ` and to the mean
# token `x̄` in one layer, then use that `R ⟂ 1x̄ᵀ` (the columns of `R` sum to zero) to write `d_l` after
# `l` layers. Return `d_0 … d_L`, shape `[L+1]`, for tokens `x` `[T, D]`.

# %%
def uniform_residual_distance(x: torch.Tensor, sink: float, n_layers: int) -> torch.Tensor:
    """The closed form of d(X_l), l = 0 … n_layers, for X <- X + (1 − s)·1 x̄ᵀ: [L+1]."""
    ### BEGIN SOLUTION
    mean = x.mean(dim=0)
    residual = (x - mean).norm()  # R never changes: every token gets the same (1 − s)·x̄ added
    layers = torch.arange(n_layers + 1, dtype=x.dtype)
    grown_mean = (2 - sink) ** layers * mean.norm()  # x̄ <- x̄ + (1 − s) x̄ = (2 − s) x̄ in every layer
    return residual / (residual**2 + x.shape[0] * grown_mean**2).sqrt()
    ### END SOLUTION


from sinklab.checks import check_uniform_residual_distance

check_uniform_residual_distance(uniform_residual_distance)

# %% [markdown]
# <details><summary>Hint (the idea)</summary>
#
# Every token gets the same vector `(1 − s)·x̄` added, so differences between tokens, and hence `R`, are
# unchanged; the mean becomes `x̄ + (1 − s)·x̄`. Then `‖X‖_F² = ‖R‖_F² + T‖x̄‖²` (Pythagoras, since `R ⟂ 1x̄ᵀ`).
# </details>
#
# <details><summary>Hint (the code)</summary>
#
# `mean = x.mean(0)`, `residual = (x - mean).norm()`, `layers = torch.arange(n_layers + 1)`; return
# `residual / (residual**2 + T * (2 - sink) ** (2 * layers) * mean.norm() ** 2).sqrt()`.
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ uniform_residual_distance: correct.` If not, the check names the mistake: a growth factor `1 − s` or
# `2` instead of `2 − s`, a missing factor `T`, or `d_0` left out. Below, your
# closed form matches the simulated stack to float precision.
# </details>
#
# **Read it right.** The residual `R` **never shrinks**: the tokens do not become more alike in absolute
# terms. Only the common mean grows, as `(2 − s)^L`, so `d` falls because `1x̄ᵀ` swamps an unchanged `R`.
# Without the residual stream the collapse takes one layer; with it `d` falls geometrically, at rate
# `1/(2 − s)`: a stronger sink slows it, and `s = 1` stops it (every layer is the identity).

# %%
uniform_bidirectional = [theory.uniform_attention(n_tokens, causal=False)] * depth
for sink in (0.0, 0.5, 0.9):
    simulated = theory.attention_stack(x, uniform_bidirectional, residual=True, sink=sink)
    measured = rank_one_distance(simulated)
    torch.testing.assert_close(measured, uniform_residual_distance(x, sink, depth))
    residuals = (simulated - simulated.mean(-2, keepdim=True)).norm(dim=(-2, -1))
    torch.testing.assert_close(residuals, residuals[0].expand(depth + 1))  # R never shrinks
    growth = simulated.mean(-2).norm(dim=-1)[1:] / simulated.mean(-2).norm(dim=-1)[:-1]
    torch.testing.assert_close(growth, torch.full((depth,), 2 - sink))  # the mean grows by (2 − s) per layer
    print(f"sink mass {sink}: d after 12 layers = {measured[-1]:.4f}; ‖R‖_F stays {residuals[0]:.3f}, "
          f"the mean grows ×{2 - sink} per layer")

# %% [markdown]
# Now the same question for a real attention mechanism: `theory.ToyStack` computes each layer's causal
# attention from the current tokens (`softmax(x W_Q (x W_K)ᵀ / √d)`, random weights, one head) and uses a
# random orthogonal `W_V`. Compare four settings: no residual, and a residual stream with sink mass 0, 0.5
# and 0.9.

# %%
toy = theory.toy_stack(depth, d_model)
toy_distance = {"no residual, no sink": rank_one_distance(toy.run(x, residual=False)[0])}
for sink in (0.0, 0.5, 0.9):
    toy_distance[f"residual, sink {sink}"] = rank_one_distance(toy.run(x, sink=sink)[0])
plots.lines({name: d.log10().tolist() for name, d in toy_distance.items()}, x_title="layer",
            y_title="log₁₀ distance to rank one", title="ToyStack: residual stream and a zero-value sink")

# %%
final = {name: d[-1].item() for name, d in toy_distance.items()}
print({name: round(v, 4) for name, v in final.items()})
assert final["no residual, no sink"] < final["residual, sink 0.0"] < final["residual, sink 0.5"] < final["residual, sink 0.9"]
# Without a residual stream a zero-value sink only rescales each layer's output by (1 − s): same collapse.
attns = toy.run(x, residual=False)[1]
torch.testing.assert_close(rank_one_distance(theory.attention_stack(x, attns, sink=0.9, w_v=toy.w_v)),
                           rank_one_distance(theory.attention_stack(x, attns, w_v=toy.w_v)))

# %% [markdown]
# *Interpret it:* why does the sink change nothing without the residual stream, but slow the collapse with
# it?
#
# <details><summary>Answer</summary>Without the residual, the layer's output <em>is</em> its update, and
# a zero-value sink only scales the update by (1 − s): the rows keep their directions, and d is
# scale-free. With the residual, the layer outputs x + (1 − s)·update: the sink shrinks the mixing term
# next to the token's own copy of itself, so less of the other tokens gets in.</details>

# %% [markdown] tags=["core"]
# ## 2️⃣ Over-squashing: how much can one token still move another?
#
# > **Learning objectives**
# > - Compute the Jacobian norm map ‖∂h^l_n/∂x_i‖ over (layer, source position) with `torch.autograd`
# > - Implement the path-product bound of Barbero et al. (2024) and verify it where it is a theorem
# > - Show how the sensitivity to the context grows with depth and context length, and what a sink does to it
# > - Compare the measured map with the bound on the profile's LM
#
# Rank collapse looks at all tokens at once. Over-squashing asks about one pair: if I change input token
# `i`, how much can the representation of token `n` after `l` layers change? The answer is the size of a
# block of the Jacobian, `‖∂h^l_n / ∂x_i‖`. Large blocks for many `i` mean token `n` is a blend of its whole
# context, and any small perturbation anywhere reaches it: over-mixing.
#
# **The bound (Barbero et al., 2024, *Transformers need glasses!*, Theorem 5.1).** For a causal
# transformer with `L` layers,
#
# $$\Bigl\lVert \frac{\partial y_n}{\partial v^{(0)}_i} \Bigr\rVert \le C \sum_{i \le k_1 \le \cdots \le k_{L-1} \le n}
# \;\prod_{\ell=1}^{L} \bar\alpha^{(\ell-1)}_{k_\ell, k_{\ell-1}}, \qquad k_0 = i,\; k_L = n,
# \qquad \bar\alpha_{j,i} = \frac{\alpha_{j,i}}{\beta_1} + \delta_{j,i},$$
#
# a sum over every causal path `i = k_0 → k_1 → … → k_L = n` of products of attention weights, **one factor
# per layer** (layer `ℓ − 1` takes the path from `k_{ℓ−1}` to `k_ℓ`), where the `δ` is the residual path
# and the constant `C` collects layer norms and the MLPs' Lipschitz constants. Barbero et al. (2025,
# Theorem 3.2, known to us only from secondary readings) extend it to many heads: a bound `C_max^L` times a
# sum over the same paths of head-aggregated weights; the exact aggregation we could not check. Read
# plainly: more layers mean more paths, so more sensitivity; heads that put their weight on a low-value
# first token shrink the path weights. (What context length does is subtler: see below.)
#
# **A case you can prove.** Freeze the attention matrices (the map `x ↦ h^L` is then linear), take
# `h_{l} = h_{l−1} + A_l h_{l−1} W_l` with `‖W_l‖₂ ≤ 1`. The chain rule gives
# `∂h^L_n/∂x_i = Σ_paths Π_l (δ_{k_l k_{l−1}} I + A_l[k_l, k_{l−1}] W_l^T)`; the triangle inequality and
# `‖I + aW‖₂ ≤ 1 + a` bound it by `Σ_paths Π_l (δ + A_l)`, which is entry `[n, i]` of the matrix product
# `P_L = (A_L + I) ⋯ (A_1 + I)`. In the Frobenius norm the constant is `‖I_D‖_F = √D`:
#
# $$\bigl\lVert \partial h^L_n / \partial x_i \bigr\rVert_F \;\le\; \sqrt{D}\, \bigl[(A_L + I)\cdots(A_1 + I)\bigr]_{n,i}.$$
#
# ### Exercise 5.2 – Compute the Jacobian norm map over (layer, source position)
#
# > Difficulty: 🔴🔴🔴⚪⚪ · Importance: 🔵🔵🔵🔵🔵 · ≈ 15 minutes
#
# `layers_fn` maps tokens `x` `[T, D]` to the hidden states of every layer `[L+1, T, D']` (entry 0 is the
# input). Return `[L+1, T]`: entry `[l, i]` is the Frobenius norm of the `D' × D` block `∂h^l_position/∂x_i`.

# %%
from collections.abc import Callable


def jacobian_norm_map(layers_fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, position: int) -> torch.Tensor:
    """‖∂h^l_position / ∂x_i‖_F for every layer l and source token i: [L+1, T]."""
    ### BEGIN SOLUTION
    jac = torch.autograd.functional.jacobian(lambda inputs: layers_fn(inputs)[:, position], x, vectorize=True)
    return jac.norm(dim=(1, 3))  # [L+1, D', T, D]: one Frobenius norm per (layer, source token)
    ### END SOLUTION


from sinklab.checks import check_jacobian_norm_map

check_jacobian_norm_map(jacobian_norm_map)

# %% [markdown]
# <details><summary>Hint</summary>
#
# `torch.autograd.functional.jacobian(f, x)` returns `∂f/∂x` with the output's shape followed by the
# input's. With `f = lambda inputs: layers_fn(inputs)[:, position]` (output `[L+1, D']`, input `[T, D]`) the
# Jacobian is `[L+1, D', T, D]`; take the norm over the two feature axes, `dim=(1, 3)`. `vectorize=True`
# makes it one batched backward pass. One `.backward()` on a sum is not enough: it gives `Σ_k ∂h_k/∂x`, not
# the whole block.
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ jacobian_norm_map: correct.` If not, the check names the mistake: a backward pass on the summed
# features, the derivative in the wrong direction (how `x_position` moves every output), or every position
# differentiated at once.
# </details>
#
# ### Exercise 5.3 – Build the path-product bound
#
# > Difficulty: 🔴🔴⚪⚪⚪ · Importance: 🔵🔵🔵🔵⚪ · ≈ 10 minutes
#
# `attns` has shape `[L, T, T]`, one attention matrix per layer (rows are queries). Return the products
# after every layer, `[L+1, T, T]`: `P_0 = I`, then `P_l = (A_l + I) @ P_{l−1}` with `residual=True`, or
# `P_l = A_l @ P_{l−1}` without. Entry `P_l[n, i]` is the sum over causal paths from `i` to `n`.

# %%
def path_products(attns: torch.Tensor, residual: bool = True) -> torch.Tensor:
    """P_0 = I, P_l = (A_l [+ I]) P_{l−1} for attns [L, T, T] -> [L+1, T, T]."""
    ### BEGIN SOLUTION
    identity = torch.eye(attns.shape[-1])
    products = [identity]
    for attn in attns:  # layer 1 first: a later layer multiplies from the left
        step = attn + identity if residual else attn
        products.append(step @ products[-1])
    return torch.stack(products)
    ### END SOLUTION


from sinklab.checks import check_path_products

check_path_products(path_products)

# %% [markdown]
# <details><summary>Hint</summary>
#
# Start a list with `torch.eye(T)`; for each layer's `attn` append `(attn + I) @ products[-1]` (or
# `attn @ products[-1]`), then `torch.stack` the list. The layer that acts last goes on the **left**.
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ path_products(residual=True): correct.` and the same for `residual=False`. Below, the bound is
# above the frozen-attention Jacobian everywhere, as the theorem says.
# </details>
#
# ### The bound on the toy model
#
# Run a 6-layer `ToyStack` on 24 tokens and look at the last token (`n = 23`). "Frozen" differentiates the
# stack with its attention matrices held fixed (`theory.attention_stack`): the linear case of the theorem.
# "Live" differentiates through the softmax too, as autograd does for a real model.
#
# The sink is now a **zero-value key inside the softmax** (`toy.run(x, sink_logit=b)`,
# `theory.sink_key_attention`): every query scores it `b` and gives it the share
# `e^b / (e^b + Σ_j e^{s_ij})`, so queries with strong scores elsewhere give it little and the others much.
# The attention matrices `toy.run` returns cover the real keys only (rows sum to one minus the sink's share),
# so they go into the bound as they are.

# %%
toy_depth, toy_length, sink_score = 6, 24, 4.0
last = toy_length - 1
toy = theory.toy_stack(toy_depth, d_model)
tokens = theory.toy_tokens(toy_length, d_model)
live_maps = {}
for sink_logit in (None, sink_score):
    _, attns = toy.run(tokens, sink_logit=sink_logit)
    live = jacobian_norm_map(lambda t: toy.run(t, sink_logit=sink_logit)[0], tokens, last)
    frozen = jacobian_norm_map(lambda t: theory.attention_stack(t, attns, residual=True, w_v=toy.w_v), tokens, last)
    bound = math.sqrt(d_model) * path_products(attns)[:, last]
    assert torch.all(frozen <= bound + 1e-5), "the theorem: frozen-attention sensitivity never exceeds the bound"
    live_maps[sink_logit] = live
    share = 1 - attns.sum(-1)  # [L, T]: what each query gave the sink key
    print(f"sink key score {sink_logit}: its share per query {share.min():.2f} … {share.max():.2f}; sensitivity of token "
          f"{last} to the others after {toy_depth} layers — live {live[-1, :-1].sum():.2f}, "
          f"frozen {frozen[-1, :-1].sum():.2f}, bound {bound[-1, :-1].sum():.2f}")
assert share.max() - share.min() > 0.2, "inside the softmax the sink's share varies from query to query"
assert live_maps[sink_score][-1, :-1].sum() < 0.5 * live_maps[None][-1, :-1].sum(), "the sink key cuts the mixing"
assert (live_maps[None][2:, :-1].argmax(-1) == 0).all(), "from layer 2 on, the first token is the top source"

plots.lines({f"layer {layer}": row[:-1].log10().tolist() for layer, row in enumerate(live_maps[None]) if layer},
            x_title="source position i", y_title=f"log₁₀ ‖∂h_{last}/∂x_i‖",
            title=f"ToyStack, no sink: the Jacobian norm map of token {last} (one line per layer)")

# %% [markdown]
# *Interpret it:* each line is one row of the map (one layer); token 23 itself is left out (it dominates,
# through the residual path). Which source tokens does the last token depend on most, and how does that
# change with depth? Why the first token?
#
# <details><summary>Answer</summary>The dependence on every earlier token grows with depth, and from layer 2
# on the first token is the one it depends on most (asserted above): every query sees it, and, seeing only
# itself, it is never diluted — the same reason pure causal stacks collapse onto it in section 1.</details>
#
# ### Depth and context length
#
# "More layers and longer contexts mean more paths" is only half right. Count the bound's total first.
# Every row of `A + I` sums to 2 (attention rows sum to one, the residual adds one), so every row of
# `P_L = (A_L + I) ⋯ (A_1 + I)` sums to `2^L`, **whatever the context length**:
#
# $$\sum_{i \le n} P_L[n, i] = 2^L, \qquad \text{so the bound's sensitivity to the context is } 2^L - P_L[n, n].$$
#
# More tokens mean more paths, but the same total weight spread over them. Length enters the total only
# through the self-term `P_L[n, n] ≥ 1`, the weight of paths that stay on token `n`; for uniform attention
# `P_L[n, n] = (1 + 1/(n+1))^L`, so at `L = 4` the context part goes from 14.40 (`T = 8`) to 14.94
# (`T = 64`) and saturates at `2^4 − 1 = 15`. The cell asserts both identities.

# %%
import pandas as pd

for length in (8, 16, 64, 256):
    uniform_products = path_products(torch.stack([theory.uniform_attention(length)] * 4))[-1]  # L = 4
    torch.testing.assert_close(uniform_products.sum(-1), torch.full((length,), 2.0**4))  # every row sums to 2^L
    self_term = (1 + 1 / length) ** 4
    context_part = uniform_products[-1, :-1].sum().item()
    assert abs(context_part - (2**4 - self_term)) < 1e-4
    print(f"uniform attention, L = 4, T = {length:>3}: bound's context part 2^L − P_L[n, n] = {context_part:.2f}")
_, live_attns = theory.toy_stack(8, d_model).run(theory.toy_tokens(64, d_model))
torch.testing.assert_close(path_products(live_attns).sum(-1)[-1], torch.full((64,), 2.0**8))  # any attention

# %% [markdown]
# Now measure the live sensitivity of the last token to the rest of its context,
# `Σ_{i<n} ‖∂h^L_n/∂x_i‖_F`, on a grid of depths and context lengths, without a sink and with the sink key
# of score 4, and record the sink key's mean share.

# %%
rows = []
for length in (8, 16, 32, 64):
    context = theory.toy_tokens(length, d_model)
    for stack_depth in (1, 2, 4, 8):
        stack = theory.toy_stack(stack_depth, d_model)
        for sink_logit in (None, sink_score):
            sensitivity = jacobian_norm_map(lambda t: stack.run(t, sink_logit=sink_logit)[0], context, length - 1)[-1]
            share = 1 - stack.run(context, sink_logit=sink_logit)[1].sum(-1).mean()
            rows.append({"context": length, "depth": stack_depth, "sink": "none" if sink_logit is None else "key",
                         "sensitivity to the context": sensitivity[:-1].sum().item(), "sink share": share.item()})
measurements = pd.DataFrame(rows)
grid = measurements.pivot_table(index=["sink", "depth"], columns="context", values="sensitivity to the context")
grid.round(2)

# %%
for sink in ("none", "key"):
    table = grid.loc[sink].to_numpy()
    assert (table[1:] > table[:-1]).all(), "sensitivity grows with depth at every context length"
shares = measurements[measurements["sink"] == "key"].groupby("context")["sink share"].mean()
assert (shares.diff().dropna() < 0).all(), "a sink key with a fixed score loses share as the context grows"
assert (grid.loc["key"] < grid.loc["none"]).to_numpy().all(), "the sink key cuts the sensitivity everywhere"
print("mean share of the sink key by context length:", shares.round(2).to_dict())
print("no sink, depth 4: sensitivity by context length", grid.loc[("none", 4)].round(2).to_dict())

# %% [markdown]
# Depth multiplies the number of paths and doubles the bound's total per layer (`2^L`): the sensitivity
# grows with depth at every length (asserted). Context length is different. The bound's total is fixed at
# `2^L`, so a longer context does not add sensitivity to the bound — it only lets the self-term shrink,
# which saturates fast. Without a sink, the toy's measured sensitivity still creeps up with `T`; that
# comes from the shrinking self-weight `A[n, n] ≈ 1/n` (less of the token's own copy in every average) and
# from the softmax derivative (differentiating through the scores adds terms the frozen bound does not
# have), not from "more sources". Read the rows above rather than a rule.
#
# The sink key shows something the fixed share hid: with a **fixed score**, its share falls as the
# context grows (more keys compete in the softmax; asserted above), so the sensitivity grows with `T`
# much faster, in relative terms, with the sink than without. To keep mixing down at long contexts a head must score its sink
# higher. That is one reading of why Barbero et al. (2025) find stronger sinks in models **trained** on
# longer contexts (their Fig. 5, from secondary readings; no exact numbers) — a plausible link, not
# something this toy proves.
#
# ### The real LM: measured map and the bound's shape
#
# Now the profile's causal LM. We differentiate its residual stream (`theory.residual_stream`: the input of
# block 0, then every block's output, before the final norm) with respect to the input embeddings, and
# build the path products from its attention patterns, averaged over heads. LayerNorms and MLPs put
# unknown constants into the real bound, so we compare **shapes**: does the bound rank the source tokens
# the way the Jacobian does?

# %%
from sinklab import env, measure, models

profile = env.profile()
model, tokenizer = models.load("causal_lm", dtype=torch.float32)
config = model.config.get_text_config()
n_layers, n_heads, hidden_size = config.num_hidden_layers, config.num_attention_heads, config.hidden_size
# The embedded teaching model loads from a folder inside sinklab; call it by its registry name.
model_name = models.EMBEDDED_NAME if model.name_or_path == str(models.embedded_model_path()) else model.name_or_path
print(f"{model_name}: {n_layers} layers × {n_heads} heads, hidden size {hidden_size}, profile {profile.name!r}")
# The real-model assertions below were checked on the ci profile's model; on other profiles they are reported only.
checked_model = profile.name == "ci"

# %% [markdown]
# **What the Jacobian costs.** The exact map needs one backward pass per output feature (`D` of them) and
# mapped block, through the model on `T` tokens. On `ci` (a tiny model) we compute it exactly, every block,
# over the profile's whole `seq_len`. For a GPT-2-small-sized model (`D = 768`) one exact block over 48
# tokens took ≈ 90 s on 2 CPU cores (measured, random weights), too slow for a lab. So on larger profiles
# we map blocks 1, L/2 and L over 48 tokens with `theory.jacobian_norm_estimate`: for a Gaussian vector
# `v`, `E‖vᵀ ∂h/∂x_i‖² = ‖∂h/∂x_i‖_F²`, so 64 random backward passes per block estimate every entry
# (relative error of a squared entry ≈ √(2/64) ≈ 18 %). Each rank correlation below then has 47 points, not
# 7. The cell prints how long it took, and on `ci` how well the estimate ranks the tokens like the exact map.

# %%
import time

from sinklab import prompts

every_block = profile.name == "ci" or n_layers <= 4
mapped = list(range(n_layers + 1)) if every_block else sorted({0, 1, n_layers // 2, n_layers})  # 0 = embeddings
jacobian_tokens = profile.seq_len if every_block else min(profile.seq_len, 48)
ids = tokenizer(prompts.NATURAL[0])["input_ids"][:jacobian_tokens]
n = len(ids) - 1  # the token whose sensitivity we map
embeds = model.get_input_embeddings()(torch.tensor(ids, device=model.device)).detach()
start = time.perf_counter()
if every_block:
    lm_map = jacobian_norm_map(lambda e: theory.residual_stream(model, inputs_embeds=e)[mapped], embeds, n).cpu()
else:
    lm_map = theory.jacobian_norm_estimate(lambda e: theory.residual_stream(model, inputs_embeds=e)[mapped], embeds, n)
print(f"{model_name}: Jacobian norm map ({'exact' if every_block else 'estimated, 64 probes'}) of {len(mapped) - 1} "
      f"blocks over {len(ids)} tokens in {time.perf_counter() - start:.1f} s")
if every_block:  # validate the estimator where the exact map is cheap: the last block, 32 probes
    estimate = theory.jacobian_norm_estimate(lambda e: theory.residual_stream(model, inputs_embeds=e)[-1:], embeds, n, 32)
    estimate_correlation = theory.rank_correlation(estimate[0, :n], lm_map[-1, :n])
    print(f"the 32-probe estimate ranks the source tokens like the exact map: rank correlation {estimate_correlation:+.2f}")
    assert estimate_correlation > 0.8, "the random-probe estimate orders the tokens like the exact Jacobian"
patterns = measure.attention_patterns(model, torch.tensor([ids], device=model.device))[0].cpu()  # [L, H, T, T]
lm_bound = path_products(patterns.mean(dim=1))[mapped, n]  # heads averaged: the shape of the bound
lm_correlation = [theory.rank_correlation(lm_map[k, :n].log(), lm_bound[k, :n].log()) for k in range(1, len(mapped))]
lm_context = lm_map[:, :n].sum(-1)  # sensitivity of token n to the rest of its context, per mapped block
for k, block in enumerate(mapped[1:], start=1):
    print(f"{model_name}, after block {block}: sensitivity to the context {lm_context[k]:.1f}, "
          f"to itself {lm_map[k, n]:.1f}; rank correlation with the bound's shape {lm_correlation[k - 1]:+.2f}")
plots.lines({f"after block {block}": lm_map[k, :n].log10().tolist() for k, block in enumerate(mapped) if block},
            x_title="source position i", y_title=f"log₁₀ ‖∂h_{n}/∂x_i‖",
            title=f"{model_name}: the Jacobian norm map of token {n} (one line per block)")

# %%
shapes = {"measured ‖∂h_n/∂x_i‖": lm_map[-1, :n], "bound: path products P_L[n, i]": lm_bound[-1, :n]}
plots.lines({name: (values / values.max()).log10().tolist() for name, values in shapes.items()},
            x_title="source position i", y_title="log₁₀ (value / its maximum)",
            title=f"{model_name}, after the last block: measured sensitivity and the bound's shape")

# %%
print(f"{model_name}: sensitivity of token {n} to its context goes from {lm_context[1]:.0f} after block 1 to "
      f"{lm_context[-1]:.0f} after block {n_layers}; rank correlation with the bound's shape "
      f"{min(lm_correlation):+.2f} … {max(lm_correlation):+.2f}")
# The bound is an upper bound on a magnitude, not a ranking: whether its shape also *ranks* the source tokens
# is an empirical question, answered by the printed correlation (positive on the previous 4 × 4 teaching
# model; on other models it can be weak or negative — read the number, nothing here asserts it).
if min(lm_correlation) <= 0:
    print("here the bound's shape does not rank every layer's source tokens like the measured Jacobian")

# %% [markdown]
# *Interpret it:* the measured map and the bound's shape (the path products of the head-averaged attention)
# are computed in two unrelated ways, from gradients and from attention weights. How well does the bound
# rank the source tokens? What does it leave out?
#
# <details><summary>Answer</summary>It ranks them well when attention is what moves information, which
# is the bound's premise. It leaves out the value and output matrices (which can amplify or cancel a path),
# the MLPs and LayerNorms (the constant C), and the derivative of the softmax itself; it is an upper bound
# on a magnitude, not a prediction of it.</details>

# %% [markdown] tags=["optional"]
# ## 3️⃣ Representational collapse: when "1 × n" and "1 × (n + 1)" look the same
#
# > **Learning objectives**
# > - Build two inputs that differ by one extra copy of a repeated token at the end of a long run
# > - Derive, for one uniform attention layer, how fast their last-token outputs approach each other
# > - Measure the same convergence on the profile's LM in fp32 and bf16, and find where bf16 runs out of precision
#
# Barbero et al. (2024, Theorem 4.2, informal) consider a sequence and the same sequence with its last
# token repeated once more, `v = (…, t, t, …, t)` with `n` copies and `v*` with `n + 1`. If positional
# information decays with distance, the final representations of the last token become **arbitrarily
# close** as `n` grows: the model cannot tell the two apart — it cannot count. In bf16 this happens at a
# finite `n`, once the difference falls below the format's precision (the paper reports Gemma 7B near
# machine precision after about 50 repeated digits). The 2025 paper adds that rank collapse implies
# representational collapse (we have not checked the exact statement).
#
# **One layer, derived.** Take a prefix of `p` tokens with sum `S`, then `n` copies of `t`, and one causal
# uniform attention layer with no positions. The last token's output is the mean, `o_n = (S + n t)/(p + n)`,
# so
#
# $$o_{n+1} - o_n = ? \quad\Longrightarrow\quad \lVert o_{n+1} - o_n \rVert = O(1/n^2).$$
#
# ### Exercise 5.5 – Derive the gap between n and n + 1 copies
#
# > Difficulty: 🔴🔴⚪⚪⚪ · Importance: 🔵🔵🔵⚪⚪ · ≈ 8 minutes
#
# Subtract `o_n = (S + n t)/(p + n)` from `o_{n+1}` over a common denominator and return the vector
# `o_{n+1} − o_n`, shape `[D]`, for `prefix` `[p, D]`, the repeated token `repeated` `[D]` and `n_copies`.

# %%
def repeat_gap(prefix: torch.Tensor, repeated: torch.Tensor, n_copies: int) -> torch.Tensor:
    """o_{n+1} − o_n for one uniform causal layer on prefix + n_copies × repeated: [D]."""
    ### BEGIN SOLUTION
    p, prefix_sum = prefix.shape[0], prefix.sum(0)
    # (S + (n+1)t)(p+n) − (S + nt)(p+n+1) = p·t − S
    return (p * repeated - prefix_sum) / ((p + n_copies) * (p + n_copies + 1))
    ### END SOLUTION


from sinklab.checks import check_repeat_gap

check_repeat_gap(repeat_gap)

# %% [markdown]
# <details><summary>Hint (the idea)</summary>
#
# The numerator `(S + (n+1)t)(p+n) − (S + nt)(p+n+1)` simplifies: the `S·n`, `n·t·p` and `n²t` terms cancel.
# </details>
#
# <details><summary>Hint (the code)</summary>
#
# `p, S = prefix.shape[0], prefix.sum(0)`; return `(p * repeated - S) / ((p + n_copies) * (p + n_copies + 1))`.
# </details>
#
# <details><summary>What you should see</summary>
#
# `✅ repeat_gap: correct.` If not, the check names the mistake: the sign flipped (`o_n − o_{n+1}`), a
# squared denominator `(p + n)²`, `n` in place of `p + n`, or the norm instead of the vector. Below, your
# formula matches the simulated layer in float64.
# </details>

# %%
prefix_tokens, repeated = theory.toy_tokens(4, d_model, seed=2), theory.toy_tokens(1, d_model, seed=3)[0]


def last_output(n_copies: int, dtype=torch.float32) -> torch.Tensor:
    """The last token's output of one uniform causal attention layer on prefix + n_copies × repeated."""
    sequence = torch.cat([prefix_tokens, repeated.expand(n_copies, d_model)]).to(dtype)
    return (theory.uniform_attention(len(sequence)).to(dtype) @ sequence)[-1]


for n_copies in (1, 10, 100, 1000):
    gap = (last_output(n_copies + 1, torch.float64) - last_output(n_copies, torch.float64)).norm()
    derived = repeat_gap(prefix_tokens.double(), repeated.double(), n_copies).norm()
    torch.testing.assert_close(gap, derived)  # float64: the subtraction of two close outputs stays exact enough
    print(f"n = {n_copies:>4}: ‖o_(n+1) − o_n‖ = {gap:.2e} (derived {derived:.2e})")
bf16_equal = next(k for k in range(1, 4096) if torch.equal(last_output(k + 1, torch.bfloat16), last_output(k, torch.bfloat16)))
assert (last_output(bf16_equal + 1) - last_output(bf16_equal)).norm() > 0, "fp32 still tells them apart"
print(f"in bf16 the two outputs are first bit-for-bit identical at n = {bf16_equal}; in fp32 they still differ there")

# %% [markdown]
# bf16 keeps 8 significant bits (a relative spacing of 2⁻⁸ ≈ 0.4 %), fp32 keeps 24. Now the real model:
# a short prefix, then a run of `n` copies of the token `1`, against the same with `n + 1` copies. We compare
# the last token's residual stream after every block, relative to its size, with the model in fp32 and in
# a bf16 copy (bf16 runs on CPUs too). The bf16 **rounding floor** is how much bf16 changes the
# representation of one and the same input: below it, bf16 cannot resolve a difference reliably.

# %%
import copy

bf16_model = copy.deepcopy(model).to(torch.bfloat16)
count_prefix = tokenizer("Count the ones: ")["input_ids"]
one = tokenizer("1", add_special_tokens=False)["input_ids"][-1]
longest = min(profile.long_context, getattr(config, "max_position_embeddings", profile.long_context)) - len(count_prefix) - 1
run_lengths = [2**k for k in range(12) if 2**k <= longest]


def last_token_streams(m, n_copies: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The last token's residual stream [L+1, D] for n_copies and n_copies + 1 copies of `one`."""
    return tuple(theory.residual_stream(m, count_prefix + [one] * k)[:, -1] for k in (n_copies, n_copies + 1))


collapse = {"fp32": [], "bf16": [], "bf16 rounding floor": []}
for n_copies in run_lengths:
    (a32, b32), (a16, b16) = last_token_streams(model, n_copies), last_token_streams(bf16_model, n_copies)
    collapse["fp32"].append(theory.relative_change(a32, b32)[-1].item())
    collapse["bf16"].append(theory.relative_change(a16, b16)[-1].item())
    collapse["bf16 rounding floor"].append(theory.relative_change(a32, a16)[-1].item())
collapse_table = pd.DataFrame(collapse, index=pd.Index(run_lengths, name="n copies"))
print(f"{model_name}: relative distance of the last token after the last block, n vs n + 1 copies")
collapse_table.map("{:.2e}".format)

# %%
plots.lines({name: [math.log10(max(v, 1e-9)) for v in values] for name, values in collapse.items()},
            x_title="log₂ n (n copies vs n + 1)", y_title="log₁₀ relative distance",
            title=f"{model_name}: representational collapse of the last token")

# %%
fp32, floor = collapse["fp32"], collapse["bf16 rounding floor"]
print(f"{model_name}: the fp32 distance falls from {fp32[0]:.3f} (n = 1) to {fp32[-1]:.4f} (n = {run_lengths[-1]}), "
      f"{fp32[-1] / floor[-1]:.1f}× the bf16 rounding floor ({floor[-1]:.4f}); bf16's relative spacing is 2⁻⁸ = {2**-8:.4f}")
if checked_model:
    assert fp32[-1] < 0.25 * fp32[0], "the longer the run, the closer the two last-token representations"
    assert fp32[-1] < 10 * floor[-1], "at the longest run the difference is within 10× of bf16's rounding noise"

# %% [markdown]
# *Interpret it:* read the fp32 curve against the bf16 rounding floor. Where would bf16 stop telling `n`
# from `n + 1`, and why do large LLMs hit that point at run lengths where a small model does not?
#
# <details><summary>Answer</summary>Once the fp32 distance drops to the floor, bf16's rounding noise is as
# large as the signal, and soon after (as in the toy) the two bf16 representations coincide. Long contexts
# are what make the run long, and deep models with many heads mix more per token: that is why Barbero et
# al. see it in Gemma 7B after tens of digits. Our model's context is short, so we may only see the
# approach.</details>

# %% [markdown] tags=["optional"]
# ## 4️⃣ Sinks as approximate no-ops
#
# > **Learning objectives**
# > - Measure the norm of what each head writes into the residual stream, query by query
# > - Compare it with how much attention that query puts on the first token, and with the first token's value norm
# > - Explain why a head that attends to a low-value first token leaves the residual stream (almost) unchanged
#
# In the toy model the sink's value is exactly zero, so a head's write is scaled by exactly `1 − s`. In a
# real model, the first token's value is small but not zero (Gu et al., 2025, measure small first-token
# value norms in LLaMA, Mistral, GPT-2 and Pythia). `theory.head_update_norms` pushes each head's slice of
# the attention output through the output projection and returns the norm of its write, `[L, H, T]`;
# `measure.measure` gives each query's attention on the first token and the first token's value norm.
#
# First the toy identity, for every query at once: with a zero-value sink of mass `s`, a head's write is
# exactly `(1 − s)` times what it would write without the sink.

# %%
queries, attn = theory.toy_tokens(6, d_model), theory.random_attention(6)
for sink in (0.5, 0.9, 0.99):
    write = theory.layer_update(queries, attn, None, residual=False, sink=sink)  # the head's write, no residual
    torch.testing.assert_close(write.norm(dim=-1), (1 - sink) * (attn @ queries).norm(dim=-1))
print("zero-value sink: write norm = (1 − s) × the write without a sink, for every query")

# %%
no_op_prompts = [tokenizer(text)["input_ids"][: 2 * profile.seq_len] for text in prompts.NATURAL[:4]]
skip = 8  # queries 0…7 see at most 8 keys: their first-token mass is large for that reason alone; leave them out
writes, masses, value_ratios, importances = [], [], [], []
for ids in no_op_prompts:
    report = measure.measure(model, torch.tensor([ids], device=model.device))
    writes.append(theory.head_update_norms(model, ids)[..., skip:])  # [L, H, queries]
    masses.append(report.first_mass[0, ..., skip:])  # [L, H, queries]: attention on the first token
    value_ratios.append((report.value_norm_first / report.value_norm_rest)[0])  # [L, Hkv]: ‖v_first‖ / mean ‖v_other‖
    importances.append(report.importance[0])
writes, masses = torch.cat(writes, -1), torch.cat(masses, -1)
value_ratio = torch.stack(value_ratios).mean(0).repeat_interleave(n_heads // value_ratios[0].shape[-1], dim=-1)  # [L, H]
importance = torch.stack(importances).mean(0)
heads = pd.DataFrame([
    {"head": f"L{layer}H{head}", "first-token mass α₀": importance[layer, head].item(),
     "mean write norm": writes[layer, head].mean().item(), "‖v_first‖ / ‖v_other‖": value_ratio[layer, head].item(),
     # over all queries of all prompts: do the queries that put more attention on the first token write less?
     "rank correlation (mass, write)": theory.rank_correlation(masses[layer, head], writes[layer, head])}
    for layer in range(n_layers) for head in range(n_heads)
])
no_op_share = (heads["rank correlation (mass, write)"] < 0).mean()
small_value_share = (heads["‖v_first‖ / ‖v_other‖"] < 1).mean()
print(f"{model_name}, {len(no_op_prompts)} prompts: {no_op_share:.0%} of heads write less where they attend more "
      f"to the first token; the first token's value norm is below the others' in {small_value_share:.0%} of heads")
heads.round(3)

# %%
plots.bars(dict(zip(heads["head"], heads["rank correlation (mass, write)"])),
           x_title="rank correlation over queries: first-token mass vs write norm",
           title=f"{model_name}: do heads write less when they attend to the first token?")

# %%
if checked_model:
    assert no_op_share > 0.5, "most heads write less where they attend more to the first token"
    assert small_value_share > 0.5, "most heads see a first-token value smaller than the others'"
top = heads.loc[heads["first-token mass α₀"].idxmax()]
print(f"{model_name}: strongest sink head {top['head']} (α₀ = {top['first-token mass α₀']:.2f}): rank correlation "
      f"{top['rank correlation (mass, write)']:+.2f}, ‖v_first‖ / ‖v_other‖ = {top['‖v_first‖ / ‖v_other‖']:.2f}")

# %% [markdown]
# *Interpret it:* a negative bar means that, within that head, the queries that put more attention on the
# first token write less into the residual stream. Why is that exactly what a sink is for? And what does
# the strongest sink head's line above say about how complete the no-op is in this model?
#
# <details><summary>Answer</summary>The head's write is Σ_j p_j v_j W_O. Weight on a low-value first token
# contributes little, so the more a query "parks" there, the closer the head is to a no-op for that query:
# the head can switch itself off per token, which is how it avoids mixing when it has nothing to do (the
# apostrophe head of Barbero et al., 2025, copies after an apostrophe and parks on ⟨bos⟩ otherwise). The
# no-op is only as good as the first token's value is small: a ratio of one half makes a parked head
# quieter, not silent, and a head that is parked almost everywhere then writes mostly p₀·v₀W_O. Real LLMs
# are reported to drive first-token values much closer to zero (Gu et al., 2025; the "value-state drain"
# of Guo et al., 2024); a 1M-parameter model need not.</details>

# %% [markdown] tags=["core"]
# ## 5️⃣ The perturbation-spread experiment: with and without BOS
#
# > **Learning objectives**
# > - Perturb one word of a prompt without changing the number of tokens
# > - Measure the change of every token's representation across layers and positions, with and without BOS
# > - Compare how far the change spreads, and how smooth the attention becomes, when BOS is removed
#
# Barbero et al. (2025, Figs. 2–3) swap one word of a prompt for another with the same token count
# ("greatest" → "best") in Gemma 7B, and compare the representations of the two prompts. With ⟨bos⟩ the
# change stays local; **without ⟨bos⟩ it spreads further** across layers and positions, and several heads'
# attention becomes smoother. Their reading: the sink slows mixing, so a model trained with ⟨bos⟩ is more
# robust to perturbations when ⟨bos⟩ is there. (Their exact prompt and normalisation are not known to us.)
# We do the same on several prompts, measuring the relative change ‖h − h'‖ / ‖h‖ of every position after
# the swapped word.

# %%
import pandas as pd  # noqa: F811 — imported again so that a workshop can run this section right after loading the model

from sinklab import prompts

SWAPS = [(0, " warm", " cold"), (1, " four", " five"), (2, " salt", " milk"), (3, " small", " large")]
trained_with_bos = tokenizer("a")["input_ids"][0] == tokenizer.bos_token_id  # its tokenizer prepends BOS (chapter 2)


def swapped_pair(text: str, old: str, new: str, bos: bool) -> tuple[list[int], list[int], int]:
    """Token ids of `text` and of `text` with the first `old` replaced by `new`, with or without BOS in
    front, and the first position after the swapped word. The swap must keep the number of tokens."""
    def encode(t: str) -> list[int]:
        ids = tokenizer(t, add_special_tokens=False)["input_ids"][: profile.long_context - 1]
        return [tokenizer.bos_token_id, *ids] if bos else ids

    a, b = encode(text), encode(text.replace(old, new, 1))
    differ = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
    if len(a) != len(b) or not differ:
        raise ValueError(f"{model_name}'s tokenizer splits {old!r} and {new!r} differently")
    return a, b, differ[-1] + 1


spread, by_distance, entropy, sink_mass = {}, {}, {}, {}
for bos in (True, False) if tokenizer.bos_token_id is not None else (False,):
    changes, last_block, entropies, masses = [], [], [], []
    for prompt, old, new in SWAPS:
        a, b, after = swapped_pair(prompts.NATURAL[prompt], old, new, bos)
        change = theory.relative_change(theory.residual_stream(model, a), theory.residual_stream(model, b))  # [L+1, T]
        changes.append(change[:, after:].mean(-1))  # mean over the positions after the word, per layer
        last_block.append(change[-1, after:])  # after the last block, by distance from the word
        stats = measure.measure(model, torch.tensor([a], device=model.device), stats=("first", "entropy"))
        entropies.append(stats.entropy[0].mean((-2, -1)))  # per layer: mean over heads and queries, nats
        masses.append(stats.importance[0].mean(-1))  # per layer: mean over heads of α₀
    name = "with BOS" if bos else "without BOS"
    spread[name], entropy[name], sink_mass[name] = (torch.stack(v).mean(0) for v in (changes, entropies, masses))
    shortest = min(len(c) for c in last_block)
    by_distance[name] = torch.stack([c[:shortest] for c in last_block]).mean(0)
spread_table = pd.DataFrame({
    **{f"change after the word, {k}": v[1:].tolist() for k, v in spread.items()},
    **{f"attention entropy, {k}": v.tolist() for k, v in entropy.items()},
    **{f"first-token mass, {k}": v.tolist() for k, v in sink_mass.items()},
}, index=pd.Index(range(1, n_layers + 1), name="block"))
print(f"{model_name} (tokenizer prepends BOS: {trained_with_bos}), {len(SWAPS)} prompts with one swapped word each")
spread_table.round(3)

# %%
plots.lines({k: v.tolist() for k, v in spread.items()}, x_title="layer (0 = embeddings)",
            y_title="mean relative change after the word", title=f"{model_name}: the change, layer by layer")

# %%
plots.lines({k: v[: profile.seq_len].log10().tolist() for k, v in by_distance.items()}, x_title="tokens after the swapped word",
            y_title="log₁₀ relative change, last block", title=f"{model_name}: the change, position by position")

# %%
if trained_with_bos:
    last_with, last_without = spread["with BOS"][-1].item(), spread["without BOS"][-1].item()
    print(f"{model_name}, after the last block: change after the swapped word {last_with:.4f} with BOS, "
          f"{last_without:.4f} without; mean attention entropy {entropy['with BOS'].mean():.3f} vs "
          f"{entropy['without BOS'].mean():.3f} nats; first-token mass {sink_mass['with BOS'].mean():.3f} vs "
          f"{sink_mass['without BOS'].mean():.3f}")
    if checked_model:
        assert sink_mass["without BOS"].mean() < sink_mass["with BOS"].mean(), "without BOS the sink weakens"
        # Barbero et al.'s prediction for the later tokens is measured, not asserted: on the previous teaching
        # model the change without BOS was larger; on the current one the two are within 2 % of each other.
        print(f"without BOS the swapped word changes the later tokens {'more' if last_without > last_with else 'not more'}"
              f" ({last_without / last_with:.2f}× the change with BOS)")
        assert entropy["without BOS"].mean() > entropy["with BOS"].mean(), "without BOS attention is smoother"
else:
    print(f"{model_name} was not trained with a BOS token: Barbero et al.'s prediction is about models that were")

# %% [markdown]
# ### Rank collapse in the real LM, with and without BOS
#
# Section 1 measured rank collapse on toys only. Here is the real LM: the distance to rank one of its
# residual stream, `d(h^l)`, block by block, over the same text tokens with BOS in front and without. The
# BOS position itself is left out of `d` (its state is often far larger than the others', chapter 3's
# massive activations, and would dominate `‖X‖_F`), so both rows measure the same tokens.

# %%
collapse_by_bos = {}
for bos in (True, False) if tokenizer.bos_token_id is not None else (False,):
    distances = []
    for text in prompts.NATURAL[:4]:
        text_ids = tokenizer(text, add_special_tokens=False)["input_ids"][: profile.seq_len]
        stream = theory.residual_stream(model, [tokenizer.bos_token_id, *text_ids] if bos else text_ids).float()
        distances.append(rank_one_distance(stream[:, 1:] if bos else stream))  # [L+1]: the text tokens only
    collapse_by_bos["with BOS" if bos else "without BOS"] = torch.stack(distances).mean(0)
rank_table = pd.DataFrame({k: v.tolist() for k, v in collapse_by_bos.items()},
                          index=pd.Index(range(n_layers + 1), name="block (0 = embeddings)"))
assert all(((0 <= d) & (d <= 1)).all() for d in collapse_by_bos.values()), "d is a ratio of norms in [0, 1]"
for name, d in collapse_by_bos.items():
    print(f"{model_name}, {name}: distance to rank one {d[0]:.3f} (embeddings) → {d[-1]:.3f} (last block), "
          f"smallest {d.min():.3f} after block {d.argmin().item()}")
if checked_model and trained_with_bos:
    assert collapse_by_bos["without BOS"][-1] < collapse_by_bos["with BOS"][-1], "without BOS the tokens end more alike"
rank_table.round(3)

# %% [markdown]
# *Interpret it:* does the real LM collapse like the toy stacks? Does removing BOS make the text tokens more
# alike (a smaller `d`), as more mixing would? Keep in mind what the toy left out: MLPs and LayerNorms
# counteract collapse (Dong et al., 2021), and the numbers come from one small model and four prompts.
#
# <details><summary>Answer</summary>Read the printed numbers, not a rule: a trained LM does not drive `d`
# towards zero the way a pure attention stack does, because its residual stream and MLPs keep the tokens
# apart. A smaller `d` without BOS than with it, at the later blocks, is the direction the over-mixing
# argument predicts; a gap of a few hundredths on one small model is a hint, not evidence, and the removal
# also takes the input out of distribution (next question).</details>

# %% [markdown]
# *Interpret it:* removing BOS does two things at once to a model trained with it: the sink loses its
# token, and the input leaves the training distribution. Which of the two do the measurements speak to?
#
# <details><summary>Answer</summary>The first-token mass and the attention entropy show the sink part
# directly: without BOS the heads cannot park, attention spreads (higher entropy), and every position mixes
# more of the changed word in. The distribution shift is not separated here; Barbero et al. (2025) note the
# same caveat for their BOS-removal results.</details>

# %% [markdown] tags=["optional"]
# ## Interactive demo – Vary depth, context length and sink strength
#
# The toy stack of sections 1–2 (residual stream on), with a zero-value sink that takes a share of every
# query's attention. Left: the distance to rank one after each layer. Right: how much the last token
# depends on each source token (solid) and the path-product bound (dashed), on a log scale.
#
# 1. With no sink, raise the depth from 1 to 12. How does the distance to rank one fall, and which source
#    token does the last token depend on most?
# 2. Set the sink mass to 0.9. How much does the sensitivity to the context drop after 1 layer, and after
#    12? Compare with the table of section 2.
# 3. Lengthen the context from 8 to 64 at depth 6. Does the sensitivity to any one token rise or fall?
#    And to the context as a whole (the readout)?
# 4. Where is the bound tight, and where is it loose?
#
# In a live notebook you get sliders. In CI, in stored notebooks and under the `ci` profile you get a
# static chart for sink masses 0, 0.5 and 0.9 (`over_mixing_explorer(interactive=True)` forces the sliders).

# %%
from sinklab.viz.widgets import compute_over_mixing, over_mixing_explorer

over_mixing_explorer()

# %%
shallow, deep = compute_over_mixing(1, 32, 0.0), compute_over_mixing(12, 32, 0.0)
deep_sink = compute_over_mixing(12, 32, 0.9)
assert deep.mixing > shallow.mixing > deep_sink.mixing
assert deep.rank_one[-1] < shallow.rank_one[-1] < deep_sink.rank_one[-1]
print(f"share of the last token's sensitivity from the other tokens: depth 1 {shallow.mixing:.2f}, depth 12 "
      f"{deep.mixing:.2f}, depth 12 with a 0.9 sink {deep_sink.mixing:.2f}")

# %% [markdown] tags=["core"]
# ## Summary
#
# - Pure attention averages tokens; stacks of it collapse to rank one, and under the causal mask onto the
#   **first token**. A head that copies the first token's value into everyone mixes the most.
# - A residual stream plus a sink with a **near-zero value** turns attention into an approximate no-op:
#   for uniform attention the residual `R` never shrinks and the mean grows as `(2 − s)^L`, so `d` falls at
#   rate `1/(2 − s)` instead of in one layer; in the toy model a stronger sink slows it (s = 0, 0.5, 0.9).
# - Over-squashing: `‖∂h_n/∂x_i‖` is bounded by sums over causal paths of products of attention weights
#   (Barbero et al., 2024); we proved the linear case and checked it numerically. Every row of `P_L` sums to
#   `2^L` for any context length, so the bound grows with depth, and with length only through its
#   self-term. A zero-value sink key inside the softmax cuts the sensitivity; with a fixed score its share
#   falls as the context grows.
# - Representational collapse: one more copy of a repeated token changes the last representation by
#   `O(1/n²)` in one uniform layer; in bf16 the two become identical at a finite `n`.
# - In the real LM we measured the same quantities and report them with the model's name; the claims
#   about large LLMs (Gemma 7B, Llama 3.1) are the papers', not ours.

# %% [markdown] tags=["core"]
# ## Check your understanding
#
# **1. Why does a causal stack of pure attention collapse onto the first token rather than onto the mean?**
#
# <details><summary>(a) Query 0 sees only itself, so x₀ never changes, and every other token keeps averaging it in</summary>✅
# Position 0 is a fixed point of every causal layer; the others are pulled towards it.</details>
# <details><summary>(b) The first token has the largest norm</summary>❌ The toy tokens all have norm ≈ 1;
# the mask alone does it.</details>
# <details><summary>(c) Softmax favours position 0</summary>❌ The uniform and random matrices give it no
# special score, and the collapse still goes there.</details>
#
# **2. Without a residual stream, a sink whose value is exactly zero…**
#
# <details><summary>(a) slows rank collapse</summary>❌ It scales every output row by (1 − s); the
# distance to rank one is scale-free, so nothing changes.</details>
# <details><summary>(b) changes nothing about rank collapse</summary>✅ The sink needs the residual
# stream: only next to the token's own copy does a smaller update mean less mixing.</details>
# <details><summary>(c) stops it</summary>❌ That is s = 1 <em>with</em> a residual stream.</details>
#
# **3. In the linear case, what does the δ in ᾱ = α + δ stand for?**
#
# <details><summary>(a) the residual connection: a path may stay on the same token through a layer</summary>✅
# That is the identity in (A + I).</details>
# <details><summary>(b) a LayerNorm constant</summary>❌ Those are the β's, inside C.</details>
# <details><summary>(c) the softmax temperature</summary>❌ The bound takes attention weights as given.</details>
#
# **4. You compute `layers_fn(x)[:, n].sum().backward()` and take `x.grad.norm(dim=-1)`. What did you get?**
#
# <details><summary>(a) the Jacobian norm map</summary>❌ You differentiated one scalar, the sum of the
# features: that is the sum of the Jacobian's rows, which can cancel.</details>
# <details><summary>(b) a vector-Jacobian product with a vector of ones, ‖1ᵀJ‖</summary>✅ Not the map, and
# not even a bound on it: ‖1ᵀJ‖ can exceed ‖J‖_F (for the all-ones 4 × 3 J, 6.93 vs 3.46). What holds is
# ‖1ᵀJ‖/√D′ ≤ ‖J‖₂ ≤ ‖J‖_F, D′ the number of output features. The map needs every output feature (e.g.
# `torch.autograd.functional.jacobian`).</details>
#
# **5. A head puts 95 % of its attention on ⟨bos⟩, whose value has a large norm. Is it a no-op?**
#
# <details><summary>(a) Yes, it attends to the sink</summary>❌ It writes ≈ 0.95·v_bos W_O, a large constant
# vector.</details>
# <details><summary>(b) No: a sink is a no-op only when its value is small</summary>✅ That is why real
# models learn small first-token value norms (section 4).</details>
#
# **6. Removing ⟨bos⟩ from a model trained with it makes a perturbation spread further. What else changed?**
#
# <details><summary>(a) nothing: it isolates the sink's effect</summary>❌ The input also left the training
# distribution; Barbero et al. (2025) name this caveat.</details>
# <details><summary>(b) the input is out of distribution too</summary>✅ Both effects act at once; the
# entropy and first-token mass show the sink part.</details>

# %% [markdown] tags=["core"]
# ## Further reading
#
# - Barbero, Arroyo, Gu, Perivolaropoulos, Bronstein, Veličković & Pascanu (2025), *Why do LLMs attend to
#   the first token?* (COLM 2025) — the over-mixing argument, the ⟨bos⟩ perturbation experiment, sinks and
#   context length, Llama 3.1 across scales.
# - Barbero et al. (2024), *Transformers need glasses! Information over-squashing in language tasks*
#   (NeurIPS 2024) — representational collapse (Theorem 4.2) and the path-product bound (Theorem 5.1).
# - Dong, Cordonnier & Loukas (2021), *Attention is not all you need: pure attention loses rank doubly
#   exponentially with depth* (ICML 2021) — rank collapse and what skip connections and MLPs do.
# - Clark, Khandelwal, Levy & Manning (2019), *What does BERT look at?* — attention on [SEP] as a no-op.
# - Gu et al. (2025), *When attention sink emerges in language models* — small first-token value norms.
# - Guo et al. (2024), *Active-dormant attention heads* — the "value-state drain" of heads that park on the
#   first token.
