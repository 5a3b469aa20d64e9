"""Random-init causal LMs of every family in the t4/a100 sweeps, with the families' real structure, no download.

GPT-2 (learned absolute positions, biases), GPT-NeoX/Pythia (partial rotary, parallel attention and MLP),
Llama (grouped-query attention), Qwen2 (GQA, q/k/v biases), Mistral (sliding window) and Gemma 2
(softcapped logits, alternating sliding and full layers). They share the embedded model's byte tokenizer
(259 tokens, <bos> = 256), so `sinklab.prompts` works with them unchanged.
"""

from transformers import AutoTokenizer

from sinklab import models
from sinklab.random_models import random_model as build

VOCAB, BOS, EOS, PAD = 259, 256, 257, 258
SHARED = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    vocab_size=VOCAB,
    max_position_embeddings=256,
    bos_token_id=BOS,
    eos_token_id=EOS,
    pad_token_id=PAD,
)
FAMILIES = {
    "gpt2": dict(n_embd=32, n_layer=2, n_head=4, n_positions=256),
    "gpt_neox": dict(rotary_pct=0.25, use_parallel_residual=True),
    "llama": dict(num_key_value_heads=2),
    "qwen2": dict(num_key_value_heads=2),
    "mistral": dict(num_key_value_heads=1, sliding_window=8),
    "gemma2": dict(
        num_key_value_heads=2, head_dim=8, sliding_window=8, attn_logit_softcapping=50.0, final_logit_softcapping=30.0
    ),
}


def tokenizer():
    """The embedded model's byte tokenizer (it prepends <bos>)."""
    return AutoTokenizer.from_pretrained(models.embedded_model_path())


def random_model(family: str, seed: int = 0, **extra):
    """A 2-layer random-init causal LM of `family`, fp32, eval mode (sinklab.random_models builds it)."""
    return build(family, seed=seed, **{**SHARED, **FAMILIES[family], **extra})


def random_loader(name: str, **kwargs):
    """A stand-in for `sinklab.models.load_model`: ``"random/<family>"`` -> (random-init model, byte tokenizer).

    Records the from_pretrained keyword arguments it was given in ``random_loader.calls``.
    """
    random_loader.calls.append((name, kwargs))
    family = name.split("/")[-1]
    return random_model(family, seed=len(random_loader.calls)), tokenizer()


random_loader.calls = []
