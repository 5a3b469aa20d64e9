"""sinklab.analysis.p0_circuit and sinklab.evaluate on the embedded model and on random-init configs of every family in the sweeps."""

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

from sinklab import evaluate, measure, metrics, models, prompts
from sinklab.analysis import over_mixing as theory
from sinklab.analysis import p0_circuit as circuit
from sinklab.errors import SinklabError

VOCAB = 97
COMMON = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64, vocab_size=VOCAB)
FAMILIES = {  # the families of the t4 and a100 sweeps (env.PROFILES)
    "gpt2": dict(n_embd=32, n_layer=3, n_head=4, n_positions=64, bos_token_id=0, eos_token_id=0),
    "gpt_neox": dict(rotary_pct=0.25),
    "llama": dict(num_key_value_heads=2),
    "qwen2": dict(num_key_value_heads=2, use_sliding_window=True, sliding_window=5, max_window_layers=1),
    "mistral": dict(num_key_value_heads=1, sliding_window=5),
    "gemma2": dict(num_key_value_heads=2, head_dim=8, sliding_window=5, attn_logit_softcapping=1.0),
}


def tiny_model(family):
    """A 3-layer random-init causal LM of the family, fp32, eager attention (std 0.2: attention far from uniform)."""
    torch.manual_seed(0)
    config = AutoConfig.for_model(family, **{**COMMON, **FAMILIES[family]}, initializer_range=0.2)
    return AutoModelForCausalLM.from_config(config, attn_implementation="eager").eval()


@pytest.fixture(scope="module")
def embedded():
    return models.load_model(models.EMBEDDED_NAME)[0]


def two_contexts(vocab, length=12, first=None):
    """Two rows with the same first token and different later tokens."""
    ids = torch.randint(1, vocab, (2, length), generator=torch.Generator().manual_seed(1))
    ids[:, 0] = ids[0, 0] if first is None else first
    return ids


# ---------------------------------------------------------------- position 0 sees only itself


@pytest.mark.parametrize("family", list(FAMILIES))
def test_position_zero_after_every_block_is_independent_of_the_later_tokens(family):
    model = tiny_model(family)
    ids = two_contexts(VOCAB)
    states = circuit.first_token_states(model, ids)  # [2, L+1, D]
    assert states.shape == (2, 4, 32)
    torch.testing.assert_close(states[0], states[1], atol=1e-5, rtol=0)
    second = torch.stack([theory.residual_stream(model, row)[:, 1] for row in ids])
    assert (second[0, 1:] - second[1, 1:]).abs().max() > 1e-2, "the two contexts differ from position 1 on"


def test_the_embedded_models_first_token_state_is_the_same_in_every_context(embedded):
    for first in (256, ord("T")):  # <bos>, and a letter when the prompt has no BOS
        states = circuit.first_token_states(embedded, two_contexts(256, length=40, first=first))
        torch.testing.assert_close(states[0], states[1], atol=1e-5, rtol=0)


def test_first_token_states_refuses_padded_batches(embedded):
    batch = {
        "input_ids": torch.ones(2, 5, dtype=torch.long),
        "attention_mask": torch.tensor([[0, 1, 1, 1, 1], [1] * 5]),
    }
    with pytest.raises(SinklabError, match="without padding"):
        circuit.first_token_states(embedded, batch)


# ---------------------------------------------------------------- query/key cosines


def test_first_key_cosine_reads_the_key_head_of_each_query_group():
    query = torch.randn(1, 4, 5, 8)
    key = torch.randn(1, 2, 5, 8)
    key[0, 0, 0], key[0, 1, 0] = (
        query[0, 0, 1],
        -query[0, 2, 1],
    )  # kv head 0 serves query heads 0-1, kv head 1 heads 2-3
    query[0, :, 2:] = query[0, :, 1:2]  # every query of a head points the same way
    cosine = circuit.first_key_cosine(query, key)
    torch.testing.assert_close(cosine[0, [0, 2]], torch.tensor([1.0, -1.0]))


def test_other_key_cosine_averages_over_the_keys_each_query_sees_after_the_first():
    query, key = torch.randn(2, 2, 6, 4), torch.randn(2, 2, 6, 4)
    expected = torch.zeros(2, 2)
    for i in range(1, 6):
        seen = torch.nn.functional.cosine_similarity(query[:, :, i : i + 1], key[:, :, 1 : i + 1], dim=-1)
        expected += seen.mean(-1) / 5
    torch.testing.assert_close(circuit.other_key_cosine(query, key), expected)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_query_key_cosines_keep_the_models_output(family):
    model = tiny_model(family)
    ids = two_contexts(VOCAB)
    cosines = circuit.query_key_cosines(model, ids)
    assert cosines.first.shape == cosines.other.shape == (2, 3, 4)
    assert cosines.first.abs().max() <= 1 + 1e-6 and cosines.other.abs().max() <= 1 + 1e-6
    with torch.no_grad():
        plain = model(ids).logits
        with measure._attention_implementation(model, circuit.QK_NAME):
            recorded = model(ids, **{circuit.QK_KWARG: ([], [])}).logits
    torch.testing.assert_close(recorded, plain, atol=1e-5, rtol=1e-5)


