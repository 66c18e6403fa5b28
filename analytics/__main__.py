"""`python -m analytics …`: the command line (see analytics/cli.py)."""

import os
import signal
import sys


def _stopped_while_starting(_signum, _frame):
    # Ctrl-C before the command began (imports take a moment): nothing was written yet. os._exit,
    # not sys.exit: a SystemExit raised inside a half-done import can print that import's
    # traceback, and there is nothing to clean up.
    print("interrupted before anything was done", file=sys.stderr, flush=True)
    os._exit(130)


signal.signal(signal.SIGINT, _stopped_while_starting)

from analytics.cli import main  # noqa: E402  (after the handler: importing takes a while)

sys.exit(main())
