#!/usr/bin/env bash
# Sets up what the page needs (scripts/setup.sh) and serves it with the shipped model
# (model/default.nl2py) at http://127.0.0.1:8080. The first run on a fresh machine takes about
# 35 minutes on 2 cores (trunk, wasm-bindgen-cli, the page's wasm, wasm-opt); later runs rebuild
# only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec trunk serve --release "$@"
