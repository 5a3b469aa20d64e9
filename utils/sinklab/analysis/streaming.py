"""StreamingLLM (Xiao et al., ICLR 2024): window attention, alone or with the first tokens kept.

A model streaming a long text cannot keep every key and value. *Window attention* keeps the last
``window`` tokens; StreamingLLM also keeps the first ``n_sink`` tokens, the attention sinks.

How sinklab computes it: an **exact attention mask**, not a KV cache. Query i sees key j when
j <= i and (i - j < window or j < n_sink): the last ``window`` tokens, itself included, plus the first
``n_sink``. The rule is registered in transformers' ``AttentionMaskInterface`` (added to the model's own
mask, so sliding-window layers keep their window) under the attention implementation
``"sinklab_streaming"``, whose attention function is PyTorch's SDPA (the model's own eager attention for
Gemma 2's softcapped logits). One forward pass then gives every position's prediction with exactly the
keys and values a cache-eviction stream would hold, because a cached key/value of token j was computed
when j was the newest token, under the same rule.

What differs from Xiao et al.: **positions are not re-assigned**. Their cache gives its entries the
positions 0 … cache size − 1, so a stream can run past the model's trained length. Here every token keeps
its absolute position. For RoPE models the distances inside the window are the same either way; the
sink keys are at their true distance instead of at most the cache size. Keep the text within the model's
trained length (`sinklab.measure` refuses longer inputs) and that difference stays within what the model
saw in training.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from transformers import AttentionInterface, AttentionMaskInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import and_masks, causal_mask_function, sdpa_mask

from sinklab.errors import SinklabError

NAME = "sinklab_streaming"


def visible(q_idx, kv_idx, window: int, n_sink: int):
    """Whether query ``q_idx`` sees key ``kv_idx`` (tensors broadcast): causal, and in the window or a sink."""
    return (kv_idx <= q_idx) & ((q_idx - kv_idx < window) | (kv_idx < n_sink))


def streaming_mask(length: int, window: int, n_sink: int) -> torch.Tensor:
    """The ``[length, length]`` boolean mask (queries down, keys across) of window attention with sinks."""
    _check(window, n_sink)
    positions = torch.arange(length)
    return visible(positions[:, None], positions[None, :], window, n_sink)


@contextmanager
def window_attention(model, window: int, n_sink: int = 0) -> Iterator[None]:
    """Inside the block the model attends only to the last `window` tokens and the first `n_sink` ones."""
    from sinklab.measure import _attention_implementation, _check_model

    _check_model(model)
    _check(window, n_sink)

    def rule(batch_idx, head_idx, q_idx, kv_idx):
        return (q_idx - kv_idx < window) | (kv_idx < n_sink)

    def mask(*args, mask_function=causal_mask_function, **kwargs):
        kwargs["allow_is_causal_skip"] = False  # the mask is not plain causal: it must be built
        return sdpa_mask(*args, mask_function=and_masks(mask_function, rule), **kwargs)

    AttentionInterface.register(NAME, _attention)
    AttentionMaskInterface.register(NAME, mask)
    with _attention_implementation(model, NAME):
        yield


def streaming_perplexity(model, inputs, window: int, n_sink: int = 0) -> float:
    """Perplexity of `inputs` (see `sinklab.evaluate.perplexity`) under window attention with `n_sink` sinks."""
    from sinklab.evaluate import perplexity

    with window_attention(model, window, n_sink):
        return perplexity(model, inputs)


def compare(model, inputs, windows, sinks=(0, 1, 4)):
    """StreamingLLM's comparison: perplexity for every window size and number of kept initial tokens.

    Returns a pandas DataFrame with columns window, initial tokens kept, perplexity, and one row
    "full attention" (window = the input length) as the reference. Shows a progress bar.
    """
    import pandas as pd
    from tqdm.auto import tqdm

    from sinklab.evaluate import perplexity

    length = _length(inputs)
    rows = [{"window": length, "initial tokens kept": "full attention", "perplexity": perplexity(model, inputs)}]
    settings = [(w, s) for w in windows for s in sinks]
    for window, n_sink in tqdm(settings, desc="window attention", unit="setting"):
        rows.append(
            {
                "window": window,
                "initial tokens kept": str(n_sink),
                "perplexity": streaming_perplexity(model, inputs, window, n_sink),
            }
        )
    return pd.DataFrame(rows)


def _attention(module, query, key, value, attention_mask, **kwargs):
    """SDPA with the boolean streaming mask; the model's own eager attention for softcapped logits."""
    if kwargs.get("softcap") is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    from sinklab.measure.attention import _model_eager_function

    additive = torch.zeros(attention_mask.shape, dtype=query.dtype, device=query.device)
    additive = additive.masked_fill(~attention_mask, torch.finfo(query.dtype).min)
    return _model_eager_function(module)(module, query, key, value, additive, **kwargs)


def _check(window: int, n_sink: int) -> None:
    if int(window) < 1:
        raise SinklabError(f"window must be at least 1 (a query always sees itself), got {window}.")
    if int(n_sink) < 0:
        raise SinklabError(f"n_sink is a number of initial tokens to keep, 0 or more; got {n_sink}.")


def _length(inputs) -> int:
    ids = inputs["input_ids"] if hasattr(inputs, "keys") else torch.as_tensor(inputs)
    return ids.shape[-1]
