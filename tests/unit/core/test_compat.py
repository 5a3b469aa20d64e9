"""Each private transformers / torch API sinklab uses (all in sinklab._compat) still exists and does what we rely on.

A transformers or torch upgrade that renames one of them fails here, one test per symbol.
"""

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM

from sinklab import _compat
from sinklab.errors import SinklabError


@pytest.fixture(scope="module")
def llama():
    config = AutoConfig.for_model(
        "llama",
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=64,
        vocab_size=50,
    )
    return AutoModelForCausalLM.from_config(config, attn_implementation="eager").eval()


def test_attn_implementation_internal(llama):
    assert _compat.get_attn_implementation(llama.config) == "eager"
    _compat.set_attn_implementation(llama.config, "sdpa")
    try:
        assert llama.config._attn_implementation == "sdpa"  # the public property reads the private field
    finally:
        _compat.set_attn_implementation(llama.config, "eager")
    assert llama.config._attn_implementation == "eager"


def test_can_set_attn_implementation(llama):
    assert _compat.uses_attention_interface(llama) is True  # llama calls ALL_ATTENTION_FUNCTIONS
    bloom = AutoModelForCausalLM.from_config(
        AutoConfig.for_model("bloom", hidden_size=16, n_layer=1, n_head=2, vocab_size=50)
    )
    assert _compat.uses_attention_interface(bloom) is False  # bloom bypasses it (the hooks measure it)


def test_can_record_outputs_and_output_recorder(llama):
    from transformers.models.bart.modeling_bart import BartDecoder

    recorded = _compat.can_record_outputs(llama)
    assert recorded["attentions"].__name__ == "LlamaAttention"
    recorder = _compat.output_recorder_class()
    cross = _compat.can_record_outputs(BartDecoder.__new__(BartDecoder))["cross_attentions"]
    assert isinstance(cross, recorder) and cross.layer_name == "encoder_attn" and cross.index == 1


def test_model_eager_function(llama):
    module = llama.model.layers[0].self_attn
    eager = _compat.model_eager_function(module)
    q = torch.randn(1, 4, 3, 8)
    k = v = torch.randn(1, 2, 3, 8)
    out, weights = eager(module, q, k, v, None, scaling=8**-0.5, dropout=0.0)
    assert out.shape == (1, 3, 4, 8) and torch.allclose(weights.sum(-1), torch.ones(1, 4, 3))
    with pytest.raises(SinklabError, match="defines no eager_attention_forward"):
        _compat.model_eager_function(torch.nn.Linear(2, 2))


def test_cpu_flash_attention_returns_the_lse():
    q, k, v = torch.randn(3, 1, 2, 5, 8).unbind(0)
    out, lse = _compat.cpu_flash_attention()(q, k, v, 0.0, True, scale=0.5)
    scores = (q @ k.transpose(-1, -2) * 0.5).masked_fill(torch.ones(5, 5).triu(1).bool(), float("-inf"))
    torch.testing.assert_close(lse, torch.logsumexp(scores, -1))
    torch.testing.assert_close(out, torch.softmax(scores, -1) @ v)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA only (no GPU on this machine)")
def test_cuda_efficient_attention_returns_the_lse():
    q, k, v = torch.randn(3, 1, 2, 40, 8, device="cuda").unbind(0)
    out, lse = _compat.cuda_efficient_attention()(q, k, v, None, True, 0.0, True, scale=0.5)[:2]
    future = torch.ones(40, 40, device="cuda").triu(1).bool()
    scores = (q @ k.transpose(-1, -2) * 0.5).masked_fill(future, float("-inf"))
    torch.testing.assert_close(lse[..., :40], torch.logsumexp(scores, -1), atol=1e-4, rtol=1e-4)
