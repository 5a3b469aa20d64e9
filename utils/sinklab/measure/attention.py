"""The attention function sinklab registers with transformers: the layer's output plus sink statistics.

transformers v5 picks every layer's attention function from ``AttentionInterface`` and the mask
builder from ``AttentionMaskInterface``, both keyed by ``config._attn_implementation``. sinklab
registers both under ``"sinklab"``:

- ``lazy_mask`` returns a `LazyMask`: the model's own mask rule (causal, sliding window, padding, ...)
  kept as a function and evaluated one block of queries at a time, never as a dense [B, 1, T, T].
  Without this entry transformers would silently pass ``attention_mask=None``: no causal mask.
- ``sinklab_attention`` receives post-RoPE queries/keys/values, the scaling, sliding window, softcap
  (Gemma 2) and learned sink logits ``s_aux`` (gpt-oss). It computes the output with a fused kernel
  that also returns each query's log-sum-exp (LSE), derives first-token mass from it (tier 1), and,
  on request, runs a query-chunked exact pass for top-k mass, entropy and attention received (tier 2).
  Statistics go to the collector of the forward call in progress, held in a `contextvars.ContextVar`
  (`collecting`), not in forward kwargs: decoder layers that drop ``**kwargs`` (StableLM, Nemotron)
  cannot lose it, and concurrent calls in other threads or tasks see their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import torch
from transformers import AttentionInterface, AttentionMaskInterface
from transformers.masking_utils import bidirectional_mask_function, causal_mask_function, prepare_padding_mask

from sinklab import _compat, metrics
from sinklab.errors import SinklabError

NAME = "sinklab"
TIER2_STATS = frozenset({"topk", "entropy", "received"})
_ACTIVE: ContextVar = ContextVar("sinklab_collector", default=None)  # the collector of the call in progress


def active_collector():
    """The collector of the forward call being measured in this context, or None outside a measurement."""
    return _ACTIVE.get()


@contextmanager
def collecting(collector) -> Iterator[None]:
    """Make ``collector`` the active one for the calls inside the block (restores the previous one)."""
    token = _ACTIVE.set(collector)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


@dataclass(frozen=True)
class Options:
    """What to measure. ``stats`` is a subset of {"first", "topk", "entropy", "received", "hidden"}."""

    stats: frozenset[str] = frozenset({"first"})
    topk: int = 4
    chunk_mb: float = 64.0  # size of one fp32 score block in the chunked passes
    exact: bool = False  # take the layer output from the model's own eager function
    patterns: dict[int, tuple[int, ...]] = field(default_factory=dict)  # layer -> heads to keep in full


@dataclass
class LayerStats:
    """Statistics of one attention layer in one forward call. B batch, H query heads, Hkv key/value heads,
    Tq queries of this call, Tk keys (cache included)."""

    first_mass: torch.Tensor  # [B, H, Tq]
    first_visible: torch.Tensor  # [B, Tq] bool: the query is real and can see the first token
    layer_type: str = "full_attention"  # or "sliding_attention", "bidirectional"
    window: int | None = None
    kernel: str = ""  # what produced the log-sum-exp: "cpu_flash", "cuda_efficient", "chunked", "eager_weights"
    learned_sink_mass: torch.Tensor | None = None  # [B, H, Tq]
    key_norms: tuple[torch.Tensor, torch.Tensor] | None = None  # (first, rest), each [B, Hkv]
    value_norms: tuple[torch.Tensor, torch.Tensor] | None = None
    topk_mass: torch.Tensor | None = None  # [B, H, Tq]
    entropy: torch.Tensor | None = None  # [B, H, Tq]
    received: torch.Tensor | None = None  # [B, H, Tk]
    pattern: torch.Tensor | None = None  # [B, len(heads), Tq, Tk]


@dataclass
class LazyMask:
    """The model's attention mask as a rule, evaluated per block of queries (see `AttentionMaskInterface`).

    ``mask_function(batch, head, q, kv) -> bool`` is transformers' index-based predicate (causal,
    sliding window, chunked, ...); ``padding`` is the 2D padding mask ``[B, kv_offset + Tk]`` or None.
    """

    mask_function: Callable
    padding: torch.Tensor | None
    batch_size: int
    q_length: int
    kv_length: int
    q_offset: int = 0
    kv_offset: int = 0

    def block(self, q_start: int, q_end: int, device: torch.device) -> torch.Tensor:
        """Visibility of all keys for queries ``q_start:q_end``: bool ``[B, 1, q_end - q_start, Tk]``."""
        batch = torch.arange(self.batch_size, device=device)[:, None, None, None]
        head = torch.zeros(1, dtype=torch.long, device=device)[None, :, None, None]
        queries = torch.arange(q_start, q_end, device=device)[None, None, :, None] + self.q_offset
        keys = torch.arange(self.kv_length, device=device)[None, None, None, :] + self.kv_offset
        visible = self.mask_function(batch, head, queries, keys)
        if self.padding is not None:
            visible = visible & self.padding.to(device)[batch, keys]
        return visible.expand(self.batch_size, 1, q_end - q_start, self.kv_length)

    def chunks(self, rows: int, device: torch.device) -> Iterator[tuple[int, int, int, int, torch.Tensor]]:
        """Yield ``(q_start, q_end, k_start, k_end, visible)`` per block of ``rows`` queries, keys trimmed to
        those any query of the block can see (causal trimming); ``visible`` is ``[B, 1, rows, k_end - k_start]``."""
        for q_start in range(0, self.q_length, rows):
            q_end = min(q_start + rows, self.q_length)
            visible = self.block(q_start, q_end, device)
            seen = visible.any(dim=(0, 1, 2)).nonzero()
            if len(seen) == 0:
                yield q_start, q_end, 0, 0, visible[..., :0]
                continue
            k_start, k_end = seen[0].item(), seen[-1].item() + 1
            yield q_start, q_end, k_start, k_end, visible[..., k_start:k_end]

    def plain_kind(self) -> str | None:
        """Return "causal" or "full" when a fused kernel's flag expresses the mask exactly, else None."""
        if self.padding is not None:
            return None
        if self.mask_function is bidirectional_mask_function:
            return "full"
        if self.mask_function is causal_mask_function:
            if self.q_offset + self.q_length == self.kv_offset + self.kv_length and self.q_length == self.kv_length:
                return "causal"
            if self.q_length == 1 and self.q_offset >= self.kv_offset + self.kv_length - 1:
                return "full"  # one decoding step sees every cached key
        return None

    def real_queries(self, device: torch.device) -> torch.Tensor:
        """Which queries are real tokens: bool ``[B, Tq]``."""
        if self.padding is None:
            return torch.ones(self.batch_size, self.q_length, dtype=torch.bool, device=device)
        return self.padding[:, self.q_offset : self.q_offset + self.q_length].to(device)

    def first_index(self, device: torch.device) -> torch.Tensor:
        """Absolute position of each row's first real token, ``[B]`` (0 without padding)."""
        if self.padding is None:
            return torch.zeros(self.batch_size, dtype=torch.long, device=device)
        return metrics.first_token_index(self.padding).to(device).long()

    def first_visible(self, device: torch.device) -> torch.Tensor:
        """Which queries can see their row's first token: bool ``[B, Tq]``."""
        first = self.first_index(device)
        batch = torch.arange(self.batch_size, device=device)[:, None]
        queries = torch.arange(self.q_length, device=device)[None, :] + self.q_offset
        visible = self.mask_function(batch, 0, queries, first[:, None]) & (first[:, None] >= self.kv_offset)
        return visible.expand(self.batch_size, self.q_length) & self.real_queries(device)

    def additive(self, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """Dense additive mask ``[B, 1, Tq, Tk]`` as eager attention expects it (0 visible, dtype min masked)."""
        visible = self.block(0, self.q_length, device)
        return torch.zeros(visible.shape, dtype=dtype, device=device).masked_fill(~visible, torch.finfo(dtype).min)


def lazy_mask(
    batch_size: int,
    q_length: int,
    kv_length: int,
    q_offset: int = 0,
    kv_offset: int = 0,
    mask_function: Callable = causal_mask_function,
    attention_mask: torch.Tensor | None = None,
    **_,
) -> LazyMask:
    """The mask function registered in `AttentionMaskInterface`: same arguments as transformers' ``sdpa_mask``."""
    padding = prepare_padding_mask(attention_mask, kv_length, kv_offset)
    if padding is not None and bool(padding.all()):
        padding = None
    return LazyMask(mask_function, padding, batch_size, q_length, kv_length, int(q_offset), int(kv_offset))


def register() -> None:
    """Register ``"sinklab"`` in transformers' attention and mask registries (idempotent)."""
    AttentionInterface.register(NAME, sinklab_attention)
    AttentionMaskInterface.register(NAME, lazy_mask)


def query_chunk_size(batch: int, heads: int, keys: int, chunk_mb: float) -> int:
    """Queries per block so that one fp32 score block ``[batch, heads, rows, keys]`` takes about ``chunk_mb`` MiB.

    Peak extra memory of a chunked pass is a few such blocks (scores, probabilities, top-k), independent of T.
    """
    if chunk_mb <= 0:
        raise SinklabError(f"chunk_mb must be positive, got {chunk_mb}. Fix: use e.g. chunk_mb=64.")
    return max(1, int(chunk_mb * 2**20 // (4 * batch * heads * max(keys, 1))))


def sinklab_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: LazyMask | torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """Attention output ``[B, Tq, H, Dv]`` (as eager returns it) and None; statistics go to the collector."""
    collector = active_collector()
    _check_call(module, collector, attention_mask, key, dropout, kwargs)
    layer = collector.layer_of(module)
    scaling = query.shape[-1] ** -0.5 if scaling is None else scaling
    softcap, sinks, window = kwargs.get("softcap"), kwargs.get("s_aux"), kwargs.get("sliding_window")
    mask = attention_mask if attention_mask is not None else _unmasked(module, query, key)
    options = collector.options
    rows = query_chunk_size(query.shape[0], query.shape[1], key.shape[2], options.chunk_mb)

    output, lse, kernel = attention_with_lse(query, key, value, mask, scaling, softcap, rows)
    if sinks is not None:
        output, lse = add_learned_sinks(output, lse, sinks)
    if options.exact:
        eager = _model_eager_function(module)
        dense = mask.additive(query.dtype, query.device)
        output = eager(module, query, key, value, dense, scaling=scaling, dropout=dropout, **kwargs)[0]
    else:
        output = output.transpose(1, 2).contiguous()

    with torch.no_grad():
        stats = layer_statistics(
            query.detach(),
            key.detach(),
            value.detach(),
            mask,
            lse.detach(),
            scaling,
            softcap,
            sinks,
            rows,
            options,
            layer,
        )
    stats.kernel, stats.window = kernel, window
    stats.layer_type = layer_type(module, window)
    collector.add_layer(stats, module)
    return output, None


def layer_type(module: torch.nn.Module, window: int | None) -> str:
    """ "bidirectional" (an encoder's attention), "sliding_attention" (a window) or "full_attention"."""
    if not getattr(module, "is_causal", True):
        return "bidirectional"
    return "sliding_attention" if window else "full_attention"


def attention_with_lse(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: LazyMask,
    scaling: float,
    softcap: float | None,
    rows: int,
) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Output ``[B, H, Tq, Dv]``, fp32 log-sum-exp ``[B, H, Tq]`` (-inf for queries that see nothing), kernel name.

    Fused kernels: PyTorch's CPU flash attention (``aten._scaled_dot_product_flash_attention_for_cpu``,
    GQA-aware, takes a mask, so masked layers run it per query block) and, on CUDA for plain causal or
    full masks, the memory-efficient kernel (``aten._scaled_dot_product_efficient_attention``). Softcap
    and other devices fall back to an exact query-chunked pass in plain PyTorch.
    """
    if softcap is None and query.device.type == "cpu" and _fused_is_exact_enough(query, key, scaling):
        return (*_cpu_flash(query, key, value, mask, scaling, rows), "cpu_flash")
    if softcap is None and query.device.type == "cuda" and mask.plain_kind() is not None:
        return (*_cuda_efficient(query, key, value, mask.plain_kind() == "causal", scaling), "cuda_efficient")
    return (*_chunked_attention(query, key, value, mask, scaling, softcap, rows), "chunked")


CPU_FLASH_MAX_SCORE = 30.0  # above this bound on |score| the fused CPU kernel's LSE drifts past 1e-5 in fp32


def _fused_is_exact_enough(query: torch.Tensor, key: torch.Tensor, scaling: float) -> bool:
    """Whether the fused CPU kernel keeps fp32 first-token mass within 1e-5 of eager.

    Its log-sum-exp loses accuracy as scores grow (measured: 1.9e-5 on a random Gemma 4 layer with
    scores up to 78, where eager fp32 is within 3.6e-6 of float64). The bound
    scale * max|q| * max|k| >= max |score| is cheap (norms only); layers above it take the exact
    chunked pass. Half precision keeps the fused kernel: its rounding dominates either way.
    """
    if query.dtype != torch.float32:
        return True
    bound = abs(scaling) * query.norm(dim=-1).amax().item() * key.norm(dim=-1).amax().item()
    return bound <= CPU_FLASH_MAX_SCORE


def add_learned_sinks(
    output: torch.Tensor, lse: torch.Tensor, sinks: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold learned sink logits (gpt-oss ``s_aux``, one per head) into a softmax over tokens.

    The sink is an extra "key" with logit a_h and a zero value: LSE' = logaddexp(LSE, a_h), every token
    probability shrinks by exp(LSE - LSE'), and so does the output.
    """
    sink_logit = sinks.float().reshape(1, -1, 1)
    new_lse = torch.logaddexp(lse, sink_logit)
    scale = metrics.mass_from_lse(lse, new_lse)
    return (output * scale[..., None].to(output.dtype)), new_lse


def layer_statistics(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: LazyMask,
    lse: torch.Tensor,
    scaling: float,
    softcap: float | None,
    sinks: torch.Tensor | None,
    rows: int,
    options: Options,
    layer_index: int,
) -> LayerStats:
    """Tier 1 (first-token mass from the LSE, learned-sink mass, key/value norms) and the requested tier 2."""
    device = query.device
    first = mask.first_index(device)
    first_key = (first - mask.kv_offset).clamp(min=0)
    key_first = key[torch.arange(key.shape[0], device=device), :, first_key]  # [B, Hkv, D]
    score_first = grouped_scores(query, key_first[:, :, None, :], scaling, softcap)[..., 0]  # [B, H, Tq]
    first_visible = mask.first_visible(device)
    first_mass = metrics.mass_from_lse(score_first, lse) * first_visible[:, None, :]
    overflow = torch.isnan(lse) | (lse == float("inf"))  # an inf/NaN score (e.g. fp16 overflow); -inf: sees nothing
    stats = LayerStats(
        first_mass=first_mass.masked_fill(overflow, float("nan")),  # the collector refuses it, naming the layer
        first_visible=first_visible,
        key_norms=metrics.first_and_rest_norms(key, _key_padding(mask)),
        value_norms=metrics.first_and_rest_norms(value, _key_padding(mask)),
    )
    if sinks is not None:
        real = mask.real_queries(device)[:, None, :]
        stats.learned_sink_mass = metrics.mass_from_lse(sinks.float().reshape(1, -1, 1), lse) * real
    heads = options.patterns.get(layer_index, ())
    if options.stats & TIER2_STATS or heads:
        probabilities = _probability_chunks(query, key, mask, lse, scaling, softcap, rows)
        for name, tensor in chunked_statistics(probabilities, query.shape[:3], key.shape[2], options, heads).items():
            setattr(stats, name, tensor)
    return stats


def statistics_from_weights(weights: torch.Tensor, mask: LazyMask, options: Options, layer_index: int) -> LayerStats:
    """The same statistics from a layer's full attention weights ``[B, H, Tq, Tk]`` (the eager-hook fallback)."""
    p = weights.detach().float()
    device = p.device
    first_key = (mask.first_index(device) - mask.kv_offset).clamp(min=0)
    first_column = p.gather(-1, first_key[:, None, None, None].expand(*p.shape[:3], 1)).squeeze(-1)
    first_visible = mask.first_visible(device)
    stats = LayerStats(first_column * first_visible[:, None, :], first_visible, kernel="eager_weights")
    heads = options.patterns.get(layer_index, ())
    if options.stats & TIER2_STATS or heads:
        visible = mask.block(0, mask.q_length, device) & mask.real_queries(device)[:, None, :, None]
        whole = iter([ProbabilityBlock(0, mask.q_length, 0, mask.kv_length, p * visible, visible)])
        for name, value in chunked_statistics(whole, p.shape[:3], p.shape[-1], options, heads).items():
            setattr(stats, name, value)
    return stats


@dataclass
class ProbabilityBlock:
    """Attention probabilities ``p`` ``[B, H, rows, keys]`` of queries ``q_start:q_end`` on keys ``k_start:k_end``."""

    q_start: int
    q_end: int
    k_start: int
    k_end: int
    p: torch.Tensor
    visible: torch.Tensor  # [B, 1, rows, keys] bool
    log_p: torch.Tensor | None = None  # finite log p where known (saves a logarithm for the entropy)


def chunked_statistics(
    blocks: Iterator[ProbabilityBlock],
    query_shape: tuple[int, int, int],
    kv_length: int,
    options: Options,
    heads: tuple[int, ...] = (),
) -> dict[str, torch.Tensor]:
    """Tier-2 statistics from blocks of attention probabilities, never holding more than one block.

    Returns the requested subset of ``topk_mass`` and ``entropy`` ``[B, H, Tq]``, ``received``
    ``[B, H, Tk]`` (Gu et al.'s importance of every key: mean over the queries that see it) and
    ``pattern`` ``[B, len(heads), Tq, Tk]``.
    """
    batch, n_heads, q_length = query_shape
    out: dict[str, torch.Tensor] = {}
    received = seen_by = None
    for block in blocks:
        p, queries, keys = block.p, slice(block.q_start, block.q_end), slice(block.k_start, block.k_end)
        if not out:
            out = _zeros_for(options.stats, heads, batch, n_heads, q_length, kv_length, p.device)
            if "received" in out:
                received, seen_by = out["received"], torch.zeros(batch, 1, kv_length, device=p.device)
        if "topk_mass" in out:
            out["topk_mass"][:, :, queries] = metrics.topk_mass(p, options.topk)
        if "entropy" in out:
            out["entropy"][:, :, queries] = metrics.entropy(p, block.log_p)
        if received is not None:
            received[:, :, keys] += p.sum(-2)
            seen_by[:, :, keys] += block.visible.sum(-2)
        if "pattern" in out:
            out["pattern"][:, :, queries, keys] = p[:, list(heads)]
    if received is not None:
        out["received"] = received / seen_by.clamp(min=1)
    return out


def grouped_scores(query: torch.Tensor, key: torch.Tensor, scaling: float, softcap: float | None) -> torch.Tensor:
    """fp32 attention scores ``[B, H, Tq, Tk]`` with grouped-query heads broadcast (no repeated K), softcapped.

    Query head h uses key head h // (H / Hkv), as ``repeat_kv`` does. Softcap (Gemma 2) maps
    s -> cap * tanh(s / cap) before the mask, as the model's eager attention does.
    """
    batch, n_heads, q_length, dim = query.shape
    n_kv = key.shape[1]
    grouped = (query.float() * scaling).reshape(batch, n_kv, n_heads // n_kv * q_length, dim)  # heads of a key head
    scores = torch.matmul(grouped, key.float().transpose(-1, -2)).reshape(batch, n_heads, q_length, key.shape[2])
    if softcap is not None:
        scores = torch.tanh(scores / softcap) * softcap
    return scores


def _probability_chunks(query, key, mask, lse, scaling, softcap, rows):
    """Yield exact attention probabilities block by block: p = exp(s - LSE) on visible keys, 0 elsewhere.

    Also yields log p = s - LSE (finite everywhere; the entropy reuses it). Pad queries count as
    seeing nothing, so they drop out of every statistic."""
    real = mask.real_queries(query.device)[:, None, :, None]
    finite_lse = torch.where(torch.isfinite(lse), lse, 0.0)[..., None]
    for q_start, q_end, k_start, k_end, visible in mask.chunks(rows, query.device):
        visible = visible & real[:, :, q_start:q_end]
        scores = grouped_scores(query[:, :, q_start:q_end], key[:, :, k_start:k_end], scaling, softcap)
        log_p = scores.sub_(finite_lse[:, :, q_start:q_end])
        p = torch.exp(log_p).masked_fill_(~visible, 0.0)
        yield ProbabilityBlock(q_start, q_end, k_start, k_end, p, visible, log_p)


def _chunked_attention(query, key, value, mask, scaling, softcap, rows):
    """Exact attention in plain PyTorch, one block of queries at a time: output and fp32 LSE."""
    outputs, lses = [], []
    n_kv = key.shape[1]
    for q_start, q_end, k_start, k_end, visible in mask.chunks(rows, query.device):
        scores = grouped_scores(query[:, :, q_start:q_end], key[:, :, k_start:k_end], scaling, softcap)
        scores = scores.masked_fill(~visible, float("-inf"))
        lse = torch.logsumexp(scores, dim=-1)
        p = metrics.mass_from_lse(scores, lse[..., None])
        batch, n_heads, n_rows, n_keys = p.shape
        grouped = p.reshape(batch, n_kv, n_heads // n_kv * n_rows, n_keys)  # query heads of a key head, stacked
        out = torch.matmul(grouped, value[:, :, k_start:k_end].float())
        outputs.append(out.reshape(batch, n_heads, n_rows, -1).to(value.dtype))
        lses.append(lse)
    return torch.cat(outputs, dim=2), torch.cat(lses, dim=2)


def _cpu_flash(query, key, value, mask, scaling, rows):
    """PyTorch's fused CPU flash attention, which also returns the LSE; masked layers run per query block."""
    flash = _compat.cpu_flash_attention()
    kind = mask.plain_kind()
    if kind is not None:
        output, lse = flash(query, key, value, 0.0, kind == "causal", scale=scaling)
        return output, lse.float()
    outputs, lses = [], []
    for q_start, q_end, k_start, k_end, visible in mask.chunks(rows, query.device):
        block_query = query[:, :, q_start:q_end]
        if k_end == k_start:  # a block of pad queries: they see nothing
            outputs.append(block_query.new_zeros(*block_query.shape[:3], value.shape[-1]))
            lses.append(torch.full(block_query.shape[:3], float("-inf"), device=query.device))
            continue
        additive = torch.zeros(visible.shape, dtype=query.dtype, device=query.device)
        additive = additive.masked_fill(~visible, float("-inf"))
        out, lse = flash(
            block_query,
            key[:, :, k_start:k_end],
            value[:, :, k_start:k_end],
            0.0,
            False,
            attn_mask=additive,
            scale=scaling,
        )
        outputs.append(out)
        lses.append(lse.float().masked_fill(~visible.any(-1), float("-inf")))
    return torch.cat(outputs, dim=2), torch.cat(lses, dim=2)


def _cuda_efficient(query, key, value, causal, scaling):
    """CUDA memory-efficient attention with ``compute_log_sumexp``; its LSE is padded to a multiple of 32 rows."""
    groups = query.shape[1] // key.shape[1]
    key, value = key.repeat_interleave(groups, dim=1), value.repeat_interleave(groups, dim=1)
    output, lse = _compat.cuda_efficient_attention()(query, key, value, None, True, 0.0, causal, scale=scaling)[:2]
    return output, lse[..., : query.shape[2]].float()


def _zeros_for(stats, heads, batch, n_heads, q_length, kv_length, device):
    """Accumulators for the requested tier-2 statistics."""
    out = {}
    if "topk" in stats:
        out["topk_mass"] = torch.zeros(batch, n_heads, q_length, device=device)
    if "entropy" in stats:
        out["entropy"] = torch.zeros(batch, n_heads, q_length, device=device)
    if "received" in stats:
        out["received"] = torch.zeros(batch, n_heads, kv_length, device=device)
    if heads:
        out["pattern"] = torch.zeros(batch, len(heads), q_length, kv_length, device=device)
    return out


def _key_padding(mask: LazyMask) -> torch.Tensor | None:
    """Padding of the keys this call holds, ``[B, Tk]`` (None without padding)."""
    if mask.padding is None:
        return None
    return mask.padding[:, mask.kv_offset : mask.kv_offset + mask.kv_length]


def _unmasked(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor) -> LazyMask:
    """The rule the model means when it passes no mask: causal, or full for bidirectional modules."""
    causal = getattr(module, "is_causal", True)
    rule = causal_mask_function if causal else bidirectional_mask_function
    q_offset = key.shape[2] - query.shape[2] if causal else 0  # the queries are the last tokens
    return LazyMask(rule, None, query.shape[0], query.shape[2], key.shape[2], q_offset)


_model_eager_function = _compat.model_eager_function  # the model's own eager_attention_forward


def _check_call(module, collector, attention_mask, key, dropout, kwargs) -> None:
    """Refuse calls whose statistics would be wrong or incomplete, with the fix."""
    if collector is None:
        raise SinklabError(
            f"The model's attention implementation is {NAME!r}, but this forward call runs outside a sinklab "
            "measurement (the model was left switched, e.g. by set_attn_implementation). Fix: measure inside "
            "`with sinklab.measure.sink_stats(model):` or call `sinklab.measure.measure(model, inputs)`; to "
            "go back to normal attention, run model.set_attn_implementation('sdpa')."
        )
    if attention_mask is not None and not isinstance(attention_mask, LazyMask):
        raise SinklabError(
            "sinklab received a ready-made attention mask tensor instead of building its own. Fix: pass the "
            "tokenizer's 2D attention_mask ([batch, T], 1 for real tokens), not a 4D mask."
        )
    if isinstance(attention_mask, LazyMask) and key.shape[2] != attention_mask.kv_length:
        raise SinklabError(
            f"{type(module).__name__} attends to {key.shape[2]} keys but its mask describes "
            f"{attention_mask.kv_length} tokens (extra compressed or memory keys), so which key is the first "
            "token is ambiguous and sinklab cannot measure it exactly. Fix: none in sinklab for this "
            "architecture; measure a model whose keys are its tokens."
        )
    if kwargs.get("position_bias") is not None:
        raise SinklabError(
            f"{type(module).__name__} adds a position bias (relative or ALiBi) to its scores, which sinklab's "
            "attention function does not model. Fix: measure it with method='hooks'."
        )
    if module.training and dropout > 0:
        raise SinklabError(
            "The model is in training mode with attention dropout, so its attention is random. Fix: call "
            "model.eval() before measuring (and model.train() afterwards)."
        )
