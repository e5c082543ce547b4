"""``python -m driftline.processors [options]`` is ``driftline processor [options]``;
``python -m driftline.processors baseline ...`` is ``driftline baseline ...``."""

import sys

from driftline.processors.cli import main

_COMMANDS = ("processor", "baseline")
args = sys.argv[1:]
sys.exit(main(args if args[:1] and args[0] in _COMMANDS else ["processor", *args]))
