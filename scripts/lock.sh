#!/usr/bin/env bash
# Refresh requirements.lock: resolve pyproject.toml's ranges afresh in a new virtual environment
# and record the exact version of every package installed (runtime and dev).
#
#   scripts/lock.sh              # then: pip install -r requirements.lock -e . && dvc repro
#
# torch is pinned to TORCH_VERSION (default: the version already in the lock) and recorded without
# its local build tag (2.13.0, not 2.13.0+cpu), so one lock serves the CPU build (pip's
# find-links/extra index here) and the CUDA build (PyPI on Linux). New versions move floats and
# Parquet metadata, so a refreshed lock changes dvc.lock hashes: commit it together with the
# outputs of a `dvc repro` run in the refreshed environment (docs/reproducibility.md).
set -euo pipefail
cd "$(dirname "$0")/.."

locked_torch=$(sed -nE 's/^torch==([^ ;]+).*/\1/p' requirements.lock 2>/dev/null || true)
torch_version=${TORCH_VERSION:-${locked_torch:-2.13.0}}
python=${PYTHON:-python3}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$python" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install --quiet --upgrade pip
"$tmp/venv/bin/python" -m pip install --quiet "torch==$torch_version" -e '.[dev]'
{
    echo "# Exact versions of every runtime and dev dependency; written by scripts/lock.sh, do not edit."
    echo "# Install: pip install -r requirements.lock -e .    Refresh: scripts/lock.sh (then dvc repro, commit both)"
    echo "# Resolved on $("$tmp/venv/bin/python" -c 'import platform; print(f"Python {platform.python_version()}, {platform.system()} {platform.machine()}")')."
    "$tmp/venv/bin/python" -m pip freeze --exclude-editable --all | grep -vE '^(pip|setuptools|wheel)==' \
        | sed -E 's/^(torch==[^+]+)\+[A-Za-z0-9.]+$/\1/'
} > requirements.lock.tmp
mv requirements.lock.tmp requirements.lock
echo "requirements.lock: $(grep -vc '^#' requirements.lock) packages"
