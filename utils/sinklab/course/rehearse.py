"""`sinklab rehearse --profile cpu|t4|a100`: run the course as a learner on that profile would, without a hub.

No machine of this project reaches the Hugging Face hub, so the real models of the cpu, t4 and a100
profiles are replaced by **stand-ins**: under each real hub id, a local Hugging Face cache (the hub's own
layout: ``models--org--name/{blobs,refs,snapshots}``) holds the real architecture (the config.json facts
transcribed in ``assets/stand_ins.yml``; ``--layers`` may lower the depth), random weights,
``"sinklab_stand_in": true`` in the config, and a byte-level tokenizer with the real one's conventions
(special tokens at their real ids, BOS prepended or not, no pad token where the real one has none, padding
side, ``model_max_length``). Pythia's training checkpoints exist as the branches ``stepN``. Gated ids carry
``"sinklab_gated": true`` and load only with a token (`sinklab.models.load_model` refuses them otherwise).

The cache is built once per depth and reused; a model whose build was interrupted is rebuilt on the next run
(its ref is written last). Then every selected solution notebook runs offline under the profile
(``HF_HUB_CACHE`` = the stand-in cache, ``HF_HUB_OFFLINE=1``), each in a fresh kernel, and one line per chapter
says pass/fail, wall time and peak RSS (peak GPU memory on CUDA).

Stand-in weights are random: a notebook's claims that need pretrained weights print
"stand-in weights: claim not tested" on them; everything else (shapes, identities, code paths, dtypes) asserts.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from sinklab import env, models
from sinklab.errors import SinklabError

FACTS = Path(__file__).resolve().parents[1] / "assets" / "stand_ins.yml"
ROOT = Path(__file__).resolve().parents[3]  # the repository (course/, solutions/)
DEFAULT_CACHE = Path(os.environ.get("SINKLAB_STAND_IN_CACHE", Path.home() / ".cache" / "sinklab" / "stand-ins"))
REHEARSABLE = ("cpu", "t4", "a100")
SHIPPED = (models.EMBEDDED_NAME, models.MINILM_NAME)
MARKER = "SINKLAB_REHEARSE "  # the line the last, appended cell prints (peak memory)


# ---------------------------------------------------------------- what a profile can load


def facts() -> dict:
    """The transcribed stand-in facts (``models`` and ``tokenizers``)."""
    import yaml

    return yaml.safe_load(FACTS.read_text())


def course_model_names(course_dir: Path = ROOT / "course") -> set[str]:
    """Registry names quoted anywhere in the chapter sources (direct `load_model` calls and model lists)."""
    text = "\n".join(p.read_text() for p in sorted(course_dir.glob("[0-9][0-9]_*.py")))
    quoted = set(re.findall(r"""["']([\w./-]+)["']""", text))
    return {name for name in quoted if name in models.REGISTRY}


def needed(profile: env.Profile, course_dir: Path = ROOT / "course") -> dict[str, list[str]]:
    """Hub id -> revisions (``"main"``, ``"stepN"``) any chapter can load on `profile`.

    Every candidate of every role, every Pythia checkpoint of `sweep.CHECKPOINTS`, and every registry model a
    chapter names directly, within the profile's size cap. Models shipped with sinklab need no cache.
    """
    from sinklab.analysis import sweep

    names = {n for role in profile.roles.values() for n in role} | course_model_names(course_dir)
    plan = {
        n: ["main"] for n in sorted(names) if n not in SHIPPED and models.REGISTRY[n].params_m <= profile.max_params_m
    }
    if profile.name in sweep.CHECKPOINTS:
        name, steps = sweep.CHECKPOINTS[profile.name]
        plan.setdefault(name, ["main"])
        plan[name] += [f"step{s}" for s in steps]
    return plan


# ---------------------------------------------------------------- building one stand-in


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character map (the ByteLevel alphabet)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def build_tokenizer(conv: dict, folder: Path) -> None:
    """A byte-level tokenizer with `conv`'s conventions, written to `folder` (tokenizer.json + config).

    The 256 bytes take the lowest ids free of special tokens; the rest of the real vocabulary is filled with
    placeholder tokens, so ids, special ids and `len(tokenizer)` match the real tokenizer's.
    """
    from tokenizers import Tokenizer, decoders, pre_tokenizers, processors
    from tokenizers.models import BPE

    special = dict(conv["special"])
    vocab, next_id = {}, 0
    for char in _bytes_to_unicode().values():
        while next_id in special.values():
            next_id += 1
        vocab[char] = next_id
        next_id += 1
    vocab.update(special)
    used = set(vocab.values())
    vocab.update({f"<sinklab_unused_{i}>": i for i in range(conv["vocab_len"]) if i not in used})
    tok = Tokenizer(BPE(vocab=vocab, merges=[], unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(list(special))
    if conv["add_bos"]:
        bos = conv["bos_token"]
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, special[bos])]
        )
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.save(str(folder / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "add_bos_token": conv["add_bos"],
        "add_eos_token": False,
        "padding_side": conv["padding_side"],
        "clean_up_tokenization_spaces": False,
    }
    for key in ("bos_token", "eos_token", "unk_token", "pad_token"):
        if conv[key] is not None:
            config[key] = conv[key]
    if conv["model_max_length"] is not None:
        config["model_max_length"] = conv["model_max_length"]
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    (folder / "special_tokens_map.json").write_text(
        json.dumps({k: config[k] for k in ("bos_token", "eos_token", "unk_token", "pad_token") if k in config})
    )


def build_model(name: str, fact: dict, folder: Path, layers: int | None, seed: int) -> None:
    """Random weights of `name`'s architecture (depth lowered to `layers`), saved in its published dtype."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    values = dict(fact["config"])
    if layers is not None:
        values[fact["depth_key"]] = min(layers, values[fact["depth_key"]])
    config = AutoConfig.for_model(fact["family"], **values)
    config.sinklab_stand_in = True
    config.sinklab_gated = bool(fact.get("gated", False))
    config.sinklab_stand_in_note = (
        "random weights of the real architecture (config facts transcribed in "
        "sinklab/assets/stand_ins.yml); built by `sinklab rehearse`"
    )
    torch.manual_seed(seed)
    # stored in bf16 (half the disk, random weights lose nothing); config.json states the published dtype
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(folder)
    saved = json.loads((folder / "config.json").read_text())
    saved["dtype"] = fact["dtype"]
    (folder / "config.json").write_text(json.dumps(saved, indent=2))


def _commit(name: str, revision: str, layers: int | None, seed: int, fact: dict, conv: dict) -> str:
    """A deterministic 40-hex 'commit' per stand-in: it changes when the facts or the depth change."""
    key = json.dumps([name, revision, layers, seed, fact, conv], sort_keys=True, default=str)
    return hashlib.sha1(key.encode()).hexdigest()


def repo_dir(cache: Path, name: str) -> Path:
    return cache / ("models--" + name.replace("/", "--"))


def is_built(cache: Path, name: str, revision: str, commit: str) -> bool:
    ref = repo_dir(cache, name) / "refs" / revision
    return (
        ref.is_file()
        and ref.read_text().strip() == commit
        and (repo_dir(cache, name) / "snapshots" / commit / "config.json").exists()
    )


def _store(repo: Path, staging: Path, commit: str) -> None:
    """Move `staging`'s files into the hub layout: blobs/<sha256>, snapshots/<commit>/<file> -> blob."""
    blobs, snapshot = repo / "blobs", repo / "snapshots" / commit
    blobs.mkdir(parents=True, exist_ok=True)
    if snapshot.exists():
        shutil.rmtree(snapshot)
    snapshot.mkdir(parents=True)
    for f in sorted(staging.iterdir()):
        digest = hashlib.sha256()
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 24), b""):
                digest.update(chunk)
        blob = blobs / digest.hexdigest()
        if blob.exists():
            f.unlink()
        else:
            f.replace(blob)
        (snapshot / f.name).symlink_to(os.path.relpath(blob, snapshot))


