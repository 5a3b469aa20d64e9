"""Recorded runs: chapter 6's training runs, made once by one command and replayed by the notebook.

A 90-minute lab cannot wait for chapter 6's training runs (on the `cpu` profile about an hour on two CPU
cores). So the runs are recorded with the very functions the notebook calls, and shipped:

- `lab_runs(profile)`: every run the lab track of chapter 6 trains on a profile, as ``(kind, recipe,
  options)``: the recipes the notebook builds (`experiments.backcopy_recipe`, `text_runs.lab_text_recipe`
  and the changes its sections make to them).
- `record(profile)`: trains each with `experiments.run_backcopy` / `text_runs.run_text` and writes, per
  run, ``NAME.json`` (recipe, options, the whole history, and how it was made: command, profile, seed,
  versions, machine, load average, wall time) and ``NAME.safetensors`` (the final weights, fp32).
- `use(True)`: from then on `run_backcopy` / `run_text` return the recording of *exactly* the requested
  recipe when one is shipped (a dict like a live run's, with the trained model) and print
  "recorded run: …, made by …"; a recipe without a recording trains live. `use(False)`: always train.

Rebuild (each run is written as soon as it is done; runs already recorded are kept unless ``--force``)::

    python -m sinklab.analysis.recorded_runs --profile ci
    python -m sinklab.analysis.recorded_runs --profile cpu
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, fields, replace
from pathlib import Path

import torch

from sinklab import data, env, train, variants
from sinklab.analysis import experiments, text_runs
from sinklab.errors import SinklabError

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "ch6_runs"  # sinklab/assets
SCHEMA = 1
KINDS = {"backcopy": experiments.BackcopyRecipe, "text": text_runs.TextRecipe}
META_KEYS = ("command", "argv", "profile", "seed", "versions", "machine", "load_average", "wall_seconds", "date")


# 1. Which runs -------------------------------------------------------------------------------------------


def text_tokenizer(profile: env.Profile):
    """The byte tokenizer chapter 6's section 3 passes to every text run on a profile."""
    return data.byte_tokenizer(model_max_length=max(profile.lm_contexts + (profile.lm_seq_len,)))


