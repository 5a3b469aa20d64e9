"""Over-mixing theory, made runnable (chapter 5): rank collapse, over-squashing, representational collapse.

Barbero et al. (2025), "Why do LLMs attend to the first token?", argue that attention sinks slow down
the mixing of information between tokens. They look at it through three lenses, each a function here:

- rank collapse (Dong, Cordonnier & Loukas 2021): `rank_one_distance`, `attention_stack`, `ToyStack`;
- over-squashing (Barbero et al. 2024, Theorem 5.1; many heads in Barbero et al. 2025):
  `jacobian_norm_map` and `path_products`, the bound built from products of attention weights;
- representational collapse (Barbero et al. 2024, Theorem 4.2): `residual_stream`, `relative_change`;

plus `head_update_norms`, the size of each head's write to the residual stream (the approximate no-op),
and `rank_correlation` to compare two such measurements.

The toy model is attention-only and causal. A layer maps tokens x [T, D] to

    x  <-  x + (1 - sink) · A x W_V        (residual=True; without it: (1 - sink) · A x W_V)

where A [T, T] is a causal attention matrix (rows sum to one) and a fraction `sink` of every query's
attention goes to a **sink slot whose value is zero**, like a <bos> token with a near-zero value.
With A fixed the map is linear in x; `ToyStack` recomputes A from x in every layer, as a transformer does.

A fixed share is a teaching device, not a mechanism. `ToyStack.run(x, sink_logit=b)` is the mechanism:
a **zero-value sink key inside the softmax**, with score b for every query, so each query's share
exp(b) / (exp(b) + Σ_j exp(s_ij)) depends on its own scores (`sink_key_attention`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from sinklab.analysis import scratch_attention as attention
from sinklab.errors import SinklabError

# ---------------------------------------------------------------- rank collapse (Dong et al. 2021)


def rank_one_distance(x: torch.Tensor) -> torch.Tensor:
    """How far tokens x [..., T, D] are from all being equal: ‖X − 1 x̄ᵀ‖_F / ‖X‖_F, shape [...].

    Dong, Cordonnier & Loukas (2021) measure rank collapse by the residual X − 1xᵀ to the closest
    matrix whose rows are all the same vector x; in the Frobenius norm that x is the mean token x̄.
    0 means rank one (every token the same vector); it is scale-free. Defined in chapter 5, Exercise 5.1.
    """
    residual = x - x.mean(dim=-2, keepdim=True)
    return residual.norm(dim=(-2, -1)) / x.norm(dim=(-2, -1))


def uniform_attention(n_tokens: int, causal: bool = True) -> torch.Tensor:
    """Every query spreads its attention evenly over the keys it sees: [T, T]."""
    visible = attention.causal_mask(n_tokens) if causal else torch.ones(n_tokens, n_tokens, dtype=torch.bool)
    return visible.float() / visible.sum(-1, keepdim=True)


def random_attention(n_tokens: int, scale: float = 1.0, causal: bool = True, seed: int = 0) -> torch.Tensor:
    """softmax(scale · Gaussian scores), causally masked: a generic attention matrix [T, T]."""
    generator = torch.Generator().manual_seed(seed)
    scores = scale * torch.randn(n_tokens, n_tokens, generator=generator)
    if causal:
        scores = scores.masked_fill(~attention.causal_mask(n_tokens), float("-inf"))
    return torch.softmax(scores, dim=-1)


def first_token_attention(attn: torch.Tensor, mass: float) -> torch.Tensor:
    """`attn` [..., T, T] with a share `mass` of every row moved onto key 0 (the first token itself)."""
    onto_first = torch.zeros_like(attn)
    onto_first[..., 0] = 1.0
    return (1 - mass) * attn + mass * onto_first


def sink_key_attention(scores: torch.Tensor, sink_logit: float, causal: bool = True) -> torch.Tensor:
    """Softmax over the real keys plus one extra **zero-value sink key** with score `sink_logit`: [..., T, T].

    scores [..., T, T] are query-key logits. The returned weights cover the real keys only, so row i sums
    to 1 − share_i, share_i = exp(b) / (exp(b) + Σ_j exp(s_ij)) being what the sink key took: a query with
    large scores elsewhere gives the sink little, one with small scores gives it much (the share varies
    per query, as in a trained sink head). The sink's value is zero, so its weight adds nothing.
    """
    if causal:
        scores = scores.masked_fill(~attention.causal_mask(scores.shape[-1]), float("-inf"))
    sink_column = torch.full_like(scores[..., :1], float(sink_logit))
    return torch.softmax(torch.cat([sink_column, scores], dim=-1), dim=-1)[..., 1:]


def layer_update(
    x: torch.Tensor, attn: torch.Tensor, w_v: torch.Tensor | None, residual: bool, sink: float
) -> torch.Tensor:
    """One attention-only layer: [x +] (1 − sink) · attn @ x @ w_v (w_v None: the identity). x: [..., T, D]."""
    mixed = attn @ x if w_v is None else attn @ x @ w_v
    update = (1 - sink) * mixed  # the sink slot takes `sink` of the attention and adds a zero value
    return x + update if residual else update


def attention_stack(
    x: torch.Tensor,
    attns: Sequence[torch.Tensor] | torch.Tensor,
    residual: bool = False,
    sink: float = 0.0,
    w_v: Sequence[torch.Tensor] | None = None,
) -> torch.Tensor:
    """Run fixed attention matrices attns[l] [T, T] as layers over x [T, D]; returns [L+1, T, D] (x first).

    With fixed attention the whole stack is a linear map of x: the setting where the path-product
    bound (`path_products`) is a theorem.
    """
    hidden = [x]
    for layer, attn in enumerate(attns):
        hidden.append(layer_update(hidden[-1], attn, None if w_v is None else w_v[layer], residual, sink))
    return torch.stack(hidden)


@dataclass(frozen=True)
class ToyStack:
    """An attention-only causal transformer: one head per layer, attention computed from the tokens.

    w_q, w_k: [L, D, d] query/key projections; w_v: [L, D, D] random orthogonal value maps (‖W_V‖₂ = 1,
    as the bound of `path_products` assumes). No positions, no MLP, no normalisation.
    """

    w_q: torch.Tensor
    w_k: torch.Tensor
    w_v: torch.Tensor

    def run(
        self, x: torch.Tensor, sink: float = 0.0, residual: bool = True, sink_logit: float | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens x [T, D] -> (hidden states [L+1, T, D], attention matrices [L, T, T]).

        sink: a fixed share of every query's attention sent to a zero-value slot (outside the softmax).
        sink_logit: instead, a zero-value sink key with this score inside the softmax; the returned
        attention then covers the real keys only (rows sum to 1 − each query's sink share).
        """
        if sink_logit is not None and sink:
            raise SinklabError("ToyStack.run: pass either sink (a fixed share) or sink_logit (a sink key), not both.")
        hidden, attns = [x], []
        for w_q, w_k, w_v in zip(self.w_q, self.w_k, self.w_v):
            current = hidden[-1]
            if sink_logit is None:
                attns.append(attention.attention_weights(current @ w_q, current @ w_k, causal=True))
            else:
                scores = (current @ w_q) @ (current @ w_k).T / w_q.shape[-1] ** 0.5
                attns.append(sink_key_attention(scores, sink_logit))
            hidden.append(layer_update(current, attns[-1], w_v, residual, sink))
        return torch.stack(hidden), torch.stack(attns)