def test_query_key_cosines_equal_rotated_queries_and_keys_computed_by_hand():
    model = tiny_model("llama")
    ids = two_contexts(VOCAB)
    layer = model.model.layers[0]
    with torch.no_grad():
        hidden = model.model.embed_tokens(ids)
        x = layer.input_layernorm(hidden)
        q = layer.self_attn.q_proj(x).view(2, 12, 4, 8).transpose(1, 2)
        k = layer.self_attn.k_proj(x).view(2, 12, 2, 8).transpose(1, 2)
        cos, sin = model.model.rotary_emb(hidden, torch.arange(12)[None])
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
    cosines = circuit.query_key_cosines(model, ids)
    torch.testing.assert_close(cosines.first[:, 0], circuit.first_key_cosine(q, k))
    torch.testing.assert_close(cosines.other[:, 0], circuit.other_key_cosine(q, k))


def test_layer_profile_has_one_row_per_layer_and_agrees_with_measure(embedded):
    ids = two_contexts(256, length=32, first=256)
    profile = circuit.layer_profile(embedded, ids, eps=0.3)
    report = measure.measure(embedded, ids, stats=("first", "hidden"))
    assert list(profile.index) == list(range(embedded.config.num_hidden_layers))
    assert list(profile.columns) == [
        "‖h₀‖ / ‖h_other‖ entering",
        "cos(q, k₀)",
        "cos(q, k_other)",
        "‖k₀‖ / ‖k_other‖",
        "mean α₀",
        "sink rate ε=0.3",
    ]
    torch.testing.assert_close(
        torch.tensor(profile["mean α₀"].values, dtype=torch.float32), report.importance.mean((0, 2))
    )
    ratio = report.hidden_norm_first[:, 0] / report.hidden_norm_rest[:, 0]
    assert profile.iloc[0, 0] == pytest.approx(ratio.mean().item(), rel=1e-5)


# ---------------------------------------------------------------- the sink at any position


def test_sink_rate_at_is_gu_et_al_sink_t_from_eager_attention():
    model = tiny_model("llama")
    ids = two_contexts(VOCAB)
    report = measure.measure(model, ids, stats=("first", "received"))
    with torch.no_grad():
        attentions = model(ids, output_attentions=True).attentions
    for position in (0, 3):
        alpha = torch.stack([metrics.importance_score(a, key=position) for a in attentions], dim=1)  # [B, L, H]
        for eps in (0.05, 0.2):
            torch.testing.assert_close(circuit.sink_rate_at(report, position, eps), (alpha > eps).float().mean((0, 2)))


def test_sink_rate_at_says_how_to_measure_what_it_needs(embedded):
    report = measure.measure(embedded, torch.tensor([[256, 65, 66, 67]]))
    with pytest.raises(SinklabError, match="stats=\\('first', 'received'\\)"):
        circuit.sink_rate_at(report, 1)
    full = measure.measure(embedded, torch.tensor([[256, 65, 66, 67]]), stats=("first", "received"))
    with pytest.raises(SinklabError, match="outside"):
        circuit.sink_rate_at(full, 4)


# ---------------------------------------------------------------- ablations


def test_move_bos_keeps_the_other_tokens_in_order():
    assert circuit.move_bos([9, 1, 2, 3], 2, 9) == [1, 2, 9, 3]
    assert circuit.move_bos([9, 1, 2, 3], 0, 9) == [9, 1, 2, 3]
    assert circuit.move_bos([9, 1, 2, 3], 3, 9) == [1, 2, 3, 9]
    with pytest.raises(SinklabError, match="start with the BOS"):
        circuit.move_bos([1, 2, 3], 1, 9)
    with pytest.raises(SinklabError, match="outside"):
        circuit.move_bos([9, 1, 2, 3], 4, 9)


def test_swapped_position_embeddings_equal_swapped_position_ids_and_are_restored():
    model = tiny_model("gpt2")
    ids = two_contexts(VOCAB)
    before = circuit.position_embedding(model).weight.clone()
    order = torch.arange(12)
    order[[0, 5]] = order[[5, 0]]
    with torch.no_grad():
        expected = model(ids, position_ids=order[None].expand(2, -1)).logits
        with circuit.swapped_position_embeddings(model, 0, 5):
            swapped = model(ids).logits
    torch.testing.assert_close(swapped, expected)
    assert torch.equal(circuit.position_embedding(model).weight, before)
    with pytest.raises(RuntimeError), circuit.swapped_position_embeddings(model, 0, 5):
        raise RuntimeError("an error inside the block")
    assert torch.equal(circuit.position_embedding(model).weight, before)
    with pytest.raises(SinklabError, match="positions"):
        with circuit.swapped_position_embeddings(model, 0, 64):
            pass


def test_the_encoder_shipped_with_sinklab_has_learned_position_embeddings():
    encoder = models.load_model(models.MINILM_NAME)[0]
    assert circuit.position_embedding(encoder).num_embeddings == encoder.config.max_position_embeddings


