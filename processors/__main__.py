"""``python -m driftline.processors [options]`` is ``driftline processor [options]``."""

import sys

from driftline.processors.cli import main

sys.exit(main(["processor", *sys.argv[1:]]))