def lab_runs(profile: env.Profile) -> list[tuple[str, object, dict]]:
    """``(kind, recipe, options)`` of every run the lab track of chapter 6 trains on `profile`, in notebook order.

    Mirrors the notebook: section 1 (softmax), section 2 (each sink-free variant, then RoPE), section 3
    (the base text LM with hidden-state probes, the context-length sweep at equal tokens per step, the
    packings, weight decay and learning rate). Section 4 (fine-tuning, bonus track) is not recorded.
    """
    base = experiments.backcopy_recipe(profile)
    runs = [("backcopy", base, {})]
    runs += [("backcopy", replace(base, variant=name), {}) for name in variants.SINK_FREE]
    runs.append(("backcopy", replace(base, arch="llama"), {}))
    tokenizer = text_tokenizer(profile)
    text = text_runs.lab_text_recipe(profile)
    runs.append(("text", text, text_runs.text_run_options(tokenizer, hidden=True)))
    tokens_per_step = text.batch_size * text.seq_len
    later = [replace(text, seq_len=n, batch_size=max(1, tokens_per_step // n)) for n in profile.lm_contexts]
    packings = [("none", "causal")]
    if profile.name in ("t4", "a100"):
        packings += [("bos", "document"), ("none", "document")]
    later += [replace(text, packing=p, masking=m) for p, m in packings]
    later += [replace(text, weight_decay=0.0), replace(text, weight_decay=0.5), replace(text, lr=text.lr / 4)]
    runs += [("text", r, text_runs.text_run_options(tokenizer, hidden=False)) for r in later if r != text]
    return runs


def run_key(kind: str, recipe, options: dict) -> dict:
    """What identifies a run: its kind, every recipe field but ``device``, and the options (not the tokenizer)."""
    if kind not in KINDS or not isinstance(recipe, KINDS[kind]):
        raise SinklabError(
            f"kind must be one of {', '.join(KINDS)} with its recipe class, got {kind!r} and {type(recipe).__name__}."
        )
    fields_ = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(recipe).items() if k != "device"}
    return {"kind": kind, "recipe": fields_, "options": {k: v for k, v in options.items() if k != "tokenizer"}}


def run_name(kind: str, recipe, options: dict) -> str:
    """A file name for a run: readable prefix plus a digest of `run_key` (so any change of recipe is a new name)."""
    digest = hashlib.sha256(json.dumps(run_key(kind, recipe, options), sort_keys=True).encode()).hexdigest()[:10]
    return f"{kind}-{recipe.arch}-{recipe.variant}-{digest}"


def describe(kind: str, recipe) -> str:
    """One line saying what a run trains."""
    if kind == "backcopy":
        return (
            f"Bigram-Backcopy, {recipe.variant} attention, {recipe.arch}, {recipe.steps} steps of {recipe.batch_size}"
        )
    return (
        f"text LM d={recipe.hidden_size} {recipe.n_layers}×{recipe.n_heads}, context {recipe.seq_len}, batch "
        f"{recipe.batch_size}, {recipe.steps} steps, packing {recipe.packing}/{recipe.masking}, lr {recipe.lr:g}, "
        f"weight decay {recipe.weight_decay:g}"
    )


# 2. Recording --------------------------------------------------------------------------------------------


def _versions() -> dict:
    import transformers

    versions = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        versions["sinklab_commit"] = commit or None
    except (OSError, subprocess.SubprocessError):
        versions["sinklab_commit"] = None
    return versions


def _machine(device: str) -> str:
    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} CPU cores, {torch.get_num_threads()} torch threads, device {device}"


def save(run: dict, kind: str, options: dict, folder: Path, meta: dict) -> Path:
    """Write a finished run as ``NAME.json`` (key, history, meta) and ``NAME.safetensors``; returns the JSON path."""
    from safetensors.torch import save_model

    folder.mkdir(parents=True, exist_ok=True)
    name = run_name(kind, run["recipe"], options)
    save_model(run["model"], str(folder / f"{name}.safetensors"))
    (folder / f"{name}.safetensors").chmod(0o644)
    record_ = {
        "schema": SCHEMA,
        "name": name,
        **run_key(kind, run["recipe"], options),
        "meta": meta,
        "history": run["history"],
    }
    path = folder / f"{name}.json"
    path.write_text(json.dumps(record_, separators=(",", ":")))
    return path


def record(
    profile_name: str, out: Path = ASSETS, force: bool = False, only: str | None = None, progress: bool = True
) -> list[Path]:
    """Train every `lab_runs` run of a profile (live, never replayed) and save it under ``out/<profile>/``."""
    profile = env.profile(profile_name)
    folder = Path(out) / profile.name
    command = f"python -m sinklab.analysis.recorded_runs --profile {profile.name}"
    saved, previous = [], experiments.replay
    experiments.replay = None  # a recording is always a fresh training run
    try:
        runs = [r for r in lab_runs(profile) if only is None or only in run_name(*r)]
        for i, (kind, recipe, options) in enumerate(runs, 1):
            name = run_name(kind, recipe, options)
            if (folder / f"{name}.json").exists() and (folder / f"{name}.safetensors").exists() and not force:
                print(f"[{i}/{len(runs)}] {name}: already recorded, kept", flush=True)
                continue
            load_before, start = os.getloadavg(), time.perf_counter()
            if kind == "backcopy":
                run = experiments.run_backcopy(recipe, progress=progress)
            else:
                run = text_runs.run_text(recipe, text_tokenizer(profile), progress=progress, hidden=options["hidden"])
            wall = time.perf_counter() - start
            device = str(run["model"].device)
            meta = {
                "command": command,
                "argv": " ".join(["python -m sinklab.analysis.recorded_runs", *sys.argv[1:]]),
                "profile": profile.name,
                "seed": recipe.seed,
                "versions": _versions(),
                "machine": _machine(device),
                "load_average": [round(x, 2) for x in (*load_before, *os.getloadavg())],
                "wall_seconds": wall,
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            }
            saved.append(save(run, kind, options, folder, meta))
            print(f"[{i}/{len(runs)}] {name}: {describe(kind, recipe)} — {wall:.0f} s", flush=True)
    finally:
        experiments.replay = previous
    return saved


# 3. Replaying --------------------------------------------------------------------------------------------


def find(kind: str, recipe, options: dict, root: Path = ASSETS) -> Path | None:
    """The JSON file of the recording of exactly this run under `root` (any profile folder), or None."""
    name = run_name(kind, recipe, options)
    for path in sorted(Path(root).glob(f"*/{name}.json")):
        if path.with_suffix(".safetensors").exists():
            return path
    return None


def read(path: Path) -> dict:
    """A recording's JSON, checked against the schema `save` writes."""
    try:
        found = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise SinklabError(
            f"Cannot read the recorded run {path}: {e}. Fix: re-record it with "
            "`python -m sinklab.analysis.recorded_runs --profile PROFILE --force`."
        ) from e
    missing = [k for k in ("schema", "name", "kind", "recipe", "options", "meta", "history") if k not in found]
    missing += [f"meta.{k}" for k in META_KEYS if k not in found.get("meta", {})]
    if missing or found["schema"] != SCHEMA:
        raise SinklabError(
            f"The recorded run {path} is not in schema {SCHEMA} (missing: {', '.join(missing) or '-'}). "
            "Fix: re-record it with `python -m sinklab.analysis.recorded_runs --profile PROFILE --force`."
        )
    return found


def recipe_of(found: dict):
    """The recipe object of a recording (tuples restored)."""
    cls = KINDS[found["kind"]]
    tuples = {f.name for f in fields(cls) if str(f.type).startswith("tuple")}
    return cls(**{k: tuple(v) if k in tuples else v for k, v in found["recipe"].items()})


def load(kind: str, recipe, options: dict, root: Path = ASSETS, verbose: bool = True) -> dict | None:
    """The recorded run of exactly this recipe, as a live run's dict (with ``"recorded"``: its meta); None if none."""
    from safetensors.torch import load_model

    path = find(kind, recipe, options, root)
    if path is None:
        if verbose:
            print(f"no recorded run of this recipe ({describe(kind, recipe)}): training it here")
        return None
    found = read(path)
    if found["recipe"] != run_key(kind, recipe, options)["recipe"]:
        return None  # a digest collision or a hand-edited file: train instead of trusting it
    tokenizer = options.get("tokenizer") or data.byte_tokenizer(model_max_length=recipe.seq_len)
    config = train.model_config(
        tokenizer, recipe.hidden_size, recipe.n_layers, recipe.n_heads, recipe.seq_len, arch=recipe.arch
    )
    model = train.build_model(config, recipe.seed, recipe.variant)
    load_model(model, str(path.with_suffix(".safetensors")))
    model.to(recipe.device or env.device()).eval()
    meta = found["meta"] | {"file": str(path)}
    run = {
        "recipe": recipe,
        "model": model,
        "history": found["history"],
        "minutes": meta["wall_seconds"] / 60,
        "recorded": meta,
    }
    if kind == "backcopy":
        _, tokens, is_trigger = experiments.backcopy_task(recipe, tokenizer)
        run["probe"] = (tokens, is_trigger)
    else:
        run["tokenizer"], run["held_out"] = tokenizer, text_runs.text_windows(recipe, tokenizer)[1]
    if verbose:
        print(
            f"recorded run: {describe(kind, recipe)} — made by `{meta['command']}` on {meta['date']} "
            f"({meta['wall_seconds']:.0f} s, {meta['machine']}; torch {meta['versions']['torch']}). "
            "TRAIN_YOURSELF = True trains it here."
        )
    return run


def _replay(kind: str, recipe, options: dict) -> dict | None:
    return load(kind, recipe, options)


def use(enabled: bool = True) -> None:
    """Replay recorded runs in `experiments.run_backcopy` / `run_text` (True) or always train (False)."""
    experiments.replay = _replay if enabled else None


def summary(profile: env.Profile, root: Path = ASSETS) -> dict:
    """How many of a profile's lab runs are recorded, and the wall time their recording took (seconds)."""
    runs = lab_runs(profile)
    paths = [find(*r, root=root) for r in runs]
    seconds = [read(p)["meta"]["wall_seconds"] for p in paths if p is not None]
    return {"runs": len(runs), "recorded": len(seconds), "seconds": sum(seconds)}


# 4. Command line -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sinklab.analysis.recorded_runs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--profile", required=True, choices=env.PROFILE_NAMES, help="whose runs to record")
    parser.add_argument("--out", default=str(ASSETS), help="folder; runs go to OUT/<profile>/ (default: the package's)")
    parser.add_argument("--only", help="record only the runs whose name contains this (e.g. backcopy, text, softmax1)")
    parser.add_argument("--force", action="store_true", help="re-record runs that are already recorded")
    parser.add_argument("--list", action="store_true", help="list the profile's runs and whether each is recorded")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        if args.list:
            for kind, recipe, options in lab_runs(env.profile(args.profile)):
                path = find(kind, recipe, options, Path(args.out))
                state = "recorded" if path else "missing "
                print(f"{state}  {run_name(kind, recipe, options)}  {describe(kind, recipe)}")
            return 0
        record(args.profile, Path(args.out), force=args.force, only=args.only)
    except SinklabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
