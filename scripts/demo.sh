#!/usr/bin/env bash
# Installs jupyter_layers with its embedded offline model into .venv and runs the main job (README command 1):
# the tour notebook, executed headless by `jupyter layers run`; without ANTHROPIC_API_KEY every layer runs offline.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -e '.[local,demo]'
export PATH="$PWD/.venv/bin:$PATH"
mkdir -p build
jupyter layers run demo_notebooks/tour.ipynb -o build/tour.ipynb "$@"
echo "the executed notebook is at $PWD/build/tour.ipynb (open it in JupyterLab to read each layer's output)"
