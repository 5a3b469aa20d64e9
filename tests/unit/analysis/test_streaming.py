"""sinklab.analysis.streaming and sinklab.evaluate: exact checks on random-init models of every family in the sweeps."""

import math

import pytest
import torch
import torch.nn.functional as F

from sinklab import evaluate, prompts
from sinklab.analysis import streaming
from sinklab.errors import SinklabError
from sinklab.viz import plots

from random_models import FAMILIES, random_model, tokenizer

T = 24


@pytest.fixture(scope="module")
def batch():
    return prompts.prompt_batch(tokenizer(), "natural", n=2, seq_len=T)


def test_perplexity_is_the_exponential_of_the_models_own_loss(batch):
    model = random_model("llama")
    with torch.no_grad():
        loss = model(input_ids=batch["input_ids"], labels=batch["input_ids"]).loss
    assert evaluate.perplexity(model, batch) == pytest.approx(math.exp(loss.item()), rel=1e-5)


def test_perplexity_counts_only_real_targets():
    """Right padding: the padded batch scores exactly the real tokens of each row."""
    model, tok = random_model("llama"), tokenizer()
    long, short = tok(prompts.NATURAL[0])["input_ids"][:20], tok(prompts.NATURAL[1])["input_ids"][:12]
    ids = torch.full((2, 20), tok.pad_token_id)
    ids[0], ids[1, :12] = torch.tensor(long), torch.tensor(short)
    mask = (torch.arange(20) < torch.tensor([[20], [12]])).long()
    nll = []
    with torch.no_grad():
        for row in (long, short):
            logits = model(torch.tensor([row])).logits[0, :-1]
            nll.append(F.cross_entropy(logits, torch.tensor(row[1:]), reduction="none"))
    expected = math.exp(torch.cat(nll).mean().item())
    assert evaluate.perplexity(model, {"input_ids": ids, "attention_mask": mask}) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(SinklabError, match="two real tokens"):
        evaluate.perplexity(model, torch.tensor([[5]]))


@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_window_as_long_as_the_input_is_full_attention(family, batch):
    model = random_model(family)
    implementation = model.config._attn_implementation
    full = evaluate.perplexity(model, batch)
    assert streaming.streaming_perplexity(model, batch, window=T, n_sink=0) == pytest.approx(full, rel=1e-5)
    assert streaming.streaming_perplexity(model, batch, window=4, n_sink=T) == pytest.approx(full, rel=1e-5)
    assert streaming.streaming_perplexity(model, batch, window=4, n_sink=1) != pytest.approx(full, rel=1e-5)
    assert model.config._attn_implementation == implementation  # restored


@pytest.mark.parametrize("family", ["gpt2", "gpt_neox", "llama", "qwen2", "gemma2"])
@pytest.mark.parametrize("window, n_sink", [(4, 0), (4, 1), (6, 4), (1, 0)])
def test_logits_equal_eager_attention_with_the_explicit_mask(family, window, n_sink, batch):
    """The mask transformers builds under "sinklab_streaming" is exactly `streaming_mask` (in every layer)."""
    extra = {"sliding_window": 64} if family == "gemma2" else {}  # an explicit 4D mask replaces the model's window
    model = random_model(family, **extra)
    with torch.no_grad(), streaming.window_attention(model, window, n_sink):
        got = model(**batch).logits
    model.set_attn_implementation("eager")
    visible = streaming.streaming_mask(T, window, n_sink)
    additive = torch.zeros(2, 1, T, T).masked_fill(~visible, torch.finfo(torch.float32).min)
    with torch.no_grad():
        expected = model(input_ids=batch["input_ids"], attention_mask=additive).logits
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_a_window_of_one_sees_only_the_token_itself(batch):
    model = random_model("llama")
    changed = batch["input_ids"].clone()
    changed[:, 3] = (changed[:, 3] + 1) % 256
    with torch.no_grad(), streaming.window_attention(model, window=1):
        a, b = model(batch["input_ids"]).logits, model(changed).logits
    assert torch.equal(a[:, 4:], b[:, 4:]) and not torch.equal(a[:, 3], b[:, 3])


def test_the_models_own_sliding_window_is_kept():
    """Mistral's window of 8 stays in force inside a longer streaming window."""
    model = random_model("mistral")
    ids = prompts.prompt_batch(tokenizer(), "natural", n=1, seq_len=T)
    full = evaluate.perplexity(model, ids)
    assert streaming.streaming_perplexity(model, ids, window=16) == pytest.approx(full, rel=1e-5)


def test_streaming_mask_and_bad_arguments():
    mask = streaming.streaming_mask(6, 2, 1)
    assert mask.tolist()[5] == [True, False, False, False, True, True]
    assert mask.tolist()[0] == [True, False, False, False, False, False]
    with pytest.raises(SinklabError, match="at least 1"):
        streaming.streaming_mask(6, 0, 1)
    with pytest.raises(SinklabError, match="0 or more"):
        streaming.streaming_perplexity(random_model("llama"), torch.tensor([[1, 2, 3]]), 2, -1)


def test_compare_tabulates_every_setting_and_the_chart_renders(batch):
    table = streaming.compare(random_model("llama"), batch, windows=(4, 8), sinks=(0, 1, 4))
    assert len(table) == 1 + 2 * 3
    assert table.iloc[0]["initial tokens kept"] == "full attention" and table.iloc[0]["window"] == T
    assert plots.to_png(plots.streaming_chart(table, "streaming")).startswith(b"\x89PNG")
