#!/bin/sh
# Prints a Python >= 3.13 for the Makefile (the Lambda runtime's version):
#   1. the interpreter given ($1), if it is one;
#   2. else a managed CPython 3.13 under .uv-python/, obtained before or now by uv (pinned and
#      hash-checked in requirements/bootstrap.txt, installed with any python3 that is present),
#      where the network allows it.
# Prints nothing if neither works; the Makefile then says what to install. Messages go to stderr.
set -u
is_313() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 13))' >/dev/null 2>&1; }
managed() {
    UV_PYTHON_INSTALL_DIR="$PWD/.uv-python" .venv-bootstrap/bin/uv python find \
        --python-preference only-managed 3.13 2>/dev/null
}

if [ -n "${1:-}" ] && is_313 "$1"; then echo "$1"; exit 0; fi
if [ -x .venv-bootstrap/bin/uv ] && found=$(managed) && is_313 "$found"; then
    echo "$found"; exit 0
fi
base=$(command -v python3) || { echo "make: no python3 at all to bootstrap from" >&2; exit 0; }
echo "make: ${1:-python3} is not Python 3.13 or newer; getting a managed CPython 3.13 with uv" \
     "(about a minute, once)" >&2
echo "make: [1/2] uv, from requirements/bootstrap.txt (hashes checked), with $base" >&2
if ! { "$base" -m venv .venv-bootstrap >&2 &&
       .venv-bootstrap/bin/pip install --quiet --disable-pip-version-check --require-hashes \
           --no-deps -r requirements/bootstrap.txt >&2; }; then
    echo "make: could not install uv (no venv module, or no access to PyPI)" >&2; exit 0
fi
echo "make: [2/2] CPython 3.13 into .uv-python/ (uv python install 3.13)" >&2
if ! UV_PYTHON_INSTALL_DIR="$PWD/.uv-python" .venv-bootstrap/bin/uv python install 3.13 >&2; then
    echo "make: uv could not download Python 3.13 (its downloads come from GitHub)" >&2; exit 0
fi
managed
