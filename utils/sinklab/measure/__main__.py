"""``python -m sinklab.measure MODEL ...``: the same as ``sinklab measure MODEL ...``."""

import argparse
import sys

from sinklab.errors import SinklabError
from sinklab.measure import cli

parser = argparse.ArgumentParser(prog="python -m sinklab.measure", description=cli.cli_main.__doc__)
cli.add_arguments(parser)
try:
    sys.exit(cli.cli_main(parser.parse_args()))
except SinklabError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
