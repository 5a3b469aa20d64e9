"""sinklab.data: byte tokenizer, stdlib corpus, packing, Bigram-Backcopy."""

import pytest
import torch

from sinklab import data
from sinklab.errors import SinklabError


@pytest.fixture(scope="module")
def tokenizer():
    return data.byte_tokenizer()


def test_byte_tokenizer_maps_bytes_to_ids_and_prepends_bos(tokenizer):
    with_bos = tokenizer("Hé!")["input_ids"]
    assert with_bos == [tokenizer.bos_token_id, *"Hé!".encode()]
    assert tokenizer("Hé!", add_special_tokens=False)["input_ids"] == list("Hé!".encode())
    assert tokenizer.decode(with_bos, skip_special_tokens=True) == "Hé!"
    assert len(tokenizer) == data.N_BYTES + 3


def test_stdlib_documents_are_deterministic_and_bounded():
    first = data.stdlib_documents("docstrings", max_bytes=20_000)
    assert first == data.stdlib_documents("docstrings", max_bytes=20_000)
    assert sum(len(d.encode("utf-8")) for d in first) <= 20_000
    assert len(first) > 10 and all(first)
    source = data.stdlib_documents("source", max_bytes=5_000)
    assert sum(len(d.encode("utf-8")) for d in source) <= 5_000
    with pytest.raises(SinklabError, match="docstrings"):
        data.stdlib_documents("comments")


def test_stdlib_files_skip_tests_and_site_packages():
    parts = {part for f in data.stdlib_files() for part in f.parts}
    assert not parts & data.SKIPPED_DIRS
    assert any(f.name == "os.py" for f in data.stdlib_files())


def test_token_stream_joins_documents_with_eos(tokenizer):
    stream = data.token_stream(["ab", "c"], tokenizer)
    assert stream.tolist() == [97, 98, tokenizer.eos_token_id, 99, tokenizer.eos_token_id]


def test_pack_with_and_without_bos():
    stream = torch.arange(10)
    with_bos = data.pack(stream, 4, "bos", bos_id=-1)
    assert with_bos.tolist() == [[-1, 0, 1, 2], [-1, 3, 4, 5], [-1, 6, 7, 8]]
    assert data.pack(stream, 4, "none").tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]
    with pytest.raises(SinklabError, match="bos_id"):
        data.pack(stream, 4, "bos")
    with pytest.raises(SinklabError, match="strategy"):
        data.pack(stream, 4, "eos")


def test_bigram_transitions_are_stochastic_with_trigger_mass():
    stream = torch.tensor([5, 6, 5, 7, 5, 6])
    transitions = data.bigram_transitions(stream, 10, bos_id=0, triggers=(8, 9), trigger_prob=0.2)
    assert torch.allclose(transitions.sum(1), torch.ones(10))
    assert transitions[5, 6].item() == pytest.approx(0.8 * 2 / 3)
    assert transitions[5, 8].item() == pytest.approx(0.1)
    assert transitions[0].tolist() == pytest.approx([0, 0, 0, 0, 0, 0.5, 1 / 3, 1 / 6, 0, 0])


def test_backcopy_copy_rule_holds_exactly_at_triggers(tokenizer):
    stream = data.token_stream(data.stdlib_documents("docstrings", 20_000), tokenizer)
    triggers = (1, 2, 3)
    bos = tokenizer.bos_token_id
    transitions = data.bigram_transitions(stream, len(tokenizer), bos, triggers, trigger_prob=0.1)
    tokens, is_trigger = data.backcopy_batch(transitions, triggers, 64, 128, bos, torch.Generator().manual_seed(0))
    assert tokens.shape == is_trigger.shape == (64, 128)
    assert (tokens[:, 0] == bos).all() and not (tokens[:, 1:] == bos).any()
    assert is_trigger.equal(torch.isin(tokens, torch.tensor(triggers)))
    batch, position = is_trigger[:, :-1].nonzero(as_tuple=True)
    assert len(position) > 200  # about 10 % of positions are triggers
    assert (position >= 2).all()
    assert tokens[batch, position + 1].equal(tokens[batch, position - 1])
    assert not is_trigger[batch, position - 1].any()


