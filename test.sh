#!/usr/bin/env bash
# ./test.sh --all   the whole suite, as CI runs it (.ci/run): ruff, the tests that need no browser on
#                    every core (pytest-xdist), then the browser tests one at a time (each starts
#                    its own Streamlit server and Chromium, which time out when they compete for
#                    the cores), with one coverage report of analytics/ over both, gate 90 %.
# ./test.sh          the quick run while developing: ruff, then no browser, real-export or slow tests, a
#                    smaller fuzz round (HYPERCARE_FUZZ_COUNT), every core, no coverage gate.
# ./test.sh ARGS     one pytest run with ARGS, e.g. ./test.sh tests/test_x.py --no-cov
# The first run creates .venv, installs requirements-dev.txt and (as root) Debian's chromium.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# Let pytest keep its rewritten test modules and Python its compiled ones in __pycache__
# (git-ignored) even where the environment says not to: collection then takes a third of the
# time from the second run on, and each `python -m analytics` a test starts skips compiling.
unset PYTHONDONTWRITEBYTECODE
# shellcheck source=scripts/venv.sh
. scripts/venv.sh

ensure_venv requirements-dev.txt
ensure_chromium

report=(--cov-report=term-missing --cov-fail-under=90)

# pytest's exit 5 is "no tests collected": never let an empty run pass as green.
run_pytest() {
    local status=0
    .venv/bin/python -m pytest "$@" || status=$?
    if [ "$status" -eq 5 ]; then
        echo "test.sh: pytest collected no tests (exit 5); failing." >&2
    fi
    return "$status"
}

# Bugs a linter finds (unused or undefined names, bugbear's traps; pyproject.toml [tool.ruff]),
# then type errors in analytics/ (pyproject.toml [tool.mypy]; about 13 s cold, under 1 s with .mypy_cache).
lint() {
    .venv/bin/ruff check --quiet . || { echo "test.sh: ruff found the problems above." >&2; return 1; }
    .venv/bin/mypy || { echo "test.sh: mypy found the type errors above (pyproject.toml [tool.mypy])." >&2; return 1; }
}

if [ "$#" -eq 0 ]; then
    # Every test left out here still runs in ./test.sh --all and in CI.
    lint
    status=0
    HYPERCARE_FUZZ_COUNT="${HYPERCARE_FUZZ_COUNT:-8}" \
        run_pytest -m "not browser and not real and not slow" --numprocesses auto --no-cov || status=$?
    echo "test.sh: the quick run (no browser, real-export or slow tests); ./test.sh --all runs everything." >&2
    exit "$status"
fi

if [ "$1" != "--all" ]; then
    coverage=(--cov=analytics "${report[@]}")
    for arg in "$@"; do
        # Collecting runs no code: a coverage verdict there would only be noise.
        case "$arg" in --co | --collect-only) coverage=() ;; esac
    done
    run_pytest "${coverage[@]}" "$@"
    exit $?
fi
shift

lint
rm -f .coverage .coverage.*
first=0
run_pytest -m "not browser" --numprocesses auto --cov=analytics --cov-report= "$@" || first=$?
second=0
run_pytest -m browser --cov=analytics --cov-append "${report[@]}" "$@" || second=$?
if [ "$first" -ne 0 ]; then
    echo "test.sh: the tests without a browser failed (exit $first; their summary is above the browser tests')." >&2
    exit "$first"
fi
exit "$second"
