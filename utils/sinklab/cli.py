"""`sinklab` on the command line: doctor, build, measure, bench, train, prefetch."""

from __future__ import annotations

import argparse
import importlib
import sys

from sinklab.errors import SinklabError

# subcommand -> (module with add_arguments/cli_main, one-line help)
COMMANDS = {
    "doctor": ("sinklab.doctor", "report your environment, profile and models, and what to fix"),
    "build": ("sinklab.build", "generate chapters/ and solutions/ notebooks and README's table from course/"),
    "measure": ("sinklab.measure", "measure first-token sinks of a model (layer × head table, JSON, HTML chart)"),
    "bench": ("sinklab.bench", "time sink statistics against plain SDPA and eager output_attentions"),
    "train": ("sinklab.train", "train the course's small models (e.g. the embedded tiny-sink-lm)"),
    "prefetch": ("sinklab.prefetch", "download the models a track needs on a profile into the HF cache (offline labs)"),
}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="sinklab", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        module = importlib.import_module(module_name)
        if hasattr(module, "add_arguments"):
            module.add_arguments(p)
        p.set_defaults(module=module)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.module.cli_main(args)
    except SinklabError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
