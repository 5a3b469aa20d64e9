"""`sinklab` on the command line: doctor, build, measure, bench, train, prefetch, rehearse.

Subcommands import lazily: `sinklab doctor` never pays for the modules `sinklab build` needs (jupytext) and
`sinklab --help` imports none of them.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from sinklab.errors import SinklabError

# subcommand -> (module with add_arguments/cli_main, one-line help)
COMMANDS = {
    "doctor": ("sinklab.course.doctor", "report your environment, profile and models, and what to fix"),
    "build": ("sinklab.course.build", "generate chapters/ and solutions/ notebooks and README's table from course/"),
    "measure": ("sinklab.measure", "measure first-token sinks of a model (layer × head table, JSON, HTML chart)"),
    "bench": ("sinklab.bench", "time sink statistics against plain SDPA and eager output_attentions"),
    "train": ("sinklab.train", "train the course's small models (e.g. the embedded tiny-sink-lm)"),
    "prefetch": (
        "sinklab.course.prefetch",
        "download the models a track needs on a profile into the HF cache (offline labs)",
    ),
    "rehearse": ("sinklab.course.rehearse", "run the solution notebooks offline on cpu/t4/a100 with stand-in models"),
}


def parser(command: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser; only `command`'s module is imported to add its arguments."""
    top = argparse.ArgumentParser(prog="sinklab", description=__doc__.splitlines()[0])
    sub = top.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            module = importlib.import_module(module_name)
            if hasattr(module, "add_arguments"):
                module.add_arguments(p)
        p.set_defaults(module_name=module_name)
    return top


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    args = parser(command if command in COMMANDS else None).parse_args(argv)
    try:
        return importlib.import_module(args.module_name).cli_main(args)
    except SinklabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
