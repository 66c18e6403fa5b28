#!/usr/bin/env bash
# Start the Hypercare dashboard: ./run.sh [streamlit options, e.g. --server.port 8502]
# First run creates .venv, installs requirements.txt and (as root) Debian's chromium for the
# PDF report's charts; later runs start at once.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# shellcheck source=scripts/venv.sh
. scripts/venv.sh

ensure_venv requirements.txt
ensure_chromium optional  # draws the charts of the monthly PDF report

port=8501
prev=""
for arg in "$@"; do
    case "$arg" in
        --server.port=*) port="${arg#--server.port=}" ;;
        *) [ "$prev" = "--server.port" ] && port="$arg" ;;
    esac
    prev="$arg"
done
echo "Hypercare: starting the dashboard at http://localhost:${port} (Ctrl+C stops it)"
exec .venv/bin/streamlit run app.py "$@"
