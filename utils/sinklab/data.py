"""Data for the course's training experiments: a byte tokenizer, an offline corpus, packing, synthetic tasks.

- `byte_tokenizer()`: one token per UTF-8 byte (id = byte value) plus ``<bos>``, ``<eos>``, ``<pad>``;
  it puts ``<bos>`` at position 0 by default, like Llama's ``<s>`` (``add_special_tokens=False`` drops it).
- `stdlib_documents()`: natural text that exists on every machine with Python: the docstrings (or the
  plain source) of the Python standard library, in a fixed file order and bounded in size.
- `pack()`: cut a token stream into training windows, with ``<bos>`` pinned at position 0 of every
  window ("bos") or not ("none") — the packing choice of Barbero et al. 2025, Table 2.
  `document_position_ids()` gives the other choice of that table, causal vs intra-document masking:
  positions that restart after every ``<eos>`` make transformers mask attention across documents.
- `online_documents()`: a dataset from the Hugging Face hub (TinyStories), where the network exists.
- `bigram_transitions()` and `backcopy_batch()`: the Bigram-Backcopy task of Guo et al. 2024. Tokens
  follow a bigram chain; right after a *trigger* token the next token copies the token before the
  trigger. A head that does the copy is useful only on triggers and parks on ``<bos>`` elsewhere.
- `insert_recall()`: Trigger-Recall, a content-based cousin of Bigram-Backcopy written into text
  windows: after a trigger comes the payload token planted earlier in the window, at any distance.
"""

from __future__ import annotations

import ast
import os
import sysconfig
from pathlib import Path

import torch

from sinklab.errors import SinklabError

BOS, EOS, PAD = "<bos>", "<eos>", "<pad>"
N_BYTES = 256  # byte b has token id b; the special tokens follow
SKIPPED_DIRS = {"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__"}


def byte_tokenizer(model_max_length: int = 1024):
    """A byte-level `PreTrainedTokenizerFast` (ids 0-255 are bytes, then <bos>, <eos>, <pad>).

    Built with the `tokenizers` library: a byte-level pre-tokenizer, a BPE model with no merges (so
    every byte is one token) and a post-processor that prepends ``<bos>``.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab = {char: byte for byte, char in bytes_to_unicode().items()}
    specials = [BOS, EOS, PAD]
    vocab.update({token: N_BYTES + i for i, token in enumerate(specials)})
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.add_special_tokens(specials)
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, vocab[BOS])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token=BOS, eos_token=EOS, pad_token=PAD, model_max_length=model_max_length
    )


def stdlib_files() -> list[Path]:
    """The standard library's ``.py`` files (no tests, no site-packages), sorted by relative path."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [d for d in subfolders if d not in SKIPPED_DIRS]
        files += [Path(folder) / n for n in names if n.endswith(".py")]
    return sorted(files, key=lambda f: f.relative_to(root).as_posix())


