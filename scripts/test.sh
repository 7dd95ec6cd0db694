#!/usr/bin/env bash
# Installs everything the test suite needs into .venv and runs the whole suite (README command 2; .ci/run).
# Tests start their own servers and kernels on 127.0.0.1 and stop them; nothing reaches the internet.
set -euo pipefail
cd "$(dirname "$0")/.."
# The browser tests drive Debian's Chromium (Playwright uses it; no browser is downloaded).
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# JupyterHub's proxy for the multi-user tests (tests/hub.py), from the npm registry, at the versions its lock file
# names (tests/hub_proxy/package-lock.json).
if [ ! -x tests/hub_proxy/node_modules/.bin/configurable-http-proxy ]; then
    npm ci --prefix tests/hub_proxy --no-audit --no-fund --loglevel=error
fi
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -e '.[local,demo,test]'
export PATH="$PWD/.venv/bin:$PATH"
ruff check .
lint-imports  # the layer contract in pyproject.toml: the engine imports no surface, no surface another
npm --prefix labextension run --silent format:check  # the TypeScript's style (node_modules came with the build)
npm --prefix labextension run --silent test -- --silent  # unit tests of the protocol and the fix helpers (jest)
exec python -m pytest "$@"
