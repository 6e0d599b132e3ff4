"""``python -m warpdrive``: the ``warpdrive`` command (see :mod:`warpdrive.cli`)."""

import sys

from .cli import main

sys.exit(main(prog="warpdrive"))
