"""The measurement tests' tiny models: 2-layer random-init causal LMs of each family, and a left-padded batch.

Shared by tests/unit/core/test_measure.py (exactness against eager attention) and tests/unit/core/test_measure_errors.py.
Built with the package's one random-model factory, `sinklab.random_models`.
"""

import torch

from sinklab.random_models import random_model

VOCAB = 97
COMMON = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, vocab_size=VOCAB)
FAMILIES = {
    "gpt2": dict(n_embd=32, n_layer=2, n_head=4, n_positions=64, bos_token_id=0, eos_token_id=0),
    "gpt_neox": dict(rotary_pct=0.25),  # partial rotary
    "llama": dict(num_key_value_heads=2),  # grouped-query attention
    "qwen2": dict(num_key_value_heads=2, use_sliding_window=True, sliding_window=5, max_window_layers=1),
    "mistral": dict(num_key_value_heads=1, sliding_window=5),  # multi-query, window < T
    "gemma2": dict(num_key_value_heads=2, head_dim=8, sliding_window=5, attn_logit_softcapping=1.0),
    "gemma3_text": dict(
        num_key_value_heads=2, head_dim=8, sliding_window=5, layer_types=["sliding_attention", "full_attention"]
    ),
    "gpt_oss": dict(
        num_key_value_heads=2,
        head_dim=8,
        sliding_window=5,
        num_local_experts=2,
        num_experts_per_tok=1,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
    ),
}


def tiny_model(family, **extra):
    """A 2-layer random-init causal LM of the family, eager attention, fp32."""
    model = random_model(family, attn_implementation="eager", **{**COMMON, **FAMILIES.get(family, {}), **extra})
    for module in model.modules():
        if hasattr(module, "sinks"):  # gpt-oss learned sink logits: make them matter
            torch.nn.init.normal_(module.sinks, std=2.0)
    return model


def padded_batch(T=12):
    """Three rows, two of them left-padded (3 and 1 pad tokens)."""
    ids = torch.randint(0, VOCAB, (3, T), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(3, T, dtype=torch.long)
    mask[1, :3] = 0
    mask[2, :1] = 0
    return {"input_ids": ids, "attention_mask": mask}