@pytest.mark.parametrize("family", [f for f in FAMILIES if f != "gpt2"])
def test_models_without_learned_positions_say_so(family):
    with pytest.raises(SinklabError, match="no learned absolute position embedding"):
        circuit.position_embedding(tiny_model(family))


@pytest.mark.parametrize("family", list(FAMILIES))
def test_patched_residual_changes_only_the_patched_position_and_later_ones(family):
    model = tiny_model(family)
    ids = two_contexts(VOCAB)
    with torch.no_grad():
        plain = model(ids).logits
        own = theory.residual_stream(model, ids[0])[2, 4]  # position 4's own state after block 1
        with circuit.patched_residual(model, 1, 4, own):
            same = model(ids[:1]).logits
        with circuit.patched_residual(model, 1, 4, torch.randn(32) * 5):
            patched = model(ids).logits
    torch.testing.assert_close(same, plain[:1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(patched[:, :4], plain[:, :4], atol=1e-5, rtol=1e-5)  # the causal mask
    assert (patched[:, 4:6] - plain[:, 4:6]).abs().amax((0, 2)).min() > 1e-4  # (sliding windows hide it further on)
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, plain)  # the hook is gone


def test_patched_residual_removes_its_hook_after_an_error_and_refuses_bad_indices(embedded):
    ids = torch.tensor([[256, 65, 66, 67]])
    n_layers, width = embedded.config.num_hidden_layers, embedded.config.hidden_size
    with torch.no_grad():
        plain = embedded(ids).logits
        with pytest.raises(RuntimeError), circuit.patched_residual(embedded, 0, 1, torch.zeros(width)):
            raise RuntimeError("an error inside the block")
        torch.testing.assert_close(embedded(ids).logits, plain)
        with pytest.raises(SinklabError, match=f"blocks 0..{n_layers - 1}"):
            with circuit.patched_residual(embedded, n_layers, 1, torch.zeros(width)):
                pass
        with pytest.raises(SinklabError, match="outside the 4 tokens"):
            with circuit.patched_residual(embedded, 0, 9, torch.zeros(width)):
                embedded(ids)


def test_a_bos_state_patched_into_a_text_without_bos_becomes_a_sink(embedded):
    """The embedded model's sink heads (layer 2) find the <bos> state wherever it is written (measured: 0.72)."""
    tokenizer = models.load_model(models.EMBEDDED_NAME)[1]
    ids = prompts.prompt_batch(tokenizer, n=4, seq_len=40)["input_ids"]
    bos_state = circuit.first_token_states(embedded, ids[:1])[0, 1]  # after block 0
    without_bos = ids[:, 1:]
    with circuit.patched_residual(embedded, 0, 16, bos_state):
        report = measure.measure(embedded, without_bos, stats=("first", "received"))
    assert circuit.sink_rate_at(report, 16)[2] >= 0.5
    plain = measure.measure(embedded, without_bos, stats=("first", "received"))
    assert circuit.sink_rate_at(plain, 16)[2] == 0


# ---------------------------------------------------------------- perplexity


def test_perplexity_is_exp_of_the_mean_next_token_loss():
    model = tiny_model("llama")
    ids = two_contexts(VOCAB)
    with torch.no_grad():
        logits = model(ids).logits
    nll = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, VOCAB), ids[:, 1:].reshape(-1))
    assert evaluate.perplexity(model, ids) == pytest.approx(nll.exp().item(), rel=1e-5)


def test_perplexity_leaves_out_pad_targets():
    model = tiny_model("llama")
    row = two_contexts(VOCAB)[:1, :8]
    padded = {
        "input_ids": torch.cat([torch.zeros(1, 4, dtype=torch.long), row], 1),
        "attention_mask": torch.cat([torch.zeros(1, 4, dtype=torch.long), torch.ones(1, 8, dtype=torch.long)], 1),
    }
    assert evaluate.perplexity(model, padded) == pytest.approx(evaluate.perplexity(model, row), rel=1e-4)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_the_chapters_measurements_run_on_every_family_of_the_gpu_sweeps(family):
    """Chapter 4's GPU code paths, on a random-init config of each family: profile, moved first token, patch."""
    model = tiny_model(family)
    ids = torch.randint(1, VOCAB, (2, 24), generator=torch.Generator().manual_seed(2))
    table = circuit.layer_profile(model, ids)
    assert table.shape == (3, 6) and table.notna().all().all()
    moved = torch.tensor([circuit.move_bos(row, 8, row[0]) for row in ids.tolist()])
    report = measure.measure(model, moved, stats=("first", "received"))
    assert circuit.sink_rate_at(report, 8).shape == (3,)
    state = circuit.first_token_states(model, ids[:1])[0, 1]
    with circuit.patched_residual(model, 0, 8, state):
        patched = measure.measure(model, ids[:, 1:], stats=("first", "received"))
    assert patched.received[..., 8].sum() > 0
    assert evaluate.perplexity(model, ids) > 1