def docstrings(source: str) -> list[str]:
    """Module, class and function docstrings of a Python source text, in the order `ast.walk` meets them."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    kinds = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    found = (ast.get_docstring(node) for node in ast.walk(tree) if isinstance(node, kinds))
    return [text for text in found if text]


def stdlib_documents(kind: str = "docstrings", max_bytes: int = 2_000_000) -> list[str]:
    """Offline natural text from the Python standard library, deterministic for a given Python version.

    ``kind="docstrings"``: one document per docstring (English prose); ``kind="source"``: one per file.
    Documents are taken in sorted file order until ``max_bytes`` (UTF-8) is reached; the last is cut.
    """
    if kind not in ("docstrings", "source"):
        raise SinklabError(f"kind must be 'docstrings' or 'source', got {kind!r}.")
    documents, total = [], 0
    for path in stdlib_files():
        source = path.read_text(encoding="utf-8", errors="replace")
        for text in docstrings(source) if kind == "docstrings" else [source]:
            room = max_bytes - total
            if room <= 0:
                return documents
            text = text.encode("utf-8")[:room].decode("utf-8", errors="ignore")
            documents.append(text)
            total += len(text.encode("utf-8"))
    return documents


def token_stream(documents: list[str], tokenizer, bos_each: bool = False) -> torch.Tensor:
    """All documents tokenized without special tokens and joined by the EOS token, as one 1-D tensor.

    ``bos_each=True`` starts every document with the BOS token (for intra-document masking with a BOS:
    then every attention segment begins with one).
    """
    ids = tokenizer(documents, add_special_tokens=False, verbose=False)["input_ids"]
    start = (tokenizer.bos_token_id,) if bos_each else ()
    return torch.tensor([token for doc in ids for token in (*start, *doc, tokenizer.eos_token_id)], dtype=torch.long)


def pack(stream: torch.Tensor, seq_len: int, strategy: str = "bos", bos_id: int | None = None) -> torch.Tensor:
    """Cut a 1-D token stream into non-overlapping windows ``[n_windows, seq_len]``.

    ``strategy="bos"``: every window starts with ``bos_id`` followed by ``seq_len - 1`` stream tokens
    (fixed BOS at position 0). ``strategy="none"``: windows are plain ``seq_len``-token slices, so the
    first token is wherever the cut falls. The incomplete tail is dropped.
    """
    if strategy not in ("bos", "none"):
        raise SinklabError(f"packing strategy must be 'bos' or 'none', got {strategy!r}.")
    if strategy == "bos" and bos_id is None:
        raise SinklabError("packing with strategy='bos' needs bos_id (e.g. tokenizer.bos_token_id).")
    body = seq_len - 1 if strategy == "bos" else seq_len
    n_windows = len(stream) // body
    if n_windows == 0:
        raise SinklabError(f"The stream has {len(stream)} tokens, fewer than one window of {body}.")
    windows = stream[: n_windows * body].view(n_windows, body)
    if strategy == "none":
        return windows.clone()
    return torch.cat([torch.full((n_windows, 1), bos_id, dtype=windows.dtype), windows], dim=1)


def document_position_ids(windows: torch.Tensor, eos_id: int) -> torch.Tensor:
    """Position ids ``[n_windows, seq_len]`` that restart at 0 after every ``eos_id``: intra-document masking.

    Given these ``position_ids`` (and no ``attention_mask`` and no KV cache: ``use_cache=False``, as in
    `train.model_config`), transformers builds a block-diagonal causal
    mask: a token attends only to earlier tokens of its own document (`masking_utils.find_packed_sequence_indices`).
    Positions (RoPE or learned) restart too, so each document is processed as if it were alone.
    """
    starts = torch.zeros_like(windows, dtype=torch.bool)
    starts[:, 0] = True
    starts[:, 1:] = windows[:, :-1] == eos_id
    index = torch.arange(windows.shape[1]).expand_as(windows)
    start_of_segment = torch.where(starts, index, 0).cummax(dim=1).values
    return index - start_of_segment


ONLINE = {"tinystories": ("roneneldan/TinyStories", "TinyStories-valid.txt", "<|endoftext|>")}


def online_documents(name: str = "tinystories", max_bytes: int = 2_000_000) -> list[str]:
    """Documents of a text dataset on the Hugging Face hub (downloaded once, then cached): its first ``max_bytes`` characters.

    ``name="tinystories"``: the validation split of TinyStories (Eldan & Li 2023), one story per document.
    Needs the network or a filled cache; offline it raises a SinklabError that names the offline corpus.
    """
    if name not in ONLINE:
        raise SinklabError(f"Unknown online dataset {name!r}. Fix: use one of {', '.join(ONLINE)}.")
    from huggingface_hub import hf_hub_download

    repo, filename, separator = ONLINE[name]
    try:
        path = hf_hub_download(repo, filename, repo_type="dataset")
    except Exception as error:  # offline, no cache, hub unreachable: all mean "not here"
        raise SinklabError(
            f"Could not get {filename} of the dataset {repo} ({type(error).__name__}). Fix: connect to the "
            "internet (or fill the Hugging Face cache), or use the offline corpus sinklab.data.stdlib_documents()."
        ) from error
    with open(path, encoding="utf-8") as f:
        text = f.read(max_bytes)
    documents = [doc.strip() for doc in text.split(separator)]
    return [doc for doc in documents if doc]


def bigram_transitions(
    stream: torch.Tensor,
    vocab_size: int,
    bos_id: int,
    triggers: tuple[int, ...] = (),
    trigger_prob: float = 0.0,
) -> torch.Tensor:
    """Row-stochastic bigram matrix ``[vocab, vocab]`` estimated from a token stream.

    With ``trigger_prob > 0`` every row sends that much probability, split evenly, to the ``triggers``
    (which then need not occur in the text). The row of ``bos_id`` holds the stream's unigram
    frequencies, so a chain starts like text does. Tokens never seen as a predecessor get uniform rows.
    """
    counts = torch.zeros(vocab_size, vocab_size)
    counts.index_put_((stream[:-1], stream[1:]), torch.ones(len(stream) - 1), accumulate=True)
    counts[counts.sum(1) == 0] = 1.0
    transitions = counts / counts.sum(1, keepdim=True)
    if trigger_prob > 0:
        transitions *= 1.0 - trigger_prob
        transitions[:, list(triggers)] += trigger_prob / len(triggers)
    unigram = torch.bincount(stream, minlength=vocab_size).float()
    unigram[list(triggers)] = 0.0
    transitions[bos_id] = unigram / unigram.sum()
    return transitions


def backcopy_batch(
    transitions: torch.Tensor,
    triggers: tuple[int, ...],
    batch_size: int,
    seq_len: int,
    bos_id: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bigram-Backcopy sequences (Guo et al. 2024): ``(tokens [batch, seq_len], is_trigger [batch, seq_len])``.

    Position 0 is ``bos_id``; each later token follows the bigram chain, except right after a trigger,
    where it copies the token before the trigger: ``tokens[t + 1] == tokens[t - 1]`` wherever
    ``is_trigger[t]``. (The token before a trigger is never itself a trigger, since a trigger is always
    followed by a copy, so the copy rule is never ambiguous.)
    """
    trigger_ids = torch.tensor(triggers, dtype=torch.long)
    tokens = torch.full((batch_size, seq_len), bos_id, dtype=torch.long)
    for t in range(1, seq_len):
        tokens[:, t] = torch.multinomial(transitions[tokens[:, t - 1]], 1, generator=generator).squeeze(1)
        if t >= 2:
            after_trigger = torch.isin(tokens[:, t - 1], trigger_ids)
            tokens[:, t] = torch.where(after_trigger, tokens[:, t - 2], tokens[:, t])
    return tokens, torch.isin(tokens, trigger_ids)