def build_one(cache: Path, name: str, revision: str, layers: int | None, seed: int = 0) -> bool:
    """Build one stand-in (one revision) unless it is there already; True when it was built now."""
    table = facts()
    if name not in table["models"]:
        raise SinklabError(f"No stand-in facts for {name!r} in {FACTS}. Fix: add its config.json facts there.")
    fact = table["models"][name]
    conv = table["tokenizers"][fact["tokenizer"]]
    # each Pythia checkpoint gets its own random weights (seeded by the step)
    seed = seed + (int(revision[4:]) + 1 if revision.startswith("step") else 0)
    commit = _commit(name, revision, layers, seed, fact, conv)
    if is_built(cache, name, revision, commit):
        return False
    repo = repo_dir(cache, name)
    staging = repo / ".staging" / f"{revision}-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    build_model(name, fact, staging, layers, seed)
    build_tokenizer(conv, staging)
    _store(repo, staging, commit)
    shutil.rmtree(repo / ".staging", ignore_errors=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / revision).write_text(commit)  # last: a build interrupted before this line is redone
    return True


def link_genuine(cache: Path, name: str, sources: list[Path]) -> bool:
    """Link a model that has no stand-in facts (e.g. TinyStories-656K, genuine weights) from another cache."""
    target = repo_dir(cache, name)
    if target.exists():
        return True
    for source in sources:
        found = repo_dir(source, name)
        if (found / "refs" / "main").is_file():
            target.symlink_to(found.resolve(), target_is_directory=True)
            return True
    return False


