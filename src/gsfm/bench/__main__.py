"""`python -m gsfm.bench [options]` is `gsfm bench [options]`."""

import sys

from gsfm.cli import main

sys.exit(main(["bench", *sys.argv[1:]]))
