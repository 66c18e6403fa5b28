"""`python -m analytics …`: the command line (see analytics/cli.py)."""

import signal
import sys


def _stopped_while_starting(_signum, _frame):
    # Ctrl-C before the command began (imports take a moment): nothing was written yet.
    print("interrupted before anything was done", file=sys.stderr)
    sys.exit(130)


signal.signal(signal.SIGINT, _stopped_while_starting)

from .cli import main  # noqa: E402  (after the handler: importing takes a while)

sys.exit(main())