def cache_dir(layers: int | None, root: Path = DEFAULT_CACHE) -> Path:
    return root / (f"layers-{layers}" if layers else "full-depth")


def build_cache(
    profile: env.Profile,
    layers: int | None = None,
    root: Path = DEFAULT_CACHE,
    genuine: list[Path] | None = None,
    say=print,
) -> Path:
    """Build (or reuse) the stand-in cache for everything `profile` can load; returns the cache folder."""
    from tqdm.auto import tqdm

    if profile.name not in REHEARSABLE:
        raise SinklabError(
            f"Profile {profile.name!r} needs no stand-ins (it is offline by design). "
            f"Fix: rehearse one of {', '.join(REHEARSABLE)}."
        )
    if layers is not None and layers < 1:
        raise SinklabError(f"--layers must be at least 1, got {layers}.")
    cache = cache_dir(layers, root)
    cache.mkdir(parents=True, exist_ok=True)
    table = facts()["models"]
    plan = needed(profile)
    jobs = [(n, r) for n, revs in plan.items() if n in table for r in revs]
    built = 0
    for name, revision in tqdm(jobs, desc=f"stand-ins for {profile.name}", unit="model"):
        built += build_one(cache, name, revision, layers)
    linked = [n for n in plan if n not in table and link_genuine(cache, n, genuine or [])]
    missing = [n for n in plan if n not in table and n not in linked]
    say(
        f"stand-in cache {cache}: {len(jobs)} stand-ins ({built} built now, {len(jobs) - built} reused), "
        f"depth {'≤ ' + str(layers) + ' layers' if layers else 'real'}"
        + (f"; genuine weights linked: {', '.join(linked)}" if linked else "")
        + (f"; not available (chapters skip them offline): {', '.join(missing)}" if missing else "")
    )
    return cache


# ---------------------------------------------------------------- running the notebooks


def chapter_notebooks(chapters: list[int] | None, folder: Path = ROOT / "solutions") -> list[Path]:
    found = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise SinklabError(f"No solution notebooks in {folder}. Fix: run `sinklab build` first.")
    if chapters is None:
        return found
    by_number = {int(p.name[:2]): p for p in found}
    unknown = [c for c in chapters if c not in by_number]
    if unknown:
        raise SinklabError(f"No chapter {unknown} in {folder}; chapters: {sorted(by_number)}.")
    return [by_number[c] for c in chapters]


