import sys

from sinklab.cli import main

sys.exit(main())
