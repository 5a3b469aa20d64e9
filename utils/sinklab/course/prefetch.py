"""`sinklab prefetch --track lab|workshop|self_paced [--profile P] [--dry-run]`: fill a Hugging Face
cache once with exactly the models a track's chapters load on a profile.

For an offline lab: run it on a machine with internet, with ``HF_HUB_CACHE`` pointing at the cache to
fill; copy that folder to the lab machines and run the notebooks with ``HF_HUB_CACHE=<folder>
HF_HUB_OFFLINE=1 SINKLAB_PROFILE=<profile>``. A chapter's models are those of the roles it lists in
course.yml (``roles:``) on the profile: every candidate `sinklab.models.load(role)` may pick there,
since it loads the largest that fits a machine's free memory and falls back to the next smaller one.
Models shipped with sinklab need no download.
"""

from __future__ import annotations

from pathlib import Path

from sinklab import env, models
from sinklab.course import tracks
from sinklab.course.spec import in_track, load_course, repo_root
from sinklab.errors import SinklabError

SHIPPED = (*models.SHIPPED_TEACHING, models.MINILM_NAME)
# What from_pretrained reads: config, tokenizer and generation files, and the weights in one format.
FILES = ["*.json", "*.txt", "*.model", "*.tiktoken", "*.jinja"]
SAFETENSORS, PYTORCH_BIN = ["*.safetensors"], ["*.bin"]


def role_models(role: str, profile: env.Profile) -> list[models.ModelSpec]:
    """Every model `load(role)` may pick on `profile`, on any machine, largest first."""
    if role not in profile.roles:
        raise SinklabError(
            f"Unknown role {role!r} in course.yml. The {profile.name!r} profile has roles: "
            f"{', '.join(sorted(profile.roles))}."
        )
    specs = [models.REGISTRY[name] for name in profile.roles[role]]
    return sorted((s for s in specs if s.params_m <= profile.max_params_m), key=lambda s: s.params_m, reverse=True)


def plan(meta: dict, track: str, profile: env.Profile) -> dict[str, list[int]]:
    """Model name -> the chapters of `track` that need it, shipped models included."""
    needed: dict[str, list[int]] = {}
    for chapter in meta["chapters"]:
        if not in_track(chapter, track):
            continue
        for role in chapter.roles:
            for spec in role_models(role, profile):
                chapters = needed.setdefault(spec.name, [])
                if chapter.number not in chapters:
                    chapters.append(chapter.number)
    return needed


def download(name: str) -> Path:
    """Download one model's files into the Hugging Face cache (HF_HUB_CACHE); returns its snapshot folder."""
    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(name, allow_patterns=FILES + SAFETENSORS))
        if not any(folder.rglob("*.safetensors")):  # older repositories ship PyTorch pickles only
            folder = Path(snapshot_download(name, allow_patterns=FILES + PYTORCH_BIN))
    except Exception as e:  # the hub's errors (gated, offline, unknown) get a message that names the fix
        raise models.explain_load_error(name, e) from e
    return folder


def cli_main(args) -> int:
    from huggingface_hub import constants

    profile = env.profile(args.profile)
    needed = plan(load_course(repo_root()), args.track, profile)
    print(f"Track {args.track!r} on profile {profile.name!r}; Hugging Face cache: {constants.HF_HUB_CACHE}")
    to_fetch = []
    for name, chapters in needed.items():
        spec = models.REGISTRY[name]
        where = ", ".join(map(str, chapters))
        if name in SHIPPED:
            print(f"  {name:40} shipped with sinklab, nothing to download (chapters {where})")
            continue
        status = "in the cache" if models.is_local(name) else "to download"
        gated = ", gated: needs an accepted licence and `hf auth login`" if spec.gated else ""
        print(f"  {name:40} {spec.params_m:>6.0f}M parameters, {status}{gated} (chapters {where})")
        to_fetch.append(name)
    if args.dry_run or not to_fetch:
        print("Dry run: nothing downloaded." if args.dry_run else "Nothing to download.")
        return 0
    failed = []
    for name in to_fetch:
        try:
            print(f"{name}: {download(name)}")
        except SinklabError as e:
            print(f"error: {e}")
            failed.append(name)
    if failed:
        print(
            f"{len(failed)} of {len(to_fetch)} models failed: {', '.join(failed)}. Fix the errors above and rerun "
            "(models already in the cache are not downloaded again)."
        )
        return 1
    print(
        f"Done. On the lab machines: HF_HUB_CACHE={constants.HF_HUB_CACHE} HF_HUB_OFFLINE=1 "
        f"SINKLAB_PROFILE={profile.name}"
    )
    return 0


def add_arguments(parser) -> None:
    parser.add_argument(
        "--track", required=True, choices=list(tracks.TRACKS), help="the track whose chapters' models to download"
    )
    parser.add_argument(
        "--profile",
        choices=list(env.PROFILE_NAMES),
        help="the profile of the machines that will run the notebooks (default: this machine's)",
    )
    parser.add_argument("--dry-run", action="store_true", help="list the models and where they are; download nothing")