def toy_stack(n_layers: int, d_model: int = 16, qk_scale: float = 1.0, seed: int = 0) -> ToyStack:
    """A random `ToyStack`; a larger `qk_scale` gives sharper attention. Layer l does not depend on n_layers."""
    generator = torch.Generator().manual_seed(seed)
    w_q, w_k, w_v = [], [], []
    for _ in range(n_layers):
        w_q.append(qk_scale * torch.randn(d_model, d_model, generator=generator) / d_model**0.5)
        w_k.append(qk_scale * torch.randn(d_model, d_model, generator=generator) / d_model**0.5)
        w_v.append(torch.linalg.qr(torch.randn(d_model, d_model, generator=generator)).Q)  # orthogonal
    return ToyStack(torch.stack(w_q), torch.stack(w_k), torch.stack(w_v))


def toy_tokens(n_tokens: int, d_model: int = 16, seed: int = 1) -> torch.Tensor:
    """Random token vectors [T, D] of norm ≈ 1."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n_tokens, d_model, generator=generator) / d_model**0.5


# ---------------------------------------------------------------- over-squashing (Barbero et al. 2024, 2025)


def jacobian_norm_map(
    layers_fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, position: int
) -> torch.Tensor:
    """Sensitivity of position `position` to every input token, layer by layer: [L+1, T].

    layers_fn maps tokens x [T, D] to hidden states [L+1, T, D']. Entry [l, i] is the Frobenius norm
    ‖∂h^l_position / ∂x_i‖_F of a D' × D block of the Jacobian (Barbero et al. 2024, §5).
    Defined in chapter 5, Exercise 5.2.
    """
    jac = torch.autograd.functional.jacobian(lambda inputs: layers_fn(inputs)[:, position], x, vectorize=True)
    return jac.norm(dim=(1, 3))  # [L+1, D', T, D] -> [L+1, T]


def jacobian_norm_estimate(
    layers_fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, position: int, n_probes: int = 64, seed: int = 0
) -> torch.Tensor:
    """An unbiased estimate of `jacobian_norm_map`'s squared entries, square-rooted: [L+1, T].

    The exact map needs one backward pass per output feature and layer (D'·(L+1) of them). For a Gaussian
    vector v, E‖vᵀ ∂h/∂x_i‖² = ‖∂h/∂x_i‖_F², so `n_probes` random backward passes per layer estimate every
    entry at once (relative standard deviation of the squared norm ≈ √(2 / n_probes)). For large models.
    """
    if n_probes < 1:
        raise SinklabError(f"jacobian_norm_estimate: n_probes must be ≥ 1, got {n_probes}.")
    generator = torch.Generator().manual_seed(seed)
    inputs = x.detach().clone().requires_grad_()
    outputs = layers_fn(inputs)[:, position]  # [L+1, D']
    rows = []
    for layer in range(outputs.shape[0]):
        probes = torch.randn(n_probes, *outputs[layer].shape, generator=generator).to(outputs.dtype).to(outputs.device)
        (grads,) = torch.autograd.grad(
            outputs[layer], inputs, grad_outputs=probes, is_grads_batched=True, retain_graph=True, allow_unused=True
        )
        rows.append(torch.zeros(x.shape[0]) if grads is None else grads.pow(2).sum(-1).mean(0).sqrt().float().cpu())
    return torch.stack(rows)


def path_products(attns: torch.Tensor, residual: bool = True) -> torch.Tensor:
    """The path sums of the over-squashing bound, after every layer: [L+1, T, T].

    attns: [L, T, T], one (head-aggregated) attention matrix per layer. P_0 = I and
    P_l = (A_l + I) P_{l−1} with a residual stream (P_l = A_l P_{l−1} without). Entry P_l[n, i] sums, over
    every causal path i → k_1 → … → n through l layers, the product of the attention weights along it,
    a residual step counting as weight 1 (the δ of ᾱ = α + δ). Barbero et al. (2024, Theorem 5.1) bound
    ‖∂h_n/∂x_i‖ by a constant times this sum. For `attention_stack` with ‖W_V‖₂ ≤ 1 it is a theorem
    with constant ‖I_D‖_F = √D in the Frobenius norm. A zero-value sink of mass s: pass (1 − s)·attns.
    Defined in chapter 5, Exercise 5.3.
    """
    identity = torch.eye(attns.shape[-1], dtype=attns.dtype)
    products = [identity]
    for attn in attns:
        step = attn + identity if residual else attn
        products.append(step @ products[-1])
    return torch.stack(products)


# ---------------------------------------------------------------- real models: hidden states and head updates


def residual_stream(
    model, ids: Sequence[int] | torch.Tensor | None = None, inputs_embeds: torch.Tensor | None = None
) -> torch.Tensor:
    """The residual stream of one sequence: the input of block 0, then the output of every block, [L+1, T, D].

    Pass token `ids` [T] or `inputs_embeds` [T, D]; gradients flow back to `inputs_embeds` (for
    `jacobian_norm_map`). Unlike transformers' `hidden_states`, whose last entry has the final norm
    applied, every entry here is the raw residual stream, in the model's dtype.
    """
    from sinklab.measure import transformer_blocks

    blocks, states = transformer_blocks(model), []

    def keep_input(_module, args, kwargs):
        states.append(args[0] if args else kwargs["hidden_states"])

    def keep_output(_module, _args, output):
        states.append(output[0] if isinstance(output, tuple) else output)

    handles = [blocks[0].register_forward_pre_hook(keep_input, with_kwargs=True)]
    handles += [block.register_forward_hook(keep_output) for block in blocks]
    try:
        if inputs_embeds is not None:
            model(inputs_embeds=inputs_embeds[None])
        else:
            with torch.no_grad():
                model(torch.as_tensor(ids, device=model.device).view(1, -1))
    finally:
        for handle in handles:
            handle.remove()
    return torch.stack(states)[:, 0]


def relative_change(h_a: torch.Tensor, h_b: torch.Tensor) -> torch.Tensor:
    """‖h_a − h_b‖ / ‖h_a‖ over the last axis, in float32: how far a representation moved. [..., D] -> [...]."""
    h_a, h_b = h_a.float(), h_b.float()
    return (h_a - h_b).norm(dim=-1) / h_a.norm(dim=-1)


OUTPUT_PROJECTIONS = ("o_proj", "c_proj", "dense", "out_proj")  # Llama/Qwen/Mistral/Gemma, GPT-2, GPT-NeoX, others


def head_update_norms(model, ids: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """Norm of what each head writes into the residual stream, per query: [L, H, T].

    Head h's write is its slice of the attention output pushed through the layer's output projection:
    out_proj(z with the other heads zeroed) − out_proj(0). A head that attends to a token with a
    near-zero value writes almost nothing: the approximate no-op (Barbero et al. 2025, §3.2).
    """
    from sinklab.measure import attention_modules

    n_heads = model.config.get_text_config().num_attention_heads
    projections = [_output_projection(module) for module in attention_modules(model)]
    inputs = []
    handles = [p.register_forward_pre_hook(lambda _module, args: inputs.append(args[0])) for p in projections]
    try:
        with torch.no_grad():
            model(torch.as_tensor(ids, device=model.device).view(1, -1))
            norms = []
            for projection, z in zip(projections, inputs):  # z: [1, T, H·d]
                one_head = torch.eye(n_heads, dtype=z.dtype, device=z.device).repeat_interleave(
                    z.shape[-1] // n_heads, -1
                )
                writes = projection(z * one_head[:, None, :]) - projection(torch.zeros_like(z))  # [H, T, D]
                norms.append(writes.float().norm(dim=-1))
    finally:
        for handle in handles:
            handle.remove()
    return torch.stack(norms).cpu()


def _output_projection(module: torch.nn.Module) -> torch.nn.Module:
    for name in OUTPUT_PROJECTIONS:
        if isinstance(getattr(module, name, None), torch.nn.Module):
            return getattr(module, name)
    raise SinklabError(
        f"{type(module).__name__} has none of the output projections {', '.join(OUTPUT_PROJECTIONS)}, so the "
        "per-head writes cannot be separated. Fix: use a Llama-, GPT-2- or GPT-NeoX-style model."
    )


def rank_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman's rank correlation of two 1-D tensors (no ties expected): do they order the entries alike?"""
    ranks_a, ranks_b = a.argsort().argsort().float(), b.argsort().argsort().float()
    return torch.corrcoef(torch.stack([ranks_a, ranks_b]))[0, 1].item()


# ---------------------------------------------------------------- closed forms derived in chapter 5


def uniform_residual_distance(x: torch.Tensor, sink: float, n_layers: int) -> torch.Tensor:
    """d(X_l) for l = 0 … n_layers under X <- X + (1 − s)·1 x̄ᵀ (bidirectional uniform attention): [L+1].

    The residual R = X − 1 x̄ᵀ never changes; only the mean token grows, x̄_l = (2 − s)^l x̄, and R ⟂ 1 x̄ᵀ, so
    d_l = ‖R‖_F / sqrt(‖R‖_F² + T (2 − s)^(2l) ‖x̄‖²). Defined in chapter 5, Exercise 5.4.
    """
    mean = x.mean(dim=-2)
    residual = (x - mean).norm()
    layers = torch.arange(n_layers + 1, dtype=x.dtype)
    return residual / (residual**2 + x.shape[-2] * (2 - sink) ** (2 * layers) * mean.norm() ** 2).sqrt()


def repeat_gap(prefix: torch.Tensor, repeated: torch.Tensor, n_copies: int) -> torch.Tensor:
    """o_{n+1} − o_n for one uniform causal layer on prefix [p, D] + n copies of `repeated` [D]: [D].

    o_n = (S + n t) / (p + n), so o_{n+1} − o_n = (p t − S) / ((p + n)(p + n + 1)), S the prefix sum.
    Defined in chapter 5, Exercise 5.5.
    """
    p = prefix.shape[0]
    return (p * repeated - prefix.sum(0)) / ((p + n_copies) * (p + n_copies + 1))
