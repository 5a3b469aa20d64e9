"""The course's prompt set: natural English paragraphs, plus random and repeated-token controls.

Gu et al. (2025) measure sinks on the first T = 64 tokens of natural text and compare with random
and repeated tokens (their Table 1). `prompt_batch` builds those three kinds for any tokenizer.
"""

from __future__ import annotations

import torch

NATURAL = [
    "The cat sat on the warm windowsill and watched the rain fall over the garden. Every few minutes it "
    "lifted its head when a bird landed on the fence, then settled back down as if nothing had happened.",
    "In 1905 Albert Einstein published four papers that changed how physicists think about light, time and "
    "matter. One of them explained the photoelectric effect, for which he later received the Nobel Prize.",
    "To bake a simple loaf of bread, mix flour, water, salt and yeast, knead the dough for ten minutes, and "
    "let it rise in a warm place until it has doubled in size. Then shape it and bake it for forty minutes.",
    "The river starts as a small stream high in the mountains, fed by melting snow. By the time it reaches "
    "the sea it has crossed three countries and carried sand, stones and stories from every valley.",
    "When the train stopped in the middle of the field, the passengers looked at each other in silence. "
    "After a while the conductor walked through the carriages and explained that a tree had fallen on the line.",
    "A good night's sleep helps the brain store what it learned during the day. Researchers have found that "
    "people who sleep after studying remember more than those who stay awake for the same amount of time.",
    "The old library had wooden shelves that reached the ceiling and a ladder on rails that slid along them. "
    "Children loved to climb it, even though the librarian told them every day to be careful.",
    "Bees communicate the location of flowers by dancing. The angle of the dance shows the direction relative "
    "to the sun, and the length of the waggle tells the other bees how far they have to fly.",
    "The committee met on Tuesday to discuss the budget for next year. After a long debate they agreed to "
    "spend more on public transport and less on new roads, a decision that surprised many observers.",
    "She opened the letter slowly, unsure whether it would bring good news. Inside was a single page, written "
    "by hand, inviting her to join the expedition that would leave for the north in early spring.",
    "Volcanoes form where molten rock rises from deep inside the Earth. Some erupt violently and throw ash "
    "high into the sky, while others release slow rivers of lava that cool into new land.",
    "Learning a new language is easier when you hear it every day. Many people listen to radio programmes, "
    "watch films with subtitles, or talk with friends online to practise what they have studied.",
    "The market opened at dawn, and by seven o'clock the square was full of voices. Farmers sold apples, "
    "cheese and fresh bread, and a man with an accordion played the same three songs all morning.",
    "Computers store numbers in binary, using only the digits zero and one. A group of eight binary digits "
    "is called a byte, and it can represent any whole number from zero to two hundred and fifty-five.",
    "The lighthouse keeper climbed the stairs every evening to light the lamp. For forty years he never missed "
    "a night, and the sailors who passed the rocky coast trusted the light to guide them home.",
    "Photosynthesis lets plants turn sunlight, water and carbon dioxide into sugar and oxygen. Almost every "
    "living thing on land depends on this process, directly or indirectly, for the energy it needs.",
]


def prompt_batch(
    tokenizer, kind: str = "natural", n: int = 8, seq_len: int = 64, seed: int = 0, bos: bool = True
) -> dict:
    """`n` prompts of exactly `seq_len` tokens (BOS included where the tokenizer adds one).

    kind: "natural" (the paragraphs above, cycled and cut to length), "random" (uniformly random
    token ids) or "repeated" (one random token repeated). Returns ``{"input_ids", "attention_mask"}``.
    bos: keep the special token the tokenizer puts first (BOS, [CLS]); ``False`` leaves it out, so a
    "repeated" row holds one token at every position, the input of Gu et al.'s Table 1.
    """
    texts = [" ".join(NATURAL[(i + j) % len(NATURAL)] for j in range(4)) for i in range(n)]
    ids = [tokenizer(text, add_special_tokens=bos, verbose=False)["input_ids"][:seq_len] for text in texts]
    input_ids = torch.tensor(ids)
    if kind in ("random", "repeated"):
        g = torch.Generator().manual_seed(seed)
        special = set(tokenizer.all_special_ids)
        allowed = torch.tensor([i for i in range(len(tokenizer)) if i not in special])
        starts = int(input_ids[0, 0].item() in special)  # keep the BOS the tokenizer adds
        shape = (n, seq_len - starts) if kind == "random" else (n, 1)
        picked = allowed[torch.randint(len(allowed), shape, generator=g)]
        input_ids[:, starts:] = picked.expand(n, seq_len - starts)
    elif kind != "natural":
        raise ValueError(f"kind must be 'natural', 'random' or 'repeated', not {kind!r}")
    return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}


# ---------------------------------------------------------------- chapter 3: one long prompt


def long_prompt(tokenizer, n_tokens: int) -> dict:
    """One prompt of exactly `n_tokens` tokens, ``{"input_ids", "attention_mask"}`` of shape ``[1, n_tokens]``.

    The tokenizer's BOS (where it adds one), then the paragraphs of `NATURAL` and, when more text is
    needed, English prose that exists on every machine: the docstrings of the Python standard library
    (`sinklab.data.stdlib_documents`), all joined by blank lines.
    """
    from sinklab import data
    from sinklab.errors import SinklabError

    if n_tokens < 2:
        raise SinklabError(f"A long prompt needs at least 2 tokens, got n_tokens={n_tokens}.")
    text = "\n\n".join(NATURAL)
    ids = tokenizer(text, verbose=False)["input_ids"]
    if len(ids) < n_tokens:
        text += "\n\n" + "\n\n".join(data.stdlib_documents("docstrings", max_bytes=8 * n_tokens))
        ids = tokenizer(text, verbose=False)["input_ids"]
    ids = ids[:n_tokens]
    if len(ids) < n_tokens:
        raise SinklabError(
            f"The docstring text gave only {len(ids)} tokens, fewer than n_tokens={n_tokens}. "
            "Fix: ask for fewer tokens."
        )
    input_ids = torch.tensor([ids])
    return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}