def test_recall_puts_the_planted_payload_after_every_trigger(tokenizer):
    stream = data.token_stream(data.stdlib_documents("docstrings", 20_000), tokenizer)
    windows = data.pack(stream, 64, "bos", tokenizer.bos_token_id)[:16]
    triggers, payloads = (1, 2), ((14, 15), (16, 17))
    out = data.insert_recall(windows, triggers, payloads, 3, torch.Generator().manual_seed(0))
    assert out.shape == windows.shape and (out[:, 0] == tokenizer.bos_token_id).all()
    assert not torch.equal(out, windows) and torch.isin(windows, torch.tensor([1, 2, 14, 15, 16, 17])).sum() == 0
    checked = 0
    for row in out:
        for trigger, choices in zip(triggers, payloads):
            positions = (row[:-1] == trigger).nonzero().flatten()
            planted = torch.isin(row, torch.tensor(choices)).nonzero().flatten()
            for k in positions:
                earlier = planted[planted < k]
                assert row[k + 1] in choices and len(earlier) and row[k + 1] == row[earlier[0]]
                checked += 1
    assert checked == 16 * 2 * 3  # every pair is there: no insertion overwrites another


def test_recall_classes_use_bytes_that_text_never_has_and_windows_get_a_subset(tokenizer):
    triggers, payloads = data.recall_classes(8, 3)
    used = torch.tensor([*triggers, *(p for group in payloads for p in group)])
    assert len(set(used.tolist())) == 8 * 4
    stream = data.token_stream(data.stdlib_documents("docstrings", 200_000), tokenizer)
    assert not torch.isin(stream, used).any()
    windows = data.pack(stream, 128, "bos", tokenizer.bos_token_id)[:8]
    out = data.insert_recall(windows, triggers, payloads, 2, torch.Generator().manual_seed(0), classes_per_window=3)
    assert all(len(set(row[torch.isin(row, torch.tensor(triggers))].tolist())) == 3 for row in out)
    with pytest.raises(SinklabError, match="free bytes"):
        data.recall_classes(20, 3)


def test_document_positions_restart_after_every_eos():
    eos = 9
    windows = torch.tensor([[5, 6, eos, 7, eos, eos, 8, 8], [eos, 1, 2, 3, 4, 5, 6, 7]])
    assert data.document_position_ids(windows, eos).tolist() == [[0, 1, 2, 0, 1, 0, 0, 1], [0, 0, 1, 2, 3, 4, 5, 6]]


def test_token_stream_can_start_every_document_with_bos(tokenizer):
    stream = data.token_stream(["ab", "c"], tokenizer, bos_each=True)
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    assert stream.tolist() == [bos, 97, 98, eos, bos, 99, eos]


def test_online_documents_split_the_downloaded_file(tmp_path, monkeypatch):
    import huggingface_hub

    story_file = tmp_path / "stories.txt"
    story_file.write_text("Once upon a time.\n<|endoftext|>\nThe end.<|endoftext|>\n")
    asked = []
    monkeypatch.setattr(
        huggingface_hub,
        "hf_hub_download",
        lambda repo, filename, repo_type: asked.append((repo, filename, repo_type)) or str(story_file),
    )
    assert data.online_documents("tinystories") == ["Once upon a time.", "The end."]
    assert asked == [("roneneldan/TinyStories", "TinyStories-valid.txt", "dataset")]
    assert data.online_documents("tinystories", max_bytes=10) == ["Once upon"]


def test_online_documents_offline_name_the_offline_corpus(monkeypatch):
    import huggingface_hub

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    with pytest.raises(SinklabError, match="stdlib_documents"):
        data.online_documents("tinystories")
    with pytest.raises(SinklabError, match="tinystories"):
        data.online_documents("wikipedia")