def rehearsal_env(profile: str, cache: Path, token: bool, scale: float | None) -> dict[str, str]:
    """The environment a learner's kernel would have: the profile, the stand-in cache, offline, no token."""
    run = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    run.update(
        SINKLAB_PROFILE=profile, HF_HUB_CACHE=str(cache), HF_HUB_OFFLINE="1", HF_TOKEN_PATH=str(cache / "no-token")
    )  # no token file: gated ids behave as gated
    if token:
        run["HF_TOKEN"] = "hf_sinklab_rehearsal_token"  # a token 'exists': gated stand-ins load
    if scale is not None:
        run[env.SCALE_VARIABLE] = str(scale)
    run["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "utils"), os.environ.get("PYTHONPATH")) if p)
    return run


def run_notebook(path: Path, timeout: int = 3600, gpu_cap_gib: float | None = None, keep: Path | None = None) -> dict:
    """Execute one notebook in a fresh kernel (this process's environment); returns its record."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    if gpu_cap_gib:
        nb.cells.insert(
            0,
            nbformat.v4.new_code_cell(
                "import torch\nif torch.cuda.is_available():\n"
                f"    torch.cuda.set_per_process_memory_fraction(min(1.0, {gpu_cap_gib} * 2**30 / "
                "torch.cuda.get_device_properties(0).total_memory))"
            ),
        )
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "import json as _j, resource as _r, torch as _t\n"
            f"print({MARKER!r} + _j.dumps({{'rss_mib': _r.getrusage(_r.RUSAGE_SELF).ru_maxrss / 1024, "
            "'gpu_mib': _t.cuda.max_memory_allocated() / 2**20 if _t.cuda.is_available() else None}))"
        )
    )
    start, error = time.perf_counter(), None
    try:
        NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
        ).execute()
    except CellExecutionError as e:
        cell = next(
            (i for i, c in enumerate(nb.cells) if any(o.get("output_type") == "error" for o in c.get("outputs", []))),
            "?",
        )
        error = f"cell {cell}: {e.ename}: {e.evalue}"[:300]
    except Exception as e:  # a dead kernel, a timeout: still one line in the table
        error = f"{type(e).__name__}: {e}"[:300]
    record = {"chapter": path.name, "ok": error is None, "wall_s": time.perf_counter() - start, "error": error}
    if keep is not None:  # the executed notebook, outputs included, to read what failed
        keep.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, keep / path.name)
    for cell in nb.cells[-1:]:
        for out in cell.get("outputs", []):
            for line in out.get("text", "").splitlines():
                if line.startswith(MARKER):
                    record.update(json.loads(line[len(MARKER) :]))
    return record


def rehearse(
    profile_name: str,
    chapters: list[int] | None = None,
    layers: int | None = None,
    scale: float | None = None,
    token: bool = False,
    root: Path = DEFAULT_CACHE,
    genuine: list[Path] | None = None,
    timeout: int = 3600,
    gpu_cap_gib: float | None = None,
    keep: Path | None = None,
    say=print,
) -> list[dict]:
    """Build the stand-in cache, run the selected solution notebooks offline on the profile; one record each."""
    if profile_name not in REHEARSABLE:
        raise SinklabError(
            f"Unknown profile {profile_name!r} for a rehearsal. Fix: choose one of "
            f"{', '.join(REHEARSABLE)} (ci needs none: it runs offline by design)."
        )
    if scale is not None and not 0 < scale <= 1:
        raise SinklabError(f"--scale must be in (0, 1], got {scale}.")
    notebooks = chapter_notebooks(chapters)
    cache = build_cache(env.PROFILES[profile_name], layers, root, genuine, say)
    say(
        f"rehearsal of profile {profile_name!r}: depth {layers or 'real'}, scale {scale or 1} "
        f"({'token given' if token else 'no HF token'}), {len(notebooks)} chapters, stand-in weights"
    )
    run = rehearsal_env(profile_name, cache, token, scale)
    records = []
    for path in notebooks:
        cmd = [sys.executable, "-m", "sinklab.course.rehearse", "--run-one", str(path), "--timeout", str(timeout)]
        if gpu_cap_gib:
            cmd += ["--gpu-cap-gib", str(gpu_cap_gib)]
        if keep is not None:
            cmd += ["--keep", str(keep)]
        done = subprocess.run(cmd, env=run, capture_output=True, text=True)
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith(MARKER)]
        if lines:
            record = json.loads(lines[-1][len(MARKER) :])
        else:
            record = {
                "chapter": path.name,
                "ok": False,
                "wall_s": 0.0,
                "error": (done.stderr.strip().splitlines() or ["runner failed"])[-1][:300],
            }
        records.append(record)
        say(format_line(record))
    passed = sum(r["ok"] for r in records)
    say(
        f"{passed}/{len(records)} chapters passed on profile {profile_name!r} (stand-ins, "
        f"depth {layers or 'real'}, scale {scale or 1})"
    )
    return records


def format_line(r: dict) -> str:
    memory = f"peak RSS {r['rss_mib']:7.0f} MiB" if r.get("rss_mib") else "peak RSS       ?"
    if r.get("gpu_mib") is not None:
        memory += f", peak GPU {r['gpu_mib']:.0f} MiB"
    line = f"{r['chapter']:<32} {'pass' if r['ok'] else 'FAIL'}  {r['wall_s']:7.1f} s  {memory}"
    return line + (f"  {r['error']}" if r.get("error") else "")


# ---------------------------------------------------------------- command line


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", required=True, help=f"one of {', '.join(REHEARSABLE)}")
    p.add_argument("--chapters", type=int, nargs="+", help="chapter numbers (default: all)")
    p.add_argument("--layers", type=int, help="lower every stand-in's depth to at most this many layers")
    p.add_argument("--scale", type=float, help="shrink samples, steps and corpus sizes by this factor (0–1]")
    p.add_argument("--token", action="store_true", help="behave as if an HF token were set (gated ids load)")
    p.add_argument("--cache-root", type=Path, default=DEFAULT_CACHE, help=f"where stand-ins live ({DEFAULT_CACHE})")
    p.add_argument(
        "--genuine-cache",
        type=Path,
        action="append",
        default=[],
        help="an HF cache to link genuine models from (e.g. ../shared/hf-cache); repeatable",
    )
    p.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    p.add_argument("--gpu-cap-gib", type=float, help="cap each kernel's GPU memory (e.g. 15 for a T4)")
    p.add_argument("--build-only", action="store_true", help="build the stand-in cache and stop")
    p.add_argument("--keep", type=Path, help="write the executed notebooks (with outputs) to this folder")


def cli_main(args: argparse.Namespace) -> int:
    genuine = list(args.genuine_cache) + ([Path(os.environ["HF_HUB_CACHE"])] if os.environ.get("HF_HUB_CACHE") else [])
    if args.build_only:
        if args.profile not in REHEARSABLE:
            raise SinklabError(f"Unknown profile {args.profile!r}. Fix: choose one of {', '.join(REHEARSABLE)}.")
        print(build_cache(env.PROFILES[args.profile], args.layers, args.cache_root, genuine))
        return 0
    records = rehearse(
        args.profile,
        args.chapters,
        args.layers,
        args.scale,
        args.token,
        args.cache_root,
        genuine,
        args.timeout,
        args.gpu_cap_gib,
        args.keep,
    )
    return 0 if all(r["ok"] for r in records) else 1


def _run_one(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--run-one", type=Path, required=True)
    p.add_argument("--timeout", type=int, default=3600)
    p.add_argument("--gpu-cap-gib", type=float)
    p.add_argument("--keep", type=Path)
    args = p.parse_args(argv)
    record = run_notebook(args.run_one, args.timeout, args.gpu_cap_gib, args.keep)
    print(MARKER + json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    if "--run-one" in sys.argv:
        sys.exit(_run_one(sys.argv[1:]))
    from sinklab import cli

    sys.exit(cli.main(["rehearse", *sys.argv[1:]]))
