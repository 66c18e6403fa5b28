# Shared setup for run.sh and test.sh; source it from the repository root, do not run it.
#
#   ensure_venv requirements.txt       # create .venv if missing, install when the file changed
#   ensure_chromium                    # Debian's chromium for the browser tests (required)
#   ensure_chromium optional           # ... for the PDF report's charts (warn when it can't)
#
# The stamp .venv/.<requirements file>.sha256 holds the sha256 of the file (and of the files it
# includes with -r), so a second start skips pip entirely while the pins are unchanged.

HYPERCARE_VENV=".venv"
HYPERCARE_MIN_PYTHON="3.11"

_hc_die() {
    printf '%s\n' "$*" >&2
    exit 1
}

# Check the interpreter that builds the venv: $PYTHON if set, else python3.
_hc_check_python() {
    local py="$1" version
    version=$("$py" -c 'import platform; print(platform.python_version())' 2>/dev/null) ||
        _hc_die "Hypercare needs Python ${HYPERCARE_MIN_PYTHON}+ but '$py' does not run here. Install python3 (Debian: apt-get install python3 python3-venv) or set PYTHON=/path/to/python3.11."
    "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' ||
        _hc_die "Hypercare needs Python ${HYPERCARE_MIN_PYTHON}+; '$py' is $version. Install a newer one or set PYTHON=/path/to/python3.11."
    echo "Hypercare: creating $HYPERCARE_VENV with $py ($version)"
}

# sha256 of a requirements file followed by every file it pulls in with -r (one level, which is
# all this project uses), so editing requirements.txt also invalidates the dev stamp.
_hc_requirements_hash() {
    local req="$1" dir included
    dir=$(dirname "$req")
    {
        cat "$req"
        sed -nE 's/^[[:space:]]*-r[[:space:]]+([^[:space:]#]+).*/\1/p' "$req" | while read -r included; do
            cat "$dir/$included"
        done
    } | sha256sum | cut -d' ' -f1
}

ensure_venv() {
    local req="${1:-requirements.txt}"
    [ -f "$req" ] || _hc_die "missing $req (run from the repository root)"

    if [ -d "$HYPERCARE_VENV" ]; then
        # Never delete a venv on a guess: say what is wrong and let the person remove it.
        "$HYPERCARE_VENV/bin/python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null ||
            _hc_die "$HYPERCARE_VENV exists but its Python does not run or is older than ${HYPERCARE_MIN_PYTHON} (moved folder, removed or other user's Python?). Remove it (rm -rf $HYPERCARE_VENV) and run again."
    else
        local py="${PYTHON:-python3}"
        _hc_check_python "$py"
        "$py" -m venv "$HYPERCARE_VENV" ||
            _hc_die "Could not create $HYPERCARE_VENV with $py. On Debian/Ubuntu: apt-get install python3-venv"
    fi

    local stamp="$HYPERCARE_VENV/.$(basename "$req" .txt).sha256" want
    want=$(_hc_requirements_hash "$req") || exit 1
    if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    echo "Hypercare: installing $req into $HYPERCARE_VENV (first run or changed pins)"
    "$HYPERCARE_VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$req" ||
        _hc_die "pip install -r $req failed (see above)."
    printf '%s\n' "$want" >"$stamp"
    # The files it included are installed too: stamp them so run.sh after test.sh skips pip.
    local included
    sed -nE 's/^[[:space:]]*-r[[:space:]]+([^[:space:]#]+).*/\1/p' "$req" | while read -r included; do
        _hc_requirements_hash "$(dirname "$req")/$included" >"$HYPERCARE_VENV/.$(basename "$included" .txt).sha256"
    done
}

# The browser tests drive Debian's Chromium (/usr/bin/chromium); Playwright never downloads one.
ensure_chromium() {
    local chromium="${HYPERCARE_CHROMIUM:-/usr/bin/chromium}" need="${1:-required}"
    [ -x "$chromium" ] && return 0
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "Hypercare: installing Debian's chromium (browser tests, charts in the PDF report; about 30 s)"
        if DEBIAN_FRONTEND=noninteractive apt-get update -q &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium && [ -x "$chromium" ]; then
            return 0
        fi
        [ "$need" = optional ] || _hc_die "apt-get install chromium failed; the browser tests need it."
        echo "Hypercare: chromium could not be installed; the PDF report will show each chart's data instead of the chart." >&2
    elif [ "$need" = optional ]; then
        echo "Hypercare: no Chromium at $chromium, so the PDF report shows each chart's data instead of
the chart. Install it once as root (Debian/Ubuntu: sudo apt-get install chromium) or point
HYPERCARE_CHROMIUM at a Chromium/Chrome binary." >&2
    else
        _hc_die "The browser tests need Chromium at $chromium, and it is not installed.
Install it once as root (Debian/Ubuntu: sudo apt-get install chromium), or point
HYPERCARE_CHROMIUM at an existing Chromium/Chrome binary, then run ./test.sh again."
    fi
}
