#!/usr/bin/env bash
# Run the whole test suite, browser tests included: ./test.sh [pytest options]
# First run creates .venv, installs requirements-dev.txt and (as root) Debian's chromium.
# A subset without the coverage gate: ./test.sh tests/test_x.py --no-cov
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=scripts/venv.sh
. scripts/venv.sh

ensure_venv requirements-dev.txt
ensure_chromium

coverage=(--cov=analytics --cov-report=term-missing --cov-fail-under=90)
for arg in "$@"; do
    # Collecting runs no code: a coverage verdict there would only be noise.
    case "$arg" in --co | --collect-only) coverage=() ;; esac
done

set +e
.venv/bin/python -m pytest "${coverage[@]}" "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    # pytest's "no tests collected": never let an empty run pass as green.
    echo "test.sh: pytest collected no tests (exit 5); failing." >&2
fi
exit "$status"