def insert_recall(
    windows: torch.Tensor,
    triggers: tuple[int, ...],
    payloads: tuple[tuple[int, ...], ...],
    n_recall: int,
    generator: torch.Generator | None = None,
    classes_per_window: int | None = None,
) -> torch.Tensor:
    """Trigger-Recall written into copies of text windows ``[batch, seq_len]`` (position 0 is left alone).

    For each window and each class c (all classes, or ``classes_per_window`` of them drawn at random, so
    that each class is needed in only some windows): one payload token drawn from ``payloads[c]``
    replaces a token in the first half of the window; then, ``n_recall`` times at random later positions,
    ``triggers[c]`` followed by that payload. No insertion overwrites another. Predicting the token after a trigger needs a head
    that finds the payload by its *content*, at any distance; everywhere else that head has nothing to do.
    (Unlike Bigram-Backcopy, where the token to copy always sits two positions back, so a RoPE head can
    fetch it without ever idling.)
    """
    out = windows.clone()
    seq_len = out.shape[1]
    for row in out:
        taken = torch.zeros(seq_len + 1, dtype=torch.bool)
        taken[0] = True
        classes = list(range(len(triggers)))
        if classes_per_window is not None:
            classes = sorted(torch.randperm(len(triggers), generator=generator)[:classes_per_window].tolist())
        for c in classes:
            trigger, choices = triggers[c], payloads[c]
            payload = choices[int(torch.randint(len(choices), (1,), generator=generator))]
            start = _take_free_slot(taken, 1, seq_len // 2, 1, generator)
            row[start] = payload
            for _ in range(n_recall):
                k = _take_free_slot(taken, start + 1, seq_len - 1, 2, generator)
                row[k], row[k + 1] = trigger, payload
    return out


FREE_BYTES = (*range(1, 9), 11, 12, *range(14, 32), 127, *range(245, 256))  # never in UTF-8 English text


def recall_classes(n_classes: int, n_payloads: int) -> tuple[tuple[int, ...], tuple[tuple[int, ...], ...]]:
    """``(triggers, payloads)`` for `insert_recall`: `n_classes` trigger bytes, each with `n_payloads` payload bytes.

    All are bytes that never occur in UTF-8 English text (`FREE_BYTES`: control characters other than
    tab and newlines, DEL, and 0xF5-0xFF, which UTF-8 never uses), triggers first.
    """
    if n_classes * (1 + n_payloads) > len(FREE_BYTES):
        raise SinklabError(
            f"{n_classes} classes x (1 trigger + {n_payloads} payloads) need more than the "
            f"{len(FREE_BYTES)} free bytes. Fix: fewer classes or payloads."
        )
    triggers = FREE_BYTES[:n_classes]
    rest = FREE_BYTES[n_classes:]
    payloads = tuple(tuple(rest[c * n_payloads : (c + 1) * n_payloads]) for c in range(n_classes))
    return triggers, payloads


def _take_free_slot(taken: torch.Tensor, low: int, high: int, width: int, generator) -> int:
    """A random k in [low, high) with ``taken[k:k + width]`` all free; marks those positions taken."""
    free = torch.ones(high - low, dtype=torch.bool)
    for offset in range(width):
        free &= ~taken[low + offset : high + offset]
    candidates = free.nonzero().flatten()
    if len(candidates) == 0:
        raise ValueError("The windows are too short for this many recall insertions. Fix: lower n_recall.")
    k = low + int(candidates[torch.randint(len(candidates), (1,), generator=generator)])
    taken[k : k + width] = True
    return k
