"""What course/workshop.md promises a participant: a gated model without a token does not stop the notebook."""

import dataclasses
import warnings

import pytest
import transformers

from sinklab import env, models
from sinklab.course import prefetch
from sinklab.errors import SinklabError

GATED = "meta-llama/Llama-3.2-1B"


@pytest.fixture
def no_token_for_gated_models(monkeypatch):
    real = transformers.AutoConfig.from_pretrained

    def from_pretrained(name, *args, **kwargs):
        if name == GATED:  # what transformers raises for a gated repository without an accepted licence and token
            raise OSError(
                f"You are trying to access a gated repo. Make sure to have access to it at https://huggingface.co/{GATED}."
            )
        return real(name, *args, **kwargs)

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", from_pretrained)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")  # count the gated model as downloadable
    return dataclasses.replace(env.profile("ci"), max_params_m=5000, roles={"causal_lm": (GATED, models.EMBEDDED_NAME)})


def test_load_falls_back_past_a_gated_model_and_says_how_to_get_it(no_token_for_gated_models):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, tokenizer = models.load("causal_lm", no_token_for_gated_models)
    assert model.name_or_path == models.EMBEDDED_NAME
    message = " ".join(str(w.message) for w in caught)
    assert f"{GATED} is a gated model" in message and "hf auth login" in message
    assert f"Falling back to {models.EMBEDDED_NAME}" in message


def test_a_gated_model_as_the_last_candidate_raises_the_fix(no_token_for_gated_models):
    profile = dataclasses.replace(no_token_for_gated_models, roles={"causal_lm": (GATED,)})
    with pytest.raises(SinklabError, match="gated model.*add it as the secret HF_TOKEN"):
        models.load("causal_lm", profile)


def test_on_a_t4_the_fallback_for_the_gated_model_is_the_one_workshop_md_names():
    assert [s.name for s in prefetch.role_models("causal_lm", env.profile("t4"))][:2] == [GATED, "Qwen/Qwen2.5-0.5B"]
    assert not models.REGISTRY["Qwen/Qwen2.5-0.5B"].gated
