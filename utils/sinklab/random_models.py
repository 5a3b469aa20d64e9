"""The one factory of random-init models: tests, `sinklab bench`, `sinklab.analysis.real_sizes` and the compatibility matrix.

    model = random_model("llama", num_hidden_layers=2, hidden_size=32)     # any config keys, seeded
    config = tiny_config("stablelm")                                       # a tiny config of any architecture

`random_model` builds a model of any transformers architecture from config keys (no download: the
weights are random, seeded, so two processes get the same model). `tiny_config` shrinks the default
config of any ``model_type`` to a few thousand parameters by setting whichever of the usual size keys
the config has (hidden size, layers, heads, vocabulary, experts, ...), in the config and its text
sub-config; architectures whose tiny config cannot be built raise, and the matrix lists them as such.
"""

from __future__ import annotations

import torch

HEADS = ("causal_lm", "base", "seq2seq")
VOCAB = 97
# Size keys of transformers configs (several names for the same thing across families) -> tiny values.
TINY = {
    "hidden_size": 32,
    "n_embd": 32,
    "d_model": 32,
    "dim": 32,
    "embed_dim": 32,
    "n_embed": 32,
    "num_hidden_layers": 2,
    "n_layer": 2,
    "num_layers": 2,
    "n_layers": 2,
    "decoder_layers": 2,
    "encoder_layers": 2,
    "num_attention_heads": 4,
    "n_head": 4,
    "num_heads": 4,
    "n_heads": 4,
    "decoder_attention_heads": 4,
    "encoder_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_kv_heads": 2,
    "n_kv_heads": 2,
    "multi_query_group_num": 2,
    "head_dim": 8,
    "kv_channels": 8,
    "d_kv": 8,
    "attention_head_dim": 8,
    "intermediate_size": 64,
    "n_inner": 64,
    "ffn_dim": 64,
    "d_ff": 64,
    "decoder_ffn_dim": 64,
    "encoder_ffn_dim": 64,
    "ffn_hidden_size": 64,
    "moe_intermediate_size": 16,
    "shared_expert_intermediate_size": 16,
    "vocab_size": VOCAB,
    "max_position_embeddings": 128,
    "n_positions": 128,
    "seq_length": 128,
    "num_local_experts": 4,
    "num_experts": 4,
    "n_routed_experts": 4,
    "moe_num_experts": 4,
    "num_experts_per_tok": 2,
    "moe_topk": 2,
    "top_k": 2,
    "n_shared_experts": 1,
    "first_k_dense_replace": 1,
    "kv_lora_rank": 16,
    "q_lora_rank": 16,
    "qk_rope_head_dim": 4,
    "qk_nope_head_dim": 4,
    "v_head_dim": 8,
    "qk_head_dim": 8,
    "n_group": 1,
    "topk_group": 1,
}
TEXT_CONFIG_KEYS = ("text_config", "language_config", "llm_config", "decoder")


def random_model(
    model_type: str,
    *,
    seed: int = 0,
    head: str = "causal_lm",
    attn_implementation: str | None = None,
    dtype: torch.dtype | None = None,
    device: str | torch.device | None = None,
    config=None,
    **config_keys,
):
    """A random-init model of ``model_type`` in eval mode: ``head`` "causal_lm" (default), "base" (no LM head) or
    "seq2seq". ``config_keys`` go to ``AutoConfig.for_model``; or pass a ready ``config``."""
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM

    auto = {"causal_lm": AutoModelForCausalLM, "base": AutoModel, "seq2seq": AutoModelForSeq2SeqLM}[head]
    torch.manual_seed(seed)
    if config is None:
        config = AutoConfig.for_model(model_type, **config_keys)
    options = {}
    if attn_implementation is not None:
        options["attn_implementation"] = attn_implementation
    if dtype is not None:
        options["dtype"] = dtype
    with torch.device(device or "cpu"):
        model = auto.from_config(config, **options)
    return model.eval()


def tiny_config(model_type: str, **overrides):
    """A tiny config of ``model_type``: its defaults with every size key it has set small (see `TINY`), in the
    config and in each of its sub-configs (text, vision, encoder, decoder, ...)."""
    from transformers import AutoConfig

    default = AutoConfig.for_model(model_type)
    return AutoConfig.for_model(model_type, **{**_tiny_keys(default), **overrides})


def _tiny_keys(config) -> dict:
    keys = {key: value for key, value in TINY.items() if _has(config, key)}
    for i, name in enumerate(("pad_token_id", "bos_token_id", "eos_token_id")):  # special ids inside the vocabulary
        if _has(config, name) and config.to_dict()[name] >= VOCAB:
            keys[name] = i
    layer_types = config.to_dict().get("layer_types")
    if isinstance(layer_types, list) and layer_types:
        keys["layer_types"] = _shrink_layer_types(layer_types)
    names = set(getattr(config, "sub_configs", {}) or {}) | set(TEXT_CONFIG_KEYS)
    for name in sorted(names):
        sub = getattr(config, name, None)
        if sub is not None and hasattr(sub, "to_dict"):
            keys[name] = {**sub.to_dict(), **_tiny_keys(sub)}
    return keys


def _has(config, key: str) -> bool:
    """Whether the config really has this size key (an integer attribute, not one set to None)."""
    value = config.to_dict().get(key)
    return isinstance(value, int) and not isinstance(value, bool)


def _shrink_layer_types(layer_types: list) -> list:
    """Two layers keeping the variety of the default pattern (e.g. one sliding, one full)."""
    kinds = list(dict.fromkeys(layer_types))
    return (kinds * 2)[:2] if len(kinds) < 2 else kinds[:2]
