#!/usr/bin/env bash
# Runs every test of nl2py on a fresh machine: installs what the tests need (the wasm32 target),
# then unit and end-to-end tests, lints, and the core crate's wasm32 build.
# Tests that need the full data sets read ../shared/data (or $NL2PY_DATA) and say SKIPPED when absent.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v python3 >/dev/null || { echo "python3 is needed: it is the tokenizer oracle in the tests" >&2; exit 1; }
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown

cargo test --workspace --release
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build -p nl2py --target wasm32-unknown-unknown --release
echo "all tests passed"
